package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/store/sqlite"
)

// mustDemoDB runs the demo into a fresh SQLite file and returns its path: a
// directory with tenant "demo", users heidi, alice, robert.brown, carol
// (staged) and dave (archived), groups "Sales EMEA" and "Engineering".
func mustDemoDB(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "demo.db")
	if _, stderr, code := runCLI(t, nil, "--database", db, "demo"); code != exitOK {
		t.Fatalf("demo: exit %d: %s", code, stderr)
	}
	return db
}

// mustCLI runs a command that must exit with code and returns its stdout.
func mustCLI(t *testing.T, db string, code int, args ...string) (stdout, stderr string) {
	t.Helper()
	out, errOut, got := runCLI(t, nil, append([]string{"--database", db}, args...)...)
	if got != code {
		t.Fatalf("entrasync %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out, errOut)
	}
	return out, errOut
}

func mustDecode(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
}

// listedUser is a row of `users list --json`.
type listedUser struct {
	ID                int64  `json:"id"`
	EntraID           string `json:"entraId"`
	Email             string `json:"email"`
	Status            string `json:"status"`
	Origin            string `json:"origin"`
	RequireMobileAuth *bool  `json:"requireMobileAuth"`
	Effective         struct {
		RequireMobileAuth *bool `json:"requireMobileAuth"`
	} `json:"effective"`
}

func listUsers(t *testing.T, db string) map[string]listedUser {
	t.Helper()
	out, _ := mustCLI(t, db, exitOK, "users", "list", "--tenant", "demo", "--json")
	var users []listedUser
	mustDecode(t, out, &users)
	m := map[string]listedUser{}
	for _, u := range users {
		if u.Effective.RequireMobileAuth == nil {
			t.Fatalf("users list --json lacks effective.requireMobileAuth:\n%s", out)
		}
		key := u.Email
		if key == "" {
			key = "#" + u.EntraID
		}
		m[key] = u
	}
	return m
}

type listedEvent struct {
	ID      int64             `json:"id"`
	Type    string            `json:"type"`
	EntraID string            `json:"entraId"`
	RunID   int64             `json:"runId"`
	Data    map[string]string `json:"data"`
}

func listEvents(t *testing.T, db string, args ...string) []listedEvent {
	t.Helper()
	out, _ := mustCLI(t, db, exitOK, append([]string{"events", "list", "--tenant", "demo", "--json"}, args...)...)
	var evs []listedEvent
	mustDecode(t, out, &evs)
	return evs
}

func TestUsersInviteCLI(t *testing.T) {
	db := mustDemoDB(t)
	before := listEvents(t, db, "--limit", "1000")
	last := before[len(before)-1].ID

	out, _ := mustCLI(t, db, exitOK, "users", "invite", "ALICE@contoso.test", "--tenant", "demo")
	if !strings.Contains(out, "Invited 1 user(s) in tenant demo") || !strings.Contains(out, "alice@contoso.test") {
		t.Fatalf("invite output:\n%s", out)
	}
	users := listUsers(t, db)
	if users["alice@contoso.test"].Status != "invited" || users["heidi@contoso.test"].Status != "staged" {
		t.Fatalf("after invite: %+v", users)
	}
	evs := listEvents(t, db, "--after", itoa(last))
	if len(evs) != 1 || evs[0].Type != "user.invited" || evs[0].EntraID != demoAlice || evs[0].RunID != 0 ||
		len(evs[0].Data) != 1 || evs[0].Data["email"] != "alice@contoso.test" {
		t.Fatalf("events after invite = %+v", evs)
	}
	last = evs[0].ID

	// Already invited, archived, unknown, nothing named: errors naming the user.
	_, stderr := mustCLI(t, db, exitUsage, "users", "invite", "--tenant", "demo", "alice@contoso.test")
	if !strings.Contains(stderr, "alice@contoso.test") || !strings.Contains(stderr, "invited, not staged") {
		t.Fatalf("second invite stderr: %s", stderr)
	}
	_, stderr = mustCLI(t, db, exitUsage, "users", "invite", demoDave, "--tenant", "demo")
	if !strings.Contains(stderr, "dave@contoso.test") || !strings.Contains(stderr, "archived") {
		t.Fatalf("invite archived stderr: %s", stderr)
	}
	_, stderr = mustCLI(t, db, exitFailure, "users", "invite", "nobody@contoso.test", "--tenant", "demo")
	if !strings.Contains(stderr, `"nobody@contoso.test"`) {
		t.Fatalf("invite unknown stderr: %s", stderr)
	}
	mustCLI(t, db, exitUsage, "users", "invite", "--tenant", "demo")
	_, stderr = mustCLI(t, db, exitFailure, "users", "invite", "alice@contoso.test", "--tenant", "nope")
	if !strings.Contains(stderr, "tenant not found") {
		t.Fatalf("invite in unknown tenant stderr: %s", stderr)
	}
	if evs := listEvents(t, db, "--after", itoa(last)); len(evs) != 0 {
		t.Fatalf("failed invitations wrote events: %+v", evs)
	}

	out, _ = mustCLI(t, db, exitOK, "users", "invite", "--all-staged", "--tenant", "demo", "--json")
	var res struct {
		Tenant  string       `json:"tenant"`
		Invited []listedUser `json:"invited"`
	}
	mustDecode(t, out, &res)
	var emails []string
	for _, u := range res.Invited {
		emails = append(emails, u.Email)
	}
	if res.Tenant != "demo" || strings.Join(emails, " ") != "heidi@contoso.test robert.brown@contoso.test carol@contoso.test" {
		t.Fatalf("--all-staged invited %v", emails)
	}
	users = listUsers(t, db)
	for email, want := range map[string]string{"heidi@contoso.test": "invited", "alice@contoso.test": "invited",
		"robert.brown@contoso.test": "invited", "carol@contoso.test": "invited", "dave@contoso.test": "archived"} {
		if users[email].Status != want {
			t.Errorf("%s = %s, want %s", email, users[email].Status, want)
		}
	}
	if evs := listEvents(t, db, "--after", itoa(last)); len(evs) != 3 || evs[2].Type != "user.invited" || evs[2].Data["email"] != "carol@contoso.test" {
		t.Fatalf("events of --all-staged = %+v", evs)
	}
	out, _ = mustCLI(t, db, exitOK, "users", "invite", "--all-staged", "--tenant", "demo")
	if !strings.Contains(out, "nobody invited") {
		t.Fatalf("--all-staged with nobody staged:\n%s", out)
	}
}

func TestUsersPurgeCLI(t *testing.T) {
	db := mustDemoDB(t)
	before := listUsers(t, db)
	out, stderr := mustCLI(t, db, exitUsage, "users", "purge", "dave@contoso.test", "--tenant", "demo")
	for _, want := range []string{"Would purge user 5 of tenant demo", `e-mail "dave@contoso.test"`, `displayName "Dave Davis"`,
		"tombstone: local id 5, Entra id " + demoDave, "Nothing was changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("preview lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "--yes") {
		t.Fatalf("refusal stderr: %s", stderr)
	}
	if after := listUsers(t, db); !reflect.DeepEqual(after["dave@contoso.test"], before["dave@contoso.test"]) {
		t.Fatalf("a purge without --yes changed dave: %+v", after["dave@contoso.test"])
	}
	// An in-scope user's preview warns the next cycle brings them back.
	out, _ = mustCLI(t, db, exitUsage, "users", "purge", demoCarol, "--tenant", "demo")
	if !strings.Contains(out, "still assigned in Entra") || !strings.Contains(out, "1 membership(s) (Sales EMEA)") {
		t.Fatalf("preview of carol:\n%s", out)
	}

	out, _ = mustCLI(t, db, exitOK, "users", "purge", "--tenant", "demo", "--yes", "DAVE@contoso.test", "--json")
	var res struct {
		Purged bool       `json:"purged"`
		User   listedUser `json:"user"`
	}
	mustDecode(t, out, &res)
	if !res.Purged || res.User.ID != 5 || res.User.Status != "purged" || res.User.Email != "" || res.User.EntraID != demoDave {
		t.Fatalf("purge --json = %s", out)
	}
	users := listUsers(t, db)
	if _, ok := users["dave@contoso.test"]; ok || users["#"+demoDave].Status != "purged" {
		t.Fatalf("users after purge: %+v", users)
	}
	evs := listEvents(t, db, "--limit", "1000")
	if last := evs[len(evs)-1]; last.Type != "user.purged" || last.Data["userId"] != "5" {
		t.Fatalf("last event = %+v", last)
	}
	_, stderr = mustCLI(t, db, exitFailure, "users", "purge", "5", "--yes", "--tenant", "demo")
	if !strings.Contains(stderr, "already purged") {
		t.Fatalf("second purge stderr: %s", stderr)
	}
	out, _ = mustCLI(t, db, exitOK, "users", "purge", "heidi@contoso.test", "--yes", "--tenant", "demo")
	if !strings.Contains(out, "Purged user 1 of tenant demo") || !strings.Contains(out, "creates them anew") || strings.Contains(out, "heidi@") {
		t.Fatalf("purge of heidi:\n%s", out)
	}
}

func TestSettingsCLI(t *testing.T) {
	db := mustDemoDB(t)
	out, _ := mustCLI(t, db, exitOK, "users", "set", "alice@contoso.test", "--require-mobile-auth", "false", "--tenant", "demo")
	if !strings.Contains(out, "require mobile authentication off (user override)") {
		t.Fatalf("users set output:\n%s", out)
	}
	users := listUsers(t, db)
	if a := users["alice@contoso.test"]; a.RequireMobileAuth == nil || *a.RequireMobileAuth || *a.Effective.RequireMobileAuth {
		t.Fatalf("alice = %+v", a)
	}
	if h := users["heidi@contoso.test"]; h.RequireMobileAuth != nil || !*h.Effective.RequireMobileAuth {
		t.Fatalf("heidi = %+v", h)
	}
	// The tenant's default flips for everyone without an override.
	out, _ = mustCLI(t, db, exitOK, "tenant", "set", "demo", "--require-mobile-auth", "false", "--group-require-mobile-auth", "true",
		"--auto-invite", "true", "--archive-threshold", "7")
	flat := strings.Join(strings.Fields(out), " ") // the columns' widths follow the longest name
	for _, want := range []string{"require-mobile-auth true false false", "auto-invite false true true",
		"archive-threshold 500 7 7"} {
		if !strings.Contains(flat, want) {
			t.Errorf("tenant set output lacks %q:\n%s", want, out)
		}
	}
	mustCLI(t, db, exitOK, "users", "set", "2", "--require-mobile-auth", "true", "--tenant", "demo")
	users = listUsers(t, db)
	if a, h := users["alice@contoso.test"], users["heidi@contoso.test"]; !*a.Effective.RequireMobileAuth || *h.Effective.RequireMobileAuth {
		t.Fatalf("after tenant override: alice %+v heidi %+v", a, h)
	}
	out, _ = mustCLI(t, db, exitOK, "users", "list", "--tenant", "demo")
	if !strings.Contains(out, "MOBILE AUTH") || !strings.Contains(out, "on (user)") || !strings.Contains(out, "off (tenant)") {
		t.Fatalf("users list table:\n%s", out)
	}

	out, _ = mustCLI(t, db, exitOK, "groups", "set", "engineering", "--members-may-store-data", "false", "--tenant", "demo")
	if !strings.Contains(out, "Group 2 (Engineering)") || !strings.Contains(out, "members may store data off (group override)") ||
		!strings.Contains(out, "require mobile authentication on (tenant default)") {
		t.Fatalf("groups set output:\n%s", out)
	}
	out, _ = mustCLI(t, db, exitOK, "groups", "list", "--tenant", "demo", "--json")
	var groups []struct {
		DisplayName         string `json:"displayName"`
		MembersMayStoreData *bool  `json:"membersMayStoreData"`
		Effective           struct {
			MembersMayStoreData bool `json:"membersMayStoreData"`
			RequireMobileAuth   bool `json:"requireMobileAuth"`
		} `json:"effective"`
	}
	mustDecode(t, out, &groups)
	if len(groups) != 2 || groups[0].DisplayName != "Sales EMEA" || !groups[0].Effective.MembersMayStoreData || !groups[0].Effective.RequireMobileAuth ||
		groups[1].MembersMayStoreData == nil || groups[1].Effective.MembersMayStoreData || !groups[1].Effective.RequireMobileAuth {
		t.Fatalf("groups list --json:\n%s", out)
	}
	out, _ = mustCLI(t, db, exitOK, "groups", "list", "--tenant", "demo")
	if !strings.Contains(out, "STORE DATA") || !strings.Contains(out, "off (group)") {
		t.Fatalf("groups list table:\n%s", out)
	}

	// default clears an override; settings shows the result.
	mustCLI(t, db, exitOK, "users", "set", demoAlice, "--require-mobile-auth", "default", "--tenant", "demo")
	if a := listUsers(t, db)["alice@contoso.test"]; a.RequireMobileAuth != nil || *a.Effective.RequireMobileAuth {
		t.Fatalf("alice after default = %+v", a)
	}
	mustCLI(t, db, exitOK, "tenant", "set", "--tenant", "demo", "--auto-invite", "default")
	out, _ = mustCLI(t, db, exitOK, "tenant", "settings", "demo", "--json")
	var rep struct {
		Overrides map[string]json.RawMessage `json:"overrides"`
		Effective struct {
			AutoInvite        bool `json:"autoInvite"`
			RequireMobileAuth bool `json:"requireMobileAuth"`
		} `json:"effective"`
	}
	mustDecode(t, out, &rep)
	if len(rep.Overrides) != 3 || rep.Effective.AutoInvite || rep.Effective.RequireMobileAuth {
		t.Fatalf("tenant settings --json:\n%s", out)
	}

	// Bad input: exit 2 naming the flag, nothing changed.
	for _, args := range [][]string{
		{"users", "set", "alice@contoso.test", "--require-mobile-auth", "maybe"},
		{"users", "set", "alice@contoso.test"},
		{"groups", "set", "Engineering", "--require-mobile-auth", ""},
		{"tenant", "set", "demo", "--email-source", "mailbox"},
		{"tenant", "set", "demo", "--archive-threshold-percent", "101"},
		{"tenant", "set", "demo", "--archive-threshold", "-3"},
		{"tenant", "set", "other", "--tenant", "demo", "--auto-invite", "true"},
	} {
		_, stderr := mustCLI(t, db, exitUsage, append(args, "--tenant", "demo")...)
		if !strings.Contains(stderr, args[0]+" "+args[1]) {
			t.Errorf("%v: stderr %q does not name the command", args, stderr)
		}
	}
	_, stderr := mustCLI(t, db, exitFailure, "groups", "set", "Eng", "--members-may-store-data", "true", "--tenant", "demo")
	if !strings.Contains(stderr, `no group "Eng" in tenant demo`) {
		t.Fatalf("groups set of an unknown group: %s", stderr)
	}
	out, _ = mustCLI(t, db, exitOK, "tenant", "settings", "--tenant", "demo", "--json")
	mustDecode(t, out, &rep)
	if len(rep.Overrides) != 3 {
		t.Fatalf("failed commands changed the overrides:\n%s", out)
	}
}

func TestDisconnectCLI(t *testing.T) {
	db := mustDemoDB(t)
	before := listUsers(t, db)
	out, _ := mustCLI(t, db, exitOK, "tenant", "disconnect", "demo", "--dry-run", "--json")
	var rep struct {
		DryRun        bool           `json:"dryRun"`
		UserCount     int            `json:"userCount"`
		GroupCount    int            `json:"groupCount"`
		UsersByStatus map[string]int `json:"usersByStatus"`
		Users         []listedUser   `json:"users"`
	}
	mustDecode(t, out, &rep)
	if !rep.DryRun || rep.UserCount != 5 || rep.GroupCount != 2 || rep.UsersByStatus["staged"] != 4 || rep.UsersByStatus["archived"] != 1 ||
		len(rep.Users) != 5 {
		t.Fatalf("dry run:\n%s", out)
	}
	for email, u := range listUsers(t, db) {
		if !reflect.DeepEqual(u, before[email]) || u.Origin != "provisioned" {
			t.Fatalf("dry run changed %s: %+v", email, u)
		}
	}
	out, _ = mustCLI(t, db, exitOK, "tenant", "settings", "demo")
	if !strings.Contains(out, "Tenant demo (connected)") {
		t.Fatalf("settings after dry run:\n%s", out)
	}

	out, _ = mustCLI(t, db, exitOK, "tenant", "disconnect", "demo")
	if !strings.Contains(out, "Tenant demo disconnected: 5 user(s) and 2 group(s) are now manual") || !strings.Contains(out, "archived 1, staged 4") {
		t.Fatalf("disconnect output:\n%s", out)
	}
	after := listUsers(t, db)
	for email, u := range before {
		got := after[email]
		u.Origin = "manual"
		if !reflect.DeepEqual(got, u) {
			t.Errorf("%s after disconnect = %+v, want %+v", email, got, u)
		}
	}
	out, _ = mustCLI(t, db, exitOK, "groups", "list", "--tenant", "demo", "--json")
	if strings.Count(out, `"origin": "manual"`) != 2 || !strings.Contains(out, demoEngineering) {
		t.Fatalf("groups after disconnect:\n%s", out)
	}
	out, _ = mustCLI(t, db, exitOK, "tenant", "settings", "demo")
	if !strings.Contains(out, "Tenant demo (disconnected since ") {
		t.Fatalf("settings after disconnect:\n%s", out)
	}
	evs := listEvents(t, db, "--limit", "1000")
	if last := evs[len(evs)-1]; last.Type != "tenant.disconnected" || last.Data["users"] != "5" || last.Data["groups"] != "2" {
		t.Fatalf("last event = %+v", last)
	}
	out, _ = mustCLI(t, db, exitOK, "tenant", "disconnect", "demo")
	if !strings.Contains(out, "already disconnected") {
		t.Fatalf("second disconnect:\n%s", out)
	}

	out, _ = mustCLI(t, db, exitOK, "tenant", "reconnect", "demo", "--json")
	var rec struct {
		Reconnected bool `json:"reconnected"`
	}
	mustDecode(t, out, &rec)
	if !rec.Reconnected {
		t.Fatalf("reconnect --json: %s", out)
	}
	out, _ = mustCLI(t, db, exitOK, "tenant", "reconnect", "demo")
	if !strings.Contains(out, "was not disconnected") {
		t.Fatalf("second reconnect:\n%s", out)
	}
	out, _ = mustCLI(t, db, exitOK, "tenant", "settings", "demo")
	if !strings.Contains(out, "Tenant demo (connected)") {
		t.Fatalf("settings after reconnect:\n%s", out)
	}
	_, stderr := mustCLI(t, db, exitFailure, "tenant", "disconnect", "nope", "--dry-run")
	if !strings.Contains(stderr, "tenant not found") {
		t.Fatalf("disconnect unknown tenant: %s", stderr)
	}
	mustCLI(t, db, exitUsage, "tenant", "disconnect")
	mustCLI(t, db, exitUsage, "tenant", "frobnicate", "demo")
}

func TestEventsListCLI(t *testing.T) {
	db := mustDemoDB(t)
	all := listEvents(t, db, "--limit", "1000")
	if len(all) < 10 || all[0].Type != "user.created" {
		t.Fatalf("events = %+v", all)
	}
	out, _ := mustCLI(t, db, exitOK, "events", "list", "--tenant", "demo", "--limit", "2")
	if strings.Count(out, "user.created") != 2 || !strings.Contains(out, "more after: entrasync events list --tenant demo --after "+itoa(all[1].ID)) {
		t.Fatalf("events list --limit 2:\n%s", out)
	}
	rest := listEvents(t, db, "--after", itoa(all[1].ID), "--limit", "1000")
	if len(rest) != len(all)-2 || rest[0].ID != all[2].ID {
		t.Fatalf("events after %d: %d, want %d", all[1].ID, len(rest), len(all)-2)
	}
	if none := listEvents(t, db, "--after", itoa(all[len(all)-1].ID)); len(none) != 0 {
		t.Fatalf("events after the last = %+v", none)
	}
	mustCLI(t, db, exitUsage, "events", "list", "--tenant", "demo", "--limit", "0")
	mustCLI(t, db, exitUsage, "events", "list", "--tenant", "demo", "--after", "x")
	mustCLI(t, db, exitUsage, "events", "list", "--tenant", "nope")
	mustCLI(t, db, exitUsage, "events")
}

// TestAdminHelpGolden pins --help of the administration commands.
func TestAdminHelpGolden(t *testing.T) {
	for _, args := range [][]string{{"users", "invite"}, {"users", "purge"}, {"users", "set"}, {"groups", "set"},
		{"tenant", "settings"}, {"tenant", "set"}, {"tenant", "disconnect"}, {"tenant", "reconnect"}, {"events", "list"}} {
		out, stderr, code := runCLI(t, nil, append(args, "--help")...)
		if code != exitOK || stderr != "" || !strings.Contains(out, "Examples:\n  entrasync "+strings.Join(args, " ")) ||
			!strings.Contains(out, "-json") {
			t.Errorf("entrasync %v --help: exit %d, stderr %q:\n%s", args, code, stderr, out)
		}
		golden(t, "help-"+strings.Join(args, "-"), out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestCLIAdminActionsAreAudited: what an administrator does at the prompt
// shows in the audit trail beside the API's and the console's, with who did
// it (cli:user@host).
func TestCLIAdminActionsAreAudited(t *testing.T) {
	db := mustDemoDB(t)
	mustCLI(t, db, exitOK, "tenant", "pause", "demo")
	mustCLI(t, db, exitOK, "tenant", "resume", "demo")
	mustCLI(t, db, exitOK, "tenant", "set", "demo", "--archive-threshold", "7")
	mustCLI(t, db, exitOK, "users", "set", "alice@contoso.test", "--require-mobile-auth", "false", "--tenant", "demo")
	store, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	acts, err := store.AdminActions(context.Background(), "demo", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range acts {
		if !strings.HasPrefix(a.Actor, "cli:") {
			t.Errorf("actor %q, want cli:user@host", a.Actor)
		}
		got = append(got, a.Action+" "+a.Target+" "+a.Detail)
	}
	want := []string{"settings.set users alice@contoso.test requireMobileAuth=false", "settings.set tenant demo archiveThreshold=7",
		"tenant.resume tenant demo ok", "tenant.pause tenant demo ok"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
