package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/lib/pq"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

// tx is a cycle's transaction on PostgreSQL.
type tx struct {
	s *DB
	c *store.CycleTx
	// Local ids by Entra id, from the state this transaction loaded and the
	// rows it created: Apply resolves memberships and paths with them.
	userIDs, groupIDs map[string]int64
}

var _ store.Applier = (*tx)(nil)

// Begin starts a transaction on tenantID's directory. It locks the tenant's
// row, so a second cycle of the same tenant (or an administrator's write)
// waits for the first to finish. ErrTenantNotFound for an unknown tenant,
// ErrTenantDisconnected for a disconnected one.
func (s *DB) Begin(ctx context.Context, tenantID string) (sync.Tx, error) {
	c, err := s.BeginCycle(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return &tx{s: s, c: c}, nil
}

// Commit makes the transaction's writes durable.
func (t *tx) Commit() error { return t.c.Commit(translate) }

var _ sync.DeltaTx = (*tx)(nil)

// Tenant is the tenant as Begin locked it.
func (t *tx) Tenant() sync.Tenant { return t.c.Tenant }

// SaveDelta saves the tenant's delta state with the cycle (store.DB.SaveDelta).
func (t *tx) SaveDelta(ctx context.Context, st *sync.DeltaState) error {
	return t.s.DB.SaveDelta(ctx, t.c.Tx, st)
}

// Rollback discards them; a no-op after Commit.
func (t *tx) Rollback() error { return t.c.Rollback() }

// State loads the tenant's directory and indexes its local ids.
func (t *tx) State(ctx context.Context) (*sync.State, error) {
	return t.indexed(t.s.LoadState(ctx, t.c.Tx, t.c.Tenant))
}

var _ sync.PreloadedTx = (*tx)(nil)

// StateFrom is the state preloaded during the read while the directory is
// as it was then (store.CycleTx.Preloaded), else State; its local ids are
// indexed either way.
func (t *tx) StateFrom(ctx context.Context, pre *sync.State) (*sync.State, bool, error) {
	if st := t.c.Preloaded(pre); st != nil {
		st, err := t.indexed(st, nil)
		return st, err == nil, err
	}
	st, err := t.State(ctx)
	return st, false, err
}

var _ sync.ScopedTx = (*tx)(nil)

// StateOf loads the part of the directory scope names (store.DB.LoadStateOf)
// and indexes its local ids: a scoped plan names no other user.
func (t *tx) StateOf(ctx context.Context, scope sync.StateScope) (*sync.State, error) {
	return t.indexed(t.s.LoadStateOf(ctx, t.c.Tx, t.c.Tenant, scope))
}

// Totals counts the whole directory for the archive guard (store.DB.LoadTotals).
func (t *tx) Totals(ctx context.Context) (sync.Totals, error) {
	return t.s.LoadTotals(ctx, t.c.Tx, t.c.Tenant.ID)
}

// indexed indexes the local ids of the state loaded, for Apply.
func (t *tx) indexed(st *sync.State, err error) (*sync.State, error) {
	if err != nil {
		return nil, err
	}
	t.userIDs = make(map[string]int64, len(st.Users))
	for _, u := range st.Users {
		if u.EntraID != "" {
			t.userIDs[u.EntraID] = u.ID
		}
	}
	t.groupIDs = make(map[string]int64, len(st.Groups))
	for _, g := range st.Groups {
		if g.EntraID != "" {
			t.groupIDs[g.EntraID] = g.ID
		}
	}
	return st, nil
}

// Apply writes the run, the plan's changes, the provisioning log and the
// events with one bulk statement per kind of write (see store.DB.Apply).
// A plan without changes (a settled cycle's) needs no State first.
func (t *tx) Apply(ctx context.Context, run *sync.Run, plan *sync.Plan, events []sync.Event) error {
	if t.userIDs == nil && len(plan.Changes) > 0 {
		return sync.Errorf(sync.EINTERNAL, "store: Apply before State")
	}
	return t.s.DB.Apply(ctx, t.c.Tx, t, run, plan, events)
}

// ApplyChanges writes users, then groups, then memberships.
func (t *tx) ApplyChanges(ctx context.Context, plan *sync.Plan) error {
	for _, step := range []func(context.Context, *sync.Plan) error{t.applyUsers, t.applyGroups, t.applyMemberships} {
		if err := step(ctx, plan); err != nil {
			return err
		}
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

// applyUsers creates users with COPY (their ids reserved from the
// sequence first, so that paths and memberships can name them without the
// rows coming back), updates the others with one statement, and writes the
// paths of new users and of users whose paths changed with COPY.
func (t *tx) applyUsers(ctx context.Context, plan *sync.Plan) error {
	var updates userCols
	var rewrite []int64 // local ids of updated users whose paths are rewritten
	creates := 0
	for _, ch := range plan.Changes {
		switch {
		case ch.Entity != sync.EntityUser:
		case ch.Action == sync.ActionCreate:
			creates++
		default:
			updates.add(ch.Before.ID, ch.After)
			if !slices.Equal(ch.Before.Paths, ch.After.Paths) {
				rewrite = append(rewrite, ch.Before.ID)
			}
		}
	}
	tid := t.c.Tenant.ID
	if creates > 0 {
		if err := t.createUsers(ctx, plan, creates); err != nil {
			return err
		}
	}
	if len(updates.ids) > 0 {
		res, err := t.c.Tx.ExecContext(ctx, `UPDATE users u SET entra_id = v.entra_id, origin = v.origin,
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
	if _, err := t.c.Tx.ExecContext(ctx, `SET CONSTRAINTS users_email_unique IMMEDIATE`); err != nil {
		return fmt.Errorf("store: check e-mails: %w", translate(err))
	}
	if len(rewrite) > 0 {
		if _, err := t.c.Tx.ExecContext(ctx, `DELETE FROM user_paths WHERE user_id = ANY($1::bigint[])`, pq.Array(rewrite)); err != nil {
			return fmt.Errorf("store: clear paths: %w", translate(err))
		}
	}
	if creates == 0 && len(rewrite) == 0 {
		return nil
	}
	return t.copyIn(ctx, "user_paths", []string{"user_id", "tenant_id", "path"}, func(put func(...any) error) error {
		for i := range plan.Changes {
			ch := &plan.Changes[i]
			if ch.Entity != sync.EntityUser || ch.Action != sync.ActionCreate && slices.Equal(ch.Before.Paths, ch.After.Paths) {
				continue
			}
			id, ok := t.userIDs[ch.EntraID]
			if !ok {
				return sync.Errorf(sync.EINTERNAL, "store: paths name user %s, who has no local row", ch.EntraID)
			}
			for _, p := range ch.After.Paths {
				if err := put(id, tid, p); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// createUsers reserves n ids from the users' sequence (looked up once, not
// once a row: 0.18 s → 0.02 s for 87,000 ids) and streams the
// plan's n new users into the table with COPY, indexing their ids.
func (t *tx) createUsers(ctx context.Context, plan *sync.Plan, n int) error {
	var ids []int64
	if err := t.c.Tx.SelectContext(ctx, &ids, `WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('users', 'id')::regclass AS seq)
		SELECT nextval(s.seq) FROM s, generate_series(1, $1)`, n); err != nil {
		return fmt.Errorf("store: reserve %d user ids: %w", n, translate(err))
	}
	if len(ids) != n {
		return sync.Errorf(sync.EINTERNAL, "store: %d user ids reserved, %d wanted", len(ids), n)
	}
	tid := t.c.Tenant.ID
	return t.copyIn(ctx, "users", []string{"id", "tenant_id", "entra_id", "origin", "user_principal_name", "mail", "email",
		"email_key", "display_name", "given_name", "surname", "account_enabled", "status"}, func(put func(...any) error) error {
		k := 0
		for i := range plan.Changes {
			ch := &plan.Changes[i]
			if ch.Entity != sync.EntityUser || ch.Action != sync.ActionCreate {
				continue
			}
			u, id := ch.After, ids[k]
			k++
			var key any // NULL for no e-mail
			if e := sync.EmailKey(u.Email); e != "" {
				key = e
			}
			if err := put(id, tid, u.EntraID, string(u.Origin), u.UserPrincipalName, u.Mail, u.Email, key, u.DisplayName,
				u.GivenName, u.Surname, u.AccountEnabled, string(u.Status)); err != nil {
				return err
			}
			t.userIDs[u.EntraID] = id
		}
		return nil
	})
}

// collectIDs reads (id, entra_id) rows into m.
func (t *tx) collectIDs(rows *sql.Rows, m map[string]int64) error {
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

func (t *tx) applyGroups(ctx context.Context, plan *sync.Plan) error {
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
		uOrigin = append(uOrigin, store.OriginOr(g.Origin))
	}
	tid := t.c.Tenant.ID
	if len(cEntra) > 0 {
		rows, err := t.c.Tx.QueryContext(ctx, `INSERT INTO groups (tenant_id, entra_id, origin, display_name)
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
		if _, err := t.c.Tx.ExecContext(ctx, `UPDATE groups g SET display_name = v.name,
			archived_at = NULLIF(v.archived_at, '')::timestamptz, archive_reason = v.reason, origin = v.origin, updated_at = now()
			FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) AS v(id, name, archived_at, reason, origin)
			WHERE g.id = v.id AND g.tenant_id = $1`,
			tid, pq.Array(uIDs), pq.Array(uName), pq.Array(uArchivedAt), pq.Array(uReason), pq.Array(uOrigin)); err != nil {
			return fmt.Errorf("store: update %d groups: %w", len(uIDs), translate(err))
		}
	}
	if len(archived) > 0 {
		if _, err := t.c.Tx.ExecContext(ctx, `DELETE FROM memberships WHERE tenant_id = $1 AND group_id = ANY($2::bigint[])`,
			tid, pq.Array(archived)); err != nil {
			return fmt.Errorf("store: clear memberships of archived groups: %w", translate(err))
		}
	}
	return nil
}

// applyMemberships removes and adds memberships by local ids, resolved from
// the state this transaction loaded and the rows it created; the adds are
// streamed with COPY.
func (t *tx) applyMemberships(ctx context.Context, plan *sync.Plan) error {
	var remG, remU []int64
	adds := 0
	for i := range plan.Changes {
		ch := &plan.Changes[i]
		if ch.Entity != sync.EntityMembership {
			continue
		}
		if ch.Action == sync.ActionAdd {
			adds++
			continue
		}
		g, u, err := t.membershipIDs(ch)
		if err != nil {
			return err
		}
		remG, remU = append(remG, g), append(remU, u)
	}
	if len(remG) > 0 {
		if _, err := t.c.Tx.ExecContext(ctx, `DELETE FROM memberships m USING unnest($1::bigint[], $2::bigint[]) AS v(g, u)
			WHERE m.group_id = v.g AND m.user_id = v.u`, pq.Array(remG), pq.Array(remU)); err != nil {
			return fmt.Errorf("store: remove %d memberships: %w", len(remG), translate(err))
		}
	}
	if adds == 0 {
		return nil
	}
	tid := t.c.Tenant.ID
	return t.copyIn(ctx, "memberships", []string{"group_id", "user_id", "tenant_id"}, func(put func(...any) error) error {
		for i := range plan.Changes {
			ch := &plan.Changes[i]
			if ch.Entity != sync.EntityMembership || ch.Action != sync.ActionAdd {
				continue
			}
			g, u, err := t.membershipIDs(ch)
			if err != nil {
				return err
			}
			if err := put(g, u, tid); err != nil {
				return err
			}
		}
		return nil
	})
}

// membershipIDs are the local ids of a membership change's group and user.
func (t *tx) membershipIDs(ch *sync.Change) (group, user int64, err error) {
	g, okG := t.groupIDs[ch.GroupEntraID]
	u, okU := t.userIDs[ch.EntraID]
	if !okG || !okU {
		return 0, 0, sync.Errorf(sync.EINTERNAL, "store: membership %s of %s names a group or user with no local row", ch.EntraID, ch.GroupEntraID)
	}
	return g, u, nil
}

// WriteLog streams the provisioning log with COPY: a first cycle of a large
// tenant writes hundreds of thousands of rows, which COPY sends without
// building them all in memory first.
func (t *tx) WriteLog(ctx context.Context, runID int64, plan *sync.Plan) error {
	if len(plan.Changes)+len(plan.Conflicts)+len(plan.Held) == 0 {
		return nil
	}
	return t.copyIn(ctx, "provisioning_log", store.LogColumns, func(row func(...any) error) error {
		return store.LogRows(runID, t.c.Tenant.ID, plan, row)
	})
}

// WriteEvents streams the outbox events with COPY, in order.
func (t *tx) WriteEvents(ctx context.Context, runID int64, events []sync.Event) error {
	if len(events) == 0 {
		return nil
	}
	return t.copyIn(ctx, "events", store.EventColumns, func(row func(...any) error) error {
		return store.EventRows(runID, t.c.Tenant.ID, events, row)
	})
}
