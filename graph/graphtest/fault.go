package graphtest

import (
	"strings"
)

// Fault describes an injected failure. A request matches a fault when every
// non-zero selector (Method, Endpoint, ID, Page) matches it; the first
// matching fault (in injection order) that has not fired Times times answers
// the request instead of the normal handler.
//
// Faults are evaluated for every HTTP request to /v1.0 (after the bearer token
// was accepted) and again for every item of a $batch, so a fault can make a
// single item of a batch fail (for example 429 with Retry-After) while the
// outer POST /v1.0/$batch answers 200. A fault whose Endpoint is empty matches
// both the outer $batch request and its items; name the item's endpoint to
// target items only. The token and discovery endpoints are matched only by a
// fault naming them explicitly (Endpoint "POST /token" or
// "GET /{tenant}/v2.0/.well-known/openid-configuration").
type Fault struct {
	// Method restricts the fault to an HTTP method ("" = any).
	Method string
	// Endpoint is the normalized endpoint as reported by Requests, e.g.
	// "GET /v1.0/groups/{id}/members" ("" = any Graph endpoint). The method
	// prefix may be omitted ("/v1.0/groups/{id}/members").
	Endpoint string
	// ID restricts the fault to requests about this object id (the {id} or
	// {appId} of the endpoint, compared case-insensitively; "" = any).
	ID string
	// Page restricts the fault to the given 1-based page of a paged listing
	// (1 = the first request, without $skiptoken). 0 = any request; a
	// non-zero Page never matches requests that are not listings.
	Page int
	// Times is how many times the fault fires; 0 = every time.
	Times int
	// Status is the HTTP status to answer with (e.g. 500, 429, 503), with a
	// Graph error body unless Body is set. 0 means 200 when Body is set and
	// 500 otherwise.
	Status int
	// RetryAfter is the value of the Retry-After header, when set.
	RetryAfter string
	// Body is a raw body sent instead of the Graph error (e.g. truncated JSON
	// `{"value":[{"id":"x"`). Inside a $batch a Body that is not valid JSON is
	// sent as a JSON string in the item's body.
	Body string
}

type faultState struct {
	f     Fault
	fired int
}

// InjectFault adds f after the faults already injected.
func (s *Server) InjectFault(f Fault) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = append(s.faults, &faultState{f: f})
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = nil
}

// takeFault returns the first fault matching the request and records that it
// fired. graph tells whether key is a Graph endpoint.
func (s *Server) takeFault(method, key, id string, page int, graph bool) (Fault, bool) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for _, st := range s.faults {
		f := st.f
		if f.Times > 0 && st.fired >= f.Times {
			continue
		}
		if f.Method != "" && !strings.EqualFold(f.Method, method) {
			continue
		}
		if !endpointMatches(f.Endpoint, key, graph) {
			continue
		}
		if f.ID != "" && !strings.EqualFold(f.ID, id) {
			continue
		}
		if f.Page != 0 && f.Page != page {
			continue
		}
		st.fired++
		return f, true
	}
	return Fault{}, false
}

func endpointMatches(pattern, key string, graph bool) bool {
	pattern = strings.TrimSpace(pattern)
	if pattern == "" {
		return graph
	}
	if strings.Contains(pattern, " ") {
		m, p, _ := strings.Cut(pattern, " ")
		km, kp, _ := strings.Cut(key, " ")
		return strings.EqualFold(m, km) && strings.TrimSpace(p) == kp
	}
	_, kp, _ := strings.Cut(key, " ")
	return pattern == kp
}

// faultStatus is the HTTP status a fault answers with.
func faultStatus(f Fault) int {
	switch {
	case f.Status != 0:
		return f.Status
	case f.Body != "":
		return 200
	default:
		return 500
	}
}
