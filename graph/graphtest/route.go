package graphtest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Routing: which simulated endpoint a Graph request names.

// route is the endpoint a greq was routed to.
type route struct {
	key     string // normalized endpoint, e.g. "GET /v1.0/users/{id}"
	id      string // {id} or {appId} of the endpoint
	byAppID bool
	listing bool
	delta   bool // a delta endpoint: its own query options and tokens (delta_serve.go)
	handler func(*greq, *route) *gresp
	fail    *gresp // routing error (unknown path, method not allowed...)
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
			if isDelta(segs[1]) {
				pattern, rt = "/users/delta", route{id: "users", listing: true, delta: true, handler: s.usersDelta}
				break
			}
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
		case len(segs) == 2 && isDelta(segs[1]):
			pattern, rt = "/groups/delta", route{id: "groups", listing: true, delta: true, handler: s.groupsDelta}
		case len(segs) == 2:
			pattern, rt = "/groups/{id}", route{id: segs[1], handler: s.getGroup}
		case len(segs) == 3 && strings.EqualFold(segs[2], "members"):
			pattern, rt = "/groups/{id}/members", route{id: segs[1], listing: true, handler: s.listMembers}
		case len(segs) == 4 && strings.EqualFold(segs[2], "members") && segs[3] == "$count":
			pattern, rt = "/groups/{id}/members/$count", route{id: segs[1], handler: s.countMembers}
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
	case strings.EqualFold(first, "directoryObjects") && len(segs) == 2 && strings.EqualFold(segs[1], "getByIds"):
		pattern, rt, method = "/directoryObjects/getByIds", route{handler: s.getByIDs}, http.MethodPost
	case strings.EqualFold(first, "directoryObjects") && len(segs) == 2 && isDelta(segs[1]):
		pattern, rt = "/directoryObjects/delta", route{id: "directoryObjects", listing: true, delta: true, handler: s.directoryObjectsDelta}
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

// isDelta tells whether a segment names the delta function: "delta", or
// "delta()" as the SDK's request builders write it.
func isDelta(seg string) bool {
	return strings.EqualFold(seg, "delta") || strings.EqualFold(seg, "delta()")
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
