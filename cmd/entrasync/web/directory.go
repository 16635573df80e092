package web

import (
	"net/http"

	"github.com/entrasync/entrasync/sync"
)

// listUsers is GET /api/v1/tenants/{tenant}/users[?status=S]: the users
// with their effective settings (sync.ListUsers).
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenant(r)
	if err != nil {
		return err
	}
	status := sync.Status(r.URL.Query().Get("status"))
	if status != "" && !status.Valid() {
		return badRequest("status must be staged, invited, active, archived or purged, not %q", status)
	}
	users, err := sync.ListUsers(r.Context(), s.store, t, status)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, users)
	return nil
}

// listGroups is GET /api/v1/tenants/{tenant}/groups: the groups with their
// members and effective settings (sync.ListGroups).
func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenant(r)
	if err != nil {
		return err
	}
	groups, err := sync.ListGroups(r.Context(), s.store, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, groups)
	return nil
}
