package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/entrasync/entrasync/sync"
)

// gate holds a source's read until released, and says when one has begun.
type gate struct {
	sync.Source
	entered, release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 1), release: make(chan struct{})} }

func (g *gate) wrap(s sync.Source) sync.Source { g.Source = s; return g }

func (g *gate) Snapshot(ctx context.Context) (*sync.Snapshot, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Source.Snapshot(ctx)
}

// post sends an authenticated POST that gives up after wait.
func (h *apiHarness) post(path string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", h.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

// waitForRun waits (10 s at most) until the tenant has a run with outcome
// and its lease is free.
func waitForRun(t *testing.T, h *apiHarness, outcome sync.Outcome) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		runs, err := h.db.Runs(context.Background(), "demo", 10)
		sc, serr := h.db.Schedule(context.Background(), "demo")
		if err == nil && serr == nil && len(runs) == 1 && runs[0].Outcome == outcome && sc.LeaseHolder == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	runs, _ := h.db.Runs(context.Background(), "demo", 10)
	sc, _ := h.db.Schedule(context.Background(), "demo")
	t.Fatalf("runs = %+v, lease holder %q; want one %s run and the lease released", runs, sc.LeaseHolder, outcome)
}

// TestAPICycleOutlivesClientDisconnect: a client that gives up on POST
// /cycles does not cancel the cycle: it runs to its end on the worker's
// context, is recorded, and releases the lease.
func TestAPICycleOutlivesClientDisconnect(t *testing.T) {
	g := newGate()
	h := MustAPIWith(t, sync.DefaultTenantSettings(), g.wrap)
	done := make(chan error, 1)
	go func() { done <- h.post("/api/v1/tenants/demo/cycles", 300*time.Millisecond) }()
	<-g.entered
	if err := <-done; err == nil {
		t.Fatal("the client's request returned before the cycle could read")
	}
	close(g.release) // the client is gone; the cycle goes on
	waitForRun(t, h, sync.OutcomeSucceeded)
}

// TestAPICycleCoveredByShutdownGrace: when the worker is told to stop
// (SIGTERM) during a cycle started through the API, it waits for that cycle
// within its grace, as for a scheduled one; work handed over afterwards is
// refused.
func TestAPICycleCoveredByShutdownGrace(t *testing.T) {
	g := newGate()
	h := MustAPIWith(t, sync.DefaultTenantSettings(), g.wrap)
	go func() { _ = h.post("/api/v1/tenants/demo/cycles", 15*time.Second) }()
	<-g.entered // the API cycle holds the lease, so the poll starts none
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- h.worker.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	stop()
	select {
	case <-stopped:
		t.Fatal("the worker stopped while a cycle started through the API was still running")
	case <-time.After(300 * time.Millisecond):
	}
	if code, body := h.do(t, "POST", "/api/v1/tenants/demo/cycles", h.token); code != http.StatusServiceUnavailable {
		t.Errorf("POST /cycles while shutting down = %d %s, want 503", code, body)
	}
	close(g.release)
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop after the API cycle ended")
	}
	waitForRun(t, h, sync.OutcomeSucceeded)
}
