package main

// `entrasync users list|invite|purge|set`. Users are found by what an
// administrator types (a local id, an e-mail or UPN, an Entra object id)
// through sync.Admin.

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/entrasync/entrasync/sync"
)

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

func (e *env) usersSet(args []string) error {
	return e.overrideSet("users set", "user (local id, e-mail or Entra object id)", userSettingFlags, args,
		func(s *adminSession, ref string, cs []sync.SettingChange, t sync.TenantSettings) (any, string, error) {
			u, err := s.admin.ResolveUser(e.ctx, s.tenant, ref)
			if err != nil {
				return nil, "", err
			}
			if u, err = s.admin.SetUserSetting(e.ctx, s.tenant, u.ID, cs...); err != nil {
				return nil, "", err
			}
			return sync.NewUserView(u, t), fmt.Sprintf("User %d (%s) of tenant %s: require mobile authentication %s\n",
				u.ID, dash(u.Email), s.tenant, settingPhrase(u.RequireMobileAuth, t.RequireMobileAuth, "user")), nil
		})
}

func (e *env) usersList(args []string) error {
	f := e.newFlags("users list", true)
	status := f.String("status", "", "only users with this status")
	if err := f.parse(args); err != nil {
		return err
	}
	if *status != "" && !sync.Status(*status).Valid() {
		return usagef("users list: unknown status %q (staged, invited, active, archived, purged)", *status)
	}
	db, tenant, err := e.listing(f)
	if err != nil {
		return err
	}
	defer db.Close()
	users, err := sync.ListUsers(e.ctx, db, tenant, sync.Status(*status))
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, users)
	}
	return printUsers(e.stdout, users, true, e.groupNames(db, tenant, nil), e.wide)
}
