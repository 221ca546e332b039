package authorities_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/openimi/openimi/internal/authorities"
)

// TestValidatesSQLAgreesWithCanValidate keeps the SQL form of the
// coordination rule equal to the Go one: for national and delegated
// coordinators (with and without regions and areas), an authority's own
// user and the Commission, the authorities the SQL condition selects are
// exactly those CanValidate accepts.
func TestValidatesSQLAgreesWithCanValidate(t *testing.T) {
	w := newWorld(t)
	reg := func(country, name, region string, kind authorities.Kind, scope authorities.Scope, areas ...string) *authorities.Authority {
		a, err := w.svc.Register(w.ctx, authorities.System(), authorities.Input{Country: country, Name: name, Language: "de", Kind: kind, Region: region,
			Areas: areas, Scope: scope, Email: "office@example.eu"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return a
	}
	deNC := reg("DE", "BMWK", "", authorities.NationalCoordinator, authorities.Scope{}, "pq", "services")
	bayern := reg("DE", "Koordinierung Bayern", "Bayern", authorities.DelegatedCoordinator, authorities.Scope{Regions: []string{"Bayern"}}, "pq")
	health := reg("DE", "Koordinierung Gesundheit", "", authorities.DelegatedCoordinator, authorities.Scope{Areas: []string{"pq"}}, "pq")
	both := reg("DE", "Koordinierung Bayern Gesundheit", "Bayern", authorities.DelegatedCoordinator, authorities.Scope{Areas: []string{"pq"}, Regions: []string{"Bayern"}}, "pq")
	list := []*authorities.Authority{deNC, bayern, health, both,
		reg("DE", "Ärztekammer München", "Bayern", authorities.CompetentAuthority, authorities.Scope{}, "pq"),
		reg("DE", "Handwerkskammer München", "Bayern", authorities.CompetentAuthority, authorities.Scope{}, "pq", "services"),
		reg("DE", "Ärztekammer Berlin", "Berlin", authorities.CompetentAuthority, authorities.Scope{}, "pq"),
		reg("DE", "Gewerbeamt Berlin", "Berlin", authorities.CompetentAuthority, authorities.Scope{}, "services"),
		reg("AT", "Ärztekammer Wien", "Wien", authorities.CompetentAuthority, authorities.Scope{}, "pq"),
	}
	ec, err := w.svc.EnsureCommission(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	actors := map[string]authorities.Actor{
		"national coordinator":          w.user(deNC, "nc@de.example", "coordinator"),
		"regional delegate":             w.user(bayern, "by@de.example", "coordinator"),
		"area delegate":                 w.user(health, "health@de.example", "coordinator"),
		"regional and area delegate":    w.user(both, "both@de.example", "coordinator"),
		"delegate without the role":     w.user(bayern, "clerk@de.example", "request_handler"),
		"competent authority's handler": w.user(list[4], "handler@de.example", "request_handler"),
		"Commission":                    w.user(ec, "grow@ec.example", "coordinator"),
	}
	for name, actor := range actors {
		var args []any
		arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
		cond := actor.ValidatesSQL("a", arg)
		rows, err := w.db.Read().QueryContext(w.ctx, `SELECT a.id FROM authorities a WHERE a.role <> 'commission' AND `+cond, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for rows.Next() {
			var id string
			_ = rows.Scan(&id)
			got = append(got, id)
		}
		rows.Close()
		for _, a := range list {
			if sql, goes := slices.Contains(got, a.ID), actor.CanValidate(a); sql != goes {
				t.Errorf("%s over %s: SQL %v, Go %v", name, a.Name, sql, goes)
			}
		}
	}
}
