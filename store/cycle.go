package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/entrasync/entrasync/sync"
)

// RegisterTenant creates the tenant or updates its Entra tenant id and
// settings (the configuration's; administrators' overrides are kept apart).
// EINVALID for an empty id.
func (s *DB) RegisterTenant(ctx context.Context, t sync.Tenant) error {
	if t.ID == "" {
		return sync.Errorf(sync.EINVALID, "store: tenant id is empty")
	}
	settings, err := json.Marshal(t.Settings)
	if err != nil {
		return fmt.Errorf("store: encode settings: %w", err)
	}
	now := s.now()
	return s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO tenants (id, entra_tenant_id, settings, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET entra_tenant_id = excluded.entra_tenant_id, settings = excluded.settings,
				updated_at = excluded.updated_at
			WHERE tenants.entra_tenant_id IS DISTINCT FROM excluded.entra_tenant_id
				OR tenants.settings IS DISTINCT FROM excluded.settings`),
			t.ID, t.EntraTenantID, Text(settings), now, now)
		if err != nil {
			return fmt.Errorf("store: register tenant %s: %w", t.ID, s.d.Translate(err))
		}
		return nil
	})
}

// CycleTx is the shared part of a cycle's transaction: the write
// transaction, holding the tenant's lock, and the tenant as it runs (its
// effective settings, whether a held run awaits review).
type CycleTx struct {
	Tx *sqlx.Tx
	// Conn is the connection Tx runs on, where it has one of its own
	// (Dialect.BeginWrite).
	Conn   *sqlx.Conn
	Tenant sync.Tenant
	end    func()
	done   bool
}

// BeginCycle starts a write transaction on tenantID's directory that holds
// the tenant's lock until Commit or Rollback, so a second cycle of the
// tenant waits for the first. ErrTenantNotFound for an unknown tenant,
// ErrTenantDisconnected for a disconnected one.
func (s *DB) BeginCycle(ctx context.Context, tenantID string) (*CycleTx, error) {
	tx, conn, end, err := s.d.BeginWrite(ctx)
	if err != nil {
		return nil, err
	}
	c := &CycleTx{Tx: tx, Conn: conn, end: end}
	if c.Tenant, err = s.cycleTenant(ctx, tx, tenantID, true); err != nil {
		_ = c.Rollback()
		return nil, err
	}
	return c, nil
}

// cycleTenant reads tenantID as a cycle runs it, locking its row (lock)
// for the rest of tx.
func (s *DB) cycleTenant(ctx context.Context, tx *sqlx.Tx, tenantID string, lock bool) (sync.Tenant, error) {
	var t sync.Tenant
	var settings, overrides Text
	var disconnected bool
	q := `SELECT id, entra_tenant_id, settings, settings_overrides, disconnected_at IS NOT NULL,
		EXISTS (SELECT 1 FROM runs WHERE tenant_id = tenants.id AND outcome = 'held' AND review = ''), directory_version
		FROM tenants WHERE id = ?`
	if lock {
		q += s.d.LockRow
	}
	err := tx.QueryRowxContext(ctx, s.q(q), tenantID).
		Scan(&t.ID, &t.EntraTenantID, &settings, &overrides, &disconnected, &t.PendingHold, &t.DirectoryVersion)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		err = fmt.Errorf("store: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	case err != nil:
		err = fmt.Errorf("store: lock tenant %s: %w", tenantID, s.d.Translate(err))
	case disconnected:
		err = fmt.Errorf("store: tenant %s: %w", tenantID, sync.ErrTenantDisconnected)
	default:
		if t.Settings, err = sync.MergeSettings(settings, overrides); err != nil {
			err = fmt.Errorf("store: tenant %s settings: %w", tenantID, err)
		}
	}
	return t, err
}

// PreloadState loads tenantID's whole directory in one read-only snapshot
// (sync.StatePreloader), as a cycle does beside its read: on SQLite a
// deferred BEGIN, which takes no lock; on PostgreSQL one REPEATABLE READ
// snapshot for the tenant's version and every row.
func (s *DB) PreloadState(ctx context.Context, tenantID string) (*sync.State, error) {
	tx, err := s.beginSnapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: preload %s: %w", tenantID, err)
	}
	defer func() { _ = tx.Rollback() }()
	t, err := s.cycleTenant(ctx, tx, tenantID, false)
	if err != nil {
		return nil, err
	}
	return s.LoadState(ctx, tx, t)
}

// Preloaded is pre as this transaction's state (sync.PreloadedTx): its
// users and groups with the tenant as the transaction locked it, when the
// directory's version is still pre's; nil when it is not.
func (c *CycleTx) Preloaded(pre *sync.State) *sync.State {
	if pre == nil || pre.Partial || pre.Tenant.ID != c.Tenant.ID || pre.Tenant.DirectoryVersion != c.Tenant.DirectoryVersion {
		return nil
	}
	return &sync.State{Tenant: c.Tenant, Users: pre.Users, Groups: pre.Groups}
}

// Commit makes the transaction's writes durable and releases the lock.
func (c *CycleTx) Commit(translate func(error) error) error {
	if c.done {
		return fmt.Errorf("store: commit: %w", sql.ErrTxDone)
	}
	c.done = true
	defer c.end()
	if err := c.Tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", translate(err))
	}
	return nil
}

// Rollback discards the writes and releases the lock; a no-op once the
// transaction has ended.
func (c *CycleTx) Rollback() error {
	if c.done {
		return nil
	}
	c.done = true
	defer c.end()
	// database/sql has already rolled back when Begin's context ended.
	if err := c.Tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("store: rollback: %w", err)
	}
	return nil
}

// BumpDirectory counts a write to tenantID's directory, on tx (which holds
// the tenant's lock).
func (s *DB) BumpDirectory(ctx context.Context, tx *sqlx.Tx, tenantID string) error {
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE tenants SET directory_version = directory_version + 1 WHERE id = ?`), tenantID); err != nil {
		return fmt.Errorf("store: tenant %s: directory version: %w", tenantID, s.d.Translate(err))
	}
	return nil
}

// RecordRun records a run that applied nothing, such as a failed read.
func (s *DB) RecordRun(ctx context.Context, run *sync.Run) error {
	return s.WriteTx(ctx, func(tx *sqlx.Tx) error { return s.InsertRun(ctx, tx, run) })
}

// InsertRun writes run's record on q and sets run.ID.
func (s *DB) InsertRun(ctx context.Context, q sqlx.QueryerContext, run *sync.Run) error {
	counts, conflicts, skipped := Text("{}"), Text("[]"), Text("[]")
	if run.Counts != nil {
		counts, _ = json.Marshal(run.Counts)
	}
	if run.Conflicts != nil {
		conflicts, _ = json.Marshal(run.Conflicts)
	}
	if run.Skipped != nil {
		skipped, _ = json.Marshal(run.Skipped)
	}
	err := sqlx.GetContext(ctx, q, &run.ID, s.q(`INSERT INTO runs (tenant_id, trigger, started_at, finished_at, outcome, counts,
		conflicts, graph_requests, read_ms, apply_ms, error, round_trips, lower_bound, plan_ms, throttle_wait_ms, held, skipped,
		mode, full_reason, critical_path)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		run.TenantID, run.Trigger, s.d.Time(run.StartedAt), s.d.Time(run.FinishedAt), string(run.Outcome), counts, conflicts,
		run.GraphRequests, run.ReadMillis, run.ApplyMillis, run.Error, run.RoundTrips, run.LowerBound, run.PlanMillis,
		run.ThrottleMs, run.Held, skipped, run.Mode, run.FullReason, run.CriticalPath)
	if err != nil {
		return fmt.Errorf("store: record run: %w", s.d.Translate(err))
	}
	return nil
}

// FinishRun writes run's apply time and end, once the audit rows that
// needed its id are written.
func (s *DB) FinishRun(ctx context.Context, tx *sqlx.Tx, run *sync.Run) error {
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET apply_ms = ?, finished_at = ? WHERE id = ?`),
		run.ApplyMillis, s.d.Time(run.FinishedAt), run.ID); err != nil {
		return fmt.Errorf("store: finish run %d: %w", run.ID, s.d.Translate(err))
	}
	return nil
}

// LogColumns are the provisioning log's columns in the order LogRows gives
// their values.
var LogColumns = []string{"run_id", "tenant_id", "status", "action", "entity", "entra_id", "group_entra_id",
	"label", "reason", "fields", "before", "after"}

// LogRows calls row with the values of every provisioning log row of plan,
// in LogColumns order: the applied changes, the held ones, then the
// conflicts. It stops at row's first error.
func LogRows(runID int64, tenantID string, plan *sync.Plan, row func(vals ...any) error) error {
	for _, ch := range plan.Changes {
		var b, a any
		switch ch.Entity {
		case sync.EntityUser:
			b, a = jsonValue(ch.Before), jsonValue(ch.After)
		case sync.EntityGroup:
			b, a = jsonValue(ch.GroupBefore), jsonValue(ch.GroupAfter)
		}
		if err := row(runID, tenantID, "applied", string(ch.Action), string(ch.Entity), ch.EntraID, ch.GroupEntraID,
			ch.Label, ch.Reason, fieldsJSON(ch.Fields), b, a); err != nil {
			return err
		}
	}
	for _, ch := range plan.Held {
		var b, a any
		if ch.Entity == sync.EntityUser {
			b, a = jsonValue(ch.Before), jsonValue(ch.After)
		}
		if err := row(runID, tenantID, "held", string(ch.Action), string(ch.Entity), ch.EntraID, ch.GroupEntraID,
			ch.Label, ch.Reason, fieldsJSON(ch.Fields), b, a); err != nil {
			return err
		}
	}
	for _, c := range plan.Conflicts {
		reason := fmt.Sprintf("%s: e-mail %s is held by %s", c.Reason, c.Email, c.HolderLabel)
		if err := row(runID, tenantID, "conflict", string(c.Action), string(sync.EntityUser), c.EntraID, "",
			c.Label, reason, "[]", nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// EventColumns are the outbox's columns in the order EventRows gives their
// values.
var EventColumns = []string{"tenant_id", "run_id", "type", "entra_id", "group_entra_id", "data"}

// EventRows calls row with the values of every event, in order and in
// EventColumns order. It stops at row's first error.
func EventRows(runID int64, tenantID string, events []sync.Event, row func(vals ...any) error) error {
	for _, e := range events {
		if err := row(tenantID, runID, e.Type, e.EntraID, e.GroupEntraID, eventJSON(e.Data)); err != nil {
			return err
		}
	}
	return nil
}

// fieldsJSON is a change's field diffs as JSON text, [] for none.
func fieldsJSON(f []sync.FieldChange) string {
	if f == nil {
		return "[]"
	}
	b, _ := json.Marshal(f)
	return string(b)
}

// jsonValue is v as JSON text, or nil (NULL) for a nil user or group.
func jsonValue(v any) any {
	switch x := v.(type) {
	case *sync.User:
		if x == nil {
			return nil
		}
		if s := userJSON(x); s != "" {
			return s
		}
		return nil // what json.Marshal refuses
	case *sync.Group:
		if x == nil {
			return nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return string(b)
}

// OriginOr is o, or provisioned for a group change that does not say.
func OriginOr(o sync.Origin) string {
	if o == "" {
		return string(sync.OriginProvisioned)
	}
	return string(o)
}

// PurgeUser erases a user's personal data (L5), keeping a tombstone with its
// ids and times; its memberships and paths go, and a user.purged event is
// written. It holds the tenant's lock, so it never interleaves with a
// cycle's apply. ENOTFOUND if there is no such live user.
func (s *DB) PurgeUser(ctx context.Context, tenantID string, id int64) error {
	return s.tenantTx(ctx, tenantID, func(tx *sqlx.Tx, _ tenantRow) error {
		now := s.now()
		res, err := tx.ExecContext(ctx, s.q(`UPDATE users SET status = 'purged', purged_at = ?, updated_at = ?,
			user_principal_name = '', mail = '', email = '', email_key = NULL, display_name = '', given_name = '', surname = '',
			archive_reason = '' WHERE tenant_id = ? AND id = ? AND status <> 'purged'`), now, now, tenantID, id)
		if err != nil {
			return fmt.Errorf("store: purge user %d: %w", id, s.d.Translate(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sync.Errorf(sync.ENOTFOUND, "store: no live user %d in tenant %s", id, tenantID)
		}
		for _, q := range []string{`DELETE FROM memberships WHERE user_id = ?`, `DELETE FROM user_paths WHERE user_id = ?`} {
			if _, err := tx.ExecContext(ctx, s.q(q), id); err != nil {
				return fmt.Errorf("store: purge user %d: %w", id, s.d.Translate(err))
			}
		}
		// Event data is a map of strings, so the id is written as a string.
		data, _ := json.Marshal(map[string]string{"userId": fmt.Sprint(id)})
		return s.insertEvent(ctx, tx, tenantID, "user.purged", "", data)
	})
}

// adminEvent is an event an administrative write queues.
type adminEvent struct {
	typ, entraID string
	data         []byte // nil for {}
}

// insertEvent queues one event outside a cycle (administration).
func (s *DB) insertEvent(ctx context.Context, tx *sqlx.Tx, tenantID, typ, entraID string, data []byte) error {
	return s.insertEvents(ctx, tx, tenantID, []adminEvent{{typ: typ, entraID: entraID, data: data}})
}

// insertEvents queues events in order, a few hundred to a statement.
func (s *DB) insertEvents(ctx context.Context, tx *sqlx.Tx, tenantID string, events []adminEvent) error {
	const perStatement = chunk / 5
	now := s.now()
	for len(events) > 0 {
		part := events[:min(len(events), perStatement)]
		events = events[len(part):]
		args := make([]any, 0, 5*len(part))
		for _, e := range part {
			data := e.data
			if data == nil {
				data = []byte("{}")
			}
			args = append(args, tenantID, e.typ, e.entraID, Text(data), now)
		}
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", len(part)), ", ")
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO events (tenant_id, type, entra_id, data, created_at) VALUES `+values),
			args...); err != nil {
			return fmt.Errorf("store: write %s events: %w", part[0].typ, s.d.Translate(err))
		}
	}
	return nil
}

// Applier is how a backend writes a cycle's plan inside its transaction.
type Applier interface {
	// ApplyChanges writes the plan's user, group and membership changes.
	ApplyChanges(ctx context.Context, plan *sync.Plan) error
	// WriteLog writes run runID's provisioning log (LogRows).
	WriteLog(ctx context.Context, runID int64, plan *sync.Plan) error
	// WriteEvents appends run runID's events to the outbox (EventRows).
	WriteEvents(ctx context.Context, runID int64, events []sync.Event) error
}

// Apply applies a plan with a backend's Applier, in the order every backend
// keeps (sync.Tx's Apply): the changes, the run record (setting run.ID),
// the provisioning log and the events; then run.ApplyMillis (all of it) and
// run.FinishedAt (now, UTC) on the record.
func (s *DB) Apply(ctx context.Context, tx *sqlx.Tx, a Applier, run *sync.Run, plan *sync.Plan, events []sync.Event) error {
	start := time.Now()
	if err := a.ApplyChanges(ctx, plan); err != nil {
		return err
	}
	if len(plan.Changes) > 0 {
		if err := s.BumpDirectory(ctx, tx, run.TenantID); err != nil {
			return err
		}
	}
	run.ApplyMillis = time.Since(start).Milliseconds()
	run.FinishedAt = time.Now().UTC()
	if err := s.InsertRun(ctx, tx, run); err != nil {
		return err
	}
	if err := a.WriteLog(ctx, run.ID, plan); err != nil {
		return err
	}
	if err := a.WriteEvents(ctx, run.ID, events); err != nil {
		return err
	}
	// The apply time covers the audit writes too; the run row needed its id
	// first, so it is finished here.
	run.ApplyMillis = time.Since(start).Milliseconds()
	run.FinishedAt = time.Now().UTC()
	return s.FinishRun(ctx, tx, run)
}
