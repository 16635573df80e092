package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/store/storetest"
)

// writeRegistryConfig writes a configuration with one named client-secret
// credential (vendor) for gs's application and no tenants, and returns it
// with the environment it needs.
func writeRegistryConfig(t *testing.T, gs *graphtest.Server, database string) (string, map[string]string) {
	t.Helper()
	tn := gs.Tenant()
	cfgFile := writeConfig(t, gs, fmt.Sprintf("credentials:\n  - name: vendor\n    kind: client_secret\n    client_id: %s\n", tn.ClientID))
	return cfgFile, map[string]string{"ENTRASYNC_CREDENTIAL_VENDOR_SECRET": tn.ClientSecret, "ENTRASYNC_DATABASE_URL": database}
}

// eventually retries f until it returns "" (then true) or 30 s pass (then
// it fails t with f's last word).
func eventually(t *testing.T, what string, f func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// api sends an authorized request to the worker at addr.
func api(token, method, addr, path, body string) (int, string) {
	req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestRegistryThreeWorkers: three worker processes share one PostgreSQL
// with no tenant in their file. A tenant added through one's API is served
// by all three from their next poll and synced on schedule by one of them;
// removed through another's, every one stops serving it. No restart.
func TestRegistryThreeWorkers(t *testing.T) {
	gs := graphtest.NewServer(demoTenant())
	defer gs.Close()
	db := storetest.MustSchemaURL(t)
	cfgFile, env := writeRegistryConfig(t, gs, db)
	getenv := func(k string) string { return env[k] }
	var tokOut, tokErr bytes.Buffer
	if err := run(context.Background(), []string{"--config", cfgFile, "token", "rotate"}, getenv, &tokOut, &tokErr); err != nil {
		t.Fatalf("token rotate: %v %s", err, tokErr.String())
	}
	token := strings.TrimSpace(tokOut.String())

	// Three worker processes of their own: this test binary run again as
	// TestRunProcess, each `entrasync run` with its own pool and holder.
	var addrs []string
	var procs []*exec.Cmd
	var logs []*syncBuffer
	for range 3 {
		addr := freeAddr(t)
		cmd, log := startRunProcess(t, env, "--config", cfgFile, "run", "--listen", addr)
		addrs, logs, procs = append(addrs, addr), append(logs, log), append(procs, cmd)
	}
	for i, a := range addrs {
		eventually(t, fmt.Sprintf("worker %d starts", i), func() string {
			if code, body := api(token, "GET", a, "/api/v1/registry/tenants", ""); code != 200 || strings.TrimSpace(body) != "[]" {
				return fmt.Sprintf("%d %s", code, body)
			}
			return ""
		})
	}

	tn := gs.Tenant()
	add := fmt.Sprintf(`{"name":"acme","tenantId":%q,"credential":"vendor","servicePrincipalId":%q,"schedule":"@every 1m"}`, tn.TenantID, tn.Application.ID)
	code, body := api(token, "POST", addrs[0], "/api/v1/registry/tenants", add)
	if code != http.StatusCreated || !strings.Contains(body, "/v2.0/adminconsent?client_id="+tn.ClientID) {
		t.Fatalf("add through the API: %d %s", code, body)
	}
	if code, body := api(token, "POST", addrs[0], "/api/v1/registry/tenants", add); code != http.StatusConflict {
		t.Fatalf("add twice: %d %s", code, body)
	}
	if code, body := api(token, "POST", addrs[0], "/api/v1/registry/tenants", strings.Replace(add, `"vendor"`, `"nobody"`, 1)); code != http.StatusBadRequest || !strings.Contains(body, "no credential named") {
		t.Fatalf("add with an unknown credential: %d %s", code, body)
	}

	// Every worker serves it within a poll; one of them syncs it.
	for i, a := range addrs {
		eventually(t, fmt.Sprintf("worker %d serves acme", i), func() string {
			if code, body := api(token, "GET", a, "/api/v1/tenants", ""); code != 200 || !strings.Contains(body, `"id": "acme"`) {
				return fmt.Sprintf("%d %s", code, body)
			}
			return ""
		})
	}
	var runs []struct {
		Trigger string `json:"trigger"`
		Outcome string `json:"outcome"`
	}
	eventually(t, "a scheduled cycle of acme", func() string {
		code, body := api(token, "GET", addrs[1], "/api/v1/tenants/acme/runs", "")
		if code != 200 || json.Unmarshal([]byte(body), &runs) != nil || len(runs) == 0 {
			return fmt.Sprintf("%d %s", code, body)
		}
		return ""
	})
	if len(runs) != 1 || runs[0].Trigger != "schedule" || runs[0].Outcome != "succeeded" {
		t.Fatalf("runs of acme: %+v (one scheduled cycle, on one worker)", runs)
	}
	ran := 0
	for _, l := range logs {
		if strings.Contains(l.String(), `msg="serving tenant from the registry" tenant=acme`) {
			ran++
		}
	}
	if ran != 3 {
		t.Fatalf("%d of 3 workers logged serving acme", ran)
	}

	code, body = api(token, "PATCH", addrs[1], "/api/v1/registry/tenants/acme", `{"schedule":"@every 2h"}`)
	if code != 200 || !strings.Contains(body, `"version": 2`) || !strings.Contains(body, `"schedule": "@every 2h"`) {
		t.Fatalf("change through the API: %d %s", code, body)
	}
	for _, bad := range []string{`{"name":"renamed"}`, `{"secret":"x"}`, `{"credential":"nobody"}`} {
		if code, body := api(token, "PATCH", addrs[1], "/api/v1/registry/tenants/acme", bad); code != http.StatusBadRequest {
			t.Fatalf("PATCH %s: %d %s", bad, code, body)
		}
	}
	if code, body := api(token, "PATCH", addrs[1], "/api/v1/registry/tenants/nobody", `{"schedule":"@every 2h"}`); code != http.StatusNotFound {
		t.Fatalf("PATCH of a missing entry: %d %s", code, body)
	}
	code, body = api(token, "DELETE", addrs[2], "/api/v1/registry/tenants/acme", "")
	if code != 200 || !strings.Contains(body, `"deleted":false`) && !strings.Contains(body, `"deleted": false`) {
		t.Fatalf("remove through the API: %d %s", code, body)
	}
	for i, a := range addrs {
		eventually(t, fmt.Sprintf("worker %d stops serving acme", i), func() string {
			if code, body := api(token, "GET", a, "/api/v1/tenants", ""); code != 200 || strings.Contains(body, `"acme"`) {
				return fmt.Sprintf("%d %s", code, body)
			}
			return ""
		})
	}
	if code, body := api(token, "POST", addrs[0], "/api/v1/tenants/acme/cycles", ""); code != http.StatusNotFound {
		t.Fatalf("a cycle of a removed tenant: %d %s", code, body)
	}
	for i, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
		if err := p.Wait(); err != nil {
			t.Fatalf("worker process %d: %v\n%s", i, err, logs[i].String())
		}
	}
	for _, l := range logs {
		if strings.Contains(l.String(), tn.ClientSecret) || strings.Contains(l.String(), token) {
			t.Fatal("a worker's log reveals a secret")
		}
	}
}

// TestTenantAddSetRemoveCLI: `tenant add` prints the admin-consent URL and
// refuses what this configuration cannot serve; `tenant list` shows where
// each tenant comes from; `tenant set` changes the entry; `tenant remove`
// deletes it.
func TestTenantAddSetRemoveCLI(t *testing.T) {
	gs := graphtest.NewServer(demoTenant())
	defer gs.Close()
	cfgFile, env := writeRegistryConfig(t, gs, filepath.Join(t.TempDir(), "reg.db"))
	tn := gs.Tenant()
	cli := func(want int, args ...string) string {
		t.Helper()
		out, stderr, code := runCLI(t, env, append([]string{"--config", cfgFile}, args...)...)
		if code != want {
			t.Fatalf("entrasync %v: exit %d, want %d\n%s%s", args, code, want, out, stderr)
		}
		return out + stderr
	}
	out := cli(exitOK, "tenant", "add", "acme", "--tenant-id", tn.TenantID, "--service-principal-id", tn.Application.ID, "--credential", "vendor")
	for _, want := range []string{"Tenant acme added to the registry", "/" + tn.TenantID + "/v2.0/adminconsent?client_id=" + tn.ClientID,
		"scope=" + url.QueryEscape(gs.GraphEndpoint()+"/.default"), "entrasync check --tenant acme"} {
		if !strings.Contains(out, want) {
			t.Errorf("tenant add output lacks %q:\n%s", want, out)
		}
	}
	out = cli(exitUsage, "tenant", "add", "beta", "--tenant-id", tn.TenantID, "--app-id", tn.Application.AppID, "--credential", "nobody")
	if !strings.Contains(out, `no credential named "nobody" (configured: vendor)`) {
		t.Errorf("unknown credential: %s", out)
	}
	cli(exitFailure, "tenant", "add", "acme", "--tenant-id", tn.TenantID, "--app-id", tn.Application.AppID, "--credential", "vendor")

	out = cli(exitOK, "tenant", "set", "acme", "--schedule", "@every 10m", "--json")
	if !strings.Contains(out, `"version": 2`) || !strings.Contains(out, `"schedule": "@every 10m"`) {
		t.Errorf("tenant set: %s", out)
	}
	cli(exitUsage, "tenant", "set", "acme", "--credential", "nobody")
	out = cli(exitOK, "tenant", "list")
	if !strings.Contains(out, "acme") || !strings.Contains(out, "registry") || !strings.Contains(out, "@every 10m") {
		t.Errorf("tenant list:\n%s", out)
	}
	out = cli(exitOK, "sync", "--tenant", "acme")
	if !strings.Contains(out, "+ create") {
		t.Errorf("sync of a registry tenant:\n%s", out)
	}
	out = cli(exitOK, "tenant", "remove", "acme")
	if !strings.Contains(out, "removed from the registry") || !strings.Contains(out, "user(s) and") || !strings.Contains(out, "are manual now") {
		t.Errorf("tenant remove: %s", out)
	}
	cli(exitFailure, "tenant", "remove", "acme")
	if strings.Contains(out, tn.ClientSecret) {
		t.Fatal("output reveals the secret")
	}
}

// TestCheckNewTenantConsent: `check` on a tenant just added says that
// consent has not been given, with the URL; once it has, which permission
// is still missing.
func TestCheckNewTenantConsent(t *testing.T) {
	gs := graphtest.NewServer(demoTenant())
	defer gs.Close()
	gs.Update(func(tn *graphtest.Tenant) { tn.ConsentMissing = true })
	cfgFile, env := writeRegistryConfig(t, gs, filepath.Join(t.TempDir(), "reg.db"))
	tn := gs.Tenant()
	if _, stderr, code := runCLI(t, env, "--config", cfgFile, "tenant", "add", "acme", "--tenant-id", tn.TenantID,
		"--service-principal-id", tn.Application.ID, "--credential", "vendor"); code != exitOK {
		t.Fatal(stderr)
	}
	out, _, code := runCLI(t, env, "--config", cfgFile, "check", "--tenant", "acme")
	if code != exitFailure {
		t.Fatalf("check without consent: exit %d\n%s", code, out)
	}
	wantLine(t, out, "token", "✗", "AADSTS700016", "consent has not been given", "/v2.0/adminconsent?client_id="+tn.ClientID)

	gs.Update(func(tn *graphtest.Tenant) {
		tn.ConsentMissing = false
		tn.Permissions = []string{"Application.Read.All", "User.Read.All"}
	})
	out, _, code = runCLI(t, env, "--config", cfgFile, "check", "--tenant", "acme")
	if code != exitFailure {
		t.Fatalf("check with a permission missing: exit %d\n%s", code, out)
	}
	wantLine(t, out, "token", "✓")
	wantLine(t, out, "GroupMember.Read.All", "✗", "missing", "add the Microsoft Graph application permission GroupMember.Read.All")
	wantLine(t, out, "User.Read.All", "✓")
}

// TestRegistryHelpGolden pins `--help` of the registry's commands.
func TestRegistryHelpGolden(t *testing.T) {
	for _, verb := range []string{"add", "list", "remove"} {
		out, stderr, code := runCLI(t, nil, "tenant", verb, "--help")
		if code != exitOK || stderr != "" || !strings.Contains(out, "Examples:") {
			t.Fatalf("tenant %s --help: exit %d %q\n%s", verb, code, stderr, out)
		}
		golden(t, "help-tenant-"+verb, out)
	}
}

// startRunProcess runs entrasync with args in a process of its own (this
// test binary run again as TestRunProcess) with env added to the
// environment; its output goes to the buffer. It is killed at cleanup if
// still running.
func startRunProcess(t *testing.T, env map[string]string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ENTRASYNC_TEST_PROCESS_ARGS="+strings.Join(args, "\x1f"))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	log := newSyncBuffer()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, log
}

// TestRunProcess is a process startRunProcess started: it runs entrasync
// with the arguments it was given until SIGTERM. On its own (no arguments
// in the environment) it has nothing to do.
func TestRunProcess(t *testing.T) {
	args := os.Getenv("ENTRASYNC_TEST_PROCESS_ARGS")
	if args == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := run(ctx, strings.Split(args, "\x1f"), os.Getenv, os.Stdout, os.Stderr); err != nil {
		t.Fatalf("entrasync: %v", err)
	}
}
