package main

// `entrasync provision user|group`: provision on demand (C2).

import (
	"fmt"
	"io"
	"strings"

	"github.com/entrasync/entrasync/sync"
)

// provision is `entrasync provision user|group <id, UPN or name>`.
func (e *env) provision(args []string) error {
	if len(args) == 0 || (args[0] != "user" && args[0] != "group") {
		return usagef("provision: say user or group, e.g. entrasync provision user alice@contoso.com")
	}
	kind := args[0]
	f := e.newFlags("provision "+kind, true)
	dry := f.Bool("dry-run", false, "show the steps without applying")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return usagef("provision %s: give one object id, UPN or display name", kind)
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	tenant, err := oneTenant(cfg, f.tenant)
	if err != nil {
		return err
	}
	db, err := e.openStore(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	worker, _, err := e.newWorker(cfg, db, nil, tenant)
	if err != nil {
		return err
	}
	od, err := worker.Provision(e.ctx, tenant, kind, f.Arg(0), sync.CycleOptions{DryRun: *dry, Trigger: "cli"})
	if !*dry {
		a := sync.AdminAction{Action: sync.ActionProvision, TenantID: tenant, Target: kind + " " + f.Arg(0), Detail: "ok"}
		if err != nil {
			a.Detail = "failed: " + err.Error()
		}
		e.audit(db, a)
	}
	if od != nil {
		if f.json {
			if werr := writeJSON(e.stdout, od); werr != nil {
				return werr
			}
		} else if werr := printOnDemand(namedWriter{e.stdout, e.groupNames(db, tenant, od.Plan)}, tenant, od); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	if od.Plan != nil && len(od.Plan.Conflicts) > 0 && !*dry {
		return errConflicts
	}
	// Nobody of that name in Entra and nothing to do: not a success.
	for _, s := range od.Steps {
		if s.Name == "import" && !s.OK && (od.Plan == nil || od.Plan.Empty()) {
			return sync.Errorf(sync.ENOTFOUND, "provision %s: %s", kind, strings.Join(s.Details, "; "))
		}
	}
	return nil
}

func printOnDemand(w io.Writer, tenant string, od *sync.OnDemand) error {
	ew := &lineWriter{w: w}
	ew.printf("Provision on demand: %s %s (tenant %s)\n", od.Kind, od.Query, tenant)
	for _, s := range od.Steps {
		mark := "✓"
		if !s.OK {
			mark = "✗"
		}
		for i, d := range s.Details {
			name := ""
			if i == 0 {
				name = s.Name
			}
			if i == 0 {
				ew.printf(" %s %-10s %s\n", mark, name, d)
			} else {
				ew.printf("   %-10s %s\n", name, d)
			}
		}
	}
	switch {
	case od.DryRun:
		ew.printf("Dry run: nothing applied.\n")
	case od.Run != nil && od.Run.ID != 0:
		ew.printf("Run %d: %s\n", od.Run.ID, od.Run.Outcome)
	}
	return ew.err
}

type lineWriter struct {
	w   io.Writer
	err error
}

func (l *lineWriter) printf(format string, args ...any) {
	if l.err == nil {
		_, l.err = fmt.Fprintf(l.w, format, args...)
	}
}
