// Package graph implements sync.Source with msgraph-sdk-go and azidentity:
// it reads an enterprise application's assignments, the assigned groups and
// their direct members, and the directly assigned users, from Microsoft Graph.
package graph

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	khttp "github.com/microsoft/kiota-http-go"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	graphauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"

	"github.com/entrasync/entrasync/sync"
)

// Default endpoints of the public cloud.
const (
	DefaultGraphEndpoint = "https://graph.microsoft.com"
	DefaultLoginEndpoint = "https://login.microsoftonline.com"
)

// PageSize is the $top of every listing: Graph's maximum.
const PageSize = 999

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
