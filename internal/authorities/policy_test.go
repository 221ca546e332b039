package authorities

import (
	"fmt"
	"testing"
)

// The network of the matrix: Germany with a national coordinator, a
// delegated coordinator for Bayern in pq, and competent authorities; France
// with its national coordinator and an authority; the Commission.
var (
	deNational = &Authority{ID: "de-nc", Country: "DE", Kind: NationalCoordinator, Status: Active, Areas: []string{"pq", "services"}}
	deBayernPQ = &Authority{ID: "de-by", Country: "DE", Region: "Bayern", Kind: DelegatedCoordinator, Status: Active, Areas: []string{"pq"},
		Scope: Scope{Areas: []string{"pq"}, Regions: []string{"Bayern"}}}
	deMunichDoctors = &Authority{ID: "de-bay-aek", Country: "DE", Region: "Bayern", Kind: CompetentAuthority, Status: Active, Areas: []string{"pq"}}
	deMunichTrade   = &Authority{ID: "de-bay-trade", Country: "DE", Region: "Bayern", Kind: CompetentAuthority, Status: Active, Areas: []string{"services"}}
	deBerlin        = &Authority{ID: "de-be", Country: "DE", Region: "Berlin", Kind: CompetentAuthority, Status: Active, Areas: []string{"pq"}}
	frNational      = &Authority{ID: "fr-nc", Country: "FR", Kind: NationalCoordinator, Status: Active, Areas: []string{"pq"}}
	frAuthority     = &Authority{ID: "fr-ca", Country: "FR", Kind: CompetentAuthority, Status: Active, Areas: []string{"pq"}}
	commission      = &Authority{ID: "ec", Country: "EC", Kind: Commission, Status: Active, Areas: []string{"pq"}}
	deactivated     = &Authority{ID: "de-off", Country: "DE", Kind: CompetentAuthority, Status: Deactivated, Areas: []string{"pq"}}
)

func as(a *Authority, roles ...string) Actor {
	act := Actor{UserID: "u-" + a.ID, Authority: a}
	for _, r := range roles {
		act.Roles = append(act.Roles, UserRole{Role: r})
	}
	return act
}

type operation struct {
	name string
	can  func(Actor, *Authority) bool
}

var operations = []operation{
	{"register", Actor.CanRegister},
	{"edit", Actor.CanEdit},
	{"validate", Actor.CanValidate},
	{"manage users", Actor.CanManageUsers},
	{"see history", Actor.CanSeeHistory},
}

// TestAccessMatrix states, for each actor and target, which operations are
// allowed; every other combination must be refused.
func TestAccessMatrix(t *testing.T) {
	all := []string{"register", "edit", "validate", "manage users", "see history"}
	cases := []struct {
		actor   string
		who     Actor
		target  *Authority
		allowed []string
	}{
		{"DE national coordinator, DE authority", as(deNational, Coordinator), deBerlin, all},
		{"DE national coordinator, its delegated coordinator", as(deNational, Coordinator), deBayernPQ, all},
		{"DE national coordinator, FR authority", as(deNational, Coordinator), frAuthority, nil},
		{"DE national coordinator without the coordinator role", as(deNational, RequestHandler), deBerlin, nil},
		{"Bayern pq coordinator, Bayern pq authority", as(deBayernPQ, Coordinator), deMunichDoctors, all},
		{"Bayern pq coordinator, Bayern services authority (other area)", as(deBayernPQ, Coordinator), deMunichTrade, nil},
		{"Bayern pq coordinator, Berlin authority (other region)", as(deBayernPQ, Coordinator), deBerlin, nil},
		{"Bayern pq coordinator, the national coordinator", as(deBayernPQ, Coordinator), deNational, nil},
		{"Bayern pq coordinator, FR authority", as(deBayernPQ, Coordinator), frAuthority, nil},
		{"local data administrator, own authority", as(deBerlin, LocalDataAdministrator), deBerlin, []string{"edit", "manage users", "see history"}},
		{"local data administrator, another authority", as(deBerlin, LocalDataAdministrator), deMunichDoctors, nil},
		{"request handler, own authority", as(deBerlin, RequestHandler, Allocator), deBerlin, nil},
		{"FR national coordinator, FR authority", as(frNational, Coordinator), frAuthority, all},
		{"FR national coordinator, DE authority", as(frNational, Coordinator), deBerlin, nil},
		{"Commission, any authority", as(commission, Coordinator), frAuthority, all},
		{"Commission user without the coordinator role", as(commission, RequestHandler), frAuthority, nil},
		{"user of a deactivated authority, itself", as(deactivated, LocalDataAdministrator, Coordinator), deactivated, nil},
		{"no authority at all", Actor{UserID: "operator"}, deBerlin, nil},
		{"DE coordinator, deactivated DE authority", as(deNational, Coordinator), deactivated, []string{"register", "edit", "validate", "see history"}},
	}
	for _, c := range cases {
		for _, op := range operations {
			want := false
			for _, a := range c.allowed {
				want = want || a == op.name
			}
			if got := op.can(c.who, c.target); got != want {
				t.Errorf("%s: %s = %v, want %v", c.actor, op.name, got, want)
			}
		}
	}
}

func TestOnlyTheCommissionRegistersANationalCoordinator(t *testing.T) {
	newNC := &Authority{Country: "DE", Kind: NationalCoordinator, Areas: []string{"pq"}}
	if as(deNational, Coordinator).CanRegister(newNC) {
		t.Error("a national coordinator registered another")
	}
	if !as(commission, Coordinator).CanRegister(newNC) || !System().CanRegister(newNC) {
		t.Error("the Commission or the operator could not")
	}
}

func TestCountryListsAreForThatCountrysCoordinators(t *testing.T) {
	for _, c := range []struct {
		who     Actor
		country string
		want    bool
	}{
		{as(deNational, Coordinator), "DE", true},
		{as(deNational, Coordinator), "FR", false},
		{as(deBayernPQ, Coordinator), "DE", true},
		{as(deBerlin, LocalDataAdministrator), "DE", false},
		{as(commission, Coordinator), "FR", true},
	} {
		if got := c.who.CanSeeCountry(c.country); got != c.want {
			t.Errorf("%s in %s: %v, want %v", c.who.Authority.ID, c.country, got, c.want)
		}
	}
}

func TestRolesParse(t *testing.T) {
	for in, want := range map[string]string{"request_handler": "request_handler:", "allocator:pq": "allocator:pq", "coordinator": "coordinator:"} {
		r, err := ParseRole(in)
		if err != nil || fmt.Sprintf("%s:%s", r.Role, r.Area) != want {
			t.Errorf("%s: %+v %v", in, r, err)
		}
	}
	if _, err := ParseRole("king"); err == nil {
		t.Error("unknown role accepted")
	}
}
