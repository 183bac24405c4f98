package fabric

// AwakeFor is awakeFor, for the external tests.
const AwakeFor = awakeFor
