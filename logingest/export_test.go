package logingest

// LaneBacklog returns how many requests wait in the lanes' channels, not yet taken by a writer (tests: a
// writer holding queued requests in awaitSmallWrite has taken them).
func LaneBacklog(ing *Ingester) int { return len(ing.small.ch) + len(ing.large.ch) }
