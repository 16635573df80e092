package graphtest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph/graphtest"
)

func TestFaultSelectors(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	status := func(path string) int { return get(t, s, tok, path).status }

	// Endpoint and ID.
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/{id}", ID: u2, Status: 500})
	if status("/v1.0/users/"+u1) != 200 || status("/v1.0/users/"+u2) != 500 || status("/v1.0/groups/"+groupEng) != 200 {
		t.Error("Endpoint+ID fault hit the wrong requests")
	}
	s.ClearFaults()
	if status("/v1.0/users/"+u2) != 200 {
		t.Error("ClearFaults left a fault")
	}

	// Endpoint without the method prefix.
	s.InjectFault(graphtest.Fault{Endpoint: "/v1.0/groups/{id}", Status: 403})
	r := get(t, s, tok, "/v1.0/groups/"+groupOps)
	if code, _ := graphError(t, r); r.status != 403 || code != "Authorization_RequestDenied" {
		t.Errorf("path-only endpoint fault: %d %s", r.status, r.raw)
	}
	s.ClearFaults()

	// Method.
	s.InjectFault(graphtest.Fault{Method: "POST", Status: 502})
	if status("/v1.0/users") != 200 {
		t.Error("POST-only fault hit a GET")
	}
	r = do(t, s, tok, http.MethodPost, "/v1.0/$batch", nil)
	if r.status != 502 {
		t.Errorf("POST fault: %d", r.status)
	}
	s.ClearFaults()

	// Times: fires twice, then the endpoint recovers; "" Endpoint = any Graph endpoint.
	s.InjectFault(graphtest.Fault{Times: 2, Status: 503, RetryAfter: "1"})
	r = get(t, s, tok, "/v1.0/users/"+u1)
	if r.status != 503 || r.header.Get("Retry-After") != "1" {
		t.Errorf("first: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if code, _ := graphError(t, r); code != "ServiceUnavailable" {
		t.Errorf("503 code %q", code)
	}
	if status("/v1.0/groups/"+groupEng+"/members") != 503 || status("/v1.0/users/"+u1) != 200 {
		t.Error("Times: 2 did not fire exactly twice")
	}
	s.ClearFaults()

	// Times 0 = every time.
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users", Status: 429})
	for i := 0; i < 3; i++ {
		if got := status("/v1.0/users"); got != 429 {
			t.Errorf("attempt %d: %d", i, got)
		}
	}
	s.ClearFaults()

	// Page: only the second page of a listing fails.
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users", Page: 2, Status: 500})
	s.InjectFault(graphtest.Fault{Page: 1, Status: 418}) // pages never match non-listings
	first := get(t, s, tok, "/v1.0/servicePrincipals/"+appObjID)
	if first.status != 200 {
		t.Errorf("Page fault hit an entity: %d", first.status)
	}
	p1 := get(t, s, tok, "/v1.0/groups/"+groupEng+"/members")
	if p1.status != 418 {
		t.Errorf("Page 1 fault on members: %d", p1.status)
	}
	s.ClearFaults()
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users", Page: 2, Status: 500})
	p1 = get(t, s, tok, "/v1.0/users?$top=3")
	if p1.status != 200 {
		t.Fatalf("page 1: %d", p1.status)
	}
	next := p1.body["@odata.nextLink"].(string)
	if status(next) != 500 {
		t.Error("page 2 did not fail")
	}
	s.ClearFaults()
	p2 := get(t, s, tok, next)
	if status(p2.body["@odata.nextLink"].(string)) != 200 {
		t.Error("page 3 failed")
	}

	// Body with Status 0 answers 200 with the raw (truncated) body.
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", Body: `{"value":[{"id":"x"`})
	r = get(t, s, tok, "/v1.0/groups/"+groupEng+"/members")
	if r.status != 200 || string(r.raw) != `{"value":[{"id":"x"` {
		t.Errorf("Body fault: %d %s", r.status, r.raw)
	}
	s.ClearFaults()

	// Status and Body both zero: 500.
	s.InjectFault(graphtest.Fault{ID: u1})
	if status("/v1.0/users/"+u1) != 500 {
		t.Error("empty fault is not a 500")
	}
	s.ClearFaults()

	// Faults fire after authentication: no token is still 401.
	s.InjectFault(graphtest.Fault{Status: 500})
	if r := get(t, s, "", "/v1.0/users"); r.status != 401 {
		t.Errorf("fault before auth: %d", r.status)
	}
}

func TestLatency(t *testing.T) {
	s := newServer(t, graphtest.WithLatency(150*time.Millisecond))
	tok := token(t, s)
	start := time.Now()
	if r := get(t, s, tok, "/v1.0/users/"+u1); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("request took %v, want at least 150ms", d)
	}

	// A cancelled request returns promptly.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/v1.0/users/"+u1, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	start = time.Now()
	if _, err := s.Client().Do(req); err == nil {
		t.Error("cancelled request succeeded")
	}
	if d := time.Since(start); d > 140*time.Millisecond {
		t.Errorf("cancelled request took %v", d)
	}

	// Close does not wait for the sleeping requests.
	slow := graphtest.NewServer(testTenant(), graphtest.WithLatency(time.Hour))
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := slow.Client().Get(slow.URL() + "/v1.0/users")
		if err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	start = time.Now()
	slow.Close()
	<-done
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
}
