package graphtest

import (
	"strings"
)

// The service principal endpoints: by object id or appId, and the
// application's assignments (appRoleAssignedTo and its $count).

// findSP finds the service principal rt names by id or appId (404 when
// there is none). Callers hold s.mu.
func (s *Server) findSP(g *greq, rt *route) (ref, *gresp) {
	var r ref
	var ok bool
	if rt.byAppID {
		r, ok = s.idx.byAppID[strings.ToLower(rt.id)]
	} else {
		r, ok = s.lookup(rt.id)
	}
	switch {
	case ok && (r.kind == kindSP || r.kind == kindApp):
		return r, nil
	case rt.byAppID:
		return ref{}, s.notFound(g, "appId='"+rt.id+"'")
	}
	return ref{}, s.notFound(g, rt.id)
}

func (s *Server) getServicePrincipal(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, spProps.typeName, spProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, errResp := s.findSP(g, rt)
	if errResp != nil {
		return errResp
	}
	sp := s.sp(r)
	isApp := r.kind == kindApp
	return s.entity(g, s.contextURL("servicePrincipals", sel, true),
		render(spProps, sel, "", func(p string) any { return s.spValue(sp, isApp, p) }))
}

// countAssignments answers GET /servicePrincipals/{id}/appRoleAssignedTo/$count
// as text/plain; like every $count it needs ConsistencyLevel: eventual.
func (s *Server) countAssignments(g *greq, rt *route) *gresp {
	if resp := s.needEventual(g); resp != nil {
		return resp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, errResp := s.findSP(g, rt)
	if errResp != nil {
		return errResp
	}
	n := 0
	if r.kind == kindApp {
		n = len(s.liveAssignments())
	}
	return countResp(n)
}

func (s *Server) listAssignments(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, assignmentProps.typeName, assignmentProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, errResp := s.findSP(g, rt)
	if errResp != nil {
		return errResp
	}
	// Only the Application has assignments; assignments whose principal no
	// longer exists are not listed.
	var list []int
	if r.kind == kindApp {
		list = s.liveAssignments()
	}
	ctx := s.contextURL("servicePrincipals('"+s.sp(r).ID+"')/appRoleAssignedTo", sel, false)
	return s.listing(g, rt, ctx, sel, len(list), func(i int) object {
		a := &s.tenant.Assignments[list[i]]
		return render(assignmentProps, sel, "", func(p string) any { return s.assignmentValue(a, p) })
	})
}
