package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
)

// tokenPrefix marks OpenIMI API tokens, so that secret scanners and people
// recognise one.
const tokenPrefix = "imi_"

// APIToken describes a token for system-to-system clients. The secret is
// shown once at creation; only its hash is stored.
type APIToken struct {
	ID         string
	UserID     string
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// CreateToken makes an API token for the user with that e-mail address and
// returns its secret.
func (s *Service) CreateToken(ctx context.Context, email, name string) (APIToken, string, error) {
	u, err := s.UserByEmail(ctx, email)
	if errors.Is(err, db.ErrNotFound) {
		return APIToken{}, "", problem.Field("email", "error_user_unknown")
	}
	if err != nil {
		return APIToken{}, "", err
	}
	if !u.Active {
		return APIToken{}, "", problem.Field("email", "error_user_unknown")
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "API token"
	}
	now := s.clock()
	secret := tokenPrefix + randomToken(32)
	t := APIToken{ID: uuid.Must(uuid.NewV7()).String(), UserID: u.ID, Name: name, CreatedAt: now}
	err = s.db.InTx(ctx, func(tx db.Querier) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
			t.ID, t.UserID, t.Name, tokenHash(secret), now); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.TokenCreated, UserID: u.ID, Subject: t.ID, Detail: name})
	})
	return t, secret, err
}

// tokenUseEvery limits how often a token's use is written to the audit log
// and its last-use time.
const tokenUseEvery = time.Minute

// AuthenticateToken returns the active user an API token belongs to.
// Revoked tokens, unknown tokens and deactivated users are Unauthorized.
func (s *Service) AuthenticateToken(ctx context.Context, secret, address string) (User, error) {
	unauthorized := problem.New(problem.Unauthorized, "error_token_invalid")
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 100 {
		return User{}, unauthorized
	}
	var id string
	var revoked, lastUsed *time.Time
	var u User
	err := db.Check(s.db.Read().QueryRowContext(ctx, `SELECT t.id, t.revoked_at, t.last_used_at, `+userColumns+`
		FROM api_tokens t JOIN users u ON u.id = t.user_id `+authorityJoin+` WHERE t.token_hash = $1`, tokenHash(secret)).
		Scan(append([]any{&id, &revoked, &lastUsed}, u.targets()...)...))
	if errors.Is(err, db.ErrNotFound) {
		return User{}, unauthorized
	}
	if err != nil {
		return User{}, err
	}
	if revoked != nil || !u.Active {
		return User{}, unauthorized
	}
	now := s.clock()
	if lastUsed == nil || now.Sub(*lastUsed) >= tokenUseEvery {
		err := s.db.InTx(ctx, func(tx db.Querier) error {
			if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $1 WHERE id = $2`, now, id); err != nil {
				return err
			}
			return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.TokenUsed, UserID: u.ID, Subject: id, Address: address})
		})
		if err != nil {
			return User{}, err
		}
	}
	return u, nil
}

// RevokeToken stops a token from working. A user may revoke only their own
// tokens.
func (s *Service) RevokeToken(ctx context.Context, userID, tokenID string) error {
	now := s.clock()
	return s.db.InTx(ctx, func(tx db.Querier) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL`, now, tokenID, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return problem.New(problem.NotFound, "error_not_found")
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.TokenRevoked, UserID: userID, Subject: tokenID})
	})
}

// Tokens lists the user's API tokens, newest first.
func (s *Service) Tokens(ctx context.Context, userID string) ([]APIToken, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, user_id, name, created_at, last_used_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC`, userID)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		var t APIToken
		if err := rows.Scan(&t.ID, &t.UserID, &t.Name, &t.CreatedAt, &t.LastUsedAt, &t.RevokedAt); err != nil {
			return nil, db.Check(err)
		}
		out = append(out, t)
	}
	return out, db.Check(rows.Err())
}
