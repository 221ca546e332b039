package registers

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/search"
)

// Query is a search of the directory.
type Query struct {
	Text      string
	Countries []string
	Type      string
	Area      string
	Access    string
	Status    string // only this status
	Page      int
	PerPage   int
}

// MaxResults bounds how many matches of a text search are listed, ranked
// block by block (search.Block).
const MaxResults = 1000

// Search finds the entries the actor may see by words in any language
// (names, description, holding authority, the type's name) and filters,
// ranked by relevance; with filters only, by name. It returns a page and
// the number of matches (MaxResults+1: more than MaxResults).
func (s *Service) Search(ctx context.Context, actor authorities.Actor, q Query) ([]*Entry, int, error) {
	if len([]rune(q.Text)) > search.MaxQueryLength {
		return nil, 0, problem.Field("q", "error_query_too_long", "Max", search.MaxQueryLength)
	}
	if q.PerPage <= 0 || q.PerPage > 100 {
		q.PerPage = 20
	}
	// Listings without text page through every entry (the open data does);
	// no page may make its offset overflow.
	q.Page = min(max(q.Page, 1), math.MaxInt/q.PerPage)
	tokens := search.Tokens(q.Text)
	var ids []string
	var total int
	var err error
	if len(tokens) == 0 {
		ids, total, err = s.listed(ctx, actor, q)
	} else {
		ids, total, err = s.found(ctx, actor, q, tokens)
	}
	if err != nil {
		return nil, 0, err
	}
	out := make([]*Entry, 0, len(ids))
	for _, id := range ids {
		e, err := s.load(ctx, s.db.Read(), id)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, view(actor, e))
	}
	return out, total, nil
}

// found ranks the text matches and returns a page of their ids.
func (s *Service) found(ctx context.Context, actor authorities.Actor, q Query, tokens []string) ([]string, int, error) {
	var m search.Query
	for _, t := range tokens {
		m.Words = append(m.Words, search.Variants(t))
	}
	require := func(kind string, values ...string) {
		var group []string
		for _, v := range values {
			group = append(group, search.Tag(kind, v))
		}
		m.Require = append(m.Require, group)
	}
	if len(q.Countries) > 0 {
		require("country", q.Countries...)
	}
	for kind, v := range map[string]string{"type": q.Type, "area": q.Area, "access": q.Access, "status": q.Status} {
		if v != "" {
			require(kind, v)
		}
	}
	if q.Status == "" {
		m.Exclude = []string{search.Tag("status", Withdrawn)}
	}
	if !actor.IsCommission() {
		// Validated entries, and the actor's own country's.
		group := []string{search.Tag("status", Validated)}
		if actor.Authority != nil {
			group = append(group, search.Tag("country", actor.Authority.Country))
		}
		m.Require = append(m.Require, group)
	}
	sort.Slice(m.Require, func(i, j int) bool { return strings.Join(m.Require[i], " ") < strings.Join(m.Require[j], " ") })
	// A page past MaxResults only counts (Ranked).
	return s.index.Ranked(ctx, s.db, m, MaxResults, (q.Page-1)*q.PerPage, q.PerPage, func(h *search.Hit) float64 {
		return search.Score(h.Text, tokens, nil)
	})
}

// listed pages through the entries that match the filters, by name.
func (s *Service) listed(ctx context.Context, actor authorities.Actor, q Query) ([]string, int, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	where := []string{"TRUE"}
	if q.Status == "" {
		where = append(where, "status <> 'withdrawn'")
	}
	if !actor.IsCommission() {
		mine := "''"
		if actor.Authority != nil {
			mine = arg(actor.Authority.Country)
		}
		where = append(where, "(status = 'validated' OR country = "+mine+")")
	}
	if len(q.Countries) > 0 {
		marks := make([]string, len(q.Countries))
		for i, c := range q.Countries {
			marks[i] = arg(c)
		}
		where = append(where, "country IN ("+strings.Join(marks, ", ")+")")
	}
	for col, v := range map[string]string{"type": q.Type, "access": q.Access, "status": q.Status} {
		if v != "" {
			where = append(where, col+" = "+arg(v))
		}
	}
	if q.Area != "" {
		where = append(where, "(' ' || areas || ' ') LIKE "+arg("% "+q.Area+" %"))
	}
	sort.Strings(where[1:])
	cond := strings.Join(where, " AND ")
	var total int
	if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM registers WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, db.Check(err)
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id FROM registers WHERE `+cond+fmt.Sprintf(` ORDER BY name, id LIMIT %d OFFSET %d`, q.PerPage, (q.Page-1)*q.PerPage), args...)
	if err != nil {
		return nil, 0, db.Check(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, 0, db.Check(err)
		}
		ids = append(ids, id)
	}
	return ids, total, db.Check(rows.Err())
}

// EnsureIndex fills the search index when it does not hold every entry.
func (s *Service) EnsureIndex(ctx context.Context) error {
	var count int
	if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM registers`).Scan(&count); err != nil {
		return db.Check(err)
	}
	indexed, err := s.index.Count(ctx, s.db.Read())
	if err != nil || indexed == count {
		return err
	}
	return s.db.InTxAlone(ctx, func(tx db.Querier) error {
		if err := s.index.Clear(ctx, tx); err != nil {
			return db.Check(err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM registers ORDER BY id`)
		if err != nil {
			return db.Check(err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				_ = rows.Close()
				return db.Check(err)
			}
			ids = append(ids, id)
		}
		_ = rows.Close()
		if err := rows.Err(); err != nil {
			return db.Check(err)
		}
		for _, id := range ids {
			e, err := s.load(ctx, tx, id)
			if err != nil {
				return err
			}
			if err := s.index.Put(ctx, tx, e.ID, s.document(e), tags(e)); err != nil {
				return db.Check(err)
			}
		}
		return nil
	})
}
