package main

// C10 (crash safety), tested the hard way: the real binary, a large
// simulated tenant, a PostgreSQL schema per kill sequence, and SIGKILL at
// points spread over the start-up, the read, the transaction's state load,
// each bulk write, the commit and after it — found by watching what the
// child's database connection is doing (pg_stat_activity). After each kill
// the directory must be exactly the state before the cycle or the state an
// uninterrupted cycle from the same start produces, never in between; the
// next `sync` must converge to that state and a further `plan` must be
// empty.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/entrasync/entrasync/config"
	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/store/storetest"
)

// crashTables are the directory's tables, compared after each kill and
// each recovery.
var crashTables = []string{"users", "user_paths", "groups", "memberships", "provisioning_log", "events", "runs"}

func TestC10_CrashSafety(t *testing.T) {
	rig := mustCrashRig(t)

	// The references: an uninterrupted first cycle from an empty directory,
	// then an uninterrupted second cycle after the tenant changed.
	ref := rig.freshSchema(t)
	empty := rig.dump(t, ref)
	first := rig.runToEnd(t, rig.cfgA, ref)
	afterFirst := rig.dump(t, ref)
	second := rig.runToEnd(t, rig.cfgB, ref)
	afterSecond := rig.dump(t, ref)
	t.Logf("uninterrupted first cycle: %s; changes %v", first, first.counts)
	t.Logf("uninterrupted second cycle: %s; changes %v", second, second.counts)
	if first.counts["user.create"] < 10000 {
		t.Fatalf("the first cycle created %d users; the tenant is too small to test", first.counts["user.create"])
	}
	for _, k := range []string{"user.create", "user.update", "user.archive", "group.create", "group.archive", "membership.add", "membership.remove"} {
		if second.counts[k] == 0 {
			t.Fatalf("the second cycle has no %s: %v", k, second.counts)
		}
	}

	// Each schema takes a kill in its first cycle and recovers, then a kill
	// in its second cycle (from a non-empty directory) and recovers again.
	read := func(c cycleTiming) killTrigger {
		return killTrigger{name: "read", after: c.cycleStart + (c.readEnd-c.cycleStart)/2}
	}
	pairs := [][2]killTrigger{
		{read(first), stateLoad},
		{stateLoad, read(second)},
		{usersWrite, membershipsWrite},
		{membershipsWrite, usersWrite},
		{logWrite, eventsWrite},
		{eventsWrite, logWrite},
		{commit, commit},
	}
	cycles := [2]struct {
		name          string
		cfg           string
		before, after digest
	}{
		{"first cycle", rig.cfgA, empty, afterFirst},
		{"second cycle", rig.cfgB, afterFirst, afterSecond},
	}
	verdicts := map[string]int{}
	kills := 0
	var db string
	for _, pair := range pairs {
		db = rig.freshSchema(t)
		for i, c := range cycles {
			trig := pair[i]
			k := rig.kill(t, c.cfg, db, trig)
			state := rig.dump(t, db)
			verdict := ""
			switch {
			case state.equal(c.before):
				verdict = "before"
			case state.equal(c.after):
				verdict = "after"
			default:
				verdict = "BETWEEN"
				t.Errorf("%s killed %s: the directory is neither the state before the cycle nor after it:\n%s",
					c.name, k, state.diff(c.before, c.after))
			}
			if k.killed {
				kills++
				verdicts[verdict]++
			}
			t.Logf("%-12s %-18s %s → %s", c.name, trig.name, k, verdict)

			// The dead process's lease blocks the tenant for lease_ttl:
			// expire it, as time would; then the next sync converges and a
			// further plan is empty.
			rig.expireLease(t, db)
			rig.runToEnd(t, c.cfg, db)
			if got := rig.dump(t, db); !got.equal(c.after) {
				t.Fatalf("%s killed %s: the next sync did not converge to the state after the cycle:\n%s",
					c.name, k, got.diff(c.before, c.after))
			}
			if n := rig.planChanges(t, c.cfg, db); n != 0 {
				t.Fatalf("%s killed %s: after the recovery, plan still has %d change(s)", c.name, k, n)
			}
		}
	}
	t.Logf("%d kills: %v; time spent: %v", kills, verdicts, rig.spent)

	// The comparison sees a single changed row: one event gone, one user
	// renamed.
	for _, q := range []string{`DELETE FROM events WHERE id = (SELECT max(id) FROM events)`,
		`UPDATE users SET display_name = display_name || '.' WHERE id = (SELECT min(id) FROM users)`} {
		sqlDB, _ := mustSQL(t, db)
		if _, err := sqlDB.Exec(q); err != nil {
			t.Fatal(err)
		}
		sqlDB.Close()
		if rig.dump(t, db).equal(afterSecond) {
			t.Fatalf("the dump does not see %q", q)
		}
	}
	if kills < 10 {
		t.Errorf("only %d of %d runs were killed before they ended; the kill points need the tenant to be bigger", kills, 2*len(pairs))
	}
}

// crashRig is the binary, the two tenants (before and after the change)
// and their config files.
type crashRig struct {
	bin              string
	cfgA, cfgB       string
	env              []string // the environment of every child, database excepted
	tenantA, tenantB *graphtest.Server
	base             config.Tenant
	spent            map[string]time.Duration
}

// timed adds the time until the returned func is called to spent[what].
func (r *crashRig) timed(what string) func() {
	start := time.Now()
	return func() { r.spent[what] += time.Since(start).Round(time.Millisecond) }
}

func mustCrashRig(t *testing.T) *crashRig {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "entrasync")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	start := time.Now()
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	build := time.Since(start).Round(time.Millisecond)

	tn := graphtest.Generate(graphtest.GenSpec{Seed: 10, Users: 14000, DirectlyAssigned: 4000, Groups: 30,
		MaxGroupSize: 4500, NestedGroups: 4, M365Groups: 3, DisabledPercent: 2, ServicePrincipals: 3})
	a := graphtest.NewServer(tn)
	t.Cleanup(a.Close)
	b := graphtest.NewServer(tn)
	t.Cleanup(b.Close)
	changeTenant(t, b, tn)

	cfgA, env := writeWorkerConfig(t, a, "")
	cfgB, _ := writeWorkerConfig(t, b, "")
	rig := &crashRig{bin: bin, cfgA: cfgA, cfgB: cfgB, tenantA: a, tenantB: b, spent: map[string]time.Duration{"build": build}}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ENTRASYNC_") {
			rig.env = append(rig.env, kv)
		}
	}
	rig.env = append(rig.env, "ENTRASYNC_DEMO_CLIENT_SECRET="+env["ENTRASYNC_DEMO_CLIENT_SECRET"], "NO_COLOR=1")
	cfg, err := config.Load(cfgA, func(k string) string { return env[k] })
	if err != nil || len(cfg.Tenants) != 1 {
		t.Fatalf("config: %v", err)
	}
	rig.base = cfg.Tenants[0]
	return rig
}

// changeTenant changes the served tenant with graphtest's mutations so that
// the next cycle creates, updates and archives users, creates and archives
// groups, and adds and removes memberships.
func changeTenant(t *testing.T, s *graphtest.Server, tn *graphtest.Tenant) {
	t.Helper()
	assigned := map[string]bool{}
	for _, a := range tn.Assignments {
		assigned[a.PrincipalID] = true
	}
	var secGroups []graphtest.Group // assigned, supported
	inGroup := map[string]bool{}
	for _, g := range tn.Groups {
		if assigned[g.ID] && g.SecurityEnabled && !slices.Contains(g.GroupTypes, "Unified") {
			secGroups = append(secGroups, g)
			for _, m := range g.Members {
				inGroup[m] = true
			}
		}
	}
	sort.Slice(secGroups, func(i, j int) bool { return len(secGroups[i].Members) < len(secGroups[j].Members) })
	var directOnly, grouped, outside []string // enabled users
	for _, u := range tn.Users {
		switch {
		case !u.AccountEnabled:
		case assigned[u.ID] && !inGroup[u.ID]:
			directOnly = append(directOnly, u.ID)
		case inGroup[u.ID] && !assigned[u.ID]:
			grouped = append(grouped, u.ID)
		case !assigned[u.ID] && !inGroup[u.ID]:
			outside = append(outside, u.ID)
		}
	}
	if len(directOnly) < 300 || len(grouped) < 600 || len(outside) < 300 || len(secGroups) < 5 {
		t.Fatalf("generated tenant: %d direct-only, %d grouped, %d unassigned users, %d groups", len(directOnly), len(grouped), len(outside), len(secGroups))
	}
	// Archives: unassigned, disabled, deleted.
	for _, id := range directOnly[:100] {
		s.Unassign(id)
	}
	disable := map[string]bool{}
	for _, id := range directOnly[100:150] {
		disable[id] = true
	}
	for _, id := range directOnly[150:180] {
		s.DeleteUser(id)
	}
	// Updates: new e-mails and names (unique, so no conflicts).
	mail := map[string]string{}
	for i, id := range grouped[:300] {
		mail[id] = fmt.Sprintf("renamed.%d@contoso.example", i)
	}
	s.Update(func(t *graphtest.Tenant) {
		for i := range t.Users {
			u := &t.Users[i]
			if disable[u.ID] {
				u.AccountEnabled = false
			}
			if m, ok := mail[u.ID]; ok {
				u.Mail, u.DisplayName = m, u.DisplayName+" (renamed)"
			}
		}
		for i := range t.Groups {
			if t.Groups[i].ID == secGroups[len(secGroups)-1].ID {
				t.Groups[i].DisplayName += " (renamed)"
			}
		}
	})
	// Creates: new users assigned directly, unassigned users joining a group,
	// and a new assigned group.
	for i := range 200 {
		id := fmt.Sprintf("c0ffee00-0000-4000-8000-%012d", i)
		s.SetUser(graphtest.User{ID: id, UserPrincipalName: fmt.Sprintf("new.%d@contoso.example", i),
			Mail: fmt.Sprintf("new.%d@contoso.example", i), DisplayName: fmt.Sprintf("New %d", i), GivenName: "New",
			Surname: fmt.Sprint(i), AccountEnabled: true})
		s.Assign(id)
	}
	for _, id := range outside[:150] {
		s.AddMember(secGroups[2].ID, id)
	}
	newGroup := graphtest.Group{ID: "c0ffee00-0000-4000-8000-0000000a0001", DisplayName: "Crash Test Dummies",
		SecurityEnabled: true, Members: slices.Clone(grouped[300:400])}
	s.SetGroup(newGroup)
	s.Assign(newGroup.ID)
	// Memberships: members leave groups (some keep another path), and the
	// smallest assigned group is unassigned (archived).
	for _, g := range secGroups[3:5] {
		for _, m := range g.Members[:min(100, len(g.Members)/2)] {
			s.RemoveMember(g.ID, m)
		}
	}
	s.Unassign(secGroups[0].ID)
}

// cycleTiming is what an uninterrupted run showed: when, after the process
// started, its cycle began, its read ended, its apply of users, groups and
// memberships ended, and the process exited.
type cycleTiming struct {
	cycleStart, readEnd, applyEnd, exit time.Duration
	counts                              map[string]int
}

func (c cycleTiming) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("start-up until %v, read until %v, plan and apply of users, groups and memberships until %v, "+
		"run record, log, events, commit and exit at %v", r(c.cycleStart), r(c.readEnd), r(c.applyEnd), r(c.exit))
}

// activity is one of the child's database connections, from
// pg_stat_activity.
type activity struct {
	query, state string
	inTx         bool
}

// killTrigger says when to kill: after a delay, when one of the child's
// connections is in its cycle's transaction running a matching statement,
// or once the cycle's run record is visible (committed).
type killTrigger struct {
	name      string
	after     time.Duration
	statement func(q string) bool
	committed bool
}

var (
	stateLoad = killTrigger{name: "state load", statement: func(q string) bool {
		return strings.Contains(q, "FOR UPDATE") || strings.Contains(q, "FROM users WHERE tenant_id")
	}}
	usersWrite = killTrigger{name: "users write", statement: func(q string) bool {
		return strings.HasPrefix(q, "INSERT INTO users") || strings.HasPrefix(q, "UPDATE users")
	}}
	membershipsWrite = killTrigger{name: "memberships write", statement: func(q string) bool {
		return strings.Contains(q, "memberships") && !strings.HasPrefix(q, "SELECT")
	}}
	runRecord   = killTrigger{name: "run record", statement: func(q string) bool { return strings.HasPrefix(q, "INSERT INTO runs") }}
	logWrite    = killTrigger{name: "log write", statement: func(q string) bool { return strings.Contains(q, "provisioning_log") }}
	eventsWrite = killTrigger{name: "events write", statement: func(q string) bool {
		return strings.HasPrefix(q, `COPY "events"`) || strings.HasPrefix(q, "INSERT INTO events")
	}}
	// commit fires while COMMIT runs or once the run record is visible:
	// the process dies not knowing, or just after learning, that its cycle
	// committed.
	commit = killTrigger{name: "commit", committed: true, statement: func(q string) bool { return q == "COMMIT" }}
)

// killResult is what happened to one killed run.
type killResult struct {
	killed  bool
	at      time.Duration
	doing   string // what the child's connections were doing at the kill
	exitErr error
}

func (k killResult) String() string {
	if !k.killed {
		return fmt.Sprintf("not killed: exited by itself after %v (%v)", k.at.Round(time.Millisecond), k.exitErr)
	}
	return fmt.Sprintf("SIGKILL at %4d ms, %s", k.at.Milliseconds(), k.doing)
}

func (r *crashRig) command(cfg, db string, args ...string) *exec.Cmd {
	cmd := exec.Command(r.bin, append([]string{"--config", cfg}, args...)...)
	cmd.Env = append(slices.Clone(r.env), "ENTRASYNC_DATABASE_URL="+db)
	return cmd
}

// runToEnd runs `sync` to its end and returns its timing, from the run
// record it wrote.
func (r *crashRig) runToEnd(t *testing.T, cfg, db string) cycleTiming {
	t.Helper()
	defer r.timed("uninterrupted syncs")()
	var stdout, stderr bytes.Buffer
	cmd := r.command(cfg, db, "sync", "--json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	exit := time.Since(start)
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == exitConflicts) {
		t.Fatalf("sync: %v\n%s", err, stderr.String())
	}
	var res []struct {
		Run struct {
			StartedAt  time.Time      `json:"startedAt"`
			FinishedAt time.Time      `json:"finishedAt"`
			ReadMillis int64          `json:"readMs"`
			Counts     map[string]int `json:"counts"`
		} `json:"run"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || len(res) != 1 {
		t.Fatalf("sync --json: %v\n%s", err, stdout.String())
	}
	run := res[0].Run
	c := cycleTiming{cycleStart: run.StartedAt.Sub(start), exit: exit, counts: run.Counts}
	c.readEnd = c.cycleStart + time.Duration(run.ReadMillis)*time.Millisecond
	c.applyEnd = run.FinishedAt.Sub(start)
	return c
}

// kill starts `sync` and sends it SIGKILL when trig fires, watching the
// child's database connections (they carry an application_name of their
// own) and the schema's runs.
func (r *crashRig) kill(t *testing.T, cfg, db string, trig killTrigger) killResult {
	t.Helper()
	defer r.timed("killed syncs")()
	watch, _ := mustSQL(t, db)
	defer watch.Close()
	watch.SetMaxOpenConns(1)
	var runs int
	if err := watch.QueryRow(`SELECT count(*) FROM runs`).Scan(&runs); err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf("c10-%d", time.Now().UnixNano())
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	activities := func() []activity {
		rows, err := watch.Query(`SELECT coalesce(query, ''), coalesce(state, ''), xact_start IS NOT NULL
			FROM pg_stat_activity WHERE application_name = $1`, app)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []activity
		for rows.Next() {
			var a activity
			if err := rows.Scan(&a.query, &a.state, &a.inTx); err != nil {
				t.Fatal(err)
			}
			a.query = strings.Join(strings.Fields(a.query), " ")
			out = append(out, a)
		}
		return out
	}
	describe := func(acts []activity) string {
		var parts []string
		for _, a := range acts {
			if a.state == "idle" && !a.inTx {
				continue
			}
			d := a.state
			if a.inTx {
				d += " in the cycle's transaction"
			}
			parts = append(parts, fmt.Sprintf("%s: %.60s", d, a.query))
		}
		if len(parts) == 0 {
			return "no statement running"
		}
		return strings.Join(parts, "; ")
	}

	cmd := r.command(cfg, u.String(), "sync", "--json")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case err := <-done:
			return killResult{at: time.Since(start), exitErr: err}
		default:
		}
		fire := false
		var acts []activity
		if trig.statement != nil {
			acts = activities()
			for _, a := range acts {
				fire = fire || (a.inTx && a.state != "idle" && trig.statement(a.query))
			}
		}
		if trig.committed && !fire {
			n := 0
			if err := watch.QueryRow(`SELECT count(*) FROM runs`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			fire = n > runs
		}
		if trig.statement == nil && !trig.committed {
			fire = time.Since(start) >= trig.after
		}
		if fire {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			at := time.Since(start)
			if acts == nil || trig.committed {
				acts = activities()
			}
			res := killResult{killed: true, at: at, doing: describe(acts)}
			if err := <-done; err == nil {
				res = killResult{at: at, exitErr: err} // it had exited meanwhile
			}
			// The server ends a dead client's backend when it next talks to
			// it: a statement in flight runs to its end first (a COMMIT
			// commits). Wait for that, so that the dump sees a settled
			// directory.
			for deadline := time.Now().Add(time.Minute); len(activities()) > 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the killed process's database connections are still there after a minute: %s", describe(activities()))
				}
			}
			return res
		}
		if trig.statement == nil && !trig.committed {
			time.Sleep(time.Millisecond)
		}
	}
}

// planChanges runs `plan --json` and returns the number of changes.
func (r *crashRig) planChanges(t *testing.T, cfg, db string) int {
	t.Helper()
	defer r.timed("plans")()
	var stdout, stderr bytes.Buffer
	cmd := r.command(cfg, db, "plan", "--json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr.String())
	}
	var res []struct {
		Plan struct {
			Changes []json.RawMessage `json:"changes"`
			Held    []json.RawMessage `json:"held"`
		} `json:"plan"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || len(res) != 1 {
		t.Fatalf("plan --json: %v\n%s", err, stdout.String())
	}
	return len(res[0].Plan.Changes) + len(res[0].Plan.Held)
}

// freshSchema returns a new schema, migrated, with the tenant registered:
// the empty directory a first cycle starts from.
func (r *crashRig) freshSchema(t *testing.T) string {
	t.Helper()
	defer r.timed("fresh schemas")()
	url := storetest.MustSchemaURL(t)
	db := mustPostgres(t, url)
	defer db.Close()
	if err := db.RegisterTenant(context.Background(), tenantOf(r.base)); err != nil {
		t.Fatal(err)
	}
	return url
}

// expireLease ends the lease a killed process left, as lease_ttl would.
func (r *crashRig) expireLease(t *testing.T, url string) {
	t.Helper()
	db, _ := mustSQL(t, url)
	defer db.Close()
	if _, err := db.Exec(`UPDATE tenant_schedule SET lease_until = now() - interval '1 millisecond' WHERE lease_until IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
}

func mustSQL(t *testing.T, url string) (*sql.DB, string) {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	var schema string
	if err := db.QueryRow(`SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	return db, schema
}

// digest is a directory's tables, normalized (see normalized), as a row
// count and a hash each.
type digest map[string]tableDigest

type tableDigest struct {
	rows int
	hash string
}

func (d digest) equal(o digest) bool {
	for _, tb := range crashTables {
		if d[tb] != o[tb] {
			return false
		}
	}
	return true
}

func (d digest) diff(before, after digest) string {
	var b strings.Builder
	for _, tb := range crashTables {
		mark := func(o digest) string {
			if d[tb] == o[tb] {
				return "="
			}
			return "≠"
		}
		fmt.Fprintf(&b, "  %-17s %7d rows (before %7d %s, after %7d %s)\n", tb, d[tb].rows, before[tb].rows, mark(before), after[tb].rows, mark(after))
	}
	return b.String()
}

// dump digests the directory at url. What "the same state" means: the same
// rows, ignoring what legitimately differs between two runs of the same
// cycle — serial ids (a rolled-back transaction still consumes sequence
// values), timestamps (only whether one is set counts) and runs that changed
// nothing (the recovery's own run when the killed one had committed). Rows
// name users and groups by their Entra id and runs by their rank among the
// runs that changed something; the provisioning log and the events keep
// their order.
func (r *crashRig) dump(t *testing.T, url string) digest {
	t.Helper()
	defer r.timed("dumps")()
	db, schema := mustSQL(t, url)
	defer db.Close()
	out := digest{}
	var mu gosync.Mutex
	var wg gosync.WaitGroup
	errs := make(chan error, len(crashTables))
	for _, tb := range crashTables {
		wg.Go(func() {
			q, err := normalized(db, schema, tb)
			if err != nil {
				errs <- fmt.Errorf("dump %s: %w", tb, err)
				return
			}
			// An order-independent hash of the rows (the log and the events
			// carry their position in each row).
			var v tableDigest
			if err := db.QueryRow(`SELECT count(*), coalesce(sum(hashtextextended(r, 0)), 0)::text FROM (`+q+`) s`).Scan(&v.rows, &v.hash); err != nil {
				errs <- fmt.Errorf("dump %s: %w", tb, err)
				return
			}
			mu.Lock()
			out[tb] = v
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

// runColumns are the columns of a run that say what it did (not how long
// it took or how many requests it made).
var runColumns = []string{"tenant_id", "trigger", "outcome", "counts", "conflicts", "error", "held", "review"}

// normalized returns a query of one text column r: the table's rows, each as
// JSON without what legitimately differs between two runs of a cycle.
func normalized(db *sql.DB, schema, table string) (string, error) {
	rows, err := db.Query(`SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, schema, table)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var parts, joins []string
	where := ""
	for rows.Next() {
		var col, typ string
		if err := rows.Scan(&col, &typ); err != nil {
			return "", err
		}
		name := "'" + col + "', "
		switch {
		case table == "runs" && col == "id":
			parts = append(parts, name+"row_number() OVER (ORDER BY x.id)")
			where = ` WHERE x.counts <> '{}'::jsonb`
		case table == "runs" && !slices.Contains(runColumns, col):
		case col == "id" && (table == "provisioning_log" || table == "events"):
			parts = append(parts, name+"row_number() OVER (ORDER BY x.id)")
		case col == "id":
		case strings.HasPrefix(typ, "timestamp"):
			parts = append(parts, name+"x."+col+" IS NOT NULL")
		case col == "user_id":
			parts = append(parts, name+"ju.entra_id")
			joins = append(joins, ` LEFT JOIN `+schema+`.users ju ON ju.id = x.user_id`)
		case col == "group_id":
			parts = append(parts, name+"jg.entra_id")
			joins = append(joins, ` LEFT JOIN `+schema+`.groups jg ON jg.id = x.group_id`)
		case col == "run_id":
			parts = append(parts, name+"jr.rank")
			joins = append(joins, ` LEFT JOIN (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM `+schema+
				`.runs WHERE counts <> '{}'::jsonb) jr ON jr.id = x.run_id`)
		case (typ == "json" || typ == "jsonb") && (col == "before" || col == "after"):
			// Entity snapshots: without local ids and timestamps.
			parts = append(parts, name+"x."+col+"::jsonb - '{id,archivedAt,purgedAt,createdAt,updatedAt}'::text[]")
		default:
			parts = append(parts, name+"x."+col)
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("no columns in %s.%s", schema, table)
	}
	return `SELECT jsonb_build_object(` + strings.Join(parts, ", ") + `)::text AS r FROM ` + schema + `.` + table + ` x` +
		strings.Join(joins, "") + where, nil
}
