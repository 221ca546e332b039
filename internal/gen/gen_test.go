package gen_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/gen"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/registers"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/stats"
	"github.com/openimi/openimi/locales"
)

// env is a migrated database with the services the tests check the
// generated data through.
type env struct {
	d     *db.DB
	deps  gen.Deps
	reg   *areas.Registry
	au    *auth.Service
	auths *authorities.Service
	reqs  *requests.Service
}

var (
	shippedAreas *areas.Registry
	catalog      *i18n.Catalog
)

func open(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	if shippedAreas == nil {
		var err error
		if shippedAreas, err = areas.Open(shipped.Files, ""); err != nil {
			t.Fatal(err)
		}
		if catalog, err = i18n.Load(locales.Files); err != nil {
			t.Fatal(err)
		}
	}
	loc := dbtest.Location(t)
	d, err := db.Open(ctx, loc, db.Options{SQLiteSynchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	au := auth.New(d, auth.Settings{}, nil)
	auths := authorities.New(d, shippedAreas, au, "http://imi.test", nil)
	reqs, err := requests.New(d, shippedAreas, auths, "http://imi.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	store := requests.DirStore{Dir: t.TempDir()}
	reqs.UseStore(store, 0)
	return &env{d: d, reg: shippedAreas, au: au, auths: auths, reqs: reqs, deps: gen.Deps{DB: d, Location: loc, Areas: shippedAreas, Catalog: catalog,
		Authorities: auths, Registers: registers.New(d, shippedAreas, auths, catalog, nil), Files: store}}
}

// small is a data set that every test can afford.
func small(seed uint64) gen.Settings {
	return gen.Settings{Authorities: 300, Users: 200, Requests: 2000, Alerts: 40, Registers: 60, Accounts: 3, Seed: seed, Until: gen.DefaultUntil}
}

func (e *env) generate(t *testing.T, s gen.Settings) *gen.Result {
	t.Helper()
	res, err := gen.Run(context.Background(), e.deps, s)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (e *env) actor(t *testing.T, email string) authorities.Actor {
	t.Helper()
	ctx := context.Background()
	u, err := e.au.UserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.auths.ActorFor(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// countsMatch checks the inbox's kept counts against the requests' rows.
func (e *env) countsMatch(t *testing.T) {
	t.Helper()
	if wrong := e.count(t, `SELECT COUNT(*) FROM (SELECT owner, box, COUNT(*) AS c FROM inbox_membership GROUP BY owner, box) m
		FULL JOIN inbox_counts k ON k.owner = m.owner AND k.box = m.box WHERE COALESCE(k.n, 0) <> COALESCE(m.c, 0)`); wrong != 0 {
		t.Errorf("%d of the inbox's kept counts differ from the rows", wrong)
	}
}

func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.d.Read().QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestGeneratedData generates a small data set once and checks it
// through the services, as the UI and the API would read it.
func TestGeneratedData(t *testing.T) {
	ctx := context.Background()
	e := open(t)
	indexes := e.indexes(t)
	res := e.generate(t, small(7))
	if res.Rows["requests"] != 2000 || len(res.Accounts) != 3 {
		t.Fatalf("rows %v, accounts %d", res.Rows, len(res.Accounts))
	}
	handler := e.actor(t, res.Accounts[0].Email)
	me := handler.Authority.ID

	t.Run("a handler's inbox lists its authority's requests with the counts per state", func(t *testing.T) {
		boxes := map[string]struct{ side, states string }{
			requests.Incoming: {"responder_id", "sent accepted info_requested answered"},
			requests.Outgoing: {"requester_id", "sent accepted info_requested answered"},
			requests.Drafts:   {"requester_id", "draft"},
			requests.Done:     {"requester_id", "closed declined withdrawn"},
		}
		seen := map[string]bool{}
		total := 0
		for box, b := range boxes {
			for _, st := range strings.Fields(b.states) {
				want := e.count(t, `SELECT COUNT(*) FROM requests WHERE `+b.side+` = $1 AND state = $2`, me, st)
				if box == requests.Done {
					want += e.count(t, `SELECT COUNT(*) FROM requests WHERE responder_id = $1 AND requester_id <> $1 AND state = $2 AND sent_at IS NOT NULL`, me, st)
				}
				list, n, err := e.reqs.Inbox(ctx, handler, box, requests.Filter{State: st, PerPage: 100})
				if err != nil {
					t.Fatal(err)
				}
				if n != want || len(list) != min(want, 100) {
					t.Errorf("%s, %s: %d listed (%d on the page), want %d", box, st, n, len(list), want)
				}
				if n > 0 {
					seen[st] = true
				}
				total += n
			}
		}
		if total < 100 || len(seen) < 6 {
			t.Errorf("the busiest handler has %d requests in %d states: %v", total, len(seen), seen)
		}
		if total != res.Accounts[0].Inbox+e.count(t, `SELECT COUNT(*) FROM requests WHERE requester_id = $1 AND state = 'draft'`, me) {
			t.Errorf("the summary counts %d requests, the inbox %d", res.Accounts[0].Inbox, total)
		}
		// The tabs' counts, kept by the database's triggers as the rows
		// went in, are the boxes' rows (requests' tests hold the boxes'
		// rows to the list's own query).
		e.countsMatch(t)
		// Page after page, each box lists its requests latest first, as
		// they are in the box (inbox_membership), across states and sides.
		longest := 0
		for _, box := range requests.Boxes {
			want, err := db.Strings(e.d.Read().QueryContext(ctx, `SELECT r.id FROM inbox_membership m JOIN requests r ON r.id = m.request_id
				WHERE m.owner = $1 AND m.box = $2 ORDER BY r.last_activity_at DESC, r.id DESC LIMIT 60`, me, box))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for page := 1; page <= 3; page++ {
				list, _, err := e.reqs.Inbox(ctx, handler, box, requests.Filter{Page: page, PerPage: 20})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range list {
					got = append(got, r.ID)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("box %s: pages list %d requests, the box's latest %d; first difference at %d", box, len(got), len(want), firstDiff(got, want))
			}
			longest = max(longest, len(want))
		}
		if longest <= 40 {
			t.Errorf("no box reaches the third page (%d requests at most)", longest)
		}
	})

	t.Run("a request opens with its answers, attachments and a timeline in order", func(t *testing.T) {
		var id string
		if err := e.d.Read().QueryRowContext(ctx, `SELECT r.id FROM requests r WHERE r.state = 'closed' AND r.blocked_at IS NULL AND (r.requester_id = $1 OR r.responder_id = $1)
			AND EXISTS (SELECT 1 FROM request_attachments x WHERE x.request_id = r.id) ORDER BY r.id LIMIT 1`, me).Scan(&id); err != nil {
			t.Fatal(err)
		}
		r, err := e.reqs.Get(ctx, handler, id)
		if err != nil {
			t.Fatal(err)
		}
		if !r.PersonalShown || r.SubjectName == "" || len(r.Attachments) == 0 || len(r.Questions) == 0 {
			t.Fatalf("request %s: personal %v, name %q, %d attachments, %d questions", r.Reference, r.PersonalShown, r.SubjectName, len(r.Attachments), len(r.Questions))
		}
		for _, q := range r.Questions {
			if q.Answer == "" && q.AnswerText == "" {
				t.Errorf("question %s of a closed request has no answer", q.Code)
			}
		}
		tl, err := e.reqs.Timeline(ctx, handler, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(tl) < 4 || tl[0].Action != "create" || tl[len(tl)-1].To != r.State {
			t.Fatalf("timeline %+v", tl)
		}
		for i := 1; i < len(tl); i++ {
			if tl[i].At.Before(tl[i-1].At) || tl[i].From != tl[i-1].To || tl[i].Authority == "" {
				t.Errorf("step %d (%s %s→%s at %s) does not follow step %d (%s →%s at %s)", i, tl[i].Action, tl[i].From, tl[i].To, tl[i].At, i-1, tl[i-1].Action, tl[i-1].To, tl[i-1].At)
			}
		}
	})

	t.Run("an attachment downloads with its bytes", func(t *testing.T) {
		var rid, aid, sum string
		var size int64
		if err := e.d.Read().QueryRowContext(ctx, `SELECT r.id, x.id, x.sha256, x.size FROM requests r JOIN request_attachments x ON x.request_id = r.id
			WHERE r.blocked_at IS NULL AND (r.requester_id = $1 OR r.responder_id = $1) ORDER BY x.id LIMIT 1`, me).Scan(&rid, &aid, &sum, &size); err != nil {
			t.Fatal(err)
		}
		a, body, err := e.reqs.OpenAttachment(ctx, handler, rid, aid)
		if err != nil {
			t.Fatal(err)
		}
		defer body.Close()
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		if hex.EncodeToString(h[:]) != sum || int64(len(b)) != size || a.ContentType != "text/plain; charset=utf-8" {
			t.Errorf("downloaded %d bytes, sha256 %x, type %s; want %d bytes, %s", len(b), h, a.ContentType, size, sum)
		}
	})

	t.Run("authorities are found by their names in their language and in English", func(t *testing.T) {
		var id, name, english string
		if err := e.d.Read().QueryRowContext(ctx, `SELECT a.id, a.name, t.name FROM authorities a JOIN authority_texts t ON t.authority_id = a.id AND t.language = 'en'
			WHERE a.role = 'competent_authority' AND a.language = 'de' AND a.status = 'active' ORDER BY a.id LIMIT 1`).Scan(&id, &name, &english); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{name, english} {
			list, _, err := e.auths.Search(ctx, authorities.Query{Text: q, PerPage: 100})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(list, func(a *authorities.Authority) bool { return a.ID == id }) {
				t.Errorf("searching %q does not find %s (%s)", q, name, id)
			}
		}
	})

	t.Run("the statistics are those stats rebuild derives from the events", func(t *testing.T) {
		before := e.snapshot(t, `SELECT * FROM request_facts ORDER BY request_id`, `SELECT * FROM stats_questions ORDER BY area, month, code`)
		if n, err := stats.Missing(ctx, e.d.Read()); err != nil || n {
			t.Fatalf("facts missing: %v %v", n, err)
		}
		if _, err := stats.Rebuild(ctx, e.d, e.reg); err != nil {
			t.Fatal(err)
		}
		after := e.snapshot(t, `SELECT * FROM request_facts ORDER BY request_id`, `SELECT * FROM stats_questions ORDER BY area, month, code`)
		if len(before) != len(after) {
			t.Fatalf("%d rows of statistics generated, %d derived", len(before), len(after))
		}
		for i := range before {
			if before[i] != after[i] {
				t.Fatalf("generated %s\nderived   %s", before[i], after[i])
			}
		}
	})

	t.Run("the indexes set aside during generation are back, as the migrations made them", func(t *testing.T) {
		if after := e.indexes(t); !slices.Equal(indexes, after) {
			t.Errorf("indexes before:\n%s\nafter:\n%s", strings.Join(indexes, "\n"), strings.Join(after, "\n"))
		}
	})

	t.Run("the audit log's chain holds", func(t *testing.T) {
		if n, err := audit.Verify(ctx, e.d.Read()); err != nil || n < 200 {
			t.Errorf("%d rows: %v", n, err)
		}
	})

	t.Run("every reference points at a row", func(t *testing.T) {
		// The bulk writer does not have the database check references
		// row by row (SQLite's foreign_keys off, PostgreSQL's triggers
		// skipped): check them all now.
		if e.d.Dialect() == db.SQLite {
			if n := e.count(t, `SELECT COUNT(*) FROM pragma_foreign_key_check`); n != 0 {
				t.Errorf("%d rows refer to nothing", n)
			}
			return
		}
		rows, err := e.d.Read().QueryContext(ctx, `SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, fa.attname
			FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
			JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1]
			WHERE c.contype = 'f' AND c.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())`)
		if err != nil {
			t.Fatal(err)
		}
		var checks []string
		for rows.Next() {
			var child, col, parent, key string
			if err := rows.Scan(&child, &col, &parent, &key); err != nil {
				t.Fatal(err)
			}
			checks = append(checks, fmt.Sprintf(`SELECT COUNT(*) FROM %s c WHERE c.%s IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %s p WHERE p.%s = c.%s)`, child, col, parent, key, col))
		}
		_ = rows.Close()
		if len(checks) < 20 {
			t.Fatalf("only %d references found", len(checks))
		}
		for _, q := range checks {
			if n := e.count(t, q); n != 0 {
				t.Errorf("%d rows refer to nothing: %s", n, q)
			}
		}
	})

	t.Run("a request made afterwards gets the next reference and is sent", func(t *testing.T) {
		area := handler.Authority.Areas[0]
		p, _ := e.reg.Pack(area)
		var responder string
		if err := e.d.Read().QueryRowContext(ctx, `SELECT a.id FROM authorities a JOIN authority_areas aa ON aa.authority_id = a.id AND aa.area = $1
			WHERE a.status = 'active' AND a.role = 'competent_authority' AND a.country <> $2 ORDER BY a.id LIMIT 1`, area, handler.Authority.Country).Scan(&responder); err != nil {
			t.Fatal(err)
		}
		subject := map[string]string{}
		for _, f := range p.Subject {
			if f.Required {
				subject[f.Code] = "Erika Mustermann 99999"
				if f.Type == "country" {
					subject[f.Code] = "AT"
				}
			}
		}
		r, err := e.reqs.Create(ctx, handler, requests.DraftInput{Area: area, QuestionSet: p.QuestionSets[0].Code,
			Questions: []string{p.QuestionSets[0].Questions()[0].Code}, ResponderID: responder, Subject: subject})
		if err != nil {
			t.Fatal(err)
		}
		if r, err = e.reqs.Act(ctx, handler, r.ID, "send", requests.Input{}); err != nil || r.State != requests.Sent {
			t.Fatalf("send: %v", err)
		}
		year := time.Now().UTC().Year()
		prefix := fmt.Sprintf("%s-%d-", strings.ToUpper(area), year)
		var highest string
		if err := e.d.Read().QueryRowContext(ctx, `SELECT MAX(reference) FROM requests WHERE reference LIKE $1 AND id <> $2`, prefix+"%", r.ID).Scan(&highest); err != nil {
			highest = ""
		}
		if n := e.count(t, `SELECT COUNT(*) FROM requests WHERE reference = $1`, r.Reference); n != 1 || r.Reference <= highest {
			t.Errorf("new reference %s (%d with it), the highest before %s", r.Reference, n, highest)
		}
	})
}

// indexes lists the definitions of the database's indexes.
func (e *env) indexes(t *testing.T) []string {
	t.Helper()
	q := `SELECT name || ': ' || sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`
	if e.d.Dialect() == db.Postgres {
		q = `SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname`
	}
	out := e.snapshot(t, q)
	if len(out) < 10 {
		t.Fatalf("only %d indexes", len(out))
	}
	return out
}

// snapshot reads the rows of queries as text.
func (e *env) snapshot(t *testing.T, queries ...string) []string {
	t.Helper()
	var out []string
	for _, q := range queries {
		rows, err := e.d.Read().QueryContext(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, v := range vals {
				if tm, ok := v.(time.Time); ok {
					v = tm.UTC().Format(time.RFC3339Nano)
				}
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "%s=%v|", cols[i], v)
			}
			out = append(out, b.String())
		}
		_ = rows.Close()
	}
	return out
}

// digest sums every table the generator writes, in key order.
func (e *env) digest(t *testing.T) string {
	t.Helper()
	tables := map[string]string{
		"authorities": "id", "authority_texts": "authority_id, language", "authority_areas": "authority_id, area", "authority_competences": "authority_id, area, vocabulary, term",
		"coordinator_scopes": "authority_id, kind, value", "authority_history": "id", "users": "id", "user_roles": "user_id, role, area", "audit_log": "seq",
		"requests": "id", "request_questions": "request_id, code", "case_events": "id", "request_attachments": "id", "request_reminders": "request_id, kind",
		"request_facts": "request_id", "stats_questions": "area, month, code", "notifications": "id", "broadcasts": "id",
		"broadcast_countries": "broadcast_id, country", "broadcast_recipients": "broadcast_id, authority_id", "registers": "id", "register_names": "register_id, language",
		"register_history": "id", "counters": "name", "authority_fts": "id", "register_fts": "id",
	}
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		cols := "*"
		if strings.HasSuffix(n, "_fts") {
			cols = "id, document, tags"
		}
		for _, row := range e.snapshot(t, `SELECT `+cols+` FROM `+n+` ORDER BY `+tables[n]) {
			io.WriteString(h, n+":"+row+"\n")
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestTheSameSeedGivesTheSameData(t *testing.T) {
	s := small(11)
	s.Authorities, s.Users, s.Requests = 150, 120, 600
	one, two, other := open(t), open(t), open(t)
	one.generate(t, s)
	two.generate(t, s)
	s.Seed = 12
	other.generate(t, s)
	a, b, c := one.digest(t), two.digest(t), other.digest(t)
	if a != b {
		t.Errorf("seed 11 twice: %s and %s", a, b)
	}
	if a == c {
		t.Error("seeds 11 and 12 gave the same data")
	}
}

func TestBadSettingsAreRefusedAndWriteNothing(t *testing.T) {
	e := open(t)
	ok := small(1)
	for name, change := range map[string]func(*gen.Settings){
		"negative requests":        func(s *gen.Settings) { s.Requests = -1 },
		"negative alerts":          func(s *gen.Settings) { s.Alerts = -5 },
		"too few authorities":      func(s *gen.Settings) { s.Authorities = 10 },
		"too few users":            func(s *gen.Settings) { s.Users = 5 },
		"no end of history":        func(s *gen.Settings) { s.Until = time.Time{} },
		"more accounts than users": func(s *gen.Settings) { s.Accounts = 500 },
	} {
		s := ok
		change(&s)
		if _, err := gen.Run(context.Background(), e.deps, s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := gen.Preset("5m"); err == nil || !strings.Contains(err.Error(), "10k, 100k or 1m") {
		t.Errorf("unknown scale: %v", err)
	}
	for _, table := range []string{"authorities", "users", "requests", "case_events", "audit_log"} {
		if n := e.count(t, `SELECT COUNT(*) FROM `+table); n != 0 {
			t.Errorf("%s: %d rows written", table, n)
		}
	}
}

func TestADatabaseWithRequestsNeedsAppend(t *testing.T) {
	e := open(t)
	s := small(3)
	s.Authorities, s.Users, s.Requests, s.Alerts, s.Registers = 100, 80, 200, 5, 5
	e.generate(t, s)
	if _, err := gen.Run(context.Background(), e.deps, s); !errors.Is(err, gen.ErrNotEmpty) {
		t.Fatalf("again without --append: %v", err)
	}
	s.Append = true
	if _, err := gen.Run(context.Background(), e.deps, s); err == nil || !strings.Contains(err.Error(), "seed 3") {
		t.Fatalf("again with the same seed: %v", err)
	}
	s.Seed = 4
	e.generate(t, s)
	if n := e.count(t, `SELECT COUNT(*) FROM requests`); n != 400 {
		t.Errorf("%d requests after two runs of 200", n)
	}
	if n := e.count(t, `SELECT COUNT(*) FROM authorities WHERE role = 'national_coordinator'`); n != 30 {
		t.Errorf("%d national coordinators", n)
	}
	if n, err := audit.Verify(context.Background(), e.d.Read()); err != nil {
		t.Errorf("audit chain after %d rows: %v", n, err)
	}
}

// A generation stopped during the requests (as by Ctrl-C) gives back the
// indexes it set aside before it returns; one killed there (a kill -9, a
// power cut: here, a consistent copy of the database taken at that
// moment) leaves them listed, and the next migration, which every
// command and the server run first, makes them again.
func TestAStoppedGenerationNeverLeavesTablesWithoutTheirIndexes(t *testing.T) {
	e := open(t)
	indexes := e.indexes(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	killed := filepath.Join(t.TempDir(), "killed.db")
	deps := e.deps
	deps.Progress = func(p gen.Progress) {
		if p.Phase != "requests" || p.Done < 500 || ctx.Err() != nil {
			return
		}
		if e.d.Dialect() == db.SQLite { // the committed state a kill would leave
			if _, err := e.d.Backup(context.Background(), killed); err != nil {
				t.Error(err)
			}
		}
		cancel()
	}
	s := small(3)
	s.Requests = 20_000
	if _, err := gen.Run(ctx, deps, s); !errors.Is(err, context.Canceled) {
		t.Fatalf("an interrupted generation: %v", err)
	}
	if after := e.indexes(t); !slices.Equal(indexes, after) {
		t.Errorf("after an interruption, indexes:\n%s\nwant:\n%s", strings.Join(after, "\n"), strings.Join(indexes, "\n"))
	}
	if n := e.count(t, `SELECT COUNT(*) FROM requests`); n >= 20_000 {
		t.Errorf("the interrupted generation went on to %d requests", n)
	}
	e.countsMatch(t)
	if e.d.Dialect() != db.SQLite {
		return
	}
	k, err := db.Open(context.Background(), killed, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	var pending int
	if err := k.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+db.PendingIndexes).Scan(&pending); err != nil || pending < 5 {
		t.Fatalf("the killed run's database lists %d indexes set aside (%v)", pending, err)
	}
	if err := k.Migrate(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	killedEnv := &env{d: k}
	if after := killedEnv.indexes(t); !slices.Equal(indexes, after) {
		t.Errorf("after a kill and a migration, indexes:\n%s\nwant:\n%s", strings.Join(after, "\n"), strings.Join(indexes, "\n"))
	}
	killedEnv.countsMatch(t)
	var left int
	if err := k.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM sqlite_master WHERE name = $1`, db.PendingIndexes).Scan(&left); err != nil || left != 0 {
		t.Errorf("the list of indexes set aside is still there (%d, %v)", left, err)
	}
}
