package broadcasts

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/notify"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/text"
	"github.com/openimi/openimi/internal/workflow"
)

// change is one action being applied: its effects run in order inside the
// action's transaction.
type change struct {
	s     *Service
	tx    db.Querier
	c     *Case
	now   time.Time
	in    Input
	event *workflow.Event
	actor authorities.Actor
	tell  []string        // audiences to tell once the action is recorded
	told  map[string]bool // users told already
}

func (ch *change) exec(ctx context.Context, query string, args ...any) error {
	_, err := ch.tx.ExecContext(ctx, query, args...)
	return db.Check(err)
}

// apply runs one named effect.
func (ch *change) apply(ctx context.Context, effect string) error {
	c := ch.c
	switch effect {
	case "check_complete":
		d := DraftInput{Kind: c.Kind, Area: c.Area, Type: c.Type, Title: c.Title, Fields: c.Fields, Message: c.Message, Criteria: c.Criteria,
			AllCountries: c.AllCountries, Countries: c.Countries}
		// The sender's coordinator approves what the sender wrote: the
		// check is of the content, with the sender's rights.
		sender := ch.actor
		if c.State != Draft {
			sender = authorities.Actor{Authority: c.Sender, Roles: []authorities.UserRole{{Role: authorities.AlertHandler}}}
		}
		if _, _, err := ch.s.check(sender, &d, true); err != nil {
			return err
		}
	case "broadcast":
		return ch.broadcast(ctx)
	case "disseminate":
		return ch.disseminate(ctx)
	case "acknowledge":
		return ch.exec(ctx, `UPDATE broadcast_recipients SET acknowledged_at = $1, acknowledged_by = $2 WHERE broadcast_id = $3 AND authority_id = $4
			AND acknowledged_at IS NULL`, ch.now, ch.actor.UserID, c.ID, ch.actor.Authority.ID)
	case "revise":
		return ch.revise(ctx)
	case "stamp_closed":
		return ch.exec(ctx, `UPDATE broadcasts SET closed_at = $1 WHERE id = $2`, ch.now, c.ID)
	case "notify_sender", "notify_sender_coordinator", "notify_recipient_coordinators", "notify_commission":
		ch.tell = append(ch.tell, strings.TrimPrefix(effect, "notify_"))
	case "notify_everyone":
		ch.tell = append(ch.tell, "sender", "sender_coordinator", "recipient_coordinators", "recipients", "commission")
	}
	return nil
}

// targets are the countries a case goes to: those chosen, or every
// country of the network but the sender's.
func (ch *change) targets() []string {
	if !ch.c.AllCountries {
		return ch.c.Countries
	}
	var out []string
	for _, x := range countries.Current() {
		if x.Code != ch.c.Sender.Country {
			out = append(out, x.Code)
		}
	}
	return out
}

// broadcast sends the case to its countries (and the Commission, which
// sees every broadcast case).
func (ch *change) broadcast(ctx context.Context) error {
	c := ch.c
	var until any
	if c.Kind == Notification {
		_, b, err := ch.s.typeOf(c.Kind, c.Area, c.Type)
		if err != nil {
			return err
		}
		t := ch.now.AddDate(0, 0, b.CommentDays)
		until = t
		c.CommentUntil = &t
	}
	if err := ch.exec(ctx, `UPDATE broadcasts SET sent_at = $1, comment_until = $2 WHERE id = $3`, ch.now, until, c.ID); err != nil {
		return err
	}
	c.SentAt = &ch.now
	list := ch.targets()
	for _, country := range list {
		if err := ch.exec(ctx, `INSERT INTO broadcast_countries (broadcast_id, country, received_at) VALUES ($1, $2, $3)`, c.ID, country, ch.now); err != nil {
			return err
		}
		c.Receipts = append(c.Receipts, Receipt{Country: country, ReceivedAt: ch.now})
	}
	ch.event.Data = marshal(map[string]any{"countries": list})
	return nil
}

// disseminate passes the case on to authorities of the coordinator's
// country that work in its area.
func (ch *change) disseminate(ctx context.Context) error {
	c, country := ch.c, ch.actor.Authority.Country
	var added []string
	for _, id := range sortedUnique(ch.in.Authorities) {
		a, err := ch.s.authorities.Get(ctx, id)
		if err != nil || a.Country != country || a.Status == authorities.Deactivated || !a.HasArea(c.Area) || a.ID == c.SenderID {
			return problem.Field("authorities", "error_broadcast_recipient")
		}
		if c.recipient(a.ID) != nil {
			continue
		}
		if err := ch.exec(ctx, `INSERT INTO broadcast_recipients (broadcast_id, authority_id, country, disseminated_by, disseminated_at) VALUES ($1, $2, $3, $4, $5)`,
			c.ID, a.ID, country, ch.actor.UserID, ch.now); err != nil {
			return err
		}
		c.Recipients = append(c.Recipients, Dissemination{AuthorityID: a.ID, Country: country, DisseminatedAt: ch.now})
		added = append(added, a.ID)
	}
	if len(added) == 0 {
		return problem.Field("authorities", "error_broadcast_no_recipient")
	}
	if err := ch.exec(ctx, `UPDATE broadcast_countries SET disseminated_at = COALESCE(disseminated_at, $1) WHERE broadcast_id = $2 AND country = $3`,
		ch.now, c.ID, country); err != nil {
		return err
	}
	ch.event.Data = marshal(map[string]any{"authorities": added})
	for _, id := range added {
		if err := ch.tellAuthority(ctx, id, recipientRoles(c.Kind)); err != nil {
			return err
		}
	}
	return nil
}

func recipientRoles(kind string) []string {
	if kind == Notification {
		return []string{authorities.AlertHandler, authorities.RequestHandler, authorities.Allocator, authorities.Coordinator}
	}
	return []string{authorities.AlertHandler}
}

// revise rectifies (alerts) or modifies (notifications) what was sent.
// The event names the fields changed, not their values.
func (ch *change) revise(ctx context.Context) error {
	c := ch.c
	p, b, err := ch.s.typeOf(c.Kind, c.Area, c.Type)
	if err != nil {
		return err
	}
	values := map[string]string{}
	for k, v := range c.Fields {
		values[k] = v
	}
	var changed []string
	for k, v := range ch.in.Fields {
		v = strings.TrimSpace(v)
		if values[k] != v {
			changed = append(changed, k)
		}
		values[k] = v
	}
	title, message := c.Title, c.Message
	if t := strings.TrimSpace(ch.in.Title); t != "" && t != title {
		title = t
		changed = append(changed, "title")
	}
	if m := strings.TrimSpace(ch.in.Message); m != "" && m != message {
		message = m
		changed = append(changed, "message")
	}
	if len(changed) == 0 {
		return problem.Field("fields", "error_broadcast_unchanged")
	}
	if len(title) > maxTitle {
		return problem.Field("title", "error_text_too_long", "Max", maxTitle)
	}
	if len(message) > maxMessage {
		return problem.Field("message", "error_text_too_long", "Max", maxMessage)
	}
	if !text.Line(title) {
		return problem.Field("title", "error_text_invalid")
	}
	if !text.Block(message) {
		return problem.Field("message", "error_text_invalid")
	}
	if err := checkFields(p, b, values, true); err != nil {
		return err
	}
	slices.Sort(changed)
	fields, _ := json.Marshal(values)
	ch.event.Data = marshal(map[string]any{"fields": changed})
	return ch.exec(ctx, `UPDATE broadcasts SET title = $1, fields = $2, subject_name = $3, message = $4 WHERE id = $5`,
		title, string(fields), subjectName(b, values), message, c.ID)
}

func (ch *change) kind() string {
	if ch.c.Kind == Notification {
		return notify.KindNotificationUpdate
	}
	return notify.KindAlertUpdate
}

func (ch *change) tellAuthority(ctx context.Context, authorityID string, roles []string) error {
	to := notify.Audience{AuthorityID: authorityID, Area: ch.c.Area, Roles: roles, Skip: ch.actor.UserID, Done: ch.told}
	return notify.TellAuthority(ctx, ch.tx, ch.now, to, ch.c.Reference, Path(ch.c.Kind)+"/"+ch.c.ID, ch.s.publicURL, ch.kind(), nil)
}

// notify tells the audiences the effects named, each user once, in their
// own language. Messages carry the reference, never personal data.
func (ch *change) notify(ctx context.Context) error {
	c := ch.c
	for _, audience := range ch.tell {
		var ids []string
		roles := []string{authorities.Coordinator}
		switch audience {
		case "sender":
			ids, roles = []string{c.SenderID}, []string{authorities.AlertHandler, authorities.Coordinator}
		case "sender_coordinator":
			id, err := authorities.CoordinatorOf(ctx, ch.tx, c.Sender, c.Area)
			if err != nil {
				return err
			}
			ids = []string{id}
		case "recipient_coordinators":
			for _, r := range c.Receipts {
				list, err := ch.s.receivers(ctx, ch.tx, r.Country, c.Area)
				if err != nil {
					return err
				}
				ids = append(ids, list...)
			}
		case "recipients":
			for _, r := range c.Recipients {
				ids = append(ids, r.AuthorityID)
			}
			roles = recipientRoles(c.Kind)
		case "commission":
			var err error
			if ids, err = column(ctx, ch.tx, `SELECT id FROM authorities WHERE role = 'commission' AND status <> 'deactivated' ORDER BY id`); err != nil {
				return err
			}
		}
		for _, id := range ids {
			if err := ch.tellAuthority(ctx, id, roles); err != nil {
				return err
			}
		}
	}
	return nil
}

// receivers are the alert coordinators of a country for an area: its
// national coordinator, and the delegated alert coordinators whose scope
// has no areas or has this one. All is read within q: inside a
// transaction, another transaction committed with it may have just made
// a coordinator, which the readers do not see yet.
func (s *Service) receivers(ctx context.Context, q db.Querier, country, area string) ([]string, error) {
	return column(ctx, q, `SELECT a.id FROM authorities a WHERE a.country = $1 AND a.status <> 'deactivated'
		AND (a.role = 'national_coordinator' OR (a.role = 'delegated_coordinator' AND a.alert_coordinator
			AND (NOT EXISTS (SELECT 1 FROM coordinator_scopes c WHERE c.authority_id = a.id AND c.kind = 'area')
				OR EXISTS (SELECT 1 FROM coordinator_scopes c WHERE c.authority_id = a.id AND c.kind = 'area' AND c.value = $2))))
		ORDER BY a.id`, country, area)
}

func column(ctx context.Context, q db.Querier, query string, args ...any) ([]string, error) {
	return db.Strings(q.QueryContext(ctx, query, args...))
}

func marshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
