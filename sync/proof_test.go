package sync_test

import (
	"testing"

	"github.com/entrasync/entrasync/sync"
)

func TestC4_ListingShortToleratesEventualCounts(t *testing.T) {
	for _, c := range []struct {
		listed, counted int
		short           bool
	}{
		{0, 0, false}, {0, 1, true}, {7, 8, false}, {6, 8, true}, {1, 6, true}, {5, 6, false},
		{45, 50, false}, {44, 50, true},
		{995, 1000, false}, {980, 1000, false}, {979, 1000, true},
		{1998, 2102, true}, {1100, 1000, false}, {99_000, 100_000, false}, {97_999, 100_000, true},
	} {
		if got := sync.ListingShort(c.listed, c.counted); got != c.short {
			t.Errorf("ListingShort(%d, %d) = %v, want %v", c.listed, c.counted, got, c.short)
		}
	}
}
