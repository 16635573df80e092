package main

// `entrasync sync` and `entrasync plan`: a full cycle of each tenant now,
// applied or as a dry run (C3).

import (
	"fmt"
	"io"
	"strings"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

func (e *env) sync(args []string, dryRun bool) error {
	name := "sync"
	if dryRun {
		name = "plan"
	}
	f := e.newFlags(name, true)
	var full bool
	f.BoolVar(&full, "full", false, "read Graph in full even where an incremental cycle could run")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.tenantArg(); err != nil {
		return err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	tenants, err := e.pickAnyTenants(cfg, f.tenant) // the file's and the registry's
	if err != nil {
		return err
	}
	if f.tenant == "" && len(tenants) > 1 {
		verb := "Syncing"
		if dryRun {
			verb = "Planning"
		}
		fmt.Fprintf(e.stderr, "%s every configured tenant, one after the other (%d: %s); name one to %s only it: entrasync %s NAME\n",
			verb, len(tenants), strings.Join(tenantNames(cfg), ", "), name, name)
	}
	var db store.Store
	if dryRun {
		var cleanup func()
		if db, cleanup, err = e.openPlanStore(cfg); err != nil {
			return err
		}
		defer cleanup()
	} else if db, err = e.openStore(cfg); err != nil {
		return err
	}
	defer db.Close()
	worker, syncer, err := e.newWorker(cfg, db, nil, f.tenant)
	if err != nil {
		return err
	}
	var failed, conflicts int
	var held []*sync.Run
	var results []*sync.Result
	for _, t := range tenants {
		prog := newProgress(e.stderr, e.stderrTTY, e.logger.With(sync.LogTenant, t.Name))
		src, err := sourceOf(cfg, t, e.logger, nil, prog.update)
		if err != nil {
			return err
		}
		var res *sync.Result
		if dryRun {
			res, err = syncer.Cycle(e.ctx, t.Name, src, sync.CycleOptions{DryRun: true, Trigger: "cli", Full: full})
		} else {
			// Take the tenant's lease, as the worker does: never two cycles at once.
			wt, _ := worker.Tenant(t.Name)
			wt.Source = src
			res, err = worker.RunNowWith(e.ctx, wt, sync.CycleOptions{Trigger: "cli", Full: full})
		}
		prog.done()
		if err != nil {
			failed++
			fmt.Fprintf(e.stderr, "entrasync: %s\n", cycleFailure(t.Name, err))
		}
		if res == nil {
			continue
		}
		results = append(results, res)
		if res.Plan != nil && len(res.Plan.Conflicts) > 0 {
			conflicts++
		}
		if err == nil && !dryRun && res.Run != nil && res.Run.Outcome == sync.OutcomeHeld {
			held = append(held, res.Run)
		}
		if !f.json {
			if err := printResult(namedWriter{e.stdout, e.groupNames(db, t.Name, res.Plan)}, res, e.color); err != nil {
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
	case len(held) > 0:
		return &heldError{runs: held}
	case conflicts > 0 && !dryRun:
		return errConflicts
	}
	return nil
}

// heldError ends a sync whose cycles applied but held changes for review
// (exit code exitHeld); it names each run and the commands to decide.
type heldError struct{ runs []*sync.Run }

func (e *heldError) Error() string {
	parts := make([]string, 0, len(e.runs))
	for _, r := range e.runs {
		parts = append(parts, fmt.Sprintf("run %d of tenant %s holds %d change(s) for review: entrasync runs approve %d (or entrasync runs reject %d)",
			r.ID, r.TenantID, r.Held, r.ID, r.ID))
	}
	return strings.Join(parts, "; ")
}

// failureAdvice is what to do about a failed cycle, by category.
var failureAdvice = map[string]string{
	sync.FailureCredential:  "Microsoft Graph refused the credential or a permission is missing",
	sync.FailureNotFound:    "the enterprise application (service_principal_id or app_id) was not found",
	sync.FailureUnreachable: "Microsoft Graph, the login endpoint or the database did not answer",
	sync.FailureConfig:      "the configuration or the directory refused the cycle",
	sync.FailureInternal:    "the cycle failed",
}

// cycleFailure words a failed cycle of tenant for the terminal: what kind
// of failure, the first cause, and `entrasync check` to find out more.
// Refusals (paused, disconnected, already running) say how to lift them.
func cycleFailure(tenant string, err error) string {
	cat := sync.FailureCategory(err)
	if cat == sync.FailureRefused || cat == sync.FailureCancelled {
		return err.Error()
	}
	return fmt.Sprintf("tenant %s: %s: %s\n  test the connection step by step with: entrasync check %s", tenant, failureAdvice[cat], err, tenant)
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
		opt := sync.RenderOptions{Color: color}
		if !res.DryRun && res.Run != nil {
			opt.RunID = res.Run.ID
		}
		if err := res.Plan.RenderWith(w, opt); err != nil {
			return err
		}
	}
	r := res.Run
	if res.DryRun {
		_, err := fmt.Fprintf(w, "Dry run: nothing applied (%d Graph requests)\n\n", r.GraphRequests)
		return err
	}
	_, err := fmt.Fprintf(w, "Run %d: %s, %d Graph requests, read %d ms, apply %d ms\n%s\n\n", r.ID, r.Outcome, r.GraphRequests, r.ReadMillis, r.ApplyMillis, readLine(r))
	return err
}
