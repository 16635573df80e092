package graphtest

import (
	"strings"
)

// The service principal endpoints: by object id or appId, and the
// application's assignments (appRoleAssignedTo and its $count).

// findSP finds a service principal by id or appId. Callers hold s.mu.
func (s *Server) findSP(rt *route) (ref, bool) {
	var r ref
	var ok bool
	if rt.byAppID {
		r, ok = s.idx.byAppID[strings.ToLower(rt.id)]
	} else {
		r, ok = s.lookup(rt.id)
	}
	if !ok || (r.kind != kindSP && r.kind != kindApp) {
		return ref{}, false
	}
	return r, true
}

func (s *Server) getServicePrincipal(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, spProps.typeName, spProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.findSP(rt)
	if !ok {
		if rt.byAppID {
			return s.notFound(g, "appId='"+rt.id+"'")
		}
		return s.notFound(g, rt.id)
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
	r, ok := s.findSP(rt)
	if !ok {
		return s.notFound(g, rt.id)
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
	r, ok := s.findSP(rt)
	if !ok {
		if rt.byAppID {
			return s.notFound(g, "appId='"+rt.id+"'")
		}
		return s.notFound(g, rt.id)
	}
	// Only the Application has assignments; assignments whose principal no
	// longer exists are not listed.
	var list []int
	if r.kind == kindApp {
		list = s.liveAssignments()
	}
	ctx := s.URL() + "/v1.0/$metadata#servicePrincipals('" + s.sp(r).ID + "')/appRoleAssignedTo"
	if sel != nil {
		ctx += "(" + strings.Join(sel, ",") + ")"
	}
	return s.listing(g, rt, ctx, sel, len(list), func(i int) object {
		a := &s.tenant.Assignments[list[i]]
		return render(assignmentProps, sel, "", func(p string) any { return s.assignmentValue(a, p) })
	})
}
