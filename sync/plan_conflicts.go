package sync

import "strings"

// E-mail keys and conflicts (L10): e-mails are unique per tenant,
// case-insensitively (EmailKey); a change that would collide is held back.

// EmailKey is the case-insensitive key under which e-mails are unique per
// tenant (L10).
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// resolveEmailConflicts applies L10. A change that moves a user to another
// e-mail key is applied only when, after the whole plan, nobody else holds
// that key: it is free, or its holder moves away in an applied change of the
// same plan (so swaps and rotations apply at once, inside one transaction).
// A key held by a user who keeps it, or claimed by an earlier change in the
// plan, makes a Conflict — and so does every change waiting on one, until
// nothing changes. The result never violates uniqueness.
func (d *differ) resolveEmailConflicts() {
	held := map[string]*User{}
	for i := range d.st.Users {
		u := &d.st.Users[i]
		if u.Status != StatusPurged && EmailKey(u.Email) != "" {
			held[EmailKey(u.Email)] = u
		}
	}
	// The movers: user changes whose e-mail key changes.
	type mover struct {
		idx      int
		conflict *Conflict
		waitsOn  int // the mover whose old key this one wants; -1 for none
	}
	var movers []*mover
	byOldKey := map[string]int{} // old key → mover, for users moving away from it
	for i := range d.plan.Changes {
		ch := &d.plan.Changes[i]
		if ch.Entity != EntityUser {
			continue
		}
		newKey, oldKey := EmailKey(ch.After.Email), ""
		if ch.Before != nil {
			oldKey = EmailKey(ch.Before.Email)
		}
		if newKey == oldKey {
			continue
		}
		if oldKey != "" {
			byOldKey[oldKey] = len(movers)
		}
		movers = append(movers, &mover{idx: i, waitsOn: -1})
	}
	claimed := map[string]int{} // new key → first mover claiming it
	for mi, m := range movers {
		ch := &d.plan.Changes[m.idx]
		newKey := EmailKey(ch.After.Email)
		if first, ok := claimed[newKey]; ok {
			other := d.plan.Changes[movers[first].idx].After
			m.conflict = &Conflict{HolderEntraID: other.EntraID, HolderLabel: userLabel(other),
				Reason: "e-mail claimed by another Entra user in the same cycle"}
			continue
		}
		claimed[newKey] = mi
		holder := held[newKey]
		if holder == nil || (ch.Before != nil && holder.ID == ch.Before.ID) {
			continue
		}
		if hm, ok := byOldKey[newKey]; ok && hm != mi {
			m.waitsOn = hm // free once that user's change applies
			continue
		}
		m.conflict = &Conflict{HolderID: holder.ID, HolderEntraID: holder.EntraID, HolderLabel: userLabel(holder),
			Reason: "e-mail already belongs to another local user"}
	}
	for changed := true; changed; {
		changed = false
		for _, m := range movers {
			if m.conflict == nil && m.waitsOn >= 0 && movers[m.waitsOn].conflict != nil {
				holder := d.plan.Changes[movers[m.waitsOn].idx].Before
				m.conflict = &Conflict{HolderID: holder.ID, HolderEntraID: holder.EntraID, HolderLabel: userLabel(holder),
					Reason: "e-mail still belongs to another local user, whose own change is held back"}
				changed = true
			}
		}
	}
	drop := map[int]bool{}
	for _, m := range movers {
		if m.conflict == nil {
			continue
		}
		ch := &d.plan.Changes[m.idx]
		c := m.conflict
		c.Action, c.EntraID, c.Label, c.Email = ch.Action, ch.EntraID, ch.Label, ch.After.Email
		d.plan.Conflicts = append(d.plan.Conflicts, *c)
		if ch.Before == nil || ch.Action == ActionAdopt {
			drop[m.idx] = true
			if d.inScope[ch.EntraID] {
				delete(d.inScope, ch.EntraID)
				d.plan.InScope--
			}
			continue
		}
		// Keep the status and path change, not the attribute update.
		restoreEntraAttrs(ch.After, ch.Before)
		ch.Fields = userFields(ch.Before, ch.After)
		if ch.Action == ActionUpdate && len(ch.Fields) == 0 {
			drop[m.idx] = true
		}
	}
	if len(drop) == 0 {
		return
	}
	kept := d.plan.Changes[:0:0]
	for i, ch := range d.plan.Changes {
		if !drop[i] {
			kept = append(kept, ch)
		}
	}
	d.plan.Changes = kept
	clear(d.userChg) // dropped changes must not keep stale indices
	for i, ch := range d.plan.Changes {
		if ch.Entity == EntityUser {
			d.userChg[ch.EntraID] = i
		}
	}
}
