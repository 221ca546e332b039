package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/gen"
)

// account is a generated handler account (gen-handler-…), signed in once
// at the start and used by the journeys, with what it may see.
type account struct {
	email, authority, country string
	pq                        bool     // its authority handles professional qualifications
	requests                  []string // requests its authority takes part in
	attachments               [][2]string
	terms                     []string // words to search for, in its country's languages
	session                   *session
}

// person is an account the sign-in journey uses: a code is accepted once
// per 30 seconds per account, so sign-ins go round many of them.
type person struct {
	email, secret string
	used          time.Time
}

// world is what the journeys need to know of the generated data.
type world struct {
	accounts    []*account
	requesters  []*account // pq accounts that have a responder in another country
	responders  map[string][]*account
	withFiles   []*account
	pkIDs       []string
	mu          sync.Mutex
	people      []*person // a queue: the least recently used first
	answerQueue chan created
}

// created is a request sent by the create journey, for the answer journey.
type created struct {
	id        string
	responder *account
}

func loadWorld(ctx context.Context, d *db.DB) (*world, error) {
	w := &world{responders: map[string][]*account{}, answerQueue: make(chan created, 1<<16)}
	q := d.Read()
	rows, err := q.QueryContext(ctx, `SELECT u.email, u.authority_id, a.country,
		(SELECT COUNT(*) FROM authority_areas aa WHERE aa.authority_id = a.id AND aa.area = 'pq')
		FROM users u JOIN authorities a ON a.id = u.authority_id
		WHERE u.email LIKE 'gen-handler-%' ORDER BY u.email`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var a account
		var pq int
		if err := rows.Scan(&a.email, &a.authority, &a.country, &pq); err != nil {
			_ = rows.Close()
			return nil, err
		}
		a.pq = pq > 0
		w.accounts = append(w.accounts, &a)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(w.accounts) == 0 {
		return nil, errors.New("no generated handler accounts (gen-handler-…): run imi generate first")
	}
	for _, a := range w.accounts {
		if a.requests, err = strs(ctx, q, `SELECT id FROM requests WHERE (requester_id = $1 OR responder_id = $1) AND state <> 'draft' ORDER BY id LIMIT 500`, a.authority); err != nil {
			return nil, err
		}
		files, err := strs(ctx, q, `SELECT f.request_id || ' ' || f.id FROM request_attachments f JOIN requests r ON r.id = f.request_id
			WHERE (r.requester_id = $1 OR r.responder_id = $1) AND r.state <> 'draft' AND r.blocked_at IS NULL ORDER BY f.id LIMIT 200`, a.authority)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			r, id, _ := strings.Cut(f, " ")
			a.attachments = append(a.attachments, [2]string{r, id})
		}
		if len(a.attachments) > 0 {
			w.withFiles = append(w.withFiles, a)
		}
		cities, err := strs(ctx, q, `SELECT DISTINCT city FROM authorities WHERE country = $1 AND city <> '' ORDER BY city LIMIT 40`, a.country)
		if err != nil {
			return nil, err
		}
		for _, c := range cities {
			if f := strings.Fields(c); len(f) > 0 && len([]rune(f[0])) >= 3 {
				a.terms = append(a.terms, f[0])
			}
		}
		if len(a.terms) == 0 {
			a.terms = []string{"a"}
		}
		w.pkIDs = append(w.pkIDs, a.requests...)
	}
	for _, a := range w.accounts {
		if !a.pq {
			continue
		}
		for _, b := range w.accounts {
			if b.pq && b.country != a.country {
				w.responders[a.email] = append(w.responders[a.email], b)
			}
		}
		if len(w.responders[a.email]) > 0 {
			w.requesters = append(w.requesters, a)
		}
	}
	switch {
	case len(w.pkIDs) == 0:
		return nil, errors.New("the generated accounts' authorities take part in no request: generate more requests")
	case len(w.requesters) == 0:
		return nil, errors.New("no two generated accounts of different countries handle professional qualifications: generate more accounts")
	case len(w.withFiles) == 0:
		return nil, errors.New("no generated account sees an attachment: generate more requests")
	}
	// The least recently signed in first: a code of the same 30-second
	// step as the last one accepted is refused (an earlier run may have
	// used it).
	rows, err = q.QueryContext(ctx, `SELECT email, totp_secret, totp_last_step FROM users WHERE email LIKE $1 AND totp_enabled
		ORDER BY totp_last_step, email LIMIT 20000`, "gen-user-%"+gen.Domain)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var p person
		var step int64
		if err := rows.Scan(&p.email, &p.secret, &step); err != nil {
			return nil, err
		}
		p.used = time.Unix(step*30, 0)
		w.people = append(w.people, &p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(w.people) == 0 {
		return nil, fmt.Errorf("no generated users (gen-user-…%s) to sign in", gen.Domain)
	}
	return w, nil
}

func strs(ctx context.Context, q db.Querier, query string, args ...any) ([]string, error) {
	return db.Strings(q.QueryContext(ctx, query, args...))
}

// nextPerson returns the account least recently signed in, waiting until
// its last code is 31 seconds old (a new 30-second step).
func (w *world) nextPerson(ctx context.Context) (*person, error) {
	w.mu.Lock()
	p := w.people[0]
	w.people = append(w.people[1:], p)
	wait := time.Until(p.used.Add(31 * time.Second))
	p.used = time.Now().Add(max(wait, 0))
	w.mu.Unlock()
	if wait > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	return p, nil
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }
