package graph

import (
	"context"
	"fmt"
	"sort"

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
	top := int32(PageSize)
	first, err := s.groups().ByGroupId(eg.ID).Members().ToGetRequestInformation(ctx, &groups.ItemMembersRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: memberFields, Top: &top}})
	if err != nil {
		return nil, fmt.Errorf("graph: members request: %w", err)
	}
	users := map[string]sync.EntraUser{}
	err = listAll(ctx, s, first, "members of group "+eg.ID, func(n int, items []wireMember, _ bool) error {
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
			}
		}
		s.progress(ctx, func(c *requestCounter) { c.memberPages.Add(1) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(eg.Members)
	s.progress(ctx, func(c *requestCounter) { c.groupsRead.Add(1) })
	return users, nil
}
