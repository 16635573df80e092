package main

// `entrasync sync` and `entrasync plan`: a full cycle of each tenant now,
// applied or as a dry run (C3).

import (
	"fmt"
	"io"

	"github.com/entrasync/entrasync/sync"
)

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
	tenants, err := e.pickAnyTenants(cfg, f.tenant) // the file's and the registry's
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
