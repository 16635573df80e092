package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

// LargeSpec is the large tenant of `entrasync bench --scenario large`
// (graphtest.LargeSpec).
var LargeSpec = graphtest.LargeSpec

// SnapshotOf is the snapshot a complete Graph read of tn gives: every user,
// the directly assigned ones, and every assigned group with its direct user
// members and nested groups (the Graph adapter is not the subject).
func SnapshotOf(tn *graphtest.Tenant) *sync.Snapshot {
	snap := &sync.Snapshot{ServicePrincipal: sync.Ref{ID: tn.Application.ID, Name: tn.Application.DisplayName},
		Users: make(map[string]sync.EntraUser, len(tn.Users))}
	for _, u := range tn.Users {
		snap.Users[u.ID] = sync.EntraUser{ID: u.ID, UserPrincipalName: u.UserPrincipalName, Mail: u.Mail,
			DisplayName: u.DisplayName, GivenName: u.GivenName, Surname: u.Surname, AccountEnabled: u.AccountEnabled}
	}
	groups := make(map[string]graphtest.Group, len(tn.Groups))
	for _, g := range tn.Groups {
		groups[g.ID] = g
	}
	for _, a := range tn.Assignments {
		snap.AssignmentsListed++
		if _, ok := snap.Users[a.PrincipalID]; ok {
			snap.DirectUsers = append(snap.DirectUsers, a.PrincipalID)
			continue
		}
		g, ok := groups[a.PrincipalID]
		if !ok {
			snap.ServicePrincipalAssignments++
			continue
		}
		eg := sync.EntraGroup{ID: g.ID, DisplayName: g.DisplayName, SecurityEnabled: g.SecurityEnabled,
			MailEnabled: g.MailEnabled, GroupTypes: g.GroupTypes, Found: true}
		for _, m := range g.Members {
			if _, ok := snap.Users[m]; ok {
				eg.Members = append(eg.Members, m)
			} else if n, ok := groups[m]; ok {
				eg.Nested = append(eg.Nested, sync.Ref{ID: n.ID, Name: n.DisplayName})
			} else {
				eg.OtherMembers++
			}
		}
		snap.Groups = append(snap.Groups, eg)
	}
	return snap
}

// BenchFirstCycle measures the first (full) cycle of the large tenant
// (LargeSpec) on dir, from a snapshot in memory: loading the empty state,
// planning, and the apply (every user, path, group and membership, the run,
// its provisioning log and events) with its commit. Each iteration syncs a
// tenant of its own; apply-ms is the run's own apply figure.
func BenchFirstCycle(b *testing.B, dir store.Store) {
	snap := SnapshotOf(graphtest.Generate(LargeSpec))
	ctx := context.Background()
	var apply int64
	n := 0
	for b.Loop() {
		n++
		tenant := fmt.Sprintf("bench%d", n)
		if err := dir.RegisterTenant(ctx, sync.Tenant{ID: tenant, Settings: sync.DefaultTenantSettings()}); err != nil {
			b.Fatal(err)
		}
		res, err := sync.NewSyncer(dir, nil).Cycle(ctx, tenant, &snapSource{snap}, sync.CycleOptions{Trigger: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if c := res.Run.Counts["user.create"]; c < 70_000 {
			b.Fatalf("first cycle created %d users", c)
		}
		apply += res.Run.ApplyMillis
	}
	b.ReportMetric(float64(apply)/float64(n), "apply-ms/op")
}
