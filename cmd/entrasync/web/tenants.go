package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/entrasync/entrasync/sync"
)

// listTenants is GET /api/v1/tenants: each served tenant with its schedule
// and whether it is quarantined.
func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) error {
	type tenant struct {
		ID          string         `json:"id"`
		Quarantined bool           `json:"quarantined"`
		Schedule    *sync.Schedule `json:"schedule,omitempty"`
	}
	out := []tenant{}
	for _, id := range s.worker.Tenants() {
		t := tenant{ID: id}
		if sc, err := s.store.Schedule(r.Context(), id); err == nil {
			t.Schedule, t.Quarantined = &sc, sc.Quarantined()
		}
		out = append(out, t)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// triggerCycle is POST /api/v1/tenants/{tenant}/cycles[?dry_run=true][&full=true]:
// a cycle now (C2), or its plan; full=true reads Graph in full. A failed cycle that recorded a run is
// 502 with the run and the error.
func (s *Server) triggerCycle(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenant(r)
	if err != nil {
		return err
	}
	dry, err := queryBool(r, "dry_run")
	if err != nil {
		return err
	}
	full, err := queryBool(r, "full")
	if err != nil {
		return err
	}
	// The cycle is the worker's: a client that gives up does not cancel it.
	res, err := sync.Owned(r.Context(), s.worker, func(ctx context.Context) (*sync.Result, error) {
		return s.worker.RunNow(ctx, t, sync.CycleOptions{DryRun: dry, Trigger: "api", Full: full})
	})
	if err != nil && (res == nil || res.Run == nil) {
		return err
	}
	status := http.StatusOK
	body := map[string]any{"run": res.Run, "dryRun": dry, "plan": res.Plan}
	if err != nil {
		status, body["error"] = http.StatusBadGateway, err.Error()
	}
	writeJSON(w, status, body)
	return nil
}

// pauseTenant is POST /api/v1/tenants/{tenant}/pause and …/resume (C8).
func (s *Server) pauseTenant(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenant(r)
	if err != nil {
		return err
	}
	paused := strings.HasSuffix(r.URL.Path, "/pause")
	if err := s.store.SetPaused(r.Context(), t, paused); err != nil {
		return err
	}
	sc, err := s.store.Schedule(r.Context(), t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": t, "schedule": sc, "quarantined": sc.Quarantined()})
	return nil
}
