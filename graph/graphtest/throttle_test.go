package graphtest_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph/graphtest"
)

// waitRetryAfter sleeps for the Retry-After (whole seconds) of a response.
func waitRetryAfter(t *testing.T, ra string) {
	t.Helper()
	secs, err := strconv.Atoi(ra)
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After %q is not a positive number of seconds", ra)
	}
	time.Sleep(time.Duration(secs) * time.Second)
}

func checkThrottled(t *testing.T, r response) {
	t.Helper()
	if r.status != 429 {
		t.Fatalf("status %d, want 429: %s", r.status, r.raw)
	}
	if code, msg := graphError(t, r); code != "TooManyRequests" || !strings.Contains(msg, "Too many requests") {
		t.Errorf("error %q %q", code, msg)
	}
	if got := r.header.Get("x-ms-throttle-information"); got != "ResourceUnitLimitExceeded" {
		t.Errorf("x-ms-throttle-information = %q", got)
	}
	if got, want := r.header.Get("x-ms-throttle-scope"), "Tenant_Application/ReadWrite/"+clientID+"/"+tenantID; got != want {
		t.Errorf("x-ms-throttle-scope = %q, want %q", got, want)
	}
	if got := r.header.Get("x-ms-resource-unit"); got != "" {
		t.Errorf("a throttled answer was charged: x-ms-resource-unit %q", got)
	}
}

func TestThrottleBudgetAndRecovery(t *testing.T) {
	t.Parallel()
	s := newServer(t, graphtest.WithThrottle(graphtest.Throttle{Budget: 5, Window: time.Second}))
	tok := token(t, s)
	// Five requests costing 1 RU fit into the budget.
	for i := 1; i <= 5; i++ {
		r := get(t, s, tok, "/v1.0/users/"+userID(i))
		if r.status != 200 || r.header.Get("x-ms-resource-unit") != "1" {
			t.Fatalf("request %d: %d x-ms-resource-unit %q", i, r.status, r.header.Get("x-ms-resource-unit"))
		}
		// Graph reports the usage once more than 0.8 of the limit is used.
		want := ""
		if i == 5 {
			want = "1.00"
		}
		if got := r.header.Get("x-ms-throttle-limit-percentage"); got != want {
			t.Errorf("request %d: x-ms-throttle-limit-percentage %q, want %q", i, got, want)
		}
	}
	if p := get(t, s, tok, "/v1.0/users/"+u6); p.status != 429 {
		t.Fatalf("6th request: %d", p.status)
	} else {
		checkThrottled(t, p)
		if ra := p.header.Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After = %q, want 1 (the window is 1s)", ra)
		}
		if st := s.ThrottleStats(); st.Throttled != 1 || st.EarlyRetries != 0 || st.ResourceUnits != 5 {
			t.Errorf("stats after the 429: %+v", st)
		}
		// A well-behaved client waits Retry-After: the window has freed the budget.
		waitRetryAfter(t, p.header.Get("Retry-After"))
	}
	r := get(t, s, tok, "/v1.0/users/"+u6)
	if r.status != 200 {
		t.Fatalf("after waiting Retry-After: %d %s", r.status, r.raw)
	}
	if st := s.ThrottleStats(); st.Throttled != 1 || st.EarlyRetries != 0 || st.ResourceUnits != 6 || s.ResourceUnits() != 6 {
		t.Errorf("stats after recovery: %+v, ResourceUnits %d", st, s.ResourceUnits())
	}
	// A members listing (3 RU) fits into the remaining 4, then a users
	// listing (2 RU) does not.
	if r := get(t, s, tok, "/v1.0/groups/"+groupEng+"/members"); r.status != 200 || r.header.Get("x-ms-resource-unit") != "3" {
		t.Fatalf("members: %d RU %q", r.status, r.header.Get("x-ms-resource-unit"))
	}
	checkThrottled(t, get(t, s, tok, "/v1.0/users"))

	s.ResetCounts()
	if st := s.ThrottleStats(); st != (graphtest.ThrottleStats{}) || s.ResourceUnits() != 0 {
		t.Errorf("after ResetCounts: %+v", st)
	}
}

func TestThrottleCosts(t *testing.T) {
	s := newServer(t) // no throttle: resource units are still counted
	tok := token(t, s)
	for path, want := range map[string]int{
		"/v1.0/users/" + u1:                                                              1,
		"/v1.0/users/" + u1 + "?$select=id":                                              1, // never below 1
		"/v1.0/users":                                                                    2,
		"/v1.0/users?$select=id":                                                         1,
		"/v1.0/users?$top=19":                                                            1,
		"/v1.0/users?$top=20":                                                            2,
		"/v1.0/users?$top=5&$select=id":                                                  1,
		"/v1.0/groups/" + groupEng:                                                       1,
		"/v1.0/groups/" + groupEng + "/members":                                          3,
		"/v1.0/groups/" + groupEng + "/members?$select=id":                               2,
		"/v1.0/groups/" + groupEng + "/members?$select=id&$top=2":                        1,
		"/v1.0/groups/" + groupEng + "/members?$top=999":                                 3,
		"/v1.0/users/" + u1 + "/memberOf":                                                2,
		"/v1.0/servicePrincipals/" + appObjID:                                            1,
		"/v1.0/servicePrincipals/" + appObjID + "/appRoleAssignedTo":                     1,
		"/v1.0/servicePrincipals(appId='" + appAppID + "')/appRoleAssignedTo":            1,
		"/v1.0/servicePrincipals(appId='" + appAppID + "')/appRoleAssignedTo?$select=id": 1,
		"/v1.0/users/nobody":                                                             1, // a 404 is charged too
	} {
		before := s.ResourceUnits()
		r := get(t, s, tok, path)
		if got := r.header.Get("x-ms-resource-unit"); got != strconv.Itoa(want) {
			t.Errorf("%s: x-ms-resource-unit %q, want %d", path, got, want)
		}
		if d := s.ResourceUnits() - before; d != want {
			t.Errorf("%s: charged %d, want %d", path, d, want)
		}
	}
	// Unknown paths and unauthenticated requests cost nothing; the $batch
	// envelope costs nothing and its items are charged.
	before := s.ResourceUnits()
	if r := get(t, s, tok, "/v1.0/widgets"); r.status != 400 || r.header.Get("x-ms-resource-unit") != "" {
		t.Errorf("unknown path: %d RU %q", r.status, r.header.Get("x-ms-resource-unit"))
	}
	get(t, s, "", "/v1.0/users")
	r, items := postBatch(t, s, tok, `{"requests":[
		{"id":"1","method":"GET","url":"/users/`+u1+`"},
		{"id":"2","method":"GET","url":"/groups/`+groupEng+`/members"}]}`)
	if r.header.Get("x-ms-resource-unit") != "" {
		t.Errorf("the batch envelope was charged %q", r.header.Get("x-ms-resource-unit"))
	}
	if items["1"].Headers["x-ms-resource-unit"] != "1" || items["2"].Headers["x-ms-resource-unit"] != "3" {
		t.Errorf("item headers: %v %v", items["1"].Headers, items["2"].Headers)
	}
	if d := s.ResourceUnits() - before; d != 4 {
		t.Errorf("charged %d for the batch, want 4", d)
	}
}

func TestThrottleBatchItems(t *testing.T) {
	// A long window: nothing leaves it during the test.
	s := newServer(t, graphtest.WithThrottle(graphtest.Throttle{Budget: 3, Window: 30 * time.Second}))
	tok := token(t, s)
	var reqs []string
	for i := 1; i <= 5; i++ {
		reqs = append(reqs, fmt.Sprintf(`{"id":"%d","method":"GET","url":"/users/%s?$select=id"}`, i, userID(i)))
	}
	r, items := postBatch(t, s, tok, `{"requests":[`+strings.Join(reqs, ",")+`]}`)
	if r.status != 200 || len(items) != 5 {
		t.Fatalf("batch: %d %s", r.status, r.raw)
	}
	for _, id := range []string{"1", "2", "3"} {
		if it := items[id]; it.Status != 200 || it.Headers["x-ms-resource-unit"] != "1" {
			t.Errorf("item %s: %d %v", id, it.Status, it.Headers)
		}
	}
	for _, id := range []string{"4", "5"} {
		it := items[id]
		if it.Status != 429 {
			t.Fatalf("item %s: %d %s", id, it.Status, it.Body)
		}
		secs, err := strconv.Atoi(it.Headers["Retry-After"])
		if err != nil || secs < 29 || secs > 30 {
			t.Errorf("item %s: Retry-After %q, want the ~30s until the window frees budget", id, it.Headers["Retry-After"])
		}
		if it.Headers["x-ms-throttle-information"] != "ResourceUnitLimitExceeded" || !strings.HasPrefix(it.Headers["x-ms-throttle-scope"], "Tenant_Application/") {
			t.Errorf("item %s headers: %v", id, it.Headers)
		}
		if e := itemBody(t, it)["error"].(map[string]any); e["code"] != "TooManyRequests" {
			t.Errorf("item %s error: %v", id, e)
		}
	}
	if st := s.ThrottleStats(); st.Throttled != 2 || st.ResourceUnits != 3 || st.EarlyRetries != 0 {
		t.Errorf("stats: %+v", st)
	}
	// A plain request is throttled the same way.
	checkThrottled(t, get(t, s, tok, "/v1.0/groups/"+groupOps))
}

func TestThrottleFixedRetryAfterAndOversizedRequest(t *testing.T) {
	s := newServer(t, graphtest.WithThrottle(graphtest.Throttle{Budget: 2, Window: 30 * time.Second, RetryAfter: 1500 * time.Millisecond}))
	tok := token(t, s)
	// A request costing more than the budget passes when the window is empty.
	if r := get(t, s, tok, "/v1.0/groups/"+groupEng+"/members"); r.status != 200 {
		t.Fatalf("oversized request in an empty window: %d", r.status)
	}
	r := get(t, s, tok, "/v1.0/users/"+u1)
	checkThrottled(t, r)
	if ra := r.header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After = %q, want the configured 1.5s rounded up to 2", ra)
	}
}

func TestEarlyRetries(t *testing.T) {
	t.Parallel()
	th := graphtest.WithThrottle(graphtest.Throttle{Budget: 1, Window: time.Second})

	t.Run("impatient", func(t *testing.T) {
		s := newServer(t, th)
		tok := token(t, s)
		get(t, s, tok, "/v1.0/users/"+u1)
		checkThrottled(t, get(t, s, tok, "/v1.0/users/"+u2))
		// Another object is not a retry.
		get(t, s, tok, "/v1.0/users/"+u3)
		if st := s.ThrottleStats(); st.EarlyRetries != 0 {
			t.Fatalf("EarlyRetries = %d before any retry", st.EarlyRetries)
		}
		// Retrying at once ignores Retry-After, twice.
		get(t, s, tok, "/v1.0/users/"+u2)
		get(t, s, tok, "/v1.0/users/"+u2)
		st := s.ThrottleStats()
		if st.EarlyRetries != 2 {
			t.Errorf("EarlyRetries = %d, want 2", st.EarlyRetries)
		}
		if st.Throttled < 2 {
			t.Errorf("Throttled = %d, want at least 2", st.Throttled)
		}
	})

	t.Run("patient", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, th)
		tok := token(t, s)
		get(t, s, tok, "/v1.0/users/"+u1)
		r := get(t, s, tok, "/v1.0/users/"+u2)
		checkThrottled(t, r)
		waitRetryAfter(t, r.header.Get("Retry-After"))
		if r := get(t, s, tok, "/v1.0/users/"+u2); r.status != 200 {
			t.Errorf("retry after waiting: %d", r.status)
		}
		if st := s.ThrottleStats(); st.EarlyRetries != 0 || st.Throttled != 1 {
			t.Errorf("stats: %+v", st)
		}
	})

	t.Run("batch item", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, th)
		tok := token(t, s)
		body := `{"requests":[{"id":"a","method":"GET","url":"/users/` + u1 + `"},{"id":"b","method":"GET","url":"/groups/` + groupOps + `"}]}`
		_, items := postBatch(t, s, tok, body)
		if items["a"].Status != 200 || items["b"].Status != 429 {
			t.Fatalf("items: a %d, b %d", items["a"].Status, items["b"].Status)
		}
		// The client resubmits item b at once, in a batch, then as a plain request.
		_, items = postBatch(t, s, tok, `{"requests":[{"id":"b","method":"GET","url":"/groups/`+groupOps+`"}]}`)
		get(t, s, tok, "/v1.0/groups/"+groupOps)
		if st := s.ThrottleStats(); st.EarlyRetries != 2 {
			t.Errorf("EarlyRetries = %d, want 2 (stats %+v)", st.EarlyRetries, st)
		}
		// Waiting for the Retry-After of the last answer is fine.
		waitRetryAfter(t, items["b"].Headers["Retry-After"])
		_, items = postBatch(t, s, tok, `{"requests":[{"id":"b","method":"GET","url":"/groups/`+groupOps+`"}]}`)
		if st := s.ThrottleStats(); st.EarlyRetries != 2 || items["b"].Status != 200 {
			t.Errorf("after waiting: item %d, stats %+v", items["b"].Status, st)
		}
	})

	t.Run("injected Retry-After", func(t *testing.T) {
		s := newServer(t) // no throttle
		tok := token(t, s)
		s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users", Page: 2, Times: 1, Status: 503, RetryAfter: "30"})
		p1 := get(t, s, tok, "/v1.0/users?$top=2")
		next := p1.body["@odata.nextLink"].(string)
		if r := get(t, s, tok, next); r.status != 503 {
			t.Fatalf("page 2: %d", r.status)
		}
		get(t, s, tok, "/v1.0/users?$top=2") // page 1 again: another request
		if st := s.ThrottleStats(); st.EarlyRetries != 0 || st.Throttled != 0 {
			t.Errorf("stats: %+v", st)
		}
		if r := get(t, s, tok, next); r.status != 200 {
			t.Errorf("page 2 retried: %d", r.status)
		}
		if st := s.ThrottleStats(); st.EarlyRetries != 1 {
			t.Errorf("EarlyRetries = %d, want 1", st.EarlyRetries)
		}
	})
}

// Concurrent clients share one budget: the server never charges more than it
// (nothing leaves the long window), and what it charged is what it reported.
func TestThrottleConcurrent(t *testing.T) {
	s := newServer(t, graphtest.WithThrottle(graphtest.Throttle{Budget: 60, Window: time.Minute}))
	tok := token(t, s)
	const workers, rounds = 6, 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	reported, throttled := 0, 0
	errs := make(chan error, workers*rounds)
	note := func(status int, ru string) {
		mu.Lock()
		defer mu.Unlock()
		switch status {
		case 429:
			throttled++
		case 200:
			n, err := strconv.Atoi(ru)
			if err != nil {
				errs <- fmt.Errorf("200 without x-ms-resource-unit")
			}
			reported += n
		default:
			errs <- fmt.Errorf("status %d", status)
		}
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				switch i % 3 {
				case 0:
					r := get(t, s, tok, "/v1.0/users/"+u1+"/memberOf")
					note(r.status, r.header.Get("x-ms-resource-unit"))
				case 1:
					r := get(t, s, tok, "/v1.0/groups/"+groupEng+"/members?$top=2")
					note(r.status, r.header.Get("x-ms-resource-unit"))
				default:
					r := do(t, s, tok, "POST", "/v1.0/$batch", strings.NewReader(`{"requests":[
						{"id":"1","method":"GET","url":"/users/`+u2+`"},{"id":"2","method":"GET","url":"/groups/`+groupOps+`/members"}]}`),
						"Content-Type", "application/json")
					var out struct {
						Responses []struct {
							Status  int               `json:"status"`
							Headers map[string]string `json:"headers"`
						} `json:"responses"`
					}
					if err := json.Unmarshal(r.raw, &out); err != nil || r.status != 200 {
						errs <- fmt.Errorf("batch %d: %v", r.status, err)
						continue
					}
					for _, it := range out.Responses {
						note(it.Status, it.Headers["x-ms-resource-unit"])
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < rounds; i++ {
			s.RemoveMember(groupEng, u2)
			s.AddMember(groupEng, u2)
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := s.ThrottleStats()
	if st.ResourceUnits != reported || st.ResourceUnits > 60 || st.Throttled != throttled || throttled == 0 {
		t.Errorf("stats %+v; clients saw %d RU charged and %d throttled", st, reported, throttled)
	}
}
