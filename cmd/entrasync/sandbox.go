package main

// `entrasync demo --serve`: the sandbox. The simulated tenant stays up; the
// worker, the admin API and the console run against it on localhost; the
// newcomer changes the simulated tenant from the console's sandbox page or
// with `entrasync demo change`, and sees every feature at work.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/entrasync/entrasync/cmd/entrasync/web"
	"github.com/entrasync/entrasync/cmd/entrasync/web/console"
	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/sync"
)

// sandboxStaff is how many users the sandbox's Staff group holds: enough
// that unassigning it passes the archive guard's percentage (C6).
const sandboxStaff = 40

// demoStaff is the object id of the sandbox's Staff group.
const demoStaff = "57aff000-0000-4000-8000-0000000000e6"

// sandboxTenant is the demo's tenant with a Staff group of sandboxStaff
// users, assigned to the application.
func sandboxTenant() *graphtest.Tenant {
	t := demoTenant()
	staff := graphtest.Group{ID: demoStaff, DisplayName: "Staff", SecurityEnabled: true}
	for i := 1; i <= sandboxStaff; i++ {
		id := fmt.Sprintf("57aff000-0000-4000-8000-%012d", i)
		upn := fmt.Sprintf("staff%02d@contoso.test", i)
		t.Users = append(t.Users, graphtest.User{ID: id, UserPrincipalName: upn, Mail: upn, GivenName: "Staff", Surname: fmt.Sprint(i),
			DisplayName: fmt.Sprintf("Staff %d", i), AccountEnabled: true})
		staff.Members = append(staff.Members, id)
	}
	t.Groups = append(t.Groups, staff)
	t.Assignments = append(t.Assignments, graphtest.Assignment{PrincipalID: demoStaff})
	return t
}

// sandbox changes the simulated tenant (console.Sandbox).
type sandbox struct {
	srv   *graphtest.Server
	hires int
}

var _ console.Sandbox = (*sandbox)(nil)

// Changes lists what the sandbox can change.
func (s *sandbox) Changes() []console.SandboxChange {
	return []console.SandboxChange{
		{Name: "assign", Title: "Assign a user or a group to the enterprise application", Arg: "UPN or group name"},
		{Name: "unassign", Title: "Unassign a user or a group", Arg: "UPN or group name"},
		{Name: "rename", Title: "Rename a group, or change a user's display name", Arg: "name or UPN = new name"},
		{Name: "disable", Title: "Disable a user's account", Arg: "UPN"},
		{Name: "enable", Title: "Enable a user's account again", Arg: "UPN"},
		{Name: "hire", Title: "A new user joins, assigned directly", Arg: "given name"},
		{Name: "mass-unassign", Title: fmt.Sprintf("Unassign the Staff group (%d users): the archive guard holds the run", sandboxStaff)},
		{Name: "fail-graph", Title: "Make Graph fail (503 on every assignment listing and users/delta round) until healed: cycles fail, nothing is applied"},
		{Name: "heal", Title: "Graph answers again"},
	}
}

// Apply makes the change name with arg and says what it did.
func (s *sandbox) Apply(_ context.Context, name, arg string) (string, error) {
	arg = strings.TrimSpace(arg)
	if len(arg) > 200 {
		return "", sync.Errorf(sync.EINVALID, "sandbox: the argument is longer than 200 bytes")
	}
	needArg := func() error {
		if arg == "" {
			return sync.Errorf(sync.EINVALID, "sandbox: %s needs an argument", name)
		}
		return nil
	}
	switch name {
	case "assign", "unassign":
		if err := needArg(); err != nil {
			return "", err
		}
		id, what, err := s.principal(arg)
		if err != nil {
			return "", err
		}
		if name == "assign" {
			s.srv.Assign(id)
		} else {
			s.srv.Unassign(id)
		}
		return fmt.Sprintf("%sed %s", name, what), nil
	case "rename":
		old, nw, ok := strings.Cut(arg, "=")
		old, nw = strings.TrimSpace(old), strings.TrimSpace(nw)
		if !ok || old == "" || nw == "" {
			return "", sync.Errorf(sync.EINVALID, "sandbox: rename takes OLD = NEW")
		}
		id, what, err := s.principal(old)
		if err != nil {
			return "", err
		}
		s.srv.Update(func(t *graphtest.Tenant) {
			for i := range t.Groups {
				if t.Groups[i].ID == id {
					t.Groups[i].DisplayName = nw
				}
			}
			for i := range t.Users {
				if t.Users[i].ID == id {
					t.Users[i].DisplayName = nw
				}
			}
		})
		return fmt.Sprintf("renamed %s to %q", what, nw), nil
	case "disable", "enable":
		if err := needArg(); err != nil {
			return "", err
		}
		id, what, err := s.principal(arg)
		if err != nil {
			return "", err
		}
		found := false
		s.srv.Update(func(t *graphtest.Tenant) {
			for i := range t.Users {
				if t.Users[i].ID == id {
					t.Users[i].AccountEnabled, found = name == "enable", true
				}
			}
		})
		if !found {
			return "", sync.Errorf(sync.EINVALID, "sandbox: %s is not a user", what)
		}
		return fmt.Sprintf("%sd %s", name, what), nil
	case "hire":
		if err := needArg(); err != nil {
			return "", err
		}
		given := strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
				return r
			}
			return -1
		}, arg)
		if given == "" {
			return "", sync.Errorf(sync.EINVALID, "sandbox: hire takes a given name of letters")
		}
		s.hires++
		id := fmt.Sprintf("4e540000-0000-4000-8000-%012d", s.hires)
		upn := strings.ToLower(given) + fmt.Sprintf(".%d@contoso.test", s.hires)
		s.srv.SetUser(graphtest.User{ID: id, UserPrincipalName: upn, Mail: upn, GivenName: given, Surname: "New", DisplayName: given + " New", AccountEnabled: true})
		s.srv.Assign(id)
		return fmt.Sprintf("hired %s, assigned directly", upn), nil
	case "mass-unassign":
		s.srv.Unassign(demoStaff)
		return fmt.Sprintf("unassigned the Staff group: its %d users lose their only path", sandboxStaff), nil
	case "fail-graph":
		s.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo", Status: http.StatusServiceUnavailable, RetryAfter: "0"})
		// Incremental cycles read the delta rounds instead.
		s.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/delta", Status: http.StatusServiceUnavailable, RetryAfter: "0"})
		return "Graph now answers 503 to the assignment listing", nil
	case "heal":
		s.srv.ClearFaults()
		return "Graph answers again", nil
	}
	return "", sync.Errorf(sync.EINVALID, "sandbox: no change %q (see GET /api/v1/sandbox)", sync.Printable(name))
}

// principal finds a user (UPN, mail, display name or id) or group (name or
// id) of the simulated tenant.
func (s *sandbox) principal(ref string) (id, what string, err error) {
	t := s.srv.Tenant()
	for _, u := range t.Users {
		if strings.EqualFold(u.ID, ref) || strings.EqualFold(u.UserPrincipalName, ref) || strings.EqualFold(u.Mail, ref) || strings.EqualFold(u.DisplayName, ref) {
			return u.ID, "user " + u.UserPrincipalName, nil
		}
	}
	for _, g := range t.Groups {
		if strings.EqualFold(g.ID, ref) || strings.EqualFold(g.DisplayName, ref) {
			return g.ID, "group " + g.DisplayName, nil
		}
	}
	return "", "", sync.Errorf(sync.ENOTFOUND, "sandbox: no user or group %q in the simulated tenant", sync.Printable(ref))
}

// demoServe is `entrasync demo --serve`: one cycle, then the worker, API and
// console on listen against the simulated tenant until a signal.
func (e *env) demoServe(listen string, srv *graphtest.Server, db sync.Store, m *web.Metrics, src sync.Source) error {
	worker := sync.NewWorker(sync.NewSyncer(db, e.logger), db,
		[]sync.WorkerTenant{{ID: demoTenantID, Source: src, Schedule: sync.Every(2 * time.Minute)}},
		sync.WorkerConfig{Holder: holderID(), Poll: 2 * time.Second, Observer: m}, e.logger)
	if _, err := worker.RunNow(e.ctx, demoTenantID, sync.CycleOptions{Trigger: "sandbox"}); err != nil {
		return err
	}
	admin, err := web.IssueToken(e.ctx, db, sync.ScopeAdmin, "sandbox-admin")
	if err != nil {
		return err
	}
	reader, err := web.IssueToken(e.ctx, db, sync.ScopeRead, "sandbox-read")
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("demo: listen on %s: %w", listen, err)
	}
	api := web.NewServer(worker, db, m, e.logger).WithSandbox(&sandbox{srv: srv})
	hs := web.HTTPServer(api.Handler(), slog.NewLogLogger(e.logger.Handler(), slog.LevelWarn))
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(web.LimitListener(ln, web.MaxConnections)) }()
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	workerDone := make(chan error, 1)
	go func() { workerDone <- worker.Run(ctx) }()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(e.stdout, "Sandbox: the simulated tenant, the worker, the admin API and the console, until Ctrl-C.\n\n")
	fmt.Fprintf(e.stdout, "  Console:      %s/\n", base)
	fmt.Fprintf(e.stdout, "  Admin token:  %s\n", admin)
	fmt.Fprintf(e.stdout, "  Read token:   %s\n\n", reader)
	fmt.Fprintf(e.stdout, "Sign in with the admin token, open Sandbox to change the simulated tenant, then run a cycle.\n")
	fmt.Fprintf(e.stdout, "From a terminal:\n")
	fmt.Fprintf(e.stdout, "  export ENTRASYNC_TOKEN=%s\n", admin)
	fmt.Fprintf(e.stdout, "  entrasync demo change --url %s mass-unassign\n", base)
	fmt.Fprintf(e.stdout, "  curl -s -X POST -H \"Authorization: Bearer $ENTRASYNC_TOKEN\" %s/api/v1/tenants/demo/cycles\n", base)
	fmt.Fprintf(e.stdout, "  entrasync demo change --url %s unassign alice@contoso.test\n", base)
	select {
	case err = <-serveErr:
		cancel()
		<-workerDone
		return fmt.Errorf("demo: listener: %w", err)
	case <-e.ctx.Done():
	}
	shutdownCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	_ = hs.Shutdown(shutdownCtx)
	cancel()
	<-workerDone
	return nil
}

// demoChange is `entrasync demo change [--url U] [--token T] CHANGE [ARG]`:
// one change of a running sandbox's simulated tenant, through its API (the
// token from --token or ENTRASYNC_TOKEN, an admin token).
func (e *env) demoChange(args []string) error {
	f := e.newFlags("demo change", false)
	base := f.String("url", "http://127.0.0.1:8080", "the sandbox's address (entrasync demo --serve prints it)")
	token := f.String("token", "", "an admin token of the sandbox (default: $ENTRASYNC_TOKEN)")
	if err := f.parse(args); err != nil {
		return err
	}
	if *token == "" {
		*token = e.getenv("ENTRASYNC_TOKEN")
	}
	pos := f.Args()
	if len(pos) == 0 || len(pos) > 2 || *token == "" {
		return usagef("demo change: give a change (assign, unassign, rename, disable, enable, hire, mass-unassign, fail-graph, heal), its argument, and a token (--token or ENTRASYNC_TOKEN)")
	}
	u, err := url.Parse(strings.TrimRight(*base, "/") + "/api/v1/sandbox/" + url.PathEscape(pos[0]))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return usagef("demo change: --url must be the sandbox's http:// address")
	}
	if len(pos) == 2 {
		u.RawQuery = url.Values{"arg": {pos[1]}}.Encode()
	}
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+*token)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("demo change: is the sandbox running (entrasync demo --serve)? %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out struct{ Result, Error string }
	_ = json.Unmarshal(body, &out)
	if resp.StatusCode != http.StatusOK {
		if out.Error == "" {
			out.Error = resp.Status
		}
		return fmt.Errorf("demo change: %s", sync.Printable(out.Error))
	}
	if f.json {
		_, err = e.stdout.Write(body)
		return err
	}
	_, err = fmt.Fprintln(e.stdout, sync.Printable(out.Result))
	return err
}

// demoSource builds the Graph source of the simulated tenant.
func (e *env) demoSource(srv *graphtest.Server, m *web.Metrics) (sync.Source, error) {
	t := srv.Tenant()
	cfg := graph.Config{
		TenantID: t.TenantID, ClientID: t.ClientID, ClientSecret: t.ClientSecret,
		ServicePrincipalID: t.Application.ID, GraphEndpoint: srv.GraphEndpoint(), LoginEndpoint: srv.LoginEndpoint(),
		Transport: srv.Client().Transport,
	}
	if m != nil {
		cfg.Observe = m.GraphObserver(demoTenantID)
	}
	src, err := graph.New(cfg, e.logger)
	if err != nil {
		return nil, err
	}
	return src, nil
}
