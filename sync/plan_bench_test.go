package sync_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/entrasync/entrasync/sync"
)

// benchTenant is a snapshot of users users, groups groups of size groupSize
// (overlapping) and every third user directly assigned, and the state that
// applying it to synctest's memory directory produces.
func benchTenant(b *testing.B, users, groups, groupSize int) (*sync.Snapshot, *sync.State) {
	b.Helper()
	snap := &sync.Snapshot{Users: make(map[string]sync.EntraUser, users)}
	for i := 0; i < users; i++ {
		id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
		snap.Users[id] = sync.EntraUser{ID: id, UserPrincipalName: fmt.Sprintf("u%d@bench.test", i), Mail: fmt.Sprintf("u%d@bench.test", i),
			DisplayName: fmt.Sprintf("User %d", i), GivenName: "User", Surname: fmt.Sprint(i), AccountEnabled: i%50 != 0}
		if i%3 == 0 {
			snap.DirectUsers = append(snap.DirectUsers, id)
		}
	}
	for g := 0; g < groups; g++ {
		eg := sync.EntraGroup{ID: fmt.Sprintf("g%07d-0000-4000-8000-000000000000", g), DisplayName: fmt.Sprintf("Group %d", g), SecurityEnabled: true, Found: true}
		for k := 0; k < groupSize; k++ {
			eg.Members = append(eg.Members, fmt.Sprintf("%08d-0000-4000-8000-000000000000", (g*groupSize/2+k)%users))
		}
		snap.Groups = append(snap.Groups, eg)
	}
	m := MustPlannerMemory(b, sync.DefaultTenantSettings(), nil, nil)
	mustApply(b, m, diffOf(snap, time.Now()))
	return snap, stateOf(b, m)
}

// BenchmarkDiffInitial plans the first cycle of a 100,000-user tenant.
func BenchmarkDiffInitial(b *testing.B) {
	snap, _ := benchTenant(b, 100_000, 500, 400)
	empty := &sync.State{Tenant: sync.Tenant{ID: "bench", Settings: sync.DefaultTenantSettings()}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if p := sync.Diff(snap, empty, t0); len(p.Changes) == 0 {
			b.Fatal("empty plan")
		}
	}
}

// BenchmarkDiffUnchanged plans a cycle over an unchanged 100,000-user tenant.
func BenchmarkDiffUnchanged(b *testing.B) {
	snap, st := benchTenant(b, 100_000, 500, 400)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if p := sync.Diff(snap, st, t0); len(p.Changes) != 0 {
			b.Fatalf("plan of an unchanged tenant has %d changes", len(p.Changes))
		}
	}
}

// BenchmarkDiffScoped plans a cycle in which 1% of a 100,000-user tenant's
// users were renamed, scoped (ChangedBetween, ScopeOf, the part of the
// directory loaded from synctest, DiffScoped): what a changed incremental
// cycle plans besides its load from the database.
func BenchmarkDiffScoped(b *testing.B) {
	before, st := benchTenant(b, 100_000, 500, 400)
	after := *before
	after.Users = make(map[string]sync.EntraUser, len(before.Users))
	for id, u := range before.Users {
		after.Users[id] = u
	}
	n := 0
	for id, u := range after.Users {
		if n++; n%100 == 0 {
			u.DisplayName += " (renamed)"
			after.Users[id] = u
		}
	}
	m := MustPlannerMemory(b, sync.DefaultTenantSettings(), nil, nil)
	mustApply(b, m, diffOf(before, t0))
	want := len(sync.Diff(&after, st, t0).Changes) // the renamed users provisioned
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		changed := sync.ChangedBetween(before, &after)
		scope, _ := sync.ScopeOf(&after, changed, sync.DefaultTenantSettings())
		b.StopTimer()
		part := scopedState(b, m, scope)
		b.StartTimer()
		p, ok := sync.DiffScoped(&after, part, scope, t0)
		if !ok || len(p.Changes) != want {
			b.Fatalf("scoped plan: %v, %d changes", ok, len(p.Changes))
		}
	}
}
