package main

// The tenant registry from the command line and the worker: `entrasync
// tenant add|list|remove` and the registry flags of `tenant set`; the
// worker's tenants re-read each poll (the file's tenants plus the
// registry's, the file winning a name both use); onboarding (which entries
// this configuration can serve, and the admin-consent URL).

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	gosync "sync"
	"time"

	"github.com/entrasync/entrasync/cmd/entrasync/web"
	"github.com/entrasync/entrasync/config"
	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/store/open"
	"github.com/entrasync/entrasync/sync"
)

// registryTenant is the registry's entry as a configured tenant: the
// configuration's defaults, endpoints and named credential filled in.
func registryTenant(cfg *config.Config, r sync.RegisteredTenant) config.Tenant {
	t := config.Tenant{Name: r.Name, TenantID: r.EntraTenantID, Credential: r.Credential, ClientID: r.ClientID,
		AppID: r.AppID, ServicePrincipalID: r.ServicePrincipalID, Schedule: r.Schedule}
	cfg.FillTenant(&t)
	return t
}

// onboarding is sync.Onboarding for one configuration.
type onboarding struct{ cfg *config.Config }

// Onboard refuses a name the configuration file uses (ECONFLICT) and an
// entry it cannot serve (EINVALID naming the field), and returns the
// admin-consent URL of the entry's tenant and client.
func (o onboarding) Onboard(r sync.RegisteredTenant) (string, error) {
	if _, err := o.cfg.Tenant(r.Name); err == nil {
		return "", sync.Errorf(sync.ECONFLICT, "tenant %q is configured in the configuration file, which wins over the registry: pick another name", r.Name)
	}
	t := registryTenant(o.cfg, r)
	if err := o.cfg.ValidateTenant(&t, "tenant "+r.Name); err != nil {
		return "", &sync.Error{Code: sync.EINVALID, Message: err.Error()}
	}
	if t.ClientID == "" {
		return "", nil // a system-assigned managed identity: no consent to ask for
	}
	return graph.ConsentURL(t.LoginEndpoint, t.GraphEndpoint, t.TenantID, t.ClientID), nil
}

// registrySources builds the worker's tenants from the file and the
// registry, keeping a tenant's Graph source (and its cached token) until
// its registry entry changes.
type registrySources struct {
	e     *env
	cfg   *config.Config
	reg   sync.Registry
	m     *web.Metrics
	only  string
	fixed []sync.WorkerTenant // the file's

	mu     gosync.Mutex
	cache  map[string]cachedTenant
	warned map[string]string // name -> problem last logged
}

type cachedTenant struct {
	version int64
	wt      sync.WorkerTenant
}

// withRegistry returns fixed plus the registry's tenants, and the refresh
// the worker calls each poll; fixed and no refresh when dir holds no
// registry.
func (e *env) withRegistry(cfg *config.Config, dir sync.Store, m *web.Metrics, only string, fixed []sync.WorkerTenant) ([]sync.WorkerTenant, func(context.Context) ([]sync.WorkerTenant, error)) {
	reg, ok := dir.(sync.Registry)
	if !ok {
		return fixed, nil
	}
	rs := &registrySources{e: e, cfg: cfg, reg: reg, m: m, only: only, fixed: fixed,
		cache: map[string]cachedTenant{}, warned: map[string]string{}}
	ts, err := rs.tenants(e.ctx)
	if err != nil {
		e.logger.Error("read the tenant registry", "err", err)
		ts = fixed
	}
	return ts, rs.tenants
}

// tenants is the worker's Refresh.
func (rs *registrySources) tenants(ctx context.Context) ([]sync.WorkerTenant, error) {
	regs, err := rs.reg.RegisteredTenants(ctx)
	if err != nil {
		return nil, err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := append([]sync.WorkerTenant(nil), rs.fixed...)
	seen := map[string]bool{}
	for _, r := range regs {
		seen[r.Name] = true
		if rs.only != "" && r.Name != rs.only {
			continue
		}
		if _, err := rs.cfg.Tenant(r.Name); err == nil {
			rs.warn(r.Name, "the configuration file names this tenant too; the file's wins")
			continue
		}
		if c, ok := rs.cache[r.Name]; ok && c.version == r.Version {
			out = append(out, c.wt)
			continue
		}
		wt, err := rs.build(r)
		if err != nil {
			rs.warn(r.Name, err.Error())
			continue
		}
		delete(rs.warned, r.Name)
		rs.cache[r.Name] = cachedTenant{version: r.Version, wt: wt}
		out = append(out, wt)
	}
	for name := range rs.cache {
		if !seen[name] {
			delete(rs.cache, name)
			rs.e.logger.Info("tenant removed from the registry", sync.LogTenant, name)
		}
	}
	return out, nil
}

// build makes the worker's tenant of registry entry r.
func (rs *registrySources) build(r sync.RegisteredTenant) (sync.WorkerTenant, error) {
	t := registryTenant(rs.cfg, r)
	if err := rs.cfg.ValidateTenant(&t, "registry tenant "+r.Name); err != nil {
		return sync.WorkerTenant{}, err
	}
	var observe func(string, int, time.Duration)
	if rs.m != nil {
		observe = rs.m.GraphObserver(t.Name)
	}
	src, err := sourceOf(rs.cfg, t, rs.e.logger, observe, nil)
	if err != nil {
		return sync.WorkerTenant{}, err
	}
	sched, err := t.ParsedSchedule()
	if err != nil {
		return sync.WorkerTenant{}, err
	}
	rs.e.logger.Info("serving tenant from the registry", sync.LogTenant, r.Name, "version", r.Version, "credential", r.Credential)
	every, _ := t.ParsedFullEvery() // validated with the entry
	return sync.WorkerTenant{ID: t.Name, Source: src, Schedule: sched, FullEvery: every}, nil
}

// warn logs a registry entry this process cannot serve, once per problem.
func (rs *registrySources) warn(name, problem string) {
	if rs.warned[name] == problem {
		return
	}
	rs.warned[name] = problem
	rs.e.logger.Warn("registry tenant not served by this process", sync.LogTenant, name, "problem", problem)
}

// registryFlags are the fields of a registry entry as flags.
type registryFlags struct {
	tenantID, appID, spID, credential, clientID, schedule *string
}

func defineRegistryFlags(f *flag.FlagSet) registryFlags {
	return registryFlags{
		tenantID:   f.String("tenant-id", "", "the customer's Entra directory (tenant) id or domain"),
		appID:      f.String("app-id", "", "the appId of the enterprise application whose assignments are read"),
		spID:       f.String("service-principal-id", "", "or its service principal's object id"),
		credential: f.String("credential", "", "the name of a credential of the configuration's credentials:"),
		clientID:   f.String("client-id", "", "a client id other than the credential's"),
		schedule:   f.String("schedule", "", "a cron expression or @every DURATION (default every 45 minutes)"),
	}
}

// given reports whether any registry flag was set on f.
func (rf registryFlags) given(f *flag.FlagSet) bool {
	any := false
	f.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "tenant-id", "app-id", "service-principal-id", "credential", "client-id", "schedule":
			any = true
		}
	})
	return any
}

// apply sets the given flags on r; setting one of app id and service
// principal id clears the other.
func (rf registryFlags) apply(f *flag.FlagSet, r *sync.RegisteredTenant) {
	f.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "tenant-id":
			r.EntraTenantID = *rf.tenantID
		case "app-id":
			r.AppID, r.ServicePrincipalID = *rf.appID, ""
		case "service-principal-id":
			r.ServicePrincipalID, r.AppID = *rf.spID, ""
		case "credential":
			r.Credential = *rf.credential
		case "client-id":
			r.ClientID = *rf.clientID
		case "schedule":
			r.Schedule = *rf.schedule
		}
	})
}

// tenantRegistry is `entrasync tenant add|remove|list`.
func (e *env) tenantRegistry(verb string, args []string) error {
	f := e.newFlags("tenant "+verb, false)
	var rf registryFlags
	if verb == "add" {
		rf = defineRegistryFlags(f.FlagSet)
	}
	if err := f.parse(args); err != nil {
		return err
	}
	if verb != "list" && f.NArg() != 1 {
		return usagef("tenant %s: give one tenant name", verb)
	}
	cfg, db, err := e.configAndStore()
	if err != nil {
		return err
	}
	defer db.Close()
	switch verb {
	case "add":
		r := sync.RegisteredTenant{Name: f.Arg(0)}
		rf.apply(f.FlagSet, &r)
		added, err := sync.AddTenant(e.ctx, db, db, onboarding{cfg}, r)
		if err != nil {
			return err
		}
		if f.json {
			return writeJSON(e.stdout, added)
		}
		return printAdded(e.stdout, added)
	case "remove":
		rm, err := sync.RemoveTenant(e.ctx, db, db, f.Arg(0))
		if err != nil {
			return err
		}
		if f.json {
			return writeJSON(e.stdout, rm)
		}
		kept := "its directory rows were deleted (nothing referred to them)"
		if !rm.Deleted {
			kept = fmt.Sprintf("its directory stays, disconnected: %d user(s) and %d group(s) are manual now, nobody archived",
				rm.Disconnect.UserCount, rm.Disconnect.GroupCount)
		}
		_, err = fmt.Fprintf(e.stdout, "Tenant %s removed from the registry: every worker stops syncing it within one poll; %s.\n", rm.Name, kept)
		return err
	default: // list
		regs, err := db.RegisteredTenants(e.ctx)
		if err != nil {
			return err
		}
		type row struct {
			Source string `json:"source"` // file or registry
			sync.RegisteredTenant
		}
		var out []row
		for _, t := range cfg.Tenants {
			out = append(out, row{"file", sync.RegisteredTenant{Name: t.Name, EntraTenantID: t.TenantID, Credential: t.Credential,
				ClientID: t.ClientID, AppID: t.AppID, ServicePrincipalID: t.ServicePrincipalID, Schedule: t.Schedule}})
		}
		for _, r := range regs {
			src := "registry"
			if _, err := cfg.Tenant(r.Name); err == nil {
				src = "registry (ignored: the file names it too)"
			}
			out = append(out, row{src, r})
		}
		if f.json {
			return writeJSON(e.stdout, nonNil(out))
		}
		rows := make([][]string, 0, len(out))
		for _, r := range out {
			app := r.AppID
			if app == "" {
				app = "sp " + r.ServicePrincipalID
			}
			rows = append(rows, []string{r.Name, r.Source, r.EntraTenantID, dash(r.Credential), app, dash(r.Schedule)})
		}
		return table(e.stdout, "TENANT\tFROM\tENTRA TENANT\tCREDENTIAL\tAPP\tSCHEDULE", rows)
	}
}

func printAdded(w io.Writer, a sync.AddedTenant) error {
	lw := &lineWriter{w: w}
	lw.printf("Tenant %s added to the registry (Entra tenant %s, credential %s): every worker picks it up within one poll.\n",
		a.Tenant.Name, a.Tenant.EntraTenantID, a.Tenant.Credential)
	if a.ConsentURL != "" {
		lw.printf("\nSend the customer's administrator this admin-consent URL; they sign in and accept:\n\n  %s\n\n", a.ConsentURL)
		lw.printf("Then `entrasync check --tenant %s` says whether consent was given and which permission is missing.\n", a.Tenant.Name)
	}
	return lw.err
}

// setRegistered applies the registry flags of `tenant set NAME` to the
// registry's entry name; ENOTFOUND when the registry has none.
func (e *env) setRegistered(cfg *config.Config, reg sync.Registry, name string, f *flag.FlagSet, rf registryFlags) (sync.RegisteredTenant, error) {
	regs, err := reg.RegisteredTenants(e.ctx)
	if err != nil {
		return sync.RegisteredTenant{}, err
	}
	for _, r := range regs {
		if r.Name != name {
			continue
		}
		rf.apply(f, &r)
		t := registryTenant(cfg, r)
		if err := cfg.ValidateTenant(&t, "tenant "+name); err != nil {
			return r, &sync.Error{Code: sync.EINVALID, Message: err.Error()}
		}
		return reg.UpdateRegisteredTenant(e.ctx, r)
	}
	if _, err := cfg.Tenant(name); err == nil {
		return sync.RegisteredTenant{}, usagef("tenant set: %s is configured in the configuration file: change it there (registry flags apply to registry tenants)", name)
	}
	return sync.RegisteredTenant{}, sync.Errorf(sync.ENOTFOUND, "registry: no tenant %q in the registry (add it with `entrasync tenant add`)", name)
}

// registeredTenant returns the registry's tenant name as configured, for
// commands that take a tenant the file does not name (check, sync).
func (e *env) registeredTenant(cfg *config.Config, reg sync.Registry, name string) (config.Tenant, error) {
	regs, err := reg.RegisteredTenants(e.ctx)
	if err != nil {
		return config.Tenant{}, err
	}
	for _, r := range regs {
		if r.Name == name {
			return registryTenant(cfg, r), nil
		}
	}
	return config.Tenant{}, fmt.Errorf("no tenant named %q in the configuration file or the registry", name)
}

// settingGiven reports whether one of flags was set on f.
func settingGiven(f *flag.FlagSet, flags []settingFlag) bool {
	given := false
	f.Visit(func(fl *flag.Flag) {
		for _, sf := range flags {
			given = given || sf.flag == fl.Name
		}
	})
	return given
}

// pickAnyTenants is pickTenants over the file's tenants and the
// registry's: the one named (the file's first), or all of them (the
// registry's that the file does not name after the file's).
func (e *env) pickAnyTenants(cfg *config.Config, name string) ([]config.Tenant, error) {
	fromFile, ferr := pickTenants(cfg, name)
	if ferr == nil && name != "" {
		return fromFile, nil
	}
	raw := e.dbURL(cfg)
	if backend, target, err := store.ParseURL(raw); err == nil && backend == store.BackendSQLite {
		if _, err := os.Stat(target); err != nil { // no file, no registry: do not create one to look
			return fromFile, ferr
		}
	}
	db, err := open.URL(e.ctx, raw, nil)
	if err != nil {
		if ferr == nil {
			return fromFile, nil // the database's own check or command says what is wrong with it
		}
		return nil, err
	}
	defer db.Close()
	if name != "" {
		t, err := e.registeredTenant(cfg, db, name)
		if err != nil {
			return nil, &usageError{err}
		}
		return []config.Tenant{t}, nil
	}
	regs, err := db.RegisteredTenants(e.ctx)
	if err != nil {
		return nil, err
	}
	out := fromFile
	for _, r := range regs {
		if _, err := cfg.Tenant(r.Name); err != nil {
			out = append(out, registryTenant(cfg, r))
		}
	}
	if len(out) == 0 {
		return nil, ferr
	}
	return out, nil
}
