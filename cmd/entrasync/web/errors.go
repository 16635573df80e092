package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/entrasync/entrasync/cmd/entrasync/web/status"
	"github.com/entrasync/entrasync/sync"
)

func badRequest(format string, args ...any) error {
	return status.Errorf(http.StatusBadRequest, format, args...)
}

func notFound(format string, args ...any) error {
	return status.Errorf(http.StatusNotFound, format, args...)
}

// writeErr sends err as a JSON error with the status status.Of maps it to
// (a worker shutting down says when to retry). Internal errors are logged
// and sent without detail.
func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := status.Of(err)
	if errors.Is(err, sync.ErrShuttingDown) {
		w.Header().Set("Retry-After", "5")
	}
	if code == http.StatusInternalServerError {
		s.logger.Error("api", "path", r.URL.Path, "err", err)
	}
	writeError(w, code, msg)
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
