// Package synctest holds in-memory doubles of sync's interfaces, for tests
// whose subject is not the database: the planner, the syncer, the worker's
// leases and guards, the admin API. Memory is a whole sync.Store.
//
// The doubles keep the contracts sync declares — a transaction applies all
// of a plan or nothing, holds its tenant's lock, and keeps e-mails unique
// per tenant — and reuse sync's backend-free rules (settings, references,
// invitations, disconnect reports) rather than writing them again. They
// import the standard library and sync only.
package synctest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/entrasync/entrasync/sync"
)

var _ sync.Store = (*Memory)(nil)

// Memory is an in-memory local directory: tenants, users, groups,
// memberships, paths, runs with their provisioning logs, the event outbox,
// schedules and leases, and API tokens. Ids are numbered across tenants, as
// a database sequence numbers them. It is safe for concurrent use; several
// workers sharing one Memory behave as processes sharing one database.
type Memory struct {
	mu      gosync.Mutex
	now     func() time.Time
	tenants map[string]*tenant
	runs    []*runRecord
	events  []sync.Event
	tokens  map[string]bool // hash → live
	access  access          // token scopes and labels, the audit trail (access.go)
	lastID  struct{ user, group, run, log, event int64 }
	// preloads counts PreloadState's states, preloadsTaken those a
	// transaction's StateFrom took.
	preloads, preloadsTaken int
}

// tenant is one tenant's rows.
type tenant struct {
	id, entraTenantID   string
	settings, overrides []byte // JSON documents, as sync.MergeSettings reads them
	disconnectedAt      *time.Time
	// lock is the tenant's lock (a transaction's, an administration
	// write's): a token in the channel means it is free.
	lock     chan struct{}
	schedule *schedule // nil until the tenant is first claimed, paused or noted
	dir      *directory
	delta    *sync.DeltaState // nil until a cycle saves one
	version  int64            // the directory version (sync.Tenant.DirectoryVersion)
}

// directory is a tenant's users and groups; a transaction works on a copy.
type directory struct {
	users  []sync.User // in id order; Paths sorted, Group.Members unused
	groups []group     // in id order
}

// group is a stored group: its members are user ids, as memberships are.
type group struct {
	sync.Group
	members map[int64]bool
}

type runRecord struct {
	run sync.Run
	log []sync.LogEntry
}

// NewMemory returns an empty directory.
func NewMemory() *Memory {
	return &Memory{now: time.Now, tenants: map[string]*tenant{}, tokens: map[string]bool{}}
}

// ---- sync.Directory ---------------------------------------------------------

// RegisterTenant creates the tenant or updates its Entra tenant id and
// settings (never its overrides). EINVALID for an empty id.
func (m *Memory) RegisterTenant(_ context.Context, t sync.Tenant) error {
	if t.ID == "" {
		return sync.Errorf(sync.EINVALID, "synctest: tenant id is empty")
	}
	settings, err := json.Marshal(t.Settings)
	if err != nil {
		return fmt.Errorf("synctest: encode settings: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tn := m.tenants[t.ID]
	if tn == nil {
		tn = &tenant{id: t.ID, lock: make(chan struct{}, 1), dir: &directory{}}
		tn.lock <- struct{}{}
		m.tenants[t.ID] = tn
	}
	tn.entraTenantID, tn.settings = t.EntraTenantID, settings
	return nil
}

// Begin starts a transaction on tenantID's directory, waiting for the
// tenant's lock until ctx ends. ErrTenantNotFound for an unknown tenant,
// ErrTenantDisconnected for a disconnected one.
func (m *Memory) Begin(ctx context.Context, tenantID string) (sync.Tx, error) {
	tn, err := m.lockTenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := sync.Tenant{ID: tn.id, EntraTenantID: tn.entraTenantID, DirectoryVersion: tn.version}
	if tn.disconnectedAt != nil {
		tn.unlock()
		return nil, fmt.Errorf("synctest: tenant %s: %w", tenantID, sync.ErrTenantDisconnected)
	}
	if st.Settings, err = sync.MergeSettings(tn.settings, tn.overrides); err != nil {
		tn.unlock()
		return nil, fmt.Errorf("synctest: tenant %s settings: %w", tenantID, err)
	}
	for _, r := range m.runs {
		if r.run.TenantID == tenantID && r.run.Outcome == sync.OutcomeHeld && r.run.Review == "" {
			st.PendingHold = true
		}
	}
	return &tx{m: m, tn: tn, tenant: st}, nil
}

var _ sync.StatePreloader = (*Memory)(nil)

// PreloadState is a copy of tenantID's committed directory as a State, its
// version the directory's (sync.StatePreloader); it takes no tenant lock.
func (m *Memory) PreloadState(_ context.Context, tenantID string) (*sync.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tn := m.tenants[tenantID]
	if tn == nil {
		return nil, fmt.Errorf("synctest: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	m.preloads++
	st := &sync.State{Tenant: sync.Tenant{ID: tn.id, EntraTenantID: tn.entraTenantID, DirectoryVersion: tn.version},
		Groups: tn.dir.groupsWithMembers()}
	for _, u := range tn.dir.users {
		if u.Status != sync.StatusPurged {
			st.Users = append(st.Users, cloneUser(u))
		}
	}
	return st, nil
}

// Preloads counts the states PreloadState gave and those a cycle's
// transaction took (StateFrom).
func (m *Memory) Preloads() (given, taken int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.preloads, m.preloadsTaken
}

// DeltaState returns a copy of tenantID's delta state, nil when it has none.
func (m *Memory) DeltaState(_ context.Context, tenantID string) (*sync.DeltaState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tn := m.tenants[tenantID]
	if tn == nil {
		return nil, fmt.Errorf("synctest: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	if tn.delta == nil {
		return nil, nil
	}
	return cloneDelta(tn.delta), nil
}

func cloneDelta(st *sync.DeltaState) *sync.DeltaState {
	c := *st
	c.Links = maps.Clone(st.Links)
	c.Mirror = slices.Clone(st.Mirror)
	c.Summary.Skipped = slices.Clone(st.Summary.Skipped)
	return &c
}

// lockTenant takes tenantID's lock, waiting until ctx ends.
// ErrTenantNotFound for an unknown tenant.
func (m *Memory) lockTenant(ctx context.Context, tenantID string) (*tenant, error) {
	m.mu.Lock()
	tn := m.tenants[tenantID]
	m.mu.Unlock()
	if tn == nil {
		return nil, fmt.Errorf("synctest: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	select {
	case <-tn.lock:
		return tn, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("synctest: lock tenant %s: %w", tenantID, ctx.Err())
	}
}

func (t *tenant) unlock() { t.lock <- struct{}{} }

// RecordRun records a run that applied nothing, setting its id. EINVALID
// for an unknown tenant, as the database's foreign key would say.
func (m *Memory) RecordRun(_ context.Context, run *sync.Run) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tenants[run.TenantID] == nil {
		return sync.Errorf(sync.EINVALID, "synctest: record run: no tenant %q", run.TenantID)
	}
	m.addRun(run, nil)
	return nil
}

// addRun stores a copy of run as the next run, setting run.ID; m.mu is held.
func (m *Memory) addRun(run *sync.Run, log []sync.LogEntry) {
	m.lastID.run++
	run.ID = m.lastID.run
	stored := *run
	if stored.Counts == nil {
		stored.Counts = sync.Counts{}
	}
	for i := range log {
		log[i].RunID = run.ID
	}
	m.runs = append(m.runs, &runRecord{run: stored, log: log})
}

// Users lists a tenant's users in id order, all of them or those with
// status; none for an unknown tenant. EINVALID for an unknown status.
func (m *Memory) Users(_ context.Context, tenantID string, status sync.Status) ([]sync.User, error) {
	if status != "" && !status.Valid() {
		return nil, sync.Errorf(sync.EINVALID, "unknown status %q (want staged, invited, active, archived or purged)", status)
	}
	return m.users(tenantID, func(u *sync.User) bool { return status == "" || u.Status == status }), nil
}

// UsersPage returns the page of tenantID's users q selects (q normalized)
// and how many it selects in all.
func (m *Memory) UsersPage(_ context.Context, tenantID string, q sync.UserQuery) ([]sync.User, int, error) {
	all := m.users(tenantID, func(u *sync.User) bool { return q.Matches(u) })
	lo := min(q.Offset, len(all))
	return all[lo:min(lo+q.Limit, len(all))], len(all), nil
}

// users returns copies of the tenant's users that keep holds.
func (m *Memory) users(tenantID string, keep func(u *sync.User) bool) []sync.User {
	m.mu.Lock()
	defer m.mu.Unlock()
	tn := m.tenants[tenantID]
	if tn == nil {
		return nil
	}
	var out []sync.User
	for i := range tn.dir.users {
		if u := &tn.dir.users[i]; keep(u) {
			out = append(out, cloneUser(*u))
		}
	}
	return out
}

// Groups lists a tenant's groups in id order with their members' Entra ids;
// none for an unknown tenant.
func (m *Memory) Groups(_ context.Context, tenantID string) ([]sync.Group, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tn := m.tenants[tenantID]
	if tn == nil {
		return nil, nil
	}
	return tn.dir.groupsWithMembers(), nil
}

// Runs lists a tenant's runs (all tenants' for ""), newest first, at most
// limit (50 when limit is not positive).
func (m *Memory) Runs(_ context.Context, tenantID string, limit int) ([]sync.Run, error) {
	if limit <= 0 {
		limit = 50
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	runs := []sync.Run{}
	for i := len(m.runs) - 1; i >= 0 && len(runs) < limit; i-- {
		if r := m.runs[i].run; tenantID == "" || r.TenantID == tenantID {
			runs = append(runs, r)
		}
	}
	return runs, nil
}

// Run returns one run and its provisioning log in order; ErrRunNotFound if
// there is no such run.
func (m *Memory) Run(_ context.Context, id int64) (*sync.Run, []sync.LogEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.findRun(id)
	if r == nil {
		return nil, nil, fmt.Errorf("synctest: run %d: %w", id, sync.ErrRunNotFound)
	}
	run := r.run
	return &run, slices.Clone(r.log), nil
}

func (m *Memory) findRun(id int64) *runRecord {
	for _, r := range m.runs {
		if r.run.ID == id {
			return r
		}
	}
	return nil
}

// Events lists a tenant's events with an id above after, oldest first, at
// most limit (100 when limit is not positive).
func (m *Memory) Events(_ context.Context, tenantID string, after int64, limit int) ([]sync.Event, error) {
	if limit <= 0 {
		limit = 100
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var evs []sync.Event
	for _, e := range m.events {
		if e.TenantID == tenantID && e.ID > after && len(evs) < limit {
			evs = append(evs, e)
		}
	}
	return evs, nil
}

// addEvent queues e for the tenant, setting its id and time; m.mu is held.
func (m *Memory) addEvent(e sync.Event) {
	m.lastID.event++
	e.ID, e.CreatedAt = m.lastID.event, m.now().UTC()
	if e.Data == nil {
		e.Data = map[string]string{}
	}
	m.events = append(m.events, e)
}

// Ping reports that the directory answers: always.
func (m *Memory) Ping(context.Context) error { return nil }

// Close does nothing; the directory stays readable.
func (m *Memory) Close() error { return nil }

// ---- the rows of one tenant ---------------------------------------------------

func (d *directory) clone() *directory {
	c := &directory{users: make([]sync.User, len(d.users)), groups: make([]group, len(d.groups))}
	for i, u := range d.users {
		c.users[i] = cloneUser(u)
	}
	for i, g := range d.groups {
		c.groups[i] = group{Group: cloneGroup(g.Group), members: make(map[int64]bool, len(g.members))}
		for id := range g.members {
			c.groups[i].members[id] = true
		}
	}
	return c
}

// user returns the user with local id id, or nil.
func (d *directory) user(id int64) *sync.User {
	for i := range d.users {
		if d.users[i].ID == id {
			return &d.users[i]
		}
	}
	return nil
}

// liveUser returns the user that is not purged and has Entra id entraID.
func (d *directory) liveUser(entraID string) *sync.User {
	for i := range d.users {
		if u := &d.users[i]; u.EntraID == entraID && u.Status != sync.StatusPurged {
			return u
		}
	}
	return nil
}

func (d *directory) group(id int64) *group {
	for i := range d.groups {
		if d.groups[i].ID == id {
			return &d.groups[i]
		}
	}
	return nil
}

// groupsWithMembers returns copies of the groups, each with the sorted
// Entra ids of its members.
func (d *directory) groupsWithMembers() []sync.Group {
	entraIDs := make(map[int64]string, len(d.users))
	for _, u := range d.users {
		entraIDs[u.ID] = u.EntraID
	}
	var out []sync.Group
	for _, g := range d.groups {
		c := cloneGroup(g.Group)
		c.Members = nil
		for id := range g.members {
			if e := entraIDs[id]; e != "" {
				c.Members = append(c.Members, e)
			}
		}
		slices.Sort(c.Members)
		out = append(out, c)
	}
	return out
}

// removeUserMemberships drops every membership of user id.
func (d *directory) removeUserMemberships(id int64) {
	for i := range d.groups {
		delete(d.groups[i].members, id)
	}
}

// checkUnique enforces what the database's unique indexes do: per tenant,
// one live user per e-mail key and per Entra object id, one group per Entra
// object id. ECONFLICT names the index.
func (d *directory) checkUnique() error {
	emails, entra, groups := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, u := range d.users {
		if u.Status == sync.StatusPurged {
			continue
		}
		if k := sync.EmailKey(u.Email); k != "" {
			if emails[k] {
				return sync.Errorf(sync.ECONFLICT, "synctest: unique constraint users_email_unique violated: e-mail %q", u.Email)
			}
			emails[k] = true
		}
		if u.EntraID != "" {
			if entra[u.EntraID] {
				return sync.Errorf(sync.ECONFLICT, "synctest: unique constraint users_entra_id violated: %s", u.EntraID)
			}
			entra[u.EntraID] = true
		}
	}
	for _, g := range d.groups {
		if g.EntraID != "" {
			if groups[g.EntraID] {
				return sync.Errorf(sync.ECONFLICT, "synctest: unique constraint groups_entra_id violated: %s", g.EntraID)
			}
			groups[g.EntraID] = true
		}
	}
	return nil
}

func cloneUser(u sync.User) sync.User {
	u.Paths = slices.Clone(u.Paths)
	u.ArchivedAt = cloneTime(u.ArchivedAt)
	u.RequireMobileAuth = cloneBool(u.RequireMobileAuth)
	return u
}

func cloneGroup(g sync.Group) sync.Group {
	g.Members = slices.Clone(g.Members)
	g.ArchivedAt = cloneTime(g.ArchivedAt)
	g.MembersMayStoreData = cloneBool(g.MembersMayStoreData)
	g.RequireMobileAuth = cloneBool(g.RequireMobileAuth)
	return g
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := t.UTC()
	return &c
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	c := *b
	return &c
}

// equalFoldKey reports whether s, lower-cased, is key.
func equalFoldKey(s, key string) bool { return key != "" && strings.ToLower(s) == key }
