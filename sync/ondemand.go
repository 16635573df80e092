package sync

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// UserRead is what provision on demand read about one user.
type UserRead struct {
	Query string     `json:"query"`
	User  *EntraUser `json:"user,omitempty"` // nil: Graph has no such user
	// Direct says the user holds an assignment itself.
	Direct bool `json:"direct"`
	// Groups are the user's direct groups that are assigned to the app.
	Groups []EntraGroup `json:"groups,omitempty"`
}

// OnDemandRead is what provision on demand read from Graph.
type OnDemandRead struct {
	ServicePrincipal Ref        `json:"servicePrincipal"`
	Users            []UserRead `json:"users,omitempty"`
	// Group is the group asked for (nil: none found); GroupAssigned says
	// whether it is assigned to the app; Members are its direct user members.
	Group         *EntraGroup          `json:"group,omitempty"`
	GroupAssigned bool                 `json:"groupAssigned"`
	Members       map[string]EntraUser `json:"-"`
	GraphRequests int                  `json:"graphRequests"`
}

// PrincipalSource reads single principals for provision on demand (C2).
type PrincipalSource interface {
	Source
	// ReadUsers reads users by object id or UPN, with their direct
	// assignment and assigned direct groups.
	ReadUsers(ctx context.Context, queries []string) (*OnDemandRead, error)
	// ReadGroup reads a group by object id or display name, then the users
	// moreUsers names for that group, as ReadUsers does.
	ReadGroup(ctx context.Context, query string, moreUsers func(g *EntraGroup) []string) (*OnDemandRead, error)
}

// Step is one step of a provision-on-demand report, as Entra shows them:
// connection, import, scope, match, action.
type Step struct {
	Name    string   `json:"name"`
	OK      bool     `json:"ok"`
	Details []string `json:"details"`
}

// OnDemand is the report of one provision on demand.
type OnDemand struct {
	Kind   string `json:"kind"` // user or group
	Query  string `json:"query"`
	Steps  []Step `json:"steps"`
	Plan   *Plan  `json:"plan,omitempty"`
	Run    *Run   `json:"run,omitempty"`
	DryRun bool   `json:"dryRun"`
}

func (o *OnDemand) step(name string, ok bool, details ...string) {
	o.Steps = append(o.Steps, Step{Name: name, OK: ok, Details: details})
}

// ProvisionUser provisions one user now: it reads only that user and what
// decides its scope, applies only its changes (and the creation of a group it
// joins), and reports the steps. With opt.DryRun nothing is written.
func (s *Syncer) ProvisionUser(ctx context.Context, tenantID string, src PrincipalSource, query string, opt CycleOptions) (*OnDemand, error) {
	od := &OnDemand{Kind: "user", Query: query, DryRun: opt.DryRun}
	start := s.now().UTC()
	read, err := src.ReadUsers(ctx, []string{query})
	if err != nil {
		od.step("connection", false, err.Error())
		return od, s.recordFailedOnDemand(ctx, tenantID, opt, start, read, err)
	}
	od.step("connection", true, fmt.Sprintf("token obtained; service principal %s (%s) found", read.ServicePrincipal.Name, read.ServicePrincipal.ID))
	ur := read.Users[0]
	if ur.User == nil {
		od.step("import", false, fmt.Sprintf("no user %q in Entra; nothing changed (a full cycle archives users with no assignment path left)", query))
	} else {
		u := ur.User
		od.step("import", true, fmt.Sprintf("%s (%s): mail %q, displayName %q, accountEnabled %t", u.UserPrincipalName, u.ID, u.Mail, u.DisplayName, u.AccountEnabled))
	}
	return s.onDemand(ctx, tenantID, opt, start, od, read, func(st *State, snap *Snapshot) (users, groups map[string]bool) {
		users, groups = map[string]bool{}, map[string]bool{}
		if ur.User == nil {
			// Not found is not proof of deletion (a renamed UPN, replication
			// delay): change nothing; a full cycle archives users whose
			// every path is gone.
			return users, groups
		}
		users[ur.User.ID] = true
		overlayUser(snap, ur.User.ID, ur)
		return users, groups
	})
}

// ProvisionGroup provisions one group now: its assignment, type and direct
// members, and for members who join or leave it, their other paths. Only the
// group's, its memberships' and those users' changes are applied.
func (s *Syncer) ProvisionGroup(ctx context.Context, tenantID string, src PrincipalSource, query string, opt CycleOptions) (*OnDemand, error) {
	od := &OnDemand{Kind: "group", Query: query, DryRun: opt.DryRun}
	start := s.now().UTC()
	// The local state names the members who left; read it first, outside
	// the cycle's transaction (the transaction re-reads it).
	local, err := s.localState(ctx, tenantID)
	if err != nil {
		return od, err
	}
	var leavers, joiners []string
	read, err := src.ReadGroup(ctx, query, func(g *EntraGroup) []string {
		gid := ""
		if g != nil {
			gid = g.ID
		} else if lg := findLocalGroup(local, query); lg != nil {
			gid = lg.EntraID
		}
		leavers, joiners = groupMovers(local, g, gid)
		return append(slices.Clone(leavers), joiners...)
	})
	if err != nil {
		od.step("connection", false, err.Error())
		return od, s.recordFailedOnDemand(ctx, tenantID, opt, start, read, err)
	}
	od.step("connection", true, fmt.Sprintf("token obtained; service principal %s (%s) found", read.ServicePrincipal.Name, read.ServicePrincipal.ID))
	g := read.Group
	if g == nil {
		od.step("import", false, fmt.Sprintf("no group %q is assigned to the application", query))
	} else {
		od.step("import", true, fmt.Sprintf("%s (%s): securityEnabled %t, mailEnabled %t, groupTypes %v; %d direct user member(s), %d nested group(s)",
			g.DisplayName, g.ID, g.SecurityEnabled, g.MailEnabled, g.GroupTypes, len(g.Members), len(g.Nested)))
	}
	return s.onDemand(ctx, tenantID, opt, start, od, read, func(st *State, snap *Snapshot) (users, groups map[string]bool) {
		users, groups = map[string]bool{}, map[string]bool{}
		gid := ""
		if g != nil {
			gid = g.ID
		} else if lg := findLocalGroup(st, query); lg != nil {
			gid = lg.EntraID
		}
		if gid == "" {
			return users, groups
		}
		groups[gid] = true
		snap.Groups = slices.DeleteFunc(snap.Groups, func(x EntraGroup) bool { return x.ID == gid })
		if g != nil && read.GroupAssigned {
			fresh := *g
			snap.Groups = append(snap.Groups, fresh)
			for _, m := range fresh.Members {
				users[m] = true
				snap.Users[m] = read.Members[m]
			}
		}
		for _, ur := range read.Users {
			if ur.User != nil {
				users[ur.User.ID] = true
				overlayUser(snap, ur.User.ID, ur)
				if g != nil && read.GroupAssigned && slices.Contains(g.Members, ur.User.ID) {
					addMember(snap, gid, ur.User.ID)
				}
			} else {
				users[ur.Query] = true
				overlayUser(snap, ur.Query, ur)
			}
		}
		for _, id := range leavers {
			users[id] = true
		}
		return users, groups
	})
}

// onDemand plans the scoped change inside one transaction and applies it.
func (s *Syncer) onDemand(ctx context.Context, tenantID string, opt CycleOptions, start time.Time, od *OnDemand, read *OnDemandRead,
	overlay func(st *State, snap *Snapshot) (users, groups map[string]bool)) (*OnDemand, error) {
	tx, err := s.dir.Begin(ctx, tenantID)
	if err != nil {
		return od, fmt.Errorf("sync: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	st, err := tx.State(ctx)
	if err != nil {
		return od, fmt.Errorf("sync: load state: %w", err)
	}
	snap := snapshotFromState(st)
	users, groups := overlay(st, snap)
	full := Diff(snap, st, s.now().UTC())
	plan := scopePlan(full, users, groups)
	Guard(plan, st, opt.Approved) // C6 holds mass archives on demand too
	paths := pathsOf(snap)
	for id := range users {
		if eu, ok := snap.Users[id]; ok && eu.AccountEnabled && len(paths[id]) > 0 {
			plan.InScope++
		}
	}
	od.Plan = plan
	s.reportScope(od, st, snap, users, groups, plan)
	run := &Run{TenantID: tenantID, Trigger: opt.Trigger, StartedAt: start, Outcome: OutcomeSucceeded,
		Counts: plan.Counts(), Conflicts: plan.Conflicts, GraphRequests: read.GraphRequests}
	if len(plan.Conflicts) > 0 {
		run.Outcome = OutcomeConflicts
	}
	if run.Held = len(plan.Held); run.Held > 0 {
		run.Outcome = OutcomeHeld
	}
	if run.Trigger == "" {
		run.Trigger = "on-demand"
	}
	run.Trigger += " " + od.Kind + " " + od.Query
	od.Run = run
	if opt.DryRun {
		run.FinishedAt = s.now().UTC()
		return od, nil
	}
	run.FinishedAt = s.now().UTC()
	if err := tx.Apply(ctx, run, plan, plan.Events()); err != nil {
		return od, fmt.Errorf("sync: apply: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return od, fmt.Errorf("sync: commit: %w", err)
	}
	return od, nil
}

func (s *Syncer) localState(ctx context.Context, tenantID string) (*State, error) {
	tx, err := s.dir.Begin(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("sync: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return tx.State(ctx)
}

func (s *Syncer) recordFailedOnDemand(ctx context.Context, tenantID string, opt CycleOptions, start time.Time, read *OnDemandRead, err error) error {
	err = fmt.Errorf("%w: %w", ErrSnapshotIncomplete, err)
	if opt.DryRun {
		return err
	}
	run := &Run{TenantID: tenantID, Trigger: "on-demand", StartedAt: start, FinishedAt: s.now().UTC(), Outcome: OutcomeFailed, Error: err.Error()}
	if read != nil {
		run.GraphRequests = read.GraphRequests
	}
	if rerr := s.dir.RecordRun(context.WithoutCancel(ctx), run); rerr != nil {
		s.logger.Error("record failed run", "err", rerr)
	}
	return err
}

// reportScope adds the scope, match and action steps.
func (s *Syncer) reportScope(od *OnDemand, st *State, snap *Snapshot, users, groups map[string]bool, plan *Plan) {
	ids := sortedKeys(users)
	var scope []string
	for gid := range groups {
		g := findGroup(snap, gid)
		switch ok, reason := supportOf(g); {
		case g == nil:
			scope = append(scope, fmt.Sprintf("group %s: not assigned to the application", gid))
		case ok:
			scope = append(scope, fmt.Sprintf("group %s: assigned security group; its direct user members get a path", g.DisplayName))
		default:
			scope = append(scope, fmt.Sprintf("group %s: skipped: %s", g.DisplayName, reason))
		}
	}
	paths := pathsOf(snap)
	const maxLines = 25
	for i, id := range ids {
		if i == maxLines {
			scope = append(scope, fmt.Sprintf("… and %d more user(s)", len(ids)-maxLines))
			break
		}
		eu, seen := snap.Users[id]
		p := paths[id]
		switch {
		case !seen:
			scope = append(scope, fmt.Sprintf("%s: out of scope: no assignment path", id))
		case !eu.AccountEnabled:
			scope = append(scope, fmt.Sprintf("%s: out of scope: account disabled (paths: %s)", eu.UserPrincipalName, joinOrNone(p)))
		case len(p) == 0:
			scope = append(scope, fmt.Sprintf("%s: out of scope: no assignment path", eu.UserPrincipalName))
		default:
			scope = append(scope, fmt.Sprintf("%s: in scope through %s", eu.UserPrincipalName, strings.Join(p, ", ")))
		}
	}
	od.step("scope", true, scope...)
	var match []string
	for i, id := range ids {
		if i == maxLines {
			match = append(match, fmt.Sprintf("… and %d more user(s)", len(ids)-maxLines))
			break
		}
		match = append(match, matchLine(st, plan, id))
	}
	for gid := range groups {
		if lg := findLocalGroupByID(st, gid); lg != nil {
			match = append(match, fmt.Sprintf("group %s: local group #%d found by object id", gid, lg.ID))
		} else {
			match = append(match, fmt.Sprintf("group %s: no local group", gid))
		}
	}
	od.step("match", true, match...)
	var action []string
	for _, ch := range plan.Changes {
		line := fmt.Sprintf("%s %s %s: %s", ch.Action, ch.Entity, ch.Label, ch.Reason)
		for _, f := range ch.Fields {
			line += fmt.Sprintf("; %s %q → %q", f.Name, f.Old, f.New)
		}
		action = append(action, line)
	}
	for _, c := range plan.Conflicts {
		action = append(action, fmt.Sprintf("conflict: %s %s: e-mail %s is held by %s", c.Action, c.Label, c.Email, c.HolderLabel))
	}
	if len(action) == 0 {
		action = append(action, "no change")
	}
	od.step("action", len(plan.Conflicts) == 0, action...)
}

func matchLine(st *State, plan *Plan, id string) string {
	for _, ch := range plan.Changes {
		if ch.Entity == EntityUser && ch.EntraID == id && ch.Action == ActionAdopt {
			return fmt.Sprintf("%s: manual user #%d with the same e-mail adopted", id, ch.Before.ID)
		}
	}
	for i := range st.Users {
		u := &st.Users[i]
		if u.EntraID == id && u.Status != StatusPurged {
			return fmt.Sprintf("%s: local user #%d (%s) found by object id", id, u.ID, u.Status)
		}
	}
	return fmt.Sprintf("%s: no local user", id)
}

// scopePlan keeps the changes of the given users and groups, and the
// creation or restore of any group a kept membership needs.
func scopePlan(full *Plan, users, groups map[string]bool) *Plan {
	p := &Plan{TenantID: full.TenantID, Skipped: nil}
	need := map[string]bool{}
	for _, ch := range full.Changes {
		if ch.Entity == EntityMembership && (users[ch.EntraID] || groups[ch.GroupEntraID]) && ch.Action == ActionAdd {
			need[ch.GroupEntraID] = true
		}
	}
	for _, ch := range full.Changes {
		keep := false
		switch ch.Entity {
		case EntityUser:
			keep = users[ch.EntraID]
		case EntityMembership:
			keep = users[ch.EntraID] || groups[ch.GroupEntraID]
		case EntityGroup:
			keep = groups[ch.EntraID] || (need[ch.EntraID] && (ch.Action == ActionCreate || ch.Action == ActionRestore))
		}
		if keep {
			p.Changes = append(p.Changes, ch)
		}
	}
	for _, c := range full.Conflicts {
		if users[c.EntraID] {
			p.Conflicts = append(p.Conflicts, c)
		}
	}
	for _, sk := range full.Skipped {
		if users[sk.ID] || groups[sk.ID] || groups[sk.Parent] {
			p.Skipped = append(p.Skipped, sk)
		}
	}
	return p
}

// snapshotFromState is the Graph picture the local directory implies: every
// provisioned user with a path, as last read, and every mirrored group with
// the users whose paths name it. Provision on demand overlays fresh reads on it.
func snapshotFromState(st *State) *Snapshot {
	snap := &Snapshot{Users: map[string]EntraUser{}}
	groups := map[string]*EntraGroup{}
	var order []string
	for i := range st.Groups {
		g := &st.Groups[i]
		if g.Origin == OriginProvisioned && g.EntraID != "" && !g.Archived() {
			groups[g.EntraID] = &EntraGroup{ID: g.EntraID, DisplayName: g.DisplayName, SecurityEnabled: true, Found: true}
			order = append(order, g.EntraID)
		}
	}
	for i := range st.Users {
		u := &st.Users[i]
		if u.Origin != OriginProvisioned || u.EntraID == "" || u.Status == StatusPurged || len(u.Paths) == 0 {
			continue
		}
		snap.Users[u.EntraID] = EntraUser{ID: u.EntraID, UserPrincipalName: u.UserPrincipalName, Mail: u.Mail,
			DisplayName: u.DisplayName, GivenName: u.GivenName, Surname: u.Surname, AccountEnabled: u.AccountEnabled}
		for _, p := range u.Paths {
			if p == PathDirect {
				snap.DirectUsers = append(snap.DirectUsers, u.EntraID)
			} else if g := groups[strings.TrimPrefix(p, "group:")]; g != nil {
				g.Members = append(g.Members, u.EntraID)
			}
		}
	}
	for _, id := range order {
		snap.Groups = append(snap.Groups, *groups[id])
	}
	return snap
}

// overlayUser replaces what snap says about user id by the fresh read.
func overlayUser(snap *Snapshot, id string, ur UserRead) {
	snap.DirectUsers = slices.DeleteFunc(snap.DirectUsers, func(x string) bool { return x == id })
	for i := range snap.Groups {
		snap.Groups[i].Members = slices.DeleteFunc(slices.Clone(snap.Groups[i].Members), func(x string) bool { return x == id })
	}
	if ur.User == nil {
		delete(snap.Users, id)
		return
	}
	snap.Users[id] = *ur.User
	if ur.Direct {
		snap.DirectUsers = append(snap.DirectUsers, id)
	}
	for _, g := range ur.Groups {
		if ok, _ := GroupSupport(g); !ok {
			if findGroup(snap, g.ID) == nil {
				snap.Groups = append(snap.Groups, g)
			}
			continue
		}
		if findGroup(snap, g.ID) == nil {
			ng := g
			ng.Members = nil
			snap.Groups = append(snap.Groups, ng)
		}
		addMember(snap, g.ID, id)
	}
}

func addMember(snap *Snapshot, gid, uid string) {
	for i := range snap.Groups {
		if snap.Groups[i].ID == gid && !slices.Contains(snap.Groups[i].Members, uid) {
			snap.Groups[i].Members = append(snap.Groups[i].Members, uid)
		}
	}
}

// groupMovers returns the local members of group gid that are not in the
// fresh group g (leavers) and the fresh members the directory does not know
// as members yet (joiners).
func groupMovers(st *State, g *EntraGroup, gid string) (leavers, joiners []string) {
	path := GroupPath(gid)
	known := map[string]bool{}
	for i := range st.Users {
		u := &st.Users[i]
		if u.EntraID != "" && slices.Contains(u.Paths, path) {
			known[u.EntraID] = true
			if g == nil || !slices.Contains(g.Members, u.EntraID) {
				leavers = append(leavers, u.EntraID)
			}
		}
	}
	if g != nil {
		for _, m := range g.Members {
			if !known[m] {
				joiners = append(joiners, m)
			}
		}
	}
	return leavers, joiners
}

func findLocalGroup(st *State, query string) *Group {
	for i := range st.Groups {
		g := &st.Groups[i]
		if g.EntraID != "" && (strings.EqualFold(g.EntraID, query) || strings.EqualFold(g.DisplayName, query)) {
			return g
		}
	}
	return nil
}

func findLocalGroupByID(st *State, id string) *Group {
	for i := range st.Groups {
		if st.Groups[i].EntraID == id {
			return &st.Groups[i]
		}
	}
	return nil
}

func findGroup(snap *Snapshot, id string) *EntraGroup {
	for i := range snap.Groups {
		if snap.Groups[i].ID == id {
			return &snap.Groups[i]
		}
	}
	return nil
}

func supportOf(g *EntraGroup) (bool, string) {
	if g == nil {
		return false, "not assigned"
	}
	return GroupSupport(*g)
}

// pathsOf computes every user's paths in snap (as the planner does).
func pathsOf(snap *Snapshot) map[string][]string {
	paths := map[string][]string{}
	for _, id := range snap.DirectUsers {
		paths[id] = append(paths[id], PathDirect)
	}
	for _, g := range snap.Groups {
		if ok, _ := GroupSupport(g); ok {
			for _, m := range g.Members {
				paths[m] = append(paths[m], GroupPath(g.ID))
			}
		}
	}
	for id, p := range paths {
		paths[id] = uniqueSorted(p)
	}
	return paths
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func joinOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
