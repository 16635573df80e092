package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	gosync "sync"
	"time"

	"github.com/entrasync/entrasync/cmd/entrasync/web/status"
	"github.com/entrasync/entrasync/sync"
)

// CookieName is the session cookie's name.
const CookieName = "entrasync_session"

// maxSessions bounds the sessions kept at once; signing in beyond it ends
// the oldest.
const maxSessions = 10000

// session is one signed-in browser: the hash of the token it signed in
// with (never the token), that token's scope and label, its CSRF token and
// when it ends. Each request checks the token is still live, so rotating a
// token ends the sessions signed in with it.
type session struct {
	id        string
	tokenHash string
	Scope     string
	Label     string
	CSRF      string
	expires   time.Time
}

// Admin reports whether the session may act (an admin token).
func (s *session) Admin() bool { return s.Scope == sync.ScopeAdmin }

// validCSRF reports whether token is the session's CSRF token.
func (s *session) validCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) == 1
}

// sessions are the console's sessions, in this process's memory: a worker
// restart signs everybody out, and behind a load balancer a browser must
// stay with one process.
type sessions struct {
	mu  gosync.Mutex
	ttl time.Duration
	m   map[string]*session
	now func() time.Time
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{ttl: ttl, m: map[string]*session{}, now: time.Now}
}

func randomID() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// start makes a session for tok.
func (ss *sessions) start(tok sync.APIToken) (*session, error) {
	id, err := randomID()
	if err != nil {
		return nil, err
	}
	csrf, err := randomID()
	if err != nil {
		return nil, err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	var oldest *session
	for k, s := range ss.m {
		if !now.Before(s.expires) {
			delete(ss.m, k)
		} else if oldest == nil || s.expires.Before(oldest.expires) {
			oldest = s
		}
	}
	if len(ss.m) >= maxSessions && oldest != nil {
		delete(ss.m, oldest.id)
	}
	s := &session{id: id, tokenHash: tok.Hash, Scope: tok.Scope, Label: tok.Label, CSRF: csrf, expires: now.Add(ss.ttl)}
	ss.m[id] = s
	return s, nil
}

// get returns the live session id names, or nil.
func (ss *sessions) get(id string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil {
		return nil
	}
	if !ss.now().Before(s.expires) {
		delete(ss.m, id)
		return nil
	}
	return s
}

func (ss *sessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}

// session returns the request's live session, its scope refreshed from its
// token, or nil when there is none (no cookie, unknown, expired, or its
// token revoked). The error is the token store failing.
func (c *Console) session(r *http.Request) (*session, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	s := c.sessions.get(ck.Value)
	if s == nil {
		return nil, nil
	}
	tok, err := c.store.LookupAPIToken(r.Context(), s.tokenHash)
	if errors.Is(err, sync.ErrTokenNotFound) {
		c.sessions.end(s.id)
		return nil, nil
	}
	if err != nil {
		return nil, status.Errorf(http.StatusServiceUnavailable, "the token store does not answer")
	}
	cp := *s
	cp.Scope, cp.Label = tok.Scope, tok.Label
	return &cp, nil
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// signinForm is GET /signin.
func (c *Console) signinForm(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, nil, http.StatusOK, "signin", "Sign in", map[string]any{"Next": localPath(r.URL.Query().Get("next"))})
}

// signin is POST /signin: a live API token starts a session. A post from
// another site is refused (a sign-in CSRF would sign the victim in as the
// attacker); a wrong token is 401 with the form again.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	if crossSite(r) {
		c.fail(w, r, nil, status.Errorf(http.StatusForbidden, "sign-in from another site refused"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, nil, badRequest("the form could not be read"))
		return
	}
	next := localPath(r.PostForm.Get("next"))
	token := strings.TrimSpace(r.PostForm.Get("token"))
	var tok sync.APIToken
	var err error = sync.ErrTokenNotFound
	if token != "" && len(token) <= 256 {
		tok, err = c.store.LookupAPIToken(r.Context(), sync.TokenHash(token))
	}
	if errors.Is(err, sync.ErrTokenNotFound) {
		c.render(w, r, nil, http.StatusUnauthorized, "signin", "Sign in",
			map[string]any{"Next": next, "Error": "That token is unknown or was rotated out. Make one with `entrasync token rotate`."})
		return
	}
	if err != nil {
		c.fail(w, r, nil, status.Errorf(http.StatusServiceUnavailable, "the token store does not answer"))
		return
	}
	s, err := c.sessions.start(tok)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.setCookie(w, r, s.id, int(c.sessions.ttl/time.Second))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signout is POST /signout: the session ends here and in the browser.
func (c *Console) signout(w http.ResponseWriter, r *http.Request, s *session) error {
	c.sessions.end(s.id)
	c.setCookie(w, r, "", -1)
	return back(w, r, "/signin")
}

// crossSite reports whether the browser says the request comes from
// another site (Sec-Fetch-Site, else an Origin of another host).
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	case "same-origin", "none":
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err != nil || u.Host != r.Host
	}
	return false
}

// localPath is p when it is a path on this site, else "/": a sign-in's
// next page is never another site.
func localPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return "/"
	}
	return p
}
