package sync

import (
	"fmt"
	"slices"
	"sort"
)

// The planner's groups and memberships: supported groups (S2) mirrored,
// renamed, archived and restored (L6), their members exactly the direct
// users in scope (S3, L7).

func (d *differ) groups() {
	local := map[string]*Group{} // mirrored groups, and manual ones that keep an Entra id (a disconnected tenant)
	for i := range d.st.Groups {
		g := &d.st.Groups[i]
		if g.EntraID != "" {
			local[g.EntraID] = g
		}
	}
	skipReason := map[string]string{}
	supported := map[string]bool{}
	type groupMoves struct {
		g                      EntraGroup
		members, adds, removes []string
	}
	var moves []groupMoves
	nMoves := 0
	for _, g := range sortedGroups(d.snap.Groups) {
		if d.lostGroups[g.ID] {
			supported[g.ID] = true // not archived, its members unchanged
			continue
		}
		ok, reason := GroupSupport(g)
		if !ok {
			skipReason[g.ID] = reason
			continue
		}
		supported[g.ID] = true
		lg := local[g.ID]
		var current []string
		switch {
		case lg == nil: // L6
			after := &Group{EntraID: g.ID, Origin: OriginProvisioned, DisplayName: g.DisplayName}
			d.plan.Changes = append(d.plan.Changes, Change{Action: ActionCreate, Entity: EntityGroup, EntraID: g.ID,
				Label: g.DisplayName, Reason: "assigned security group", GroupAfter: after,
				Fields: []FieldChange{{Name: "displayName", New: g.DisplayName}}})
		case lg.Origin == OriginManual: // reconnected: adopted back by object id
			after := cloneGroup(lg)
			after.Origin, after.DisplayName, after.ArchivedAt, after.ArchiveReason = OriginProvisioned, g.DisplayName, nil, ""
			d.plan.Changes = append(d.plan.Changes, Change{Action: ActionAdopt, Entity: EntityGroup, EntraID: g.ID,
				Label: g.DisplayName, Reason: "manual group with the same object id adopted (tenant reconnected)",
				GroupBefore: cloneGroup(lg), GroupAfter: after, Fields: groupFields(lg, after)})
			if !lg.Archived() {
				current = lg.Members
			}
		case lg.Archived():
			after := cloneGroup(lg)
			after.DisplayName, after.ArchivedAt, after.ArchiveReason, after.Members = g.DisplayName, nil, "", nil
			d.plan.Changes = append(d.plan.Changes, Change{Action: ActionRestore, Entity: EntityGroup, EntraID: g.ID,
				Label: g.DisplayName, Reason: "assigned to the application again", GroupBefore: cloneGroup(lg), GroupAfter: after,
				Fields: groupFields(lg, after)})
		default:
			current = lg.Members
			if lg.DisplayName != g.DisplayName {
				after := cloneGroup(lg)
				after.DisplayName = g.DisplayName
				d.plan.Changes = append(d.plan.Changes, Change{Action: ActionUpdate, Entity: EntityGroup, EntraID: g.ID,
					Label: g.DisplayName, Reason: "renamed in Entra", GroupBefore: cloneGroup(lg), GroupAfter: after,
					Fields: groupFields(lg, after)})
			}
		}
		// L7: local members are exactly the direct user members in scope.
		var desired []string
		members := uniqueSorted(g.Members)
		for _, m := range members {
			if d.inScope[m] {
				desired = append(desired, m)
			}
		}
		if d.planned != nil {
			// A scoped plan: only the planned users' memberships move (the
			// others are as the last cycle left them).
			current = slices.DeleteFunc(slices.Clone(current), func(m string) bool { return !d.planned[m] })
		}
		adds, removes := setDiff(desired, uniqueSorted(current))
		if len(adds)+len(removes) > 0 {
			moves = append(moves, groupMoves{g: g, members: members, adds: adds, removes: removes})
			nMoves += len(adds) + len(removes)
		}
	}
	ids := make([]string, 0, len(local))
	for id := range local {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		lg := local[id]
		if supported[id] || lg.Archived() || lg.Origin != OriginProvisioned {
			continue
		}
		reason := skipReason[id]
		if reason == "" {
			reason = "no longer assigned to the application"
		}
		after := cloneGroup(lg)
		t := d.now
		after.ArchivedAt, after.ArchiveReason, after.Members = &t, reason, nil
		d.plan.Changes = append(d.plan.Changes, Change{Action: ActionArchive, Entity: EntityGroup, EntraID: id,
			Label: lg.DisplayName, Reason: reason, GroupBefore: cloneGroup(lg), GroupAfter: after,
			Fields: []FieldChange{{Name: "members", Old: fmt.Sprint(len(lg.Members)), New: "0"}}})
	}
	// Membership changes last, allocated once: a first cycle of a large
	// tenant has hundreds of thousands.
	d.plan.Changes = slices.Grow(d.plan.Changes, nMoves)
	for _, mv := range moves {
		for _, m := range mv.adds {
			d.plan.Changes = append(d.plan.Changes, Change{Action: ActionAdd, Entity: EntityMembership, EntraID: m,
				GroupEntraID: mv.g.ID, Label: d.userName(m) + " → " + mv.g.DisplayName, Reason: "direct member in Entra"})
		}
		for _, m := range mv.removes {
			reason := "no longer a direct member in Entra"
			if _, found := slices.BinarySearch(mv.members, m); found {
				reason = "user is out of scope"
			}
			d.plan.Changes = append(d.plan.Changes, Change{Action: ActionRemove, Entity: EntityMembership, EntraID: m,
				GroupEntraID: mv.g.ID, Label: d.userName(m) + " ✕ " + mv.g.DisplayName, Reason: reason})
		}
	}
}

func (d *differ) userName(id string) string {
	if i, ok := d.userChg[id]; ok && i < len(d.plan.Changes) && d.plan.Changes[i].EntraID == id {
		return d.plan.Changes[i].Label
	}
	if u := d.byEntra[id]; u != nil {
		return userLabel(u)
	}
	if eu, ok := d.snap.Users[id]; ok && eu.UserPrincipalName != "" {
		return eu.UserPrincipalName
	}
	return id
}

func groupFields(a, b *Group) []FieldChange {
	var f []FieldChange
	if a.DisplayName != b.DisplayName {
		f = append(f, FieldChange{Name: "displayName", Old: a.DisplayName, New: b.DisplayName})
	}
	if a.Origin != b.Origin {
		f = append(f, FieldChange{Name: "origin", Old: string(a.Origin), New: string(b.Origin)})
	}
	if a.Archived() != b.Archived() {
		f = append(f, FieldChange{Name: "archived", Old: fmt.Sprint(a.Archived()), New: fmt.Sprint(b.Archived())})
	}
	return f
}

func cloneGroup(g *Group) *Group {
	c := *g
	c.Members = slices.Clone(g.Members)
	if g.ArchivedAt != nil {
		t := *g.ArchivedAt
		c.ArchivedAt = &t
	}
	if g.MembersMayStoreData != nil {
		v := *g.MembersMayStoreData
		c.MembersMayStoreData = &v
	}
	if g.RequireMobileAuth != nil {
		v := *g.RequireMobileAuth
		c.RequireMobileAuth = &v
	}
	return &c
}

func sortedGroups(gs []EntraGroup) []EntraGroup {
	s := slices.Clone(gs)
	for i := range s {
		s[i].DisplayName = SafeName(s[i].DisplayName)
		for j, n := range s[i].Nested {
			if safe := SafeName(n.Name); safe != n.Name {
				s[i].Nested = slices.Clone(s[i].Nested)
				s[i].Nested[j].Name = safe
			}
		}
	}
	sort.SliceStable(s, func(i, j int) bool { return s[i].ID < s[j].ID })
	return s
}
