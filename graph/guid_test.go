package graph

import "testing"

func TestIsGUIDAgreesWithTheRegexp(t *testing.T) {
	for _, s := range []string{
		"", "0", "00000000-0000-0000-0000-000000000000", "AbCdEf01-2345-6789-abcd-ef0123456789",
		"00000000-0000-0000-0000-00000000000", "00000000-0000-0000-0000-0000000000000",
		"00000000x0000-0000-0000-000000000000", "0000000g-0000-0000-0000-000000000000",
		"00000000-0000-0000-0000-00000000000G", "{0000000-0000-0000-0000-000000000000}",
		"00000000-0000-0000-0000-000000000000\n", "000000000-000-0000-0000-000000000000",
		"00000000-0000-0000-0000-0000000000é", "00000000-0000-0000-0000-000000000000 ",
	} {
		if got, want := isGUID(s), guidRE.MatchString(s); got != want {
			t.Errorf("isGUID(%q) = %v, the regexp says %v", s, got, want)
		}
	}
}

func FuzzIsGUID(f *testing.F) {
	f.Add("00000000-0000-0000-0000-000000000000")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isGUID(s), guidRE.MatchString(s); got != want {
			t.Errorf("isGUID(%q) = %v, the regexp says %v", s, got, want)
		}
	})
}
