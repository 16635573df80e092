package web_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/cmd/entrasync/web"
	"github.com/entrasync/entrasync/sync"
)

// MustToken issues a token of scope and label on h's directory.
func MustToken(tb testing.TB, h *apiHarness, scope, label string) string {
	tb.Helper()
	token, err := web.IssueToken(context.Background(), h.db, scope, label)
	if err != nil {
		tb.Fatal(err)
	}
	return token
}

// TestAPIScopes: a read token reads everything and changes nothing (403,
// and nothing recorded); an admin token acts, and each action is in the
// audit trail with the token's label.
func TestAPIScopes(t *testing.T) {
	h := MustAPI(t)
	reader := MustToken(t, h, sync.ScopeRead, "helpdesk")
	admin := MustToken(t, h, sync.ScopeAdmin, "ops")
	for _, p := range []string{"/api/v1/tenants", "/api/v1/tenants/demo/runs", "/api/v1/tenants/demo/users", "/api/v1/tenants/demo/groups",
		"/api/v1/tenants/demo/events", "/api/v1/audit"} {
		if code, body := h.do(t, "GET", p, reader); code != 200 {
			t.Errorf("read token GET %s = %d %s", p, code, body)
		}
	}
	for _, p := range []string{"/api/v1/tenants/demo/cycles", "/api/v1/tenants/demo/pause", "/api/v1/tenants/demo/resume",
		"/api/v1/tenants/demo/provision/users/alice@contoso.test", "/api/v1/tenants/demo/provision/groups/Sales", "/api/v1/runs/1/approve", "/api/v1/runs/1/reject"} {
		if code, body := h.do(t, "POST", p, reader); code != 403 || !strings.Contains(body, "scope is read") {
			t.Errorf("read token POST %s = %d %s, want 403", p, code, body)
		}
	}
	if acts, _ := h.db.AdminActions(context.Background(), "", 0); len(acts) != 0 {
		t.Fatalf("refused requests were recorded: %+v", acts)
	}
	if code, body := h.do(t, "POST", "/api/v1/tenants/demo/pause", admin); code != 200 {
		t.Fatalf("admin pause: %d %s", code, body)
	}
	if code, _ := h.do(t, "POST", "/api/v1/tenants/demo/cycles", admin); code != 409 {
		t.Fatalf("cycle of a paused tenant: %d, want 409", code)
	}
	if code, _ := h.do(t, "POST", "/api/v1/tenants/demo/provision/users/alice@contoso.test?dry_run=true", admin); code != 200 {
		t.Fatalf("admin dry provision: %d", code)
	}
	code, body := h.do(t, "GET", "/api/v1/audit?tenant=demo", reader)
	var acts []sync.AdminAction
	if code != 200 || json.Unmarshal([]byte(body), &acts) != nil || len(acts) != 3 {
		t.Fatalf("audit: %d %s", code, body)
	}
	want := []struct{ action, target, detail string }{
		{sync.ActionProvision, "user alice@contoso.test", "dry run"},
		{sync.ActionCycleTenant, "", "refused (409)"},
		{sync.ActionPauseTenant, "", "ok"},
	}
	for i, w := range want {
		a := acts[i]
		if a.Actor != "ops" || a.Action != w.action || a.Target != w.target || !strings.HasPrefix(a.Detail, w.detail) || a.TenantID != "demo" || a.At.IsZero() {
			t.Errorf("audit[%d] = %+v, want %s by ops on %q, %s…", i, a, w.action, w.target, w.detail)
		}
	}
	if code, body := h.do(t, "GET", "/api/v1/nothing", reader); code != 404 || !strings.Contains(body, `"error"`) {
		t.Fatalf("unknown API path: %d %s, want a JSON 404", code, body)
	}
	if code, _ := h.do(t, "GET", "/api/v1/audit?tenant=nope", reader); code != 404 {
		t.Fatalf("audit of an unknown tenant: %d", code)
	}
	// The reader's rotation revokes the reader only.
	MustToken(t, h, sync.ScopeRead, "helpdesk")
	if code, _ := h.do(t, "GET", "/api/v1/tenants", reader); code != 401 {
		t.Fatalf("rotated-out read token: %d", code)
	}
	if code, _ := h.do(t, "GET", "/api/v1/tenants", admin); code != 200 {
		t.Fatalf("admin token after the reader's rotation: %d", code)
	}
}

// TestAPIRunChangesPaged: a run's changes filtered and paged by the store.
func TestAPIRunChangesPaged(t *testing.T) {
	h := MustAPI(t)
	code, body := h.do(t, "POST", "/api/v1/tenants/demo/cycles", h.token)
	var res struct {
		Run sync.Run `json:"run"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &res) != nil {
		t.Fatalf("cycle: %d %s", code, body)
	}
	base := "/api/v1/runs/" + strconv.FormatInt(res.Run.ID, 10) + "/changes"
	var page sync.LogPage
	code, body = h.do(t, "GET", base+"?entity=user&limit=2&offset=1", h.token)
	if code != 200 || json.Unmarshal([]byte(body), &page) != nil || page.Total != 5 || len(page.Entries) != 2 || page.Run.ID != res.Run.ID {
		t.Fatalf("users page: %d %s", code, body)
	}
	code, body = h.do(t, "GET", base+"?q=CAROL&action=add", h.token)
	if code != 200 || json.Unmarshal([]byte(body), &page) != nil || page.Total != 2 {
		t.Fatalf("carol's memberships: %d %s", code, body)
	}
	for q, want := range map[string]int{"?action=explode": 400, "?limit=5000": 400, "?status=nope": 400} {
		if code, body := h.do(t, "GET", base+q, h.token); code != want {
			t.Errorf("%s = %d %s, want %d", q, code, body, want)
		}
	}
	if code, _ := h.do(t, "GET", "/api/v1/runs/999999/changes", h.token); code != 404 {
		t.Fatalf("unknown run: %d", code)
	}
}
