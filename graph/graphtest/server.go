package graphtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a running simulated tenant. It serves Microsoft Graph v1.0 under
// /v1.0 and the identity platform endpoints for the tenant under
// /{tenantId}/..., over HTTPS with a self-signed certificate (Certificate)
// that Client trusts. All methods are safe for concurrent use.
type Server struct {
	srv       *httptest.Server
	latency   time.Duration
	closed    chan struct{}
	closeOnce sync.Once
	started   time.Time

	mu        sync.RWMutex // guards tenant, idx and created
	tenant    *Tenant
	idx       index
	created   map[string]time.Time // assignment id -> createdDateTime
	tokMu     sync.Mutex
	tokens    map[string]time.Time // access token -> expiry
	cntMu     sync.Mutex
	counts    map[string]int
	graphReqs int
	faultMu   sync.Mutex
	faults    []*faultState
	thrMu     sync.Mutex
	thr       throttleState

	keyOnce        sync.Once // credentials.go
	issuerKey      *rsa.PrivateKey
	identityHeader string
	withChain      atomic.Int32
	offMu          sync.Mutex
	off            []string
	client         *http.Client
	tokenLife      time.Duration

	groupsDeltaGroupRead bool // credentials.go: groups/delta needs Group.Read.All
	noUserFilter         bool // users.go: GET /users refuses $filter

	delta deltaConfig // delta.go; guarded by mu
}

// Option configures a Server.
type Option func(*Server)

// WithLatency makes the server sleep d before answering each Graph, token or
// discovery HTTP request (once per $batch, not per item). The sleep ends early
// when the request's context is cancelled or the server is closed.
func WithLatency(d time.Duration) Option {
	return func(s *Server) { s.latency = d }
}

// NewServer starts an HTTPS server (httptest, HTTP/2 enabled) serving a clone
// of t; later changes to t do not affect the server (use Update). A nil t
// serves an empty tenant. NewServer does not validate t: objects referenced
// but missing (dangling members or assignments) are simply not listed. Use
// Tenant.Validate to check a tenant built in Go. Close the server with Close.
func NewServer(t *Tenant, opts ...Option) *Server {
	if t == nil {
		t = &Tenant{}
	}
	s := &Server{
		closed:  make(chan struct{}),
		started: time.Now().UTC().Truncate(time.Second),
		tenant:  t.Clone(),
		created: map[string]time.Time{},
		tokens:  map[string]time.Time{},
		counts:  map[string]int{},
	}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	s.reindex()
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.srv.EnableHTTP2 = true
	// Clients that do not trust the certificate make the server log TLS
	// handshake errors; they are noise in test output.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	s.client = s.guard(s.srv.Client())
	return s
}

// URL returns the server's base URL, https://127.0.0.1:PORT.
func (s *Server) URL() string { return s.srv.URL }

// GraphEndpoint returns the Graph base URL (same as URL). The API is served
// under GraphEndpoint()+"/v1.0" and tokens are issued for the scope
// GraphEndpoint()+"/.default".
func (s *Server) GraphEndpoint() string { return s.srv.URL }

// LoginEndpoint returns the authority host (same as URL), to be used as
// cloud.Configuration.ActiveDirectoryAuthorityHost. The authority of the
// tenant is LoginEndpoint()+"/"+TenantID.
func (s *Server) LoginEndpoint() string { return s.srv.URL }

// Client returns an http.Client that trusts the server's certificate and
// dials nothing off loopback (OffLoopback lists what it refused). It
// implements azcore's policy.Transporter, so it can be used as
// azcore.ClientOptions.Transport.
func (s *Server) Client() *http.Client { return s.client }

// Certificate returns the server's self-signed certificate.
func (s *Server) Certificate() *x509.Certificate { return s.srv.Certificate() }

// Close stops the server. Requests sleeping because of WithLatency are
// abandoned; Close waits for the others to finish.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.srv.Close()
	})
}

// Update calls fn with the served tenant under the server's write lock, so
// requests see either the state before or after fn. fn may change anything
// (assign, unassign, add or remove members, rename, disable, change e-mail,
// delete...); it must not keep t after returning. Assignments added without an
// id or appRoleId get generated ones. Update does not validate the result.
func (s *Server) Update(fn func(t *Tenant)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.trackLocked(trackScope{}) // after reindexing
	defer s.reindexLocked()
	fn(s.tenant)
}

// relink is Update for changes that keep every user, group and service
// principal (and its id, user principal name and appId) where it is: member
// lists and assignments. It keeps the lookup maps, which take a while to
// rebuild for a big tenant, and drops the derived structures.
// sc names what fn may change, for change tracking (delta.go).
func (s *Server) relink(sc trackScope, fn func(t *Tenant)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.tenant)
	s.noteAssignmentsLocked()
	s.idx.derived = &derived{members: map[int][]ref{}}
	s.trackLocked(sc)
}

// Tenant returns a deep copy of the current state of the served tenant.
func (s *Server) Tenant() *Tenant {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tenant.Clone()
}

// Assign assigns principalID (a user, group or service principal) to the
// Application with the default app role. It does nothing when that assignment
// already exists.
func (s *Server) Assign(principalID string) {
	s.relink(trackScope{kind: kindAssign}, func(t *Tenant) {
		for _, a := range t.Assignments {
			if strings.EqualFold(a.PrincipalID, principalID) && (a.AppRoleID == "" || a.AppRoleID == DefaultAppRoleID) {
				return
			}
		}
		t.Assignments = append(t.Assignments, Assignment{PrincipalID: principalID})
	})
}

// Unassign removes every assignment of principalID to the Application.
func (s *Server) Unassign(principalID string) {
	s.relink(trackScope{kind: kindAssign}, func(t *Tenant) {
		t.Assignments = slices.DeleteFunc(t.Assignments, func(a Assignment) bool {
			return strings.EqualFold(a.PrincipalID, principalID)
		})
	})
}

// AddMember makes memberID a direct member of groupID. It does nothing when
// the group does not exist or memberID is already a member.
func (s *Server) AddMember(groupID, memberID string) {
	s.relink(trackScope{kind: kindGroup, id: groupID}, func(t *Tenant) {
		for i := range t.Groups {
			g := &t.Groups[i]
			if !strings.EqualFold(g.ID, groupID) {
				continue
			}
			if !slices.ContainsFunc(g.Members, func(m string) bool { return strings.EqualFold(m, memberID) }) {
				g.Members = append(g.Members, memberID)
			}
			return
		}
	})
}

// RemoveMember removes memberID from the direct members of groupID.
func (s *Server) RemoveMember(groupID, memberID string) {
	s.relink(trackScope{kind: kindGroup, id: groupID}, func(t *Tenant) {
		for i := range t.Groups {
			if strings.EqualFold(t.Groups[i].ID, groupID) {
				t.Groups[i].Members = removeID(t.Groups[i].Members, memberID)
			}
		}
	})
}

// SetUser adds u, or replaces the user with the same id.
func (s *Server) SetUser(u User) {
	s.Update(func(t *Tenant) {
		for i := range t.Users {
			if strings.EqualFold(t.Users[i].ID, u.ID) {
				t.Users[i] = u
				return
			}
		}
		t.Users = append(t.Users, u)
	})
}

// SetGroup adds g, or replaces the group with the same id (members included).
func (s *Server) SetGroup(g Group) {
	g.GroupTypes = slices.Clone(g.GroupTypes)
	g.Members = slices.Clone(g.Members)
	s.Update(func(t *Tenant) {
		for i := range t.Groups {
			if strings.EqualFold(t.Groups[i].ID, g.ID) {
				t.Groups[i] = g
				return
			}
		}
		t.Groups = append(t.Groups, g)
	})
}

// DeleteUser deletes the user with id, its assignments and its group
// memberships, as Entra does.
func (s *Server) DeleteUser(id string) {
	s.Update(func(t *Tenant) {
		t.Users = slices.DeleteFunc(t.Users, func(u User) bool { return strings.EqualFold(u.ID, id) })
		deleteReferences(t, id)
	})
}

// DeleteGroup deletes the group with id, its assignments and its memberships
// in other groups, as Entra does.
func (s *Server) DeleteGroup(id string) {
	s.Update(func(t *Tenant) {
		t.Groups = slices.DeleteFunc(t.Groups, func(g Group) bool { return strings.EqualFold(g.ID, id) })
		deleteReferences(t, id)
	})
}

func deleteReferences(t *Tenant, id string) {
	t.Assignments = slices.DeleteFunc(t.Assignments, func(a Assignment) bool {
		return strings.EqualFold(a.PrincipalID, id)
	})
	for i := range t.Groups {
		t.Groups[i].Members = removeID(t.Groups[i].Members, id)
	}
}

func removeID(ids []string, id string) []string {
	return slices.DeleteFunc(ids, func(m string) bool { return strings.EqualFold(m, id) })
}

// RevokeTokens invalidates every access token issued so far; later Graph
// requests carrying them get 401 InvalidAuthenticationToken.
func (s *Server) RevokeTokens() {
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	clear(s.tokens)
}

// Requests returns the number of requests per normalized endpoint, such as
// "GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo",
// "GET /v1.0/servicePrincipals(appId='{appId}')", "GET /v1.0/groups/{id}",
// "GET /v1.0/groups/{id}/members", "GET /v1.0/users/{id}", "GET /v1.0/users",
// "POST /v1.0/$batch", "POST /token" or
// "GET /{tenant}/v2.0/.well-known/openid-configuration". Every HTTP request
// counts once; every item of a $batch counts once more under its own endpoint.
// Paths that match no endpoint are counted under their literal path.
func (s *Server) Requests() map[string]int {
	s.cntMu.Lock()
	defer s.cntMu.Unlock()
	m := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		m[k] = v
	}
	return m
}

// GraphRequests returns the number of HTTP requests made to /v1.0 (items of a
// $batch are not HTTP requests; token and discovery requests are not Graph).
func (s *Server) GraphRequests() int {
	s.cntMu.Lock()
	defer s.cntMu.Unlock()
	return s.graphReqs
}

// ResetCounts sets all request counts to zero, and so the resource units
// and throttle statistics (see ThrottleStats).
func (s *Server) ResetCounts() {
	s.cntMu.Lock()
	clear(s.counts)
	s.graphReqs = 0
	s.cntMu.Unlock()
	s.resetThrottleStats()
}

func (s *Server) count(key string, graphHTTP bool) {
	s.cntMu.Lock()
	defer s.cntMu.Unlock()
	s.counts[key]++
	if graphHTTP {
		s.graphReqs++
	}
}

// sleep waits for the configured latency. It returns false when the request
// was cancelled or the server closed meanwhile.
func (s *Server) sleep(ctx context.Context) bool {
	return s.pause(ctx, s.latency)
}

// pause waits for d. It returns false when ctx is done or the server closed
// meanwhile.
func (s *Server) pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

// abandon ends a request whose latency sleep was interrupted: nothing is sent
// to a client that went away; a closing server answers 503.
func (s *Server) abandon(w http.ResponseWriter) {
	select {
	case <-s.closed:
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	if p == "/v1.0" || strings.HasPrefix(p, "/v1.0/") {
		s.serveGraph(w, r, strings.TrimPrefix(p, "/v1.0"))
		return
	}
	s.serveIdentity(w, r, p)
}

// kinds of directory objects.
const (
	kindUser = iota + 1
	kindGroup
	kindSP  // an entry of Tenant.ServicePrincipals
	kindApp // Tenant.Application
)

type ref struct {
	kind int
	i    int
}

// index maps lower-cased ids, user principal names and appIds to objects.
type index struct {
	byID    map[string]ref
	byUPN   map[string]int
	byAppID map[string]ref
	derived *derived
}

// derived holds structures computed from the tenant on first use and thrown
// away with the index when the tenant changes, so that paging through a big
// listing does not resolve the whole collection again for every page.
// Readers hold Server.mu (read) and derived.mu.
type derived struct {
	mu          sync.Mutex
	members     map[int][]ref // group index -> existing direct members
	memberOf    *memberOfIndex
	assignments []int // indices of the assignments whose principal exists
	haveAssign  bool
	filtered    map[string][]int // $filter of /users -> indices of the users it matches
	lowerUPNs   []string         // the users' principal names, lower-cased
}

// memberOfIndex lists the groups each user is a direct member of, in tenant
// order: groups[off[u]:off[u+1]] for user index u.
type memberOfIndex struct {
	off    []int32
	groups []int32
}

func (s *Server) reindex() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reindexLocked()
}

// noteAssignmentsLocked fills the generated defaults of new assignments and
// records when they were created. Callers hold s.mu.
func (s *Server) noteAssignmentsLocked() {
	t := s.tenant
	t.normalize()
	now := time.Now().UTC().Truncate(time.Second)
	for _, a := range t.Assignments {
		if _, ok := s.created[a.ID]; !ok {
			s.created[a.ID] = now
		}
	}
}

func (s *Server) reindexLocked() {
	t := s.tenant
	s.noteAssignmentsLocked()
	idx := index{
		byID:    make(map[string]ref, len(t.Users)+len(t.Groups)+len(t.ServicePrincipals)+1),
		byUPN:   make(map[string]int, len(t.Users)),
		byAppID: make(map[string]ref, len(t.ServicePrincipals)+1),
		derived: &derived{members: map[int][]ref{}},
	}
	add := func(m map[string]ref, k string, r ref) {
		if k == "" {
			return
		}
		k = strings.ToLower(k)
		if _, ok := m[k]; !ok {
			m[k] = r
		}
	}
	add(idx.byID, t.Application.ID, ref{kind: kindApp})
	add(idx.byAppID, t.Application.AppID, ref{kind: kindApp})
	for i, u := range t.Users {
		add(idx.byID, u.ID, ref{kindUser, i})
		if k := strings.ToLower(u.UserPrincipalName); k != "" {
			if _, ok := idx.byUPN[k]; !ok {
				idx.byUPN[k] = i
			}
		}
	}
	for i, g := range t.Groups {
		add(idx.byID, g.ID, ref{kindGroup, i})
	}
	for i, sp := range t.ServicePrincipals {
		add(idx.byID, sp.ID, ref{kindSP, i})
		add(idx.byAppID, sp.AppID, ref{kindSP, i})
	}
	s.idx = idx
}

// lookup finds a directory object by id. Callers hold s.mu.
func (s *Server) lookup(id string) (ref, bool) {
	r, ok := s.idx.byID[strings.ToLower(id)]
	return r, ok
}

// groupMembers returns the existing direct members of group gi (members
// that no longer exist are not listed, as in Entra). Callers hold s.mu and
// must not modify the result.
func (s *Server) groupMembers(gi int) []ref {
	d := s.idx.derived
	d.mu.Lock()
	defer d.mu.Unlock()
	if m, ok := d.members[gi]; ok {
		return m
	}
	ms := s.tenant.Groups[gi].Members
	out := make([]ref, 0, len(ms))
	for _, m := range ms {
		if r, ok := s.lookup(m); ok {
			out = append(out, r)
		}
	}
	d.members[gi] = out
	return out
}

// userGroups returns the indices of the groups user ui is a direct member of,
// in tenant order. Callers hold s.mu and must not modify the result.
func (s *Server) userGroups(ui int) []int32 {
	d := s.idx.derived
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.memberOf == nil {
		d.memberOf = s.buildMemberOf()
	}
	mo := d.memberOf
	return mo.groups[mo.off[ui]:mo.off[ui+1]]
}

func (s *Server) buildMemberOf() *memberOfIndex {
	t := s.tenant
	n := len(t.Users)
	type pair struct{ u, g int32 }
	var pairs []pair
	last := make([]int32, n) // last group (+1) a user was seen in
	count := make([]int32, n+1)
	for gi, g := range t.Groups {
		for _, m := range g.Members {
			r, ok := s.lookup(m)
			if !ok || r.kind != kindUser || last[r.i] == int32(gi)+1 {
				continue
			}
			last[r.i] = int32(gi) + 1
			pairs = append(pairs, pair{int32(r.i), int32(gi)})
			count[r.i+1]++
		}
	}
	for i := 1; i <= n; i++ {
		count[i] += count[i-1]
	}
	mo := &memberOfIndex{off: count, groups: make([]int32, len(pairs))}
	pos := last // reuse: next free slot per user
	copy(pos, count[:n])
	for _, p := range pairs { // pairs are in group order
		mo.groups[pos[p.u]] = p.g
		pos[p.u]++
	}
	return mo
}

// liveAssignments returns the indices of the assignments whose principal
// exists. Callers hold s.mu and must not modify the result.
func (s *Server) liveAssignments() []int {
	d := s.idx.derived
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.haveAssign {
		for i := range s.tenant.Assignments {
			if _, ok := s.lookup(s.tenant.Assignments[i].PrincipalID); ok {
				d.assignments = append(d.assignments, i)
			}
		}
		d.haveAssign = true
	}
	return d.assignments
}

// sp returns the service principal r refers to. Callers hold s.mu.
func (s *Server) sp(r ref) *ServicePrincipal {
	if r.kind == kindApp {
		return &s.tenant.Application
	}
	return &s.tenant.ServicePrincipals[r.i]
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

func newAssignmentID() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

func newUUID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
