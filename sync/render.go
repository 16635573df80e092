package sync

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

var actionSymbol = map[Action]string{
	ActionCreate:  "+",
	ActionAdopt:   "+",
	ActionUpdate:  "~",
	ActionArchive: "↓",
	ActionRestore: "↑",
	ActionAdd:     "+",
	ActionRemove:  "-",
}

// RenderOptions tune Render.
type RenderOptions struct {
	// Color marks actions with ANSI colours (only for terminals).
	Color bool
	// RunID is the run that applied the plan (0 for a dry run): the hint
	// under held changes names it.
	RunID int64
}

var actionColor = map[Action]string{
	ActionCreate: "\x1b[32m", ActionAdopt: "\x1b[32m", ActionAdd: "\x1b[32m",
	ActionUpdate: "\x1b[33m", ActionArchive: "\x1b[31m", ActionRemove: "\x1b[31m", ActionRestore: "\x1b[36m",
}

const colorReset = "\x1b[0m"

// Render writes the plan as a table for people: one line per change with its
// symbol (+ create, ~ update, ↓ archive, ↑ restore), the attributes that
// change, then conflicts, skipped objects with their reasons, and counts.
func (p *Plan) Render(w io.Writer) error { return p.RenderWith(w, RenderOptions{}) }

// RenderWith renders the plan with options.
func (p *Plan) RenderWith(w io.Writer, opt RenderOptions) error {
	ew := &errWriter{w: w}
	paint := func(a Action, s string) painted {
		if !opt.Color {
			return painted(s)
		}
		return painted(actionColor[a] + s + colorReset)
	}
	ew.printf("Plan for tenant %s\n", p.TenantID)
	switch {
	case p.Empty() && len(p.Held) > 0:
		ew.printf("  no changes applied; %d held for review (below)\n", len(p.Held))
	case p.Empty():
		ew.printf("  no changes\n")
	}
	for _, section := range []Entity{EntityUser, EntityGroup, EntityMembership} {
		first := true
		for _, ch := range p.Changes {
			if ch.Entity != section {
				continue
			}
			if first {
				ew.printf("\n%s\n", sectionTitle[section])
				first = false
			}
			ew.printf("  %s %s %-40s %s\n", paint(ch.Action, actionSymbol[ch.Action]), paint(ch.Action, fmt.Sprintf("%-8s", ch.Action)), ch.Label, ch.Reason)
			fields := ch.Fields
			if ch.Entity == EntityUser && ch.Action == ActionCreate && len(fields) == 0 && ch.After != nil {
				fields = userFields(&User{}, ch.After)
			}
			for _, f := range fields {
				ew.printf("      %-18s %s → %s\n", f.Name, quoteEmpty(f.Old), quoteEmpty(f.New))
			}
		}
	}
	if len(p.Held) > 0 {
		ew.printf("\nHeld by the archive guard: %s\n", p.HeldReason)
		for _, ch := range p.Held {
			ew.printf("  %s %s %-40s %s\n", paint(ch.Action, "‖"), fmt.Sprintf("%-8s", ch.Action), ch.Label, ch.Reason)
		}
		if opt.RunID != 0 {
			ew.printf("  approve with `entrasync runs approve %d`, or reject with `entrasync runs reject %d`\n", opt.RunID, opt.RunID)
		} else {
			ew.printf("  a cycle that applies this plan holds them for review (entrasync runs approve|reject ID)\n")
		}
	}
	if len(p.Conflicts) > 0 {
		ew.printf("\nConflicts (not applied; retried next cycle)\n")
		for _, c := range p.Conflicts {
			ew.printf("  %s %-8s %-40s e-mail %s also used by %s: %s\n", paint(ActionArchive, "!"), c.Action, c.Label, c.Email, c.HolderLabel, c.Reason)
		}
	}
	if len(p.Skipped) > 0 {
		ew.printf("\nSkipped\n")
		for _, s := range p.Skipped {
			name := s.Name
			if name == "" {
				name = s.ID
			}
			ew.printf("  · %-12s %-40s %s\n", s.Kind, name, s.Reason)
		}
	}
	if p.ServicePrincipalAssignments > 0 {
		ew.printf("\nIgnored %d service principal assignment(s)\n", p.ServicePrincipalAssignments)
	}
	ew.printf("\n%s\n", p.Summary())
	return ew.err
}

// Summary is a one-line tally of the plan.
func (p *Plan) Summary() string {
	c := p.Counts()
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{fmt.Sprintf("%d in scope", p.InScope)}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, c[k]))
	}
	if len(p.Skipped) > 0 {
		parts = append(parts, fmt.Sprintf("skipped %d", len(p.Skipped)))
	}
	return strings.Join(parts, ", ")
}

var sectionTitle = map[Entity]string{
	EntityUser:       "Users",
	EntityGroup:      "Groups",
	EntityMembership: "Memberships",
}

func quoteEmpty(s string) string {
	if s == "" {
		return "∅"
	}
	return s
}

type errWriter struct {
	w   io.Writer
	err error
}

// painted is text the renderer coloured itself: printf passes it through,
// while every other string argument, which may come from Graph, goes through
// Printable.
type painted string

func (e *errWriter) printf(format string, args ...any) {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = Printable(s)
		}
	}
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
