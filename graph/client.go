package graph

import (
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	gosync "sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	formser "github.com/microsoft/kiota-serialization-form-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	multipartser "github.com/microsoft/kiota-serialization-multipart-go"
	textser "github.com/microsoft/kiota-serialization-text-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	graphauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/entrasync/entrasync/sync"
)

// The Graph client is put together here from msgraph-sdk-go-core and kiota:
// the credential, the authentication provider, the middleware with its retry
// policy, and the request adapter every request goes through. The SDK's
// request builders (users, groups, servicePrincipals) are made on that
// adapter. msgraph-sdk-go's root package, whose GraphServiceClient would do
// the same, is not imported: it links some eighty request-builder packages
// entrasync never calls, minutes of build time and 100 MB of binary.

// newCredential is the client-secret credential of cfg, its token requests
// sent through cfg.Transport to cfg.LoginEndpoint.
func newCredential(cfg Config) (azcore.TokenCredential, error) {
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
	return c, nil
}

// newAdapter builds the request adapter: tokens from cred for the Graph
// host only, the SDK's default middleware (telemetry, redirect, compression
// …) with the retry handler of cfg, the counting transport below it, and
// the base URL of graphURL's v1.0.
//
// renew, when set, is cred as a credential that can start afresh: a request
// Graph answers 401 is retried once with a fresh token (reauth.go).
func newAdapter(cfg Config, cred azcore.TokenCredential, renew *renewing, graphURL *url.URL) (*msgraphcore.GraphRequestAdapterBase, error) {
	// The provider attaches tokens only to the hosts it is told are valid:
	// derive them from the configured endpoint, or national clouds and the
	// simulated tenant would silently get no token.
	scope := graphURL.Scheme + "://" + graphURL.Host + "/.default"
	auth, err := graphauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{scope}, []string{graphURL.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graph: authentication provider: %w", err)
	}
	opts := msgraphcore.GraphClientOptions{GraphServiceLibraryVersion: sdkVersion()}
	mw := msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)
	for i, m := range mw {
		switch m.(type) {
		case *khttp.RetryHandler, khttp.RetryHandler:
			mw[i] = retryHandler(cfg)
		}
	}
	httpClient := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(&reauthTransport{
			base: &countingTransport{base: cfg.Transport, observe: cfg.Observe}, cred: renew, scope: scope}, mw...),
		Timeout: cfg.Timeout,
	}
	registerSerializers()
	adapter, err := msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, opts, nil, nil, httpClient)
	if err != nil {
		return nil, fmt.Errorf("graph: request adapter: %w", err)
	}
	adapter.SetBaseUrl(graphURL.Scheme + "://" + graphURL.Host + "/v1.0")
	return adapter, nil
}

// retryHandler retries throttled and unavailable requests (429/503/504)
// cfg.MaxRetries times, honouring Retry-After, and counts each wait against
// the read's cap (MaxThrottleWait), retrying no more past it.
func retryHandler(cfg Config) khttp.Middleware {
	return khttp.NewRetryHandlerWithOptions(khttp.RetryHandlerOptions{
		MaxRetries:   cfg.MaxRetries,
		DelaySeconds: max(1, int(cfg.RetryDelay/time.Second)),
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

var serializersOnce gosync.Once

// registerSerializers registers kiota's JSON, text, form and multipart
// serialization writers and parse nodes (JSON, text, form) as the default
// ones the adapter picks from by content type, as the SDK's service client
// does when it is constructed.
func registerSerializers() {
	serializersOnce.Do(func() {
		abstractions.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return jsonser.NewJsonSerializationWriterFactory() })
		abstractions.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return textser.NewTextSerializationWriterFactory() })
		abstractions.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return formser.NewFormSerializationWriterFactory() })
		abstractions.RegisterDefaultSerializer(func() absser.SerializationWriterFactory {
			return multipartser.NewMultipartSerializationWriterFactory()
		})
		abstractions.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return jsonser.NewJsonParseNodeFactory() })
		abstractions.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return textser.NewTextParseNodeFactory() })
		abstractions.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return formser.NewFormParseNodeFactory() })
		// As the SDK's service client does (EnableBackingStore), once: it
		// rewrites the global registries every adapter reads, so doing it
		// per adapter would race with the reads of sources already built.
		abstractions.EnableBackingStoreForParseNodeFactory(absser.DefaultParseNodeFactoryInstance)
		abstractions.EnableBackingStoreForSerializationWriterFactory(absser.DefaultSerializationWriterFactoryInstance)
	})
}

const sdkModule = "github.com/microsoftgraph/msgraph-sdk-go"

// sdkVersion is the version of msgraph-sdk-go linked in ("1.89.0"), for the
// telemetry header the SDK's own client sends; "" when the build does not
// record it (test binaries do not).
func sdkVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == sdkModule {
			if d.Replace != nil {
				d = d.Replace
			}
			return strings.TrimPrefix(d.Version, "v")
		}
	}
	return ""
}

// root is the path parameters a request builder starts from, as the SDK's
// service client hands them on: the base URL.
func (s *Source) root() map[string]string {
	return map[string]string{"baseurl": s.adapter.GetBaseUrl()}
}

// users is the request builder of /users.
func (s *Source) users() *users.UsersRequestBuilder {
	return users.NewUsersRequestBuilderInternal(s.root(), s.adapter)
}

// groups is the request builder of /groups.
func (s *Source) groups() *groups.GroupsRequestBuilder {
	return groups.NewGroupsRequestBuilderInternal(s.root(), s.adapter)
}

// servicePrincipals is the request builder of /servicePrincipals.
func (s *Source) servicePrincipals() *serviceprincipals.ServicePrincipalsRequestBuilder {
	return serviceprincipals.NewServicePrincipalsRequestBuilderInternal(s.root(), s.adapter)
}

// servicePrincipalByAppID is the request builder of
// /servicePrincipals(appId='…').
func (s *Source) servicePrincipalByAppID(appID string) *serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilder {
	return serviceprincipalswithappid.NewServicePrincipalsWithAppIdRequestBuilderInternal(s.root(), s.adapter, &appID)
}
