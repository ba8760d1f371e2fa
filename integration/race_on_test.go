//go:build race

package integration

// raceEnabled: the race detector's shadow memory grows with every address
// used and is never returned, so RSS says nothing about leaks under -race.
const raceEnabled = true
