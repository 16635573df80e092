package console

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/entrasync/entrasync/cmd/entrasync/web/status"
	"github.com/entrasync/entrasync/sync"
)

// tenantRow is a tenant as the overview shows it.
type tenantRow struct {
	ID string
	// State is active, paused, quarantined or disconnected; Reason says why
	// for quarantined.
	State    string
	Reason   string
	Schedule sync.Schedule
	LastRun  *sync.Run
	Pending  []sync.Run
}

// tenantState reads a tenant's state, last run and pending held runs.
func (c *Console) tenantState(ctx context.Context, t string, runs []sync.Run) (tenantRow, error) {
	row := tenantRow{ID: t, State: "active"}
	sc, err := c.store.Schedule(ctx, t)
	if err != nil && sync.ErrorCode(err) != sync.ENOTFOUND {
		return row, err
	}
	row.Schedule = sc
	rep, err := c.store.TenantSettings(ctx, t)
	if err != nil {
		return row, err
	}
	switch {
	case rep.DisconnectedAt != nil:
		row.State = "disconnected"
	case sc.Paused:
		row.State = "paused"
	case sc.Quarantined():
		row.State, row.Reason = "quarantined", sc.QuarantineReason
	}
	if len(runs) > 0 {
		row.LastRun = &runs[0]
	}
	for _, r := range runs {
		if r.Outcome == sync.OutcomeHeld && r.Review == "" {
			row.Pending = append(row.Pending, r)
		}
	}
	return row, nil
}

// overview is GET /: every tenant's state, last cycle, next due time,
// pending held runs and consecutive failures.
func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) error {
	var rows []tenantRow
	for _, t := range c.worker.Tenants() {
		runs, err := c.store.Runs(r.Context(), t, 50)
		if err != nil {
			return err
		}
		row, err := c.tenantState(r.Context(), t, runs)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	c.render(w, r, s, http.StatusOK, "overview", "Overview", rows)
	return nil
}

// tenantPage is GET /tenants/{tenant}: its runs over time with a chart of
// duration and changes, its settings, and the buttons to act.
func (c *Console) tenantPage(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.tenant(r)
	if err != nil {
		return err
	}
	runs, err := c.store.Runs(r.Context(), t, 60)
	if err != nil {
		return err
	}
	row, err := c.tenantState(r.Context(), t, runs)
	if err != nil {
		return err
	}
	settings, err := c.store.TenantSettings(r.Context(), t)
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "tenant", "Tenant "+t, map[string]any{
		"Tenant": row, "Runs": runs, "Chart": runChart(runs), "Settings": settingRows(settings), "SettingNames": sync.TenantSettingNames,
		"Result": r.URL.Query().Get("done")})
	return nil
}

// settingRow is one tenant setting: configured, overridden, effective.
type settingRow struct{ Name, Effective, Override string }

func settingRows(rep sync.TenantSettingsReport) []settingRow {
	eff := map[string]string{
		sync.SettingAutoInvite: strconv.FormatBool(rep.Effective.AutoInvite), sync.SettingEmailSource: string(rep.Effective.EmailSource),
		sync.SettingMembersMayStoreData: strconv.FormatBool(rep.Effective.MembersMayStoreData), sync.SettingRequireMobileAuth: strconv.FormatBool(rep.Effective.RequireMobileAuth),
		sync.SettingGroupRequireMobileAuth: strconv.FormatBool(rep.Effective.GroupRequireMobileAuth),
		sync.SettingArchiveThreshold:       strconv.Itoa(rep.Effective.ArchiveThreshold), sync.SettingArchiveThresholdPercent: strconv.Itoa(rep.Effective.ArchiveThresholdPercent),
	}
	var out []settingRow
	for _, n := range sync.TenantSettingNames {
		out = append(out, settingRow{Name: n, Effective: eff[n], Override: strings.Trim(string(rep.Overrides[n]), `"`)})
	}
	return out
}

// cycle is POST /tenants/{tenant}/cycle: a full cycle now, or with dry=1
// its plan only; the page of its run follows.
func (c *Console) cycle(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.tenant(r)
	if err != nil {
		return err
	}
	dry := r.PostForm.Get("dry") == "1"
	res, err := sync.Owned(r.Context(), c.worker, func(ctx context.Context) (*sync.Result, error) {
		return c.worker.RunNow(ctx, t, sync.CycleOptions{DryRun: dry, Trigger: "console"})
	})
	detail := "ok"
	if dry {
		detail = "dry run"
	}
	if err != nil {
		detail = "failed: " + err.Error()
	}
	c.record(r, s, sync.AdminAction{Action: sync.ActionCycleTenant, TenantID: t, Detail: detail})
	if dry && err == nil {
		c.render(w, r, s, http.StatusOK, "plan", "Dry run of "+t, map[string]any{"Tenant": t, "Plan": res.Plan})
		return nil
	}
	if res != nil && res.Run != nil && res.Run.ID > 0 {
		return back(w, r, fmt.Sprintf("/runs/%d", res.Run.ID))
	}
	return err
}

// pause is POST /tenants/{tenant}/pause and …/resume (C8).
func (c *Console) pause(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.tenant(r)
	if err != nil {
		return err
	}
	paused := strings.HasSuffix(r.URL.Path, "/pause")
	if err := c.store.SetPaused(r.Context(), t, paused); err != nil {
		return err
	}
	action := sync.ActionResumeTenant
	if paused {
		action = sync.ActionPauseTenant
	}
	c.record(r, s, sync.AdminAction{Action: action, TenantID: t, Detail: "ok"})
	return back(w, r, "/tenants/"+url.PathEscape(t))
}

// tenantSetting is POST /tenants/{tenant}/settings: set or clear (empty
// value) one tenant-level override.
func (c *Console) tenantSetting(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.tenant(r)
	if err != nil {
		return err
	}
	ch := sync.SettingChange{Name: r.PostForm.Get("name"), Value: strings.TrimSpace(r.PostForm.Get("value"))}
	if _, err := c.store.SetTenantSetting(r.Context(), t, ch); err != nil {
		return err
	}
	c.record(r, s, sync.AdminAction{Action: sync.ActionSetSetting, TenantID: t, Target: "tenant", Detail: settingDetail(ch)})
	return back(w, r, "/tenants/"+url.PathEscape(t))
}

func settingDetail(changes ...sync.SettingChange) string {
	var parts []string
	for _, ch := range changes {
		v := ch.Value
		if v == "" {
			v = "(default)"
		}
		parts = append(parts, ch.Name+"="+v)
	}
	return strings.Join(parts, " ")
}

// runParam reads the {id} of the path and the run's page of log q selects;
// 404 for no run or a run of a tenant the worker does not serve.
func (c *Console) runParam(r *http.Request, q sync.LogQuery) (sync.LogPage, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return sync.LogPage{}, notFound("no run %q", sync.Printable(r.PathValue("id")))
	}
	page, err := c.store.RunLog(r.Context(), id, q)
	if err != nil {
		return page, err
	}
	if _, ok := c.worker.Tenant(page.Run.TenantID); !ok {
		return page, notFound("no run %d", id)
	}
	return page, nil
}

// runPage is GET /runs/{id}: the provisioning log, filtered by action,
// status, entity and text, a page at a time (paged in the store's query).
func (c *Console) runPage(w http.ResponseWriter, r *http.Request, s *session) error {
	q, err := sync.ParseLogQuery(r.URL.Query().Get)
	if err != nil {
		return err
	}
	page, err := c.runParam(r, q)
	if err != nil {
		return err
	}
	link := func(offset int) string {
		v := url.Values{}
		for k, x := range map[string]string{"action": string(q.Action), "status": q.Status, "entity": string(q.Entity), "q": q.Text} {
			if x != "" {
				v.Set(k, x)
			}
		}
		if offset > 0 {
			v.Set("offset", strconv.Itoa(offset))
		}
		if q.Limit > 0 {
			v.Set("limit", strconv.Itoa(q.Limit))
		}
		if len(v) == 0 {
			return fmt.Sprintf("/runs/%d", page.Run.ID)
		}
		return fmt.Sprintf("/runs/%d?%s", page.Run.ID, v.Encode())
	}
	data := map[string]any{"Run": page.Run, "Page": page, "Query": q, "Actions": sync.Actions, "Statuses": sync.LogStatuses, "Entities": sync.Entities,
		"From": min(page.Offset+1, page.Total), "To": page.Offset + len(page.Entries),
		"Pending": page.Run.Outcome == sync.OutcomeHeld && page.Run.Review == ""}
	if page.Offset > 0 {
		data["Prev"] = link(max(page.Offset-page.Limit, 0))
	}
	if page.Offset+len(page.Entries) < page.Total {
		data["Next"] = link(page.Offset + page.Limit)
	}
	c.render(w, r, s, http.StatusOK, "run", fmt.Sprintf("Run %d", page.Run.ID), data)
	return nil
}

// heldCounts counts what a held run holds: users whose archive approving
// lets through, membership removals, all held changes.
func (c *Console) heldCounts(r *http.Request) (page sync.LogPage, held heldCount, err error) {
	page, err = c.runParam(r, sync.LogQuery{Status: sync.LogHeld, Limit: sync.MaxLogPage})
	if err != nil {
		return page, held, err
	}
	for _, q := range []struct {
		n      *int
		entity sync.Entity
		action sync.Action
	}{{&held.Users, sync.EntityUser, sync.ActionArchive}, {&held.Groups, sync.EntityGroup, sync.ActionArchive},
		{&held.Memberships, sync.EntityMembership, ""}} {
		p, err := c.store.RunLog(r.Context(), page.Run.ID, sync.LogQuery{Status: sync.LogHeld, Entity: q.entity, Action: q.action, Limit: 1})
		if err != nil {
			return page, held, err
		}
		*q.n = p.Total
	}
	held.Total = page.Total
	return page, held, nil
}

// heldCount is what a held run holds: user and group archives, membership
// removals, and all of them.
type heldCount struct{ Users, Groups, Memberships, Total int }

// reviewPage is GET /runs/{id}/review: what the held run holds, and the
// approve and reject buttons that say how many users they affect.
func (c *Console) reviewPage(w http.ResponseWriter, r *http.Request, s *session) error {
	page, held, err := c.heldCounts(r)
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "review", fmt.Sprintf("Review run %d", page.Run.ID), map[string]any{
		"Run": page.Run, "Page": page, "Held": held,
		"Pending": page.Run.Outcome == sync.OutcomeHeld && page.Run.Review == ""})
	return nil
}

// review is POST /runs/{id}/approve and …/reject (C6). The form names the
// number of held changes its page stated; when the run holds another number
// now the review is refused (409), so nobody approves what they did not see.
func (c *Console) review(w http.ResponseWriter, r *http.Request, s *session) error {
	page, held, err := c.heldCounts(r)
	if err != nil {
		return err
	}
	if r.PostForm.Get("confirm") != strconv.Itoa(held.Total) {
		return status.Errorf(http.StatusConflict, "the run holds %d changes, not the %q the form confirmed: review it again", held.Total, sync.Printable(r.PostForm.Get("confirm")))
	}
	id := page.Run.ID
	a := sync.AdminAction{TenantID: page.Run.TenantID, Target: fmt.Sprintf("run %d", id)}
	if strings.HasSuffix(r.URL.Path, "/reject") {
		a.Action = sync.ActionRejectRun
		if _, err := c.store.ReviewRun(sync.WithActor(r.Context(), "console:"+s.Label), id, sync.ReviewRejected); err != nil {
			return err
		}
		a.Detail = fmt.Sprintf("%d held changes dropped (%d user archives, %d group archives, %d membership removals)",
			held.Total, held.Users, held.Groups, held.Memberships)
		c.record(r, s, a)
		return back(w, r, fmt.Sprintf("/runs/%d", id))
	}
	a.Action = sync.ActionApproveRun
	res, err := sync.Owned(r.Context(), c.worker, func(ctx context.Context) (*sync.Result, error) {
		return c.worker.ApproveRun(sync.WithActor(ctx, "console:"+s.Label), id)
	})
	if err != nil {
		a.Detail = "failed: " + err.Error()
		c.record(r, s, a)
		return err
	}
	a.Detail = fmt.Sprintf("%d user archives applied in run %d (of %d held changes)", held.Users, res.Run.ID, held.Total)
	c.record(r, s, a)
	return back(w, r, fmt.Sprintf("/runs/%d", res.Run.ID))
}

// provisionPage is GET /tenants/{tenant}/provision: the form.
func (c *Console) provisionPage(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.tenant(r)
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "provision", "Provision on demand", map[string]any{"Tenant": t, "Kind": sync.KindUser})
	return nil
}

// provision is POST /tenants/{tenant}/provision: provision on demand (C2) of
// a user (object id, UPN) or group (object id, name), mode dry (the steps
// only) or apply; the steps are shown, and after a dry run the button to
// apply.
func (c *Console) provision(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.tenant(r)
	if err != nil {
		return err
	}
	kind, query, dry := r.PostForm.Get("kind"), strings.TrimSpace(r.PostForm.Get("query")), r.PostForm.Get("mode") != "apply"
	if kind != sync.KindUser && kind != sync.KindGroup {
		return badRequest("kind must be user or group")
	}
	if query == "" || len(query) > 256 {
		return badRequest("give an object id, a UPN or a display name (at most 256 characters)")
	}
	od, err := sync.Owned(r.Context(), c.worker, func(ctx context.Context) (*sync.OnDemand, error) {
		return c.worker.Provision(ctx, t, kind, query, sync.CycleOptions{DryRun: dry, Trigger: "console"})
	})
	a := sync.AdminAction{Action: sync.ActionProvision, TenantID: t, Target: kind + " " + sync.Printable(query), Detail: "applied"}
	if dry {
		a.Detail = "dry run"
	}
	if err != nil {
		a.Detail += ", failed: " + err.Error()
	}
	c.record(r, s, a)
	if err != nil && od == nil {
		return err
	}
	data := map[string]any{"Tenant": t, "Kind": kind, "Query": query, "Result": od, "DryRun": dry}
	status := http.StatusOK
	if err != nil {
		status, data["Error"] = http.StatusBadGateway, sync.Printable(err.Error())
	}
	c.render(w, r, s, status, "provision", "Provision on demand", data)
	return nil
}

// userRow is a user as the users page shows it: its paths by group name.
type userRow struct {
	sync.UserView
	PathNames []string
}

// usersPage is GET /tenants/{tenant}/users[?status=&q=]: the users with
// their assignment paths (by group name), effective settings and overrides.
func (c *Console) usersPage(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.tenant(r)
	if err != nil {
		return err
	}
	status := sync.Status(r.URL.Query().Get("status"))
	if status != "" && !status.Valid() {
		return badRequest("status must be staged, invited, active, archived or purged")
	}
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	q := sync.UserQuery{Status: status, Text: r.URL.Query().Get("q"), Offset: max(offset, 0), Limit: usersShown}
	page, err := sync.ListUsersPage(r.Context(), c.store, t, q) // filtered and paged in the directory's query
	if err != nil {
		return err
	}
	groups, err := c.store.Groups(r.Context(), t)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, g := range groups {
		names[g.EntraID] = g.DisplayName
	}
	rows := make([]userRow, 0, len(page.Users))
	for _, u := range page.Users {
		row := userRow{UserView: u}
		for _, p := range u.Paths {
			if gid, ok := strings.CutPrefix(p, "group:"); ok {
				p = "group " + cmp.Or(names[gid], gid)
			}
			row.PathNames = append(row.PathNames, p)
		}
		rows = append(rows, row)
	}
	link := func(offset int) string {
		v := url.Values{}
		if status != "" {
			v.Set("status", string(status))
		}
		if q.Text != "" {
			v.Set("q", q.Text)
		}
		if offset > 0 {
			v.Set("offset", strconv.Itoa(offset))
		}
		return "/tenants/" + url.PathEscape(t) + "/users?" + v.Encode()
	}
	data := map[string]any{"Tenant": t, "Users": rows, "Total": page.Total, "From": min(page.Offset+1, page.Total),
		"To": page.Offset + len(rows), "Status": status, "Q": q.Text,
		"Statuses": []sync.Status{sync.StatusStaged, sync.StatusInvited, sync.StatusActive, sync.StatusArchived, sync.StatusPurged}}
	if page.Offset > 0 {
		data["Prev"] = link(max(page.Offset-usersShown, 0))
	}
	if page.Offset+len(rows) < page.Total {
		data["Next"] = link(page.Offset + usersShown)
	}
	c.render(w, r, s, http.StatusOK, "users", "Users of "+t, data)
	return nil
}

// usersShown is how many users a page of the console lists.
const usersShown = 100

func matchAny(lowerQ string, fields ...string) bool {
	return slices.ContainsFunc(fields, func(f string) bool { return strings.Contains(strings.ToLower(f), lowerQ) })
}

// userSetting is POST /tenants/{tenant}/users/{id}/settings: the user's
// override of requireMobileAuth ("" clears it).
func (c *Console) userSetting(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.tenant(r)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return notFound("no user %q", sync.Printable(r.PathValue("id")))
	}
	ch := sync.SettingChange{Name: sync.SettingRequireMobileAuth, Value: r.PostForm.Get(sync.SettingRequireMobileAuth)}
	u, err := c.store.SetUserSetting(r.Context(), t, id, ch)
	if err != nil {
		return err
	}
	c.record(r, s, sync.AdminAction{Action: sync.ActionSetSetting, TenantID: t, Target: "user " + u.Email, Detail: settingDetail(ch)})
	return back(w, r, "/tenants/"+url.PathEscape(t)+"/users?q="+url.QueryEscape(u.Email))
}

// groupsPage is GET /tenants/{tenant}/groups[?q=]: the groups with their
// members, effective settings and overrides.
func (c *Console) groupsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.tenant(r)
	if err != nil {
		return err
	}
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	groups, err := sync.ListGroups(r.Context(), c.store, t)
	if err != nil {
		return err
	}
	var rows []sync.GroupView
	for _, g := range groups {
		if q == "" || matchAny(q, g.DisplayName, g.EntraID, strconv.FormatInt(g.ID, 10)) {
			rows = append(rows, g)
		}
	}
	c.render(w, r, s, http.StatusOK, "groups", "Groups of "+t, map[string]any{"Tenant": t, "Groups": rows, "Q": r.URL.Query().Get("q")})
	return nil
}

// groupSetting is POST /tenants/{tenant}/groups/{id}/settings: the group's
// overrides ("" clears one).
func (c *Console) groupSetting(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.tenant(r)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return notFound("no group %q", sync.Printable(r.PathValue("id")))
	}
	var changes []sync.SettingChange
	for _, n := range sync.GroupSettingNames {
		changes = append(changes, sync.SettingChange{Name: n, Value: r.PostForm.Get(n)})
	}
	g, err := c.store.SetGroupSetting(r.Context(), t, id, changes...)
	if err != nil {
		return err
	}
	c.record(r, s, sync.AdminAction{Action: sync.ActionSetSetting, TenantID: t, Target: "group " + g.DisplayName, Detail: settingDetail(changes...)})
	return back(w, r, "/tenants/"+url.PathEscape(t)+"/groups")
}

// eventsPage is GET /tenants/{tenant}/events[?after=ID]: the outbox in
// order, 100 at a time.
func (c *Console) eventsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.tenant(r)
	if err != nil {
		return err
	}
	var after int64
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return badRequest("after must be an event id")
		}
	}
	const pageSize = 100
	evs, err := c.store.Events(r.Context(), t, after, pageSize)
	if err != nil {
		return err
	}
	data := map[string]any{"Tenant": t, "Events": evs}
	if len(evs) == pageSize {
		data["Next"] = fmt.Sprintf("/tenants/%s/events?after=%d", url.PathEscape(t), evs[len(evs)-1].ID)
	}
	c.render(w, r, s, http.StatusOK, "events", "Events of "+t, data)
	return nil
}

// auditPage is GET /audit: what administrators did, newest first, with the
// label of each one's token.
func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *session) error {
	actions, err := c.store.AdminActions(r.Context(), "", 200)
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "audit", "Audit trail", actions)
	return nil
}

// sandboxPage is GET /sandbox (entrasync demo --serve only): the changes
// the simulated tenant takes.
func (c *Console) sandboxPage(w http.ResponseWriter, r *http.Request, s *session) error {
	if c.sandbox == nil {
		return notFound("no sandbox here: it is part of `entrasync demo --serve`")
	}
	c.render(w, r, s, http.StatusOK, "sandbox", "Sandbox", map[string]any{"Changes": c.sandbox.Changes(), "Done": r.URL.Query().Get("done")})
	return nil
}

// sandboxApply is POST /sandbox: make one change in the simulated tenant.
func (c *Console) sandboxApply(w http.ResponseWriter, r *http.Request, s *session) error {
	if c.sandbox == nil {
		return notFound("no sandbox here")
	}
	name, arg := r.PostForm.Get("change"), strings.TrimSpace(r.PostForm.Get("arg"))
	msg, err := c.sandbox.Apply(r.Context(), name, arg)
	if err != nil {
		return err
	}
	c.record(r, s, sync.AdminAction{Action: sync.ActionSandboxChanged, Target: name, Detail: msg})
	return back(w, r, "/sandbox?done="+url.QueryEscape(msg))
}
