package graph_test

import (
	"context"
	"testing"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
)

// BenchmarkSnapshotDeltaLarge is a full read of the large bench tenant
// (100,000 users, 60,000 directly assigned, 500 groups) with its delta
// links, no latency: the CPU a first cycle's read costs, the simulated
// Graph's included (its functions are graphtest's in a profile). Run it
// alone:
//
//	go test ./graph -run '^$' -bench SnapshotDeltaLarge -benchtime 3x -benchmem -cpuprofile cpu.prof
func BenchmarkSnapshotDeltaLarge(b *testing.B) {
	tn := graphtest.Generate(graphtest.GenSpec{Seed: 2, Users: 100_000, DirectlyAssigned: 60_000, Groups: 500, MaxGroupSize: 20_000,
		NestedGroups: 20, M365Groups: 5, DisabledPercent: 3, ServicePrincipals: 10})
	srv := graphtest.NewServer(tn)
	defer srv.Close()
	src, err := graph.New(graph.Config{TenantID: tn.TenantID, ClientID: tn.ClientID, ClientSecret: tn.ClientSecret,
		ServicePrincipalID: tn.Application.ID, GraphEndpoint: srv.GraphEndpoint(), LoginEndpoint: srv.LoginEndpoint(),
		Transport: srv.Client().Transport, Concurrency: 8}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		snap, _, err := src.SnapshotDelta(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(snap.RoundTrips), "roundtrips")
	}
}
