package sync_test

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/sync"
	"github.com/entrasync/entrasync/sync/synctest"
)

// cycleLog records, per tenant, how many cycles are in flight and when each
// one started, across every worker of a test.
type cycleLog struct {
	mu       gosync.Mutex
	active   map[string]int
	starts   map[string][]time.Time
	overlaps []string
}

func newCycleLog() *cycleLog {
	return &cycleLog{active: map[string]int{}, starts: map[string][]time.Time{}}
}

func (l *cycleLog) begin(tenant string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active[tenant]++
	if l.active[tenant] > 1 {
		l.overlaps = append(l.overlaps, tenant)
	}
	l.starts[tenant] = append(l.starts[tenant], time.Now())
}

// CycleFinished implements sync.Observer.
func (l *cycleLog) CycleFinished(tenant, _ string, _ *sync.Result, _ error, _ time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active[tenant]--
}

// loggedSource marks a cycle's start; block, when set, hangs the read (a
// process that dies mid-cycle).
type loggedSource struct {
	sync.Source
	tenant string
	log    *cycleLog
	block  <-chan struct{}
}

func (s *loggedSource) Snapshot(ctx context.Context) (*sync.Snapshot, error) {
	s.log.begin(s.tenant)
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
		}
		return nil, errors.New("process killed")
	}
	return s.Source.Snapshot(ctx)
}

// deadLeaser is the directory of a killed process: it never renews nor
// releases a lease.
type deadLeaser struct {
	sync.Store
	dead atomic.Bool
}

func (d *deadLeaser) RenewLease(ctx context.Context, t, h string, ttl time.Duration) (bool, error) {
	if d.dead.Load() {
		<-ctx.Done()
		return false, ctx.Err()
	}
	return d.Store.RenewLease(ctx, t, h, ttl)
}

func (d *deadLeaser) ReleaseTenant(ctx context.Context, t, h string, after time.Duration) error {
	if d.dead.Load() {
		return nil
	}
	return d.Store.ReleaseTenant(ctx, t, h, after)
}

func TestC1_C5_ThreeWorkersShareOneDatabase(t *testing.T) {
	t.Parallel()
	const (
		tenants  = 12
		interval = 2 * time.Second
		lease    = 3 * time.Second
		runFor   = 9 * time.Second
	)
	srv := graphtest.NewServer(baseTenant())
	defer srv.Close()
	db := synctest.NewMemory() // one directory, as processes share one database
	log := newCycleLog()
	tn := srv.Tenant()
	src := mustSource(t, srv, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg gosync.WaitGroup
	for w := 0; w < 3; w++ {
		var wts []sync.WorkerTenant
		for i := 0; i < tenants; i++ {
			id := fmt.Sprintf("t%02d", i)
			if err := db.RegisterTenant(context.Background(), sync.Tenant{ID: id, EntraTenantID: tn.TenantID, Settings: sync.DefaultTenantSettings()}); err != nil {
				t.Fatal(err)
			}
			s := &loggedSource{Source: src, tenant: id, log: log}
			wts = append(wts, sync.WorkerTenant{ID: id, Source: s, Schedule: sync.Every(interval)})
		}
		worker := sync.NewWorker(sync.NewSyncer(db, nil), db, wts, sync.WorkerConfig{
			Holder: fmt.Sprintf("worker-%d", w), Poll: time.Second, LeaseTTL: lease, ShutdownGrace: time.Second, Observer: log}, nil)
		wg.Add(1)
		go func() { defer wg.Done(); _ = worker.Run(ctx) }()
	}
	start := time.Now()
	time.Sleep(runFor)
	cancel()
	wg.Wait()
	elapsed := time.Since(start)

	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.overlaps) > 0 {
		t.Fatalf("cycles of one tenant overlapped: %v", log.overlaps)
	}
	maxRuns := int(elapsed/interval) + 2
	for i := 0; i < tenants; i++ {
		id := fmt.Sprintf("t%02d", i)
		n := len(log.starts[id])
		if n > maxRuns {
			t.Errorf("tenant %s ran %d cycles in %s, want at most %d (once per %s interval)", id, n, elapsed, maxRuns, interval)
		}
		if n < 2 {
			t.Errorf("tenant %s ran %d cycles in %s, want at least 2", id, n, elapsed)
		}
	}
	// Gaps between cycles of one tenant are at least the interval (minus
	// the second the schedule rounds to).
	for id, starts := range log.starts {
		for i := 1; i < len(starts); i++ {
			if gap := starts[i].Sub(starts[i-1]); gap < interval-time.Second {
				t.Errorf("tenant %s cycles %s apart, want about %s", id, gap, interval)
			}
		}
	}
}

func TestC5_KilledWorkerLosesTenantForAtMostALease(t *testing.T) {
	t.Parallel()
	const lease = 2 * time.Second
	srv := graphtest.NewServer(baseTenant())
	defer srv.Close()
	tn := srv.Tenant()
	src := mustSource(t, srv, 0)
	log := newCycleLog()
	db := synctest.NewMemory() // the directory workers A and B share
	if err := db.RegisterTenant(context.Background(), sync.Tenant{ID: "t", EntraTenantID: tn.TenantID, Settings: sync.DefaultTenantSettings()}); err != nil {
		t.Fatal(err)
	}
	// Worker A claims the tenant and hangs in the middle of its cycle, then
	// dies without releasing the lease.
	kill := make(chan struct{})
	deadA := &deadLeaser{Store: db}
	ctxA, cancelA := context.WithCancel(context.Background())
	workerA := sync.NewWorker(sync.NewSyncer(db, nil), deadA,
		[]sync.WorkerTenant{{ID: "t", Source: &loggedSource{Source: src, tenant: "t", log: log, block: kill}, Schedule: sync.Every(time.Hour)}},
		sync.WorkerConfig{Holder: "A", LeaseTTL: lease, ShutdownGrace: 50 * time.Millisecond}, nil)
	doneA := make(chan struct{})
	go func() { _ = workerA.Run(ctxA); close(doneA) }()
	waitFor(t, 5*time.Second, func() bool { log.mu.Lock(); defer log.mu.Unlock(); return len(log.starts["t"]) == 1 })
	deadA.dead.Store(true)
	killedAt := time.Now()
	cancelA()
	close(kill)
	<-doneA

	// Worker B must be refused while the dead lease lives, then take over.
	workerB := sync.NewWorker(sync.NewSyncer(db, nil), db,
		[]sync.WorkerTenant{{ID: "t", Source: &loggedSource{Source: src, tenant: "t", log: log}, Schedule: sync.Every(time.Hour)}},
		sync.WorkerConfig{Holder: "B", LeaseTTL: lease}, nil)
	if _, err := workerB.RunNow(context.Background(), "t", sync.CycleOptions{Trigger: "test"}); !errors.Is(err, sync.ErrCycleRunning) {
		t.Fatalf("RunNow during a live lease = %v, want ErrCycleRunning", err)
	}
	var res *sync.Result
	waitFor(t, 3*lease, func() bool {
		var err error
		res, err = workerB.RunNow(context.Background(), "t", sync.CycleOptions{Trigger: "test"})
		return err == nil
	})
	if took := time.Since(killedAt); took > lease+3*time.Second {
		t.Errorf("tenant blocked %s after its holder died, want at most a lease (%s)", took, lease)
	}
	if res.Plan.Counts()["user.create"] != 3 {
		t.Fatalf("takeover cycle = %v", res.Plan.Counts())
	}
}

func TestC5_OnDemandWhileScheduledCycleRuns(t *testing.T) {
	t.Parallel()
	h := MustMemoryHarness(t, baseTenant(), nil)
	log := newCycleLog()
	release := make(chan struct{})
	slow := &loggedSource{Source: h.src, tenant: tenantName, log: log, block: release}
	w := sync.NewWorker(h.syncer, h.db, []sync.WorkerTenant{{ID: tenantName, Source: slow, Schedule: sync.Every(time.Hour)}},
		sync.WorkerConfig{Holder: "only"}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	waitFor(t, 5*time.Second, func() bool { log.mu.Lock(); defer log.mu.Unlock(); return len(log.starts[tenantName]) == 1 })
	if _, err := w.RunNow(context.Background(), tenantName, sync.CycleOptions{Trigger: "api"}); !errors.Is(err, sync.ErrCycleRunning) {
		t.Fatalf("on-demand during a scheduled cycle = %v, want ErrCycleRunning", err)
	}
	close(release)
	cancel()
	<-done
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.starts[tenantName]) != 1 || len(log.overlaps) != 0 {
		t.Fatalf("cycles started = %d, overlaps %v", len(log.starts[tenantName]), log.overlaps)
	}
}

func waitFor(tb testing.TB, limit time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
