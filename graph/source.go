// Package graph implements sync.Source with msgraph-sdk-go and azidentity:
// it reads an enterprise application's assignments, the assigned groups and
// their direct members, and the directly assigned users, from Microsoft Graph.
package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	graphauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/entrasync/entrasync/sync"
)

// Default endpoints of the public cloud.
const (
	DefaultGraphEndpoint = "https://graph.microsoft.com"
	DefaultLoginEndpoint = "https://login.microsoftonline.com"
)

// PageSize is the $top of every listing: Graph's maximum.
const PageSize = 999

var (
	userFields       = []string{"id", "userPrincipalName", "mail", "displayName", "givenName", "surname", "accountEnabled"}
	memberFields     = userFields
	groupFields      = []string{"id", "displayName", "securityEnabled", "mailEnabled", "groupTypes"}
	assignmentFields = []string{"id", "principalId", "principalType", "principalDisplayName"}
	spFields         = []string{"id", "appId", "displayName"}
)

// Config says how to reach one tenant's application in Graph.
type Config struct {
	TenantID     string // Entra tenant id (directory id)
	ClientID     string // application (client) id of entrasync's own registration
	ClientSecret string // never logged
	// ServicePrincipalID or AppID names the enterprise application to read.
	ServicePrincipalID string
	AppID              string
	// GraphEndpoint and LoginEndpoint default to the public cloud.
	GraphEndpoint string
	LoginEndpoint string
	// Transport is the base HTTP transport (nil: http.DefaultTransport); tests
	// pass one that trusts the simulated tenant's certificate.
	Transport http.RoundTripper
	// Concurrency bounds parallel reads (groups, user look-ups); default 4.
	Concurrency int
	// MaxRetries of a throttled or unavailable request (429/503/504); default 5.
	MaxRetries int
	// RetryDelay is the base back-off when Graph sends no Retry-After; default 2s.
	RetryDelay time.Duration
	// Timeout bounds each HTTP request (default 100s, as the SDK's).
	Timeout time.Duration
	// MaxThrottleWait caps the time one snapshot may spend waiting out
	// throttling (429/503/504); past it the read fails cleanly. Default 5m.
	MaxThrottleWait time.Duration
	// Credential overrides the client-secret credential (managed identity etc.).
	Credential azcore.TokenCredential
	// Progress, when set, is told how far a snapshot's read has come, after
	// every page or batch; it is called from several goroutines.
	Progress func(Progress)
	// Observe, when set, is told about every HTTP response from Graph: the
	// endpoint with ids replaced by {id}, the status (0 for a transport
	// error) and, on 429/503, the Retry-After it asked for (metrics).
	Observe func(endpoint string, status int, retryAfter time.Duration)
}

// Source reads one tenant's application from Graph. It is safe for
// concurrent use, but entrasync never runs two snapshots of a tenant at once.
type Source struct {
	cfg     Config
	cred    azcore.TokenCredential
	client  *msgraph.GraphServiceClient
	adapter *msgraph.GraphRequestAdapter
	logger  *slog.Logger
}

// Credential returns the credential the Source obtains tokens with.
func (s *Source) Credential() azcore.TokenCredential { return s.cred }

// Client returns the Source's Graph client: the authentication provider
// (valid hosts from the endpoint), middleware and retry policy of the sync,
// for probes such as `entrasync check`.
func (s *Source) Client() *msgraph.GraphServiceClient { return s.client }

var _ sync.Source = (*Source)(nil)

// New builds a Source: the azidentity credential, the kiota authentication
// provider (its valid hosts derived from the Graph endpoint), the request
// adapter and its retry policy. It does not contact Graph. Errors are
// EINVALID and name the field at fault.
func New(cfg Config, logger *slog.Logger) (*Source, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.GraphEndpoint == "" {
		cfg.GraphEndpoint = DefaultGraphEndpoint
	}
	if cfg.LoginEndpoint == "" {
		cfg.LoginEndpoint = DefaultLoginEndpoint
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 5
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 2 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 100 * time.Second
	}
	if cfg.MaxThrottleWait <= 0 {
		cfg.MaxThrottleWait = 5 * time.Minute
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.ServicePrincipalID == "" && cfg.AppID == "" {
		return nil, sync.Errorf(sync.EINVALID, "graph: service_principal_id or app_id is required")
	}
	graphURL, err := url.Parse(cfg.GraphEndpoint)
	if err != nil || graphURL.Host == "" || graphURL.Scheme != "https" {
		return nil, sync.Errorf(sync.EINVALID, "graph: graph endpoint %q must be an https URL", cfg.GraphEndpoint)
	}
	cred := cfg.Credential
	if cred == nil {
		if cfg.TenantID == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
			return nil, sync.Errorf(sync.EINVALID, "graph: tenant_id, client_id and a client secret are required")
		}
		c, err := azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{
				ClientOptions: azcore.ClientOptions{
					Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: cfg.LoginEndpoint},
					Transport: &http.Client{Transport: cfg.Transport, Timeout: 60 * time.Second},
				},
				// MSAL would otherwise ask the public cloud about a custom authority.
				DisableInstanceDiscovery: true,
			})
		if err != nil {
			return nil, &sync.Error{Code: sync.EINVALID, Message: "graph: client secret credential", Err: err}
		}
		cred = c
	}
	// The provider attaches tokens only to the hosts it is told are valid:
	// derive them from the configured endpoint, or national clouds and the
	// simulated tenant would silently get no token.
	auth, err := graphauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{graphURL.Scheme + "://" + graphURL.Host + "/.default"}, []string{graphURL.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graph: authentication provider: %w", err)
	}
	opts := msgraph.GetDefaultClientOptions()
	mw := msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)
	for i, m := range mw {
		switch m.(type) {
		case *khttp.RetryHandler, khttp.RetryHandler:
			mw[i] = khttp.NewRetryHandlerWithOptions(khttp.RetryHandlerOptions{
				MaxRetries:   cfg.MaxRetries,
				DelaySeconds: max(1, int(cfg.RetryDelay/time.Second)),
				// Retry-After is honoured by the handler; this counts the wait
				// against the snapshot's cap and stops retrying past it.
				ShouldRetry: func(_ time.Duration, n int, req *http.Request, resp *http.Response) bool {
					c, ok := req.Context().Value(counterKey{}).(*requestCounter)
					if !ok {
						return true
					}
					d := cfg.RetryDelay << n
					if ra := retryAfter(map[string]string{"Retry-After": resp.Header.Get("Retry-After")}); ra > 0 || resp.Header.Get("Retry-After") != "" {
						d = ra
					}
					return time.Duration(c.waited.Add(int64(d))) <= cfg.MaxThrottleWait
				},
			})
		}
	}
	httpClient := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(&countingTransport{base: cfg.Transport, observe: cfg.Observe}, mw...),
		Timeout:   cfg.Timeout,
	}
	adapter, err := msgraph.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, httpClient)
	if err != nil {
		return nil, fmt.Errorf("graph: request adapter: %w", err)
	}
	adapter.SetBaseUrl(graphURL.Scheme + "://" + graphURL.Host + "/v1.0")
	return &Source{cfg: cfg, cred: cred, client: msgraph.NewGraphServiceClient(adapter), adapter: adapter, logger: logger}, nil
}

// Snapshot reads the whole picture. Any failed read fails it (C4); a group
// that no longer exists is reported, not failed. GraphRequests counts every
// HTTP request made, retries included.
func (s *Source) Snapshot(ctx context.Context) (*sync.Snapshot, error) {
	ctr := &requestCounter{}
	ctx = context.WithValue(ctx, counterKey{}, ctr)
	snap := &sync.Snapshot{Users: map[string]sync.EntraUser{}}
	err := s.read(ctx, snap)
	ctr.fill(snap)
	if err != nil {
		return snap, err
	}
	return snap, nil
}

func (s *Source) servicePrincipal(ctx context.Context) (sync.Ref, error) {
	var sp models.ServicePrincipalable
	var err error
	if s.cfg.ServicePrincipalID != "" {
		sp, err = s.client.ServicePrincipals().ByServicePrincipalId(s.cfg.ServicePrincipalID).Get(ctx,
			&serviceprincipals.ServicePrincipalItemRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipals.ServicePrincipalItemRequestBuilderGetQueryParameters{Select: spFields}})
	} else {
		appID := s.cfg.AppID
		sp, err = s.client.ServicePrincipalsWithAppId(&appID).Get(ctx,
			&serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: spFields}})
	}
	what := "service principal " + s.cfg.ServicePrincipalID
	if s.cfg.ServicePrincipalID == "" {
		what = "service principal of app " + s.cfg.AppID
	}
	if err != nil {
		return sync.Ref{}, readError(what, err)
	}
	if sp == nil || sp.GetId() == nil || *sp.GetId() == "" {
		return sync.Ref{}, malformed(what, "response has no id")
	}
	return sync.Ref{ID: *sp.GetId(), Name: str(sp.GetDisplayName())}, nil
}

// assignments pages appRoleAssignedTo and sorts principals into direct users
// and groups; service principals are counted (S4), unknown types skipped.
//
// onGroup, when set, is called with each assigned group as soon as its page
// is read, so that group reads can start before the last page.
// onMore, when set, is called once if the listing has more than one page.
func (s *Source) assignments(ctx context.Context, spID string, snap *sync.Snapshot, onGroup func(sync.Ref), onMore func()) (direct []string, grps []sync.Ref, err error) {
	top := int32(PageSize)
	first, err := s.client.ServicePrincipals().ByServicePrincipalId(spID).AppRoleAssignedTo().ToGetRequestInformation(ctx,
		&serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetQueryParameters{Select: assignmentFields, Top: &top}})
	if err != nil {
		return nil, nil, fmt.Errorf("graph: assignments request: %w", err)
	}
	seenUser, seenGroup := map[string]bool{}, map[string]bool{}
	err = listAll(ctx, s, first, "appRoleAssignedTo of "+spID, func(n int, items []wireAssignment, more bool) error {
		if n == 1 && more && onMore != nil {
			onMore()
		}
		for i, a := range items {
			pid := a.PrincipalID
			if !guidRE.MatchString(pid) {
				return malformed(fmt.Sprintf("appRoleAssignedTo of %s, page %d", spID, n), fmt.Sprintf("assignment %d has no valid principalId (%q)", i, clipped(pid)))
			}
			switch a.PrincipalType {
			case "User":
				if !seenUser[pid] {
					seenUser[pid] = true
					direct = append(direct, pid)
				}
			case "Group":
				if !seenGroup[pid] {
					seenGroup[pid] = true
					grps = append(grps, sync.Ref{ID: pid, Name: a.PrincipalDisplayName})
					if onGroup != nil {
						onGroup(grps[len(grps)-1])
					}
				}
			case "ServicePrincipal":
				snap.ServicePrincipalAssignments++
			default:
				snap.Skipped = append(snap.Skipped, sync.Skip{Kind: sync.SkipPrincipal, ID: pid, Name: a.PrincipalDisplayName,
					Reason: fmt.Sprintf("unknown principal type %q; ignored", clipped(a.PrincipalType))})
			}
		}
		s.progress(ctx, func(c *requestCounter) { c.assignmentPages.Add(1) })
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(direct)
	return direct, grps, nil
}

// clipped keeps odd values short in messages.
func clipped(v string) string {
	if len(v) > 64 {
		return v[:64] + "…"
	}
	return v
}

// group reads one group's properties and, when it is supported (S2), its
// direct members (provision on demand).
func (s *Source) group(ctx context.Context, ref sync.Ref) (sync.EntraGroup, map[string]sync.EntraUser, error) {
	eg := sync.EntraGroup{ID: ref.ID, DisplayName: ref.Name}
	g, err := s.client.Groups().ByGroupId(ref.ID).Get(ctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: groupFields}})
	if isNotFound(err) {
		return eg, nil, nil // Found stays false: the group is gone
	}
	if err != nil {
		return eg, nil, readError("group "+ref.ID, err)
	}
	if g == nil || str(g.GetId()) == "" {
		return eg, nil, malformed("group "+ref.ID, "response has no id")
	}
	eg.Found = true
	eg.DisplayName = str(g.GetDisplayName())
	eg.SecurityEnabled = boolean(g.GetSecurityEnabled())
	eg.MailEnabled = boolean(g.GetMailEnabled())
	eg.GroupTypes = g.GetGroupTypes()
	if ok, _ := sync.GroupSupport(eg); !ok {
		return eg, nil, nil
	}
	users, err := s.members(ctx, &eg)
	return eg, users, err
}

// groupProps reads the properties of the assigned groups, 20 to a $batch.
// A group Graph no longer has keeps Found false.
func (s *Source) groupProps(ctx context.Context, refs []sync.Ref) ([]sync.EntraGroup, error) {
	out := make([]sync.EntraGroup, len(refs))
	infos := make([]*abstractions.RequestInformation, len(refs))
	for i, ref := range refs {
		out[i] = sync.EntraGroup{ID: ref.ID, DisplayName: ref.Name}
		info, err := s.client.Groups().ByGroupId(ref.ID).ToGetRequestInformation(ctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: groupFields}})
		if err != nil {
			return nil, fmt.Errorf("graph: group request: %w", err)
		}
		infos[i] = info
	}
	res, err := s.batchGet(ctx, infos, "assigned groups", nil)
	if err != nil {
		return nil, err
	}
	for i, r := range res {
		what := "group " + refs[i].ID
		switch {
		case r.status == 404:
			continue
		case r.status != 200:
			return nil, itemError(what, r)
		}
		var g wireGroup
		if err := json.Unmarshal(r.body, &g); err != nil {
			return nil, malformed(what, err.Error())
		}
		if g.ID == "" {
			return nil, malformed(what, "response has no id")
		}
		out[i] = sync.EntraGroup{ID: refs[i].ID, Found: true, DisplayName: g.DisplayName, SecurityEnabled: boolean(g.SecurityEnabled),
			MailEnabled: boolean(g.MailEnabled), GroupTypes: g.GroupTypes}
	}
	return out, nil
}

// members pages a supported group's direct members: users are kept (only
// the fields used), nested groups recorded (S3), anything else counted.
func (s *Source) members(ctx context.Context, eg *sync.EntraGroup) (map[string]sync.EntraUser, error) {
	top := int32(PageSize)
	first, err := s.client.Groups().ByGroupId(eg.ID).Members().ToGetRequestInformation(ctx, &groups.ItemMembersRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: memberFields, Top: &top}})
	if err != nil {
		return nil, fmt.Errorf("graph: members request: %w", err)
	}
	users := map[string]sync.EntraUser{}
	err = listAll(ctx, s, first, "members of group "+eg.ID, func(n int, items []wireMember, _ bool) error {
		for i, m := range items {
			if m.ID == "" {
				return malformed(fmt.Sprintf("members of group %s, page %d", eg.ID, n), fmt.Sprintf("member %d has no id", i))
			}
			switch m.Type {
			case "#microsoft.graph.user":
				users[m.ID] = m.entraUser()
				eg.Members = append(eg.Members, m.ID)
			case "#microsoft.graph.group":
				eg.Nested = append(eg.Nested, sync.Ref{ID: m.ID, Name: m.DisplayName})
			default:
				eg.OtherMembers++
			}
		}
		s.progress(ctx, func(c *requestCounter) { c.memberPages.Add(1) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(eg.Members)
	s.progress(ctx, func(c *requestCounter) { c.groupsRead.Add(1) })
	return users, nil
}

// ListThreshold is the number of missing direct users above which entrasync
// asks Graph how many users the tenant has, to choose between $batch
// look-ups (20 users a round trip) and listing every user (999 a page).
const ListThreshold = 1000

// lookUp reads the directly assigned users no member page returned, by the
// cheaper of two strategies; nil entries are users Graph does not know. It
// returns the tenant's user count when it asked for it (else 0).
func (s *Source) lookUp(ctx context.Context, ids []string) ([]*sync.EntraUser, int, error) {
	if len(ids) == 0 {
		return nil, 0, nil
	}
	if len(ids) > ListThreshold {
		n, err := s.userCount(ctx)
		if err == nil && pages(n, PageSize) < pages(len(ids), BatchSize) {
			found, err := s.listUsers(ctx, ids)
			return found, n, err
		}
		if err != nil {
			s.logger.Warn("user count unavailable; looking users up in batches", "err", err)
		}
	}
	found, err := s.batchUsers(ctx, ids)
	return found, 0, err
}

func pages(n, size int) int { return (n + size - 1) / size }

// userCount asks for the tenant's number of users (an advisory figure from
// the eventually consistent index; only used to pick a strategy).
func (s *Source) userCount(ctx context.Context) (int, error) {
	h := abstractions.NewRequestHeaders()
	h.Add("ConsistencyLevel", "eventual")
	n, err := s.client.Users().Count().Get(ctx, &users.CountRequestBuilderGetRequestConfiguration{Headers: h})
	if err != nil {
		return 0, readError("user count", err)
	}
	if n == nil {
		return 0, malformed("user count", "empty")
	}
	return int(*n), nil
}

// batchUsers looks users up by id, 20 to a $batch.
func (s *Source) batchUsers(ctx context.Context, ids []string) ([]*sync.EntraUser, error) {
	infos := make([]*abstractions.RequestInformation, len(ids))
	for i, id := range ids {
		info, err := s.client.Users().ByUserId(id).ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userFields}})
		if err != nil {
			return nil, fmt.Errorf("graph: user request: %w", err)
		}
		infos[i] = info
	}
	res, err := s.batchGet(ctx, infos, "assigned users", func() { s.progress(ctx, func(c *requestCounter) { c.usersRead.Add(1) }) })
	if err != nil {
		return nil, err
	}
	out := make([]*sync.EntraUser, len(ids))
	for i, r := range res {
		what := "user " + ids[i]
		switch {
		case r.status == 404:
			continue
		case r.status != 200:
			return nil, itemError(what, r)
		}
		var u wireUser
		if err := json.Unmarshal(r.body, &u); err != nil {
			return nil, malformed(what, err.Error())
		}
		if u.ID == "" {
			return nil, malformed(what, "response has no id")
		}
		out[i] = &sync.EntraUser{ID: u.ID, UserPrincipalName: u.UserPrincipalName, Mail: u.Mail, DisplayName: u.DisplayName,
			GivenName: u.GivenName, Surname: u.Surname, AccountEnabled: boolean(u.AccountEnabled)}
	}
	return out, nil
}

// listUsers pages every user of the tenant and keeps those asked for.
func (s *Source) listUsers(ctx context.Context, ids []string) ([]*sync.EntraUser, error) {
	all, err := s.allUsers(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := make([]*sync.EntraUser, len(ids))
	for i, id := range ids {
		if u, ok := all[id]; ok {
			out[i] = &u
		}
	}
	return out, nil
}

// allUsers pages every user of the tenant; keep, when set, says which to
// keep (nil: all).
func (s *Source) allUsers(ctx context.Context, keep func(id string) bool) (map[string]sync.EntraUser, error) {
	top := int32(PageSize)
	first, err := s.client.Users().ToGetRequestInformation(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: userFields, Top: &top}})
	if err != nil {
		return nil, fmt.Errorf("graph: users request: %w", err)
	}
	out := map[string]sync.EntraUser{}
	err = listAll(ctx, s, first, "users", func(n int, items []wireUser, _ bool) error {
		for i, u := range items {
			if u.ID == "" {
				return malformed(fmt.Sprintf("users, page %d", n), fmt.Sprintf("user %d has no id", i))
			}
			if keep == nil || keep(u.ID) {
				out[u.ID] = u.entraUser()
			}
		}
		s.progress(ctx, func(c *requestCounter) { c.usersRead.Add(int64(len(items))) })
		return nil
	})
	return out, err
}

// assignmentCount asks how many assignments the application has (an
// advisory figure from the eventually consistent index, to pick a strategy).
func (s *Source) assignmentCount(ctx context.Context, spID string) (int, error) {
	h := abstractions.NewRequestHeaders()
	h.Add("ConsistencyLevel", "eventual")
	n, err := s.client.ServicePrincipals().ByServicePrincipalId(spID).AppRoleAssignedTo().Count().Get(ctx,
		&serviceprincipals.ItemAppRoleAssignedToCountRequestBuilderGetRequestConfiguration{Headers: h})
	if err != nil {
		return 0, readError("assignment count", err)
	}
	if n == nil {
		return 0, malformed("assignment count", "empty")
	}
	return int(*n), nil
}

// itemError describes a failed $batch item.
func itemError(what string, r batchResult) error {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &body)
	c := sync.EUNAVAILABLE
	if r.status == 401 || r.status == 403 {
		c = sync.EUNAUTHORIZED
	}
	return &sync.Error{Code: c, Message: fmt.Sprintf("graph: read %s: HTTP %d %s: %s", what, r.status, body.Error.Code, body.Error.Message)}
}

// lowerBound is the fewest round trips the data allows: the service
// principal, the assignment pages, the group properties 20 to a batch, each
// supported group's member pages, and the missing direct users by the
// cheaper strategy.
func lowerBound(snap *sync.Snapshot, assignments, missing, tenantUsers int) int {
	lb := 1 + max(1, pages(assignments, PageSize)) + pages(len(snap.Groups), BatchSize)
	for _, g := range snap.Groups {
		if ok, _ := sync.GroupSupport(g); ok {
			lb += max(1, pages(len(g.Members)+len(g.Nested)+g.OtherMembers, PageSize))
		}
	}
	if missing > 0 {
		m := pages(missing, BatchSize)
		if tenantUsers > 0 {
			m = min(m, pages(tenantUsers, PageSize))
		}
		lb += m
	}
	return lb
}

// user reads one directly assigned user; nil when Graph does not know it.
func (s *Source) user(ctx context.Context, id string) (*sync.EntraUser, error) {
	u, err := s.client.Users().ByUserId(id).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userFields}})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, readError("user "+id, err)
	}
	if u == nil || str(u.GetId()) == "" {
		return nil, malformed("user "+id, "response has no id")
	}
	eu := entraUser(u)
	return &eu, nil
}

// parallel runs fn for 0..n-1 with at most Concurrency at once; the first
// error cancels the rest and is returned.
func (s *Source) parallel(ctx context.Context, n int, fn func(context.Context, int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, s.cfg.Concurrency)
	var wg gosync.WaitGroup
	var once gosync.Once
	var first error
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { first = err; cancel(err) })
			}
		}(i)
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

func entraUser(u models.Userable) sync.EntraUser {
	return sync.EntraUser{
		ID:                str(u.GetId()),
		UserPrincipalName: str(u.GetUserPrincipalName()),
		Mail:              str(u.GetMail()),
		DisplayName:       str(u.GetDisplayName()),
		GivenName:         str(u.GetGivenName()),
		Surname:           str(u.GetSurname()),
		AccountEnabled:    boolean(u.GetAccountEnabled()),
	}
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func boolean(p *bool) bool { return p != nil && *p }

// readError wraps a failed read with what was being read and Graph's error
// code, status and message. It never includes tokens or secrets.
func readError(what string, err error) error {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		code, msg := "", ""
		if m := oe.GetErrorEscaped(); m != nil {
			code, msg = str(m.GetCode()), str(m.GetMessage())
		}
		c := sync.EUNAVAILABLE
		switch oe.ResponseStatusCode {
		case 401, 403:
			c = sync.EUNAUTHORIZED
		case 404:
			c = sync.ENOTFOUND
		}
		return &sync.Error{Code: c, Message: fmt.Sprintf("graph: read %s: HTTP %d %s: %s", what, oe.ResponseStatusCode, code, msg)}
	}
	var ae *azidentity.AuthenticationFailedError
	if errors.As(err, &ae) {
		return &sync.Error{Code: sync.EUNAUTHORIZED, Message: fmt.Sprintf("graph: read %s: could not obtain a token (check tenant_id, client_id and the client secret)", what), Err: tokenError(ae)}
	}
	return &sync.Error{Code: sync.EUNAVAILABLE, Message: "graph: read " + what, Err: err}
}

// tokenError keeps the status of a failed token request but drops the body
// and request dump azidentity includes.
func tokenError(ae *azidentity.AuthenticationFailedError) error {
	if ae.RawResponse != nil {
		return fmt.Errorf("token endpoint answered HTTP %d", ae.RawResponse.StatusCode)
	}
	return errors.New("token request failed")
}

func malformed(what, why string) error {
	return &sync.Error{Code: sync.EUNAVAILABLE, Message: fmt.Sprintf("graph: read %s: malformed response: %s", what, why)}
}

func isNotFound(err error) bool {
	var oe *odataerrors.ODataError
	return errors.As(err, &oe) && oe.ResponseStatusCode == http.StatusNotFound
}

// ---- request counting ------------------------------------------------------

type counterKey struct{}

// Progress is how far a snapshot's read has come.
type Progress struct {
	AssignmentPages int // pages of appRoleAssignedTo read
	Groups          int // assigned groups whose members are being read
	GroupsRead      int // of those, finished
	MemberPages     int // member pages read
	Users           int // directly assigned users to look up
	UsersRead       int // of those, read
	RoundTrips      int
}

// requestCounter counts one snapshot's HTTP round trips, its Graph requests
// (each $batch item counts, the envelope does not), its throttling waits and
// its progress.
type requestCounter struct {
	n, requests, waited atomic.Int64

	assignmentPages, groups, groupsRead, memberPages, users, usersRead atomic.Int64
}

// progress reports the snapshot's progress after bump changed a counter.
func (s *Source) progress(ctx context.Context, bump func(c *requestCounter)) {
	c, ok := ctx.Value(counterKey{}).(*requestCounter)
	if !ok {
		return
	}
	bump(c)
	if s.cfg.Progress != nil {
		s.cfg.Progress(Progress{AssignmentPages: int(c.assignmentPages.Load()), Groups: int(c.groups.Load()),
			GroupsRead: int(c.groupsRead.Load()), MemberPages: int(c.memberPages.Load()), Users: int(c.users.Load()),
			UsersRead: int(c.usersRead.Load()), RoundTrips: int(c.n.Load())})
	}
}

func (c *requestCounter) fill(snap *sync.Snapshot) {
	snap.RoundTrips = int(c.n.Load())
	snap.GraphRequests = int(c.requests.Load())
	snap.ThrottleWait = time.Duration(c.waited.Load())
}

// countingTransport sits below the SDK's middleware, so it sees every HTTP
// request, retries included.
type countingTransport struct {
	base    http.RoundTripper
	observe func(endpoint string, status int, retryAfter time.Duration)
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if c, ok := req.Context().Value(counterKey{}).(*requestCounter); ok {
		c.n.Add(1)
		c.requests.Add(1)
	}
	resp, err := t.base.RoundTrip(req)
	if t.observe != nil && strings.Contains(req.URL.Path, "/v1.0/") {
		status, wait := 0, time.Duration(0)
		if resp != nil {
			status = resp.StatusCode
			if secs, perr := strconv.ParseFloat(resp.Header.Get("Retry-After"), 64); perr == nil && (status == 429 || status == 503) {
				wait = time.Duration(secs * float64(time.Second))
			}
		}
		t.observe(req.Method+" "+Endpoint(req.URL.Path), status, wait)
	}
	return resp, err
}

var idSegment = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$|@|\(`)

// Endpoint normalises a Graph URL path for metrics: object ids, UPNs and
// alternate keys become {id}, so label values stay few.
func Endpoint(path string) string {
	_, rest, ok := strings.Cut(path, "/v1.0/")
	if !ok {
		return path
	}
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		if idSegment.MatchString(s) {
			if j := strings.Index(s, "("); j > 0 {
				segs[i] = s[:j] + "({id})"
			} else {
				segs[i] = "{id}"
			}
		}
	}
	return "/" + strings.Join(segs, "/")
}
