package graphtest_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph/graphtest"
)

// The token endpoint's checks of client assertions, one claim at a time,
// with assertions made here (MSAL always makes valid ones).

func mustKeyCert(t *testing.T) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return key, cert
}

// assertion signs claims (PS256, x5t#S256 of cert) with key.
func assertion(t *testing.T, key *rsa.PrivateKey, cert *x509.Certificate, claims map[string]any) string {
	t.Helper()
	th := sha256.Sum256(cert.Raw)
	h, _ := json.Marshal(map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": base64.StdEncoding.EncodeToString(th[:])})
	c, _ := json.Marshal(claims)
	signed := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestTokenEndpointChecksClientAssertions(t *testing.T) {
	key, cert := mustKeyCert(t)
	otherKey, otherCert := mustKeyCert(t)
	s := newServer(t)
	s.Update(func(tn *graphtest.Tenant) { tn.Certificates = []*x509.Certificate{cert} })
	endpoint := s.LoginEndpoint() + "/" + tenantID + "/oauth2/v2.0/token"
	claims := func(mod func(map[string]any)) map[string]any {
		now := time.Now()
		c := map[string]any{"aud": endpoint, "iss": clientID, "sub": clientID, "jti": "1",
			"nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	post := func(a string) (int, map[string]any) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {s.GraphEndpoint() + "/.default"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
		return postToken(t, s, tenantID, form)
	}
	if status, body := post(assertion(t, key, cert, claims(nil))); status != 200 || body["access_token"] == nil {
		t.Fatalf("valid assertion: %d %v", status, body)
	}
	for _, c := range []struct {
		name      string
		assertion string
		aadsts    string
	}{
		{"expired", assertion(t, key, cert, claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), "AADSTS700024:"},
		{"not yet valid", assertion(t, key, cert, claims(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), "AADSTS700024:"},
		{"wrong audience", assertion(t, key, cert, claims(func(c map[string]any) { c["aud"] = "https://login.example/token" })), "AADSTS700212:"},
		{"wrong issuer", assertion(t, key, cert, claims(func(c map[string]any) { c["iss"] = "someone-else" })), "AADSTS700021:"},
		{"unregistered certificate", assertion(t, otherKey, otherCert, claims(nil)), "AADSTS700027:"},
		{"signed by another key", assertion(t, otherKey, cert, claims(nil)), "AADSTS700027:"},
		{"not a JWT", "abc.def", "AADSTS50027:"},
	} {
		status, body := post(c.assertion)
		desc, _ := body["error_description"].(string)
		if status != http.StatusUnauthorized || !strings.HasPrefix(desc, c.aadsts) {
			t.Errorf("%s: %d %v, want 401 %s", c.name, status, body, c.aadsts)
		}
	}
}

func TestTokenEndpointNoConsent(t *testing.T) {
	s := newServer(t)
	s.Update(func(tn *graphtest.Tenant) { tn.ConsentMissing = true })
	form := tokenForm()
	form.Set("scope", s.GraphEndpoint()+"/.default")
	status, body := postToken(t, s, tenantID, form)
	if desc, _ := body["error_description"].(string); status != 400 || !strings.Contains(desc, "AADSTS700016") || !strings.Contains(desc, "consented") {
		t.Fatalf("tenant without consent: %d %v", status, body)
	}
}

func TestGraphChecksGrantedPermissions(t *testing.T) {
	s := newServer(t)
	s.Update(func(tn *graphtest.Tenant) { tn.Permissions = []string{"Application.Read.All"} })
	tok := token(t, s)
	if r := get(t, s, tok, "/v1.0/servicePrincipals/"+appObjID); r.status != 200 {
		t.Fatalf("granted Application.Read.All: %d %s", r.status, r.raw)
	}
	r := get(t, s, tok, "/v1.0/groups/"+groupEng+"/members")
	if code, _ := graphError(t, r); r.status != 403 || code != "Authorization_RequestDenied" {
		t.Fatalf("GroupMember.Read.All not granted: %d %s", r.status, r.raw)
	}
}
