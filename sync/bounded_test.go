package sync_test

import (
	"context"
	"fmt"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entrasync/entrasync/sync"
	"github.com/entrasync/entrasync/sync/synctest"
)

// slowSource is a tenant with one directly assigned user whose read takes d.
type slowSource struct {
	id string
	d  time.Duration
}

func (s slowSource) Snapshot(ctx context.Context) (*sync.Snapshot, error) {
	select {
	case <-time.After(s.d):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	u := sync.EntraUser{ID: gid(1), UserPrincipalName: "one@" + s.id + ".test", Mail: "one@" + s.id + ".test", AccountEnabled: true}
	return &sync.Snapshot{ServicePrincipal: sync.Ref{ID: spID}, Users: map[string]sync.EntraUser{u.ID: u},
		DirectUsers: []string{u.ID}, AssignmentsListed: 1}, nil
}

// TestWorkerBoundsCyclesInFlightAndSpreadsFirstCycles: 40 tenants on a
// worker of 4 slots — never more than 4 cycles at once, each tenant synced,
// and their first cycles spread over the interval instead of all due now.
func TestWorkerBoundsCyclesInFlightAndSpreadsFirstCycles(t *testing.T) {
	t.Parallel()
	const tenants, slots, interval = 40, 4, 3 * time.Second
	db := synctest.NewMemory()
	var wts []sync.WorkerTenant
	for i := range tenants {
		id := fmt.Sprintf("t%02d", i)
		if err := db.RegisterTenant(context.Background(), sync.Tenant{ID: id, EntraTenantID: "e", Settings: sync.DefaultTenantSettings()}); err != nil {
			t.Fatal(err)
		}
		wts = append(wts, sync.WorkerTenant{ID: id, Source: slowSource{id, 50 * time.Millisecond}, Schedule: sync.Every(interval)})
	}
	log := newCycleLog()
	for i := range wts {
		wts[i].Source = &loggedSource{Source: wts[i].Source, tenant: wts[i].ID, log: log}
	}
	w := sync.NewWorker(sync.NewSyncer(db, nil), db, wts, sync.WorkerConfig{Holder: "w", Poll: time.Second, LeaseTTL: 10 * time.Second,
		MaxCycles: slots, Observer: log}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg gosync.WaitGroup
	wg.Add(1)
	started := time.Now()
	go func() { defer wg.Done(); _ = w.Run(ctx) }()
	waitFor(t, 30*time.Second, func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		return len(log.starts) == tenants
	})
	cancel()
	wg.Wait()
	if _, peak := w.CyclesInFlight(); peak > slots || peak == 0 {
		t.Fatalf("peak cycles in flight = %d, want 1..%d", peak, slots)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.overlaps) > 0 {
		t.Fatalf("cycles of one tenant overlapped: %v", log.overlaps)
	}
	// The first due times were spread over the interval, not all "now".
	distinct := map[time.Duration]bool{}
	var earliest, latest time.Duration = interval, 0
	for _, starts := range log.starts {
		off := starts[0].Sub(started).Truncate(100 * time.Millisecond)
		distinct[off] = true
		earliest, latest = min(earliest, off), max(latest, off)
	}
	if len(distinct) < 5 || latest-earliest < interval/3 {
		t.Fatalf("first cycles started at %d distinct offsets from %s to %s, want them spread over the %s interval", len(distinct), earliest, latest, interval)
	}
}

// backgroundSource has work of its own that outlives its cycles.
type backgroundSource struct {
	slowSource
	done *atomic.Bool
}

func (b backgroundSource) Wait() {
	time.Sleep(100 * time.Millisecond) // a mirror still being encoded
	b.done.Store(true)
}

// TestWorkerWaitsForItsSourcesBackgroundWork: Run returns only once each
// tenant's source has finished the work it does aside (sync.Background).
func TestWorkerWaitsForItsSourcesBackgroundWork(t *testing.T) {
	t.Parallel()
	db := synctest.NewMemory()
	if err := db.RegisterTenant(context.Background(), sync.Tenant{ID: "t", EntraTenantID: "e", Settings: sync.DefaultTenantSettings()}); err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	w := sync.NewWorker(sync.NewSyncer(db, nil), db,
		[]sync.WorkerTenant{{ID: "t", Source: backgroundSource{slowSource{"t", time.Millisecond}, &done}, Schedule: sync.Every(time.Hour)}},
		sync.WorkerConfig{Holder: "w", Poll: time.Second, LeaseTTL: 10 * time.Second, MaxCycles: 1}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if !done.Load() {
		t.Fatal("the worker stopped before its source's background work ended")
	}
}
