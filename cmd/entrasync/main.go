// Command entrasync is the pull-based provisioning worker for Microsoft Entra
// ID: it reads an enterprise application's assignments from Microsoft Graph and
// applies them to a local directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/entrasync/entrasync/config"
	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

// Exit codes scripts can rely on.
const (
	exitOK        = 0
	exitFailure   = 1 // the command failed (Graph, database, a failed cycle)
	exitUsage     = 2 // bad flags, arguments or configuration
	exitConflicts = 3 // the cycle applied, but some changes were held back as conflicts
	exitHeld      = 4 // the cycle applied, but the archive guard held changes for review
)

func main() {
	limitMemory(os.Getenv, 1) // memlimit.go; the worker raises it to worker.max_cycles
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError marks errors caused by the command line or the configuration.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }

func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

// errConflicts reports a cycle that applied with conflicts held back.
var errConflicts = errors.New("some changes were not applied because of e-mail conflicts; see the run")

func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, errHelpShown) {
		return exitOK
	}
	fmt.Fprintln(stderr, "entrasync:", err)
	var ue *usageError
	var fe *config.FieldError
	var he *heldError
	switch {
	case errors.As(err, &he):
		return exitHeld
	case errors.Is(err, errConflicts):
		return exitConflicts
	case errors.As(err, &ue), errors.As(err, &fe), sync.ErrorCode(err) == sync.EINVALID:
		return exitUsage
	}
	return exitFailure
}

const usage = `entrasync — pull-based provisioning from Microsoft Entra ID

Usage:
  entrasync [--config FILE] [--database URL] <command> [flags]

Commands:
  demo                      three cycles against a built-in simulated tenant (SQLite)
  run [--listen ADDR]       the worker: schedule, admin API, /metrics, /healthz, /readyz
  sync  [NAME]              run a full cycle now and apply it (without NAME: every tenant)
  plan  [NAME]              dry run: print the plan, change nothing
  check [NAME]              test connection: configuration, database, token, service principal, permissions
  migrate                   create the directory or apply pending migrations (sync and run do it too)
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
  tenant add NAME --tenant-id T --app-id A --credential C
                            add a tenant to the registry while workers run; prints the admin-consent URL
  tenant list               the tenants of the file and of the registry
  tenant remove NAME        disconnect a registry tenant, then delete it once nothing refers to it
  tenant pause|resume NAME  stop or restart scheduled cycles (plans still work)
  tenant status [NAME]      paused, quarantined (and why), next due, running on
  tenant settings|set NAME  show or override the tenant's settings (over the configuration's)
  tenant disconnect NAME    make provisioned users and groups manual, nobody archived (--dry-run)
  tenant reconnect NAME     undo the disconnected mark
  events list               the event outbox, in order (--after ID, --limit N)
  version                   print the version

Every command takes --help (with examples) and --json; tables and plans take --wide (cells
whole, not cut). Listings name the tenant as NAME or --tenant NAME (optional with one tenant). Configuration: --config or
ENTRASYNC_CONFIG (YAML); database: --database or ENTRASYNC_DATABASE_URL, a postgres:// URL or a
SQLite file (default: $XDG_DATA_HOME/entrasync/entrasync.db).

Exit codes: 0 ok, 1 failure, 2 bad usage or configuration, 3 applied with conflicts,
4 applied with changes held for review (entrasync runs approve|reject ID).
`

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	secrets := &secretSet{}
	e := &env{ctx: ctx, stdout: scrubWriter{stdout, secrets}, stderr: scrubWriter{stderr, secrets}, getenv: getenv, secrets: secrets,
		color:     isTerminal(stdout) && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb",
		stderrTTY: isTerminal(stderr)}
	err := e.command(args)
	if err == nil || errors.Is(err, errHelpShown) {
		return err
	}
	if msg := secrets.scrub(err.Error()); msg != err.Error() {
		return &scrubbedError{msg: msg, err: err}
	}
	return err
}

// command runs the command args name.
func (e *env) command(args []string) error {
	stdout, getenv := e.stdout, e.getenv
	fs := flag.NewFlagSet("entrasync", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&e.configPath, "config", getenv("ENTRASYNC_CONFIG"), "configuration file (YAML)")
	fs.StringVar(&e.databaseURL, "database", "", "database URL (overrides the configuration)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = io.WriteString(stdout, usage)
			return nil
		}
		return usagef("%v\n\n%s", err, usage)
	}
	// Known before the configuration loads, so that even its errors are scrubbed.
	e.secrets.add(store.URLPassword(e.databaseURL))
	e.secrets.add(store.URLPassword(getenv("ENTRASYNC_DATABASE_URL")))
	rest := fs.Args()
	if len(rest) == 0 {
		_, _ = io.WriteString(stdout, usage)
		return usagef("no command given")
	}
	cmd, rest := rest[0], rest[1:]
	switch cmd {
	case "help", "-h", "--help":
		if len(rest) > 0 {
			return e.help(strings.Join(rest, " "))
		}
		_, err := io.WriteString(stdout, usage)
		return err
	case "version":
		f := e.newFlags("version", false)
		if err := f.parse(rest); err != nil {
			return err
		}
		if f.NArg() > 0 {
			return usagef("version: unexpected argument %q", f.Arg(0))
		}
		if f.json {
			return writeJSON(stdout, map[string]string{"version": version, "go": runtime.Version()})
		}
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
	case "migrate":
		return e.migrate(rest)
	case "tenant":
		if len(rest) > 0 && (rest[0] == "pause" || rest[0] == "resume" || rest[0] == "status") {
			return e.tenantState(rest[0], rest[1:])
		}
		if len(rest) > 0 && (rest[0] == "settings" || rest[0] == "set" || rest[0] == "disconnect" || rest[0] == "reconnect") {
			return e.tenantAdmin(rest[0], rest[1:])
		}
		if len(rest) > 0 && (rest[0] == "add" || rest[0] == "remove" || rest[0] == "list") {
			return e.tenantRegistry(rest[0], rest[1:])
		}
		return usagef("tenant needs a subcommand: add, list, remove, pause, resume, status, settings, set, disconnect or reconnect (see entrasync help)")
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
