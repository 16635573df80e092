package graphtest

import (
	"strings"
	"time"
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
// "GET /{tenant}/v2.0/.well-known/openid-configuration"). With WithThrottle,
// a request refused by the budget is answered 429 before faults are
// considered (it does not make a fault fire); an admitted one is charged even
// when a fault answers it.
//
// A fault either answers with an error (Status or Body set, or no other kind
// set: the legacy 500) or alters the normal answer (Delay, Truncate, DropPage
// without Status and Body). The kinds combine: Delay is slept first, then the
// fault's error or the normal answer is built (with DropPage applied), then
// Truncate cuts its body. Examples:
//
//	Fault{Endpoint: "GET /v1.0/groups/{id}/members", Delay: 2 * time.Second} // slow but fine (a timeout with a 1s client timeout)
//	Fault{Endpoint: "GET /v1.0/users", Page: 2, Truncate: true}            // page 2 is cut in half, status 200
//	Fault{Endpoint: "GET /v1.0/groups/{id}/members", Page: 1, DropPage: true, Times: 1}
//	Fault{Delay: time.Second, Status: 503, RetryAfter: "1"}                // a slow 503
//
// All kinds apply to $batch items too (see Truncate for how a cut item body
// is carried).
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

	// Delay makes the server sleep this long before answering (on top of
	// WithLatency). Combined with a shorter client timeout it simulates a
	// timeout. The sleep ends early when the request's context is cancelled
	// (the client gave up: nothing is sent) or the server is closed (503).
	// Inside a $batch the item is delayed, and with it the whole batch
	// response; an interrupted item abandons the whole batch.
	Delay time.Duration
	// Truncate sends the answer's body cut in half (its first len/2 bytes):
	// truncated JSON with the answer's status (200 for a normal answer) and a
	// Content-Length matching the cut body, so the client reads a complete
	// HTTP response whose JSON fails to parse. Inside a $batch the cut body,
	// not being JSON, is carried as a JSON string in the item's "body" (the
	// batch envelope itself stays valid), so a client expecting an object
	// there fails to decode the item.
	Truncate bool
	// DropPage makes a page of a listing go missing: the page answered is
	// complete and normal, but its @odata.nextLink skips one page ahead (its
	// skip token points $top items further), so the page that should follow
	// is never served. The client sees nothing wrong: every response is a
	// valid 200 page with a valid nextLink, and the listing ends normally,
	// only short of one page of items (of the last items when the dropped
	// page is the last one: then the answered page has no nextLink at all).
	// DropPage on the last page changes nothing. Pages keep their logical
	// numbers: after DropPage on page 1, the next request is page 3 for the
	// Page selector. A DropPage fault matches listings only (like Page).
	DropPage bool
}

// isError tells whether the fault answers with an error (or a raw Body)
// instead of the normal answer.
func (f Fault) isError() bool {
	return f.Status != 0 || f.Body != "" || (f.Delay <= 0 && !f.Truncate && !f.DropPage)
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
// fired. graph tells whether key is a Graph endpoint, listing whether the
// request is for a page of a listing.
func (s *Server) takeFault(method, key, id string, page int, listing, graph bool) (Fault, bool) {
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
		if f.DropPage && !listing {
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
