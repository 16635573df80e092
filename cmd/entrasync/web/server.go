// Package web is entrasync's HTTP surface: the admin API under /api/v1
// (bearer tokens with a read or admin scope, JSON), the web console under /
// (package console), /metrics for Prometheus, /healthz and /readyz.
// Handlers are grouped by resource, one file each (tenants, runs,
// directory, provision, events, health); errors.go maps sync's error codes
// to HTTP statuses. Every handler calls sync's use cases, as the CLI does.
package web

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/entrasync/entrasync/cmd/entrasync/web/console"
	"github.com/entrasync/entrasync/sync"
)

// Server serves the admin API, /metrics, /healthz and /readyz for the
// tenants worker serves, over store.
type Server struct {
	worker  *sync.Worker
	store   sync.Store
	metrics *Metrics
	logger  *slog.Logger
	// console serves the web console under / (cmd/entrasync/web/console).
	console *console.Console
	// sandbox, when set, is the simulated tenant's changes (sandbox.go).
	sandbox console.Sandbox
}

// NewServer returns the HTTP surface of worker, whose directory is store.
// metrics is served at /metrics (give the worker the same Metrics as its
// observer). A nil logger discards.
func NewServer(worker *sync.Worker, store sync.Store, metrics *Metrics, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{worker: worker, store: store, metrics: metrics, logger: logger, console: console.New(worker, store, logger)}
}

// Console returns the web console the server mounts under /, to add the
// sandbox to (entrasync demo --serve).
func (s *Server) Console() *console.Console { return s.console }

// Handler routes every endpoint. /healthz, /readyz and /metrics need no
// token; everything under /api/v1 needs a live bearer token (401 without)
// whose scope allows it (403), and answers JSON, 404 included; the
// console has the rest of the paths.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	read := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.auth(sync.ScopeRead, h))
	}
	admin := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.auth(sync.ScopeAdmin, h))
	}
	read("GET /api/v1/tenants", s.listTenants)
	admin("POST /api/v1/tenants/{tenant}/cycles", s.audited(sync.ActionCycleTenant, s.triggerCycle))
	admin("POST /api/v1/tenants/{tenant}/pause", s.audited(sync.ActionPauseTenant, s.pauseTenant))
	admin("POST /api/v1/tenants/{tenant}/resume", s.audited(sync.ActionResumeTenant, s.pauseTenant))
	admin("POST /api/v1/tenants/{tenant}/provision/users/{user}", s.audited(sync.ActionProvision, s.provisionUser))
	admin("POST /api/v1/tenants/{tenant}/provision/groups/{group}", s.audited(sync.ActionProvision, s.provisionGroup))
	read("GET /api/v1/tenants/{tenant}/runs", s.listRuns)
	read("GET /api/v1/runs/{id}", s.showRun)
	read("GET /api/v1/runs/{id}/changes", s.runChanges)
	admin("POST /api/v1/runs/{id}/approve", s.audited(sync.ActionApproveRun, s.approveRun))
	admin("POST /api/v1/runs/{id}/reject", s.audited(sync.ActionRejectRun, s.rejectRun))
	read("GET /api/v1/tenants/{tenant}/users", s.listUsers)
	read("GET /api/v1/tenants/{tenant}/groups", s.listGroups)
	read("GET /api/v1/tenants/{tenant}/events", s.listEvents)
	read("GET /api/v1/audit", s.listAudit)
	s.sandboxRoutes(read, admin)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint or method")
	})
	mux.Handle("/", s.console)
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
