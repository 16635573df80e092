package main

// Tests of issue "no surprises at the prompt": each command does what it
// says with two tenants configured, as a new administrator would try it.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/store/storetest"
	"github.com/entrasync/entrasync/sync"
)

// twoTenants serves the demo tenant and configures it twice, as "demo" and
// "other" (the same simulated Entra tenant under two names), on database.
// extra is appended to each tenant's block (archive_threshold: 1 …).
type twoTenants struct {
	gs  *graphtest.Server
	cfg string
	env map[string]string
}

func mustTwoTenants(t *testing.T, database, extra string) *twoTenants {
	t.Helper()
	gs := graphtest.NewServer(demoTenant())
	t.Cleanup(gs.Close)
	cfgFile, env := writeWorkerConfig(t, gs, database)
	b, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	tn := gs.Tenant()
	cfg := string(b) + extra + "  - name: other\n    tenant_id: " + tn.TenantID + "\n    client_id: " + tn.ClientID +
		"\n    service_principal_id: " + tn.Application.ID + "\n" + extra
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env["ENTRASYNC_OTHER_CLIENT_SECRET"] = tn.ClientSecret
	return &twoTenants{gs: gs, cfg: cfgFile, env: env}
}

func (c *twoTenants) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runCLI(t, c.env, append([]string{"--config", c.cfg}, args...)...)
}

func (c *twoTenants) must(t *testing.T, code int, args ...string) (string, string) {
	t.Helper()
	out, stderr, got := c.run(t, args...)
	if got != code {
		t.Fatalf("entrasync %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out, stderr)
	}
	return out, stderr
}

func runCount(t *testing.T, c *twoTenants, tenant string) int {
	t.Helper()
	out, _ := c.must(t, exitOK, "runs", "list", tenant, "--json")
	var runs []sync.Run
	mustDecode(t, out, &runs)
	return len(runs)
}

// TestPositionalTenantNames: `sync demo` syncs demo only (it used to sync
// every tenant), as do plan, check and the listings; a name that disagrees
// with --tenant, or two names, are refused.
func TestPositionalTenantNames(t *testing.T) {
	c := mustTwoTenants(t, filepath.Join(t.TempDir(), "two.db"), "")
	out, _ := c.must(t, exitOK, "sync", "demo")
	if !strings.Contains(out, "Plan for tenant demo") || strings.Contains(out, "tenant other") {
		t.Fatalf("sync demo:\n%s", out)
	}
	if n := runCount(t, c, "other"); n != 0 {
		t.Fatalf("sync demo ran %d cycle(s) of tenant other", n)
	}
	out, _ = c.must(t, exitOK, "plan", "other")
	if !strings.Contains(out, "Plan for tenant other") || strings.Contains(out, "Plan for tenant demo") {
		t.Fatalf("plan other:\n%s", out)
	}
	for _, args := range [][]string{{"users", "list", "demo"}, {"groups", "list", "demo"}, {"runs", "list", "demo"},
		{"events", "list", "demo"}, {"check", "demo"}, {"tenant", "status", "demo"}} {
		out, _ := c.must(t, exitOK, args...)
		if strings.Contains(out, "other") {
			t.Errorf("%v shows the other tenant:\n%s", args, out)
		}
	}
	c.must(t, exitUsage, "sync", "demo", "--tenant", "other")
	c.must(t, exitUsage, "plan", "demo", "other")
	c.must(t, exitUsage, "users", "list", "demo", "other")
}

// TestSyncOfEveryTenantSaysSo: without a name, with several tenants, sync
// and plan say first that they act on each of them and how to name one.
func TestSyncOfEveryTenantSaysSo(t *testing.T) {
	c := mustTwoTenants(t, filepath.Join(t.TempDir(), "two.db"), "")
	for _, cmd := range []string{"plan", "sync"} {
		_, stderr := c.must(t, exitOK, cmd)
		if !strings.Contains(stderr, "every configured tenant") || !strings.Contains(stderr, "(2: demo, other)") ||
			!strings.Contains(stderr, "entrasync "+cmd+" NAME") {
			t.Fatalf("%s without a name: stderr %q", cmd, stderr)
		}
	}
	_, stderr := c.must(t, exitOK, "sync", "demo")
	if strings.Contains(stderr, "every configured tenant") {
		t.Fatalf("sync demo announced every tenant: %q", stderr)
	}
	// A listing with several tenants and no name says how to name one.
	_, stderr = c.must(t, exitUsage, "users", "list")
	if !strings.Contains(stderr, "entrasync users list NAME") {
		t.Fatalf("users list without a name: %q", stderr)
	}
}

// TestUnknownTenantIsAnError: naming a tenant that is neither configured
// nor in the directory is an error, not an empty listing.
func TestUnknownTenantIsAnError(t *testing.T) {
	c := mustTwoTenants(t, filepath.Join(t.TempDir(), "two.db"), "")
	c.must(t, exitOK, "sync", "demo")
	for _, args := range [][]string{{"runs", "list", "--tenant", "nope"}, {"runs", "list", "nope"}, {"users", "list", "nope"},
		{"groups", "list", "--tenant", "nope"}, {"events", "list", "nope"}, {"tenant", "status", "nope"},
		{"tenant", "pause", "nope"}, {"sync", "nope"}, {"plan", "nope"}, {"check", "nope"}} {
		out, stderr, code := c.run(t, args...)
		if code != exitUsage || !strings.Contains(stderr, `"nope"`) {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 naming the tenant", args, code, stderr, out)
		}
	}
}

// TestReadOnlyCommandsCreateAndMigrateNothing: a listing on a mistyped
// SQLite path fails clearly and creates no file or directory; check reports
// pending migrations without applying them.
func TestReadOnlyCommandsCreateAndMigrateNothing(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "tpyo", "entrasync.db")
	for _, args := range [][]string{{"users", "list", "--tenant", "demo"}, {"runs", "list"}, {"groups", "list", "--tenant", "demo"},
		{"events", "list", "--tenant", "demo"}, {"runs", "show", "1"}, {"tenant", "status", "demo"}} {
		_, stderr, code := runCLI(t, nil, append([]string{"--database", typo}, args...)...)
		if code == exitOK || !strings.Contains(stderr, "no directory at "+typo) {
			t.Errorf("%v on a mistyped path: exit %d, %q", args, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Dir(typo)); !os.IsNotExist(err) {
		t.Fatalf("a read-only command created %s", filepath.Dir(typo))
	}
	// check on a schema never migrated: the pending migrations are
	// reported, none applied; listings refuse it; migrate applies them.
	url := storetest.MustSchemaURL(t)
	c := mustTwoTenants(t, url, "")
	out, _, code := c.run(t, "check", "demo")
	if code != exitFailure || !regexp.MustCompile(`✗ database .* migration\(s\) pending \(0001_init, .*\); nothing was applied`).MatchString(out) {
		t.Fatalf("check of a schema never migrated: exit %d\n%s", code, out)
	}
	db, schema := mustSQL(t, url)
	var tables int
	if err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1`, schema).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("check created %d table(s) (%v)", tables, err)
	}
	_, stderr := c.must(t, exitUsage, "runs", "list")
	if !strings.Contains(stderr, "pending migration") || !strings.Contains(stderr, "entrasync migrate") {
		t.Fatalf("runs list on an old schema: %q", stderr)
	}
	out, _ = c.must(t, exitOK, "migrate")
	if !strings.Contains(out, "migration(s) to the postgres directory: 0001_init") {
		t.Fatalf("migrate: %s", out)
	}
	c.must(t, exitOK, "check", "demo")
	c.must(t, exitOK, "runs", "list")
}

// TestCommandsThatDoNotTalkToGraphNeedNoSecret: without any client secret,
// listings, token rotation and tenant status work; sync names the missing
// secret's variable.
func TestCommandsThatDoNotTalkToGraphNeedNoSecret(t *testing.T) {
	c := mustTwoTenants(t, filepath.Join(t.TempDir(), "two.db"), "")
	c.must(t, exitOK, "sync", "demo")
	delete(c.env, "ENTRASYNC_DEMO_CLIENT_SECRET")
	delete(c.env, "ENTRASYNC_OTHER_CLIENT_SECRET")
	for _, args := range [][]string{{"users", "list", "demo"}, {"runs", "list"}, {"token", "rotate"}, {"tenant", "status"},
		{"groups", "list", "demo"}, {"runs", "show", "1"}, {"tenant", "settings", "demo"}, {"tenant", "pause", "other"}} {
		c.must(t, exitOK, args...)
	}
	_, stderr := c.must(t, exitUsage, "sync", "demo")
	if !strings.Contains(stderr, "ENTRASYNC_DEMO_CLIENT_SECRET") {
		t.Fatalf("sync without the secret: %q", stderr)
	}
}

// TestSyncOfAHeldRun: a cycle whose archives the guard holds exits 4 and
// names the run; the plan does not say "no changes" above held ones; runs
// list/show and tenant status show it awaiting review, then who approved.
func TestSyncOfAHeldRun(t *testing.T) {
	c := mustTwoTenants(t, filepath.Join(t.TempDir(), "two.db"), "    archive_threshold: 1\n")
	c.must(t, exitOK, "sync", "demo")
	c.gs.Unassign("a11ce000-0000-4000-8000-000000000001")
	c.gs.Unassign("4e1d1000-0000-4000-8000-000000000008")
	c.gs.Unassign("b0b00000-0000-4000-8000-000000000002")
	out, stderr, code := c.run(t, "sync", "demo")
	m := regexp.MustCompile(`run (\d+) of tenant demo holds \d+ change\(s\) for review: entrasync runs approve (\d+)`).FindStringSubmatch(stderr)
	if code != exitHeld || m == nil || m[1] != m[2] {
		t.Fatalf("held sync: exit %d, stderr %q", code, stderr)
	}
	id := m[1]
	if strings.Contains(out, "no changes\n") || !strings.Contains(out, "entrasync runs approve "+id+"`") {
		t.Fatalf("held plan:\n%s", out)
	}
	out, _ = c.must(t, exitOK, "runs", "list", "demo")
	if !strings.Contains(out, "awaits review") {
		t.Fatalf("runs list:\n%s", out)
	}
	out, _ = c.must(t, exitOK, "runs", "show", id)
	if !strings.Contains(out, "awaits review") || !strings.Contains(out, "entrasync runs approve "+id) {
		t.Fatalf("runs show:\n%s", out)
	}
	out, _ = c.must(t, exitOK, "tenant", "status", "demo")
	if !strings.Contains(out, "held") || !strings.Contains(out, "run "+id+" holds changes") {
		t.Fatalf("tenant status:\n%s", out)
	}
	c.env["USER"] = "alice"
	c.must(t, exitOK, "runs", "approve", id)
	out, _ = c.must(t, exitOK, "runs", "show", id)
	if !regexp.MustCompile(`held \(\d+\): approved by cli:alice@`).MatchString(out) {
		t.Fatalf("runs show after approval:\n%s", out)
	}
	out, _ = c.must(t, exitOK, "runs", "list", "demo", "--json")
	var runs []sync.Run
	mustDecode(t, out, &runs)
	for _, r := range runs {
		if r.Outcome == sync.OutcomeHeld && (r.Review != sync.ReviewApproved || !strings.HasPrefix(r.ReviewedBy, "cli:alice@")) {
			t.Fatalf("run %d: review %q by %q", r.ID, r.Review, r.ReviewedBy)
		}
	}
	out, _ = c.must(t, exitOK, "tenant", "status", "demo")
	if strings.Contains(out, "holds changes") {
		t.Fatalf("tenant status after approval:\n%s", out)
	}
}

// TestFailedSyncSaysWhatKindAndSuggestsCheck: a refused credential reads as
// one and points at `entrasync check NAME`.
func TestFailedSyncSaysWhatKindAndSuggestsCheck(t *testing.T) {
	c := mustTwoTenants(t, filepath.Join(t.TempDir(), "two.db"), "")
	c.env["ENTRASYNC_OTHER_CLIENT_SECRET"] = "wrong-secret"
	_, stderr := c.must(t, exitFailure, "sync", "other")
	if !strings.Contains(stderr, "tenant other: Microsoft Graph refused the credential") ||
		!strings.Contains(stderr, "entrasync check other") {
		t.Fatalf("failed sync: %q", stderr)
	}
}

// TestRunsShowListsSkippedObjects: what a run's plan passed over (a
// Microsoft 365 group, a nested group) is in runs show, text and JSON.
func TestRunsShowListsSkippedObjects(t *testing.T) {
	db := mustDemoDB(t)
	out, _ := mustCLI(t, db, exitOK, "runs", "show", "1")
	if !strings.Contains(out, "Skipped (not provisioned)") || !strings.Contains(out, "Microsoft 365 group") || !strings.Contains(out, "nested_group") {
		t.Fatalf("runs show 1:\n%s", out)
	}
	out, _ = mustCLI(t, db, exitOK, "runs", "show", "1", "--json")
	var v struct {
		Run sync.Run `json:"run"`
	}
	mustDecode(t, out, &v)
	if len(v.Run.Skipped) == 0 {
		t.Fatalf("runs show --json: no skipped objects\n%s", out)
	}
}

// TestGroupPathsPrintAsNames: provision output names the group a user is
// in scope through, not group:<id>.
func TestGroupPathsPrintAsNames(t *testing.T) {
	c := mustTwoTenants(t, filepath.Join(t.TempDir(), "two.db"), "")
	c.must(t, exitOK, "sync", "demo")
	out, _ := c.must(t, exitOK, "plan", "other") // creates, with their paths
	if !strings.Contains(out, `group "Sales"`) || regexp.MustCompile(`group:[0-9a-f]{8}-`).MatchString(out) {
		t.Fatalf("plan output:\n%s", out)
	}
	out, _ = c.must(t, exitOK, "provision", "user", "carol@contoso.test", "--tenant", "demo", "--dry-run")
	if !strings.Contains(out, `group "Sales"`) || regexp.MustCompile(`group:[0-9a-f]{8}-`).MatchString(out) {
		t.Fatalf("provision output:\n%s", out)
	}
	out, _ = c.must(t, exitOK, "users", "list", "demo")
	if !strings.Contains(out, `group "Sales"`) || strings.Contains(out, "group:") {
		t.Fatalf("users list:\n%s", out)
	}
}

// TestWideShowsCellsWhole: tables cut long text with "…"; --wide does not.
func TestWideShowsCellsWhole(t *testing.T) {
	long := strings.Repeat("graph: read members of group x: HTTP 503 ", 4)
	runs := []sync.Run{{ID: 1, TenantID: "demo", StartedAt: time.Now(), Outcome: sync.OutcomeFailed, Error: long}}
	var cut, wide strings.Builder
	if err := printRuns(&cut, runs, false); err != nil {
		t.Fatal(err)
	}
	if err := printRuns(&wide, runs, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cut.String(), "…") || strings.Contains(cut.String(), strings.TrimSpace(long)) {
		t.Fatalf("default table does not cut:\n%s", cut.String())
	}
	if strings.Contains(wide.String(), "…") || !strings.Contains(wide.String(), strings.TrimSpace(long)) {
		t.Fatalf("--wide cut the cell:\n%s", wide.String())
	}
	db := mustDemoDB(t)
	mustCLI(t, db, exitOK, "runs", "list", "--wide")
	mustCLI(t, db, exitOK, "users", "list", "--tenant", "demo", "--wide")
}

// TestPromptExitCodes: what used to exit 0 by mistake.
func TestPromptExitCodes(t *testing.T) {
	out, stderr, code := runCLI(t, nil, "help", "frob")
	if code != exitUsage || !strings.Contains(stderr, `no command "frob"`) {
		t.Errorf("help frob: exit %d %q", code, stderr)
	}
	if _, _, code := runCLI(t, nil, "help", "sync"); code != exitOK {
		t.Errorf("help sync: exit %d", code)
	}
	out, _, code = runCLI(t, nil, "version", "--json")
	var v map[string]string
	if code != exitOK || json.Unmarshal([]byte(out), &v) != nil || v["version"] != version {
		t.Errorf("version --json: exit %d %q", code, out)
	}
	_, stderr, code = runCLI(t, nil, "bench", "--scenario", "tiny")
	if code != exitUsage || !strings.Contains(stderr, `no scenario "tiny"`) {
		t.Errorf("bench --scenario tiny: exit %d %q", code, stderr)
	}
	c := mustTwoTenants(t, filepath.Join(t.TempDir(), "two.db"), "")
	for _, kind := range []string{"user", "group"} {
		_, stderr, code = c.run(t, "provision", kind, "nobody@contoso.test", "--tenant", "demo")
		if code != exitFailure || !strings.Contains(stderr, "nobody@contoso.test") {
			t.Errorf("provision %s nobody: exit %d %q", kind, code, stderr)
		}
	}
}

// TestDatabaseURLCredentialsNeverShow: a URL that does not parse and a
// keyword connection string fail without their password, and the keyword
// string is taken for PostgreSQL, not for a SQLite file named after it.
func TestDatabaseURLCredentialsNeverShow(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.Chdir(wd) }()
	for _, url := range []string{"postgres://admin:secretpw@127.0.0.1:notaport/x",
		"host=127.0.0.1 port=1 user=admin password=secretpw dbname=x sslmode=disable connect_timeout=2"} {
		for _, args := range [][]string{{"runs", "list"}, {"sync"}, {"migrate"}, {"check"}, {"run", "--listen", "127.0.0.1:0"}} {
			out, stderr, code := runCLI(t, map[string]string{"ENTRASYNC_DATABASE_URL": url}, args...)
			if code == exitOK || strings.Contains(out+stderr, "secretpw") {
				t.Errorf("%v with %q: exit %d\n%s%s", args, url, code, out, stderr)
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("files created in the working directory: %v", entries)
	}
}
