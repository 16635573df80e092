package sqlite_test

import (
	"testing"

	"github.com/entrasync/entrasync/store/storetest"
)

// BenchmarkRunLog pages a run of 100,000 changes on SQLite.
func BenchmarkRunLog(b *testing.B) { storetest.BenchRunLog(b, storetest.MustOpenSQLite(b)) }
