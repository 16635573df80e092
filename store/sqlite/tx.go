package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

// tx is one cycle's write transaction. It holds the SQLite write lock
// (in-process and on the file) from Begin to its end.
type tx struct {
	s *DB
	c *store.CycleTx
	// failed is the error of an Apply that failed. Its writes were rolled
	// back to a savepoint, and Commit refuses, as PostgreSQL refuses to
	// commit an aborted transaction.
	failed error
}

// Begin starts a write transaction on tenantID's directory. It holds the
// database's write lock until Commit or Rollback, so a second cycle (of this
// tenant or any other) waits for the first to finish, or until ctx ends.
// ErrTenantNotFound if the tenant is not registered, ErrTenantDisconnected
// when it is disconnected. Until the transaction ends every other write of
// this database waits.
func (s *DB) Begin(ctx context.Context, tenantID string) (sync.Tx, error) {
	c, err := s.BeginCycle(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return &tx{s: s, c: c}, nil
}

// Commit makes the transaction's writes durable and releases the lock. After
// a failed Apply it rolls back instead and returns that failure.
func (t *tx) Commit() error {
	if t.failed != nil {
		_ = t.c.Rollback()
		return fmt.Errorf("store: commit refused, transaction rolled back after a failed apply: %w", t.failed)
	}
	return t.c.Commit(translate)
}

var _ sync.DeltaTx = (*tx)(nil)

// Tenant is the tenant as Begin locked it.
func (t *tx) Tenant() sync.Tenant { return t.c.Tenant }

// SaveDelta saves the tenant's delta state with the cycle (store.DB.SaveDelta).
func (t *tx) SaveDelta(ctx context.Context, st *sync.DeltaState) error {
	if t.failed != nil {
		return fmt.Errorf("store: save delta state: transaction already failed: %w", t.failed)
	}
	// A save is several statements (the row, the mirror's parts): one that
	// failed part way must not be committed, and on SQLite a failed
	// statement leaves the transaction open.
	if err := t.s.DB.SaveDelta(ctx, t.c.Tx, st); err != nil {
		t.failed = err
		return err
	}
	return nil
}

// Rollback discards the transaction's writes and releases the lock; it is a
// no-op after Commit or Rollback.
func (t *tx) Rollback() error { return t.c.Rollback() }

// State loads the tenant's users (purged tombstones excepted), their paths,
// the groups and their provisioned members.
func (t *tx) State(ctx context.Context) (*sync.State, error) {
	return t.s.LoadState(ctx, t.c.Tx, t.c.Tenant)
}

var _ sync.PreloadedTx = (*tx)(nil)

// StateFrom is the state preloaded during the read while the directory is
// as it was then (store.CycleTx.Preloaded), else State.
func (t *tx) StateFrom(ctx context.Context, pre *sync.State) (*sync.State, bool, error) {
	if st := t.c.Preloaded(pre); st != nil {
		return st, true, nil
	}
	st, err := t.State(ctx)
	return st, false, err
}

var _ sync.ScopedTx = (*tx)(nil)

// StateOf loads the part of the directory scope names (store.DB.LoadStateOf).
func (t *tx) StateOf(ctx context.Context, scope sync.StateScope) (*sync.State, error) {
	return t.s.LoadStateOf(ctx, t.c.Tx, t.c.Tenant, scope)
}

// Totals counts the whole directory for the archive guard (store.DB.LoadTotals).
func (t *tx) Totals(ctx context.Context) (sync.Totals, error) {
	return t.s.LoadTotals(ctx, t.c.Tx, t.c.Tenant.ID)
}

// Apply applies the plan (see store.DB.Apply) with prepared statements. It
// is all or nothing: on an error every write of this Apply is rolled back
// to a savepoint, the error is returned (ECONFLICT for a uniqueness
// violation) and the transaction can only be rolled back.
func (t *tx) Apply(ctx context.Context, run *sync.Run, plan *sync.Plan, events []sync.Event) (err error) {
	if t.failed != nil {
		return fmt.Errorf("store: apply: transaction already failed: %w", t.failed)
	}
	if _, err := t.c.Tx.ExecContext(ctx, `SAVEPOINT apply`); err != nil {
		return fmt.Errorf("store: apply: %w", translate(err))
	}
	a := &apply{tx: t.c.Tx.Tx, tid: t.c.Tenant.ID, now: formatTime(time.Now()), stmts: map[string]*sql.Stmt{}}
	defer func() {
		a.close()
		if err == nil {
			if _, rerr := t.c.Tx.ExecContext(ctx, `RELEASE apply`); rerr != nil {
				err = fmt.Errorf("store: apply: %w", translate(rerr))
			}
		}
		if err != nil {
			t.failed = err
			bg := context.WithoutCancel(ctx)
			_, _ = t.c.Tx.ExecContext(bg, `ROLLBACK TO apply`)
			_, _ = t.c.Tx.ExecContext(bg, `RELEASE apply`)
		}
	}()
	return t.s.DB.Apply(ctx, t.c.Tx, a, run, plan, events)
}

// apply carries one Apply's statements, prepared once inside the
// transaction and reused for every row.
type apply struct {
	tx    *sql.Tx
	tid   string
	now   string
	stmts map[string]*sql.Stmt
}

var _ store.Applier = (*apply)(nil)

func (a *apply) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st := a.stmts[query]
	if st == nil {
		var err error
		if st, err = a.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		a.stmts[query] = st
	}
	return st.ExecContext(ctx, args...)
}

func (a *apply) close() {
	for _, st := range a.stmts {
		_ = st.Close()
	}
}

// ApplyChanges writes users, then groups, then memberships.
func (a *apply) ApplyChanges(ctx context.Context, plan *sync.Plan) error {
	for _, step := range []func(context.Context, *sync.Plan) error{a.users, a.groups, a.memberships} {
		if err := step(ctx, plan); err != nil {
			return err
		}
	}
	return nil
}

// users applies user creates and updates (restore, archive, adopt) and
// rewrites the paths of every changed user.
//
// users_email_unique cannot be deferred in SQLite, so the e-mail keys move in
// two phases. First every updated user whose stored key differs from its new
// one lets go of it (email_key = NULL). Then each row is written with its
// final key. During the second phase the keys in the table are always a
// subset of the final keys, so a unique violation occurs exactly when the
// final state would violate the constraint, whatever the order of the plan:
// the planner's plans never trip it, a hand-made plan that swaps two
// e-mails applies as it does on PostgreSQL, and one that gives two users one
// e-mail fails with ECONFLICT.
func (a *apply) users(ctx context.Context, plan *sync.Plan) error {
	var changes []*sync.Change
	for i := range plan.Changes {
		ch := &plan.Changes[i]
		if ch.Entity != sync.EntityUser {
			continue
		}
		if ch.After == nil || (ch.Action != sync.ActionCreate && ch.Before == nil) {
			return sync.Errorf(sync.EINVALID, "store: user change %s of %s lacks its before or after state", ch.Action, ch.EntraID)
		}
		changes = append(changes, ch)
	}
	if len(changes) == 0 {
		return nil
	}
	for _, ch := range changes {
		if ch.Action == sync.ActionCreate {
			continue
		}
		if _, err := a.exec(ctx, `UPDATE users SET email_key = NULL
			WHERE tenant_id = ? AND id = ? AND status <> 'purged' AND email_key IS NOT ?`,
			a.tid, ch.Before.ID, nullString(sync.EmailKey(ch.After.Email))); err != nil {
			return fmt.Errorf("store: release e-mail of user %d: %w", ch.Before.ID, translate(err))
		}
	}
	for _, ch := range changes {
		u := ch.After
		if ch.Action == sync.ActionCreate {
			if _, err := a.exec(ctx, `INSERT INTO users (tenant_id, entra_id, origin, user_principal_name, mail, email,
				email_key, display_name, given_name, surname, account_enabled, status, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				a.tid, nullString(u.EntraID), string(u.Origin), u.UserPrincipalName, u.Mail, u.Email,
				nullString(sync.EmailKey(u.Email)), u.DisplayName, u.GivenName, u.Surname, u.AccountEnabled,
				string(u.Status), a.now, a.now); err != nil {
				return fmt.Errorf("store: create user %s: %w", ch.EntraID, translate(err))
			}
			continue
		}
		var archivedAt sql.NullString
		if u.ArchivedAt != nil {
			archivedAt = sql.NullString{String: formatTime(*u.ArchivedAt), Valid: true}
		}
		res, err := a.exec(ctx, `UPDATE users SET entra_id = ?, origin = ?, user_principal_name = ?, mail = ?, email = ?,
			email_key = ?, display_name = ?, given_name = ?, surname = ?, account_enabled = ?, status = ?,
			previous_status = ?, archived_at = ?, archive_reason = ?, updated_at = ?
			WHERE tenant_id = ? AND id = ? AND status <> 'purged'`,
			nullString(u.EntraID), string(u.Origin), u.UserPrincipalName, u.Mail, u.Email,
			nullString(sync.EmailKey(u.Email)), u.DisplayName, u.GivenName, u.Surname, u.AccountEnabled,
			string(u.Status), string(u.PreviousStatus), archivedAt, u.ArchiveReason, a.now, a.tid, ch.Before.ID)
		if err != nil {
			return fmt.Errorf("store: %s user %d: %w", ch.Action, ch.Before.ID, translate(err))
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return sync.Errorf(sync.ECONFLICT, "store: user %d to %s changed underneath the cycle", ch.Before.ID, ch.Action)
		}
	}
	for _, ch := range changes {
		if _, err := a.exec(ctx, `DELETE FROM user_paths WHERE user_id IN
			(SELECT id FROM users WHERE tenant_id = ? AND entra_id = ? AND purged_at IS NULL)`, a.tid, ch.EntraID); err != nil {
			return fmt.Errorf("store: clear paths: %w", translate(err))
		}
	}
	for _, ch := range changes {
		for _, p := range ch.After.Paths {
			if _, err := a.exec(ctx, `INSERT INTO user_paths (user_id, tenant_id, path)
				SELECT id, ?, ? FROM users WHERE tenant_id = ? AND entra_id = ? AND purged_at IS NULL`,
				a.tid, p, a.tid, ch.EntraID); err != nil {
				return fmt.Errorf("store: write paths: %w", translate(err))
			}
		}
	}
	return nil
}

// groups applies group creates, renames, archives and restores; archiving a
// group removes its memberships and keeps its settings.
func (a *apply) groups(ctx context.Context, plan *sync.Plan) error {
	var archived []int64
	for _, ch := range plan.Changes {
		if ch.Entity != sync.EntityGroup {
			continue
		}
		g := ch.GroupAfter
		if g == nil || (ch.Action != sync.ActionCreate && ch.GroupBefore == nil) {
			return sync.Errorf(sync.EINVALID, "store: group change %s of %s lacks its before or after state", ch.Action, ch.EntraID)
		}
		if ch.Action == sync.ActionCreate {
			if _, err := a.exec(ctx, `INSERT INTO groups (tenant_id, entra_id, origin, display_name, created_at, updated_at)
				VALUES (?, ?, 'provisioned', ?, ?, ?)`, a.tid, g.EntraID, g.DisplayName, a.now, a.now); err != nil {
				return fmt.Errorf("store: create group %s: %w", g.EntraID, translate(err))
			}
			continue
		}
		var at sql.NullString
		if g.ArchivedAt != nil {
			at = sql.NullString{String: formatTime(*g.ArchivedAt), Valid: true}
			archived = append(archived, ch.GroupBefore.ID)
		}
		if _, err := a.exec(ctx, `UPDATE groups SET display_name = ?, archived_at = ?, archive_reason = ?, origin = ?, updated_at = ?
			WHERE id = ? AND tenant_id = ?`, g.DisplayName, at, g.ArchiveReason, store.OriginOr(g.Origin), a.now, ch.GroupBefore.ID, a.tid); err != nil {
			return fmt.Errorf("store: %s group %d: %w", ch.Action, ch.GroupBefore.ID, translate(err))
		}
	}
	for _, id := range archived {
		if _, err := a.exec(ctx, `DELETE FROM memberships WHERE tenant_id = ? AND group_id = ?`, a.tid, id); err != nil {
			return fmt.Errorf("store: clear memberships of archived group %d: %w", id, translate(err))
		}
	}
	return nil
}

// memberships removes, then adds, memberships named by Entra ids.
func (a *apply) memberships(ctx context.Context, plan *sync.Plan) error {
	for _, ch := range plan.Changes {
		if ch.Entity != sync.EntityMembership || ch.Action != sync.ActionRemove {
			continue
		}
		if _, err := a.exec(ctx, `DELETE FROM memberships WHERE
			group_id IN (SELECT id FROM groups WHERE tenant_id = ? AND entra_id = ?) AND
			user_id IN (SELECT id FROM users WHERE tenant_id = ? AND entra_id = ? AND purged_at IS NULL)`,
			a.tid, ch.GroupEntraID, a.tid, ch.EntraID); err != nil {
			return fmt.Errorf("store: remove membership: %w", translate(err))
		}
	}
	var want, added int64
	for _, ch := range plan.Changes {
		if ch.Entity != sync.EntityMembership || ch.Action != sync.ActionAdd {
			continue
		}
		want++
		// WHERE comes before ON CONFLICT to keep SQLite's upsert parsing unambiguous.
		res, err := a.exec(ctx, `INSERT INTO memberships (group_id, user_id, tenant_id, created_at)
			SELECT g.id, u.id, ?, ? FROM groups g, users u
			WHERE g.tenant_id = ? AND g.entra_id = ? AND u.tenant_id = ? AND u.entra_id = ? AND u.purged_at IS NULL
			ON CONFLICT DO NOTHING`, a.tid, a.now, a.tid, ch.GroupEntraID, a.tid, ch.EntraID)
		if err != nil {
			return fmt.Errorf("store: add membership: %w", translate(err))
		}
		n, _ := res.RowsAffected()
		added += n
	}
	if added != want {
		return sync.Errorf(sync.EINTERNAL, "store: %d of %d memberships name a group or user that does not exist", want-added, want)
	}
	return nil
}

// insertSQL is an INSERT of cols (and created_at, now) into table.
func (a *apply) insertSQL(table string, cols []string, stamped bool) string {
	n := len(cols)
	if stamped {
		cols = append(append([]string(nil), cols...), "created_at")
		n++
	}
	return `INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `) VALUES (` +
		strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + `)`
}

// WriteLog writes the provisioning log (store.LogRows).
func (a *apply) WriteLog(ctx context.Context, runID int64, plan *sync.Plan) error {
	q := a.insertSQL("provisioning_log", store.LogColumns, false)
	return store.LogRows(runID, a.tid, plan, func(vals ...any) error {
		if _, err := a.exec(ctx, q, vals...); err != nil {
			return fmt.Errorf("store: write provisioning log: %w", translate(err))
		}
		return nil
	})
}

// WriteEvents appends the events to the outbox in the order given.
func (a *apply) WriteEvents(ctx context.Context, runID int64, events []sync.Event) error {
	q := a.insertSQL("events", store.EventColumns, true)
	return store.EventRows(runID, a.tid, events, func(vals ...any) error {
		if _, err := a.exec(ctx, q, append(vals, a.now)...); err != nil {
			return fmt.Errorf("store: write events: %w", translate(err))
		}
		return nil
	})
}
