package graphtest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The delta endpoints: GET /v1.0/users/delta, /v1.0/groups/delta and
// /v1.0/directoryObjects/delta, served from the change tracking of delta.go.

// Delta page sizes (modelled: Graph documents odata.maxpagesize but not its
// default for directory delta).
const (
	defaultDeltaPage = 100
	maxFilterIDs     = 50 // group-delta.md: at most 50 ids in $filter
)

// deltaState is what a delta token or skip token carries.
type deltaState struct {
	endpoint string // users, groups, directoryObjects
	epoch    int
	since    int64 // changes after this sequence number
	// base is the sequence number when an initial round (since 0) began:
	// deletions after it are reported in the round too, as the client may
	// have been served the object already.
	base int64
	// The position of the next item of the round (skip tokens only).
	seq     int64
	kind    int
	id      string
	chunk   int
	page    int
	minimal bool
	sel     string // raw $select of the initial request ("\x01" = none)
	filter  string // raw $filter of the initial request
}

const noSelect = "\x01"

func (d deltaState) encode() string {
	raw := strings.Join([]string{"gtd1", d.endpoint, strconv.Itoa(d.epoch), strconv.FormatInt(d.since, 10),
		strconv.FormatInt(d.seq, 10), strconv.Itoa(d.kind), d.id, strconv.Itoa(d.chunk), strconv.Itoa(d.page),
		strconv.FormatBool(d.minimal), d.sel, d.filter, strconv.FormatInt(d.base, 10)}, "\x00")
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeDelta(tok, endpoint string) (deltaState, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return deltaState{}, false
	}
	p := strings.Split(string(raw), "\x00")
	if len(p) != 13 || p[0] != "gtd1" || p[1] != endpoint {
		return deltaState{}, false
	}
	d := deltaState{endpoint: p[1], id: p[6], sel: p[10], filter: p[11]}
	var errs [7]error
	d.epoch, errs[0] = strconv.Atoi(p[2])
	d.since, errs[1] = strconv.ParseInt(p[3], 10, 64)
	d.seq, errs[2] = strconv.ParseInt(p[4], 10, 64)
	d.kind, errs[3] = strconv.Atoi(p[5])
	d.chunk, errs[4] = strconv.Atoi(p[7])
	d.page, errs[5] = strconv.Atoi(p[8])
	d.base, errs[6] = strconv.ParseInt(p[12], 10, 64)
	for _, e := range errs {
		if e != nil {
			return deltaState{}, false
		}
	}
	d.minimal = p[9] == "true"
	if d.since < 0 || d.chunk < 0 || d.page < 0 {
		return deltaState{}, false
	}
	return d, true
}

// deltaPageOf returns the 1-based page a delta request asks for: 1 without a
// skip token (the first page of a round, initial or tracked), 0 when the
// token is invalid.
func deltaPageOf(g *greq, rt *route) int {
	tok, ok := queryOpt(g.query, "$skiptoken")
	if !ok {
		return 1
	}
	d, ok := decodeDelta(tok, rt.id)
	if !ok || d.page < 2 {
		return 0
	}
	return d.page
}

// deltaQuery is a parsed delta request.
type deltaQuery struct {
	st          deltaState
	sel         []string // nil: default properties
	withMembers bool     // groups: $select names members
	ids         map[string]bool
	kinds       map[int]bool // directoryObjects: the isof types
	pageSize    int
}

func (s *Server) usersDelta(g *greq, rt *route) *gresp {
	return s.serveDelta(g, rt, []*propSet{userProps})
}

func (s *Server) groupsDelta(g *greq, rt *route) *gresp {
	return s.serveDelta(g, rt, []*propSet{groupProps})
}

func (s *Server) directoryObjectsDelta(g *greq, rt *route) *gresp {
	return s.serveDelta(g, rt, []*propSet{userProps, groupProps, assignmentProps})
}

// serveDelta answers one page of a delta round of endpoint rt.id.
func (s *Server) serveDelta(g *greq, rt *route, sets []*propSet) *gresp {
	ep := rt.id
	for k := range g.query {
		switch strings.ToLower(k) {
		case "$select", "$filter", "$deltatoken", "$skiptoken":
		default:
			if strings.HasPrefix(k, "$") {
				return s.gerr(g, http.StatusBadRequest, "Request_UnsupportedQuery",
					fmt.Sprintf("The query option '%s' is not supported with change tracking over the '%s' resource.", k, ep))
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ep == "directoryObjects" && s.delta.noAssignments {
		return s.gerr(g, http.StatusBadRequest, "Request_UnsupportedQuery",
			"Change tracking is not supported against 'microsoft.graph.directoryObject'.")
	}
	s.startTrackingLocked()
	tr := s.delta.track
	minimal, pageSize, resp := s.preferences(g)
	if resp != nil {
		return resp
	}

	st := deltaState{endpoint: ep, epoch: s.delta.epoch, sel: noSelect, page: 1, base: tr.seq}
	if raw, ok := queryOpt(g.query, "$select"); ok {
		st.sel = raw
	}
	st.filter, _ = queryOpt(g.query, "$filter")
	tok, isSkip := queryOpt(g.query, "$skiptoken")
	if !isSkip {
		tok, _ = queryOpt(g.query, "$deltatoken")
	}
	latest := !isSkip && strings.EqualFold(tok, "latest")
	if tok != "" && !latest {
		d, ok := decodeDelta(tok, ep)
		if !ok || isSkip && d.page < 2 || !isSkip && d.page != 0 {
			return s.gerr(g, http.StatusBadRequest, "BadRequest", "The delta or skip token is not valid for this request.")
		}
		if d.epoch < s.delta.epoch {
			return s.expired(g, ep, d)
		}
		if !isSkip {
			// A deltaLink starts a tracked round.
			d.minimal, d.page, d.seq, d.kind, d.id, d.chunk, d.base = minimal, 1, d.since+1, 0, "", 0, d.since
		}
		st = d
	}
	q := deltaQuery{st: st, pageSize: pageSize}
	if resp := s.parseDeltaQuery(g, &q, sets); resp != nil {
		return resp
	}
	h := s.newHeader(g)
	if q.st.minimal {
		h.Set("Preference-Applied", "return=minimal")
	}
	ctxSel := q.sel
	if q.withMembers {
		ctxSel = append(slices.Clone(q.sel), "members")
	}
	out := object{{"@odata.context", s.contextURL(ep, ctxSel, false)}}
	var values []object
	link := func(param string, d deltaState) string {
		return s.URL() + "/v1.0/" + ep + "/delta?" + param + "=" + d.encode()
	}
	done := deltaState{endpoint: ep, epoch: s.delta.epoch, since: tr.seq, sel: q.st.sel, filter: q.st.filter}
	if latest {
		out = append(out, kv{"@odata.deltaLink", link("$deltatoken", done)})
		out = append(out, kv{"value", []object{}})
		return &gresp{status: http.StatusOK, header: h, body: mustJSON(out)}
	}
	values, next, more := s.deltaPage(&q, q.st, pageSize)
	if g.dropPage && more {
		// The page after this one goes missing.
		_, next, more = s.deltaPage(&q, next, pageSize)
	}
	if more {
		next.page = q.st.page + 1
		if g.dropPage {
			next.page = q.st.page + 2
		}
		out = append(out, kv{"@odata.nextLink", link("$skiptoken", next)})
	} else {
		out = append(out, kv{"@odata.deltaLink", link("$deltatoken", done)})
	}
	if values == nil {
		values = []object{}
	}
	out = append(out, kv{"value", values})
	return &gresp{status: http.StatusOK, header: h, body: mustJSON(out)}
}

// preferences reads the Prefer header: return=minimal and
// odata.maxpagesize.
func (s *Server) preferences(g *greq) (minimal bool, pageSize int, resp *gresp) {
	pageSize = defaultDeltaPage
	for _, v := range g.header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "return":
				minimal = strings.EqualFold(strings.TrimSpace(val), "minimal")
			case "odata.maxpagesize":
				n, err := strconv.Atoi(strings.TrimSpace(val))
				if err != nil || n < 1 || n > maxPageSize {
					return false, 0, s.gerr(g, http.StatusBadRequest, "BadRequest",
						fmt.Sprintf("Invalid odata.maxpagesize preference '%s'.", val))
				}
				pageSize = n
			}
		}
	}
	return minimal, pageSize, nil
}

// expired answers a request with a token expired by ExpireDeltaTokens.
func (s *Server) expired(g *greq, ep string, d deltaState) *gresp {
	if s.delta.expiry == DeltaSyncStateNotFound {
		return s.gerr(g, http.StatusBadRequest, "syncStateNotFound",
			"The sync state generation is not found. The delta token is expired and data must be synchronized again.")
	}
	params := []string{}
	if d.sel != noSelect {
		params = append(params, "$select="+url.QueryEscape(d.sel))
	}
	if d.filter != "" {
		params = append(params, "$filter="+url.QueryEscape(d.filter))
	}
	params = append(params, "$deltatoken=")
	resp := s.gerr(g, http.StatusGone, "resyncRequired",
		"The delta token is no longer valid: restart with a full synchronization from the URL in the Location header.")
	resp.header.Set("Location", s.URL()+"/v1.0/"+ep+"/delta?"+strings.Join(params, "&"))
	return resp
}

// parseDeltaQuery checks $select and $filter of the round.
func (s *Server) parseDeltaQuery(g *greq, q *deltaQuery, sets []*propSet) *gresp {
	ep := q.st.endpoint
	if q.st.sel != noSelect {
		var rest []string
		for _, n := range strings.Split(q.st.sel, ",") {
			if ep == "groups" && strings.EqualFold(strings.TrimSpace(n), "members") {
				q.withMembers = true
				continue
			}
			rest = append(rest, n)
		}
		tmp := *g
		tmp.query = url.Values{"$select": {strings.Join(rest, ",")}}
		typ := sets[0].typeName
		if len(sets) > 1 {
			typ = "microsoft.graph.directoryObject"
		}
		sel, resp := s.selection(&tmp, typ, sets...)
		if resp != nil {
			return resp
		}
		q.sel = sel
	}
	terms := []string{}
	if f := strings.TrimSpace(q.st.filter); f != "" {
		terms = splitOr(f)
	}
	if ep == "directoryObjects" {
		return s.parseIsOf(g, q, terms)
	}
	if len(terms) == 0 {
		return nil
	}
	if len(terms) > maxFilterIDs {
		return s.gerr(g, http.StatusBadRequest, "Request_UnsupportedQuery",
			fmt.Sprintf("The $filter of a delta query may name at most %d ids; it names %d.", maxFilterIDs, len(terms)))
	}
	q.ids = map[string]bool{}
	for _, t := range terms {
		id, ok := idEq(t)
		if !ok {
			return s.gerr(g, http.StatusBadRequest, "Request_UnsupportedQuery",
				"The $filter of a delta query supports only id eq '{id}' terms joined by 'or'.")
		}
		q.ids[strings.ToLower(id)] = true
	}
	return nil
}

// parseIsOf reads directoryObjects/delta's $filter: isof('type') terms.
func (s *Server) parseIsOf(g *greq, q *deltaQuery, terms []string) *gresp {
	q.kinds = map[int]bool{}
	bad := func(msg string) *gresp { return s.gerr(g, http.StatusBadRequest, "Request_UnsupportedQuery", msg) }
	for _, t := range terms {
		if _, ok := idEq(t); ok {
			return bad("Filtering by id isn't supported on the appRoleAssignment resource.")
		}
		inner, ok := cutCall(t, "isof")
		if !ok {
			return bad("The $filter of directoryObjects/delta supports only isof('{type}') terms joined by 'or'.")
		}
		switch strings.ToLower(strings.Trim(inner, "'\"")) {
		case "microsoft.graph.user":
			q.kinds[kindUser] = true
		case "microsoft.graph.group":
			q.kinds[kindGroup] = true
		case "microsoft.graph.approleassignment":
			q.kinds[kindAssign] = true
		default:
			return bad(fmt.Sprintf("graphtest does not track changes of %s in directoryObjects/delta.", inner))
		}
	}
	if !q.kinds[kindAssign] || !q.kinds[kindUser] {
		return bad("directoryObjects/delta needs $filter=isof('microsoft.graph.appRoleAssignment') or isof('microsoft.graph.user').")
	}
	return nil
}

// splitOr splits a filter at its " or " (case-insensitive).
func splitOr(f string) []string {
	var out []string
	low := strings.ToLower(f)
	for {
		i := strings.Index(low, " or ")
		if i < 0 {
			return append(out, strings.TrimSpace(f))
		}
		out = append(out, strings.TrimSpace(f[:i]))
		f, low = f[i+4:], low[i+4:]
	}
}

// idEq parses "id eq 'x'".
func idEq(t string) (string, bool) {
	f := strings.Fields(t)
	if len(f) != 3 || !strings.EqualFold(f[0], "id") || !strings.EqualFold(f[1], "eq") {
		return "", false
	}
	v := f[2]
	if len(v) < 3 || v[0] != '\'' || v[len(v)-1] != '\'' {
		return "", false
	}
	return v[1 : len(v)-1], true
}

// cutCall parses "name(arg)".
func cutCall(t, name string) (string, bool) {
	t = strings.TrimSpace(t)
	if len(t) < len(name)+2 || !strings.EqualFold(t[:len(name)], name) {
		return "", false
	}
	rest := strings.TrimSpace(t[len(name):])
	if !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
		return "", false
	}
	return strings.TrimSpace(rest[1 : len(rest)-1]), true
}

// kinds returns the object kinds an endpoint tracks.
func (q *deltaQuery) wants(kind int) bool {
	switch q.st.endpoint {
	case "users":
		return kind == kindUser
	case "groups":
		return kind == kindGroup
	}
	return q.kinds[kind]
}

// deltaPage collects up to n items from position at. It returns them, the
// position after them and whether items remain. Callers hold s.mu.
func (s *Server) deltaPage(q *deltaQuery, at deltaState, n int) ([]object, deltaState, bool) {
	order := s.delta.track.sorted()
	start, _ := slices.BinarySearchFunc(order, at, func(t *tracked, at deltaState) int {
		return cmpCursor(t.seq, t.kind, t.id, at.seq, at.kind, at.id)
	})
	var out []object
	next := at
	for i := start; i < len(order); i++ {
		t := order[i]
		if !q.wants(t.kind) || q.ids != nil && !q.ids[strings.ToLower(t.id)] {
			continue
		}
		items := s.deltaItems(q, t)
		first := 0
		if t.seq == at.seq && t.kind == at.kind && t.id == at.id {
			first = at.chunk
		}
		for c := first; c < len(items); c++ {
			if len(out) == n {
				next.seq, next.kind, next.id, next.chunk = t.seq, t.kind, t.id, c
				return out, next, true
			}
			out = append(out, items[c])
		}
	}
	return out, next, false
}

// deltaItems renders what a round reports of t: nothing when it is not
// relevant, else one item, or several for a group whose members@delta are
// split.
func (s *Server) deltaItems(q *deltaQuery, t *tracked) []object {
	since := q.st.since
	dirObj := q.st.endpoint == "directoryObjects"
	odata := ""
	if dirObj {
		odata = map[int]string{kindUser: "#microsoft.graph.user", kindGroup: "#microsoft.graph.group",
			kindAssign: "#microsoft.graph.appRoleAssignment"}[t.kind]
	}
	if t.deleted != 0 {
		if t.deleted <= q.st.base {
			return nil
		}
		o := object{}
		if odata != "" {
			o = append(o, kv{"@odata.type", odata})
		}
		reason := t.reason
		if t.kind == kindAssign {
			reason = "deleted"
		}
		return []object{append(o, kv{"id", t.id}, kv{"@removed", object{{"reason", reason}}})}
	}
	ps := map[int]*propSet{kindUser: userProps, kindGroup: groupProps, kindAssign: assignmentProps}[t.kind]
	names := q.sel
	if names == nil {
		names = ps.defaults
	}
	whole := since == 0 || t.props["*"] > since || t.replay > since
	var props []string
	for _, n := range names {
		if _, ok := ps.known[strings.ToLower(n)]; ok && (whole || t.changedSince(n, since)) {
			props = append(props, n)
		}
	}
	var members []object
	if q.withMembers && t.kind == kindGroup {
		for _, m := range t.members {
			// A tracked round reports every member change since, also for
			// a group restored since (its members were removed when it
			// was deleted).
			switch {
			case since == 0 && !m.removed:
				members = append(members, object{{"@odata.type", m.odata}, {"id", m.id}})
			case m.seq > q.st.base:
				o := object{{"@odata.type", m.odata}, {"id", m.id}}
				if m.removed {
					o = append(o, kv{"@removed", object{{"reason", "deleted"}}})
				}
				members = append(members, o)
			}
		}
	}
	if !whole && len(props) == 0 && len(members) == 0 {
		return nil
	}
	if !whole && !q.st.minimal {
		props = names // a changed object comes whole unless return=minimal
	}
	if props == nil {
		props = []string{}
	}
	value := func(p string) any {
		switch t.kind {
		case kindUser:
			return s.userValue(&t.user, p)
		case kindGroup:
			return s.groupValue(&t.group, p)
		}
		return s.assignmentValue(&t.assign, p)
	}
	o := render(ps, props, odata, value)
	if !slices.Contains(props, "id") {
		o = slices.Insert(o, min(len(o), boolInt(odata != "")), kv{"id", t.id})
	}
	if len(members) == 0 {
		return []object{o}
	}
	chunk := s.delta.memberChunk
	if chunk < 1 {
		chunk = defaultMemberChunk
	}
	var items []object
	for i := 0; i < len(members); i += chunk {
		part := members[i:min(i+chunk, len(members))]
		if i == 0 {
			items = append(items, append(o, kv{"members@delta", part}))
			continue
		}
		items = append(items, object{{"id", t.id}, {"members@delta", part}})
	}
	return items
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
