package graph

import (
	"context"
	"errors"
	"fmt"
	"strings"
	gosync "sync"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"

	"github.com/entrasync/entrasync/sync"
)

// Proving listings complete (sync.ListingProver): Graph's own counts of the
// application's assignments (appRoleAssignedTo/$count) and of a group's
// direct members (groups/{id}/members/$count), both advanced queries that
// need ConsistencyLevel: eventual. Asked only when a cycle would remove
// access, and only for what the removals rest on.

var _ sync.ListingProver = (*Source)(nil)

// ProveListings compares the snapshot's listings with Graph's counts (see
// sync.ListingProver). A count Graph refuses (400, 403, 501) or answers
// oddly proves nothing and fails nothing; a group whose count is 404 was
// deleted during the read, and fails the read; any other failed count fails
// the read, as a failed listing would.
//
// Its requests and waits are added to the snapshot's figures.
func (s *Source) ProveListings(ctx context.Context, snap *sync.Snapshot, assignments bool, groupIDs []string) error {
	ctr := &requestCounter{}
	ctx = context.WithValue(ctx, counterKey{}, ctr)
	defer func() {
		snap.RoundTrips += int(ctr.n.Load())
		snap.GraphRequests += int(ctr.requests.Load())
		snap.ThrottleWait += time.Duration(ctr.waited.Load())
	}()
	var short shortfalls
	if assignments {
		n, err := s.rawAssignmentCount(ctx, snap.ServicePrincipal.ID)
		switch {
		case unproven(err):
			s.logger.Warn("assignment count not served; the listing is not proven", "err", readError("assignment count", err))
		case err != nil:
			return readError("assignment count", err)
		default:
			short.note("assignments of "+snap.ServicePrincipal.ID, snap.AssignmentsListed, n)
		}
	}
	if err := s.proveMembers(ctx, groupIDs, membersListed(snap.Groups), &short); err != nil {
		return err
	}
	return short.err()
}

// shortfalls collects the listings found short of Graph's counts; it is
// safe for concurrent use.
type shortfalls struct {
	mu   gosync.Mutex
	list []string
}

// note compares what was listed with what Graph counts.
func (f *shortfalls) note(what string, listed, counted int) {
	if sync.ListingShort(listed, counted) {
		f.mu.Lock()
		f.list = append(f.list, fmt.Sprintf("%s: listed %d, Graph counts %d", what, listed, counted))
		f.mu.Unlock()
	}
}

// err is the error of the listings found short (sync.ErrListingShort in
// the chain), nil for none.
func (f *shortfalls) err() error {
	if len(f.list) == 0 {
		return nil
	}
	return fmt.Errorf("graph: %w: %s", sync.ErrListingShort, strings.Join(f.list, "; "))
}

// membersListed is how many direct members of each group were listed.
func membersListed(gs []sync.EntraGroup) map[string]int {
	listed := make(map[string]int, len(gs))
	for _, g := range gs {
		listed[g.ID] = len(g.Members) + len(g.Nested) + g.OtherMembers
	}
	return listed
}

// proveMembers asks for the member count of each group of ids and notes it
// in short beside the members listed; a count Graph does not serve proves
// nothing, a 404 means the group was deleted during the read.
func (s *Source) proveMembers(ctx context.Context, ids []string, listed map[string]int, short *shortfalls) error {
	return s.parallel(ctx, len(ids), func(ctx context.Context, i int) error {
		id := ids[i]
		n, err := s.memberCount(ctx, id)
		what := "member count of group " + id
		switch {
		case isNotFound(err):
			return &sync.Error{Code: sync.EUNAVAILABLE, Message: "graph: group " + id + " was deleted during the read"}
		case unproven(err):
			s.logger.Warn("member count not served; the listing is not proven", "group", id, "err", readError(what, err))
			return nil
		case err != nil:
			return readError(what, err)
		}
		short.note("members of group "+id, listed[id], n)
		return nil
	})
}

// memberCount asks how many direct members group id has; the SDK's error
// as it is, errNoCount for an answer without a number.
func (s *Source) memberCount(ctx context.Context, id string) (int, error) {
	h := abstractions.NewRequestHeaders()
	h.Add("ConsistencyLevel", "eventual")
	n, err := s.groups().ByGroupId(id).Members().Count().Get(ctx, &groups.ItemMembersCountRequestBuilderGetRequestConfiguration{Headers: h})
	if err != nil {
		return 0, err
	}
	if n == nil {
		return 0, errNoCount
	}
	return int(*n), nil
}

// errNoCount is a $count answered without a number.
var errNoCount = errors.New("the answer holds no count")

// unproven reports whether a count's error means Graph does not serve the
// count here (refused, not implemented, or an answer that is no number)
// rather than a failure to retry.
func unproven(err error) bool {
	if errors.Is(err, errNoCount) {
		return true
	}
	a, ok := answerOf(err)
	return ok && (a.status == 400 || a.status == 403 || a.status == 501)
}
