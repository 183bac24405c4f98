package fabric

// AwakeYields is awakeYields, for the external tests.
const AwakeYields = awakeYields
