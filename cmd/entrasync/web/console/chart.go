package console

import (
	"fmt"
	"html/template"
	"slices"
	"strings"

	"github.com/entrasync/entrasync/sync"
)

// Size of the runs chart, in SVG user units.
const (
	chartW, chartH = 720, 180
	chartPad       = 30
)

// runChart draws runs (newest first, as listed) oldest to newest as an SVG:
// a bar per run for its changes, applied and held (held and failed runs
// coloured by class),
// and a line for each run's duration, each on its own scale, with the
// maxima labelled. Only numbers and escaped text go into the markup, and
// it styles by class (the CSP allows no inline style).
func runChart(runs []sync.Run) template.HTML {
	if len(runs) == 0 {
		return ""
	}
	rs := slices.Clone(runs)
	slices.Reverse(rs)
	maxChanges, maxMs := 1, int64(1)
	for _, r := range rs {
		maxChanges = max(maxChanges, changeCount(r)+r.Held)
		maxMs = max(maxMs, r.FinishedAt.Sub(r.StartedAt).Milliseconds())
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="changes and duration per run" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH)
	plotW, plotH := float64(chartW-2*chartPad), float64(chartH-2*chartPad)
	step := plotW / float64(len(rs))
	barW := max(step*0.6, 1)
	var line []string
	for i, r := range rs {
		x := float64(chartPad) + step*float64(i)
		n := changeCount(r) + r.Held
		h := plotH * float64(n) / float64(maxChanges)
		class := "bar"
		switch r.Outcome {
		case sync.OutcomeHeld:
			class = "bar held"
		case sync.OutcomeFailed:
			class = "bar failed"
		case sync.OutcomeConflicts:
			class = "bar conflicts"
		}
		ms := r.FinishedAt.Sub(r.StartedAt).Milliseconds()
		fmt.Fprintf(&b, `<a href="/runs/%d"><rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect></a>`,
			r.ID, class, x+(step-barW)/2, float64(chartH-chartPad)-h, barW, max(h, 1),
			template.HTMLEscapeString(fmt.Sprintf("run %d (%s): %d changes applied, %d held, %d ms", r.ID, r.Outcome, changeCount(r), r.Held, ms)))
		y := float64(chartH-chartPad) - plotH*float64(ms)/float64(maxMs)
		line = append(line, fmt.Sprintf("%.1f,%.1f", x+step/2, y))
	}
	fmt.Fprintf(&b, `<polyline class="duration" points="%s"/>`, strings.Join(line, " "))
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, chartPad, chartH-chartPad, chartW-chartPad, chartH-chartPad)
	fmt.Fprintf(&b, `<text class="label" x="%d" y="%d">%d changes</text>`, 2, chartPad-8, maxChanges)
	fmt.Fprintf(&b, `<text class="label duration-label" x="%d" y="%d" text-anchor="end">%d ms</text>`, chartW-2, chartPad-8, maxMs)
	fmt.Fprintf(&b, `<text class="label" x="%d" y="%d">oldest</text><text class="label" x="%d" y="%d" text-anchor="end">newest</text>`,
		chartPad, chartH-8, chartW-chartPad, chartH-8)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec: built from numbers and escaped text only
}
