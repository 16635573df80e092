package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/store/storetest"
)

// syncBuffer is a bytes.Buffer safe for the worker's log writes.
type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRunWorkerEndToEnd starts `entrasync run` with a config file against the
// simulated tenant, waits for its first scheduled cycle through the API and
// metrics, then stops it like SIGTERM would.
func TestRunWorkerEndToEnd(t *testing.T) {
	gs := graphtest.NewServer(demoTenant())
	defer gs.Close()
	cfgFile, env := writeWorkerConfig(t, gs, storetest.MustSchemaURL(t))
	tn := gs.Tenant()
	getenv := func(k string) string { return env[k] }

	// A token first, as an administrator would.
	token := mustCLIToken(t, cfgFile, getenv)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs, done := startRun(ctx, cfgFile, addr, getenv)

	get := func(path string) (int, string) { return api(token, "GET", addr, path, "") }
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := get("/api/v1/tenants/demo/runs")
		if code == 200 && strings.Contains(body, `"trigger": "schedule"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled cycle: %d %s\nlogs:\n%s", code, body, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The cycle's metrics are counted once it returns, a moment after its
	// run is committed (and listed).
	for {
		code, body := get("/metrics")
		if code == 200 && strings.Contains(body, `entrasync_cycles_total{outcome="succeeded",tenant="demo",trigger="schedule"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics: %d\n%s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop within its shutdown grace")
	}
	if strings.Contains(logs.String(), tn.ClientSecret) || strings.Contains(logs.String(), token) {
		t.Fatal("logs reveal a secret")
	}
	if !strings.Contains(logs.String(), "tenant=demo") {
		t.Fatalf("log lines do not carry the tenant:\n%s", logs.String())
	}
}

// mustCLIToken is `entrasync token rotate`'s token.
func mustCLIToken(tb testing.TB, cfgFile string, getenv func(string) string, args ...string) string {
	tb.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), append([]string{"--config", cfgFile, "token", "rotate"}, args...), getenv, &out, &errb); err != nil {
		tb.Fatalf("token rotate: %v %s", err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// startRun starts `entrasync run` on addr until ctx ends; done receives
// what it returns, logs what it wrote.
func startRun(ctx context.Context, cfgFile, addr string, getenv func(string) string) (logs *syncBuffer, done chan error) {
	logs, done = newSyncBuffer(), make(chan error, 1)
	go func() { done <- run(ctx, []string{"--config", cfgFile, "run", "--listen", addr}, getenv, logs, logs) }()
	return logs, done
}

// writeWorkerConfig writes a config file for a worker against gs and returns
// it with the environment it needs (the client secret, the database).
func writeWorkerConfig(t *testing.T, gs *graphtest.Server, database string) (string, map[string]string) {
	t.Helper()
	tn := gs.Tenant()
	cfgFile := writeConfig(t, gs, fmt.Sprintf(`tenants:
  - name: demo
    tenant_id: %s
    client_id: %s
    service_principal_id: %s
`, tn.TenantID, tn.ClientID, tn.Application.ID))
	return cfgFile, map[string]string{"ENTRASYNC_DEMO_CLIENT_SECRET": tn.ClientSecret, "ENTRASYNC_DATABASE_URL": database}
}

// writeConfig writes a config file for workers against gs (its endpoints,
// its certificate as the CA file, a poll of 1s) ending with tail.
func writeConfig(t *testing.T, gs *graphtest.Server, tail string) string {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: gs.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "entrasync.yaml")
	cfg := fmt.Sprintf(`graph:
  endpoint: %s
  login_endpoint: %s
  ca_file: %s
worker:
  poll: 1s
  lease_ttl: 30s
  shutdown_grace: 5s
`, gs.GraphEndpoint(), gs.LoginEndpoint(), ca) + tail
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgFile
}

// TestRunOnSQLiteRefusesASecondProcess: one SQLite file serves one worker.
func TestRunOnSQLiteRefusesASecondProcess(t *testing.T) {
	gs := graphtest.NewServer(demoTenant())
	defer gs.Close()
	cfgFile, env := writeWorkerConfig(t, gs, filepath.Join(t.TempDir(), "one.db"))
	getenv := func(k string) string { return env[k] }
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	logs := newSyncBuffer()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--config", cfgFile, "run", "--listen", addr}, getenv, logs, logs) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("first worker did not start: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--config", cfgFile, "run", "--listen", freeAddr(t)}, getenv, &out, &errb)
	if code := exitCode(err, &errb); code != exitUsage || !strings.Contains(errb.String(), "several worker processes need PostgreSQL") {
		t.Fatalf("second worker on one SQLite file: exit %d, %s", code, errb.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("first worker: %v", err)
	}
}
