package graph

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/entrasync/entrasync/sync"
)

var _ sync.PrincipalSource = (*Source)(nil)

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ReadUsers reads, for provision on demand, each user named by object id or
// UPN and what decides its scope: whether it holds a direct assignment and
// which of its direct groups are assigned to the application. The service
// principal and the assignment list are read once for all of them.
func (s *Source) ReadUsers(ctx context.Context, queries []string) (*sync.OnDemandRead, error) {
	ctr := &requestCounter{}
	ctx = context.WithValue(ctx, counterKey{}, ctr)
	read := &sync.OnDemandRead{}
	err := s.readUsers(ctx, read, queries)
	read.GraphRequests = int(ctr.requests.Load())
	return read, err
}

func (s *Source) readUsers(ctx context.Context, read *sync.OnDemandRead, queries []string) error {
	sp, err := s.servicePrincipal(ctx)
	if err != nil {
		return err
	}
	read.ServicePrincipal = sp
	snap := &sync.Snapshot{}
	direct, groupRefs, err := s.assignments(ctx, sp.ID, snap, nil, nil, nil)
	if err != nil {
		return err
	}
	return s.lookUpUsers(ctx, read, queries, direct, groupRefs)
}

func (s *Source) lookUpUsers(ctx context.Context, read *sync.OnDemandRead, queries, direct []string, groupRefs []sync.Ref) error {
	isDirect := map[string]bool{}
	for _, id := range direct {
		isDirect[id] = true
	}
	assigned := map[string]bool{}
	for _, g := range groupRefs {
		assigned[g.ID] = true
	}
	read.Users = make([]sync.UserRead, len(queries))
	return s.parallel(ctx, len(queries), func(ctx context.Context, i int) error {
		ur := sync.UserRead{Query: queries[i]}
		u, err := s.user(ctx, queries[i])
		if err != nil {
			return err
		}
		if u != nil {
			ur.User = u
			ur.Direct = isDirect[u.ID]
			if ur.Groups, err = s.memberOf(ctx, u.ID, assigned); err != nil {
				return err
			}
		}
		read.Users[i] = ur
		return nil
	})
}

// memberOf lists the user's direct groups that are assigned to the
// application, with the properties that decide support (S2).
func (s *Source) memberOf(ctx context.Context, userID string, assigned map[string]bool) ([]sync.EntraGroup, error) {
	top := int32(PageSize)
	b := s.users().ByUserId(userID).MemberOf()
	page, err := b.Get(ctx, &users.ItemMemberOfRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemMemberOfRequestBuilderGetQueryParameters{Select: groupFields, Top: &top}})
	var out []sync.EntraGroup
	for n := 1; ; n++ {
		what := fmt.Sprintf("memberOf of user %s, page %d", userID, n)
		if err != nil {
			return nil, readError(what, err)
		}
		if page == nil || page.GetValue() == nil {
			return nil, malformed(what, "page has no value array")
		}
		for i, m := range page.GetValue() {
			g, ok := m.(models.Groupable)
			if !ok {
				continue // directory roles, administrative units
			}
			id := str(g.GetId())
			if id == "" {
				return nil, malformed(what, fmt.Sprintf("group %d has no id", i))
			}
			if !assigned[id] {
				continue
			}
			out = append(out, sync.EntraGroup{ID: id, Found: true, DisplayName: str(g.GetDisplayName()),
				SecurityEnabled: boolean(g.GetSecurityEnabled()), MailEnabled: boolean(g.GetMailEnabled()), GroupTypes: g.GetGroupTypes()})
		}
		next := str(page.GetOdataNextLink())
		if next == "" {
			break
		}
		page, err = b.WithUrl(next).Get(ctx, nil)
	}
	return out, nil
}

// ReadGroup reads, for provision on demand, one group named by object id or
// display name (among the groups assigned to the application): whether it is
// assigned, its properties and, when supported, its direct members. Then it
// reads the users named by moreUsers(group) — members new to the directory and
// members who left — with their own paths.
func (s *Source) ReadGroup(ctx context.Context, query string, moreUsers func(g *sync.EntraGroup) []string) (*sync.OnDemandRead, error) {
	ctr := &requestCounter{}
	ctx = context.WithValue(ctx, counterKey{}, ctr)
	read := &sync.OnDemandRead{}
	err := s.readGroup(ctx, read, query, moreUsers)
	read.GraphRequests = int(ctr.requests.Load())
	return read, err
}

func (s *Source) readGroup(ctx context.Context, read *sync.OnDemandRead, query string, moreUsers func(g *sync.EntraGroup) []string) error {
	sp, err := s.servicePrincipal(ctx)
	if err != nil {
		return err
	}
	read.ServicePrincipal = sp
	snap := &sync.Snapshot{}
	direct, groupRefs, err := s.assignments(ctx, sp.ID, snap, nil, nil, nil)
	if err != nil {
		return err
	}
	var ref *sync.Ref
	var named []sync.Ref
	for i, g := range groupRefs {
		if strings.EqualFold(g.ID, query) {
			ref = &groupRefs[i]
		}
		if strings.EqualFold(strings.TrimSpace(g.Name), strings.TrimSpace(query)) {
			named = append(named, g)
		}
	}
	if ref == nil && len(named) > 1 {
		return sync.Errorf(sync.EINVALID, "%d assigned groups are named %q; give the object id", len(named), query)
	}
	if ref == nil && len(named) == 1 {
		ref = &named[0]
	}
	var g sync.EntraGroup
	switch {
	case ref != nil:
		read.GroupAssigned = true
		var members map[string]sync.EntraUser
		if g, members, err = s.group(ctx, *ref); err != nil {
			return err
		}
		read.Members = members
	case guidRE.MatchString(query):
		// Not assigned: read it anyway, to say so and to archive a local copy.
		if g, _, err = s.group(ctx, sync.Ref{ID: query}); err != nil {
			return err
		}
		g.Members, g.Nested = nil, nil
	default:
		read.Group = nil
		return s.lookUpUsers(ctx, read, moreUsers(nil), direct, groupRefs)
	}
	read.Group = &g
	return s.lookUpUsers(ctx, read, moreUsers(&g), direct, groupRefs)
}
