package sync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/entrasync/entrasync/store/postgres"
	"github.com/entrasync/entrasync/store/storetest"
	"github.com/entrasync/entrasync/sync"
)

// The fleet: a thousand tenants on three worker processes sharing one
// PostgreSQL, as a vendor runs them. The processes are this test binary run
// again as fleetWorker (see TestFleetWorkerProcess); each cycle reads a
// simulated tenant of one user in 20 ms, so what is measured is the
// scheduling: claims, leases, the cap, the database.

const (
	fleetTenants  = 1000
	fleetProcs    = 3
	fleetSlots    = 16
	fleetInterval = 6 * time.Second
	fleetRun      = 18 * time.Second
)

func fleetID(i int) string { return fmt.Sprintf("f%04d", i) }

// fleetReport is what one worker process tells the test when it stops.
type fleetReport struct {
	Holder string `json:"holder"`
	Peak   int    `json:"peak"`
	Err    string `json:"err,omitempty"`
}

func TestC1_C5_FleetOfAThousandTenantsOnThreeProcesses(t *testing.T) {
	t.Parallel()
	url := storetest.MustSchemaURL(t)
	db, err := postgres.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range fleetTenants {
		if err := db.RegisterTenant(context.Background(), sync.Tenant{ID: fleetID(i), EntraTenantID: "e", Settings: sync.DefaultTenantSettings()}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), fleetRun+60*time.Second)
	defer cancel()
	var cmds []*exec.Cmd
	start := time.Now()
	for p := range fleetProcs {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFleetWorkerProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "ENTRASYNC_FLEET_DB="+url, "ENTRASYNC_FLEET_HOLDER=p"+strconv.Itoa(p),
			"ENTRASYNC_FLEET_OUT="+filepath.Join(dir, fmt.Sprintf("p%d.json", p)))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("worker process: %v", err)
		}
	}
	elapsed := time.Since(start)
	for p := range fleetProcs {
		var r fleetReport
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("p%d.json", p)))
		if err != nil || json.Unmarshal(b, &r) != nil || r.Err != "" {
			t.Fatalf("process %d report %q: %v", p, b, err)
		}
		if r.Peak > fleetSlots || r.Peak == 0 {
			t.Errorf("process %s had %d cycles in flight at most, want 1..%d", r.Holder, r.Peak, fleetSlots)
		}
		t.Logf("process %s: at most %d cycles in flight", r.Holder, r.Peak)
	}
	var runs []struct {
		Tenant   string    `db:"tenant_id"`
		Started  time.Time `db:"started_at"`
		Finished time.Time `db:"finished_at"`
		Outcome  string    `db:"outcome"`
	}
	if err := db.SQL().Select(&runs, `SELECT tenant_id, started_at, finished_at, outcome FROM runs ORDER BY tenant_id, started_at`); err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for i, r := range runs {
		per[r.Tenant]++
		if r.Outcome != string(sync.OutcomeSucceeded) {
			t.Fatalf("run of %s: %s", r.Tenant, r.Outcome)
		}
		if i == 0 || runs[i-1].Tenant != r.Tenant {
			continue
		}
		prev := runs[i-1]
		if r.Started.Before(prev.Finished) {
			t.Fatalf("cycles of %s overlap: %v–%v and %v–%v", r.Tenant, prev.Started, prev.Finished, r.Started, r.Finished)
		}
		// Each next cycle is due an interval after the last one started
		// (whole seconds on the database's clock, hence the slack).
		if gap := r.Started.Sub(prev.Started); gap < fleetInterval-time.Second {
			t.Fatalf("cycles of %s started %s apart, want about %s", r.Tenant, gap, fleetInterval)
		}
	}
	// First cycles are spread over one interval, then one per interval: at
	// most one more than the run holds; at least one (how many more a loaded
	// machine gets through is a figure, logged below, not a pass mark).
	least, most := 1, int(fleetRun/fleetInterval)+1
	hist := map[int]int{}
	for i := range fleetTenants {
		n := per[fleetID(i)]
		hist[n]++
		if n < least || n > most {
			t.Errorf("tenant %s ran %d cycles in %s at one per %s, want %d to %d", fleetID(i), n, fleetRun, fleetInterval, least, most)
		}
	}
	t.Logf("%d tenants, %d processes of %d slots, %s interval: %d cycles in %s (%.0f/s); cycles per tenant: %v",
		fleetTenants, fleetProcs, fleetSlots, fleetInterval, len(runs), elapsed.Round(time.Millisecond),
		float64(len(runs))/fleetRun.Seconds(), hist)
}

// TestFleetWorkerProcess is one worker process of the fleet test, when the
// fleet test runs this binary with ENTRASYNC_FLEET_DB set; on its own it
// has nothing to do.
func TestFleetWorkerProcess(t *testing.T) {
	url := os.Getenv("ENTRASYNC_FLEET_DB")
	if url == "" {
		return
	}
	report := fleetReport{Holder: os.Getenv("ENTRASYNC_FLEET_HOLDER")}
	defer func() {
		b, _ := json.Marshal(report)
		if err := os.WriteFile(os.Getenv("ENTRASYNC_FLEET_OUT"), b, 0o600); err != nil {
			t.Error(err)
		}
	}()
	db, err := postgres.Open(context.Background(), url, nil)
	if err != nil {
		report.Err = err.Error()
		return
	}
	defer db.Close()
	var wts []sync.WorkerTenant
	for i := range fleetTenants {
		wts = append(wts, sync.WorkerTenant{ID: fleetID(i), Source: slowSource{fleetID(i), 20 * time.Millisecond}, Schedule: sync.Every(fleetInterval)})
	}
	w := sync.NewWorker(sync.NewSyncer(db, nil), db, wts, sync.WorkerConfig{Holder: report.Holder, Poll: time.Second,
		LeaseTTL: 30 * time.Second, ShutdownGrace: 10 * time.Second, MaxCycles: fleetSlots}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), fleetRun)
	defer cancel()
	_ = w.Run(ctx)
	_, report.Peak = w.CyclesInFlight()
}
