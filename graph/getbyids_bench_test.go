package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
)

// BenchmarkSnapshotDirectUsers reads the large bench tenant (100,000 users,
// 60,000 directly assigned, 500 groups) at 30 ms a round trip, a first
// cycle of a fresh Source each time: with the least-privileged three
// permissions (getByIds refused once, users listed alongside) and with
// Directory.Read.All (direct users by getByIds). Run it alone:
//
//	go test ./graph -run '^$' -bench SnapshotDirectUsers -benchtime 1x
func BenchmarkSnapshotDirectUsers(b *testing.B) {
	spec := graphtest.LargeSpec
	for _, c := range []struct {
		name  string
		perms []string
	}{
		{"least-privilege", nil},
		{"Directory.Read.All", []string{"Directory.Read.All"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			tn := graphtest.Generate(spec)
			tn.Permissions = c.perms
			srv := graphtest.NewServer(tn, graphtest.WithLatency(30*time.Millisecond))
			defer srv.Close()
			cfg := graph.Config{TenantID: tn.TenantID, ClientID: tn.ClientID, ClientSecret: tn.ClientSecret,
				ServicePrincipalID: tn.Application.ID, GraphEndpoint: srv.GraphEndpoint(), LoginEndpoint: srv.LoginEndpoint(),
				Transport: srv.Client().Transport}
			var roundTrips, lowerBound int
			b.ResetTimer()
			for range b.N {
				src, err := graph.New(cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				snap, err := src.Snapshot(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				roundTrips, lowerBound = snap.RoundTrips, snap.LowerBound
			}
			b.StopTimer()
			req := srv.Requests()
			b.ReportMetric(float64(roundTrips), "roundtrips")
			b.ReportMetric(float64(lowerBound), "lowerbound")
			b.ReportMetric(float64(req["POST /v1.0/directoryObjects/getByIds"])/float64(b.N), "getByIds/op")
			b.ReportMetric(float64(req["GET /v1.0/users"])/float64(b.N), "userpages/op")
		})
	}
}
