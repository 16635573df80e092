package graphtest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The credentials the token endpoint verifies besides a client secret:
//
//   - client assertions signed with a certificate (private_key_jwt): the
//     JWT's signature against one of Tenant.Certificates, found by its x5t
//     or x5t#S256 thumbprint, aud (this token endpoint), iss and sub (the
//     client id), exp and nbf;
//   - federated tokens (workload identity): a JWT that FederatedToken
//     issued, its signature, exp, and an entry of
//     Tenant.FederatedCredentials matching its iss, sub and aud;
//   - managed identity: GET IdentityEndpoint() as App Service serves it
//     (azidentity reads IDENTITY_ENDPOINT and IDENTITY_HEADER), for the
//     identities of Tenant.ManagedIdentity.
//
// Failures answer as the identity platform does, with its AADSTS codes.

// assertionType is the client_assertion_type of a JWT client assertion.
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// FederatedAudience is the audience Entra expects of federated tokens.
const FederatedAudience = "api://AzureADTokenExchange"

// FederatedCredential is a federated identity credential of the app
// registration: a token of Issuer for Subject and Audience is exchanged for
// the application's token.
type FederatedCredential struct {
	Issuer   string `json:"issuer"`
	Subject  string `json:"subject"`
	Audience string `json:"audience,omitempty"` // default FederatedAudience
}

// ManagedIdentity is what the managed-identity endpoint serves tokens for.
type ManagedIdentity struct {
	// SystemAssigned serves the resource's system-assigned identity.
	SystemAssigned bool `json:"systemAssigned"`
	// UserAssigned are the client ids of user-assigned identities.
	UserAssigned []string `json:"userAssigned,omitempty"`
}

// FederatedIssuer is the issuer of the tokens FederatedToken signs.
func (s *Server) FederatedIssuer() string { return s.URL() + "/federation" }

// FederatedToken returns a token of FederatedIssuer for subject, valid for
// ttl (a negative ttl makes it expired), as a workload's issuer (AKS,
// GitHub Actions) writes it to the federated token file. The token
// endpoint verifies its signature with the issuer's key.
func (s *Server) FederatedToken(subject string, ttl time.Duration) string {
	now := time.Now()
	return signJWT(s.issuer(), map[string]any{"alg": "RS256", "typ": "JWT", "kid": "graphtest"}, map[string]any{
		"iss": s.FederatedIssuer(), "sub": subject, "aud": FederatedAudience,
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(ttl).Unix(),
	})
}

// IdentityEndpoint is the managed-identity endpoint, to be set as
// IDENTITY_ENDPOINT with IdentityHeader as IDENTITY_HEADER.
func (s *Server) IdentityEndpoint() string { return s.URL() + "/msi/token" }

// IdentityHeader is the secret the managed-identity endpoint expects in
// X-IDENTITY-HEADER.
func (s *Server) IdentityHeader() string {
	s.keyOnce.Do(s.makeKeys)
	return s.identityHeader
}

// AssertionsWithChain counts the client assertions received with an x5c
// header (the certificate chain).
func (s *Server) AssertionsWithChain() int { return int(s.withChain.Load()) }

// OffLoopback lists the addresses Client's transport refused to dial
// because they are not on loopback (169.254.169.254:80, a public host):
// a test that finds any would have left the machine.
func (s *Server) OffLoopback() []string {
	s.offMu.Lock()
	defer s.offMu.Unlock()
	return append([]string(nil), s.off...)
}

func (s *Server) issuer() *rsa.PrivateKey {
	s.keyOnce.Do(s.makeKeys)
	return s.issuerKey
}

func (s *Server) makeKeys() {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	s.issuerKey = k
	s.identityHeader = base64.RawURLEncoding.EncodeToString(randomBytes(24))
}

// guard makes the client's transport refuse any address off loopback, and
// note it, so that no test reaches the instance metadata service or the
// public cloud by mistake.
func (s *Server) guard(c *http.Client) *http.Client {
	base, ok := c.Transport.(*http.Transport)
	if !ok {
		return c
	}
	t := base.Clone()
	var d net.Dialer
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			s.offMu.Lock()
			s.off = append(s.off, addr)
			s.offMu.Unlock()
			return nil, fmt.Errorf("graphtest: refusing to dial %s: tests stay on loopback", addr)
		}
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: t, Timeout: c.Timeout}
}

// jwt is a decoded, not yet verified, JSON web token.
type jwt struct {
	header, claims map[string]any
	signed, sig    []byte
}

func parseJWT(s string) (*jwt, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWS compact serialization")
	}
	var t jwt
	for i, dst := range []*map[string]any{&t.header, &t.claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(dst); err != nil {
			return nil, err
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, err
	}
	t.signed, t.sig = []byte(parts[0]+"."+parts[1]), sig
	return &t, nil
}

func (t *jwt) str(k string) string { v, _ := t.claims[k].(string); return v }
func (t *jwt) hdr(k string) string { v, _ := t.header[k].(string); return v }
func (t *jwt) unix(k string) int64 {
	switch v := t.claims[k].(type) {
	case json.Number:
		n, _ := v.Int64()
		return n
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

// verify checks t's signature (RS256 or PS256) with pub.
func (t *jwt) verify(pub crypto.PublicKey) bool {
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return false
	}
	h := sha256.Sum256(t.signed)
	switch t.hdr("alg") {
	case "RS256":
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], t.sig) == nil
	case "PS256":
		return rsa.VerifyPSS(k, crypto.SHA256, h[:], t.sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	}
	return false
}

func signJWT(k *rsa.PrivateKey, header, claims map[string]any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signed := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// thumb decodes a thumbprint header: base64url or, as MSAL writes it,
// standard base64.
func thumb(v string) []byte {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			return b
		}
	}
	return nil
}

// assertionProblem is why a client assertion was refused: the AADSTS code
// and message, or 0 when it is accepted.
func (s *Server) assertionProblem(assertion, tid, clientID string, t *Tenant) (int, string) {
	tok, err := parseJWT(assertion)
	if err != nil {
		return 50027, "JWT token is invalid or malformed."
	}
	now := time.Now().Unix()
	const skew = 300
	if tok.str("iss") == s.FederatedIssuer() || isFederatedIssuer(t, tok.str("iss")) {
		if tok.str("iss") != s.FederatedIssuer() || !tok.verify(&s.issuer().PublicKey) {
			return 50013, "Assertion failed signature validation."
		}
		if exp := tok.unix("exp"); exp == 0 || exp+skew < now {
			return 700024, "Client assertion is not within its valid time range."
		}
		for _, fc := range t.FederatedCredentials {
			aud := fc.Audience
			if aud == "" {
				aud = FederatedAudience
			}
			if fc.Issuer == tok.str("iss") && fc.Subject == tok.str("sub") && audHas(tok.claims["aud"], aud) {
				return 0, ""
			}
		}
		return 70021, fmt.Sprintf("No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%v'.",
			tok.str("iss"), tok.str("sub"), tok.claims["aud"])
	}
	if !strings.EqualFold(tok.str("iss"), clientID) || !strings.EqualFold(tok.str("sub"), clientID) {
		return 700021, "Client assertion application identifier doesn't match 'client_id' parameter."
	}
	endpoint := s.URL() + "/" + tid + "/oauth2/v2.0/token"
	if !audHas(tok.claims["aud"], endpoint) {
		return 700212, fmt.Sprintf("Client assertion audience claim does not match the token endpoint %s.", endpoint)
	}
	if exp := tok.unix("exp"); exp == 0 || exp+skew < now || tok.unix("nbf") > now+skew {
		return 700024, "Client assertion is not within its valid time range."
	}
	var cert *x509.Certificate
	for _, c := range t.Certificates {
		s1, s256 := sha1.Sum(c.Raw), sha256.Sum256(c.Raw)
		if x := tok.hdr("x5t#S256"); x != "" && bytes.Equal(thumb(x), s256[:]) ||
			tok.hdr("x5t") != "" && bytes.Equal(thumb(tok.hdr("x5t")), s1[:]) {
			cert = c
		}
	}
	if cert == nil {
		return 700027, fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered on application '%s'.", clientID)
	}
	if !tok.verify(cert.PublicKey) {
		return 700027, "Client assertion failed signature validation."
	}
	if x5c, ok := tok.header["x5c"]; ok {
		chain, _ := x5c.([]any)
		leaf := ""
		if len(chain) > 0 {
			leaf, _ = chain[0].(string)
		}
		if b, err := base64.StdEncoding.DecodeString(leaf); err != nil || !bytes.Equal(b, cert.Raw) {
			return 700027, "The x5c certificate chain does not start with the certificate that signed the client assertion."
		}
		s.withChain.Add(1)
	}
	return 0, ""
}

func isFederatedIssuer(t *Tenant, iss string) bool {
	for _, fc := range t.FederatedCredentials {
		if fc.Issuer == iss {
			return true
		}
	}
	return false
}

func audHas(aud any, want string) bool {
	switch v := aud.(type) {
	case string:
		return strings.EqualFold(v, want)
	case []any:
		for _, a := range v {
			if s, ok := a.(string); ok && strings.EqualFold(s, want) {
				return true
			}
		}
	}
	return false
}

// managedIdentityToken serves GET /msi/token as App Service's identity
// endpoint (api-version 2019-08-01): X-IDENTITY-HEADER must be
// IdentityHeader, resource the Graph resource, client_id (optional) a
// user-assigned identity of the tenant.
func (s *Server) managedIdentityToken(w http.ResponseWriter, r *http.Request, _ string) {
	s.mu.RLock()
	mi := s.tenant.ManagedIdentity
	s.mu.RUnlock()
	fail := func(status int, msg string) {
		writeJSON(w, status, object{{"statusCode", status}, {"message", msg}, {"correlationId", newUUID()}}, nil)
	}
	q := r.URL.Query()
	switch {
	case r.Method != http.MethodGet:
		fail(http.StatusMethodNotAllowed, "The endpoint only accepts GET requests.")
		return
	case r.Header.Get("X-IDENTITY-HEADER") != s.IdentityHeader():
		fail(http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or wrong.")
		return
	case q.Get("api-version") != "2019-08-01":
		fail(http.StatusBadRequest, "api-version 2019-08-01 is required.")
		return
	}
	if status, _, _, msg := s.checkScope(q.Get("resource")+"/.default", ""); status != 0 {
		fail(http.StatusBadRequest, msg)
		return
	}
	clientID := q.Get("client_id")
	known := false
	switch {
	case mi == nil:
	case clientID == "" && q.Get("mi_res_id") == "" && q.Get("principal_id") == "":
		known = mi.SystemAssigned
	case clientID != "":
		for _, id := range mi.UserAssigned {
			known = known || strings.EqualFold(id, clientID)
		}
	}
	if !known {
		if clientID == "" {
			fail(http.StatusBadRequest, "No managed identity found for the resource (system-assigned identity not enabled).")
		} else {
			fail(http.StatusBadRequest, "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.")
		}
		return
	}
	tok := s.issue()
	writeJSON(w, http.StatusOK, object{
		{"access_token", tok},
		{"expires_on", strconv.FormatInt(time.Now().Add(s.lifetime()).Unix(), 10)},
		{"resource", q.Get("resource")},
		{"token_type", "Bearer"},
		{"client_id", clientID},
	}, nil)
}

// issue makes an access token Graph accepts for tokenLifetime.
func (s *Server) issue() string {
	tok := base64.RawURLEncoding.EncodeToString(randomBytes(48))
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	if len(s.tokens) > 10000 {
		now := time.Now()
		for k, exp := range s.tokens {
			if now.After(exp) {
				delete(s.tokens, k)
			}
		}
	}
	s.tokens[tok] = time.Now().Add(s.lifetime())
	return tok
}

// WithTokenLifetime makes issued access tokens expire after d (default
// 3599 s, as Entra's app-only tokens): MSAL treats a token within five
// minutes of expiry as due for renewal, so a short lifetime shows a
// credential's refresh.
func WithTokenLifetime(d time.Duration) Option {
	return func(s *Server) { s.tokenLife = d }
}

func (s *Server) lifetime() time.Duration {
	if s.tokenLife > 0 {
		return s.tokenLife
	}
	return tokenLifetime * time.Second
}

// leastPrivilege are the permissions a tenant whose Permissions is nil
// grants: the least-privileged set entrasync documents.
var leastPrivilege = []string{"Application.Read.All", "GroupMember.Read.All", "User.Read.All"}

// WithGroupsDeltaNeedingGroupRead models a tenant that refuses
// GET /v1.0/groups/delta (403) unless Group.Read.All (or Directory.Read.All)
// is granted. The group-delta page lists GroupMember.Read.All as least
// privileged, the directoryObject delta page Group.Read.All; by default
// graphtest follows the former.
func WithGroupsDeltaNeedingGroupRead() Option {
	return func(s *Server) { s.groupsDeltaGroupRead = true }
}

// permissionOf is the Graph application permission an endpoint needs.
func (s *Server) permissionOf(key string) string {
	switch {
	case key == getByIDsKey:
		return "Directory.Read.All" // the only one its page lists
	case key == "GET /v1.0/groups/delta" && s.groupsDeltaGroupRead:
		return "Group.Read.All"
	case strings.Contains(key, "/servicePrincipals"):
		return "Application.Read.All"
	case strings.Contains(key, "/groups/"):
		return "GroupMember.Read.All"
	case strings.Contains(key, "/users"), strings.Contains(key, "/directoryObjects/delta"):
		// directoryObjects/delta of appRoleAssignments and users: the docs
		// list User.Read.All as the least privileged permission.
		return "User.Read.All"
	}
	return ""
}

// checkPermission answers 403 Authorization_RequestDenied when the
// endpoint's permission is not granted: not among the tenant's Permissions
// (leastPrivilege when nil), nor covered by a higher one granted
// (Directory.Read.All covers every read, Group.Read.All the group reads).
func (s *Server) checkPermission(g *greq, rt *route) *gresp {
	perm := s.permissionOf(rt.key)
	s.mu.RLock()
	granted := s.tenant.Permissions
	if granted == nil {
		granted = leastPrivilege
	}
	ok := perm == ""
	for _, p := range granted {
		ok = ok || strings.EqualFold(p, perm) || strings.EqualFold(p, "Directory.Read.All") ||
			strings.EqualFold(p, "Group.Read.All") && perm == "GroupMember.Read.All"
	}
	s.mu.RUnlock()
	if ok {
		return nil
	}
	return s.gerr(g, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
}

// NewCertificate returns a new self-signed RSA certificate for cn, valid
// for a day, and a PEM file of it and its PKCS#8 private key: what a client
// configures as its certificate credential, and Tenant.Certificates
// registers.
func NewCertificate(cn string) (*x509.Certificate, []byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return cert, append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...), nil
}
