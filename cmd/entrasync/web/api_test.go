package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/cmd/entrasync/web"
	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/sync"
	"github.com/entrasync/entrasync/sync/synctest"
)

type apiHarness struct {
	srv     *httptest.Server
	graph   *graphtest.Server
	db      sync.Store
	worker  *sync.Worker
	metrics *web.Metrics
	token   string
}

func MustAPI(tb testing.TB) *apiHarness {
	tb.Helper()
	return MustAPIWith(tb, sync.DefaultTenantSettings())
}

// MustAPIWith serves the API of a worker with one tenant, "demo"
// (apiTenant, with settings), read from graphtest with the real Graph
// source, on synctest's in-memory directory; its token is h.token.
// Each wrap, if any, wraps the tenant's source.
func MustAPIWith(tb testing.TB, settings sync.TenantSettings, wrap ...func(sync.Source) sync.Source) *apiHarness {
	tb.Helper()
	gs := graphtest.NewServer(apiTenant())
	tb.Cleanup(gs.Close)
	db := synctest.NewMemory()
	t := gs.Tenant()
	if err := db.RegisterTenant(context.Background(), sync.Tenant{ID: "demo", EntraTenantID: t.TenantID, Settings: settings}); err != nil {
		tb.Fatal(err)
	}
	m := web.NewMetrics()
	src, err := graph.New(graph.Config{TenantID: t.TenantID, ClientID: t.ClientID, ClientSecret: t.ClientSecret,
		ServicePrincipalID: t.Application.ID, GraphEndpoint: gs.GraphEndpoint(), LoginEndpoint: gs.LoginEndpoint(),
		Transport: gs.Client().Transport, Observe: m.GraphObserver("demo")}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	var source sync.Source = src
	for _, f := range wrap {
		source = f(source)
	}
	w := sync.NewWorker(sync.NewSyncer(db, nil), db, []sync.WorkerTenant{{ID: "demo", Source: source, Schedule: sync.Every(time.Hour)}},
		sync.WorkerConfig{Holder: "api-test", Observer: m}, nil)
	srv := httptest.NewServer(web.NewServer(w, db, m, nil).Handler())
	tb.Cleanup(srv.Close)
	token, hash, err := web.NewToken()
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.RotateAPIToken(context.Background(), hash); err != nil {
		tb.Fatal(err)
	}
	return &apiHarness{srv: srv, graph: gs, db: db, worker: w, metrics: m, token: token}
}

func (h *apiHarness) do(tb testing.TB, method, path, token string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(method, h.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPIAuthentication(t *testing.T) {
	h := MustAPI(t)
	for _, tok := range []string{"", "es_wrong", h.token + "x"} {
		code, body := h.do(t, "GET", "/api/v1/tenants", tok)
		if code != 401 || strings.TrimSpace(body) != "{\n  \"error\": \"unauthorized\"\n}" {
			t.Fatalf("token %q: %d %s, want 401 without detail", tok, code, body)
		}
	}
	if code, _ := h.do(t, "GET", "/api/v1/tenants", h.token); code != 200 {
		t.Fatalf("valid token: %d", code)
	}
	// Rotation: the old token stops working at once.
	newTok, hash, _ := web.NewToken()
	if err := h.db.RotateAPIToken(context.Background(), hash); err != nil {
		t.Fatal(err)
	}
	if code, _ := h.do(t, "GET", "/api/v1/tenants", h.token); code != 401 {
		t.Fatalf("rotated-out token: %d, want 401", code)
	}
	if code, _ := h.do(t, "GET", "/api/v1/tenants", newTok); code != 200 {
		t.Fatalf("new token: %d", code)
	}
	// Health, readiness and metrics need no token.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _ := h.do(t, "GET", p, ""); code != 200 {
			t.Fatalf("%s: %d", p, code)
		}
	}
}

func TestAPIBadInput(t *testing.T) {
	h := MustAPI(t)
	cases := []struct {
		method, path string
		code         int
		msg          string
	}{
		{"POST", "/api/v1/tenants/demo/cycles?dry_run=maybe", 400, "dry_run must be true or false"},
		{"POST", "/api/v1/tenants/demo/cycles?full=yes", 400, "full must be true or false"},
		{"GET", "/api/v1/tenants/demo/runs?limit=-1", 400, "limit must be an integer"},
		{"GET", "/api/v1/tenants/demo/users?status=gone", 400, "status must be"},
		{"GET", "/api/v1/runs/abc", 400, "run id must be a positive integer"},
		{"GET", "/api/v1/runs/999999", 404, "run not found"},
		{"GET", "/api/v1/tenants/nope/users", 404, "unknown tenant"},
		{"GET", "/api/v1/tenants/demo/events?after=x", 400, "after must be an integer"},
		{"POST", "/api/v1/tenants/demo/provision/users/x?dry_run=2", 400, "dry_run"},
	}
	for _, c := range cases {
		code, body := h.do(t, c.method, c.path, h.token)
		if code != c.code || !strings.Contains(body, c.msg) {
			t.Errorf("%s %s = %d %s, want %d with %q", c.method, c.path, code, body, c.code, c.msg)
		}
	}
}

func TestAPICycleRunsUsersGroupsEventsMetrics(t *testing.T) {
	h := MustAPI(t)
	code, body := h.do(t, "POST", "/api/v1/tenants/demo/cycles?dry_run=true", h.token)
	if code != 200 || !strings.Contains(body, `"dryRun": true`) {
		t.Fatalf("dry run: %d %s", code, body)
	}
	if code, body := h.do(t, "GET", "/api/v1/tenants/demo/users", h.token); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("dry run wrote users: %s", body)
	}
	code, body = h.do(t, "POST", "/api/v1/tenants/demo/cycles", h.token)
	var res struct {
		Run sync.Run `json:"run"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &res) != nil || res.Run.ID == 0 || res.Run.Counts["user.create"] != 5 {
		t.Fatalf("cycle: %d %s", code, body)
	}
	if code, body := h.do(t, "GET", "/api/v1/tenants/demo/runs", h.token); code != 200 || !strings.Contains(body, `"trigger": "api"`) {
		t.Fatalf("runs: %d %s", code, body)
	}
	// The next cycle is incremental; full=true asks for a full one.
	for _, c := range []struct{ query, mode, reason string }{{"", "incremental", ""}, {"?full=true", "full", "full cycle requested"}} {
		code, body := h.do(t, "POST", "/api/v1/tenants/demo/cycles"+c.query, h.token)
		var again struct {
			Run sync.Run `json:"run"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &again) != nil || again.Run.Mode != c.mode || again.Run.FullReason != c.reason {
			t.Fatalf("cycle%s: %d %s, want mode %s", c.query, code, body, c.mode)
		}
	}
	code, body = h.do(t, "GET", "/api/v1/runs/"+strconv.FormatInt(res.Run.ID, 10), h.token)
	if code != 200 || !strings.Contains(body, "alice@contoso.test") {
		t.Fatalf("run: %d %s", code, body)
	}
	if _, body := h.do(t, "GET", "/api/v1/tenants/demo/users?status=staged", h.token); strings.Count(body, `"entraId"`) != 5 ||
		strings.Count(body, `"effective": {`) != 5 {
		t.Fatalf("users, each with its effective settings: %s", body)
	}
	if _, body := h.do(t, "GET", "/api/v1/tenants/demo/groups", h.token); !strings.Contains(body, "Engineering") ||
		!strings.Contains(body, `"membersMayStoreData": true`) {
		t.Fatalf("groups, with their effective settings: %s", body)
	}
	if _, body := h.do(t, "GET", "/api/v1/tenants/demo/events?after=0&limit=2", h.token); strings.Count(body, `"type"`) != 2 {
		t.Fatalf("events: %s", body)
	}
	_, metrics := h.do(t, "GET", "/metrics", "")
	for _, want := range []string{`entrasync_cycles_total{outcome="succeeded",tenant="demo",trigger="api"} 3`, // the cycle, an incremental one, a full one
		`entrasync_changes_total{change="user.create",status="applied",tenant="demo"} 5`,
		`entrasync_graph_requests_total{endpoint="GET /servicePrincipals/{id}/appRoleAssignedTo",status="200",tenant="demo"}`,
		`entrasync_last_success_timestamp_seconds{tenant="demo"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestAPITriggerWhileACycleRunsIsAConflict(t *testing.T) {
	h := MustAPI(t)
	hold := make(chan struct{})
	held, released := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(released)
		_ = h.worker.WithLease(context.Background(), "demo", func(ctx context.Context, _ sync.Source) error {
			close(held)
			<-hold
			return nil
		})
	}()
	<-held
	for _, p := range []string{"/api/v1/tenants/demo/cycles", "/api/v1/tenants/demo/provision/users/alice@contoso.test"} {
		code, body := h.do(t, "POST", p, h.token)
		if code != 409 || !strings.Contains(body, "already running") {
			t.Errorf("POST %s during a cycle = %d %s, want 409", p, code, body)
		}
	}
	close(hold)
	<-released // the lease is released once WithLease returns
	if code, _ := h.do(t, "POST", "/api/v1/tenants/demo/cycles", h.token); code != 200 {
		t.Fatalf("after the cycle: %d", code)
	}
}

func TestAPIProvisionOnDemand(t *testing.T) {
	h := MustAPI(t)
	code, body := h.do(t, "POST", "/api/v1/tenants/demo/provision/users/alice@contoso.test", h.token)
	if code != 200 || !strings.Contains(body, `"name": "scope"`) || !strings.Contains(body, "in scope through direct") {
		t.Fatalf("provision user: %d %s", code, body)
	}
	code, body = h.do(t, "POST", "/api/v1/tenants/demo/provision/groups/Engineering?dry_run=true", h.token)
	if code != 200 || !strings.Contains(body, `"dryRun": true`) || !strings.Contains(body, "nested") {
		t.Fatalf("provision group: %d %s", code, body)
	}
}

func TestAPIPauseResume(t *testing.T) {
	h := MustAPI(t)
	if code, body := h.do(t, "POST", "/api/v1/tenants/demo/pause", h.token); code != 200 || !strings.Contains(body, `"paused": true`) {
		t.Fatalf("pause: %d %s", code, body)
	}
	if code, body := h.do(t, "POST", "/api/v1/tenants/demo/cycles", h.token); code != 409 || !strings.Contains(body, "paused") {
		t.Fatalf("cycle on a paused tenant: %d %s, want 409", code, body)
	}
	if code, _ := h.do(t, "POST", "/api/v1/tenants/demo/provision/users/alice@contoso.test", h.token); code != 409 {
		t.Fatalf("provision on a paused tenant: %d, want 409", code)
	}
	if code, _ := h.do(t, "POST", "/api/v1/tenants/demo/cycles?dry_run=true", h.token); code != 200 {
		t.Fatalf("plan on a paused tenant: %d, want 200", code)
	}
	if code, body := h.do(t, "POST", "/api/v1/tenants/demo/resume", h.token); code != 200 || !strings.Contains(body, `"paused": false`) {
		t.Fatalf("resume: %d %s", code, body)
	}
	if code, _ := h.do(t, "POST", "/api/v1/tenants/demo/cycles", h.token); code != 200 {
		t.Fatalf("cycle after resume: %d", code)
	}
}

func TestAPIHeldRunApproveAndReject(t *testing.T) {
	s := sync.DefaultTenantSettings()
	s.ArchiveThreshold = 1
	h := MustAPIWith(t, s)
	if code, _ := h.do(t, "POST", "/api/v1/tenants/demo/cycles", h.token); code != 200 {
		t.Fatal("first cycle")
	}
	h.graph.Unassign(alice)
	h.graph.Unassign(heidi)
	code, body := h.do(t, "POST", "/api/v1/tenants/demo/cycles", h.token)
	var res struct {
		Run sync.Run `json:"run"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &res) != nil || res.Run.Outcome != sync.OutcomeHeld || res.Run.Held != 2 {
		t.Fatalf("mass unassignment: %d %s", code, body)
	}
	id := strconv.FormatInt(res.Run.ID, 10)
	if code, body := h.do(t, "POST", "/api/v1/runs/"+id+"/approve", h.token); code != 200 || !strings.Contains(body, `"user.archive": 2`) {
		t.Fatalf("approve: %d %s", code, body)
	}
	if code, body := h.do(t, "POST", "/api/v1/runs/"+id+"/approve", h.token); code != 400 || !strings.Contains(body, "nothing to approve") {
		t.Fatalf("second approve: %d %s, want 400", code, body)
	}
	_, users := h.do(t, "GET", "/api/v1/tenants/demo/users?status=archived", h.token)
	if strings.Count(users, `"entraId"`) != 2 {
		t.Fatalf("archived after approval: %s", users)
	}
	// Reject: a second mass change is held, then dropped.
	h.graph.Unassign(bob)
	h.graph.RemoveMember(engineering, bob)
	h.graph.RemoveMember(sales, dave)
	_, body = h.do(t, "POST", "/api/v1/tenants/demo/cycles", h.token)
	if json.Unmarshal([]byte(body), &res) != nil || res.Run.Outcome != sync.OutcomeHeld {
		t.Fatalf("second mass change: %s", body)
	}
	id = strconv.FormatInt(res.Run.ID, 10)
	if code, body := h.do(t, "POST", "/api/v1/runs/"+id+"/reject", h.token); code != 200 || !strings.Contains(body, `"review": "rejected"`) ||
		!strings.Contains(body, `"reviewedBy": "api:`) {
		t.Fatalf("reject: %d %s", code, body)
	}
	_, users = h.do(t, "GET", "/api/v1/tenants/demo/users?status=archived", h.token)
	if strings.Count(users, `"entraId"`) != 2 {
		t.Fatalf("rejected archives applied: %s", users)
	}
	if code, _ := h.do(t, "POST", "/api/v1/runs/abc/reject", h.token); code != 400 {
		t.Fatalf("bad run id: %d", code)
	}
}
