package main

// `entrasync check`: test connection (SPEC §5). A checklist, one line per
// check — configuration, database, and per tenant the token, the service
// principal and each Graph permission — with what was found and, for a
// failure, the fix. Secrets never reach the output.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/entrasync/entrasync/config"
	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/store/open"
)

// Outcomes of one check.
const (
	checkOK      = "ok"
	checkFailed  = "failed"
	checkSkipped = "skipped"
)

// The checks, in the order they print.
const (
	checkConfig     = "configuration"
	checkDatabase   = "database"
	checkToken      = "token"
	checkSP         = "service principal"
	permApplication = "Application.Read.All"
	permGroupMember = "GroupMember.Read.All"
	permUser        = "User.Read.All"
)

// assignmentScanPages bounds how many pages of appRoleAssignedTo the check
// reads looking for an assigned group and a directly assigned user.
const assignmentScanPages = 5

// checkItem is one line of the checklist.
type checkItem struct {
	Check  string `json:"check"`
	Tenant string `json:"tenant,omitempty"`
	Status string `json:"status"` // ok, failed, skipped
	Found  string `json:"found"`
	Fix    string `json:"fix,omitempty"`
}

// checklist collects the lines; every text is scrubbed of the secrets it
// knows, whatever a server echoed back.
type checklist struct {
	items   []checkItem
	secrets []string
}

func (c *checklist) add(tenant, check, status, found, fix string) {
	for _, s := range c.secrets {
		if len(s) >= 4 {
			found = strings.ReplaceAll(found, s, "[redacted]")
			fix = strings.ReplaceAll(fix, s, "[redacted]")
		}
	}
	c.items = append(c.items, checkItem{Check: check, Tenant: tenant, Status: status, Found: found, Fix: fix})
}

func (c *checklist) failed() int {
	n := 0
	for _, it := range c.items {
		if it.Status == checkFailed {
			n++
		}
	}
	return n
}

// check is `entrasync check [--tenant T] [--json]`.
func (e *env) check(args []string) error {
	f := e.newFlags("check", true)
	if err := f.parse(args); err != nil {
		return err
	}
	cl := &checklist{}
	err := e.runChecks(f.tenant, cl)
	if f.json {
		report := struct {
			OK     bool        `json:"ok"`
			Checks []checkItem `json:"checks"`
		}{err == nil && cl.failed() == 0, cl.items}
		if werr := writeJSON(e.stdout, report); werr != nil {
			return werr
		}
	} else if werr := printChecklist(e.stdout, cl.items, e.color); werr != nil {
		return werr
	}
	if err != nil {
		return err // the configuration: exit 2
	}
	if n := cl.failed(); n > 0 {
		return fmt.Errorf("check: %d of %d checks failed", n, len(cl.items))
	}
	return nil
}

// runChecks fills cl. It returns an error only for a configuration that
// cannot be used at all (exit 2); failed checks are in cl.
func (e *env) runChecks(tenant string, cl *checklist) error {
	where := "file " + e.configPath
	if e.configPath == "" {
		where = "no file: defaults and environment"
	}
	cfg, err := config.Load(e.configPath, e.getenv)
	if err != nil {
		cl.add("", checkConfig, checkFailed, err.Error(), "correct the file ("+where+")")
		return &usageError{err}
	}
	if e.databaseURL != "" {
		cfg.Database = config.Secret(e.databaseURL)
	}
	// The database URL prints without its password.
	if u, perr := url.Parse(cfg.Database.Reveal()); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			cl.secrets = append(cl.secrets, p)
		}
	}
	for _, t := range cfg.Tenants {
		cl.secrets = append(cl.secrets, t.ClientSecret.Reveal())
	}
	if err := cfg.Validate(); err != nil {
		fix := "correct it (" + where + ")"
		var fe *config.FieldError
		if errors.As(err, &fe) {
			fix = "correct " + fe.Field + " (" + where + ")"
		}
		cl.add("", checkConfig, checkFailed, strings.TrimPrefix(err.Error(), "config: "), fix)
		return err
	}
	tenants, err := pickTenants(cfg, tenant)
	if err != nil {
		cl.add("", checkConfig, checkFailed, err.Error(), "add the tenant under tenants: ("+where+"), or pass --tenant with a configured name")
		return err
	}
	e.logger = newLogger(cfg.Log, e.stderr)
	names := make([]string, len(tenants))
	for i, t := range tenants {
		names[i] = t.Name
	}
	cl.add("", checkConfig, checkOK, fmt.Sprintf("valid (%s); tenant(s): %s", where, strings.Join(names, ", ")), "")
	e.checkDatabase(cfg, cl)
	for _, t := range tenants {
		e.checkTenant(cfg, t, cl)
	}
	return nil
}

// checkDatabase opens the store (which applies pending migrations) and
// reports the backend, where it is (no password) and the schema version.
func (e *env) checkDatabase(cfg *config.Config, cl *checklist) {
	raw := e.dbURL(cfg)
	backend, target, err := store.ParseURL(raw)
	if err != nil {
		cl.add("", checkDatabase, checkFailed, err.Error(), "set database: in the config file, ENTRASYNC_DATABASE_URL or --database to a postgres:// URL or a SQLite file")
		return
	}
	where := target
	if backend == store.BackendPostgres {
		where = redactedDB(target)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	// Opening applies pending migrations, which the checklist reports.
	db, err := open.URL(ctx, raw, nil)
	if err != nil {
		fix := "check that PostgreSQL runs and accepts this user from here; the URL comes from database: in the config file, ENTRASYNC_DATABASE_URL or --database"
		if backend == store.BackendSQLite {
			fix = "check that the file and its directory are writable by this user and no other program holds it"
		}
		cl.add("", checkDatabase, checkFailed, fmt.Sprintf("%s at %s: %v", backend, where, err), fix)
		return
	}
	defer db.Close()
	version, err := db.SchemaVersion(ctx)
	if version == "" && err == nil {
		version = "none"
	}
	if err != nil {
		cl.add("", checkDatabase, checkFailed, fmt.Sprintf("%s at %s: reachable, but the schema version cannot be read: %v", backend, where, err),
			"check the database user may read schema_migrations")
		return
	}
	now := ""
	if n := len(db.Migrated()); n > 0 {
		now = fmt.Sprintf("; %d pending migration(s) applied now", n)
	}
	cl.add("", checkDatabase, checkOK, fmt.Sprintf("%s at %s: reachable, migrated (schema %s%s)", backend, where, version, now), "")
}

// redactedDB returns a PostgreSQL URL without its password.
func redactedDB(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// checkTenant checks one tenant's credential, service principal and
// permissions, in that order; a check that cannot run because an earlier one
// failed is listed as not checked.
func (e *env) checkTenant(cfg *config.Config, t config.Tenant, cl *checklist) {
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute)
	defer cancel()
	rest := []string{checkSP, permApplication, permGroupMember, permUser}
	skipRest := func(from int, why string) {
		for _, c := range rest[from:] {
			cl.add(t.Name, c, checkSkipped, "not checked: "+why, "")
		}
	}

	base, err := transportOf(cfg.Graph.CAFile)
	if err != nil {
		cl.add(t.Name, checkToken, checkFailed, err.Error(), "set graph.ca_file to a readable PEM file of the certificates to trust")
		skipRest(0, "no token")
		return
	}
	if base == nil {
		base = http.DefaultTransport
	}
	graphURL, err := url.Parse(t.GraphEndpoint)
	if err != nil || graphURL.Host == "" {
		cl.add(t.Name, checkToken, checkFailed, fmt.Sprintf("graph endpoint %q is not a URL", t.GraphEndpoint), "correct graph.endpoint or the tenant's graph_endpoint")
		skipRest(0, "no token")
		return
	}
	graphBase := graphURL.Scheme + "://" + graphURL.Host
	scope := graphBase + "/.default"

	// The credential and Graph client exactly as the sync builds them, with
	// at most one retry of a throttled probe: a check answers now.
	src, err := graph.New(graph.Config{TenantID: t.TenantID, ClientID: t.ClientID, ClientSecret: t.ClientSecret.Reveal(),
		ServicePrincipalID: t.ServicePrincipalID, AppID: t.AppID, GraphEndpoint: t.GraphEndpoint, LoginEndpoint: t.LoginEndpoint,
		Transport: base, MaxRetries: 1, RetryDelay: time.Second, Timeout: cfg.Graph.Timeout}, nil)
	if err != nil {
		cl.add(t.Name, checkToken, checkFailed, "the credential cannot be built: "+err.Error(), "check tenant_id, client_id and login_endpoint")
		skipRest(0, "no token")
		return
	}
	cred := src.Credential()
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}}); err != nil {
		found, fix := tokenProblem(err, t)
		cl.add(t.Name, checkToken, checkFailed, found, fix)
		skipRest(0, "no token")
		return
	}
	cl.add(t.Name, checkToken, checkOK, fmt.Sprintf("obtained from %s/%s for client %s (scope %s)",
		strings.TrimSuffix(t.LoginEndpoint, "/"), t.TenantID, t.ClientID, scope), "")

	// The Graph client: the same authentication provider and middleware as
	// the sync, its valid hosts derived from the endpoint.
	client := src.Client()

	// The service principal, by object id or appId.
	spFields := []string{"id", "appId", "displayName"}
	var sp models.ServicePrincipalable
	what := "service_principal_id " + t.ServicePrincipalID
	if t.ServicePrincipalID != "" {
		sp, err = client.ServicePrincipals().ByServicePrincipalId(t.ServicePrincipalID).Get(ctx,
			&serviceprincipals.ServicePrincipalItemRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipals.ServicePrincipalItemRequestBuilderGetQueryParameters{Select: spFields}})
	} else {
		what = "app_id " + t.AppID
		appID := t.AppID
		sp, err = client.ServicePrincipalsWithAppId(&appID).Get(ctx,
			&serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: spFields}})
	}
	if err != nil {
		status, gp := graphProblem(err, graphBase)
		switch {
		case status == http.StatusNotFound && t.ServicePrincipalID != "":
			cl.add(t.Name, checkSP, checkFailed, "no enterprise application with that id in this tenant ("+what+")",
				"set service_principal_id to the Object ID under Enterprise applications → your app → Overview "+
					"(not the app registration's object id), or give app_id: the Application ID instead")
		case status == http.StatusNotFound:
			cl.add(t.Name, checkSP, checkFailed, "no enterprise application with that appId in this tenant ("+what+")",
				"check app_id: the Application ID of the application to provision; it needs an enterprise application (service principal) in this tenant")
		case isDenied(status):
			cl.add(t.Name, checkSP, checkFailed, permApplication+" is missing: "+gp, permissionFix(permApplication, t.ClientID))
		default:
			cl.add(t.Name, checkSP, checkFailed, gp, graphFix(status))
		}
		skipRest(1, "the service principal was not read")
		return
	}
	spID := deref(sp.GetId())
	cl.add(t.Name, checkSP, checkOK, fmt.Sprintf("%q (object id %s, appId %s)", clip(deref(sp.GetDisplayName()), 60), spID, deref(sp.GetAppId())), "")

	// Application.Read.All: read who is assigned; the first pages also name
	// a group and a user for the next probes.
	scan, err := scanAssignments(ctx, client, spID)
	if err != nil {
		status, gp := graphProblem(err, graphBase)
		if isDenied(status) {
			cl.add(t.Name, permApplication, checkFailed, "missing: "+gp, permissionFix(permApplication, t.ClientID))
		} else {
			cl.add(t.Name, permApplication, checkFailed, gp, graphFix(status))
		}
	} else {
		cl.add(t.Name, permApplication, checkOK, "appRoleAssignedTo read: "+scan.summary(), "")
	}

	// GroupMember.Read.All: the direct members of an assigned group.
	switch {
	case err != nil:
		cl.add(t.Name, permGroupMember, checkSkipped, "not checked: the assignments were not read", "")
	case scan.group == "":
		cl.add(t.Name, permGroupMember, checkSkipped, "not checked: no group assigned"+scan.within(), "")
	default:
		one := int32(1)
		_, gerr := client.Groups().ByGroupId(scan.group).Members().Get(ctx, &groups.ItemMembersRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &one}})
		label := fmt.Sprintf("group %q (%s)", clip(scan.groupName, 60), scan.group)
		status, gp := graphProblem(gerr, graphBase)
		switch {
		case gerr == nil:
			cl.add(t.Name, permGroupMember, checkOK, "members of "+label+" read", "")
		case status == http.StatusNotFound:
			cl.add(t.Name, permGroupMember, checkSkipped, "not checked: assigned "+label+" no longer exists", "")
		case isDenied(status):
			cl.add(t.Name, permGroupMember, checkFailed, "missing: reading the members of "+label+": "+gp, permissionFix(permGroupMember, t.ClientID))
		default:
			cl.add(t.Name, permGroupMember, checkFailed, "reading the members of "+label+": "+gp, graphFix(status))
		}
	}

	// User.Read.All: a directly assigned user, else the first user.
	var uerr error
	label := "the first page of /users"
	if err == nil && scan.user != "" {
		label = "directly assigned user " + scan.user
		_, uerr = client.Users().ByUserId(scan.user).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id"}}})
	}
	if status, _ := graphProblem(uerr, graphBase); err != nil || scan.user == "" || status == http.StatusNotFound {
		label = "the first page of /users"
		one := int32(1)
		_, uerr = client.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &one}})
	}
	status, gp := graphProblem(uerr, graphBase)
	switch {
	case uerr == nil:
		cl.add(t.Name, permUser, checkOK, label+" read", "")
	case isDenied(status):
		cl.add(t.Name, permUser, checkFailed, "missing: reading "+label+": "+gp, permissionFix(permUser, t.ClientID))
	default:
		cl.add(t.Name, permUser, checkFailed, "reading "+label+": "+gp, graphFix(status))
	}
}

// assignmentScan is what the first pages of appRoleAssignedTo showed.
type assignmentScan struct {
	pages, users, groups, sps, other int
	more                             bool   // pages were left unread
	group, groupName                 string // the first assigned group
	user                             string // the first directly assigned user
}

func (s *assignmentScan) summary() string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{s.users, "user"}, {s.groups, "group"}, {s.sps, "service principal"}, {s.other, "other principal"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s(s)", p.n, p.what))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "nobody is assigned")
	}
	return strings.Join(parts, ", ") + s.within()
}

func (s *assignmentScan) within() string {
	if s.more {
		return fmt.Sprintf(" in the first %d page(s)", s.pages)
	}
	return ""
}

// scanAssignments reads appRoleAssignedTo, 999 to a page, until it has seen
// an assigned group and a directly assigned user, or assignmentScanPages.
func scanAssignments(ctx context.Context, client *msgraph.GraphServiceClient, spID string) (*assignmentScan, error) {
	top := int32(999)
	rb := client.ServicePrincipals().ByServicePrincipalId(spID).AppRoleAssignedTo()
	resp, err := rb.Get(ctx, &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetQueryParameters{
			Select: []string{"principalId", "principalType", "principalDisplayName"}, Top: &top}})
	s := &assignmentScan{}
	for {
		if err != nil {
			return nil, err
		}
		s.pages++
		for _, a := range resp.GetValue() {
			id := ""
			if p := a.GetPrincipalId(); p != nil {
				id = p.String()
			}
			switch deref(a.GetPrincipalType()) {
			case "User":
				s.users++
				if s.user == "" {
					s.user = id
				}
			case "Group":
				s.groups++
				if s.group == "" {
					s.group, s.groupName = id, deref(a.GetPrincipalDisplayName())
				}
			case "ServicePrincipal":
				s.sps++
			default:
				s.other++
			}
		}
		next := deref(resp.GetOdataNextLink())
		if next == "" {
			return s, nil
		}
		if (s.group != "" && s.user != "") || s.pages >= assignmentScanPages {
			s.more = true
			return s, nil
		}
		resp, err = rb.WithUrl(next).Get(ctx, nil)
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func isDenied(status int) bool { return status == http.StatusForbidden }

// graphProblem describes a failed Graph request: its status (0 when there
// was no HTTP answer) and a line with Graph's code and message.
func graphProblem(err error, graphBase string) (int, string) {
	if err == nil {
		return 0, ""
	}
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		code, msg := "", ""
		if m := oe.GetErrorEscaped(); m != nil {
			code, msg = deref(m.GetCode()), deref(m.GetMessage())
		}
		line := fmt.Sprintf("HTTP %d %s", oe.ResponseStatusCode, code)
		if msg != "" {
			line += ": " + clip(msg, 200)
		}
		return oe.ResponseStatusCode, strings.TrimSpace(line)
	}
	var ae *azidentity.AuthenticationFailedError
	if errors.As(err, &ae) {
		return 0, "the token could not be renewed"
	}
	return 0, fmt.Sprintf("no answer from Graph at %s: %s", graphBase, clip(err.Error(), 200))
}

func graphFix(status int) string {
	switch {
	case status == 0:
		return "check the network path to Graph (proxy, firewall, graph.ca_file) and graph.endpoint"
	case status == http.StatusUnauthorized:
		return "Graph refused the token: the graph endpoint and the login endpoint must belong to the same cloud (graph.cloud)"
	case status == http.StatusTooManyRequests || status >= 500:
		return "Graph is throttling or unavailable: try again in a few minutes"
	}
	return "see Graph's message above"
}

func permissionFix(perm, clientID string) string {
	return fmt.Sprintf("add the Microsoft Graph application permission %s to entrasync's app registration (client id %s: "+
		"App registrations → API permissions → Add a permission → Microsoft Graph → Application permissions), then Grant admin consent", perm, clientID)
}

var aadstsRE = regexp.MustCompile(`AADSTS(\d+)`)

// tokenProblem explains a failed token request from the identity
// platform's AADSTS code, and says what to do. The answer's body never holds
// the secret; the checklist scrubs it anyway.
func tokenProblem(err error, t config.Tenant) (found, fix string) {
	var status int
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Codes       []int  `json:"error_codes"`
	}
	text := err.Error()
	var ae *azidentity.AuthenticationFailedError
	if errors.As(err, &ae) && ae.RawResponse != nil {
		status = ae.RawResponse.StatusCode
		if b, rerr := runtime.Payload(ae.RawResponse); rerr == nil {
			_ = json.Unmarshal(b, &body)
			text = string(b)
		}
	}
	code := 0
	if len(body.Codes) > 0 {
		code = body.Codes[0]
	} else if m := aadstsRE.FindStringSubmatch(text); m != nil {
		code, _ = strconv.Atoi(m[1])
	}
	secretFrom := "set " + t.SecretEnv()
	if t.ClientSecretFile != "" {
		secretFrom = "write it to " + t.ClientSecretFile
	}
	newSecret := "create a new one under Certificates & secrets (App registrations → client id " + t.ClientID + ") and " + secretFrom
	switch code {
	case 7000215:
		return "the client secret was rejected (AADSTS7000215: invalid client secret)", newSecret
	case 7000222:
		return "the client secret has expired (AADSTS7000222)", newSecret
	case 7000216:
		return "no client secret was sent (AADSTS7000216)", newSecret
	case 90002, 90023, 900023:
		return fmt.Sprintf("tenant %s was not found (AADSTS%d)", t.TenantID, code),
			"check tenant_id: the Directory (tenant) ID on the app registration's Overview page, and that the tenant is in the configured cloud (" + t.Cloud + ")"
	case 700016:
		return fmt.Sprintf("application (client) id %s was not found in tenant %s (AADSTS700016)", t.ClientID, t.TenantID),
			"check client_id: the Application (client) ID of entrasync's app registration in this tenant"
	case 7000112:
		return "entrasync's application is disabled (AADSTS7000112)", "enable the enterprise application of entrasync's registration (Properties → Enabled for users to sign in)"
	case 500011:
		return fmt.Sprintf("the Graph resource %s is unknown to this tenant (AADSTS500011)", t.GraphEndpoint),
			"the graph endpoint must be Microsoft Graph of the tenant's cloud: check graph.cloud and graph.endpoint"
	case 0:
		if status == 0 {
			return fmt.Sprintf("no answer from the login endpoint %s: %s", t.LoginEndpoint, firstLine(text)),
				"check the network path to the login endpoint (proxy, firewall, graph.ca_file) and graph.login_endpoint"
		}
		return fmt.Sprintf("the token request failed: HTTP %d %s", status, body.Error), "check tenant_id, client_id and the client secret"
	}
	desc := body.Description
	if desc == "" {
		desc = firstLine(text)
	}
	if i := strings.Index(desc, ". "); i > 0 {
		desc = desc[:i+1]
	}
	return fmt.Sprintf("the token request failed: %s", clip(desc, 200)),
		fmt.Sprintf("look up AADSTS%d (https://login.microsoftonline.com/error?code=%d); check tenant_id, client_id and the client secret", code, code)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return clip(s, 200)
}

// printChecklist prints one line per check, the fix under each failure,
// and a summary.
func printChecklist(w io.Writer, items []checkItem, color bool) error {
	width := 0
	for _, it := range items {
		width = max(width, len(it.Check))
	}
	lw := &lineWriter{w: w}
	tenant := ""
	failed := 0
	for _, it := range items {
		if it.Tenant != tenant {
			tenant = it.Tenant
			lw.printf("Tenant %s\n", tenant)
		}
		mark := "✓"
		switch it.Status {
		case checkFailed:
			mark = "✗"
			failed++
			if color {
				mark = "\x1b[31m✗\x1b[0m"
			}
		case checkSkipped:
			mark = "-"
		default:
			if color {
				mark = "\x1b[32m✓\x1b[0m"
			}
		}
		lw.printf(" %s %-*s  %s\n", mark, width, it.Check, it.Found)
		if it.Fix != "" {
			lw.printf("   %-*s  fix: %s\n", width, "", it.Fix)
		}
	}
	if failed == 0 {
		lw.printf("All checks passed.\n")
	} else {
		lw.printf("%d of %d checks failed.\n", failed, len(items))
	}
	return lw.err
}
