package graph_test

import (
	"context"
	"crypto/x509"
	"fmt"
	gosync "sync"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
)

// A vendor's multi-tenant application: one certificate credential serves
// 200 customer tenants, each its own simulated tenant (its own authority).
// Every tenant's snapshot holds its own users, each authority issues one
// token however many snapshots are read (cached per tenant), and a token
// near its expiry is renewed.
func TestSharedCredentialAcrossTenants(t *testing.T) {
	const tenants = 200
	cert, pemFile := MustCertificate(t, "vendor")
	shared := graph.Credential{Kind: graph.KindCertificate, Name: "vendor", ClientID: "c1000000-0000-4000-8000-000000000001", Certificate: pemFile}
	servers := make([]*graphtest.Server, tenants)
	sources := make([]*graph.Source, tenants)
	for i := range servers {
		tn := tenant(1)
		tn.TenantID = fmt.Sprintf("7e000000-0000-4000-8000-%012d", i)
		tn.Users[0].UserPrincipalName = fmt.Sprintf("customer%d@t.test", i)
		tn.Certificates = []*x509.Certificate{cert}
		var opts []graphtest.Option
		if i == 0 {
			opts = append(opts, graphtest.WithTokenLifetime(4*time.Minute)) // within MSAL's renewal window
		}
		servers[i] = graphtest.NewServer(tn, opts...)
		t.Cleanup(servers[i].Close)
		mustStayLocal(t, servers[i])
		sources[i] = source(t, servers[i], func(c *graph.Config) { c.ClientSecret, c.Auth = "", shared })
	}
	for round := range 2 {
		var wg gosync.WaitGroup
		errs := make([]error, tenants)
		sem := make(chan struct{}, 16)
		for i := range sources {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				snap, err := sources[i].Snapshot(context.Background())
				if err == nil && snap.Users[id(1)].UserPrincipalName != fmt.Sprintf("customer%d@t.test", i) {
					err = fmt.Errorf("tenant %d read another tenant's user: %+v", i, snap.Users[id(1)])
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, tenant %d: %v", round, i, err)
			}
		}
	}
	// A token within five minutes of expiry is renewed before use, so the
	// short-lived one is asked for again; the others come from the cache.
	if got := servers[0].Requests()["POST /token"]; got < 2 {
		t.Errorf("tenant 0 (4-minute tokens): %d token requests for two snapshots, want them renewed", got)
	}
	for i, s := range servers[1:] {
		if got := s.Requests()["POST /token"]; got != 1 {
			t.Errorf("tenant %d: %d token requests for two snapshots, want 1 (cached)", i+1, got)
		}
	}
}
