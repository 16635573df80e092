// Package web is entrasync's HTTP surface: the admin API under /api/v1
// (bearer tokens, JSON), /metrics for Prometheus, /healthz and /readyz.
// Handlers are grouped by resource, one file each (tenants, runs,
// directory, provision, events, health); errors.go maps sync's error codes
// to HTTP statuses. Every handler calls sync's use cases, as the CLI does.
package web

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/entrasync/entrasync/sync"
)

// Server serves the admin API, /metrics, /healthz and /readyz for the
// tenants worker serves, over store.
type Server struct {
	worker  *sync.Worker
	store   sync.Store
	metrics *Metrics
	logger  *slog.Logger
	// registry and onboard serve the tenant registry (tenants_registry.go).
	registry sync.Registry
	onboard  sync.Onboarding
}

// NewServer returns the HTTP surface of worker, whose directory is store.
// metrics is served at /metrics (give the worker the same Metrics as its
// observer). A nil logger discards.
func NewServer(worker *sync.Worker, store sync.Store, metrics *Metrics, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{worker: worker, store: store, metrics: metrics, logger: logger}
}

// Handler routes every endpoint. /healthz, /readyz and /metrics need no
// token; everything under /api/v1 needs a live bearer token (401 without).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	authed := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.auth(h))
	}
	authed("GET /api/v1/tenants", s.listTenants)
	authed("POST /api/v1/tenants/{tenant}/cycles", s.triggerCycle)
	authed("POST /api/v1/tenants/{tenant}/pause", s.pauseTenant)
	authed("POST /api/v1/tenants/{tenant}/resume", s.pauseTenant)
	authed("POST /api/v1/tenants/{tenant}/provision/users/{user}", s.provisionUser)
	authed("POST /api/v1/tenants/{tenant}/provision/groups/{group}", s.provisionGroup)
	authed("GET /api/v1/tenants/{tenant}/runs", s.listRuns)
	authed("GET /api/v1/runs/{id}", s.showRun)
	authed("POST /api/v1/runs/{id}/approve", s.approveRun)
	authed("POST /api/v1/runs/{id}/reject", s.rejectRun)
	authed("GET /api/v1/tenants/{tenant}/users", s.listUsers)
	authed("GET /api/v1/tenants/{tenant}/groups", s.listGroups)
	authed("GET /api/v1/tenants/{tenant}/events", s.listEvents)
	s.registryRoutes(authed)
	return mux
}

// tenant returns the {tenant} of the path, checked against the worker's
// tenants (404 for another).
func (s *Server) tenant(r *http.Request) (string, error) {
	t := r.PathValue("tenant")
	if _, ok := s.worker.Tenant(t); !ok {
		return "", notFound("unknown tenant %q", t)
	}
	return t, nil
}
