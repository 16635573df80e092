package graph

// isGUID reports whether s is a GUID in its 8-4-4-4-12 hex form, as guidRE
// matches it, without the regexp: the ids of every listed and merged item
// are checked, a few hundred thousand a cycle.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
