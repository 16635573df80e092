package graph_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
)

// probeNames are the checks of every probe, in order.
var probeNames = []string{graph.CheckToken, graph.CheckServicePrincipal, graph.PermApplication, graph.PermGroupMember, graph.PermUser,
	graph.CheckGroupsDelta, graph.CheckAssignmentDelta, graph.CheckUsersDelta, graph.CheckGetByIDs}

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
	wantCheck(t, c[graph.CheckGroupsDelta], graph.CheckOK, "membership changes from groups/delta", "")
	wantCheck(t, c[graph.CheckAssignmentDelta], graph.CheckOK, "assignment changes from directoryObjects/delta", "")
	wantCheck(t, c[graph.CheckUsersDelta], graph.CheckOK, "user changes from users/delta", "")
	// The least-privileged three do not include Directory.Read.All.
	wantCheck(t, c[graph.CheckGetByIDs], graph.CheckOptional, "not usable (HTTP 403 Authorization_RequestDenied)", "grant Directory.Read.All")
	reqs := srv.Requests()
	for _, k := range []string{"GET /v1.0/groups/delta", "GET /v1.0/directoryObjects/delta", "GET /v1.0/users/delta", "POST /v1.0/directoryObjects/getByIds"} {
		if reqs[k] != 1 {
			t.Errorf("%s: %d requests, want 1", k, reqs[k])
		}
	}
}

func TestProbeOptionalFeatures(t *testing.T) {
	tn := tenant(3)
	tn.Permissions = []string{graph.PermApplication, graph.PermGroupMember, graph.PermUser}
	srv := graphtest.NewServer(tn, graphtest.WithGroupsDeltaNeedingGroupRead(), graphtest.WithoutAssignmentDelta())
	defer srv.Close()
	srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/delta", Status: 200, Body: `{"value":[]}`, Times: 1})
	c := mustProbe(t, config(srv, nil))
	for _, n := range probeNames[:5] {
		wantCheck(t, c[n], graph.CheckOK, "", "")
	}
	wantCheck(t, c[graph.CheckGroupsDelta], graph.CheckOptional, "refused (HTTP 403 Authorization_RequestDenied", "grant Group.Read.All (application) to make cycles incremental")
	wantCheck(t, c[graph.CheckAssignmentDelta], graph.CheckOptional, "not served (HTTP 400 Request_UnsupportedQuery", "read every assignment page")
	wantCheck(t, c[graph.CheckUsersDelta], graph.CheckOptional, "not served (HTTP 200 without a delta page)", "cycles read every user in full")
	wantCheck(t, c[graph.CheckGetByIDs], graph.CheckOptional, "HTTP 403", "Directory.Read.All")

	srv.Update(func(tn *graphtest.Tenant) {
		tn.Permissions = append(tn.Permissions, "Group.Read.All", "Directory.Read.All")
	})
	srv.SetAssignmentDelta(true)
	c = mustProbe(t, config(srv, nil))
	for _, n := range probeNames {
		wantCheck(t, c[n], graph.CheckOK, "", "")
	}
	wantCheck(t, c[graph.CheckGetByIDs], graph.CheckOK, "permitted (Directory.Read.All)", "")
}

func TestClassifyDeltaAnswer(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   graph.DeltaSupport
	}{
		{200, `{"@odata.deltaLink":"https://g/v1.0/users/delta?$deltatoken=x","value":[]}`, graph.DeltaServed},
		{200, `{"@odata.nextLink":"https://g/v1.0/users/delta?$skiptoken=x","value":[{"id":"1"}]}`, graph.DeltaServed},
		{200, `{"value":[]}`, graph.DeltaUnexpected},
		{200, `{"@odata.deltaLink":"x"}`, graph.DeltaUnexpected},
		{200, `{"value":[`, graph.DeltaUnexpected},
		{200, ``, graph.DeltaUnexpected},
		{403, `{"error":{"code":"Authorization_RequestDenied"}}`, graph.DeltaRefused},
		{400, `{"error":{"code":"Request_UnsupportedQuery"}}`, graph.DeltaUnsupported},
		{400, `not json`, graph.DeltaUnsupported},
		{400, `{"error":{"code":"syncStateNotFound"}}`, graph.DeltaExpired},
		{410, `{"error":{"code":"resyncRequired"}}`, graph.DeltaExpired},
		{501, ``, graph.DeltaUnsupported},
		{404, `{"error":{"code":"Request_ResourceNotFound"}}`, graph.DeltaUnexpected},
		{500, ``, graph.DeltaUnexpected},
		{0, ``, graph.DeltaUnexpected},
	} {
		if got := graph.ClassifyDeltaAnswer(c.status, []byte(c.body)); got != c.want {
			t.Errorf("ClassifyDeltaAnswer(%d, %s) = %v, want %v", c.status, c.body, got, c.want)
		}
	}
	if got := graph.ClassifyDeltaError(errors.New("connection reset")); got != graph.DeltaUnexpected {
		t.Errorf("ClassifyDeltaError(no answer) = %v", got)
	}
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
