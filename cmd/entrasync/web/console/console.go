// Package console is the web console of `entrasync run`: server-rendered
// pages (html/template) for administrators under /, beside the admin API.
// Its CSS, JavaScript and images are embedded; every page is sent with a
// strict Content-Security-Policy (no inline script or style, nothing from
// another origin). An administrator signs in with an API token and gets a
// session cookie (HttpOnly, SameSite=Strict, Secure under TLS, expiring);
// every state-changing form carries the session's CSRF token; a read token
// views, an admin token also acts, and each action is recorded in the audit
// trail with the token's label. Every page calls sync's use cases, as the
// CLI and the API do; the console has no SQL of its own.
package console

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/entrasync/entrasync/cmd/entrasync/web/status"
	"github.com/entrasync/entrasync/sync"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CSP is the Content-Security-Policy of every console response: scripts,
// styles and images from the console itself only, nothing inline, no
// frames, forms posting to the console only.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// SessionTTL is how long a console session lasts after sign-in.
const SessionTTL = 8 * time.Hour

// Console serves the console's pages.
type Console struct {
	worker   *sync.Worker
	store    sync.Store
	logger   *slog.Logger
	sessions *sessions
	pages    map[string]*template.Template
	mux      *http.ServeMux
	// Sandbox, when set, adds the sandbox page (entrasync demo --serve):
	// changes to the simulated tenant, made from the console.
	sandbox Sandbox
}

// Sandbox is what the sandbox page offers: named changes of the simulated
// tenant behind the worker (assign, unassign, rename, disable, a mass
// unassignment, a Graph failure).
type Sandbox interface {
	// Changes lists the changes the page offers, by name, with a title.
	Changes() []SandboxChange
	// Apply makes the named change; arg is what the change takes (a user or
	// group, a new name), "" where it takes nothing. EINVALID for a change
	// it does not know or a bad arg.
	Apply(ctx context.Context, name, arg string) (string, error)
}

// SandboxChange is one change the sandbox page offers.
type SandboxChange struct {
	Name  string
	Title string
	// Arg, when set, names the argument the change takes (shown as a field).
	Arg string
}

// New returns the console of worker over store. A nil logger discards.
func New(worker *sync.Worker, store sync.Store, logger *slog.Logger) *Console {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{worker: worker, store: store, logger: logger, sessions: newSessions(SessionTTL), pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err) // the embedded files are fixed at build time
	}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" {
			continue
		}
		c.pages[strings.TrimSuffix(base, ".html")] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
	}
	c.routes()
	return c
}

// WithSandbox adds the sandbox page for sb and returns c.
func (c *Console) WithSandbox(sb Sandbox) *Console {
	c.sandbox = sb
	return c
}

// ServeHTTP serves a console request with the security headers every page
// takes.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(http.FileServerFS(static))))
	m.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/logo.svg", http.StatusMovedPermanently)
	})
	m.HandleFunc("GET /signin", c.signinForm)
	m.HandleFunc("POST /signin", c.signin)
	read := func(pattern string, h handler) { m.Handle(pattern, c.authed(sync.ScopeRead, h)) }
	admin := func(pattern string, h handler) { m.Handle(pattern, c.authed(sync.ScopeAdmin, h)) }
	read("POST /signout", c.signout)
	read("GET /{$}", c.overview)
	read("GET /tenants/{tenant}", c.tenantPage)
	admin("POST /tenants/{tenant}/cycle", c.cycle)
	admin("POST /tenants/{tenant}/pause", c.pause)
	admin("POST /tenants/{tenant}/resume", c.pause)
	admin("POST /tenants/{tenant}/settings", c.tenantSetting)
	read("GET /runs/{id}", c.runPage)
	read("GET /runs/{id}/review", c.reviewPage)
	admin("POST /runs/{id}/approve", c.review)
	admin("POST /runs/{id}/reject", c.review)
	read("GET /tenants/{tenant}/provision", c.provisionPage)
	admin("POST /tenants/{tenant}/provision", c.provision)
	read("GET /tenants/{tenant}/users", c.usersPage)
	admin("POST /tenants/{tenant}/users/{id}/settings", c.userSetting)
	read("GET /tenants/{tenant}/groups", c.groupsPage)
	admin("POST /tenants/{tenant}/groups/{id}/settings", c.groupSetting)
	read("GET /tenants/{tenant}/events", c.eventsPage)
	read("GET /audit", c.auditPage)
	read("GET /sandbox", c.sandboxPage)
	admin("POST /sandbox", c.sandboxApply)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, status.Errorf(http.StatusNotFound, "no such page"))
	})
	c.mux = m
}

// cacheFor lets browsers keep the embedded assets for an hour.
func cacheFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// handler serves one page for a signed-in session; an error is rendered as
// an error page with its status.
type handler func(w http.ResponseWriter, r *http.Request, s *session) error

// authed runs h for a live session whose token allows scope: without a
// session a page is a redirect to the sign-in form and a form post is 401;
// a token of too small a scope is 403; a form post without the session's
// CSRF token is 403.
func (c *Console) authed(scope string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.session(r)
		if err != nil {
			c.fail(w, r, nil, err)
			return
		}
		if s == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, nil, status.Errorf(http.StatusUnauthorized, "sign in first: your session has ended or never began"))
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, s, status.Errorf(http.StatusBadRequest, "the form could not be read"))
				return
			}
			if !s.validCSRF(r.PostForm.Get("csrf")) {
				c.fail(w, r, s, status.Errorf(http.StatusForbidden, "the form's CSRF token is missing or wrong: reload the page and try again"))
				return
			}
		}
		if !sync.Allows(s.Scope, scope) {
			c.fail(w, r, s, status.Errorf(http.StatusForbidden, "your token's scope is %s: this needs an admin token", s.Scope))
			return
		}
		if err := h(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	})
}

func notFound(format string, args ...any) error {
	return status.Errorf(http.StatusNotFound, format, args...)
}

func badRequest(format string, args ...any) error {
	return status.Errorf(http.StatusBadRequest, format, args...)
}

// fail renders err as an error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	code, msg := status.Of(err)
	if code == http.StatusInternalServerError {
		c.logger.Error("console", "path", r.URL.Path, "err", err)
	}
	c.render(w, r, s, code, "error", "Error", map[string]any{"Status": code, "StatusText": http.StatusText(code), "Message": sync.Printable(msg)})
}

// view is what the layout shows around every page.
type view struct {
	Title   string
	Session *session
	Tenants []string
	Sandbox bool
	Data    any
}

// render executes page with data in the layout.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, page, title string, data any) {
	t, ok := c.pages[page]
	if !ok {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	v := view{Title: title, Session: s, Data: data, Sandbox: c.sandbox != nil}
	if s != nil {
		v.Tenants = c.worker.Tenants()
	}
	if err := t.Execute(&b, v); err != nil {
		c.logger.Error("console: render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// tenant returns the {tenant} of the path, if the worker serves it (404).
func (c *Console) tenant(r *http.Request) (string, error) {
	t := r.PathValue("tenant")
	if _, ok := c.worker.Tenant(t); !ok {
		return "", notFound("unknown tenant %q", sync.Printable(t))
	}
	return t, nil
}

// record adds an action to the audit trail under the session's label; a
// failure to record is logged, the action stands.
func (c *Console) record(r *http.Request, s *session, a sync.AdminAction) {
	a.Actor = s.Label
	if err := c.store.RecordAdminAction(context.WithoutCancel(r.Context()), a); err != nil {
		c.logger.Error("console: record admin action", "action", a.Action, "err", err)
	}
}

// back redirects to the local path target (a form's own page by default).
func back(w http.ResponseWriter, r *http.Request, target string) error {
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"whenp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"took": func(r sync.Run) string {
		if r.FinishedAt.IsZero() {
			return "—"
		}
		return r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
	},
	"changes": changeCount,
	"clean":   sync.Printable,
	"add":     func(a, b int) int { return a + b },
	"join":    strings.Join,
	"boolp": func(b *bool) string {
		if b == nil {
			return ""
		}
		if *b {
			return "true"
		}
		return "false"
	},
}

// changeCount is how many changes a run applied (its counts less the
// conflicts and the held ones).
func changeCount(r sync.Run) int {
	n := 0
	for k, v := range r.Counts {
		if k != "conflict" && k != "held" {
			n += v
		}
	}
	return n
}
