package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/sync"
)

func id(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

const (
	spID   = "5e000000-0000-4000-8000-000000000001"
	appID  = "a0000000-0000-4000-8000-000000000001"
	secret = "correct-horse-battery-staple"
)

func tenant(members int) *graphtest.Tenant {
	t := &graphtest.Tenant{TenantID: "7e000000-0000-4000-8000-000000000001", ClientID: "c1000000-0000-4000-8000-000000000001",
		ClientSecret: secret, Application: graphtest.ServicePrincipal{ID: spID, AppID: appID, DisplayName: "Vault"}}
	g := graphtest.Group{ID: id(999999), DisplayName: "Big", SecurityEnabled: true}
	for i := 1; i <= members; i++ {
		t.Users = append(t.Users, graphtest.User{ID: id(i), UserPrincipalName: fmt.Sprintf("u%d@t.test", i), AccountEnabled: true})
		g.Members = append(g.Members, id(i))
	}
	t.Users = append(t.Users, graphtest.User{ID: id(0), UserPrincipalName: "direct@t.test", Mail: "direct@t.test", AccountEnabled: true})
	t.Groups = []graphtest.Group{g}
	t.Assignments = []graphtest.Assignment{{PrincipalID: id(0)}, {PrincipalID: g.ID}}
	return t
}

// config is the Config of srv's application, changed by mod when set.
func config(srv *graphtest.Server, mod func(*graph.Config)) graph.Config {
	t := srv.Tenant()
	cfg := graph.Config{TenantID: t.TenantID, ClientID: t.ClientID, ClientSecret: t.ClientSecret, ServicePrincipalID: spID,
		GraphEndpoint: srv.GraphEndpoint(), LoginEndpoint: srv.LoginEndpoint(), Transport: srv.Client().Transport, MaxRetries: 2}
	if mod != nil {
		mod(&cfg)
	}
	return cfg
}

func source(tb testing.TB, srv *graphtest.Server, mod func(*graph.Config)) *graph.Source {
	tb.Helper()
	src, err := graph.New(config(srv, mod), nil)
	if err != nil {
		tb.Fatalf("graph.New: %v", err)
	}
	return src
}

func TestSnapshotPagesMembersAndCountsRequests(t *testing.T) {
	srv := graphtest.NewServer(tenant(2100))
	defer srv.Close()
	snap, err := source(t, srv, nil).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Groups) != 1 || len(snap.Groups[0].Members) != 2100 || len(snap.Users) != 2101 {
		t.Fatalf("groups %d, members %d, users %d", len(snap.Groups), len(snap.Groups[0].Members), len(snap.Users))
	}
	if got := srv.Requests()["GET /v1.0/groups/{id}/members"]; got != 3 {
		t.Fatalf("member pages = %d, want 3 at $top=999", got)
	}
	if snap.GraphRequests != srv.GraphRequests() {
		t.Fatalf("snapshot counted %d requests, server saw %d", snap.GraphRequests, srv.GraphRequests())
	}
	if u := snap.Users[id(0)]; u.Mail != "direct@t.test" || !u.AccountEnabled {
		t.Fatalf("directly assigned user read = %+v", u)
	}
}

func TestServicePrincipalByAppID(t *testing.T) {
	srv := graphtest.NewServer(tenant(1))
	defer srv.Close()
	snap, err := source(t, srv, func(c *graph.Config) { c.ServicePrincipalID, c.AppID = "", appID }).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.ServicePrincipal.ID != spID {
		t.Fatalf("service principal = %+v", snap.ServicePrincipal)
	}
}

func TestWrongSecretIsUnauthorizedAndNotLeaked(t *testing.T) {
	srv := graphtest.NewServer(tenant(1))
	defer srv.Close()
	const wrong = "wrong-secret-do-not-print"
	_, err := source(t, srv, func(c *graph.Config) { c.ClientSecret = wrong }).Snapshot(context.Background())
	if err == nil {
		t.Fatal("snapshot with a wrong secret succeeded")
	}
	if sync.ErrorCode(err) != sync.EUNAUTHORIZED || !strings.Contains(err.Error(), "could not obtain a token") {
		t.Fatalf("error = %v (code %s), want unauthorized with a hint", err, sync.ErrorCode(err))
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), secret) {
		t.Fatalf("error reveals a secret: %v", err)
	}
}

func TestThrottledRequestIsRetriedAfterRetryAfter(t *testing.T) {
	srv := graphtest.NewServer(tenant(3))
	defer srv.Close()
	srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo", Status: 429, RetryAfter: "1", Times: 1})
	snap, err := source(t, srv, nil).Snapshot(context.Background())
	if err != nil {
		t.Fatalf("a single 429 must be waited out: %v", err)
	}
	if got := srv.Requests()["GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo"]; got != 2 {
		t.Fatalf("assignment requests = %d, want 2 (the 429 and its retry)", got)
	}
	if snap.GraphRequests != srv.GraphRequests() {
		t.Fatalf("retries not counted: %d vs %d", snap.GraphRequests, srv.GraphRequests())
	}
}

func TestUnknownPrincipalTypeIsSkippedWithReason(t *testing.T) {
	srv := graphtest.NewServer(tenant(1))
	defer srv.Close()
	srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo", Body: `{"value":[` +
		`{"id":"a1","principalId":"` + id(0) + `","principalType":"User"},` +
		`{"id":"a2","principalId":"` + id(77) + `","principalType":"Device","principalDisplayName":"Printer"}]}`})
	snap, err := source(t, srv, nil).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Skipped) != 1 || snap.Skipped[0].ID != id(77) || !strings.Contains(snap.Skipped[0].Reason, `"Device"`) {
		t.Fatalf("skipped = %+v", snap.Skipped)
	}
}

func TestDeletedGroupAndUserAreReportedNotFailed(t *testing.T) {
	tn := tenant(1)
	srv := graphtest.NewServer(tn)
	defer srv.Close()
	// The assignments still name them, but Graph no longer has them.
	srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}", Status: 404})
	srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/{id}", Status: 404})
	snap, err := source(t, srv, nil).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Groups[0].Found {
		t.Fatalf("group should be reported as not found")
	}
	if len(snap.Skipped) != 1 || snap.Skipped[0].ID != id(0) {
		t.Fatalf("skipped = %+v, want the missing user", snap.Skipped)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]graph.Config{
		"no application": {TenantID: "t", ClientID: "c", ClientSecret: "s"},
		"no secret":      {TenantID: "t", ClientID: "c", ServicePrincipalID: spID},
		"http endpoint":  {TenantID: "t", ClientID: "c", ClientSecret: "s", ServicePrincipalID: spID, GraphEndpoint: "http://graph.test"},
	} {
		if _, err := graph.New(cfg, nil); sync.ErrorCode(err) != sync.EINVALID {
			t.Errorf("%s: err = %v, want EINVALID", name, err)
		}
	}
}

// TestUnreachableLoginEndpointIsUnavailableNotACredentialProblem: a login
// endpoint that does not answer is EUNAVAILABLE (the network), not
// EUNAUTHORIZED (the credential), while a refused secret stays
// EUNAUTHORIZED.
func TestUnreachableLoginEndpointIsUnavailableNotACredentialProblem(t *testing.T) {
	srv := graphtest.NewServer(tenant(1))
	defer srv.Close()
	_, err := source(t, srv, func(c *graph.Config) { c.LoginEndpoint = "https://127.0.0.1:1"; c.Timeout = 5 * time.Second }).
		Snapshot(context.Background())
	if sync.ErrorCode(err) == sync.EUNAUTHORIZED || !strings.Contains(err.Error(), "login endpoint") {
		t.Fatalf("unreachable login endpoint: %v (code %s), want it named, not a credential problem", err, sync.ErrorCode(err))
	}
	if got := sync.FailureCategory(err); got != sync.FailureUnreachable {
		t.Fatalf("category = %q, want unreachable", got)
	}
	_, err = source(t, srv, func(c *graph.Config) { c.ClientSecret = "wrong" }).Snapshot(context.Background())
	if got := sync.FailureCategory(err); got != sync.FailureCredential {
		t.Fatalf("wrong secret: %v, category %q, want credential", err, got)
	}
}
