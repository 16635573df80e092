package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"regexp"
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

// cell is a table cell: s made printable, "-" when empty, cut at n
// characters unless wide.
func cell(s string, n int, wide bool) string {
	if s == "" {
		return "-"
	}
	if wide {
		return sync.Printable(s)
	}
	return clip(s, n)
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
func printUsers(w io.Writer, users []sync.UserView, withSettings bool, names map[string]string, wide bool) error {
	rows := make([][]string, 0, len(users))
	for _, u := range users {
		status := string(u.Status)
		if u.Status == sync.StatusArchived {
			status += " (was " + string(u.PreviousStatus) + ")"
		}
		rows = append(rows, []string{fmt.Sprint(u.ID), status, cell(u.Email, 60, wide), cell(u.DisplayName, 60, wide),
			cell(withGroupNames(joinOr(u.Paths, "-"), names), 80, wide), string(u.Origin), dash(u.EntraID)})
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
func printGroups(w io.Writer, groups []sync.GroupView, withSettings bool, wide bool) error {
	rows := make([][]string, 0, len(groups))
	for _, g := range groups {
		state := "active"
		if g.Archived() {
			state = "archived: " + g.ArchiveReason
		}
		rows = append(rows, []string{fmt.Sprint(g.ID), cell(g.DisplayName, 60, wide), fmt.Sprint(len(g.Members)), cell(state, 50, wide), dash(g.EntraID)})
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

// outcomeLine is a run's outcome with, for a held run, its review:
// "held: awaits review", "held: approved by cli:alice@host".
func outcomeLine(r *sync.Run) string {
	if r.Outcome != sync.OutcomeHeld {
		return string(r.Outcome)
	}
	if r.Review == "" {
		return fmt.Sprintf("held (%d): awaits review", r.Held)
	}
	out := fmt.Sprintf("held (%d): %s", r.Held, r.Review)
	if r.ReviewedBy != "" {
		out += " by " + r.ReviewedBy
	}
	return out
}

func printRuns(w io.Writer, runs []sync.Run, wide bool) error {
	rows := make([][]string, 0, len(runs))
	for _, r := range runs {
		rows = append(rows, []string{fmt.Sprint(r.ID), r.TenantID, r.StartedAt.Format(time.RFC3339), outcomeLine(&r),
			r.Trigger, dash(r.Mode), countsLine(r.Counts), fmt.Sprint(r.GraphRequests), cell(r.Error, 60, wide)})
	}
	if err := table(w, "ID\tTENANT\tSTARTED\tOUTCOME\tTRIGGER\tREAD\tCHANGES\tGRAPH REQUESTS\tERROR", rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d run(s)\n", len(runs))
	return err
}

// readLine says how a run read Graph: incrementally, or in full and why,
// with its round trips beside the floor and the critical path.
func readLine(r *sync.Run) string {
	out := "Read: " + dash(r.Mode)
	if r.FullReason != "" {
		out += " (" + r.FullReason + ")"
	}
	out += fmt.Sprintf(", %d round trips", r.RoundTrips)
	if r.LowerBound > 0 {
		out += fmt.Sprintf(" (lower bound %d, critical path %d)", r.LowerBound, r.CriticalPath)
	}
	return out
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

func printRun(w io.Writer, r *sync.Run, log []sync.LogEntry, wide bool) error {
	fmt.Fprintf(w, "Run %d  tenant %s  %s  trigger %s\n", r.ID, r.TenantID, outcomeLine(r), r.Trigger)
	switch {
	case r.Outcome == sync.OutcomeHeld && r.Review == "":
		fmt.Fprintf(w, "Held changes await review: entrasync runs approve %d, or entrasync runs reject %d\n", r.ID, r.ID)
	case r.ReviewedAt != nil:
		fmt.Fprintf(w, "Reviewed %s\n", r.ReviewedAt.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "Started %s, read %d ms, apply %d ms, %d Graph requests\n", r.StartedAt.Format(time.RFC3339), r.ReadMillis, r.ApplyMillis, r.GraphRequests)
	fmt.Fprintln(w, readLine(r))
	if r.Error != "" {
		fmt.Fprintf(w, "Error: %s\n", r.Error)
	}
	rows := make([][]string, 0, len(log))
	for _, e := range log {
		var fields []string
		for _, f := range e.Fields {
			fields = append(fields, fmt.Sprintf("%s: %s → %s", f.Name, dash(f.Old), dash(f.New)))
		}
		rows = append(rows, []string{e.Status, string(e.Entity), string(e.Action), cell(e.Label, 60, wide), cell(e.Reason, 70, wide),
			cell(strings.Join(fields, "; "), 90, wide)})
	}
	fmt.Fprintln(w)
	if err := table(w, "STATUS\tENTITY\tACTION\tWHO\tREASON\tFIELDS", rows); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "%d change(s)\n", len(log)); err != nil {
		return err
	}
	if len(r.Skipped) == 0 {
		return nil
	}
	skips := make([][]string, 0, len(r.Skipped))
	for _, s := range r.Skipped {
		name := s.Name
		if name == "" {
			name = s.ID
		}
		skips = append(skips, []string{s.Kind, cell(name, 60, wide), cell(s.ID, 40, wide), cell(s.Reason, 90, wide)})
	}
	fmt.Fprintln(w, "\nSkipped (not provisioned)")
	if err := table(w, "KIND\tNAME\tENTRA ID\tREASON", skips); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d skipped\n", len(r.Skipped))
	return err
}

// groupPath matches a group assignment path, group:<Entra object id>.
var groupPath = regexp.MustCompile(`group:([0-9A-Za-z][0-9A-Za-z-]*)`)

// groupNames maps Entra group ids to display names for output: the groups
// the directory holds for tenant, and those plan names (groups it creates,
// renames or skips). A read that fails leaves the ids as they are.
func (e *env) groupNames(dir interface {
	Groups(ctx context.Context, tenantID string) ([]sync.Group, error)
}, tenant string, plan *sync.Plan) map[string]string {
	names := map[string]string{}
	if groups, err := dir.Groups(e.ctx, tenant); err == nil {
		for _, g := range groups {
			if g.EntraID != "" && g.DisplayName != "" {
				names[g.EntraID] = g.DisplayName
			}
		}
	}
	if plan != nil {
		for _, ch := range plan.Changes {
			if ch.Entity == sync.EntityGroup && ch.EntraID != "" && ch.Label != "" {
				names[ch.EntraID] = ch.Label
			}
		}
		for _, s := range plan.Skipped {
			if s.ID != "" && s.Name != "" && (s.Kind == sync.SkipGroup || s.Kind == sync.SkipNestedGroup) {
				names[s.ID] = s.Name
			}
		}
	}
	return names
}

// withGroupNames writes group paths as `group "Engineering"` instead of
// `group:5a1e5000-…` wherever the name is known.
func withGroupNames(text string, names map[string]string) string {
	if len(names) == 0 {
		return text
	}
	return groupPath.ReplaceAllStringFunc(text, func(m string) string {
		if n, ok := names[m[len("group:"):]]; ok {
			return fmt.Sprintf("group %q", sync.Printable(n))
		}
		return m
	})
}

// namedWriter rewrites group paths with their names as text is written
// (for plans and on-demand steps, whose paths end their lines).
type namedWriter struct {
	w     io.Writer
	names map[string]string
}

func (n namedWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(n.w, withGroupNames(string(p), n.names)); err != nil {
		return 0, err
	}
	return len(p), nil
}
