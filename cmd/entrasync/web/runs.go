package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/entrasync/entrasync/sync"
)

// listRuns is GET /api/v1/tenants/{tenant}/runs[?limit=N], newest first.
func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenant(r)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 50, 1000)
	if err != nil {
		return err
	}
	runs, err := s.store.Runs(r.Context(), t, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(runs))
	return nil
}

// showRun is GET /api/v1/runs/{id}: the run and its provisioning log.
func (s *Server) showRun(w http.ResponseWriter, r *http.Request) error {
	run, log, err := s.runParam(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"run": run, "changes": nonNil(log)})
	return nil
}

// approveRun is POST /api/v1/runs/{id}/approve (C6): the held archives
// apply in a fresh cycle (sync.Worker.ApproveRun).
func (s *Server) approveRun(w http.ResponseWriter, r *http.Request) error {
	run, _, err := s.runParam(r)
	if err != nil {
		return err
	}
	res, err := sync.Owned(r.Context(), s.worker, func(ctx context.Context) (*sync.Result, error) {
		return s.worker.ApproveRun(sync.WithActor(ctx, apiActor(r)), run.ID)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"approved": run.ID, "run": res.Run, "plan": res.Plan})
	return nil
}

// rejectRun is POST /api/v1/runs/{id}/reject (C6): the held archives are
// dropped.
func (s *Server) rejectRun(w http.ResponseWriter, r *http.Request) error {
	run, _, err := s.runParam(r)
	if err != nil {
		return err
	}
	if run, err = s.store.ReviewRun(sync.WithActor(r.Context(), apiActor(r)), run.ID, sync.ReviewRejected); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"rejected": run.ID, "run": run})
	return nil
}

// runParam reads the run {id} names; 400 for a bad id, 404 for no run or a
// run of a tenant this worker does not serve.
func (s *Server) runParam(r *http.Request) (*sync.Run, []sync.LogEntry, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, nil, badRequest("run id must be a positive integer, not %q", r.PathValue("id"))
	}
	run, log, err := s.store.Run(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := s.worker.Tenant(run.TenantID); !ok {
		return nil, nil, notFound("run not found")
	}
	return run, log, nil
}

// apiActor names who reviews a held run through the API, as the run
// records it (sync.WithActor): "api:" and the label of the token used.
func apiActor(r *http.Request) string {
	if tok, ok := Identity(r.Context()); ok && tok.Label != "" {
		return "api:" + tok.Label
	}
	return "api"
}
