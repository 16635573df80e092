package graphtest

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// odataJSON is the Content-Type of Graph's JSON responses.
const odataJSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// Page sizes of Graph directory listings.
const (
	defaultPageSize = 100
	maxPageSize     = 999
)

// greq is one Graph request: an HTTP request to /v1.0 or an item of a $batch.
type greq struct {
	ctx             context.Context
	method          string
	path            string // escaped path relative to /v1.0 ("/users/x")
	query           url.Values
	requestID       string
	clientRequestID string
	header          http.Header
	body            []byte // request body ($batch only)
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

// route is the endpoint a greq was routed to.
type route struct {
	key     string // normalized endpoint, e.g. "GET /v1.0/users/{id}"
	id      string // {id} or {appId} of the endpoint
	byAppID bool
	listing bool
	handler func(*greq, *route) *gresp
	fail    *gresp // routing error (unknown path, method not allowed...)
}

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
	if resp == nil && rt.key == "POST /v1.0/$batch" && rt.fail == nil {
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
	if resp := s.checkQuery(g); resp != nil {
		return resp
	}
	return rt.handler(g, rt)
}

func (s *Server) graphFault(g *greq, f Fault) *gresp {
	status := faultStatus(f)
	var resp *gresp
	if f.Body != "" {
		resp = &gresp{status: status, header: s.newHeader(g), body: []byte(f.Body)}
	} else {
		code, msg := errorFor(status)
		resp = s.gerr(g, status, code, msg)
	}
	if f.RetryAfter != "" {
		resp.header.Set("Retry-After", f.RetryAfter)
	}
	resp.header.Set("X-Graphtest-Fault", "injected")
	return resp
}

// errorFor returns the Graph error code and message used for an injected
// status.
func errorFor(status int) (code, msg string) {
	switch status {
	case 400:
		return "BadRequest", "Bad request."
	case 401:
		return "InvalidAuthenticationToken", "Access token validation failure."
	case 403:
		return "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
	case 404:
		return "Request_ResourceNotFound", "Resource does not exist or one of its queried reference-property objects are not present."
	case 409:
		return "Conflict", "Conflict."
	case 429:
		return "TooManyRequests", "Too many requests. Retry after the time given in the Retry-After header."
	case 500:
		return "InternalServerError", "Encountered an internal server error."
	case 502:
		return "BadGateway", "Bad gateway."
	case 503:
		return "ServiceUnavailable", "The service is temporarily unavailable. Retry later."
	case 504:
		return "GatewayTimeout", "Gateway timeout."
	}
	return "UnknownError", http.StatusText(status)
}

func (s *Server) newHeader(g *greq) http.Header {
	h := http.Header{}
	h.Set("Content-Type", odataJSON)
	h.Set("request-id", g.requestID)
	h.Set("client-request-id", g.clientRequestID)
	h.Set("OData-Version", "4.0")
	h.Set("Cache-Control", "no-cache")
	return h
}

func (s *Server) gjson(g *greq, status int, v any) *gresp {
	return &gresp{status: status, header: s.newHeader(g), body: mustJSON(v)}
}

// gerr builds a Graph error response.
func (s *Server) gerr(g *greq, status int, code, msg string) *gresp {
	return s.gjson(g, status, object{{"error", object{
		{"code", code},
		{"message", msg},
		{"innerError", object{
			{"date", time.Now().UTC().Format("2006-01-02T15:04:05")},
			{"request-id", g.requestID},
			{"client-request-id", g.clientRequestID},
		}},
	}}})
}

func (s *Server) notFound(g *greq, id string) *gresp {
	return s.gerr(g, http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
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

// splitPath splits an escaped path into unescaped segments. A trailing slash
// is ignored.
func splitPath(p string) ([]string, bool) {
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return nil, true
	}
	parts := strings.Split(p, "/")
	for i, part := range parts {
		u, err := url.PathUnescape(part)
		if err != nil || u == "" {
			return nil, false
		}
		parts[i] = u
	}
	return parts, true
}

// route maps a Graph request to its endpoint.
func (s *Server) route(g *greq) *route {
	literal := g.method + " /v1.0" + g.path
	segs, ok := splitPath(g.path)
	if !ok {
		return &route{key: literal, fail: s.gerr(g, http.StatusBadRequest, "BadRequest", "The request URL path is malformed.")}
	}
	unknown := func(seg string) *route {
		return &route{key: literal, fail: s.gerr(g, http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("Resource not found for the segment '%s'.", seg))}
	}
	notSimulated := func() *route {
		return &route{key: literal, fail: s.gerr(g, http.StatusNotImplemented, "NotImplemented",
			fmt.Sprintf("graphtest does not simulate %s.", literal))}
	}
	if len(segs) == 0 {
		return unknown("")
	}
	var (
		rt      route
		pattern string
		method  = http.MethodGet
	)
	first := segs[0]
	switch {
	case strings.EqualFold(first, "users"):
		switch len(segs) {
		case 1:
			pattern, rt = "/users", route{listing: true, handler: s.listUsers}
		case 2:
			if segs[1] == "$count" {
				pattern, rt = "/users/$count", route{handler: s.countUsers}
				break
			}
			pattern, rt = "/users/{id}", route{id: segs[1], handler: s.getUser}
		case 3:
			if !strings.EqualFold(segs[2], "memberOf") {
				return unknown(segs[2])
			}
			pattern, rt = "/users/{id}/memberOf", route{id: segs[1], listing: true, handler: s.listMemberOf}
		default:
			return unknown(segs[2])
		}
	case strings.EqualFold(first, "groups"):
		switch {
		case len(segs) == 1:
			return notSimulated()
		case len(segs) == 2:
			pattern, rt = "/groups/{id}", route{id: segs[1], handler: s.getGroup}
		case len(segs) == 3 && strings.EqualFold(segs[2], "members"):
			pattern, rt = "/groups/{id}/members", route{id: segs[1], listing: true, handler: s.listMembers}
		case len(segs) == 3 && isGraphNavigation(segs[2]):
			return notSimulated()
		default:
			return unknown(segs[2])
		}
	case strings.EqualFold(first, "servicePrincipals"):
		switch {
		case len(segs) == 1:
			return notSimulated()
		case len(segs) == 2:
			pattern, rt = "/servicePrincipals/{id}", route{id: segs[1], handler: s.getServicePrincipal}
		case len(segs) == 3 && strings.EqualFold(segs[2], "appRoleAssignedTo"):
			pattern, rt = "/servicePrincipals/{id}/appRoleAssignedTo", route{id: segs[1], listing: true, handler: s.listAssignments}
		case len(segs) == 4 && strings.EqualFold(segs[2], "appRoleAssignedTo") && segs[3] == "$count":
			pattern, rt = "/servicePrincipals/{id}/appRoleAssignedTo/$count", route{id: segs[1], handler: s.countAssignments}
		default:
			return unknown(segs[2])
		}
	case len(first) > len("servicePrincipals(") && strings.EqualFold(first[:len("servicePrincipals(")], "servicePrincipals("):
		appID, ok := parseAppIDKey(first[len("servicePrincipals("):])
		if !ok {
			return &route{key: literal, fail: s.gerr(g, http.StatusBadRequest, "BadRequest",
				fmt.Sprintf("Bad key segment '%s'. Use servicePrincipals(appId='{appId}').", first))}
		}
		switch {
		case len(segs) == 1:
			pattern, rt = "/servicePrincipals(appId='{appId}')", route{id: appID, byAppID: true, handler: s.getServicePrincipal}
		case len(segs) == 2 && strings.EqualFold(segs[1], "appRoleAssignedTo"):
			pattern, rt = "/servicePrincipals(appId='{appId}')/appRoleAssignedTo", route{id: appID, byAppID: true, listing: true, handler: s.listAssignments}
		default:
			return unknown(segs[1])
		}
	case first == "$batch" && len(segs) == 1:
		pattern, rt, method = "/$batch", route{handler: s.batch}, http.MethodPost
	case strings.EqualFold(first, "applications") || strings.EqualFold(first, "directoryObjects") ||
		strings.EqualFold(first, "me") || strings.EqualFold(first, "organization"):
		return notSimulated()
	default:
		return unknown(first)
	}
	rt.key = g.method + " /v1.0" + pattern
	if g.method != method {
		return &route{key: rt.key, fail: s.gerr(g, http.StatusMethodNotAllowed, "Request_BadRequest",
			"Specified HTTP method is not allowed for the request target.")}
	}
	return &rt
}

func isGraphNavigation(seg string) bool {
	switch strings.ToLower(seg) {
	case "owners", "transitivemembers", "memberof", "transitivememberof", "approleassignments":
		return true
	}
	return false
}

// parseAppIDKey parses the rest of a "servicePrincipals(appId='x')" segment,
// after the opening parenthesis.
func parseAppIDKey(rest string) (string, bool) {
	if !strings.HasSuffix(rest, ")") {
		return "", false
	}
	rest = strings.TrimSuffix(rest, ")")
	name, val, ok := strings.Cut(rest, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(name), "appId") {
		return "", false
	}
	val = strings.TrimSpace(val)
	if len(val) < 3 || !(val[0] == '\'' && val[len(val)-1] == '\'' || val[0] == '"' && val[len(val)-1] == '"') {
		return "", false
	}
	return val[1 : len(val)-1], true
}

// queryOpt returns the value of a query option, its name matched
// case-insensitively.
func queryOpt(q url.Values, name string) (string, bool) {
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

// checkQuery rejects the OData system query options the simulator does not
// implement, rather than silently ignoring them.
func (s *Server) checkQuery(g *greq) *gresp {
	for k := range g.query {
		if !strings.HasPrefix(k, "$") {
			continue
		}
		switch strings.ToLower(k) {
		case "$select", "$top", "$skiptoken":
		default:
			return s.gerr(g, http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("graphtest does not support the query option '%s'.", k))
		}
	}
	return nil
}

// selection parses $select against the property sets an endpoint returns. It
// returns nil (default properties) when there is no $select.
func (s *Server) selection(g *greq, typeName string, sets ...*propSet) ([]string, *gresp) {
	raw, ok := queryOpt(g.query, "$select")
	if !ok {
		return nil, nil
	}
	var sel []string
	seen := map[string]bool{}
	for _, n := range strings.Split(raw, ",") {
		n = strings.TrimSpace(n)
		if n == "" || n == "@odata.type" {
			continue
		}
		canonical := ""
		for _, ps := range sets {
			if c, ok := ps.known[strings.ToLower(n)]; ok {
				canonical = c
				break
			}
		}
		if canonical == "" {
			return nil, s.gerr(g, http.StatusBadRequest, "BadRequest",
				fmt.Sprintf("Could not find a property named '%s' on type '%s'.", n, typeName))
		}
		if !seen[canonical] {
			seen[canonical] = true
			sel = append(sel, canonical)
		}
	}
	if sel == nil {
		sel = []string{}
	}
	return sel, nil
}

// contextURL returns the @odata.context of a response.
func (s *Server) contextURL(entitySet string, sel []string, entity bool) string {
	c := s.URL() + "/v1.0/$metadata#" + entitySet
	if sel != nil {
		c += "(" + strings.Join(sel, ",") + ")"
	}
	if entity {
		c += "/$entity"
	}
	return c
}

func (s *Server) entity(g *greq, ctx string, o object) *gresp {
	out := make(object, 0, len(o)+1)
	out = append(out, kv{"@odata.context", ctx})
	out = append(out, o...)
	return s.gjson(g, http.StatusOK, out)
}

// skip tokens are opaque to clients; they encode the listing they belong to,
// the offset of the page and its 1-based number.
func encodeSkipToken(key, scope string, offset, page int) string {
	raw := fmt.Sprintf("gt1\x00%s\x00%s\x00%d\x00%d", key, strings.ToLower(scope), offset, page)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeSkipToken(tok, key, scope string) (offset, page int, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, 0, false
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 5 || parts[0] != "gt1" || parts[1] != key || parts[2] != strings.ToLower(scope) {
		return 0, 0, false
	}
	offset, err1 := strconv.Atoi(parts[3])
	page, err2 := strconv.Atoi(parts[4])
	if err1 != nil || err2 != nil || offset < 0 || page < 2 {
		return 0, 0, false
	}
	return offset, page, true
}

// pageOf returns the 1-based page number a listing request asks for (0 when
// its skip token is invalid).
func (s *Server) pageOf(g *greq, rt *route) int {
	tok, ok := queryOpt(g.query, "$skiptoken")
	if !ok {
		return 1
	}
	_, page, ok := decodeSkipToken(tok, rt.key, rt.id)
	if !ok {
		return 0
	}
	return page
}

// listing answers a paged collection of n items.
func (s *Server) listing(g *greq, rt *route, ctx string, sel []string, n int, item func(i int) object) *gresp {
	top := defaultPageSize
	rawTop, hasTop := queryOpt(g.query, "$top")
	if hasTop {
		v, err := strconv.Atoi(strings.TrimSpace(rawTop))
		if err != nil {
			return s.gerr(g, http.StatusBadRequest, "BadRequest",
				fmt.Sprintf("Invalid value '%s' for query option '$top'.", rawTop))
		}
		if v < 1 || v > maxPageSize {
			return s.gerr(g, http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("Invalid page size specified: '%d'. Must be between 1 and %d inclusive.", v, maxPageSize))
		}
		top = v
	}
	offset, page := 0, 1
	if tok, ok := queryOpt(g.query, "$skiptoken"); ok {
		var valid bool
		offset, page, valid = decodeSkipToken(tok, rt.key, rt.id)
		if !valid {
			return s.gerr(g, http.StatusBadRequest, "Directory_ExpiredPageToken",
				"The specified page token value has expired or is not valid for this request.")
		}
	}
	end := min(offset+top, n)
	values := make([]object, 0, max(end-offset, 0))
	for i := offset; i < end; i++ {
		values = append(values, item(i))
	}
	out := object{{"@odata.context", ctx}}
	next, nextPage := end, page+1
	if g.dropPage && end < n {
		// The page after this one goes missing.
		next, nextPage = min(end+top, n), page+2
	}
	if next < n {
		params := []string{}
		if raw, ok := queryOpt(g.query, "$select"); ok {
			params = append(params, "$select="+url.QueryEscape(raw))
		}
		if hasTop {
			params = append(params, "$top="+strconv.Itoa(top))
		}
		params = append(params, "$skiptoken="+encodeSkipToken(rt.key, rt.id, next, nextPage))
		out = append(out, kv{"@odata.nextLink", s.URL() + "/v1.0" + g.path + "?" + strings.Join(params, "&")})
	}
	out = append(out, kv{"value", values})
	hint := 512
	if len(values) > 0 {
		hint += len(values) * (16 + 40*len(values[0]))
	}
	return &gresp{status: http.StatusOK, header: s.newHeader(g), body: mustJSONSized(out, hint)}
}

func (s *Server) listUsers(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, userProps.typeName, userProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	users := s.tenant.Users
	return s.listing(g, rt, s.contextURL("users", sel, false), sel, len(users), func(i int) object {
		u := &users[i]
		return render(userProps, sel, "", func(p string) any { return s.userValue(u, p) })
	})
}

// countUsers answers GET /users/$count: the number of users as text/plain.
// Like Graph it needs the header ConsistencyLevel: eventual (an advanced
// query); without it the answer is 400.
func (s *Server) countUsers(g *greq, _ *route) *gresp {
	if resp := s.needEventual(g); resp != nil {
		return resp
	}
	s.mu.RLock()
	n := len(s.tenant.Users)
	s.mu.RUnlock()
	return countResp(n)
}

// needEventual answers 400 like Graph when an advanced query ($count) comes
// without ConsistencyLevel: eventual; nil when it is there.
func (s *Server) needEventual(g *greq) *gresp {
	if strings.EqualFold(g.header.Get("ConsistencyLevel"), "eventual") {
		return nil
	}
	return s.gerr(g, http.StatusBadRequest, "Request_BadRequest",
		"Count is not currently supported without the ConsistencyLevel: eventual header.")
}

// countResp is a $count answer: the number as text/plain.
func countResp(n int) *gresp {
	h := http.Header{}
	h.Set("Content-Type", "text/plain")
	return &gresp{status: http.StatusOK, header: h, body: []byte(strconv.Itoa(n))}
}

func (s *Server) getUser(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, userProps.typeName, userProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := -1
	if r, ok := s.lookup(rt.id); ok && r.kind == kindUser {
		i = r.i
	} else if j, ok := s.idx.byUPN[strings.ToLower(rt.id)]; ok {
		i = j
	}
	if i < 0 {
		return s.notFound(g, rt.id)
	}
	u := &s.tenant.Users[i]
	return s.entity(g, s.contextURL("users", sel, true),
		render(userProps, sel, "", func(p string) any { return s.userValue(u, p) }))
}

func (s *Server) getGroup(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, groupProps.typeName, groupProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.lookup(rt.id)
	if !ok || r.kind != kindGroup {
		return s.notFound(g, rt.id)
	}
	grp := &s.tenant.Groups[r.i]
	return s.entity(g, s.contextURL("groups", sel, true),
		render(groupProps, sel, "", func(p string) any { return s.groupValue(grp, p) }))
}

func (s *Server) listMembers(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, "microsoft.graph.directoryObject", userProps, groupProps, spProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.lookup(rt.id)
	if !ok || r.kind != kindGroup {
		return s.notFound(g, rt.id)
	}
	members := s.groupMembers(r.i)
	ctx := s.URL() + "/v1.0/$metadata#directoryObjects"
	if sel != nil {
		ctx += "(" + strings.Join(sel, ",") + ")"
	}
	return s.listing(g, rt, ctx, sel, len(members), func(i int) object {
		return s.directoryObject(members[i], sel)
	})
}

// listMemberOf lists the groups a user is a direct member of (not
// transitive), in tenant order.
func (s *Server) listMemberOf(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, "microsoft.graph.directoryObject", groupProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.lookup(rt.id)
	if !ok || r.kind != kindUser {
		return s.notFound(g, rt.id)
	}
	groups := s.userGroups(r.i)
	ctx := s.URL() + "/v1.0/$metadata#directoryObjects"
	if sel != nil {
		ctx += "(" + strings.Join(sel, ",") + ")"
	}
	return s.listing(g, rt, ctx, sel, len(groups), func(i int) object {
		return s.directoryObject(ref{kindGroup, int(groups[i])}, sel)
	})
}

// findSP finds a service principal by id or appId. Callers hold s.mu.
func (s *Server) findSP(rt *route) (ref, bool) {
	var r ref
	var ok bool
	if rt.byAppID {
		r, ok = s.idx.byAppID[strings.ToLower(rt.id)]
	} else {
		r, ok = s.lookup(rt.id)
	}
	if !ok || (r.kind != kindSP && r.kind != kindApp) {
		return ref{}, false
	}
	return r, true
}

func (s *Server) getServicePrincipal(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, spProps.typeName, spProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.findSP(rt)
	if !ok {
		if rt.byAppID {
			return s.notFound(g, "appId='"+rt.id+"'")
		}
		return s.notFound(g, rt.id)
	}
	sp := s.sp(r)
	isApp := r.kind == kindApp
	return s.entity(g, s.contextURL("servicePrincipals", sel, true),
		render(spProps, sel, "", func(p string) any { return s.spValue(sp, isApp, p) }))
}

// countAssignments answers GET /servicePrincipals/{id}/appRoleAssignedTo/$count
// as text/plain; like every $count it needs ConsistencyLevel: eventual.
func (s *Server) countAssignments(g *greq, rt *route) *gresp {
	if resp := s.needEventual(g); resp != nil {
		return resp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.findSP(rt)
	if !ok {
		return s.notFound(g, rt.id)
	}
	n := 0
	if r.kind == kindApp {
		n = len(s.liveAssignments())
	}
	return countResp(n)
}

func (s *Server) listAssignments(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, assignmentProps.typeName, assignmentProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.findSP(rt)
	if !ok {
		if rt.byAppID {
			return s.notFound(g, "appId='"+rt.id+"'")
		}
		return s.notFound(g, rt.id)
	}
	// Only the Application has assignments; assignments whose principal no
	// longer exists are not listed.
	var list []int
	if r.kind == kindApp {
		list = s.liveAssignments()
	}
	ctx := s.URL() + "/v1.0/$metadata#servicePrincipals('" + s.sp(r).ID + "')/appRoleAssignedTo"
	if sel != nil {
		ctx += "(" + strings.Join(sel, ",") + ")"
	}
	return s.listing(g, rt, ctx, sel, len(list), func(i int) object {
		a := &s.tenant.Assignments[list[i]]
		return render(assignmentProps, sel, "", func(p string) any { return s.assignmentValue(a, p) })
	})
}
