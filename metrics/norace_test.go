package metrics_test

// raceEnabled is true when the tests run with -race (race_test.go).
var raceEnabled bool
