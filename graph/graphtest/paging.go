package graphtest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Server-driven paging of listings: $top, opaque skip tokens and an absolute
// @odata.nextLink, as Graph pages directory collections.

// Page sizes of Graph directory listings.
const (
	defaultPageSize = 100
	maxPageSize     = 999
)

// skip tokens are opaque to clients; they encode the listing they belong to,
// the offset of the page and its 1-based number.
func encodeSkipToken(key, scope string, offset, page int) string {
	raw := fmt.Sprintf("gt1\x00%s\x00%s\x00%d\x00%d", key, strings.ToLower(scope), offset, page)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeSkipToken(tok, key, scope string) (offset, page int, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, 0, false
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 5 || parts[0] != "gt1" || parts[1] != key || parts[2] != strings.ToLower(scope) {
		return 0, 0, false
	}
	offset, err1 := strconv.Atoi(parts[3])
	page, err2 := strconv.Atoi(parts[4])
	if err1 != nil || err2 != nil || offset < 0 || page < 2 {
		return 0, 0, false
	}
	return offset, page, true
}

// pageOf returns the 1-based page number a listing request asks for (0 when
// its skip token is invalid).
func (s *Server) pageOf(g *greq, rt *route) int {
	if rt.delta {
		return deltaPageOf(g, rt)
	}
	tok, ok := queryOpt(g.query, "$skiptoken")
	if !ok {
		return 1
	}
	_, page, ok := decodeSkipToken(tok, rt.key, listScope(g, rt))
	if !ok {
		return 0
	}
	return page
}

// listScope is what a listing's skip tokens are bound to: the endpoint's id
// and, for a filtered listing, the filter (a token is not valid for another).
func listScope(g *greq, rt *route) string {
	if f, ok := queryOpt(g.query, "$filter"); ok {
		return rt.id + "|" + f
	}
	return rt.id
}

// listing answers a paged collection of n items.
func (s *Server) listing(g *greq, rt *route, ctx string, sel []string, n int, item func(i int) object) *gresp {
	top := defaultPageSize
	rawTop, hasTop := queryOpt(g.query, "$top")
	if hasTop {
		v, err := strconv.Atoi(strings.TrimSpace(rawTop))
		if err != nil {
			return s.gerr(g, http.StatusBadRequest, "BadRequest",
				fmt.Sprintf("Invalid value '%s' for query option '$top'.", rawTop))
		}
		if v < 1 || v > maxPageSize {
			return s.gerr(g, http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("Invalid page size specified: '%d'. Must be between 1 and %d inclusive.", v, maxPageSize))
		}
		top = v
	}
	offset, page := 0, 1
	if tok, ok := queryOpt(g.query, "$skiptoken"); ok {
		var valid bool
		offset, page, valid = decodeSkipToken(tok, rt.key, listScope(g, rt))
		if !valid {
			return s.gerr(g, http.StatusBadRequest, "Directory_ExpiredPageToken",
				"The specified page token value has expired or is not valid for this request.")
		}
	}
	end := min(offset+top, n)
	values := make([]object, 0, max(end-offset, 0))
	for i := offset; i < end; i++ {
		values = append(values, item(i))
	}
	out := object{{"@odata.context", ctx}}
	next, nextPage := end, page+1
	if g.dropPage && end < n {
		// The page after this one goes missing.
		next, nextPage = min(end+top, n), page+2
	}
	if next < n {
		params := []string{}
		if raw, ok := queryOpt(g.query, "$select"); ok {
			params = append(params, "$select="+url.QueryEscape(raw))
		}
		if raw, ok := queryOpt(g.query, "$filter"); ok {
			params = append(params, "$filter="+url.QueryEscape(raw))
		}
		if hasTop {
			params = append(params, "$top="+strconv.Itoa(top))
		}
		params = append(params, "$skiptoken="+encodeSkipToken(rt.key, listScope(g, rt), next, nextPage))
		out = append(out, kv{"@odata.nextLink", s.URL() + "/v1.0" + g.path + "?" + strings.Join(params, "&")})
	}
	out = append(out, kv{"value", values})
	hint := 512
	if len(values) > 0 {
		hint += len(values) * (16 + 40*len(values[0]))
	}
	return &gresp{status: http.StatusOK, header: s.newHeader(g), body: mustJSONSized(out, hint)}
}
