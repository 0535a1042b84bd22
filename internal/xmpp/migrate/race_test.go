//go:build race

package migrate

// raceEnabled: the test binary runs with the race detector.
const raceEnabled = true
