package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/entrasync/entrasync/sync"
)

// httpError is an error with the status and message to send.
type httpError struct {
	status int
	msg    string
}

// Error returns the message sent.
func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

// writeErr sends err as a JSON error: a running cycle, a paused or
// disconnected tenant are 409, a worker shutting down 503, an incomplete
// Graph read is 502, and any other
// error is mapped by its code (statusOf). Internal errors are logged and
// sent without detail.
func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	switch {
	case errors.As(err, &he):
		writeError(w, he.status, he.msg)
	case errors.Is(err, sync.ErrCycleRunning):
		writeError(w, http.StatusConflict, "a cycle of this tenant is already running")
	case errors.Is(err, sync.ErrTenantPaused), errors.Is(err, sync.ErrTenantDisconnected):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, sync.ErrShuttingDown):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, sync.ErrSnapshotIncomplete):
		writeError(w, http.StatusBadGateway, err.Error())
	default:
		status, msg := statusOf(err)
		if status == http.StatusInternalServerError {
			s.logger.Error("api", "path", r.URL.Path, "err", err)
		}
		writeError(w, status, msg)
	}
}

// statusOf maps an error's code to an HTTP status and a message safe to send.
func statusOf(err error) (int, string) {
	switch sync.ErrorCode(err) {
	case sync.ENOTFOUND:
		return http.StatusNotFound, err.Error()
	case sync.EINVALID:
		return http.StatusBadRequest, err.Error()
	case sync.ECONFLICT:
		return http.StatusConflict, err.Error()
	case sync.EUNAUTHORIZED, sync.EUNAVAILABLE:
		return http.StatusBadGateway, err.Error()
	}
	return http.StatusInternalServerError, "internal error"
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// writeJSON sends v as indented JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("%s must be true or false, not %q", name, v)
	}
	return b, nil
}

func queryInt(r *http.Request, name string, def, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max {
		return 0, badRequest("%s must be an integer between 0 and %d, not %q", name, max, v)
	}
	return n, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
