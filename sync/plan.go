package sync

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
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
	d := newDiffer(snap, st, now)
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
	userChg  map[string]int      // entra id → index into plan.Changes
}

func newDiffer(snap *Snapshot, st *State, now time.Time) *differ {
	d := &differ{
		snap: snap, st: st, now: now, settings: st.Tenant.Settings,
		plan:     &Plan{TenantID: st.Tenant.ID, ServicePrincipalAssignments: snap.ServicePrincipalAssignments},
		paths:    map[string][]string{},
		byEntra:  map[string]*User{},
		manual:   map[string]*User{},
		detached: map[string]*User{},
		inScope:  map[string]bool{},
		userChg:  map[string]int{},
	}
	if d.settings.EmailSource == "" {
		d.settings.EmailSource = EmailFromMail
	}
	for _, id := range snap.DirectUsers {
		d.paths[id] = append(d.paths[id], PathDirect)
	}
	for _, g := range sortedGroups(snap.Groups) {
		ok, reason := GroupSupport(g)
		if !ok {
			d.plan.Skipped = append(d.plan.Skipped, Skip{Kind: SkipGroup, ID: g.ID, Name: g.DisplayName, Reason: reason})
			continue
		}
		for _, m := range uniqueSorted(g.Members) {
			d.paths[m] = append(d.paths[m], GroupPath(g.ID))
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

func (d *differ) users() {
	ids := make([]string, 0, len(d.paths)+len(d.byEntra))
	for id := range d.paths {
		ids = append(ids, id)
	}
	for id := range d.byEntra {
		if _, ok := d.paths[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	creates := 0
	for id := range d.paths {
		if d.byEntra[id] == nil {
			creates++
		}
	}
	d.plan.Changes = slices.Grow(d.plan.Changes, creates)
	for _, id := range ids {
		d.user(id)
	}
}

func (d *differ) user(id string) {
	eu, seen := d.snap.Users[id]
	paths := d.paths[id]
	local := d.byEntra[id]
	if len(paths) > 0 && !seen {
		// An assignment names a user the read did not return (graph reports it
		// in Skipped). Leave any local user as it is: absence from one look-up
		// is not proof the user is gone.
		d.keep(local)
		return
	}
	email := eu.Email(d.settings.EmailSource)
	if seen {
		if problem := invalidUser(eu, email); problem != "" {
			d.plan.Skipped = append(d.plan.Skipped, Skip{Kind: SkipUser, ID: id, Name: clipName(eu.UserPrincipalName),
				Reason: problem + "; left unchanged"})
			d.keep(local)
			return
		}
	}
	inScope := seen && eu.AccountEnabled && len(paths) > 0 // S1
	if local == nil {
		if !inScope {
			return
		}
		d.createOrAdopt(eu, email, paths)
		return
	}
	// Work on a copy on the stack; clone only when a change is kept, so an
	// unchanged user costs no allocation.
	after := *local
	if seen {
		copyEntraAttrs(&after, eu, email)
	}
	after.Paths = paths
	var action Action
	var reason string
	switch {
	case inScope && local.Status == StatusArchived: // L4
		unarchive(&after)
		action, reason = ActionRestore, "back in scope through "+strings.Join(paths, ", ")
	case !inScope && local.Status != StatusArchived: // L3
		reason = "no assignment path left (unassigned, or deleted in Entra)"
		if seen && !eu.AccountEnabled {
			reason = "account disabled in Entra"
		}
		after.PreviousStatus, after.Status = local.Status, StatusArchived
		t := d.now
		after.ArchivedAt, after.ArchiveReason = &t, reason
		action = ActionArchive
	default:
		action = ActionUpdate
	}
	if inScope {
		d.inScope[id] = true
		d.plan.InScope++
	}
	if action == ActionUpdate && !userDiffers(local, &after) {
		return
	}
	ch := Change{Action: action, Entity: EntityUser, EntraID: id, Label: userLabel(&after), Reason: reason,
		Before: cloneUser(local), After: cloneUser(&after)}
	ch.Fields = userFields(ch.Before, ch.After)
	if action == ActionUpdate {
		ch.Reason = updateReason(ch.Fields)
	}
	d.addUserChange(ch)
}

// userDiffers reports whether the sync-owned fields of a and b differ,
// without allocating.
func userDiffers(a, b *User) bool {
	return a.UserPrincipalName != b.UserPrincipalName || a.Mail != b.Mail || a.Email != b.Email ||
		a.DisplayName != b.DisplayName || a.GivenName != b.GivenName || a.Surname != b.Surname ||
		a.AccountEnabled != b.AccountEnabled || a.Status != b.Status || a.Origin != b.Origin ||
		!slices.Equal(a.Paths, b.Paths)
}

// keep leaves a local user as it is, memberships included.
func (d *differ) keep(local *User) {
	if local != nil && local.Status != StatusArchived {
		d.inScope[local.EntraID] = true
	}
}

func (d *differ) createOrAdopt(eu EntraUser, email string, paths []string) {
	key := EmailKey(email)
	if m := d.detached[eu.ID]; m != nil { // a reconnected tenant: adopted back by object id (S6)
		if EmailKey(m.Email) != "" {
			delete(d.manual, EmailKey(m.Email))
		}
		after := cloneUser(m)
		after.Origin = OriginProvisioned
		copyEntraAttrs(after, eu, email)
		after.Paths = slices.Clone(paths)
		unarchive(after)
		d.addUserChange(Change{Action: ActionAdopt, Entity: EntityUser, EntraID: eu.ID, Label: userLabel(after),
			Reason: "manual user with the same object id adopted (tenant reconnected)", Before: cloneUser(m), After: after,
			Fields: userFields(m, after)})
		d.inScope[eu.ID] = true
		d.plan.InScope++
		return
	}
	if m := d.manual[key]; m != nil { // L9
		delete(d.manual, key)
		after := cloneUser(m)
		after.EntraID, after.Origin = eu.ID, OriginProvisioned
		copyEntraAttrs(after, eu, email)
		after.Paths = slices.Clone(paths)
		unarchive(after)
		d.addUserChange(Change{Action: ActionAdopt, Entity: EntityUser, EntraID: eu.ID, Label: userLabel(after),
			Reason: "manual user with the same e-mail adopted", Before: cloneUser(m), After: after, Fields: userFields(m, after)})
	} else { // L1
		after := &User{EntraID: eu.ID, Origin: OriginProvisioned, Status: StatusStaged, Paths: slices.Clone(paths)}
		copyEntraAttrs(after, eu, email)
		reason := "in scope through " + strings.Join(paths, ", ")
		if d.settings.AutoInvite {
			after.Status = StatusInvited
			reason += "; invited automatically"
		}
		// A create's fields are its After; Render derives them.
		d.addUserChange(Change{Action: ActionCreate, Entity: EntityUser, EntraID: eu.ID, Label: userLabel(after),
			Reason: reason, After: after})
	}
	d.inScope[eu.ID] = true
	d.plan.InScope++
}

func (d *differ) addUserChange(ch Change) {
	d.userChg[ch.EntraID] = len(d.plan.Changes)
	d.plan.Changes = append(d.plan.Changes, ch)
}

// resolveEmailConflicts applies L10. A change that moves a user to another
// e-mail key is applied only when, after the whole plan, nobody else holds
// that key: it is free, or its holder moves away in an applied change of the
// same plan (so swaps and rotations apply at once, inside one transaction).
// A key held by a user who keeps it, or claimed by an earlier change in the
// plan, makes a Conflict — and so does every change waiting on one, until
// nothing changes. The result never violates uniqueness.
func (d *differ) resolveEmailConflicts() {
	held := map[string]*User{}
	for i := range d.st.Users {
		u := &d.st.Users[i]
		if u.Status != StatusPurged && EmailKey(u.Email) != "" {
			held[EmailKey(u.Email)] = u
		}
	}
	// The movers: user changes whose e-mail key changes.
	type mover struct {
		idx      int
		conflict *Conflict
		waitsOn  int // the mover whose old key this one wants; -1 for none
	}
	var movers []*mover
	byOldKey := map[string]int{} // old key → mover, for users moving away from it
	for i := range d.plan.Changes {
		ch := &d.plan.Changes[i]
		if ch.Entity != EntityUser {
			continue
		}
		newKey, oldKey := EmailKey(ch.After.Email), ""
		if ch.Before != nil {
			oldKey = EmailKey(ch.Before.Email)
		}
		if newKey == oldKey {
			continue
		}
		if oldKey != "" {
			byOldKey[oldKey] = len(movers)
		}
		movers = append(movers, &mover{idx: i, waitsOn: -1})
	}
	claimed := map[string]int{} // new key → first mover claiming it
	for mi, m := range movers {
		ch := &d.plan.Changes[m.idx]
		newKey := EmailKey(ch.After.Email)
		if first, ok := claimed[newKey]; ok {
			other := d.plan.Changes[movers[first].idx].After
			m.conflict = &Conflict{HolderEntraID: other.EntraID, HolderLabel: userLabel(other),
				Reason: "e-mail claimed by another Entra user in the same cycle"}
			continue
		}
		claimed[newKey] = mi
		holder := held[newKey]
		if holder == nil || (ch.Before != nil && holder.ID == ch.Before.ID) {
			continue
		}
		if hm, ok := byOldKey[newKey]; ok && hm != mi {
			m.waitsOn = hm // free once that user's change applies
			continue
		}
		m.conflict = &Conflict{HolderID: holder.ID, HolderEntraID: holder.EntraID, HolderLabel: userLabel(holder),
			Reason: "e-mail already belongs to another local user"}
	}
	for changed := true; changed; {
		changed = false
		for _, m := range movers {
			if m.conflict == nil && m.waitsOn >= 0 && movers[m.waitsOn].conflict != nil {
				holder := d.plan.Changes[movers[m.waitsOn].idx].Before
				m.conflict = &Conflict{HolderID: holder.ID, HolderEntraID: holder.EntraID, HolderLabel: userLabel(holder),
					Reason: "e-mail still belongs to another local user, whose own change is held back"}
				changed = true
			}
		}
	}
	drop := map[int]bool{}
	for _, m := range movers {
		if m.conflict == nil {
			continue
		}
		ch := &d.plan.Changes[m.idx]
		c := m.conflict
		c.Action, c.EntraID, c.Label, c.Email = ch.Action, ch.EntraID, ch.Label, ch.After.Email
		d.plan.Conflicts = append(d.plan.Conflicts, *c)
		if ch.Before == nil || ch.Action == ActionAdopt {
			drop[m.idx] = true
			if d.inScope[ch.EntraID] {
				delete(d.inScope, ch.EntraID)
				d.plan.InScope--
			}
			continue
		}
		// Keep the status and path change, not the attribute update.
		restoreEntraAttrs(ch.After, ch.Before)
		ch.Fields = userFields(ch.Before, ch.After)
		if ch.Action == ActionUpdate && len(ch.Fields) == 0 {
			drop[m.idx] = true
		}
	}
	if len(drop) == 0 {
		return
	}
	kept := d.plan.Changes[:0:0]
	for i, ch := range d.plan.Changes {
		if !drop[i] {
			kept = append(kept, ch)
		}
	}
	d.plan.Changes = kept
	clear(d.userChg) // dropped changes must not keep stale indices
	for i, ch := range d.plan.Changes {
		if ch.Entity == EntityUser {
			d.userChg[ch.EntraID] = i
		}
	}
}

func (d *differ) groups() {
	local := map[string]*Group{} // mirrored groups, and manual ones that keep an Entra id (a disconnected tenant)
	for i := range d.st.Groups {
		g := &d.st.Groups[i]
		if g.EntraID != "" {
			local[g.EntraID] = g
		}
	}
	skipReason := map[string]string{}
	supported := map[string]bool{}
	type groupMoves struct {
		g                      EntraGroup
		members, adds, removes []string
	}
	var moves []groupMoves
	nMoves := 0
	for _, g := range sortedGroups(d.snap.Groups) {
		ok, reason := GroupSupport(g)
		if !ok {
			skipReason[g.ID] = reason
			continue
		}
		supported[g.ID] = true
		lg := local[g.ID]
		var current []string
		switch {
		case lg == nil: // L6
			after := &Group{EntraID: g.ID, Origin: OriginProvisioned, DisplayName: g.DisplayName}
			d.plan.Changes = append(d.plan.Changes, Change{Action: ActionCreate, Entity: EntityGroup, EntraID: g.ID,
				Label: g.DisplayName, Reason: "assigned security group", GroupAfter: after,
				Fields: []FieldChange{{Name: "displayName", New: g.DisplayName}}})
		case lg.Origin == OriginManual: // reconnected: adopted back by object id
			after := cloneGroup(lg)
			after.Origin, after.DisplayName, after.ArchivedAt, after.ArchiveReason = OriginProvisioned, g.DisplayName, nil, ""
			d.plan.Changes = append(d.plan.Changes, Change{Action: ActionAdopt, Entity: EntityGroup, EntraID: g.ID,
				Label: g.DisplayName, Reason: "manual group with the same object id adopted (tenant reconnected)",
				GroupBefore: cloneGroup(lg), GroupAfter: after, Fields: groupFields(lg, after)})
			if !lg.Archived() {
				current = lg.Members
			}
		case lg.Archived():
			after := cloneGroup(lg)
			after.DisplayName, after.ArchivedAt, after.ArchiveReason, after.Members = g.DisplayName, nil, "", nil
			d.plan.Changes = append(d.plan.Changes, Change{Action: ActionRestore, Entity: EntityGroup, EntraID: g.ID,
				Label: g.DisplayName, Reason: "assigned to the application again", GroupBefore: cloneGroup(lg), GroupAfter: after,
				Fields: groupFields(lg, after)})
		default:
			current = lg.Members
			if lg.DisplayName != g.DisplayName {
				after := cloneGroup(lg)
				after.DisplayName = g.DisplayName
				d.plan.Changes = append(d.plan.Changes, Change{Action: ActionUpdate, Entity: EntityGroup, EntraID: g.ID,
					Label: g.DisplayName, Reason: "renamed in Entra", GroupBefore: cloneGroup(lg), GroupAfter: after,
					Fields: groupFields(lg, after)})
			}
		}
		// L7: local members are exactly the direct user members in scope.
		var desired []string
		members := uniqueSorted(g.Members)
		for _, m := range members {
			if d.inScope[m] {
				desired = append(desired, m)
			}
		}
		adds, removes := setDiff(desired, uniqueSorted(current))
		if len(adds)+len(removes) > 0 {
			moves = append(moves, groupMoves{g: g, members: members, adds: adds, removes: removes})
			nMoves += len(adds) + len(removes)
		}
	}
	ids := make([]string, 0, len(local))
	for id := range local {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		lg := local[id]
		if supported[id] || lg.Archived() || lg.Origin != OriginProvisioned {
			continue
		}
		reason := skipReason[id]
		if reason == "" {
			reason = "no longer assigned to the application"
		}
		after := cloneGroup(lg)
		t := d.now
		after.ArchivedAt, after.ArchiveReason, after.Members = &t, reason, nil
		d.plan.Changes = append(d.plan.Changes, Change{Action: ActionArchive, Entity: EntityGroup, EntraID: id,
			Label: lg.DisplayName, Reason: reason, GroupBefore: cloneGroup(lg), GroupAfter: after,
			Fields: []FieldChange{{Name: "members", Old: fmt.Sprint(len(lg.Members)), New: "0"}}})
	}
	// Membership changes last, allocated once: a first cycle of a large
	// tenant has hundreds of thousands.
	d.plan.Changes = slices.Grow(d.plan.Changes, nMoves)
	for _, mv := range moves {
		for _, m := range mv.adds {
			d.plan.Changes = append(d.plan.Changes, Change{Action: ActionAdd, Entity: EntityMembership, EntraID: m,
				GroupEntraID: mv.g.ID, Label: d.userName(m) + " → " + mv.g.DisplayName, Reason: "direct member in Entra"})
		}
		for _, m := range mv.removes {
			reason := "no longer a direct member in Entra"
			if _, found := slices.BinarySearch(mv.members, m); found {
				reason = "user is out of scope"
			}
			d.plan.Changes = append(d.plan.Changes, Change{Action: ActionRemove, Entity: EntityMembership, EntraID: m,
				GroupEntraID: mv.g.ID, Label: d.userName(m) + " ✕ " + mv.g.DisplayName, Reason: reason})
		}
	}
}

func (d *differ) userName(id string) string {
	if i, ok := d.userChg[id]; ok && i < len(d.plan.Changes) && d.plan.Changes[i].EntraID == id {
		return d.plan.Changes[i].Label
	}
	if u := d.byEntra[id]; u != nil {
		return userLabel(u)
	}
	if eu, ok := d.snap.Users[id]; ok && eu.UserPrincipalName != "" {
		return eu.UserPrincipalName
	}
	return id
}

// ---- helpers ---------------------------------------------------------------

// unarchive restores an archived user that is adopted in scope (L4).
func unarchive(u *User) {
	if u.Status != StatusArchived {
		return
	}
	u.Status = u.PreviousStatus
	if u.Status == "" || u.Status == StatusArchived {
		u.Status = StatusStaged
	}
	u.PreviousStatus, u.ArchivedAt, u.ArchiveReason = "", nil, ""
}

// MaxAttributeLength bounds every Entra attribute entrasync stores; Entra's own
// limits are far lower (256 for displayName, 113 for a UPN).
const MaxAttributeLength = 1024

// invalidUser returns why a user read from Graph cannot be provisioned, or "".
func invalidUser(eu EntraUser, email string) string {
	if email == "" {
		return "user has neither mail nor userPrincipalName"
	}
	for _, f := range []struct{ name, v string }{{"userPrincipalName", eu.UserPrincipalName}, {"mail", eu.Mail},
		{"displayName", eu.DisplayName}, {"givenName", eu.GivenName}, {"surname", eu.Surname}} {
		switch {
		case len(f.v) > MaxAttributeLength:
			return fmt.Sprintf("%s is %d bytes long (limit %d)", f.name, len(f.v), MaxAttributeLength)
		case !utf8.ValidString(f.v):
			return f.name + " is not valid UTF-8"
		case strings.ContainsRune(f.v, 0):
			return f.name + " contains a NUL character"
		}
	}
	return ""
}

func clipName(s string) string {
	if len(s) > 80 || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return strings.ToValidUTF8(strings.ReplaceAll(s[:min(len(s), 80)], "\x00", ""), "?")
	}
	return s
}

func copyEntraAttrs(u *User, eu EntraUser, email string) {
	u.UserPrincipalName, u.Mail, u.Email = eu.UserPrincipalName, eu.Mail, email
	u.DisplayName, u.GivenName, u.Surname = eu.DisplayName, eu.GivenName, eu.Surname
	u.AccountEnabled = eu.AccountEnabled
}

func restoreEntraAttrs(u, from *User) {
	u.UserPrincipalName, u.Mail, u.Email = from.UserPrincipalName, from.Mail, from.Email
	u.DisplayName, u.GivenName, u.Surname = from.DisplayName, from.GivenName, from.Surname
	u.AccountEnabled = from.AccountEnabled
}

func userFields(a, b *User) []FieldChange {
	var f []FieldChange
	add := func(name, old, new string) {
		if old != new {
			f = append(f, FieldChange{Name: name, Old: old, New: new})
		}
	}
	add("userPrincipalName", a.UserPrincipalName, b.UserPrincipalName)
	add("mail", a.Mail, b.Mail)
	add("email", a.Email, b.Email)
	add("displayName", a.DisplayName, b.DisplayName)
	add("givenName", a.GivenName, b.GivenName)
	add("surname", a.Surname, b.Surname)
	if a.AccountEnabled != b.AccountEnabled || a.Status == "" {
		add("accountEnabled", boolStr(a.AccountEnabled, a.Status != ""), boolStr(b.AccountEnabled, true))
	}
	add("status", string(a.Status), string(b.Status))
	if !slices.Equal(a.Paths, b.Paths) {
		add("paths", strings.Join(a.Paths, ","), strings.Join(b.Paths, ","))
	}
	add("origin", string(a.Origin), string(b.Origin))
	return f
}

func boolStr(b, known bool) string {
	if !known {
		return ""
	}
	return fmt.Sprint(b)
}

func groupFields(a, b *Group) []FieldChange {
	var f []FieldChange
	if a.DisplayName != b.DisplayName {
		f = append(f, FieldChange{Name: "displayName", Old: a.DisplayName, New: b.DisplayName})
	}
	if a.Origin != b.Origin {
		f = append(f, FieldChange{Name: "origin", Old: string(a.Origin), New: string(b.Origin)})
	}
	if a.Archived() != b.Archived() {
		f = append(f, FieldChange{Name: "archived", Old: fmt.Sprint(a.Archived()), New: fmt.Sprint(b.Archived())})
	}
	return f
}

func updateReason(fields []FieldChange) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	if len(names) == 1 && names[0] == "paths" {
		return "assignment paths changed"
	}
	return "changed in Entra: " + strings.Join(names, ", ")
}

func userLabel(u *User) string {
	switch {
	case u.UserPrincipalName != "":
		return u.UserPrincipalName
	case u.Email != "":
		return u.Email
	case u.EntraID != "":
		return u.EntraID
	}
	return fmt.Sprintf("user #%d", u.ID)
}

func cloneUser(u *User) *User {
	c := *u
	c.Paths = slices.Clone(u.Paths)
	if u.ArchivedAt != nil {
		t := *u.ArchivedAt
		c.ArchivedAt = &t
	}
	if u.RequireMobileAuth != nil {
		v := *u.RequireMobileAuth
		c.RequireMobileAuth = &v
	}
	return &c
}

func cloneGroup(g *Group) *Group {
	c := *g
	c.Members = slices.Clone(g.Members)
	if g.ArchivedAt != nil {
		t := *g.ArchivedAt
		c.ArchivedAt = &t
	}
	if g.MembersMayStoreData != nil {
		v := *g.MembersMayStoreData
		c.MembersMayStoreData = &v
	}
	if g.RequireMobileAuth != nil {
		v := *g.RequireMobileAuth
		c.RequireMobileAuth = &v
	}
	return &c
}

func sortedGroups(gs []EntraGroup) []EntraGroup {
	s := slices.Clone(gs)
	sort.SliceStable(s, func(i, j int) bool { return s[i].ID < s[j].ID })
	return s
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
