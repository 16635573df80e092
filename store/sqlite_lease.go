package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/entrasync/entrasync/sync"
)

// Leases and admin API tokens on SQLite, with the semantics of lease.go.
//
// The clock. SQLite has no server: the database's clock is the clock of the
// host that has the file open, and every process sharing one SQLite file
// runs on that host (WAL needs shared memory). Each method reads time.Now()
// once and writes and compares timestamps in sqliteTimeLayout, as the rest
// of the SQLite code does; fixed-width UTC text sorts as time, so the
// comparisons run in SQL on the text.
//
// The one writer. Every lease and token write runs in a write transaction
// under the in-process write lock (writeTx), as every other write does: a
// plain statement beside an open Begin transaction would wait only
// busy_timeout for the file's write lock and then fail with SQLITE_BUSY. So
// while a cycle's transaction of this process is open, a lease write waits
// for it to end (or for its own context), then runs. This cannot deadlock as
// long as the goroutine that waits is not the one that holds the open
// transaction: a transaction's holder never waits for a lease write, and
// sync.Worker claims before Begin, renews from a separate heartbeat
// goroutine and releases after the cycle's transaction has ended. Calling
// these methods from a goroutine that holds an open Begin transaction of the
// same *SQLite would wait for itself until ctx ends.
//
// A renewal that had to wait must not lose the lease for that wait alone: a
// cycle's transaction may stay open longer than the lease's ttl, and the
// heartbeat that asked to renew while the lease was live would otherwise
// find it expired and abandon a healthy cycle. So RenewLease judges the
// lease's liveness at the moment it was asked for, and requires, as on
// PostgreSQL, that holder still holds it when the write runs. That is safe:
// another process can only take the lease by claiming it, which changes
// lease_holder, and a renewal then fails. Claims and releases use the time
// at which they run.

var _ sync.Leaser = (*SQLite)(nil)

// sqliteTTL is ttl as lease.go passes it to PostgreSQL: whole milliseconds.
func sqliteTTL(ttl time.Duration) time.Duration {
	return time.Duration(ttl.Milliseconds()) * time.Millisecond
}

// ClaimTenant takes tenantID's cycle lease for holder until ttl from now.
// With dueOnly it succeeds only when the tenant's next scheduled cycle is
// due. It returns false when a lease is live, holder's own included (or,
// with dueOnly, when nothing is due), and for a tenant that is not
// registered. It waits for an open write transaction of this process to end.
func (s *SQLite) ClaimTenant(ctx context.Context, tenantID, holder string, ttl time.Duration, dueOnly bool) (bool, error) {
	var claimed bool
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		now := time.Now()
		ts := sqliteTime(now)
		// WHERE comes before ON CONFLICT to keep SQLite's upsert parsing unambiguous.
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenant_schedule (tenant_id, next_due_at, lease_holder, updated_at)
			SELECT id, ?, '', ? FROM tenants WHERE id = ?
			ON CONFLICT (tenant_id) DO NOTHING`, ts, ts, tenantID); err != nil {
			return fmt.Errorf("store: schedule of %s: %w", tenantID, translateSQLite(err))
		}
		res, err := tx.ExecContext(ctx, `UPDATE tenant_schedule SET lease_holder = ?, lease_until = ?, updated_at = ?
			WHERE tenant_id = ? AND (lease_until IS NULL OR lease_until < ?)
			AND (NOT ? OR (next_due_at <= ? AND NOT paused
				AND (SELECT disconnected_at FROM tenants WHERE id = tenant_schedule.tenant_id) IS NULL))`,
			holder, sqliteTime(now.Add(sqliteTTL(ttl))), ts, tenantID, ts, dueOnly, ts)
		if err != nil {
			return fmt.Errorf("store: claim %s: %w", tenantID, translateSQLite(err))
		}
		n, _ := res.RowsAffected()
		claimed = n == 1
		return nil
	})
	if err != nil {
		return false, err
	}
	return claimed, nil
}

// RenewLease extends holder's lease to ttl from now; false when holder no
// longer holds it. Liveness is judged at the time of the call, not after
// waiting for this process's write lock (see the top of this file).
func (s *SQLite) RenewLease(ctx context.Context, tenantID, holder string, ttl time.Duration) (bool, error) {
	asked := sqliteTime(time.Now())
	var renewed bool
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		now := time.Now()
		res, err := tx.ExecContext(ctx, `UPDATE tenant_schedule SET lease_until = ?
			WHERE tenant_id = ? AND lease_holder = ? AND lease_until >= ?`,
			sqliteTime(now.Add(sqliteTTL(ttl))), tenantID, holder, asked)
		if err != nil {
			return fmt.Errorf("store: renew lease of %s: %w", tenantID, translateSQLite(err))
		}
		n, _ := res.RowsAffected()
		renewed = n == 1
		return nil
	})
	if err != nil {
		return false, err
	}
	return renewed, nil
}

// ReleaseTenant ends holder's lease; it does nothing when holder does not
// hold it. A positive after schedules the tenant's next cycle that long from
// now; zero leaves it unchanged.
func (s *SQLite) ReleaseTenant(ctx context.Context, tenantID, holder string, after time.Duration) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		now := time.Now()
		var next sql.NullString
		if after.Milliseconds() > 0 {
			next = sql.NullString{String: sqliteTime(now.Add(sqliteTTL(after))), Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tenant_schedule SET lease_holder = '', lease_until = NULL, updated_at = ?,
			next_due_at = COALESCE(?, next_due_at)
			WHERE tenant_id = ? AND lease_holder = ?`, sqliteTime(now), next, tenantID, holder); err != nil {
			return fmt.Errorf("store: release %s: %w", tenantID, translateSQLite(err))
		}
		return nil
	})
}

// Schedule returns when tenantID's next cycle is due, who holds its lease,
// and whether it is paused or quarantined. ErrTenantNotFound when the tenant
// has no schedule yet (it gets one at its first claim), as on PostgreSQL.
func (s *SQLite) Schedule(ctx context.Context, tenantID string) (sync.Schedule, error) {
	var sc sync.Schedule
	var next string
	var until sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT next_due_at, lease_holder, lease_until, paused, failures, last_error, quarantine_reason
		FROM tenant_schedule WHERE tenant_id = ?`, tenantID).
		Scan(&next, &sc.LeaseHolder, &until, &sc.Paused, &sc.Failures, &sc.LastError, &sc.QuarantineReason)
	if errors.Is(err, sql.ErrNoRows) {
		return sc, fmt.Errorf("store: schedule of %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	if err != nil {
		return sc, fmt.Errorf("store: schedule of %s: %w", tenantID, translateSQLite(err))
	}
	if sc.NextDue, err = parseSQLiteTime(next); err != nil {
		return sc, fmt.Errorf("store: schedule of %s next_due_at: %w", tenantID, err)
	}
	if sc.LeaseUntil, err = parseSQLiteNullTime(until); err != nil {
		return sc, fmt.Errorf("store: schedule of %s lease_until: %w", tenantID, err)
	}
	return sc, nil
}

// ensureSchedule creates tenantID's schedule row inside tx if it has none;
// ErrTenantNotFound when the tenant is not registered.
func sqliteEnsureSchedule(ctx context.Context, tx *sql.Tx, tenantID string) error {
	ts := sqliteTime(time.Now())
	if _, err := tx.ExecContext(ctx, `INSERT INTO tenant_schedule (tenant_id, next_due_at, lease_holder, updated_at)
		SELECT id, ?, '', ? FROM tenants WHERE id = ?
		ON CONFLICT (tenant_id) DO NOTHING`, ts, ts, tenantID); err != nil {
		return fmt.Errorf("store: schedule of %s: %w", tenantID, translateSQLite(err))
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tenant_schedule WHERE tenant_id = ?`, tenantID).Scan(&n); err != nil {
		return fmt.Errorf("store: schedule of %s: %w", tenantID, translateSQLite(err))
	}
	if n == 0 {
		return fmt.Errorf("store: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	return nil
}

// NoteOutcome records a cycle's outcome (C7): a failure adds to the
// consecutive failures and keeps its reason; a success clears both. It
// returns the consecutive failures.
func (s *SQLite) NoteOutcome(ctx context.Context, tenantID string, failed bool, reason string) (int, error) {
	var n int
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := sqliteEnsureSchedule(ctx, tx, tenantID); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `UPDATE tenant_schedule SET
			failures = CASE WHEN ? THEN failures + 1 ELSE 0 END,
			last_error = CASE WHEN ? THEN ? ELSE '' END,
			quarantine_reason = CASE WHEN ? AND failures + 1 >= ? THEN ? ELSE '' END,
			updated_at = ?
			WHERE tenant_id = ? RETURNING failures`, failed, failed, reason, failed, sync.QuarantineAfter, reason,
			sqliteTime(time.Now()), tenantID).Scan(&n)
		if err != nil {
			return fmt.Errorf("store: note outcome of %s: %w", tenantID, translateSQLite(err))
		}
		return nil
	})
	return n, err
}

// SetPaused pauses or resumes tenantID's scheduled cycles (C8).
func (s *SQLite) SetPaused(ctx context.Context, tenantID string, paused bool) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := sqliteEnsureSchedule(ctx, tx, tenantID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tenant_schedule SET paused = ?, updated_at = ? WHERE tenant_id = ?`,
			paused, sqliteTime(time.Now()), tenantID); err != nil {
			return fmt.Errorf("store: pause %s: %w", tenantID, translateSQLite(err))
		}
		return nil
	})
}

// ReviewRun records an administrator's decision on a held run (C6) —
// approved or rejected — for it and every other unreviewed held run of its
// tenant (later cycles held the same archives again). EINVALID when the run was not held or was already reviewed.
func (s *SQLite) ReviewRun(ctx context.Context, runID int64, decision string) (*sync.Run, error) {
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
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE runs SET review = ?, reviewed_at = ?
			WHERE tenant_id = ? AND outcome = 'held' AND review = ''`, decision, sqliteTime(time.Now()), run.TenantID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: review run %d: %w", runID, translateSQLite(err))
	}
	run.Review = decision
	return run, nil
}

// RotateAPIToken stores the hash of a new admin API token and revokes every
// other one, in one transaction: the old token stops working at once. A hash
// that was stored before is refused (ECONFLICT) and nothing changes.
func (s *SQLite) RotateAPIToken(ctx context.Context, hash string) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		now := sqliteTime(time.Now())
		if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE revoked_at IS NULL`, now); err != nil {
			return fmt.Errorf("store: revoke tokens: %w", translateSQLite(err))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (token_hash, created_at) VALUES (?, ?)`, hash, now); err != nil {
			return fmt.Errorf("store: store token: %w", translateSQLite(err))
		}
		return nil
	})
}

// APITokenValid reports whether hash is the hash of a live admin API token.
func (s *SQLite) APITokenValid(ctx context.Context, hash string) (bool, error) {
	var ok bool
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL)`, hash).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("store: check token: %w", translateSQLite(err))
	}
	return ok, nil
}
