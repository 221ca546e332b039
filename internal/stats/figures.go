package stats

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
)

// Service computes the figures.
type Service struct {
	db         *db.DB
	areas      *areas.Registry
	thresholds Thresholds
	now        func() time.Time
}

// New returns the statistics service. now may be nil (the wall clock).
func New(d *db.DB, reg *areas.Registry, th Thresholds, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: d, areas: reg, thresholds: th, now: now}
}

// Thresholds returns the scoreboard's thresholds.
func (s *Service) Thresholds() Thresholds { return s.thresholds }

// Statistics names the statistics, in the order the UI lists them.
var Statistics = []string{"exchanges", "requests", "questions", "replies", "scoreboard"}

// Query says what a statistic covers. Periods are Brussels months,
// inclusive; empty bounds are open.
type Query struct {
	From, To string   // "2026-01" (a year "2026" is its whole span)
	Area     string   // one area, or all
	Country  string   // requests involving the country (replies, scoreboard: answered by it)
	By       []string // the dimensions rows are grouped by
	Clock    string   // replies: "gross" (default) or "net", without the time the clock stood
	// Scope limits rows per authority to one country's authorities (a
	// national coordinator's); empty: all.
	Scope string
}

// Dimensions each statistic can group by.
var (
	periods     = []string{"month", "quarter", "year"}
	requestDims = []string{"area", "month", "quarter", "year", "profession", "sector", "category", "requester_country", "responder_country"}
	replyDims   = []string{"area", "country", "authority", "month", "quarter", "year"}
)

var monthRE = regexp.MustCompile(`^\d{4}(-(0[1-9]|1[0-2]))?$`)

// Check validates and completes q: bounds as months, known dimensions.
func (q *Query) Check(name string, reg *areas.Registry) error {
	if q.From != "" {
		if !monthRE.MatchString(q.From) {
			return problem.Field("from", "error_stats_period")
		}
		if len(q.From) == 4 {
			q.From += "-01"
		}
	}
	if q.To != "" {
		if !monthRE.MatchString(q.To) {
			return problem.Field("to", "error_stats_period")
		}
		if len(q.To) == 4 {
			q.To += "-12"
		}
	}
	if q.From != "" && q.To != "" && q.From > q.To {
		return problem.Field("to", "error_stats_period_order")
	}
	if q.Area != "" {
		if _, err := reg.Pack(q.Area); err != nil {
			return problem.Field("area", "error_stats_area")
		}
	}
	if q.Country != "" && !countries.IsCurrent(q.Country) {
		return problem.Field("country", "error_stats_country")
	}
	allowed := map[string][]string{"exchanges": {"area", "month", "quarter", "year"}, "requests": requestDims,
		"questions": periods, "replies": replyDims, "scoreboard": nil}[name]
	periodsSeen := 0
	for _, b := range q.By {
		if !slices.Contains(allowed, b) || strings.Count(","+strings.Join(q.By, ",")+",", ","+b+",") > 1 {
			return problem.Field("by", "error_stats_by", "Allowed", strings.Join(allowed, ", "))
		}
		if slices.Contains(periods, b) {
			periodsSeen++
		}
	}
	if periodsSeen > 1 {
		return problem.Field("by", "error_stats_by", "Allowed", strings.Join(allowed, ", "))
	}
	switch q.Clock {
	case "":
		q.Clock = "gross"
	case "gross", "net":
	default:
		return problem.Field("clock", "error_stats_clock")
	}
	if name == "questions" && q.Area == "" {
		return problem.Field("area", "error_stats_area_required")
	}
	if name == "questions" && q.Country != "" {
		return problem.Field("country", "error_stats_questions_country")
	}
	return nil
}

// period turns a month key into the period of kind: month, quarter, year.
func period(kind, month string) string {
	switch kind {
	case "all":
		return ""
	case "year":
		return month[:4]
	case "quarter":
		m, _ := strconv.Atoi(month[5:7])
		return fmt.Sprintf("%s-Q%d", month[:4], (m-1)/3+1)
	}
	return month
}

// where builds the shared filter of request_facts.
func (q *Query) where(countryCol string) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if q.From != "" {
		add("sent_month >= ?", q.From)
	}
	if q.To != "" {
		add("sent_month <= ?", q.To)
	}
	if q.Area != "" {
		add("area = ?", q.Area)
	}
	if q.Country != "" {
		if countryCol == "" {
			add("(requester_country = ? OR responder_country = ?)", q.Country) // one argument, used twice
		} else {
			add(countryCol+" = ?", q.Country)
		}
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// dimension is a grouping: its column, how its values are read.
type dimension struct {
	key, kind, sql string
}

func requestDimension(by string) dimension {
	switch by {
	case "area":
		return dimension{"area", KindArea, "area"}
	case "profession", "sector", "category":
		return dimension{by, KindCategory, "category"}
	case "requester_country", "responder_country":
		return dimension{by, KindCountry, by}
	case "country":
		return dimension{"country", KindCountry, "responder_country"}
	case "authority":
		return dimension{"authority", KindAuthority, "responder_id"}
	}
	return dimension{by, KindPeriod, "sent_month"}
}

// grouped runs a GROUP BY over request_facts: the dimensions of by (a
// period is read as the month and folded afterwards), then the measures.
// It returns the rows keyed by the dimensions' codes, measures summed.
type groupRow struct {
	keys []Cell
	sums []float64
}

func (s *Service) grouped(ctx context.Context, q Query, by []string, countryCol string, measures []string, extra ...any) ([]groupRow, error) {
	var cols []string
	var dims []dimension
	for _, b := range by {
		d := requestDimension(b)
		dims = append(dims, d)
		if !slices.Contains(cols, d.sql) {
			cols = append(cols, d.sql)
		}
	}
	// An authority is in one country: grouping by the country too gives
	// the same groups, read in the order of an index.
	if i := slices.Index(cols, "responder_id"); i >= 0 && !slices.Contains(cols, "responder_country") {
		cols = slices.Insert(cols, i, "responder_country")
	}
	where, args := q.where(countryCol)
	if q.Scope != "" && slices.Contains(by, "authority") {
		args = append(args, q.Scope)
		if where == "" {
			where = " WHERE "
		} else {
			where += " AND "
		}
		where += fmt.Sprintf("responder_country = $%d", len(args))
	}
	args = append(args, extra...)
	sel := append(slices.Clone(cols), measures...)
	query := `SELECT ` + strings.Join(sel, ", ") + ` FROM request_facts` + where
	if len(cols) > 0 {
		query += ` GROUP BY ` + strings.Join(cols, ", ")
	}
	rows, err := s.db.Read().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	index := map[string]int{}
	var out []groupRow
	for rows.Next() {
		codes := make([]string, len(cols))
		nums := make([]*float64, len(measures))
		dest := make([]any, 0, len(sel))
		for i := range codes {
			dest = append(dest, &codes[i])
		}
		for i := range nums {
			dest = append(dest, &nums[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, db.Check(err)
		}
		keys := make([]Cell, len(dims))
		var id []string
		for i, d := range dims {
			code := codes[slices.Index(cols, d.sql)]
			if d.kind == KindPeriod {
				code = period(d.key, code)
			}
			keys[i] = Cell{Code: code, Area: q.Area}
			if a := slices.Index(cols, "area"); a >= 0 && q.Area == "" {
				keys[i].Area = codes[a] // the term's or question's area
			}
			id = append(id, code)
		}
		k := strings.Join(id, "\x00")
		j, ok := index[k]
		if !ok {
			j = len(out)
			index[k] = j
			out = append(out, groupRow{keys: keys, sums: make([]float64, len(measures))})
		}
		for i, n := range nums {
			if n != nil {
				out[j].sums[i] += *n
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
	sort.SliceStable(out, func(a, b int) bool {
		for i := range out[a].keys {
			if out[a].keys[i].Code != out[b].keys[i].Code {
				return out[a].keys[i].Code < out[b].keys[i].Code
			}
		}
		return false
	})
	return out, nil
}

func dimColumns(by []string) []Column {
	var cols []Column
	for _, b := range by {
		d := requestDimension(b)
		cols = append(cols, Column{Key: d.key, Kind: d.kind})
	}
	return cols
}

// Requests counts requests sent, grouped by q.By (default: area and month).
func (s *Service) Requests(ctx context.Context, q Query) (*Table, error) {
	if err := q.Check("requests", s.areas); err != nil {
		return nil, err
	}
	if len(q.By) == 0 {
		q.By = []string{"area", "month"}
	}
	// Professions and sectors are terms of one area each: over all areas,
	// say which.
	if q.Area == "" && !slices.Contains(q.By, "area") && slices.ContainsFunc(q.By, func(b string) bool { return requestDimension(b).kind == KindCategory }) {
		q.By = append([]string{"area"}, q.By...)
	}
	groups, err := s.grouped(ctx, q, q.By, "", []string{"COUNT(*)"})
	if err != nil {
		return nil, err
	}
	t := &Table{Name: "requests", Columns: append(dimColumns(q.By), Column{Key: "requests", Kind: KindCount}), Chart: "requests"}
	for _, g := range groups {
		t.Rows = append(t.Rows, append(g.keys, Cell{Value: g.sums[0]}))
	}
	return t, nil
}

// Exchanges counts requests, alerts and notifications sent per area and
// period (q.By: area and a period; default area and month).
func (s *Service) Exchanges(ctx context.Context, q Query) (*Table, error) {
	if err := q.Check("exchanges", s.areas); err != nil {
		return nil, err
	}
	if len(q.By) == 0 {
		q.By = []string{"area", "month"}
	}
	groups, err := s.grouped(ctx, q, q.By, "", []string{"COUNT(*)"})
	if err != nil {
		return nil, err
	}
	type counts struct {
		keys []Cell
		n    [3]float64
	}
	all := map[string]*counts{}
	var order []string
	at := func(keys []Cell) *counts {
		var id []string
		for _, k := range keys {
			id = append(id, k.Code)
		}
		k := strings.Join(id, "\x00")
		if all[k] == nil {
			all[k] = &counts{keys: keys}
			order = append(order, k)
		}
		return all[k]
	}
	for _, g := range groups {
		at(g.keys).n[0] += g.sums[0]
	}
	// Alerts and notifications: few, read one by one and placed in Go.
	where := ` WHERE sent_at IS NOT NULL`
	var args []any
	if q.Area != "" {
		args = append(args, q.Area)
		where += ` AND area = $1`
	}
	if q.Country != "" {
		args = append(args, q.Country)
		where += fmt.Sprintf(` AND (EXISTS (SELECT 1 FROM authorities a WHERE a.id = b.sender_id AND a.country = $%d)
			OR EXISTS (SELECT 1 FROM broadcast_countries c WHERE c.broadcast_id = b.id AND c.country = $%d))`, len(args), len(args))
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT b.kind, b.area, b.sent_at FROM broadcasts b`+where, args...)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, area string
		var sent time.Time
		if err := rows.Scan(&kind, &area, &sent); err != nil {
			return nil, db.Check(err)
		}
		month := Month(sent)
		if q.From != "" && month < q.From || q.To != "" && month > q.To {
			continue
		}
		var keys []Cell
		for _, b := range q.By {
			if b == "area" {
				keys = append(keys, Cell{Code: area})
			} else {
				keys = append(keys, Cell{Code: period(b, month)})
			}
		}
		i := 1
		if kind == areas.Notification {
			i = 2
		}
		at(keys).n[i]++
	}
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
	sort.Strings(order)
	t := &Table{Name: "exchanges", Columns: append(dimColumns(q.By),
		Column{Key: "requests", Kind: KindCount}, Column{Key: "alerts", Kind: KindCount}, Column{Key: "notifications", Kind: KindCount}, Column{Key: "total", Kind: KindCount}),
		Chart: "total"}
	for _, k := range order {
		c := all[k]
		t.Rows = append(t.Rows, append(slices.Clone(c.keys), Cell{Value: c.n[0]}, Cell{Value: c.n[1]}, Cell{Value: c.n[2]}, Cell{Value: c.n[0] + c.n[1] + c.n[2]}))
	}
	return t, nil
}

// Questions gives, for each question of the area, how many requests sent
// in the period hold it and their share of the area's requests (a request
// holds several questions: the shares do not add up to 100%). q.By may add
// a period.
func (s *Service) Questions(ctx context.Context, q Query) (*Table, error) {
	if err := q.Check("questions", s.areas); err != nil {
		return nil, err
	}
	var per string
	if len(q.By) > 0 {
		per = q.By[0]
	}
	// The denominators: the area's requests per month.
	totals := map[string]float64{}
	groups, err := s.grouped(ctx, Query{From: q.From, To: q.To, Area: q.Area}, []string{"month"}, "", []string{"COUNT(*)"})
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		totals[period(orAll(per), g.keys[0].Code)] += g.sums[0]
	}
	args := []any{q.Area}
	where := `WHERE area = $1`
	if q.From != "" {
		args = append(args, q.From)
		where += fmt.Sprintf(` AND month >= $%d`, len(args))
	}
	if q.To != "" {
		args = append(args, q.To)
		where += fmt.Sprintf(` AND month <= $%d`, len(args))
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT month, code, requests FROM stats_questions `+where, args...)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	counts := map[[2]string]float64{}
	for rows.Next() {
		var month, code string
		var n float64
		if err := rows.Scan(&month, &code, &n); err != nil {
			return nil, db.Check(err)
		}
		counts[[2]string{period(orAll(per), month), code}] += n
	}
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
	p, _ := s.areas.Pack(q.Area)
	var codes []string
	for _, set := range p.QuestionSets {
		for _, sec := range set.Sections {
			for _, qu := range sec.Questions {
				if !slices.Contains(codes, qu.Code) {
					codes = append(codes, qu.Code)
				}
			}
		}
	}
	var pers []string
	for k := range totals {
		pers = append(pers, k)
	}
	sort.Strings(pers)
	t := &Table{Name: "questions", Chart: "share"}
	if per != "" {
		t.Columns = append(t.Columns, Column{Key: per, Kind: KindPeriod})
	}
	t.Columns = append(t.Columns, Column{Key: "question", Kind: KindQuestion}, Column{Key: "requests", Kind: KindCount}, Column{Key: "share", Kind: KindPercent})
	for _, pe := range pers {
		for _, code := range codes {
			n := counts[[2]string{pe, code}]
			var row []Cell
			if per != "" {
				row = append(row, Cell{Code: pe})
			}
			row = append(row, Cell{Code: code, Area: q.Area}, Cell{Value: n}, share(n, totals[pe]))
			t.Rows = append(t.Rows, row)
		}
	}
	if len(pers) == 0 { // no request yet: every question, none
		for _, code := range codes {
			if per == "" {
				t.Rows = append(t.Rows, []Cell{{Code: code, Area: q.Area}, {}, {Null: true}})
			}
		}
	}
	return t, nil
}

func orAll(per string) string {
	if per == "" {
		return "all"
	}
	return per
}

// share is n of total as a percentage; none when total is 0.
func share(n, total float64) Cell {
	if total == 0 {
		return Cell{Null: true}
	}
	return Cell{Value: 100 * n / total}
}

// Bucket column keys, in order of the bucket numbers 1–4, then 0 and 5.
var bucketKeys = []string{"unanswered", "week1", "week2", "week4", "later", "ended"}

// Replies buckets the time from sending to the first answer, per q.By
// (area, country: the responding country, or authority: the responding
// authority; optionally with a period; default: area). With q.Clock
// "net", the time the clock stood while the responder waited for the
// requester is left out.
func (s *Service) Replies(ctx context.Context, q Query) (*Table, error) {
	if err := q.Check("replies", s.areas); err != nil {
		return nil, err
	}
	if len(q.By) == 0 {
		q.By = []string{"area"}
	}
	bucket, seconds := "reply_bucket", "reply_seconds"
	if q.Clock == "net" {
		bucket, seconds = "net_bucket", "net_seconds"
	}
	var measures []string
	for b := range bucketKeys {
		measures = append(measures, fmt.Sprintf("SUM(CASE WHEN %s = %d THEN 1 ELSE 0 END)", bucket, b))
	}
	measures = append(measures, "COUNT(*)", "SUM("+seconds+")", "COUNT("+seconds+")")
	groups, err := s.grouped(ctx, q, q.By, "responder_country", measures)
	if err != nil {
		return nil, err
	}
	if err := s.nameAuthorities(ctx, q.By, groups); err != nil {
		return nil, err
	}
	t := &Table{Name: "replies", Columns: dimColumns(q.By), Chart: "week2_share"}
	for _, k := range []string{"week1", "week2", "week4", "later", "unanswered", "ended", "total"} {
		t.Columns = append(t.Columns, Column{Key: k, Kind: KindCount})
	}
	t.Columns = append(t.Columns, Column{Key: "week2_share", Kind: KindPercent}, Column{Key: "average_days", Kind: KindDays})
	for _, g := range groups {
		row := slices.Clone(g.keys)
		for _, b := range []int{Week1, Week2, Week4, Later, Unanswered, Ended} {
			row = append(row, Cell{Value: g.sums[b]})
		}
		row = append(row, Cell{Value: g.sums[6]})
		row = append(row, share(g.sums[Week1]+g.sums[Week2], g.sums[6]-g.sums[Ended]))
		if g.sums[8] == 0 {
			row = append(row, Cell{Null: true})
		} else {
			row = append(row, Cell{Value: g.sums[7] / g.sums[8] / day})
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// nameAuthorities fills in the names of authority dimensions.
func (s *Service) nameAuthorities(ctx context.Context, by []string, groups []groupRow) error {
	i := slices.Index(by, "authority")
	if i < 0 || len(groups) == 0 {
		return nil
	}
	names := map[string]string{}
	for start := 0; start < len(groups); start += 500 {
		end := min(start+500, len(groups))
		var ph []string
		var args []any
		for _, g := range groups[start:end] {
			args = append(args, g.keys[i].Code)
			ph = append(ph, fmt.Sprintf("$%d", len(args)))
		}
		rows, err := s.db.Read().QueryContext(ctx, `SELECT id, name FROM authorities WHERE id IN (`+strings.Join(ph, ", ")+`)`, args...)
		if err != nil {
			return db.Check(err)
		}
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				_ = rows.Close()
				return db.Check(err)
			}
			names[id] = name
		}
		_ = rows.Close()
		if err := rows.Err(); err != nil {
			return db.Check(err)
		}
	}
	for j := range groups {
		groups[j].keys[i].Name = names[groups[j].keys[i].Code]
	}
	sort.SliceStable(groups, func(a, b int) bool { return groups[a].keys[i].Name < groups[b].keys[i].Name })
	return nil
}

// Scoreboard gives each responding country's indicators over the requests
// sent to it in the period, and the network's in a last row "EU":
// accepted within 7 days, average days to answer (net of the time the
// clock stood), answered by the agreed date, negative ratings.
func (s *Service) Scoreboard(ctx context.Context, q Query) (*Table, error) {
	if err := q.Check("scoreboard", s.areas); err != nil {
		return nil, err
	}
	now := s.now()
	measures := []string{
		"COUNT(*)",
		"SUM(CASE WHEN accept_ok = 1 THEN 1 ELSE 0 END)",
		"SUM(CASE WHEN accept_ok IS NOT NULL OR (accepted_at IS NULL AND state IN ('sent', 'awaiting_allocation') AND arrived_at < $A) THEN 1 ELSE 0 END)",
		"SUM(net_seconds)", "COUNT(net_seconds)",
		"SUM(CASE WHEN on_time = 1 THEN 1 ELSE 0 END)",
		"SUM(CASE WHEN on_time IS NOT NULL OR (answered_at IS NULL AND state IN ('sent', 'accepted', 'info_requested', 'awaiting_allocation') AND reply_by < $B) THEN 1 ELSE 0 END)",
		"SUM(negative)", "COUNT(negative)",
	}
	_, args := q.where("responder_country")
	for i, m := range measures {
		m = strings.ReplaceAll(m, "$A", fmt.Sprintf("$%d", len(args)+1))
		measures[i] = strings.ReplaceAll(m, "$B", fmt.Sprintf("$%d", len(args)+2))
	}
	groups, err := s.grouped(ctx, q, []string{"country"}, "responder_country", measures, now.Add(-AcceptDays*24*time.Hour).UTC(), StartOfDay(now).UTC())
	if err != nil {
		return nil, err
	}
	total := groupRow{keys: []Cell{{Code: "EU"}}, sums: make([]float64, len(measures))}
	for _, g := range groups {
		for i, v := range g.sums {
			total.sums[i] += v
		}
	}
	if q.Country == "" {
		groups = append(groups, total)
	}

	th := s.thresholds
	t := &Table{Name: "scoreboard", Chart: "accepted_7_days", Total: q.Country == "", Columns: []Column{{Key: "country", Kind: KindCountry}, {Key: "requests", Kind: KindCount},
		{Key: "accepted_7_days", Kind: KindPercent, Rated: true}, {Key: "average_days", Kind: KindDays, Rated: true},
		{Key: "on_time", Kind: KindPercent, Rated: true}, {Key: "negative", Kind: KindPercent, Rated: true}}}
	for _, g := range groups {
		acc, days, onTime, neg := share(g.sums[1], g.sums[2]), Cell{Null: g.sums[4] == 0}, share(g.sums[5], g.sums[6]), share(g.sums[7], g.sums[8])
		if g.sums[4] > 0 {
			days.Value = g.sums[3] / g.sums[4] / day
		}
		acc.Status, days.Status, onTime.Status, neg.Status = th.Accepted.rate(acc), th.Days.rate(days), th.OnTime.rate(onTime), th.Negative.rate(neg)
		t.Rows = append(t.Rows, []Cell{g.keys[0], {Value: g.sums[0]}, acc, days, onTime, neg})
	}
	return t, nil
}

// Table runs the statistic called name.
func (s *Service) Table(ctx context.Context, name string, q Query) (*Table, error) {
	switch name {
	case "exchanges":
		return s.Exchanges(ctx, q)
	case "requests":
		return s.Requests(ctx, q)
	case "questions":
		return s.Questions(ctx, q)
	case "replies":
		return s.Replies(ctx, q)
	case "scoreboard":
		return s.Scoreboard(ctx, q)
	}
	return nil, problem.New(problem.NotFound, "error_not_found")
}
