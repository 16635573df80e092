package sync

// The effective settings of users and groups (docs/behaviour.md, lifecycle): an
// override always wins over the tenant's default.

// UserSettings are a user's effective settings.
type UserSettings struct {
	RequireMobileAuth bool `json:"requireMobileAuth"`
}

// GroupSettings are a group's effective settings.
type GroupSettings struct {
	MembersMayStoreData bool `json:"membersMayStoreData"`
	RequireMobileAuth   bool `json:"requireMobileAuth"`
}

// UserView is a user as listings show it: the stored user, its overrides
// included, and its effective settings.
type UserView struct {
	User
	Effective UserSettings `json:"effective"`
}

// GroupView is a group as listings show it, with its effective settings.
type GroupView struct {
	Group
	Effective GroupSettings `json:"effective"`
}

// NewUserView returns u with its effective settings under the tenant's
// (effective) settings t: its override where it has one, else t's default.
func NewUserView(u User, t TenantSettings) UserView {
	return UserView{User: u, Effective: UserSettings{RequireMobileAuth: orDefault(u.RequireMobileAuth, t.RequireMobileAuth)}}
}

// NewGroupView returns g with its effective settings under t.
func NewGroupView(g Group, t TenantSettings) GroupView {
	return GroupView{Group: g, Effective: GroupSettings{
		MembersMayStoreData: orDefault(g.MembersMayStoreData, t.MembersMayStoreData),
		RequireMobileAuth:   orDefault(g.RequireMobileAuth, t.GroupRequireMobileAuth)}}
}

// UserViews returns NewUserView of each user, in order.
func UserViews(users []User, t TenantSettings) []UserView {
	out := make([]UserView, len(users))
	for i, u := range users {
		out[i] = NewUserView(u, t)
	}
	return out
}

// GroupViews returns NewGroupView of each group, in order.
func GroupViews(groups []Group, t TenantSettings) []GroupView {
	out := make([]GroupView, len(groups))
	for i, g := range groups {
		out[i] = NewGroupView(g, t)
	}
	return out
}

// orDefault is the override if set, else the default.
func orDefault(override *bool, def bool) bool {
	if override != nil {
		return *override
	}
	return def
}
