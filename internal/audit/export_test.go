package audit

import (
	"context"
	"time"

	"github.com/openimi/openimi/internal/db"
)

// RecordAll is recordAll for events all at one time.
func RecordAll(ctx context.Context, tx db.Querier, dialect db.Dialect, at time.Time, es []Event) error {
	events := make([]timed, len(es))
	for i, e := range es {
		events[i] = timed{at.Add(time.Duration(i) * time.Millisecond), e}
	}
	return recordAll(ctx, tx, dialect, events)
}
