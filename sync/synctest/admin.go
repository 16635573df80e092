package synctest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/entrasync/entrasync/sync"
)

// The administration (sync.Admin). Which setting takes which value, how a
// reference resolves, who can be invited and what a disconnect changes are
// sync's rules; this file only keeps the rows.

// adminWrite runs f on the tenant's committed rows holding its lock (so it
// never interleaves with a cycle's transaction) and m.mu. ErrTenantNotFound
// for an unknown tenant.
func (m *Memory) adminWrite(ctx context.Context, tenantID string, f func(tn *tenant) error) error {
	tn, err := m.lockTenant(ctx, tenantID)
	if err != nil {
		return err
	}
	defer tn.unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := f(tn); err != nil {
		return err
	}
	tn.version++ // a write to the tenant's directory
	return nil
}

// adminRead runs f on the tenant's committed rows holding m.mu.
// ErrTenantNotFound for an unknown tenant.
func (m *Memory) adminRead(tenantID string, f func(tn *tenant) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	tn := m.tenants[tenantID]
	if tn == nil {
		return fmt.Errorf("synctest: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	return f(tn)
}

// ResolveUser finds a user by local id, e-mail or UPN, or Entra object id
// (see sync.Admin and sync.PickUser).
func (m *Memory) ResolveUser(_ context.Context, tenantID, ref string) (sync.User, error) {
	ref = strings.TrimSpace(ref)
	kind, id, err := sync.ParseRef("user", ref)
	if err != nil {
		return sync.User{}, err
	}
	var found []sync.User
	err = m.adminRead(tenantID, func(tn *tenant) error {
		key := sync.EmailKey(ref)
		for _, u := range tn.dir.users {
			switch {
			case kind == sync.RefLocalID && u.ID == id,
				kind == sync.RefEmail && (u.Status != sync.StatusPurged && sync.EmailKey(u.Email) == key || equalFoldKey(u.UserPrincipalName, key)),
				kind == sync.RefEntraID && strings.EqualFold(u.EntraID, ref):
				found = append(found, cloneUser(u))
			}
		}
		return nil
	})
	if err != nil {
		return sync.User{}, err
	}
	return sync.PickUser(tenantID, ref, found)
}

// ResolveGroup finds a group by local id, Entra object id or display name
// (see sync.Admin and sync.PickGroup).
func (m *Memory) ResolveGroup(_ context.Context, tenantID, ref string) (sync.Group, error) {
	var groups []sync.Group
	if err := m.adminRead(tenantID, func(tn *tenant) error { groups = tn.dir.groupsWithMembers(); return nil }); err != nil {
		return sync.Group{}, err
	}
	return sync.PickGroup(tenantID, ref, groups)
}

// InviteUsers moves staged users to invited and queues their user.invited
// events, all or nothing (see sync.Admin and sync.Invitable).
func (m *Memory) InviteUsers(ctx context.Context, tenantID string, userIDs []int64, allStaged bool) ([]sync.User, error) {
	if len(userIDs) == 0 && !allStaged {
		return nil, sync.Errorf(sync.EINVALID, "synctest: invite: name the users, or ask for all staged users")
	}
	var users []sync.User
	err := m.adminWrite(ctx, tenantID, func(tn *tenant) error {
		if len(userIDs) > 0 {
			var loaded []sync.User
			for _, u := range tn.dir.users {
				if containsID(userIDs, u.ID) {
					loaded = append(loaded, cloneUser(u))
				}
			}
			var err error
			if users, err = sync.Invitable(tenantID, userIDs, loaded); err != nil {
				return err
			}
		}
		if allStaged {
			var staged []sync.User
			for _, u := range tn.dir.users {
				if u.Status == sync.StatusStaged {
					staged = append(staged, cloneUser(u))
				}
			}
			users = sync.UnionByID(users, staged)
		}
		for i := range users {
			tn.dir.user(users[i].ID).Status = sync.StatusInvited
			users[i].Status = sync.StatusInvited
			m.addEvent(sync.Event{TenantID: tenantID, Type: "user.invited", EntraID: users[i].EntraID,
				Data: map[string]string{"email": users[i].Email}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if users == nil {
		users = []sync.User{}
	}
	return users, nil
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// SetUserSetting sets or clears a live user's overrides (see sync.Admin and
// sync.CheckOverrides).
func (m *Memory) SetUserSetting(ctx context.Context, tenantID string, userID int64, changes ...sync.SettingChange) (sync.User, error) {
	overrides, err := sync.CheckOverrides("user", sync.UserSettingNames, changes)
	if err != nil {
		return sync.User{}, err
	}
	var out sync.User
	err = m.adminWrite(ctx, tenantID, func(tn *tenant) error {
		u := tn.dir.user(userID)
		if u == nil || u.Status == sync.StatusPurged {
			return sync.Errorf(sync.ENOTFOUND, "synctest: no live user %d in tenant %s", userID, tenantID)
		}
		for _, o := range overrides {
			u.RequireMobileAuth = cloneBool(o.Value) // the one setting a user takes
		}
		out = cloneUser(*u)
		return nil
	})
	return out, err
}

// SetGroupSetting sets or clears a group's overrides (see sync.Admin and
// sync.CheckOverrides).
func (m *Memory) SetGroupSetting(ctx context.Context, tenantID string, groupID int64, changes ...sync.SettingChange) (sync.Group, error) {
	overrides, err := sync.CheckOverrides("group", sync.GroupSettingNames, changes)
	if err != nil {
		return sync.Group{}, err
	}
	var out sync.Group
	err = m.adminWrite(ctx, tenantID, func(tn *tenant) error {
		g := tn.dir.group(groupID)
		if g == nil {
			return sync.Errorf(sync.ENOTFOUND, "synctest: no group %d in tenant %s", groupID, tenantID)
		}
		for _, o := range overrides {
			if o.Name == sync.SettingMembersMayStoreData {
				g.MembersMayStoreData = cloneBool(o.Value)
			} else {
				g.RequireMobileAuth = cloneBool(o.Value)
			}
		}
		for _, c := range tn.dir.groupsWithMembers() {
			if c.ID == groupID {
				out = c
			}
		}
		return nil
	})
	return out, err
}

// SetTenantSetting sets or clears tenant-level overrides (see sync.Admin
// and sync.ApplyTenantSettingChanges).
func (m *Memory) SetTenantSetting(ctx context.Context, tenantID string, changes ...sync.SettingChange) (sync.TenantSettingsReport, error) {
	var rep sync.TenantSettingsReport
	err := m.adminWrite(ctx, tenantID, func(tn *tenant) error {
		overrides, err := sync.ApplyTenantSettingChanges(tn.overrides, changes)
		if err != nil {
			return err
		}
		tn.overrides = overrides
		rep, err = sync.NewTenantSettingsReport(tenantID, tn.settings, tn.overrides, cloneTime(tn.disconnectedAt))
		return err
	})
	return rep, err
}

// TenantSettings returns the tenant's configured, overridden and effective
// settings (see sync.Admin).
func (m *Memory) TenantSettings(_ context.Context, tenantID string) (sync.TenantSettingsReport, error) {
	var rep sync.TenantSettingsReport
	err := m.adminRead(tenantID, func(tn *tenant) error {
		var err error
		rep, err = sync.NewTenantSettingsReport(tenantID, tn.settings, tn.overrides, cloneTime(tn.disconnectedAt))
		return err
	})
	return rep, err
}

// EffectiveSettings returns the tenant's settings with its overrides
// applied; ErrTenantNotFound for an unknown tenant.
func (m *Memory) EffectiveSettings(_ context.Context, tenantID string) (sync.TenantSettings, error) {
	var s sync.TenantSettings
	err := m.adminRead(tenantID, func(tn *tenant) error {
		var err error
		s, err = sync.MergeSettings(tn.settings, tn.overrides)
		return err
	})
	return s, err
}

// Disconnect makes the tenant's provisioned users and groups manual and
// marks it disconnected, at once (see sync.Admin and
// sync.NewDisconnectReport). A dry run changes nothing.
func (m *Memory) Disconnect(ctx context.Context, tenantID string, dryRun bool) (sync.DisconnectReport, error) {
	var rep sync.DisconnectReport
	disconnect := func(tn *tenant) error {
		rep = sync.NewDisconnectReport(tenantID, dryRun, tn.dir.users, tn.dir.groupsWithMembers(), cloneTime(tn.disconnectedAt))
		if dryRun {
			return nil
		}
		for i := range tn.dir.users {
			if u := &tn.dir.users[i]; u.Origin == sync.OriginProvisioned && u.Status != sync.StatusPurged {
				u.Origin = sync.OriginManual
			}
		}
		for i := range tn.dir.groups {
			tn.dir.groups[i].Origin = sync.OriginManual
		}
		if tn.disconnectedAt == nil {
			now := m.now().UTC()
			tn.disconnectedAt = &now
		}
		rep.DisconnectedAt = cloneTime(tn.disconnectedAt)
		if rep.Changes() {
			var data map[string]string
			_ = json.Unmarshal(sync.DisconnectEventData(rep), &data) // a map of strings: cannot fail
			m.addEvent(sync.Event{TenantID: tenantID, Type: "tenant.disconnected", Data: data})
		}
		return nil
	}
	if dryRun {
		return rep, m.adminRead(tenantID, disconnect)
	}
	return rep, m.adminWrite(ctx, tenantID, disconnect)
}

// Reconnect clears the tenant's disconnected mark, queuing a
// tenant.reconnected event, and reports whether it was disconnected.
func (m *Memory) Reconnect(ctx context.Context, tenantID string) (bool, error) {
	was := false
	err := m.adminWrite(ctx, tenantID, func(tn *tenant) error {
		if tn.disconnectedAt == nil {
			return nil
		}
		tn.disconnectedAt, was = nil, true
		m.addEvent(sync.Event{TenantID: tenantID, Type: "tenant.reconnected"})
		return nil
	})
	return was, err
}

// PurgeUser erases a live user's personal data (L5), keeping a tombstone
// with its ids and times; its memberships and paths go and a user.purged
// event is queued. ENOTFOUND if there is no such live user.
func (m *Memory) PurgeUser(ctx context.Context, tenantID string, id int64) error {
	return m.adminWrite(ctx, tenantID, func(tn *tenant) error {
		u := tn.dir.user(id)
		if u == nil || u.Status == sync.StatusPurged {
			return sync.Errorf(sync.ENOTFOUND, "synctest: no live user %d in tenant %s", id, tenantID)
		}
		u.Status = sync.StatusPurged
		u.UserPrincipalName, u.Mail, u.Email, u.DisplayName, u.GivenName, u.Surname, u.ArchiveReason = "", "", "", "", "", "", ""
		u.Paths = nil
		tn.dir.removeUserMemberships(id)
		m.addEvent(sync.Event{TenantID: tenantID, Type: "user.purged", Data: map[string]string{"userId": strconv.FormatInt(id, 10)}})
		return nil
	})
}

// AddUser stores u in tenantID as it is — a manual user an administrator
// made, say, or a provisioned one an earlier cycle left — with a fresh
// local id, and returns it: the rows a test starts from. ECONFLICT when its
// e-mail or object id is taken; ErrTenantNotFound for an unknown tenant.
func (m *Memory) AddUser(ctx context.Context, tenantID string, u sync.User) (sync.User, error) {
	err := m.adminWrite(ctx, tenantID, func(tn *tenant) error {
		m.lastID.user++
		u = cloneUser(u)
		u.ID, u.Paths = m.lastID.user, slices.Sorted(slices.Values(u.Paths))
		tn.dir.users = append(tn.dir.users, u)
		if err := tn.dir.checkUnique(); err != nil {
			tn.dir.users = tn.dir.users[:len(tn.dir.users)-1]
			return err
		}
		return nil
	})
	return u, err
}

// AddGroup stores g in tenantID as it is with a fresh local id, its Members
// naming users of the tenant by object id, and returns it. ENOTFOUND for a
// member with no live user, ECONFLICT when its object id is taken,
// ErrTenantNotFound for an unknown tenant.
func (m *Memory) AddGroup(ctx context.Context, tenantID string, g sync.Group) (sync.Group, error) {
	err := m.adminWrite(ctx, tenantID, func(tn *tenant) error {
		stored := group{Group: cloneGroup(g), members: map[int64]bool{}}
		for _, id := range g.Members {
			u := tn.dir.liveUser(id)
			if u == nil {
				return sync.Errorf(sync.ENOTFOUND, "synctest: group %s: no user %s", g.DisplayName, id)
			}
			stored.members[u.ID] = true
		}
		m.lastID.group++
		stored.ID, stored.Members = m.lastID.group, nil
		tn.dir.groups = append(tn.dir.groups, stored)
		if err := tn.dir.checkUnique(); err != nil {
			tn.dir.groups = tn.dir.groups[:len(tn.dir.groups)-1]
			return err
		}
		g.ID = stored.ID
		return nil
	})
	return g, err
}
