package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/entrasync/entrasync/sync"
)

// sqliteTx is one write transaction on a tenant's directory. It holds the
// SQLite write lock (in-process and on the file) from Begin to its end.
type sqliteTx struct {
	s      *SQLite
	tx     *sql.Tx
	tenant sync.Tenant
	done   bool
	// failed is the error of an Apply that failed. Its writes were rolled
	// back to a savepoint, and Commit refuses, as PostgreSQL refuses to
	// commit an aborted transaction.
	failed error
}

// end releases the write lock once.
func (t *sqliteTx) end() {
	if !t.done {
		t.done = true
		t.s.unlock()
	}
}

// Commit makes the transaction's writes durable and releases the lock. After
// a failed Apply it rolls back instead and returns that failure.
func (t *sqliteTx) Commit() error {
	if t.done {
		return fmt.Errorf("store: commit: %w", sql.ErrTxDone)
	}
	defer t.end()
	if t.failed != nil {
		_ = t.tx.Rollback()
		return fmt.Errorf("store: commit refused, transaction rolled back after a failed apply: %w", t.failed)
	}
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", translateSQLite(err))
	}
	return nil
}

// Rollback discards the transaction's writes and releases the lock; it is a
// no-op after Commit or Rollback.
func (t *sqliteTx) Rollback() error {
	if t.done {
		return nil
	}
	defer t.end()
	// database/sql has already rolled back when Begin's context ended.
	if err := t.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("store: rollback: %w", err)
	}
	return nil
}

// State loads the tenant's users (purged tombstones excepted), their paths,
// the groups and their provisioned members.
func (t *sqliteTx) State(ctx context.Context) (*sync.State, error) {
	st := &sync.State{Tenant: t.tenant}
	users, err := sqliteLoadUsers(ctx, t.tx, t.tenant.ID, "status <> 'purged'")
	if err != nil {
		return nil, err
	}
	st.Users = users
	groups, err := sqliteLoadGroups(ctx, t.tx, t.tenant.ID)
	if err != nil {
		return nil, err
	}
	st.Groups = groups
	return st, nil
}

// sqliteApply carries one Apply's statements, prepared once inside the
// transaction and reused for every row.
type sqliteApply struct {
	tx    *sql.Tx
	tid   string
	now   string
	stmts map[string]*sql.Stmt
}

func (a *sqliteApply) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
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

func (a *sqliteApply) close() {
	for _, st := range a.stmts {
		_ = st.Close()
	}
}

// Apply applies the plan's changes (users, groups, memberships), records run
// (setting run.ID), writes the provisioning log and the events, then sets
// run.ApplyMillis (the time all of it took) and run.FinishedAt (now, UTC) on
// the run record: the order of the PostgreSQL pgTx.Apply. It is all or nothing: on
// an error every write of this Apply is rolled back, the error is returned
// (ECONFLICT for a uniqueness violation) and the transaction can only be
// rolled back.
func (t *sqliteTx) Apply(ctx context.Context, run *sync.Run, plan *sync.Plan, events []sync.Event) (err error) {
	switch {
	case t.done:
		return fmt.Errorf("store: apply: %w", sql.ErrTxDone)
	case t.failed != nil:
		return fmt.Errorf("store: apply: transaction already failed: %w", t.failed)
	}
	if _, err := t.tx.ExecContext(ctx, `SAVEPOINT apply`); err != nil {
		return fmt.Errorf("store: apply: %w", translateSQLite(err))
	}
	a := &sqliteApply{tx: t.tx, tid: t.tenant.ID, now: sqliteTime(time.Now()), stmts: map[string]*sql.Stmt{}}
	defer func() {
		a.close()
		if err == nil {
			if _, rerr := t.tx.ExecContext(ctx, `RELEASE apply`); rerr != nil {
				err = fmt.Errorf("store: apply: %w", translateSQLite(rerr))
			}
		}
		if err != nil {
			t.failed = err
			bg := context.WithoutCancel(ctx)
			_, _ = t.tx.ExecContext(bg, `ROLLBACK TO apply`)
			_, _ = t.tx.ExecContext(bg, `RELEASE apply`)
		}
	}()
	start := time.Now()
	steps := []func(context.Context, *sync.Plan) error{a.users, a.groups, a.memberships}
	for _, step := range steps {
		if err := step(ctx, plan); err != nil {
			return err
		}
	}
	run.ApplyMillis = time.Since(start).Milliseconds()
	run.FinishedAt = time.Now().UTC()
	if err := sqliteInsertRun(ctx, t.tx, run); err != nil {
		return err
	}
	if err := a.log(ctx, run.ID, plan); err != nil {
		return err
	}
	if err := a.events(ctx, run.ID, events); err != nil {
		return err
	}
	// The apply time covers the audit writes too (as on PostgreSQL).
	run.ApplyMillis = time.Since(start).Milliseconds()
	run.FinishedAt = time.Now().UTC()
	if _, err := t.tx.ExecContext(ctx, `UPDATE runs SET apply_ms = ?, finished_at = ? WHERE id = ?`,
		run.ApplyMillis, sqliteTime(run.FinishedAt), run.ID); err != nil {
		return fmt.Errorf("store: finish run %d: %w", run.ID, translateSQLite(err))
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
func (a *sqliteApply) users(ctx context.Context, plan *sync.Plan) error {
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
			a.tid, ch.Before.ID, sqliteNullString(sync.EmailKey(ch.After.Email))); err != nil {
			return fmt.Errorf("store: release e-mail of user %d: %w", ch.Before.ID, translateSQLite(err))
		}
	}
	for _, ch := range changes {
		u := ch.After
		if ch.Action == sync.ActionCreate {
			if _, err := a.exec(ctx, `INSERT INTO users (tenant_id, entra_id, origin, user_principal_name, mail, email,
				email_key, display_name, given_name, surname, account_enabled, status, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				a.tid, sqliteNullString(u.EntraID), string(u.Origin), u.UserPrincipalName, u.Mail, u.Email,
				sqliteNullString(sync.EmailKey(u.Email)), u.DisplayName, u.GivenName, u.Surname, u.AccountEnabled,
				string(u.Status), a.now, a.now); err != nil {
				return fmt.Errorf("store: create user %s: %w", ch.EntraID, translateSQLite(err))
			}
			continue
		}
		var archivedAt sql.NullString
		if u.ArchivedAt != nil {
			archivedAt = sql.NullString{String: sqliteTime(*u.ArchivedAt), Valid: true}
		}
		res, err := a.exec(ctx, `UPDATE users SET entra_id = ?, origin = ?, user_principal_name = ?, mail = ?, email = ?,
			email_key = ?, display_name = ?, given_name = ?, surname = ?, account_enabled = ?, status = ?,
			previous_status = ?, archived_at = ?, archive_reason = ?, updated_at = ?
			WHERE tenant_id = ? AND id = ? AND status <> 'purged'`,
			sqliteNullString(u.EntraID), string(u.Origin), u.UserPrincipalName, u.Mail, u.Email,
			sqliteNullString(sync.EmailKey(u.Email)), u.DisplayName, u.GivenName, u.Surname, u.AccountEnabled,
			string(u.Status), string(u.PreviousStatus), archivedAt, u.ArchiveReason, a.now, a.tid, ch.Before.ID)
		if err != nil {
			return fmt.Errorf("store: %s user %d: %w", ch.Action, ch.Before.ID, translateSQLite(err))
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return sync.Errorf(sync.ECONFLICT, "store: user %d to %s changed underneath the cycle", ch.Before.ID, ch.Action)
		}
	}
	for _, ch := range changes {
		if _, err := a.exec(ctx, `DELETE FROM user_paths WHERE user_id IN
			(SELECT id FROM users WHERE tenant_id = ? AND entra_id = ? AND purged_at IS NULL)`, a.tid, ch.EntraID); err != nil {
			return fmt.Errorf("store: clear paths: %w", translateSQLite(err))
		}
	}
	for _, ch := range changes {
		for _, p := range ch.After.Paths {
			if _, err := a.exec(ctx, `INSERT INTO user_paths (user_id, tenant_id, path)
				SELECT id, ?, ? FROM users WHERE tenant_id = ? AND entra_id = ? AND purged_at IS NULL`,
				a.tid, p, a.tid, ch.EntraID); err != nil {
				return fmt.Errorf("store: write paths: %w", translateSQLite(err))
			}
		}
	}
	return nil
}

// groups applies group creates, renames, archives and restores; archiving a
// group removes its memberships and keeps its settings.
func (a *sqliteApply) groups(ctx context.Context, plan *sync.Plan) error {
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
				return fmt.Errorf("store: create group %s: %w", g.EntraID, translateSQLite(err))
			}
			continue
		}
		var at sql.NullString
		if g.ArchivedAt != nil {
			at = sql.NullString{String: sqliteTime(*g.ArchivedAt), Valid: true}
			archived = append(archived, ch.GroupBefore.ID)
		}
		if _, err := a.exec(ctx, `UPDATE groups SET display_name = ?, archived_at = ?, archive_reason = ?, origin = ?, updated_at = ?
			WHERE id = ? AND tenant_id = ?`, g.DisplayName, at, g.ArchiveReason, originOr(g.Origin), a.now, ch.GroupBefore.ID, a.tid); err != nil {
			return fmt.Errorf("store: %s group %d: %w", ch.Action, ch.GroupBefore.ID, translateSQLite(err))
		}
	}
	for _, id := range archived {
		if _, err := a.exec(ctx, `DELETE FROM memberships WHERE tenant_id = ? AND group_id = ?`, a.tid, id); err != nil {
			return fmt.Errorf("store: clear memberships of archived group %d: %w", id, translateSQLite(err))
		}
	}
	return nil
}

// memberships removes, then adds, memberships named by Entra ids.
func (a *sqliteApply) memberships(ctx context.Context, plan *sync.Plan) error {
	for _, ch := range plan.Changes {
		if ch.Entity != sync.EntityMembership || ch.Action != sync.ActionRemove {
			continue
		}
		if _, err := a.exec(ctx, `DELETE FROM memberships WHERE
			group_id IN (SELECT id FROM groups WHERE tenant_id = ? AND entra_id = ?) AND
			user_id IN (SELECT id FROM users WHERE tenant_id = ? AND entra_id = ? AND purged_at IS NULL)`,
			a.tid, ch.GroupEntraID, a.tid, ch.EntraID); err != nil {
			return fmt.Errorf("store: remove membership: %w", translateSQLite(err))
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
			return fmt.Errorf("store: add membership: %w", translateSQLite(err))
		}
		n, _ := res.RowsAffected()
		added += n
	}
	if added != want {
		return sync.Errorf(sync.EINTERNAL, "store: %d of %d memberships name a group or user that does not exist", want-added, want)
	}
	return nil
}

// log writes the provisioning log: the applied changes, then the conflicts.
func (a *sqliteApply) log(ctx context.Context, runID int64, plan *sync.Plan) error {
	const q = `INSERT INTO provisioning_log (run_id, tenant_id, status, action, entity, entra_id, group_entra_id,
		label, reason, fields, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	for _, ch := range plan.Changes {
		f, _ := json.Marshal(ch.Fields)
		var b, af sql.NullString
		switch ch.Entity {
		case sync.EntityUser:
			b, af = jsonOrNull(ch.Before), jsonOrNull(ch.After)
		case sync.EntityGroup:
			b, af = jsonOrNull(ch.GroupBefore), jsonOrNull(ch.GroupAfter)
		}
		if _, err := a.exec(ctx, q, runID, a.tid, "applied", string(ch.Action), string(ch.Entity), ch.EntraID,
			ch.GroupEntraID, ch.Label, ch.Reason, nullJSON(f), b, af); err != nil {
			return fmt.Errorf("store: write provisioning log: %w", translateSQLite(err))
		}
	}
	for _, ch := range plan.Held {
		f, _ := json.Marshal(ch.Fields)
		var b, af sql.NullString
		if ch.Entity == sync.EntityUser {
			b, af = jsonOrNull(ch.Before), jsonOrNull(ch.After)
		}
		if _, err := a.exec(ctx, q, runID, a.tid, "held", string(ch.Action), string(ch.Entity), ch.EntraID,
			ch.GroupEntraID, ch.Label, ch.Reason, nullJSON(f), b, af); err != nil {
			return fmt.Errorf("store: write provisioning log: %w", translateSQLite(err))
		}
	}
	for _, c := range plan.Conflicts {
		if _, err := a.exec(ctx, q, runID, a.tid, "conflict", string(c.Action), string(sync.EntityUser), c.EntraID, "",
			c.Label, fmt.Sprintf("%s: e-mail %s is held by %s", c.Reason, c.Email, c.HolderLabel), "[]", nil, nil); err != nil {
			return fmt.Errorf("store: write provisioning log: %w", translateSQLite(err))
		}
	}
	return nil
}

// events appends the events to the outbox in the order given.
func (a *sqliteApply) events(ctx context.Context, runID int64, events []sync.Event) error {
	for _, e := range events {
		d, _ := json.Marshal(e.Data)
		if e.Data == nil {
			d = []byte("{}")
		}
		if _, err := a.exec(ctx, `INSERT INTO events (tenant_id, run_id, type, entra_id, group_entra_id, data, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, a.tid, runID, e.Type, e.EntraID, e.GroupEntraID, string(d), a.now); err != nil {
			return fmt.Errorf("store: write events: %w", translateSQLite(err))
		}
	}
	return nil
}
