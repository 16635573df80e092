package sync

import (
	"fmt"
	"slices"
	"time"
)

// Action is what a Change does.
type Action string

// The actions of a plan.
const (
	ActionCreate  Action = "create"
	ActionUpdate  Action = "update"
	ActionArchive Action = "archive"
	ActionRestore Action = "restore"
	ActionAdopt   Action = "adopt"
	ActionAdd     Action = "add"    // membership
	ActionRemove  Action = "remove" // membership
)

// Entity is what a Change is about.
type Entity string

// The entities of a plan.
const (
	EntityUser       Entity = "user"
	EntityGroup      Entity = "group"
	EntityMembership Entity = "membership"
)

// FieldChange is one attribute that changes, with its old and new value.
type FieldChange struct {
	Name string `json:"name"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

// Change is one planned change to the local directory, with its reason.
// User changes carry Before (nil on create) and After, the full sync-owned
// state of the row; group changes carry GroupBefore/GroupAfter; membership
// changes name the group (GroupEntraID) and the user (EntraID).
type Change struct {
	Action       Action        `json:"action"`
	Entity       Entity        `json:"entity"`
	EntraID      string        `json:"entraId"`
	GroupEntraID string        `json:"groupEntraId,omitempty"`
	Label        string        `json:"label"`
	Reason       string        `json:"reason"`
	Fields       []FieldChange `json:"fields,omitempty"`
	Before       *User         `json:"before,omitempty"`
	After        *User         `json:"after,omitempty"`
	GroupBefore  *Group        `json:"groupBefore,omitempty"`
	GroupAfter   *Group        `json:"groupAfter,omitempty"`
}

// Conflict is a create or update that was not applied because its e-mail
// collides with another local user's (L10). It is retried next cycle.
type Conflict struct {
	Action        Action `json:"action"`
	EntraID       string `json:"entraId"`
	Label         string `json:"label"`
	Email         string `json:"email"`
	HolderID      int64  `json:"holderId,omitempty"`
	HolderEntraID string `json:"holderEntraId,omitempty"`
	HolderLabel   string `json:"holderLabel"`
	Reason        string `json:"reason"`
}

// Skip is an object a cycle passed over on purpose, with the reason: an
// unsupported group (S2), a nested group (S3), an invalid user, an unknown
// principal.
type Skip struct {
	Kind   string `json:"kind"` // group, nested_group, user, principal
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Parent string `json:"parent,omitempty"` // the outer group of a nested group
	Reason string `json:"reason"`
}

// The kinds of Skip.
const (
	SkipGroup       = "group"
	SkipNestedGroup = "nested_group"
	SkipUser        = "user"
	SkipPrincipal   = "principal"
)

// Plan is the difference between what Graph says and the local directory:
// the changes to apply, the conflicts held back, and what was passed over.
type Plan struct {
	TenantID                    string     `json:"tenantId"`
	Changes                     []Change   `json:"changes"`
	Conflicts                   []Conflict `json:"conflicts"`
	Skipped                     []Skip     `json:"skipped"`
	ServicePrincipalAssignments int        `json:"servicePrincipalAssignments"`
	InScope                     int        `json:"inScope"`
	// Held are the archives (and those users' membership removals) the
	// archive guard held back for an administrator (C6); HeldReason says why.
	Held       []Change `json:"held,omitempty"`
	HeldReason string   `json:"heldReason,omitempty"`
	// noAssignments is set when the read listed no assignment at all.
	noAssignments bool
}

// Counts are the number of changes per entity and action.
type Counts map[string]int

// Counts tallies the plan's changes as "entity.action" → n, plus
// "conflict" for conflicts.
func (p *Plan) Counts() Counts {
	c := Counts{}
	for _, ch := range p.Changes {
		c[string(ch.Entity)+"."+string(ch.Action)]++
	}
	if n := len(p.Conflicts); n > 0 {
		c["conflict"] = n
	}
	if n := len(p.Held); n > 0 {
		c["held"] = n
	}
	return c
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// Diff is the planner: a pure function of the Graph snapshot and the local
// state that returns the Plan. It mutates neither input. now stamps archives.
func Diff(snap *Snapshot, st *State, now time.Time) *Plan {
	d := newDiffer(snap, st, now, nil, nil)
	d.users()
	d.resolveEmailConflicts()
	d.groups()
	return d.plan
}

type differ struct {
	snap     *Snapshot
	st       *State
	now      time.Time
	settings TenantSettings
	plan     *Plan

	paths    map[string][]string // entra user id → paths
	byEntra  map[string]*User    // provisioned, not purged
	manual   map[string]*User    // manual users by e-mail key
	detached map[string]*User    // manual users that keep an Entra id (a disconnected tenant)
	inScope  map[string]bool     // users that will be active members after apply
	// lostGroups are assigned groups whose look-up found nothing: left as they are.
	lostGroups map[string]bool
	userChg    map[string]int // entra id → index into plan.Changes
	// planned, in a scoped plan (DiffScoped), are the users planned one by
	// one; nil plans every user.
	planned map[string]bool
	// unplanned are the users with a path a scoped plan does not plan;
	// passedOver those it only passes over (their paths are kept, for the
	// skip).
	unplanned  map[string]bool
	passedOver map[string]bool
}

func newDiffer(snap *Snapshot, st *State, now time.Time, planned, passedOver map[string]bool) *differ {
	d := &differ{
		snap: snap, st: st, now: now, settings: st.Tenant.Settings,
		plan: &Plan{TenantID: st.Tenant.ID, ServicePrincipalAssignments: snap.ServicePrincipalAssignments,
			noAssignments: snap.AssignmentsListed == 0 && len(snap.DirectUsers) == 0 && len(snap.Groups) == 0 &&
				snap.ServicePrincipalAssignments == 0},
		// Sized for what a whole plan puts in them: grown one doubling at
		// a time, a large tenant's maps were a third of its plan.
		paths:      make(map[string][]string, sized(planned, len(snap.Users))),
		byEntra:    make(map[string]*User, len(st.Users)),
		manual:     map[string]*User{},
		detached:   map[string]*User{},
		inScope:    make(map[string]bool, sized(planned, len(snap.Users))),
		lostGroups: map[string]bool{},
		userChg:    make(map[string]int, sized(planned, len(snap.Users))),
		planned:    planned,
		unplanned:  map[string]bool{},
		passedOver: passedOver,
	}
	if planned != nil {
		d.unplanned = make(map[string]bool, len(snap.Users))
	}
	if d.settings.EmailSource == "" {
		d.settings.EmailSource = EmailFromMail
	}
	for _, id := range snap.DirectUsers {
		d.addPath(id, PathDirect)
	}
	liveGroups := map[string]*Group{}
	for i := range st.Groups {
		if g := &st.Groups[i]; g.EntraID != "" && g.Origin == OriginProvisioned && !g.Archived() {
			liveGroups[g.EntraID] = g
		}
	}
	for _, g := range sortedGroups(snap.Groups) {
		if lg := liveGroups[g.ID]; !g.Found && lg != nil {
			// Still assigned, but its look-up found nothing: one answer is not
			// proof the group is gone (deleting a group removes its
			// assignments too). It and its members stay as they are.
			d.plan.Skipped = append(d.plan.Skipped, Skip{Kind: SkipGroup, ID: g.ID, Name: lg.DisplayName,
				Reason: "assigned group not found in Entra (deleted, or not replicated yet); left unchanged"})
			d.lostGroups[g.ID] = true
			path := GroupPath(g.ID)
			for _, m := range lg.Members {
				d.addPath(m, path)
			}
			continue
		}
		ok, reason := GroupSupport(g)
		if !ok {
			d.plan.Skipped = append(d.plan.Skipped, Skip{Kind: SkipGroup, ID: g.ID, Name: g.DisplayName, Reason: reason})
			continue
		}
		path := GroupPath(g.ID) // one string for all its members
		for _, m := range uniqueSorted(g.Members) {
			d.addPath(m, path)
		}
		for _, n := range g.Nested {
			d.plan.Skipped = append(d.plan.Skipped, Skip{Kind: SkipNestedGroup, ID: n.ID, Name: n.Name, Parent: g.ID,
				Reason: fmt.Sprintf("nested in %q; nesting is not supported, its members get no path through it", g.DisplayName)})
		}
	}
	for id, p := range d.paths {
		d.paths[id] = uniqueSorted(p)
	}
	for i := range st.Users {
		u := &st.Users[i]
		switch {
		case u.Status == StatusPurged:
		case u.Origin == OriginProvisioned && u.EntraID != "":
			d.byEntra[u.EntraID] = u
		case u.Origin == OriginManual && u.EntraID != "":
			d.detached[u.EntraID] = u
		case u.Origin == OriginManual && EmailKey(u.Email) != "":
			d.manual[EmailKey(u.Email)] = u
		}
	}
	d.plan.Skipped = append(d.plan.Skipped, snap.Skipped...)
	return d
}

// sized is n for a whole plan and the planned users' count for a scoped
// one.
func sized(planned map[string]bool, n int) int {
	if planned != nil {
		return len(planned)
	}
	return n
}

// addPath gives user id the assignment path; in a scoped plan, a user not
// planned is only noted as holding one (unplanned).
func (d *differ) addPath(id, path string) {
	if d.planned != nil && !d.planned[id] && !d.passedOver[id] {
		d.unplanned[id] = true
		return
	}
	d.paths[id] = append(d.paths[id], path)
}

func uniqueSorted(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	c := slices.Clone(s)
	slices.Sort(c)
	return slices.Compact(c)
}

// setDiff returns the elements of sorted a not in sorted b, and of b not in a.
func setDiff(a, b []string) (onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			onlyA = append(onlyA, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			onlyB = append(onlyB, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return onlyA, onlyB
}
