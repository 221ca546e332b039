package requests

// SetCountLimit lowers CountCap for the counts of the tabs; it returns a
// function that puts it back.
func SetCountLimit(n int) func() {
	old := countLimit
	countLimit = n
	return func() { countLimit = old }
}

// SetRetainBatch sets how many requests one transaction of Retain blocks,
// so that a test can cross batches with a few requests; it returns a
// function that puts it back.
func SetRetainBatch(n int64) func() {
	old := retainBatch
	retainBatch = n
	return func() { retainBatch = old }
}
