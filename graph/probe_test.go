package graph_test

import (
	"context"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
)

// probeNames are the checks of every probe, in order.
var probeNames = []string{graph.CheckToken, graph.CheckServicePrincipal, graph.PermApplication, graph.PermGroupMember, graph.PermUser}

// mustProbe probes srv's application and checks that the checks come in
// order; it returns them by name.
func mustProbe(t testing.TB, cfg graph.Config) map[string]graph.Check {
	t.Helper()
	checks := graph.Probe(context.Background(), cfg, graph.ProbeHints{Cloud: "public", SecretSource: "set THE_SECRET"})
	if len(checks) != len(probeNames) {
		t.Fatalf("%d checks, want %d: %+v", len(checks), len(probeNames), checks)
	}
	byName := map[string]graph.Check{}
	for i, c := range checks {
		if c.Name != probeNames[i] {
			t.Fatalf("check %d is %q, want %q", i, c.Name, probeNames[i])
		}
		byName[c.Name] = c
	}
	return byName
}

func wantCheck(t testing.TB, c graph.Check, status graph.CheckStatus, found, fix string) {
	t.Helper()
	if c.Status != status || !strings.Contains(c.Found, found) || !strings.Contains(c.Fix, fix) || (fix == "") != (c.Fix == "") {
		t.Errorf("%s = %+v, want status %d, found ~%q, fix ~%q", c.Name, c, status, found, fix)
	}
}

func TestProbeAllPass(t *testing.T) {
	srv := graphtest.NewServer(tenant(3))
	defer srv.Close()
	c := mustProbe(t, config(srv, nil))
	wantCheck(t, c[graph.CheckToken], graph.CheckOK, "obtained from "+srv.LoginEndpoint(), "")
	wantCheck(t, c[graph.CheckServicePrincipal], graph.CheckOK, `"Vault" (object id `+spID+", appId "+appID+")", "")
	wantCheck(t, c[graph.PermApplication], graph.CheckOK, "1 user(s), 1 group(s)", "")
	wantCheck(t, c[graph.PermGroupMember], graph.CheckOK, `members of group "Big"`, "")
	wantCheck(t, c[graph.PermUser], graph.CheckOK, "directly assigned user "+id(0), "")
}

func TestProbeMissingPermissionAndUnknownApp(t *testing.T) {
	srv := graphtest.NewServer(tenant(3))
	defer srv.Close()
	srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", Status: 403})
	c := mustProbe(t, config(srv, nil))
	wantCheck(t, c[graph.PermGroupMember], graph.CheckFailed, "missing: reading the members of group \"Big\"",
		"add the Microsoft Graph application permission GroupMember.Read.All")
	wantCheck(t, c[graph.PermUser], graph.CheckOK, "directly assigned user", "")

	c = mustProbe(t, config(srv, func(c *graph.Config) { c.ServicePrincipalID, c.AppID = "", "a0000000-dead-4000-8000-00000000beef" }))
	wantCheck(t, c[graph.CheckServicePrincipal], graph.CheckFailed, "no enterprise application with that appId", "check app_id")
	wantCheck(t, c[graph.PermApplication], graph.CheckSkipped, "not checked: the service principal was not read", "")
}

func TestProbeWrongSecretSkipsTheRest(t *testing.T) {
	srv := graphtest.NewServer(tenant(1))
	defer srv.Close()
	c := mustProbe(t, config(srv, func(c *graph.Config) { c.ClientSecret = "not-the-secret" }))
	wantCheck(t, c[graph.CheckToken], graph.CheckFailed, "AADSTS7000215", "and set THE_SECRET")
	for _, n := range probeNames[1:] {
		wantCheck(t, c[n], graph.CheckSkipped, "not checked: no token", "")
	}
	if strings.Contains(c[graph.CheckToken].Found+c[graph.CheckToken].Fix, "not-the-secret") {
		t.Fatalf("the secret was printed: %+v", c[graph.CheckToken])
	}
}
