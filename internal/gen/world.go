package gen

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/argon2"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/db"
)

// generator holds one run's state.
type generator struct {
	d   Deps
	s   Settings
	b   *bulk
	res Result
	t0  time.Time

	packs      []*areas.Pack
	auths      []*authority
	national   map[string]*authority // per country
	commission *authority
	users      int // made so far
	suffix     string
	counters   map[string]int64
	auditSeq   int64
	auditPrev  string
	hash       string // the password hash every account shares
	files      []storedFile
	lastTick   time.Time
}

// authority is an authority as the generator needs it.
type authority struct {
	id, country, name, lang string
	nameEN                  string
	kind                    authorities.Kind
	areas                   []string
	rank                    int // among competent authorities: 0 has the most requests
	handlers                []string
	alertHandlers           []string
	coordinator             string // a coordinator user (coordinators only)
	account                 *Account
	inbox                   int
	status                  authorities.Status
	created, activated      time.Time
	write                   func() error // its row, once its status is known
}

// updated is when the authority's row last changed: when its first user
// made it active.
func (a *authority) updated() time.Time {
	if !a.activated.IsZero() {
		return a.activated
	}
	return a.created
}

func newGenerator(ctx context.Context, d Deps, s Settings) (*generator, error) {
	g := &generator{d: d, s: s, packs: d.Areas.Packs(), national: map[string]*authority{}, counters: map[string]int64{},
		res: Result{Rows: map[string]int{}}, t0: time.Now()}
	read := d.DB.Read()
	var foreign int
	if err := read.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests r JOIN users u ON u.id = r.created_by WHERE u.email NOT LIKE '%@demo.openimi.eu'`).Scan(&foreign); err != nil {
		return nil, db.Check(err)
	}
	if foreign > 0 && !s.Append {
		return nil, ErrNotEmpty
	}
	var same int
	if err := read.QueryRowContext(ctx, `SELECT COUNT(*) FROM authorities WHERE external_id LIKE $1`, fmt.Sprintf("GEN-%d-%%", s.Seed)).Scan(&same); err != nil {
		return nil, db.Check(err)
	}
	if same > 0 {
		if !s.Append {
			return nil, ErrNotEmpty
		}
		return nil, fmt.Errorf("this database already holds data generated with seed %d: choose another --seed", s.Seed)
	}
	if taken, err := g.emailTaken(ctx, ""); err != nil {
		return nil, err
	} else if taken {
		if !s.Append {
			return nil, ErrNotEmpty
		}
		g.suffix = fmt.Sprintf(".s%d", s.Seed)
		if taken, err := g.emailTaken(ctx, g.suffix); err != nil || taken {
			if err == nil {
				err = fmt.Errorf("this database already holds data generated with seed %d: choose another --seed", s.Seed)
			}
			return nil, err
		}
	}
	// The network's existing national coordinators stay (one per
	// country); generated authorities report to them.
	rows, err := read.QueryContext(ctx, `SELECT id, country, name, language FROM authorities WHERE role = 'national_coordinator' AND status <> 'deactivated' ORDER BY country`)
	if err != nil {
		return nil, db.Check(err)
	}
	for rows.Next() {
		a := &authority{kind: authorities.NationalCoordinator}
		if err := rows.Scan(&a.id, &a.country, &a.name, &a.lang); err != nil {
			_ = rows.Close()
			return nil, db.Check(err)
		}
		for _, p := range g.packs {
			a.areas = append(a.areas, p.Code)
		}
		g.national[a.country] = a
	}
	_ = rows.Close()
	var ec string
	switch err := read.QueryRowContext(ctx, `SELECT id FROM authorities WHERE external_id = $1`, authorities.CommissionExternalID).Scan(&ec); {
	case err == nil:
		g.commission = &authority{id: ec, country: countries.Commission, kind: authorities.Commission}
	case !errors.Is(err, sql.ErrNoRows):
		return nil, db.Check(err)
	}
	crow, err := read.QueryContext(ctx, `SELECT name, value FROM counters`)
	if err != nil {
		return nil, db.Check(err)
	}
	for crow.Next() {
		var name string
		var v int64
		if err := crow.Scan(&name, &v); err != nil {
			_ = crow.Close()
			return nil, db.Check(err)
		}
		g.counters[name] = v
	}
	_ = crow.Close()
	g.auditPrev = strings.Repeat("0", 64)
	if err := read.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&g.auditSeq, &g.auditPrev); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, db.Check(err)
	}
	if g.b, err = openBulk(ctx, d.DB, d.Location); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *generator) emailTaken(ctx context.Context, suffix string) (bool, error) {
	var n int
	err := g.d.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE email = $1`, "gen-coordinator-at"+suffix+Domain).Scan(&n)
	return n > 0, db.Check(err)
}

func (g *generator) close() { g.b.close() }

// rng returns the seeded generator of one part of the data: each part
// has its own stream, so that more requests leave the authorities as
// they were.
func (g *generator) rng(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(g.s.Seed, stream)) // #nosec G404 -- reproducible made-up data, not secrets
}

// id is a UUIDv7 for a row made at t, its random bits from r: the same
// run makes the same identifiers.
func id(r *rand.Rand, t time.Time) string {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[0:8], uint64(t.UnixMilli())<<16|r.Uint64()&0xffff)
	binary.BigEndian.PutUint64(u[8:16], r.Uint64())
	u[6] = 0x70 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	return u.String()
}

// add buffers a row and counts it.
func (g *generator) add(ctx context.Context, table string, row ...any) error {
	g.res.Rows[table]++
	return g.b.add(ctx, table, row...)
}

// tick reports progress, at most ten times a second.
func (g *generator) tick(phase string, done, total int) {
	if g.d.Progress == nil {
		return
	}
	now := time.Now()
	if done < total && now.Sub(g.lastTick) < 100*time.Millisecond {
		return
	}
	g.lastTick = now
	g.d.Progress(Progress{Phase: phase, Done: done, Total: total, Elapsed: now.Sub(g.t0)})
}

// audit appends a row to the audit log's hash chain, as audit.Record
// would have.
func (g *generator) audit(ctx context.Context, at time.Time, event, userID, subject, detail string) error {
	g.auditSeq++
	at = at.UTC()
	var b strings.Builder
	for _, f := range []string{strconv.FormatInt(g.auditSeq, 10), at.Format(time.RFC3339Nano), event, userID, subject, "", detail, g.auditPrev} {
		b.WriteString(strconv.Itoa(len(f)))
		b.WriteByte(':')
		b.WriteString(f)
	}
	sum := sha256.Sum256([]byte(b.String()))
	h := hex.EncodeToString(sum[:])
	err := g.add(ctx, "audit_log", g.auditSeq, at, event, userID, subject, "", detail, g.auditPrev, h)
	g.auditPrev = h
	return err
}

// run generates everything, then builds the search indexes with the
// services' own code.
func (g *generator) run(ctx context.Context) (err error) {
	if err := g.storeFiles(); err != nil {
		return err
	}
	if err := g.network(ctx); err != nil {
		return err
	}
	if err := g.b.commit(ctx); err != nil {
		return err
	}
	t := time.Now()
	names, indexes, err := g.b.dropIndexes(ctx)
	if err != nil {
		return err
	}
	if err := g.b.commit(ctx); err != nil {
		return err
	}
	restored := false
	restore := func() error {
		restored = true
		ctx := context.WithoutCancel(ctx) // also after an interruption
		g.tick("index", 0, len(indexes))
		for i, def := range indexes {
			for _, st := range db.Restore(g.b.dialect, def) {
				if err := g.b.exec(ctx, st); err != nil {
					return fmt.Errorf("gen: make %s again: %w", names[i], err)
				}
			}
			if err := g.b.exec(ctx, `DELETE FROM `+db.PendingIndexes+` WHERE name = $1`, names[i]); err != nil {
				return err
			}
			g.tick("index", i+1, len(indexes))
		}
		if err := g.b.exec(ctx, `DROP TABLE `+db.PendingIndexes); err != nil {
			return err
		}
		return g.b.commit(ctx)
	}
	defer func() {
		if !restored {
			// A failed run leaves what it committed, but never the
			// tables without their indexes.
			g.b.rollback()
			if rerr := restore(); rerr != nil {
				err = errors.Join(err, rerr, errors.New("the indexes set aside are made again by the next imi migrate or imi serve"))
			}
		}
	}()
	if err := g.requests(ctx); err != nil {
		return err
	}
	if err := g.broadcasts(ctx); err != nil {
		return err
	}
	if err := g.b.commit(ctx); err != nil {
		return err
	}
	if err := restore(); err != nil {
		return err
	}
	g.res.RequestsElapsed = time.Since(t)
	if err := g.registers(ctx); err != nil {
		return err
	}
	if err := g.saveCounters(ctx); err != nil {
		return err
	}
	if err := g.b.commit(ctx); err != nil {
		return err
	}
	g.b.close()
	g.tick("index", 0, 1)
	if _, err := g.d.Authorities.Reindex(ctx); err != nil {
		return fmt.Errorf("search index of authorities: %w", err)
	}
	if err := g.d.Registers.EnsureIndex(ctx); err != nil {
		return fmt.Errorf("search index of registers: %w", err)
	}
	tables := []string{"authorities", "authority_texts", "authority_areas", "authority_competences", "users", "user_roles", "requests",
		"request_questions", "case_events", "request_attachments", "request_facts", "stats_questions", "notifications", "broadcasts",
		"broadcast_countries", "broadcast_recipients", "registers", "register_names", "register_fts", "authority_fts"}
	if err := g.d.DB.AfterBulkChange(ctx, tables...); err != nil {
		return err
	}
	g.tick("index", 1, 1)
	for _, a := range g.auths {
		if a.account != nil {
			a.account.Inbox = a.inbox
			g.res.Accounts = append(g.res.Accounts, *a.account)
		}
	}
	sort.Slice(g.res.Accounts, func(i, j int) bool { return g.res.Accounts[i].Email < g.res.Accounts[j].Email })
	return nil
}

// saveCounters leaves the reference counters at the last numbers given,
// so that the next request made through the UI gets a fresh reference.
func (g *generator) saveCounters(ctx context.Context) error {
	names := make([]string, 0, len(g.counters))
	for n := range g.counters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := g.b.exec(ctx, `INSERT INTO counters (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = CASE WHEN excluded.value > counters.value THEN excluded.value ELSE counters.value END`,
			n, g.counters[n]); err != nil {
			return err
		}
	}
	return nil
}

// next returns the next number of a reference counter.
func (g *generator) next(name string) int64 {
	g.counters[name]++
	return g.counters[name]
}

// picker draws items by weight.
type picker struct {
	items []*authority
	cum   []float64
}

func (p *picker) add(a *authority, w float64) {
	total := w
	if n := len(p.cum); n > 0 {
		total += p.cum[n-1]
	}
	p.items = append(p.items, a)
	p.cum = append(p.cum, total)
}

func (p *picker) pick(r *rand.Rand) *authority {
	if len(p.items) == 0 {
		return nil
	}
	x := r.Float64() * p.cum[len(p.cum)-1]
	i := sort.SearchFloat64s(p.cum, x)
	return p.items[min(i, len(p.items)-1)]
}

// statusOf the authorities without users.
func quietStatus(r *rand.Rand) authorities.Status {
	switch x := r.Float64(); {
	case x < 0.03:
		return authorities.Registered
	case x < 0.04:
		return authorities.Deactivated
	}
	return authorities.Validated
}

// areaWeights: how often authorities work in each shipped area.
var areaWeights = map[string]float64{"pq": 45, "services": 30, "pw": 15, "general": 10}

// competenceVocabulary is the vocabulary an area's competences come
// from: the one of its statistics category.
func competenceVocabulary(p *areas.Pack) *areas.Vocabulary {
	if f := p.Field(p.Statistics.Category); f != nil && f.Vocabulary != "" {
		return p.Vocabulary(f.Vocabulary)
	}
	return nil
}

// network makes the authorities, their users and roles.
func (g *generator) network(ctx context.Context) error {
	r := g.rng(1)
	s := g.s
	base := s.Until.AddDate(-3, 0, 0) // the network predates the history
	at := func(days float64) time.Time {
		return base.Add(time.Duration(days * 24 * float64(time.Hour))).Truncate(time.Second)
	}
	var packWeights picker // areas, as pseudo-authorities
	packByCode := map[string]*areas.Pack{}
	for _, p := range g.packs {
		packByCode[p.Code] = p
		w := areaWeights[p.Code]
		if w == 0 {
			w = 10
		}
		packWeights.add(&authority{name: p.Code}, w)
	}
	var countryPick picker
	byCode := map[string]country{}
	for _, c := range countryData {
		byCode[c.code] = c
		countryPick.add(&authority{country: c.code}, float64(c.weight))
	}
	n := 0 // authorities made
	newAuthority := func(a *authority, created time.Time, c country, ext, region string, alert bool, status authorities.Status, parent string, competences []authorities.Competence, scope []string, nameEN string) error {
		n++
		g.auths = append(g.auths, a)
		a.status, a.created, a.nameEN = status, created, nameEN
		host := fmt.Sprintf("gen-%06d.example.%s", n, c.tld)
		street := fmt.Sprintf("%s %d", []string{"Example Street", "Sample Avenue", "Test Square"}[r.IntN(3)], 1+r.IntN(120))
		city := c.cities[r.IntN(len(c.cities))]
		if a.kind == authorities.NationalCoordinator {
			city = c.cities[0]
		}
		postcode, phone := fmt.Sprintf("%04d", 1000+r.IntN(8999)), fmt.Sprintf("+%s 1 %03d %04d", c.phone, r.IntN(1000), r.IntN(10000))
		historyID := id(r, created)
		a.write = func() error {
			if err := g.add(ctx, "authorities", a.id, ext, a.country, a.name, a.lang, acronym(a.name), region, street, postcode,
				city, "imi@"+host, phone, "https://"+host, string(a.kind), alert, string(a.status), nullable(parent), created, a.updated()); err != nil {
				return err
			}
			if nameEN != "" && a.lang != "en" {
				if err := g.add(ctx, "authority_texts", a.id, "en", nameEN, ""); err != nil {
					return err
				}
			}
			for _, area := range a.areas {
				if err := g.add(ctx, "authority_areas", a.id, area, nil); err != nil {
					return err
				}
			}
			for _, cp := range competences {
				if err := g.add(ctx, "authority_competences", a.id, cp.Area, cp.Vocabulary, cp.Term); err != nil {
					return err
				}
			}
			for _, v := range scope {
				if err := g.add(ctx, "coordinator_scopes", a.id, "area", v); err != nil {
					return err
				}
			}
			return g.add(ctx, "authority_history", historyID, a.id, created, "", "created", "", a.name)
		}
		return nil
	}
	langOf := func(c country) string {
		if len(c.langs) > 1 && r.Float64() < 0.3 {
			return c.langs[1+r.IntN(len(c.langs)-1)]
		}
		return c.langs[0]
	}
	ext := func(cc string, i int) string { return fmt.Sprintf("GEN-%d-%s-%06d", s.Seed, cc, i) }
	if g.commission == nil {
		t := at(0)
		ec := &authority{id: id(r, t), country: countries.Commission, name: "European Commission", lang: "en", kind: authorities.Commission}
		for _, p := range g.packs {
			ec.areas = append(ec.areas, p.Code)
		}
		g.commission = ec
		if err := newAuthority(ec, t, country{tld: "eu", phone: "32", cities: []string{"Bruxelles"}}, authorities.CommissionExternalID, "", false, authorities.Active, "", nil, nil, ""); err != nil {
			return err
		}
	}
	// National coordinators, where a country has none yet.
	for _, c := range countries.Current() {
		if g.national[c.Code] != nil {
			continue
		}
		cd := byCode[c.Code]
		t := at(float64(n) * 0.01)
		a := &authority{id: id(r, t), country: c.Code, lang: cd.langs[0], kind: authorities.NationalCoordinator}
		a.name = institution[a.lang][4]
		for _, p := range g.packs {
			a.areas = append(a.areas, p.Code)
		}
		g.national[c.Code] = a
		if err := newAuthority(a, t, cd, ext(c.Code, 0), "", false, authorities.Active, "", nil, nil, institution["en"][4]+" "+c.Code); err != nil {
			return err
		}
	}
	// Delegated coordinators (one in fifty), each for one area.
	remaining := s.Authorities - len(g.auths)
	delegated := map[string][]*authority{} // country/area → coordinators
	nDelegated := remaining / 50
	for i := 0; i < nDelegated; i++ {
		c := byCode[countryPick.pick(r).country]
		area := packWeights.pick(r).name
		t := at(1 + float64(i)*0.001)
		a := &authority{id: id(r, t), country: c.code, lang: langOf(c), kind: authorities.DelegatedCoordinator, areas: []string{area}}
		city := c.cities[r.IntN(len(c.cities))]
		a.name = institution[a.lang][5] + " " + city
		delegated[c.code+"/"+area] = append(delegated[c.code+"/"+area], a)
		if err := newAuthority(a, t, c, ext(c.code, n), "", r.Float64() < 0.2, authorities.Validated, g.national[c.code].id, nil, []string{area}, institution["en"][5]+" "+city); err != nil {
			return err
		}
	}
	// Competent authorities: the rest. Their rank orders them by how
	// many requests they exchange (see requests).
	nCompetent := s.Authorities - len(g.auths)
	competent := make([]*authority, 0, nCompetent)
	for i := 0; i < nCompetent; i++ {
		c := byCode[countryPick.pick(r).country]
		t := at(2 + 300*float64(i)/float64(max(nCompetent, 1)))
		a := &authority{id: id(r, t), country: c.code, lang: langOf(c), kind: authorities.CompetentAuthority, rank: i}
		first := packWeights.pick(r).name
		a.areas = []string{first}
		if r.Float64() < 0.25 {
			if second := packWeights.pick(r).name; second != first {
				a.areas = append(a.areas, second)
			}
		}
		sort.Strings(a.areas)
		var comps []authorities.Competence
		label, labelEN := "", ""
		for _, area := range a.areas {
			p := packByCode[area]
			v := competenceVocabulary(p)
			if v == nil {
				continue
			}
			terms := v.AllTerms()
			seen := map[string]bool{}
			for k := 0; k < 1+r.IntN(3); k++ {
				term := terms[r.IntN(len(terms))].Value
				if seen[term] {
					continue
				}
				seen[term] = true
				comps = append(comps, authorities.Competence{Area: area, Vocabulary: v.Code, Term: term})
				if label == "" {
					key := "vocabularies." + v.Code + ".terms." + term
					label, labelEN = shortLabel(p.Text(a.lang, key)), shortLabel(p.Text("en", key))
				}
			}
		}
		if label == "" {
			p := packByCode[first]
			label, labelEN = p.Text(a.lang, "area.name"), p.Text("en", "area.name")
		}
		slices.SortFunc(comps, func(x, y authorities.Competence) int {
			return strings.Compare(x.Area+"/"+x.Vocabulary+"/"+x.Term, y.Area+"/"+y.Vocabulary+"/"+y.Term)
		})
		word := r.IntN(4)
		city := c.cities[r.IntN(len(c.cities))]
		a.name = fmt.Sprintf("%s %s (%s)", institution[a.lang][word], city, label)
		nameEN := fmt.Sprintf("%s %s (%s)", institution["en"][word], city, labelEN)
		parent := g.national[c.code].id
		if list := delegated[c.code+"/"+first]; len(list) > 0 && len(a.areas) == 1 && r.Float64() < 0.5 {
			parent = list[r.IntN(len(list))].id
		}
		competent = append(competent, a)
		// Validated, or quieter; its first user (see people) makes it
		// active, before its row is written.
		status := quietStatus(r)
		if err := newAuthority(a, t, c, ext(c.code, n), "", false, status, parent, comps, nil, nameEN); err != nil {
			return err
		}
		if status != authorities.Validated {
			a.rank = -1 // never exchanges requests, never gets users
		}
	}
	return g.people(ctx, r, at, competent, delegated)
}

// people makes the users: a coordinator account per national and
// delegated coordinator, the known handler accounts on the busiest
// competent authorities, and the rest spread over competent authorities,
// most one each, some several.
func (g *generator) people(ctx context.Context, r *rand.Rand, at func(float64) time.Time, competent []*authority, delegated map[string][]*authority) error {
	s := g.s
	salt := sha256.Sum256([]byte("openimi-gen-salt/" + strconv.FormatUint(s.Seed, 10)))
	key := argon2.IDKey([]byte(Password), salt[:16], 2, 19*1024, 1, 32)
	g.hash = fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, 19*1024, 2, 1,
		base64.RawStdEncoding.EncodeToString(salt[:16]), base64.RawStdEncoding.EncodeToString(key))
	day := 400.0
	activated := map[*authority]bool{}
	var pending []func() error // users are written after every authority
	add := func(table string, row ...any) {
		pending = append(pending, func() error { return g.add(ctx, table, row...) })
	}
	newUser := func(a *authority, email, name string, roles []string) (string, error) {
		g.users++
		t := at(day + float64(g.users)*0.0005)
		uid := id(r, t)
		secret := make([]byte, 24) // 20 bytes are used; filled 8 at a time
		for i := 0; i < len(secret); i += 8 {
			binary.LittleEndian.PutUint64(secret[i:], r.Uint64())
		}
		secret = secret[:20]
		add("users", uid, email, name, a.lang, g.hash, t, base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret), true, a.id, t, t)
		for _, role := range roles {
			add("user_roles", uid, role, "")
			switch role {
			case authorities.RequestHandler:
				a.handlers = append(a.handlers, uid)
			case authorities.AlertHandler:
				a.alertHandlers = append(a.alertHandlers, uid)
			case authorities.Coordinator:
				if a.coordinator == "" {
					a.coordinator = uid
				}
			}
		}
		pending = append(pending, func() error { return g.audit(ctx, t, "user.created", uid, email, "") })
		if !activated[a] {
			activated[a] = true
			add("authority_history", id(r, t), a.id, t, "", "user_assigned", "", uid)
			if a.status == authorities.Registered || a.status == authorities.Validated {
				a.status, a.activated = authorities.Active, t
			}
		}
		return uid, nil
	}
	budget := s.Users
	for _, c := range countries.Current() {
		a := g.national[c.Code]
		email := "gen-coordinator-" + strings.ToLower(c.Code) + g.suffix + Domain
		if _, err := newUser(a, email, person(r, g.users+1), []string{authorities.Coordinator, authorities.LocalDataAdministrator, authorities.RequestHandler, authorities.AlertHandler}); err != nil {
			return err
		}
		budget--
	}
	var dcs []*authority
	for _, list := range delegated {
		dcs = append(dcs, list...)
	}
	sort.Slice(dcs, func(i, j int) bool { return dcs[i].id < dcs[j].id })
	for i, a := range dcs {
		if budget-s.Accounts <= (s.Users-len(countries.Current()))*3/4 {
			break
		}
		if _, err := newUser(a, fmt.Sprintf("gen-coordinator-%s-%04d%s%s", strings.ToLower(a.country), i+1, g.suffix, Domain), person(r, g.users+1),
			[]string{authorities.Coordinator, authorities.RequestHandler}); err != nil {
			return err
		}
		budget--
	}
	var open []*authority // competent authorities that may get users
	for _, a := range competent {
		if a.rank >= 0 {
			a.rank = len(open)
			open = append(open, a)
		}
	}
	if len(open) < 2 {
		return errors.New("too few authorities to exchange requests: give more --authorities")
	}
	for i := 0; i < s.Accounts && i < len(open); i++ {
		a := open[i]
		email := fmt.Sprintf("gen-handler-%05d%s%s", i+1, g.suffix, Domain)
		name := person(r, g.users+1)
		roles := []string{authorities.RequestHandler, authorities.Allocator, authorities.AlertHandler, authorities.LocalDataAdministrator}
		if _, err := newUser(a, email, name, roles); err != nil {
			return err
		}
		a.account = &Account{Email: email, Name: name, Authority: a.name, Country: a.country, Roles: roles}
		budget--
	}
	// One user each for most, in rank order, then the rest where the
	// work is (Zipf): big authorities have several users.
	var zipf picker
	for _, a := range open {
		zipf.add(a, 1/math.Pow(float64(a.rank+1), 0.8))
	}
	single := budget * 6 / 10
	for i, k := s.Accounts, 0; budget > 0; k++ {
		var a *authority
		if k < single && i < len(open) {
			a = open[i]
			i++
		} else {
			// Where the work is, but no authority has more than a
			// dozen users.
			for range 10 {
				if a = zipf.pick(r); len(a.handlers) < 5 {
					break
				}
			}
		}
		roles := []string{authorities.RequestHandler}
		if len(a.handlers) == 0 {
			roles = append(roles, authorities.LocalDataAdministrator)
		}
		if r.Float64() < 0.25 {
			roles = append(roles, authorities.Allocator)
		}
		if r.Float64() < 0.3 {
			roles = append(roles, authorities.AlertHandler)
		}
		if _, err := newUser(a, fmt.Sprintf("gen-user-%06d%s%s", g.users+1, g.suffix, Domain), person(r, g.users+1), roles); err != nil {
			return err
		}
		budget--
	}
	for i, a := range g.auths {
		if a.write != nil {
			if err := a.write(); err != nil {
				return err
			}
		}
		g.tick("authorities", i+1, len(g.auths))
	}
	for i, w := range pending {
		if err := w(); err != nil {
			return err
		}
		if i%1000 == 0 {
			g.tick("users", i*s.Users/len(pending), s.Users)
		}
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
