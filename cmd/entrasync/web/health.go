package web

import (
	"context"
	"net/http"
	"time"
)

// healthz answers while the process serves HTTP.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }

// readyz answers while the directory does (503 when it does not within 3s).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "database unreachable")
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
