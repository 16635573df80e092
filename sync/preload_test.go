package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
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

	// A dry run and an incremental cycle take no preload of their own.
	cycle(sync.CycleOptions{Trigger: "test"})
	if given, _ := db.Preloads(); given != 3 {
		t.Fatalf("an incremental cycle preloaded (%d given)", given)
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
