package graphtest

import (
	"strings"
)

// The users endpoints: /users, /users/$count and /users/{id}.

func (s *Server) listUsers(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, userProps.typeName, userProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	users := s.tenant.Users
	return s.listing(g, rt, s.contextURL("users", sel, false), sel, len(users), func(i int) object {
		u := &users[i]
		return render(userProps, sel, "", func(p string) any { return s.userValue(u, p) })
	})
}

// countUsers answers GET /users/$count: the number of users as text/plain.
// Like Graph it needs the header ConsistencyLevel: eventual (an advanced
// query); without it the answer is 400.
func (s *Server) countUsers(g *greq, _ *route) *gresp {
	if resp := s.needEventual(g); resp != nil {
		return resp
	}
	s.mu.RLock()
	n := len(s.tenant.Users)
	s.mu.RUnlock()
	return countResp(n)
}

func (s *Server) getUser(g *greq, rt *route) *gresp {
	sel, errResp := s.selection(g, userProps.typeName, userProps)
	if errResp != nil {
		return errResp
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := -1
	if r, ok := s.lookup(rt.id); ok && r.kind == kindUser {
		i = r.i
	} else if j, ok := s.idx.byUPN[strings.ToLower(rt.id)]; ok {
		i = j
	}
	if i < 0 {
		return s.notFound(g, rt.id)
	}
	u := &s.tenant.Users[i]
	return s.entity(g, s.contextURL("users", sel, true),
		render(userProps, sel, "", func(p string) any { return s.userValue(u, p) }))
}
