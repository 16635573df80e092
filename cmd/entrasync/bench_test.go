package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/store/storetest"
)

// TestMain lets the test binary stand in for `entrasync bench-child`, the
// process the bench command starts for each scenario.
func TestMain(m *testing.M) {
	if os.Getenv("ENTRASYNC_BENCH_CHILD") == "1" {
		err := run(context.Background(), os.Args[len(os.Args)-1:], os.Getenv, os.Stdout, os.Stderr)
		os.Exit(exitCode(err, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestBenchSmallAndFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the bench runs several full cycles")
	}
	base := storetest.URL()
	for _, scenario := range []string{"small", "faults"} {
		out, stderr, code := runCLI(t, nil, "--database", base, "bench", "--scenario", scenario, "--latency", "1ms", "--json")
		if code != exitOK {
			t.Fatalf("bench %s: exit %d\n%s", scenario, code, stderr)
		}
		var res []struct {
			Scenario string       `json:"scenario"`
			Cycles   []benchCycle `json:"cycles"`
			Faults   []benchFault `json:"faults"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 1 {
			t.Fatalf("bench %s --json: %v\n%s", scenario, err, out)
		}
		if scenario == "small" {
			c := res[0].Cycles
			if len(c) != 8 {
				t.Fatalf("cycles = %+v", c)
			}
			const assignmentPages = 1 // 300 direct assignments and 20 groups: one page
			for i, cy := range c {
				switch {
				case cy.Error != "":
					t.Errorf("%s: %s", cy.Label, cy.Error)
				case cy.Mode == "full":
					// Within 10 % of the floor, or 2 above it: the two counts
					// that choose how to read users are not in the floor.
					if cy.RoundTrips > max(cy.LowerBound*11/10, cy.LowerBound+2) || cy.LowerBound == 0 || cy.CriticalPath == 0 {
						t.Errorf("%s: %d round trips for a lower bound of %d (critical path %d)", cy.Label, cy.RoundTrips, cy.LowerBound, cy.CriticalPath)
					}
				case i < 4 && cy.RoundTrips > 6, i >= 5 && cy.RoundTrips > assignmentPages+4:
					t.Errorf("%s (%s): %d round trips", cy.Label, cy.Mode, cy.RoundTrips)
				}
			}
			// The first cycle adds members to 20 groups, more than it proves:
			// the second reads in full once more.
			for i, want := range []string{"full", "full", "incremental", "incremental", "full", "full", "incremental", "incremental"} {
				if c[i].Mode != want {
					t.Errorf("cycle %d (%s) was %s, want %s", i, c[i].Label, c[i].Mode, want)
				}
			}
			if c[0].DirectoryRows == 0 {
				t.Errorf("first cycle wrote nothing")
			}
			for _, i := range []int{1, 2, 4, 5, 6} {
				if c[i].DirectoryRows != 0 || c[i].AuditRows != 1 {
					t.Errorf("%s: %d directory rows and %d audit rows, want 0 and 1", c[i].Label, c[i].DirectoryRows, c[i].AuditRows)
				}
			}
			// 1% of the tenant's users are renamed; those provisioned are
			// updated, and nothing else is written.
			for _, i := range []int{3, 7} {
				if n := c[i].Counts["user.update"]; n == 0 || n > 10 || c[i].DirectoryRows != n || len(c[i].Counts) != 1 {
					t.Errorf("%s: counts %v, %d rows; want only user updates (1 to 10), one row each", c[i].Label, c[i].Counts, c[i].DirectoryRows)
				}
			}
			continue
		}
		for _, f := range res[0].Faults {
			// A page dropped without an error is caught by comparing the
			// listing with the group's member count.
			want := "graph: read "
			if strings.Contains(f.Kind, "silently dropped") {
				want = "graph: listing short of Graph's count"
			}
			if !f.Failed || !f.Unchanged || !strings.Contains(f.RunError, want) {
				t.Errorf("%s: failed %v, directory unchanged %v, run error %q (want %q)", f.Kind, f.Failed, f.Unchanged, f.RunError, want)
			}
		}
	}
}
