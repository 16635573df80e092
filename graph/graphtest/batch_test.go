package graphtest_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
)

type batchResp struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

func postBatch(t *testing.T, s *graphtest.Server, tok, body string, hdr ...string) (response, map[string]batchResp) {
	t.Helper()
	hdr = append([]string{"Content-Type", "application/json"}, hdr...)
	r := do(t, s, tok, http.MethodPost, "/v1.0/$batch", strings.NewReader(body), hdr...)
	if r.status != 200 {
		return r, nil
	}
	var out struct {
		Responses []batchResp `json:"responses"`
	}
	if err := json.Unmarshal(r.raw, &out); err != nil {
		t.Fatalf("batch response: %v: %s", err, r.raw)
	}
	m := map[string]batchResp{}
	for _, it := range out.Responses {
		m[it.ID] = it
	}
	return r, m
}

func itemBody(t *testing.T, it batchResp) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(it.Body, &m); err != nil {
		t.Fatalf("item %s body: %v: %s", it.ID, err, it.Body)
	}
	return m
}

func TestBatchMixedStatuses(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/{id}", ID: u2, Status: 429, RetryAfter: "7"})
	body := `{"requests":[
		{"id":"1","method":"GET","url":"/users/` + u1 + `?$select=id,mail"},
		{"id":"2","method":"GET","url":"/users/` + u2 + `"},
		{"id":"3","method":"GET","url":"/users/nobody"},
		{"id":"4","method":"GET","url":"groups/` + groupEng + `/members?%24select=id&%24top=2"},
		{"id":"5","method":"GET","url":"/servicePrincipals(appId='` + appAppID + `')/appRoleAssignedTo"},
		{"id":"6","method":"GET","url":"/users/` + u3 + `","dependsOn":["2"]},
		{"id":"7","method":"DELETE","url":"/users/` + u3 + `"},
		{"id":"8","method":"GET","url":"/widgets"},
		{"id":"9","method":"POST","url":"/$batch","body":{"requests":[]},"headers":{"Content-Type":"application/json"}},
		{"id":"10","method":"GET","url":"` + s.URL() + `/v1.0/groups/` + groupOps + `"}
	]}`
	r, items := postBatch(t, s, tok, body)
	if r.status != 200 || len(items) != 10 {
		t.Fatalf("batch: %d %s", r.status, r.raw)
	}
	want := map[string]int{"1": 200, "2": 429, "3": 404, "4": 200, "5": 200, "6": 424, "7": 405, "8": 400, "9": 400, "10": 200}
	for id, st := range want {
		if items[id].Status != st {
			t.Errorf("item %s: status %d, want %d: %s", id, items[id].Status, st, items[id].Body)
		}
	}
	if b := itemBody(t, items["1"]); len(b) != 3 || b["mail"] != "user1@contoso.example" {
		t.Errorf("item 1 body = %v", b)
	}
	if h := items["2"].Headers; h["Retry-After"] != "7" {
		t.Errorf("item 2 headers = %v", h)
	}
	if e := itemBody(t, items["2"])["error"].(map[string]any); e["code"] != "TooManyRequests" {
		t.Errorf("item 2 error = %v", e)
	}
	if e := itemBody(t, items["3"])["error"].(map[string]any); e["code"] != "Request_ResourceNotFound" {
		t.Errorf("item 3 error = %v", e)
	}
	b4 := itemBody(t, items["4"])
	link, _ := b4["@odata.nextLink"].(string)
	if len(b4["value"].([]any)) != 2 || !strings.HasPrefix(link, s.URL()+"/v1.0/groups/"+groupEng+"/members?") {
		t.Errorf("item 4 body = %v", b4)
	}
	// The nextLink of a batch item works as a plain request.
	if next := get(t, s, tok, link); len(values(t, next)) != 2 {
		t.Errorf("nextLink of item 4: %s", next.raw)
	}
	if v := itemBody(t, items["5"])["value"].([]any); len(v) != 3 {
		t.Errorf("item 5 has %d assignments", len(v))
	}
	if !strings.HasPrefix(items["1"].Headers["Content-Type"], "application/json") {
		t.Errorf("item 1 headers = %v", items["1"].Headers)
	}
	if itemBody(t, items["10"])["displayName"] != "Ops" {
		t.Errorf("item 10 = %s", items["10"].Body)
	}

	counts := s.Requests()
	for k, n := range map[string]int{
		"POST /v1.0/$batch":             2, // the HTTP request and item 9
		"GET /v1.0/users/{id}":          3, // items 1, 2, 3 (6 was not run)
		"GET /v1.0/groups/{id}/members": 2,
		"GET /v1.0/groups/{id}":         1,
		"DELETE /v1.0/users/{id}":       1,
		"GET /v1.0/servicePrincipals(appId='{appId}')/appRoleAssignedTo": 1,
	} {
		if counts[k] != n {
			t.Errorf("count[%q] = %d, want %d (all: %v)", k, counts[k], n, counts)
		}
	}
	if s.GraphRequests() != 2 {
		t.Errorf("GraphRequests = %d, want 2 (batch and nextLink)", s.GraphRequests())
	}
}

func TestBatchValidation(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	var many []string
	for i := 1; i <= 21; i++ {
		many = append(many, fmt.Sprintf(`{"id":"%d","method":"GET","url":"/users/`+u1+`"}`, i))
	}
	for name, body := range map[string]string{
		"not json":       `{"requests":[{"id":"1"`,
		"no requests":    `{}`,
		"empty requests": `{"requests":[]}`,
		"21 requests":    `{"requests":[` + strings.Join(many, ",") + `]}`,
		"duplicate ids":  `{"requests":[{"id":"1","method":"GET","url":"/users/` + u1 + `"},{"id":"1","method":"GET","url":"/users/` + u2 + `"}]}`,
		"missing url":    `{"requests":[{"id":"1","method":"GET"}]}`,
		"bad dependsOn":  `{"requests":[{"id":"1","method":"GET","url":"/users/` + u1 + `","dependsOn":["2"]}]}`,
		"wrong types":    `{"requests":"all of them"}`,
	} {
		r, _ := postBatch(t, s, tok, body)
		if code, _ := graphError(t, r); r.status != 400 || code != "BadRequest" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	r, _ := postBatch(t, s, tok, `{"requests":[`+strings.Join(many[:20], ",")+`]}`)
	if r.status != 200 {
		t.Errorf("20 requests: %d", r.status)
	}
	// No token: the whole batch is unauthorized.
	r, _ = postBatch(t, s, "", `{"requests":[{"id":"1","method":"GET","url":"/users/`+u1+`"}]}`)
	if r.status != 401 {
		t.Errorf("batch without token: %d", r.status)
	}
}

func TestBatchGzipBody(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(`{"requests":[{"id":"a","method":"GET","url":"/users/` + u5 + `?$select=displayName"}]}`))
	_ = zw.Close()
	r := do(t, s, tok, http.MethodPost, "/v1.0/$batch", &buf, "Content-Type", "application/json", "Content-Encoding", "gzip")
	if r.status != 200 || !strings.Contains(string(r.raw), `"displayName":"User 5"`) {
		t.Errorf("gzip batch: %d %s", r.status, r.raw)
	}
	r = do(t, s, tok, http.MethodPost, "/v1.0/$batch", strings.NewReader("xx"), "Content-Encoding", "br")
	if r.status != 415 {
		t.Errorf("brotli batch: %d %s", r.status, r.raw)
	}
}

func TestBatchFaults(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	body := `{"requests":[{"id":"1","method":"GET","url":"/users/` + u1 + `"},{"id":"2","method":"GET","url":"/groups/` + groupEng + `/members"}]}`

	// A raw body in an item: valid JSON is embedded, anything else becomes a string.
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/{id}", Times: 1, Body: `{"value":[{"id":"x"`})
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", Times: 1, Status: 503, Body: `{"odd":true}`})
	r, items := postBatch(t, s, tok, body)
	if r.status != 200 {
		t.Fatalf("batch: %d", r.status)
	}
	var str string
	if items["1"].Status != 200 || json.Unmarshal(items["1"].Body, &str) != nil || str != `{"value":[{"id":"x"` {
		t.Errorf("item 1 = %d %s", items["1"].Status, items["1"].Body)
	}
	if items["2"].Status != 503 || string(items["2"].Body) != `{"odd":true}` {
		t.Errorf("item 2 = %d %s", items["2"].Status, items["2"].Body)
	}

	// A fault on the $batch endpoint fails the whole request.
	s.InjectFault(graphtest.Fault{Endpoint: "POST /v1.0/$batch", Times: 1, Status: 500})
	r, _ = postBatch(t, s, tok, body)
	if code, _ := graphError(t, r); r.status != 500 || code != "InternalServerError" {
		t.Errorf("outer fault: %d %s", r.status, r.raw)
	}
	// Faults fired; the batch works again.
	_, items = postBatch(t, s, tok, body)
	if items["1"].Status != 200 || items["2"].Status != 200 {
		t.Errorf("after faults: %v", items)
	}
}
