package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/sync"
)

// BenchmarkIncrementalLarge is an unchanged incremental read of the large
// bench tenant (100,000 users, 60,000 directly assigned, 500 groups), no
// latency: what the client spends besides the round trips (the mirror
// decoded, merged, encoded). Run it alone:
//
//	go test ./graph -run '^$' -bench IncrementalLarge -benchtime 5x -benchmem
func BenchmarkIncrementalLarge(b *testing.B) {
	_, src := largeSource(b, 0)
	st := firstState(b, src)
	b.ResetTimer()
	var snap *sync.Snapshot
	for range b.N {
		next, err := (*sync.DeltaState)(nil), error(nil)
		if snap, next, err = src.Incremental(context.Background(), st); err == nil {
			err = next.Encoded() // the cycle waits for it before it saves the state
		}
		if err != nil {
			b.Fatal(err)
		}
		if next.Mirror == nil { // unchanged: the stored mirror stands
			next.Mirror = st.Mirror
		}
		st = next
	}
	b.ReportMetric(float64(snap.RoundTrips), "roundtrips")
}

// BenchmarkIncrementalLargeChanged is an incremental read of the same
// tenant after 1% of its users were renamed (as `entrasync bench` does for
// "1% of users changed"): the rounds carry 1,000 users, the mirror is
// merged, its snapshot taken and encoded. Run it alone:
//
//	go test ./graph -run '^$' -bench IncrementalLargeChanged -benchtime 5x -benchmem
func BenchmarkIncrementalLargeChanged(b *testing.B) {
	benchIncrementalChanged(b, true)
}

// BenchmarkIncrementalLargeListed is BenchmarkIncrementalLargeChanged where
// assignment changes are not served: the 60,000 assignments are listed in
// full each read (61 pages of 999).
func BenchmarkIncrementalLargeListed(b *testing.B) {
	benchIncrementalChanged(b, false)
}

func benchIncrementalChanged(b *testing.B, assignmentDelta bool) {
	srv, src := largeSource(b, 0)
	srv.SetAssignmentDelta(assignmentDelta)
	st := firstState(b, src)
	want := sync.StrategyDelta
	if !assignmentDelta {
		want = sync.StrategyDeltaListed
	}
	if st.Strategy != want {
		b.Fatalf("strategy %q, want %q", st.Strategy, want)
	}
	b.ResetTimer()
	var snap *sync.Snapshot
	for i := range b.N {
		b.StopTimer()
		srv.Update(func(t *graphtest.Tenant) { // 1% of the users renamed
			for j := range len(t.Users) / 100 {
				u := &t.Users[j*100]
				u.DisplayName = fmt.Sprintf("%s (renamed %d)", strings.Split(u.DisplayName, " (renamed")[0], i)
			}
		})
		b.StartTimer()
		next, err := (*sync.DeltaState)(nil), error(nil)
		if snap, next, err = src.Incremental(context.Background(), st); err == nil {
			err = next.Encoded() // the cycle waits for it before it saves the state
		}
		if err != nil {
			b.Fatal(err)
		}
		if next.Mirror == nil {
			b.Fatal("the renames changed nothing")
		}
		st = next
	}
	b.ReportMetric(float64(snap.RoundTrips), "roundtrips")
}
