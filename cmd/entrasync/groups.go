package main

// `entrasync groups list|set`.

import (
	"fmt"

	"github.com/entrasync/entrasync/sync"
)

func (e *env) groupsSet(args []string) error {
	return e.overrideSet("groups set", "group (local id, Entra object id or name)", groupSettingFlags, args,
		func(s *adminSession, ref string, cs []sync.SettingChange, t sync.TenantSettings) (any, string, error) {
			g, err := s.admin.ResolveGroup(e.ctx, s.tenant, ref)
			if err != nil {
				return nil, "", err
			}
			if g, err = s.admin.SetGroupSetting(e.ctx, s.tenant, g.ID, cs...); err != nil {
				return nil, "", err
			}
			return sync.NewGroupView(g, t), fmt.Sprintf("Group %d (%s) of tenant %s: members may store data %s; require mobile authentication %s\n",
				g.ID, dash(g.DisplayName), s.tenant, settingPhrase(g.MembersMayStoreData, t.MembersMayStoreData, "group"),
				settingPhrase(g.RequireMobileAuth, t.GroupRequireMobileAuth, "group")), nil
		})
}

func (e *env) groupsList(args []string) error {
	f := e.newFlags("groups list", true)
	if err := f.parse(args); err != nil {
		return err
	}
	db, tenant, err := e.listing(f)
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
	return printGroups(e.stdout, groups, true, e.wide)
}
