package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	gosync "sync"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"

	"github.com/entrasync/entrasync/sync"
)

// The assigned groups: their properties and their direct members.

var (
	groupFields  = []string{"id", "displayName", "securityEnabled", "mailEnabled", "groupTypes"}
	memberFields = userFields
)

// group reads one group's properties and, when it is supported (S2), its
// direct members (provision on demand).
func (s *Source) group(ctx context.Context, ref sync.Ref) (sync.EntraGroup, map[string]sync.EntraUser, error) {
	eg := sync.EntraGroup{ID: ref.ID, DisplayName: ref.Name}
	g, err := s.groups().ByGroupId(ref.ID).Get(ctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: groupFields}})
	if isNotFound(err) {
		return eg, nil, nil // Found stays false: the group is gone
	}
	if err != nil {
		return eg, nil, readError("group "+ref.ID, err)
	}
	if g == nil || str(g.GetId()) == "" {
		return eg, nil, malformed("group "+ref.ID, "response has no id")
	}
	eg.Found = true
	eg.DisplayName = str(g.GetDisplayName())
	eg.SecurityEnabled = boolean(g.GetSecurityEnabled())
	eg.MailEnabled = boolean(g.GetMailEnabled())
	eg.GroupTypes = g.GetGroupTypes()
	if ok, _ := sync.GroupSupport(eg); !ok {
		return eg, nil, nil
	}
	users, err := s.members(ctx, &eg)
	return eg, users, err
}

// groupProps reads the properties of the assigned groups, 20 to a $batch.
// A group Graph no longer has keeps Found false.
func (s *Source) groupProps(ctx context.Context, refs []sync.Ref) ([]sync.EntraGroup, error) {
	out := make([]sync.EntraGroup, len(refs))
	infos := make([]*abstractions.RequestInformation, len(refs))
	for i, ref := range refs {
		out[i] = sync.EntraGroup{ID: ref.ID, DisplayName: ref.Name}
		info, err := s.groups().ByGroupId(ref.ID).ToGetRequestInformation(ctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: groupFields}})
		if err != nil {
			return nil, fmt.Errorf("graph: group request: %w", err)
		}
		infos[i] = info
	}
	res, err := s.batchGet(ctx, infos, "assigned groups", nil)
	if err != nil {
		return nil, err
	}
	err = decodeItems(res, func(i int) string { return "group " + refs[i].ID }, func(i int, g wireGroup) {
		out[i] = sync.EntraGroup{ID: refs[i].ID, Found: true, DisplayName: g.DisplayName, SecurityEnabled: boolean(g.SecurityEnabled),
			MailEnabled: boolean(g.MailEnabled), GroupTypes: g.GroupTypes}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// members pages a supported group's direct members: users are kept (only
// the fields used), nested groups recorded (S3), anything else counted.
func (s *Source) members(ctx context.Context, eg *sync.EntraGroup) (map[string]sync.EntraUser, error) {
	first, err := s.membersRequest(ctx, eg.ID)
	if err != nil {
		return nil, err
	}
	users := map[string]sync.EntraUser{}
	if err := s.memberChain(ctx, eg, first, 1, users); err != nil {
		return nil, err
	}
	s.memberGroupDone(ctx, eg)
	return users, nil
}

// membersRequest is the request of a group's first page of direct members.
func (s *Source) membersRequest(ctx context.Context, id string) (*abstractions.RequestInformation, error) {
	top := int32(PageSize)
	info, err := s.groups().ByGroupId(id).Members().ToGetRequestInformation(ctx, &groups.ItemMembersRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: memberFields, Top: &top}})
	if err != nil {
		return nil, fmt.Errorf("graph: members request: %w", err)
	}
	return info, nil
}

// memberChain reads the pages of eg's members from info (page n) on,
// following next links, into users.
func (s *Source) memberChain(ctx context.Context, eg *sync.EntraGroup, info *abstractions.RequestInformation, n int, users map[string]sync.EntraUser) error {
	return listFrom(ctx, s, info, n, "members of group "+eg.ID, func(n int, items []wireMember, _ bool) error {
		return s.memberPage(ctx, eg, n, items, users)
	})
}

// memberPage sorts one page of eg's members: users into users and
// eg.Members, nested groups into eg.Nested (S3), the rest counted.
func (s *Source) memberPage(ctx context.Context, eg *sync.EntraGroup, n int, items []wireMember, users map[string]sync.EntraUser) error {
	for i, m := range items {
		if m.ID == "" {
			return malformed(fmt.Sprintf("members of group %s, page %d", eg.ID, n), fmt.Sprintf("member %d has no id", i))
		}
		switch m.Type {
		case "#microsoft.graph.user":
			users[m.ID] = m.entraUser()
			eg.Members = append(eg.Members, m.ID)
		case "#microsoft.graph.group":
			eg.Nested = append(eg.Nested, sync.Ref{ID: m.ID, Name: m.DisplayName})
		default:
			eg.OtherMembers++
			eg.OtherIDs = append(eg.OtherIDs, m.ID)
		}
	}
	s.progress(ctx, func(c *requestCounter) { c.memberPages.Add(1) })
	return nil
}

func (s *Source) memberGroupDone(ctx context.Context, eg *sync.EntraGroup) {
	sort.Strings(eg.Members)
	sort.Slice(eg.Nested, func(i, j int) bool { return eg.Nested[i].ID < eg.Nested[j].ID })
	sort.Strings(eg.OtherIDs)
	s.progress(ctx, func(c *requestCounter) { c.groupsRead.Add(1) })
}

// membersOf reads the direct members of up to 20 supported groups: their
// first pages in one $batch, then each group's further pages by its next
// links, the chains side by side (at most Concurrency at once across the
// read, through chains). It returns the users found.
func (s *Source) membersOf(ctx context.Context, gs []*sync.EntraGroup, chains chan struct{}) (map[string]sync.EntraUser, error) {
	infos := make([]*abstractions.RequestInformation, len(gs))
	for i, g := range gs {
		info, err := s.membersRequest(ctx, g.ID)
		if err != nil {
			return nil, err
		}
		infos[i] = info
	}
	res, err := s.batchGet(ctx, infos, "members of assigned groups", nil)
	if err != nil {
		return nil, err
	}
	users := map[string]sync.EntraUser{}
	type follow struct {
		g    *sync.EntraGroup
		next *abstractions.RequestInformation
	}
	var more []follow
	for i, r := range res {
		g, where := gs[i], fmt.Sprintf("members of group %s, page 1", gs[i].ID)
		if r.status != 200 {
			return nil, itemError(where, r)
		}
		var p page[wireMember]
		if err := json.Unmarshal(r.body, &p); err != nil {
			return nil, malformed(where, err.Error())
		}
		if p.Value == nil {
			return nil, malformed(where, "page has no value array")
		}
		if err := s.memberPage(ctx, g, 1, *p.Value, users); err != nil {
			return nil, err
		}
		if p.NextLink == "" {
			s.memberGroupDone(ctx, g)
			continue
		}
		next, err := nextRequest(where, p.NextLink)
		if err != nil {
			return nil, err
		}
		more = append(more, follow{g, next})
	}
	if len(more) == 0 {
		return users, nil
	}
	var mu gosync.Mutex
	err = s.parallel(ctx, len(more), func(ctx context.Context, i int) error {
		select {
		case chains <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-chains }()
		f, own := more[i], map[string]sync.EntraUser{}
		if err := s.memberChain(ctx, f.g, f.next, 2, own); err != nil {
			return err
		}
		s.memberGroupDone(ctx, f.g)
		mu.Lock()
		maps.Copy(users, own)
		mu.Unlock()
		return nil
	})
	return users, err
}
