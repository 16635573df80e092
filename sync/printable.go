package sync

import (
	"strings"
	"unicode"
)

// Printable returns s with every character a terminal would act on rather
// than show replaced by '?': C0 and C1 control characters, DEL, the line
// and paragraph separators, and Unicode format characters (category Cf:
// the bidirectional overrides and isolates such as U+202E, zero-width
// joiners, the BOM). Names and reasons that come from Graph go through it
// before they reach a terminal, so a display name cannot reorder or hide
// what a line says.
func Printable(s string) string {
	if strings.IndexFunc(s, unprintable) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unprintable(r) {
			return '?'
		}
		return r
	}, s)
}

func unprintable(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r)
}
