package auth

import (
	"context"
	"errors"
	"math"
	"net"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/db"
)

// Throttling of sign-in attempts (passwords, security codes, recovery codes,
// reset codes). After accountLimit failures for one account, or addressLimit
// from one client address, attempts are refused for a period that doubles
// with every further failure, up to maxLockout. Counters live in the
// database, so every server behind a load balancer shares them.
//
// An attempt is counted *before* it is checked, in one short transaction
// that also reads the lock: parallel attempts cannot slip past the limit
// while the slow password hash runs. A successful attempt takes its count
// back.
const (
	accountLimit  = 5
	addressLimit  = 20
	firstLockout  = time.Minute
	maxLockout    = time.Hour
	forgetFailure = 24 * time.Hour // failures older than this no longer count
)

func accountKey(email string) string { return "account:" + NormalizeEmail(email) }

// addressKey groups IPv6 clients by /64, the block one subscriber usually
// holds, so that rotating addresses within it does not reset the count.
func addressKey(address string) string {
	if ip := net.ParseIP(address); ip != nil && ip.To4() == nil {
		return "address:" + ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return "address:" + address
}

type throttleKey struct {
	key   string
	limit int
}

func keysFor(email, address string) []throttleKey {
	return []throttleKey{{accountKey(email), accountLimit}, {addressKey(address), addressLimit}}
}

// lockout is how long a key stays locked after its failures-th failure.
func lockout(failures, limit int) time.Duration {
	d := time.Duration(float64(firstLockout) * math.Pow(2, float64(failures-limit)))
	if d > maxLockout || d <= 0 {
		return maxLockout
	}
	return d
}

// reservation is an attempt that reserve counted: its keys, and which of
// them the attempt itself locked, so that a success takes back exactly its
// own count and lock.
type reservation struct {
	keys   []throttleKey
	locked []time.Time // the lock the attempt set on each key; zero if none
}

// errRefused rolls back the counting of an attempt that is refused.
var errRefused = errors.New("auth: attempt refused while locked")

// reserve counts an attempt for the account and the address and refuses it
// if either is locked. A refused attempt counts nowhere: otherwise an
// address that is locked could still lock any number of accounts, at no
// cost, and a user's own attempts during a lock would lock them out again.
// The attempt that reaches a limit locks the key at once, before it is
// checked, so that attempts running beside it are refused; passed and
// settle take that lock back if it succeeds.
func (s *Service) reserve(ctx context.Context, email, address string) (reservation, error) {
	now := s.clock()
	res := reservation{keys: keysFor(email, address)}
	res.locked = make([]time.Time, len(res.keys))
	var longest time.Duration
	err := s.db.InTx(ctx, func(tx db.Querier) error {
		for i, k := range res.keys {
			var failures int
			var until *time.Time
			// The upsert takes the row's lock on PostgreSQL; on SQLite the
			// single writer serialises it.
			err := tx.QueryRowContext(ctx, `INSERT INTO sign_in_throttle (key, failures, locked_until, updated_at) VALUES ($1, 1, NULL, $2)
				ON CONFLICT (key) DO UPDATE SET
					failures = CASE
						WHEN sign_in_throttle.locked_until IS NOT NULL AND sign_in_throttle.locked_until > $2 THEN sign_in_throttle.failures
						WHEN sign_in_throttle.updated_at < $3 THEN 1
						ELSE sign_in_throttle.failures + 1 END,
					updated_at = $2
				RETURNING failures, locked_until`, k.key, now, now.Add(-forgetFailure)).Scan(&failures, &until)
			if err != nil {
				return err
			}
			if until != nil && until.After(now) {
				if d := until.Sub(now); d > longest {
					longest = d
				}
				continue
			}
			if failures >= k.limit {
				// To the microsecond, as PostgreSQL keeps it, so that
				// release can recognise this very lock.
				lock := now.Add(lockout(failures, k.limit)).Truncate(time.Microsecond)
				if _, err := tx.ExecContext(ctx, `UPDATE sign_in_throttle SET locked_until = $1 WHERE key = $2`, lock, k.key); err != nil {
					return err
				}
				res.locked[i] = lock
			}
		}
		if longest > 0 {
			return errRefused
		}
		return nil
	})
	if errors.Is(err, errRefused) {
		s.recordOnly(ctx, audit.Event{Event: audit.SignInThrottled, Subject: NormalizeEmail(email), Address: address})
		return reservation{}, throttled(longest)
	}
	if err != nil {
		return reservation{}, err
	}
	return res, nil
}

// release takes back one attempt's count on a key inside tx, and the lock
// the attempt set, if it set one and it is still that lock: a lock set
// since by another attempt's failure stays.
func release(ctx context.Context, tx db.Querier, k throttleKey, lock time.Time) error {
	if lock.IsZero() {
		_, err := tx.ExecContext(ctx, `UPDATE sign_in_throttle SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END WHERE key = $1`, k.key)
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE sign_in_throttle SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END,
		locked_until = CASE WHEN locked_until = $2 THEN NULL ELSE locked_until END WHERE key = $1`, k.key, lock)
	return err
}

// passed takes back the count (and lock) of an attempt that succeeded but
// did not end sign-in (the password step): earlier failures, such as wrong
// codes, stay counted.
func passed(ctx context.Context, tx db.Querier, r reservation) error {
	for i, k := range r.keys {
		if err := release(ctx, tx, k, r.locked[i]); err != nil {
			return err
		}
	}
	return nil
}

// settle ends throttling after a complete success (a right security code):
// the account's failures are forgotten and the address's attempt is taken
// back.
func settle(ctx context.Context, tx db.Querier, r reservation) error {
	for i, k := range r.keys {
		var err error
		if strings.HasPrefix(k.key, "account:") {
			_, err = tx.ExecContext(ctx, `DELETE FROM sign_in_throttle WHERE key = $1`, k.key)
		} else {
			err = release(ctx, tx, k, r.locked[i])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// PurgeThrottling deletes counters that no longer count and are not locked.
func (s *Service) PurgeThrottling(ctx context.Context) error {
	now := s.clock()
	return s.db.InTx(ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sign_in_throttle WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until < $2)`, now.Add(-forgetFailure), now)
		return err
	})
}
