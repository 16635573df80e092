package sync_test

import (
	"context"
	"errors"
	gosync "sync"
	"testing"
	"time"

	"github.com/entrasync/entrasync/sync"
	"github.com/entrasync/entrasync/sync/synctest"
)

// emptySource reads an empty application and counts its reads.
type emptySource struct {
	mu    gosync.Mutex
	reads int
}

func (s *emptySource) Snapshot(context.Context) (*sync.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return &sync.Snapshot{Users: map[string]sync.EntraUser{}}, nil
}

func (s *emptySource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// A worker whose Refresh names its tenants serves a tenant from the poll
// after it appears and stops serving one that went; a failed refresh keeps
// the tenants it has.
func TestWorkerRefreshFollowsTheRegistry(t *testing.T) {
	db := synctest.NewMemory()
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if err := db.RegisterTenant(ctx, sync.Tenant{ID: id, EntraTenantID: id, Settings: sync.DefaultTenantSettings()}); err != nil {
			t.Fatal(err)
		}
	}
	srcA, srcB := &emptySource{}, &emptySource{}
	var mu gosync.Mutex
	current := []sync.WorkerTenant{{ID: "a", Source: srcA, Schedule: sync.Every(time.Hour)}}
	var fail error
	refresh := func(context.Context) ([]sync.WorkerTenant, error) {
		mu.Lock()
		defer mu.Unlock()
		return append([]sync.WorkerTenant(nil), current...), fail
	}
	set := func(ts []sync.WorkerTenant, err error) {
		mu.Lock()
		defer mu.Unlock()
		current, fail = ts, err
	}
	w := sync.NewWorker(sync.NewSyncer(db, nil), db, nil, sync.WorkerConfig{Holder: "w", Poll: time.Second, Refresh: refresh}, nil)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() { stop(); <-done }()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: tenants %v", what, w.Tenants())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("a is synced", func() bool { return srcA.count() == 1 })

	set([]sync.WorkerTenant{{ID: "b", Source: srcB, Schedule: sync.Every(time.Hour)}}, nil)
	waitFor("b is synced", func() bool { return srcB.count() == 1 })
	if got := w.Tenants(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("tenants after a is removed: %v", got)
	}
	if _, err := w.RunNow(ctx, "a", sync.CycleOptions{}); !errors.Is(err, sync.ErrUnknownTenant) {
		t.Fatalf("RunNow of a removed tenant = %v, want ErrUnknownTenant", err)
	}

	set(nil, errors.New("registry unavailable"))
	time.Sleep(1500 * time.Millisecond) // a poll or two with a failing refresh
	if got := w.Tenants(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("a failed refresh dropped the tenants: %v", got)
	}
}
