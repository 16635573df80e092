package main

// `entrasync events list`: the event outbox, in order.

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

func (e *env) eventsList(args []string) error {
	f := e.newFlags("events list", true)
	after := f.Int64("after", 0, "only events with an id above this one")
	limit := f.Int("limit", 100, "how many events (at most 1000)")
	if err := f.parse(args); err != nil {
		return err
	}
	if *after < 0 || *limit <= 0 || *limit > 1000 {
		return usagef("events list: --after must be 0 or more and --limit from 1 to 1000")
	}
	db, tenant, err := e.listing(f)
	if err != nil {
		return err
	}
	defer db.Close()
	s := &adminSession{db: db, admin: db, tenant: tenant}
	evs, err := s.db.Events(e.ctx, s.tenant, *after, *limit)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, nonNil(evs))
	}
	rows := make([][]string, 0, len(evs))
	for _, ev := range evs {
		var data []string
		for _, k := range slices.Sorted(maps.Keys(ev.Data)) {
			data = append(data, k+"="+ev.Data[k])
		}
		run := "-"
		if ev.RunID != 0 {
			run = fmt.Sprint(ev.RunID)
		}
		rows = append(rows, []string{fmt.Sprint(ev.ID), ev.CreatedAt.Format(time.RFC3339), ev.Type, dash(ev.EntraID),
			dash(ev.GroupEntraID), run, clip(joinOr(data, "-"), 80)})
	}
	if err := table(e.stdout, "ID\tCREATED\tTYPE\tENTRA ID\tGROUP\tRUN\tDATA", rows); err != nil {
		return err
	}
	if len(evs) == *limit {
		_, err = fmt.Fprintf(e.stdout, "%d event(s); more after: entrasync events list --tenant %s --after %d\n", len(evs), s.tenant, evs[len(evs)-1].ID)
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%d event(s)\n", len(evs))
	return err
}
