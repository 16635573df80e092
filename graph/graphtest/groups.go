package graphtest

// The groups endpoints and membership: /groups/{id}, a group's direct
// members and their $count, and a user's direct groups (memberOf).

func (s *Server) getGroup(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, groupProps.typeName, groupProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, errResp := s.find(g, rt, kindGroup)
	if errResp != nil {
		return errResp
	}
	grp := &s.tenant.Groups[r.i]
	return s.entity(g, s.contextURL("groups", sel, true),
		render(groupProps, sel, "", func(p string) any { return s.groupValue(grp, p) }))
}

// listMembers lists a group's direct members (not transitive): users,
// groups and service principals, in the group's order.
func (s *Server) listMembers(g *greq, rt *route) *gresp {
	return s.listRelated(g, rt, kindGroup, []*propSet{userProps, groupProps, spProps}, func(gi int) (int, func(int) ref) {
		members := s.groupMembers(gi)
		return len(members), func(i int) ref { return members[i] }
	})
}

// countMembers answers GET /groups/{id}/members/$count: the number of the
// group's direct members as text/plain (an advanced query: it needs
// ConsistencyLevel: eventual).
func (s *Server) countMembers(g *greq, rt *route) *gresp {
	if resp := s.needEventual(g); resp != nil {
		return resp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, errResp := s.find(g, rt, kindGroup)
	if errResp != nil {
		return errResp
	}
	return countResp(len(s.groupMembers(r.i)))
}

// listMemberOf lists the groups a user is a direct member of (not
// transitive), in tenant order.
func (s *Server) listMemberOf(g *greq, rt *route) *gresp {
	return s.listRelated(g, rt, kindUser, []*propSet{groupProps}, func(ui int) (int, func(int) ref) {
		groups := s.userGroups(ui)
		return len(groups), func(i int) ref { return ref{kindGroup, int(groups[i])} }
	})
}

// listRelated answers a directoryObject collection reached from the object
// rt names, which must be of the given kind: related(i) says how many
// objects the one at index i relates to, and which. sets are the property
// sets $select may name.
func (s *Server) listRelated(g *greq, rt *route, kind int, sets []*propSet, related func(i int) (int, func(int) ref)) *gresp {
	sel, errResp := s.selection(g, "microsoft.graph.directoryObject", sets...)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, errResp := s.find(g, rt, kind)
	if errResp != nil {
		return errResp
	}
	n, at := related(r.i)
	return s.listing(g, rt, s.contextURL("directoryObjects", sel, false), sel, n, func(i int) object {
		return s.directoryObject(at(i), sel)
	})
}

// find finds the object rt names by id; an object of another kind is not
// found (404). Callers hold s.mu.
func (s *Server) find(g *greq, rt *route, kind int) (ref, *gresp) {
	r, ok := s.lookup(rt.id)
	if !ok || r.kind != kind {
		return ref{}, s.notFound(g, rt.id)
	}
	return r, nil
}
