package auth

import (
	"context"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
)

// TestALateSuccessLiftsOnlyItsOwnLock: an attempt that locked a key and
// then succeeds takes its lock back, but not a lock that another attempt's
// failure set in the meantime.
func TestALateSuccessLiftsOnlyItsOwnLock(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 9, 0, 0, 123456789, time.UTC)
	s := New(dbtest.Open(t), Settings{PublicURL: "http://imi.test"}, func() time.Time { return now })
	lockedUntil := func() time.Time {
		t.Helper()
		var until *time.Time
		if err := s.db.Read().QueryRowContext(ctx, `SELECT locked_until FROM sign_in_throttle WHERE key = $1`, accountKey("anna@example.pl")).Scan(&until); err != nil {
			t.Fatal(err)
		}
		if until == nil {
			return time.Time{}
		}
		return *until
	}
	release := func(r reservation) {
		t.Helper()
		if err := s.db.InTx(ctx, func(tx db.Querier) error { return passed(ctx, tx, r) }); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < accountLimit; i++ {
		if _, err := s.reserve(ctx, "anna@example.pl", "192.0.2.1"); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	// The fifth attempt locks the account; it succeeds at once: its lock goes.
	mine, err := s.reserve(ctx, "anna@example.pl", "192.0.2.1")
	if err != nil || mine.locked[0].IsZero() || lockedUntil().IsZero() {
		t.Fatalf("the limit's attempt: %v, lock %v", err, lockedUntil())
	}
	release(mine)
	if got := lockedUntil(); !got.IsZero() {
		t.Fatalf("a success kept its own lock until %v", got)
	}

	// Again: the attempt that locks is slow; its lock runs out, and another
	// attempt fails and locks anew before the first one succeeds.
	slow, err := s.reserve(ctx, "anna@example.pl", "192.0.2.1")
	if err != nil || slow.locked[0].IsZero() {
		t.Fatalf("the slow attempt: %v", err)
	}
	now = now.Add(time.Hour + time.Minute)
	if _, err := s.reserve(ctx, "anna@example.pl", "192.0.2.2"); err != nil {
		t.Fatalf("the attempt after the lock: %v", err)
	}
	other := lockedUntil()
	if !other.After(now) {
		t.Fatalf("the failing attempt set no lock: %v", other)
	}
	release(slow)
	if got := lockedUntil(); !got.Equal(other) {
		t.Fatalf("the late success changed another attempt's lock: %v, want %v", got, other)
	}
}
