//go:build race

package e2e

func race() bool { return true }
