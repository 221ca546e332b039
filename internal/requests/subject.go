package requests

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/text"
)

// SubjectRecord is one exchange that concerns a person, with its history.
type SubjectRecord struct {
	Request  *Request
	Timeline []Entry
}

// SubjectData answers a data subject's request: everything the actor's
// authority's exchanges hold about a person named name. Only the
// authority's local data administrators may ask; each answer is audited.
func (s *Service) SubjectData(ctx context.Context, actor authorities.Actor, name string) ([]SubjectRecord, error) {
	if actor.Authority == nil || !actor.HasAny(authorities.LocalDataAdministrator) {
		return nil, problem.New(problem.Forbidden, "error_subject_data_role")
	}
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) < 3 || len(name) > 200 {
		return nil, problem.Field("name", "error_subject_data_name")
	}
	if !text.Block(name) {
		return nil, problem.Field("name", "error_text_invalid")
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id FROM requests WHERE (requester_id = $1 OR responder_id = $1 AND sent_at IS NOT NULL) AND blocked_at IS NULL
		AND LOWER(subject_name) LIKE $2 ESCAPE '\' ORDER BY created_at`, actor.Authority.ID, db.Contains(strings.ToLower(name)))
	if err != nil {
		return nil, db.Check(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			_ = rows.Close()
			return nil, db.Check(err)
		}
		ids = append(ids, id)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
	out := []SubjectRecord{}
	for _, id := range ids {
		r, err := s.Get(ctx, actor, id)
		if err != nil {
			return nil, err
		}
		tl, err := s.Timeline(ctx, actor, id)
		if err != nil {
			return nil, err
		}
		out = append(out, SubjectRecord{Request: r, Timeline: tl})
	}
	err = s.db.InTx(ctx, func(tx db.Querier) error {
		return audit.Record(ctx, tx, s.db.Dialect(), s.clock(), audit.Event{Event: audit.PersonalDataExported, UserID: actor.UserID,
			Detail: strings.Join(ids, ",")})
	})
	return out, err
}
