//go:build race

package metrics_test

func init() { raceEnabled = true }
