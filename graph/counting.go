package graph

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/entrasync/entrasync/sync"
)

// Every HTTP round trip and Graph request of a read is counted, with its
// throttling waits and its progress; metrics see each response by endpoint.

// Progress is how far a snapshot's read has come.
type Progress struct {
	AssignmentPages int // pages of appRoleAssignedTo read
	Groups          int // assigned groups whose members are being read
	GroupsRead      int // of those, finished
	MemberPages     int // member pages read
	Users           int // directly assigned users to look up
	UsersRead       int // of those, read
	RoundTrips      int // HTTP requests so far, retries included
}

type counterKey struct{}

// requestCounter counts one snapshot's HTTP round trips, its Graph requests
// (each $batch item counts, the envelope does not), its throttling waits and
// its progress.
type requestCounter struct {
	n, requests, waited atomic.Int64

	assignmentPages, groups, groupsRead, memberPages, users, usersRead atomic.Int64
}

// progress reports the snapshot's progress after bump changed a counter.
func (s *Source) progress(ctx context.Context, bump func(c *requestCounter)) {
	c, ok := ctx.Value(counterKey{}).(*requestCounter)
	if !ok {
		return
	}
	bump(c)
	if s.cfg.Progress != nil {
		s.cfg.Progress(Progress{AssignmentPages: int(c.assignmentPages.Load()), Groups: int(c.groups.Load()),
			GroupsRead: int(c.groupsRead.Load()), MemberPages: int(c.memberPages.Load()), Users: int(c.users.Load()),
			UsersRead: int(c.usersRead.Load()), RoundTrips: int(c.n.Load())})
	}
}

func (c *requestCounter) fill(snap *sync.Snapshot) {
	snap.RoundTrips = int(c.n.Load())
	snap.GraphRequests = int(c.requests.Load())
	snap.ThrottleWait = time.Duration(c.waited.Load())
}

// countingTransport sits below the SDK's middleware, so it sees every HTTP
// request, retries included.
type countingTransport struct {
	base    http.RoundTripper
	observe func(endpoint string, status int, retryAfter time.Duration)
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if c, ok := req.Context().Value(counterKey{}).(*requestCounter); ok {
		c.n.Add(1)
		c.requests.Add(1)
	}
	resp, err := t.base.RoundTrip(req)
	if t.observe != nil && strings.Contains(req.URL.Path, "/v1.0/") {
		status, wait := 0, time.Duration(0)
		if resp != nil {
			status = resp.StatusCode
			if secs, perr := strconv.ParseFloat(resp.Header.Get("Retry-After"), 64); perr == nil && (status == 429 || status == 503) {
				wait = time.Duration(secs * float64(time.Second))
			}
		}
		t.observe(req.Method+" "+Endpoint(req.URL.Path), status, wait)
	}
	return resp, err
}

var idSegment = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$|@|\(`)

// Endpoint normalises a Graph URL path for metrics: object ids, UPNs and
// alternate keys become {id}, so label values stay few.
func Endpoint(path string) string {
	_, rest, ok := strings.Cut(path, "/v1.0/")
	if !ok {
		return path
	}
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		if idSegment.MatchString(s) {
			if j := strings.Index(s, "("); j > 0 {
				segs[i] = s[:j] + "({id})"
			} else {
				segs[i] = "{id}"
			}
		}
	}
	return "/" + strings.Join(segs, "/")
}
