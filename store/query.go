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

// Users lists a tenant's users, all of them or those with status.
func (s *DB) Users(ctx context.Context, tenantID string, status sync.Status) ([]sync.User, error) {
	if status != "" && !status.Valid() {
		return nil, sync.Errorf(sync.EINVALID, "unknown status %q (want staged, invited, active, archived or purged)", status)
	}
	where, args := "TRUE", []any{}
	if status != "" {
		where, args = "status = $2", []any{string(status)}
	}
	users, err := loadUsers(ctx, s.db, tenantID, where, args...)
	if err != nil {
		return nil, err
	}
	return users, nil
}

// Groups lists a tenant's groups with their provisioned members.
func (s *DB) Groups(ctx context.Context, tenantID string) ([]sync.Group, error) {
	return loadGroups(ctx, s.db, tenantID)
}

type runRow struct {
	ID            int64        `db:"id"`
	TenantID      string       `db:"tenant_id"`
	Trigger       string       `db:"trigger"`
	StartedAt     time.Time    `db:"started_at"`
	FinishedAt    time.Time    `db:"finished_at"`
	Outcome       string       `db:"outcome"`
	Counts        []byte       `db:"counts"`
	Conflicts     []byte       `db:"conflicts"`
	GraphRequests int          `db:"graph_requests"`
	ReadMillis    int64        `db:"read_ms"`
	ApplyMillis   int64        `db:"apply_ms"`
	Error         string       `db:"error"`
	RoundTrips    int          `db:"round_trips"`
	LowerBound    int          `db:"lower_bound"`
	PlanMillis    int64        `db:"plan_ms"`
	ThrottleMs    int64        `db:"throttle_wait_ms"`
	Held          int          `db:"held"`
	Review        string       `db:"review"`
	ReviewedAt    sql.NullTime `db:"reviewed_at"`
}

func (r *runRow) run() (sync.Run, error) {
	run := sync.Run{ID: r.ID, TenantID: r.TenantID, Trigger: r.Trigger, StartedAt: r.StartedAt.UTC(),
		FinishedAt: r.FinishedAt.UTC(), Outcome: sync.Outcome(r.Outcome), GraphRequests: r.GraphRequests,
		ReadMillis: r.ReadMillis, ApplyMillis: r.ApplyMillis, Error: r.Error, RoundTrips: r.RoundTrips, LowerBound: r.LowerBound,
		PlanMillis: r.PlanMillis, ThrottleMs: r.ThrottleMs, Held: r.Held, Review: r.Review}
	if r.ReviewedAt.Valid {
		t := r.ReviewedAt.Time.UTC()
		run.ReviewedAt = &t
	}
	if err := json.Unmarshal(r.Counts, &run.Counts); err != nil {
		return run, fmt.Errorf("store: run %d counts: %w", r.ID, err)
	}
	if err := json.Unmarshal(r.Conflicts, &run.Conflicts); err != nil {
		return run, fmt.Errorf("store: run %d conflicts: %w", r.ID, err)
	}
	return run, nil
}

const runColumns = `id, tenant_id, trigger, started_at, finished_at, outcome, counts, conflicts, graph_requests, read_ms, apply_ms, error,
	round_trips, lower_bound, plan_ms, throttle_wait_ms, held, review, reviewed_at`

// Runs lists runs newest first, of one tenant or of all for "".
func (s *DB) Runs(ctx context.Context, tenantID string, limit int) ([]sync.Run, error) {
	if limit <= 0 {
		limit = 50
	}
	var rows []runRow
	err := s.db.SelectContext(ctx, &rows, `SELECT `+runColumns+` FROM runs WHERE ($1 = '' OR tenant_id = $1)
		ORDER BY id DESC LIMIT $2`, tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list runs: %w", err)
	}
	runs := make([]sync.Run, 0, len(rows))
	for i := range rows {
		r, err := rows[i].run()
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// Run returns one run and its provisioning log in order; ErrRunNotFound if
// there is no such run.
func (s *DB) Run(ctx context.Context, id int64) (*sync.Run, []sync.LogEntry, error) {
	var row runRow
	err := s.db.GetContext(ctx, &row, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("store: run %d: %w", id, sync.ErrRunNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: get run %d: %w", id, err)
	}
	run, err := row.run()
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.db.QueryxContext(ctx, `SELECT id, run_id, status, action, entity, entra_id, group_entra_id, label, reason, fields
		FROM provisioning_log WHERE run_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, nil, fmt.Errorf("store: run %d log: %w", id, err)
	}
	defer rows.Close()
	var log []sync.LogEntry
	for rows.Next() {
		var e sync.LogEntry
		var fields []byte
		if err := rows.Scan(&e.ID, &e.RunID, &e.Status, &e.Action, &e.Entity, &e.EntraID, &e.GroupEntraID, &e.Label, &e.Reason, &fields); err != nil {
			return nil, nil, fmt.Errorf("store: scan log entry: %w", err)
		}
		if err := json.Unmarshal(fields, &e.Fields); err != nil {
			return nil, nil, fmt.Errorf("store: log entry %d fields: %w", e.ID, err)
		}
		log = append(log, e)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("store: run %d log: %w", id, err)
	}
	return &run, log, nil
}

// Events lists a tenant's events with an id above after, oldest first.
func (s *DB) Events(ctx context.Context, tenantID string, after int64, limit int) ([]sync.Event, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryxContext(ctx, `SELECT id, tenant_id, COALESCE(run_id, 0), type, entra_id, group_entra_id, data, created_at
		FROM events WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, tenantID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list events: %w", err)
	}
	defer rows.Close()
	var evs []sync.Event
	for rows.Next() {
		var e sync.Event
		var data []byte
		if err := rows.Scan(&e.ID, &e.TenantID, &e.RunID, &e.Type, &e.EntraID, &e.GroupEntraID, &data, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: scan event: %w", err)
		}
		if err := json.Unmarshal(data, &e.Data); err != nil {
			return nil, fmt.Errorf("store: event %d data: %w", e.ID, err)
		}
		e.CreatedAt = e.CreatedAt.UTC()
		evs = append(evs, e)
	}
	return evs, rows.Err()
}

// PurgeUser erases a user's personal data (L5), keeping a tombstone with its
// ids and times; its memberships and paths go. ENOTFOUND if there is no such
// live user. A purged user that comes back into scope is created anew.
func (s *DB) PurgeUser(ctx context.Context, tenantID string, id int64) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: purge: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// The tenant's lock: a purge never interleaves with a cycle's apply.
	var locked string
	if err := tx.GetContext(ctx, &locked, `SELECT id FROM tenants WHERE id = $1 FOR UPDATE`, tenantID); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
		}
		return fmt.Errorf("store: purge: %w", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE users SET status = 'purged', purged_at = now(), updated_at = now(),
		user_principal_name = '', mail = '', email = '', email_key = NULL, display_name = '', given_name = '', surname = '',
		archive_reason = '' WHERE tenant_id = $1 AND id = $2 AND status <> 'purged'`, tenantID, id)
	if err != nil {
		return fmt.Errorf("store: purge user %d: %w", id, translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return sync.Errorf(sync.ENOTFOUND, "store: no live user %d in tenant %s", id, tenantID)
	}
	for _, q := range []string{`DELETE FROM memberships WHERE user_id = $1`, `DELETE FROM user_paths WHERE user_id = $1`} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return fmt.Errorf("store: purge user %d: %w", id, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (tenant_id, type, data) VALUES ($1, 'user.purged', jsonb_build_object('userId', $2::text))`, tenantID, id); err != nil {
		return fmt.Errorf("store: purge user %d: %w", id, err)
	}
	return tx.Commit()
}

// Ping checks the database answers.
func (s *DB) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
