package graphtest

import (
	"net/http"
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
	at := func(i int) int { return i }
	n := len(users)
	if raw, ok := queryOpt(g.query, "$filter"); ok {
		if s.noUserFilter {
			return s.gerr(g, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported Query.")
		}
		prefixes, msg := parseUPNPrefixes(raw)
		if msg != "" {
			return s.gerr(g, http.StatusBadRequest, "Request_UnsupportedQuery", msg)
		}
		matched := s.usersStartingWith(raw, prefixes)
		at, n = func(i int) int { return matched[i] }, len(matched)
	}
	return s.listing(g, rt, s.contextURL("users", sel, false), sel, n, func(i int) object {
		u := &users[at(i)]
		return render(userProps, sel, "", func(p string) any { return s.userValue(u, p) })
	})
}

// maxFilterTerms is the most startswith terms graphtest takes in one
// $filter of /users.
const maxFilterTerms = 15

// parseUPNPrefixes reads the one $filter of GET /users that graphtest
// serves: startswith(userPrincipalName,'p') terms joined by "or" (the
// function and property names case-insensitive, quotes in p doubled, as in
// OData). It returns the prefixes, or why the filter is refused.
func parseUPNPrefixes(raw string) ([]string, string) {
	const unsupported = "graphtest serves only startswith(userPrincipalName,'…') terms joined by 'or' in a $filter of /users."
	var out []string
	rest := strings.TrimSpace(raw)
	for {
		const fn = "startswith("
		if len(rest) < len(fn) || !strings.EqualFold(rest[:len(fn)], fn) {
			return nil, unsupported
		}
		rest = strings.TrimLeft(rest[len(fn):], " ")
		const prop = "userprincipalname"
		if len(rest) < len(prop) || !strings.EqualFold(rest[:len(prop)], prop) {
			return nil, unsupported
		}
		rest = strings.TrimLeft(rest[len(prop):], " ")
		if !strings.HasPrefix(rest, ",") {
			return nil, unsupported
		}
		rest = strings.TrimLeft(rest[1:], " ")
		if !strings.HasPrefix(rest, "'") {
			return nil, unsupported
		}
		var lit strings.Builder
		i := 1
		for {
			if i >= len(rest) {
				return nil, unsupported
			}
			if rest[i] == '\'' {
				if i+1 < len(rest) && rest[i+1] == '\'' {
					lit.WriteByte('\'')
					i += 2
					continue
				}
				break
			}
			lit.WriteByte(rest[i])
			i++
		}
		rest = strings.TrimLeft(rest[i+1:], " ")
		if !strings.HasPrefix(rest, ")") {
			return nil, unsupported
		}
		out = append(out, lit.String())
		if len(out) > maxFilterTerms {
			return nil, "The $filter has too many terms."
		}
		rest = strings.TrimSpace(rest[1:])
		if rest == "" {
			return out, ""
		}
		if len(rest) < 3 || !strings.EqualFold(rest[:3], "or ") {
			return nil, unsupported
		}
		rest = strings.TrimSpace(rest[3:])
	}
}

// usersStartingWith returns the indices of the users whose
// userPrincipalName starts with one of prefixes, compared
// case-insensitively as Entra compares strings; computed once per filter
// until the tenant changes. Callers hold s.mu (read).
func (s *Server) usersStartingWith(filter string, prefixes []string) []int {
	d := s.idx.derived
	d.mu.Lock()
	defer d.mu.Unlock()
	if m, ok := d.filtered[filter]; ok {
		return m
	}
	for i := range prefixes {
		prefixes[i] = strings.ToLower(prefixes[i])
	}
	if d.lowerUPNs == nil {
		d.lowerUPNs = make([]string, len(s.tenant.Users))
		for i := range s.tenant.Users {
			d.lowerUPNs[i] = strings.ToLower(s.tenant.Users[i].UserPrincipalName)
		}
	}
	var out []int
	for i, upn := range d.lowerUPNs {
		for _, p := range prefixes {
			if strings.HasPrefix(upn, p) {
				out = append(out, i)
				break
			}
		}
	}
	if d.filtered == nil {
		d.filtered = map[string][]int{}
	}
	d.filtered[filter] = out
	return out
}

// WithoutUserFilter makes GET /v1.0/users answer 400 to any $filter, as a
// Graph that refused the listing's startswith filter would.
func WithoutUserFilter() Option {
	return func(s *Server) { s.noUserFilter = true }
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
