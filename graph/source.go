// Package graph implements sync.Source with msgraph-sdk-go and azidentity:
// it reads an enterprise application's assignments, the assigned groups and
// their direct members, and the directly assigned users, from Microsoft Graph.
// Probe tests the connection for `entrasync check`.
//
// Where things are:
//
//	source.go       Config, New, Snapshot
//	client.go       credential, request adapter, middleware and retry, request builders
//	read.go         the snapshot read pipeline, its lower bound and critical path, bounded parallelism
//	delta.go        sync.DeltaSource: delta links from now before a full read, delta rounds
//	incremental.go  an incremental read: the rounds merged, what came into scope read whole
//	mirror.go       the picture of Graph a delta state leads to, and its encoding
//	assignments.go  the service principal and appRoleAssignedTo
//	groups.go       group properties and direct members
//	users.go        directly assigned users: $batch look-ups or one listing
//	getbyids.go     directly assigned users by getByIds, where it is permitted
//	ondemand.go     provision on demand (ReadUsers, ReadGroup)
//	pages.go        listings, page by page, decoded into small structs
//	batch.go        $batch requests and the retries of their items
//	wire.go         the decoded shapes and their conversion to sync's types
//	errors.go       how a failed read is reported
//	counting.go     requests, throttling waits, progress and metrics endpoints
//	probe.go        Probe: token, service principal and permissions
package graph

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	gosync "sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"

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
	// Auth, when its Kind is set, is the credential (certificate, workload
	// identity, managed identity or a client secret) instead of ClientID
	// and ClientSecret.
	Auth Credential
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
	adapter *msgraphcore.GraphRequestAdapterBase
	logger  *slog.Logger
	byIDs   byIDsState // what was learnt about getByIds (getbyids.go)
	// userFilter is what was learnt about the partitioned user listing
	// (listusers.go).
	userFilter userFilterState
	mirrors    mirrorCache // the last incremental read's mirror (incremental.go)
	// background counts the goroutines encoding or decoding a mirror
	// aside (encodeAside, Warm); Wait waits for them.
	background gosync.WaitGroup
}

// Credential returns the credential the Source obtains tokens with.
func (s *Source) Credential() azcore.TokenCredential { return s.cred }

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
	var renew *renewing
	if cred == nil {
		build := func() (azcore.TokenCredential, error) {
			c, err := newCredential(cfg)
			if err != nil {
				return nil, err
			}
			return explaining{TokenCredential: c, cfg: cfg}, nil
		}
		if renew, err = newRenewing(build); err != nil {
			return nil, err
		}
		cred = renew
	}
	adapter, err := newAdapter(cfg, cred, renew, graphURL)
	if err != nil {
		return nil, err
	}
	return &Source{cfg: cfg, cred: cred, adapter: adapter, logger: logger}, nil
}

// Snapshot reads the whole picture. Any failed read fails it (C4); a group
// that no longer exists is reported, not failed. GraphRequests counts every
// HTTP request made, retries included.
func (s *Source) Snapshot(ctx context.Context) (*sync.Snapshot, error) {
	ctr := &requestCounter{}
	ctx = context.WithValue(ctx, counterKey{}, ctr)
	snap := &sync.Snapshot{Users: map[string]sync.EntraUser{}}
	err := s.read(ctx, snap, nil, nil)
	ctr.fill(snap)
	if err != nil {
		return snap, err
	}
	return snap, nil
}
