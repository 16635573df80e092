package postgres

import (
	"context"
	"fmt"
	"time"
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
