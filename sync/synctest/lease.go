package synctest

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/entrasync/entrasync/sync"
)

// schedule is a tenant's schedule and lease (sync.Leaser).
type schedule struct {
	nextDue          time.Time
	holder           string
	until            *time.Time
	paused           bool
	failures         int
	lastError        string
	quarantineReason string
}

// scheduleOf returns the tenant's schedule, creating it due now; nil for an
// unknown tenant. m.mu is held.
func (m *Memory) scheduleOf(tenantID string) *schedule {
	tn := m.tenants[tenantID]
	if tn == nil {
		return nil
	}
	if tn.schedule == nil {
		tn.schedule = &schedule{nextDue: m.now().UTC()}
	}
	return tn.schedule
}

// ClaimTenant takes tenantID's lease for holder for ttl when no other lease
// is live; with dueOnly, only when its next cycle is due and it is neither
// paused nor disconnected. False for an unknown tenant.
func (m *Memory) ClaimTenant(_ context.Context, tenantID, holder string, ttl time.Duration, dueOnly bool) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sc := m.scheduleOf(tenantID)
	now := m.now().UTC()
	switch {
	case sc == nil:
		return false, nil
	case sc.until != nil && !sc.until.Before(now):
		return false, nil
	case dueOnly && (sc.nextDue.After(now) || sc.paused || m.tenants[tenantID].disconnectedAt != nil):
		return false, nil
	}
	until := now.Add(ttl)
	sc.holder, sc.until = holder, &until
	return true, nil
}

// RenewLease extends holder's live lease by ttl from now; false when holder
// does not hold a live lease.
func (m *Memory) RenewLease(_ context.Context, tenantID, holder string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UTC()
	tn := m.tenants[tenantID]
	if tn == nil || tn.schedule == nil || tn.schedule.holder != holder || tn.schedule.until == nil || tn.schedule.until.Before(now) {
		return false, nil
	}
	until := now.Add(ttl)
	tn.schedule.until = &until
	return true, nil
}

// ReleaseTenant ends holder's lease; a positive after makes the next cycle
// due that long from now. Nothing happens when holder does not hold it.
func (m *Memory) ReleaseTenant(_ context.Context, tenantID, holder string, after time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	tn := m.tenants[tenantID]
	if tn == nil || tn.schedule == nil || tn.schedule.holder != holder {
		return nil
	}
	tn.schedule.holder, tn.schedule.until = "", nil
	if after > 0 {
		tn.schedule.nextDue = m.now().UTC().Add(after)
	}
	return nil
}

// Schedule returns the tenant's schedule and state; ErrTenantNotFound
// before its first claim, pause or outcome.
func (m *Memory) Schedule(_ context.Context, tenantID string) (sync.Schedule, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tn := m.tenants[tenantID]
	if tn == nil || tn.schedule == nil {
		return sync.Schedule{}, fmt.Errorf("synctest: schedule of %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	sc := tn.schedule
	return sync.Schedule{NextDue: sc.nextDue, LeaseHolder: sc.holder, LeaseUntil: cloneTime(sc.until), Paused: sc.paused,
		Failures: sc.failures, LastError: sc.lastError, QuarantineReason: sc.quarantineReason}, nil
}

// NoteOutcome records a cycle's outcome (C7): a failure adds one to the
// consecutive failures and keeps reason (as the quarantine reason too from
// sync.QuarantineAfter failures on); a success clears them. It returns the
// consecutive failures; ErrTenantNotFound for an unknown tenant.
func (m *Memory) NoteOutcome(_ context.Context, tenantID string, failed bool, reason string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sc := m.scheduleOf(tenantID)
	if sc == nil {
		return 0, fmt.Errorf("synctest: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	if !failed {
		sc.failures, sc.lastError, sc.quarantineReason = 0, "", ""
		return 0, nil
	}
	sc.failures++
	sc.lastError, sc.quarantineReason = reason, ""
	if sc.failures >= sync.QuarantineAfter {
		sc.quarantineReason = reason
	}
	return sc.failures, nil
}

// SetPaused pauses or resumes the tenant's scheduled cycles (C8);
// ErrTenantNotFound for an unknown tenant.
func (m *Memory) SetPaused(_ context.Context, tenantID string, paused bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	sc := m.scheduleOf(tenantID)
	if sc == nil {
		return fmt.Errorf("synctest: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	sc.paused = paused
	return nil
}

// ReviewRun records decision on the held run runID and on every other
// unreviewed held run of its tenant. EINVALID for another decision, a run
// that held nothing or one reviewed already; ErrRunNotFound when there is
// no such run.
func (m *Memory) ReviewRun(ctx context.Context, runID int64, decision string) (*sync.Run, error) {
	if decision != sync.ReviewApproved && decision != sync.ReviewRejected {
		return nil, sync.Errorf(sync.EINVALID, "synctest: review %q is not approved or rejected", decision)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.findRun(runID)
	switch {
	case r == nil:
		return nil, fmt.Errorf("synctest: run %d: %w", runID, sync.ErrRunNotFound)
	case r.run.Outcome != sync.OutcomeHeld:
		return nil, sync.Errorf(sync.EINVALID, "run %d held nothing (outcome %s)", runID, r.run.Outcome)
	case r.run.Review != "":
		return nil, sync.Errorf(sync.EINVALID, "run %d was already %s", runID, r.run.Review)
	}
	out := r.run
	out.Review, out.ReviewedBy = decision, sync.Actor(ctx)
	now := m.now().UTC()
	for _, o := range m.runs {
		if o.run.TenantID == out.TenantID && o.run.Outcome == sync.OutcomeHeld && o.run.Review == "" {
			o.run.Review, o.run.ReviewedAt, o.run.ReviewedBy = decision, &now, out.ReviewedBy
		}
	}
	return &out, nil
}

// RotateAPIToken makes hash the one live token, revoking every other;
// ECONFLICT when hash was stored before.
func (m *Memory) RotateAPIToken(_ context.Context, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tokens[hash]; ok {
		return sync.Errorf(sync.ECONFLICT, "synctest: token hash stored before")
	}
	for h := range m.tokens {
		m.tokens[h] = false
	}
	m.tokens[hash] = true
	return nil
}

// APITokenValid reports whether hash is the live token's.
func (m *Memory) APITokenValid(_ context.Context, hash string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tokens[hash], nil
}

// ClaimDue takes the leases of at most limit of tenantIDs that are due (a
// schedule, due, not paused nor disconnected, no live lease), the longest
// overdue first.
func (m *Memory) ClaimDue(_ context.Context, tenantIDs []string, holder string, ttl time.Duration, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UTC()
	var due []string
	for _, id := range tenantIDs {
		tn := m.tenants[id]
		if tn == nil || tn.schedule == nil {
			continue
		}
		sc := tn.schedule
		if sc.nextDue.After(now) || sc.paused || tn.disconnectedAt != nil || (sc.until != nil && !sc.until.Before(now)) {
			continue
		}
		due = append(due, id)
	}
	sort.Slice(due, func(i, j int) bool {
		a, b := m.tenants[due[i]].schedule.nextDue, m.tenants[due[j]].schedule.nextDue
		return a.Before(b) || a.Equal(b) && due[i] < due[j]
	})
	if len(due) > limit {
		due = due[:max(limit, 0)]
	}
	until := now.Add(ttl)
	for _, id := range due {
		sc := m.tenants[id].schedule
		sc.holder, sc.until = holder, &until
	}
	return due, nil
}

// EnsureSchedules gives each known tenant of first without a schedule one,
// due its offset from now, and returns the tenants of first that have one.
func (m *Memory) EnsureSchedules(_ context.Context, first map[string]time.Duration) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var have []string
	for id, d := range first {
		tn := m.tenants[id]
		if tn == nil {
			continue
		}
		if tn.schedule == nil {
			tn.schedule = &schedule{nextDue: m.now().UTC().Add(d)}
		}
		have = append(have, id)
	}
	return have, nil
}

// TenantStates returns every tenant's state, by id.
func (m *Memory) TenantStates(_ context.Context) ([]sync.TenantState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]sync.TenantState, 0, len(m.tenants))
	for id, tn := range m.tenants {
		st := sync.TenantState{TenantID: id, Disconnected: tn.disconnectedAt != nil}
		if tn.schedule != nil {
			st.Paused, st.Failures = tn.schedule.paused, tn.schedule.failures
		}
		for _, r := range m.runs {
			if r.run.TenantID == id && r.run.Outcome == sync.OutcomeHeld && r.run.Review == "" {
				st.HeldPending++
			}
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TenantID < out[j].TenantID })
	return out, nil
}
