package authorities

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/openimi/openimi/internal/db"
)

// Actor is a signed-in user acting on the registry, with the authority they
// belong to and their roles.
type Actor struct {
	UserID    string
	Language  string     // the user's UI language, for messages ("" to negotiate)
	Authority *Authority // nil for a user of no authority (an operator account)
	Roles     []UserRole
	system    bool
}

// System is the operator at the command line (imi import, imi admin):
// whoever can run the binary against the database may do anything.
func System() Actor { return Actor{system: true} }

// Has reports whether the actor holds role for area (a role for every area
// counts).
func (a Actor) Has(role, area string) bool {
	for _, r := range a.Roles {
		if r.Role == role && (r.Area == "" || r.Area == area) {
			return true
		}
	}
	return false
}

// HasAny reports whether the actor holds role for any area.
func (a Actor) HasAny(role string) bool {
	for _, r := range a.Roles {
		if r.Role == role {
			return true
		}
	}
	return false
}

// IsCommission reports whether the actor acts for the European Commission,
// which oversees the whole network.
func (a Actor) IsCommission() bool {
	if a.system {
		return true
	}
	return a.Authority != nil && a.Authority.Kind == Commission && a.Authority.Status != Deactivated && a.HasAny(Coordinator)
}

// coordinates reports whether the actor is a coordinator whose scope covers
// target: its country, and for a delegated coordinator its regions and
// areas (every area of target must be in scope, so that a delegated
// coordinator cannot reach beyond its areas through a shared one).
func (a Actor) coordinates(target *Authority) bool {
	if a.IsCommission() {
		return true
	}
	me := a.Authority
	if me == nil || me.Status == Deactivated || !a.HasAny(Coordinator) || target.Country != me.Country {
		return false
	}
	switch me.Kind {
	case NationalCoordinator:
		return true
	case DelegatedCoordinator:
		if target.ID == me.ID {
			return false // a delegated coordinator does not supervise itself
		}
		if len(me.Scope.Regions) > 0 && !slices.Contains(me.Scope.Regions, target.Region) {
			return false
		}
		if len(me.Scope.Areas) > 0 {
			if len(target.Areas) == 0 {
				return false
			}
			for _, area := range target.Areas {
				if !slices.Contains(me.Scope.Areas, area) {
					return false
				}
			}
		}
		if target.Kind == NationalCoordinator || target.Kind == DelegatedCoordinator {
			return false // only the national coordinator manages coordinators
		}
		return true
	}
	return false
}

// isAdministratorOf reports whether the actor is a local data
// administrator of target.
func (a Actor) isAdministratorOf(target *Authority) bool {
	return a.Authority != nil && a.Authority.ID == target.ID && target.Status != Deactivated && a.HasAny(LocalDataAdministrator)
}

// CanRegister reports whether the actor may register target (which does not
// exist yet) in the registry.
func (a Actor) CanRegister(target *Authority) bool {
	if target.Kind == NationalCoordinator || target.Kind == Commission {
		return a.IsCommission()
	}
	return a.coordinates(target)
}

// CanEdit reports whether the actor may change target's data.
func (a Actor) CanEdit(target *Authority) bool {
	return a.coordinates(target) || a.isAdministratorOf(target)
}

// CanValidate reports whether the actor may validate, deactivate or
// reactivate target.
func (a Actor) CanValidate(target *Authority) bool { return a.coordinates(target) }

// CanManageUsers reports whether the actor may invite target's users and
// change their roles: its local data administrators, and its coordinators
// (who invite the first user).
func (a Actor) CanManageUsers(target *Authority) bool {
	return target.Status != Deactivated && (a.isAdministratorOf(target) || a.coordinates(target))
}

// CanSeeHistory reports whether the actor may read target's change history.
func (a Actor) CanSeeHistory(target *Authority) bool { return a.CanEdit(target) }

// CanSeeCountry reports whether the actor coordinates in a country, for the
// lists of a country's authorities (never used, statistics by country).
func (a Actor) CanSeeCountry(country string) bool {
	if a.IsCommission() {
		return true
	}
	return a.Authority != nil && a.Authority.Kind.IsCoordinator() && a.Authority.Country == country && a.HasAny(Coordinator) && a.Authority.Status != Deactivated
}

// CanExport reports whether the actor may import files or download the
// whole registry: coordinators and the Commission.
func (a Actor) CanExport() bool {
	return a.IsCommission() || (a.Authority != nil && a.Authority.Kind.IsCoordinator() && a.Authority.Status != Deactivated && a.HasAny(Coordinator))
}

// CanInviteAuthorities reports whether the actor may invite authorities to
// register themselves and open the form to register one: a coordinator of
// a coordinating authority (the Commission included).
func (a Actor) CanInviteAuthorities() bool {
	return a.Authority != nil && a.Authority.Kind.IsCoordinator() && a.Authority.Status != Deactivated && a.HasAny(Coordinator)
}

// CoordinatorOf is the coordinator an authority answers to for an area:
// its supervisor for the area, else its parent, else its country's
// national coordinator ("" if there is none).
func CoordinatorOf(ctx context.Context, q db.Querier, a *Authority, area string) (string, error) {
	if a == nil {
		return "", nil
	}
	if id := a.Supervisors[area]; id != "" {
		return id, nil
	}
	if a.ParentID != "" {
		return a.ParentID, nil
	}
	var id string
	err := q.QueryRowContext(ctx, `SELECT id FROM authorities WHERE country = $1 AND role = 'national_coordinator' AND status <> 'deactivated'`, a.Country).Scan(&id)
	if errors.Is(db.Check(err), db.ErrNotFound) {
		return "", nil
	}
	return id, db.Check(err)
}

// ValidatesSQL is CanValidate as an SQL condition on the authorities row
// alias (with its authority_areas), for lists that must be filtered in
// the database; arg adds a parameter and returns its placeholder. The two
// are kept equal by TestValidatesSQLAgreesWithCanValidate.
func (a Actor) ValidatesSQL(alias string, arg func(any) string) string {
	if a.IsCommission() {
		return "TRUE"
	}
	me := a.Authority
	if me == nil || me.Status == Deactivated || !a.HasAny(Coordinator) {
		return "FALSE"
	}
	same := alias + ".country = " + arg(me.Country)
	switch me.Kind {
	case NationalCoordinator:
		return same
	case DelegatedCoordinator:
		conds := []string{same, alias + ".id <> " + arg(me.ID), alias + ".role NOT IN ('national_coordinator', 'delegated_coordinator')"}
		if len(me.Scope.Regions) > 0 {
			conds = append(conds, alias+".region IN ("+args(arg, me.Scope.Regions)+")")
		}
		if len(me.Scope.Areas) > 0 {
			conds = append(conds, "EXISTS (SELECT 1 FROM authority_areas sa WHERE sa.authority_id = "+alias+".id)",
				"NOT EXISTS (SELECT 1 FROM authority_areas sa WHERE sa.authority_id = "+alias+".id AND sa.area NOT IN ("+args(arg, me.Scope.Areas)+"))")
		}
		return "(" + strings.Join(conds, " AND ") + ")"
	}
	return "FALSE"
}

// args adds each value as a parameter and lists their placeholders.
func args(arg func(any) string, values []string) string {
	marks := make([]string, len(values))
	for i, v := range values {
		marks[i] = arg(v)
	}
	return strings.Join(marks, ", ")
}
