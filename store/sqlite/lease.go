package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/entrasync/entrasync/sync"
)

// The worker's leases (sync.Leaser) on SQLite, with the semantics of the
// PostgreSQL ones (store/postgres/lease.go).
//
// The clock. SQLite has no server: the database's clock is the clock of the
// host that has the file open, and every process sharing one SQLite file
// runs on that host (WAL needs shared memory). Each method reads time.Now()
// once and writes and compares timestamps in timeLayout, as the rest
// of the SQLite code does; fixed-width UTC text sorts as time, so the
// comparisons run in SQL on the text.
//
// The one writer. Every lease and token write runs in a write transaction
// under the in-process write lock (store.DB.WriteTx), as every other write does: a
// plain statement beside an open Begin transaction would wait only
// busy_timeout for the file's write lock and then fail with SQLITE_BUSY. So
// while a cycle's transaction of this process is open, a lease write waits
// for it to end (or for its own context), then runs. This cannot deadlock as
// long as the goroutine that waits is not the one that holds the open
// transaction: a transaction's holder never waits for a lease write, and
// sync.Worker claims before Begin, renews from a separate heartbeat
// goroutine and releases after the cycle's transaction has ended. Calling
// these methods from a goroutine that holds an open Begin transaction of the
// same *DB would wait for itself until ctx ends.
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

var _ sync.Leaser = (*DB)(nil)

// wholeMillis is ttl as PostgreSQL's leases take it: whole milliseconds.
func wholeMillis(ttl time.Duration) time.Duration {
	return time.Duration(ttl.Milliseconds()) * time.Millisecond
}

// ClaimTenant takes tenantID's cycle lease for holder until ttl from now.
// With dueOnly it succeeds only when the tenant's next scheduled cycle is
// due. It returns false when a lease is live, holder's own included (or,
// with dueOnly, when nothing is due), and for a tenant that is not
// registered. It waits for an open write transaction of this process to end.
func (s *DB) ClaimTenant(ctx context.Context, tenantID, holder string, ttl time.Duration, dueOnly bool) (bool, error) {
	var claimed bool
	err := s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		now := time.Now()
		ts := formatTime(now)
		// WHERE comes before ON CONFLICT to keep SQLite's upsert parsing unambiguous.
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenant_schedule (tenant_id, next_due_at, lease_holder, updated_at)
			SELECT id, ?, '', ? FROM tenants WHERE id = ?
			ON CONFLICT (tenant_id) DO NOTHING`, ts, ts, tenantID); err != nil {
			return fmt.Errorf("store: schedule of %s: %w", tenantID, translate(err))
		}
		res, err := tx.ExecContext(ctx, `UPDATE tenant_schedule SET lease_holder = ?, lease_until = ?, updated_at = ?
			WHERE tenant_id = ? AND (lease_until IS NULL OR lease_until < ?)
			AND (NOT ? OR (next_due_at <= ? AND NOT paused
				AND (SELECT disconnected_at FROM tenants WHERE id = tenant_schedule.tenant_id) IS NULL))`,
			holder, formatTime(now.Add(wholeMillis(ttl))), ts, tenantID, ts, dueOnly, ts)
		if err != nil {
			return fmt.Errorf("store: claim %s: %w", tenantID, translate(err))
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
func (s *DB) RenewLease(ctx context.Context, tenantID, holder string, ttl time.Duration) (bool, error) {
	asked := formatTime(time.Now())
	var renewed bool
	err := s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		now := time.Now()
		res, err := tx.ExecContext(ctx, `UPDATE tenant_schedule SET lease_until = ?
			WHERE tenant_id = ? AND lease_holder = ? AND lease_until >= ?`,
			formatTime(now.Add(wholeMillis(ttl))), tenantID, holder, asked)
		if err != nil {
			return fmt.Errorf("store: renew lease of %s: %w", tenantID, translate(err))
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
func (s *DB) ReleaseTenant(ctx context.Context, tenantID, holder string, after time.Duration) error {
	return s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		now := time.Now()
		var next sql.NullString
		if after.Milliseconds() > 0 {
			next = sql.NullString{String: formatTime(now.Add(wholeMillis(after))), Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tenant_schedule SET lease_holder = '', lease_until = NULL, updated_at = ?,
			next_due_at = COALESCE(?, next_due_at)
			WHERE tenant_id = ? AND lease_holder = ?`, formatTime(now), next, tenantID, holder); err != nil {
			return fmt.Errorf("store: release %s: %w", tenantID, translate(err))
		}
		return nil
	})
}

// ClaimDue takes the leases of at most limit of tenantIDs that are due, the
// longest overdue first, in one statement (under the write lock: SQLite has
// one writer, so no two claimers can take the same tenant).
func (s *DB) ClaimDue(ctx context.Context, tenantIDs []string, holder string, ttl time.Duration, limit int) ([]string, error) {
	if len(tenantIDs) == 0 || limit <= 0 {
		return nil, nil
	}
	list, err := json.Marshal(tenantIDs)
	if err != nil {
		return nil, fmt.Errorf("store: claim due tenants: %w", err)
	}
	var ids []string
	err = s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		now := time.Now()
		ts := formatTime(now)
		if err := tx.SelectContext(ctx, &ids, `UPDATE tenant_schedule SET lease_holder = ?, lease_until = ?, updated_at = ?
			WHERE tenant_id IN (
				SELECT ts.tenant_id FROM tenant_schedule ts JOIN tenants t ON t.id = ts.tenant_id
				WHERE ts.tenant_id IN (SELECT value FROM json_each(?)) AND ts.next_due_at <= ? AND NOT ts.paused
					AND t.disconnected_at IS NULL AND (ts.lease_until IS NULL OR ts.lease_until < ?)
				ORDER BY ts.next_due_at, ts.tenant_id LIMIT ?)
			RETURNING tenant_id`, holder, formatTime(now.Add(wholeMillis(ttl))), ts, string(list), ts, ts, limit); err != nil {
			return fmt.Errorf("store: claim due tenants: %w", translate(err))
		}
		return nil
	})
	return ids, err
}

// EnsureSchedules creates the schedules of the registered tenants of first
// that have none, each due its offset from now, and returns the tenants of
// first that have a schedule.
func (s *DB) EnsureSchedules(ctx context.Context, first map[string]time.Duration) ([]string, error) {
	if len(first) == 0 {
		return nil, nil
	}
	var have []string
	err := s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		now := time.Now()
		for id, d := range first {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tenant_schedule (tenant_id, next_due_at, lease_holder, updated_at)
				SELECT id, ?, '', ? FROM tenants WHERE id = ?
				ON CONFLICT (tenant_id) DO NOTHING`, formatTime(now.Add(wholeMillis(d))), formatTime(now), id); err != nil {
				return fmt.Errorf("store: schedule of %s: %w", id, translate(err))
			}
			var n int
			if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM tenant_schedule WHERE tenant_id = ?`, id); err != nil {
				return fmt.Errorf("store: schedule of %s: %w", id, translate(err))
			}
			if n == 1 {
				have = append(have, id)
			}
		}
		return nil
	})
	return have, err
}
