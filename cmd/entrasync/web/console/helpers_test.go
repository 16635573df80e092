package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/cmd/entrasync/web"
	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/store/postgres"
	"github.com/entrasync/entrasync/store/storetest"
	"github.com/entrasync/entrasync/sync"
)

// The console's test tenant: consoleUsers users assigned directly, the
// first ten also in Engineering, a nested group and a Microsoft 365 group;
// an archive threshold of 3, so unassigning 4 users holds the run.
const (
	consoleUsers  = 12
	engineering   = "e4900000-0000-4000-8000-0000000000e1"
	contractors   = "c0470000-0000-4000-8000-0000000000e3"
	allCompany    = "a11c0000-0000-4000-8000-0000000000e4"
	clientSecret  = "console-test-secret-Zq9"
	heldThreshold = 3
)

func userID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func consoleTenant(users int) *graphtest.Tenant {
	t := &graphtest.Tenant{
		TenantID: "0d3e1a2b-0000-4000-8000-00000000d3e0", ClientID: "c11e4700-0000-4000-8000-0000000000c1", ClientSecret: clientSecret,
		Application: graphtest.ServicePrincipal{ID: "5e0a1c2b-0000-4000-8000-000000000001", AppID: "5e0a1c2b-0000-4000-8000-0000000000a1", DisplayName: "Vault"},
		Groups: []graphtest.Group{
			{ID: engineering, DisplayName: "Engineering", SecurityEnabled: true, Members: []string{contractors}},
			{ID: contractors, DisplayName: "Contractors", SecurityEnabled: true},
			{ID: allCompany, DisplayName: "All Company", MailEnabled: true, GroupTypes: []string{"Unified"}},
		},
		Assignments: []graphtest.Assignment{{PrincipalID: engineering}, {PrincipalID: allCompany}},
	}
	for i := 1; i <= users; i++ {
		id := userID(i)
		name := fmt.Sprintf("user%03d", i)
		t.Users = append(t.Users, graphtest.User{ID: id, UserPrincipalName: name + "@contoso.test", Mail: name + "@contoso.test",
			GivenName: "User", Surname: fmt.Sprint(i), DisplayName: fmt.Sprintf("User %d", i), AccountEnabled: true})
		t.Assignments = append(t.Assignments, graphtest.Assignment{PrincipalID: id})
		if i <= 10 {
			t.Groups[0].Members = append(t.Groups[0].Members, id)
		}
	}
	return t
}

// harness is a worker with one tenant, "demo", read from graphtest with the
// real Graph source into a fresh PostgreSQL schema, served by web.Server
// (API and console) over HTTP; admin and reader are tokens of both scopes.
type harness struct {
	srv    *httptest.Server
	graph  *graphtest.Server
	db     *postgres.DB
	worker *sync.Worker
	admin  string
	reader string
}

// MustConsole starts the harness over a tenant of users users (TLS with
// tls).
func MustConsole(tb testing.TB, users int, tls bool) *harness {
	tb.Helper()
	gs := graphtest.NewServer(consoleTenant(users))
	tb.Cleanup(gs.Close)
	db := storetest.MustOpen(tb)
	t := gs.Tenant()
	settings := sync.DefaultTenantSettings()
	settings.ArchiveThreshold = heldThreshold
	ctx := context.Background()
	if err := db.RegisterTenant(ctx, sync.Tenant{ID: "demo", EntraTenantID: t.TenantID, Settings: settings}); err != nil {
		tb.Fatal(err)
	}
	src, err := graph.New(graph.Config{TenantID: t.TenantID, ClientID: t.ClientID, ClientSecret: t.ClientSecret,
		ServicePrincipalID: t.Application.ID, GraphEndpoint: gs.GraphEndpoint(), LoginEndpoint: gs.LoginEndpoint(),
		Transport: gs.Client().Transport}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	w := sync.NewWorker(sync.NewSyncer(db, nil), db, []sync.WorkerTenant{{ID: "demo", Source: src, Schedule: sync.Every(time.Hour)}},
		sync.WorkerConfig{Holder: "console-test"}, nil)
	h := web.NewServer(w, db, web.NewMetrics(), nil).Handler()
	srv := httptest.NewUnstartedServer(h)
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	tb.Cleanup(srv.Close)
	hs := &harness{srv: srv, graph: gs, db: db, worker: w}
	hs.admin = hs.MustToken(tb, sync.ScopeAdmin, "ops")
	hs.reader = hs.MustToken(tb, sync.ScopeRead, "helpdesk")
	return hs
}

// MustToken issues a token of scope and label.
func (h *harness) MustToken(tb testing.TB, scope, label string) string {
	tb.Helper()
	token, err := web.IssueToken(context.Background(), h.db, scope, label)
	if err != nil {
		tb.Fatal(err)
	}
	return token
}

// MustCycle runs a cycle of demo now and returns its run.
func (h *harness) MustCycle(tb testing.TB) *sync.Run {
	tb.Helper()
	res, err := h.worker.RunNow(context.Background(), "demo", sync.CycleOptions{Trigger: "test"})
	if err != nil {
		tb.Fatalf("cycle: %v", err)
	}
	return res.Run
}

// MustHeldRun provisions the tenant, then unassigns users 1 to 4 (one more
// than the threshold) and returns the run that held their archives.
func (h *harness) MustHeldRun(tb testing.TB) *sync.Run {
	tb.Helper()
	h.MustCycle(tb)
	for i := 1; i <= heldThreshold+1; i++ {
		h.graph.Unassign(userID(i))
		h.graph.RemoveMember(engineering, userID(i))
	}
	run := h.MustCycle(tb)
	if run.Outcome != sync.OutcomeHeld {
		tb.Fatalf("run %d is %s, want held", run.ID, run.Outcome)
	}
	return run
}

// client is a browser without JavaScript: a cookie jar, redirects not
// followed, so each test sees every status.
type client struct {
	tb   testing.TB
	h    *harness
	http *http.Client
	csrf string
}

func (h *harness) client(tb testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	hc := h.srv.Client()
	hc.Jar = jar
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{tb: tb, h: h, http: hc}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// do sends a request and returns the response (body read) and its body;
// a page's CSRF token is remembered for the next form.
func (c *client) do(method, path string, form url.Values) (*http.Response, string) {
	c.tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.h.srv.URL+path, body)
	if err != nil {
		c.tb.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return resp, string(b)
}

func (c *client) get(path string) (int, string) {
	c.tb.Helper()
	resp, body := c.do("GET", path, nil)
	return resp.StatusCode, body
}

// post submits a form with the CSRF token of the last page.
func (c *client) post(path string, form url.Values) (int, string) {
	c.tb.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", c.csrf)
	}
	resp, body := c.do("POST", path, form)
	if resp.StatusCode == http.StatusSeeOther {
		return resp.StatusCode, resp.Header.Get("Location")
	}
	return resp.StatusCode, body
}

// MustSignIn signs c in with token and loads the overview (for its CSRF
// token).
func (c *client) MustSignIn(token string) {
	c.tb.Helper()
	resp, _ := c.do("POST", "/signin", url.Values{"token": {token}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther {
		c.tb.Fatalf("sign in: %d", resp.StatusCode)
	}
	if code, body := c.get("/"); code != 200 {
		c.tb.Fatalf("overview after sign-in: %d %s", code, body)
	}
}
