//go:build race

package pager

// raceEnabled: the race detector instruments code and allocates on its own.
const raceEnabled = true
