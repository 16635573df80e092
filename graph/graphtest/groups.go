package graphtest

import (
	"strings"
)

// The groups endpoints and membership: /groups/{id}, a group's direct
// members and a user's direct groups (memberOf).

func (s *Server) getGroup(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, groupProps.typeName, groupProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.lookup(rt.id)
	if !ok || r.kind != kindGroup {
		return s.notFound(g, rt.id)
	}
	grp := &s.tenant.Groups[r.i]
	return s.entity(g, s.contextURL("groups", sel, true),
		render(groupProps, sel, "", func(p string) any { return s.groupValue(grp, p) }))
}

func (s *Server) listMembers(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, "microsoft.graph.directoryObject", userProps, groupProps, spProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.lookup(rt.id)
	if !ok || r.kind != kindGroup {
		return s.notFound(g, rt.id)
	}
	members := s.groupMembers(r.i)
	ctx := s.URL() + "/v1.0/$metadata#directoryObjects"
	if sel != nil {
		ctx += "(" + strings.Join(sel, ",") + ")"
	}
	return s.listing(g, rt, ctx, sel, len(members), func(i int) object {
		return s.directoryObject(members[i], sel)
	})
}

// listMemberOf lists the groups a user is a direct member of (not
// transitive), in tenant order.
func (s *Server) listMemberOf(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, "microsoft.graph.directoryObject", groupProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.lookup(rt.id)
	if !ok || r.kind != kindUser {
		return s.notFound(g, rt.id)
	}
	groups := s.userGroups(r.i)
	ctx := s.URL() + "/v1.0/$metadata#directoryObjects"
	if sel != nil {
		ctx += "(" + strings.Join(sel, ",") + ")"
	}
	return s.listing(g, rt, ctx, sel, len(groups), func(i int) object {
		return s.directoryObject(ref{kindGroup, int(groups[i])}, sel)
	})
}
