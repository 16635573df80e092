package sync_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/store/postgres"
	"github.com/entrasync/entrasync/sync"
	"github.com/entrasync/entrasync/sync/synctest"
)

// duringRead is the real Graph source with a write made during a full
// read, once the directory has given its preload number preload (so that
// the preload cannot have seen it).
type duringRead struct {
	*graph.Source
	db      *synctest.Memory
	preload int
	write   func()
}

func (s *duringRead) SnapshotDelta(ctx context.Context) (*sync.Snapshot, *sync.DeltaState, error) {
	if s.write != nil {
		deadline := time.Now().Add(10 * time.Second)
		for given, _ := s.db.Preloads(); given < s.preload && time.Now().Before(deadline); given, _ = s.db.Preloads() {
			time.Sleep(time.Millisecond)
		}
		s.write()
	}
	return s.Source.SnapshotDelta(ctx)
}

// TestL8_AnAdministratorsWriteDuringTheReadIsNotPlannedOver: a full cycle
// loads the directory while it reads Graph (sync.StatePreloader) and plans
// against what it loaded only if the directory is still as it was. An
// administrator who invites a user while the read runs keeps the invitation
// (L8): the cycle plans against the directory as the invitation left it,
// and the user's rename from Entra lands beside it. Without a write, the
// preloaded directory is the one planned against.
func TestL8_AnAdministratorsWriteDuringTheReadIsNotPlannedOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := synctest.NewMemory()
	h := mustHarnessOn(t, db, baseTenant(), nil)
	src := &duringRead{Source: h.src, db: db}
	h.src = nil
	cycle := func(opt sync.CycleOptions) *sync.Result {
		t.Helper()
		res, err := h.syncer.Cycle(ctx, tenantName, src, opt)
		if err != nil {
			t.Fatalf("cycle: %v", err)
		}
		return res
	}
	cycle(sync.CycleOptions{Trigger: "test"})
	if given, taken := db.Preloads(); given != 1 || taken != 1 {
		t.Fatalf("first cycle: %d preloads given, %d taken; want 1 and 1", given, taken)
	}

	setUser(h.srv, gid(2), func(u *graphtest.User) { u.DisplayName = "Renamed in Entra" })
	src.preload = 2
	src.write = func() {
		u, err := db.ResolveUser(ctx, tenantName, gid(2))
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := db.InviteUsers(ctx, tenantName, []int64{u.ID}, false); err != nil {
			t.Error(err)
		}
	}
	res := cycle(sync.CycleOptions{Trigger: "test", Full: true})
	if res.Run.Mode != sync.ModeFull {
		t.Fatalf("cycle mode %s, want full", res.Run.Mode)
	}
	if given, taken := db.Preloads(); given != 2 || taken != 1 {
		t.Fatalf("after a write during the read: %d preloads given, %d taken; want 2 and 1 (the second not taken)", given, taken)
	}
	u := memoryUsers(t, db)[gid(2)]
	if u.Status != sync.StatusInvited || u.DisplayName != "Renamed in Entra" {
		t.Fatalf("user 2 = %s %q, want invited (the administrator's) and renamed (Entra's)", u.Status, u.DisplayName)
	}

	src.write = nil
	setUser(h.srv, gid(2), func(u *graphtest.User) { u.DisplayName = "Renamed again" })
	cycle(sync.CycleOptions{Trigger: "test", Full: true})
	if given, taken := db.Preloads(); given != 3 || taken != 2 {
		t.Fatalf("unchanged directory: %d preloads given, %d taken; want 3 and 2", given, taken)
	}
	if u := memoryUsers(t, db)[gid(2)]; u.Status != sync.StatusInvited || u.DisplayName != "Renamed again" {
		t.Fatalf("user 2 = %s %q, want invited and renamed again", u.Status, u.DisplayName)
	}

	// A full dry run plans against its preload too; an incremental cycle
	// takes none.
	cycle(sync.CycleOptions{Trigger: "test", Full: true, DryRun: true})
	if given, taken := db.Preloads(); given != 4 || taken != 3 {
		t.Fatalf("full dry run: %d preloads given, %d taken; want 4 and 3", given, taken)
	}
	cycle(sync.CycleOptions{Trigger: "test"})
	if given, _ := db.Preloads(); given != 4 {
		t.Fatalf("an incremental cycle preloaded (%d given)", given)
	}
}

// slowPreload is synctest's directory whose preloads wait for release,
// noting whether a cycle's transaction began while one was still running.
type slowPreload struct {
	*synctest.Memory
	release   chan struct{}
	running   atomic.Int32
	overlaps  atomic.Int32 // Begins while a preload ran
	preloaded atomic.Int32
}

func (d *slowPreload) PreloadState(ctx context.Context, tenantID string) (*sync.State, error) {
	d.running.Add(1)
	defer d.running.Add(-1)
	select {
	case <-d.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	d.preloaded.Add(1)
	return d.Memory.PreloadState(ctx, tenantID)
}

func (d *slowPreload) Begin(ctx context.Context, tenantID string) (sync.Tx, error) {
	if d.running.Load() > 0 {
		d.overlaps.Add(1)
	}
	return d.Memory.Begin(ctx, tenantID)
}

// TestC5_APreloadStillRunningIsWaitedForBeforeTheTransaction: a cycle whose
// directory is still loading when its read ends waits for it before it
// begins its transaction, never holding a connection and the tenant's lock
// while its own preload may wait for a connection (with a small pool, cycles
// would otherwise wait on each other for ever); a cycle cancelled in that
// wait ends at once.
func TestC5_APreloadStillRunningIsWaitedForBeforeTheTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := synctest.NewMemory()
	h := mustHarnessOn(t, mem, baseTenant(), nil)
	dir := &slowPreload{Memory: mem, release: make(chan struct{})}
	syncer := sync.NewSyncer(dir, nil)
	go func() { time.Sleep(300 * time.Millisecond); close(dir.release) }()
	if _, err := syncer.Cycle(ctx, tenantName, h.src, sync.CycleOptions{Trigger: "test"}); err != nil {
		t.Fatalf("cycle: %v", err)
	}
	if n := dir.overlaps.Load(); n != 0 {
		t.Fatalf("%d transactions began while the cycle's preload was still running", n)
	}
	if dir.preloaded.Load() != 1 {
		t.Fatalf("preloads: %d, want 1", dir.preloaded.Load())
	}

	// A preload that never ends: the cycle ends with its context.
	stuck := &slowPreload{Memory: mem, release: make(chan struct{})}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := sync.NewSyncer(stuck, nil).Cycle(cctx, tenantName, h.src, sync.CycleOptions{Trigger: "test", Full: true})
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for stuck.running.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the read is done, or nearly
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled cycle succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cycle waiting for its preload did not end with its context")
	}
	if stuck.running.Load() != 0 {
		t.Fatal("the preload outlived its cycle")
	}
}

func memoryUsers(t *testing.T, db *synctest.Memory) map[string]sync.User {
	t.Helper()
	us, err := db.Users(context.Background(), tenantName, "")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]sync.User{}
	for _, u := range us {
		m[u.EntraID] = u
	}
	return m
}

// heldDuringRead is the real Graph source holding one of the database's
// connections for the whole of each read.
type heldDuringRead struct {
	*graph.Source
	pg *postgres.DB
}

func (s *heldDuringRead) SnapshotDelta(ctx context.Context) (*sync.Snapshot, *sync.DeltaState, error) {
	conn, err := s.pg.SQL().Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	return s.Source.SnapshotDelta(ctx)
}

// TestC5_FullCyclesOnAPoolOfOneConnection: on PostgreSQL, with a pool of
// one connection that the read itself holds, a full cycle's preload waits
// for it after the read, and the cycle's transaction for the preload: full
// cycles end, and plan against what they preloaded.
func TestC5_FullCyclesOnAPoolOfOneConnection(t *testing.T) {
	t.Parallel()
	db := mustPostgres(t)
	h := mustHarnessOn(t, db, baseTenant(), nil)
	pg := pgOf(t, db)
	pg.SQL().SetMaxOpenConns(1)
	src := &heldDuringRead{Source: h.src, pg: pg}
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if i > 0 {
			setUser(h.srv, gid(2), func(u *graphtest.User) { u.DisplayName = fmt.Sprintf("Name %d", i) })
		}
		res, err := h.syncer.Cycle(ctx, tenantName, src, sync.CycleOptions{Trigger: "test", Full: true})
		cancel()
		if err != nil {
			t.Fatalf("full cycle %d on a pool of one: %v", i+1, err)
		}
		if i > 0 && res.Run.Counts["user.update"] != 1 {
			t.Fatalf("full cycle %d: counts %v, want one user update", i+1, res.Run.Counts)
		}
	}
}
