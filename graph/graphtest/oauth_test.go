package graphtest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entrasync/entrasync/graph/graphtest"
)

func TestDiscoveryDocument(t *testing.T) {
	s := newServer(t)
	r := get(t, s, "", "/"+tenantID+"/v2.0/.well-known/openid-configuration")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	base := s.LoginEndpoint() + "/" + tenantID
	want := map[string]string{
		"token_endpoint":         base + "/oauth2/v2.0/token",
		"authorization_endpoint": base + "/oauth2/v2.0/authorize",
		"issuer":                 base + "/v2.0",
	}
	for k, v := range want {
		if got := r.body[k]; got != v {
			t.Errorf("%s = %v, want %s", k, got, v)
		}
	}
	r = get(t, s, "", "/00000000-0000-0000-0000-00000000dead/v2.0/.well-known/openid-configuration")
	if r.status != 400 || r.body["error"] != "invalid_tenant" || !strings.HasPrefix(r.body["error_description"].(string), "AADSTS90002:") {
		t.Errorf("unknown tenant: %d %s", r.status, r.raw)
	}
}

func TestTokenEndpoint(t *testing.T) {
	s := newServer(t)
	scope := s.GraphEndpoint() + "/.default openid offline_access profile"

	form := tokenForm()
	form.Set("scope", scope)
	status, body := postToken(t, s, tenantID, form)
	if status != 200 {
		t.Fatalf("good secret: %d %v", status, body)
	}
	if body["token_type"] != "Bearer" || body["expires_in"] != float64(3599) || body["ext_expires_in"] != float64(3599) {
		t.Errorf("token response = %v", body)
	}
	tok, _ := body["access_token"].(string)
	if len(tok) < 32 {
		t.Errorf("access_token %q too short", tok)
	}
	if r := get(t, s, tok, "/v1.0/users/"+u1); r.status != 200 {
		t.Errorf("issued token rejected: %d %s", r.status, r.raw)
	}

	cases := []struct {
		name   string
		tenant string
		edit   func(f map[string][]string)
		status int
		err    string
		aadsts string
	}{
		{"wrong secret", tenantID, func(f map[string][]string) { f["client_secret"] = []string{"nope"} }, 401, "invalid_client", "AADSTS7000215:"},
		{"no secret", tenantID, func(f map[string][]string) { delete(f, "client_secret") }, 401, "invalid_client", "AADSTS7000216:"},
		{"unknown tenant", "contoso.invalid", func(map[string][]string) {}, 400, "invalid_request", "AADSTS90002:"},
		{"unknown client", tenantID, func(f map[string][]string) { f["client_id"] = []string{"someone-else"} }, 400, "unauthorized_client", "AADSTS700016:"},
		{"bad grant", tenantID, func(f map[string][]string) { f["grant_type"] = []string{"password"} }, 400, "unsupported_grant_type", "AADSTS70003:"},
		{"no scope", tenantID, func(f map[string][]string) { delete(f, "scope") }, 400, "invalid_request", "AADSTS900144:"},
		{"scope without .default", tenantID, func(f map[string][]string) { f["scope"] = []string{s.URL() + "/User.Read"} }, 400, "invalid_scope", "AADSTS1002012:"},
		{"other resource", tenantID, func(f map[string][]string) { f["scope"] = []string{"https://vault.azure.net/.default"} }, 400, "invalid_resource", "AADSTS500011:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := tokenForm()
			f.Set("scope", scope)
			c.edit(f)
			status, body := postToken(t, s, c.tenant, f)
			if status != c.status || body["error"] != c.err {
				t.Fatalf("got %d %v, want %d %s", status, body, c.status, c.err)
			}
			desc, _ := body["error_description"].(string)
			if !strings.HasPrefix(desc, c.aadsts) {
				t.Errorf("error_description = %q, want prefix %s", desc, c.aadsts)
			}
			if _, ok := body["access_token"]; ok {
				t.Error("error response carries an access_token")
			}
		})
	}

	// A token for Microsoft Graph's own resource id is accepted too.
	f := tokenForm()
	f.Set("scope", "https://graph.microsoft.com/.default")
	if status, body := postToken(t, s, tenantID, f); status != 200 {
		t.Errorf("graph.microsoft.com scope: %d %v", status, body)
	}
	// client_secret_basic.
	req, _ := http.NewRequest(http.MethodPost, s.LoginEndpoint()+"/"+tenantID+"/oauth2/v2.0/token",
		strings.NewReader("grant_type=client_credentials&scope="+s.URL()+"/.default"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("client_secret_basic: status %d", resp.StatusCode)
	}
	if r := get(t, s, "", "/"+tenantID+"/oauth2/v2.0/token"); r.status != 405 {
		t.Errorf("GET token endpoint: %d", r.status)
	}
	if got := s.Requests()["POST /token"]; got != len(cases)+3 {
		t.Errorf("POST /token count = %d, want %d", got, len(cases)+3)
	}
	if s.GraphRequests() != 1 {
		t.Errorf("GraphRequests = %d, want 1", s.GraphRequests())
	}
}

func credential(t *testing.T, s *graphtest.Server, secret string) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.LoginEndpoint()},
			Transport: s.Client(),
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func TestAzidentityClientSecretCredential(t *testing.T) {
	s := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cred := credential(t, s, secret)
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.GraphEndpoint() + "/.default"}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	if time.Until(tok.ExpiresOn) < 50*time.Minute {
		t.Errorf("ExpiresOn = %v, want about an hour from now", tok.ExpiresOn)
	}
	r := get(t, s, tok.Token, "/v1.0/servicePrincipals/"+appObjID+"/appRoleAssignedTo")
	if r.status != 200 {
		t.Fatalf("Graph with azidentity token: %d %s", r.status, r.raw)
	}
	// The second call is served from MSAL's cache.
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.GraphEndpoint() + "/.default"}}); err != nil {
		t.Fatal(err)
	}
	counts := s.Requests()
	if counts["GET /{tenant}/v2.0/.well-known/openid-configuration"] != 1 || counts["POST /token"] != 1 {
		t.Errorf("MSAL requests = %v, want one discovery and one token request", counts)
	}
	for k := range counts {
		if strings.Contains(k, "discovery/instance") {
			t.Errorf("MSAL asked for instance discovery: %v", counts)
		}
	}

	bad := credential(t, s, "wrong")
	_, err = bad.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.GraphEndpoint() + "/.default"}})
	var authErr *azidentity.AuthenticationFailedError
	if !errors.As(err, &authErr) {
		t.Fatalf("wrong secret: err = %v, want AuthenticationFailedError", err)
	}
	if authErr.RawResponse == nil || authErr.RawResponse.StatusCode != 401 || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("wrong secret: %v", err)
	}
}

func TestTokenFaultsAndRevocation(t *testing.T) {
	s := newServer(t)
	s.InjectFault(graphtest.Fault{Endpoint: "POST /token", Times: 1, Status: 503, RetryAfter: "2"})
	form := tokenForm()
	form.Set("scope", s.URL()+"/.default")
	status, body := postToken(t, s, tenantID, form)
	if status != 503 || body["error"] != "temporarily_unavailable" {
		t.Errorf("injected token fault: %d %v", status, body)
	}
	tok := token(t, s) // the fault fired once only
	// An empty Endpoint does not target the identity endpoints.
	s.InjectFault(graphtest.Fault{Status: 500})
	_ = token(t, s)
	s.ClearFaults()

	if r := get(t, s, tok, "/v1.0/users/"+u1); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	s.RevokeTokens()
	r := get(t, s, tok, "/v1.0/users/"+u1)
	if code, _ := graphError(t, r); r.status != 401 || code != "InvalidAuthenticationToken" {
		t.Errorf("revoked token: %d %s", r.status, r.raw)
	}
}
