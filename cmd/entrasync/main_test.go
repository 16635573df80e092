package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/store/storetest"
)

func runCLI(t *testing.T, getenv map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return getenv[k] }, &out, &errb)
	code := exitCode(err, &errb)
	return out.String(), errb.String(), code
}

func TestDemoEndToEnd(t *testing.T) {
	db := storetest.MustSchemaURL(t)
	out, stderr, code := runCLI(t, nil, "--database", db, "demo")
	if code != exitOK {
		t.Fatalf("demo exit %d: %s", code, stderr)
	}
	for _, want := range []string{"=== Cycle 1 ===", "=== Cycle 3 ===", "↓ archive  alice@contoso.test", "↑ restore  alice@contoso.test",
		"robert.brown@contoso.test", "Sales EMEA", "Microsoft 365 group", "nested in \"Engineering\"", "Ignored 1 service principal"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(out+stderr, "demo-secret-not-real") {
		t.Fatalf("demo printed the client secret")
	}
	// The resulting directory, through the listing commands.
	out, _, code = runCLI(t, nil, "--database", db, "runs", "list", "--json")
	var runs []struct {
		ID      int64  `json:"id"`
		Outcome string `json:"outcome"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &runs) != nil || len(runs) != 3 {
		t.Fatalf("runs list --json: exit %d, %s", code, out)
	}
	out, _, code = runCLI(t, nil, "--database", db, "runs", "show", "1")
	if code != exitOK || !strings.Contains(out, "heidi@contoso.test") {
		t.Fatalf("runs show 1: exit %d\n%s", code, out)
	}
}

// TestDemoOnEmbeddedDefault runs the README's first command as a newcomer
// would: no database configured, so the demo uses a SQLite file.
func TestDemoOnEmbeddedDefault(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{"XDG_DATA_HOME": data}
	out, stderr, code := runCLI(t, env, "demo")
	if code != exitOK {
		t.Fatalf("demo exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "Local directory: sqlite") || !strings.Contains(out, "↑ restore  alice@contoso.test") {
		t.Fatalf("demo output:\n%s", out)
	}
	db := data + "/entrasync/demo.db"
	out, stderr, code = runCLI(t, env, "--database", db, "users", "list", "--tenant", "demo", "--json")
	var users []struct {
		Email  string `json:"email"`
		Status string `json:"status"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &users) != nil || len(users) != 5 {
		t.Fatalf("users list on the demo's SQLite file: exit %d %s %s", code, out, stderr)
	}
	for _, u := range users {
		if want := map[string]string{"dave@contoso.test": "archived"}[u.Email]; want != "" && u.Status != want {
			t.Errorf("%s = %s, want %s", u.Email, u.Status, want)
		}
	}
	// Running it again starts afresh.
	if _, stderr, code := runCLI(t, env, "demo"); code != exitOK {
		t.Fatalf("second demo: %s", stderr)
	}
	out, _, _ = runCLI(t, env, "--database", db, "runs", "list", "--json")
	if strings.Count(out, `"tenantId"`) != 3 {
		t.Fatalf("second demo did not start from an empty directory:\n%s", out)
	}
}

func TestDemoJSONIsTheDirectory(t *testing.T) {
	out, stderr, code := runCLI(t, nil, "--database", storetest.MustSchemaURL(t), "demo", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var v struct {
		Cycles []json.RawMessage `json:"cycles"`
		Users  []struct {
			Email  string `json:"email"`
			Status string `json:"status"`
		} `json:"users"`
		Groups []struct {
			DisplayName string `json:"displayName"`
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("demo --json is not JSON: %v\n%s", err, out)
	}
	status := map[string]string{}
	for _, u := range v.Users {
		status[u.Email] = u.Status
	}
	want := map[string]string{"alice@contoso.test": "staged", "robert.brown@contoso.test": "staged", "carol@contoso.test": "staged",
		"dave@contoso.test": "archived", "heidi@contoso.test": "staged"}
	if len(v.Cycles) != 3 || len(status) != len(want) || len(v.Groups) != 2 {
		t.Fatalf("cycles %d, users %v, groups %d", len(v.Cycles), status, len(v.Groups))
	}
	for e, s := range want {
		if status[e] != s {
			t.Errorf("%s = %q, want %q", e, status[e], s)
		}
	}
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		code int
		msg  string
	}{
		{[]string{"frobnicate"}, nil, exitUsage, "unknown command"},
		{nil, nil, exitUsage, "no command"},
		{[]string{"users", "list", "--status", "gone"}, nil, exitUsage, "unknown status"},
		{[]string{"runs", "show", "abc"}, nil, exitUsage, "not a run id"},
		{[]string{"sync"}, nil, exitUsage, "no tenants configured"},
		{[]string{"users", "list"}, map[string]string{"ENTRASYNC_LOG_FORMAT": "xml"}, exitUsage, "log.format"},
		{[]string{"--config", "/nonexistent.yaml", "sync"}, nil, exitUsage, "nonexistent"},
		{[]string{"version"}, nil, exitOK, ""},
	}
	for _, c := range cases {
		_, stderr, code := runCLI(t, c.env, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("entrasync %v: exit %d %q, want %d containing %q", c.args, code, stderr, c.code, c.msg)
		}
	}
}
