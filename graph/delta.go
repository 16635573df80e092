package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	gosync "sync"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"

	"github.com/entrasync/entrasync/sync"
)

// Incremental reads from Graph's delta queries (sync.DeltaSource): before a
// full read, fresh delta links are taken with $deltatoken=latest; an
// incremental read follows them and applies what changed to the mirror
// (mirror.go). users/delta carries attribute, enable/disable and deletion
// changes; groups/delta with members the membership changes, renames and
// deletions; directoryObjects/delta with isof('microsoft.graph.appRoleAssignment')
// the assignment changes where Graph serves it, else the assignments are
// listed in full each cycle.

var _ sync.DeltaSource = (*Source)(nil)

// The delta queries, by the name their links are kept under.
const (
	deltaUsers       = "users"
	deltaGroups      = "groups"
	deltaAssignments = "assignments"
)

// deltaPath is each query's initial request, relative to v1.0.
func deltaPath(name string) string {
	q := url.Values{}
	switch name {
	case deltaUsers:
		q.Set("$select", strings.Join(userFields, ","))
		return "users/delta?" + q.Encode()
	case deltaGroups:
		q.Set("$select", strings.Join(groupFields, ",")+",members")
		return "groups/delta?" + q.Encode()
	}
	q.Set("$filter", "isof('microsoft.graph.appRoleAssignment') or isof('microsoft.graph.user')")
	return "directoryObjects/delta?" + q.Encode()
}

// DeltaScope identifies what decides the application's scope and what the
// links track: the Entra tenant, the application, the Graph endpoint and
// the delta queries themselves (their $select and $filter).
func (s *Source) DeltaScope() string {
	h := sha256.Sum256([]byte(strings.Join([]string{s.cfg.TenantID, s.cfg.ServicePrincipalID, s.cfg.AppID,
		strings.TrimRight(s.cfg.GraphEndpoint, "/"), deltaPath(deltaUsers), deltaPath(deltaGroups), deltaPath(deltaAssignments)}, "\x00")))
	return hex.EncodeToString(h[:8])
}

// counted runs read with a request counter and fills the snapshot's
// figures from it.
func (s *Source) counted(ctx context.Context, read func(ctx context.Context) (*sync.Snapshot, *sync.DeltaState, error)) (*sync.Snapshot, *sync.DeltaState, error) {
	ctr := &requestCounter{}
	snap, st, err := read(context.WithValue(ctx, counterKey{}, ctr))
	if snap == nil {
		snap = &sync.Snapshot{Users: map[string]sync.EntraUser{}}
	}
	ctr.fill(snap)
	return snap, st, err
}

// SnapshotDelta takes fresh delta links, then reads the whole picture. A
// query Graph refuses is left out of the state, which says why: without
// users or groups delta every cycle reads in full; without assignment
// changes the assignments are listed each cycle.
func (s *Source) SnapshotDelta(ctx context.Context) (*sync.Snapshot, *sync.DeltaState, error) {
	return s.counted(ctx, func(ctx context.Context) (*sync.Snapshot, *sync.DeltaState, error) {
		s.dropMirror()
		// The links are taken beside the service principal's look-up and
		// before anything the plan rests on is read.
		links := make(chan *sync.DeltaState, 1)
		go func() { links <- s.latestLinks(ctx) }()
		var st *sync.DeltaState
		taken := func() *sync.DeltaState {
			if st == nil {
				st = <-links
			}
			return st
		}
		snap := &sync.Snapshot{Users: map[string]sync.EntraUser{}}
		m := newMirror()
		err := s.read(ctx, snap, m, func() { taken() })
		taken()
		if err != nil {
			return snap, nil, err
		}
		// The links are part of the cycle's floor: three requests, side by
		// side with the service principal's.
		snap.LowerBound += len(latestQueries)
		if st.Strategy == "" {
			st.Mirror = []byte{}
			return snap, st, nil
		}
		m.fill(snap)
		// Encoded beside the plan, as an incremental read's mirror is (the
		// apply, bound by the database, leaves the client's CPU free), but
		// not kept decoded: a full cycle's apply is the peak of its memory,
		// and a decoded mirror held through it (about 100 MB for 100,000
		// users) made the collector work through the apply under the soft
		// memory limit. The encode lets go of it when it is done, in the
		// plan's time; once the cycle saved the bytes, Warm decodes them in
		// the background for the next incremental read.
		st.Encode = s.encodeAside(m, snap.Users, true)
		return snap, st, nil
	})
}

// latestQueries are the delta queries whose links a full read takes.
var latestQueries = []string{deltaUsers, deltaGroups, deltaAssignments}

// latestLinks takes the three delta links from now, side by side, and
// decides the strategy they allow.
func (s *Source) latestLinks(ctx context.Context) *sync.DeltaState {
	names := latestQueries
	links := make([]string, len(names))
	errs := make([]error, len(names))
	kinds := make([]DeltaSupport, len(names))
	var wg gosync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			links[i], kinds[i], errs[i] = s.latest(ctx, name)
		}()
	}
	wg.Wait()
	st := &sync.DeltaState{TakenAt: time.Now().UTC(), Scope: s.DeltaScope(), Links: map[string]string{}}
	for i, name := range names[:2] {
		if errs[i] != nil {
			st.Note = fmt.Sprintf("%s/delta is not available (%v): every cycle reads in full", name, errs[i])
			if i == 1 && kinds[i] == DeltaRefused {
				st.Note += "; granting Group.Read.All would make cycles incremental"
			}
			s.logger.Warn("delta links not taken; cycles stay full", "query", name, "err", errs[i])
			return st
		}
		st.Links[name] = links[i]
	}
	st.Strategy = sync.StrategyDelta
	if errs[2] != nil {
		st.Strategy = sync.StrategyDeltaListed
		st.Note = fmt.Sprintf("assignment changes are not served (%v): assignments are listed in full each cycle", errs[2])
		return st
	}
	st.Links[deltaAssignments] = links[2]
	return st
}

// latest asks query name for a delta link from now ($deltatoken=latest):
// a response with no items and a deltaLink on the Graph host.
// How Graph answered is classified (ClassifyDeltaError) when it failed.
func (s *Source) latest(ctx context.Context, name string) (string, DeltaSupport, error) {
	info, err := s.graphRequest(deltaPath(name) + "&$deltatoken=latest")
	if err != nil {
		return "", DeltaUnexpected, err
	}
	what := strings.SplitN(deltaPath(name), "?", 2)[0] + " ($deltatoken=latest)"
	body, err := s.getRaw(ctx, info)
	if err != nil {
		return "", ClassifyDeltaError(err), readError(what, err)
	}
	var p deltaPage
	if err := json.Unmarshal(body, &p); err != nil {
		return "", DeltaUnexpected, malformed(what, err.Error())
	}
	if p.DeltaLink == "" || p.NextLink != "" {
		return "", DeltaUnexpected, malformed(what, "no @odata.deltaLink")
	}
	if err := s.onGraph(p.DeltaLink); err != nil {
		return "", DeltaUnexpected, malformed(what, err.Error())
	}
	return p.DeltaLink, DeltaServed, nil
}

// graphRequest is a GET of path (relative to the Graph endpoint's v1.0).
func (s *Source) graphRequest(path string) (*abstractions.RequestInformation, error) {
	u, err := url.Parse(strings.TrimRight(s.cfg.GraphEndpoint, "/") + "/v1.0/" + path)
	if err != nil {
		return nil, fmt.Errorf("graph: request %s: %w", path, err)
	}
	info := abstractions.NewRequestInformation()
	info.Method = abstractions.GET
	info.SetUri(*u)
	return info, nil
}

// onGraph checks that a link Graph gave points at the Graph endpoint: a
// token is never sent anywhere else.
func (s *Source) onGraph(link string) error {
	u, err := url.Parse(link)
	g, gerr := url.Parse(s.cfg.GraphEndpoint)
	if err != nil || gerr != nil || !u.IsAbs() {
		return fmt.Errorf("link %q is not an absolute URL", clipped(withoutQueryString(link)))
	}
	if u.Scheme != "https" || !strings.EqualFold(u.Host, g.Host) {
		return fmt.Errorf("link to another host (%s), not the Graph endpoint %s", clipped(u.Scheme+"://"+u.Host), g.Host)
	}
	return nil
}

// deltaPage is one page of a delta round.
type deltaPage struct {
	Value     *[]json.RawMessage `json:"value"`
	NextLink  string             `json:"@odata.nextLink"`
	DeltaLink string             `json:"@odata.deltaLink"`
}

// removed is the @removed annotation of a deleted object or member.
type removed struct {
	Reason string `json:"reason"`
}

// checkRemoved accepts the documented reasons of @removed: changed (soft
// deleted, restorable) and deleted (gone for good).
func checkRemoved(r *removed, where string) error {
	if r == nil || r.Reason == "changed" || r.Reason == "deleted" {
		return nil
	}
	return sync.DeltaReset("%s: unknown @removed reason %q", where, clipped(r.Reason))
}

// round follows a delta link to the end of its round, giving each page's
// items to fn, and returns the next delta link. Graph refusing the link
// (410 Gone, syncStateNotFound, another 400, 403) is sync.ErrDeltaReset; a
// link or page that cannot be trusted is too; any other failure fails the
// read (C4).
func (s *Source) round(ctx context.Context, name, link string, fn func(items []json.RawMessage, where string) error) (string, error) {
	if err := s.onGraph(link); err != nil {
		return "", sync.DeltaReset("the stored %s delta link: %v", name, err)
	}
	endpoint := name
	if name == deltaAssignments {
		endpoint = "directoryObjects"
	}
	for n := 1; ; n++ {
		where := fmt.Sprintf("%s/delta, page %d", endpoint, n)
		info, err := nextRequest(where, link)
		if err != nil {
			return "", sync.DeltaReset("%v", err)
		}
		body, err := s.getRaw(ctx, info)
		if err != nil {
			// A link Graph no longer takes (410, syncStateNotFound), a
			// query it no longer serves or a permission withdrawn: a full
			// read starts afresh. Anything else fails the read (C4).
			switch k := ClassifyDeltaError(err); k {
			case DeltaExpired, DeltaRefused, DeltaUnsupported:
				a, _ := answerOf(err)
				return "", sync.DeltaReset("%s: Graph answered HTTP %d %s (%s)", where, a.status, a.code, k)
			}
			return "", readError(where, err)
		}
		var p deltaPage
		if err := json.Unmarshal(body, &p); err != nil {
			return "", malformed(where, err.Error())
		}
		switch {
		case p.Value == nil:
			return "", malformed(where, "page has no value array")
		case p.NextLink != "" && p.DeltaLink != "":
			return "", malformed(where, "page has both an @odata.nextLink and an @odata.deltaLink")
		case p.NextLink == "" && p.DeltaLink == "":
			return "", malformed(where, "page ends the round without an @odata.deltaLink")
		}
		if err := fn(*p.Value, where); err != nil {
			return "", err
		}
		if p.DeltaLink != "" {
			if err := s.onGraph(p.DeltaLink); err != nil {
				return "", sync.DeltaReset("%s: @odata.deltaLink: %v", where, err)
			}
			return p.DeltaLink, nil
		}
		if err := s.onGraph(p.NextLink); err != nil {
			return "", sync.DeltaReset("%s: @odata.nextLink: %v", where, err)
		}
		link = p.NextLink
	}
}

// withoutQueryString is link without its query, which holds the token of a
// delta or skip link.
func withoutQueryString(link string) string {
	if i := strings.IndexByte(link, '?'); i >= 0 {
		return link[:i] + "?…"
	}
	return link
}
