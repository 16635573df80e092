package main

import (
	"strings"
	"testing"

	"github.com/entrasync/entrasync/store/storetest"
)

// Planted secrets: what no command may ever print.
const (
	plantedOtherSecret = "planted-other-client-secret-7f3a"
	plantedDBPassword  = "planted-db-password-91c2"
)

// scanAllOutput runs every command, in text and JSON, on success and on
// failure, with two tenants (one with a wrong secret) and a database URL
// carrying a password, and returns the outputs that contain a secret.
func scanAllOutput(t *testing.T) (leaks []string, runs int) {
	t.Helper()
	url := strings.Replace(storetest.MustSchemaURL(t), "postgres@", "postgres:"+plantedDBPassword+"@", 1)
	if !strings.Contains(url, plantedDBPassword) {
		t.Fatalf("could not plant the password in %s", url)
	}
	c := mustTwoTenants(t, url, "")
	c.env["ENTRASYNC_OTHER_CLIENT_SECRET"] = plantedOtherSecret
	secrets := []string{plantedOtherSecret, plantedDBPassword, c.env["ENTRASYNC_DEMO_CLIENT_SECRET"]}
	commands := [][]string{
		{"check"}, {"check", "other"}, // before the directory exists: failures
		{"runs", "list"}, {"users", "list", "demo"},
		{"migrate"}, {"sync", "demo"}, {"sync", "other"}, {"sync"}, {"plan"}, {"plan", "other"},
		{"check"}, {"check", "demo"}, {"check", "other"},
		{"users", "list", "demo"}, {"users", "list", "nope"}, {"groups", "list", "demo"}, {"runs", "list"}, {"runs", "show", "1"},
		{"runs", "show", "999"}, {"events", "list", "demo"}, {"tenant", "status"}, {"tenant", "settings", "demo"},
		{"tenant", "pause", "other"}, {"tenant", "resume", "other"}, {"provision", "user", "alice@contoso.test", "--tenant", "demo"},
		{"provision", "user", "alice@contoso.test", "--tenant", "other"}, {"provision", "group", "nobody", "--tenant", "demo"},
		{"runs", "approve", "1"}, {"runs", "reject", "1"}, {"users", "invite", "alice@contoso.test", "--tenant", "demo"},
		{"run", "--listen", "no-port"}, {"version"}, {"bench", "--scenario", "tiny"},
	}
	for _, args := range commands {
		for _, json := range []bool{false, true} {
			a := args
			if json {
				a = append(append([]string(nil), args...), "--json")
			}
			out, stderr, code := c.run(t, a...)
			runs++
			for _, s := range secrets {
				if strings.Contains(out+stderr, s) {
					leaks = append(leaks, strings.Join(a, " ")+" (exit "+itoa(int64(code))+"): "+s)
				}
			}
		}
	}
	return leaks, runs
}

// TestNoCommandPrintsASecret scans everything every command prints for the
// configured client secrets and the database password; with redaction
// turned off the same scan finds the planted password, so the scan can see
// a leak.
func TestNoCommandPrintsASecret(t *testing.T) {
	leaks, runs := scanAllOutput(t)
	if len(leaks) > 0 {
		t.Fatalf("secrets printed by %d of %d runs:\n%s", len(leaks), runs, strings.Join(leaks, "\n"))
	}
	redactOutput = false
	defer func() { redactOutput = true }()
	leaks, _ = scanAllOutput(t)
	found := false
	for _, l := range leaks {
		found = found || strings.HasSuffix(l, plantedDBPassword)
	}
	t.Logf("with redaction off, %d run(s) print a planted secret, e.g. %v", len(leaks), leaks[:min(3, len(leaks))])
	if !found {
		t.Fatalf("with redaction off the scan found no planted secret (leaks: %v): it cannot see a leak", leaks)
	}
}
