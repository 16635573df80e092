package graphtest

import (
	"slices"
	"strings"
)

// Change tracking for delta queries (delta_serve.go serves them).
//
// Tracking starts with the first delta request: every object then present
// gets a change sequence number, and from then on every mutation of the
// served tenant (Update and the mutators built on it or on relink) compares
// the tenant with the tracked copy and gives every object, property and group
// membership that changed the next sequence number. Deleted objects stay
// tracked as tombstones. A delta token carries the sequence number it was
// taken at, so a tracked round returns exactly what changed since.

// DeltaExpiry says how the server answers a delta request whose token was
// expired by ExpireDeltaTokens.
type DeltaExpiry int

const (
	// DeltaGone answers 410 Gone with a Location header holding a fresh
	// initial delta request ("synchronization reset" in Graph's delta query
	// overview).
	DeltaGone DeltaExpiry = iota
	// DeltaSyncStateNotFound answers 400 with the error code
	// syncStateNotFound, as Graph does for an expired directory token.
	DeltaSyncStateNotFound
)

// kindAssign is the kind of a tracked appRoleAssignment (not a directory
// object of the index).
const kindAssign = kindApp + 1

// deltaConfig holds the delta settings of a server. Guarded by Server.mu.
type deltaConfig struct {
	noAssignments bool // directoryObjects/delta answers 400
	memberChunk   int  // members of one group item (0 = default)
	epoch         int  // tokens of an older epoch are expired
	expiry        DeltaExpiry
	track         *tracker // nil until the first delta request
}

// defaultMemberChunk is how many members@delta one group item carries
// before the group is split into several items (an assumption: Graph does
// not document the size of the slices).
const defaultMemberChunk = 100

// WithoutAssignmentDelta makes GET /v1.0/directoryObjects/delta answer 400,
// as a tenant that does not serve appRoleAssignment changes would.
func WithoutAssignmentDelta() Option {
	return func(s *Server) { s.delta.noAssignments = true }
}

// WithDeltaMemberChunk makes groups/delta carry at most n members@delta per
// group item: a group with more is split into several items, the later ones
// holding only its id and the next members (on the same page or later ones,
// as Graph warns). n < 1 means the default, 100.
func WithDeltaMemberChunk(n int) Option {
	return func(s *Server) { s.delta.memberChunk = n }
}

// SetAssignmentDelta switches GET /v1.0/directoryObjects/delta on (the
// default) or off (400) while the server runs.
func (s *Server) SetAssignmentDelta(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delta.noAssignments = !on
}

// ExpireDeltaTokens expires every delta and skip token of delta rounds issued
// so far. Later requests with them are answered as mode says; requests
// without a token (initial rounds) and tokens issued afterwards work.
func (s *Server) ExpireDeltaTokens(mode DeltaExpiry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delta.epoch++
	s.delta.expiry = mode
}

// ReplayDelta makes the objects with the given ids (users, groups or
// assignment ids) appear again in the next delta round although they did not
// change, as Graph may replay objects. Ids not tracked are ignored; before
// the first delta request it does nothing (every object is in the initial
// round anyway).
func (s *Server) ReplayDelta(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tr := s.delta.track
	if tr == nil {
		return
	}
	tr.seq++
	for _, id := range ids {
		t, ok := tr.byID[lowerID(id)]
		if !ok {
			t, ok = tr.byID[id] // an assignment id
		}
		if ok && t.deleted == 0 {
			t.replay = tr.seq
			tr.touch(t)
		}
	}
}

// tracker records the change sequence numbers of every object.
type tracker struct {
	seq     int64
	byID    map[string]*tracked // lower-cased id (assignments: the id) -> object
	objects int                 // directory objects indexed at the last comparison
	order   []*tracked          // sorted by (seq, kind, id); nil when stale
}

// tracked is the last known state of one object and when it changed.
type tracked struct {
	kind    int
	id      string
	seq     int64            // last change of any kind: the round order
	deleted int64            // when deleted (0: exists)
	reason  string           // @removed reason when deleted
	replay  int64            // last ReplayDelta
	props   map[string]int64 // property -> last change
	user    User
	group   Group // Members unused: see members
	assign  Assignment
	members []*trackedMember // groups: every member ever seen, in order
	byMem   map[string]*trackedMember
	raw     []string // groups: Group.Members at the last comparison
	seen    int64    // the last comparison that found the object
}

type trackedMember struct {
	id      string
	odata   string // @odata.type
	seq     int64
	removed bool
}

func (tr *tracker) touch(t *tracked) {
	t.seq = tr.seq
	tr.order = nil
}

// sorted returns the tracked objects ordered by (seq, kind, id).
func (tr *tracker) sorted() []*tracked {
	if tr.order != nil {
		return tr.order
	}
	o := make([]*tracked, 0, len(tr.byID))
	for _, t := range tr.byID {
		o = append(o, t)
	}
	slices.SortFunc(o, func(a, b *tracked) int { return cmpCursor(a.seq, a.kind, a.id, b.seq, b.kind, b.id) })
	tr.order = o
	return o
}

func cmpCursor(s1 int64, k1 int, id1 string, s2 int64, k2 int, id2 string) int {
	switch {
	case s1 != s2:
		if s1 < s2 {
			return -1
		}
		return 1
	case k1 != k2:
		return k1 - k2
	}
	return strings.Compare(id1, id2)
}

// startTrackingLocked starts change tracking if it has not started. Callers
// hold s.mu for writing.
// TrackChanges starts change tracking now rather than at the first delta
// request: recording the state of every object takes a while in a large
// tenant (0.4 s for 100,000 users), which a benchmark should not count as
// the client's. Mutations cost more from then on (delta.go).
func (s *Server) TrackChanges() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startTrackingLocked()
}

func (s *Server) startTrackingLocked() {
	if s.delta.track != nil {
		return
	}
	s.delta.track = &tracker{byID: map[string]*tracked{}}
	s.trackLocked(trackScope{})
}

// trackScope limits what trackLocked compares: kind 0 is everything; the
// mutators that change one group's members or only assignments name it.
type trackScope struct {
	kind int    // 0, kindGroup or kindAssign
	id   string // kindGroup: the group
}

// trackLocked records the changes of the tenant (within sc) since the last
// call. Callers hold s.mu for writing and have the index up to date.
func (s *Server) trackLocked(sc trackScope) {
	tr := s.delta.track
	if tr == nil {
		return
	}
	tr.seq++
	n := tr.seq
	get := func(kind int, id string) (*tracked, bool) {
		k := id // assignment ids are case-sensitive (base64url)
		if kind != kindAssign {
			k = lowerID(id)
		}
		t, ok := tr.byID[k]
		if !ok || t.kind != kind {
			t = &tracked{kind: kind, id: id, props: map[string]int64{}}
			tr.byID[k] = t
			ok = false
		}
		t.seen = n
		return t, !ok
	}
	changed := func(t *tracked, fresh bool, props []string) {
		if t.deleted != 0 {
			t.deleted, t.reason, fresh = 0, "", true
		}
		if fresh {
			props = []string{"*"}
		}
		if len(props) == 0 {
			return
		}
		for _, p := range props {
			t.props[p] = n
		}
		tr.touch(t)
	}
	// Members are recomputed for groups whose member list changed, and for
	// every group when objects appeared (a dangling member may now exist).
	allMembers := len(s.idx.byID) != tr.objects
	tr.objects = len(s.idx.byID)
	if sc.kind == 0 {
		for _, u := range s.tenant.Users {
			if u.ID == "" {
				continue
			}
			t, fresh := get(kindUser, u.ID)
			allMembers = allMembers || fresh || t.deleted != 0
			changed(t, fresh, userDiff(t.user, u))
			t.user = u
		}
	}
	for i := range s.tenant.Groups {
		g := &s.tenant.Groups[i]
		if g.ID == "" || sc.kind == kindAssign || sc.kind == kindGroup && !strings.EqualFold(g.ID, sc.id) {
			continue
		}
		t, fresh := get(kindGroup, g.ID)
		props := groupDiff(t.group, *g)
		if t.deleted != 0 {
			t.raw = nil // members were all removed at the deletion
		}
		if rawChanged := !slices.Equal(t.raw, g.Members); allMembers || fresh || t.deleted != 0 || rawChanged || sc.kind == kindGroup {
			if s.trackMembers(t, i, n) {
				props = append(props, "members")
			}
			if rawChanged {
				t.raw = slices.Clone(g.Members)
			}
		}
		if len(props) > 0 || fresh {
			t.group = *g
			t.group.Members = nil
			t.group.GroupTypes = slices.Clone(g.GroupTypes)
		}
		changed(t, fresh, props)
	}
	if sc.kind == 0 || sc.kind == kindAssign {
		for _, a := range s.tenant.Assignments {
			if a.ID == "" {
				continue
			}
			t, fresh := get(kindAssign, a.ID)
			var props []string
			if !strings.EqualFold(t.assign.PrincipalID, a.PrincipalID) || t.assign.AppRoleID != a.AppRoleID {
				props = []string{"principalId", "appRoleId"}
			}
			changed(t, fresh, props)
			t.assign = a
		}
	}
	if sc.kind == kindGroup {
		return // the group itself is not deleted by a member change
	}
	for _, t := range tr.byID {
		if t.seen == n || t.deleted != 0 || sc.kind != 0 && t.kind != sc.kind {
			continue
		}
		t.deleted = n
		t.reason = "deleted"
		if t.kind == kindUser || t.kind == kindGroup && slices.ContainsFunc(t.group.GroupTypes, func(s string) bool { return strings.EqualFold(s, "Unified") }) {
			// Users and Microsoft 365 groups go to the recycle bin
			// (soft delete): Graph reports "changed".
			t.reason = "changed"
		}
		for _, m := range t.members {
			if !m.removed {
				m.removed, m.seq = true, n
			}
		}
		tr.touch(t)
	}
}

// lowerID is strings.ToLower for ids, without allocating for the usual
// lower-case GUID.
func lowerID(id string) string {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(id)
		}
	}
	return id
}

// trackMembers compares the existing direct members of group gi with the
// tracked ones and records additions and removals at seq n. It reports
// whether anything changed.
func (s *Server) trackMembers(t *tracked, gi int, n int64) bool {
	if t.byMem == nil {
		t.byMem = map[string]*trackedMember{}
	}
	now := map[string]bool{}
	changed := false
	for _, r := range s.groupMembers(gi) {
		id, odata := s.refID(r)
		k := strings.ToLower(id)
		now[k] = true
		m, ok := t.byMem[k]
		if !ok {
			m = &trackedMember{id: id, odata: odata}
			t.byMem[k] = m
			t.members = append(t.members, m)
		} else if !m.removed {
			continue
		}
		m.removed, m.seq, changed = false, n, true
	}
	for k, m := range t.byMem {
		if !now[k] && !m.removed {
			m.removed, m.seq, changed = true, n, true
		}
	}
	return changed
}

// refID returns the id and @odata.type of a directory object.
func (s *Server) refID(r ref) (id, odata string) {
	switch r.kind {
	case kindUser:
		return s.tenant.Users[r.i].ID, "#microsoft.graph.user"
	case kindGroup:
		return s.tenant.Groups[r.i].ID, "#microsoft.graph.group"
	}
	return s.sp(r).ID, "#microsoft.graph.servicePrincipal"
}

// userDiff names the properties (derived ones included) that differ.
func userDiff(a, b User) []string {
	var out []string
	if a.UserPrincipalName != b.UserPrincipalName {
		out = append(out, "userPrincipalName", "mailNickname", "userType")
	}
	if a.Mail != b.Mail {
		out = append(out, "mail", "proxyAddresses")
	}
	if a.DisplayName != b.DisplayName {
		out = append(out, "displayName")
	}
	if a.GivenName != b.GivenName {
		out = append(out, "givenName")
	}
	if a.Surname != b.Surname {
		out = append(out, "surname")
	}
	if a.AccountEnabled != b.AccountEnabled {
		out = append(out, "accountEnabled")
	}
	return out
}

// groupDiff names the properties (derived ones included) that differ,
// members aside.
func groupDiff(a, b Group) []string {
	var out []string
	if a.DisplayName != b.DisplayName {
		out = append(out, "displayName", "mailNickname")
	}
	if a.SecurityEnabled != b.SecurityEnabled {
		out = append(out, "securityEnabled")
	}
	if a.MailEnabled != b.MailEnabled {
		out = append(out, "mailEnabled")
	}
	if !slices.Equal(a.GroupTypes, b.GroupTypes) {
		out = append(out, "groupTypes", "visibility")
	}
	return out
}

// changedSince tells whether property p of t changed after seq since.
func (t *tracked) changedSince(p string, since int64) bool {
	return t.props["*"] > since || t.props[p] > since
}
