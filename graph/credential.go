package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entrasync/entrasync/sync"
)

// The kinds of Credential, as the configuration names them.
const (
	KindClientSecret     = "client_secret"
	KindCertificate      = "certificate"
	KindWorkloadIdentity = "workload_identity"
	KindManagedIdentity  = "managed_identity"
)

// Credential says how a Source obtains its tokens. One Credential can serve
// many tenants (a multi-tenant application): New builds an azidentity
// credential per Source, bound to the Source's tenant, so each tenant's
// authority has its own token, cached and refreshed by azidentity.
type Credential struct {
	// Kind is KindClientSecret, KindCertificate, KindWorkloadIdentity or
	// KindManagedIdentity.
	Kind string
	// Name names the credential in errors (the configuration's name).
	Name string
	// ClientID is the app registration's application id; for a managed
	// identity, a user-assigned identity's client id ("" system-assigned).
	ClientID string
	// Secret is the client secret (KindClientSecret).
	Secret string
	// Certificate is a PEM file's bytes (certificate and private key) or a
	// PKCS#12 file's, decrypted with CertificatePassword (KindCertificate).
	Certificate         []byte
	CertificatePassword []byte
	// SendCertificateChain sends x5c with each assertion (subject name and
	// issuer authentication).
	SendCertificateChain bool
	// Assertion returns the federated token (KindWorkloadIdentity), read
	// anew for every token request.
	Assertion func(ctx context.Context) (string, error)
	// ResourceID names a user-assigned managed identity by resource id.
	ResourceID string
}

// newCredential is cfg's azidentity credential, its token requests sent
// through cfg.Transport to cfg.LoginEndpoint (a managed identity asks the
// endpoint its environment names: IDENTITY_ENDPOINT on App Service, the
// instance metadata service elsewhere). Errors are EINVALID and name what
// is wrong, never a secret.
func newCredential(cfg Config) (azcore.TokenCredential, error) {
	c := cfg.Auth
	if c.Kind == "" {
		c = Credential{Kind: KindClientSecret, ClientID: cfg.ClientID, Secret: cfg.ClientSecret}
	}
	name := "credential"
	if c.Name != "" {
		name = "credential " + c.Name
	}
	client := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: cfg.LoginEndpoint},
		Transport: &http.Client{Transport: cfg.Transport, Timeout: 60 * time.Second},
	}
	if c.Kind != KindManagedIdentity && (cfg.TenantID == "" || c.ClientID == "") {
		return nil, sync.Errorf(sync.EINVALID, "graph: %s: tenant_id and client_id are required", name)
	}
	var cred azcore.TokenCredential
	var err error
	switch c.Kind {
	case KindClientSecret:
		if c.Secret == "" {
			return nil, sync.Errorf(sync.EINVALID, "graph: %s: the client secret is empty", name)
		}
		// MSAL would otherwise ask the public cloud about a custom authority.
		cred, err = azidentity.NewClientSecretCredential(cfg.TenantID, c.ClientID, c.Secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: client, DisableInstanceDiscovery: true})
	case KindCertificate:
		certs, key, perr := azidentity.ParseCertificates(c.Certificate, c.CertificatePassword)
		if perr != nil && len(c.CertificatePassword) > 0 && bytes.Contains(c.Certificate, []byte("-----BEGIN")) {
			// A password given for a PEM file whose key is not encrypted.
			certs, key, perr = azidentity.ParseCertificates(c.Certificate, nil)
		}
		if perr != nil {
			// azidentity's message says which part failed; it holds no key material.
			return nil, sync.Errorf(sync.EINVALID, "graph: %s: the certificate file holds no usable certificate and private key "+
				"(a PEM file with both, or a PKCS#12 file; is the password right?): %s", name, cut(firstLine(perr.Error()), 120))
		}
		cred, err = azidentity.NewClientCertificateCredential(cfg.TenantID, c.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: client, DisableInstanceDiscovery: true,
				SendCertificateChain: c.SendCertificateChain})
	case KindWorkloadIdentity:
		if c.Assertion == nil {
			return nil, sync.Errorf(sync.EINVALID, "graph: %s: no federated token file", name)
		}
		cred, err = azidentity.NewClientAssertionCredential(cfg.TenantID, c.ClientID, c.Assertion,
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: client, DisableInstanceDiscovery: true})
	case KindManagedIdentity:
		opts := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: client}
		switch {
		case c.ClientID != "":
			opts.ID = azidentity.ClientID(c.ClientID)
		case c.ResourceID != "":
			opts.ID = azidentity.ResourceID(c.ResourceID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(opts)
	default:
		return nil, sync.Errorf(sync.EINVALID, "graph: %s: unknown kind %q", name, c.Kind)
	}
	if err != nil {
		return nil, &sync.Error{Code: sync.EINVALID, Message: fmt.Sprintf("graph: %s (%s)", name, c.Kind), Err: err}
	}
	return cred, nil
}

// credentialFix explains an AADSTS code of a failed token request in terms
// of the credential kind, and says what to do; ok is false for a code it
// does not know.
func credentialFix(c Config, code int) (found, fix string, ok bool) {
	clientID := c.Auth.ClientID
	if clientID == "" {
		clientID = c.ClientID
	}
	app := "the app registration (client id " + clientID + ")"
	switch code {
	case 700027, 50012:
		return fmt.Sprintf("the client assertion's signature was rejected: the certificate is not registered on %s (AADSTS%d)", app, code),
			"upload the public part of the configured certificate under Certificates & secrets → Certificates of " + app +
				", or point certificate_file at the certificate registered there", true
	case 700024:
		return fmt.Sprintf("the client assertion is not within its valid time range (AADSTS%d)", code),
			"the assertion has expired or is not yet valid: check this machine's clock (NTP), and for workload identity that the token file is being refreshed", true
	case 70021, 700211, 700212, 700213:
		return fmt.Sprintf("no federated identity credential of %s matches the presented token (AADSTS%d)", app, code),
			"add a federated credential to " + app + " (Certificates & secrets → Federated credentials) whose issuer, subject and audience (api://AzureADTokenExchange) are the token file's", true
	case 50013, 50027:
		return fmt.Sprintf("the federated token or assertion is invalid: its signature or format was rejected (AADSTS%d)", code),
			"check that token_file is the token your workload's issuer writes (not another file), and that the issuer's keys are reachable by Entra", true
	case 65001:
		return fmt.Sprintf("tenant %s has not consented to %s (AADSTS65001)", c.TenantID, app),
			"send the tenant's administrator the admin-consent URL (`entrasync tenant add` prints it; " + ConsentURL(c.LoginEndpoint, c.GraphEndpoint, c.TenantID, clientID) + ") and run check again once they accepted", true
	}
	return "", "", false
}

// managedIdentityProblem explains a managed identity that got no token.
func managedIdentityProblem(err error) (found, fix string, ok bool) {
	var unavailable interface{ NonRetriable() }
	if !errors.As(err, &unavailable) && !isManagedIdentity(err) {
		return "", "", false
	}
	return "the managed identity obtained no token: " + firstLine(err.Error()),
		"run entrasync on an Azure resource with a managed identity enabled (App Service sets IDENTITY_ENDPOINT and IDENTITY_HEADER; VMs use the instance metadata service), " +
			"and for a user-assigned identity check that client_id or resource_id names an identity assigned to this resource", true
}

func isManagedIdentity(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s := e.Error(); len(s) >= 25 && s[:25] == "ManagedIdentityCredential" {
			return true
		}
	}
	return false
}

// ConsentURL is the admin-consent URL (the identity platform's v2.0
// endpoint) a customer's administrator opens to grant clientID's
// application permissions in tenant: scope asks for every permission the
// registration lists on Microsoft Graph (graphEndpoint+"/.default"). Empty
// endpoints are the public cloud's.
func ConsentURL(loginEndpoint, graphEndpoint, tenant, clientID string) string {
	if loginEndpoint == "" {
		loginEndpoint = DefaultLoginEndpoint
	}
	if graphEndpoint == "" {
		graphEndpoint = DefaultGraphEndpoint
	}
	q := url.Values{"client_id": {clientID}, "scope": {strings.TrimSuffix(graphEndpoint, "/") + "/.default"}}
	return strings.TrimSuffix(loginEndpoint, "/") + "/" + url.PathEscape(tenant) + "/v2.0/adminconsent?" + q.Encode()
}

// TokenError is a token request that failed: what was found and the fix,
// worded for the credential's kind. It wraps azidentity's error (whose
// message may quote the identity platform's answer, never a secret).
type TokenError struct {
	Found, Fix string
	Err        error
}

// Error implements error.
func (e *TokenError) Error() string { return "no token: " + e.Found + "; fix: " + e.Fix }

// Unwrap returns azidentity's error.
func (e *TokenError) Unwrap() error { return e.Err }

// explaining is a credential whose failures say what to do about them.
type explaining struct {
	azcore.TokenCredential
	cfg Config
}

// GetToken implements azcore.TokenCredential.
func (c explaining) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.TokenCredential.GetToken(ctx, opts)
	if err == nil || ctx.Err() != nil {
		return tok, err
	}
	p := &prober{Source: &Source{cfg: c.cfg}, hints: ProbeHints{Cloud: "configured", SecretSource: "update the configured secret"}}
	found, fix := p.tokenProblem(err)
	return tok, &TokenError{Found: found, Fix: fix, Err: err}
}
