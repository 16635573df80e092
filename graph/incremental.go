package graph

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	gosync "sync"
	"time"

	"github.com/entrasync/entrasync/sync"
)

// An incremental read: the three delta rounds side by side (or the
// assignment listing where assignment changes are not served), merged into
// the mirror, then the groups newly assigned (or newly supported) read
// whole and the users newly in scope looked up.

// userChange is what a round said of one user: the last whole object, or
// that it was removed.
type userChange struct {
	user    *sync.EntraUser // nil: removed, or only part of the object came
	removed bool
}

// groupChange is what a round said of one group, merged over its items.
type groupChange struct {
	props   map[string]json.RawMessage // the properties that came, last wins
	members []memberChange             // in order
	removed bool
}

type memberChange struct {
	typ, id string
	removed bool
}

// Incremental reads the changes since prev and returns the picture they
// lead to, with the next state. A round that changed nothing leaves the
// mirror as it was: the next state carries no Mirror (the stored one
// stands) and nothing is encoded.
func (s *Source) Incremental(ctx context.Context, prev *sync.DeltaState) (*sync.Snapshot, *sync.DeltaState, error) {
	return s.counted(ctx, func(ctx context.Context) (*sync.Snapshot, *sync.DeltaState, error) {
		for _, name := range []string{deltaUsers, deltaGroups} {
			if prev.Links[name] == "" {
				return nil, nil, sync.DeltaReset("the delta state has no %s link", name)
			}
		}
		m, sum, err := s.takeMirror(prev.Mirror)
		if err != nil {
			return nil, nil, err
		}
		withAssignments := prev.Strategy == sync.StrategyDelta && prev.Links[deltaAssignments] != ""
		next := &sync.DeltaState{Strategy: prev.Strategy, Note: prev.Note, Scope: s.DeltaScope(),
			TakenAt: time.Now().UTC(), Links: map[string]string{}}
		changed, err := s.incremental(ctx, m, prev, next, withAssignments)
		if err != nil {
			return nil, nil, err
		}
		snap := m.snapshot()
		if m.before != nil {
			// What changed since the picture the last cycle planned
			// against: a cycle over the directory it left plans only that.
			snap.Changed = sync.ChangedBetween(m.before, snap)
			m.before = nil
		}
		if !changed {
			s.keepMirror(m, sum)
			return snap, next, nil
		}
		next.Encode = s.encodeAside(m, snap.Users, false)
		return snap, next, nil
	})
}

// encodeAside encodes m in the background, while the cycle plans and
// applies (reading the mirror and the snapshot only, as the planner does);
// the function it returns waits for the bytes and their parts. An
// incremental read's mirror is kept in the cache once encoded. A full
// read's (full) is kept by nobody, since a decoded mirror held through a full
// cycle's apply made the collector work through it, and is compressed one
// part at a time, leaving the other core to the plan beside it.
func (s *Source) encodeAside(m *mirror, inScope map[string]sync.EntraUser, full bool) func() ([]byte, []int, error) {
	done := make(chan struct{})
	var b []byte
	var parts []int
	var err error
	encoders := 0
	if full {
		encoders = 1
	}
	s.mirrors.mu.Lock()
	dropped := s.mirrors.dropped
	s.mirrors.mu.Unlock()
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		defer close(done)
		if b, parts, err = m.encodeParts(inScope, encoders); err != nil || full {
			return
		}
		s.mirrors.mu.Lock()
		defer s.mirrors.mu.Unlock()
		if s.mirrors.dropped == dropped { // a full read that began meanwhile replaces it
			s.mirrors.m, s.mirrors.sum = m, sha256.Sum256(b)
		}
	}()
	return func() ([]byte, []int, error) {
		<-done
		return b, parts, err
	}
}

// mirrorCache keeps the mirror of the Source's last incremental read,
// decoded, with the checksum of the bytes it encodes to: the next read of
// the same stored bytes skips decoding them. It is taken out while a read
// changes it, so a read that fails leaves nothing stale behind.
type mirrorCache struct {
	mu  gosync.Mutex
	m   *mirror
	sum [sha256.Size]byte
	// warming is closed when a decode Warm started ends; dropped counts
	// dropMirror's calls, so that a decode a full read overtook is not kept.
	warming chan struct{}
	dropped int
}

// takeMirror returns the mirror stored as b: the cached one when b is what
// it encodes to, else b decoded. A decode Warm started is waited for first.
func (s *Source) takeMirror(b []byte) (*mirror, [sha256.Size]byte, error) {
	sum := sha256.Sum256(b)
	s.mirrors.mu.Lock()
	if w := s.mirrors.warming; w != nil {
		s.mirrors.mu.Unlock()
		<-w
		s.mirrors.mu.Lock()
	}
	m := s.mirrors.m
	hit := m != nil && s.mirrors.sum == sum
	s.mirrors.m = nil
	s.mirrors.mu.Unlock()
	if hit {
		return m, sum, nil
	}
	m, err := decodeMirror(b)
	return m, sum, err
}

func (s *Source) keepMirror(m *mirror, sum [sha256.Size]byte) {
	s.mirrors.mu.Lock()
	s.mirrors.m, s.mirrors.sum = m, sum
	s.mirrors.mu.Unlock()
}

// dropMirror empties the cache: a full read replaces the mirror, and a
// decoded one held through its apply only costs memory.
func (s *Source) dropMirror() {
	s.mirrors.mu.Lock()
	s.mirrors.m = nil
	s.mirrors.dropped++
	s.mirrors.mu.Unlock()
}

var _ sync.MirrorWarmer = (*Source)(nil)
var _ sync.Background = (*Source)(nil)

// Wait returns once the Source's background work (a mirror being encoded
// beside a cycle, or decoded after one) is done.
func (s *Source) Wait() { s.background.Wait() }

// Warm decodes the mirror a full cycle saved (mirror) in the background,
// unless the cache holds it already, so that the next incremental read
// finds it decoded: a full read's mirror is not kept through its apply.
func (s *Source) Warm(mirror []byte) {
	sum := sha256.Sum256(mirror)
	s.mirrors.mu.Lock()
	defer s.mirrors.mu.Unlock()
	if (s.mirrors.m != nil && s.mirrors.sum == sum) || s.mirrors.warming != nil {
		return
	}
	done, dropped := make(chan struct{}), s.mirrors.dropped
	s.mirrors.warming = done
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		defer close(done)
		m, err := decodeMirror(mirror)
		s.mirrors.mu.Lock()
		defer s.mirrors.mu.Unlock()
		s.mirrors.warming = nil
		if err == nil && s.mirrors.dropped == dropped { // no full read began meanwhile
			s.mirrors.m, s.mirrors.sum = m, sum
		}
	}()
}

// incremental runs the rounds and merges them into m; changed is false
// when they brought nothing (m is as it was).
func (s *Source) incremental(ctx context.Context, m *mirror, prev, next *sync.DeltaState, withAssignments bool) (changed bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg      gosync.WaitGroup
		mu      gosync.Mutex
		first   error
		users   = map[string]*userChange{}
		groups  = map[string]*groupChange{}
		assign  map[string]massign // the whole listing, when listed
		changes []assignmentChange // the round, when served
		sp      sync.Ref
		links   [3]string // users, groups, assignments
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		// A reset outranks a failure: a full read follows either way, but a
		// reset says why.
		if first == nil || errors.Is(err, sync.ErrDeltaReset) && !errors.Is(first, sync.ErrDeltaReset) {
			first = err
		}
		cancel(err)
	}
	run := func(fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				fail(err)
			}
		}()
	}
	run(func() (err error) {
		sp, err = s.servicePrincipal(ctx)
		return err
	})
	run(func() (err error) {
		links[0], err = s.round(ctx, deltaUsers, prev.Links[deltaUsers], func(items []json.RawMessage, where string) error {
			return mergeUsers(users, items, where)
		})
		return err
	})
	run(func() (err error) {
		links[1], err = s.round(ctx, deltaGroups, prev.Links[deltaGroups], func(items []json.RawMessage, where string) error {
			return mergeGroups(groups, items, where)
		})
		return err
	})
	run(func() error {
		if withAssignments {
			link, err := s.round(ctx, deltaAssignments, prev.Links[deltaAssignments], func(items []json.RawMessage, where string) error {
				c, err := assignmentChanges(items, where)
				changes = append(changes, c...)
				return err
			})
			if err == nil || !errors.Is(err, errAssignmentDelta) {
				links[2] = link
				return err
			}
			// Graph answered something this merge cannot trust: list the
			// assignments instead, now and in later cycles.
			s.logger.Warn("assignment changes unusable; listing assignments in full", "err", err)
			mu.Lock()
			next.Strategy, next.Note = sync.StrategyDeltaListed, "assignment changes unusable ("+err.Error()+"): assignments are listed in full each cycle"
			changes = nil // the listing is the whole truth; a half-read round is not
			mu.Unlock()
		}
		var err error
		assign, err = s.listAssignments(ctx, m.SP.ID, len(m.Assign))
		return err
	})
	wg.Wait()
	if first != nil {
		return false, first
	}
	next.Links[deltaUsers], next.Links[deltaGroups] = links[0], links[1]
	if links[2] != "" {
		next.Links[deltaAssignments] = links[2]
	}
	if sp.ID != m.SP.ID {
		return false, sync.DeltaReset("the application's service principal is now %s, not %s", clipped(sp.ID), clipped(m.SP.ID))
	}
	sameAssign := assign == nil || maps.Equal(assign, m.Assign)
	if len(users) == 0 && len(groups) == 0 && len(changes) == 0 && sp == m.SP && sameAssign {
		// Nothing changed; but what the last read did not find is looked
		// up again, as a full read would, and only if some of it turned
		// up does the picture change.
		if found, err := s.resolves(ctx, m); err != nil || !found {
			return false, err
		}
	}
	m.before = m.detachedSnapshot() // what the last cycle planned against
	m.SP = sp
	if !sameAssign {
		m.Assign = assign
		m.forgetPrincipals()
	}
	if len(changes) > 0 {
		m.forgetPrincipals()
	}
	for _, c := range changes {
		switch {
		case c.removed:
			delete(m.Assign, c.id)
		case c.resource == m.SP.ID:
			m.Assign[c.id] = c.a
		}
	}
	return true, s.settle(ctx, m, users, groups)
}

// settle applies the users' and groups' changes to m, reads the groups
// that need a whole read, looks up the users newly in scope and drops what
// is out of scope.
func (s *Source) settle(ctx context.Context, m *mirror, users map[string]*userChange, groups map[string]*groupChange) error {
	m.scoped = false
	complete := m.complete
	m.complete = false
	moved := false // whether the scope may have changed since the last settle
	direct, assigned, names := m.principals(&sync.Snapshot{})
	groupName := func(id string) string {
		var name string
		if ch := groups[id]; ch != nil && ch.props["displayName"] != nil {
			_ = json.Unmarshal(ch.props["displayName"], &name)
		}
		return name
	}
	var whole []sync.Ref // groups to read whole
	for _, id := range assigned {
		g, had := m.Groups[id]
		ch := groups[id]
		if !had {
			whole = append(whole, sync.Ref{ID: id, Name: names[id]})
			continue
		}
		if ch == nil && !g.Found {
			// Not found the last time (replication lag of a group just
			// made and assigned): looked up again, as a full read would.
			whole = append(whole, sync.Ref{ID: id, Name: names[id]})
			continue
		}
		if ch == nil {
			continue
		}
		moved = true
		if ch.removed {
			*g = mgroup{Found: false, Name: names[id]}
			continue
		}
		if err := ch.apply(g, groupName); err != nil {
			return err
		}
		switch ok, _ := sync.GroupSupport(g.entra(id)); {
		case ok && !g.Read:
			// Newly supported (or back from deletion): its members were
			// never read.
			whole = append(whole, sync.Ref{ID: id, Name: g.Name})
		case !ok:
			g.Read, g.Members, g.Nested, g.Others = false, nil, nil, nil
		}
	}
	inAssigned := map[string]bool{}
	for _, id := range assigned {
		inAssigned[id] = true
	}
	for id := range m.Groups {
		if !inAssigned[id] {
			delete(m.Groups, id)
			moved = true
		}
	}
	for id, ch := range users {
		if ch.removed {
			moved = true
			delete(m.users, id)
			for _, g := range m.Groups {
				g.Members = deleteID(g.Members, id)
			}
			continue
		}
		if _, ok := m.users[id]; ok {
			if ch.user != nil {
				m.users[id] = ch.user
			} else {
				delete(m.users, id) // partly known now: look it up again
				moved = true
			}
		}
	}
	if len(whole) > 0 {
		moved = true
		read, err := s.readGroups(ctx, whole)
		if err != nil {
			return err
		}
		// Their member lists go into the mirror, which later rounds only
		// amend: a short listing must not get there (C4).
		if err := s.proveWhole(ctx, read.groups); err != nil {
			return err
		}
		for _, g := range read.groups {
			m.Groups[g.ID] = groupOf(g)
		}
		for id, u := range read.users {
			if _, ok := m.users[id]; !ok {
				u := u
				m.users[id] = &u
			}
		}
	}
	if err := s.nameNested(ctx, m); err != nil {
		// Names only label the nested groups a plan passes over: a failed
		// look-up costs the label, not the cycle (a full read has them).
		s.logger.Warn("nested groups' names not looked up", "err", err)
	}
	if complete && !moved && slices.Equal(direct, m.direct) {
		// The scope is the one the last settle left, and the mirror had
		// every user of it: no user is newly in scope or out of it.
		m.scoped, m.complete = true, true
		return nil
	}
	// Users in scope the mirror does not have: those the round carried
	// whole, the rest looked up.
	need := m.inScope(direct, len(users))
	var missing []string
	had := 0 // users needed that the mirror has
	for id := range need {
		if m.users[id] != nil {
			had++
			continue
		}
		if ch := users[id]; ch != nil && ch.user != nil {
			m.users[id] = ch.user
			had++
			continue
		}
		if ch := users[id]; ch != nil && ch.removed {
			continue // deleted: a direct assignment to it is skipped, as a full read skips it
		}
		missing = append(missing, id)
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		found, _, _, err := s.lookUp(ctx, missing)
		if err != nil {
			return err
		}
		for _, u := range found {
			if u != nil {
				if m.users[u.ID] == nil && need[u.ID] {
					had++
				}
				m.users[u.ID] = u
			}
		}
	}
	if len(m.users) > had { // some are out of scope now
		for id := range m.users {
			if !need[id] {
				delete(m.users, id)
			}
		}
	}
	m.scoped, m.complete, m.direct = true, had == len(need), direct
	return nil
}

// nameNested looks up the names of nested groups a round added
// (members@delta carries none), as a full read has them from the member
// listing: they name the nested groups a plan passes over (S3).
func (s *Source) nameNested(ctx context.Context, m *mirror) error {
	var refs []sync.Ref
	seen := map[string]bool{}
	for _, g := range m.Groups {
		for _, n := range g.Nested {
			if n.Name == "" && !seen[n.ID] {
				seen[n.ID] = true
				refs = append(refs, sync.Ref{ID: n.ID})
			}
		}
	}
	names := map[string]string{}
	for i := 0; i < len(refs); i += BatchSize {
		gs, err := s.groupProps(ctx, refs[i:min(i+BatchSize, len(refs))])
		if err != nil {
			return err
		}
		for _, g := range gs {
			names[g.ID] = g.DisplayName
		}
	}
	for _, g := range m.Groups {
		for i, n := range g.Nested {
			if n.Name == "" {
				g.Nested[i].Name = names[n.ID]
			}
		}
	}
	return nil
}

// proveWhole compares the member listings of groups just read whole with
// Graph's counts.
func (s *Source) proveWhole(ctx context.Context, gs []sync.EntraGroup) error {
	var ids []string
	for _, g := range gs {
		if ok, _ := sync.GroupSupport(g); ok {
			ids = append(ids, g.ID)
		}
	}
	var short shortfalls
	if err := s.proveMembers(ctx, ids, membersListed(gs), &short); err != nil {
		return err
	}
	return short.err()
}

// apply merges a group's changes into g; nameOf gives the display name a
// group has in this round ("" when it is not in it).
func (ch *groupChange) apply(g *mgroup, nameOf func(id string) string) error {
	var err error
	dec := func(k string, v any) {
		if raw, ok := ch.props[k]; ok && err == nil {
			if e := json.Unmarshal(raw, v); e != nil {
				err = malformed("groups/delta", fmt.Sprintf("%s: %v", k, e))
			}
		}
	}
	var name *string
	var sec, mail *bool
	dec("displayName", &name)
	dec("securityEnabled", &sec)
	dec("mailEnabled", &mail)
	if raw, ok := ch.props["groupTypes"]; ok && err == nil {
		var t []string
		if e := json.Unmarshal(raw, &t); e != nil {
			return malformed("groups/delta", "groupTypes: "+e.Error())
		}
		g.Types = t
	}
	if err != nil {
		return err
	}
	g.Found = true
	if name != nil {
		g.Name = *name
	}
	if sec != nil {
		g.Sec = *sec
	}
	if mail != nil {
		g.Mail = *mail
	}
	if !g.Read {
		return nil
	}
	members, nested, others := setOf(g.Members), map[string]sync.Ref{}, setOf(g.Others)
	known := map[string]string{} // nested groups' names: as last read, or renamed in this round
	for _, n := range g.Nested {
		nested[n.ID], known[n.ID] = n, n.Name
	}
	for _, mc := range ch.members {
		delete(members, mc.id)
		delete(nested, mc.id)
		delete(others, mc.id)
		if mc.removed {
			continue
		}
		switch mc.typ {
		case "#microsoft.graph.user":
			members[mc.id] = true
		case "#microsoft.graph.group":
			nested[mc.id] = sync.Ref{ID: mc.id, Name: known[mc.id]}
		default:
			others[mc.id] = true
		}
	}
	for id, n := range nested {
		if name := nameOf(id); name != "" {
			n.Name = name
			nested[id] = n
		}
	}
	g.Members = slices.Sorted(maps.Keys(members))
	g.Others = slices.Sorted(maps.Keys(others))
	g.Nested = g.Nested[:0]
	for _, id := range slices.Sorted(maps.Keys(nested)) {
		g.Nested = append(g.Nested, nested[id])
	}
	return nil
}

func setOf(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func deleteID(ids []string, id string) []string {
	if i, ok := slices.BinarySearch(ids, id); ok {
		return slices.Delete(ids, i, i+1)
	}
	return ids
}

// unresolved are the mirror's principals the last read did not find (an
// assigned group Graph answered 404 for, a direct user it does not know): a
// full read looks them up every time, so every cycle does.
func (m *mirror) unresolved() (groups []sync.Ref, users []string) {
	direct, assigned, names := m.principals(&sync.Snapshot{})
	for _, id := range assigned {
		if g := m.Groups[id]; g == nil || !g.Found {
			groups = append(groups, sync.Ref{ID: id, Name: names[id]})
		}
	}
	for _, id := range direct {
		if m.users[id] == nil {
			users = append(users, id)
		}
	}
	return groups, users
}

// resolves looks up the mirror's unresolved principals and reports whether
// any of them is found now.
func (s *Source) resolves(ctx context.Context, m *mirror) (bool, error) {
	groups, users := m.unresolved()
	for i := 0; i < len(groups); i += BatchSize {
		gs, err := s.groupProps(ctx, groups[i:min(i+BatchSize, len(groups))])
		if err != nil {
			return false, err
		}
		for _, g := range gs {
			if g.Found {
				return true, nil
			}
		}
	}
	if len(users) == 0 {
		return false, nil
	}
	found, _, _, err := s.lookUp(ctx, users)
	if err != nil {
		return false, err
	}
	for _, u := range found {
		if u != nil {
			return true, nil
		}
	}
	return false, nil
}

// mergeUsers merges a users/delta page: the last whole object of a user
// wins; a removal stands until the user comes back.
func mergeUsers(users map[string]*userChange, items []json.RawMessage, where string) error {
	for i, raw := range items {
		var u struct {
			wireUser
			Removed *removed `json:"@removed"`
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(raw, &u); err != nil {
			return malformed(where, fmt.Sprintf("item %d: %v", i, err))
		}
		if err := json.Unmarshal(raw, &keys); err != nil {
			return malformed(where, fmt.Sprintf("item %d: %v", i, err))
		}
		if !isGUID(u.ID) {
			return malformed(where, fmt.Sprintf("item %d has no valid id (%q)", i, clipped(u.ID)))
		}
		if err := checkRemoved(u.Removed, where); err != nil {
			return err
		}
		ch := &userChange{removed: u.Removed != nil}
		if !ch.removed {
			_, upn := keys["userPrincipalName"]
			_, enabled := keys["accountEnabled"]
			if upn && enabled {
				eu := u.entraUser()
				ch.user = &eu
			}
		}
		users[u.ID] = ch
	}
	return nil
}

// mergeGroups merges a groups/delta page: properties over earlier ones,
// members@delta appended in order (a group's members may be split over
// items and pages), a removal, or a group that comes back.
func mergeGroups(groups map[string]*groupChange, items []json.RawMessage, where string) error {
	for i, raw := range items {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(raw, &keys); err != nil {
			return malformed(where, fmt.Sprintf("item %d: %v", i, err))
		}
		var id string
		if err := json.Unmarshal(keys["id"], &id); err != nil || !isGUID(id) {
			return malformed(where, fmt.Sprintf("item %d has no valid id", i))
		}
		ch := groups[id]
		if ch == nil {
			ch = &groupChange{props: map[string]json.RawMessage{}}
			groups[id] = ch
		}
		if r, ok := keys["@removed"]; ok {
			var rm removed
			if err := json.Unmarshal(r, &rm); err != nil {
				return malformed(where, fmt.Sprintf("item %d: @removed: %v", i, err))
			}
			if err := checkRemoved(&rm, where); err != nil {
				return err
			}
			*ch = groupChange{props: map[string]json.RawMessage{}, removed: true}
			continue
		}
		for _, k := range []string{"displayName", "securityEnabled", "mailEnabled", "groupTypes"} {
			if v, ok := keys[k]; ok {
				ch.props[k] = v
				ch.removed = false
			}
		}
		if raw, ok := keys["members@delta"]; ok {
			var ms []struct {
				Type    string   `json:"@odata.type"`
				ID      string   `json:"id"`
				Removed *removed `json:"@removed"`
			}
			if err := json.Unmarshal(raw, &ms); err != nil {
				return malformed(where, fmt.Sprintf("item %d: members@delta: %v", i, err))
			}
			for _, mm := range ms {
				if !isGUID(mm.ID) {
					return malformed(where, fmt.Sprintf("item %d: a member has no valid id (%q)", i, clipped(mm.ID)))
				}
				if err := checkRemoved(mm.Removed, where); err != nil {
					return err
				}
				ch.members = append(ch.members, memberChange{typ: mm.Type, id: mm.ID, removed: mm.Removed != nil})
			}
		}
	}
	return nil
}

// assignmentChange is one appRoleAssignment of a directoryObjects/delta round.
type assignmentChange struct {
	id       string
	resource string
	a        massign
	removed  bool
}

// errAssignmentDelta marks an assignment round this merge cannot trust:
// the source lists the assignments instead.
var errAssignmentDelta = errors.New("unexpected assignment change")

// assignmentChanges reads a directoryObjects/delta page: appRoleAssignment
// items (users, which the filter must include, are ignored). Removed items
// without a type are taken as removed assignments (an id that is no
// assignment's removes nothing).
func assignmentChanges(items []json.RawMessage, where string) ([]assignmentChange, error) {
	var out []assignmentChange
	bad := func(i int, why string) error {
		return fmt.Errorf("%w: %s, item %d: %s", errAssignmentDelta, where, i, why)
	}
	for i, raw := range items {
		var a struct {
			Type string `json:"@odata.type"`
			wireAssignment
			ResourceID string   `json:"resourceId"`
			Removed    *removed `json:"@removed"`
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, bad(i, err.Error())
		}
		switch a.Type {
		case "#microsoft.graph.user", "#microsoft.graph.group":
			continue
		case "#microsoft.graph.appRoleAssignment", "":
		default:
			return nil, bad(i, fmt.Sprintf("unknown type %q", clipped(a.Type)))
		}
		if a.ID == "" {
			return nil, bad(i, "no id")
		}
		if a.Removed != nil {
			if a.Removed.Reason != "deleted" && a.Removed.Reason != "changed" {
				return nil, bad(i, fmt.Sprintf("unknown @removed reason %q", clipped(a.Removed.Reason)))
			}
			out = append(out, assignmentChange{id: a.ID, removed: true})
			continue
		}
		if a.Type == "" || a.ResourceID == "" || !isGUID(a.PrincipalID) || a.PrincipalType == "" {
			return nil, bad(i, "an assignment without its type, resourceId, principalId or principalType")
		}
		out = append(out, assignmentChange{id: a.ID, resource: a.ResourceID,
			a: massign{P: a.PrincipalID, T: a.PrincipalType, N: a.PrincipalDisplayName}})
	}
	return out, nil
}

// listAssignments lists the application's assignments in full; about is
// how many there were the last time (the map is sized for them).
func (s *Source) listAssignments(ctx context.Context, spID string, about int) (map[string]massign, error) {
	m := newMirror()
	m.Assign = make(map[string]massign, min(about+about/16, 1<<20))
	if _, _, err := s.assignments(ctx, spID, &sync.Snapshot{}, nil, nil, m.recordAssignment); err != nil {
		return nil, err
	}
	return m.Assign, nil
}

// groupsRead is what readGroups found.
type groupsRead struct {
	groups []sync.EntraGroup
	users  map[string]sync.EntraUser
}

// readGroups reads groups whole: their properties 20 to a $batch and the
// members of the supported ones.
func (s *Source) readGroups(ctx context.Context, refs []sync.Ref) (*groupsRead, error) {
	out := &groupsRead{users: map[string]sync.EntraUser{}}
	chains := make(chan struct{}, s.cfg.Concurrency)
	for i := 0; i < len(refs); i += BatchSize {
		gs, err := s.groupProps(ctx, refs[i:min(i+BatchSize, len(refs))])
		if err != nil {
			return nil, err
		}
		var supported []*sync.EntraGroup
		for j := range gs {
			if ok, _ := sync.GroupSupport(gs[j]); ok {
				supported = append(supported, &gs[j])
			}
		}
		if len(supported) > 0 {
			users, err := s.membersOf(ctx, supported, chains)
			if err != nil {
				return nil, err
			}
			maps.Copy(out.users, users)
		}
		out.groups = append(out.groups, gs...)
	}
	return out, nil
}
