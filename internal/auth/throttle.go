package auth

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/openimi/openimi/internal/db"
)

// Throttling of failed sign-in attempts. After accountLimit failures for one
// account, or addressLimit from one client address, attempts are refused for
// a period that doubles with every further failure. Counters live in the
// database so that every server behind a load balancer sees them.
const (
	accountLimit  = 5
	addressLimit  = 20
	firstLockout  = time.Minute
	maxLockout    = time.Hour
	forgetFailure = 24 * time.Hour // failures older than this no longer count
)

func accountKey(email string) string   { return "account:" + NormalizeEmail(email) }
func addressKey(address string) string { return "address:" + address }

// lockedFor returns how long the longest lock among keys still lasts.
func (s *Service) lockedFor(ctx context.Context, keys ...string) (time.Duration, error) {
	now := s.clock()
	var longest time.Duration
	for _, k := range keys {
		var until *time.Time
		err := db.Check(s.db.Read().QueryRowContext(ctx, `SELECT locked_until FROM sign_in_throttle WHERE key = $1`, k).Scan(&until))
		if errors.Is(err, db.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if until != nil && until.After(now) && until.Sub(now) > longest {
			longest = until.Sub(now)
		}
	}
	return longest, nil
}

// recordFailure counts a failure against a key inside tx and locks the key
// when it passes its limit.
func recordFailure(ctx context.Context, tx db.Querier, key string, limit int, now time.Time) error {
	failures := 0
	var updated time.Time
	err := db.Check(tx.QueryRowContext(ctx, `SELECT failures, updated_at FROM sign_in_throttle WHERE key = $1`, key).Scan(&failures, &updated))
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	if now.Sub(updated) > forgetFailure {
		failures = 0
	}
	failures++
	var until *time.Time
	if failures >= limit {
		d := time.Duration(float64(firstLockout) * math.Pow(2, float64(failures-limit)))
		if d > maxLockout || d <= 0 {
			d = maxLockout
		}
		t := now.Add(d)
		until = &t
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO sign_in_throttle (key, failures, locked_until, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until, updated_at = excluded.updated_at`,
		key, failures, until, now)
	return err
}

func clearFailures(ctx context.Context, tx db.Querier, key string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM sign_in_throttle WHERE key = $1`, key)
	return err
}
