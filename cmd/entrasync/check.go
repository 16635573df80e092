package main

// `entrasync check`: test connection (docs/behaviour.md, administration). A checklist, one line per
// check — configuration, database, and per tenant the token, the service
// principal, each Graph permission and the optional features that make
// cycles cheaper — with what was found and, for a failure, the fix (for an
// optional feature, what would help; it never fails the check). Secrets
// never reach the output.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/entrasync/entrasync/config"
	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/store/open"
	"github.com/entrasync/entrasync/sync"
)

// Outcomes of one check.
const (
	checkOK       = "ok"
	checkFailed   = "failed"
	checkSkipped  = "skipped"
	checkOptional = "optional" // an optional feature not available: never a failure
)

// The checks before the tenants' (graph.Probe names those), in the order
// they print.
const (
	checkConfig   = "configuration"
	checkDatabase = "database"
)

// checkStatus is the outcome of a Graph check, as the checklist words it.
var checkStatus = map[graph.CheckStatus]string{graph.CheckOK: checkOK, graph.CheckFailed: checkFailed, graph.CheckSkipped: checkSkipped,
	graph.CheckOptional: checkOptional}

// checkItem is one line of the checklist.
type checkItem struct {
	Check  string `json:"check"`
	Tenant string `json:"tenant,omitempty"`
	Status string `json:"status"` // ok, failed, skipped, optional
	Found  string `json:"found"`
	Fix    string `json:"fix,omitempty"`
}

// checklist collects the lines; every text is scrubbed of the secrets it
// knows, whatever a server echoed back.
type checklist struct {
	items   []checkItem
	secrets []string
}

func (c *checklist) add(tenant, check, status, found, fix string) {
	for _, s := range c.secrets {
		if len(s) >= 4 {
			found = strings.ReplaceAll(found, s, "[redacted]")
			fix = strings.ReplaceAll(fix, s, "[redacted]")
		}
	}
	c.items = append(c.items, checkItem{Check: check, Tenant: tenant, Status: status, Found: found, Fix: fix})
}

func (c *checklist) failed() int {
	n := 0
	for _, it := range c.items {
		if it.Status == checkFailed {
			n++
		}
	}
	return n
}

// check is `entrasync check [--tenant T] [--json]`.
func (e *env) check(args []string) error {
	f := e.newFlags("check", true)
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.tenantArg(); err != nil {
		return err
	}
	cl := &checklist{}
	err := e.runChecks(f.tenant, cl)
	if f.json {
		report := struct {
			OK     bool        `json:"ok"`
			Checks []checkItem `json:"checks"`
		}{err == nil && cl.failed() == 0, cl.items}
		if werr := writeJSON(e.stdout, report); werr != nil {
			return werr
		}
	} else if werr := printChecklist(e.stdout, cl.items, e.color); werr != nil {
		return werr
	}
	if err != nil {
		return err // the configuration: exit 2
	}
	if n := cl.failed(); n > 0 {
		return fmt.Errorf("check: %d of %d checks failed", n, len(cl.items))
	}
	return nil
}

// runChecks fills cl. It returns an error only for a configuration that
// cannot be used at all (exit 2); failed checks are in cl.
func (e *env) runChecks(tenant string, cl *checklist) error {
	where := "file " + e.configPath
	if e.configPath == "" {
		where = "no file: defaults and environment"
	}
	cfg, err := config.Load(e.configPath, e.getenv)
	if err != nil {
		cl.add("", checkConfig, checkFailed, err.Error(), "correct the file ("+where+")")
		return &usageError{err}
	}
	if e.databaseURL != "" {
		cfg.Database = config.Secret(e.databaseURL)
	}
	// The database URL prints without its password.
	e.addSecrets(cfg)
	if redactOutput {
		cl.secrets = e.secrets.values
	}
	for _, c := range cfg.Credentials {
		cl.secrets = append(cl.secrets, c.ClientSecret.Reveal(), c.CertificatePassword.Reveal())
	}
	if err := cfg.Validate(); err != nil {
		fix := "correct it (" + where + ")"
		var fe *config.FieldError
		if errors.As(err, &fe) {
			fix = "correct " + fe.Field + " (" + where + ")"
		}
		cl.add("", checkConfig, checkFailed, strings.TrimPrefix(err.Error(), "config: "), fix)
		return err
	}
	tenants, err := e.pickAnyTenants(cfg, tenant) // registry.go
	if err != nil {
		cl.add("", checkConfig, checkFailed, err.Error(), "add the tenant under tenants: ("+where+") or with `entrasync tenant add`, or pass --tenant with a configured name")
		return err
	}
	e.logger = newLogger(cfg.Log, e.stderr)
	names := make([]string, len(tenants))
	for i, t := range tenants {
		names[i] = t.Name
	}
	cl.add("", checkConfig, checkOK, fmt.Sprintf("valid (%s); tenant(s): %s", where, strings.Join(names, ", ")), "")
	e.checkDatabase(cfg, cl)
	for _, t := range tenants {
		e.checkTenant(cfg, t, cl)
	}
	return nil
}

// checkDatabase opens the store as it is — creating and migrating nothing —
// and reports the backend, where it is (no password), the schema version
// and the migrations still to apply.
func (e *env) checkDatabase(cfg *config.Config, cl *checklist) {
	raw := e.dbURL(cfg)
	backend, target, err := store.ParseURL(raw)
	if err != nil {
		cl.add("", checkDatabase, checkFailed, err.Error(), "set database: in the config file, ENTRASYNC_DATABASE_URL or --database to a postgres:// URL or a SQLite file")
		return
	}
	where := target
	if backend == store.BackendPostgres {
		where = displayDB(target)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	db, err := open.Existing(ctx, raw, nil)
	var pending []string
	if sync.ErrorCode(err) == sync.EINVALID && strings.Contains(err.Error(), "pending migration") {
		// Behind: report what is pending, apply nothing.
		db, err = open.With(ctx, raw, nil, store.OpenOptions{ReadOnly: true, AllowPending: true})
		if err == nil {
			pending, err = db.PendingMigrations(ctx)
		}
	}
	if err != nil {
		fix := "check that PostgreSQL runs and accepts this user from here; the URL comes from database: in the config file, ENTRASYNC_DATABASE_URL or --database"
		if backend == store.BackendSQLite {
			fix = "check the path (the first sync, run or migrate creates the file), and that this user may read it and its directory"
		}
		cl.add("", checkDatabase, checkFailed, fmt.Sprintf("%s at %s: %v", backend, where, err), fix)
		return
	}
	defer db.Close()
	version, err := db.SchemaVersion(ctx)
	if version == "" && err == nil || len(pending) > 0 && err != nil { // never migrated: no schema_migrations yet
		version, err = "none", nil
	}
	if err != nil {
		cl.add("", checkDatabase, checkFailed, fmt.Sprintf("%s at %s: reachable, but the schema version cannot be read: %v", backend, where, err),
			"check the database user may read schema_migrations")
		return
	}
	if len(pending) > 0 {
		cl.add("", checkDatabase, checkFailed, fmt.Sprintf("%s at %s: reachable, schema %s, %d migration(s) pending (%s); nothing was applied",
			backend, where, version, len(pending), strings.Join(pending, ", ")),
			"apply them with `entrasync migrate` (sync and run apply them too)")
		return
	}
	cl.add("", checkDatabase, checkOK, fmt.Sprintf("%s at %s: reachable, migrated (schema %s)", backend, where, version), "")
}

// checkTenant adds one tenant's Graph checks (graph.Probe): its credential,
// service principal, permissions and optional features, in that order.
func (e *env) checkTenant(cfg *config.Config, t config.Tenant, cl *checklist) {
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute)
	defer cancel()
	var checks []graph.Check
	if base, err := transportOf(cfg.Graph.CAFile); err != nil {
		checks = graph.TokenFailed(err.Error(), "set graph.ca_file to a readable PEM file of the certificates to trust")
	} else if auth, _, err := graphAuth(cfg, t); err != nil {
		checks = graph.TokenFailed(err.Error(), "name a credential of credentials: in the config file")
	} else {
		secretFrom := "set " + t.SecretEnv()
		if t.ClientSecretFile != "" {
			secretFrom = "write it to " + t.ClientSecretFile
		}
		if t.Credential != "" {
			secretFrom = "set the secret of credential " + t.Credential + " (credentials: in the config file)"
		}
		if err := cfg.CheckSecrets(&t); err != nil {
			cl.add(t.Name, graph.CheckToken, checkFailed, strings.TrimPrefix(err.Error(), "config: "), secretFrom)
			return
		}
		// The credential and Graph client exactly as the sync builds them.
		checks = graph.Probe(ctx, graph.Config{TenantID: t.TenantID, ClientID: t.ClientID, Auth: auth,
			ServicePrincipalID: t.ServicePrincipalID, AppID: t.AppID, GraphEndpoint: t.GraphEndpoint, LoginEndpoint: t.LoginEndpoint,
			Transport: base, Timeout: cfg.Graph.Timeout}, graph.ProbeHints{Cloud: t.Cloud, SecretSource: secretSource(cfg, t)})
	}
	for _, c := range checks {
		// Found quotes Graph's answers: clip makes them printable.
		cl.add(t.Name, c.Name, checkStatus[c.Status], clip(c.Found, math.MaxInt), c.Fix)
	}
}

// printChecklist prints one line per check, the fix under each failure
// (what would help under an optional one), and a summary.
func printChecklist(w io.Writer, items []checkItem, color bool) error {
	width := 0
	for _, it := range items {
		width = max(width, len(it.Check))
	}
	lw := &lineWriter{w: w}
	tenant := ""
	failed := 0
	for _, it := range items {
		if it.Tenant != tenant {
			tenant = it.Tenant
			lw.printf("Tenant %s\n", tenant)
		}
		mark := "✓"
		switch it.Status {
		case checkFailed:
			mark = "✗"
			failed++
			if color {
				mark = "\x1b[31m✗\x1b[0m"
			}
		case checkSkipped:
			mark = "-"
		case checkOptional:
			mark = "○"
		default:
			if color {
				mark = "\x1b[32m✓\x1b[0m"
			}
		}
		lw.printf(" %s %-*s  %s\n", mark, width, it.Check, it.Found)
		switch {
		case it.Fix != "" && it.Status == checkOptional:
			lw.printf("   %-*s  optional: %s\n", width, "", it.Fix)
		case it.Fix != "":
			lw.printf("   %-*s  fix: %s\n", width, "", it.Fix)
		}
	}
	if failed == 0 {
		lw.printf("All checks passed.\n")
	} else {
		lw.printf("%d of %d checks failed.\n", failed, len(items))
	}
	return lw.err
}
