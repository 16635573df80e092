package postgres_test

import (
	"testing"

	"github.com/entrasync/entrasync/store/storetest"
)

// BenchmarkRunLog pages a run of 100,000 changes on PostgreSQL.
func BenchmarkRunLog(b *testing.B) { storetest.BenchRunLog(b, storetest.MustOpen(b)) }

// BenchmarkFirstCycle applies the large tenant's first cycle on PostgreSQL.
func BenchmarkFirstCycle(b *testing.B) { storetest.BenchFirstCycle(b, storetest.MustOpen(b)) }
