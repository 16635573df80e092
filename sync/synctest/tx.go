package synctest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/entrasync/entrasync/sync"
)

// tx is a transaction on one tenant's directory: it holds the tenant's lock
// from Begin to Commit or Rollback and works on a copy of the tenant's rows,
// which Commit puts in their place.
type tx struct {
	m      *Memory
	tn     *tenant
	tenant sync.Tenant
	work   *directory // nil until State
	dirty  bool       // an Apply succeeded
	failed error      // an Apply failed: the transaction keeps nothing
	done   bool
	runs   []*runRecord
	events []sync.Event
	delta  *sync.DeltaState // saved by SaveDelta, stored at Commit
	bump   bool             // an Apply changed the directory: Commit counts it
}

var _ sync.PreloadedTx = (*tx)(nil)

// StateFrom is pre's users and groups with the transaction's tenant while
// the directory's version is still pre's, else State (sync.PreloadedTx).
func (t *tx) StateFrom(ctx context.Context, pre *sync.State) (*sync.State, bool, error) {
	own, err := t.State(ctx) // the working copy Apply writes to, either way
	if err != nil || pre == nil || pre.Partial || pre.Tenant.ID != t.tenant.ID || pre.Tenant.DirectoryVersion != t.tenant.DirectoryVersion {
		return own, false, err
	}
	t.m.mu.Lock()
	t.m.preloadsTaken++
	t.m.mu.Unlock()
	return &sync.State{Tenant: t.tenant, Users: pre.Users, Groups: pre.Groups}, true, nil
}

// Tenant is the tenant as Begin locked it.
func (t *tx) Tenant() sync.Tenant { return t.tenant }

// State returns a copy of the tenant's users (purged tombstones excepted)
// and groups with their members.
func (t *tx) State(context.Context) (*sync.State, error) {
	if t.done {
		return nil, sync.Errorf(sync.EINTERNAL, "synctest: State after the transaction ended")
	}
	t.m.mu.Lock()
	if t.work == nil {
		t.work = t.tn.dir.clone()
	}
	st := &sync.State{Tenant: t.tenant, Groups: t.work.groupsWithMembers()}
	for _, u := range t.work.users {
		if u.Status != sync.StatusPurged {
			st.Users = append(st.Users, cloneUser(u))
		}
	}
	t.m.mu.Unlock()
	return st, nil
}

var _ sync.ScopedTx = (*tx)(nil)

// StateOf returns the part of State scope names: the users with its Entra
// ids or e-mail keys, and every group with its members among them (all the
// members of scope.Groups).
func (t *tx) StateOf(ctx context.Context, scope sync.StateScope) (*sync.State, error) {
	whole, err := t.State(ctx)
	if err != nil {
		return nil, err
	}
	st := &sync.State{Tenant: whole.Tenant, Partial: true, Provisioned: map[string]bool{}}
	passed := set(scope.PassedOver)
	for _, u := range whole.Users {
		if u.Origin == sync.OriginProvisioned && passed[u.EntraID] {
			st.Provisioned[u.EntraID] = true
		}
	}
	ids, keys := set(scope.EntraIDs), set(scope.EmailKeys)
	for _, g := range whole.Groups {
		if slices.Contains(scope.MembersOf, g.EntraID) {
			for _, m := range g.Members {
				ids[m] = true
			}
		}
	}
	loaded := map[string]bool{}
	for _, u := range whole.Users {
		if (u.EntraID != "" && ids[u.EntraID]) || (sync.EmailKey(u.Email) != "" && keys[sync.EmailKey(u.Email)]) {
			st.Users = append(st.Users, u)
			loaded[u.EntraID] = true
		}
	}
	groups := set(scope.Groups)
	for _, g := range whole.Groups {
		if !groups[g.EntraID] {
			g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return !loaded[m] })
		}
		st.Groups = append(st.Groups, g)
	}
	return st, nil
}

// Totals counts the whole directory for the archive guard.
func (t *tx) Totals(ctx context.Context) (sync.Totals, error) {
	whole, err := t.State(ctx)
	if err != nil {
		return sync.Totals{}, err
	}
	return sync.TotalsOf(whole), nil
}

func set(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

// Apply applies the plan's changes, records run (setting its id,
// ApplyMillis and FinishedAt) with its provisioning log, and queues events,
// all or nothing: a change that collides (an e-mail key or object id held
// twice, a user changed underneath the cycle, a membership added twice) is
// ECONFLICT, and then the transaction keeps nothing and Commit fails.
// EINTERNAL before State, or for a membership naming a user or group with
// no row.
func (t *tx) Apply(_ context.Context, run *sync.Run, plan *sync.Plan, events []sync.Event) error {
	switch {
	case t.done:
		return sync.Errorf(sync.EINTERNAL, "synctest: Apply after the transaction ended")
	case t.failed != nil:
		return fmt.Errorf("synctest: transaction aborted: %w", t.failed)
	case t.work == nil && len(plan.Changes) > 0:
		return sync.Errorf(sync.EINTERNAL, "synctest: Apply before State")
	}
	start := time.Now()
	t.m.mu.Lock()
	if t.work == nil { // a plan without changes: the rows as they are
		t.work = t.tn.dir.clone()
	}
	defer t.m.mu.Unlock()
	work := t.work.clone()
	ids := t.m.lastID
	for _, step := range []func(*directory, *sync.Plan) error{t.applyUsers, t.applyGroups, t.applyMemberships} {
		if err := step(work, plan); err != nil {
			t.m.lastID = ids
			t.failed = err
			return err
		}
	}
	run.ApplyMillis = time.Since(start).Milliseconds()
	run.FinishedAt = t.m.now().UTC()
	// Runs, log entries and events are numbered now, as a sequence would
	// number them, and stored at Commit.
	t.m.lastID.run++
	run.ID = t.m.lastID.run
	stored := *run
	if stored.Counts == nil {
		stored.Counts = sync.Counts{}
	}
	t.runs = append(t.runs, &runRecord{run: stored, log: t.logOf(run.ID, plan)})
	for _, e := range events {
		t.m.lastID.event++
		e.ID, e.TenantID, e.RunID, e.CreatedAt = t.m.lastID.event, t.tenant.ID, run.ID, t.m.now().UTC()
		if e.Data == nil {
			e.Data = map[string]string{}
		}
		t.events = append(t.events, e)
	}
	t.work, t.dirty = work, true
	t.bump = t.bump || len(plan.Changes) > 0
	return nil
}

func (t *tx) applyUsers(d *directory, plan *sync.Plan) error {
	missing, updates := 0, 0
	byID := make(map[int64]int, len(d.users)) // index into d.users; creates append after
	for i := range d.users {
		byID[d.users[i].ID] = i
	}
	for _, ch := range plan.Changes {
		if ch.Entity != sync.EntityUser {
			continue
		}
		if ch.Action == sync.ActionCreate {
			t.m.lastID.user++
			u := sync.User{ID: t.m.lastID.user}
			setEntraOwned(&u, ch.After)
			u.PreviousStatus, u.ArchivedAt, u.ArchiveReason = "", nil, ""
			d.users = append(d.users, u)
			continue
		}
		updates++
		i, ok := byID[ch.Before.ID]
		if !ok || d.users[i].Status == sync.StatusPurged {
			missing++
			continue
		}
		u := &d.users[i]
		paths := u.Paths
		setEntraOwned(u, ch.After)
		if slices.Equal(ch.Before.Paths, ch.After.Paths) {
			u.Paths = paths
		}
	}
	if missing > 0 {
		return sync.Errorf(sync.ECONFLICT, "synctest: %d of %d users to update changed underneath the cycle", missing, updates)
	}
	return d.checkUnique()
}

// setEntraOwned copies what a cycle writes of a user: everything but its
// id and its overrides (L8).
func setEntraOwned(u *sync.User, after *sync.User) {
	id, override := u.ID, u.RequireMobileAuth
	*u = cloneUser(*after)
	u.ID, u.RequireMobileAuth, u.Paths = id, override, slices.Sorted(slices.Values(after.Paths)) // as the database reads them back
}

func (t *tx) applyGroups(d *directory, plan *sync.Plan) error {
	for _, ch := range plan.Changes {
		if ch.Entity != sync.EntityGroup {
			continue
		}
		after := ch.GroupAfter
		if ch.Action == sync.ActionCreate {
			t.m.lastID.group++
			d.groups = append(d.groups, group{Group: sync.Group{ID: t.m.lastID.group, EntraID: after.EntraID,
				Origin: sync.OriginProvisioned, DisplayName: after.DisplayName}, members: map[int64]bool{}})
			continue
		}
		g := d.group(ch.GroupBefore.ID)
		if g == nil {
			continue // as an UPDATE that matches no row
		}
		g.DisplayName, g.ArchivedAt, g.ArchiveReason = after.DisplayName, cloneTime(after.ArchivedAt), after.ArchiveReason
		g.Origin = after.Origin
		if g.Origin == "" {
			g.Origin = sync.OriginProvisioned
		}
		if g.ArchivedAt != nil {
			clear(g.members)
		}
	}
	return d.checkUnique()
}

func (t *tx) applyMemberships(d *directory, plan *sync.Plan) error {
	groups, users := map[string]*group{}, map[string]*sync.User{}
	for i := range d.groups {
		if g := &d.groups[i]; g.EntraID != "" {
			groups[g.EntraID] = g
		}
	}
	for i := range d.users {
		if u := &d.users[i]; u.EntraID != "" && u.Status != sync.StatusPurged {
			users[u.EntraID] = u
		}
	}
	for _, pass := range []sync.Action{sync.ActionRemove, sync.ActionAdd} {
		for _, ch := range plan.Changes {
			if ch.Entity != sync.EntityMembership || ch.Action != pass {
				continue
			}
			g, u := groups[ch.GroupEntraID], users[ch.EntraID]
			if g == nil || u == nil {
				return sync.Errorf(sync.EINTERNAL, "synctest: membership %s of %s names a group or user with no local row", ch.EntraID, ch.GroupEntraID)
			}
			if pass == sync.ActionRemove {
				delete(g.members, u.ID)
				continue
			}
			if g.members[u.ID] {
				return sync.Errorf(sync.ECONFLICT, "synctest: user %s is a member of %s already", ch.EntraID, ch.GroupEntraID)
			}
			g.members[u.ID] = true
		}
	}
	return nil
}

// logOf is the provisioning log of a plan: its changes (applied), its held
// changes and its conflicts, in that order.
func (t *tx) logOf(runID int64, plan *sync.Plan) []sync.LogEntry {
	var log []sync.LogEntry
	add := func(status string, ch sync.Change) {
		t.m.lastID.log++
		log = append(log, sync.LogEntry{ID: t.m.lastID.log, RunID: runID, Status: status, Action: ch.Action, Entity: ch.Entity,
			EntraID: ch.EntraID, GroupEntraID: ch.GroupEntraID, Label: ch.Label, Reason: ch.Reason, Fields: slices.Clone(ch.Fields)})
	}
	for _, ch := range plan.Changes {
		add("applied", ch)
	}
	for _, ch := range plan.Held {
		add("held", ch)
	}
	for _, c := range plan.Conflicts {
		add("conflict", sync.Change{Action: c.Action, Entity: sync.EntityUser, EntraID: c.EntraID, Label: c.Label,
			Reason: fmt.Sprintf("%s: e-mail %s is held by %s", c.Reason, c.Email, c.HolderLabel)})
	}
	return log
}

// Commit puts the transaction's rows, runs and events in place and releases
// the tenant's lock. After a failed Apply it keeps nothing and returns that
// failure; after the end of the transaction it is EINTERNAL.
func (t *tx) Commit() error {
	if t.done {
		return sync.Errorf(sync.EINTERNAL, "synctest: commit after the transaction ended")
	}
	t.done = true
	defer t.tn.unlock()
	if t.failed != nil {
		return fmt.Errorf("synctest: commit of an aborted transaction: %w", t.failed)
	}
	if !t.dirty {
		return nil
	}
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	t.tn.dir = t.work
	if t.bump {
		t.tn.version++
	}
	if t.delta != nil {
		t.tn.delta = t.delta
	}
	// Others may have numbered and stored runs and events meanwhile: keep
	// both in id order, as the database returns them.
	t.m.runs = append(t.m.runs, t.runs...)
	slices.SortFunc(t.m.runs, func(a, b *runRecord) int { return cmp.Compare(a.run.ID, b.run.ID) })
	t.m.events = append(t.m.events, t.events...)
	slices.SortFunc(t.m.events, func(a, b sync.Event) int { return cmp.Compare(a.ID, b.ID) })
	return nil
}

// SaveDelta keeps st to replace the tenant's delta state at Commit, if the
// stored generation is still st.Generation; ECONFLICT otherwise.
func (t *tx) SaveDelta(_ context.Context, st *sync.DeltaState) error {
	if t.done || t.failed != nil {
		return sync.Errorf(sync.EINTERNAL, "synctest: SaveDelta on an ended or aborted transaction")
	}
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	var gen int64
	if t.tn.delta != nil {
		gen = t.tn.delta.Generation
	}
	if gen != st.Generation {
		return sync.Errorf(sync.ECONFLICT, "synctest: delta state of %s was saved by another cycle meanwhile", t.tn.id)
	}
	st.Generation++
	st.DirectoryVersion = t.tn.version
	if t.bump {
		st.DirectoryVersion++
	}
	t.delta = cloneDelta(st)
	if st.Mirror == nil && t.tn.delta != nil { // nil keeps the stored mirror
		t.delta.Mirror = slices.Clone(t.tn.delta.Mirror)
	}
	t.dirty = true
	return nil
}

// Rollback discards the transaction and releases the tenant's lock; a no-op
// after Commit.
func (t *tx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	t.tn.unlock()
	return nil
}
