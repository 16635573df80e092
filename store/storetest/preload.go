package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

// testPreloadedState: the whole directory loaded outside the cycle's
// transaction (sync.StatePreloader, as a full cycle does during its read)
// is what the transaction's own State loads, and the transaction takes it
// (sync.PreloadedTx) only while the directory is as the preload saw it:
// after an administrator's write, or a cycle's, it loads its own, which
// holds that write. The preload writes nothing and waits for no lock: it
// runs while another cycle of the tenant holds its transaction open.
func testPreloadedState(t *testing.T, dir store.Store) {
	ctx := context.Background()
	mustRegister(t, dir)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	users := []sync.EntraUser{user("a", "a@x.test"), user("b", "b@x.test"), user("c", "c@x.test")}
	cycle(t, dir, snapshot(users, []string{"a", "b"}, secGroup("g1", "One", "b", "c")), now)
	pl, ok := dir.(sync.StatePreloader)
	if !ok {
		t.Fatal("the directory does not preload states")
	}

	// Preloaded while another cycle of the tenant holds its transaction.
	open, _ := mustBegin(t, ctx, dir, "t1")
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	pre, err := pl.PreloadState(pctx, "t1")
	cancel()
	if err != nil {
		t.Fatalf("PreloadState during an open cycle: %v", err)
	}
	_ = open.Rollback()
	if _, err := pl.PreloadState(ctx, "nobody"); err == nil {
		t.Fatal("PreloadState of an unknown tenant: no error")
	}

	tx, own := mustBegin(t, ctx, dir, "t1")
	got, reused, err := tx.(sync.PreloadedTx).StateFrom(ctx, pre)
	if err != nil || !reused {
		t.Fatalf("StateFrom of an unchanged directory: reused %v, %v", reused, err)
	}
	if !reflect.DeepEqual(got, own) {
		t.Fatalf("preloaded state:\n%+v\nthe transaction's own:\n%+v", got, own)
	}
	// The transaction plans and applies with it as with its own.
	plan := sync.Diff(snapshot(users, []string{"a"}, secGroup("g1", "One", "b", "c")), got, now.Add(time.Hour))
	run := &sync.Run{TenantID: "t1", Trigger: "test", StartedAt: now, FinishedAt: now, Outcome: sync.OutcomeSucceeded, Counts: plan.Counts()}
	if err := tx.Apply(ctx, run, plan, plan.Events()); err != nil {
		t.Fatalf("apply with a preloaded state: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	// That cycle wrote: the state preloaded before it is not taken.
	tx, own = mustBegin(t, ctx, dir, "t1")
	if _, reused, err := tx.(sync.PreloadedTx).StateFrom(ctx, pre); err != nil || reused {
		t.Fatalf("StateFrom after a cycle's write: reused %v, %v", reused, err)
	}
	_ = tx.Rollback()

	// Nor after an administrator's write.
	pre, err = pl.PreloadState(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	var staged int64
	for _, u := range pre.Users {
		if u.EntraID == "b" {
			staged = u.ID
		}
	}
	if _, err := dir.InviteUsers(ctx, "t1", []int64{staged}, false); err != nil {
		t.Fatal(err)
	}
	tx, own = mustBegin(t, ctx, dir, "t1")
	defer func() { _ = tx.Rollback() }()
	got, reused, err = tx.(sync.PreloadedTx).StateFrom(ctx, pre)
	if err != nil || reused {
		t.Fatalf("StateFrom after an administrator's write: reused %v, %v", reused, err)
	}
	if !reflect.DeepEqual(got, own) {
		t.Fatalf("state after an administrator's write:\n%+v\nthe transaction's own:\n%+v", got, own)
	}
	for _, u := range got.Users {
		if u.EntraID == "b" && u.Status != sync.StatusInvited {
			t.Fatalf("user b is %s in the state loaded after the invitation", u.Status)
		}
	}
}
