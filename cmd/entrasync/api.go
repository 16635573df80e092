package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/entrasync/entrasync/sync"
)

// api serves the admin API, /metrics, /healthz and /readyz.
type api struct {
	worker  *sync.Worker
	dir     sync.Store
	metrics *metrics
	logger  *slog.Logger
}

func (a *api) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	authed := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, a.auth(h))
	}
	authed("GET /api/v1/tenants", a.listTenants)
	authed("POST /api/v1/tenants/{tenant}/cycles", a.triggerCycle)
	authed("POST /api/v1/tenants/{tenant}/provision/users/{user}", a.provisionUser)
	authed("POST /api/v1/tenants/{tenant}/provision/groups/{group}", a.provisionGroup)
	authed("GET /api/v1/tenants/{tenant}/runs", a.listRuns)
	authed("GET /api/v1/runs/{id}", a.showRun)
	authed("POST /api/v1/runs/{id}/approve", a.approveRun)
	authed("POST /api/v1/runs/{id}/reject", a.rejectRun)
	authed("POST /api/v1/tenants/{tenant}/pause", a.pauseTenant)
	authed("POST /api/v1/tenants/{tenant}/resume", a.pauseTenant)
	authed("GET /api/v1/tenants/{tenant}/users", a.listUsers)
	authed("GET /api/v1/tenants/{tenant}/groups", a.listGroups)
	authed("GET /api/v1/tenants/{tenant}/events", a.listEvents)
	return mux
}

// httpError is an error with the status and message to send.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// auth checks the bearer token against the stored hashes, then runs h and
// turns its error into a JSON error response.
func (a *api) auth(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		valid := false
		if ok && token != "" {
			var err error
			if valid, err = a.dir.APITokenValid(r.Context(), hashToken(token)); err != nil {
				a.logger.Error("check api token", "err", err)
				writeError(w, http.StatusServiceUnavailable, "token store unavailable")
				return
			}
		}
		if !valid {
			w.Header().Set("WWW-Authenticate", `Bearer realm="entrasync"`)
			writeError(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		if err := h(w, r); err != nil {
			a.writeErr(w, r, err)
		}
	})
}

func (a *api) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	switch {
	case errors.As(err, &he):
		writeError(w, he.status, he.msg)
	case errors.Is(err, sync.ErrCycleRunning):
		writeError(w, http.StatusConflict, "a cycle of this tenant is already running")
	case errors.Is(err, sync.ErrTenantPaused), errors.Is(err, sync.ErrTenantDisconnected):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, sync.ErrSnapshotIncomplete):
		writeError(w, http.StatusBadGateway, err.Error())
	default:
		status, msg := statusOf(err)
		if status == http.StatusInternalServerError {
			a.logger.Error("api", "path", r.URL.Path, "err", err)
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
	writeJSONStatus(w, status, map[string]string{"error": msg})
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (a *api) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := a.dir.Ping(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "database unreachable")
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// tenant returns the {tenant} of the path, checked against the worker's.
func (a *api) tenant(r *http.Request) (string, error) {
	t := r.PathValue("tenant")
	if _, ok := a.worker.Tenant(t); !ok {
		return "", &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("unknown tenant %q", t)}
	}
	return t, nil
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

func (a *api) listTenants(w http.ResponseWriter, r *http.Request) error {
	type tenant struct {
		ID          string         `json:"id"`
		Quarantined bool           `json:"quarantined"`
		Schedule    *sync.Schedule `json:"schedule,omitempty"`
	}
	out := []tenant{}
	for _, id := range a.worker.Tenants() {
		t := tenant{ID: id}
		if s, err := a.dir.Schedule(r.Context(), id); err == nil {
			t.Schedule, t.Quarantined = &s, s.Quarantined()
		}
		out = append(out, t)
	}
	writeJSONStatus(w, http.StatusOK, out)
	return nil
}

func (a *api) triggerCycle(w http.ResponseWriter, r *http.Request) error {
	t, err := a.tenant(r)
	if err != nil {
		return err
	}
	dry, err := queryBool(r, "dry_run")
	if err != nil {
		return err
	}
	res, err := a.worker.RunNow(r.Context(), t, sync.CycleOptions{DryRun: dry, Trigger: "api"})
	if err != nil && (res == nil || res.Run == nil) {
		return err
	}
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadGateway
	}
	body := map[string]any{"run": res.Run, "dryRun": dry, "plan": res.Plan}
	if err != nil {
		body["error"] = err.Error()
	}
	writeJSONStatus(w, status, body)
	return nil
}

func (a *api) provisionUser(w http.ResponseWriter, r *http.Request) error {
	return a.provision(w, r, sync.KindUser, r.PathValue("user"))
}

func (a *api) provisionGroup(w http.ResponseWriter, r *http.Request) error {
	return a.provision(w, r, sync.KindGroup, r.PathValue("group"))
}

func (a *api) provision(w http.ResponseWriter, r *http.Request, kind, query string) error {
	t, err := a.tenant(r)
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
	od, err := a.worker.Provision(r.Context(), t, kind, query, sync.CycleOptions{DryRun: dry, Trigger: "api"})
	if err != nil && od == nil {
		return err
	}
	status := http.StatusOK
	body := map[string]any{"result": od}
	if err != nil {
		if !errors.Is(err, sync.ErrSnapshotIncomplete) {
			return err // mapped by its code
		}
		status = http.StatusBadGateway
		body["error"] = err.Error()
	}
	writeJSONStatus(w, status, body)
	return nil
}

func (a *api) listRuns(w http.ResponseWriter, r *http.Request) error {
	t, err := a.tenant(r)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 50, 1000)
	if err != nil {
		return err
	}
	runs, err := a.dir.Runs(r.Context(), t, limit)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, nonNil(runs))
	return nil
}

func (a *api) showRun(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return badRequest("run id must be a positive integer, not %q", r.PathValue("id"))
	}
	run, log, err := a.dir.Run(r.Context(), id)
	if err != nil {
		return err
	}
	if _, ok := a.worker.Tenant(run.TenantID); !ok {
		return &httpError{status: http.StatusNotFound, msg: "run not found"}
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"run": run, "changes": nonNil(log)})
	return nil
}

// runParam reads {id} and checks the run is of a tenant this worker serves.
func (a *api) runParam(r *http.Request) (*sync.Run, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, badRequest("run id must be a positive integer, not %q", r.PathValue("id"))
	}
	run, _, err := a.dir.Run(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if _, ok := a.worker.Tenant(run.TenantID); !ok {
		return nil, &httpError{status: http.StatusNotFound, msg: "run not found"}
	}
	return run, nil
}

func (a *api) approveRun(w http.ResponseWriter, r *http.Request) error {
	run, err := a.runParam(r)
	if err != nil {
		return err
	}
	res, err := a.worker.ApproveRun(r.Context(), run.ID)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"approved": run.ID, "run": res.Run, "plan": res.Plan})
	return nil
}

func (a *api) rejectRun(w http.ResponseWriter, r *http.Request) error {
	run, err := a.runParam(r)
	if err != nil {
		return err
	}
	if run, err = a.dir.ReviewRun(r.Context(), run.ID, sync.ReviewRejected); err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"rejected": run.ID, "run": run})
	return nil
}

func (a *api) pauseTenant(w http.ResponseWriter, r *http.Request) error {
	t, err := a.tenant(r)
	if err != nil {
		return err
	}
	paused := strings.HasSuffix(r.URL.Path, "/pause")
	if err := a.dir.SetPaused(r.Context(), t, paused); err != nil {
		return err
	}
	sc, err := a.dir.Schedule(r.Context(), t)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"tenant": t, "schedule": sc, "quarantined": sc.Quarantined()})
	return nil
}

func (a *api) listUsers(w http.ResponseWriter, r *http.Request) error {
	t, err := a.tenant(r)
	if err != nil {
		return err
	}
	status := sync.Status(r.URL.Query().Get("status"))
	if status != "" && !status.Valid() {
		return badRequest("status must be staged, invited, active, archived or purged, not %q", status)
	}
	users, err := sync.ListUsers(r.Context(), a.dir, t, status)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, nonNil(users))
	return nil
}

func (a *api) listGroups(w http.ResponseWriter, r *http.Request) error {
	t, err := a.tenant(r)
	if err != nil {
		return err
	}
	groups, err := sync.ListGroups(r.Context(), a.dir, t)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, nonNil(groups))
	return nil
}

func (a *api) listEvents(w http.ResponseWriter, r *http.Request) error {
	t, err := a.tenant(r)
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
	evs, err := a.dir.Events(r.Context(), t, int64(after), limit)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, nonNil(evs))
	return nil
}

// newToken returns a fresh admin API token and its stored hash.
func newToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	token = "es_" + base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashToken(token), nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
