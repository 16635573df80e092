package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/entrasync/entrasync/cmd/entrasync/web/status"
	"github.com/entrasync/entrasync/sync"
)

// Token scopes and the audit trail on the API: every endpoint needs a scope
// (auth), admin endpoints record what was done, by which token's label
// (audited), GET /api/v1/audit lists it.

// IssueToken makes a new API token of scope and label, stores its hash
// (revoking the older token of label, sync.Access.IssueAPIToken) and returns
// the token: the only time it is seen.
func IssueToken(ctx context.Context, store sync.Access, scope, label string) (string, error) {
	token, hash, err := NewToken()
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	if err := store.IssueAPIToken(ctx, hash, scope, label); err != nil {
		return "", err
	}
	return token, nil
}

type identityKey struct{}

// WithIdentity returns ctx carrying the token a request was authorised with.
func WithIdentity(ctx context.Context, tok sync.APIToken) context.Context {
	return context.WithValue(ctx, identityKey{}, tok)
}

// Identity returns the token a request was authorised with (false outside
// an authorised request).
func Identity(ctx context.Context) (sync.APIToken, bool) {
	tok, ok := ctx.Value(identityKey{}).(sync.APIToken)
	return tok, ok
}

// statusRecorder remembers the status a handler sent.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// audited runs h and then records action in the audit trail with the
// token's label, the tenant (the path's, or the run's), the target (the
// path's run, user or group) and how it ended ("ok", "dry run", or the
// status). Requests that never reached h (401, 403) are not actions.
func (s *Server) audited(action string, h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		rec := &statusRecorder{ResponseWriter: w}
		err := h(rec, r)
		a := sync.AdminAction{Action: action, TenantID: r.PathValue("tenant")}
		if tok, ok := Identity(r.Context()); ok {
			a.Actor = tok.Label
		}
		switch {
		case r.PathValue("id") != "":
			a.Target = "run " + r.PathValue("id")
			if id, perr := strconv.ParseInt(r.PathValue("id"), 10, 64); perr == nil {
				if page, rerr := s.store.RunLog(r.Context(), id, sync.LogQuery{Limit: 1}); rerr == nil {
					a.TenantID = page.Run.TenantID
				}
			}
		case r.PathValue("user") != "":
			a.Target = "user " + r.PathValue("user")
		case r.PathValue("group") != "":
			a.Target = "group " + r.PathValue("group")
		case r.PathValue("change") != "":
			a.Target = r.PathValue("change")
		}
		switch {
		case err != nil:
			code, msg := status.Of(err)
			a.Detail = fmt.Sprintf("refused (%d): %s", code, msg)
		case rec.status >= 300:
			a.Detail = fmt.Sprintf("failed (%d)", rec.status)
		case r.URL.Query().Get("dry_run") == "true":
			a.Detail = "dry run"
		default:
			a.Detail = "ok"
		}
		if rerr := s.store.RecordAdminAction(context.WithoutCancel(r.Context()), a); rerr != nil {
			s.logger.Error("record admin action", "action", action, "err", rerr)
		}
		return err
	}
}

// listAudit is GET /api/v1/audit[?tenant=T&limit=N]: the administrators'
// actions, newest first, with the label of the token each was taken with.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		return err
	}
	t := r.URL.Query().Get("tenant")
	if t != "" {
		if _, ok := s.worker.Tenant(t); !ok {
			return notFound("unknown tenant %q", t)
		}
	}
	actions, err := s.store.AdminActions(r.Context(), t, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(actions))
	return nil
}

// runChanges is GET /api/v1/runs/{id}/changes: a page of the run's
// provisioning log, [?action=&status=&entity=&q=&offset=&limit=] filtering
// and paging in the store's query (sync.LogPager).
func (s *Server) runChanges(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return badRequest("run id must be a positive integer, not %q", r.PathValue("id"))
	}
	q, err := sync.ParseLogQuery(r.URL.Query().Get)
	if err != nil {
		return err
	}
	page, err := s.store.RunLog(r.Context(), id, q)
	if err != nil {
		return err
	}
	if _, ok := s.worker.Tenant(page.Run.TenantID); !ok {
		return notFound("run not found")
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}
