package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/entrasync/entrasync/sync"
)

// Admin is what administrators do to a directory besides what cycles do
// (SPEC.md section 5): send invitations, set per-user, per-group and
// tenant-level setting overrides, disconnect and reconnect a tenant, and
// find users and groups by what an administrator types. Purging is
// Store.PurgeUser. Both backends implement it.
//
// Every write takes the tenant's lock (the row lock of sync.Directory.Begin
// on PostgreSQL, the write lock on SQLite), so it never interleaves with a
// cycle's apply, and is one transaction. Unknown tenants are
// sync.ErrTenantNotFound.
type Admin interface {
	// ResolveUser finds a user by a local numeric id, an e-mail or UPN
	// (case-insensitively) or an Entra object id. A purged tombstone is
	// returned only when no live user matches. ENOTFOUND when nothing
	// matches, EINVALID when several live users do; both name ref.
	ResolveUser(ctx context.Context, tenantID, ref string) (sync.User, error)
	// ResolveGroup finds a group by a local numeric id, an Entra object id or
	// a display name (case-insensitively); a live group is preferred to
	// archived ones. ENOTFOUND or EINVALID (ambiguous) naming ref.
	ResolveGroup(ctx context.Context, tenantID, ref string) (sync.Group, error)
	// InviteUsers moves staged users to invited and queues one user.invited
	// event each, in one transaction: the users userIDs names, and with
	// allStaged every staged user of the tenant. It returns the invited
	// users in id order. A named user that does not exist is ENOTFOUND, one
	// that is not staged EINVALID; either way nothing is invited.
	InviteUsers(ctx context.Context, tenantID string, userIDs []int64, allStaged bool) ([]sync.User, error)
	// SetUserSetting sets or clears a live user's per-user overrides
	// (SettingRequireMobileAuth) and returns the user. EINVALID for an
	// unknown setting or value, ENOTFOUND for no such live user.
	SetUserSetting(ctx context.Context, tenantID string, userID int64, changes ...SettingChange) (sync.User, error)
	// SetGroupSetting sets or clears a group's per-group overrides
	// (SettingMembersMayStoreData, SettingRequireMobileAuth) and returns the
	// group. EINVALID for an unknown setting or value, ENOTFOUND for no such
	// group.
	SetGroupSetting(ctx context.Context, tenantID string, groupID int64, changes ...SettingChange) (sync.Group, error)
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
	EffectiveSettings(ctx context.Context, tenantID string) (sync.TenantSettings, error)
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
}

var _ Admin = (*DB)(nil)

// Names of the settings an administrator can override: the JSON keys of
// sync.TenantSettings. Users take SettingRequireMobileAuth; groups
// SettingMembersMayStoreData and SettingRequireMobileAuth; tenants all of them.
const (
	SettingAutoInvite              = "autoInvite"
	SettingEmailSource             = "emailSource"
	SettingMembersMayStoreData     = "membersMayStoreData"
	SettingRequireMobileAuth       = "requireMobileAuth"
	SettingGroupRequireMobileAuth  = "groupRequireMobileAuth"
	SettingArchiveThreshold        = "archiveThreshold"
	SettingArchiveThresholdPercent = "archiveThresholdPercent"
)

// TenantSettingNames lists the tenant-level settings in display order.
var TenantSettingNames = []string{SettingAutoInvite, SettingEmailSource, SettingMembersMayStoreData,
	SettingRequireMobileAuth, SettingGroupRequireMobileAuth, SettingArchiveThreshold, SettingArchiveThresholdPercent}

// userSettingColumns and groupSettingColumns map override names to columns.
var (
	userSettingColumns  = map[string]string{SettingRequireMobileAuth: "require_mobile_auth"}
	groupSettingColumns = map[string]string{SettingMembersMayStoreData: "members_may_store_data",
		SettingRequireMobileAuth: "require_mobile_auth"}
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
	Configured sync.TenantSettings `json:"configured"`
	// Overrides are the tenant-level overrides by setting name.
	Overrides map[string]json.RawMessage `json:"overrides"`
	// Effective is Configured with Overrides applied.
	Effective sync.TenantSettings `json:"effective"`
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
	UsersByStatus map[sync.Status]int `json:"usersByStatus"`
	// Users and Groups are the rows changed, as they are afterwards (origin
	// manual).
	Users  []sync.User  `json:"users"`
	Groups []sync.Group `json:"groups"`
}

// mergeSettings returns the settings a tenant runs with: the defaults, then
// base (the settings column, written from the configuration by
// RegisterTenant), then overrides (the settings_overrides column, written by
// SetTenantSetting). Each setting an override names wins. Empty or null
// documents add nothing.
func mergeSettings(base []byte, overrides []byte) (sync.TenantSettings, error) {
	s := sync.DefaultTenantSettings()
	for _, doc := range [][]byte{base, overrides} {
		if len(doc) == 0 || string(doc) == "null" {
			continue
		}
		if err := json.Unmarshal(doc, &s); err != nil {
			return s, fmt.Errorf("store: decode tenant settings: %w", err)
		}
	}
	return s, nil
}

// newTenantSettingsReport builds the report from the tenant row's columns.
func newTenantSettingsReport(tenantID string, settings, overrides []byte, disconnectedAt *time.Time) (TenantSettingsReport, error) {
	r := TenantSettingsReport{TenantID: tenantID, Overrides: map[string]json.RawMessage{}, DisconnectedAt: disconnectedAt}
	var err error
	if r.Configured, err = mergeSettings(settings, nil); err != nil {
		return r, err
	}
	if r.Effective, err = mergeSettings(settings, overrides); err != nil {
		return r, err
	}
	if len(overrides) > 0 {
		if err := json.Unmarshal(overrides, &r.Overrides); err != nil {
			return r, fmt.Errorf("store: tenant %s overrides: %w", tenantID, err)
		}
	}
	if r.Overrides == nil {
		r.Overrides = map[string]json.RawMessage{}
	}
	return r, nil
}

// applyTenantChanges returns the overrides document with changes applied,
// after checking every change.
func applyTenantChanges(overrides []byte, changes []SettingChange) ([]byte, error) {
	if len(changes) == 0 {
		return nil, sync.Errorf(sync.EINVALID, "store: no tenant setting given")
	}
	m := map[string]json.RawMessage{}
	if len(overrides) > 0 && string(overrides) != "null" {
		if err := json.Unmarshal(overrides, &m); err != nil {
			return nil, fmt.Errorf("store: decode tenant overrides: %w", err)
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
		return nil, sync.Errorf(sync.EINVALID, "store: unknown tenant setting %q (want one of %s)", c.Name, strings.Join(TenantSettingNames, ", "))
	}
	v := strings.TrimSpace(c.Value)
	if v == "" {
		return nil, nil
	}
	switch c.Name {
	case SettingEmailSource:
		if src := sync.EmailSource(strings.ToLower(v)); src == sync.EmailFromMail || src == sync.EmailFromUPN {
			return json.Marshal(src)
		}
		return nil, sync.Errorf(sync.EINVALID, "store: %s: %q is not mail or upn", c.Name, c.Value)
	case SettingArchiveThreshold, SettingArchiveThresholdPercent:
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || (c.Name == SettingArchiveThresholdPercent && n > 100) {
			limit := "a whole number, 0 or more"
			if c.Name == SettingArchiveThresholdPercent {
				limit = "a whole number from 0 to 100"
			}
			return nil, sync.Errorf(sync.EINVALID, "store: %s: %q is not %s", c.Name, c.Value, limit)
		}
		return json.Marshal(n)
	}
	b, err := parseSwitch(c.Name, v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(b)
}

func parseSwitch(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "on", "yes":
		return true, nil
	case "false", "off", "no":
		return false, nil
	}
	return false, sync.Errorf(sync.EINVALID, "store: %s: %q is not true or false", name, v)
}

// overrideColumn is one per-user or per-group override to write: NULL clears.
type overrideColumn struct {
	column string
	value  sql.NullBool
}

// overrideColumns checks per-entity changes against the columns of kind
// ("user" or "group").
func overrideColumns(kind string, columns map[string]string, changes []SettingChange) ([]overrideColumn, error) {
	if len(changes) == 0 {
		return nil, sync.Errorf(sync.EINVALID, "store: no %s setting given", kind)
	}
	var out []overrideColumn
	for _, c := range changes {
		col, ok := columns[c.Name]
		if !ok {
			names := make([]string, 0, len(columns))
			for n := range columns {
				names = append(names, n)
			}
			slices.Sort(names)
			return nil, sync.Errorf(sync.EINVALID, "store: unknown %s setting %q (want %s)", kind, c.Name, strings.Join(names, " or "))
		}
		oc := overrideColumn{column: col}
		if strings.TrimSpace(c.Value) != "" {
			b, err := parseSwitch(c.Name, c.Value)
			if err != nil {
				return nil, err
			}
			oc.value = sql.NullBool{Bool: b, Valid: true}
		}
		out = append(out, oc)
	}
	return out, nil
}

// ---- references --------------------------------------------------------

type refKind int

const (
	refLocalID refKind = iota
	refEmail
	refEntraID
)

// parseRef tells what kind of reference ref is: digits are a local id, an
// "@" makes an e-mail, anything else is an Entra object id (or, for groups,
// a display name).
func parseRef(what, ref string) (refKind, int64, error) {
	if ref == "" {
		return 0, 0, sync.Errorf(sync.EINVALID, "store: empty %s reference", what)
	}
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		if id <= 0 {
			return 0, 0, sync.Errorf(sync.EINVALID, "store: %s reference %q: a local id is a positive number", what, ref)
		}
		return refLocalID, id, nil
	}
	if strings.Contains(ref, "@") {
		return refEmail, 0, nil
	}
	return refEntraID, 0, nil
}

// userLabel names a user in messages without more personal data than needed.
func userLabel(u sync.User) string {
	for _, s := range []string{u.Email, u.UserPrincipalName, u.EntraID} {
		if s != "" {
			return fmt.Sprintf("%d (%s)", u.ID, s)
		}
	}
	return strconv.FormatInt(u.ID, 10)
}

// pickUser chooses among the users a reference matched.
func pickUser(tenantID, ref string, users []sync.User) (sync.User, error) {
	var live []sync.User
	for _, u := range users {
		if u.Status != sync.StatusPurged {
			live = append(live, u)
		}
	}
	switch {
	case len(live) == 1:
		return live[0], nil
	case len(live) > 1:
		labels := make([]string, len(live))
		for i, u := range live {
			labels[i] = userLabel(u)
		}
		return sync.User{}, sync.Errorf(sync.EINVALID, "user %q is ambiguous in tenant %s: it matches users %s; give the local id",
			ref, tenantID, strings.Join(labels, ", "))
	case len(users) > 0:
		return users[len(users)-1], nil // the newest tombstone
	}
	return sync.User{}, sync.Errorf(sync.ENOTFOUND, "no user %q in tenant %s (give a local id, an e-mail or an Entra object id)", ref, tenantID)
}

// pickGroup finds ref among a tenant's groups: by local id, then Entra
// object id, then display name, preferring a live group among several.
func pickGroup(tenantID, ref string, groups []sync.Group) (sync.Group, error) {
	ref = strings.TrimSpace(ref)
	kind, id, err := parseRef("group", ref)
	if err != nil {
		return sync.Group{}, err
	}
	if kind == refLocalID {
		for _, g := range groups {
			if g.ID == id {
				return g, nil
			}
		}
	}
	for _, match := range []func(g sync.Group) bool{
		func(g sync.Group) bool { return g.EntraID != "" && strings.EqualFold(g.EntraID, ref) },
		func(g sync.Group) bool { return strings.EqualFold(strings.TrimSpace(g.DisplayName), ref) },
	} {
		var all, live []sync.Group
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
			return sync.Group{}, sync.Errorf(sync.EINVALID, "group %q is ambiguous in tenant %s: it matches groups %s; give the local id or the Entra object id",
				ref, tenantID, strings.Join(labels, ", "))
		}
	}
	return sync.Group{}, sync.Errorf(sync.ENOTFOUND, "no group %q in tenant %s (give a local id, an Entra object id or a display name)", ref, tenantID)
}

// invitable checks the users named by ids (as loaded) and returns them.
func invitable(tenantID string, ids []int64, loaded []sync.User) ([]sync.User, error) {
	byID := make(map[int64]sync.User, len(loaded))
	for _, u := range loaded {
		byID[u.ID] = u
	}
	var out []sync.User
	var problems []string
	seen := map[int64]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		u, ok := byID[id]
		if !ok {
			return nil, sync.Errorf(sync.ENOTFOUND, "store: no user %d in tenant %s", id, tenantID)
		}
		if u.Status != sync.StatusStaged {
			problems = append(problems, fmt.Sprintf("user %s is %s, not staged", userLabel(u), u.Status))
			continue
		}
		out = append(out, u)
	}
	if len(problems) > 0 {
		return nil, sync.Errorf(sync.EINVALID, "store: cannot invite: %s (only staged users can be invited); nobody was invited",
			strings.Join(problems, "; "))
	}
	return out, nil
}

// unionByID adds to users those of more it lacks, and sorts by id.
func unionByID(users, more []sync.User) []sync.User {
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
	slices.SortFunc(users, func(a, b sync.User) int { return cmp.Compare(a.ID, b.ID) })
	return users
}

// newDisconnectReport describes the provisioned users and groups a
// disconnect makes manual.
func newDisconnectReport(tenantID string, dryRun bool, users []sync.User, groups []sync.Group, disconnectedAt *time.Time) DisconnectReport {
	r := DisconnectReport{TenantID: tenantID, DryRun: dryRun, AlreadyDisconnected: disconnectedAt != nil, DisconnectedAt: disconnectedAt,
		UsersByStatus: map[sync.Status]int{}, Users: []sync.User{}, Groups: []sync.Group{}}
	for _, u := range users {
		if u.Origin != sync.OriginProvisioned || u.Status == sync.StatusPurged {
			continue
		}
		u.Origin = sync.OriginManual
		r.Users = append(r.Users, u)
		r.UsersByStatus[u.Status]++
	}
	for _, g := range groups {
		if g.Origin != sync.OriginProvisioned {
			continue
		}
		g.Origin = sync.OriginManual
		r.Groups = append(r.Groups, g)
	}
	r.UserCount, r.GroupCount = len(r.Users), len(r.Groups)
	return r
}

// changes reports whether the disconnect changes anything: a tenant that
// was connected, or provisioned rows of a disconnected one.
func (r DisconnectReport) changes() bool {
	return !r.AlreadyDisconnected || r.UserCount+r.GroupCount > 0
}

// disconnectEventData is the data of a tenant.disconnected event.
func disconnectEventData(r DisconnectReport) []byte {
	b, _ := json.Marshal(map[string]string{"users": strconv.Itoa(r.UserCount), "groups": strconv.Itoa(r.GroupCount)})
	return b
}

// ---- PostgreSQL ----------------------------------------------------------

// tenantRow is the tenant row's administration columns (both backends).
type tenantRow struct {
	settings, overrides []byte
	disconnectedAt      *time.Time
}

// pgTenant reads the tenant row, locking it with forUpdate (as Begin does);
// ErrTenantNotFound if there is none.
func pgTenant(ctx context.Context, q sqlx.QueryerContext, tenantID string, forUpdate bool) (tenantRow, error) {
	var r tenantRow
	var at sql.NullTime
	query := `SELECT settings, settings_overrides, disconnected_at FROM tenants WHERE id = $1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	err := q.QueryRowxContext(ctx, query, tenantID).Scan(&r.settings, &r.overrides, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("store: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("store: read tenant %s: %w", tenantID, translate(err))
	}
	if at.Valid {
		t := at.Time.UTC()
		r.disconnectedAt = &t
	}
	return r, nil
}

// ResolveUser finds a user by local id, e-mail or UPN, or Entra object id
// (see Admin).
func (s *DB) ResolveUser(ctx context.Context, tenantID, ref string) (sync.User, error) {
	ref = strings.TrimSpace(ref)
	kind, id, err := parseRef("user", ref)
	if err != nil {
		return sync.User{}, err
	}
	if _, err := pgTenant(ctx, s.db, tenantID, false); err != nil {
		return sync.User{}, err
	}
	var users []sync.User
	switch kind {
	case refLocalID:
		users, err = loadUsers(ctx, s.db, tenantID, "id = $2", id)
	case refEmail:
		users, err = loadUsers(ctx, s.db, tenantID, "(email_key = $2 OR lower(user_principal_name) = $2)", sync.EmailKey(ref))
	default:
		users, err = loadUsers(ctx, s.db, tenantID, "lower(entra_id) = lower($2)", ref)
	}
	if err != nil {
		return sync.User{}, err
	}
	return pickUser(tenantID, ref, users)
}

// ResolveGroup finds a group by local id, Entra object id or display name
// (see Admin).
func (s *DB) ResolveGroup(ctx context.Context, tenantID, ref string) (sync.Group, error) {
	if _, err := pgTenant(ctx, s.db, tenantID, false); err != nil {
		return sync.Group{}, err
	}
	groups, err := loadGroups(ctx, s.db, tenantID)
	if err != nil {
		return sync.Group{}, err
	}
	return pickGroup(tenantID, ref, groups)
}

// InviteUsers moves staged users to invited and queues their user.invited
// events in one transaction (see Admin).
func (s *DB) InviteUsers(ctx context.Context, tenantID string, userIDs []int64, allStaged bool) ([]sync.User, error) {
	if len(userIDs) == 0 && !allStaged {
		return nil, sync.Errorf(sync.EINVALID, "store: invite: name the users, or ask for all staged users")
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: invite: %w", translate(err))
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := pgTenant(ctx, tx, tenantID, true); err != nil {
		return nil, err
	}
	var users []sync.User
	if len(userIDs) > 0 {
		loaded, err := loadUsers(ctx, tx, tenantID, "id = ANY($2::bigint[])", pq.Array(userIDs))
		if err != nil {
			return nil, err
		}
		if users, err = invitable(tenantID, userIDs, loaded); err != nil {
			return nil, err
		}
	}
	if allStaged {
		staged, err := loadUsers(ctx, tx, tenantID, "status = 'staged'")
		if err != nil {
			return nil, err
		}
		users = unionByID(users, staged)
	}
	if len(users) == 0 {
		return []sync.User{}, nil
	}
	ids, entra, emails := make([]int64, len(users)), make([]string, len(users)), make([]string, len(users))
	for i, u := range users {
		ids[i], entra[i], emails[i] = u.ID, u.EntraID, u.Email
	}
	res, err := tx.ExecContext(ctx, `UPDATE users SET status = 'invited', updated_at = now()
		WHERE tenant_id = $1 AND id = ANY($2::bigint[]) AND status = 'staged'`, tenantID, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("store: invite %d users: %w", len(ids), translate(err))
	}
	if n, _ := res.RowsAffected(); n != int64(len(ids)) {
		return nil, sync.Errorf(sync.ECONFLICT, "store: invite: %d of %d users changed meanwhile", int64(len(ids))-n, len(ids))
	}
	// The data has the shape the sync writes: {"email": …}.
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (tenant_id, type, entra_id, data)
		SELECT $1, 'user.invited', v.entra_id, jsonb_build_object('email', v.email)
		FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS v(entra_id, email, n) ORDER BY v.n`,
		tenantID, pq.Array(entra), pq.Array(emails)); err != nil {
		return nil, fmt.Errorf("store: invite: write events: %w", translate(err))
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: invite: commit: %w", translate(err))
	}
	for i := range users {
		users[i].Status = sync.StatusInvited
	}
	return users, nil
}

// SetUserSetting sets or clears a live user's overrides (see Admin).
func (s *DB) SetUserSetting(ctx context.Context, tenantID string, userID int64, changes ...SettingChange) (sync.User, error) {
	cols, err := overrideColumns("user", userSettingColumns, changes)
	if err != nil {
		return sync.User{}, err
	}
	var out sync.User
	err = s.adminTx(ctx, tenantID, func(tx *sqlx.Tx) error {
		if err := pgSetOverrides(ctx, tx, "users", tenantID, userID, " AND status <> 'purged'", cols); err != nil {
			if sync.ErrorCode(err) == sync.ENOTFOUND {
				return sync.Errorf(sync.ENOTFOUND, "store: no live user %d in tenant %s", userID, tenantID)
			}
			return err
		}
		users, err := loadUsers(ctx, tx, tenantID, "id = $2", userID)
		if err != nil {
			return err
		}
		out = users[0]
		return nil
	})
	return out, err
}

// SetGroupSetting sets or clears a group's overrides (see Admin).
func (s *DB) SetGroupSetting(ctx context.Context, tenantID string, groupID int64, changes ...SettingChange) (sync.Group, error) {
	cols, err := overrideColumns("group", groupSettingColumns, changes)
	if err != nil {
		return sync.Group{}, err
	}
	var out sync.Group
	err = s.adminTx(ctx, tenantID, func(tx *sqlx.Tx) error {
		if err := pgSetOverrides(ctx, tx, "groups", tenantID, groupID, "", cols); err != nil {
			if sync.ErrorCode(err) == sync.ENOTFOUND {
				return sync.Errorf(sync.ENOTFOUND, "store: no group %d in tenant %s", groupID, tenantID)
			}
			return err
		}
		groups, err := loadGroups(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if g.ID == groupID {
				out = g
			}
		}
		return nil
	})
	return out, err
}

// pgSetOverrides writes override columns of one row of table; ENOTFOUND if
// no row matches.
func pgSetOverrides(ctx context.Context, tx *sqlx.Tx, table, tenantID string, id int64, extra string, cols []overrideColumn) error {
	sets := make([]string, len(cols))
	args := []any{tenantID, id}
	for i, c := range cols {
		args = append(args, c.value)
		sets[i] = fmt.Sprintf("%s = $%d", c.column, len(args)) // columns come from a fixed map
	}
	res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+strings.Join(sets, ", ")+`, updated_at = now()
		WHERE tenant_id = $1 AND id = $2`+extra, args...)
	if err != nil {
		return fmt.Errorf("store: set %s overrides: %w", table, translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return sync.Errorf(sync.ENOTFOUND, "store: no such row")
	}
	return nil
}

// adminTx runs f in a transaction that holds the tenant's row lock.
func (s *DB) adminTx(ctx context.Context, tenantID string, f func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", translate(err))
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := pgTenant(ctx, tx, tenantID, true); err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", translate(err))
	}
	return nil
}

// SetTenantSetting sets or clears tenant-level overrides (see Admin).
func (s *DB) SetTenantSetting(ctx context.Context, tenantID string, changes ...SettingChange) (TenantSettingsReport, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return TenantSettingsReport{}, fmt.Errorf("store: begin: %w", translate(err))
	}
	defer func() { _ = tx.Rollback() }()
	row, err := pgTenant(ctx, tx, tenantID, true)
	if err != nil {
		return TenantSettingsReport{}, err
	}
	overrides, err := applyTenantChanges(row.overrides, changes)
	if err != nil {
		return TenantSettingsReport{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tenants SET settings_overrides = $2, updated_at = now() WHERE id = $1`,
		tenantID, overrides); err != nil {
		return TenantSettingsReport{}, fmt.Errorf("store: set tenant %s overrides: %w", tenantID, translate(err))
	}
	if err := tx.Commit(); err != nil {
		return TenantSettingsReport{}, fmt.Errorf("store: commit: %w", translate(err))
	}
	return newTenantSettingsReport(tenantID, row.settings, overrides, row.disconnectedAt)
}

// TenantSettings returns the tenant's configured, overridden and effective
// settings (see Admin).
func (s *DB) TenantSettings(ctx context.Context, tenantID string) (TenantSettingsReport, error) {
	row, err := pgTenant(ctx, s.db, tenantID, false)
	if err != nil {
		return TenantSettingsReport{}, err
	}
	return newTenantSettingsReport(tenantID, row.settings, row.overrides, row.disconnectedAt)
}

// EffectiveSettings returns the tenant's settings with its overrides applied.
func (s *DB) EffectiveSettings(ctx context.Context, tenantID string) (sync.TenantSettings, error) {
	row, err := pgTenant(ctx, s.db, tenantID, false)
	if err != nil {
		return sync.TenantSettings{}, err
	}
	return mergeSettings(row.settings, row.overrides)
}

// Disconnect makes the tenant's provisioned users and groups manual and
// marks it disconnected, in one transaction (see Admin).
func (s *DB) Disconnect(ctx context.Context, tenantID string, dryRun bool) (DisconnectReport, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return DisconnectReport{}, fmt.Errorf("store: begin: %w", translate(err))
	}
	defer func() { _ = tx.Rollback() }()
	row, err := pgTenant(ctx, tx, tenantID, !dryRun)
	if err != nil {
		return DisconnectReport{}, err
	}
	users, err := loadUsers(ctx, tx, tenantID, "origin = 'provisioned' AND status <> 'purged'")
	if err != nil {
		return DisconnectReport{}, err
	}
	groups, err := loadGroups(ctx, tx, tenantID)
	if err != nil {
		return DisconnectReport{}, err
	}
	rep := newDisconnectReport(tenantID, dryRun, users, groups, row.disconnectedAt)
	if dryRun {
		return rep, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE users SET origin = 'manual', updated_at = now()
		WHERE tenant_id = $1 AND origin = 'provisioned' AND status <> 'purged'`, tenantID)
	if err != nil {
		return rep, fmt.Errorf("store: disconnect %s: users: %w", tenantID, translate(err))
	}
	if n, _ := res.RowsAffected(); n != int64(rep.UserCount) {
		return rep, sync.Errorf(sync.EINTERNAL, "store: disconnect %s: changed %d users, expected %d", tenantID, n, rep.UserCount)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE groups SET origin = 'manual', updated_at = now()
		WHERE tenant_id = $1 AND origin = 'provisioned'`, tenantID); err != nil {
		return rep, fmt.Errorf("store: disconnect %s: groups: %w", tenantID, translate(err))
	}
	var at time.Time
	if err := tx.QueryRowxContext(ctx, `UPDATE tenants SET disconnected_at = COALESCE(disconnected_at, now()), updated_at = now()
		WHERE id = $1 RETURNING disconnected_at`, tenantID).Scan(&at); err != nil {
		return rep, fmt.Errorf("store: disconnect %s: %w", tenantID, translate(err))
	}
	at = at.UTC()
	rep.DisconnectedAt = &at
	if rep.changes() {
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (tenant_id, type, data) VALUES ($1, 'tenant.disconnected', $2)`,
			tenantID, disconnectEventData(rep)); err != nil {
			return rep, fmt.Errorf("store: disconnect %s: event: %w", tenantID, translate(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return rep, fmt.Errorf("store: disconnect %s: commit: %w", tenantID, translate(err))
	}
	return rep, nil
}

// Reconnect clears the tenant's disconnected mark (see Admin).
func (s *DB) Reconnect(ctx context.Context, tenantID string) (bool, error) {
	was := false
	err := s.adminTx(ctx, tenantID, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tenants SET disconnected_at = NULL, updated_at = now()
			WHERE id = $1 AND disconnected_at IS NOT NULL`, tenantID)
		if err != nil {
			return fmt.Errorf("store: reconnect %s: %w", tenantID, translate(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		was = true
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (tenant_id, type) VALUES ($1, 'tenant.reconnected')`, tenantID); err != nil {
			return fmt.Errorf("store: reconnect %s: event: %w", tenantID, translate(err))
		}
		return nil
	})
	return was, err
}
