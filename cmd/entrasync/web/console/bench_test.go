package console_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/entrasync/entrasync/store/storetest"
)

// BenchmarkConsoleRunPage serves pages of a run of 100,000 changes through
// the console (session check, the store's paged query, the template) on
// PostgreSQL: the first page, the middle one, and a text search.
func BenchmarkConsoleRunPage(b *testing.B) {
	h := MustConsole(b, 2, false)
	id := storetest.MustLargeRun(b, h.db, "demo", storetest.LargeRun)
	c := h.client(b)
	c.MustSignIn(h.reader)
	for _, q := range []struct{ name, query string }{{"first", ""}, {"middle", "?offset=50000"}, {"text", "?q=user4242"}} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				if code, _ := c.get(fmt.Sprintf("/runs/%d%s", id, q.query)); code != http.StatusOK {
					b.Fatalf("status %d", code)
				}
			}
		})
	}
}
