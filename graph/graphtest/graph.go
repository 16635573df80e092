package graphtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A Graph request's way through the server: routed (route.go), counted,
// authorized, throttled (throttle.go), perhaps answered by an injected fault
// (fault.go), its query checked (query.go), then the endpoint's handler
// (users.go, groups.go, serviceprincipals.go, batch.go, getbyids.go) answers.

// greq is one Graph request: an HTTP request to /v1.0 or an item of a $batch.
type greq struct {
	ctx             context.Context
	method          string
	path            string // escaped path relative to /v1.0 ("/users/x")
	query           url.Values
	requestID       string
	clientRequestID string
	header          http.Header
	body            []byte // request body ($batch, getByIds)
	contentEncoding string
	inBatch         bool
	dropPage        bool // a DropPage fault: the nextLink skips one page
}

// gresp is the answer to a greq.
type gresp struct {
	status int
	header http.Header
	body   []byte
	// abandoned: a Delay was interrupted (client gone or server closing);
	// nothing is to be answered.
	abandoned bool
}

var abandonedResp = &gresp{abandoned: true}

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request, rest string) {
	if !s.sleep(r.Context()) {
		s.abandon(w)
		return
	}
	g := &greq{
		ctx:             r.Context(),
		method:          r.Method,
		path:            rest,
		requestID:       newUUID(),
		clientRequestID: r.Header.Get("client-request-id"),
		header:          r.Header,
		contentEncoding: r.Header.Get("Content-Encoding"),
	}
	if g.clientRequestID == "" {
		g.clientRequestID = g.requestID
	}
	q, qerr := url.ParseQuery(r.URL.RawQuery)
	g.query = q
	rt := s.route(g)
	s.count(rt.key, true)

	var resp *gresp
	switch {
	case qerr != nil:
		resp = s.gerr(g, http.StatusBadRequest, "BadRequest", "The query string is malformed.")
	default:
		resp = s.authorize(r, g)
	}
	if resp == nil && (rt.key == "POST /v1.0/$batch" || rt.key == getByIDsKey) && rt.fail == nil {
		body, status, msg := readBody(r, g.contentEncoding)
		if status != 0 {
			resp = s.gerr(g, status, "BadRequest", msg)
		}
		g.body = body
	}
	if resp == nil {
		resp = s.run(g, rt)
	}
	if resp.abandoned {
		s.abandon(w)
		return
	}
	writeResp(w, resp)
}

func writeResp(w http.ResponseWriter, resp *gresp) {
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// dispatch runs a Graph request that is not an HTTP request of its own (an
// item of a $batch): it is counted under its endpoint and subject to faults.
func (s *Server) dispatch(g *greq) *gresp {
	rt := s.route(g)
	s.count(rt.key, false)
	return s.run(g, rt)
}

// run applies the throttle, faults and query validation, then the
// endpoint's handler.
func (s *Server) run(g *greq, rt *route) *gresp {
	if rt.fail != nil {
		return rt.fail
	}
	page := 0
	if rt.listing {
		page = s.pageOf(g, rt)
	}
	key := retryKey(rt, page)
	s.noteArrival(key, time.Now())
	cost := requestCost(g, rt)
	var usage float64
	if cost > 0 {
		ok, wait, u := s.admit(cost)
		if !ok {
			resp := s.throttled(g, wait)
			s.noteAnswer(key, resp)
			return resp
		}
		usage = u
	}
	resp := s.answer(g, rt, page)
	if resp.abandoned {
		return resp
	}
	if cost > 0 {
		resp.header.Set("x-ms-resource-unit", strconv.Itoa(cost))
		if usage > 0.8 {
			resp.header.Set("x-ms-throttle-limit-percentage", usageHeader(usage))
		}
	}
	s.noteAnswer(key, resp)
	return resp
}

// answer answers an admitted request: with an injected fault, or the
// endpoint's handler after query validation.
func (s *Server) answer(g *greq, rt *route, page int) *gresp {
	f, ok := s.takeFault(g.method, rt.key, rt.id, page, rt.listing, true)
	if !ok {
		return s.handle(g, rt)
	}
	if !s.pause(g.ctx, f.Delay) {
		return abandonedResp
	}
	var resp *gresp
	if f.isError() {
		resp = s.graphFault(g, f)
	} else {
		g.dropPage = f.DropPage
		resp = s.handle(g, rt)
		resp.header.Set("X-Graphtest-Fault", "injected")
	}
	if f.Truncate {
		resp.body = resp.body[:len(resp.body)/2]
	}
	return resp
}

func (s *Server) handle(g *greq, rt *route) *gresp {
	if resp := s.checkQuery(g, rt); resp != nil && !rt.delta {
		return resp
	}
	if resp := s.checkPermission(g, rt); resp != nil {
		return resp
	}
	return rt.handler(g, rt)
}

// authorize checks the bearer token of an HTTP request to /v1.0.
func (s *Server) authorize(r *http.Request, g *greq) *gresp {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	var msg string
	if h == "" || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		msg = "Access token is empty."
	} else {
		s.tokMu.Lock()
		exp, ok := s.tokens[tok]
		s.tokMu.Unlock()
		switch {
		case !ok:
			msg = "Access token validation failure. Invalid audience."
		case time.Now().After(exp):
			msg = "Lifetime validation failed, the token is expired."
		default:
			return nil
		}
	}
	resp := s.gerr(g, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
	resp.header.Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="", authorization_uri="%s/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`, s.URL()))
	return resp
}
