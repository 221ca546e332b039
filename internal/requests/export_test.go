package requests

import (
	"context"

	"github.com/openimi/openimi/internal/authorities"
)

// CountRows counts a box from its rows, as Inbox selects them: what the
// kept count of Counts must equal.
func (s *Service) CountRows(ctx context.Context, actor authorities.Actor, box string) (int, error) {
	_, n, err := s.Inbox(ctx, actor, box, Filter{PerPage: countExact})
	return n, err
}

// SetRetainBatch sets how many requests one transaction of Retain blocks,
// so that a test can cross batches with a few requests; it returns a
// function that puts it back.
func SetRetainBatch(n int64) func() {
	old := retainBatch
	retainBatch = n
	return func() { retainBatch = old }
}
