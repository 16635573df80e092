package sync

import (
	"context"
	"time"
)

// Scoped plans. When the last cycle applied everything it planned (its
// delta state is clean) and nothing has written the directory since (the
// same directory version, the same settings, no held run), the directory is
// exactly what planning the last picture made of it. Planning the next
// picture then changes only what its Changes name: every other user and
// group gives the same inputs against the same rows, so the same (empty)
// result. A scoped plan loads and plans only those, and is the plan a full
// one would make: the same changes, conflicts, skips, users in scope and
// guard (TestC11_ScopedPlanEqualsFullPlan).

// MaxScopedUsers bounds the users a scoped plan loads one by one; past it a
// cycle loads the whole directory, which is then as fast.
const MaxScopedUsers = 20_000

// StateScope names the part of a tenant's directory a scoped plan loads.
type StateScope struct {
	// EntraIDs are the users (any origin, purged excepted) with these
	// Entra object ids, sorted.
	EntraIDs []string
	// EmailKeys are the users holding these e-mail keys (EmailKey), sorted.
	EmailKeys []string
	// Groups are the groups, by Entra id, whose members are loaded whole;
	// every group's row is loaded, with its members among the users loaded.
	Groups []string
	// MembersOf are groups (a subset of Groups) whose local members are
	// loaded as users too, sorted.
	MembersOf []string
	// PassedOver are users a plan passes over (disabled or invalid) that
	// did not change: not loaded, only whether each has a provisioned row
	// (State.Provisioned), which decides a disabled user's skip. Sorted.
	PassedOver []string
}

// ScopedTx is a Tx that loads part of the tenant's directory.
type ScopedTx interface {
	// StateOf loads the users scope names (by Entra id, by e-mail key, as
	// local members of scope.MembersOf) with their paths, and every group
	// with its members among those users (and all members of
	// scope.Groups); the State is Partial.
	StateOf(ctx context.Context, scope StateScope) (*State, error)
	// Totals counts the whole directory for the archive guard.
	Totals(ctx context.Context) (Totals, error)
}

// NeedsTotals reports whether the archive guard measures plan against the
// directory's totals: when it removes access.
func NeedsTotals(plan *Plan) bool {
	for i := range plan.Changes {
		if plan.Changes[i].destructive() {
			return true
		}
	}
	return false
}

// ScopeOf is the part of the directory a plan of snap needs when only
// changed differs from the picture the directory was brought up to date
// with: the changed users, the holders of the e-mail keys they would take,
// the users a plan passes over whatever the directory holds (disabled or
// invalid ones: whether they have a row decides the skip), and the changed
// groups whole, with the local members of those Graph did not find in one of
// the pictures (they had their path from the directory). ok is false when it
// is too large to be worth it.
func ScopeOf(snap *Snapshot, changed *Changes, settings TenantSettings) (scope StateScope, ok bool) {
	src := settings.EmailSource
	if src == "" {
		src = EmailFromMail
	}
	ids := make(map[string]bool, len(changed.Users))
	keys := map[string]bool{}
	for id := range changed.Users {
		ids[id] = true
		if eu, seen := snap.Users[id]; seen {
			if k := EmailKey(eu.Email(src)); k != "" {
				keys[k] = true
			}
		}
	}
	passed := map[string]bool{}
	for id, eu := range snap.Users {
		if !ids[id] && (!eu.AccountEnabled || invalidUser(eu, eu.Email(src)) != "") {
			passed[id] = true
		}
	}
	if len(ids)+len(keys) > MaxScopedUsers {
		return StateScope{}, false
	}
	groups := map[string]bool{}
	for id := range changed.Groups {
		groups[id] = true
	}
	return StateScope{EntraIDs: sortedKeys(ids), EmailKeys: sortedKeys(keys), Groups: sortedKeys(groups),
		MembersOf: sortedKeys(changed.LocalMembers), PassedOver: sortedKeys(passed)}, true
}

// DiffScoped is Diff over the part of the directory scope loaded (st, from
// StateOf): users outside it are not planned (they count in scope as they
// would), and memberships are planned only for the users planned. ok is
// false when the plan reaches beyond scope (a group change for a group not
// loaded whole): the caller plans in full instead.
func DiffScoped(snap *Snapshot, st *State, scope StateScope, now time.Time) (plan *Plan, ok bool) {
	planned := make(map[string]bool, len(scope.EntraIDs)+len(st.Users))
	for _, id := range scope.EntraIDs {
		planned[id] = true
	}
	for i := range st.Users {
		if id := st.Users[i].EntraID; id != "" {
			planned[id] = true
		}
	}
	passedOver := make(map[string]bool, len(scope.PassedOver))
	for _, id := range scope.PassedOver {
		if !planned[id] {
			passedOver[id] = true
		}
	}
	d := newDiffer(snap, st, now, planned, passedOver)
	d.users()
	d.resolveEmailConflicts()
	d.groups()
	whole := make(map[string]bool, len(scope.Groups))
	for _, id := range scope.Groups {
		whole[id] = true
	}
	for _, ch := range d.plan.Changes {
		if ch.Entity == EntityGroup && !whole[ch.EntraID] {
			return nil, false
		}
		if ch.Entity != EntityGroup && !d.planned[ch.EntraID] {
			return nil, false
		}
	}
	return d.plan, true
}
