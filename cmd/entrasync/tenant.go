package main

// `entrasync tenant pause|resume|status|settings|set|disconnect|reconnect`.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/entrasync/entrasync/config"
	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

// tenantAdmin is `entrasync tenant settings|set|disconnect|reconnect NAME`.
func (e *env) tenantAdmin(verb string, args []string) error {
	f := e.newFlags("tenant "+verb, true)
	var changes func() ([]sync.SettingChange, error)
	var dry *bool
	var rf registryFlags
	switch verb {
	case "set":
		changes = defineSettingFlags(f, tenantSettingFlags)
		rf = defineRegistryFlags(f.FlagSet) // registry.go
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
	regSet := verb == "set" && rf.given(f.FlagSet)
	if regSet && !settingGiven(f.FlagSet, tenantSettingFlags) {
		changes = nil // registry flags only
	}
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
	if regSet {
		cfg, err := e.loadConfig()
		if err != nil {
			return err
		}
		r, err := e.setRegistered(cfg, s.db, s.tenant, f.FlagSet, rf)
		if err != nil {
			return err
		}
		if cs == nil {
			if f.json {
				return writeJSON(e.stdout, r)
			}
			_, err = fmt.Fprintf(e.stdout, "Tenant %s changed in the registry (version %d): every worker picks it up within one poll.\n", r.Name, r.Version)
			return err
		}
	}
	switch verb {
	case "settings", "set":
		var rep sync.TenantSettingsReport
		if verb == "set" {
			if rep, err = s.admin.SetTenantSetting(e.ctx, s.tenant, cs...); err == nil {
				e.audit(s.db, sync.AdminAction{Action: sync.ActionSetSetting, TenantID: s.tenant, Target: "tenant " + s.tenant, Detail: changesText(cs)})
			}
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

// tenantState is `entrasync tenant pause|resume|status NAME`. status reads
// the directory as it is; pause and resume register the configured tenants
// first. An unknown tenant is an error.
func (e *env) tenantState(verb string, args []string) error {
	f := e.newFlags("tenant "+verb, false)
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() > 1 || (f.NArg() == 0 && verb != "status") {
		return usagef("tenant %s: give one tenant name", verb)
	}
	var cfg *config.Config
	var db store.Store
	var err error
	if verb == "status" {
		cfg, db, err = e.configAndRead()
	} else {
		cfg, db, err = e.configAndStore()
	}
	if err != nil {
		return err
	}
	defer db.Close()
	names := tenantNames(cfg)
	if f.NArg() == 0 { // the file's, then the registry's
		regs, err := db.RegisteredTenants(e.ctx)
		if err != nil {
			return err
		}
		for _, r := range regs {
			if !slices.Contains(names, r.Name) {
				names = append(names, r.Name)
			}
		}
	}
	if f.NArg() == 1 {
		if err := e.knownTenant(cfg, db, f.Arg(0)); err != nil {
			return err
		}
		names = []string{f.Arg(0)}
	}
	if verb != "status" {
		if err := db.SetPaused(e.ctx, names[0], verb == "pause"); err != nil {
			return err
		}
		action := sync.ActionResumeTenant
		if verb == "pause" {
			action = sync.ActionPauseTenant
		}
		e.audit(db, sync.AdminAction{Action: action, TenantID: names[0], Target: "tenant " + names[0], Detail: "ok"})
	}
	out := make([]tenantStatus, 0, len(names))
	for _, n := range names {
		st, err := e.statusOf(db, n)
		if err != nil {
			return err
		}
		out = append(out, st)
	}
	if f.json {
		return writeJSON(e.stdout, out)
	}
	return printTenantStatus(e.stdout, out, e.wide)
}

// statusOf reads one tenant's state: schedule, quarantine, disconnection and
// the held runs awaiting review. A configured tenant the directory does not
// hold yet (never synced) has a zero schedule.
func (e *env) statusOf(db store.Store, name string) (tenantStatus, error) {
	sc, err := db.Schedule(e.ctx, name)
	if err != nil && !errors.Is(err, sync.ErrTenantNotFound) {
		return tenantStatus{}, err
	}
	st := tenantStatus{Tenant: name, Schedule: sc, Quarantined: sc.Quarantined(), HeldRuns: []int64{}}
	if rep, err := db.TenantSettings(e.ctx, name); err == nil {
		st.Disconnected = rep.DisconnectedAt != nil
	} else if !errors.Is(err, sync.ErrTenantNotFound) {
		return tenantStatus{}, err
	}
	runs, err := db.Runs(e.ctx, name, heldRunsLooked)
	if err != nil {
		return tenantStatus{}, err
	}
	for _, r := range runs {
		if r.Outcome == sync.OutcomeHeld && r.Review == "" {
			st.HeldRuns = append(st.HeldRuns, r.ID)
		}
	}
	ds, err := db.DeltaState(e.ctx, name)
	if err != nil {
		return tenantStatus{}, err
	}
	if ds != nil {
		st.Reads = &deltaStatus{Strategy: ds.Strategy, Note: ds.Note, TakenAt: ds.TakenAt, FullAt: ds.FullAt}
	}
	st.State = st.state()
	return st, nil
}

// deltaStatus is what tenant status says of a delta state: how the next
// cycle can read (its links are not shown).
type deltaStatus struct {
	Strategy string    `json:"strategy"`
	Note     string    `json:"note,omitempty"`
	TakenAt  time.Time `json:"takenAt"`
	FullAt   time.Time `json:"lastFullAt"`
}

// String is the READS cell: incremental (and which queries) or full.
func (d *deltaStatus) String() string {
	switch {
	case d == nil:
		return "full (no delta state yet)"
	case d.Strategy == "":
		return "full (" + d.Note + ")"
	}
	return fmt.Sprintf("incremental (%s), last full %s", d.Strategy, d.FullAt.Format(time.RFC3339))
}

// heldRunsLooked is how many recent runs tenant status looks through for
// held runs not yet reviewed.
const heldRunsLooked = 50

type tenantStatus struct {
	Tenant string `json:"tenant"`
	// State is one of active, paused, disconnected, quarantined, held.
	State        string        `json:"state"`
	Quarantined  bool          `json:"quarantined"`
	Disconnected bool          `json:"disconnected"`
	HeldRuns     []int64       `json:"heldRuns"`
	Schedule     sync.Schedule `json:"schedule"`
	// Reads is the delta state (behaviour.md C11), nil before the first cycle.
	Reads *deltaStatus `json:"reads,omitempty"`
}

// state is the word the status table leads with: what most needs an
// administrator comes first.
func (t tenantStatus) state() string {
	switch {
	case t.Disconnected:
		return "disconnected"
	case t.Schedule.Paused:
		return "paused"
	case t.Quarantined:
		return "quarantined"
	case len(t.HeldRuns) > 0:
		return "held"
	}
	return "active"
}

func printTenantStatus(w io.Writer, ts []tenantStatus, wide bool) error {
	rows := make([][]string, 0, len(ts))
	for _, t := range ts {
		var notes []string
		switch t.State {
		case "disconnected":
			notes = append(notes, "cycles refused until: entrasync tenant reconnect "+t.Tenant)
		case "paused":
			notes = append(notes, "no scheduled cycles until: entrasync tenant resume "+t.Tenant)
		case "quarantined":
			notes = append(notes, fmt.Sprintf("%d failures in a row: %s", t.Schedule.Failures, t.Schedule.QuarantineReason))
		}
		if t.State != "quarantined" && t.Schedule.Failures > 0 {
			notes = append(notes, "last cycle failed: "+t.Schedule.LastError)
		}
		for _, id := range t.HeldRuns {
			notes = append(notes, fmt.Sprintf("run %d holds changes for review: entrasync runs approve %d (or reject)", id, id))
		}
		next := "-"
		if !t.Schedule.NextDue.IsZero() {
			next = t.Schedule.NextDue.Format(time.RFC3339)
		}
		rows = append(rows, []string{t.Tenant, t.State, next, cell(t.Schedule.LeaseHolder, 40, wide), cell(t.Reads.String(), 70, wide),
			cell(strings.Join(notes, "; "), 100, wide)})
	}
	return table(w, "TENANT\tSTATE\tNEXT DUE\tRUNNING ON\tREADS\tNOTES", rows)
}
