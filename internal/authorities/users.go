package authorities

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/notify"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/text"
)

// invitationTTL is how long an invitation link stays valid.
const invitationTTL = 7 * 24 * time.Hour

// ParseRole reads a role as written on the command line or in a form:
// "ROLE" (every area) or "ROLE:AREA".
func ParseRole(s string) (UserRole, error) {
	role, area, _ := strings.Cut(strings.TrimSpace(s), ":")
	if !slices.Contains(UserRoles, role) {
		return UserRole{}, problem.Field("roles", "error_role_unknown", "Role", role)
	}
	return UserRole{Role: role, Area: area}, nil
}

// checkRoles checks roles for a user of authority a.
func (s *Service) checkRoles(a *Authority, roles []UserRole) error {
	for _, r := range roles {
		if !slices.Contains(UserRoles, r.Role) {
			return problem.Field("roles", "error_role_unknown", "Role", r.Role)
		}
		if r.Area != "" && !a.HasArea(r.Area) {
			return problem.Field("roles", "error_area_unknown", "Code", r.Area)
		}
		if r.Role == Coordinator && !a.Kind.IsCoordinator() {
			return problem.Field("roles", "error_role_coordinator_only")
		}
		if (r.Role == LocalDataAdministrator || r.Role == Coordinator) && r.Area != "" {
			return problem.Field("roles", "error_role_not_per_area", "Role", r.Role)
		}
	}
	return nil
}

func writeRoles(ctx context.Context, tx db.Querier, userID string, roles []UserRole) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_roles WHERE user_id = $1`, userID); err != nil {
		return err
	}
	for _, r := range roles {
		if _, err := tx.ExecContext(ctx, `INSERT INTO user_roles (user_id, role, area) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, userID, r.Role, r.Area); err != nil {
			return err
		}
	}
	return nil
}

func rolesText(roles []UserRole) string {
	parts := make([]string, len(roles))
	for i, r := range roles {
		parts[i] = r.Role
		if r.Area != "" {
			parts[i] += ":" + r.Area
		}
	}
	return strings.Join(parts, ";")
}

func parseRoles(s string) []UserRole {
	var out []UserRole
	for _, p := range strings.Split(s, ";") {
		if r, err := ParseRole(p); err == nil {
			out = append(out, r)
		}
	}
	return out
}

// Members lists an authority's users with their roles and last sign-in.
func (s *Service) Members(ctx context.Context, actor Actor, authorityID string) ([]Member, error) {
	a, err := s.Get(ctx, authorityID)
	if err != nil {
		return nil, err
	}
	if !actor.CanManageUsers(a) && !(actor.coordinates(a)) {
		return nil, errForbidden
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, email, name, active, last_sign_in_at, created_at FROM users WHERE authority_id = $1 ORDER BY name, email`, authorityID)
	if err != nil {
		return nil, db.Check(err)
	}
	var out []Member
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.ID, &m.Email, &m.Name, &m.Active, &m.LastSignIn, &m.CreatedAt); err != nil {
			_ = rows.Close()
			return nil, db.Check(err)
		}
		out = append(out, m)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
	for i := range out {
		if out[i].Roles, err = s.roles(ctx, s.db.Read(), out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Invitation is an invitation to become a user of an authority.
type Invitation struct {
	Email    string
	Name     string
	Language string
	Roles    []UserRole
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

// InviteUser invites someone by e-mail to become a user of an authority. The
// first user of an authority becomes its local data administrator.
func (s *Service) InviteUser(ctx context.Context, actor Actor, authorityID string, inv Invitation) error {
	a, err := s.Get(ctx, authorityID)
	if err != nil {
		return err
	}
	if !actor.CanManageUsers(a) {
		return errForbidden
	}
	inv.Email = auth.NormalizeEmail(inv.Email)
	inv.Name = strings.TrimSpace(inv.Name)
	var errs problem.List
	if addr, err := mail.ParseAddress(inv.Email); err != nil || addr.Address != inv.Email {
		errs = append(errs, problem.Field("email", "error_email_invalid"))
	}
	if inv.Name == "" || len(inv.Name) > 200 {
		errs = append(errs, problem.Field("name", "error_name_required"))
	} else if !text.Line(inv.Name) {
		errs = append(errs, problem.Field("name", "error_text_invalid"))
	}
	if inv.Language != "" && !i18n.Supported(inv.Language) {
		errs = append(errs, problem.Field("language", "error_language_unknown"))
	}
	if err := s.checkRoles(a, inv.Roles); err != nil {
		errs = append(errs, err.(*problem.Error))
	}
	if len(errs) > 0 {
		return errs
	}
	if u, err := s.auth.UserByEmail(ctx, inv.Email); err == nil && u.ID != "" {
		return problem.Field("email", "error_email_taken")
	}
	var members int
	if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE authority_id = $1`, a.ID).Scan(&members); err != nil {
		return db.Check(err)
	}
	if members == 0 && !slices.ContainsFunc(inv.Roles, func(r UserRole) bool { return r.Role == LocalDataAdministrator }) {
		inv.Roles = append(inv.Roles, UserRole{Role: LocalDataAdministrator})
	}
	token := newToken()
	now := s.clock()
	lang := inv.Language
	if lang == "" {
		lang = a.Language
	}
	return s.db.InTx(ctx, func(tx db.Querier) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO invitations (token_hash, kind, authority_id, email, name, language, roles, created_by, created_at, expires_at)
			VALUES ($1, 'user', $2, $3, $4, $5, $6, $7, $8, $9)`, hashToken(token), a.ID, inv.Email, inv.Name, inv.Language, rolesText(inv.Roles), actor.UserID, now, now.Add(invitationTTL)); err != nil {
			return err
		}
		if err := notify.Enqueue(ctx, tx, now, notify.Message{Kind: notify.KindUserInvitation, To: inv.Email, Language: lang, Data: map[string]string{
			"Name": inv.Name, "Authority": a.NameIn(lang), "Link": s.publicURL + "/invitation/" + token, "Days": fmt.Sprint(int(invitationTTL.Hours() / 24)),
		}}); err != nil {
			return err
		}
		return s.record(ctx, tx, a.ID, actor.UserID, "user_invited", "", inv.Email)
	})
}

// PendingInvitation is what the page of an invitation link shows.
type PendingInvitation struct {
	Kind        string
	Email       string
	Name        string
	Language    string
	AuthorityID string
	Authority   string
	createdBy   string
}

func (s *Service) invitation(ctx context.Context, q db.Querier, token string) (PendingInvitation, error) {
	var p PendingInvitation
	var expires time.Time
	var used *time.Time
	invalid := problem.New(problem.NotFound, "error_invitation_invalid")
	if token == "" || len(token) > 100 {
		return p, invalid
	}
	err := db.Check(q.QueryRowContext(ctx, `SELECT kind, email, name, language, COALESCE(authority_id, ''), created_by, expires_at, used_at FROM invitations WHERE token_hash = $1`,
		hashToken(token)).Scan(&p.Kind, &p.Email, &p.Name, &p.Language, &p.AuthorityID, &p.createdBy, &expires, &used))
	if errors.Is(err, db.ErrNotFound) || (err == nil && (used != nil || s.clock().After(expires))) {
		return p, invalid
	}
	if err != nil {
		return p, err
	}
	if p.AuthorityID != "" {
		a, err := s.get(ctx, q, `id = $1`, p.AuthorityID)
		if err != nil {
			return p, err
		}
		if a.Status == Deactivated {
			return p, invalid
		}
		p.Authority = a.Name
	}
	return p, nil
}

// Invitation returns a live invitation, for its page.
func (s *Service) Invitation(ctx context.Context, token string) (PendingInvitation, error) {
	return s.invitation(ctx, s.db.Read(), token)
}

// AcceptInvitation creates the invited user's account, in the authority and
// with the roles of the invitation, and uses the invitation up. The user
// then signs in and sets up the security code.
func (s *Service) AcceptInvitation(ctx context.Context, token, password string) (auth.User, error) {
	var u auth.User
	err := s.db.InTx(ctx, func(tx db.Querier) error {
		p, err := s.invitation(ctx, tx, token)
		if err != nil {
			return err
		}
		if p.Kind != "user" {
			return problem.New(problem.NotFound, "error_invitation_invalid")
		}
		var roles string
		if err := tx.QueryRowContext(ctx, `SELECT roles FROM invitations WHERE token_hash = $1`, hashToken(token)).Scan(&roles); err != nil {
			return err
		}
		u, err = s.auth.CreateUserIn(ctx, tx, auth.NewUser{Email: p.Email, Name: p.Name, Password: password, Language: p.Language})
		if err != nil {
			return err
		}
		now := s.clock()
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL`, now, hashToken(token)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET authority_id = $1 WHERE id = $2`, p.AuthorityID, u.ID); err != nil {
			return err
		}
		u.AuthorityID = p.AuthorityID
		if err := writeRoles(ctx, tx, u.ID, parseRoles(roles)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE authorities SET status = 'active', updated_at = $1 WHERE id = $2 AND status = 'validated'`, now, p.AuthorityID); err != nil {
			return err
		}
		if err := s.reindex(ctx, tx, p.AuthorityID); err != nil {
			return err
		}
		return s.record(ctx, tx, p.AuthorityID, u.ID, "user_joined", "", p.Email)
	})
	return u, err
}

// SetRoles replaces a member's roles.
func (s *Service) SetRoles(ctx context.Context, actor Actor, authorityID, userID string, roles []UserRole) error {
	a, err := s.Get(ctx, authorityID)
	if err != nil {
		return err
	}
	if !actor.CanManageUsers(a) {
		return errForbidden
	}
	if err := s.checkRoles(a, roles); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx db.Querier) error {
		var owner string
		err := db.Check(tx.QueryRowContext(ctx, `SELECT COALESCE(authority_id, '') FROM users WHERE id = $1`, userID).Scan(&owner))
		if err != nil || owner != a.ID {
			return errNotFound // not a member: nothing to see
		}
		old, err := s.roles(ctx, tx, userID)
		if err != nil {
			return err
		}
		if err := writeRoles(ctx, tx, userID, roles); err != nil {
			return err
		}
		var admins int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM user_roles r JOIN users u ON u.id = r.user_id
			WHERE u.authority_id = $1 AND u.active = TRUE AND r.role = $2`, a.ID, LocalDataAdministrator).Scan(&admins); err != nil {
			return err
		}
		if admins == 0 {
			return problem.Field("roles", "error_last_administrator")
		}
		return s.record(ctx, tx, a.ID, actor.UserID, "roles:"+userID, rolesText(old), rolesText(roles))
	})
}

// DeactivateMember deactivates a member's account (their sessions end).
func (s *Service) DeactivateMember(ctx context.Context, actor Actor, authorityID, userID string, address string) error {
	a, err := s.Get(ctx, authorityID)
	if err != nil {
		return err
	}
	if !actor.CanManageUsers(a) {
		return errForbidden
	}
	var owner string
	if err := db.Check(s.db.Read().QueryRowContext(ctx, `SELECT COALESCE(authority_id, '') FROM users WHERE id = $1`, userID).Scan(&owner)); err != nil || owner != a.ID {
		return errNotFound
	}
	if userID == actor.UserID {
		return problem.New(problem.Conflict, "error_deactivate_self")
	}
	return s.auth.Deactivate(ctx, userID, address)
}

// Assign places a user in an authority with roles, as the operator does
// with `imi admin create-user --authority --role`.
func (s *Service) Assign(ctx context.Context, userID, authorityRef string, roles []UserRole) error {
	a, err := s.Find(ctx, authorityRef)
	if errors.Is(err, db.ErrNotFound) {
		return problem.Field("authority", "error_authority_unknown")
	}
	if err != nil {
		return err // the database is away, say: not the caller's mistake
	}
	if err := s.checkRoles(a, roles); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx db.Querier) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET authority_id = $1 WHERE id = $2`, a.ID, userID); err != nil {
			return err
		}
		if err := writeRoles(ctx, tx, userID, roles); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE authorities SET status = 'active', updated_at = $1 WHERE id = $2 AND status IN ('registered', 'validated')`, s.clock(), a.ID); err != nil {
			return err
		}
		if err := s.reindex(ctx, tx, a.ID); err != nil {
			return err
		}
		return s.record(ctx, tx, a.ID, "", "user_assigned", "", userID)
	})
}

// InviteAuthority e-mails a link with which an authority registers itself
// in the network, reporting to the inviting coordinator's authority.
func (s *Service) InviteAuthority(ctx context.Context, actor Actor, email, lang string) error {
	if !actor.CanInviteAuthorities() {
		return errForbidden
	}
	email = auth.NormalizeEmail(email)
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return problem.Field("email", "error_email_invalid")
	}
	if lang != "" && !i18n.Supported(lang) {
		return problem.Field("language", "error_language_unknown")
	}
	if lang == "" {
		lang = actor.Authority.Language
	}
	token, now := newToken(), s.clock()
	return s.db.InTx(ctx, func(tx db.Querier) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO invitations (token_hash, kind, authority_id, email, language, created_by, created_at, expires_at)
			VALUES ($1, 'authority', $2, $3, $4, $5, $6, $7)`, hashToken(token), actor.Authority.ID, email, lang, actor.UserID, now, now.Add(invitationTTL)); err != nil {
			return err
		}
		return notify.Enqueue(ctx, tx, now, notify.Message{Kind: notify.KindAuthorityInvitation, To: email, Language: lang, Data: map[string]string{
			"Coordinator": actor.Authority.NameIn(lang), "Link": s.publicURL + "/register/" + token, "Days": fmt.Sprint(int(invitationTTL.Hours() / 24)),
		}})
	})
}

// RegisterByInvitation registers the authority an invitation link was sent
// to, in the inviting coordinator's scope; the coordinator then validates it.
func (s *Service) RegisterByInvitation(ctx context.Context, token string, in Input) (*Authority, error) {
	p, err := s.Invitation(ctx, token)
	if err != nil {
		return nil, err
	}
	if p.Kind != "authority" {
		return nil, problem.New(problem.NotFound, "error_invitation_invalid")
	}
	inviter, err := s.ActorFor(ctx, p.createdBy)
	if err != nil {
		return nil, err
	}
	in.Kind, in.ParentID, in.ExternalID = CompetentAuthority, p.AuthorityID, ""
	if inviter.Authority != nil && in.Country == "" {
		in.Country = inviter.Authority.Country
	}
	a, err := s.Register(ctx, inviter, in)
	if err != nil {
		return nil, err
	}
	err = s.db.InTx(ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(ctx, `UPDATE invitations SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL`, s.clock(), hashToken(token))
		return err
	})
	return a, err
}

// Remind e-mails an authority that none of its users has used the system.
func (s *Service) Remind(ctx context.Context, actor Actor, authorityID string) error {
	a, err := s.Get(ctx, authorityID)
	if err != nil {
		return err
	}
	if !actor.coordinates(a) {
		return errForbidden
	}
	if a.Email == "" {
		return problem.New(problem.Invalid, "error_authority_no_email")
	}
	coordinator := ""
	if actor.Authority != nil {
		coordinator = actor.Authority.NameIn(a.Language)
	}
	now := s.clock()
	return s.db.InTx(ctx, func(tx db.Querier) error {
		if err := notify.Enqueue(ctx, tx, now, notify.Message{Kind: notify.KindNeverUsedReminder, To: a.Email, Language: a.Language, Data: map[string]string{
			"Authority": a.Name, "Coordinator": coordinator, "Link": s.publicURL + "/sign-in",
		}}); err != nil {
			return err
		}
		return s.record(ctx, tx, a.ID, actor.UserID, "reminder_sent", "", a.Email)
	})
}

// CheckAssignment reports whether roles suit the authority named by ref (id
// or external id), so that a caller can check before creating anything.
func (s *Service) CheckAssignment(ctx context.Context, ref string, roles []UserRole) error {
	a, err := s.Find(ctx, ref)
	if errors.Is(err, db.ErrNotFound) {
		return problem.Field("authority", "error_authority_unknown")
	}
	if err != nil {
		return err
	}
	return s.checkRoles(a, roles)
}
