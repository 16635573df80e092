package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// The worker's leases (sync.Leaser) on the database's clock: now() is
// PostgreSQL's, so processes on several hosts agree on who holds a lease
// and when a tenant is due. Durations go in as whole milliseconds.

// ClaimTenant takes tenantID's cycle lease for holder until ttl from now.
// With dueOnly it succeeds only when the tenant's next scheduled cycle is
// due and it is neither paused nor disconnected. It returns false when a
// lease is live, holder's own included (or, with dueOnly, when nothing is
// due), and for a tenant that is not registered.
func (s *DB) ClaimTenant(ctx context.Context, tenantID, holder string, ttl time.Duration, dueOnly bool) (bool, error) {
	x := s.SQL()
	if _, err := x.ExecContext(ctx, `INSERT INTO tenant_schedule (tenant_id) SELECT id FROM tenants WHERE id = $1
		ON CONFLICT (tenant_id) DO NOTHING`, tenantID); err != nil {
		return false, fmt.Errorf("store: schedule of %s: %w", tenantID, translate(err))
	}
	res, err := x.ExecContext(ctx, `UPDATE tenant_schedule SET lease_holder = $2,
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

// RenewLease extends holder's lease to ttl from now; false when holder no
// longer holds it.
func (s *DB) RenewLease(ctx context.Context, tenantID, holder string, ttl time.Duration) (bool, error) {
	res, err := s.SQL().ExecContext(ctx, `UPDATE tenant_schedule SET lease_until = now() + $3::bigint * interval '1 millisecond'
		WHERE tenant_id = $1 AND lease_holder = $2 AND lease_until >= now()`, tenantID, holder, ttl.Milliseconds())
	if err != nil {
		return false, fmt.Errorf("store: renew lease of %s: %w", tenantID, translate(err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReleaseTenant ends holder's lease; it does nothing when holder does not
// hold it. A positive after schedules the tenant's next cycle that long from
// now; zero leaves it unchanged.
func (s *DB) ReleaseTenant(ctx context.Context, tenantID, holder string, after time.Duration) error {
	_, err := s.SQL().ExecContext(ctx, `UPDATE tenant_schedule SET lease_holder = '', lease_until = NULL, updated_at = now(),
		next_due_at = CASE WHEN $3::bigint > 0 THEN now() + $3::bigint * interval '1 millisecond' ELSE next_due_at END
		WHERE tenant_id = $1 AND lease_holder = $2`, tenantID, holder, after.Milliseconds())
	if err != nil {
		return fmt.Errorf("store: release %s: %w", tenantID, translate(err))
	}
	return nil
}

// ClaimDue takes the leases of at most limit of tenantIDs that are due, the
// longest overdue first, in one statement; rows another claimer has locked
// are skipped, not waited for, so processes polling at once share the due
// tenants instead of queueing on each other.
func (s *DB) ClaimDue(ctx context.Context, tenantIDs []string, holder string, ttl time.Duration, limit int) ([]string, error) {
	if len(tenantIDs) == 0 || limit <= 0 {
		return nil, nil
	}
	var ids []string
	// MATERIALIZED: the picked rows are chosen (and locked) once, so no
	// more than limit are updated.
	err := s.SQL().SelectContext(ctx, &ids, `WITH picked AS MATERIALIZED (
			SELECT ts.tenant_id FROM tenant_schedule ts JOIN tenants t ON t.id = ts.tenant_id
			WHERE ts.tenant_id = ANY($1) AND ts.next_due_at <= now() AND NOT ts.paused AND t.disconnected_at IS NULL
				AND (ts.lease_until IS NULL OR ts.lease_until < now())
			ORDER BY ts.next_due_at, ts.tenant_id LIMIT $4
			FOR UPDATE OF ts SKIP LOCKED)
		UPDATE tenant_schedule s SET lease_holder = $2,
			lease_until = now() + $3::bigint * interval '1 millisecond', updated_at = now()
		FROM picked WHERE s.tenant_id = picked.tenant_id
		RETURNING s.tenant_id`, pq.Array(tenantIDs), holder, ttl.Milliseconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: claim due tenants: %w", translate(err))
	}
	return ids, nil
}

// EnsureSchedules creates the schedules of the registered tenants of first
// that have none, each due its offset from now, in one statement, and
// returns the tenants of first that have a schedule.
func (s *DB) EnsureSchedules(ctx context.Context, first map[string]time.Duration) ([]string, error) {
	if len(first) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(first))
	offs := make([]int64, 0, len(first))
	for id, d := range first {
		ids = append(ids, id)
		offs = append(offs, d.Milliseconds())
	}
	var have []string
	if err := s.SQL().SelectContext(ctx, &have, `WITH added AS (INSERT INTO tenant_schedule (tenant_id, next_due_at)
			SELECT t.id, now() + f.off * interval '1 millisecond'
			FROM unnest($1::text[], $2::bigint[]) AS f(id, off) JOIN tenants t ON t.id = f.id
			ON CONFLICT (tenant_id) DO NOTHING RETURNING tenant_id)
		SELECT tenant_id FROM added UNION SELECT tenant_id FROM tenant_schedule WHERE tenant_id = ANY($1)`,
		pq.Array(ids), pq.Array(offs)); err != nil {
		return nil, fmt.Errorf("store: schedules: %w", translate(err))
	}
	return have, nil
}
