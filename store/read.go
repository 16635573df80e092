package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/entrasync/entrasync/sync"
)

const userColumns = `id, entra_id, origin, user_principal_name, mail, email, display_name, given_name, surname,
	account_enabled, status, previous_status, archived_at, archive_reason, require_mobile_auth`

type userRow struct {
	ID                int64          `db:"id"`
	EntraID           sql.NullString `db:"entra_id"`
	Origin            string         `db:"origin"`
	UserPrincipalName string         `db:"user_principal_name"`
	Mail              string         `db:"mail"`
	Email             string         `db:"email"`
	DisplayName       string         `db:"display_name"`
	GivenName         string         `db:"given_name"`
	Surname           string         `db:"surname"`
	AccountEnabled    bool           `db:"account_enabled"`
	Status            string         `db:"status"`
	PreviousStatus    string         `db:"previous_status"`
	ArchivedAt        Time           `db:"archived_at"`
	ArchiveReason     string         `db:"archive_reason"`
	RequireMobileAuth sql.NullBool   `db:"require_mobile_auth"`
}

func (r *userRow) user() sync.User {
	return sync.User{ID: r.ID, EntraID: r.EntraID.String, Origin: sync.Origin(r.Origin),
		UserPrincipalName: r.UserPrincipalName, Mail: r.Mail, Email: r.Email, DisplayName: r.DisplayName,
		GivenName: r.GivenName, Surname: r.Surname, AccountEnabled: r.AccountEnabled,
		Status: sync.Status(r.Status), PreviousStatus: sync.Status(r.PreviousStatus), ArchivedAt: r.ArchivedAt.Ptr(),
		ArchiveReason: r.ArchiveReason, RequireMobileAuth: boolPtr(r.RequireMobileAuth)}
}

const groupColumns = `id, entra_id, origin, display_name, archived_at, archive_reason, members_may_store_data, require_mobile_auth`

type groupRow struct {
	ID                  int64          `db:"id"`
	EntraID             sql.NullString `db:"entra_id"`
	Origin              string         `db:"origin"`
	DisplayName         string         `db:"display_name"`
	ArchivedAt          Time           `db:"archived_at"`
	ArchiveReason       string         `db:"archive_reason"`
	MembersMayStoreData sql.NullBool   `db:"members_may_store_data"`
	RequireMobileAuth   sql.NullBool   `db:"require_mobile_auth"`
}

func (r *groupRow) group() sync.Group {
	return sync.Group{ID: r.ID, EntraID: r.EntraID.String, Origin: sync.Origin(r.Origin), DisplayName: r.DisplayName,
		ArchivedAt: r.ArchivedAt.Ptr(), ArchiveReason: r.ArchiveReason,
		MembersMayStoreData: boolPtr(r.MembersMayStoreData), RequireMobileAuth: boolPtr(r.RequireMobileAuth)}
}

func boolPtr(b sql.NullBool) *bool {
	if !b.Valid {
		return nil
	}
	v := b.Bool
	return &v
}

// LoadState loads the tenant's users (purged tombstones excepted), their
// paths, the groups and their provisioned members, in a handful of queries
// on q (the cycle's transaction).
func (s *DB) LoadState(ctx context.Context, q sqlx.QueryerContext, tenant sync.Tenant) (*sync.State, error) {
	users, err := s.loadUsers(ctx, q, tenant.ID, "status <> 'purged'")
	if err != nil {
		return nil, err
	}
	groups, err := s.loadGroups(ctx, q, tenant.ID)
	if err != nil {
		return nil, err
	}
	return &sync.State{Tenant: tenant, Users: users, Groups: groups}, nil
}

// scopeChunk is how many ids one statement of a scoped load names: each
// statement costs more than its ids (a few thousand are found in about the
// time of a few hundred), and it stays below SQLite's 32,766 parameters.
const scopeChunk = 5000

// LoadStateOf loads the part of the tenant's directory scope names, for a
// scoped plan (sync.ScopedTx): the users with its Entra ids or e-mail keys
// or as local members of scope.MembersOf (purged tombstones excepted) with
// their paths, and every group with its members among those users (all the
// members of scope.Groups). Each statement finds its rows by index.
func (s *DB) LoadStateOf(ctx context.Context, q sqlx.QueryerContext, tenant sync.Tenant, scope sync.StateScope) (*sync.State, error) {
	st := &sync.State{Tenant: tenant, Partial: true}
	loaded := map[int64]bool{}
	for _, by := range []struct {
		cond    string
		vals    []string
		ofGroup bool // cond names the tenant's groups first
	}{{"entra_id IN (?)", scope.EntraIDs, false}, {"email_key IN (?)", scope.EmailKeys, false},
		{"id IN (SELECT m.user_id FROM memberships m JOIN groups g ON g.id = m.group_id WHERE g.tenant_id = ? AND g.entra_id IN (?))",
			scope.MembersOf, true}} {
		err := inChunksOf(scopeChunk, by.vals, func(part []string) error {
			args := []any{part}
			if by.ofGroup {
				args = []any{tenant.ID, part}
			}
			// purged_at IS NULL as the Entra id's (partial) index has it.
			where, args, err := sqlx.In("purged_at IS NULL AND status <> 'purged' AND "+by.cond, args...)
			if err != nil {
				return fmt.Errorf("store: load users: %w", err)
			}
			users, err := s.loadUsersOnly(ctx, q, tenant.ID, where, "", true, args...)
			for _, u := range users {
				if !loaded[u.ID] {
					loaded[u.ID] = true
					st.Users = append(st.Users, u)
				}
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	st.Provisioned = map[string]bool{}
	err := inChunksOf(scopeChunk, scope.PassedOver, func(part []string) error {
		query, args, err := sqlx.In(`SELECT entra_id FROM users WHERE tenant_id = ? AND purged_at IS NULL AND status <> 'purged'
			AND origin = 'provisioned' AND entra_id IN (?)`, tenant.ID, part)
		if err != nil {
			return fmt.Errorf("store: load users: %w", err)
		}
		var ids []string
		if err := sqlx.SelectContext(ctx, q, &ids, s.q(query), args...); err != nil {
			return fmt.Errorf("store: load users: %w", s.d.Translate(err))
		}
		for _, id := range ids {
			st.Provisioned[id] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	groups, index, err := s.groupRows(ctx, q, tenant.ID)
	if err != nil {
		return nil, err
	}
	members := map[int64]map[string]bool{}
	add := func(rows *sql.Rows, err error) error {
		if err != nil {
			return fmt.Errorf("store: load memberships: %w", s.d.Translate(err))
		}
		return s.attachRows(rows, index, func(i int, v string) {
			id := groups[i].ID
			if members[id] == nil {
				members[id] = map[string]bool{}
			}
			members[id][v] = true
		}, "membership")
	}
	const membersOf = `SELECT m.group_id, u.entra_id FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE u.entra_id IS NOT NULL AND `
	err = inChunksOf(scopeChunk, scope.Groups, func(part []string) error {
		query, args, err := sqlx.In(membersOf+`m.group_id IN (SELECT id FROM groups WHERE tenant_id = ? AND entra_id IN (?))`,
			tenant.ID, part)
		if err != nil {
			return fmt.Errorf("store: load memberships: %w", err)
		}
		return add(q.QueryContext(ctx, s.q(query), args...))
	})
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(st.Users))
	for _, u := range st.Users {
		ids = append(ids, u.ID)
	}
	err = inChunksOf(scopeChunk, ids, func(part []int64) error {
		// By the users' ids alone (they are the tenant's): the index on
		// user_id finds them even before the table has statistics.
		query, args, err := sqlx.In(membersOf+`m.user_id IN (?)`, part)
		if err != nil {
			return fmt.Errorf("store: load memberships: %w", err)
		}
		return add(q.QueryContext(ctx, s.q(query), args...))
	})
	if err != nil {
		return nil, err
	}
	for i := range groups {
		for m := range members[groups[i].ID] {
			groups[i].Members = append(groups[i].Members, m)
		}
		slices.Sort(groups[i].Members)
	}
	st.Groups = groups
	return st, nil
}

// LoadTotals counts the tenant's live provisioned users and groups and
// those groups' memberships (of users with an Entra id), as the archive
// guard counts them in a whole State.
func (s *DB) LoadTotals(ctx context.Context, q sqlx.QueryerContext, tenantID string) (sync.Totals, error) {
	var t sync.Totals
	err := q.QueryRowxContext(ctx, s.q(`SELECT
		(SELECT count(*) FROM users WHERE tenant_id = ? AND origin = 'provisioned' AND status NOT IN ('archived', 'purged')),
		(SELECT count(*) FROM groups WHERE tenant_id = ? AND origin = 'provisioned' AND archived_at IS NULL),
		(SELECT count(*) FROM memberships WHERE tenant_id = ?
			AND group_id IN (SELECT id FROM groups WHERE tenant_id = ? AND origin = 'provisioned' AND archived_at IS NULL)
			AND user_id NOT IN (SELECT id FROM users WHERE tenant_id = ? AND entra_id IS NULL))`),
		tenantID, tenantID, tenantID, tenantID, tenantID).Scan(&t.Users, &t.Groups, &t.Memberships)
	if err != nil {
		return t, fmt.Errorf("store: count the directory: %w", s.d.Translate(err))
	}
	return t, nil
}

// loadUsers reads the tenant's users that match where (a condition with ?
// placeholders for args) with their paths, in id order.
func (s *DB) loadUsers(ctx context.Context, q sqlx.QueryerContext, tenantID, where string, args ...any) ([]sync.User, error) {
	return s.loadUsersPage(ctx, q, tenantID, where, "", args...)
}

// loadUsersPage is loadUsers with page appended to the query (LIMIT …
// OFFSET …, its arguments last in args); the paths read are those of the
// users of the page only.
func (s *DB) loadUsersPage(ctx context.Context, q sqlx.QueryerContext, tenantID, where, page string, args ...any) ([]sync.User, error) {
	return s.loadUsersOnly(ctx, q, tenantID, where, page, page != "", args...)
}

// loadUsersOnly is loadUsersPage; only, or a page, reads the paths of the
// users read only (else all the tenant's, in one scan).
func (s *DB) loadUsersOnly(ctx context.Context, q sqlx.QueryerContext, tenantID, where, page string, only bool, args ...any) ([]sync.User, error) {
	rows, err := q.QueryxContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE tenant_id = ? AND `+where+` ORDER BY id`+page),
		append([]any{tenantID}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("store: load users: %w", s.d.Translate(err))
	}
	defer rows.Close()
	var users []sync.User
	index := map[int64]int{}
	for rows.Next() {
		var r userRow
		if err := rows.StructScan(&r); err != nil {
			return nil, fmt.Errorf("store: scan user: %w", err)
		}
		index[r.ID] = len(users)
		users = append(users, r.user())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load users: %w", s.d.Translate(err))
	}
	pathsQuery, pathArgs := `SELECT user_id, path FROM user_paths WHERE tenant_id = ? ORDER BY user_id, path`, []any{tenantID}
	if only {
		if len(users) == 0 {
			return users, nil
		}
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(users)), ", ")
		// By the users' ids alone (they are the tenant's), so that the
		// primary key finds them even before the table has statistics.
		pathsQuery, pathArgs = `SELECT user_id, path FROM user_paths WHERE user_id IN (`+marks+`) ORDER BY user_id, path`, nil
		for _, u := range users {
			pathArgs = append(pathArgs, u.ID)
		}
	}
	prow, err := q.QueryContext(ctx, s.q(pathsQuery), pathArgs...)
	if err != nil {
		return nil, fmt.Errorf("store: load paths: %w", s.d.Translate(err))
	}
	if err := s.attachRows(prow, index, func(i int, v string) { users[i].Paths = append(users[i].Paths, v) }, "path"); err != nil {
		return nil, err
	}
	return users, nil
}

// loadGroups reads the tenant's groups with their provisioned members.
func (s *DB) loadGroups(ctx context.Context, q sqlx.QueryerContext, tenantID string) ([]sync.Group, error) {
	groups, index, err := s.groupRows(ctx, q, tenantID)
	if err != nil {
		return nil, err
	}
	mrows, err := q.QueryContext(ctx, s.q(`SELECT m.group_id, u.entra_id FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.tenant_id = ? AND u.entra_id IS NOT NULL ORDER BY m.group_id, u.entra_id`), tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: load memberships: %w", s.d.Translate(err))
	}
	if err := s.attachRows(mrows, index, func(i int, v string) { groups[i].Members = append(groups[i].Members, v) }, "membership"); err != nil {
		return nil, err
	}
	return groups, nil
}

// groupRows reads the tenant's groups without members, with their index
// by local id.
func (s *DB) groupRows(ctx context.Context, q sqlx.QueryerContext, tenantID string) ([]sync.Group, map[int64]int, error) {
	rows, err := q.QueryxContext(ctx, s.q(`SELECT `+groupColumns+` FROM groups WHERE tenant_id = ? ORDER BY id`), tenantID)
	if err != nil {
		return nil, nil, fmt.Errorf("store: load groups: %w", s.d.Translate(err))
	}
	defer rows.Close()
	var groups []sync.Group
	index := map[int64]int{}
	for rows.Next() {
		var r groupRow
		if err := rows.StructScan(&r); err != nil {
			return nil, nil, fmt.Errorf("store: scan group: %w", err)
		}
		index[r.ID] = len(groups)
		groups = append(groups, r.group())
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("store: load groups: %w", s.d.Translate(err))
	}
	return groups, index, nil
}

// attachRows reads (owner id, value) rows, such as a user's paths or a
// group's members, and hands each value to add with the index of its owner;
// rows whose owner is not in index are passed over. what names the rows in
// errors ("path", "membership").
func (s *DB) attachRows(rows *sql.Rows, index map[int64]int, add func(i int, v string), what string) error {
	defer rows.Close()
	for rows.Next() {
		var id int64
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			return fmt.Errorf("store: scan %s: %w", what, err)
		}
		if i, ok := index[id]; ok {
			add(i, v)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: load %ss: %w", what, s.d.Translate(err))
	}
	return nil
}

// Users lists a tenant's users, all of them or those with status.
// EINVALID for an unknown status.
func (s *DB) Users(ctx context.Context, tenantID string, status sync.Status) ([]sync.User, error) {
	if status != "" && !status.Valid() {
		return nil, sync.Errorf(sync.EINVALID, "unknown status %q (want staged, invited, active, archived or purged)", status)
	}
	if status == "" {
		return s.loadUsers(ctx, s.x, tenantID, "1 = 1")
	}
	return s.loadUsers(ctx, s.x, tenantID, "status = ?", string(status))
}

// UsersPage returns the page of tenantID's users q selects (q
// normalized: sync.UserQuery), filtered and paged in the query, and how many
// q selects in all.
func (s *DB) UsersPage(ctx context.Context, tenantID string, q sync.UserQuery) ([]sync.User, int, error) {
	where, args := []string{"1 = 1"}, []any{}
	if q.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(q.Status))
	}
	if q.Text != "" {
		like := "%" + likeEscaper.Replace(strings.ToLower(q.Text)) + "%"
		where = append(where, `(lower(email) LIKE ? ESCAPE '\' OR lower(user_principal_name) LIKE ? ESCAPE '\'
			OR lower(display_name) LIKE ? ESCAPE '\' OR lower(entra_id) LIKE ? ESCAPE '\' OR CAST(id AS TEXT) = ?)`)
		args = append(args, like, like, like, like, q.Text)
	}
	cond := strings.Join(where, " AND ")
	var total int
	if err := s.x.GetContext(ctx, &total, s.q(`SELECT count(*) FROM users WHERE tenant_id = ? AND `+cond), append([]any{tenantID}, args...)...); err != nil {
		return nil, 0, fmt.Errorf("store: count users: %w", s.d.Translate(err))
	}
	users, err := s.loadUsersPage(ctx, s.x, tenantID, cond, " LIMIT ? OFFSET ?", append(args, q.Limit, q.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	return users, total, nil
}

// Groups lists a tenant's groups with their provisioned members.
func (s *DB) Groups(ctx context.Context, tenantID string) ([]sync.Group, error) {
	return s.loadGroups(ctx, s.x, tenantID)
}

const runColumns = `id, tenant_id, trigger, started_at, finished_at, outcome, counts, conflicts, graph_requests,
	read_ms, apply_ms, error, round_trips, lower_bound, plan_ms, throttle_wait_ms, held, review, reviewed_at,
	reviewed_by, skipped, mode, full_reason, critical_path`

type runRow struct {
	ID            int64  `db:"id"`
	TenantID      string `db:"tenant_id"`
	Trigger       string `db:"trigger"`
	StartedAt     Time   `db:"started_at"`
	FinishedAt    Time   `db:"finished_at"`
	Outcome       string `db:"outcome"`
	Counts        Text   `db:"counts"`
	Conflicts     Text   `db:"conflicts"`
	GraphRequests int    `db:"graph_requests"`
	ReadMillis    int64  `db:"read_ms"`
	ApplyMillis   int64  `db:"apply_ms"`
	Error         string `db:"error"`
	RoundTrips    int    `db:"round_trips"`
	LowerBound    int    `db:"lower_bound"`
	PlanMillis    int64  `db:"plan_ms"`
	ThrottleMs    int64  `db:"throttle_wait_ms"`
	Held          int    `db:"held"`
	Review        string `db:"review"`
	ReviewedAt    Time   `db:"reviewed_at"`
	ReviewedBy    string `db:"reviewed_by"`
	Skipped       Text   `db:"skipped"`
	Mode          string `db:"mode"`
	FullReason    string `db:"full_reason"`
	CriticalPath  int    `db:"critical_path"`
}

func (r *runRow) run() (sync.Run, error) {
	run := sync.Run{ID: r.ID, TenantID: r.TenantID, Trigger: r.Trigger, StartedAt: r.StartedAt.Time, FinishedAt: r.FinishedAt.Time,
		Outcome: sync.Outcome(r.Outcome), GraphRequests: r.GraphRequests, ReadMillis: r.ReadMillis, ApplyMillis: r.ApplyMillis,
		Error: r.Error, RoundTrips: r.RoundTrips, LowerBound: r.LowerBound, PlanMillis: r.PlanMillis, ThrottleMs: r.ThrottleMs,
		Held: r.Held, Review: r.Review, ReviewedAt: r.ReviewedAt.Ptr(), ReviewedBy: r.ReviewedBy,
		Mode: r.Mode, FullReason: r.FullReason, CriticalPath: r.CriticalPath}
	if err := json.Unmarshal(r.Counts, &run.Counts); err != nil {
		return run, fmt.Errorf("store: run %d counts: %w", r.ID, err)
	}
	if err := json.Unmarshal(r.Conflicts, &run.Conflicts); err != nil {
		return run, fmt.Errorf("store: run %d conflicts: %w", r.ID, err)
	}
	if err := json.Unmarshal(r.Skipped, &run.Skipped); err != nil {
		return run, fmt.Errorf("store: run %d skipped: %w", r.ID, err)
	}
	if len(run.Skipped) == 0 {
		run.Skipped = nil
	}
	return run, nil
}

// Runs lists runs newest first, of one tenant or of all for "".
func (s *DB) Runs(ctx context.Context, tenantID string, limit int) ([]sync.Run, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.x.QueryxContext(ctx, s.q(`SELECT `+runColumns+` FROM runs WHERE (? = '' OR tenant_id = ?)
		ORDER BY id DESC LIMIT ?`), tenantID, tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list runs: %w", s.d.Translate(err))
	}
	defer rows.Close()
	runs := []sync.Run{}
	for rows.Next() {
		var r runRow
		if err := rows.StructScan(&r); err != nil {
			return nil, fmt.Errorf("store: scan run: %w", err)
		}
		run, err := r.run()
		if err != nil {
			return nil, err
		}
		runs = append(runs, run)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list runs: %w", s.d.Translate(err))
	}
	return runs, nil
}

type logRow struct {
	ID           int64  `db:"id"`
	RunID        int64  `db:"run_id"`
	Status       string `db:"status"`
	Action       string `db:"action"`
	Entity       string `db:"entity"`
	EntraID      string `db:"entra_id"`
	GroupEntraID string `db:"group_entra_id"`
	Label        string `db:"label"`
	Reason       string `db:"reason"`
	Fields       Text   `db:"fields"`
}

// Run returns one run and its provisioning log in order; ErrRunNotFound if
// there is no such run.
func (s *DB) Run(ctx context.Context, id int64) (*sync.Run, []sync.LogEntry, error) {
	var r runRow
	err := s.x.GetContext(ctx, &r, s.q(`SELECT `+runColumns+` FROM runs WHERE id = ?`), id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("store: run %d: %w", id, sync.ErrRunNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: get run %d: %w", id, s.d.Translate(err))
	}
	run, err := r.run()
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.x.QueryxContext(ctx, s.q(`SELECT id, run_id, status, action, entity, entra_id, group_entra_id, label, reason, fields
		FROM provisioning_log WHERE run_id = ? ORDER BY id`), id)
	if err != nil {
		return nil, nil, fmt.Errorf("store: run %d log: %w", id, s.d.Translate(err))
	}
	defer rows.Close()
	var log []sync.LogEntry
	for rows.Next() {
		var l logRow
		if err := rows.StructScan(&l); err != nil {
			return nil, nil, fmt.Errorf("store: scan log entry: %w", err)
		}
		e, err := l.entry()
		if err != nil {
			return nil, nil, err
		}
		log = append(log, e)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("store: run %d log: %w", id, s.d.Translate(err))
	}
	return &run, log, nil
}

type eventRow struct {
	ID           int64  `db:"id"`
	TenantID     string `db:"tenant_id"`
	RunID        int64  `db:"run_id"`
	Type         string `db:"type"`
	EntraID      string `db:"entra_id"`
	GroupEntraID string `db:"group_entra_id"`
	Data         Text   `db:"data"`
	CreatedAt    Time   `db:"created_at"`
}

// Events lists a tenant's events with an id above after, oldest first.
func (s *DB) Events(ctx context.Context, tenantID string, after int64, limit int) ([]sync.Event, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.x.QueryxContext(ctx, s.q(`SELECT id, tenant_id, COALESCE(run_id, 0) AS run_id, type, entra_id, group_entra_id,
		data, created_at FROM events WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`), tenantID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list events: %w", s.d.Translate(err))
	}
	defer rows.Close()
	var evs []sync.Event
	for rows.Next() {
		var r eventRow
		if err := rows.StructScan(&r); err != nil {
			return nil, fmt.Errorf("store: scan event: %w", err)
		}
		e := sync.Event{ID: r.ID, TenantID: r.TenantID, RunID: r.RunID, Type: r.Type, EntraID: r.EntraID,
			GroupEntraID: r.GroupEntraID, CreatedAt: r.CreatedAt.Time}
		if err := json.Unmarshal(r.Data, &e.Data); err != nil {
			return nil, fmt.Errorf("store: event %d data: %w", e.ID, err)
		}
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list events: %w", s.d.Translate(err))
	}
	return evs, nil
}
