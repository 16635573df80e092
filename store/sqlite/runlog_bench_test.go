package sqlite_test

import (
	"testing"

	"github.com/entrasync/entrasync/store/storetest"
)

// BenchmarkRunLog pages a run of 100,000 changes on SQLite.
func BenchmarkRunLog(b *testing.B) { storetest.BenchRunLog(b, storetest.MustOpenSQLite(b)) }

// BenchmarkFirstCycle applies the large tenant's first cycle on SQLite.
func BenchmarkFirstCycle(b *testing.B) { storetest.BenchFirstCycle(b, storetest.MustOpenSQLite(b)) }
