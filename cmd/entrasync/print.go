package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/entrasync/entrasync/sync"
)

func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return clip(s, 60)
}

// clip keeps table rows readable whatever Graph sends: what a terminal
// would act on is neutralised (sync.Printable), and the text cut at n
// characters.
func clip(s string, n int) string {
	s = sync.Printable(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// printUsers prints users as a table; withSettings adds each user's
// effective settings (userSettingCells).
func printUsers(w io.Writer, users []sync.UserView, withSettings bool) error {
	rows := make([][]string, 0, len(users))
	for _, u := range users {
		status := string(u.Status)
		if u.Status == sync.StatusArchived {
			status += " (was " + string(u.PreviousStatus) + ")"
		}
		rows = append(rows, []string{fmt.Sprint(u.ID), status, dash(u.Email), dash(u.DisplayName),
			joinOr(u.Paths, "-"), string(u.Origin), dash(u.EntraID)})
		if withSettings {
			rows[len(rows)-1] = append(rows[len(rows)-1], userSettingCells(u)...)
		}
	}
	header := "ID\tSTATUS\tEMAIL\tNAME\tPATHS\tORIGIN\tENTRA ID"
	if withSettings {
		header += "\tMOBILE AUTH"
	}
	if err := table(w, header, rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d user(s)\n", len(users))
	return err
}

// printGroups prints groups as a table; withSettings adds each group's
// effective settings (groupSettingCells).
func printGroups(w io.Writer, groups []sync.GroupView, withSettings bool) error {
	rows := make([][]string, 0, len(groups))
	for _, g := range groups {
		state := "active"
		if g.Archived() {
			state = "archived: " + g.ArchiveReason
		}
		rows = append(rows, []string{fmt.Sprint(g.ID), dash(g.DisplayName), fmt.Sprint(len(g.Members)), clip(state, 50), dash(g.EntraID)})
		if withSettings {
			rows[len(rows)-1] = append(rows[len(rows)-1], groupSettingCells(g)...)
		}
	}
	header := "ID\tNAME\tMEMBERS\tSTATE\tENTRA ID"
	if withSettings {
		header += "\tSTORE DATA\tMOBILE AUTH"
	}
	if err := table(w, header, rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d group(s)\n", len(groups))
	return err
}

func printRuns(w io.Writer, runs []sync.Run) error {
	rows := make([][]string, 0, len(runs))
	for _, r := range runs {
		rows = append(rows, []string{fmt.Sprint(r.ID), r.TenantID, r.StartedAt.Format(time.RFC3339), string(r.Outcome),
			r.Trigger, countsLine(r.Counts), fmt.Sprint(r.GraphRequests), dash(r.Error)})
	}
	if err := table(w, "ID\tTENANT\tSTARTED\tOUTCOME\tTRIGGER\tCHANGES\tGRAPH REQUESTS\tERROR", rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d run(s)\n", len(runs))
	return err
}

func countsLine(c sync.Counts) string {
	if len(c) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c[k]))
	}
	return strings.Join(parts, " ")
}

func printRun(w io.Writer, r *sync.Run, log []sync.LogEntry) error {
	fmt.Fprintf(w, "Run %d  tenant %s  %s  trigger %s\n", r.ID, r.TenantID, r.Outcome, r.Trigger)
	fmt.Fprintf(w, "Started %s, read %d ms, apply %d ms, %d Graph requests\n", r.StartedAt.Format(time.RFC3339), r.ReadMillis, r.ApplyMillis, r.GraphRequests)
	if r.Error != "" {
		fmt.Fprintf(w, "Error: %s\n", r.Error)
	}
	rows := make([][]string, 0, len(log))
	for _, e := range log {
		var fields []string
		for _, f := range e.Fields {
			fields = append(fields, fmt.Sprintf("%s: %s → %s", f.Name, dash(f.Old), dash(f.New)))
		}
		rows = append(rows, []string{e.Status, string(e.Entity), string(e.Action), dash(e.Label), clip(e.Reason, 70), clip(strings.Join(fields, "; "), 90)})
	}
	fmt.Fprintln(w)
	if err := table(w, "STATUS\tENTITY\tACTION\tWHO\tREASON\tFIELDS", rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d change(s)\n", len(log))
	return err
}
