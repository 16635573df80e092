package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/store/storetest"
)

// checkEnv serves the demo tenant and writes a config for it (see
// writeWorkerConfig); edit, when set, rewrites the config file's text.
type checkEnv struct {
	gs  *graphtest.Server
	cfg string
	env map[string]string
}

func mustCheckEnv(t *testing.T, database string, edit func(cfg string) string) *checkEnv {
	t.Helper()
	gs := graphtest.NewServer(demoTenant())
	t.Cleanup(gs.Close)
	if database == "" {
		database = filepath.Join(t.TempDir(), "check.db")
	}
	cfgFile, env := writeWorkerConfig(t, gs, database)
	if edit != nil {
		b, err := os.ReadFile(cfgFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfgFile, []byte(edit(string(b))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// check reads the directory as it is: create it first (where the
	// configuration and database allow; the tests of those failures expect
	// it to fail).
	_, _, _ = runCLI(t, env, "--config", cfgFile, "migrate")
	return &checkEnv{gs: gs, cfg: cfgFile, env: env}
}

func (c *checkEnv) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	out, stderr, code := runCLI(t, c.env, append([]string{"--config", c.cfg, "check"}, args...)...)
	for _, secret := range []string{c.gs.Tenant().ClientSecret, c.env["ENTRASYNC_DEMO_CLIENT_SECRET"]} {
		if secret != "" && strings.Contains(out+stderr, secret) {
			t.Fatalf("check printed a client secret:\n%s%s", out, stderr)
		}
	}
	return out, stderr, code
}

// checkLine returns the checklist line of one check (and its fix line).
func checkLine(out, check string) string {
	lines := strings.Split(out, "\n")
	re := regexp.MustCompile(`^ [✓✗○-] ` + regexp.QuoteMeta(check) + ` `)
	for i, l := range lines {
		if re.MatchString(l) {
			if i+1 < len(lines) && (strings.Contains(lines[i+1], "fix: ") || strings.Contains(lines[i+1], "optional: ")) {
				return l + "\n" + lines[i+1]
			}
			return l
		}
	}
	return ""
}

func wantLine(t *testing.T, out, check, mark string, contains ...string) {
	t.Helper()
	l := checkLine(out, check)
	if !strings.HasPrefix(l, " "+mark+" ") {
		t.Errorf("%s: want %s, got %q\n%s", check, mark, l, out)
		return
	}
	for _, c := range contains {
		if !strings.Contains(l, c) {
			t.Errorf("%s line lacks %q: %q", check, c, l)
		}
	}
}

func TestCheckAllPass(t *testing.T) {
	t.Parallel()
	c := mustCheckEnv(t, storetest.MustSchemaURL(t), nil)
	tn := c.gs.Tenant()
	out, stderr, code := c.run(t)
	if code != exitOK {
		t.Fatalf("check: exit %d\n%s%s", code, out, stderr)
	}
	wantLine(t, out, "configuration", "✓", "valid", "demo")
	wantLine(t, out, "database", "✓", "postgres at postgres://postgres@127.0.0.1:5432/", "search_path=t_", "migrated (schema 0")
	wantLine(t, out, "token", "✓", "obtained", tn.TenantID, tn.ClientID)
	wantLine(t, out, "service principal", "✓", `"Password Manager"`, demoSP, demoApp)
	wantLine(t, out, "Application.Read.All", "✓", "4 user(s), 4 group(s), 1 service principal(s)")
	wantLine(t, out, "GroupMember.Read.All", "✓", `members of group "Engineering" (`+demoEngineering+`) read`)
	wantLine(t, out, "User.Read.All", "✓", "directly assigned user "+demoAlice)
	wantLine(t, out, "groups/delta", "✓", "membership changes from groups/delta")
	wantLine(t, out, "directoryObjects/delta", "✓", "assignment changes from directoryObjects/delta")
	wantLine(t, out, "users/delta", "✓", "user changes from users/delta")
	wantLine(t, out, "getByIds", "○", "not usable (HTTP 403 Authorization_RequestDenied)", "optional: grant Directory.Read.All")
	if !strings.Contains(out, "Tenant demo\n") || !strings.HasSuffix(out, "All checks passed.\n") {
		t.Fatalf("checklist:\n%s", out)
	}
	if strings.Contains(out, "✗") {
		t.Fatalf("a check failed:\n%s", out)
	}
	// Exactly one request per probe: the token, the service principal, one
	// page of assignments, one page of members, one user.
	reqs := c.gs.Requests()
	for _, k := range []string{"GET /v1.0/servicePrincipals/{id}", "GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo",
		"GET /v1.0/groups/{id}/members", "GET /v1.0/users/{id}"} {
		if reqs[k] != 1 {
			t.Errorf("%s: %d requests, want 1 (%v)", k, reqs[k], reqs)
		}
	}
}

// TestCheckOptionalFeatures: optional features Graph refuses or does not
// serve are named with what would help, and never fail the check.
func TestCheckOptionalFeatures(t *testing.T) {
	t.Parallel()
	c := mustCheckEnv(t, "", nil)
	c.gs.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/delta", Status: 403})
	c.gs.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/delta", Status: 501})
	c.gs.SetAssignmentDelta(false)
	out, stderr, code := c.run(t)
	if code != exitOK {
		t.Fatalf("optional features failed the check: exit %d\n%s%s", code, out, stderr)
	}
	wantLine(t, out, "groups/delta", "○", "refused (HTTP 403 Authorization_RequestDenied",
		"optional: grant Group.Read.All (application) to make cycles incremental")
	wantLine(t, out, "directoryObjects/delta", "○", "not served (HTTP 400 Request_UnsupportedQuery", "optional: incremental cycles read every assignment page")
	wantLine(t, out, "users/delta", "○", "not served (HTTP 501", "optional: cycles read every user in full")
	wantLine(t, out, "getByIds", "○", "optional: grant Directory.Read.All")
	if !strings.HasSuffix(out, "All checks passed.\n") || strings.Contains(out, "✗") {
		t.Fatalf("checklist:\n%s", out)
	}
}

func TestCheckByAppID(t *testing.T) {
	t.Parallel()
	c := mustCheckEnv(t, "", func(cfg string) string {
		return strings.Replace(cfg, "service_principal_id: "+demoSP, "app_id: "+demoApp, 1)
	})
	out, stderr, code := c.run(t)
	if code != exitOK {
		t.Fatalf("check: exit %d\n%s%s", code, out, stderr)
	}
	wantLine(t, out, "database", "✓", "sqlite at ", "check.db: reachable, migrated")
	wantLine(t, out, "service principal", "✓", demoSP)
}

func TestCheckWrongSecret(t *testing.T) {
	t.Parallel()
	c := mustCheckEnv(t, "", nil)
	c.env["ENTRASYNC_DEMO_CLIENT_SECRET"] = "not-the-secret-0d3e1a2b"
	out, stderr, code := c.run(t)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
	}
	wantLine(t, out, "token", "✗", "the client secret was rejected", "AADSTS7000215",
		"fix: create a new one under Certificates & secrets", "set ENTRASYNC_DEMO_CLIENT_SECRET")
	wantLine(t, out, "service principal", "-", "not checked: no token")
	wantLine(t, out, "User.Read.All", "-", "not checked")
	wantLine(t, out, "database", "✓")
	if !strings.Contains(out, "1 of 11 checks failed.") || !strings.Contains(stderr, "1 of 11 checks failed") {
		t.Fatalf("summary:\n%s%s", out, stderr)
	}
}

func TestCheckUnknownTenant(t *testing.T) {
	t.Parallel()
	const other = "0d3e1a2b-0000-4000-8000-0000000000ff"
	c := mustCheckEnv(t, "", func(cfg string) string {
		return strings.Replace(cfg, "tenant_id: "+demoTenant().TenantID, "tenant_id: "+other, 1)
	})
	out, stderr, code := c.run(t)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
	}
	wantLine(t, out, "token", "✗", "tenant "+other+" was not found", "AADSTS90002", "fix: check tenant_id")
}

func TestCheckUnknownClientID(t *testing.T) {
	t.Parallel()
	const other = "c11e4700-0000-4000-8000-0000000000ff"
	c := mustCheckEnv(t, "", func(cfg string) string {
		return strings.Replace(cfg, "client_id: "+demoTenant().ClientID, "client_id: "+other, 1)
	})
	out, _, code := c.run(t)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	wantLine(t, out, "token", "✗", "application (client) id "+other+" was not found", "AADSTS700016", "fix: check client_id")
}

func TestCheckUnknownApp(t *testing.T) {
	t.Parallel()
	const unknown = "5e000000-dead-4000-8000-00000000beef"
	c := mustCheckEnv(t, "", func(cfg string) string {
		return strings.Replace(cfg, "service_principal_id: "+demoSP, "service_principal_id: "+unknown, 1)
	})
	out, stderr, code := c.run(t)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
	}
	wantLine(t, out, "token", "✓")
	wantLine(t, out, "service principal", "✗", "no enterprise application with that id in this tenant", unknown,
		"fix: set service_principal_id to the Object ID under Enterprise applications")
	wantLine(t, out, "Application.Read.All", "-", "not checked")
}

func TestCheckUnknownAppID(t *testing.T) {
	t.Parallel()
	const unknown = "a0000000-dead-4000-8000-00000000beef"
	c := mustCheckEnv(t, "", func(cfg string) string {
		return strings.Replace(cfg, "service_principal_id: "+demoSP, "app_id: "+unknown, 1)
	})
	out, _, code := c.run(t)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	wantLine(t, out, "service principal", "✗", "no enterprise application with that appId in this tenant", "fix: check app_id")
}

// TestCheckMissingPermission: a 403 Authorization_RequestDenied, as Graph
// sends it for a permission that is not granted, on each probe.
func TestCheckMissingPermission(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		endpoint, perm string
	}{
		{"GET /v1.0/groups/{id}/members", "GroupMember.Read.All"},
		{"GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo", "Application.Read.All"},
		{"GET /v1.0/users/{id}", "User.Read.All"},
		{"GET /v1.0/servicePrincipals/{id}", "service principal"},
	} {
		t.Run(c.perm, func(t *testing.T) {
			t.Parallel()
			ce := mustCheckEnv(t, "", nil)
			ce.gs.InjectFault(graphtest.Fault{Endpoint: c.endpoint, Status: 403})
			out, stderr, code := ce.run(t)
			if code != exitFailure {
				t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
			}
			perm := c.perm
			if perm == "service principal" {
				perm = "Application.Read.All"
			}
			wantLine(t, out, c.perm, "✗", perm, "HTTP 403 Authorization_RequestDenied: Insufficient privileges to complete the operation.",
				"fix: add the Microsoft Graph application permission "+perm, "Grant admin consent")
			if n := strings.Count(out, "✗"); n != 1 {
				t.Errorf("%d failures, want 1:\n%s", n, out)
			}
			wantLine(t, out, "token", "✓")
		})
	}
}

func TestCheckNoGroupAssigned(t *testing.T) {
	t.Parallel()
	c := mustCheckEnv(t, "", nil)
	c.gs.Unassign(demoEngineering)
	c.gs.Unassign(demoSales)
	c.gs.Unassign(demoAllCompany)
	c.gs.Unassign(demoNewsletter)
	c.gs.Unassign(demoAlice)
	c.gs.Unassign(demoBob)
	c.gs.Unassign(demoFrank)
	c.gs.Unassign(demoHeidi)
	out, stderr, code := c.run(t)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	wantLine(t, out, "Application.Read.All", "✓", "1 service principal(s)")
	wantLine(t, out, "GroupMember.Read.All", "-", "not checked: no group assigned")
	wantLine(t, out, "User.Read.All", "✓", "the first page of /users read")
}

func TestCheckInvalidConfig(t *testing.T) {
	t.Parallel()
	c := mustCheckEnv(t, "", func(cfg string) string {
		return strings.Replace(cfg, "client_id: "+demoTenant().ClientID, "client_id: not-a-guid", 1)
	})
	out, stderr, code := c.run(t)
	if code != exitUsage {
		t.Fatalf("exit %d, want 2\n%s%s", code, out, stderr)
	}
	wantLine(t, out, "configuration", "✗", "tenants[0].client_id: must be a GUID", "fix: correct tenants[0].client_id")
	if checkLine(out, "database") != "" || !strings.Contains(stderr, "tenants[0].client_id") {
		t.Fatalf("the check went on past an invalid configuration:\n%s%s", out, stderr)
	}
	// A missing secret fails the tenant's token check (the configuration is
	// valid: commands that do not talk to Graph need no secret) and names
	// where it is read from.
	c = mustCheckEnv(t, "", nil)
	delete(c.env, "ENTRASYNC_DEMO_CLIENT_SECRET")
	out, _, code = c.run(t)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	wantLine(t, out, "configuration", "✓")
	wantLine(t, out, "token", "✗", "client_secret", "ENTRASYNC_DEMO_CLIENT_SECRET")
}

// TestCheckDatabaseUnreachable: the location is shown without its password,
// and the tenant checks still run.
func TestCheckDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	c := mustCheckEnv(t, "postgres://entrasync:hunter2-db-pass@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=2", nil)
	out, stderr, code := c.run(t)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
	}
	wantLine(t, out, "database", "✗", "postgres at postgres://entrasync:[redacted]@127.0.0.1:1/nowhere", "fix: check that PostgreSQL runs")
	wantLine(t, out, "User.Read.All", "✓")
	if strings.Contains(out+stderr, "hunter2") {
		t.Fatalf("the database password was printed:\n%s%s", out, stderr)
	}
	if got := displayDB("postgres://u:pw@h/db?password=pw2&sslmode=disable"); strings.Contains(got, "pw") || !strings.Contains(got, "u:[redacted]@h/db") {
		t.Fatalf("displayDB = %q", got)
	}
}

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	c := mustCheckEnv(t, "", nil)
	c.gs.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", Status: 403})
	out, stderr, code := c.run(t, "--json", "--tenant", "demo")
	if code != exitFailure {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	var v struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Check, Tenant, Status, Found, Fix string
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("check --json is not JSON: %v\n%s", err, out)
	}
	if v.OK || len(v.Checks) != 11 {
		t.Fatalf("ok %v, %d checks", v.OK, len(v.Checks))
	}
	status := map[string]string{}
	for _, ch := range v.Checks {
		status[ch.Check] = ch.Status
		if ch.Check == "GroupMember.Read.All" && !strings.Contains(ch.Fix, "admin consent") {
			t.Errorf("fix = %q", ch.Fix)
		}
		if (ch.Tenant == "demo") != (ch.Check != "configuration" && ch.Check != "database") {
			t.Errorf("%s: tenant %q", ch.Check, ch.Tenant)
		}
	}
	want := map[string]string{"configuration": "ok", "database": "ok", "token": "ok", "service principal": "ok",
		"Application.Read.All": "ok", "GroupMember.Read.All": "failed", "User.Read.All": "ok",
		"groups/delta": "ok", "directoryObjects/delta": "ok", "users/delta": "ok", "getByIds": "optional"}
	for k, s := range want {
		if status[k] != s {
			t.Errorf("%s = %q, want %q", k, status[k], s)
		}
	}
	// An unknown --tenant is a usage error.
	if _, stderr, code := c.run(t, "--tenant", "nope"); code != exitUsage || !strings.Contains(stderr, `no tenant named "nope"`) {
		t.Fatalf("--tenant nope: exit %d %s", code, stderr)
	}
}

func TestCheckHelp(t *testing.T) {
	out, stderr, code := runCLI(t, nil, "check", "--help")
	if code != exitOK || stderr != "" || !strings.Contains(out, "Examples:") || !strings.Contains(out, "-tenant") {
		t.Fatalf("check --help: exit %d %q\n%s", code, stderr, out)
	}
	golden(t, "help-check", out)
}
