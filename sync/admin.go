package sync

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Admin is what administrators do to a directory besides what cycles do
// (docs/behaviour.md, administration): send invitations, set per-user, per-group and
// tenant-level setting overrides, disconnect and reconnect a tenant, and
// find users and groups by what an administrator types, purge a user.
// Both store backends implement it, and so does synctest's memory
// directory; the rules that need no database (which setting takes which
// value, how a reference is resolved, who can be invited, what a disconnect
// changes) are the functions below, shared by all of them.
//
// Every write takes the tenant's lock (the row lock of Directory.Begin
// on PostgreSQL, the write lock on SQLite), so it never interleaves with a
// cycle's apply, and is one transaction. Unknown tenants are
// ErrTenantNotFound.
type Admin interface {
	// ResolveUser finds a user by a local numeric id, an e-mail or UPN
	// (case-insensitively) or an Entra object id. A purged tombstone is
	// returned only when no live user matches. ENOTFOUND when nothing
	// matches, EINVALID when several live users do; both name ref.
	ResolveUser(ctx context.Context, tenantID, ref string) (User, error)
	// ResolveGroup finds a group by a local numeric id, an Entra object id or
	// a display name (case-insensitively); a live group is preferred to
	// archived ones. ENOTFOUND or EINVALID (ambiguous) naming ref.
	ResolveGroup(ctx context.Context, tenantID, ref string) (Group, error)
	// InviteUsers moves staged users to invited and queues one user.invited
	// event each, in one transaction: the users userIDs names, and with
	// allStaged every staged user of the tenant. It returns the invited
	// users in id order. A named user that does not exist is ENOTFOUND, one
	// that is not staged EINVALID; either way nothing is invited.
	InviteUsers(ctx context.Context, tenantID string, userIDs []int64, allStaged bool) ([]User, error)
	// SetUserSetting sets or clears a live user's per-user overrides
	// (SettingRequireMobileAuth) and returns the user. EINVALID for an
	// unknown setting or value, ENOTFOUND for no such live user.
	SetUserSetting(ctx context.Context, tenantID string, userID int64, changes ...SettingChange) (User, error)
	// SetGroupSetting sets or clears a group's per-group overrides
	// (SettingMembersMayStoreData, SettingRequireMobileAuth) and returns the
	// group. EINVALID for an unknown setting or value, ENOTFOUND for no such
	// group.
	SetGroupSetting(ctx context.Context, tenantID string, groupID int64, changes ...SettingChange) (Group, error)
	// SetTenantSetting sets or clears tenant-level overrides, which win over
	// the settings the configuration registers, and returns the tenant's
	// settings afterwards. It writes only the overrides: RegisterTenant never
	// touches them. EINVALID for an unknown setting or a bad value.
	SetTenantSetting(ctx context.Context, tenantID string, changes ...SettingChange) (TenantSettingsReport, error)
	// TenantSettings returns the tenant's configured settings, its overrides,
	// the effective settings and whether it is disconnected.
	TenantSettings(ctx context.Context, tenantID string) (TenantSettingsReport, error)
	// EffectiveSettings returns the tenant's settings with its overrides
	// applied.
	EffectiveSettings(ctx context.Context, tenantID string) (TenantSettings, error)
	// Disconnect detaches the tenant from Entra in one transaction: every
	// provisioned user (purged tombstones aside) and group becomes manual,
	// keeping its Entra id, status, paths and memberships, and the tenant is
	// marked disconnected; a tenant.disconnected event is queued. Nobody is
	// archived. With dryRun it only reports what it would change.
	// Disconnecting a disconnected tenant keeps the first time (and queues
	// no event when nothing was left to detach).
	Disconnect(ctx context.Context, tenantID string, dryRun bool) (DisconnectReport, error)
	// Reconnect clears the tenant's disconnected mark (queuing a
	// tenant.reconnected event) and reports whether it was disconnected.
	Reconnect(ctx context.Context, tenantID string) (bool, error)
	// PurgeUser erases a user's personal data (L5), keeping a tombstone with
	// its ids and times; its memberships and paths go and a user.purged
	// event is queued. ENOTFOUND if there is no such live user. A purged
	// user that comes back into scope is created anew.
	PurgeUser(ctx context.Context, tenantID string, id int64) error
}

// Reviewer records administrators' decisions on held runs (C6).
type Reviewer interface {
	// ReviewRun records decision (ReviewApproved or ReviewRejected) on the
	// held run runID and on every other unreviewed held run of its tenant
	// (later cycles held the same changes again). EINVALID when the run held
	// nothing or was already reviewed; ErrRunNotFound when there is no such
	// run.
	ReviewRun(ctx context.Context, runID int64, decision string) (*Run, error)
}

// TokenStore keeps the SHA-256 hashes of the admin API tokens.
type TokenStore interface {
	// RotateAPIToken stores hash as the one live token and revokes every
	// other one in one transaction: the old token stops working at once.
	RotateAPIToken(ctx context.Context, hash string) error
	// APITokenValid reports whether hash is the hash of a live token.
	APITokenValid(ctx context.Context, hash string) (bool, error)
}

// Store is everything a process needs of its local directory: the cycles'
// Directory, the worker's Leaser, the archive guard's Reviewer, the
// administration, the API's tokens, a health check and closing. Both store
// backends (store/postgres, store/sqlite) and synctest's memory directory
// implement it.
type Store interface {
	Directory
	Leaser
	Reviewer
	Admin
	TokenStore
	Access
	LogPager
	UserPager
	DeltaStore
	// Ping checks the directory answers.
	Ping(ctx context.Context) error
	// Close releases it.
	Close() error
}

// Names of the settings an administrator can override: the JSON keys of
// TenantSettings. Users take SettingRequireMobileAuth; groups
// SettingMembersMayStoreData and SettingRequireMobileAuth; tenants all of them.
const (
	SettingAutoInvite              = "autoInvite"
	SettingEmailSource             = "emailSource"
	SettingMembersMayStoreData     = "membersMayStoreData"
	SettingRequireMobileAuth       = "requireMobileAuth"
	SettingGroupRequireMobileAuth  = "groupRequireMobileAuth"
	SettingArchiveThreshold        = "archiveThreshold"
	SettingArchiveThresholdPercent = "archiveThresholdPercent"

	SettingGroupArchiveThreshold             = "groupArchiveThreshold"
	SettingGroupArchiveThresholdPercent      = "groupArchiveThresholdPercent"
	SettingMembershipRemovalThreshold        = "membershipRemovalThreshold"
	SettingMembershipRemovalThresholdPercent = "membershipRemovalThresholdPercent"
)

// TenantSettingNames lists the tenant-level settings in display order.
var TenantSettingNames = []string{SettingAutoInvite, SettingEmailSource, SettingMembersMayStoreData,
	SettingRequireMobileAuth, SettingGroupRequireMobileAuth, SettingArchiveThreshold, SettingArchiveThresholdPercent,
	SettingGroupArchiveThreshold, SettingGroupArchiveThresholdPercent, SettingMembershipRemovalThreshold,
	SettingMembershipRemovalThresholdPercent}

// UserSettingNames and GroupSettingNames are the overrides a user and a
// group take.
var (
	UserSettingNames  = []string{SettingRequireMobileAuth}
	GroupSettingNames = []string{SettingMembersMayStoreData, SettingRequireMobileAuth}
)

// SettingChange sets one override, or clears it.
type SettingChange struct {
	// Name is one of the Setting… names.
	Name string `json:"name"`
	// Value is the override as text: "true" or "false" for switches, "mail"
	// or "upn" for SettingEmailSource, a whole number for the thresholds.
	// "" clears the override, so the default applies again.
	Value string `json:"value"`
}

// TenantSettingsReport is a tenant's settings as the configuration registered
// them, the administrators' overrides and the result.
type TenantSettingsReport struct {
	TenantID string `json:"tenantId"`
	// Configured are the settings RegisterTenant wrote.
	Configured TenantSettings `json:"configured"`
	// Overrides are the tenant-level overrides by setting name.
	Overrides map[string]json.RawMessage `json:"overrides"`
	// Effective is Configured with Overrides applied.
	Effective TenantSettings `json:"effective"`
	// DisconnectedAt is when the tenant was disconnected; nil while connected.
	DisconnectedAt *time.Time `json:"disconnectedAt,omitempty"`
}

// DisconnectReport is what Disconnect changed, or would change.
type DisconnectReport struct {
	TenantID string `json:"tenantId"`
	DryRun   bool   `json:"dryRun"`
	// AlreadyDisconnected is true when the tenant was disconnected before.
	AlreadyDisconnected bool `json:"alreadyDisconnected"`
	// DisconnectedAt is when the tenant was disconnected (nil on a dry run of
	// a connected tenant).
	DisconnectedAt *time.Time `json:"disconnectedAt,omitempty"`
	// UserCount and GroupCount count the users and groups made manual.
	UserCount  int `json:"userCount"`
	GroupCount int `json:"groupCount"`
	// UsersByStatus counts them by status, which Disconnect keeps.
	UsersByStatus map[Status]int `json:"usersByStatus"`
	// Users and Groups are the rows changed, as they are afterwards (origin
	// manual).
	Users  []User  `json:"users"`
	Groups []Group `json:"groups"`
}

// MergeSettings returns the settings a tenant runs with: the defaults, then
// base (the settings column, written from the configuration by
// RegisterTenant), then overrides (the settings_overrides column, written by
// SetTenantSetting). Each setting an override names wins. Empty or null
// documents add nothing.
func MergeSettings(base []byte, overrides []byte) (TenantSettings, error) {
	s := DefaultTenantSettings()
	for _, doc := range [][]byte{base, overrides} {
		if len(doc) == 0 || string(doc) == "null" {
			continue
		}
		if err := json.Unmarshal(doc, &s); err != nil {
			return s, fmt.Errorf("decode tenant settings: %w", err)
		}
	}
	return s, nil
}

// NewTenantSettingsReport builds the report from the tenant row's columns.
func NewTenantSettingsReport(tenantID string, settings, overrides []byte, disconnectedAt *time.Time) (TenantSettingsReport, error) {
	r := TenantSettingsReport{TenantID: tenantID, Overrides: map[string]json.RawMessage{}, DisconnectedAt: disconnectedAt}
	var err error
	if r.Configured, err = MergeSettings(settings, nil); err != nil {
		return r, err
	}
	if r.Effective, err = MergeSettings(settings, overrides); err != nil {
		return r, err
	}
	if len(overrides) > 0 {
		if err := json.Unmarshal(overrides, &r.Overrides); err != nil {
			return r, fmt.Errorf("tenant %s overrides: %w", tenantID, err)
		}
	}
	if r.Overrides == nil {
		r.Overrides = map[string]json.RawMessage{}
	}
	return r, nil
}

// ApplyTenantSettingChanges returns the overrides document with changes applied,
// after checking every change.
func ApplyTenantSettingChanges(overrides []byte, changes []SettingChange) ([]byte, error) {
	if len(changes) == 0 {
		return nil, Errorf(EINVALID, "no tenant setting given")
	}
	m := map[string]json.RawMessage{}
	if len(overrides) > 0 && string(overrides) != "null" {
		if err := json.Unmarshal(overrides, &m); err != nil {
			return nil, fmt.Errorf("decode tenant overrides: %w", err)
		}
	}
	for _, c := range changes {
		v, err := tenantSettingValue(c)
		if err != nil {
			return nil, err
		}
		if v == nil {
			delete(m, c.Name)
		} else {
			m[c.Name] = v
		}
	}
	return json.Marshal(m)
}

// tenantSettingValue checks one tenant-level change and returns its JSON
// value, or nil for a clear.
func tenantSettingValue(c SettingChange) (json.RawMessage, error) {
	if !slices.Contains(TenantSettingNames, c.Name) {
		return nil, Errorf(EINVALID, "unknown tenant setting %q (want one of %s)", c.Name, strings.Join(TenantSettingNames, ", "))
	}
	v := strings.TrimSpace(c.Value)
	if v == "" {
		return nil, nil
	}
	switch c.Name {
	case SettingEmailSource:
		if src := EmailSource(strings.ToLower(v)); src == EmailFromMail || src == EmailFromUPN {
			return json.Marshal(src)
		}
		return nil, Errorf(EINVALID, "%s: %q is not mail or upn", c.Name, c.Value)
	case SettingArchiveThreshold, SettingArchiveThresholdPercent, SettingGroupArchiveThreshold, SettingGroupArchiveThresholdPercent,
		SettingMembershipRemovalThreshold, SettingMembershipRemovalThresholdPercent:
		percent := strings.HasSuffix(c.Name, "Percent")
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || (percent && n > 100) {
			limit := "a whole number, 0 or more"
			if percent {
				limit = "a whole number from 0 to 100"
			}
			return nil, Errorf(EINVALID, "%s: %q is not %s", c.Name, c.Value, limit)
		}
		return json.Marshal(n)
	}
	b, err := ParseSwitch(c.Name, v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(b)
}

// ParseSwitch reads the value v of switch setting name: true, on or yes;
// false, off or no (any case). EINVALID, naming the setting, for anything
// else.
func ParseSwitch(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "on", "yes":
		return true, nil
	case "false", "off", "no":
		return false, nil
	}
	return false, Errorf(EINVALID, "%s: %q is not true or false", name, v)
}

// Override is one checked per-user or per-group override: Value nil clears
// it, so the tenant's setting applies again.
type Override struct {
	Name  string
	Value *bool
}

// CheckOverrides checks per-entity changes of kind ("user" or "group")
// against the setting names it takes (UserSettingNames, GroupSettingNames).
// EINVALID for no change, an unknown name or a value that is not a switch.
func CheckOverrides(kind string, names []string, changes []SettingChange) ([]Override, error) {
	if len(changes) == 0 {
		return nil, Errorf(EINVALID, "no %s setting given", kind)
	}
	var out []Override
	for _, c := range changes {
		if !slices.Contains(names, c.Name) {
			sorted := slices.Sorted(slices.Values(names))
			return nil, Errorf(EINVALID, "unknown %s setting %q (want %s)", kind, c.Name, strings.Join(sorted, " or "))
		}
		o := Override{Name: c.Name}
		if strings.TrimSpace(c.Value) != "" {
			v, err := ParseSwitch(c.Name, c.Value)
			if err != nil {
				return nil, err
			}
			o.Value = &v
		}
		out = append(out, o)
	}
	return out, nil
}

// ---- references --------------------------------------------------------

// RefKind is what an administrator's reference to a user or group is.
type RefKind int

// The kinds of reference ParseRef tells.
const (
	RefLocalID RefKind = iota // a local numeric id
	RefEmail                  // an e-mail or UPN
	RefEntraID                // an Entra object id (or a group's display name)
)

// ParseRef tells what kind of reference ref is: digits are a local id, an
// "@" makes an e-mail, anything else is an Entra object id (or, for groups,
// a display name). EINVALID, naming what, for an empty reference or a local
// id that is not positive.
func ParseRef(what, ref string) (RefKind, int64, error) {
	if ref == "" {
		return 0, 0, Errorf(EINVALID, "empty %s reference", what)
	}
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		if id <= 0 {
			return 0, 0, Errorf(EINVALID, "%s reference %q: a local id is a positive number", what, ref)
		}
		return RefLocalID, id, nil
	}
	if strings.Contains(ref, "@") {
		return RefEmail, 0, nil
	}
	return RefEntraID, 0, nil
}

// UserLabel names a user in messages without more personal data than needed.
func UserLabel(u User) string {
	for _, s := range []string{u.Email, u.UserPrincipalName, u.EntraID} {
		if s != "" {
			return fmt.Sprintf("%d (%s)", u.ID, s)
		}
	}
	return strconv.FormatInt(u.ID, 10)
}

// PickUser chooses among the users (in id order) a reference matched: the
// one live user, else the newest purged tombstone. EINVALID when several
// live users match (naming them), ENOTFOUND when none does.
func PickUser(tenantID, ref string, users []User) (User, error) {
	var live []User
	for _, u := range users {
		if u.Status != StatusPurged {
			live = append(live, u)
		}
	}
	switch {
	case len(live) == 1:
		return live[0], nil
	case len(live) > 1:
		labels := make([]string, len(live))
		for i, u := range live {
			labels[i] = UserLabel(u)
		}
		return User{}, Errorf(EINVALID, "user %q is ambiguous in tenant %s: it matches users %s; give the local id",
			ref, tenantID, strings.Join(labels, ", "))
	case len(users) > 0:
		return users[len(users)-1], nil // the newest tombstone
	}
	return User{}, Errorf(ENOTFOUND, "no user %q in tenant %s (give a local id, an e-mail or an Entra object id)", ref, tenantID)
}

// PickGroup finds ref among a tenant's groups: by local id, then Entra
// object id, then display name, preferring a live group among several.
// EINVALID for a bad reference or several matches (naming them), ENOTFOUND
// when none matches.
func PickGroup(tenantID, ref string, groups []Group) (Group, error) {
	ref = strings.TrimSpace(ref)
	kind, id, err := ParseRef("group", ref)
	if err != nil {
		return Group{}, err
	}
	if kind == RefLocalID {
		for _, g := range groups {
			if g.ID == id {
				return g, nil
			}
		}
	}
	for _, match := range []func(g Group) bool{
		func(g Group) bool { return g.EntraID != "" && strings.EqualFold(g.EntraID, ref) },
		func(g Group) bool { return strings.EqualFold(strings.TrimSpace(g.DisplayName), ref) },
	} {
		var all, live []Group
		for _, g := range groups {
			if match(g) {
				all = append(all, g)
				if !g.Archived() {
					live = append(live, g)
				}
			}
		}
		switch {
		case len(all) == 1:
			return all[0], nil
		case len(live) == 1:
			return live[0], nil
		case len(all) > 1:
			labels := make([]string, len(all))
			for i, g := range all {
				labels[i] = fmt.Sprintf("%d (%s)", g.ID, g.DisplayName)
				if g.Archived() {
					labels[i] += " archived"
				}
			}
			return Group{}, Errorf(EINVALID, "group %q is ambiguous in tenant %s: it matches groups %s; give the local id or the Entra object id",
				ref, tenantID, strings.Join(labels, ", "))
		}
	}
	return Group{}, Errorf(ENOTFOUND, "no group %q in tenant %s (give a local id, an Entra object id or a display name)", ref, tenantID)
}

// Invitable checks the users named by ids (loaded: those of them the
// directory has) and returns them, each once, in the order of ids.
// ENOTFOUND for an id with no user; EINVALID, naming every user that is not
// staged, when any is not.
func Invitable(tenantID string, ids []int64, loaded []User) ([]User, error) {
	byID := make(map[int64]User, len(loaded))
	for _, u := range loaded {
		byID[u.ID] = u
	}
	var out []User
	var problems []string
	seen := map[int64]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		u, ok := byID[id]
		if !ok {
			return nil, Errorf(ENOTFOUND, "no user %d in tenant %s", id, tenantID)
		}
		if u.Status != StatusStaged {
			problems = append(problems, fmt.Sprintf("user %s is %s, not staged", UserLabel(u), u.Status))
			continue
		}
		out = append(out, u)
	}
	if len(problems) > 0 {
		return nil, Errorf(EINVALID, "cannot invite: %s (only staged users can be invited); nobody was invited",
			strings.Join(problems, "; "))
	}
	return out, nil
}

// UnionByID adds to users those of more it lacks, and sorts by id.
func UnionByID(users, more []User) []User {
	have := map[int64]bool{}
	for _, u := range users {
		have[u.ID] = true
	}
	for _, u := range more {
		if !have[u.ID] {
			have[u.ID] = true
			users = append(users, u)
		}
	}
	slices.SortFunc(users, func(a, b User) int { return cmp.Compare(a.ID, b.ID) })
	return users
}

// NewDisconnectReport describes the provisioned users and groups a
// disconnect makes manual.
func NewDisconnectReport(tenantID string, dryRun bool, users []User, groups []Group, disconnectedAt *time.Time) DisconnectReport {
	r := DisconnectReport{TenantID: tenantID, DryRun: dryRun, AlreadyDisconnected: disconnectedAt != nil, DisconnectedAt: disconnectedAt,
		UsersByStatus: map[Status]int{}, Users: []User{}, Groups: []Group{}}
	for _, u := range users {
		if u.Origin != OriginProvisioned || u.Status == StatusPurged {
			continue
		}
		u.Origin = OriginManual
		r.Users = append(r.Users, u)
		r.UsersByStatus[u.Status]++
	}
	for _, g := range groups {
		if g.Origin != OriginProvisioned {
			continue
		}
		g.Origin = OriginManual
		r.Groups = append(r.Groups, g)
	}
	r.UserCount, r.GroupCount = len(r.Users), len(r.Groups)
	return r
}

// Changes reports whether the disconnect changes anything: a tenant that
// was connected, or provisioned rows of a disconnected one.
func (r DisconnectReport) Changes() bool {
	return !r.AlreadyDisconnected || r.UserCount+r.GroupCount > 0
}

// DisconnectEventData is the data of a tenant.disconnected event.
func DisconnectEventData(r DisconnectReport) []byte {
	b, _ := json.Marshal(map[string]string{"users": strconv.Itoa(r.UserCount), "groups": strconv.Itoa(r.GroupCount)})
	return b
}
