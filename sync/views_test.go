package sync_test

import (
	"testing"

	"github.com/entrasync/entrasync/sync"
)

// TestOverrideWinsOverTenantDefault: a user's or group's override is its
// effective setting whatever the tenant's default; without one the default
// applies (docs/behaviour.md, section 3: settings).
func TestOverrideWinsOverTenantDefault(t *testing.T) {
	on, off := true, false
	for _, def := range []bool{false, true} {
		ts := sync.TenantSettings{RequireMobileAuth: def, MembersMayStoreData: def, GroupRequireMobileAuth: def}
		for _, c := range []struct {
			override *bool
			want     bool
		}{{nil, def}, {&on, true}, {&off, false}} {
			u := sync.NewUserView(sync.User{RequireMobileAuth: c.override}, ts)
			g := sync.NewGroupView(sync.Group{MembersMayStoreData: c.override, RequireMobileAuth: c.override}, ts)
			if u.Effective.RequireMobileAuth != c.want || g.Effective.MembersMayStoreData != c.want || g.Effective.RequireMobileAuth != c.want {
				t.Errorf("default %t, override %v: user %+v, group %+v, want %t", def, c.override, u.Effective, g.Effective, c.want)
			}
		}
	}
}
