package graph

import (
	"context"
	"errors"
	"fmt"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/entrasync/entrasync/sync"
)

// The directly assigned users no member page returned: read 1,000 to a
// directoryObjects/getByIds request where Directory.Read.All happens to be
// granted (getbyids.go), else looked up 20 to a $batch, or found by listing
// every user when that is cheaper; and single users for provision on demand.

var userFields = []string{"id", "userPrincipalName", "mail", "displayName", "givenName", "surname", "accountEnabled"}

// ListThreshold is the number of missing direct users above which entrasync
// asks Graph how many users the tenant has, to choose between $batch
// look-ups (20 users a round trip) and listing every user (999 a page).
const ListThreshold = 1000

// lookUp reads the directly assigned users no member page returned, by the
// cheapest strategy available; nil entries are users Graph does not know. It
// returns the tenant's user count when it asked for it (else 0), and chain:
// how many round trips of the look-up had to follow each other (a getByIds
// or $batch round is one, whatever its width; a listing is the count and
// its longest chain of pages).
func (s *Source) lookUp(ctx context.Context, ids []string) (found []*sync.EntraUser, tenantUsers, chain int, err error) {
	if len(ids) == 0 {
		return nil, 0, 0, nil
	}
	if pages(len(ids), GetByIDsSize) < pages(len(ids), BatchSize) && s.byIDs.usable() {
		found, err := s.getByIDs(ctx, ids)
		if !errors.Is(err, errByIDsUnusable) {
			return found, 0, 1, err
		}
		chain++ // refused: the strategy below follows
	}
	if len(ids) > ListThreshold {
		n, err := s.userCount(ctx)
		chain++
		if err == nil && pages(n, PageSize) < pages(len(ids), BatchSize) {
			found, listed, err := s.listUsers(ctx, ids, n)
			return found, n, chain + listed, err
		}
		if err != nil {
			s.logger.Warn("user count unavailable; looking users up in batches", "err", err)
		}
	}
	found, err = s.batchUsers(ctx, ids)
	return found, 0, chain + 1, err
}

func pages(n, size int) int { return (n + size - 1) / size }

// UserLookUpBound is the fewest round trips that read missing directly
// assigned users: ⌈missing/1000⌉ getByIds requests when byIDs (Directory.Read.All
// granted), else the cheaper of ⌈missing/20⌉ $batch look-ups and, when the
// tenant's user count is known (tenantUsers > 0), ⌈tenantUsers/999⌉ pages
// of /users.
func UserLookUpBound(missing, tenantUsers int, byIDs bool) int {
	switch {
	case missing <= 0:
		return 0
	case byIDs:
		return pages(missing, GetByIDsSize)
	case tenantUsers > 0:
		return min(pages(missing, BatchSize), pages(tenantUsers, PageSize))
	}
	return pages(missing, BatchSize)
}

// userCount asks for the tenant's number of users (an advisory figure from
// the eventually consistent index; only used to pick a strategy).
func (s *Source) userCount(ctx context.Context) (int, error) {
	h := abstractions.NewRequestHeaders()
	h.Add("ConsistencyLevel", "eventual")
	n, err := s.users().Count().Get(ctx, &users.CountRequestBuilderGetRequestConfiguration{Headers: h})
	if err != nil {
		return 0, readError("user count", err)
	}
	if n == nil {
		return 0, malformed("user count", "empty")
	}
	return int(*n), nil
}

// batchUsers looks users up by id, 20 to a $batch.
func (s *Source) batchUsers(ctx context.Context, ids []string) ([]*sync.EntraUser, error) {
	infos := make([]*abstractions.RequestInformation, len(ids))
	for i, id := range ids {
		info, err := s.users().ByUserId(id).ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userFields}})
		if err != nil {
			return nil, fmt.Errorf("graph: user request: %w", err)
		}
		infos[i] = info
	}
	res, err := s.batchGet(ctx, infos, "assigned users", func() { s.progress(ctx, func(c *requestCounter) { c.usersRead.Add(1) }) })
	if err != nil {
		return nil, err
	}
	out := make([]*sync.EntraUser, len(ids))
	err = decodeItems(res, func(i int) string { return "user " + ids[i] }, func(i int, u wireUser) {
		eu := u.entraUser()
		out[i] = &eu
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// listUsers lists every user of the tenant and keeps those asked for; the
// ones no listing returned are looked up by id. chain is the round trips
// that followed each other (allUsers' chain, and the look-up after it).
func (s *Source) listUsers(ctx context.Context, ids []string, n int) (out []*sync.EntraUser, chain int, err error) {
	all, chain, err := s.allUsers(ctx, n)
	if err != nil {
		return nil, 0, err
	}
	out, unlisted := fromListing(all, ids)
	if len(unlisted) > 0 {
		chain++
	}
	return out, chain, s.lookUpUnlisted(ctx, ids, unlisted, out)
}

// fromListing takes the users ids from a listing: out[i] is ids[i]'s user,
// nil for those it did not return, whose indices are unlisted.
func fromListing(all map[string]sync.EntraUser, ids []string) (out []*sync.EntraUser, unlisted []int) {
	out = make([]*sync.EntraUser, len(ids))
	for i, id := range ids {
		if u, ok := all[id]; ok {
			out[i] = &u
		} else {
			unlisted = append(unlisted, i)
		}
	}
	return out, unlisted
}

// lookUpUnlisted looks up by id ($batch) the users ids[i] for i in
// unlisted, which no listing returned, into out[i] (nil: Graph does not know
// them either).
func (s *Source) lookUpUnlisted(ctx context.Context, ids []string, unlisted []int, out []*sync.EntraUser) error {
	if len(unlisted) == 0 {
		return nil
	}
	ask := make([]string, len(unlisted))
	for k, i := range unlisted {
		ask[k] = ids[i]
	}
	found, err := s.batchUsers(ctx, ask)
	if err != nil {
		return err
	}
	for k, i := range unlisted {
		out[i] = found[k]
	}
	s.logger.Debug("assigned users not in the user listing, looked up by id", "users", len(unlisted))
	return nil
}

// user reads one directly assigned user; nil when Graph does not know it.
func (s *Source) user(ctx context.Context, id string) (*sync.EntraUser, error) {
	u, err := s.users().ByUserId(id).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userFields}})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, readError("user "+id, err)
	}
	if u == nil || str(u.GetId()) == "" {
		return nil, malformed("user "+id, "response has no id")
	}
	eu := entraUser(u)
	return &eu, nil
}
