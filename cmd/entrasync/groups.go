package main

// `entrasync groups list|set`.

import (
	"fmt"

	"github.com/entrasync/entrasync/sync"
)

func (e *env) groupsSet(args []string) error {
	f := e.newFlags("groups set", true)
	changes := defineSettingFlags(f, groupSettingFlags)
	if err := f.parse(args); err != nil {
		return err
	}
	refs := f.Args()
	if len(refs) != 1 {
		return usagef("groups set: give one group (local id, Entra object id or name)")
	}
	cs, err := changes()
	if err != nil {
		return err
	}
	s, err := e.openAdmin(f.tenant)
	if err != nil {
		return err
	}
	defer s.db.Close()
	g, err := s.admin.ResolveGroup(e.ctx, s.tenant, refs[0])
	if err != nil {
		return err
	}
	if g, err = s.admin.SetGroupSetting(e.ctx, s.tenant, g.ID, cs...); err != nil {
		return err
	}
	t, err := s.admin.EffectiveSettings(e.ctx, s.tenant)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, sync.NewGroupView(g, t))
	}
	_, err = fmt.Fprintf(e.stdout, "Group %d (%s) of tenant %s: members may store data %s; require mobile authentication %s\n",
		g.ID, dash(g.DisplayName), s.tenant, settingPhrase(g.MembersMayStoreData, t.MembersMayStoreData, "group"),
		settingPhrase(g.RequireMobileAuth, t.GroupRequireMobileAuth, "group"))
	return err
}

func (e *env) groupsList(args []string) error {
	f := e.newFlags("groups list", true)
	db, tenant, err := e.listing(f, args)
	if err != nil {
		return err
	}
	defer db.Close()
	groups, err := sync.ListGroups(e.ctx, db, tenant)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, groups)
	}
	return printGroups(e.stdout, groups, true)
}
