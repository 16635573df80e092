package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// Probe tests the connection to one tenant, for `entrasync check`: whether
// entrasync obtains a token, finds its application's service principal and
// holds each Graph permission a sync needs, and which optional permissions
// or Graph features would make cycles cheaper (probe_optional.go). Each
// probe is one small request with the credential, authentication provider
// and middleware of the sync.

// The checks of a probe, in the order Probe reports them.
const (
	CheckToken            = "token"
	CheckServicePrincipal = "service principal"
	PermApplication       = "Application.Read.All" // the service principal and its assignments
	PermGroupMember       = "GroupMember.Read.All" // the direct members of assigned groups
	PermUser              = "User.Read.All"        // the directly assigned users

	// The optional checks: each says whether a feature that makes cycles
	// cheaper is served; none is required.
	CheckGroupsDelta     = "groups/delta"           // membership changes
	CheckAssignmentDelta = "directoryObjects/delta" // assignment changes
	CheckUsersDelta      = "users/delta"            // user changes
	CheckGetByIDs        = "getByIds"               // direct users 1,000 to a request (Directory.Read.All)
)

// optionalChecks are the optional checks, in the order Probe reports them.
var optionalChecks = []string{CheckGroupsDelta, CheckAssignmentDelta, CheckUsersDelta, CheckGetByIDs}

// CheckStatus is how one check came out.
type CheckStatus int

// The outcomes of a check.
const (
	CheckOK      CheckStatus = iota // it works
	CheckFailed                     // it does not; the check's Fix says what to do
	CheckSkipped                    // not checked: an earlier check failed, or there is nothing to check
	// CheckOptional: an optional feature is not available; the check's Fix
	// says what would make cycles cheaper. It never fails a probe.
	CheckOptional
)

// Check is one check of a probe: what was checked, how it came out, what
// was found and, for a failure, the fix.
type Check struct {
	Name   string      // CheckToken, CheckServicePrincipal or a permission (PermApplication …)
	Status CheckStatus // CheckOK, CheckFailed, CheckSkipped or CheckOptional
	// Found says what the check found; it quotes, shortened, what Graph and
	// the identity platform answered, which may hold control characters a
	// printer should replace.
	Found string
	Fix   string // for a failure, what to do; for CheckOptional, what would help; else ""
}

// ProbeHints words the fixes of a probe in terms of the configuration the
// Config came from.
type ProbeHints struct {
	// Cloud is the configured cloud ("public", "usgov" …), named when the
	// tenant is not found.
	Cloud string
	// SecretSource ends the fix of a rejected or expired client secret,
	// after "create a new one … and": how a new secret reaches entrasync
	// ("set ENTRASYNC_X_CLIENT_SECRET").
	SecretSource string
}

// assignmentScanPages bounds how many pages of appRoleAssignedTo a probe
// reads looking for an assigned group and a directly assigned user.
const assignmentScanPages = 5

// Probe checks, in order, the token, the service principal, the
// permissions PermApplication, PermGroupMember and PermUser of cfg's tenant
// and the optional checks (CheckGroupsDelta, CheckAssignmentDelta,
// CheckUsersDelta, CheckGetByIDs: CheckOK or CheckOptional, never
// CheckFailed), and returns one Check for each. A check that cannot run because an
// earlier one failed is CheckSkipped. A throttled request is retried once:
// a check answers now. Found and Fix name no secret of cfg, but Found may
// quote what a server answered.
func Probe(ctx context.Context, cfg Config, hints ProbeHints) []Check {
	if cfg.GraphEndpoint == "" {
		cfg.GraphEndpoint = DefaultGraphEndpoint
	}
	graphURL, err := url.Parse(cfg.GraphEndpoint)
	if err != nil || graphURL.Host == "" {
		return TokenFailed(fmt.Sprintf("graph endpoint %q is not a URL", cfg.GraphEndpoint), "correct graph.endpoint or the tenant's graph_endpoint")
	}
	cfg.MaxRetries, cfg.RetryDelay = 1, time.Second
	s, err := New(cfg, nil)
	if err != nil {
		return TokenFailed("the credential cannot be built: "+err.Error(),
			"correct the credential (client_id, certificate_file and its password, token_file) or the tenant's tenant_id and login_endpoint")
	}
	p := &prober{Source: s, hints: hints, graphBase: graphURL.Scheme + "://" + graphURL.Host}
	return p.run(ctx)
}

// TokenFailed is the outcome of a probe that obtained no token: the token
// check failed, with found and fix, and every later check skipped. Probe
// returns it; a caller that cannot even build a Config (a transport it
// cannot set up) reports it too.
func TokenFailed(found, fix string) []Check {
	checks := []Check{{Name: CheckToken, Status: CheckFailed, Found: found, Fix: fix}}
	return append(checks, skipped("no token", append([]string{CheckServicePrincipal, PermApplication, PermGroupMember, PermUser}, optionalChecks...)...)...)
}

func skipped(why string, names ...string) []Check {
	out := make([]Check, len(names))
	for i, n := range names {
		out[i] = Check{Name: n, Status: CheckSkipped, Found: "not checked: " + why}
	}
	return out
}

// prober runs the checks of one Probe.
type prober struct {
	*Source
	hints     ProbeHints
	graphBase string // scheme://host of the Graph endpoint
	checks    []Check
}

func (p *prober) add(name string, status CheckStatus, found, fix string) {
	p.checks = append(p.checks, Check{Name: name, Status: status, Found: found, Fix: fix})
}

func (p *prober) run(ctx context.Context) []Check {
	scope := p.graphBase + "/.default"
	if _, err := p.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}}); err != nil {
		return TokenFailed(p.tokenProblem(err))
	}
	p.add(CheckToken, CheckOK, fmt.Sprintf("obtained from %s/%s for client %s (scope %s)",
		strings.TrimSuffix(p.cfg.LoginEndpoint, "/"), p.cfg.TenantID, p.cfg.ClientID, scope), "")

	spID, ok := p.probeServicePrincipal(ctx)
	if !ok {
		p.checks = append(p.checks, skipped("the service principal was not read", append([]string{PermApplication, PermGroupMember, PermUser}, optionalChecks...)...)...)
		return p.checks
	}
	scan, err := p.scanAssignments(ctx, spID)
	if err != nil {
		status, gp := p.problem(err)
		p.failed(PermApplication, status, "", gp)
	} else {
		p.add(PermApplication, CheckOK, "appRoleAssignedTo read: "+scan.summary(), "")
	}
	p.probeGroupMembers(ctx, scan, err)
	p.probeUsers(ctx, scan, err)
	p.probeOptional(ctx, spID)
	return p.checks
}

// failed adds a failed check from a request's status and problem line:
// a 403 is the permission missing, anything else Graph's own answer.
func (p *prober) failed(name string, status int, doing, gp string) {
	if status == http.StatusForbidden {
		p.add(name, CheckFailed, "missing: "+doing+gp, permissionFix(name, p.cfg.ClientID))
		return
	}
	p.add(name, CheckFailed, doing+gp, graphFix(status))
}

// probeServicePrincipal reads the service principal by object id or appId
// and returns its object id; ok is false when it was not read.
func (p *prober) probeServicePrincipal(ctx context.Context) (id string, ok bool) {
	sp, err := p.getServicePrincipal(ctx)
	if err != nil {
		status, gp := p.problem(err)
		byID := p.cfg.ServicePrincipalID != ""
		switch {
		case status == http.StatusNotFound && byID:
			p.add(CheckServicePrincipal, CheckFailed, "no enterprise application with that id in this tenant (service_principal_id "+p.cfg.ServicePrincipalID+")",
				"set service_principal_id to the Object ID under Enterprise applications → your app → Overview "+
					"(not the app registration's object id), or give app_id: the Application ID instead")
		case status == http.StatusNotFound:
			p.add(CheckServicePrincipal, CheckFailed, "no enterprise application with that appId in this tenant (app_id "+p.cfg.AppID+")",
				"check app_id: the Application ID of the application to provision; it needs an enterprise application (service principal) in this tenant")
		case status == http.StatusForbidden:
			p.add(CheckServicePrincipal, CheckFailed, PermApplication+" is missing: "+gp, permissionFix(PermApplication, p.cfg.ClientID))
		default:
			p.add(CheckServicePrincipal, CheckFailed, gp, graphFix(status))
		}
		return "", false
	}
	id = str(sp.GetId())
	p.add(CheckServicePrincipal, CheckOK, fmt.Sprintf("%q (object id %s, appId %s)", cut(str(sp.GetDisplayName()), 60), id, str(sp.GetAppId())), "")
	return id, true
}

// probeGroupMembers reads one member of the first assigned group the scan
// found (scanErr: the scan failed).
func (p *prober) probeGroupMembers(ctx context.Context, scan *assignmentScan, scanErr error) {
	switch {
	case scanErr != nil:
		p.add(PermGroupMember, CheckSkipped, "not checked: the assignments were not read", "")
		return
	case scan.group == "":
		p.add(PermGroupMember, CheckSkipped, "not checked: no group assigned"+scan.within(), "")
		return
	}
	one := int32(1)
	_, err := p.groups().ByGroupId(scan.group).Members().Get(ctx, &groups.ItemMembersRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &one}})
	label := fmt.Sprintf("group %q (%s)", cut(scan.groupName, 60), scan.group)
	if err == nil {
		p.add(PermGroupMember, CheckOK, "members of "+label+" read", "")
		return
	}
	status, gp := p.problem(err)
	if status == http.StatusNotFound {
		p.add(PermGroupMember, CheckSkipped, "not checked: assigned "+label+" no longer exists", "")
		return
	}
	p.failed(PermGroupMember, status, "reading the members of "+label+": ", gp)
}

// probeUsers reads the first directly assigned user the scan found, or
// else (none, or it is gone) the first page of /users.
func (p *prober) probeUsers(ctx context.Context, scan *assignmentScan, scanErr error) {
	label := "the first page of /users"
	var err error
	list := true
	if scanErr == nil && scan.user != "" {
		label = "directly assigned user " + scan.user
		_, err = p.users().ByUserId(scan.user).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id"}}})
		list = isNotFound(err)
	}
	if list {
		label = "the first page of /users"
		one := int32(1)
		_, err = p.users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &one}})
	}
	if err == nil {
		p.add(PermUser, CheckOK, label+" read", "")
		return
	}
	status, gp := p.problem(err)
	p.failed(PermUser, status, "reading "+label+": ", gp)
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
// Errors are the SDK's.
func (p *prober) scanAssignments(ctx context.Context, spID string) (*assignmentScan, error) {
	top := int32(PageSize)
	rb := p.servicePrincipals().ByServicePrincipalId(spID).AppRoleAssignedTo()
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
			if pid := a.GetPrincipalId(); pid != nil {
				id = pid.String()
			}
			switch str(a.GetPrincipalType()) {
			case "User":
				s.users++
				if s.user == "" {
					s.user = id
				}
			case "Group":
				s.groups++
				if s.group == "" {
					s.group, s.groupName = id, str(a.GetPrincipalDisplayName())
				}
			case "ServicePrincipal":
				s.sps++
			default:
				s.other++
			}
		}
		next := str(resp.GetOdataNextLink())
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

// problem describes a failed probe request: its HTTP status (0 when there
// was no HTTP answer) and one line of what Graph said.
func (p *prober) problem(err error) (int, string) {
	if a, ok := answerOf(err); ok {
		line := fmt.Sprintf("HTTP %d %s", a.status, a.code)
		if a.message != "" {
			line += ": " + cut(a.message, 200)
		}
		return a.status, strings.TrimSpace(line)
	}
	var ae *azidentity.AuthenticationFailedError
	if errors.As(err, &ae) {
		return 0, "the token could not be renewed"
	}
	return 0, fmt.Sprintf("no answer from Graph at %s: %s", p.graphBase, cut(err.Error(), 200))
}

// graphFix is the fix for a failed request that is not a missing
// permission.
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
// the secret.
func (p *prober) tokenProblem(err error) (found, fix string) {
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
	c := p.cfg
	if found, fix, ok := credentialFix(c, code); ok {
		return found, fix
	}
	if found, fix, ok := managedIdentityProblem(err); ok && code == 0 {
		return found, fix
	}
	newSecret := "create a new one under Certificates & secrets (App registrations → client id " + c.ClientID + ") and " + p.hints.SecretSource
	switch code {
	case 7000215:
		return "the client secret was rejected (AADSTS7000215: invalid client secret)", newSecret
	case 7000222:
		return "the client secret has expired (AADSTS7000222)", newSecret
	case 7000216:
		return "no client secret was sent (AADSTS7000216)", newSecret
	case 90002, 90023, 900023:
		return fmt.Sprintf("tenant %s was not found (AADSTS%d)", c.TenantID, code),
			"check tenant_id: the Directory (tenant) ID on the app registration's Overview page, and that the tenant is in the configured cloud (" + p.hints.Cloud + ")"
	case 700016:
		return fmt.Sprintf("application (client) id %s was not found in tenant %s (AADSTS700016)", c.ClientID, c.TenantID),
			"check client_id: the Application (client) ID of entrasync's app registration in this tenant; " +
				"if it is a multi-tenant application and this a customer's tenant, consent has not been given: the tenant's administrator opens " +
				ConsentURL(c.LoginEndpoint, c.GraphEndpoint, c.TenantID, c.ClientID) + " and accepts"
	case 7000112:
		return "entrasync's application is disabled (AADSTS7000112)", "enable the enterprise application of entrasync's registration (Properties → Enabled for users to sign in)"
	case 500011:
		return fmt.Sprintf("the Graph resource %s is unknown to this tenant (AADSTS500011)", c.GraphEndpoint),
			"the graph endpoint must be Microsoft Graph of the tenant's cloud: check graph.cloud and graph.endpoint"
	case 0:
		if status == 0 {
			return fmt.Sprintf("no answer from the login endpoint %s: %s", c.LoginEndpoint, firstLine(text)),
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
	return fmt.Sprintf("the token request failed: %s", cut(desc, 200)),
		fmt.Sprintf("look up AADSTS%d (https://login.microsoftonline.com/error?code=%d); check tenant_id, client_id and the client secret", code, code)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return cut(s, 200)
}

// cut shortens s to n runes, the last one "…".
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
