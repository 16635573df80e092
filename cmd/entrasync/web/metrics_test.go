package web_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/entrasync/entrasync/sync"
)

// failingSource fails every snapshot while broken, with an error whose text
// carries what must never reach /metrics: the service principal's id and a
// database error.
type failingSource struct {
	sync.Source
	broken atomic.Bool
}

const leakyError = `graph: read service principal 5e0a1c2b-0000-4000-8000-000000000001: pq: relation "users" does not exist`

func (f *failingSource) Snapshot(ctx context.Context) (*sync.Snapshot, error) {
	if f.broken.Load() {
		return nil, &sync.Error{Code: sync.EUNAUTHORIZED, Message: leakyError}
	}
	return f.Source.Snapshot(ctx)
}

// TestMetricsFollowPrometheusConventionsAndLeakNothing: /metrics passes the
// Prometheus lint (promlint, and promtool check metrics where it is
// installed); label values come from fixed sets (a failure's category,
// never its text, ids or database errors); held changes are counted apart
// from applied ones; the tenant gauges and entrasync_build_info are there.
func TestMetricsFollowPrometheusConventionsAndLeakNothing(t *testing.T) {
	s := sync.DefaultTenantSettings()
	s.ArchiveThreshold = 1
	var fs *failingSource
	h := MustAPIWith(t, s, func(src sync.Source) sync.Source { fs = &failingSource{Source: src}; return fs })
	h.metrics.BuildInfo("1.2.3-test")
	h.metrics.WatchTenants(h.db)
	if code, body := h.do(t, "POST", "/api/v1/tenants/demo/cycles", h.token); code != 200 {
		t.Fatalf("first cycle: %d %s", code, body)
	}
	h.graph.Unassign(alice)
	h.graph.Unassign(heidi) // two archives over a threshold of one: held
	if code, body := h.do(t, "POST", "/api/v1/tenants/demo/cycles", h.token); code != 200 || !strings.Contains(body, `"held"`) {
		t.Fatalf("held cycle: %d %s", code, body)
	}
	fs.broken.Store(true)
	for i := 0; i < 2; i++ { // quarantined
		if code, _ := h.do(t, "POST", "/api/v1/tenants/demo/cycles", h.token); code < 400 {
			t.Fatalf("broken cycle answered %d", code)
		}
	}
	if err := h.db.SetPaused(context.Background(), "demo", true); err != nil {
		t.Fatal(err)
	}
	_, _ = h.do(t, "POST", "/api/v1/tenants/demo/cycles", h.token) // refused: not a failure
	_, body := h.do(t, "GET", "/metrics", "")

	for _, want := range []string{
		`entrasync_build_info{goversion="go`, `version="1.2.3-test"} 1`,
		`entrasync_changes_total{change="user.create",status="applied",tenant="demo"} 5`,
		`entrasync_changes_total{change="user.archive",status="held",tenant="demo"} 2`,
		`entrasync_tenant_consecutive_failures{reason="credential",tenant="demo"} 2`,
		`entrasync_cycle_failures_total{reason="credential",tenant="demo"} 2`,
		`entrasync_cycles_total{outcome="held",tenant="demo",trigger="api"} 1`,
		`entrasync_cycles_total{outcome="refused",tenant="demo",trigger="api"} 1`,
		`entrasync_held_runs_pending{tenant="demo"} 1`,
		`entrasync_tenant_paused{tenant="demo"} 1`,
		`entrasync_tenant_quarantined{tenant="demo"} 1`,
		`entrasync_tenant_disconnected{tenant="demo"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, leak := range []string{"5e0a1c2b", "relation", "pq:", `change="held"`, `status="held",tenant="demo"} 0`} {
		if strings.Contains(body, leak) {
			t.Errorf("/metrics shows %q:\n%s", leak, body)
		}
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	if path, err := exec.LookPath("promtool"); err == nil { // Debian's prometheus package
		cmd := exec.Command(path, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out.String())
		}
	}
}
