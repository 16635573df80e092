package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/entrasync/entrasync/config"
	"github.com/entrasync/entrasync/sync"
)

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
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	db, err := e.openStore(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if decision == sync.ReviewRejected {
		run, err := db.ReviewRun(e.ctx, id, sync.ReviewRejected)
		if err != nil {
			return err
		}
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
	if res != nil {
		if f.json {
			if werr := writeJSON(e.stdout, resultJSON{Run: res.Run, Plan: res.Plan}); werr != nil {
				return werr
			}
		} else if werr := printResult(e.stdout, res, e.color); werr != nil {
			return werr
		}
	}
	return err
}

// tenantState is `entrasync tenant pause|resume|status NAME`.
func (e *env) tenantState(verb string, args []string) error {
	f := e.newFlags("tenant "+verb, false)
	if err := f.parse(args); err != nil {
		return err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	var names []string
	switch {
	case f.NArg() == 1:
		names = []string{f.Arg(0)}
	case f.NArg() == 0 && verb == "status":
		for _, t := range cfg.Tenants {
			names = append(names, t.Name)
		}
	default:
		return usagef("tenant %s: give one tenant name", verb)
	}
	db, err := e.openStore(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if verb != "status" {
		if err := db.SetPaused(e.ctx, names[0], verb == "pause"); err != nil {
			return err
		}
	}
	var out []tenantStatus
	for _, n := range names {
		sc, err := db.Schedule(e.ctx, n)
		if err != nil && !errors.Is(err, sync.ErrTenantNotFound) {
			return err
		}
		out = append(out, tenantStatus{Tenant: n, Schedule: sc, Quarantined: sc.Quarantined()})
	}
	if f.json {
		return writeJSON(e.stdout, out)
	}
	return printTenantStatus(e.stdout, out, cfg)
}

type tenantStatus struct {
	Tenant      string        `json:"tenant"`
	Quarantined bool          `json:"quarantined"`
	Schedule    sync.Schedule `json:"schedule"`
}

func printTenantStatus(w io.Writer, ts []tenantStatus, _ *config.Config) error {
	rows := make([][]string, 0, len(ts))
	for _, t := range ts {
		state := "active"
		switch {
		case t.Schedule.Paused:
			state = "paused"
		case t.Quarantined:
			state = fmt.Sprintf("quarantined (%d failures): %s", t.Schedule.Failures, t.Schedule.QuarantineReason)
		case t.Schedule.Failures > 0:
			state = "last cycle failed: " + t.Schedule.LastError
		}
		next := "-"
		if !t.Schedule.NextDue.IsZero() {
			next = t.Schedule.NextDue.Format(time.RFC3339)
		}
		rows = append(rows, []string{t.Tenant, clip(state, 100), next, dash(t.Schedule.LeaseHolder)})
	}
	return table(w, "TENANT\tSTATE\tNEXT DUE\tRUNNING ON", rows)
}
