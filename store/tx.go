package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/entrasync/entrasync/sync"
)

type pgTx struct {
	tx     *sqlx.Tx
	tenant sync.Tenant
	done   bool
	// Local ids by Entra id, from the state this transaction loaded and the
	// rows it created: Apply resolves memberships and paths with them.
	userIDs, groupIDs map[string]int64
}

func (t *pgTx) Commit() error {
	t.done = true
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", translate(err))
	}
	return nil
}

func (t *pgTx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	return t.tx.Rollback()
}

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
	ArchivedAt        sql.NullTime   `db:"archived_at"`
	ArchiveReason     string         `db:"archive_reason"`
	RequireMobileAuth sql.NullBool   `db:"require_mobile_auth"`
}

func (r *userRow) user() sync.User {
	u := sync.User{ID: r.ID, EntraID: r.EntraID.String, Origin: sync.Origin(r.Origin),
		UserPrincipalName: r.UserPrincipalName, Mail: r.Mail, Email: r.Email, DisplayName: r.DisplayName,
		GivenName: r.GivenName, Surname: r.Surname, AccountEnabled: r.AccountEnabled,
		Status: sync.Status(r.Status), PreviousStatus: sync.Status(r.PreviousStatus), ArchiveReason: r.ArchiveReason}
	if r.ArchivedAt.Valid {
		t := r.ArchivedAt.Time.UTC()
		u.ArchivedAt = &t
	}
	if r.RequireMobileAuth.Valid {
		v := r.RequireMobileAuth.Bool
		u.RequireMobileAuth = &v
	}
	return u
}

const groupColumns = `id, entra_id, origin, display_name, archived_at, archive_reason, members_may_store_data, require_mobile_auth`

type groupRow struct {
	ID                  int64          `db:"id"`
	EntraID             sql.NullString `db:"entra_id"`
	Origin              string         `db:"origin"`
	DisplayName         string         `db:"display_name"`
	ArchivedAt          sql.NullTime   `db:"archived_at"`
	ArchiveReason       string         `db:"archive_reason"`
	MembersMayStoreData sql.NullBool   `db:"members_may_store_data"`
	RequireMobileAuth   sql.NullBool   `db:"require_mobile_auth"`
}

func (r *groupRow) group() sync.Group {
	g := sync.Group{ID: r.ID, EntraID: r.EntraID.String, Origin: sync.Origin(r.Origin), DisplayName: r.DisplayName,
		ArchiveReason: r.ArchiveReason}
	if r.ArchivedAt.Valid {
		t := r.ArchivedAt.Time.UTC()
		g.ArchivedAt = &t
	}
	if r.MembersMayStoreData.Valid {
		v := r.MembersMayStoreData.Bool
		g.MembersMayStoreData = &v
	}
	if r.RequireMobileAuth.Valid {
		v := r.RequireMobileAuth.Bool
		g.RequireMobileAuth = &v
	}
	return g
}

// State loads the tenant's users (purged tombstones excepted), their paths,
// the groups and their provisioned members, in a handful of queries.
func (t *pgTx) State(ctx context.Context) (*sync.State, error) {
	st := &sync.State{Tenant: t.tenant}
	users, err := loadUsers(ctx, t.tx, t.tenant.ID, "status <> 'purged'")
	if err != nil {
		return nil, err
	}
	st.Users = users
	groups, err := loadGroups(ctx, t.tx, t.tenant.ID)
	if err != nil {
		return nil, err
	}
	st.Groups = groups
	t.userIDs = make(map[string]int64, len(users))
	for _, u := range users {
		if u.EntraID != "" {
			t.userIDs[u.EntraID] = u.ID
		}
	}
	t.groupIDs = make(map[string]int64, len(groups))
	for _, g := range groups {
		if g.EntraID != "" {
			t.groupIDs[g.EntraID] = g.ID
		}
	}
	return st, nil
}

func loadUsers(ctx context.Context, q sqlx.QueryerContext, tenantID, where string, args ...any) ([]sync.User, error) {
	rows, err := q.QueryxContext(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND `+where+` ORDER BY id`,
		append([]any{tenantID}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("store: load users: %w", err)
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
		return nil, fmt.Errorf("store: load users: %w", err)
	}
	prow, err := q.QueryContext(ctx, `SELECT user_id, path FROM user_paths WHERE tenant_id = $1 ORDER BY user_id, path`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: load paths: %w", err)
	}
	if err := attachRows(prow, index, func(i int, v string) { users[i].Paths = append(users[i].Paths, v) }, "path", noWrap); err != nil {
		return nil, err
	}
	return users, nil
}

func loadGroups(ctx context.Context, q sqlx.QueryerContext, tenantID string) ([]sync.Group, error) {
	rows, err := q.QueryxContext(ctx, `SELECT `+groupColumns+` FROM groups WHERE tenant_id = $1 ORDER BY id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: load groups: %w", err)
	}
	defer rows.Close()
	var groups []sync.Group
	index := map[int64]int{}
	for rows.Next() {
		var r groupRow
		if err := rows.StructScan(&r); err != nil {
			return nil, fmt.Errorf("store: scan group: %w", err)
		}
		index[r.ID] = len(groups)
		groups = append(groups, r.group())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load groups: %w", err)
	}
	mrows, err := q.QueryContext(ctx, `SELECT m.group_id, u.entra_id FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.tenant_id = $1 AND u.entra_id IS NOT NULL ORDER BY m.group_id, u.entra_id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: load memberships: %w", err)
	}
	if err := attachRows(mrows, index, func(i int, v string) { groups[i].Members = append(groups[i].Members, v) }, "membership", noWrap); err != nil {
		return nil, err
	}
	return groups, nil
}

// Apply writes the run, the plan's changes, the provisioning log and the
// events with one bulk statement per kind of write.
func (t *pgTx) Apply(ctx context.Context, run *sync.Run, plan *sync.Plan, events []sync.Event) error {
	if t.userIDs == nil {
		return sync.Errorf(sync.EINTERNAL, "store: Apply before State")
	}
	start := time.Now()
	steps := []func(context.Context, *sync.Plan) error{t.applyUsers, t.applyGroups, t.applyMemberships}
	for _, step := range steps {
		if err := step(ctx, plan); err != nil {
			return err
		}
	}
	run.ApplyMillis = time.Since(start).Milliseconds()
	run.FinishedAt = time.Now().UTC()
	if err := insertRun(ctx, t.tx, run); err != nil {
		return err
	}
	if err := t.writeLog(ctx, run.ID, plan); err != nil {
		return err
	}
	if err := t.writeEvents(ctx, run.ID, events); err != nil {
		return err
	}
	// The apply time covers the audit writes too; the run row needed its id
	// first, so it is finished here.
	run.ApplyMillis = time.Since(start).Milliseconds()
	run.FinishedAt = time.Now().UTC()
	if _, err := t.tx.ExecContext(ctx, `UPDATE runs SET apply_ms = $2, finished_at = $3 WHERE id = $1`,
		run.ID, run.ApplyMillis, run.FinishedAt); err != nil {
		return fmt.Errorf("store: finish run %d: %w", run.ID, translate(err))
	}
	return nil
}

type userCols struct {
	id, entra, origin, upn, mail, email, key, display, given, surname, status, prev, archivedAt, reason []string
	ids                                                                                                 []int64
	enabled                                                                                             []bool
}

func (c *userCols) add(id int64, u *sync.User) {
	c.ids = append(c.ids, id)
	c.entra = append(c.entra, u.EntraID)
	c.origin = append(c.origin, string(u.Origin))
	c.upn = append(c.upn, u.UserPrincipalName)
	c.mail = append(c.mail, u.Mail)
	c.email = append(c.email, u.Email)
	c.key = append(c.key, sync.EmailKey(u.Email))
	c.display = append(c.display, u.DisplayName)
	c.given = append(c.given, u.GivenName)
	c.surname = append(c.surname, u.Surname)
	c.enabled = append(c.enabled, u.AccountEnabled)
	c.status = append(c.status, string(u.Status))
	c.prev = append(c.prev, string(u.PreviousStatus))
	at := ""
	if u.ArchivedAt != nil {
		at = u.ArchivedAt.UTC().Format(time.RFC3339Nano)
	}
	c.archivedAt = append(c.archivedAt, at)
	c.reason = append(c.reason, u.ArchiveReason)
}

func (t *pgTx) applyUsers(ctx context.Context, plan *sync.Plan) error {
	var creates, updates userCols
	var rewrite []int64 // local ids of updated users whose paths are rewritten
	type pathRow struct {
		entra string
		path  string
	}
	var paths []pathRow
	for _, ch := range plan.Changes {
		if ch.Entity != sync.EntityUser {
			continue
		}
		if ch.Action == sync.ActionCreate {
			creates.add(0, ch.After)
		} else {
			updates.add(ch.Before.ID, ch.After)
			if !slices.Equal(ch.Before.Paths, ch.After.Paths) {
				rewrite = append(rewrite, ch.Before.ID)
			} else {
				continue
			}
		}
		for _, p := range ch.After.Paths {
			paths = append(paths, pathRow{ch.EntraID, p})
		}
	}
	tid := t.tenant.ID
	if len(creates.entra) > 0 {
		rows, err := t.tx.QueryContext(ctx, `INSERT INTO users (tenant_id, entra_id, origin, user_principal_name, mail, email,
			email_key, display_name, given_name, surname, account_enabled, status)
			SELECT $1, v.* FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
				$9::text[], $10::text[], $11::boolean[], $12::text[])
				AS v(entra_id, origin, upn, mail, email, email_key, display_name, given_name, surname, enabled, status)
			RETURNING id, entra_id`,
			tid, pq.Array(creates.entra), pq.Array(creates.origin), pq.Array(creates.upn), pq.Array(creates.mail),
			pq.Array(creates.email), pq.Array(nullIfEmpty(creates.key)), pq.Array(creates.display), pq.Array(creates.given),
			pq.Array(creates.surname), pq.Array(creates.enabled), pq.Array(creates.status))
		if err != nil {
			return fmt.Errorf("store: create %d users: %w", len(creates.entra), translate(err))
		}
		if err := t.collectIDs(rows, t.userIDs); err != nil {
			return fmt.Errorf("store: create %d users: %w", len(creates.entra), translate(err))
		}
	}
	if len(updates.ids) > 0 {
		res, err := t.tx.ExecContext(ctx, `UPDATE users u SET entra_id = v.entra_id, origin = v.origin,
			user_principal_name = v.upn, mail = v.mail, email = v.email, email_key = NULLIF(v.email_key, ''),
			display_name = v.display_name, given_name = v.given_name, surname = v.surname, account_enabled = v.enabled,
			status = v.status, previous_status = v.prev, archived_at = NULLIF(v.archived_at, '')::timestamptz,
			archive_reason = v.reason, updated_at = now()
			FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
				$10::text[], $11::text[], $12::boolean[], $13::text[], $14::text[], $15::text[], $16::text[])
				AS v(id, entra_id, origin, upn, mail, email, email_key, display_name, given_name, surname, enabled, status,
				prev, archived_at, reason)
			WHERE u.id = v.id AND u.tenant_id = $1 AND u.status <> 'purged'`,
			tid, pq.Array(updates.ids), pq.Array(updates.entra), pq.Array(updates.origin), pq.Array(updates.upn),
			pq.Array(updates.mail), pq.Array(updates.email), pq.Array(updates.key), pq.Array(updates.display),
			pq.Array(updates.given), pq.Array(updates.surname), pq.Array(updates.enabled), pq.Array(updates.status),
			pq.Array(updates.prev), pq.Array(updates.archivedAt), pq.Array(updates.reason))
		if err != nil {
			return fmt.Errorf("store: update %d users: %w", len(updates.ids), translate(err))
		}
		if n, _ := res.RowsAffected(); n != int64(len(updates.ids)) {
			return sync.Errorf(sync.ECONFLICT, "store: %d of %d users to update changed underneath the cycle", int64(len(updates.ids))-n, len(updates.ids))
		}
		for i, id := range updates.ids {
			if updates.entra[i] != "" {
				t.userIDs[updates.entra[i]] = id // adoption links an id
			}
		}
	}
	// Check e-mail uniqueness now rather than at commit, so Apply reports a
	// collision (the deferred constraint let the statements above move
	// e-mails between users in any order).
	if _, err := t.tx.ExecContext(ctx, `SET CONSTRAINTS users_email_unique IMMEDIATE`); err != nil {
		return fmt.Errorf("store: check e-mails: %w", translate(err))
	}
	if len(rewrite) > 0 {
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM user_paths WHERE user_id = ANY($1::bigint[])`, pq.Array(rewrite)); err != nil {
			return fmt.Errorf("store: clear paths: %w", translate(err))
		}
	}
	if len(paths) == 0 {
		return nil
	}
	return t.copyRows(ctx, "user_paths", []string{"user_id", "tenant_id", "path"}, len(paths), func(i int) ([]any, error) {
		id, ok := t.userIDs[paths[i].entra]
		if !ok {
			return nil, sync.Errorf(sync.EINTERNAL, "store: paths name user %s, who has no local row", paths[i].entra)
		}
		return []any{id, tid, paths[i].path}, nil
	})
}

// collectIDs reads (id, entra_id) rows into m.
func (t *pgTx) collectIDs(rows *sql.Rows, m map[string]int64) error {
	defer rows.Close()
	for rows.Next() {
		var id int64
		var entra string
		if err := rows.Scan(&id, &entra); err != nil {
			return err
		}
		m[entra] = id
	}
	return rows.Err()
}

// copyRows streams n rows into table with COPY.
func (t *pgTx) copyRows(ctx context.Context, table string, cols []string, n int, row func(i int) ([]any, error)) error {
	stmt, err := t.tx.PrepareContext(ctx, pq.CopyIn(table, cols...))
	if err != nil {
		return fmt.Errorf("store: copy into %s: %w", table, translate(err))
	}
	defer stmt.Close()
	for i := 0; i < n; i++ {
		vals, err := row(i)
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, vals...); err != nil {
			return fmt.Errorf("store: copy into %s: %w", table, translate(err))
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("store: copy into %s: %w", table, translate(err))
	}
	return nil
}

func (t *pgTx) applyGroups(ctx context.Context, plan *sync.Plan) error {
	var cEntra, cName []string
	var uIDs []int64
	var uName, uArchivedAt, uReason, uOrigin []string
	var archived []int64
	for _, ch := range plan.Changes {
		if ch.Entity != sync.EntityGroup {
			continue
		}
		g := ch.GroupAfter
		if ch.Action == sync.ActionCreate {
			cEntra, cName = append(cEntra, g.EntraID), append(cName, g.DisplayName)
			continue
		}
		at := ""
		if g.ArchivedAt != nil {
			at = g.ArchivedAt.UTC().Format(time.RFC3339Nano)
			archived = append(archived, ch.GroupBefore.ID)
		}
		uIDs, uName, uArchivedAt, uReason = append(uIDs, ch.GroupBefore.ID), append(uName, g.DisplayName), append(uArchivedAt, at), append(uReason, g.ArchiveReason)
		uOrigin = append(uOrigin, originOr(g.Origin))
	}
	tid := t.tenant.ID
	if len(cEntra) > 0 {
		rows, err := t.tx.QueryContext(ctx, `INSERT INTO groups (tenant_id, entra_id, origin, display_name)
			SELECT $1, v.entra_id, 'provisioned', v.name FROM unnest($2::text[], $3::text[]) AS v(entra_id, name)
			RETURNING id, entra_id`, tid, pq.Array(cEntra), pq.Array(cName))
		if err != nil {
			return fmt.Errorf("store: create %d groups: %w", len(cEntra), translate(err))
		}
		if err := t.collectIDs(rows, t.groupIDs); err != nil {
			return fmt.Errorf("store: create %d groups: %w", len(cEntra), translate(err))
		}
	}
	if len(uIDs) > 0 {
		if _, err := t.tx.ExecContext(ctx, `UPDATE groups g SET display_name = v.name,
			archived_at = NULLIF(v.archived_at, '')::timestamptz, archive_reason = v.reason, origin = v.origin, updated_at = now()
			FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) AS v(id, name, archived_at, reason, origin)
			WHERE g.id = v.id AND g.tenant_id = $1`,
			tid, pq.Array(uIDs), pq.Array(uName), pq.Array(uArchivedAt), pq.Array(uReason), pq.Array(uOrigin)); err != nil {
			return fmt.Errorf("store: update %d groups: %w", len(uIDs), translate(err))
		}
	}
	if len(archived) > 0 {
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM memberships WHERE tenant_id = $1 AND group_id = ANY($2::bigint[])`,
			tid, pq.Array(archived)); err != nil {
			return fmt.Errorf("store: clear memberships of archived groups: %w", translate(err))
		}
	}
	return nil
}

// applyMemberships removes and adds memberships by local ids, resolved from
// the state this transaction loaded and the rows it created.
func (t *pgTx) applyMemberships(ctx context.Context, plan *sync.Plan) error {
	var remG, remU []int64
	type add struct{ g, u int64 }
	var adds []add
	for _, ch := range plan.Changes {
		if ch.Entity != sync.EntityMembership {
			continue
		}
		g, okG := t.groupIDs[ch.GroupEntraID]
		u, okU := t.userIDs[ch.EntraID]
		if !okG || !okU {
			return sync.Errorf(sync.EINTERNAL, "store: membership %s of %s names a group or user with no local row", ch.EntraID, ch.GroupEntraID)
		}
		if ch.Action == sync.ActionAdd {
			adds = append(adds, add{g, u})
		} else {
			remG, remU = append(remG, g), append(remU, u)
		}
	}
	if len(remG) > 0 {
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM memberships m USING unnest($1::bigint[], $2::bigint[]) AS v(g, u)
			WHERE m.group_id = v.g AND m.user_id = v.u`, pq.Array(remG), pq.Array(remU)); err != nil {
			return fmt.Errorf("store: remove %d memberships: %w", len(remG), translate(err))
		}
	}
	if len(adds) == 0 {
		return nil
	}
	tid := t.tenant.ID
	return t.copyRows(ctx, "memberships", []string{"group_id", "user_id", "tenant_id"}, len(adds), func(i int) ([]any, error) {
		return []any{adds[i].g, adds[i].u, tid}, nil
	})
}

// writeLog streams the provisioning log with COPY: a first cycle of a large
// tenant writes hundreds of thousands of rows, which COPY sends without
// building them all in memory first.
func (t *pgTx) writeLog(ctx context.Context, runID int64, plan *sync.Plan) error {
	if len(plan.Changes)+len(plan.Conflicts)+len(plan.Held) == 0 {
		return nil
	}
	stmt, err := t.tx.PrepareContext(ctx, pq.CopyIn("provisioning_log", "run_id", "tenant_id", "status", "action", "entity",
		"entra_id", "group_entra_id", "label", "reason", "fields", "before", "after"))
	if err != nil {
		return fmt.Errorf("store: write provisioning log: %w", translate(err))
	}
	defer stmt.Close()
	for _, ch := range plan.Changes {
		f, _ := json.Marshal(ch.Fields)
		var b, a any
		switch ch.Entity {
		case sync.EntityUser:
			b, a = jsonValue(ch.Before), jsonValue(ch.After)
		case sync.EntityGroup:
			b, a = jsonValue(ch.GroupBefore), jsonValue(ch.GroupAfter)
		}
		if _, err := stmt.ExecContext(ctx, runID, t.tenant.ID, "applied", string(ch.Action), string(ch.Entity), ch.EntraID,
			ch.GroupEntraID, ch.Label, ch.Reason, nullJSON(f), b, a); err != nil {
			return fmt.Errorf("store: write provisioning log: %w", translate(err))
		}
	}
	for _, ch := range plan.Held {
		f, _ := json.Marshal(ch.Fields)
		var b, a any
		if ch.Entity == sync.EntityUser {
			b, a = jsonValue(ch.Before), jsonValue(ch.After)
		}
		if _, err := stmt.ExecContext(ctx, runID, t.tenant.ID, "held", string(ch.Action), string(ch.Entity), ch.EntraID,
			ch.GroupEntraID, ch.Label, ch.Reason, nullJSON(f), b, a); err != nil {
			return fmt.Errorf("store: write provisioning log: %w", translate(err))
		}
	}
	for _, c := range plan.Conflicts {
		reason := fmt.Sprintf("%s: e-mail %s is held by %s", c.Reason, c.Email, c.HolderLabel)
		if _, err := stmt.ExecContext(ctx, runID, t.tenant.ID, "conflict", string(c.Action), string(sync.EntityUser), c.EntraID,
			"", c.Label, reason, "[]", nil, nil); err != nil {
			return fmt.Errorf("store: write provisioning log: %w", translate(err))
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("store: write provisioning log: %w", translate(err))
	}
	return nil
}

// writeEvents streams the outbox events with COPY, in order.
func (t *pgTx) writeEvents(ctx context.Context, runID int64, events []sync.Event) error {
	if len(events) == 0 {
		return nil
	}
	stmt, err := t.tx.PrepareContext(ctx, pq.CopyIn("events", "tenant_id", "run_id", "type", "entra_id", "group_entra_id", "data"))
	if err != nil {
		return fmt.Errorf("store: write events: %w", translate(err))
	}
	defer stmt.Close()
	for _, e := range events {
		d := "{}"
		if e.Data != nil {
			b, _ := json.Marshal(e.Data)
			d = string(b)
		}
		if _, err := stmt.ExecContext(ctx, t.tenant.ID, runID, e.Type, e.EntraID, e.GroupEntraID, d); err != nil {
			return fmt.Errorf("store: write events: %w", translate(err))
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("store: write events: %w", translate(err))
	}
	return nil
}

// jsonValue is v as JSON text, or nil (NULL) for a nil pointer.
func jsonValue(v any) any {
	if ns := jsonOrNull(v); ns.Valid {
		return ns.String
	}
	return nil
}

func jsonOrNull(v any) sql.NullString {
	switch x := v.(type) {
	case *sync.User:
		if x == nil {
			return sql.NullString{}
		}
	case *sync.Group:
		if x == nil {
			return sql.NullString{}
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return sql.NullString{}
	}
	return sql.NullString{String: string(b), Valid: true}
}

func nullJSON(b []byte) string {
	if string(b) == "null" {
		return "[]"
	}
	return string(b)
}

func nullIfEmpty(s []string) []sql.NullString {
	out := make([]sql.NullString, len(s))
	for i, v := range s {
		out[i] = sql.NullString{String: v, Valid: v != ""}
	}
	return out
}

// originOr is o, or provisioned for a group change that does not say.
func originOr(o sync.Origin) string {
	if o == "" {
		return string(sync.OriginProvisioned)
	}
	return string(o)
}
