package synctest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/entrasync/entrasync/sync"
	"github.com/entrasync/entrasync/sync/synctest"
)

var ctx = context.Background()

// MustMemory returns a Memory with tenant "t" registered.
func MustMemory(tb testing.TB) *synctest.Memory {
	tb.Helper()
	m := synctest.NewMemory()
	if err := m.RegisterTenant(ctx, sync.Tenant{ID: "t", Settings: sync.DefaultTenantSettings()}); err != nil {
		tb.Fatal(err)
	}
	return m
}

// snapshot assigns the users of mails (object id → mail) directly.
func snapshot(mails map[string]string) *sync.Snapshot {
	s := &sync.Snapshot{Users: map[string]sync.EntraUser{}}
	for id, mail := range mails {
		s.Users[id] = sync.EntraUser{ID: id, UserPrincipalName: id + "@upn.test", Mail: mail, AccountEnabled: true}
		s.DirectUsers = append(s.DirectUsers, id)
	}
	return s
}

// mustCycle applies the plan that plan makes of the directory's state in one
// transaction and returns Apply's error; nothing is committed unless Apply
// succeeded.
func mustCycle(tb testing.TB, m *synctest.Memory, plan func(*sync.State) *sync.Plan) (*sync.Plan, error) {
	tb.Helper()
	return synctest.Apply(ctx, m, "t", plan)
}

func diff(snap *sync.Snapshot) func(*sync.State) *sync.Plan {
	return func(st *sync.State) *sync.Plan { return sync.Diff(snap, st, time.Now()) }
}

func TestApplyIsAllOrNothing(t *testing.T) {
	m := MustMemory(t)
	if _, err := mustCycle(t, m, diff(snapshot(map[string]string{"a": "a@x.test", "b": "b@x.test"}))); err != nil {
		t.Fatal(err)
	}
	// A plan the planner would never make: b takes a's e-mail (in another
	// case) while a keeps it, and c is created. The store refuses all of it.
	_, err := mustCycle(t, m, func(st *sync.State) *sync.Plan {
		p := sync.Diff(snapshot(map[string]string{"a": "a@x.test", "b": "b@x.test", "c": "c@x.test"}), st, time.Now())
		for _, u := range st.Users {
			if u.EntraID == "b" {
				after := u
				after.Email = "A@X.test"
				p.Changes = append(p.Changes, sync.Change{Action: sync.ActionUpdate, Entity: sync.EntityUser, EntraID: "b", Before: &u, After: &after})
			}
		}
		return p
	})
	if sync.ErrorCode(err) != sync.ECONFLICT {
		t.Fatalf("colliding e-mails = %v, want ECONFLICT", err)
	}
	users, _ := m.Users(ctx, "t", "")
	runs, _ := m.Runs(ctx, "t", 10)
	evs, _ := m.Events(ctx, "t", 0, 100)
	if len(users) != 2 || users[1].Email != "b@x.test" || len(runs) != 1 || len(evs) != 2 {
		t.Fatalf("a failed apply kept something: users %+v, runs %d, events %d", users, len(runs), len(evs))
	}
}

func TestApplyKeepsWhatAdministratorsOwn(t *testing.T) {
	m := MustMemory(t)
	snap := snapshot(map[string]string{"a": "a@x.test"})
	snap.Groups = []sync.EntraGroup{{ID: "g", DisplayName: "G", SecurityEnabled: true, Found: true, Members: []string{"a"}}}
	if _, err := mustCycle(t, m, diff(snap)); err != nil {
		t.Fatal(err)
	}
	u, _ := m.ResolveUser(ctx, "t", "A@X.TEST")
	if _, err := m.SetUserSetting(ctx, "t", u.ID, sync.SettingChange{Name: sync.SettingRequireMobileAuth, Value: "false"}); err != nil {
		t.Fatal(err)
	}
	snap.Users["a"] = sync.EntraUser{ID: "a", UserPrincipalName: "a@upn.test", Mail: "a@x.test", DisplayName: "Renamed", AccountEnabled: true}
	if _, err := mustCycle(t, m, diff(snap)); err != nil {
		t.Fatal(err)
	}
	users, _ := m.Users(ctx, "t", "")
	groups, _ := m.Groups(ctx, "t")
	if len(users) != 1 || users[0].ID != u.ID || users[0].DisplayName != "Renamed" || users[0].RequireMobileAuth == nil ||
		*users[0].RequireMobileAuth || len(groups) != 1 || len(groups[0].Members) != 1 || groups[0].Members[0] != "a" {
		t.Fatalf("after an update: users %+v, groups %+v", users, groups)
	}
}

func TestTenantLockSerialisesTransactions(t *testing.T) {
	m := MustMemory(t)
	first, err := m.Begin(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := m.Begin(short, "t"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Begin while the first is open = %v, want it to wait until its context ends", err)
	}
	if err := m.PurgeUser(short, "t", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an administration write while a transaction is open = %v, want it to wait", err)
	}
	began := make(chan error, 1)
	go func() {
		tx, err := m.Begin(ctx, "t")
		if err == nil {
			err = tx.Rollback()
		}
		began <- err
	}()
	select {
	case err := <-began:
		t.Fatalf("second Begin returned %v before the first ended", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-began; err != nil {
		t.Fatal(err)
	}
	if _, err := m.Begin(ctx, "nope"); !errors.Is(err, sync.ErrTenantNotFound) {
		t.Fatalf("Begin of an unknown tenant = %v", err)
	}
}

func TestLeasesDueTimesPauseAndQuarantine(t *testing.T) {
	m := MustMemory(t)
	if _, err := m.Schedule(ctx, "t"); !errors.Is(err, sync.ErrTenantNotFound) {
		t.Fatalf("schedule before the first claim = %v", err)
	}
	if ok, _ := m.ClaimTenant(ctx, "t", "A", time.Minute, true); !ok {
		t.Fatal("a new tenant is due at once")
	}
	if ok, _ := m.ClaimTenant(ctx, "t", "B", time.Minute, false); ok {
		t.Fatal("B claimed a tenant A holds")
	}
	if ok, _ := m.RenewLease(ctx, "t", "B", time.Minute); ok {
		t.Fatal("B renewed A's lease")
	}
	if ok, _ := m.RenewLease(ctx, "t", "A", time.Minute); !ok {
		t.Fatal("A could not renew its lease")
	}
	if err := m.ReleaseTenant(ctx, "t", "A", time.Hour); err != nil {
		t.Fatal(err)
	}
	if ok, _ := m.ClaimTenant(ctx, "t", "B", time.Minute, true); ok {
		t.Fatal("B claimed a tenant due in an hour on schedule")
	}
	if ok, _ := m.ClaimTenant(ctx, "t", "B", time.Millisecond, false); !ok {
		t.Fatal("B could not claim a free tenant on demand")
	}
	time.Sleep(5 * time.Millisecond)
	if ok, _ := m.ClaimTenant(ctx, "t", "C", time.Minute, false); !ok {
		t.Fatal("an expired lease still blocks the tenant")
	}
	_ = m.ReleaseTenant(ctx, "t", "C", 0)
	if err := m.SetPaused(ctx, "t", true); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 2} {
		if n, _ := m.NoteOutcome(ctx, "t", true, "broken"); n != want {
			t.Fatalf("failure %d counted as %d", i+1, n)
		}
	}
	sc, _ := m.Schedule(ctx, "t")
	if !sc.Paused || !sc.Quarantined() || sc.QuarantineReason != "broken" || sc.LeaseHolder != "" || time.Until(sc.NextDue) < 59*time.Minute {
		t.Fatalf("schedule = %+v", sc)
	}
	if n, _ := m.NoteOutcome(ctx, "t", false, ""); n != 0 {
		t.Fatalf("a success left %d failures", n)
	}
	if err := m.SetPaused(ctx, "nope", true); !errors.Is(err, sync.ErrTenantNotFound) {
		t.Fatalf("pause of an unknown tenant = %v", err)
	}
}

func TestReviewCoversEveryPendingHeldRun(t *testing.T) {
	m := MustMemory(t)
	var held []int64
	for _, outcome := range []sync.Outcome{sync.OutcomeHeld, sync.OutcomeSucceeded, sync.OutcomeHeld} {
		r := &sync.Run{TenantID: "t", Outcome: outcome}
		if err := m.RecordRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if outcome == sync.OutcomeHeld {
			held = append(held, r.ID)
		}
	}
	tx, _ := m.Begin(ctx, "t")
	st, _ := tx.State(ctx)
	_ = tx.Rollback()
	if !st.Tenant.PendingHold {
		t.Fatal("a held run awaiting review does not show as pending")
	}
	if _, err := m.ReviewRun(ctx, held[0]+1, sync.ReviewApproved); sync.ErrorCode(err) != sync.EINVALID {
		t.Fatalf("review of a run that held nothing = %v", err)
	}
	if r, err := m.ReviewRun(ctx, held[0], sync.ReviewRejected); err != nil || r.Review != sync.ReviewRejected {
		t.Fatalf("reject = %+v, %v", r, err)
	}
	if r, _, _ := m.Run(ctx, held[1]); r.Review != sync.ReviewRejected || r.ReviewedAt == nil {
		t.Fatalf("the later held run = %+v, want rejected too", r)
	}
	if _, err := m.ReviewRun(ctx, held[1], sync.ReviewApproved); sync.ErrorCode(err) != sync.EINVALID {
		t.Fatalf("second review = %v", err)
	}
	if _, err := m.ReviewRun(ctx, 999, sync.ReviewApproved); !errors.Is(err, sync.ErrRunNotFound) {
		t.Fatalf("review of no run = %v", err)
	}
}

func TestTokenRotationRevokesTheOldOne(t *testing.T) {
	m := MustMemory(t)
	_ = m.RotateAPIToken(ctx, "h1")
	_ = m.RotateAPIToken(ctx, "h2")
	if ok, _ := m.APITokenValid(ctx, "h1"); ok {
		t.Fatal("the rotated-out token is still valid")
	}
	if ok, _ := m.APITokenValid(ctx, "h2"); !ok {
		t.Fatal("the new token is not valid")
	}
}

func TestAdministrationWrites(t *testing.T) {
	m := MustMemory(t)
	snap := snapshot(map[string]string{"a": "a@x.test", "b": "b@x.test"})
	if _, err := mustCycle(t, m, diff(snap)); err != nil {
		t.Fatal(err)
	}
	invited, err := m.InviteUsers(ctx, "t", nil, true)
	if err != nil || len(invited) != 2 || invited[0].Status != sync.StatusInvited {
		t.Fatalf("invite all staged = %+v, %v", invited, err)
	}
	if _, err := m.InviteUsers(ctx, "t", []int64{invited[0].ID}, false); sync.ErrorCode(err) != sync.EINVALID {
		t.Fatalf("inviting an invited user = %v", err)
	}
	if err := m.PurgeUser(ctx, "t", invited[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := m.PurgeUser(ctx, "t", invited[0].ID); sync.ErrorCode(err) != sync.ENOTFOUND {
		t.Fatalf("second purge = %v", err)
	}
	rep, err := m.Disconnect(ctx, "t", false)
	if err != nil || rep.UserCount != 1 || rep.DisconnectedAt == nil {
		t.Fatalf("disconnect = %+v, %v", rep, err)
	}
	if _, err := m.Begin(ctx, "t"); !errors.Is(err, sync.ErrTenantDisconnected) {
		t.Fatalf("Begin of a disconnected tenant = %v", err)
	}
	if was, err := m.Reconnect(ctx, "t"); !was || err != nil {
		t.Fatalf("reconnect = %t, %v", was, err)
	}
	evs, _ := m.Events(ctx, "t", 0, 100)
	var types []string
	for _, e := range evs[2:] { // after the two user.created
		types = append(types, e.Type)
	}
	if got := types; len(got) != 5 || got[0] != "user.invited" || got[2] != "user.purged" || got[3] != "tenant.disconnected" || got[4] != "tenant.reconnected" {
		t.Fatalf("events = %v", got)
	}
}
