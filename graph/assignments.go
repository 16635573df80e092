package graph

import (
	"context"
	"fmt"
	"sort"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"

	"github.com/entrasync/entrasync/sync"
)

// The application's service principal and who is assigned to it.

var (
	spFields         = []string{"id", "appId", "displayName"}
	assignmentFields = []string{"id", "principalId", "principalType", "principalDisplayName"}
)

// getServicePrincipal reads the application's service principal, by object
// id or else by appId; errors are the SDK's.
func (s *Source) getServicePrincipal(ctx context.Context) (models.ServicePrincipalable, error) {
	if s.cfg.ServicePrincipalID != "" {
		return s.servicePrincipals().ByServicePrincipalId(s.cfg.ServicePrincipalID).Get(ctx,
			&serviceprincipals.ServicePrincipalItemRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipals.ServicePrincipalItemRequestBuilderGetQueryParameters{Select: spFields}})
	}
	return s.servicePrincipalByAppID(s.cfg.AppID).Get(ctx,
		&serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: spFields}})
}

// servicePrincipal reads the application's service principal: its object
// id and display name.
func (s *Source) servicePrincipal(ctx context.Context) (sync.Ref, error) {
	sp, err := s.getServicePrincipal(ctx)
	what := "service principal " + s.cfg.ServicePrincipalID
	if s.cfg.ServicePrincipalID == "" {
		what = "service principal of app " + s.cfg.AppID
	}
	if err != nil {
		return sync.Ref{}, readError(what, err)
	}
	if sp == nil || sp.GetId() == nil || *sp.GetId() == "" {
		return sync.Ref{}, malformed(what, "response has no id")
	}
	return sync.Ref{ID: *sp.GetId(), Name: str(sp.GetDisplayName())}, nil
}

// assignments pages appRoleAssignedTo and sorts principals into direct users
// and groups; service principals are counted (S4), unknown types skipped.
//
// onGroup, when set, is called with each assigned group and the page it is
// on as soon as that page is read, so that group reads can start before the
// last page. onMore, when set, is called once if the listing has more than
// one page. record, when set, is given every assignment (change tracking).
func (s *Source) assignments(ctx context.Context, spID string, snap *sync.Snapshot, onGroup func(sync.Ref, int), onMore func(), record func(wireAssignment)) (direct []string, grps []sync.Ref, err error) {
	top := int32(PageSize)
	first, err := s.servicePrincipals().ByServicePrincipalId(spID).AppRoleAssignedTo().ToGetRequestInformation(ctx,
		&serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetQueryParameters{Select: assignmentFields, Top: &top}})
	if err != nil {
		return nil, nil, fmt.Errorf("graph: assignments request: %w", err)
	}
	seenUser, seenGroup := map[string]bool{}, map[string]bool{}
	err = listAhead(ctx, s, first, "appRoleAssignedTo of "+spID, func(n int, items []wireAssignment, more bool) error {
		if n == 1 && more && onMore != nil {
			onMore()
		}
		snap.AssignmentsListed += len(items) // every item: a principal may hold several roles
		for i, a := range items {
			pid := a.PrincipalID
			if !isGUID(pid) {
				return malformed(fmt.Sprintf("appRoleAssignedTo of %s, page %d", spID, n), fmt.Sprintf("assignment %d has no valid principalId (%q)", i, clipped(pid)))
			}
			if record != nil {
				record(a)
			}
			switch a.PrincipalType {
			case "User":
				if !seenUser[pid] {
					seenUser[pid] = true
					direct = append(direct, pid)
				}
			case "Group":
				if !seenGroup[pid] {
					seenGroup[pid] = true
					grps = append(grps, sync.Ref{ID: pid, Name: a.PrincipalDisplayName})
					if onGroup != nil {
						onGroup(grps[len(grps)-1], n)
					}
				}
			case "ServicePrincipal":
				snap.ServicePrincipalAssignments++
			default:
				snap.Skipped = append(snap.Skipped, sync.Skip{Kind: sync.SkipPrincipal, ID: pid, Name: a.PrincipalDisplayName,
					Reason: fmt.Sprintf("unknown principal type %q; ignored", clipped(a.PrincipalType))})
			}
		}
		s.progress(ctx, func(c *requestCounter) { c.assignmentPages.Add(1) })
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(direct)
	return direct, grps, nil
}

// assignmentCount asks how many assignments the application has (an
// advisory figure from the eventually consistent index, to pick a strategy).
func (s *Source) assignmentCount(ctx context.Context, spID string) (int, error) {
	n, err := s.rawAssignmentCount(ctx, spID)
	if err != nil {
		return 0, readError("assignment count", err)
	}
	return n, nil
}

// rawAssignmentCount is assignmentCount with the SDK's error as it is;
// errNoCount for an answer without a number.
func (s *Source) rawAssignmentCount(ctx context.Context, spID string) (int, error) {
	h := abstractions.NewRequestHeaders()
	h.Add("ConsistencyLevel", "eventual")
	n, err := s.servicePrincipals().ByServicePrincipalId(spID).AppRoleAssignedTo().Count().Get(ctx,
		&serviceprincipals.ItemAppRoleAssignedToCountRequestBuilderGetRequestConfiguration{Headers: h})
	if err != nil {
		return 0, err
	}
	if n == nil {
		return 0, errNoCount
	}
	return int(*n), nil
}
