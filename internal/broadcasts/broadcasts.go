// Package broadcasts is IMI's one-to-many exchanges: alerts, which warn
// other countries of a serious risk, and notifications of new national
// measures. Both run on internal/workflow (machines alert and
// notification); their types — fields, criteria, deadlines, comment
// periods — come from the area packs. Every rule about who may see or do
// what is here, so that the web UI and the API cannot disagree.
package broadcasts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/text"
	"github.com/openimi/openimi/internal/workflow"
)

// Kinds, as in the area packs.
const (
	Alert        = areas.Alert
	Notification = areas.Notification
)

// Kinds lists both kinds.
var Kinds = []string{Alert, Notification}

// Parties of the alert and notification machines.
const (
	Sender               = "sender"
	SenderCoordinator    = "sender_coordinator"
	RecipientCoordinator = "recipient_coordinator"
	Recipient            = "recipient"
	Commission           = "commission"
	Reader               = "reader"
)

// States of the two machines (see internal/workflow/machines).
const (
	Draft              = "draft"
	AwaitingValidation = "awaiting_validation"
	Broadcast          = "broadcast"
	ClosureProposed    = "closure_proposed"
	WithdrawalProposed = "withdrawal_proposed"
	Closed             = "closed"
	Withdrawn          = "withdrawn"
	Rejected           = "rejected"
)

// Case is an alert or a notification as one viewer may see it.
type Case struct {
	ID, Reference, Kind, Area, Type, State string
	SenderID, CreatedBy, Title             string
	Sender                                 *authorities.Authority
	Criteria                               []string // confirmed by the sender
	AllCountries                           bool
	Countries                              []string // chosen; once broadcast, those reached
	SentAt, CommentUntil, ClosedAt         *time.Time
	BlockedAt, ErasedAt                    *time.Time
	LastActivityAt, CreatedAt, UpdatedAt   time.Time
	// Deadline is when an alert must be sent by (its type's days after a
	// date field), if its type has one and the date is filled in.
	Deadline *time.Time

	// Personal data (alerts): filled only for a viewer who may see it.
	PersonalShown bool
	Fields        map[string]string
	Message       string
	subjectName   string

	// Receipts and Recipients are the dissemination as the viewer may
	// see it: all of it for the sender's side and the Commission, its own
	// country's for a recipient coordinator, its own for a recipient.
	Receipts   []Receipt
	Recipients []Dissemination

	// For the viewer.
	Parties []string // workflow parties the viewer takes
	Actions []string // actions the viewer may take now
	ToDo    bool     // it waits for the viewer
}

// Receipt is a broadcast's arrival in one country.
type Receipt struct {
	Country        string
	ReceivedAt     time.Time
	DisseminatedAt *time.Time
}

// Dissemination is an authority a broadcast was disseminated to.
type Dissemination struct {
	AuthorityID, Country string
	Authority            *authorities.Authority
	DisseminatedAt       time.Time
	AcknowledgedAt       *time.Time
}

// Late reports whether an alert not yet broadcast has passed its sending
// deadline.
func (c *Case) Late(now time.Time) bool {
	return c.Deadline != nil && c.SentAt == nil && now.After(*c.Deadline) && c.State != Rejected
}

// CommentOpen reports whether a notification's comment period runs.
func (c *Case) CommentOpen(now time.Time) bool {
	return c.CommentUntil != nil && now.Before(*c.CommentUntil) && c.State == Broadcast
}

// Service runs alerts and notifications.
type Service struct {
	db          *db.DB
	views       *audit.Batch // who was shown personal data
	areas       *areas.Registry
	authorities *authorities.Service
	machines    map[string]*workflow.Machine
	publicURL   string
	now         func() time.Time
}

// effects are the named effects the two machines may use.
var effects = []string{"check_complete", "broadcast", "disseminate", "acknowledge", "revise", "stamp_closed",
	"notify_sender", "notify_sender_coordinator", "notify_recipient_coordinators", "notify_commission", "notify_everyone"}

// New returns the service.
func New(d *db.DB, reg *areas.Registry, auths *authorities.Service, publicURL string, now func() time.Time) (*Service, error) {
	s := &Service{db: d, views: audit.NewBatch(d), areas: reg, authorities: auths, machines: map[string]*workflow.Machine{}, publicURL: publicURL, now: now}
	if s.now == nil {
		s.now = time.Now
	}
	for _, k := range Kinds {
		m, err := workflow.Load(k, effects)
		if err != nil {
			return nil, err
		}
		s.machines[k] = m
	}
	return s, nil
}

// Machine returns a kind's machine (for labels and documentation).
func (s *Service) Machine(kind string) *workflow.Machine { return s.machines[kind] }

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// errNotFound answers alike for a case that does not exist and one the
// actor may not see, so that identifiers reveal nothing.
var errNotFound = problem.New(problem.NotFound, "error_not_found")

// Path is where a case of a kind lives in the UI ("/alerts/…",
// "/measures/…": "notifications" are the users' in-app messages).
func Path(kind string) string {
	if kind == Notification {
		return "/measures"
	}
	return "/alerts"
}

// DraftInput is what a sender writes before sending.
type DraftInput struct {
	Kind, Area, Type string
	Title            string
	Fields           map[string]string
	Message          string
	Criteria         []string // alerts: the criteria the sender confirms
	AllCountries     bool     // alerts: to every country of the area
	Countries        []string // alerts: else to these
	// IdempotencyKey, when set, makes a repeated create return the case
	// the first one made.
	IdempotencyKey string
}

const (
	maxMessage = 10000
	maxField   = 500
	maxTitle   = 200
)

// canSend reports whether the actor may write cases of kind in area:
// alert handlers, and for notifications also coordinators, of a country's
// authority (the Commission receives; it does not send).
func canSend(actor authorities.Actor, kind, area string) bool {
	if actor.Authority == nil || actor.Authority.Status == authorities.Deactivated || actor.Authority.Kind == authorities.Commission {
		return false
	}
	return actor.Has(authorities.AlertHandler, area) || kind == Notification && actor.Has(authorities.Coordinator, area)
}

// CanSend reports whether the actor writes cases of kind in any area.
func (s *Service) CanSend(actor authorities.Actor, kind string) bool {
	return len(s.Types(actor, kind)) > 0
}

// Types lists the types of kind the actor may send, by area.
func (s *Service) Types(actor authorities.Actor, kind string) []*areas.Broadcast {
	var out []*areas.Broadcast
	for _, p := range s.areas.Packs() {
		for _, b := range p.Broadcasts {
			if b.Kind == kind && canSend(actor, kind, p.Code) {
				out = append(out, b)
			}
		}
	}
	return out
}

// typeOf finds a broadcast type of kind in an area.
func (s *Service) typeOf(kind, area, code string) (*areas.Pack, *areas.Broadcast, error) {
	p, err := s.areas.Pack(area)
	if err != nil {
		return nil, nil, problem.Field("area", "error_request_area")
	}
	b := p.Broadcast(code)
	if b == nil || b.Kind != kind {
		return nil, nil, problem.Field("type", "error_broadcast_type")
	}
	return p, b, nil
}

// checkFields checks field values against their types.
func checkFields(p *areas.Pack, b *areas.Broadcast, values map[string]string, complete bool) error {
	for code, v := range values {
		f := b.Field(code)
		if f == nil {
			return problem.Field("fields", "error_request_subject_field", "Code", code)
		}
		if len(v) > maxField {
			return problem.Field("fields."+code, "error_text_too_long", "Max", maxField)
		}
		if !text.Block(v) {
			return problem.Field("fields."+code, "error_text_invalid")
		}
		if v == "" {
			continue
		}
		switch f.Type {
		case "date":
			if _, err := time.Parse(time.DateOnly, v); err != nil {
				return problem.Field("fields."+code, "error_date_invalid")
			}
		case "country":
			if !countries.IsCurrent(v) {
				return problem.Field("fields."+code, "error_country_unknown")
			}
		case "term":
			voc := p.Vocabulary(f.Vocabulary)
			if voc == nil || !slices.ContainsFunc(voc.AllTerms(), func(t areas.Code) bool { return t.Value == v }) {
				return problem.Field("fields."+code, "error_broadcast_term")
			}
		}
	}
	if complete {
		for _, f := range b.Fields {
			if f.Required && strings.TrimSpace(values[f.Code]) == "" {
				return problem.Field("fields."+f.Code, "error_request_subject_required")
			}
		}
	}
	return nil
}

// check validates a draft; complete also demands what sending needs.
func (s *Service) check(actor authorities.Actor, d *DraftInput, complete bool) (*areas.Pack, *areas.Broadcast, error) {
	p, b, err := s.typeOf(d.Kind, d.Area, d.Type)
	if err != nil {
		return nil, nil, err
	}
	if !canSend(actor, d.Kind, d.Area) {
		return nil, nil, problem.New(problem.Forbidden, "error_broadcast_not_sender")
	}
	d.Title = strings.TrimSpace(d.Title)
	if len(d.Title) > maxTitle {
		return nil, nil, problem.Field("title", "error_text_too_long", "Max", maxTitle)
	}
	if !text.Line(d.Title) {
		return nil, nil, problem.Field("title", "error_text_invalid")
	}
	if complete && d.Title == "" {
		return nil, nil, problem.Field("title", "error_broadcast_title")
	}
	for k, v := range d.Fields {
		d.Fields[k] = strings.TrimSpace(v)
	}
	if err := checkFields(p, b, d.Fields, complete); err != nil {
		return nil, nil, err
	}
	if len(d.Message) > maxMessage {
		return nil, nil, problem.Field("message", "error_text_too_long", "Max", maxMessage)
	}
	if !text.Block(d.Message) {
		return nil, nil, problem.Field("message", "error_text_invalid")
	}
	for _, k := range d.Criteria {
		if !slices.ContainsFunc(b.Criteria, func(c areas.Code) bool { return c.Value == k }) {
			return nil, nil, problem.Field("criteria", "error_broadcast_criteria")
		}
	}
	if complete && len(d.Criteria) < len(b.Criteria) {
		return nil, nil, problem.Field("criteria", "error_broadcast_criteria")
	}
	if d.Kind == Notification {
		d.AllCountries, d.Countries = true, nil // to every country, always
	}
	for _, c := range d.Countries {
		if !countries.IsCurrent(c) || actor.Authority != nil && c == actor.Authority.Country {
			return nil, nil, problem.Field("countries", "error_broadcast_countries")
		}
	}
	if complete && !d.AllCountries && len(d.Countries) == 0 {
		return nil, nil, problem.Field("countries", "error_broadcast_countries")
	}
	return p, b, nil
}

// subjectName is the text an alert is found by: its personal fields.
func subjectName(b *areas.Broadcast, values map[string]string) string {
	var parts []string
	for _, f := range b.Fields {
		if v := values[f.Code]; v != "" && f.PersonalData {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, " ")
}

func sortedUnique(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return slices.Compact(out)
}

// Create saves a new draft.
func (s *Service) Create(ctx context.Context, actor authorities.Actor, d DraftInput) (*Case, error) {
	_, b, err := s.check(actor, &d, false)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	fields, _ := json.Marshal(d.Fields)
	id := uuid.Must(uuid.NewV7()).String()
	err = s.db.InTx(ctx, func(tx db.Querier) error {
		earlier, err := workflow.Once(ctx, tx, actor.UserID, d.IdempotencyKey, "create-"+d.Kind, id, now)
		if err != nil || earlier != "" {
			id = earlier
			return err
		}
		ref, err := s.reference(ctx, tx, d.Kind, d.Area, now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO broadcasts (id, reference, kind, area, type, state, sender_id, created_by, title, fields, subject_name,
			message, criteria, all_countries, countries, last_activity_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $16)`,
			id, ref, d.Kind, d.Area, d.Type, Draft, actor.Authority.ID, actor.UserID, d.Title, string(fields), subjectName(b, d.Fields),
			d.Message, strings.Join(sortedUnique(d.Criteria), " "), d.AllCountries, strings.Join(sortedUnique(d.Countries), " "), now); err != nil {
			return db.Check(err)
		}
		return workflow.Record(ctx, tx, &workflow.Event{CaseID: id, At: now, Action: "create", To: Draft, UserID: actor.UserID,
			AuthorityID: actor.Authority.ID, Party: Sender})
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actor, id)
}

// UpdateDraft rewrites a draft; only its sender's users may.
func (s *Service) UpdateDraft(ctx context.Context, actor authorities.Actor, id string, d DraftInput) (*Case, error) {
	c, err := s.load(ctx, s.db.Read(), id)
	if err != nil {
		return nil, err
	}
	if actor.Authority == nil || actor.Authority.ID != c.SenderID {
		return nil, errNotFound
	}
	if c.State != Draft {
		return nil, problem.New(problem.Conflict, "error_broadcast_not_draft")
	}
	d.Kind, d.Area, d.Type = c.Kind, c.Area, c.Type
	_, b, err := s.check(actor, &d, false)
	if err != nil {
		return nil, err
	}
	fields, _ := json.Marshal(d.Fields)
	now := s.clock()
	err = s.db.InTx(ctx, func(tx db.Querier) error {
		res, err := tx.ExecContext(ctx, `UPDATE broadcasts SET title = $1, fields = $2, subject_name = $3, message = $4, criteria = $5, all_countries = $6,
			countries = $7, updated_at = $8, last_activity_at = $8 WHERE id = $9 AND state = 'draft'`,
			d.Title, string(fields), subjectName(b, d.Fields), d.Message, strings.Join(sortedUnique(d.Criteria), " "), d.AllCountries,
			strings.Join(sortedUnique(d.Countries), " "), now, id)
		if err != nil {
			return db.Check(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return problem.New(problem.Conflict, "error_broadcast_not_draft")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actor, id)
}

// reference numbers cases per kind, area and year: "SERVICES-A-2026-000042"
// for an alert, "…-N-…" for a notification.
func (s *Service) reference(ctx context.Context, tx db.Querier, kind, area string, now time.Time) (string, error) {
	letter := "A"
	if kind == Notification {
		letter = "N"
	}
	n, err := workflow.Number(ctx, tx, fmt.Sprintf("%s/%s/%d", kind, area, now.Year()))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s-%s-%d-%06d", strings.ToUpper(area), letter, now.Year(), n), nil
}

const columns = `id, reference, kind, area, type, state, sender_id, created_by, title, fields, subject_name, message, criteria, all_countries, countries,
	sent_at, comment_until, closed_at, blocked_at, erased_at, last_activity_at, created_at, updated_at`

func scanCase(row interface{ Scan(...any) error }) (*Case, error) {
	var c Case
	var fields, criteria, chosen string
	var sent, until, closed, blocked, erased sql.NullTime
	if err := row.Scan(&c.ID, &c.Reference, &c.Kind, &c.Area, &c.Type, &c.State, &c.SenderID, &c.CreatedBy, &c.Title, &fields, &c.subjectName,
		&c.Message, &criteria, &c.AllCountries, &chosen, &sent, &until, &closed, &blocked, &erased, &c.LastActivityAt, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, err
	}
	c.SentAt, c.CommentUntil, c.ClosedAt, c.BlockedAt, c.ErasedAt = db.Time(sent), db.Time(until), db.Time(closed), db.Time(blocked), db.Time(erased)
	c.Criteria, c.Countries = strings.Fields(criteria), strings.Fields(chosen)
	_ = json.Unmarshal([]byte(fields), &c.Fields)
	if c.Fields == nil {
		c.Fields = map[string]string{}
	}
	return &c, nil
}

// load reads a case with its dissemination, for the service's own use.
func (s *Service) load(ctx context.Context, q db.Querier, id string) (*Case, error) {
	c, err := scanCase(q.QueryRowContext(ctx, `SELECT `+columns+` FROM broadcasts WHERE id = $1`, id))
	if errors.Is(db.Check(err), db.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, db.Check(err)
	}
	if err := s.loadDissemination(ctx, q, c); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Service) loadDissemination(ctx context.Context, q db.Querier, c *Case) error {
	rows, err := q.QueryContext(ctx, `SELECT country, received_at, disseminated_at FROM broadcast_countries WHERE broadcast_id = $1 ORDER BY country`, c.ID)
	if err != nil {
		return db.Check(err)
	}
	for rows.Next() {
		var r Receipt
		var at sql.NullTime
		if err := rows.Scan(&r.Country, &r.ReceivedAt, &at); err != nil {
			_ = rows.Close()
			return db.Check(err)
		}
		r.DisseminatedAt = db.Time(at)
		c.Receipts = append(c.Receipts, r)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return db.Check(err)
	}
	rows, err = q.QueryContext(ctx, `SELECT authority_id, country, disseminated_at, acknowledged_at FROM broadcast_recipients WHERE broadcast_id = $1
		ORDER BY country, disseminated_at, authority_id`, c.ID)
	if err != nil {
		return db.Check(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Dissemination
		var at sql.NullTime
		if err := rows.Scan(&r.AuthorityID, &r.Country, &r.DisseminatedAt, &at); err != nil {
			return db.Check(err)
		}
		r.AcknowledgedAt = db.Time(at)
		c.Recipients = append(c.Recipients, r)
	}
	return db.Check(rows.Err())
}

// receiving reports whether a country received the case.
func (c *Case) receiving(country string) *Receipt {
	for i := range c.Receipts {
		if c.Receipts[i].Country == country {
			return &c.Receipts[i]
		}
	}
	return nil
}

// recipient returns the authority's dissemination, if any.
func (c *Case) recipient(authorityID string) *Dissemination {
	for i := range c.Recipients {
		if c.Recipients[i].AuthorityID == authorityID {
			return &c.Recipients[i]
		}
	}
	return nil
}

// receivesFor reports whether the actor's authority is an alert
// coordinator of its country for the area: the national coordinator, or a
// delegated coordinator marked as alert coordinator whose areas include it.
func receivesFor(actor authorities.Actor, area string) bool {
	me := actor.Authority
	if me == nil || me.Status == authorities.Deactivated || !actor.Has(authorities.Coordinator, area) {
		return false
	}
	switch me.Kind {
	case authorities.NationalCoordinator:
		return true
	case authorities.DelegatedCoordinator:
		return me.AlertCoordinator && (len(me.Scope.Areas) == 0 || slices.Contains(me.Scope.Areas, area))
	}
	return false
}

// who is what the actor is in a case: its parties and its roles for the
// case's area.
func (s *Service) who(ctx context.Context, actor authorities.Actor, c *Case) (workflow.Who, error) {
	var w workflow.Who
	if c.Sender == nil {
		a, err := s.authorities.Get(ctx, c.SenderID)
		if err != nil {
			return w, err
		}
		c.Sender = a
	}
	me := actor.Authority
	active := me != nil && me.Status != authorities.Deactivated
	sent := c.SentAt != nil
	add := func(p string) { w.Parties = append(w.Parties, p) }
	if active && me.ID == c.SenderID {
		add(Sender)
	}
	if c.State != Draft && !actor.IsCommission() && actor.CanValidate(c.Sender) {
		add(SenderCoordinator)
	}
	if sent && active && me.Country != c.Sender.Country && c.receiving(me.Country) != nil && receivesFor(actor, c.Area) {
		add(RecipientCoordinator)
	}
	if sent && active {
		switch {
		case c.recipient(me.ID) != nil:
			add(Recipient)
		case c.Kind == Notification && me.Country != c.Sender.Country && me.HasArea(c.Area):
			add(Recipient) // a notification reaches every authority of the area abroad
		}
	}
	if sent && actor.IsCommission() {
		add(Commission)
	}
	if c.Kind == Notification && sent && len(w.Parties) == 0 && active && me.HasArea(c.Area) {
		add(Reader)
	}
	for _, role := range actor.Roles {
		if role.Area == "" || role.Area == c.Area {
			w.Roles = append(w.Roles, role.Role)
		}
	}
	return w, nil
}

// options are the conditions the machines name, for this actor.
func (s *Service) options(actor authorities.Actor, c *Case) map[string]bool {
	o := map[string]bool{"comment_period_open": c.CommentOpen(s.clock()), "blocked": c.BlockedAt != nil}
	if actor.Authority != nil {
		if r := c.recipient(actor.Authority.ID); r != nil {
			o["disseminated_to_me"] = true
			o["acknowledged"] = r.AcknowledgedAt != nil
		}
	}
	return o
}

// takingPart loads a case for an actor who takes part in it; for anyone
// else it does not exist.
func (s *Service) takingPart(ctx context.Context, q db.Querier, actor authorities.Actor, id string) (*Case, workflow.Who, error) {
	c, err := s.load(ctx, q, id)
	if err != nil {
		return nil, workflow.Who{}, err
	}
	w, err := s.who(ctx, actor, c)
	if err != nil {
		return nil, w, err
	}
	if len(w.Parties) == 0 {
		return nil, w, errNotFound
	}
	return c, w, nil
}

// deadline computes an alert's sending deadline from its type.
func (s *Service) deadline(c *Case) *time.Time {
	p, err := s.areas.Pack(c.Area)
	if err != nil {
		return nil
	}
	b := p.Broadcast(c.Type)
	if b == nil || b.SendWithinDays == 0 {
		return nil
	}
	from, err := time.Parse(time.DateOnly, c.Fields[b.DeadlineFrom])
	if err != nil {
		return nil
	}
	d := from.AddDate(0, 0, b.SendWithinDays+1).Add(-time.Second) // to the end of the last day
	return &d
}

// view trims c to what the actor may see and fills in what it may do.
func (s *Service) view(ctx context.Context, actor authorities.Actor, c *Case, w workflow.Who) *Case {
	c.Parties = w.Parties
	for _, a := range s.machines[c.Kind].Allowed(c.State, w, s.options(actor, c)) {
		c.Actions = append(c.Actions, a.Name)
	}
	c.Deadline = s.deadline(c)
	c.PersonalShown = c.BlockedAt == nil
	if !c.PersonalShown {
		c.Fields, c.Message, c.subjectName = nil, "", ""
	}
	// The dissemination: all of it for the sender's side and the
	// Commission; a receiving country sees its own.
	whole := slices.Contains(w.Parties, Sender) || slices.Contains(w.Parties, SenderCoordinator) || slices.Contains(w.Parties, Commission)
	if !whole {
		country := ""
		if actor.Authority != nil {
			country = actor.Authority.Country
		}
		c.Receipts = slices.DeleteFunc(c.Receipts, func(r Receipt) bool { return r.Country != country })
		coordinator := slices.Contains(w.Parties, RecipientCoordinator)
		c.Recipients = slices.DeleteFunc(c.Recipients, func(r Dissemination) bool {
			return r.Country != country || !coordinator && (actor.Authority == nil || r.AuthorityID != actor.Authority.ID)
		})
	}
	for i := range c.Recipients {
		if a, err := s.authorities.Get(ctx, c.Recipients[i].AuthorityID); err == nil {
			c.Recipients[i].Authority = a
		}
	}
	c.ToDo = s.waitsFor(actor, c)
	return c
}

// waitsFor reports whether a case waits for the actor: a draft to send,
// an alert to validate or close, a country's dissemination, an
// acknowledgement.
func (s *Service) waitsFor(actor authorities.Actor, c *Case) bool {
	for _, a := range c.Actions {
		switch a {
		case "submit", "send", "approve", "close", "withdraw", "acknowledge":
			if a == "close" || a == "withdraw" {
				if c.Kind == Notification || c.State == Broadcast {
					continue // a notification's sender closes when it chooses
				}
			}
			return true
		case "disseminate":
			if actor.Authority == nil {
				continue
			}
			if r := c.receiving(actor.Authority.Country); r != nil && r.DisseminatedAt == nil {
				return true
			}
		}
	}
	return false
}

// Get returns a case as the actor may see it. Every view of an alert's
// personal data is recorded in the audit log.
func (s *Service) Get(ctx context.Context, actor authorities.Actor, id string) (*Case, error) {
	c, w, err := s.takingPart(ctx, s.db.Read(), actor, id)
	if err != nil {
		return nil, err
	}
	c = s.view(ctx, actor, c, w)
	if c.Kind == Alert && c.PersonalShown {
		if err := s.views.Record(ctx, s.clock(), audit.Event{Event: audit.PersonalDataViewed, UserID: actor.UserID, Subject: "alert:" + c.Reference}); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Input is what an action may carry.
type Input struct {
	Comment     string
	Authorities []string          // disseminate: authorities of the coordinator's country
	Title       string            // rectify, modify: the new title ("" keeps it)
	Fields      map[string]string // rectify, modify: the fields to change
	Message     string            // rectify, modify: the new text ("" keeps it)
	// IdempotencyKey, when set, makes a repeated action a no-op that
	// returns the case as it is.
	IdempotencyKey string
}

// Act fires action on case id for the actor. Invalid actions and invalid
// input change nothing.
func (s *Service) Act(ctx context.Context, actor authorities.Actor, id, action string, in Input) (*Case, error) {
	if len(in.Comment) > maxMessage {
		return nil, problem.Field("comment", "error_text_too_long", "Max", maxMessage)
	}
	if !text.Block(in.Comment) {
		return nil, problem.Field("comment", "error_text_invalid")
	}
	var done Case // what the actor learns if the action takes the case out of its sight
	err := s.db.InTx(ctx, func(tx db.Querier) error {
		c, err := s.load(ctx, tx, id)
		if err != nil {
			return err
		}
		done = Case{ID: c.ID, Reference: c.Reference, Kind: c.Kind, Area: c.Area, Type: c.Type, State: c.State, Title: c.Title}
		w, err := s.who(ctx, actor, c)
		if err != nil {
			return err
		}
		if len(w.Parties) == 0 {
			return errNotFound
		}
		if earlier, err := workflow.Once(ctx, tx, actor.UserID, in.IdempotencyKey, id+"/"+action, id, s.clock()); err != nil || earlier != "" {
			return err
		}
		now := s.clock()
		step := workflow.Step{Table: "broadcasts", CaseID: id, State: c.State, Action: action, Who: w, Options: s.options(actor, c), UserID: actor.UserID,
			Comment: in.Comment, At: now, NotPossible: "error_step_not_possible", Changed: "error_step_changed"}
		if actor.Authority != nil {
			step.AuthorityID = actor.Authority.ID
		}
		ch := &change{s: s, tx: tx, c: c, now: now, in: in, actor: actor, told: map[string]bool{}}
		e, err := s.machines[c.Kind].Fire(ctx, tx, step, func(name string, e *workflow.Event) error {
			ch.event = e
			return ch.apply(ctx, name)
		})
		if err != nil {
			return err
		}
		ch.event, done.State = e, e.To
		return ch.notify(ctx)
	})
	if errors.Is(err, db.ErrConflict) {
		return nil, problem.New(problem.Conflict, "error_step_changed")
	}
	if err != nil {
		return nil, err
	}
	c, err := s.Get(ctx, actor, id)
	if p, ok := problem.As(err); ok && p.Kind == problem.NotFound {
		return &done, nil // returned to the sender's draft: done, and no longer the actor's to see
	}
	return c, err
}

// Candidates lists the authorities a recipient coordinator may
// disseminate a case to: active authorities of its country that work in
// the case's area and have not received it, found by text (or all, up to
// 50, when text is empty). They are the authorities the server keeps,
// shared with every page (authorities.Search): read them, never change
// them.
func (s *Service) Candidates(ctx context.Context, actor authorities.Actor, id, text string) ([]*authorities.Authority, error) {
	c, w, err := s.takingPart(ctx, s.db.Read(), actor, id)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(w.Parties, RecipientCoordinator) {
		return nil, nil
	}
	found, _, err := s.authorities.Search(ctx, authorities.Query{Text: strings.TrimSpace(text), Area: c.Area, Countries: []string{actor.Authority.Country}, PerPage: 50})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(found, func(a *authorities.Authority) bool {
		return a.Status == authorities.Deactivated || c.recipient(a.ID) != nil
	}), nil
}

// Event is a step of a case's timeline as a viewer may read it.
type Event struct {
	At        time.Time
	Action    string
	Party     string
	Authority string // the acting authority's name, in its original language
	Country   string
	Comment   string
	Fields    []string // rectify, modify: the fields changed
	Count     int      // disseminate: authorities reached
}

// Timeline returns a case's history for the actor. A receiving country's
// dissemination and acknowledgements are shown to it, to the sender's side
// and to the Commission, not to other receiving countries; comments and
// rectified fields go out with blocked data.
func (s *Service) Timeline(ctx context.Context, actor authorities.Actor, id string) ([]Event, error) {
	c, w, err := s.takingPart(ctx, s.db.Read(), actor, id)
	if err != nil {
		return nil, err
	}
	whole := slices.Contains(w.Parties, Sender) || slices.Contains(w.Parties, SenderCoordinator) || slices.Contains(w.Parties, Commission)
	events, err := workflow.History(ctx, s.db.Read(), id)
	if err != nil {
		return nil, err
	}
	var out []Event
	known := map[string]*authorities.Authority{} // a long history names few authorities, many times
	for _, e := range events {
		x := Event{At: e.At, Action: e.Action, Party: e.Party}
		if e.AuthorityID != "" {
			a, ok := known[e.AuthorityID]
			if !ok {
				if a, _ = s.authorities.Get(ctx, e.AuthorityID); a != nil {
					known[e.AuthorityID] = a
				}
			}
			if a != nil {
				x.Authority, x.Country = a.Name, a.Country
			}
		}
		local := e.Action == "disseminate" || e.Action == "acknowledge"
		if local && !whole && (actor.Authority == nil || x.Country != actor.Authority.Country) {
			continue
		}
		if e.Action == "comment" && !whole && (actor.Authority == nil || x.Country != actor.Authority.Country) {
			continue // comments go to the sender and the Commission; other countries see their own
		}
		var data struct {
			Fields      []string `json:"fields"`
			Authorities []string `json:"authorities"`
		}
		_ = json.Unmarshal([]byte(e.Data), &data)
		x.Fields, x.Count = data.Fields, len(data.Authorities)
		if c.BlockedAt == nil || c.Kind == Notification {
			x.Comment = e.Comment
		}
		out = append(out, x)
	}
	return out, nil
}
