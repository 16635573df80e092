package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/store/storetest"
	"github.com/entrasync/entrasync/sync"
)

// TestTokenRotateScopes: `token rotate --scope read --label L` makes a read
// token labelled L; rotating L again revokes it and leaves the admin token;
// each rotation is in the audit trail as done by cli; a bad scope or label
// is a usage error.
func TestTokenRotateScopes(t *testing.T) {
	gs := graphtest.NewServer(demoTenant())
	defer gs.Close()
	dbURL := storetest.MustSchemaURL(t)
	cfgFile, env := writeWorkerConfig(t, gs, dbURL)
	getenv := func(k string) string { return env[k] }
	admin := mustCLIToken(t, cfgFile, getenv)
	var got struct{ Token, Scope, Label string }
	if err := json.Unmarshal([]byte(mustCLIToken(t, cfgFile, getenv, "--scope", "read", "--label", "helpdesk", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Scope != "read" || got.Label != "helpdesk" || !strings.HasPrefix(got.Token, "es_") {
		t.Fatalf("read token = %+v", got)
	}
	db := mustPostgres(t, dbURL)
	ctx := context.Background()
	if tok, err := db.LookupAPIToken(ctx, sync.TokenHash(got.Token)); err != nil || tok.Scope != sync.ScopeRead || tok.Label != "helpdesk" {
		t.Fatalf("stored read token = %+v, %v", tok, err)
	}
	mustCLIToken(t, cfgFile, getenv, "--scope", "read", "--label", "helpdesk")
	if _, err := db.LookupAPIToken(ctx, sync.TokenHash(got.Token)); !errors.Is(err, sync.ErrTokenNotFound) {
		t.Fatalf("helpdesk's first token after its rotation: %v", err)
	}
	if tok, err := db.LookupAPIToken(ctx, sync.TokenHash(admin)); err != nil || tok.Scope != sync.ScopeAdmin || tok.Label != "admin" {
		t.Fatalf("the admin token after helpdesk's rotation = %+v, %v", tok, err)
	}
	acts, err := db.AdminActions(ctx, "", 0)
	if err != nil || len(acts) != 3 || acts[0].Actor != "cli" || acts[0].Action != sync.ActionRotateToken || acts[0].Target != "helpdesk" || acts[2].Target != "admin" {
		t.Fatalf("audit = %+v, %v", acts, err)
	}
	for _, args := range [][]string{{"--scope", "write"}, {"--label", "two words"}} {
		var out, errb bytes.Buffer
		err := run(ctx, append([]string{"--config", cfgFile, "token", "rotate"}, args...), getenv, &out, &errb)
		if code := exitCode(err, &errb); code != exitUsage || out.Len() != 0 {
			t.Errorf("token rotate %v: exit %d, stdout %q", args, code, out.String())
		}
	}
}
