//go:build race

package httpapi_test

// raceAllocs is what the race detector adds to the allocations of a single-event request.
const raceAllocs = 10 // it varies by one or two from run to run
