package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/entrasync/entrasync/sync"
)

// The parts of the worker's schedule that need no clock of the database:
// reading a tenant's schedule, noting outcomes (C7), pausing (C8); run
// reviews (C6) and the admin API tokens. Claiming, renewing and releasing a
// lease compare times, so each backend writes them with its own clock.

type scheduleRow struct {
	NextDue          Time   `db:"next_due_at"`
	LeaseHolder      string `db:"lease_holder"`
	LeaseUntil       Time   `db:"lease_until"`
	Paused           bool   `db:"paused"`
	Failures         int    `db:"failures"`
	LastError        string `db:"last_error"`
	QuarantineReason string `db:"quarantine_reason"`
}

// Schedule returns when tenantID's next cycle is due, who holds its lease,
// and whether it is paused or quarantined. ErrTenantNotFound when the tenant
// has no schedule yet (it gets one at its first claim).
func (s *DB) Schedule(ctx context.Context, tenantID string) (sync.Schedule, error) {
	var r scheduleRow
	err := s.x.GetContext(ctx, &r, s.q(`SELECT next_due_at, lease_holder, lease_until, paused, failures, last_error,
		quarantine_reason FROM tenant_schedule WHERE tenant_id = ?`), tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return sync.Schedule{}, fmt.Errorf("store: schedule of %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	if err != nil {
		return sync.Schedule{}, fmt.Errorf("store: schedule of %s: %w", tenantID, s.d.Translate(err))
	}
	return sync.Schedule{NextDue: r.NextDue.Time, LeaseHolder: r.LeaseHolder, LeaseUntil: r.LeaseUntil.Ptr(), Paused: r.Paused,
		Failures: r.Failures, LastError: r.LastError, QuarantineReason: r.QuarantineReason}, nil
}

// ensureSchedule creates tenantID's schedule row inside tx if it has none,
// due now by the database's clock (the column defaults, as a claim creates
// it: leases compare due times with that clock); ErrTenantNotFound when the
// tenant is not registered.
func (s *DB) ensureSchedule(ctx context.Context, tx *sqlx.Tx, tenantID string) error {
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO tenant_schedule (tenant_id) SELECT id FROM tenants WHERE id = ?
		ON CONFLICT (tenant_id) DO NOTHING`), tenantID); err != nil {
		return fmt.Errorf("store: schedule of %s: %w", tenantID, s.d.Translate(err))
	}
	var n int
	if err := tx.GetContext(ctx, &n, s.q(`SELECT count(*) FROM tenant_schedule WHERE tenant_id = ?`), tenantID); err != nil {
		return fmt.Errorf("store: schedule of %s: %w", tenantID, s.d.Translate(err))
	}
	if n == 0 {
		return fmt.Errorf("store: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	return nil
}

// NoteOutcome records a cycle's outcome (C7): a failure adds to the
// consecutive failures and keeps its reason, and from sync.QuarantineAfter
// failures on names the quarantine's reason; a success clears them. It
// returns the consecutive failures.
func (s *DB) NoteOutcome(ctx context.Context, tenantID string, failed bool, reason string) (int, error) {
	if !failed {
		// The common case, in one statement: a success clears failures
		// only where there are some (and a tenant with no schedule has
		// none to clear).
		return 0, s.WriteTx(ctx, func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE tenant_schedule SET failures = 0, last_error = '', quarantine_reason = '',
				updated_at = ? WHERE tenant_id = ? AND (failures > 0 OR last_error <> '' OR quarantine_reason <> '')`), s.now(), tenantID); err != nil {
				return fmt.Errorf("store: note outcome of %s: %w", tenantID, s.d.Translate(err))
			}
			return nil
		})
	}
	var n int
	err := s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.ensureSchedule(ctx, tx, tenantID); err != nil {
			return err
		}
		err := tx.GetContext(ctx, &n, s.q(`UPDATE tenant_schedule SET
			failures = CASE WHEN ? THEN failures + 1 ELSE 0 END,
			last_error = CASE WHEN ? THEN ? ELSE '' END,
			quarantine_reason = CASE WHEN ? AND failures + 1 >= ? THEN ? ELSE '' END,
			updated_at = ?
			WHERE tenant_id = ? RETURNING failures`), failed, failed, reason, failed, sync.QuarantineAfter, reason,
			s.now(), tenantID)
		if err != nil {
			return fmt.Errorf("store: note outcome of %s: %w", tenantID, s.d.Translate(err))
		}
		return nil
	})
	return n, err
}

// SetPaused pauses or resumes tenantID's scheduled cycles (C8).
// ErrTenantNotFound for an unknown tenant.
func (s *DB) SetPaused(ctx context.Context, tenantID string, paused bool) error {
	return s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.ensureSchedule(ctx, tx, tenantID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE tenant_schedule SET paused = ?, updated_at = ? WHERE tenant_id = ?`),
			paused, s.now(), tenantID); err != nil {
			return fmt.Errorf("store: pause %s: %w", tenantID, s.d.Translate(err))
		}
		return nil
	})
}

// ReviewRun records an administrator's decision on a held run (C6) —
// approved or rejected — for it and every other unreviewed held run of its
// tenant (later cycles held the same archives again). EINVALID when the run
// was not held or was already reviewed; ErrRunNotFound when there is none.
func (s *DB) ReviewRun(ctx context.Context, runID int64, decision string) (*sync.Run, error) {
	if decision != sync.ReviewApproved && decision != sync.ReviewRejected {
		return nil, sync.Errorf(sync.EINVALID, "store: review %q is not approved or rejected", decision)
	}
	run, _, err := s.Run(ctx, runID)
	if err != nil {
		return nil, err
	}
	if run.Outcome != sync.OutcomeHeld {
		return nil, sync.Errorf(sync.EINVALID, "run %d held nothing (outcome %s)", runID, run.Outcome)
	}
	if run.Review != "" {
		return nil, sync.Errorf(sync.EINVALID, "run %d was already %s", runID, run.Review)
	}
	err = s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET review = ?, reviewed_at = ?, reviewed_by = ?
			WHERE tenant_id = ? AND outcome = 'held' AND review = ''`), decision, s.now(), sync.Actor(ctx), run.TenantID); err != nil {
			return fmt.Errorf("store: review run %d: %w", runID, s.d.Translate(err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	run.Review, run.ReviewedBy = decision, sync.Actor(ctx)
	return run, nil
}

// RotateAPIToken stores the hash of a new admin API token and revokes every
// other one, in one transaction: the old token stops working at once. A hash
// that was stored before is refused (ECONFLICT) and nothing changes.
func (s *DB) RotateAPIToken(ctx context.Context, hash string) error {
	return s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		if s.d.TokenLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.TokenLock); err != nil {
				return fmt.Errorf("store: lock tokens: %w", s.d.Translate(err))
			}
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE api_tokens SET revoked_at = ? WHERE revoked_at IS NULL`), now); err != nil {
			return fmt.Errorf("store: revoke tokens: %w", s.d.Translate(err))
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO api_tokens (token_hash, created_at) VALUES (?, ?)`), hash, now); err != nil {
			return fmt.Errorf("store: store token: %w", s.d.Translate(err))
		}
		return nil
	})
}

// APITokenValid reports whether hash is the hash of a live admin API token.
func (s *DB) APITokenValid(ctx context.Context, hash string) (bool, error) {
	var ok bool
	err := s.x.GetContext(ctx, &ok, s.q(`SELECT EXISTS (SELECT 1 FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL)`), hash)
	if err != nil {
		return false, fmt.Errorf("store: check token: %w", s.d.Translate(err))
	}
	return ok, nil
}

// TenantStates returns every registered tenant's state (sync.TenantState)
// in one statement: paused, disconnected, consecutive failures, held runs
// awaiting review.
func (s *DB) TenantStates(ctx context.Context) ([]sync.TenantState, error) {
	var rows []struct {
		ID           string `db:"id"`
		Paused       bool   `db:"paused"`
		Disconnected bool   `db:"disconnected"`
		Failures     int    `db:"failures"`
		HeldPending  int    `db:"held_pending"`
	}
	if err := s.x.SelectContext(ctx, &rows, `SELECT t.id, COALESCE(sc.paused, false) AS paused,
		t.disconnected_at IS NOT NULL AS disconnected, COALESCE(sc.failures, 0) AS failures,
		(SELECT count(*) FROM runs r WHERE r.tenant_id = t.id AND r.outcome = 'held' AND r.review = '') AS held_pending
		FROM tenants t LEFT JOIN tenant_schedule sc ON sc.tenant_id = t.id ORDER BY t.id`); err != nil {
		return nil, fmt.Errorf("store: tenant states: %w", s.d.Translate(err))
	}
	out := make([]sync.TenantState, len(rows))
	for i, r := range rows {
		out[i] = sync.TenantState{TenantID: r.ID, Paused: r.Paused, Disconnected: r.Disconnected, Failures: r.Failures, HeldPending: r.HeldPending}
	}
	return out, nil
}
