package notify

import "context"

// ClaimDue runs only the claim step of DeliverDue, as a worker killed right
// after claiming would, and returns how many messages it claimed.
func (w *Worker) ClaimDue(ctx context.Context) (int, error) {
	rows, _, err := w.claim(ctx, batchSize)
	return len(rows), err
}

// Backoff exposes the retry schedule to its test.
var Backoff = backoff
