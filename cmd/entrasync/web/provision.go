package web

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/entrasync/entrasync/sync"
)

// provisionUser is POST /api/v1/tenants/{tenant}/provision/users/{user}.
func (s *Server) provisionUser(w http.ResponseWriter, r *http.Request) error {
	return s.provision(w, r, sync.KindUser, r.PathValue("user"))
}

// provisionGroup is POST /api/v1/tenants/{tenant}/provision/groups/{group}.
func (s *Server) provisionGroup(w http.ResponseWriter, r *http.Request) error {
	return s.provision(w, r, sync.KindGroup, r.PathValue("group"))
}

// provision runs a provision on demand (C2, sync.Worker.Provision),
// [?dry_run=true] only reporting the steps. A failed Graph read is 502 with
// the steps so far.
func (s *Server) provision(w http.ResponseWriter, r *http.Request, kind, query string) error {
	t, err := s.tenant(r)
	if err != nil {
		return err
	}
	if strings.TrimSpace(query) == "" || len(query) > 256 {
		return badRequest("%s: give an object id, a UPN or a display name (at most 256 characters)", kind)
	}
	dry, err := queryBool(r, "dry_run")
	if err != nil {
		return err
	}
	od, err := sync.Owned(r.Context(), s.worker, func(ctx context.Context) (*sync.OnDemand, error) {
		return s.worker.Provision(ctx, t, kind, query, sync.CycleOptions{DryRun: dry, Trigger: "api"})
	})
	if err != nil && (od == nil || !errors.Is(err, sync.ErrSnapshotIncomplete)) {
		return err // mapped by its code
	}
	status := http.StatusOK
	body := map[string]any{"result": od}
	if err != nil {
		status, body["error"] = http.StatusBadGateway, err.Error()
	}
	writeJSON(w, status, body)
	return nil
}
