// Package auth owns accounts and sign-in: passwords (argon2id), the
// mandatory second factor (TOTP with one-time recovery codes), server-side
// sessions, throttling of failed attempts, API tokens and password resets.
// Every security event is written to the audit log in the same transaction
// as the change it records.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/mail"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/notify"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/text"
)

// Settings tune sign-in.
type Settings struct {
	IdleTimeout time.Duration // a session ends after this long unused
	MaxAge      time.Duration // a session ends this long after it began
	ResetTTL    time.Duration // lifetime of a password reset link
	Issuer      string        // shown in authenticator apps
	PublicURL   string        // base of links in e-mails
}

// Service is the accounts and sign-in service.
type Service struct {
	db       *db.DB
	settings Settings
	now      func() time.Time
	// hashSlots bounds how many argon2id computations (19 MiB each) run at
	// once, so that a burst of sign-ins cannot exhaust memory.
	hashSlots chan struct{}
	// hashes counts argon2id computations, so that tests can tell that a
	// throttled attempt costs none.
	hashes atomic.Int64
}

// New returns the service. now is the clock (time.Now in production).
func New(d *db.DB, s Settings, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = 30 * time.Minute
	}
	if s.MaxAge == 0 {
		s.MaxAge = 12 * time.Hour
	}
	if s.ResetTTL == 0 {
		s.ResetTTL = time.Hour
	}
	if s.Issuer == "" {
		s.Issuer = "OpenIMI"
	}
	return &Service{db: d, settings: s, now: now, hashSlots: make(chan struct{}, PasswordChecksAtOnce())}
}

// PasswordCheckBytes is the memory one password check (argon2id) takes
// while it runs.
const PasswordCheckBytes = argonMemory << 10

// PasswordChecksAtOnce is how many password checks run at once: one
// argon2id computation keeps one core busy (argonThreads), so more than
// there are cores would only hold more memory and make each sign-in slower.
func PasswordChecksAtOnce() int { return runtime.GOMAXPROCS(0) }

// hashWait is how long a password check waits for a free slot before the
// server answers that it is busy.
const hashWait = 10 * time.Second

func (s *Service) withHashSlot(ctx context.Context, fn func()) error {
	ctx, cancel := context.WithTimeout(ctx, hashWait)
	defer cancel()
	select {
	case s.hashSlots <- struct{}{}:
		defer func() { <-s.hashSlots }()
		s.hashes.Add(1)
		fn()
		return nil
	case <-ctx.Done():
		return problem.New(problem.Unavailable, "error_unavailable")
	}
}

// PasswordHashes reports how many argon2id computations (password checks
// and new hashes) the service has run since it started.
func (s *Service) PasswordHashes() int64 { return s.hashes.Load() }

func (s *Service) checkPassword(ctx context.Context, hash, password string) (ok bool, err error) {
	if slotErr := s.withHashSlot(ctx, func() { ok, err = CheckPassword(hash, password) }); slotErr != nil {
		return false, slotErr
	}
	return ok, err
}

func (s *Service) hashPassword(ctx context.Context, password string) (hash string, err error) {
	if slotErr := s.withHashSlot(ctx, func() { hash, err = HashPassword(password) }); slotErr != nil {
		return "", slotErr
	}
	return hash, err
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// User is an account.
type User struct {
	ID          string
	Email       string
	Name        string
	Language    string // UI language chosen in the profile; "" to negotiate
	TOTPEnabled bool
	Active      bool
	CreatedAt   time.Time
	// AuthorityID is the authority the user works for ("" for none): with
	// the user's language, what the registry needs to make the user's
	// actor without reading the user again (authorities.ActorOf).
	AuthorityID string
}

// userColumns are the columns scanUser reads, from "users u" joined with
// the user's authority as "a": a user is active only while their
// authority is not deactivated.
const userColumns = `u.id, u.email, u.name, u.language, u.totp_enabled, ` + activeExpr + `, u.created_at, COALESCE(u.authority_id, '')`

// activeExpr tells whether a user may use the system.
const activeExpr = `(u.active AND (a.status IS NULL OR a.status <> 'deactivated'))`

// authorityJoin adds each user's authority, as "a", to a query on "users u".
const authorityJoin = `LEFT JOIN authorities a ON a.id = u.authority_id`

// usersJoined is the users table with each user's authority.
const usersJoined = `users u ` + authorityJoin

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	err := row.Scan(u.targets()...)
	return u, db.Check(err)
}

// targets are where a row's userColumns are scanned to, in their order.
func (u *User) targets() []any {
	return []any{&u.ID, &u.Email, &u.Name, &u.Language, &u.TOTPEnabled, &u.Active, &u.CreatedAt, &u.AuthorityID}
}

// NormalizeEmail returns the canonical form of an address: trimmed and in
// lower case.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// NewUser is what creating an account needs.
type NewUser struct {
	Email    string
	Name     string
	Password string
	Language string
}

// CreateUser creates an active account. The user enrols a second factor at
// first sign-in.
func (s *Service) CreateUser(ctx context.Context, n NewUser) (User, error) {
	n.Email = NormalizeEmail(n.Email)
	n.Name = strings.TrimSpace(n.Name)
	if err := checkNewUser(n); err != nil {
		return User{}, err
	}
	return s.createChecked(ctx, n)
}

// checkNewUser checks what creating an account needs.
func checkNewUser(n NewUser) error {
	var errs problem.List
	if a, err := mail.ParseAddress(n.Email); err != nil || a.Address != n.Email || len(n.Email) > 254 {
		errs = append(errs, problem.Field("email", "error_email_invalid"))
	}
	if n.Name == "" || len(n.Name) > 200 {
		errs = append(errs, problem.Field("name", "error_name_required"))
	} else if !text.Line(n.Name) {
		// A name is written into e-mails and pages: no line breaks
		// or bidirectional controls to forge or reorder them.
		errs = append(errs, problem.Field("name", "error_text_invalid"))
	}
	if n.Language != "" && !i18n.Supported(n.Language) {
		errs = append(errs, problem.Field("language", "error_language_unknown"))
	}
	if err := ValidatePassword(n.Password, n.Email); err != nil {
		errs = append(errs, err.(*problem.Error))
	}
	return errs.Err()
}

func (s *Service) createChecked(ctx context.Context, n NewUser) (User, error) {
	hash, err := s.hashPassword(ctx, n.Password)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.db.InTx(ctx, func(tx db.Querier) error {
		var err error
		u, err = s.insertUser(ctx, tx, n, hash)
		return err
	})
	if errors.Is(err, db.ErrConflict) {
		return User{}, problem.Field("email", "error_email_taken")
	}
	return u, err
}

// CreateUserIn creates an account inside the caller's transaction, so that
// another service can create a user together with its own rows (an
// authority's new member). The input is checked as by CreateUser.
func (s *Service) CreateUserIn(ctx context.Context, tx db.Querier, n NewUser) (User, error) {
	n.Email = NormalizeEmail(n.Email)
	n.Name = strings.TrimSpace(n.Name)
	if err := checkNewUser(n); err != nil {
		return User{}, err
	}
	hash, err := s.hashPassword(ctx, n.Password)
	if err != nil {
		return User{}, err
	}
	u, err := s.insertUser(ctx, tx, n, hash)
	if errors.Is(db.Check(err), db.ErrConflict) {
		return User{}, problem.Field("email", "error_email_taken")
	}
	return u, err
}

func (s *Service) insertUser(ctx context.Context, tx db.Querier, n NewUser, hash string) (User, error) {
	now := s.clock()
	u := User{ID: uuid.Must(uuid.NewV7()).String(), Email: n.Email, Name: n.Name, Language: n.Language, Active: true, CreatedAt: now}
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, name, language, password_hash, password_changed_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6, $6)`, u.ID, u.Email, u.Name, u.Language, hash, now); err != nil {
		return User{}, db.Check(err)
	}
	return u, audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.UserCreated, UserID: u.ID, Subject: u.Email})
}

// UserByEmail returns the account with that address.
func (s *Service) UserByEmail(ctx context.Context, email string) (User, error) {
	return scanUser(s.db.Read().QueryRowContext(ctx, `SELECT `+userColumns+` FROM `+usersJoined+` WHERE u.email = $1`, NormalizeEmail(email)))
}

// UserByID returns the account with that id.
func (s *Service) UserByID(ctx context.Context, id string) (User, error) {
	return scanUser(s.db.Read().QueryRowContext(ctx, `SELECT `+userColumns+` FROM `+usersJoined+` WHERE u.id = $1`, id))
}

// SetLanguage stores the user's UI language ("" to follow the browser).
func (s *Service) SetLanguage(ctx context.Context, userID, lang string) error {
	if lang != "" && !i18n.Supported(lang) {
		return problem.Field("language", "error_language_unknown")
	}
	return s.db.InTx(ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(ctx, `UPDATE users SET language = $1, updated_at = $2 WHERE id = $3`, lang, s.clock(), userID)
		return err
	})
}

// Deactivate disables an account and ends all its sessions; its API tokens
// stop working with it.
func (s *Service) Deactivate(ctx context.Context, userID, address string) error {
	now := s.clock()
	return s.db.InTx(ctx, func(tx db.Querier) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET active = FALSE, updated_at = $1 WHERE id = $2`, now, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return db.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.UserDeactivated, UserID: userID, Address: address})
	})
}

// ChangePassword replaces the password after checking the current one
// (throttled like sign-in), ends the user's other sessions and tells the
// user by e-mail.
func (s *Service) ChangePassword(ctx context.Context, sess Session, current, next string, c Client) error {
	var hash, email, name, lang string
	err := s.db.Read().QueryRowContext(ctx, `SELECT password_hash, email, name, language FROM users WHERE id = $1`, sess.UserID).Scan(&hash, &email, &name, &lang)
	if err := db.Check(err); err != nil {
		return err
	}
	if err := ValidatePassword(next, email); err != nil {
		return err
	}
	attempt, err := s.reserve(ctx, email, c.Address)
	if err != nil {
		return err
	}
	if ok, err := s.checkPassword(ctx, hash, current); err != nil {
		return err
	} else if !ok {
		s.recordOnly(ctx, audit.Event{Event: audit.SignInFailed, UserID: sess.UserID, Address: c.Address, Detail: "wrong current password on change"})
		return problem.Field("current_password", "error_password_wrong")
	}
	newHash, err := s.hashPassword(ctx, next)
	if err != nil {
		return err
	}
	now := s.clock()
	return s.db.InTx(ctx, func(tx db.Querier) error {
		if err := settle(ctx, tx, attempt); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, password_changed_at = $2, updated_at = $2 WHERE id = $3`, newHash, now, sess.UserID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2`, sess.UserID, sess.hash); err != nil {
			return err
		}
		if err := notify.Enqueue(ctx, tx, now, notify.Message{Kind: notify.KindPasswordChanged, To: email, Language: lang, Data: map[string]string{"Name": name}}); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.PasswordChanged, UserID: sess.UserID, Address: c.Address})
	})
}

// randomToken returns n random bytes as unpadded base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("auth: no randomness: " + err.Error()) // crypto/rand never fails on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenHash is what is stored for a secret token.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// ClientFromRequest identifies the client of an HTTP request. Behind a
// reverse proxy the operator trusts (trustProxy), the address is the last
// X-Forwarded-For entry: the one that proxy added. Entries before it come
// from the client and can be forged.
func ClientFromRequest(r *http.Request, trustProxy bool) Client {
	c := Client{UserAgent: r.UserAgent()}
	if trustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			entries := strings.Split(xff[len(xff)-1], ",")
			if ip := net.ParseIP(strings.TrimSpace(entries[len(entries)-1])); ip != nil {
				c.Address = ip.String()
				return c
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	c.Address = host
	return c
}

// Purge deletes what has expired: sessions, throttling counters that no
// longer count, and reset links a day after they expired. Run periodically.
func (s *Service) Purge(ctx context.Context) error {
	if _, err := s.DeleteExpiredSessions(ctx); err != nil {
		return err
	}
	if err := s.PurgeThrottling(ctx); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM password_resets WHERE expires_at < $1`, s.clock().Add(-24*time.Hour))
		return err
	})
}
