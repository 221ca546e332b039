// Package authorities keeps the registry of the network: authorities, the
// coordinators they report to, their users and the users' roles. Every
// operation takes the acting user (an Actor) and checks, in one policy, that
// the actor may do it: the web UI and the API cannot disagree.
package authorities

import (
	"slices"
	"time"
)

// Kind is what an authority is in the network.
type Kind string

// Kinds of authorities.
const (
	Commission           Kind = "commission"
	NationalCoordinator  Kind = "national_coordinator"
	DelegatedCoordinator Kind = "delegated_coordinator"
	CompetentAuthority   Kind = "competent_authority"
)

// Kinds lists the kinds an import may name.
var Kinds = []Kind{NationalCoordinator, DelegatedCoordinator, CompetentAuthority}

// IsCoordinator reports whether authorities of this kind coordinate others.
func (k Kind) IsCoordinator() bool {
	return k == NationalCoordinator || k == DelegatedCoordinator || k == Commission
}

// Status is where an authority stands in its registration.
type Status string

// Statuses, in order.
const (
	Registered  Status = "registered"  // entered, not yet checked by its coordinator
	Validated   Status = "validated"   // checked; waiting for its first user
	Active      Status = "active"      // has users
	Deactivated Status = "deactivated" // its users cannot sign in
)

// Authority is a public authority of the network. Contact data is not
// personal data: any user may see it.
type Authority struct {
	ID               string
	ExternalID       string
	Country          string
	Name             string // in the original language
	Language         string // of Name
	Acronym          string
	Region           string
	Street           string
	Postcode         string
	City             string
	Email            string
	Phone            string
	Website          string
	Kind             Kind
	AlertCoordinator bool
	Status           Status
	ParentID         string            // the coordinator it reports to
	Names            map[string]string // the name in other languages
	Descriptions     map[string]string // competences described, per language
	Areas            []string
	Supervisors      map[string]string // area → supervising coordinator, where not the parent
	Competences      []Competence
	Scope            Scope // of a delegated coordinator
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Competence is a term of an area's vocabulary the authority is competent for.
type Competence struct {
	Area       string
	Vocabulary string
	Term       string
}

// Scope is what a delegated coordinator covers in its country: these areas
// (none: all) and these regions (none: all).
type Scope struct {
	Areas   []string
	Regions []string
}

// NameIn returns the authority's name in lang where it has one, else its
// original name.
func (a *Authority) NameIn(lang string) string {
	if n := a.Names[lang]; n != "" {
		return n
	}
	return a.Name
}

// HasArea reports whether the authority works in an area.
func (a *Authority) HasArea(area string) bool { return slices.Contains(a.Areas, area) }

// User roles. Roles other than the local data administrator and coordinator
// hold per legislative area (or for every area of the authority).
const (
	RequestHandler         = "request_handler"
	Allocator              = "allocator"
	AlertHandler           = "alert_handler"
	LocalDataAdministrator = "local_data_administrator"
	Coordinator            = "coordinator"
)

// UserRoles lists the roles a user may hold.
var UserRoles = []string{RequestHandler, Allocator, AlertHandler, LocalDataAdministrator, Coordinator}

// UserRole is a role, for one area or ("" ) all of them.
type UserRole struct {
	Role string
	Area string
}

// Member is a user of an authority, as its administrators see it.
type Member struct {
	ID         string
	Email      string
	Name       string
	Active     bool
	Roles      []UserRole
	LastSignIn *time.Time
	CreatedAt  time.Time
}
