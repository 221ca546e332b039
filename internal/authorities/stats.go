package authorities

import (
	"context"
	"sort"

	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/db"
)

// Stats are the registry's figures: authorities per country and area, how
// many areas authorities are registered for, and the share of authorities
// none of whose users ever signed in. Deactivated authorities do not count.
type Stats struct {
	Areas     []string       // area codes, sorted: the columns
	Countries []CountryStats // one per current country, by code
	Total     CountryStats   // distinct authorities over all countries
	ByAreas   map[int]int    // number of areas → authorities registered for that many
}

// CountryStats are one country's figures.
type CountryStats struct {
	Country   string
	PerArea   map[string]int
	Total     int // distinct authorities
	NeverUsed int // authorities none of whose users has ever signed in
}

// NeverUsedShare is the share of the country's authorities never used, 0–1.
func (c CountryStats) NeverUsedShare() float64 {
	if c.Total == 0 {
		return 0
	}
	return float64(c.NeverUsed) / float64(c.Total)
}

// Stats computes the registry's figures.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	st := Stats{ByAreas: map[int]int{}}
	for _, p := range s.areas.Packs() {
		st.Areas = append(st.Areas, p.Code)
	}
	byCountry := map[string]*CountryStats{}
	for _, c := range countries.Current() {
		byCountry[c.Code] = &CountryStats{Country: c.Code, PerArea: map[string]int{}}
	}
	st.Total = CountryStats{Country: "TOTAL", PerArea: map[string]int{}}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT a.country, aa.area, COUNT(*) FROM authorities a JOIN authority_areas aa ON aa.authority_id = a.id
		WHERE a.status <> 'deactivated' GROUP BY a.country, aa.area`)
	if err != nil {
		return st, db.Check(err)
	}
	for rows.Next() {
		var country, area string
		var n int
		if err := rows.Scan(&country, &area, &n); err != nil {
			_ = rows.Close()
			return st, db.Check(err)
		}
		if c := byCountry[country]; c != nil {
			c.PerArea[area] = n
			st.Total.PerArea[area] += n
		}
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return st, db.Check(err)
	}
	rows, err = s.db.Read().QueryContext(ctx, `SELECT a.country, COUNT(*),
			SUM(CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.authority_id = a.id AND u.last_sign_in_at IS NOT NULL) THEN 0 ELSE 1 END)
		FROM authorities a WHERE a.status <> 'deactivated' GROUP BY a.country`)
	if err != nil {
		return st, db.Check(err)
	}
	for rows.Next() {
		var country string
		var total, never int
		if err := rows.Scan(&country, &total, &never); err != nil {
			_ = rows.Close()
			return st, db.Check(err)
		}
		if c := byCountry[country]; c != nil {
			c.Total, c.NeverUsed = total, never
			st.Total.Total += total
			st.Total.NeverUsed += never
		}
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return st, db.Check(err)
	}
	rows, err = s.db.Read().QueryContext(ctx, `SELECT n, COUNT(*) FROM (SELECT COUNT(*) AS n FROM authority_areas aa JOIN authorities a ON a.id = aa.authority_id
		WHERE a.status <> 'deactivated' GROUP BY aa.authority_id) per GROUP BY n`)
	if err != nil {
		return st, db.Check(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n, count int
		if err := rows.Scan(&n, &count); err != nil {
			return st, db.Check(err)
		}
		st.ByAreas[n] = count
	}
	for _, c := range countries.Current() {
		st.Countries = append(st.Countries, *byCountry[c.Code])
	}
	sort.Slice(st.Countries, func(i, j int) bool { return st.Countries[i].Country < st.Countries[j].Country })
	return st, db.Check(rows.Err())
}

// NeverUsed lists a country's authorities none of whose users has ever
// signed in (including those with no user at all), for its coordinators.
func (s *Service) NeverUsed(ctx context.Context, actor Actor, country string) ([]*Authority, error) {
	if !actor.CanSeeCountry(country) {
		return nil, errForbidden
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+authorityColumns+` FROM authorities a
		WHERE a.country = $1 AND a.status <> 'deactivated'
		AND NOT EXISTS (SELECT 1 FROM users u WHERE u.authority_id = a.id AND u.last_sign_in_at IS NOT NULL)
		ORDER BY a.name, a.id`, country)
	if err != nil {
		return nil, db.Check(err)
	}
	var out []*Authority
	for rows.Next() {
		a, err := scanAuthority(rows)
		if err != nil {
			_ = rows.Close()
			return nil, err
		}
		out = append(out, a)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
	if err := s.loadMany(ctx, s.db.Read(), out); err != nil {
		return nil, err
	}
	var visible []*Authority
	for _, a := range out {
		if actor.coordinates(a) {
			visible = append(visible, a)
		}
	}
	return visible, db.Check(rows.Err())
}
