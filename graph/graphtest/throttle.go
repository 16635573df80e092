package graphtest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Throttle is a resource-unit budget per window for the app+tenant pair, as
// Graph's identity and access service enforces.
//
// Every Graph request (and every item of a $batch) costs resource units (RU),
// computed as Graph documents for the identity service:
//
//	GET /groups/{id}/members                       3
//	GET /users                                     2
//	GET /users/{id}/memberOf                       2 (as me/memberOf)
//	GET /users/{id}, /groups/{id},
//	    /servicePrincipals/{id} (or by appId),
//	    .../appRoleAssignedTo                      1
//	POST /$batch                                   0 (its items are charged one by one)
//
// $select subtracts 1 and a $top below 20 subtracts 1; a request never
// costs less than 1 (the $batch envelope excepted). Requests that fail
// authentication or routing (unknown path, method not allowed) cost nothing.
//
// The window is sliding: a request is admitted when the RU charged during the
// last Window, plus its own cost, fit into Budget. An admitted request is
// charged at the moment it is admitted and its charge leaves the window Window
// later. A request that does not fit is answered 429 and is not charged (its
// RU are not consumed, so a throttled client recovers as soon as old charges
// leave the window — but see ThrottleStats.EarlyRetries). A single request
// costing more than the whole Budget is admitted only when nothing else is
// charged in the window, so it is not refused forever.
type Throttle struct {
	Budget int           // resource units per Window (e.g. 8000 for a large tenant; tests use tiny budgets)
	Window time.Duration // e.g. 10s
	// RetryAfter is the Retry-After of a throttled answer, rounded up to
	// whole seconds (at least 1 s). 0: the time until the window frees
	// enough budget for the refused request, rounded up to whole seconds
	// (min 1s), so a single client that waits Retry-After is admitted.
	RetryAfter time.Duration
}

// ThrottleStats reports how the server throttled its clients and how the
// clients behaved. See Server.ThrottleStats.
type ThrottleStats struct {
	// Throttled is the number of 429 answers sent to Graph requests,
	// including items of a $batch: those of the Throttle budget and those of
	// injected faults with Status 429.
	Throttled int
	// EarlyRetries counts requests that came back for the same endpoint and
	// object (the same normalized endpoint, {id} and listing page, whether
	// as a plain request or as a $batch item) before the Retry-After the
	// server gave the previous request for it had elapsed: a client that
	// ignores Retry-After. Every answer carrying a Retry-After in seconds
	// counts (a throttled 429 and an injected fault with RetryAfter alike).
	EarlyRetries int
	// ResourceUnits is the total of resource units charged (see
	// Server.ResourceUnits).
	ResourceUnits int
}

// WithThrottle makes the server enforce t, a resource-unit budget per
// sliding window, on Graph requests and $batch items. A Budget or Window of
// zero or less disables throttling (resource units are still counted and
// reported in x-ms-resource-unit). See Throttle for costs and the window.
//
// A throttled request is answered 429 with a Graph error
// {"error":{"code":"TooManyRequests",...}} and the headers Retry-After
// (whole seconds), x-ms-throttle-scope
// (Tenant_Application/ReadWrite/{clientId}/{tenantId}) and
// x-ms-throttle-information: ResourceUnitLimitExceeded. Inside a $batch the
// item gets that status, body and headers while the POST answers 200. Every
// charged answer carries x-ms-resource-unit, and x-ms-throttle-limit-percentage
// once more than 0.8 of the budget is in use.
func WithThrottle(t Throttle) Option {
	return func(s *Server) { s.thr.cfg = t }
}

type ruCharge struct {
	at   time.Time
	cost int
}

// throttleState is the sliding window, the per-key not-before times and the
// statistics. Guarded by Server.thrMu.
type throttleState struct {
	cfg       Throttle
	log       []ruCharge // admitted charges in time order, from head on
	head      int
	used      int // RU charged in the window (sum of log[head:])
	notBefore map[string]time.Time
	stats     ThrottleStats
}

func (t *throttleState) enabled() bool { return t.cfg.Budget > 0 && t.cfg.Window > 0 }

// expire drops the charges that left the window at now.
func (t *throttleState) expire(now time.Time) {
	cutoff := now.Add(-t.cfg.Window)
	for t.head < len(t.log) && !t.log[t.head].at.After(cutoff) {
		t.used -= t.log[t.head].cost
		t.head++
	}
	if t.head == len(t.log) {
		t.log, t.head = t.log[:0], 0
	} else if t.head > 1024 && t.head*2 > len(t.log) {
		n := copy(t.log, t.log[t.head:])
		t.log, t.head = t.log[:n], 0
	}
}

// ResourceUnits returns the total of resource units charged for the Graph
// requests and $batch items served so far (see Throttle for the costs). They
// are counted with or without WithThrottle; throttled requests are not
// charged. ResetCounts sets it to zero.
func (s *Server) ResourceUnits() int {
	s.thrMu.Lock()
	defer s.thrMu.Unlock()
	return s.thr.stats.ResourceUnits
}

// ThrottleStats returns the throttling statistics. ResetCounts sets them to
// zero (but keeps the window and the Retry-After deadlines).
func (s *Server) ThrottleStats() ThrottleStats {
	s.thrMu.Lock()
	defer s.thrMu.Unlock()
	return s.thr.stats
}

func (s *Server) resetThrottleStats() {
	s.thrMu.Lock()
	defer s.thrMu.Unlock()
	s.thr.stats = ThrottleStats{}
}

// requestCost returns the resource units a Graph request costs.
func requestCost(g *greq, rt *route) int {
	cost := 1
	switch rt.key {
	case "POST /v1.0/$batch":
		return 0
	case "GET /v1.0/groups/{id}/members":
		cost = 3
	case "GET /v1.0/users", "GET /v1.0/users/{id}/memberOf":
		cost = 2
	case getByIDsKey:
		// The identity table: 5, or 2 with $select.
		if _, ok := queryOpt(g.query, "$select"); ok {
			return 2
		}
		return 5
	}
	if _, ok := queryOpt(g.query, "$select"); ok {
		cost--
	}
	if raw, ok := queryOpt(g.query, "$top"); ok {
		if v, err := strconv.Atoi(strings.TrimSpace(raw)); err == nil && v < 20 {
			cost--
		}
	}
	return max(cost, 1)
}

// retryKey identifies "the same request" for EarlyRetries.
func retryKey(rt *route, page int) string {
	return rt.key + "|" + strings.ToLower(rt.id) + "|" + strconv.Itoa(page)
}

// noteArrival records a request for key and counts an early retry when the
// server told the client to wait longer.
func (s *Server) noteArrival(key string, now time.Time) {
	s.thrMu.Lock()
	defer s.thrMu.Unlock()
	nb, ok := s.thr.notBefore[key]
	if !ok {
		return
	}
	if now.Before(nb) {
		s.thr.stats.EarlyRetries++
		return
	}
	delete(s.thr.notBefore, key)
}

// admit charges cost to the window. It reports whether the request is
// admitted, the wait before it would be and the share of the budget in use
// after charging (0 when throttling is disabled).
func (s *Server) admit(cost int) (ok bool, wait time.Duration, usage float64) {
	s.thrMu.Lock()
	defer s.thrMu.Unlock()
	t := &s.thr
	if !t.enabled() {
		t.stats.ResourceUnits += cost
		return true, 0, 0
	}
	now := time.Now()
	t.expire(now)
	if t.used == 0 || t.used+cost <= t.cfg.Budget {
		t.log = append(t.log, ruCharge{at: now, cost: cost})
		t.used += cost
		t.stats.ResourceUnits += cost
		return true, 0, float64(t.used) / float64(t.cfg.Budget)
	}
	need := t.used + cost - t.cfg.Budget
	if cost > t.cfg.Budget {
		need = t.used
	}
	freed := 0
	for _, c := range t.log[t.head:] {
		freed += c.cost
		if freed >= need {
			wait = c.at.Add(t.cfg.Window).Sub(now)
			break
		}
	}
	return false, wait, float64(t.used) / float64(t.cfg.Budget)
}

// retryAfterSeconds is the Retry-After to announce for a request that would
// be admitted after wait.
func (s *Server) retryAfterSeconds(wait time.Duration) int {
	d := wait
	if s.thr.cfg.RetryAfter > 0 { // cfg is never changed after NewServer
		d = s.thr.cfg.RetryAfter
	}
	secs := int((d + time.Second - 1) / time.Second)
	return max(secs, 1)
}

// noteAnswer records the answer sent to a request for key: 429s are counted
// and a Retry-After in seconds sets the time before which a request for key
// is an early retry.
func (s *Server) noteAnswer(key string, resp *gresp) {
	ra := resp.header.Get("Retry-After")
	if resp.status != http.StatusTooManyRequests && ra == "" {
		return
	}
	now := time.Now()
	s.thrMu.Lock()
	defer s.thrMu.Unlock()
	t := &s.thr
	if resp.status == http.StatusTooManyRequests {
		t.stats.Throttled++
	}
	secs, err := strconv.Atoi(strings.TrimSpace(ra))
	if err != nil || secs <= 0 {
		return
	}
	if t.notBefore == nil {
		t.notBefore = map[string]time.Time{}
	}
	if len(t.notBefore) > 10000 {
		for k, nb := range t.notBefore {
			if !now.Before(nb) {
				delete(t.notBefore, k)
			}
		}
	}
	t.notBefore[key] = now.Add(time.Duration(secs) * time.Second)
}

// throttled builds the 429 answer to a request refused by the budget.
func (s *Server) throttled(g *greq, wait time.Duration) *gresp {
	s.mu.RLock()
	clientID, tenantID := s.tenant.ClientID, s.tenant.TenantID
	s.mu.RUnlock()
	resp := s.gerr(g, http.StatusTooManyRequests, "TooManyRequests",
		"Too many requests from Identifier:"+clientID+"+"+tenantID+
			" under category:throttle.aad.ags.tenant_application.resourceunits. Please try again later.")
	resp.header.Set("Retry-After", strconv.Itoa(s.retryAfterSeconds(wait)))
	resp.header.Set("x-ms-throttle-scope", "Tenant_Application/ReadWrite/"+clientID+"/"+tenantID)
	resp.header.Set("x-ms-throttle-information", "ResourceUnitLimitExceeded")
	return resp
}

// usageHeader formats x-ms-throttle-limit-percentage (Graph sends it from
// 0.8 of the limit on, up to 1.8).
func usageHeader(usage float64) string {
	return strconv.FormatFloat(min(usage, 1.8), 'f', 2, 64)
}
