package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/entrasync/entrasync/cmd/entrasync/web"
	"github.com/entrasync/entrasync/config"
	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/store/open"
	"github.com/entrasync/entrasync/sync"
)

// demoTenantID is the local name of the demo's tenant.
const demoTenantID = "demo"

// Object ids of the demo tenant (Entra object ids are GUIDs).
const (
	demoSP          = "5e0a1c2b-0000-4000-8000-000000000001"
	demoApp         = "5e0a1c2b-0000-4000-8000-0000000000a1"
	demoBot         = "5e0a1c2b-0000-4000-8000-000000000002"
	demoAlice       = "a11ce000-0000-4000-8000-000000000001"
	demoBob         = "b0b00000-0000-4000-8000-000000000002"
	demoCarol       = "ca401000-0000-4000-8000-000000000003"
	demoDave        = "da7e0000-0000-4000-8000-000000000004"
	demoErin        = "e4140000-0000-4000-8000-000000000005"
	demoFrank       = "f4a4c000-0000-4000-8000-000000000006"
	demoGrace       = "94ace000-0000-4000-8000-000000000007"
	demoHeidi       = "4e1d1000-0000-4000-8000-000000000008"
	demoEngineering = "e4900000-0000-4000-8000-0000000000e1"
	demoSales       = "5a1e5000-0000-4000-8000-0000000000e2"
	demoContractors = "c0470000-0000-4000-8000-0000000000e3"
	demoAllCompany  = "a11c0000-0000-4000-8000-0000000000e4"
	demoNewsletter  = "4e750000-0000-4000-8000-0000000000e5"
)

// demoTenant is a small tenant with every case a cycle handles: direct users,
// groups with overlap, a nested group, a Microsoft 365 group, a distribution
// group, a disabled user, a user without mail and a service principal.
func demoTenant() *graphtest.Tenant {
	u := func(id, upn, mail, given, surname string, enabled bool) graphtest.User {
		return graphtest.User{ID: id, UserPrincipalName: upn, Mail: mail, GivenName: given, Surname: surname,
			DisplayName: given + " " + surname, AccountEnabled: enabled}
	}
	return &graphtest.Tenant{
		TenantID: "0d3e1a2b-0000-4000-8000-00000000d3e0", ClientID: "c11e4700-0000-4000-8000-0000000000c1",
		ClientSecret: "demo-secret-not-real",
		Application:  graphtest.ServicePrincipal{ID: demoSP, AppID: demoApp, DisplayName: "Password Manager"},
		Users: []graphtest.User{
			u(demoAlice, "alice@contoso.test", "alice@contoso.test", "Alice", "Adams", true),
			u(demoBob, "bob@contoso.test", "bob@contoso.test", "Bob", "Brown", true),
			u(demoCarol, "carol@contoso.test", "carol@contoso.test", "Carol", "Clark", true),
			u(demoDave, "dave@contoso.test", "dave@contoso.test", "Dave", "Davis", true),
			u(demoErin, "erin@contoso.test", "erin@contoso.test", "Erin", "Evans", true),
			u(demoFrank, "frank@contoso.test", "frank@contoso.test", "Frank", "Ford", false),
			u(demoGrace, "grace@contoso.test", "grace@contoso.test", "Grace", "Green", true),
			u(demoHeidi, "heidi@contoso.test", "", "Heidi", "Hill", true),
		},
		Groups: []graphtest.Group{
			{ID: demoEngineering, DisplayName: "Engineering", SecurityEnabled: true, Members: []string{demoBob, demoCarol, demoContractors}},
			{ID: demoSales, DisplayName: "Sales", SecurityEnabled: true, Members: []string{demoCarol, demoDave}},
			{ID: demoContractors, DisplayName: "Contractors", SecurityEnabled: true, Members: []string{demoErin}},
			{ID: demoAllCompany, DisplayName: "All Company", SecurityEnabled: false, MailEnabled: true, GroupTypes: []string{"Unified"}, Members: []string{demoGrace}},
			{ID: demoNewsletter, DisplayName: "Newsletter", MailEnabled: true, Members: []string{demoGrace}},
		},
		ServicePrincipals: []graphtest.ServicePrincipal{{ID: demoBot, AppID: "b0700000-0000-4000-8000-0000000000b1", DisplayName: "Build Robot"}},
		Assignments: []graphtest.Assignment{
			{PrincipalID: demoAlice}, {PrincipalID: demoBob}, {PrincipalID: demoFrank}, {PrincipalID: demoHeidi},
			{PrincipalID: demoEngineering}, {PrincipalID: demoSales}, {PrincipalID: demoAllCompany},
			{PrincipalID: demoNewsletter}, {PrincipalID: demoBot},
		},
	}
}

// demoChanges are the steps between the demo's cycles.
var demoChanges = []struct {
	title string
	apply func(s *graphtest.Server)
}{
	{
		title: "In Entra: Alice is unassigned, Dave is disabled, Carol leaves Engineering (she stays in Sales),\n" +
			"Sales is renamed to \"Sales EMEA\", Bob's e-mail changes.",
		apply: func(s *graphtest.Server) {
			s.Unassign(demoAlice)
			s.RemoveMember(demoEngineering, demoCarol)
			s.Update(func(t *graphtest.Tenant) {
				for i := range t.Users {
					switch t.Users[i].ID {
					case demoDave:
						t.Users[i].AccountEnabled = false
					case demoBob:
						t.Users[i].Mail = "robert.brown@contoso.test"
					}
				}
				for i := range t.Groups {
					if t.Groups[i].ID == demoSales {
						t.Groups[i].DisplayName = "Sales EMEA"
					}
				}
			})
		},
	},
	{
		title: "In Entra: Alice is assigned again.",
		apply: func(s *graphtest.Server) { s.Assign(demoAlice) },
	},
}

func (e *env) demo(args []string) error {
	if len(args) > 0 && args[0] == "change" {
		return e.demoChange(args[1:])
	}
	f := e.newFlags("demo", false)
	serve := f.Bool("serve", false, "keep the simulated tenant up and serve the worker, API and console on --listen (the sandbox)")
	listen := f.String("listen", "127.0.0.1:8080", "the sandbox's address, with --serve")
	if err := f.parse(args); err != nil {
		return err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	if e.getenv("ENTRASYNC_LOG_LEVEL") == "" {
		e.logger = newLogger(config.Log{Format: cfg.Log.Format, Level: "warn"}, e.stderr) // the demo prints its own story
	}
	dbURL := cfg.Database.Reveal()
	if dbURL == "" {
		// The embedded default: a fresh SQLite file next to the default
		// database, so the demo never touches real data.
		dbURL = filepath.Join(filepath.Dir(store.DefaultSQLitePath(e.getenv)), "demo.db")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(dbURL + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("demo: reset %s: %w", dbURL, err)
			}
		}
	}
	say := func(format string, args ...any) {
		if !f.json {
			fmt.Fprintf(e.stdout, format, args...)
		}
	}
	tenant := demoTenant()
	if *serve {
		tenant = sandboxTenant()
	}
	srv := graphtest.NewServer(tenant)
	defer srv.Close()
	t := srv.Tenant()
	say("Simulated Entra tenant at %s: %d users, %d groups, %d assignments (enterprise app %q).\n",
		srv.URL(), len(t.Users), len(t.Groups), len(t.Assignments), t.Application.DisplayName)

	db, err := open.URL(e.ctx, dbURL, e.logger)
	if err != nil {
		return err
	}
	defer db.Close()
	say("Local directory: %s (%s).\n\n", db.Backend(), displayDB(dbURL))
	settings := sync.DefaultTenantSettings()
	if err := db.RegisterTenant(e.ctx, sync.Tenant{ID: demoTenantID, EntraTenantID: t.TenantID, Settings: settings}); err != nil {
		return err
	}
	var m *web.Metrics
	if *serve {
		m = web.NewMetrics()
		m.BuildInfo(version)
		m.WatchTenants(db)
	}
	src, err := e.demoSource(srv, m)
	if err != nil {
		return err
	}
	if *serve {
		return e.demoServe(*listen, srv, db, m, src)
	}
	syncer := sync.NewSyncer(db, e.logger)
	var results []*sync.Result
	for i := 0; i <= len(demoChanges); i++ {
		if i > 0 {
			say("%s\n\n", demoChanges[i-1].title)
			demoChanges[i-1].apply(srv)
		}
		say("=== Cycle %d ===\n", i+1)
		res, err := syncer.Cycle(e.ctx, demoTenantID, src, sync.CycleOptions{Trigger: "demo"})
		if err != nil {
			return err
		}
		results = append(results, res)
		if !f.json {
			if err := printResult(namedWriter{e.stdout, e.groupNames(db, demoTenantID, res.Plan)}, res, e.color); err != nil {
				return err
			}
		}
	}
	users, err := db.Users(e.ctx, demoTenantID, "")
	if err != nil {
		return err
	}
	groups, err := db.Groups(e.ctx, demoTenantID)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, struct {
			Cycles []resultJSON `json:"cycles"`
			Users  []sync.User  `json:"users"`
			Groups []sync.Group `json:"groups"`
		}{resultsJSON(results), users, groups})
	}
	say("=== The local directory now ===\n")
	if err := printUsers(e.stdout, sync.UserViews(users, settings), false, e.groupNames(db, demoTenantID, nil), false); err != nil {
		return err
	}
	say("\n")
	if err := printGroups(e.stdout, sync.GroupViews(groups, settings), false, false); err != nil {
		return err
	}
	say("\nTry next:\n")
	say("  entrasync --database '%s' runs list\n", displayDB(dbURL))
	say("  entrasync --database '%s' runs show %d\n", displayDB(dbURL), results[0].Run.ID)
	say("  entrasync --database '%s' users list --tenant demo --status archived\n", displayDB(dbURL))
	say("  Point it at a real tenant: see \"Connect a real tenant\" in README.md.\n")
	return nil
}
