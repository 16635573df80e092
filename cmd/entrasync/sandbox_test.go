package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/store/storetest"
	"github.com/entrasync/entrasync/sync"
)

var sandboxToken = regexp.MustCompile(`(Admin|Read) token: +(es_[A-Za-z0-9_-]+)`)

// TestDemoServeSandbox: `demo --serve` runs a first cycle, serves the
// console and the API, prints the URL and both tokens; `demo change` with
// the admin token unassigns the Staff group and the next cycle is held; a
// Graph failure fails a cycle until healed; a read token cannot change the
// sandbox; Ctrl-C (the context) stops it cleanly.
func TestDemoServeSandbox(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newSyncBuffer()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--database", storetest.MustSchemaURL(t), "demo", "--serve", "--listen", addr}, func(string) string { return "" }, out, out)
	}()
	tokens := map[string]string{}
	deadline := time.Now().Add(30 * time.Second)
	for len(tokens) < 2 {
		for _, m := range sandboxToken.FindAllStringSubmatch(out.String(), -1) {
			tokens[m[1]] = m[2]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no tokens printed:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	base := "http://" + addr
	if !strings.Contains(out.String(), "Console:      "+base+"/") {
		t.Fatalf("no console URL:\n%s", out.String())
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(base + "/signin")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("console sign-in page: %v %v", resp, err)
	}
	resp, err = client.PostForm(base+"/signin", url.Values{"token": {tokens["Admin"]}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("console sign-in: %v %v", resp, err)
	}
	api := func(method, path, token string) (int, string) {
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cycle := func() (int, sync.Run) {
		code, body := api("POST", "/api/v1/tenants/demo/cycles", tokens["Admin"])
		var res struct{ Run sync.Run }
		_ = json.Unmarshal([]byte(body), &res)
		return code, res.Run
	}
	change := func(token string, args ...string) (string, string, int) {
		return runCLI(t, map[string]string{"ENTRASYNC_TOKEN": token}, append([]string{"demo", "change", "--url", base}, args...)...)
	}
	if _, body := api("GET", "/api/v1/tenants/demo/runs", tokens["Read"]); !strings.Contains(body, `"trigger": "sandbox"`) {
		t.Fatalf("no first cycle: %s", body)
	}
	if stdout, stderr, code := change(tokens["Admin"], "mass-unassign"); code != exitOK || !strings.Contains(stdout, "unassigned the Staff group") {
		t.Fatalf("demo change mass-unassign: exit %d %s %s", code, stdout, stderr)
	}
	if code, run := cycle(); code != 200 || run.Outcome != sync.OutcomeHeld || run.Held < 40 {
		t.Fatalf("cycle after the mass unassignment: %d %+v", code, run)
	}
	if _, stderr, code := change(tokens["Read"], "fail-graph"); code == exitOK || !strings.Contains(stderr, "scope is read") {
		t.Fatalf("a read token changed the sandbox: exit %d %s", code, stderr)
	}
	if _, _, code := change(tokens["Admin"], "fail-graph"); code != exitOK {
		t.Fatalf("fail-graph: exit %d", code)
	}
	if code, run := cycle(); code != http.StatusBadGateway || run.Outcome != sync.OutcomeFailed {
		t.Fatalf("cycle while Graph fails: %d %+v", code, run)
	}
	change(tokens["Admin"], "heal")
	if stdout, _, code := change(tokens["Admin"], "rename", "Sales = Sales EMEA"); code != exitOK || !strings.Contains(stdout, `renamed group Sales to "Sales EMEA"`) {
		t.Fatalf("rename: exit %d %s", code, stdout)
	}
	if _, stderr, code := change(tokens["Admin"], "unassign", "nobody@contoso.test"); code == exitOK || !strings.Contains(stderr, "no user or group") {
		t.Fatalf("unassign of nobody: exit %d %s", code, stderr)
	}
	if code, run := cycle(); code != 200 || run.Outcome != sync.OutcomeHeld {
		t.Fatalf("cycle after healing (the hold is pending): %d %+v", code, run)
	}
	// The console's sandbox page makes the same changes.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	if resp, err := browser.PostForm(base+"/signin", url.Values{"token": {tokens["Admin"]}}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("console sign-in (following to the overview): %v %v", resp, err)
	}
	page := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("console: %v %v", resp, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	body := page(browser.Get(base + "/sandbox"))
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if csrf == nil || !strings.Contains(body, "Unassign the Staff group") {
		t.Fatalf("sandbox page:\n%s", body)
	}
	body = page(browser.PostForm(base+"/sandbox", url.Values{"csrf": {csrf[1]}, "change": {"hire"}, "arg": {"Zed"}}))
	if !strings.Contains(body, "hired zed.1@contoso.test, assigned directly") {
		t.Fatalf("hire from the console:\n%s", body)
	}
	if code, run := cycle(); code != 200 || run.Counts["user.create"] != 1 {
		t.Fatalf("cycle after the hire: %d %+v", code, run)
	}
	if _, body := api("GET", "/api/v1/audit", tokens["Read"]); !strings.Contains(body, `"actor": "sandbox-admin"`) || !strings.Contains(body, `"target": "mass-unassign"`) {
		t.Fatalf("audit: %s", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo --serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo --serve did not stop")
	}
}
