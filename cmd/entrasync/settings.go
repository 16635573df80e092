package main

// The per-user, per-group and tenant setting overrides as the commands
// show them and take them as flags.

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/entrasync/entrasync/sync"
)

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
		{"archive-threshold", sync.SettingArchiveThreshold, "count", "archive guard: most user archives per cycle, a number (0 turns it off) or default"},
		{"archive-threshold-percent", sync.SettingArchiveThresholdPercent, "percent", "archive guard: most user archives per cycle in percent of users, 0-100 (0 turns it off) or default"},
		{"group-archive-threshold", sync.SettingGroupArchiveThreshold, "count", "archive guard: most group archives per cycle, a number (0 turns it off) or default"},
		{"group-archive-threshold-percent", sync.SettingGroupArchiveThresholdPercent, "percent", "archive guard: most group archives per cycle in percent of groups, 0-100 or default"},
		{"membership-removal-threshold", sync.SettingMembershipRemovalThreshold, "count", "archive guard: most membership removals per cycle, a number (0 turns it off) or default"},
		{"membership-removal-threshold-percent", sync.SettingMembershipRemovalThresholdPercent, "percent", "archive guard: most membership removals per cycle in percent of memberships, 0-100 or default"},
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

// overrideSet is `users set` and `groups set`: it parses the override flags
// and one reference (what names what the command takes), opens the tenant's
// directory and lets apply resolve the reference and write the overrides;
// apply returns the result's view (for --json) and its line of text, with
// the tenant's effective settings (which a per-user or per-group override
// does not change) to show what applies.
func (e *env) overrideSet(name, what string, flags []settingFlag, args []string,
	apply func(s *adminSession, ref string, cs []sync.SettingChange, t sync.TenantSettings) (any, string, error)) error {
	f := e.newFlags(name, true)
	changes := defineSettingFlags(f, flags)
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return usagef("%s: give one %s", name, what)
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
	t, err := s.admin.EffectiveSettings(e.ctx, s.tenant)
	if err != nil {
		return err
	}
	view, line, err := apply(s, f.Arg(0), cs, t)
	if err != nil {
		return err
	}
	e.audit(s.db, sync.AdminAction{Action: sync.ActionSetSetting, TenantID: s.tenant, Target: strings.Fields(name)[0] + " " + f.Arg(0),
		Detail: changesText(cs)})
	if f.json {
		return writeJSON(e.stdout, view)
	}
	_, err = io.WriteString(e.stdout, line)
	return err
}

// changesText is setting changes as the audit trail shows them: name=value,
// "default" for a cleared override.
func changesText(cs []sync.SettingChange) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		v := c.Value
		if strings.TrimSpace(v) == "" {
			v = "default"
		}
		parts = append(parts, c.Name+"="+v)
	}
	return strings.Join(parts, ", ")
}
