package console_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/entrasync/entrasync/sync"
)

// The browser tests drive the real console in Debian's headless chromium
// through the DevTools protocol (chromedp). Each test starts its own
// browser with a fresh profile; every step is bounded in time.

var screenshots = flag.String("screenshots", "", "write the console's screenshots (PNG) into this directory, e.g. ../../../../docs/screenshots")

// stepTimeout bounds each browser step.
const stepTimeout = 30 * time.Second

// browser is one headless chromium on one tab, and what its console said.
type browser struct {
	tb       testing.TB
	ctx      context.Context
	base     string
	mu       gosync.Mutex
	messages []chromedp.ConsoleMessage
}

// chromiumPath finds Debian's chromium ($CHROMIUM, else chromium or
// chromium-browser on PATH); the test fails without it.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	tb.Fatal("chromium not found: the console's browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it) or CHROMIUM=/path/to/chromium")
	return ""
}

// MustBrowser starts chromium for the console at base.
func MustBrowser(tb testing.TB, base string) *browser {
	tb.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath(tb)), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(tb.TempDir()), chromedp.WindowSize(1280, 900))
	ctx, cancel := chromedp.NewContext(alloc)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	start, stop := context.WithTimeout(ctx, stepTimeout)
	defer stop()
	go func() {
		<-start.Done()
		if start.Err() == context.DeadlineExceeded {
			cancel()
		}
	}()
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	b := &browser{tb: tb, ctx: ctx, base: base}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// do runs steps within stepTimeout.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.tb.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

func run[T any](b *browser, a chromedp.Action[T]) T {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.tb.Fatalf("browser: %v", err)
	}
	return v
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// open navigates to the console's path.
func (b *browser) open(path string) {
	b.tb.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

// waitFor waits until the expression is true on the page, across the
// navigations a form or a link starts (each try is bounded; errors while a
// page is replaced are retried).
func (b *browser) waitFor(expr string) {
	b.tb.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === 'complete' && (`+expr+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.tb.Fatalf("browser: %s is not true at %s (last error %v)", expr, b.location(), err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// text is the text of the element with id.
func (b *browser) text(id string) string {
	b.tb.Helper()
	return run(b, chromedp.Text(chromedp.ID(id)))
}

// signIn signs in with token from the sign-in form.
func (b *browser) signIn(token string) {
	b.tb.Helper()
	b.open("/")
	b.do(chromedp.WaitVisible(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.ID("who")))
}

// errors returns the console's errors and exceptions; with pageRefusals the
// network's reports of pages answered 4xx (expected refusals) are left out.
func (b *browser) errors(pageRefusals bool) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.messages {
		if m.Type != chromedp.ConsoleError && !m.IsException() {
			continue
		}
		if pageRefusals && m.Source == "network" {
			continue
		}
		out = append(out, m.String()+" ("+m.URL+")")
	}
	return out
}

// mustNoErrors fails the test for any console error or exception: a CSP
// violation, a failed asset, a script error.
func (b *browser) mustNoErrors(pageRefusals bool) {
	b.tb.Helper()
	if errs := b.errors(pageRefusals); len(errs) > 0 {
		b.tb.Fatalf("the browser's console has errors:\n%s", strings.Join(errs, "\n"))
	}
}

// screenshot saves the page as name.png under -screenshots (or a temporary
// directory) and checks it is a PNG.
func (b *browser) screenshot(name string) {
	b.tb.Helper()
	png := run(b, chromedp.FullScreenshot(100))
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		b.tb.Fatalf("screenshot %s is not a PNG", name)
	}
	dir := *screenshots
	if dir == "" {
		dir = b.tb.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.tb.Fatal(err)
	}
}

// TestBrowserSignInRunsLogAndSignOut: sign in, see the tenant's runs, open a
// run's log of 261 changes a page at a time, filter it (the entity select
// applies at once through app.js, the text on submit), page on, sign out;
// the console reports no error.
func TestBrowserSignInRunsLogAndSignOut(t *testing.T) {
	h := MustConsole(t, 250, false)
	run1 := h.MustCycle(t)
	b := MustBrowser(t, h.srv.URL)
	b.open("/tenants/demo")
	if loc := b.location(); !strings.Contains(loc, "/signin?next=%2Ftenants%2Fdemo") {
		t.Fatalf("without a session: at %s", loc)
	}
	b.do(chromedp.SendKeys(chromedp.ID("token"), h.reader), chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.ID("runs")))
	if loc := b.location(); !strings.HasSuffix(loc, "/tenants/demo") {
		t.Fatalf("after sign-in: at %s, want the page asked for", loc)
	}
	if runs := b.text("runs"); !strings.Contains(runs, fmt.Sprint(run1.ID)) || !strings.Contains(runs, "succeeded") {
		t.Fatalf("runs table: %s", runs)
	}
	b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#runs a[href="/runs/%d"]`, run1.ID))), chromedp.WaitVisible(chromedp.ID("log")))
	if got := b.text("count"); got != "1–100 of 261" {
		t.Fatalf("first page: %q", got)
	}
	// The select submits its form on change (app.js): no button pressed.
	// (SetValue fires input and change, as a user's choice does.)
	b.do(chromedp.SetValue(chromedp.CSS(`#filters select[name="entity"]`), "membership"))
	b.waitFor(`location.search.includes('entity=membership')`)
	if got := b.text("count"); got != "1–10 of 10" {
		t.Fatalf("memberships: %q", got)
	}
	b.open(fmt.Sprintf("/runs/%d", run1.ID))
	b.do(chromedp.SendKeys(chromedp.ID("text"), "user2"), chromedp.Click(chromedp.ID("filter")))
	b.waitFor(`location.search.includes('q=user2')`)
	if got := b.text("count"); got != "1–51 of 51" { // user200…user250
		t.Fatalf("text filter: %q", got)
	}
	b.open(fmt.Sprintf("/runs/%d?entity=user", run1.ID))
	b.do(chromedp.Click(chromedp.ID("next")))
	b.waitFor(`location.search.includes('offset=100')`)
	if got := b.text("count"); got != "101–200 of 250" {
		t.Fatalf("second page of users: %q", got)
	}
	b.do(chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("token")))
	b.open("/tenants/demo")
	if loc := b.location(); !strings.Contains(loc, "/signin") {
		t.Fatalf("after sign-out the console still shows %s", loc)
	}
	b.mustNoErrors(false)
}

// TestBrowserApproveHeldRun: the overview shows the held run; its review
// says how many users; approving applies the archives.
func TestBrowserApproveHeldRun(t *testing.T) {
	h := MustConsole(t, consoleUsers, false)
	held := h.MustHeldRun(t)
	b := MustBrowser(t, h.srv.URL)
	b.signIn(h.admin)
	b.do(chromedp.WaitVisible(chromedp.CSS("a.pending")), chromedp.Click(chromedp.CSS("a.pending")), chromedp.WaitVisible(chromedp.ID("held-summary")))
	if s := b.text("held-summary"); !strings.Contains(s, "4 users would be archived") {
		t.Fatalf("review summary: %q", s)
	}
	if s := b.text("approve"); s != "Approve: archive 4 users, remove 4 memberships" {
		t.Fatalf("approve button: %q", s)
	}
	b.do(chromedp.Click(chromedp.ID("approve")))
	b.waitFor(fmt.Sprintf(`location.pathname !== '/runs/%d/review' && !!document.getElementById('outcome')`, held.ID))
	if o := b.text("outcome"); o != "succeeded" {
		t.Fatalf("the approving run: %q", o)
	}
	if archived, _ := h.db.Users(context.Background(), "demo", sync.StatusArchived); len(archived) != 4 {
		t.Fatalf("%d users archived, want 4", len(archived))
	}
	b.open(fmt.Sprintf("/runs/%d/review", held.ID))
	if s := run(b, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(s, "Nothing to review") || !strings.Contains(s, "approved") {
		t.Fatalf("the held run after approval: %s", s)
	}
	b.screenshot("review-after")
	b.mustNoErrors(false)
}

// TestBrowserReadScopeCannotApprove: a read token's review page has no
// buttons, and a forged approve form (with the session's CSRF token) is
// refused 403.
func TestBrowserReadScopeCannotApprove(t *testing.T) {
	h := MustConsole(t, consoleUsers, false)
	held := h.MustHeldRun(t)
	b := MustBrowser(t, h.srv.URL)
	b.signIn(h.reader)
	b.open(fmt.Sprintf("/runs/%d/review", held.ID))
	b.do(chromedp.WaitVisible(chromedp.ID("held-summary")))
	if n := run(b, chromedp.Evaluate[int](`document.querySelectorAll('#approve, #reject').length`)); n != 0 {
		t.Fatalf("a reader sees %d review buttons", n)
	}
	run(b, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		const f = document.createElement('form'); f.method = 'post'; f.action = '/runs/%d/approve';
		for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value], ['confirm', '4']]) {
			const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
		}
		document.body.appendChild(f); f.submit(); return true; })()`, held.ID)))
	b.waitFor(`location.pathname.endsWith('/approve') && !!document.getElementById('error')`)
	if s := b.text("error"); !strings.Contains(s, "scope is read") {
		t.Fatalf("forged approval: %q", s)
	}
	if got, _, _ := h.db.Run(context.Background(), held.ID); got.Review != "" {
		t.Fatalf("a reader's form reviewed the run: %s", got.Review)
	}
	b.mustNoErrors(true)
}

// TestBrowserCSRFRefused: the pause form with its CSRF token removed is
// refused and the tenant stays active.
func TestBrowserCSRFRefused(t *testing.T) {
	h := MustConsole(t, consoleUsers, false)
	h.MustCycle(t)
	b := MustBrowser(t, h.srv.URL)
	b.signIn(h.admin)
	b.open("/tenants/demo")
	b.do(chromedp.WaitVisible(chromedp.ID("pause")))
	run(b, chromedp.Evaluate[bool](`(() => { document.querySelector('#pause').form.querySelector('input[name=csrf]').remove(); return true; })()`))
	b.do(chromedp.Click(chromedp.ID("pause")), chromedp.WaitVisible(chromedp.ID("error")))
	if s := b.text("error"); !strings.Contains(s, "CSRF token is missing or wrong") {
		t.Fatalf("pause without CSRF: %q", s)
	}
	if sc, _ := h.db.Schedule(context.Background(), "demo"); sc.Paused {
		t.Fatal("the tenant was paused without the CSRF token")
	}
	b.open("/tenants/demo")
	b.do(chromedp.Click(chromedp.ID("pause")), chromedp.WaitVisible(chromedp.ID("resume")))
	if s := b.text("state"); s != "paused" {
		t.Fatalf("with the CSRF token: state %q", s)
	}
	b.mustNoErrors(true)
}

// TestBrowserProvisionOnDemand: a dry run shows the steps and changes
// nothing; applying provisions the user.
func TestBrowserProvisionOnDemand(t *testing.T) {
	h := MustConsole(t, consoleUsers, false)
	b := MustBrowser(t, h.srv.URL)
	b.signIn(h.admin)
	b.open("/tenants/demo/provision")
	b.do(chromedp.SendKeys(chromedp.ID("query"), "user007@contoso.test"), chromedp.Click(chromedp.ID("dry-run")), chromedp.WaitVisible(chromedp.ID("apply")))
	steps := b.text("steps")
	for _, want := range []string{"connection", "import", "scope", "match", "action", "in scope through direct"} {
		if !strings.Contains(steps, want) {
			t.Fatalf("dry run steps lack %q:\n%s", want, steps)
		}
	}
	if users, _ := h.db.Users(context.Background(), "demo", ""); len(users) != 0 {
		t.Fatalf("the dry run wrote %d users", len(users))
	}
	b.screenshot("provision")
	b.do(chromedp.Click(chromedp.ID("apply")), chromedp.WaitVisible(chromedp.ID("applied")))
	if users, _ := h.db.Users(context.Background(), "demo", ""); len(users) != 1 || users[0].Email != "user007@contoso.test" {
		t.Fatalf("after applying: %+v", users)
	}
	b.mustNoErrors(false)
}

// TestBrowserCSP: the browser enforces the console's policy: a script or a
// style injected inline does not run (and the console reports the
// violation), while the console's own script and styles do.
func TestBrowserCSP(t *testing.T) {
	h := MustConsole(t, 2, false)
	h.MustCycle(t)
	b := MustBrowser(t, h.srv.URL)
	b.signIn(h.admin)
	b.open("/tenants/demo")
	b.do(chromedp.WaitVisible(chromedp.ID("runs")))
	b.mustNoErrors(false)
	if c := run(b, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('header')).borderBottomStyle`)); c != "solid" {
		t.Fatalf("the console's stylesheet is not applied: %q", c)
	}
	got := run(b, chromedp.Evaluate[string](`(() => {
		window.__inline = 'blocked';
		const s = document.createElement('script'); s.textContent = "window.__inline = 'ran'"; document.body.appendChild(s);
		const d = document.createElement('div'); d.setAttribute('style', 'color: rgb(255, 0, 0)'); document.body.appendChild(d);
		return window.__inline + ' ' + getComputedStyle(d).color; })()`))
	if strings.HasPrefix(got, "ran") || strings.HasSuffix(got, "rgb(255, 0, 0)") {
		t.Fatalf("inline script or style ran despite the CSP: %s", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		errs := b.errors(false)
		if len(errs) > 0 && strings.Contains(strings.Join(errs, " "), "Content Security Policy") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CSP violation reported in the console: %v", errs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrowserScreenshots saves the main pages as PNG: with -screenshots DIR
// for the README (docs/screenshots), else into a temporary directory.
func TestBrowserScreenshots(t *testing.T) {
	h := MustConsole(t, 40, false)
	h.MustCycle(t)
	h.graph.Unassign(userID(40))
	h.MustCycle(t)
	held := h.MustHeldRun(t)
	b := MustBrowser(t, h.srv.URL)
	b.open("/signin")
	b.screenshot("signin")
	b.signIn(h.admin)
	b.screenshot("overview")
	b.open("/tenants/demo")
	b.screenshot("tenant")
	b.open(fmt.Sprintf("/runs/%d?entity=user", held.ID-1))
	b.screenshot("run")
	b.open(fmt.Sprintf("/runs/%d/review", held.ID))
	b.screenshot("review")
	b.open("/tenants/demo/users?q=user00")
	b.screenshot("users")
	b.mustNoErrors(false)
}
