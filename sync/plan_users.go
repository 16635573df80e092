package sync

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// The planner's users: scope (S1, S5, S6), create (L1), update (L2),
// archive (L3), restore (L4), adoption (L9) and what a cycle never touches
// (L8).

func (d *differ) users() {
	ids := make([]string, 0, len(d.paths)+len(d.byEntra))
	for id := range d.paths {
		ids = append(ids, id)
	}
	for id := range d.byEntra {
		if _, ok := d.paths[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	creates := 0
	for id := range d.paths {
		if d.byEntra[id] == nil {
			creates++
		}
	}
	d.plan.Changes = slices.Grow(d.plan.Changes, creates)
	for _, id := range ids {
		if d.passedOver[id] {
			d.passOver(id)
			continue
		}
		d.user(id)
	}
	for id := range d.unplanned {
		// A scoped plan: this user's inputs are as the last cycle planned
		// them, against the row it left, so it plans no change. Users a
		// plan could pass over (disabled, invalid) are planned or passed
		// over (ScopeOf), so this one is in scope exactly when Graph
		// returned it enabled.
		if eu, seen := d.snap.Users[id]; seen && eu.AccountEnabled {
			d.plan.InScope++
		}
	}
}

func (d *differ) user(id string) {
	eu, seen := d.snap.Users[id]
	paths := d.paths[id]
	local := d.byEntra[id]
	if len(paths) > 0 && !seen {
		// An assignment names a user the read did not return (graph reports it
		// in Skipped). Leave any local user as it is: absence from one look-up
		// is not proof the user is gone.
		d.keep(local)
		return
	}
	email := eu.Email(d.settings.EmailSource)
	if seen {
		if problem := invalidUser(eu, email); problem != "" {
			d.skipInvalid(eu, problem)
			d.keep(local)
			return
		}
	}
	inScope := seen && eu.AccountEnabled && len(paths) > 0 // S1
	if local == nil {
		if !inScope {
			if seen && !eu.AccountEnabled && len(paths) > 0 { // S1: shown, so an assigned user is never silently missing
				d.skipDisabled(eu, paths)
			}
			return
		}
		d.createOrAdopt(eu, email, paths)
		return
	}
	// Work on a copy on the stack; clone only when a change is kept, so an
	// unchanged user costs no allocation.
	after := *local
	if seen {
		copyEntraAttrs(&after, eu, email)
	}
	after.Paths = paths
	var action Action
	var reason string
	switch {
	case inScope && local.Status == StatusArchived: // L4
		unarchive(&after)
		action, reason = ActionRestore, "back in scope through "+strings.Join(paths, ", ")
	case !inScope && local.Status != StatusArchived: // L3
		reason = "no assignment path left (unassigned, or deleted in Entra)"
		if seen && !eu.AccountEnabled {
			reason = "account disabled in Entra"
		}
		after.PreviousStatus, after.Status = local.Status, StatusArchived
		t := d.now
		after.ArchivedAt, after.ArchiveReason = &t, reason
		action = ActionArchive
	default:
		action = ActionUpdate
	}
	if inScope {
		d.inScope[id] = true
		d.plan.InScope++
	}
	if action == ActionUpdate && !userDiffers(local, &after) {
		return
	}
	ch := Change{Action: action, Entity: EntityUser, EntraID: id, Label: userLabel(&after), Reason: reason,
		Before: cloneUser(local), After: cloneUser(&after)}
	ch.Fields = userFields(ch.Before, ch.After)
	if action == ActionUpdate {
		ch.Reason = updateReason(ch.Fields)
	}
	d.addUserChange(ch)
}

func (d *differ) skipInvalid(eu EntraUser, problem string) {
	d.plan.Skipped = append(d.plan.Skipped, Skip{Kind: SkipUser, ID: eu.ID, Name: clipName(eu.UserPrincipalName),
		Reason: problem + "; left unchanged"})
}

func (d *differ) skipDisabled(eu EntraUser, paths []string) {
	d.plan.Skipped = append(d.plan.Skipped, Skip{Kind: SkipUser, ID: eu.ID, Name: clipName(eu.UserPrincipalName),
		Reason: "account disabled in Entra: not provisioned while disabled (assigned through " + strings.Join(paths, ", ") + ")"})
}

// passOver is a scoped plan's user that is not planned but that a plan
// passes over (ScopeOf's PassedOver): invalid, or disabled, as the last
// cycle left it. It plans no change; the skip is the one user would give,
// which for a disabled user depends only on whether it has a provisioned
// row (StateOf's Provisioned).
func (d *differ) passOver(id string) {
	eu, seen := d.snap.Users[id]
	if !seen {
		return
	}
	paths := d.paths[id]
	if problem := invalidUser(eu, eu.Email(d.settings.EmailSource)); problem != "" {
		d.skipInvalid(eu, problem)
		return
	}
	if !eu.AccountEnabled && len(paths) > 0 && !d.st.Provisioned[id] {
		d.skipDisabled(eu, paths)
	}
}

// userDiffers reports whether the sync-owned fields of a and b differ,
// without allocating.
func userDiffers(a, b *User) bool {
	return a.UserPrincipalName != b.UserPrincipalName || a.Mail != b.Mail || a.Email != b.Email ||
		a.DisplayName != b.DisplayName || a.GivenName != b.GivenName || a.Surname != b.Surname ||
		a.AccountEnabled != b.AccountEnabled || a.Status != b.Status || a.Origin != b.Origin ||
		!slices.Equal(a.Paths, b.Paths)
}

// keep leaves a local user as it is, memberships included.
func (d *differ) keep(local *User) {
	if local != nil && local.Status != StatusArchived {
		d.inScope[local.EntraID] = true
	}
}

func (d *differ) createOrAdopt(eu EntraUser, email string, paths []string) {
	key := EmailKey(email)
	if m := d.detached[eu.ID]; m != nil { // a reconnected tenant: adopted back by object id (S6)
		if EmailKey(m.Email) != "" {
			delete(d.manual, EmailKey(m.Email))
		}
		after := cloneUser(m)
		after.Origin = OriginProvisioned
		copyEntraAttrs(after, eu, email)
		after.Paths = slices.Clone(paths)
		unarchive(after)
		d.addUserChange(Change{Action: ActionAdopt, Entity: EntityUser, EntraID: eu.ID, Label: userLabel(after),
			Reason: "manual user with the same object id adopted (tenant reconnected)", Before: cloneUser(m), After: after,
			Fields: userFields(m, after)})
		d.inScope[eu.ID] = true
		d.plan.InScope++
		return
	}
	if m := d.manual[key]; m != nil { // L9
		delete(d.manual, key)
		after := cloneUser(m)
		after.EntraID, after.Origin = eu.ID, OriginProvisioned
		copyEntraAttrs(after, eu, email)
		after.Paths = slices.Clone(paths)
		unarchive(after)
		d.addUserChange(Change{Action: ActionAdopt, Entity: EntityUser, EntraID: eu.ID, Label: userLabel(after),
			Reason: "manual user with the same e-mail adopted", Before: cloneUser(m), After: after, Fields: userFields(m, after)})
	} else { // L1
		after := &User{EntraID: eu.ID, Origin: OriginProvisioned, Status: StatusStaged, Paths: slices.Clone(paths)}
		copyEntraAttrs(after, eu, email)
		reason := "in scope through " + strings.Join(paths, ", ")
		if d.settings.AutoInvite {
			after.Status = StatusInvited
			reason += "; invited automatically"
		}
		// A create's fields are its After; Render derives them.
		d.addUserChange(Change{Action: ActionCreate, Entity: EntityUser, EntraID: eu.ID, Label: userLabel(after),
			Reason: reason, After: after})
	}
	d.inScope[eu.ID] = true
	d.plan.InScope++
}

func (d *differ) addUserChange(ch Change) {
	d.userChg[ch.EntraID] = len(d.plan.Changes)
	d.plan.Changes = append(d.plan.Changes, ch)
}

// unarchive restores an archived user that is adopted in scope (L4).
func unarchive(u *User) {
	if u.Status != StatusArchived {
		return
	}
	u.Status = u.PreviousStatus
	if u.Status == "" || u.Status == StatusArchived {
		u.Status = StatusStaged
	}
	u.PreviousStatus, u.ArchivedAt, u.ArchiveReason = "", nil, ""
}

// MaxAttributeLength bounds every Entra attribute entrasync stores; Entra's own
// limits are far lower (256 for displayName, 113 for a UPN).
const MaxAttributeLength = 1024

// invalidUser returns why a user read from Graph cannot be provisioned, or "".
func invalidUser(eu EntraUser, email string) string {
	if email == "" {
		return "user has neither mail nor userPrincipalName"
	}
	for _, f := range []struct{ name, v string }{{"userPrincipalName", eu.UserPrincipalName}, {"mail", eu.Mail},
		{"displayName", eu.DisplayName}, {"givenName", eu.GivenName}, {"surname", eu.Surname}} {
		switch {
		case len(f.v) > MaxAttributeLength:
			return fmt.Sprintf("%s is %d bytes long (limit %d)", f.name, len(f.v), MaxAttributeLength)
		case !utf8.ValidString(f.v):
			return f.name + " is not valid UTF-8"
		case strings.ContainsRune(f.v, 0):
			return f.name + " contains a NUL character"
		}
	}
	return ""
}

// SafeName makes a group's name from Graph safe to store and show: NUL
// characters dropped, invalid UTF-8 replaced by U+FFFD, cut to
// MaxAttributeLength bytes on a character boundary. A group with such a name
// is still mirrored — skipping it would take its members' paths away — under
// the safe name; an ordinary name comes back unchanged.
func SafeName(s string) string {
	if len(s) <= MaxAttributeLength && utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) > MaxAttributeLength {
		cut := MaxAttributeLength
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

func clipName(s string) string {
	if len(s) > 80 || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return strings.ToValidUTF8(strings.ReplaceAll(s[:min(len(s), 80)], "\x00", ""), "?")
	}
	return s
}

func copyEntraAttrs(u *User, eu EntraUser, email string) {
	u.UserPrincipalName, u.Mail, u.Email = eu.UserPrincipalName, eu.Mail, email
	u.DisplayName, u.GivenName, u.Surname = eu.DisplayName, eu.GivenName, eu.Surname
	u.AccountEnabled = eu.AccountEnabled
}

func restoreEntraAttrs(u, from *User) {
	u.UserPrincipalName, u.Mail, u.Email = from.UserPrincipalName, from.Mail, from.Email
	u.DisplayName, u.GivenName, u.Surname = from.DisplayName, from.GivenName, from.Surname
	u.AccountEnabled = from.AccountEnabled
}

func userFields(a, b *User) []FieldChange {
	var f []FieldChange
	add := func(name, old, new string) {
		if old != new {
			f = append(f, FieldChange{Name: name, Old: old, New: new})
		}
	}
	add("userPrincipalName", a.UserPrincipalName, b.UserPrincipalName)
	add("mail", a.Mail, b.Mail)
	add("email", a.Email, b.Email)
	add("displayName", a.DisplayName, b.DisplayName)
	add("givenName", a.GivenName, b.GivenName)
	add("surname", a.Surname, b.Surname)
	if a.AccountEnabled != b.AccountEnabled || a.Status == "" {
		add("accountEnabled", boolStr(a.AccountEnabled, a.Status != ""), boolStr(b.AccountEnabled, true))
	}
	add("status", string(a.Status), string(b.Status))
	if !slices.Equal(a.Paths, b.Paths) {
		add("paths", strings.Join(a.Paths, ","), strings.Join(b.Paths, ","))
	}
	add("origin", string(a.Origin), string(b.Origin))
	return f
}

func boolStr(b, known bool) string {
	if !known {
		return ""
	}
	return fmt.Sprint(b)
}

func updateReason(fields []FieldChange) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	if len(names) == 1 && names[0] == "paths" {
		return "assignment paths changed"
	}
	return "changed in Entra: " + strings.Join(names, ", ")
}

func userLabel(u *User) string {
	switch {
	case u.UserPrincipalName != "":
		return u.UserPrincipalName
	case u.Email != "":
		return u.Email
	case u.EntraID != "":
		return u.EntraID
	}
	return fmt.Sprintf("user #%d", u.ID)
}

func cloneUser(u *User) *User {
	c := *u
	c.Paths = slices.Clone(u.Paths)
	if u.ArchivedAt != nil {
		t := *u.ArchivedAt
		c.ArchivedAt = &t
	}
	if u.RequireMobileAuth != nil {
		v := *u.RequireMobileAuth
		c.RequireMobileAuth = &v
	}
	return &c
}
