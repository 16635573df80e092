package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

// The administration commands (SPEC.md section 5): users invite, purge and
// set, groups set, tenant settings, set, disconnect and reconnect, events
// list. They find users and groups by what an administrator types (a local
// id, an e-mail, an Entra object id, a group's name) through sync.Admin.

// adminSession is an open store for one administration command.
type adminSession struct {
	db     store.Store
	admin  sync.Admin
	tenant string
}

// openAdmin loads the configuration and opens the store for tenant (or the
// only configured one when tenant is "").
func (e *env) openAdmin(tenant string) (*adminSession, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	if tenant, err = oneTenant(cfg, tenant); err != nil {
		return nil, err
	}
	db, err := e.openStore(cfg)
	if err != nil {
		return nil, err
	}
	return &adminSession{db: db, admin: db, tenant: tenant}, nil
}

// ---- effective settings ----------------------------------------------------

// settingCell renders an effective switch and where it comes from: "on
// (tenant)", "off (user)".
func settingCell(override *bool, def bool, owner string) string {
	v, from := def, "tenant"
	if override != nil {
		v, from = *override, owner
	}
	if v {
		return "on (" + from + ")"
	}
	return "off (" + from + ")"
}

// settingPhrase is settingCell for a sentence: "off (user override)", "on
// (tenant default)".
func settingPhrase(override *bool, def bool, owner string) string {
	cell := settingCell(override, def, owner)
	if override != nil {
		return strings.TrimSuffix(cell, ")") + " override)"
	}
	return strings.TrimSuffix(cell, ")") + " default)"
}

// userSettingCells are the effective-settings columns of a user's row.
func userSettingCells(u sync.UserView) []string {
	return []string{settingCell(u.RequireMobileAuth, u.Effective.RequireMobileAuth, "user")}
}

// groupSettingCells are the effective-settings columns of a group's row.
func groupSettingCells(g sync.GroupView) []string {
	return []string{settingCell(g.MembersMayStoreData, g.Effective.MembersMayStoreData, "group"),
		settingCell(g.RequireMobileAuth, g.Effective.RequireMobileAuth, "group")}
}

// ---- setting flags -----------------------------------------------------------

// settingFlag is a command-line flag that sets or clears one override.
type settingFlag struct {
	flag, setting, kind string // kind: switch, email, count, percent
	usage               string
}

var (
	userSettingFlags = []settingFlag{
		{"require-mobile-auth", sync.SettingRequireMobileAuth, "switch", "require mobile authentication: true, false or default (the tenant's)"},
	}
	groupSettingFlags = []settingFlag{
		{"members-may-store-data", sync.SettingMembersMayStoreData, "switch", "members may store data in the group: true, false or default (the tenant's)"},
		{"require-mobile-auth", sync.SettingRequireMobileAuth, "switch", "require mobile authentication to see the group's data: true, false or default (the tenant's)"},
	}
	tenantSettingFlags = []settingFlag{
		{"auto-invite", sync.SettingAutoInvite, "switch", "create new users invited: true, false or default (the configuration's)"},
		{"email-source", sync.SettingEmailSource, "email", "where e-mails come from: mail, upn or default"},
		{"members-may-store-data", sync.SettingMembersMayStoreData, "switch", "groups' default for members storing data: true, false or default"},
		{"require-mobile-auth", sync.SettingRequireMobileAuth, "switch", "users' default for mobile authentication: true, false or default"},
		{"group-require-mobile-auth", sync.SettingGroupRequireMobileAuth, "switch", "groups' default for mobile authentication: true, false or default"},
		{"archive-threshold", sync.SettingArchiveThreshold, "count", "archive guard: most archives per cycle, a number (0 turns it off) or default"},
		{"archive-threshold-percent", sync.SettingArchiveThresholdPercent, "percent", "archive guard: most archives per cycle in percent of users, 0-100 (0 turns it off) or default"},
	}
)

// flagOf names the command-line flag of a tenant setting.
func flagOf(setting string) string {
	for _, sf := range tenantSettingFlags {
		if sf.setting == setting {
			return sf.flag
		}
	}
	return setting
}

// defineSettingFlags registers the flags; the returned function, called
// after parsing, turns the flags given into changes, in the order of flags.
func defineSettingFlags(f *commandFlags, flags []settingFlag) func() ([]sync.SettingChange, error) {
	values := make([]*string, len(flags))
	for i, sf := range flags {
		values[i] = f.String(sf.flag, "", sf.usage)
	}
	return func() ([]sync.SettingChange, error) {
		given := map[string]bool{}
		f.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
		var changes []sync.SettingChange
		for i, sf := range flags {
			if !given[sf.flag] {
				continue
			}
			v, err := settingValue(sf, *values[i])
			if err != nil {
				return nil, usagef("%s: %v (see entrasync %s --help)", f.Name(), err, f.Name())
			}
			changes = append(changes, sync.SettingChange{Name: sf.setting, Value: v})
		}
		if len(changes) == 0 {
			names := make([]string, len(flags))
			for i, sf := range flags {
				names[i] = "--" + sf.flag
			}
			return nil, usagef("%s: give at least one of %s", f.Name(), strings.Join(names, ", "))
		}
		return changes, nil
	}
}

// settingValue checks a flag's value; "default" clears the override ("").
func settingValue(sf settingFlag, raw string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(raw))
	if v == "default" {
		return "", nil
	}
	ok := false
	switch sf.kind {
	case "switch":
		ok = v == "true" || v == "false"
	case "email":
		ok = v == "mail" || v == "upn"
	case "count", "percent":
		n, err := strconv.Atoi(v)
		ok = err == nil && n >= 0 && (sf.kind == "count" || n <= 100)
	}
	if !ok {
		want := map[string]string{"switch": "true, false or default", "email": "mail, upn or default",
			"count": "a whole number (0 or more) or default", "percent": "a whole number from 0 to 100 or default"}[sf.kind]
		return "", fmt.Errorf("--%s %q: want %s", sf.flag, raw, want)
	}
	return v, nil
}

// ---- users invite --------------------------------------------------------------

func (e *env) usersInvite(args []string) error {
	f := e.newFlags("users invite", true)
	all := f.Bool("all-staged", false, "invite every staged user of the tenant")
	if err := f.parse(args); err != nil {
		return err
	}
	refs := f.Args()
	if len(refs) == 0 && !*all {
		return usagef("users invite: give a user (local id, e-mail or Entra object id), or --all-staged")
	}
	s, err := e.openAdmin(f.tenant)
	if err != nil {
		return err
	}
	defer s.db.Close()
	var ids []int64
	for _, ref := range refs {
		u, err := s.admin.ResolveUser(e.ctx, s.tenant, ref)
		if err != nil {
			return err
		}
		ids = append(ids, u.ID)
	}
	invited, err := s.admin.InviteUsers(e.ctx, s.tenant, ids, *all)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, struct {
			Tenant  string      `json:"tenant"`
			Invited []sync.User `json:"invited"`
		}{s.tenant, nonNil(invited)})
	}
	if len(invited) == 0 {
		_, err := fmt.Fprintf(e.stdout, "No staged users in tenant %s: nobody invited.\n", s.tenant)
		return err
	}
	fmt.Fprintf(e.stdout, "Invited %d user(s) in tenant %s; each has a user.invited event in the outbox (entrasync events list).\n",
		len(invited), s.tenant)
	rows := make([][]string, 0, len(invited))
	for _, u := range invited {
		rows = append(rows, []string{fmt.Sprint(u.ID), string(u.Status), dash(u.Email), dash(u.DisplayName), dash(u.EntraID)})
	}
	return table(e.stdout, "ID\tSTATUS\tEMAIL\tNAME\tENTRA ID", rows)
}

// ---- users purge -------------------------------------------------------------

// purgePreview is what a purge erases and keeps.
type purgePreview struct {
	Purged bool      `json:"purged"`
	User   sync.User `json:"user"`
	// Groups are the names of the groups the user is a member of.
	Groups []string `json:"groups"`
	// StillInScope is true when the user still has assignment paths: the
	// next cycle creates them anew as a new user.
	StillInScope bool `json:"stillInScope"`
}

func (e *env) usersPurge(args []string) error {
	f := e.newFlags("users purge", true)
	yes := f.Bool("yes", false, "really purge (without it, only show what would be erased)")
	if err := f.parse(args); err != nil {
		return err
	}
	refs := f.Args()
	if len(refs) != 1 {
		return usagef("users purge: give one user (local id, e-mail or Entra object id)")
	}
	s, err := e.openAdmin(f.tenant)
	if err != nil {
		return err
	}
	defer s.db.Close()
	u, err := s.admin.ResolveUser(e.ctx, s.tenant, refs[0])
	if err != nil {
		return err
	}
	if u.Status == sync.StatusPurged {
		return sync.Errorf(sync.ENOTFOUND, "user %s of tenant %s is already purged", refs[0], s.tenant)
	}
	p := purgePreview{User: u, Groups: []string{}, StillInScope: len(u.Paths) > 0 && u.Status != sync.StatusArchived}
	if u.EntraID != "" {
		groups, err := s.db.Groups(e.ctx, s.tenant)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if slices.Contains(g.Members, u.EntraID) {
				p.Groups = append(p.Groups, g.DisplayName)
			}
		}
	}
	if !*yes {
		if f.json {
			if err := writeJSON(e.stdout, p); err != nil {
				return err
			}
		} else if err := printPurgePreview(e.stdout, s.tenant, p); err != nil {
			return err
		}
		return usagef("users purge: nothing purged without --yes (entrasync users purge %s --yes)", refs[0])
	}
	if err := s.db.PurgeUser(e.ctx, s.tenant, u.ID); err != nil {
		return err
	}
	ts, err := s.admin.ResolveUser(e.ctx, s.tenant, strconv.FormatInt(u.ID, 10))
	if err != nil {
		return err
	}
	p.Purged, p.User = true, ts
	if f.json {
		return writeJSON(e.stdout, p)
	}
	fmt.Fprintf(e.stdout, "Purged user %d of tenant %s: personal data erased, memberships and paths removed, a user.purged event queued.\n",
		u.ID, s.tenant)
	if p.StillInScope {
		fmt.Fprintf(e.stdout, "The user is still assigned in Entra (%s): the next cycle creates them anew as a new user.\n", strings.Join(u.Paths, ", "))
	}
	fmt.Fprintln(e.stdout, "Tombstone:")
	return table(e.stdout, "ID\tSTATUS\tORIGIN\tENTRA ID\tEMAIL\tNAME",
		[][]string{{fmt.Sprint(ts.ID), string(ts.Status), string(ts.Origin), dash(ts.EntraID), dash(ts.Email), dash(ts.DisplayName)}})
}

func printPurgePreview(w io.Writer, tenant string, p purgePreview) error {
	u := p.User
	lw := &lineWriter{w: w}
	lw.printf("Would purge user %d of tenant %s (%s, %s, %s):\n", u.ID, tenant, dash(u.Email), u.Status, u.Origin)
	var erase []string
	for _, f := range []struct{ name, v string }{{"e-mail", u.Email}, {"mail", u.Mail}, {"userPrincipalName", u.UserPrincipalName},
		{"displayName", u.DisplayName}, {"givenName", u.GivenName}, {"surname", u.Surname}, {"archive reason", u.ArchiveReason}} {
		if f.v != "" {
			erase = append(erase, fmt.Sprintf("%s %q", f.name, clip(f.v, 60)))
		}
	}
	if len(erase) == 0 {
		erase = []string{"no personal data left"}
	}
	lw.printf("  erases   %s\n", strings.Join(erase, ", "))
	lw.printf("  removes  %d membership(s)%s and %d assignment path(s)\n", len(p.Groups), listSuffix(p.Groups), len(u.Paths))
	lw.printf("  keeps    a tombstone: local id %d, Entra id %s, status purged\n", u.ID, dash(u.EntraID))
	if p.StillInScope {
		lw.printf("  note     still assigned in Entra (%s): the next cycle creates them anew as a new user\n", strings.Join(u.Paths, ", "))
	}
	lw.printf("Nothing was changed. Add --yes to purge.\n")
	return lw.err
}

func listSuffix(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return " (" + clip(strings.Join(s, ", "), 80) + ")"
}

// ---- users set / groups set ---------------------------------------------------

func (e *env) usersSet(args []string) error {
	f := e.newFlags("users set", true)
	changes := defineSettingFlags(f, userSettingFlags)
	if err := f.parse(args); err != nil {
		return err
	}
	refs := f.Args()
	if len(refs) != 1 {
		return usagef("users set: give one user (local id, e-mail or Entra object id)")
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
	u, err := s.admin.ResolveUser(e.ctx, s.tenant, refs[0])
	if err != nil {
		return err
	}
	if u, err = s.admin.SetUserSetting(e.ctx, s.tenant, u.ID, cs...); err != nil {
		return err
	}
	t, err := s.admin.EffectiveSettings(e.ctx, s.tenant)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, sync.NewUserView(u, t))
	}
	_, err = fmt.Fprintf(e.stdout, "User %d (%s) of tenant %s: require mobile authentication %s\n",
		u.ID, dash(u.Email), s.tenant, settingPhrase(u.RequireMobileAuth, t.RequireMobileAuth, "user"))
	return err
}

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

// ---- tenant settings / set / disconnect / reconnect ------------------------------

// tenantAdmin is `entrasync tenant settings|set|disconnect|reconnect NAME`.
func (e *env) tenantAdmin(verb string, args []string) error {
	f := e.newFlags("tenant "+verb, true)
	var changes func() ([]sync.SettingChange, error)
	var dry *bool
	switch verb {
	case "set":
		changes = defineSettingFlags(f, tenantSettingFlags)
	case "disconnect":
		dry = f.Bool("dry-run", false, "only report what would change")
	}
	if err := f.parse(args); err != nil {
		return err
	}
	names := f.Args()
	if len(names) > 1 {
		return usagef("tenant %s: give one tenant name", verb)
	}
	var cs []sync.SettingChange
	if changes != nil {
		var err error
		if cs, err = changes(); err != nil {
			return err
		}
	}
	name := f.tenant
	if len(names) == 1 {
		if name != "" && name != names[0] {
			return usagef("tenant %s: tenant %q and --tenant %q differ", verb, names[0], name)
		}
		name = names[0]
	}
	s, err := e.openAdmin(name)
	if err != nil {
		return err
	}
	defer s.db.Close()
	switch verb {
	case "settings", "set":
		var rep sync.TenantSettingsReport
		if verb == "set" {
			rep, err = s.admin.SetTenantSetting(e.ctx, s.tenant, cs...)
		} else {
			rep, err = s.admin.TenantSettings(e.ctx, s.tenant)
		}
		if err != nil {
			return err
		}
		if f.json {
			return writeJSON(e.stdout, rep)
		}
		return printTenantSettings(e.stdout, rep)
	case "disconnect":
		rep, err := s.admin.Disconnect(e.ctx, s.tenant, *dry)
		if err != nil {
			return err
		}
		if f.json {
			return writeJSON(e.stdout, rep)
		}
		return printDisconnect(e.stdout, rep)
	default: // reconnect
		was, err := s.admin.Reconnect(e.ctx, s.tenant)
		if err != nil {
			return err
		}
		if f.json {
			return writeJSON(e.stdout, struct {
				Tenant      string `json:"tenant"`
				Reconnected bool   `json:"reconnected"`
			}{s.tenant, was})
		}
		if !was {
			_, err = fmt.Fprintf(e.stdout, "Tenant %s was not disconnected: nothing to do.\n", s.tenant)
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "Tenant %s reconnected: its cycles may run again.\n", s.tenant)
		return err
	}
}

func printTenantSettings(w io.Writer, r sync.TenantSettingsReport) error {
	state := "connected"
	if r.DisconnectedAt != nil {
		state = "disconnected since " + r.DisconnectedAt.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "Tenant %s (%s)\n", r.TenantID, state)
	conf, eff := settingsMap(r.Configured), settingsMap(r.Effective)
	rows := make([][]string, 0, len(sync.TenantSettingNames))
	for _, name := range sync.TenantSettingNames {
		over := "-"
		if v, ok := r.Overrides[name]; ok {
			over = strings.Trim(string(v), `"`)
		}
		rows = append(rows, []string{flagOf(name), conf[name], over, eff[name]})
	}
	return table(w, "SETTING\tCONFIGURED\tOVERRIDE\tEFFECTIVE", rows)
}

// settingsMap renders settings by their JSON names.
func settingsMap(s sync.TenantSettings) map[string]string {
	b, _ := json.Marshal(s)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

func printDisconnect(w io.Writer, r sync.DisconnectReport) error {
	lw := &lineWriter{w: w}
	switch {
	case r.DryRun:
		lw.printf("Dry run: disconnecting tenant %s would make %d user(s) and %d group(s) manual (Entra ids, statuses,\n"+
			"paths and memberships kept; nobody archived). Nothing was changed.\n", r.TenantID, r.UserCount, r.GroupCount)
	case r.AlreadyDisconnected && r.UserCount+r.GroupCount == 0:
		lw.printf("Tenant %s is already disconnected (since %s): nothing to do.\n", r.TenantID, r.DisconnectedAt.Format(time.RFC3339))
		return lw.err
	default:
		lw.printf("Tenant %s disconnected: %d user(s) and %d group(s) are now manual (Entra ids, statuses, paths and\n"+
			"memberships kept; nobody archived). Undo with: entrasync tenant reconnect %s\n", r.TenantID, r.UserCount, r.GroupCount, r.TenantID)
	}
	if lw.err != nil {
		return lw.err
	}
	if len(r.UsersByStatus) > 0 {
		var parts []string
		for _, st := range slices.Sorted(maps.Keys(r.UsersByStatus)) {
			parts = append(parts, fmt.Sprintf("%s %d", st, r.UsersByStatus[st]))
		}
		fmt.Fprintf(w, "Users by status: %s\n", strings.Join(parts, ", "))
	}
	if len(r.Users) > 0 {
		rows := make([][]string, 0, len(r.Users))
		for _, u := range r.Users {
			rows = append(rows, []string{fmt.Sprint(u.ID), string(u.Status), dash(u.Email), dash(u.EntraID)})
		}
		fmt.Fprintln(w)
		if err := table(w, "USER\tSTATUS\tEMAIL\tENTRA ID", rows); err != nil {
			return err
		}
	}
	if len(r.Groups) > 0 {
		rows := make([][]string, 0, len(r.Groups))
		for _, g := range r.Groups {
			state := "active"
			if g.Archived() {
				state = "archived"
			}
			rows = append(rows, []string{fmt.Sprint(g.ID), dash(g.DisplayName), state, fmt.Sprint(len(g.Members)), dash(g.EntraID)})
		}
		fmt.Fprintln(w)
		if err := table(w, "GROUP\tNAME\tSTATE\tMEMBERS\tENTRA ID", rows); err != nil {
			return err
		}
	}
	return nil
}

// ---- events list ----------------------------------------------------------------

func (e *env) eventsList(args []string) error {
	f := e.newFlags("events list", true)
	after := f.Int64("after", 0, "only events with an id above this one")
	limit := f.Int("limit", 100, "how many events (at most 1000)")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return usagef("events list: unexpected argument %q", f.Arg(0))
	}
	if *after < 0 || *limit <= 0 || *limit > 1000 {
		return usagef("events list: --after must be 0 or more and --limit from 1 to 1000")
	}
	s, err := e.openAdmin(f.tenant)
	if err != nil {
		return err
	}
	defer s.db.Close()
	// An unknown tenant is an error, not an empty outbox.
	if _, err := s.admin.EffectiveSettings(e.ctx, s.tenant); err != nil {
		return err
	}
	evs, err := s.db.Events(e.ctx, s.tenant, *after, *limit)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, nonNil(evs))
	}
	rows := make([][]string, 0, len(evs))
	for _, ev := range evs {
		var data []string
		for _, k := range slices.Sorted(maps.Keys(ev.Data)) {
			data = append(data, k+"="+ev.Data[k])
		}
		run := "-"
		if ev.RunID != 0 {
			run = fmt.Sprint(ev.RunID)
		}
		rows = append(rows, []string{fmt.Sprint(ev.ID), ev.CreatedAt.Format(time.RFC3339), ev.Type, dash(ev.EntraID),
			dash(ev.GroupEntraID), run, clip(joinOr(data, "-"), 80)})
	}
	if err := table(e.stdout, "ID\tCREATED\tTYPE\tENTRA ID\tGROUP\tRUN\tDATA", rows); err != nil {
		return err
	}
	if len(evs) == *limit {
		_, err = fmt.Fprintf(e.stdout, "%d event(s); more after: entrasync events list --tenant %s --after %d\n", len(evs), s.tenant, evs[len(evs)-1].ID)
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%d event(s)\n", len(evs))
	return err
}
