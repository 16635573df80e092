package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/store/open"
	"github.com/entrasync/entrasync/store/postgres"
	"github.com/entrasync/entrasync/sync"
)

// benchScenario is one tenant shape of `entrasync bench`.
type benchScenario struct {
	name     string
	spec     graphtest.GenSpec
	throttle graphtest.Throttle
}

func benchScenarios() []benchScenario {
	large := graphtest.LargeSpec
	return []benchScenario{
		{name: "small", spec: graphtest.GenSpec{Seed: 1, Users: 1_000, DirectlyAssigned: 300, Groups: 20, MaxGroupSize: 400,
			NestedGroups: 3, M365Groups: 2, DisabledPercent: 3, ServicePrincipals: 2}},
		{name: "large", spec: large},
		// Graph's large-tenant budget is 8,000 RU per 10 s; this one is a
		// tenth of it, so the read must be throttled and wait.
		{name: "throttled", spec: large, throttle: graphtest.Throttle{Budget: 800, Window: 10 * time.Second}},
	}
}

// benchCycle is what the child reports about one cycle.
type benchCycle struct {
	Label         string         `json:"label"`
	Mode          string         `json:"mode"`
	CriticalPath  int            `json:"criticalPath,omitempty"`
	Error         string         `json:"error,omitempty"`
	RoundTrips    int            `json:"roundTrips"`
	Requests      int            `json:"requests"`
	LowerBound    int            `json:"lowerBound"`
	ReadMs        int64          `json:"readMs"`
	PlanMs        int64          `json:"planMs"`
	ApplyMs       int64          `json:"applyMs"`
	TotalMs       int64          `json:"totalMs"`
	ThrottleMs    int64          `json:"throttleWaitMs"`
	DirectoryRows int            `json:"directoryRows"`
	AuditRows     int            `json:"auditRows"`
	PeakRSSMB     float64        `json:"peakRssMB"`
	Counts        map[string]int `json:"counts"`
	ResourceUnits int            `json:"resourceUnits"`
	Throttled     int            `json:"throttled,omitempty"`
	EarlyRetries  int            `json:"earlyRetries,omitempty"`
}

// bench is `entrasync bench`: generated tenants served by the simulated
// Graph with latency per round trip, full cycles into PostgreSQL, measured
// in a child process so its peak RSS is the cycle's alone.
func (e *env) bench(args []string) error {
	f := e.newFlags("bench", false)
	only := f.String("scenario", "all", "small, large, throttled, faults or all")
	latency := f.Duration("latency", 30*time.Millisecond, "simulated latency of each Graph round trip")
	profiles := f.String("cpuprofile", "", "write CPU profiles of each cycle into this directory: the cycle's own (SCENARIO-CYCLE.pprof) and the simulated Graph's (SCENARIO-graph-CYCLE.pprof)")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return usagef("bench: unexpected argument %q (the scenario is --scenario NAME)", f.Arg(0))
	}
	known := []string{"all", "faults"}
	for _, sc := range benchScenarios() {
		known = append(known, sc.name)
	}
	if !slices.Contains(known, *only) {
		return usagef("bench: no scenario %q (known: %s)", *only, strings.Join(known, ", "))
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	base := cfg.Database.Reveal()
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	if b, _, err := store.ParseURL(base); err != nil || b != store.BackendPostgres {
		return usagef("bench: needs PostgreSQL (--database postgres://…)")
	}
	// This process is the simulated Graph; its heap is the tenant, and its
	// collector scanning it on the cores the cycle shares is not the
	// client's cost (Graph's CPU is Microsoft's): it collects only past a
	// few GiB. The child, which runs the cycles, keeps its own settings.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(3 << 30)
	var all []map[string]any
	for _, sc := range benchScenarios() {
		if *only != "all" && *only != sc.name {
			continue
		}
		res, err := e.benchScenario(sc, *latency, base, *profiles)
		if err != nil {
			return fmt.Errorf("bench %s: %w", sc.name, err)
		}
		all = append(all, map[string]any{"scenario": sc.name, "cycles": res})
		if !f.json {
			printBench(e.stdout, sc, res)
		}
	}
	if *only == "all" || *only == "faults" {
		faults, err := e.benchFaults(*latency, base)
		if err != nil {
			return fmt.Errorf("bench faults: %w", err)
		}
		all = append(all, map[string]any{"scenario": "faults", "faults": faults})
		if !f.json {
			printFaults(e.stdout, faults)
		}
	}
	if f.json {
		return writeJSON(e.stdout, all)
	}
	return nil
}

func (e *env) benchScenario(sc benchScenario, latency time.Duration, base, profiles string) ([]benchCycle, error) {
	start := time.Now()
	tn := graphtest.Generate(sc.spec)
	genTime := time.Since(start)
	opts := []graphtest.Option{graphtest.WithLatency(latency)}
	if sc.throttle.Budget > 0 {
		opts = append(opts, graphtest.WithThrottle(sc.throttle))
	}
	srv := graphtest.NewServer(tn, opts...)
	defer srv.Close()
	srv.TrackChanges() // the simulator's own set-up, not the first cycle's
	dir, err := os.MkdirTemp("", "entrasync-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		return nil, err
	}
	dbURL, drop, err := postgres.CreateSchema(e.ctx, base, benchSchema(sc.name))
	if err != nil {
		return nil, err
	}
	defer drop()
	checkpoint(e.ctx, base)
	fmt.Fprintf(e.stderr, "bench %s: tenant generated in %s (%d users, %d groups, %d assignments)\n",
		sc.name, genTime.Round(time.Millisecond), len(tn.Users), len(tn.Groups), len(tn.Assignments))

	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(e.ctx, self, "bench-child")
	cmd.Env = append(os.Environ(), "ENTRASYNC_BENCH_CHILD=1",
		"BENCH_GRAPH="+srv.GraphEndpoint(), "BENCH_CA="+ca, "BENCH_DB="+dbURL, "BENCH_TENANT="+tn.TenantID,
		"BENCH_CLIENT="+tn.ClientID, "BENCH_SECRET="+tn.ClientSecret, "BENCH_SP="+tn.Application.ID)
	if profiles != "" {
		if err := os.MkdirAll(profiles, 0o755); err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Env, "BENCH_PROFILES="+filepath.Join(profiles, sc.name))
	}
	cmd.Stderr = e.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	out := bufio.NewScanner(outPipe)
	out.Buffer(make([]byte, 1<<20), 1<<20)
	var cycles []benchCycle
	step := func(label string, full bool) error {
		srv.ResetCounts()
		verb := "cycle"
		if full {
			verb = "full"
		}
		stop := func() {}
		if profiles != "" {
			// The simulated Graph's own CPU during the cycle, beside the child's.
			var err error
			if stop, err = startProfile(filepath.Join(profiles, sc.name+"-graph"), label); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintf(in, "%s %s\n", verb, label); err != nil {
			stop()
			return err
		}
		scanned := out.Scan()
		stop()
		if !scanned {
			return fmt.Errorf("child ended: %v", out.Err())
		}
		var c benchCycle
		if err := json.Unmarshal(out.Bytes(), &c); err != nil {
			return fmt.Errorf("child said %q: %w", out.Text(), err)
		}
		st := srv.ThrottleStats()
		c.Throttled, c.EarlyRetries, c.ResourceUnits = st.Throttled, st.EarlyRetries, srv.ResourceUnits()
		cycles = append(cycles, c)
		fmt.Fprintf(e.stderr, "bench %s: %s done in %d ms\n", sc.name, label, c.TotalMs)
		if c.Error != "" {
			return errors.New(c.Error)
		}
		return nil
	}
	err = step("first cycle", true)
	if sc.throttle.Budget == 0 {
		// Incremental cycles where assignment changes are served, a full
		// one for comparison, then incremental ones where they are not
		// (the full cycle after switching them off finds that out).
		steps := []struct {
			label  string
			full   bool
			before func()
		}{
			// After a first cycle that added members to more groups than it
			// proves, the second reads in full once more.
			{"second", false, nil},
			{"unchanged", false, nil},
			{"1% of users changed", false, func() { changeUsers(srv, len(tn.Users)/100) }},
			{"unchanged, full", true, nil},
			{"full, assignment delta refused", true, func() { srv.SetAssignmentDelta(false) }},
			{"unchanged, assignments listed", false, nil},
			{"1% changed, assignments listed", false, func() { changeUsers(srv, len(tn.Users)/100) }},
		}
		for _, st := range steps {
			if err != nil {
				break
			}
			if st.before != nil {
				st.before()
			}
			err = step(st.label, st.full)
		}
	}
	_, _ = fmt.Fprintln(in, "quit")
	_ = in.Close()
	if werr := cmd.Wait(); err == nil && werr != nil {
		err = werr
	}
	return cycles, err
}

// checkpoint asks PostgreSQL for a checkpoint before a scenario, so that
// the dirty pages and WAL of the run before it are not written out during
// this one's cycles (runs back to back differed by seconds). It needs the
// right to (superuser or pg_checkpoint); without it the scenario runs as is.
func checkpoint(ctx context.Context, base string) {
	db, err := sql.Open("postgres", base)
	if err != nil {
		return
	}
	defer db.Close()
	_, _ = db.ExecContext(ctx, "CHECKPOINT")
}

// changeUsers renames n users of the simulated tenant.
func changeUsers(srv *graphtest.Server, n int) {
	srv.Update(func(t *graphtest.Tenant) {
		for i := 0; i < n && i < len(t.Users); i++ {
			t.Users[i*len(t.Users)/n].DisplayName += " (renamed)"
		}
	})
}

// benchChild runs cycles on command from the parent and reports each one as
// a JSON line: `entrasync bench-child` (internal).
func (e *env) benchChild() error {
	getenv := e.getenv
	transport, err := transportOf(getenv("BENCH_CA"))
	if err != nil {
		return err
	}
	src, err := graph.New(graph.Config{TenantID: getenv("BENCH_TENANT"), ClientID: getenv("BENCH_CLIENT"),
		ClientSecret: getenv("BENCH_SECRET"), ServicePrincipalID: getenv("BENCH_SP"), GraphEndpoint: getenv("BENCH_GRAPH"),
		LoginEndpoint: getenv("BENCH_GRAPH"), Transport: transport, Concurrency: 8, MaxRetries: 10, RetryDelay: time.Second}, nil)
	if err != nil {
		return err
	}
	db, err := open.URL(e.ctx, getenv("BENCH_DB"), nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.RegisterTenant(e.ctx, sync.Tenant{ID: "bench", EntraTenantID: getenv("BENCH_TENANT"), Settings: sync.DefaultTenantSettings()}); err != nil {
		return err
	}
	syncer := sync.NewSyncer(db, nil)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		verb, label, _ := strings.Cut(in.Text(), " ")
		if verb != "cycle" && verb != "full" {
			return nil
		}
		stop, err := startProfile(getenv("BENCH_PROFILES"), label)
		if err != nil {
			return err
		}
		start := time.Now()
		res, err := syncer.Cycle(e.ctx, "bench", src, sync.CycleOptions{Trigger: "bench", Full: verb == "full"})
		c := benchCycle{Label: label, TotalMs: time.Since(start).Milliseconds(), PeakRSSMB: peakRSSMB()}
		stop()
		if err != nil {
			c.Error = err.Error()
		}
		if res != nil && res.Run != nil {
			r := res.Run
			c.RoundTrips, c.Requests, c.LowerBound, c.Mode, c.CriticalPath = r.RoundTrips, r.GraphRequests, r.LowerBound, r.Mode, r.CriticalPath
			c.ReadMs, c.PlanMs, c.ApplyMs, c.ThrottleMs, c.Counts = r.ReadMillis, r.PlanMillis, r.ApplyMillis, r.ThrottleMs, r.Counts
		}
		if res != nil && res.Plan != nil {
			c.DirectoryRows, c.AuditRows = rowsWritten(res.Plan)
		}
		if err := json.NewEncoder(e.stdout).Encode(c); err != nil {
			return err
		}
		runtime.GC()
	}
	return in.Err()
}

// startProfile starts a CPU profile of one cycle into PREFIX-LABEL.pprof
// (the label's spaces and punctuation as dashes) when prefix is set.
func startProfile(prefix, label string) (stop func(), err error) {
	if prefix == "" {
		return func() {}, nil
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(label))
	f, err := os.Create(prefix + "-" + name + ".pprof")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// rowsWritten counts the rows a plan writes: directory rows (users, their
// paths, groups, memberships) and audit rows (the run, its log, events).
func rowsWritten(p *sync.Plan) (directory, audit int) {
	for _, ch := range p.Changes {
		directory++
		// Paths are written for new users, and rewritten (deleted and
		// inserted) only when they change.
		if ch.Entity == sync.EntityUser && (ch.Before == nil || !slices.Equal(ch.Before.Paths, ch.After.Paths)) {
			directory += len(ch.After.Paths)
			if ch.Before != nil {
				directory += len(ch.Before.Paths)
			}
		}
	}
	return directory, 1 + len(p.Changes) + len(p.Conflicts) + len(p.Events())
}

// peakRSSMB is the peak resident memory of this process in MB: of its own
// address space (VmHWM of /proc/self/status), since getrusage's ru_maxrss
// also counts the memory of the process that started
// it, as it was when this one was exec'd (Linux carries the old address
// space's peak over exec), which for a child of the simulated Graph is the
// simulated tenant's.
func peakRSSMB() float64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				var kb float64
				if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%f kB", &kb); err == nil {
					return kb / 1024
				}
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}

func printBench(w io.Writer, sc benchScenario, cycles []benchCycle) {
	fmt.Fprintf(w, "\nScenario %s: %d users, %d directly assigned, %d groups (largest %d)\n", sc.name, sc.spec.Users,
		sc.spec.DirectlyAssigned, sc.spec.Groups, sc.spec.MaxGroupSize)
	rows := [][]string{}
	for _, c := range cycles {
		over := "-"
		if c.LowerBound > 0 {
			over = fmt.Sprintf("%+.1f%%", 100*float64(c.RoundTrips-c.LowerBound)/float64(c.LowerBound))
		}
		rows = append(rows, []string{c.Label, c.Mode, fmt.Sprint(c.RoundTrips), fmt.Sprint(c.LowerBound), over,
			fmt.Sprint(c.CriticalPath), fmt.Sprint(c.Requests), fmt.Sprint(c.ResourceUnits),
			fmt.Sprint(c.ReadMs), fmt.Sprint(c.PlanMs), fmt.Sprint(c.ApplyMs), fmt.Sprint(c.TotalMs), fmt.Sprint(c.ThrottleMs),
			fmt.Sprintf("%.0f", c.PeakRSSMB), fmt.Sprint(c.DirectoryRows), fmt.Sprint(c.AuditRows), fmt.Sprint(c.Throttled), fmt.Sprint(c.EarlyRetries)})
	}
	_ = table(w, "CYCLE\tMODE\tROUND TRIPS\tLOWER BOUND\tOVER\tCRITICAL PATH\tREQUESTS\tRU\tREAD MS\tPLAN MS\tAPPLY MS\tTOTAL MS\tTHROTTLE WAIT MS\tPEAK RSS MB\tDIR ROWS\tAUDIT ROWS\t429s\tEARLY RETRIES", rows)
}

// benchFault is one injected fault and what the cycle did about it.
type benchFault struct {
	Kind      string `json:"kind"`
	Failed    bool   `json:"failed"`
	Unchanged bool   `json:"directoryUnchanged"`
	RunError  string `json:"runError"`
}

// benchFaults injects each fault kind into one read of a cycle that would
// otherwise change the directory, and checks nothing was applied and the
// run says which read failed.
func (e *env) benchFaults(latency time.Duration, base string) ([]benchFault, error) {
	spec := graphtest.GenSpec{Seed: 3, Users: 5_000, DirectlyAssigned: 3_000, Groups: 6, MaxGroupSize: 3_000, NestedGroups: 1, DisabledPercent: 2}
	kinds := []struct {
		name        string
		fault       graphtest.Fault
		incremental bool // injected into an incremental cycle's delta rounds
	}{
		{"HTTP 500 on page 3 of a group's members", graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", Page: 3, Status: 500}, false},
		{"timeout (assignments page 2 answers after 4 s; client timeout 2 s)", graphtest.Fault{Endpoint: "GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo", Page: 2, Delay: 4 * time.Second}, false},
		{"truncated JSON on page 2 of a group's members", graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", Page: 2, Truncate: true}, false},
		{"a page that goes missing (404 on an assignments nextLink)", graphtest.Fault{Endpoint: "GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo", Page: 2, Status: 404}, false},
		{"503 on every member page, beyond retries", graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", Status: 503, RetryAfter: "0"}, false},
		{"429 on every group look-up inside $batch, beyond retries", graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}", Status: 429, RetryAfter: "0"}, false},
		{"truncated item body inside $batch", graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}", Truncate: true}, false},
		{"a page silently dropped (valid nextLink skipping a page)", graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", Page: 1, DropPage: true, Times: 1}, false},
		{"incremental: HTTP 500 on a users/delta page", graphtest.Fault{Endpoint: "GET /v1.0/users/delta", Page: 1, Status: 500}, true},
		{"incremental: truncated JSON on a groups/delta page", graphtest.Fault{Endpoint: "GET /v1.0/groups/delta", Page: 1, Truncate: true}, true},
		{"incremental: 503 on every directoryObjects/delta page, beyond retries", graphtest.Fault{Endpoint: "GET /v1.0/directoryObjects/delta", Status: 503, RetryAfter: "0"}, true},
	}
	var out []benchFault
	for i, k := range kinds {
		bf, err := e.benchOneFault(spec, latency, base, benchSchema(fmt.Sprintf("fault%d", i)), k.name, k.fault, k.incremental)
		if err != nil {
			return nil, err
		}
		out = append(out, bf)
	}
	return out, nil
}

func (e *env) benchOneFault(spec graphtest.GenSpec, latency time.Duration, base, schema, kind string, fault graphtest.Fault, incremental bool) (benchFault, error) {
	bf := benchFault{Kind: kind}
	srv := graphtest.NewServer(graphtest.Generate(spec), graphtest.WithLatency(latency))
	defer srv.Close()
	tn := srv.Tenant()
	dbURL, drop, err := postgres.CreateSchema(e.ctx, base, schema)
	if err != nil {
		return bf, err
	}
	defer drop()
	db, err := postgres.Open(e.ctx, dbURL, nil)
	if err != nil {
		return bf, err
	}
	defer db.Close()
	if err := db.RegisterTenant(e.ctx, sync.Tenant{ID: "bench", EntraTenantID: tn.TenantID, Settings: sync.DefaultTenantSettings()}); err != nil {
		return bf, err
	}
	src, err := graph.New(graph.Config{TenantID: tn.TenantID, ClientID: tn.ClientID, ClientSecret: tn.ClientSecret,
		ServicePrincipalID: tn.Application.ID, GraphEndpoint: srv.GraphEndpoint(), LoginEndpoint: srv.LoginEndpoint(),
		Transport: srv.Client().Transport, MaxRetries: 2, RetryDelay: time.Second, Timeout: 2 * time.Second}, nil)
	if err != nil {
		return bf, err
	}
	syncer := sync.NewSyncer(db, nil)
	if _, err := syncer.Cycle(e.ctx, "bench", src, sync.CycleOptions{Trigger: "bench"}); err != nil {
		return bf, fmt.Errorf("clean first cycle: %w", err)
	}
	if incremental {
		// The first cycle added members to more groups than it proves, so
		// the second reads in full once more; the fault goes into the third.
		if res, err := syncer.Cycle(e.ctx, "bench", src, sync.CycleOptions{Trigger: "bench"}); err != nil || res.Run.Mode != sync.ModeFull {
			return bf, fmt.Errorf("clean second cycle: %v", err)
		}
	}
	changeUsers(srv, 50)
	srv.Update(func(t *graphtest.Tenant) { t.Assignments = t.Assignments[:len(t.Assignments)*9/10] })
	before, err := db.Dump(e.ctx)
	if err != nil {
		return bf, err
	}
	if fault.DropPage && fault.ID == "" { // a page of the largest group: one that has pages to drop
		most := -1
		for _, g := range tn.Groups {
			if len(g.Members) > most {
				most, fault.ID = len(g.Members), g.ID
			}
		}
	}
	srv.InjectFault(fault)
	_, cerr := syncer.Cycle(e.ctx, "bench", src, sync.CycleOptions{Trigger: "bench", Full: !incremental})
	bf.Failed = cerr != nil
	after, err := db.Dump(e.ctx)
	if err != nil {
		return bf, err
	}
	bf.Unchanged = before == after
	if runs, err := db.Runs(e.ctx, "bench", 1); err == nil && len(runs) == 1 {
		bf.RunError = runs[0].Error
	}
	return bf, nil
}

func printFaults(w io.Writer, faults []benchFault) {
	fmt.Fprintf(w, "\nFaults: one injected into a cycle that would otherwise change the directory\n")
	rows := [][]string{}
	for _, f := range faults {
		verdict := "directory unchanged"
		if !f.Unchanged {
			verdict = "DIRECTORY CHANGED"
		}
		msg := f.RunError
		if !f.Failed {
			msg = "cycle succeeded: the fault was not detectable"
		}
		rows = append(rows, []string{f.Kind, verdict, clip(msg, 110)})
	}
	_ = table(w, "FAULT\tRESULT\tRUN ERROR", rows)
}

// benchSchema names a bench's throwaway schema, unique to this process: two
// benches against one database (CI jobs, a developer's two terminals) must
// not drop each other's tables.
func benchSchema(name string) string {
	return fmt.Sprintf("entrasync_bench_%s_%d", name, os.Getpid())
}
