package status_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/entrasync/entrasync/cmd/entrasync/web/status"
	"github.com/entrasync/entrasync/sync"
)

// TestOf: each kind of error maps to its status, wrapped or not, and an
// unknown error is 500 without its detail.
func TestOf(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
		msg  string
	}{
		{status.Errorf(http.StatusTeapot, "short and %s", "stout"), http.StatusTeapot, "short and stout"},
		{fmt.Errorf("w: %w", sync.ErrCycleRunning), http.StatusConflict, "a cycle of this tenant is already running"},
		{fmt.Errorf("w: %w", sync.ErrTenantPaused), http.StatusConflict, ""},
		{sync.ErrShuttingDown, http.StatusServiceUnavailable, ""},
		{fmt.Errorf("read: %w", sync.ErrSnapshotIncomplete), http.StatusBadGateway, ""},
		{sync.Errorf(sync.ENOTFOUND, "no user x"), http.StatusNotFound, "no user x"},
		{sync.Errorf(sync.EINVALID, "bad"), http.StatusBadRequest, "bad"},
		{sync.Errorf(sync.ECONFLICT, "taken"), http.StatusConflict, "taken"},
		{errors.New("pq: password authentication failed for user secret"), http.StatusInternalServerError, "internal error"},
	} {
		code, msg := status.Of(c.err)
		if code != c.code || (c.msg != "" && msg != c.msg) {
			t.Errorf("Of(%v) = %d %q, want %d %q", c.err, code, msg, c.code, c.msg)
		}
	}
}
