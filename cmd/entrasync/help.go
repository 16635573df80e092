package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// commandHelp is each command's help: usage line, what it does, examples.
var commandHelp = map[string]struct{ usage, about, examples string }{
	"demo": {"entrasync demo [--json] | entrasync demo --serve [--listen ADDR]",
		"Runs three cycles of the real code against a built-in simulated Entra tenant (HTTPS, the real\n" +
			"Microsoft Graph SDK and token flow) into a fresh SQLite file, or into --database when given,\n" +
			"changing the tenant between cycles so creation, archive, restore, rename and e-mail changes show.\n" +
			"With --serve it is the sandbox: the simulated tenant stays up and the worker, the admin API and the\n" +
			"console serve it on --listen; it prints the URL and sign-in tokens, and the tenant is changed from\n" +
			"the console's Sandbox page or with `entrasync demo change`.",
		"  entrasync demo\n  entrasync --database postgres://localhost/entrasync demo --json\n  entrasync demo --serve"},
	"demo change": {"entrasync demo change [--url URL] [--token T] CHANGE [ARG]",
		"Changes the simulated tenant of a running sandbox (entrasync demo --serve) through its API, with an\n" +
			"admin token (--token or ENTRASYNC_TOKEN). CHANGE is assign, unassign (a UPN or group name), rename\n" +
			"(OLD=NEW), disable, enable (a UPN), hire (a given name), mass-unassign, fail-graph or heal.",
		"  entrasync demo change unassign alice@contoso.test\n  entrasync demo change rename 'Sales=Sales EMEA'\n  entrasync demo change mass-unassign"},
	"run": {"entrasync run [--listen ADDR]",
		"The worker: syncs every configured tenant on its schedule (default every 45 minutes), serves the\n" +
			"admin API, /metrics, /healthz and /readyz, and stops cleanly on SIGINT or SIGTERM. Several\n" +
			"processes may share one PostgreSQL; SQLite allows one process.",
		"  entrasync --config entrasync.yaml run\n  entrasync --config entrasync.yaml run --listen 0.0.0.0:8080"},
	"sync": {"entrasync sync [NAME] [--tenant NAME] [--full] [--json]",
		"Runs a cycle now for the tenant NAME, or for every configured tenant one after the other (it\n" +
			"says so first), and applies it. The cycle is incremental (Graph's delta queries) when the tenant's\n" +
			"delta state allows, full otherwise; --full reads Graph in full. Exit 3 when changes were held back as e-mail conflicts, 4 when the\n" +
			"archive guard held changes for review (the message names the run: entrasync runs approve ID).",
		"  entrasync --config entrasync.yaml sync contoso\n  entrasync --config entrasync.yaml sync contoso --full\n  entrasync --config entrasync.yaml sync --json"},
	"plan": {"entrasync plan [NAME] [--tenant NAME] [--full] [--json]",
		"Dry run: reads Graph, prints the plan (+ create, ~ update, ↓ archive, ↑ restore), changes nothing\n" +
			"in the directory. Without NAME, every configured tenant (it says so first).",
		"  entrasync --config entrasync.yaml plan contoso\n  entrasync --config entrasync.yaml plan contoso --json | jq '.[0].plan.changes'"},
	"check": {"entrasync check [NAME] [--tenant NAME] [--json]",
		"Tests the connection, one line per check with what was found and, for a failure, the fix: the\n" +
			"configuration, the database (reachable, migrated), and per tenant the token, the service principal\n" +
			"and the Graph permissions Application.Read.All, GroupMember.Read.All and User.Read.All (each probed\n" +
			"with one read), then the optional features that make cycles cheaper: groups/delta,\n" +
			"directoryObjects/delta (assignment changes), users/delta and getByIds (Directory.Read.All),\n" +
			"each \"ok\" or \"optional\" with what would help, never a failure. Changes nothing in Entra or\n" +
			"in the directory (pending migrations are reported, not applied). Exit 0 when every check\n" +
			"passes, 1 when one fails, 2 for an invalid configuration.",
		"  entrasync --config entrasync.yaml check\n  entrasync --config entrasync.yaml check --tenant contoso --json | jq '.checks[] | select(.status == \"failed\")'"},
	"provision user": {"entrasync provision user ID|UPN [--tenant NAME] [--dry-run] [--json]",
		"Provisions one user now: reads only that user and what decides its scope, applies only its\n" +
			"changes, and reports the steps (connection, import, scope, match, action).",
		"  entrasync provision user alice@contoso.com\n  entrasync provision user 6f1c2e0a-8d1b-4c55-9a0e-3b7d5f1e2a90 --dry-run"},
	"provision group": {"entrasync provision group ID|NAME [--tenant NAME] [--dry-run] [--json]",
		"Provisions one group now: its assignment, type and direct members, and the other paths of\n" +
			"members who join or leave it.",
		"  entrasync provision group Engineering\n  entrasync provision group 5a1e5000-0000-4000-8000-0000000000e2 --dry-run --json"},
	"users list": {"entrasync users list [NAME] [--tenant NAME] [--status S] [--wide] [--json]",
		"Lists local users, optionally with one status: staged, invited, active, archived, purged.",
		"  entrasync users list --status archived\n  entrasync users list --tenant contoso --json"},
	"groups list": {"entrasync groups list [NAME] [--tenant NAME] [--wide] [--json]",
		"Lists local groups with their member counts and state.",
		"  entrasync groups list"},
	"runs list": {"entrasync runs list [NAME] [--tenant NAME] [--limit N] [--wide] [--json]",
		"Lists recent runs, newest first, with their changes, Graph requests and, for a held run, whether\n" +
			"it awaits review or was approved or rejected, and by whom.",
		"  entrasync runs list --limit 5"},
	"runs show": {"entrasync runs show ID [--wide] [--json]",
		"Shows one run and every change it made or held back (the provisioning log), and its review.",
		"  entrasync runs show 42"},
	"token rotate": {"entrasync token rotate [--scope admin|read] [--label NAME] [--json]",
		"Prints a new API token once and stores only its hash. A read token views (API and console), an admin\n" +
			"token also acts. The earlier token of the same label (default: the scope) stops working.",
		"  T=$(entrasync --config entrasync.yaml token rotate)\n" +
			"  entrasync token rotate --scope read --label helpdesk"},
	"bench": {"entrasync bench [--scenario small|large|throttled|faults|all] [--latency 30ms] [--cpuprofile DIR] [--json]",
		"Generates tenants, serves them from the simulated Graph with latency per round trip, and runs full\n" +
			"cycles into PostgreSQL (--database, default the local server; a schema per scenario, dropped\n" +
			"after), printing round trips next to their lower bound, read/plan/apply time, peak RSS and rows.\n" +
			"--cpuprofile writes a CPU profile of each cycle, the cycle's own and the simulated Graph's.",
		"  entrasync bench --scenario small\n  entrasync bench --json > bench.json\n" +
			"  entrasync bench --scenario large --cpuprofile prof && go tool pprof -top prof/large-first-cycle.pprof"},
	"runs approve": {"entrasync runs approve ID [--json]",
		"Applies the archives a held run kept back (archive guard): runs a fresh full cycle with the guard\n" +
			"lifted, so only archives still valid against Graph now are applied, then marks the run approved.",
		"  entrasync runs list\n  entrasync runs approve 42"},
	"runs reject": {"entrasync runs reject ID [--json]",
		"Drops the archives a held run kept back. A later cycle that would archive as many is held again:\n" +
			"fix the cause in Entra (reassign the users) to end it.",
		"  entrasync runs reject 42"},
	"tenant pause": {"entrasync tenant pause NAME [--json]",
		"Stops the tenant's scheduled cycles; plans (dry runs) still work; applying on demand is refused.",
		"  entrasync tenant pause contoso"},
	"tenant resume": {"entrasync tenant resume NAME [--json]", "Restarts the tenant's scheduled cycles.", "  entrasync tenant resume contoso"},
	"tenant status": {"entrasync tenant status [NAME] [--json]",
		"Shows each tenant's state: active, paused, or quarantined after failed cycles (and why), when its\n" +
			"next cycle is due and which process runs it now.",
		"  entrasync tenant status\n  entrasync tenant status contoso --json"},
	"users invite": {"entrasync users invite USER... [--tenant NAME] [--json] | entrasync users invite --all-staged",
		"Invites staged users: their status becomes invited and a user.invited event ({\"email\": …}) is queued\n" +
			"for each, in one transaction. USER is a local id, an e-mail (any case) or an Entra object id. A user\n" +
			"that is not staged is an error naming it (exit 2) and nobody is invited; --all-staged invites every\n" +
			"staged user and leaves the others alone.",
		"  entrasync users invite alice@contoso.com\n  entrasync users invite 12 a11ce000-0000-4000-8000-000000000001 --json\n" +
			"  entrasync users invite --all-staged --tenant contoso"},
	"users purge": {"entrasync users purge USER [--tenant NAME] [--yes] [--json]",
		"Erases a user's personal data (L5): e-mail, UPN, names; removes its memberships and paths; keeps a\n" +
			"tombstone with the local and Entra ids, and queues a user.purged event. Without --yes it prints what\n" +
			"would be erased and exits 2. A purged user who is still, or again, assigned in Entra is created anew\n" +
			"by the next cycle.",
		"  entrasync users purge dave@contoso.com           # what would be erased\n  entrasync users purge dave@contoso.com --yes"},
	"users set": {"entrasync users set USER --require-mobile-auth true|false|default [--tenant NAME] [--json]",
		"Sets a user's own setting, which wins over the tenant's default; default removes the override. The\n" +
			"sync never changes it. users list shows the effective value and where it comes from.",
		"  entrasync users set alice@contoso.com --require-mobile-auth false\n  entrasync users set 12 --require-mobile-auth default"},
	"groups set": {"entrasync groups set GROUP [--members-may-store-data true|false|default] [--require-mobile-auth true|false|default] [--tenant NAME] [--json]",
		"Sets a group's own settings, which win over the tenant's defaults; default removes an override, a\n" +
			"setting not given is left as it is. GROUP is a local id, an Entra object id or the display name.\n" +
			"The sync never changes them; an archived group keeps them.",
		"  entrasync groups set Engineering --members-may-store-data false\n" +
			"  entrasync groups set e4900000-0000-4000-8000-0000000000e1 --require-mobile-auth true --json"},
	"tenant settings": {"entrasync tenant settings NAME [--json]",
		"Shows each tenant setting as the configuration sets it, the administrators' override and the\n" +
			"effective value, and whether the tenant is disconnected.",
		"  entrasync tenant settings contoso"},
	"tenant set": {"entrasync tenant set NAME [--auto-invite …] [--email-source …] [--require-mobile-auth …] … [--json]",
		"Overrides tenant settings; an override wins over the configuration file's value (which stays as\n" +
			"written) until set to default. Flags not given are left as they are. For a tenant of the registry,\n" +
			"--tenant-id, --app-id, --service-principal-id, --credential, --client-id and --schedule change its\n" +
			"entry; every worker picks the change up within one poll.",
		"  entrasync tenant set contoso --auto-invite true --email-source upn\n" +
			"  entrasync tenant set contoso --archive-threshold 50 --archive-threshold-percent default\n" +
			"  entrasync tenant set acme --credential vendor-cert"},
	"tenant add": {"entrasync tenant add NAME --tenant-id T (--app-id A | --service-principal-id S) --credential C [--client-id X] [--schedule S] [--json]",
		"Adds a tenant to the registry in the database, while workers run: every worker process serves it\n" +
			"from its next poll. The entry names a credential of the configuration's credentials: and holds no\n" +
			"secret. Prints the admin-consent URL to send the customer's administrator.",
		"  entrasync tenant add acme --tenant-id acme.onmicrosoft.com --app-id 33333333-3333-4333-8333-333333333333 --credential vendor-cert\n" +
			"  entrasync tenant add globex --tenant-id 7d1c… --service-principal-id 5e00… --credential vendor-cert --json | jq -r .consentUrl"},
	"tenant list": {"entrasync tenant list [--json]",
		"Lists the tenants of the configuration file and of the registry; the file wins a name both use.",
		"  entrasync tenant list\n  entrasync tenant list --json | jq -r '.[] | select(.source == \"registry\") | .name'"},
	"tenant remove": {"entrasync tenant remove NAME [--json]",
		"Removes a registry tenant: disconnects it (its provisioned users and groups become manual, nobody\n" +
			"archived), deletes its entry (workers stop within one poll) and its directory rows once nothing\n" +
			"refers to them.",
		"  entrasync tenant remove acme"},
	"tenant disconnect": {"entrasync tenant disconnect NAME [--dry-run] [--json]",
		"Detaches the tenant from Entra in one transaction: every provisioned user and group becomes manual,\n" +
			"keeping its Entra object id, status, paths and memberships (nobody is archived, nothing is lost),\n" +
			"and the tenant is marked disconnected. --dry-run reports the counts and rows and changes nothing.",
		"  entrasync tenant disconnect contoso --dry-run\n  entrasync tenant disconnect contoso --json | jq '.usersByStatus'"},
	"tenant reconnect": {"entrasync tenant reconnect NAME [--json]",
		"Clears the tenant's disconnected mark.",
		"  entrasync tenant reconnect contoso"},
	"events list": {"entrasync events list [NAME] [--tenant NAME] [--after ID] [--limit N] [--json]",
		"Lists the event outbox in order (user.created, user.invited, user.purged, membership.added …).\n" +
			"Page with --after the last id seen.",
		"  entrasync events list --limit 20\n  entrasync events list --after 1200 --json"},
	"migrate": {"entrasync migrate [--json]",
		"Creates the directory (a SQLite file and its directory, or the tables in PostgreSQL) or applies its\n" +
			"pending migrations, each in a transaction. sync, run and demo do it too; read-only commands (users,\n" +
			"groups, runs and events list, runs show, tenant status and settings, check) never do: they refuse\n" +
			"a missing directory or an old schema.",
		"  entrasync --config entrasync.yaml migrate"},
	"version": {"entrasync version [--json]", "Prints the version.", "  entrasync version\n  entrasync version --json"},
}

// help is `entrasync help COMMAND`: the command's help, or a usage error
// for a command that does not exist.
func (e *env) help(name string) error {
	if _, ok := commandHelp[name]; !ok {
		return usagef("help: no command %q (see entrasync help)", name)
	}
	writeHelp(e.stdout, name, nil)
	return nil
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
