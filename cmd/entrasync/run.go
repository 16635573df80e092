package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/entrasync/entrasync/config"
	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/store/open"
	"github.com/entrasync/entrasync/sync"
)

const usage = `entrasync — pull-based provisioning from Microsoft Entra ID

Usage:
  entrasync [--config FILE] [--database URL] <command> [flags]

Commands:
  demo                      three cycles against a built-in simulated tenant (SQLite)
  run [--listen ADDR]       the worker: schedule, admin API, /metrics, /healthz, /readyz
  sync  [--tenant T]        run a full cycle now and apply it
  plan  [--tenant T]        dry run: print the plan, change nothing
  check [--tenant T]        test connection: configuration, database, token, service principal, permissions
  provision user ID|UPN     provision one user now (--dry-run shows the steps only)
  provision group ID|NAME   provision one group now
  token rotate              print a new admin API token; older ones stop working
  bench [--scenario S]      measure full cycles on generated tenants (see BENCHMARKS.md)
  users list [--status S]   list local users (staged, invited, active, archived, purged)
  users invite USER         invite a staged user (or --all-staged); queues user.invited events
  users purge USER --yes    erase a user's personal data, keeping a tombstone
  users set USER            per-user override: --require-mobile-auth true|false|default
  groups list               list local groups and their members
  groups set GROUP          per-group overrides: --members-may-store-data, --require-mobile-auth
  runs list                 list recent runs
  runs show ID              show one run and its changes
  runs approve|reject ID    apply or drop the archives a run held (archive guard)
  tenant pause|resume NAME  stop or restart scheduled cycles (plans still work)
  tenant status [NAME]      paused, quarantined (and why), next due, running on
  tenant settings|set NAME  show or override the tenant's settings (over the configuration's)
  tenant disconnect NAME    make provisioned users and groups manual, nobody archived (--dry-run)
  tenant reconnect NAME     undo the disconnected mark
  events list               the event outbox, in order (--after ID, --limit N)
  version                   print the version

Every command takes --help (with examples) and --json. Configuration: --config or
ENTRASYNC_CONFIG (YAML); database: --database or ENTRASYNC_DATABASE_URL, a postgres:// URL or a
SQLite file (default: $XDG_DATA_HOME/entrasync/entrasync.db).

Exit codes: 0 ok, 1 failure, 2 bad usage or configuration, 3 applied with conflicts.
`

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

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

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("entrasync", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, getenv: getenv,
		color: isTerminal(stdout) && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"}
	fs.StringVar(&e.configPath, "config", getenv("ENTRASYNC_CONFIG"), "configuration file (YAML)")
	fs.StringVar(&e.databaseURL, "database", "", "database URL (overrides the configuration)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = io.WriteString(stdout, usage)
			return nil
		}
		return usagef("%v\n\n%s", err, usage)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		_, _ = io.WriteString(stdout, usage)
		return usagef("no command given")
	}
	cmd, rest := rest[0], rest[1:]
	switch cmd {
	case "help", "-h", "--help":
		if len(rest) > 0 {
			writeHelp(stdout, strings.Join(rest, " "), nil)
			return nil
		}
		_, err := io.WriteString(stdout, usage)
		return err
	case "version":
		_, err := fmt.Fprintln(stdout, "entrasync", version)
		return err
	case "demo":
		return e.demo(rest)
	case "bench":
		return e.bench(rest)
	case "bench-child":
		return e.benchChild()
	case "run":
		return e.runWorker(rest)
	case "provision":
		return e.provision(rest)
	case "token":
		return e.tokenRotate(rest)
	case "sync":
		return e.sync(rest, false)
	case "plan":
		return e.sync(rest, true)
	case "check":
		return e.check(rest)
	case "tenant":
		if len(rest) > 0 && (rest[0] == "pause" || rest[0] == "resume" || rest[0] == "status") {
			return e.tenantState(rest[0], rest[1:])
		}
		if len(rest) > 0 && (rest[0] == "settings" || rest[0] == "set" || rest[0] == "disconnect" || rest[0] == "reconnect") {
			return e.tenantAdmin(rest[0], rest[1:])
		}
		return usagef("tenant needs a subcommand: pause, resume, status, settings, set, disconnect or reconnect (see entrasync help)")
	case "users", "groups", "runs", "events":
		if len(rest) == 0 {
			return usagef("%s needs a subcommand (see entrasync help)", cmd)
		}
		switch cmd + " " + rest[0] {
		case "users list":
			return e.usersList(rest[1:])
		case "users invite":
			return e.usersInvite(rest[1:])
		case "users purge":
			return e.usersPurge(rest[1:])
		case "users set":
			return e.usersSet(rest[1:])
		case "groups list":
			return e.groupsList(rest[1:])
		case "groups set":
			return e.groupsSet(rest[1:])
		case "events list":
			return e.eventsList(rest[1:])
		case "runs list":
			return e.runsList(rest[1:])
		case "runs show":
			return e.runsShow(rest[1:])
		case "runs approve":
			return e.runsReview(sync.ReviewApproved, rest[1:])
		case "runs reject":
			return e.runsReview(sync.ReviewRejected, rest[1:])
		}
		return usagef("unknown command %q (see entrasync help)", cmd+" "+rest[0])
	}
	return usagef("unknown command %q (see entrasync help)", cmd)
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
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e.logger = newLogger(cfg.Log, e.stderr)
	return cfg, nil
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
	db, err := open.URL(e.ctx, e.dbURL(cfg), e.logger)
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

func tenantOf(t config.Tenant) sync.Tenant {
	s := sync.DefaultTenantSettings()
	s.AutoInvite = t.AutoInvite
	s.EmailSource = sync.EmailSource(t.EmailSource)
	if t.ArchiveThreshold != nil {
		s.ArchiveThreshold = *t.ArchiveThreshold
	}
	if t.ArchiveThresholdPercent != nil {
		s.ArchiveThresholdPercent = *t.ArchiveThresholdPercent
	}
	return sync.Tenant{ID: t.Name, EntraTenantID: t.TenantID, Settings: s}
}

func sourceOf(cfg *config.Config, t config.Tenant, logger *slog.Logger, observe func(string, int, time.Duration), progress func(graph.Progress)) (*graph.Source, error) {
	transport, err := transportOf(cfg.Graph.CAFile)
	if err != nil {
		return nil, err
	}
	return graph.New(graph.Config{Observe: observe, Progress: progress, Transport: transport,
		TenantID: t.TenantID, ClientID: t.ClientID, ClientSecret: t.ClientSecret.Reveal(),
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
	pem, err := os.ReadFile(caFile)
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
	if withTenant {
		f.StringVar(&f.tenant, "tenant", "", "tenant name (default: the only one configured)")
	}
	return f
}

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

func (e *env) sync(args []string, dryRun bool) error {
	name := "sync"
	if dryRun {
		name = "plan"
	}
	f := e.newFlags(name, true)
	if err := f.parse(args); err != nil {
		return err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	tenants, err := pickTenants(cfg, f.tenant)
	if err != nil {
		return err
	}
	db, err := e.openStore(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	worker, syncer, err := e.newWorker(cfg, db, nil, f.tenant)
	if err != nil {
		return err
	}
	var failed, conflicts int
	var results []*sync.Result
	for _, t := range tenants {
		prog := newProgress(e.stderr, isTerminal(e.stderr), e.logger.With(sync.LogTenant, t.Name))
		src, err := sourceOf(cfg, t, e.logger, nil, prog.update)
		if err != nil {
			return err
		}
		var res *sync.Result
		if dryRun {
			res, err = syncer.Cycle(e.ctx, t.Name, src, sync.CycleOptions{DryRun: true, Trigger: "cli"})
		} else {
			// Take the tenant's lease, as the worker does: never two cycles at once.
			wt, _ := worker.Tenant(t.Name)
			wt.Source = src
			res, err = worker.RunNowWith(e.ctx, wt, sync.CycleOptions{Trigger: "cli"})
		}
		prog.done()
		if err != nil {
			failed++
			fmt.Fprintf(e.stderr, "entrasync: tenant %s: %v\n", t.Name, err)
		}
		if res == nil {
			continue
		}
		results = append(results, res)
		if res.Plan != nil && len(res.Plan.Conflicts) > 0 {
			conflicts++
		}
		if !f.json {
			if err := printResult(e.stdout, res, e.color); err != nil {
				return err
			}
		}
	}
	if f.json {
		if err := writeJSON(e.stdout, resultsJSON(results)); err != nil {
			return err
		}
	}
	switch {
	case failed > 0:
		return fmt.Errorf("%d of %d tenant cycle(s) failed", failed, len(tenants))
	case conflicts > 0 && !dryRun:
		return errConflicts
	}
	return nil
}

type resultJSON struct {
	Run    *sync.Run  `json:"run"`
	DryRun bool       `json:"dryRun"`
	Plan   *sync.Plan `json:"plan,omitempty"`
}

func resultsJSON(rs []*sync.Result) []resultJSON {
	out := make([]resultJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, resultJSON{Run: r.Run, DryRun: r.DryRun, Plan: r.Plan})
	}
	return out
}

func printResult(w io.Writer, res *sync.Result, color bool) error {
	if res.Plan != nil {
		if err := res.Plan.RenderWith(w, sync.RenderOptions{Color: color}); err != nil {
			return err
		}
	}
	r := res.Run
	if res.DryRun {
		_, err := fmt.Fprintf(w, "Dry run: nothing applied (%d Graph requests)\n\n", r.GraphRequests)
		return err
	}
	_, err := fmt.Fprintf(w, "Run %d: %s, %d Graph requests, read %d ms, apply %d ms\n\n", r.ID, r.Outcome, r.GraphRequests, r.ReadMillis, r.ApplyMillis)
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// listing opens the configuration and store for a read-only command.
func (e *env) listing(f *commandFlags, args []string) (store.Store, string, error) {
	if err := f.parse(args); err != nil {
		return nil, "", err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, "", err
	}
	tenant := ""
	if f.Lookup("tenant") != nil {
		if tenant, err = oneTenant(cfg, f.tenant); err != nil {
			return nil, "", err
		}
	}
	db, err := e.openStore(cfg)
	if err != nil {
		return nil, "", err
	}
	return db, tenant, nil
}

func (e *env) usersList(args []string) error {
	f := e.newFlags("users list", true)
	status := f.String("status", "", "only users with this status")
	if err := f.parse(args); err != nil {
		return err
	}
	if *status != "" && !sync.Status(*status).Valid() {
		return usagef("users list: unknown status %q (staged, invited, active, archived, purged)", *status)
	}
	db, tenant, err := e.listing(f, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	users, err := sync.ListUsers(e.ctx, db, tenant, sync.Status(*status))
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, users)
	}
	return printUsers(e.stdout, users, true)
}

func (e *env) groupsList(args []string) error {
	f := e.newFlags("groups list", true)
	db, tenant, err := e.listing(f, args)
	if err != nil {
		return err
	}
	defer db.Close()
	groups, err := sync.ListGroups(e.ctx, db, tenant)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, groups)
	}
	return printGroups(e.stdout, groups, true)
}

func (e *env) runsList(args []string) error {
	f := e.newFlags("runs list", true)
	limit := f.Int("limit", 20, "how many runs")
	if err := f.parse(args); err != nil {
		return err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	db, err := e.openStore(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	runs, err := db.Runs(e.ctx, f.tenant, *limit)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, nonNil(runs))
	}
	return printRuns(e.stdout, runs)
}

func (e *env) runsShow(args []string) error {
	f := e.newFlags("runs show", false)
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return usagef("runs show: give one run id")
	}
	id, err := strconv.ParseInt(f.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return usagef("runs show: %q is not a run id", f.Arg(0))
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	db, err := e.openStore(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	run, log, err := db.Run(e.ctx, id)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, struct {
			Run     *sync.Run       `json:"run"`
			Changes []sync.LogEntry `json:"changes"`
		}{run, nonNil(log)})
	}
	return printRun(e.stdout, run, log)
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
