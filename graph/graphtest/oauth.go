package graphtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"
)

// tokenLifetime is the lifetime of issued access tokens, as Entra reports
// it for app-only tokens.
const tokenLifetime = 3599

// graphAppID is the well-known appId of Microsoft Graph.
const graphAppID = "00000003-0000-0000-c000-000000000000"

// Endpoint keys of the identity platform endpoints, as counted by Requests.
const (
	keyToken     = "POST /token"
	keyDiscovery = "GET /{tenant}/v2.0/.well-known/openid-configuration"
	keyInstance  = "GET /common/discovery/instance"
	keyIdentity  = "GET /msi/token"
)

// serveIdentity serves the Microsoft identity platform endpoints MSAL uses
// for a client-credentials flow against the authority
// https://<host>/<tenant> with instance discovery disabled:
//
//	GET  /<tenant>/v2.0/.well-known/openid-configuration
//	POST /<tenant>/oauth2/v2.0/token
//
// and, for completeness, the instance discovery endpoint
// GET /common/discovery/instance.
func (s *Server) serveIdentity(w http.ResponseWriter, r *http.Request, escapedPath string) {
	segs, ok := splitPath(escapedPath)
	var key string
	var handler func(http.ResponseWriter, *http.Request, string)
	tenant := ""
	switch {
	case !ok:
	case len(segs) == 4 && segs[1] == "v2.0" && segs[2] == ".well-known" && segs[3] == "openid-configuration":
		key, tenant, handler = keyDiscovery, segs[0], s.discovery
	case len(segs) == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "token":
		key, tenant, handler = keyToken, segs[0], s.token
		if r.Method != http.MethodPost {
			key = r.Method + " /token"
		}
	case len(segs) == 3 && strings.EqualFold(segs[0], "common") && segs[1] == "discovery" && segs[2] == "instance":
		key, handler = keyInstance, s.instanceDiscovery
	case len(segs) == 2 && segs[0] == "msi" && segs[1] == "token":
		key, handler = keyIdentity, s.managedIdentityToken
	}
	if handler == nil {
		s.count(r.Method+" "+escapedPath, false)
		writeJSON(w, http.StatusNotFound, object{{"error", object{
			{"code", "NotFound"},
			{"message", fmt.Sprintf("graphtest: no endpoint at %s %s", r.Method, escapedPath)},
		}}}, nil)
		return
	}
	if !s.sleep(r.Context()) {
		s.abandon(w)
		return
	}
	s.count(key, false)
	f, ok := s.takeFault(r.Method, key, "", 0, false, false)
	if !ok {
		handler(w, r, tenant)
		return
	}
	if !s.pause(r.Context(), f.Delay) {
		s.abandon(w)
		return
	}
	out := w
	var rec *httptest.ResponseRecorder
	if f.Truncate {
		rec = httptest.NewRecorder()
		out = rec
	}
	if f.isError() {
		s.identityFault(out, r, f)
	} else {
		handler(out, r, tenant)
	}
	if rec != nil {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("X-Graphtest-Fault", "injected")
		body := rec.Body.Bytes()
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body[:len(body)/2])
	}
}

func writeJSON(w http.ResponseWriter, status int, v any, h http.Header) {
	for k, vs := range h {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(mustJSON(v))
}

func (s *Server) identityFault(w http.ResponseWriter, r *http.Request, f Fault) {
	status := faultStatus(f)
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	w.Header().Set("X-Graphtest-Fault", "injected")
	if f.Body != "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(f.Body))
		return
	}
	code := "server_error"
	switch {
	case status == 429 || status == 503:
		code = "temporarily_unavailable"
	case status == 401:
		code = "invalid_client"
	case status < 500:
		code = "invalid_request"
	}
	s.aadError(w, r, status, code, 90033, "A transient error has occurred. Please try again.")
}

// aadError writes an error of the Microsoft identity platform.
func (s *Server) aadError(w http.ResponseWriter, r *http.Request, status int, code string, aadsts int, msg string) {
	now := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	trace := newUUID()
	corr := r.Header.Get("client-request-id")
	if corr == "" {
		corr = newUUID()
	}
	desc := fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, msg, trace, corr, now)
	writeJSON(w, status, object{
		{"error", code},
		{"error_description", desc},
		{"error_codes", []int{aadsts}},
		{"timestamp", now},
		{"trace_id", trace},
		{"correlation_id", corr},
		{"error_uri", fmt.Sprintf("%s/error?code=%d", s.URL(), aadsts)},
	}, nil)
}

// credentials returns the tenant id, client id and secret under the lock.
func (s *Server) credentials() (tenantID, clientID, secret string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tenant.TenantID, s.tenant.ClientID, s.tenant.ClientSecret
}

func (s *Server) tenantNotFound(w http.ResponseWriter, r *http.Request, code, tenant string) {
	s.aadError(w, r, http.StatusBadRequest, code, 90002, fmt.Sprintf(
		"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
}

// discovery serves the OpenID Connect discovery document of the tenant. MSAL
// requires authorization_endpoint, token_endpoint and issuer, and checks that
// the issuer's host is the authority's host.
func (s *Server) discovery(w http.ResponseWriter, r *http.Request, tenant string) {
	tid, _, _ := s.credentials()
	if tid == "" || !strings.EqualFold(tenant, tid) {
		s.tenantNotFound(w, r, "invalid_tenant", tenant)
		return
	}
	if r.Method != http.MethodGet {
		s.aadError(w, r, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts GET requests.")
		return
	}
	base := s.URL() + "/" + tid
	writeJSON(w, http.StatusOK, object{
		{"token_endpoint", base + "/oauth2/v2.0/token"},
		{"token_endpoint_auth_methods_supported", []string{"client_secret_post", "private_key_jwt", "client_secret_basic"}},
		{"jwks_uri", base + "/discovery/v2.0/keys"},
		{"response_modes_supported", []string{"query", "fragment", "form_post"}},
		{"subject_types_supported", []string{"pairwise"}},
		{"id_token_signing_alg_values_supported", []string{"RS256"}},
		{"response_types_supported", []string{"code", "id_token", "code id_token", "id_token token"}},
		{"scopes_supported", []string{"openid", "profile", "email", "offline_access"}},
		{"issuer", base + "/v2.0"},
		{"request_uri_parameter_supported", false},
		{"userinfo_endpoint", s.URL() + "/oidc/userinfo"},
		{"authorization_endpoint", base + "/oauth2/v2.0/authorize"},
		{"device_authorization_endpoint", base + "/oauth2/v2.0/devicecode"},
		{"http_logout_supported", true},
		{"frontchannel_logout_supported", true},
		{"end_session_endpoint", base + "/oauth2/v2.0/logout"},
		{"claims_supported", []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
			"cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce",
			"preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"}},
		{"kerberos_endpoint", base + "/kerberos"},
		{"tenant_region_scope", "EU"},
		{"cloud_instance_name", "graphtest.invalid"},
		{"cloud_graph_host_name", r.Host},
		{"msgraph_host", r.Host},
		{"rbac_url", s.URL()},
	}, nil)
}

// instanceDiscovery answers MSAL's AAD instance discovery. MSAL only calls it
// when instance discovery is enabled, and then at login.microsoftonline.com
// rather than at this server, so it is served for completeness only.
func (s *Server) instanceDiscovery(w http.ResponseWriter, r *http.Request, _ string) {
	tid, _, _ := s.credentials()
	tenant := tid
	if ae := r.URL.Query().Get("authorization_endpoint"); ae != "" {
		if u, err := url.Parse(ae); err == nil {
			if segs, ok := splitPath(u.EscapedPath()); ok && len(segs) > 0 {
				tenant = segs[0]
			}
		}
	}
	host := r.Host
	writeJSON(w, http.StatusOK, object{
		{"tenant_discovery_endpoint", s.URL() + "/" + tenant + "/v2.0/.well-known/openid-configuration"},
		{"api-version", "1.1"},
		{"metadata", []object{{
			{"preferred_network", host},
			{"preferred_cache", host},
			{"aliases", []string{host}},
		}}},
	}, nil)
}

// token serves the OAuth2 token endpoint for the client-credentials grant
// with a client secret (client_secret_post or client_secret_basic).
func (s *Server) token(w http.ResponseWriter, r *http.Request, tenant string) {
	tid, clientID, secret := s.credentials()
	if tid == "" || !strings.EqualFold(tenant, tid) {
		s.tenantNotFound(w, r, "invalid_request", tenant)
		return
	}
	s.mu.RLock()
	t := &Tenant{Certificates: s.tenant.Certificates, FederatedCredentials: s.tenant.FederatedCredentials, ConsentMissing: s.tenant.ConsentMissing}
	s.mu.RUnlock()
	if r.Method != http.MethodPost {
		s.aadError(w, r, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST, OPTIONS requests. Received a "+r.Method+" request.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	form := r.PostForm
	gotID, gotSecret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		if gotID == "" {
			gotID, _ = url.QueryUnescape(u)
		}
		if gotSecret == "" {
			gotSecret, _ = url.QueryUnescape(p)
		}
	}
	grant := form.Get("grant_type")
	switch {
	case grant == "":
		s.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	case grant != "client_credentials":
		s.aadError(w, r, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+grant+"'.")
		return
	case gotID == "":
		s.aadError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	case !strings.EqualFold(gotID, clientID) || t.ConsentMissing:
		s.aadError(w, r, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", gotID, tid))
		return
	case form.Get("client_assertion_type") != "" || form.Get("client_assertion") != "":
		if form.Get("client_assertion_type") != assertionType {
			s.aadError(w, r, http.StatusBadRequest, "invalid_request", 50027, "client_assertion_type must be "+assertionType+".")
			return
		}
		if code, msg := s.assertionProblem(form.Get("client_assertion"), tid, clientID, t); code != 0 {
			s.aadError(w, r, http.StatusUnauthorized, "invalid_client", code, msg)
			return
		}
	case gotSecret == "":
		s.aadError(w, r, http.StatusUnauthorized, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
		return
	case gotSecret != secret:
		s.aadError(w, r, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf(
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID))
		return
	}
	if status, code, aadsts, msg := s.checkScope(form.Get("scope"), tid); status != 0 {
		s.aadError(w, r, status, code, aadsts, msg)
		return
	}
	tok := s.issue()
	writeJSON(w, http.StatusOK, object{
		{"token_type", "Bearer"},
		{"expires_in", int(s.lifetime() / time.Second)},
		{"ext_expires_in", int(s.lifetime() / time.Second)},
		{"access_token", tok},
	}, nil)
}

// checkScope validates the scope of a client-credentials request: it must
// hold one "<resource>/.default" scope for this server (or Microsoft Graph);
// the OpenID scopes MSAL appends are ignored.
func (s *Server) checkScope(scope, tid string) (status int, code string, aadsts int, msg string) {
	if strings.TrimSpace(scope) == "" {
		return http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."
	}
	var resources []string
	for _, sc := range strings.Fields(scope) {
		switch sc {
		case "openid", "profile", "offline_access", "email":
			continue
		}
		res, ok := strings.CutSuffix(sc, "/.default")
		if !ok {
			return http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf(
				"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", sc)
		}
		resources = append(resources, res)
	}
	if len(resources) != 1 {
		return http.StatusBadRequest, "invalid_scope", 70011, fmt.Sprintf(
			"The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", scope)
	}
	res := strings.TrimSuffix(resources[0], "/")
	for _, ok := range []string{s.URL(), "https://graph.microsoft.com", graphAppID} {
		if strings.EqualFold(res, ok) {
			return 0, "", 0, ""
		}
	}
	return http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf(
		"The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", res, tid)
}
