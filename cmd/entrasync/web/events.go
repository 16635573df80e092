package web

import "net/http"

// listEvents is GET /api/v1/tenants/{tenant}/events[?after=ID&limit=N]: the
// event outbox in order.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenant(r)
	if err != nil {
		return err
	}
	after, err := queryInt(r, "after", 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		return err
	}
	evs, err := s.store.Events(r.Context(), t, int64(after), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(evs))
	return nil
}
