package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/cmd/entrasync/web/console"
	"github.com/entrasync/entrasync/sync"
)

// pages are every console page of the harness's tenant; {run} is a run id.
var pages = []string{"/", "/tenants/demo", "/runs/{run}", "/runs/{run}/review", "/tenants/demo/provision",
	"/tenants/demo/users", "/tenants/demo/groups", "/tenants/demo/events", "/audit", "/sandbox"}

// forms are every state-changing form of the console.
var forms = []string{"/signout", "/tenants/demo/cycle", "/tenants/demo/pause", "/tenants/demo/resume", "/tenants/demo/settings",
	"/runs/{run}/approve", "/runs/{run}/reject", "/tenants/demo/provision", "/tenants/demo/users/1/settings",
	"/tenants/demo/groups/1/settings", "/sandbox"}

func withRun(p string, id int64) string { return strings.ReplaceAll(p, "{run}", fmt.Sprint(id)) }

// TestConsoleWithoutSession: every page redirects to the sign-in form
// (which names the page to come back to), every form is 401, and nothing
// changes.
func TestConsoleWithoutSession(t *testing.T) {
	h := MustConsole(t, consoleUsers, false)
	run := h.MustCycle(t)
	c := h.client(t)
	for _, p := range pages {
		p = withRun(p, run.ID)
		resp, _ := c.do("GET", p, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?next="+url.QueryEscape(p) {
			t.Errorf("GET %s = %d to %q, want 303 to the sign-in form", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for _, p := range forms {
		if code, _ := c.post(withRun(p, run.ID), url.Values{"csrf": {"guess"}}); code != http.StatusUnauthorized {
			t.Errorf("POST %s = %d, want 401", p, code)
		}
	}
	if sc, _ := h.db.Schedule(context.Background(), "demo"); sc.Paused {
		t.Fatal("an unauthenticated form paused the tenant")
	}
	if code, body := c.get("/signin"); code != 200 || !strings.Contains(body, `name="token"`) {
		t.Fatalf("sign-in form: %d", code)
	}
}

// TestConsoleSignInAndOut: a wrong token is 401; a right one starts a
// session whose cookie is HttpOnly, SameSite=Strict and expiring; signing out
// ends it (the old cookie no longer works); rotating the token ends it too.
func TestConsoleSignInAndOut(t *testing.T) {
	h := MustConsole(t, consoleUsers, false)
	c := h.client(t)
	if resp, body := c.do("POST", "/signin", url.Values{"token": {"es_wrong"}}); resp.StatusCode != 401 || !strings.Contains(body, "unknown or was rotated out") {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	resp, _ := c.do("POST", "/signin", url.Values{"token": {h.admin}, "next": {"/tenants/demo"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/tenants/demo" {
		t.Fatalf("sign in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	ck := sessionCookie(t, resp)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.MaxAge != int(console.SessionTTL.Seconds()) || ck.Secure || ck.Path != "/" {
		t.Fatalf("session cookie = %+v", ck)
	}
	if code, body := c.get("/tenants/demo"); code != 200 || !strings.Contains(body, "ops · admin") {
		t.Fatalf("tenant page signed in: %d", code)
	}
	if code, loc := c.post("/signout", nil); code != http.StatusSeeOther || loc != "/signin" {
		t.Fatalf("sign out: %d %s", code, loc)
	}
	replay := h.client(t)
	replay.http.Jar.SetCookies(mustURL(t, h.srv.URL), []*http.Cookie{{Name: console.CookieName, Value: ck.Value}})
	if code, _ := replay.get("/"); code != http.StatusSeeOther {
		t.Fatalf("the signed-out session's cookie still works: %d", code)
	}
	// A next page on another site is not followed.
	resp, _ = c.do("POST", "/signin", url.Values{"token": {h.admin}, "next": {"//evil.test/x"}})
	if resp.Header.Get("Location") != "/" {
		t.Fatalf("next to another site: %q", resp.Header.Get("Location"))
	}
	h.MustToken(t, sync.ScopeAdmin, "ops") // rotates ops's token
	if code, _ := c.get("/"); code != http.StatusSeeOther {
		t.Fatalf("a session of a rotated-out token: %d, want the sign-in redirect", code)
	}
	// A sign-in posted from another site is refused.
	req, _ := http.NewRequest("POST", h.srv.URL+"/signin", strings.NewReader("token="+h.reader))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := h.srv.Client().Do(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("cross-site sign-in: %v %v", resp, err)
	}
}

func sessionCookie(tb testing.TB, resp *http.Response) *http.Cookie {
	tb.Helper()
	for _, ck := range resp.Cookies() {
		if ck.Name == console.CookieName {
			return ck
		}
	}
	tb.Fatalf("no session cookie in %v", resp.Header["Set-Cookie"])
	return nil
}

func mustURL(tb testing.TB, raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// TestConsoleSecureCookieUnderTLS: over TLS the cookie is Secure and pages
// send Strict-Transport-Security.
func TestConsoleSecureCookieUnderTLS(t *testing.T) {
	h := MustConsole(t, 2, true)
	c := h.client(t)
	resp, _ := c.do("POST", "/signin", url.Values{"token": {h.admin}})
	if ck := sessionCookie(t, resp); !ck.Secure {
		t.Fatalf("cookie under TLS = %+v, want Secure", ck)
	}
	resp, _ = c.do("GET", "/", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("overview under TLS: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
}

// TestConsoleCSRF: a form without the session's CSRF token, or with another
// one, is 403 and changes nothing.
func TestConsoleCSRF(t *testing.T) {
	h := MustConsole(t, consoleUsers, false)
	run := h.MustCycle(t)
	c := h.client(t)
	c.MustSignIn(h.admin)
	for _, token := range []string{"", "not-the-token", strings.ToUpper(c.csrf)} {
		for _, p := range forms {
			code, body := c.post(withRun(p, run.ID), url.Values{"csrf": {token}, "confirm": {"0"}, "kind": {"user"}, "query": {userID(1)}})
			if code != 403 || !strings.Contains(body, "CSRF") {
				t.Errorf("POST %s with csrf %q = %d, want 403", p, token, code)
			}
		}
	}
	if sc, _ := h.db.Schedule(context.Background(), "demo"); sc.Paused {
		t.Fatal("a form without its CSRF token paused the tenant")
	}
	if runs, _ := h.db.Runs(context.Background(), "demo", 10); len(runs) != 1 {
		t.Fatalf("forms without their CSRF token ran cycles: %d runs", len(runs))
	}
	if code, _ := c.post("/tenants/demo/pause", nil); code != http.StatusSeeOther {
		t.Fatalf("pause with the CSRF token: %d", code)
	}
}

// TestConsoleReadScope: a read token sees every page without the buttons
// and every form it posts (with a valid CSRF token) is 403.
func TestConsoleReadScope(t *testing.T) {
	h := MustConsole(t, consoleUsers, false)
	run := h.MustHeldRun(t)
	c := h.client(t)
	c.MustSignIn(h.reader)
	for _, p := range pages[:len(pages)-1] {
		code, body := c.get(withRun(p, run.ID))
		if code != 200 {
			t.Errorf("GET %s as reader = %d", p, code)
		}
		for _, button := range []string{`id="approve"`, `id="run-now"`, `id="pause"`, `id="dry-run"`, `Set override`} {
			if strings.Contains(body, button) {
				t.Errorf("GET %s as reader shows %s", p, button)
			}
		}
	}
	for _, p := range forms[1:] {
		code, body := c.post(withRun(p, run.ID), url.Values{"confirm": {"4"}, "kind": {"user"}, "query": {userID(1)}, "name": {"autoInvite"}, "value": {"true"}})
		if code != 403 || !strings.Contains(body, "scope is read") {
			t.Errorf("POST %s as reader = %d, want 403", p, code)
		}
	}
	got, _, _ := h.db.Run(context.Background(), run.ID)
	if got.Review != "" {
		t.Fatalf("a reader reviewed the run: %s", got.Review)
	}
	if code, _ := c.post("/signout", nil); code != http.StatusSeeOther {
		t.Fatalf("a reader signs out: %d", code)
	}
}

// TestConsoleNotFound: an unknown tenant, run or page is 404.
func TestConsoleNotFound(t *testing.T) {
	h := MustConsole(t, 2, false)
	c := h.client(t)
	c.MustSignIn(h.admin)
	for _, p := range []string{"/tenants/nope", "/tenants/nope/users", "/tenants/nope/groups", "/tenants/nope/events", "/tenants/nope/provision",
		"/runs/999999", "/runs/abc", "/runs/999999/review", "/nothing", "/sandbox"} {
		if code, _ := c.get(p); code != 404 {
			t.Errorf("GET %s = %d, want 404", p, code)
		}
	}
	for _, p := range []string{"/tenants/nope/pause", "/runs/999999/approve", "/tenants/demo/users/999999/settings"} {
		if code, _ := c.post(p, url.Values{"requireMobileAuth": {"true"}}); code != 404 {
			t.Errorf("POST %s = %d, want 404", p, code)
		}
	}
}

var inlineScript = regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>|<script>|\son[a-z]+="|\sstyle="|<style`)

// TestConsolePagesAreSafe: every page is sent with the strict CSP and has no
// inline script, handler or style; no page shows a token, a token's hash or
// the tenant's client secret.
func TestConsolePagesAreSafe(t *testing.T) {
	h := MustConsole(t, consoleUsers, false)
	run := h.MustHeldRun(t)
	c := h.client(t)
	c.MustSignIn(h.admin)
	secrets := []string{h.admin, h.reader, sync.TokenHash(h.admin), sync.TokenHash(h.reader), clientSecret}
	check := func(what string, resp *http.Response, body string) {
		t.Helper()
		if got := resp.Header.Get("Content-Security-Policy"); got != console.CSP {
			t.Errorf("%s: CSP %q", what, got)
		}
		if m := inlineScript.FindString(body); m != "" {
			t.Errorf("%s: inline script or style %q", what, m)
		}
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("%s shows a secret", what)
			}
		}
	}
	for _, p := range append(pages[:len(pages)-1], "/signin", "/runs/{run}?status=held", "/tenants/demo/users?q=user", "/nothing") {
		resp, body := c.do("GET", withRun(p, run.ID), nil)
		check("GET "+p, resp, body)
	}
	resp, body := c.do("POST", "/tenants/demo/provision", url.Values{"csrf": {c.csrf}, "kind": {"user"}, "query": {userID(5)}, "mode": {"dry"}})
	check("provision dry run", resp, body)
	resp, body = c.do("POST", "/tenants/demo/cycle", url.Values{"csrf": {c.csrf}, "dry": {"1"}})
	check("cycle dry run", resp, body)
	for _, a := range []string{"/static/app.css", "/static/app.js", "/static/logo.svg"} {
		if code, _ := c.get(a); code != 200 {
			t.Errorf("GET %s = %d", a, code)
		}
	}
}

// TestConsoleReviewHeldRun: the review page says how many users approving
// archives; a confirmation of another number is refused (409); the right one
// applies the archives in a fresh run and records who approved.
func TestConsoleReviewHeldRun(t *testing.T) {
	h := MustConsole(t, consoleUsers, false)
	run := h.MustHeldRun(t)
	c := h.client(t)
	c.MustSignIn(h.admin)
	code, body := c.get(fmt.Sprintf("/runs/%d/review", run.ID))
	if code != 200 || !strings.Contains(body, "<strong>4 users</strong> would be archived") || !strings.Contains(body, "Approve: archive 4 users") {
		t.Fatalf("review page: %d\n%s", code, body)
	}
	if code, body := c.post(fmt.Sprintf("/runs/%d/approve", run.ID), url.Values{"confirm": {"3"}}); code != 409 || !strings.Contains(body, "review it again") {
		t.Fatalf("approve confirming 3 of 8: %d", code)
	}
	code, loc := c.post(fmt.Sprintf("/runs/%d/approve", run.ID), url.Values{"confirm": {"8"}}) // 4 archives, 4 removals
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/runs/") || loc == fmt.Sprintf("/runs/%d", run.ID) {
		t.Fatalf("approve: %d %s", code, loc)
	}
	if _, body := c.get(loc); !strings.Contains(body, "4 of 4") && !strings.Contains(body, "archive") {
		t.Fatalf("the approving run's page: %s", body)
	}
	archived, _ := h.db.Users(context.Background(), "demo", sync.StatusArchived)
	if len(archived) != 4 {
		t.Fatalf("%d users archived after approval, want 4", len(archived))
	}
	acts, _ := h.db.AdminActions(context.Background(), "demo", 1)
	if len(acts) != 1 || acts[0].Action != sync.ActionApproveRun || acts[0].Actor != "ops" || !strings.Contains(acts[0].Detail, "4 user archives applied") {
		t.Fatalf("audit = %+v", acts)
	}
	if _, body := c.get("/audit"); !strings.Contains(body, "run.approve") || !strings.Contains(body, "ops") {
		t.Fatal("the audit page does not show the approval")
	}
	if code, _ := c.post(fmt.Sprintf("/runs/%d/reject", run.ID), url.Values{"confirm": {"8"}}); code != 400 {
		t.Fatalf("rejecting a reviewed run: %d, want 400", code)
	}
}

var countLine = regexp.MustCompile(`id="count">([^<]*)<`)

// mustCount gets a paged page and returns its count line ("1–100 of 261")
// and body.
func (c *client) mustCount(t *testing.T, path string) (string, string) {
	t.Helper()
	code, body := c.get(path)
	if code != 200 {
		t.Fatalf("GET %s = %d", path, code)
	}
	m := countLine.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("GET %s: no count", path)
	}
	return m[1], body
}

// TestConsoleRunLogFiltersAndPages: a run's log is shown a page at a time
// with links that keep the filters; filters by entity, action, status and
// text narrow it; a bad filter is 400.
func TestConsoleRunLogFiltersAndPages(t *testing.T) {
	h := MustConsole(t, 250, false)
	run := h.MustCycle(t)
	c := h.client(t)
	c.MustSignIn(h.reader)
	base := fmt.Sprintf("/runs/%d", run.ID)
	count := func(path string) (string, string) { t.Helper(); return c.mustCount(t, path) }
	// 250 users, 1 group (Engineering), 10 memberships.
	if got, body := count(base); got != "1–100 of 261" || !strings.Contains(body, `href="`+base+`?offset=100" id="next"`) || strings.Count(body, `class="entry"`) != 100 {
		t.Fatalf("first page: %q", got)
	}
	if got, body := count(base + "?entity=user&offset=200"); got != "201–250 of 250" || strings.Contains(body, `id="next"`) ||
		!strings.Contains(body, `href="`+base+`?entity=user&amp;offset=100" id="prev"`) {
		t.Fatalf("last page of users: %q", got)
	}
	if got, _ := count(base + "?action=add&entity=membership"); got != "1–10 of 10" {
		t.Fatalf("memberships: %q", got)
	}
	if got, body := count(base + "?q=USER007%40"); got != "1–2 of 2" || !strings.Contains(body, "user007@contoso.test → Engineering") {
		t.Fatalf("text: %q", got)
	}
	if got, _ := count(base + "?status=held"); got != "0–0 of 0" {
		t.Fatalf("held: %q", got)
	}
	if code, _ := c.get(base + "?action=explode"); code != 400 {
		t.Fatalf("bad action: %d", code)
	}
}

// TestConsoleProvisionOnDemand: the dry run shows the steps and the apply
// button and changes nothing; applying provisions the user and records it.
func TestConsoleProvisionOnDemand(t *testing.T) {
	h := MustConsole(t, consoleUsers, false)
	c := h.client(t)
	c.MustSignIn(h.admin)
	c.get("/tenants/demo/provision")
	code, body := c.post("/tenants/demo/provision", url.Values{"kind": {"user"}, "query": {"user005@contoso.test"}, "mode": {"dry"}})
	if code != 200 || !strings.Contains(body, `id="apply"`) || !strings.Contains(body, "in scope through direct") {
		t.Fatalf("dry run: %d\n%s", code, body)
	}
	if users, _ := h.db.Users(context.Background(), "demo", ""); len(users) != 0 {
		t.Fatalf("the dry run wrote %d users", len(users))
	}
	code, body = c.post("/tenants/demo/provision", url.Values{"kind": {"user"}, "query": {"user005@contoso.test"}, "mode": {"apply"}})
	if code != 200 || !strings.Contains(body, `id="applied"`) {
		t.Fatalf("apply: %d\n%s", code, body)
	}
	if users, _ := h.db.Users(context.Background(), "demo", ""); len(users) != 1 || users[0].Email != "user005@contoso.test" {
		t.Fatalf("after applying: %+v", users)
	}
	if code, _ := c.post("/tenants/demo/provision", url.Values{"kind": {"robot"}, "query": {"x"}}); code != 400 {
		t.Fatalf("bad kind: %d", code)
	}
	acts, _ := h.db.AdminActions(context.Background(), "demo", 2)
	if len(acts) != 2 || acts[0].Detail != "applied" || acts[1].Detail != "dry run" || acts[0].Target != "user user005@contoso.test" {
		t.Fatalf("audit = %+v", acts)
	}
}

// TestConsoleUsersGroupsSettings: users show their paths by group name and
// effective settings; overrides set from the console win and are recorded.
func TestConsoleUsersGroupsSettings(t *testing.T) {
	h := MustConsole(t, consoleUsers, false)
	h.MustCycle(t)
	c := h.client(t)
	c.MustSignIn(h.admin)
	code, body := c.get("/tenants/demo/users?q=user003")
	if code != 200 || !strings.Contains(body, "group Engineering") || !strings.Contains(body, "user003@contoso.test") || strings.Contains(body, "user004@") {
		t.Fatalf("users search: %d\n%s", code, body)
	}
	users, _ := h.db.Users(context.Background(), "demo", "")
	var id int64
	for _, u := range users {
		if u.Email == "user003@contoso.test" {
			id = u.ID
		}
	}
	if code, _ := c.post(fmt.Sprintf("/tenants/demo/users/%d/settings", id), url.Values{"requireMobileAuth": {"false"}}); code != http.StatusSeeOther {
		t.Fatalf("set user override: %d", code)
	}
	u, _ := h.db.ResolveUser(context.Background(), "demo", "user003@contoso.test")
	if u.RequireMobileAuth == nil || *u.RequireMobileAuth {
		t.Fatalf("override not set: %+v", u.RequireMobileAuth)
	}
	if code, _ := c.post(fmt.Sprintf("/tenants/demo/users/%d/settings", id), url.Values{"requireMobileAuth": {"maybe"}}); code != 400 {
		t.Fatalf("bad override value: %d", code)
	}
	if code, body := c.get("/tenants/demo/users?status=archived"); code != 200 || !strings.Contains(body, "No users match") {
		t.Fatalf("status filter: %d", code)
	}
	g, _ := h.db.ResolveGroup(context.Background(), "demo", "Engineering")
	if code, _ := c.post(fmt.Sprintf("/tenants/demo/groups/%d/settings", g.ID), url.Values{"membersMayStoreData": {"false"}, "requireMobileAuth": {""}}); code != http.StatusSeeOther {
		t.Fatalf("set group override: %d", code)
	}
	if _, body := c.get("/tenants/demo/groups"); !strings.Contains(body, `<option value="false" selected>store: off</option>`) {
		t.Fatal("the group's override is not shown")
	}
	if code, _ := c.post("/tenants/demo/settings", url.Values{"name": {"autoInvite"}, "value": {"true"}}); code != http.StatusSeeOther {
		t.Fatalf("tenant override: %d", code)
	}
	acts, _ := h.db.AdminActions(context.Background(), "demo", 10)
	if len(acts) != 3 || acts[0].Target != "tenant" || acts[1].Target != "group Engineering" || acts[2].Detail != "requireMobileAuth=false" {
		t.Fatalf("audit = %+v", acts)
	}
}

// TestConsoleUsersPagedInTheQuery: the users page lists a page at a time
// (filtered and paged by the directory's query) with links that keep the
// filters; a search narrows it.
func TestConsoleUsersPagedInTheQuery(t *testing.T) {
	h := MustConsole(t, 250, false)
	h.MustCycle(t)
	c := h.client(t)
	c.MustSignIn(h.reader)
	get := func(path string) (string, string) { t.Helper(); return c.mustCount(t, path) }
	base := "/tenants/demo/users"
	if got, body := get(base); !strings.HasPrefix(got, "1–100 of ") || !strings.Contains(body, `href="`+base+`?offset=100" id="next"`) {
		t.Fatalf("first page: %q", got)
	}
	if got, body := get(base + "?status=staged&offset=200"); !strings.HasPrefix(got, "201–") || strings.Contains(body, `id="next"`) ||
		!strings.Contains(body, `href="`+base+`?offset=100&amp;status=staged" id="prev"`) {
		t.Fatalf("last page of staged users: %q", got)
	}
	if got, body := get(base + "?q=USER007%40"); got != "1–1 of 1" || !strings.Contains(body, "user007@contoso.test") {
		t.Fatalf("search: %q", got)
	}
	if code, _ := c.get(base + "?status=gone"); code != 400 {
		t.Fatalf("bad status: %d", code)
	}
}
