package graphtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph/graphtest"
)

func TestFaultDelay(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok := token(t, s)
	const d = 200 * time.Millisecond

	// Delay alone: a slow but normal answer.
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/{id}", ID: u1, Times: 1, Delay: d})
	start := time.Now()
	r := get(t, s, tok, "/v1.0/users/"+u1)
	if r.status != 200 || r.body["id"] != u1 {
		t.Errorf("delayed answer: %d %s", r.status, r.raw)
	}
	if el := time.Since(start); el < d {
		t.Errorf("answered after %v, want at least %v", el, d)
	}
	if r := get(t, s, tok, "/v1.0/users/"+u1); r.status != 200 {
		t.Errorf("after the fault: %d", r.status)
	}

	// Delay with a status: a slow 503.
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/{id}", Times: 1, Delay: d, Status: 503, RetryAfter: "1"})
	start = time.Now()
	if r := get(t, s, tok, "/v1.0/users/"+u2); r.status != 503 || r.header.Get("Retry-After") != "1" {
		t.Errorf("slow 503: %d %q", r.status, r.header.Get("Retry-After"))
	}
	if el := time.Since(start); el < d {
		t.Errorf("answered after %v, want at least %v", el, d)
	}

	// A client timeout shorter than the delay: the client times out.
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", Times: 1, Delay: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/v1.0/groups/"+groupEng+"/members", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	start = time.Now()
	resp, err := s.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("request answered %d despite the delay", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want a deadline", err)
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("timed out request took %v", el)
	}
	// The server noticed the client left; the fault fired, so the next
	// request is fast and fine.
	if r := get(t, s, tok, "/v1.0/groups/"+groupEng+"/members"); r.status != 200 {
		t.Errorf("after the timeout: %d", r.status)
	}

	// Close does not wait for a delayed request.
	slow := graphtest.NewServer(testTenant())
	stok := token(t, slow)
	slow.InjectFault(graphtest.Fault{Delay: time.Hour})
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest(http.MethodGet, slow.URL()+"/v1.0/users", nil)
		req.Header.Set("Authorization", "Bearer "+stok)
		if resp, err := slow.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	start = time.Now()
	slow.Close()
	<-done
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Close took %v", el)
	}
}

func TestFaultTruncate(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	full := get(t, s, tok, "/v1.0/groups/"+groupEng+"/members?$select=id,displayName")
	if full.status != 200 {
		t.Fatal(full.status)
	}
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", Times: 1, Truncate: true})
	r := get(t, s, tok, "/v1.0/groups/"+groupEng+"/members?$select=id,displayName")
	if r.status != 200 {
		t.Errorf("truncated answer: status %d", r.status)
	}
	if len(r.raw) != len(full.raw)/2 || !strings.HasPrefix(string(full.raw), string(r.raw)) {
		t.Errorf("body is not the first half of the normal body:\n%s\n%s", r.raw, full.raw)
	}
	if json.Valid(r.raw) {
		t.Errorf("truncated body is valid JSON: %s", r.raw)
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
	}
	if r := get(t, s, tok, "/v1.0/groups/"+groupEng+"/members?$select=id,displayName"); string(r.raw) != string(full.raw) {
		t.Errorf("after the fault: %s", r.raw)
	}

	// Truncate with a status cuts the error body.
	s.InjectFault(graphtest.Fault{ID: u1, Times: 1, Status: 500, Truncate: true})
	r = get(t, s, tok, "/v1.0/users/"+u1)
	if r.status != 500 || json.Valid(r.raw) || !strings.HasPrefix(string(r.raw), `{"error":{"code":"Internal`) {
		t.Errorf("truncated 500: %d %s", r.status, r.raw)
	}

	// The token endpoint can be truncated too.
	s.InjectFault(graphtest.Fault{Endpoint: "POST /token", Times: 1, Truncate: true})
	form := tokenForm()
	form.Set("scope", s.GraphEndpoint()+"/.default")
	resp, err := s.Client().PostForm(s.LoginEndpoint()+"/"+tenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tokBody map[string]any
	err = json.NewDecoder(resp.Body).Decode(&tokBody)
	resp.Body.Close()
	if resp.StatusCode != 200 || err == nil {
		t.Errorf("truncated token answer: %d, decode error %v", resp.StatusCode, err)
	}
}

// listAll follows a listing's nextLinks and returns the ids and the number
// of pages.
func listAll(t *testing.T, s *graphtest.Server, tok, path string) ([]string, int) {
	t.Helper()
	var out []string
	pages := 0
	for next := path; next != ""; pages++ {
		r := get(t, s, tok, next)
		out = append(out, ids(values(t, r))...)
		next, _ = r.body["@odata.nextLink"].(string)
		if pages > 100 {
			t.Fatal("endless listing")
		}
	}
	return out, pages
}

func TestFaultDropPage(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	all, pages := listAll(t, s, tok, "/v1.0/users?$top=2")
	if len(all) != 7 || pages != 4 {
		t.Fatalf("listing: %v in %d pages", all, pages)
	}

	// Page 1 drops page 2: users 3 and 4 go missing, silently.
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users", Page: 1, Times: 1, DropPage: true})
	got, pages := listAll(t, s, tok, "/v1.0/users?$top=2")
	if want := []string{u1, u2, u5, u6, u7}; !slices.Equal(got, want) || pages != 3 {
		t.Errorf("DropPage on page 1: %v in %d pages, want %v in 3", got, pages, want)
	}

	// Dropping the last page: the page before it has no nextLink.
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users", Page: 3, Times: 1, DropPage: true})
	got, _ = listAll(t, s, tok, "/v1.0/users?$top=2")
	if want := []string{u1, u2, u3, u4, u5, u6}; !slices.Equal(got, want) {
		t.Errorf("DropPage on page 3: %v, want %v", got, want)
	}

	// Pages keep their logical numbers: after dropping page 2, a fault on
	// page 3 hits the next request.
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users", Page: 1, Times: 1, DropPage: true})
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users", Page: 3, Times: 1, Status: 500})
	p1 := get(t, s, tok, "/v1.0/users?$top=2")
	if r := get(t, s, tok, p1.body["@odata.nextLink"].(string)); r.status != 500 {
		t.Errorf("page after the dropped one: %d, want the page 3 fault", r.status)
	}
	s.ClearFaults()

	// A DropPage fault ignores requests that are not listings (and does not
	// fire on them).
	s.InjectFault(graphtest.Fault{Times: 1, DropPage: true})
	if r := get(t, s, tok, "/v1.0/users/"+u1); r.status != 200 || r.header.Get("X-Graphtest-Fault") != "" {
		t.Errorf("DropPage on an entity: %d %v", r.status, r.header)
	}
	got, _ = listAll(t, s, tok, "/v1.0/groups/"+groupEng+"/members?$top=1&$select=id")
	if want := []string{u1, groupOps, robotID}; !slices.Equal(got, want) {
		t.Errorf("members with a dropped page: %v, want %v", got, want)
	}
}

func TestFaultKindsInBatch(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok := token(t, s)
	body := `{"requests":[
		{"id":"slow","method":"GET","url":"/users/` + u1 + `"},
		{"id":"cut","method":"GET","url":"/groups/` + groupEng + `"},
		{"id":"drop","method":"GET","url":"/users?$top=2&$select=id"},
		{"id":"fine","method":"GET","url":"/users/` + u2 + `?$select=id"}
	]}`
	_, normal := postBatch(t, s, tok, body)
	for id, it := range normal {
		if it.Status != 200 {
			t.Fatalf("item %s: %d", id, it.Status)
		}
	}

	const d = 200 * time.Millisecond
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/{id}", ID: u1, Times: 1, Delay: d})
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}", Times: 1, Truncate: true})
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users", Page: 1, Times: 1, DropPage: true})
	start := time.Now()
	r, items := postBatch(t, s, tok, body)
	if r.status != 200 || len(items) != 4 {
		t.Fatalf("batch: %d %s", r.status, r.raw)
	}
	if el := time.Since(start); el < d {
		t.Errorf("batch with a delayed item answered after %v", el)
	}
	if it := items["slow"]; it.Status != 200 || string(it.Body) != string(normal["slow"].Body) {
		t.Errorf("delayed item: %d %s", it.Status, it.Body)
	}
	// The cut body is carried as a JSON string.
	var cut string
	if it := items["cut"]; it.Status != 200 || json.Unmarshal(it.Body, &cut) != nil {
		t.Errorf("truncated item: %d %s", it.Status, it.Body)
	} else if whole := string(normal["cut"].Body); len(cut) != len(whole)/2 || !strings.HasPrefix(whole, cut) {
		t.Errorf("truncated item body %q is not the first half of %q", cut, whole)
	}
	// The dropped page: the nextLink skips users 3 and 4.
	next, _ := itemBody(t, items["drop"])["@odata.nextLink"].(string)
	if next == "" {
		t.Fatalf("drop item has no nextLink: %s", items["drop"].Body)
	}
	if got := ids(values(t, get(t, s, tok, next))); !slices.Equal(got, []string{u5, u6}) {
		t.Errorf("page after the dropped one: %v", got)
	}
	if string(items["fine"].Body) != string(normal["fine"].Body) {
		t.Errorf("untouched item changed: %s", items["fine"].Body)
	}

	// A client giving up on a batch whose item is delayed.
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/{id}", Times: 1, Delay: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/v1.0/$batch", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := s.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("batch answered %d despite the delayed item", resp.StatusCode)
	}
}
