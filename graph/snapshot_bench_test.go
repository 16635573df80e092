package graph_test

import (
	"context"
	"testing"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/sync"
)

// largeSource serves the large bench tenant (graphtest.LargeSpec) with no
// latency and returns a Source on it reading concurrency at once (0: the
// default); the server closes with b.
func largeSource(b *testing.B, concurrency int, opts ...graphtest.Option) (*graphtest.Server, *graph.Source) {
	b.Helper()
	tn := graphtest.Generate(graphtest.LargeSpec)
	srv := graphtest.NewServer(tn, opts...)
	b.Cleanup(srv.Close)
	srv.TrackChanges()
	src, err := graph.New(graph.Config{TenantID: tn.TenantID, ClientID: tn.ClientID, ClientSecret: tn.ClientSecret,
		ServicePrincipalID: tn.Application.ID, GraphEndpoint: srv.GraphEndpoint(), LoginEndpoint: srv.LoginEndpoint(),
		Transport: srv.Client().Transport, Concurrency: concurrency}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return srv, src
}

// firstState is the delta state of a full read through src, its mirror's
// size reported.
func firstState(b *testing.B, src *graph.Source) *sync.DeltaState {
	b.Helper()
	_, st, err := src.SnapshotDelta(context.Background())
	if err == nil {
		err = st.Encoded() // encoded beside the plan, as a cycle would
	}
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(st.Mirror))/1e6, "mirrorMB")
	return st
}

// BenchmarkSnapshotDeltaLarge is a full read of the large bench tenant
// with its delta links, no latency: the CPU a first cycle's read costs, the
// simulated Graph's included (its functions are graphtest's in a profile).
// Run it alone:
//
//	go test ./graph -run '^$' -bench SnapshotDeltaLarge -benchtime 3x -benchmem -cpuprofile cpu.prof
func BenchmarkSnapshotDeltaLarge(b *testing.B) {
	_, src := largeSource(b, 8) // as entrasync bench reads
	b.ResetTimer()
	for range b.N {
		snap, _, err := src.SnapshotDelta(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(snap.RoundTrips), "roundtrips")
	}
}
