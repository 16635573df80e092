package graphtest

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// OData query options: $select, and $count's header and answer; $top and
// $skiptoken are in paging.go. Options not simulated are rejected.

// queryOpt returns the value of a query option, its name matched
// case-insensitively.
func queryOpt(q url.Values, name string) (string, bool) {
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

// checkQuery rejects the OData system query options the simulator does not
// implement, rather than silently ignoring them.
func (s *Server) checkQuery(g *greq, rt *route) *gresp {
	for k := range g.query {
		if !strings.HasPrefix(k, "$") {
			continue
		}
		switch strings.ToLower(k) {
		case "$select", "$top", "$skiptoken":
		case "$filter":
			if rt.key != "GET /v1.0/users" { // users.go reads it
				return s.gerr(g, http.StatusBadRequest, "Request_UnsupportedQuery",
					fmt.Sprintf("graphtest does not support the query option '%s' here.", k))
			}
		default:
			return s.gerr(g, http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("graphtest does not support the query option '%s'.", k))
		}
	}
	return nil
}

// selection parses $select against the property sets an endpoint returns. It
// returns nil (default properties) when there is no $select.
func (s *Server) selection(g *greq, typeName string, sets ...*propSet) ([]string, *gresp) {
	raw, ok := queryOpt(g.query, "$select")
	if !ok {
		return nil, nil
	}
	var sel []string
	seen := map[string]bool{}
	for _, n := range strings.Split(raw, ",") {
		n = strings.TrimSpace(n)
		if n == "" || n == "@odata.type" {
			continue
		}
		canonical := ""
		for _, ps := range sets {
			if c, ok := ps.known[strings.ToLower(n)]; ok {
				canonical = c
				break
			}
		}
		if canonical == "" {
			return nil, s.gerr(g, http.StatusBadRequest, "BadRequest",
				fmt.Sprintf("Could not find a property named '%s' on type '%s'.", n, typeName))
		}
		if !seen[canonical] {
			seen[canonical] = true
			sel = append(sel, canonical)
		}
	}
	if sel == nil {
		sel = []string{}
	}
	return sel, nil
}

// needEventual answers 400 like Graph when an advanced query ($count) comes
// without ConsistencyLevel: eventual; nil when it is there.
func (s *Server) needEventual(g *greq) *gresp {
	if strings.EqualFold(g.header.Get("ConsistencyLevel"), "eventual") {
		return nil
	}
	return s.gerr(g, http.StatusBadRequest, "Request_BadRequest",
		"Count is not currently supported without the ConsistencyLevel: eventual header.")
}

// countResp is a $count answer: the number as text/plain.
func countResp(n int) *gresp {
	h := http.Header{}
	h.Set("Content-Type", "text/plain")
	return &gresp{status: http.StatusOK, header: h, body: []byte(strconv.Itoa(n))}
}
