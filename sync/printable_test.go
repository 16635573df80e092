package sync_test

import (
	"strings"
	"testing"

	"github.com/entrasync/entrasync/sync"
)

func TestPrintableNeutralisesWhatATerminalActsOn(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Zoë Müller 名前 — ok", "Zoë Müller 名前 — ok"},
		{"abc\u202Egpj.exe", "abc?gpj.exe"},      // right-to-left override
		{"a\u2066b\u2069c", "a?b?c"},             // isolates
		{"x\x1b[2Jy", "x?[2Jy"},                  // ESC: clear screen
		{"line\nnext\r\tz", "line?next??z"},      // C0
		{"c1\u0085\u009bq", "c1??q"},             // NEL, CSI
		{"zero\u200bwidth\ufeff", "zero?width?"}, // format characters
		{"sep\u2028par\u2029", "sep?par?"},       // separators
		{"del\x7f", "del?"},
	} {
		if got := sync.Printable(c.in); got != c.want {
			t.Errorf("Printable(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestRenderNeutralisesGraphText: a display name with a bidi override and an
// escape sequence reaches the rendered plan only as '?', while the
// renderer's own colours still work.
func TestRenderNeutralisesGraphText(t *testing.T) {
	p := &sync.Plan{TenantID: "acme", Changes: []sync.Change{{Action: sync.ActionCreate, Entity: sync.EntityUser,
		EntraID: "u1", Label: "mallory\u202Etxt.exe\x1b[8m", Reason: "assigned\u2066 directly",
		Fields: []sync.FieldChange{{Name: "displayName", New: "M\x1b]0;title\x07"}}}},
		Skipped: []sync.Skip{{Kind: "group", Name: "G\u202E", Reason: "not a security group"}}}
	for _, color := range []bool{false, true} {
		var b strings.Builder
		if err := p.RenderWith(&b, sync.RenderOptions{Color: color}); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, bad := range []string{"\u202E", "\u2066", "\x1b[8m", "\x1b]0", "\x07"} {
			if strings.Contains(out, bad) {
				t.Errorf("color=%v: rendered plan contains %q:\n%s", color, bad, out)
			}
		}
		if !strings.Contains(out, "mallory?txt.exe?[8m") {
			t.Errorf("color=%v: label not shown neutralised:\n%s", color, out)
		}
		if color != strings.Contains(out, "\x1b[32m") {
			t.Errorf("color=%v: the renderer's own colour is %v", color, !color)
		}
	}
}
