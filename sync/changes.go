package sync

import "slices"

// Changes names what differs between two pictures of a tenant, as far as
// the planner is concerned: the users whose inputs changed (their
// attributes, whether Graph returned them, their direct assignment, their
// membership of an assigned group, or a change in whether such a group
// gives its members a path) and the groups whose own picture changed (their
// properties, their assignment, whether they were found, their members).
// An object outside both sets plans the same against the same directory.
type Changes struct {
	Users  map[string]bool
	Groups map[string]bool
	// LocalMembers are the changed groups Graph did not find in one of the
	// pictures: a group not found keeps its local members and gives them
	// their path from the directory, so those members (whom no picture
	// lists) are reached too.
	LocalMembers map[string]bool
}

// ChangedBetween returns what differs from before to after. Either may be
// nil (an empty picture).
func ChangedBetween(before, after *Snapshot) *Changes {
	if before == nil {
		before = &Snapshot{}
	}
	if after == nil {
		after = &Snapshot{}
	}
	c := &Changes{Users: map[string]bool{}, Groups: map[string]bool{}, LocalMembers: map[string]bool{}}
	mark := func(ids ...string) {
		for _, id := range ids {
			c.Users[id] = true
		}
	}
	for id, u := range after.Users {
		if b, ok := before.Users[id]; !ok || b != u {
			mark(id)
		}
	}
	for id := range before.Users {
		if _, ok := after.Users[id]; !ok {
			mark(id)
		}
	}
	if !slices.Equal(before.DirectUsers, after.DirectUsers) { // the same list is the same set
		gone, came := setDiff(uniqueSorted(before.DirectUsers), uniqueSorted(after.DirectUsers))
		mark(gone...)
		mark(came...)
	}

	groupsBefore := make(map[string]*EntraGroup, len(before.Groups))
	for i := range before.Groups {
		groupsBefore[before.Groups[i].ID] = &before.Groups[i]
	}
	groupsAfter := make(map[string]*EntraGroup, len(after.Groups))
	for i := range after.Groups {
		groupsAfter[after.Groups[i].ID] = &after.Groups[i]
	}
	for id, a := range groupsAfter {
		b := groupsBefore[id]
		if b == nil {
			c.Groups[id] = true
			mark(a.Members...)
			continue
		}
		okB, _ := GroupSupport(*b)
		okA, _ := GroupSupport(*a)
		switch {
		case okB != okA || b.Found != a.Found:
			// Its members' paths through it come or go (or come from the
			// local directory, for a group not found): all of them.
			c.Groups[id] = true
			mark(b.Members...)
			mark(a.Members...)
		case groupDiffers(b, a):
			c.Groups[id] = true
		}
		if okB == okA && b.Found == a.Found && !slices.Equal(b.Members, a.Members) {
			left, joined := setDiff(uniqueSorted(b.Members), uniqueSorted(a.Members))
			if len(left)+len(joined) > 0 {
				c.Groups[id] = true
				mark(left...)
				mark(joined...)
			}
		}
	}
	for id, b := range groupsBefore {
		if groupsAfter[id] == nil {
			c.Groups[id] = true
			mark(b.Members...)
		}
	}
	for id := range c.Groups {
		if b, a := groupsBefore[id], groupsAfter[id]; (b != nil && !b.Found) || (a != nil && !a.Found) {
			c.LocalMembers[id] = true
		}
	}
	return c
}

// groupDiffers reports whether a group's own properties differ.
func groupDiffers(a, b *EntraGroup) bool {
	return a.DisplayName != b.DisplayName || a.SecurityEnabled != b.SecurityEnabled || a.MailEnabled != b.MailEnabled ||
		a.Found != b.Found || a.OtherMembers != b.OtherMembers || !slices.Equal(a.GroupTypes, b.GroupTypes) ||
		!slices.Equal(a.Nested, b.Nested)
}
