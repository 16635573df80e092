package graph_test

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/sync"
)

// Every credential kind against graphtest's token and identity endpoints
// over TLS on 127.0.0.1: success, and each failure with the fix it names.
// graphtest's Client refuses to dial anything off loopback; mustStayLocal
// fails a test whose credential tried.

const p12Password = "test-p12-password" // of testdata/client.p12

// MustCertificate returns a new self-signed certificate and its PEM file
// (certificate and key).
func MustCertificate(tb testing.TB, cn string) (*x509.Certificate, []byte) {
	tb.Helper()
	cert, pemFile, err := graphtest.NewCertificate(cn)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, pemFile
}

// mustStayLocal fails t if srv's client was asked to dial off loopback.
func mustStayLocal(t *testing.T, srv *graphtest.Server) {
	t.Helper()
	t.Cleanup(func() {
		if off := srv.OffLoopback(); len(off) > 0 {
			t.Errorf("a request would have left loopback: %v", off)
		}
	})
}

// credServer serves tenant(1) with mod applied.
func credServer(t *testing.T, mod func(*graphtest.Tenant)) *graphtest.Server {
	t.Helper()
	tn := tenant(1)
	if mod != nil {
		mod(tn)
	}
	srv := graphtest.NewServer(tn)
	t.Cleanup(srv.Close)
	return srv
}

// withAuth is config(srv) with the credential c (its client id the
// tenant's unless set).
func withAuth(srv *graphtest.Server, c graph.Credential) graph.Config {
	return config(srv, func(cfg *graph.Config) {
		if c.ClientID == "" && c.Kind != graph.KindManagedIdentity {
			c.ClientID = cfg.ClientID
		}
		cfg.ClientSecret, cfg.Auth = "", c
	})
}

// tokenCheck probes cfg and returns the token check.
func tokenCheck(t *testing.T, cfg graph.Config) graph.Check {
	t.Helper()
	return mustProbe(t, cfg)[graph.CheckToken]
}

// mustNotLeak fails when any of leaks appears in s.
func mustNotLeak(t *testing.T, s string, leaks ...string) {
	t.Helper()
	for _, l := range leaks {
		if l != "" && strings.Contains(s, l) {
			t.Fatalf("output reveals a secret (%q…): %s", l[:min(8, len(l))], s)
		}
	}
}

func TestCertificateCredentialPEM(t *testing.T) {
	cert, pemFile := MustCertificate(t, "entrasync")
	srv := credServer(t, func(tn *graphtest.Tenant) { tn.Certificates = []*x509.Certificate{cert} })
	mustStayLocal(t, srv)
	cfg := withAuth(srv, graph.Credential{Kind: graph.KindCertificate, Name: "cert", Certificate: pemFile})
	snap, err := source(t, srv, func(c *graph.Config) { *c = cfg }).Snapshot(context.Background())
	if err != nil {
		t.Fatalf("snapshot with a certificate: %v", err)
	}
	if len(snap.Users) != 2 {
		t.Fatalf("snapshot has %d users, want 2", len(snap.Users))
	}
	if srv.AssertionsWithChain() != 0 {
		t.Fatalf("x5c sent without send_certificate_chain")
	}
	cfg.Auth.SendCertificateChain = true
	wantCheck(t, tokenCheck(t, cfg), graph.CheckOK, "obtained", "")
	if srv.AssertionsWithChain() == 0 {
		t.Fatal("send_certificate_chain: no assertion carried x5c")
	}
}

func TestCertificateCredentialPKCS12(t *testing.T) {
	p12, err := os.ReadFile("testdata/client.p12")
	if err != nil {
		t.Fatal(err)
	}
	certs, _, err := azidentity.ParseCertificates(p12, []byte(p12Password))
	if err != nil {
		t.Fatal(err)
	}
	srv := credServer(t, func(tn *graphtest.Tenant) { tn.Certificates = certs })
	mustStayLocal(t, srv)
	cfg := withAuth(srv, graph.Credential{Kind: graph.KindCertificate, Certificate: p12, CertificatePassword: []byte(p12Password)})
	wantCheck(t, tokenCheck(t, cfg), graph.CheckOK, "obtained", "")

	cfg.Auth.CertificatePassword = []byte("not-the-password")
	_, err = graph.New(cfg, nil)
	if sync.ErrorCode(err) != sync.EINVALID || !strings.Contains(err.Error(), "is the password right?") {
		t.Fatalf("wrong PKCS#12 password: %v", err)
	}
	mustNotLeak(t, err.Error(), "not-the-password", p12Password)
}

func TestCertificateCredentialWrongCertificate(t *testing.T) {
	registered, _ := MustCertificate(t, "registered")
	_, other := MustCertificate(t, "other")
	srv := credServer(t, func(tn *graphtest.Tenant) { tn.Certificates = []*x509.Certificate{registered} })
	mustStayLocal(t, srv)
	cfg := withAuth(srv, graph.Credential{Kind: graph.KindCertificate, Certificate: other})
	wantCheck(t, tokenCheck(t, cfg), graph.CheckFailed, "certificate is not registered", "upload the public part of the configured certificate")

	_, err := source(t, srv, func(c *graph.Config) { *c = cfg }).Snapshot(context.Background())
	if sync.ErrorCode(err) != sync.EUNAUTHORIZED || !strings.Contains(err.Error(), "fix: upload the public part") {
		t.Fatalf("snapshot with an unregistered certificate: %v", err)
	}
	mustNotLeak(t, err.Error(), "PRIVATE KEY", string(other[len(other)-80:len(other)-30]))
}

func TestCredentialUnknownClient(t *testing.T) {
	cert, pemFile := MustCertificate(t, "entrasync")
	srv := credServer(t, func(tn *graphtest.Tenant) { tn.Certificates = []*x509.Certificate{cert} })
	mustStayLocal(t, srv)
	cfg := withAuth(srv, graph.Credential{Kind: graph.KindCertificate, ClientID: "c1000000-0000-4000-8000-00000000dead", Certificate: pemFile})
	wantCheck(t, tokenCheck(t, cfg), graph.CheckFailed, "was not found in tenant", "check client_id")
}

func TestWorkloadIdentityCredential(t *testing.T) {
	const subject = "system:serviceaccount:entrasync:worker"
	srv := credServer(t, nil)
	srv.Update(func(tn *graphtest.Tenant) {
		tn.FederatedCredentials = []graphtest.FederatedCredential{{Issuer: srv.FederatedIssuer(), Subject: subject}}
	})
	mustStayLocal(t, srv)
	token := func(sub string, ttl time.Duration) graph.Credential {
		tok := srv.FederatedToken(sub, ttl)
		return graph.Credential{Kind: graph.KindWorkloadIdentity, Assertion: func(context.Context) (string, error) { return tok, nil }}
	}
	t.Run("success", func(t *testing.T) {
		wantCheck(t, tokenCheck(t, withAuth(srv, token(subject, time.Hour))), graph.CheckOK, "obtained", "")
	})
	t.Run("expired token", func(t *testing.T) {
		wantCheck(t, tokenCheck(t, withAuth(srv, token(subject, -time.Hour))), graph.CheckFailed,
			"not within its valid time range", "token file is being refreshed")
	})
	t.Run("no matching federated credential", func(t *testing.T) {
		wantCheck(t, tokenCheck(t, withAuth(srv, token("system:serviceaccount:other:sa", time.Hour))), graph.CheckFailed,
			"no federated identity credential", "add a federated credential")
	})
	t.Run("forged token", func(t *testing.T) {
		tok := srv.FederatedToken(subject, time.Hour)
		forged := tok[:len(tok)-8] + "AAAAAAAA"
		c := graph.Credential{Kind: graph.KindWorkloadIdentity, Assertion: func(context.Context) (string, error) { return forged, nil }}
		wantCheck(t, tokenCheck(t, withAuth(srv, c)), graph.CheckFailed, "signature or format was rejected", "check that token_file")
	})
	t.Run("unreadable token file", func(t *testing.T) {
		c := graph.Credential{Kind: graph.KindWorkloadIdentity, Assertion: func(context.Context) (string, error) {
			return "", errors.New("federated token file /var/run/none: no such file")
		}}
		ck := tokenCheck(t, withAuth(srv, c))
		if ck.Status != graph.CheckFailed || !strings.Contains(ck.Found, "/var/run/none") {
			t.Fatalf("unreadable token file: %+v", ck)
		}
	})
}

// managedIdentityEnv points azidentity's App Service managed identity at srv.
func managedIdentityEnv(t *testing.T, srv *graphtest.Server) {
	t.Setenv("IDENTITY_ENDPOINT", srv.IdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", srv.IdentityHeader())
	for _, k := range []string{"IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func TestManagedIdentityCredential(t *testing.T) {
	const userAssigned = "b1000000-0000-4000-8000-000000000001"
	srv := credServer(t, func(tn *graphtest.Tenant) {
		tn.ManagedIdentity = &graphtest.ManagedIdentity{SystemAssigned: true, UserAssigned: []string{userAssigned}}
	})
	mustStayLocal(t, srv)
	managedIdentityEnv(t, srv)
	mi := func(clientID string) graph.Config {
		return withAuth(srv, graph.Credential{Kind: graph.KindManagedIdentity, ClientID: clientID})
	}
	wantCheck(t, tokenCheck(t, mi("")), graph.CheckOK, "obtained", "")
	wantCheck(t, tokenCheck(t, mi(userAssigned)), graph.CheckOK, "obtained", "")
	if _, err := source(t, srv, func(c *graph.Config) { *c = mi(userAssigned) }).Snapshot(context.Background()); err != nil {
		t.Fatalf("snapshot with a user-assigned identity: %v", err)
	}
	wantCheck(t, tokenCheck(t, mi("b1000000-0000-4000-8000-00000000dead")), graph.CheckFailed,
		"managed identity obtained no token", "names an identity assigned to this resource")
}

// Without the App Service variables azidentity asks the instance metadata
// service at 169.254.169.254: graphtest's client refuses to dial it, so the
// test stays on the machine, and the check says what to do.
func TestManagedIdentityNeverLeavesLoopback(t *testing.T) {
	srv := credServer(t, nil)
	for _, k := range []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	cfg := withAuth(srv, graph.Credential{Kind: graph.KindManagedIdentity})
	cfg.MaxRetries = 1
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // IMDS retries a refused dial for a minute
	defer cancel()
	checks := graph.Probe(ctx, cfg, graph.ProbeHints{})
	if checks[0].Status != graph.CheckFailed || !strings.Contains(checks[0].Fix, "managed identity") {
		t.Fatalf("token check without a managed identity: %+v", checks[0])
	}
	off := srv.OffLoopback()
	if len(off) == 0 || !strings.HasPrefix(off[0], "169.254.169.254") {
		t.Fatalf("off-loopback dials %v, want the instance metadata service refused", off)
	}
}

func TestClientSecretCredentialNamed(t *testing.T) {
	srv := credServer(t, nil)
	mustStayLocal(t, srv)
	cfg := withAuth(srv, graph.Credential{Kind: graph.KindClientSecret, Name: "shared", Secret: secret})
	wantCheck(t, tokenCheck(t, cfg), graph.CheckOK, "obtained", "")
	cfg.Auth.Secret = "wrong-secret-value"
	_, err := source(t, srv, func(c *graph.Config) { *c = cfg }).Snapshot(context.Background())
	if sync.ErrorCode(err) != sync.EUNAUTHORIZED || !strings.Contains(err.Error(), "client secret was rejected") {
		t.Fatalf("wrong secret: %v", err)
	}
	mustNotLeak(t, err.Error(), "wrong-secret-value", secret)
}

func TestConsentURL(t *testing.T) {
	got := graph.ConsentURL("", "", "contoso.onmicrosoft.com", "c1000000-0000-4000-8000-000000000001")
	want := "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/adminconsent?client_id=c1000000-0000-4000-8000-000000000001&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
	if got != want {
		t.Fatalf("ConsentURL = %s\nwant %s", got, want)
	}
}
