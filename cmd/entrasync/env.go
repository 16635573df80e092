package main

// What every command shares: the environment a command runs in, the
// configuration and the directory it opens, the Graph source of a tenant,
// the worker built over the configured tenants, flags and JSON output.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/entrasync/entrasync/cmd/entrasync/web"
	"github.com/entrasync/entrasync/config"
	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/store/open"
	"github.com/entrasync/entrasync/sync"
)

// adminSession is an open store for one administration command.
type adminSession struct {
	db     store.Store
	admin  sync.Admin
	tenant string
}

// openAdmin loads the configuration and opens the store for tenant (or the
// only configured one when tenant is "").
func (e *env) openAdmin(tenant string) (*adminSession, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	if tenant, err = oneTenant(cfg, tenant); err != nil {
		return nil, err
	}
	db, err := e.openStore(cfg)
	if err != nil {
		return nil, err
	}
	return &adminSession{db: db, admin: db, tenant: tenant}, nil
}

// env is what every command gets: streams, configuration and the environment.
type env struct {
	ctx            context.Context
	stdout, stderr io.Writer
	getenv         func(string) string
	configPath     string
	databaseURL    string
	logger         *slog.Logger
	// color is true when stdout is a terminal and NO_COLOR is unset.
	color bool
	// stderrTTY is true when stderr is a terminal (the progress line).
	stderrTTY bool
	// secrets are scrubbed from everything the command prints.
	secrets *secretSet
	// wide prints table cells whole instead of cutting them at a width.
	wide bool
}

// isTerminal reports whether w is a terminal (a variable, so tests can
// pretend).
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// loadConfig reads and validates the configuration.
func (e *env) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(e.configPath, e.getenv)
	if err != nil {
		return nil, &usageError{err}
	}
	if e.databaseURL != "" {
		cfg.Database = config.Secret(e.databaseURL)
	}
	e.addSecrets(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e.logger = newLogger(cfg.Log, e.stderr)
	return cfg, nil
}

// redactOutput is the last line of defence for secrets: with it on (always,
// but in the test that proves the output scan finds a planted secret),
// every byte a command prints and the error it ends with pass through
// scrub, and database URLs print without their password.
var redactOutput = true

// addSecrets remembers what must never print: every tenant's client secret
// and the database password.
func (e *env) addSecrets(cfg *config.Config) {
	for _, t := range cfg.Tenants {
		e.secrets.add(t.ClientSecret.Reveal())
	}
	e.secrets.add(store.URLPassword(cfg.Database.Reveal()))
}

// secretSet is the secrets a command knows; a pointer shared by its output
// streams.
type secretSet struct{ values []string }

func (s *secretSet) add(v string) {
	if len(v) >= 4 { // shorter strings would blank out ordinary words
		s.values = append(s.values, v)
	}
}

// scrub replaces every known secret in text with [redacted] (and passwords
// of database URLs, in any form).
func (s *secretSet) scrub(text string) string {
	if !redactOutput {
		return text
	}
	for _, v := range s.values {
		text = strings.ReplaceAll(text, v, "[redacted]")
	}
	return text
}

// scrubWriter is an output stream that scrubs what is written to it.
type scrubWriter struct {
	w       io.Writer
	secrets *secretSet
}

func (s scrubWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(s.w, s.secrets.scrub(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// scrubbedError is a command's error with the known secrets removed from
// its message; errors.As and errors.Is still see what it wraps.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }

func (e *scrubbedError) Unwrap() error { return e.err }

// displayDB returns a database URL fit to print: without its password.
func displayDB(raw string) string {
	if !redactOutput {
		return raw
	}
	return store.RedactURL(raw)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// databaseURL is the configured database, or the default SQLite file.
func (e *env) dbURL(cfg *config.Config) string {
	if cfg.Database != "" {
		return cfg.Database.Reveal()
	}
	return store.DefaultSQLitePath(e.getenv)
}

// openStore opens the configured database (by default the SQLite file in
// the data directory) and registers every configured tenant.
func (e *env) openStore(cfg *config.Config) (store.Store, error) {
	return e.openStoreAt(cfg, e.dbURL(cfg))
}

// openStoreAt is openStore on the database at url.
func (e *env) openStoreAt(cfg *config.Config, url string) (store.Store, error) {
	db, err := open.URL(e.ctx, url, e.logger)
	if err != nil {
		return nil, err
	}
	for _, t := range cfg.Tenants {
		if err := db.RegisterTenant(e.ctx, tenantOf(t)); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return db, nil
}

// configAndStore loads the configuration and opens the directory it names;
// the caller closes the store.
func (e *env) configAndStore() (*config.Config, store.Store, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	db, err := e.openStore(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, db, nil
}

func tenantOf(t config.Tenant) sync.Tenant {
	s := sync.DefaultTenantSettings()
	s.AutoInvite = t.AutoInvite
	s.EmailSource = sync.EmailSource(t.EmailSource)
	for _, th := range []struct {
		v  *int
		to *int
	}{
		{t.ArchiveThreshold, &s.ArchiveThreshold}, {t.ArchiveThresholdPercent, &s.ArchiveThresholdPercent},
		{t.GroupArchiveThreshold, &s.GroupArchiveThreshold}, {t.GroupArchiveThresholdPercent, &s.GroupArchiveThresholdPercent},
		{t.MembershipRemovalThreshold, &s.MembershipRemovalThreshold},
		{t.MembershipRemovalThresholdPercent, &s.MembershipRemovalThresholdPercent},
	} {
		if th.v != nil {
			*th.to = *th.v
		}
	}
	return sync.Tenant{ID: t.Name, EntraTenantID: t.TenantID, Settings: s}
}

// sourceOf builds the tenant's Graph source. Only here — in the commands
// that talk to Graph — is the tenant's client secret needed
// (config.Tenant.CheckSecret).
func sourceOf(cfg *config.Config, t config.Tenant, logger *slog.Logger, observe func(string, int, time.Duration), progress func(graph.Progress)) (*graph.Source, error) {
	if err := cfg.CheckSecrets(&t); err != nil {
		return nil, err
	}
	transport, err := transportOf(cfg.Graph.CAFile)
	if err != nil {
		return nil, err
	}
	auth, _, err := graphAuth(cfg, t)
	if err != nil {
		return nil, err
	}
	return graph.New(graph.Config{Observe: observe, Progress: progress, Transport: transport, Auth: auth,
		TenantID: t.TenantID, ClientID: t.ClientID,
		ServicePrincipalID: t.ServicePrincipalID, AppID: t.AppID,
		GraphEndpoint: t.GraphEndpoint, LoginEndpoint: t.LoginEndpoint,
		Concurrency: cfg.Graph.Concurrency, MaxRetries: cfg.Graph.MaxRetries, RetryDelay: cfg.Graph.RetryDelay,
		MaxThrottleWait: cfg.Graph.MaxThrottleWait, Timeout: cfg.Graph.Timeout,
	}, logger.With(sync.LogTenant, t.Name))
}

// transportOf returns the HTTP transport for Graph and login: the default,
// or one that also trusts the certificates in caFile.
func transportOf(caFile string) (http.RoundTripper, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := config.ReadSmallFile(caFile, config.MaxConfigBytes)
	if err != nil {
		return nil, &config.FieldError{Field: "graph.ca_file", Problem: err.Error()}
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, &config.FieldError{Field: "graph.ca_file", Problem: "no PEM certificate in " + caFile}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}

// commandFlags are the flags most commands share.
type commandFlags struct {
	*flag.FlagSet
	out    io.Writer
	json   bool
	tenant string
}

func (e *env) newFlags(name string, withTenant bool) *commandFlags {
	f := &commandFlags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), out: e.stdout}
	f.SetOutput(io.Discard)
	f.BoolVar(&f.json, "json", false, "print JSON")
	if tableCommands[name] {
		f.BoolVar(&e.wide, "wide", false, "print table cells whole, without cutting long text")
	}
	if withTenant {
		f.StringVar(&f.tenant, "tenant", "", "tenant name (default: the only one configured)")
	}
	return f
}

// tableCommands print tables or plans, and take --wide.
var tableCommands = map[string]bool{"users list": true, "groups list": true, "runs list": true, "runs show": true,
	"tenant status": true}

// errHelpShown ends a command whose help was asked for (exit 0).
var errHelpShown = errors.New("help shown")

// parse parses flags anywhere among the arguments (`runs show 7 --json` as
// well as `runs show --json 7`); Args are the positional ones, in order.
func (f *commandFlags) parse(args []string) error {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				writeHelp(f.out, f.Name(), f.FlagSet)
				return errHelpShown
			}
			return usagef("%s: %v (see entrasync %s --help)", f.Name(), err, f.Name())
		}
		args = f.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	return f.Parse(append([]string{"--"}, pos...))
}

// tenantArg takes the tenant from the command's one positional argument
// (`entrasync sync contoso`, as `tenant pause contoso`), which must agree
// with --tenant; more than one is a usage error.
func (f *commandFlags) tenantArg() error {
	switch f.NArg() {
	case 0:
		return nil
	case 1:
		if f.tenant != "" && f.tenant != f.Arg(0) {
			return usagef("%s: tenant %q and --tenant %q differ", f.Name(), f.Arg(0), f.tenant)
		}
		f.tenant = f.Arg(0)
		return nil
	}
	return usagef("%s: give at most one tenant name, not %q", f.Name(), strings.Join(f.Args(), " "))
}

// pickTenants returns the tenant named by --tenant, or all of them.
func pickTenants(cfg *config.Config, name string) ([]config.Tenant, error) {
	if name != "" {
		t, err := cfg.Tenant(name)
		if err != nil {
			return nil, &usageError{err}
		}
		return []config.Tenant{*t}, nil
	}
	if len(cfg.Tenants) == 0 {
		return nil, usagef("no tenants configured: add one under tenants: in the config file (see README)")
	}
	return cfg.Tenants, nil
}

// oneTenant returns the tenant for listings: --tenant, or the only one.
func oneTenant(cfg *config.Config, name string) (string, error) {
	if name != "" {
		return name, nil // listings read the directory, which may hold tenants no longer configured
	}
	if len(cfg.Tenants) == 1 {
		return cfg.Tenants[0].Name, nil
	}
	return "", usagef("%d tenants configured: pass --tenant NAME", len(cfg.Tenants))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// listing loads the configuration and opens the directory read-only for a
// listing whose flags are parsed: the tenant is the one positional
// argument, --tenant or the only configured one, and must be configured or
// in the directory.
func (e *env) listing(f *commandFlags) (store.Store, string, error) {
	if err := f.tenantArg(); err != nil {
		return nil, "", err
	}
	cfg, db, err := e.configAndRead()
	if err != nil {
		return nil, "", err
	}
	name := f.tenant
	if name == "" {
		if name, err = oneTenant(cfg, ""); err != nil {
			_ = db.Close()
			return nil, "", usagef("%v (or name one: entrasync %s NAME)", err, f.Name())
		}
	}
	if err := e.knownTenant(cfg, db, name); err != nil {
		_ = db.Close()
		return nil, "", err
	}
	return db, name, nil
}

// knownTenant returns nil when name is a configured tenant or one the
// directory holds (a tenant no longer configured can still be listed), else
// a usage error listing the configured ones.
func (e *env) knownTenant(cfg *config.Config, db sync.Store, name string) error {
	if _, err := cfg.Tenant(name); err == nil {
		return nil
	}
	if _, err := db.EffectiveSettings(e.ctx, name); err == nil {
		return nil
	} else if !errors.Is(err, sync.ErrTenantNotFound) {
		return err
	}
	names := make([]string, 0, len(cfg.Tenants))
	for _, t := range cfg.Tenants {
		names = append(names, t.Name)
	}
	if len(names) == 0 {
		return usagef("unknown tenant %q: none is configured and the directory holds no tenant of that name", name)
	}
	return usagef("unknown tenant %q (configured: %s)", name, strings.Join(names, ", "))
}

// configAndRead loads the configuration and opens the directory it names
// as it is (open.Existing): a read-only command creates, migrates and
// registers nothing. The caller closes the store.
func (e *env) configAndRead() (*config.Config, store.Store, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	db, err := open.Existing(e.ctx, e.dbURL(cfg), e.logger)
	if err != nil {
		return nil, nil, err
	}
	return cfg, db, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func joinOr(s []string, empty string) string {
	if len(s) == 0 {
		return empty
	}
	return strings.Join(s, ",")
}

// newWorker builds the worker over every configured tenant (or one).
func (e *env) newWorker(cfg *config.Config, dir sync.Store, m *web.Metrics, only string) (*sync.Worker, *sync.Syncer, error) {
	syncer := sync.NewSyncer(dir, e.logger)
	var wts []sync.WorkerTenant
	for _, t := range cfg.Tenants {
		if only != "" && t.Name != only {
			continue
		}
		var observe func(string, int, time.Duration)
		if m != nil {
			observe = m.GraphObserver(t.Name)
		}
		src, err := sourceOf(cfg, t, e.logger, observe, nil)
		if err != nil {
			return nil, nil, err
		}
		sched, err := t.ParsedSchedule()
		if err != nil {
			return nil, nil, &config.FieldError{Field: "tenants." + t.Name + ".schedule", Problem: err.Error()}
		}
		every, _ := t.ParsedFullEvery() // validated with the configuration
		wts = append(wts, sync.WorkerTenant{ID: t.Name, Source: src, Schedule: sched, FullEvery: every})
	}
	var obs sync.Observer
	if m != nil {
		obs = m
	}
	wts, refresh := e.withRegistry(cfg, dir, m, only, wts) // registry.go
	raiseMemoryLimit(cfg.Worker.MaxCycles)
	w := sync.NewWorker(syncer, dir, wts, sync.WorkerConfig{Holder: holderID(), Poll: cfg.Worker.Poll, LeaseTTL: cfg.Worker.LeaseTTL,
		ShutdownGrace: cfg.Worker.ShutdownGrace, MaxCycles: cfg.Worker.MaxCycles, Observer: obs, Refresh: refresh}, e.logger)
	return w, syncer, nil
}

// holderID names this process in leases: host, pid and a random suffix.
func holderID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// cliActor names the administrator of a command-line review: "cli:" and
// the login name and host.
func (e *env) cliActor() string {
	who := e.getenv("USER")
	if who == "" {
		who = e.getenv("LOGNAME")
	}
	if who == "" {
		who = "unknown"
	}
	host, _ := os.Hostname()
	return "cli:" + who + "@" + host
}

// tenantNames returns the configured tenants' names, in order.
func tenantNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Tenants))
	for _, t := range cfg.Tenants {
		names = append(names, t.Name)
	}
	return names
}

// audit records an administrator's action taken at the command line in the
// audit trail (sync.Access), the actor "cli:user@host". A failure to record
// is a warning: the action itself is done.
func (e *env) audit(db sync.Access, a sync.AdminAction) {
	a.Actor = e.cliActor()
	if err := db.RecordAdminAction(context.WithoutCancel(e.ctx), a); err != nil {
		fmt.Fprintf(e.stderr, "entrasync: warning: the audit trail did not record %s: %v\n", a.Action, err)
	}
}

// openPlanStore opens the directory a plan reads. A plan writes nothing:
// when the configured SQLite file does not exist (a first plan, or a
// mistyped path) it plans against an empty directory in a temporary file,
// removed by the returned cleanup, and says so; the configured path is left
// as it is.
func (e *env) openPlanStore(cfg *config.Config) (store.Store, func(), error) {
	raw := e.dbURL(cfg)
	backend, target, err := store.ParseURL(raw)
	if err != nil || backend != store.BackendSQLite {
		db, err := e.openStore(cfg)
		return db, func() {}, err
	}
	if _, err := os.Stat(target); err == nil || !errors.Is(err, os.ErrNotExist) {
		db, err := e.openStore(cfg)
		return db, func() {}, err
	}
	dir, err := os.MkdirTemp("", "entrasync-plan-")
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(e.stderr, "No directory yet at %s: planning against an empty one (nothing is created there; the first sync creates it).\n", target)
	db, err := e.openStoreAt(cfg, filepath.Join(dir, "plan.db"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	return db, func() { _ = db.Close(); _ = os.RemoveAll(dir) }, nil
}
