package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// commandHelp is each command's help: usage line, what it does, examples.
var commandHelp = map[string]struct{ usage, about, examples string }{
	"demo": {"entrasync demo [--json]",
		"Runs three cycles of the real code against a built-in simulated Entra tenant (HTTPS, the real\n" +
			"Microsoft Graph SDK and token flow) into a fresh SQLite file, or into --database when given,\n" +
			"changing the tenant between cycles so creation, archive, restore, rename and e-mail changes show.",
		"  entrasync demo\n  entrasync --database postgres://localhost/entrasync demo --json"},
	"run": {"entrasync run [--listen ADDR]",
		"The worker: syncs every configured tenant on its schedule (default every 45 minutes), serves the\n" +
			"admin API, /metrics, /healthz and /readyz, and stops cleanly on SIGINT or SIGTERM. Several\n" +
			"processes may share one PostgreSQL; SQLite allows one process.",
		"  entrasync --config entrasync.yaml run\n  entrasync --config entrasync.yaml run --listen 0.0.0.0:8080"},
	"sync": {"entrasync sync [--tenant NAME] [--json]",
		"Runs a full cycle now for one tenant or all, and applies it. Exit 3 when changes were held back\n" +
			"as e-mail conflicts.",
		"  entrasync --config entrasync.yaml sync\n  entrasync --config entrasync.yaml sync --tenant contoso --json"},
	"plan": {"entrasync plan [--tenant NAME] [--json]",
		"Dry run: reads Graph, prints the plan (+ create, ~ update, ↓ archive, ↑ restore), changes nothing.",
		"  entrasync --config entrasync.yaml plan\n  entrasync --config entrasync.yaml plan --tenant contoso --json | jq '.[0].plan.changes'"},
	"provision user": {"entrasync provision user ID|UPN [--tenant NAME] [--dry-run] [--json]",
		"Provisions one user now: reads only that user and what decides its scope, applies only its\n" +
			"changes, and reports the steps (connection, import, scope, match, action).",
		"  entrasync provision user alice@contoso.com\n  entrasync provision user 6f1c2e0a-8d1b-4c55-9a0e-3b7d5f1e2a90 --dry-run"},
	"provision group": {"entrasync provision group ID|NAME [--tenant NAME] [--dry-run] [--json]",
		"Provisions one group now: its assignment, type and direct members, and the other paths of\n" +
			"members who join or leave it.",
		"  entrasync provision group Engineering\n  entrasync provision group 5a1e5000-0000-4000-8000-0000000000e2 --dry-run --json"},
	"users list": {"entrasync users list [--tenant NAME] [--status S] [--json]",
		"Lists local users, optionally with one status: staged, invited, active, archived, purged.",
		"  entrasync users list --status archived\n  entrasync users list --tenant contoso --json"},
	"groups list": {"entrasync groups list [--tenant NAME] [--json]",
		"Lists local groups with their member counts and state.",
		"  entrasync groups list"},
	"runs list": {"entrasync runs list [--tenant NAME] [--limit N] [--json]",
		"Lists recent runs, newest first, with their changes and Graph requests.",
		"  entrasync runs list --limit 5"},
	"runs show": {"entrasync runs show ID [--json]",
		"Shows one run and every change it made or held back (the provisioning log).",
		"  entrasync runs show 42"},
	"token rotate": {"entrasync token rotate [--json]",
		"Prints a new admin API token once and stores only its hash; every earlier token stops working.",
		"  T=$(entrasync --config entrasync.yaml token rotate)"},
	"bench": {"entrasync bench [--scenario small|large|throttled|faults|all] [--latency 30ms] [--json]",
		"Generates tenants, serves them from the simulated Graph with latency per round trip, and runs full\n" +
			"cycles into PostgreSQL (--database, default the local server; a schema per scenario, dropped\n" +
			"after), printing round trips next to their lower bound, read/plan/apply time, peak RSS and rows.",
		"  entrasync bench --scenario small\n  entrasync bench --json > bench.json"},
	"version": {"entrasync version", "Prints the version.", "  entrasync version"},
}

// writeHelp prints a command's help with its flags.
func writeHelp(w io.Writer, name string, fs *flag.FlagSet) {
	h, ok := commandHelp[name]
	if !ok {
		_, _ = io.WriteString(w, usage)
		return
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", h.usage, h.about)
	if fs != nil {
		var flags strings.Builder
		fs.SetOutput(&flags)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if flags.Len() > 0 {
			fmt.Fprintf(w, "\nFlags:\n%s", flags.String())
		}
	}
	fmt.Fprintf(w, "\nExamples:\n%s\n", h.examples)
}
