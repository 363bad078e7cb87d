//go:build !race

package httpapi_test

// raceAllocs is what the race detector adds to the allocations of a single-event request: none without it.
const raceAllocs = 0
