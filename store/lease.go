package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/entrasync/entrasync/sync"
)

var _ sync.Leaser = (*DB)(nil)

// ClaimTenant takes tenantID's cycle lease for holder until ttl from the
// database's clock. With dueOnly it succeeds only when the tenant's next
// scheduled cycle is due. It returns false when another holder's lease is
// live (or, with dueOnly, when nothing is due). The clock is PostgreSQL's, so
// processes on several hosts agree.
func (s *DB) ClaimTenant(ctx context.Context, tenantID, holder string, ttl time.Duration, dueOnly bool) (bool, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO tenant_schedule (tenant_id) SELECT id FROM tenants WHERE id = $1
		ON CONFLICT (tenant_id) DO NOTHING`, tenantID); err != nil {
		return false, fmt.Errorf("store: schedule of %s: %w", tenantID, translate(err))
	}
	res, err := s.db.ExecContext(ctx, `UPDATE tenant_schedule SET lease_holder = $2,
		lease_until = now() + $3::bigint * interval '1 millisecond', updated_at = now()
		WHERE tenant_id = $1 AND (lease_until IS NULL OR lease_until < now())
		AND (NOT $4 OR (next_due_at <= now() AND NOT paused
			AND (SELECT disconnected_at FROM tenants WHERE id = $1) IS NULL))`, tenantID, holder, ttl.Milliseconds(), dueOnly)
	if err != nil {
		return false, fmt.Errorf("store: claim %s: %w", tenantID, translate(err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RenewLease extends holder's lease; false when holder no longer holds it.
func (s *DB) RenewLease(ctx context.Context, tenantID, holder string, ttl time.Duration) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE tenant_schedule SET lease_until = now() + $3::bigint * interval '1 millisecond'
		WHERE tenant_id = $1 AND lease_holder = $2 AND lease_until >= now()`, tenantID, holder, ttl.Milliseconds())
	if err != nil {
		return false, fmt.Errorf("store: renew lease of %s: %w", tenantID, translate(err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReleaseTenant ends holder's lease. A positive after schedules the tenant's
// next cycle that long from now (database clock); zero leaves it unchanged.
func (s *DB) ReleaseTenant(ctx context.Context, tenantID, holder string, after time.Duration) error {
	_, err := s.db.ExecContext(ctx, `UPDATE tenant_schedule SET lease_holder = '', lease_until = NULL, updated_at = now(),
		next_due_at = CASE WHEN $3::bigint > 0 THEN now() + $3::bigint * interval '1 millisecond' ELSE next_due_at END
		WHERE tenant_id = $1 AND lease_holder = $2`, tenantID, holder, after.Milliseconds())
	if err != nil {
		return fmt.Errorf("store: release %s: %w", tenantID, translate(err))
	}
	return nil
}

// Schedule returns when tenantID's next cycle is due, who holds its lease,
// and whether it is paused or quarantined.
func (s *DB) Schedule(ctx context.Context, tenantID string) (sync.Schedule, error) {
	var sc sync.Schedule
	var until sql.NullTime
	err := s.db.QueryRowxContext(ctx, `SELECT next_due_at, lease_holder, lease_until, paused, failures, last_error, quarantine_reason
		FROM tenant_schedule WHERE tenant_id = $1`, tenantID).
		Scan(&sc.NextDue, &sc.LeaseHolder, &until, &sc.Paused, &sc.Failures, &sc.LastError, &sc.QuarantineReason)
	if errors.Is(err, sql.ErrNoRows) {
		return sc, fmt.Errorf("store: schedule of %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	if err != nil {
		return sc, fmt.Errorf("store: schedule of %s: %w", tenantID, err)
	}
	sc.NextDue = sc.NextDue.UTC()
	if until.Valid {
		t := until.Time.UTC()
		sc.LeaseUntil = &t
	}
	return sc, nil
}

// ensureSchedule creates tenantID's schedule row if it has none;
// ErrTenantNotFound when the tenant is not registered.
func (s *DB) ensureSchedule(ctx context.Context, tenantID string) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO tenant_schedule (tenant_id) SELECT id FROM tenants WHERE id = $1
		ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id`, tenantID)
	if err != nil {
		return fmt.Errorf("store: schedule of %s: %w", tenantID, translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	return nil
}

// NoteOutcome records a cycle's outcome (C7): a failure adds to the
// consecutive failures and keeps its reason; a success clears both. It
// returns the consecutive failures.
func (s *DB) NoteOutcome(ctx context.Context, tenantID string, failed bool, reason string) (int, error) {
	if err := s.ensureSchedule(ctx, tenantID); err != nil {
		return 0, err
	}
	var n int
	err := s.db.GetContext(ctx, &n, `UPDATE tenant_schedule SET
		failures = CASE WHEN $2 THEN failures + 1 ELSE 0 END,
		last_error = CASE WHEN $2 THEN $3 ELSE '' END,
		quarantine_reason = CASE WHEN $2 AND failures + 1 >= $4 THEN $3 ELSE '' END,
		updated_at = now()
		WHERE tenant_id = $1 RETURNING failures`, tenantID, failed, reason, sync.QuarantineAfter)
	if err != nil {
		return 0, fmt.Errorf("store: note outcome of %s: %w", tenantID, translate(err))
	}
	return n, nil
}

// SetPaused pauses or resumes tenantID's scheduled cycles (C8).
func (s *DB) SetPaused(ctx context.Context, tenantID string, paused bool) error {
	if err := s.ensureSchedule(ctx, tenantID); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE tenant_schedule SET paused = $2, updated_at = now() WHERE tenant_id = $1`,
		tenantID, paused); err != nil {
		return fmt.Errorf("store: pause %s: %w", tenantID, translate(err))
	}
	return nil
}

// ReviewRun records an administrator's decision on a held run (C6) —
// approved or rejected — for it and every other unreviewed held run of its
// tenant (later cycles held the same archives again). EINVALID when the run was not held or was already reviewed.
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
	if _, err := s.db.ExecContext(ctx, `UPDATE runs SET review = $2, reviewed_at = now()
		WHERE tenant_id = $1 AND outcome = 'held' AND review = ''`, run.TenantID, decision); err != nil {
		return nil, fmt.Errorf("store: review run %d: %w", runID, translate(err))
	}
	run.Review = decision
	return run, nil
}

// RotateAPIToken stores the hash of a new admin API token and revokes every
// other one, in one transaction: the old token stops working at once.
func (s *DB) RotateAPIToken(ctx context.Context, hash string) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: rotate token: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// Two rotations at once must not both leave their token live.
	if _, err := tx.ExecContext(ctx, `LOCK TABLE api_tokens IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("store: lock tokens: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE revoked_at IS NULL`); err != nil {
		return fmt.Errorf("store: revoke tokens: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (token_hash) VALUES ($1)`, hash); err != nil {
		return fmt.Errorf("store: store token: %w", translate(err))
	}
	return tx.Commit()
}

// APITokenValid reports whether hash is the hash of a live admin API token.
func (s *DB) APITokenValid(ctx context.Context, hash string) (bool, error) {
	var ok bool
	err := s.db.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL)`, hash)
	if err != nil {
		return false, fmt.Errorf("store: check token: %w", err)
	}
	return ok, nil
}
