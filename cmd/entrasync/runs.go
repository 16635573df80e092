package main

// `entrasync runs list|show|approve|reject`.

import (
	"fmt"
	"strconv"

	"github.com/entrasync/entrasync/sync"
)

func (e *env) runsList(args []string) error {
	f := e.newFlags("runs list", true)
	limit := f.Int("limit", 20, "how many runs")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.tenantArg(); err != nil {
		return err
	}
	cfg, db, err := e.configAndRead()
	if err != nil {
		return err
	}
	defer db.Close()
	if f.tenant != "" { // without one, every tenant's runs
		if err := e.knownTenant(cfg, db, f.tenant); err != nil {
			return err
		}
	}
	runs, err := db.Runs(e.ctx, f.tenant, *limit)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, nonNil(runs))
	}
	return printRuns(e.stdout, runs, e.wide)
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
	_, db, err := e.configAndRead()
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
	return printRun(e.stdout, run, log, e.wide)
}

// runsReview is `entrasync runs approve|reject ID`.
func (e *env) runsReview(decision string, args []string) error {
	f := e.newFlags("runs "+map[string]string{sync.ReviewApproved: "approve", sync.ReviewRejected: "reject"}[decision], false)
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return usagef("%s: give one run id", f.Name())
	}
	id, err := strconv.ParseInt(f.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return usagef("%s: %q is not a run id", f.Name(), f.Arg(0))
	}
	cfg, db, err := e.configAndStore()
	if err != nil {
		return err
	}
	defer db.Close()
	e.ctx = sync.WithActor(e.ctx, e.cliActor())
	if decision == sync.ReviewRejected {
		run, err := db.ReviewRun(e.ctx, id, sync.ReviewRejected)
		if err != nil {
			return err
		}
		e.audit(db, sync.AdminAction{Action: sync.ActionRejectRun, TenantID: run.TenantID, Target: fmt.Sprintf("run %d", id),
			Detail: fmt.Sprintf("%d held changes dropped", run.Held)})
		if f.json {
			return writeJSON(e.stdout, run)
		}
		_, err = fmt.Fprintf(e.stdout, "Run %d rejected: its %d held change(s) are dropped. A later cycle that would archive as many holds them again.\n", id, run.Held)
		return err
	}
	run, _, err := db.Run(e.ctx, id)
	if err != nil {
		return err
	}
	worker, _, err := e.newWorker(cfg, db, nil, run.TenantID)
	if err != nil {
		return err
	}
	if len(worker.Tenants()) == 0 {
		return usagef("runs approve: run %d is of tenant %s, which is not configured", id, run.TenantID)
	}
	res, err := worker.ApproveRun(e.ctx, id)
	a := sync.AdminAction{Action: sync.ActionApproveRun, TenantID: run.TenantID, Target: fmt.Sprintf("run %d", id), Detail: "ok"}
	switch {
	case err != nil:
		a.Detail = "failed: " + err.Error()
	case res != nil && res.Run != nil:
		a.Detail = fmt.Sprintf("applied in run %d", res.Run.ID)
	}
	e.audit(db, a)
	if res != nil {
		if f.json {
			if werr := writeJSON(e.stdout, resultJSON{Run: res.Run, Plan: res.Plan}); werr != nil {
				return werr
			}
		} else if werr := printResult(namedWriter{e.stdout, e.groupNames(db, run.TenantID, res.Plan)}, res, e.color); werr != nil {
			return werr
		}
	}
	return err
}
