package stats

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/problem"
)

// ParseQuery reads a query from URL parameters: from, to, area, country,
// by (comma-separated) and clock.
func ParseQuery(v url.Values) Query {
	q := Query{From: strings.TrimSpace(v.Get("from")), To: strings.TrimSpace(v.Get("to")), Area: v.Get("area"),
		Country: strings.ToUpper(strings.TrimSpace(v.Get("country"))), Clock: v.Get("clock")}
	for _, b := range strings.Split(v.Get("by"), ",") {
		if b = strings.TrimSpace(b); b != "" {
			q.By = append(q.By, b)
		}
	}
	return q
}

// Values are the URL parameters of q, for links and exports.
func (q Query) Values() url.Values {
	v := url.Values{}
	for k, x := range map[string]string{"from": q.From, "to": q.To, "area": q.Area, "country": q.Country, "by": strings.Join(q.By, ","), "clock": q.Clock} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v
}

// CanSeeAuthorities reports whether the actor may see figures per
// authority: coordinators, of their own country's authorities, and the
// Commission, of all. Every signed-in user sees the other figures, which
// count exchanges and hold no personal data.
func CanSeeAuthorities(actor authorities.Actor) bool {
	return actor.IsCommission() || actor.Authority != nil && actor.CanSeeCountry(actor.Authority.Country)
}

// For runs the statistic called name for a signed-in user: figures per
// authority are limited to those the actor may see.
func (s *Service) For(ctx context.Context, actor authorities.Actor, name string, q Query) (*Table, error) {
	q.Scope = ""
	if slices.Contains(q.By, "authority") {
		if !CanSeeAuthorities(actor) {
			return nil, problem.Field("by", "error_stats_authorities")
		}
		if !actor.IsCommission() {
			q.Scope = actor.Authority.Country
		}
	}
	return s.Table(ctx, name, q)
}
