package sync

import (
	"fmt"
	"testing"
	"time"
)

// benchTenant is a snapshot of users users, groups groups of size groupSize
// (overlapping) and every third user directly assigned, and the state that
// applying it produces.
func benchTenant(users, groups, groupSize int) (*Snapshot, *State) {
	snap := &Snapshot{Users: make(map[string]EntraUser, users)}
	for i := 0; i < users; i++ {
		id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
		snap.Users[id] = EntraUser{ID: id, UserPrincipalName: fmt.Sprintf("u%d@bench.test", i), Mail: fmt.Sprintf("u%d@bench.test", i),
			DisplayName: fmt.Sprintf("User %d", i), GivenName: "User", Surname: fmt.Sprint(i), AccountEnabled: i%50 != 0}
		if i%3 == 0 {
			snap.DirectUsers = append(snap.DirectUsers, id)
		}
	}
	for g := 0; g < groups; g++ {
		eg := EntraGroup{ID: fmt.Sprintf("g%07d-0000-4000-8000-000000000000", g), DisplayName: fmt.Sprintf("Group %d", g), SecurityEnabled: true, Found: true}
		for k := 0; k < groupSize; k++ {
			eg.Members = append(eg.Members, fmt.Sprintf("%08d-0000-4000-8000-000000000000", (g*groupSize/2+k)%users))
		}
		snap.Groups = append(snap.Groups, eg)
	}
	empty := &State{Tenant: Tenant{ID: "bench", Settings: DefaultTenantSettings()}}
	return snap, applyInMemory(empty, Diff(snap, empty, time.Now()))
}

// BenchmarkDiffInitial plans the first cycle of a 100,000-user tenant.
func BenchmarkDiffInitial(b *testing.B) {
	snap, _ := benchTenant(100_000, 500, 400)
	empty := &State{Tenant: Tenant{ID: "bench", Settings: DefaultTenantSettings()}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if p := Diff(snap, empty, t0); len(p.Changes) == 0 {
			b.Fatal("empty plan")
		}
	}
}

// BenchmarkDiffUnchanged plans a cycle over an unchanged 100,000-user tenant.
func BenchmarkDiffUnchanged(b *testing.B) {
	snap, st := benchTenant(100_000, 500, 400)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if p := Diff(snap, st, t0); len(p.Changes) != 0 {
			b.Fatalf("plan of an unchanged tenant has %d changes", len(p.Changes))
		}
	}
}
