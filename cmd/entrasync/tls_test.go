package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/store/storetest"
)

// MustCertificate writes a self-signed certificate for 127.0.0.1 and its
// key as PEM files under dir and returns their paths and the certificate.
func MustCertificate(tb testing.TB, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "entrasync test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile, cert
}

// TestRunServesTLS: with worker.tls_cert and worker.tls_key the listener
// speaks HTTPS only: the API answers over TLS, a cleartext request gets no
// API answer, and the console's session cookie is Secure.
func TestRunServesTLS(t *testing.T) {
	gs := graphtest.NewServer(demoTenant())
	defer gs.Close()
	cfgFile, env := writeWorkerConfig(t, gs, storetest.MustSchemaURL(t))
	certFile, keyFile, cert := MustCertificate(t, t.TempDir())
	env["ENTRASYNC_TLS_CERT"], env["ENTRASYNC_TLS_KEY"] = certFile, keyFile
	getenv := func(k string) string { return env[k] }
	token := mustCLIToken(t, cfgFile, getenv)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs, done := startRun(ctx, cfgFile, addr, getenv)

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("https://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS answer: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	req, _ := http.NewRequest("GET", "https://"+addr+"/api/v1/tenants", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("API over TLS: %v %v", resp, err)
	}
	if resp, err := http.Get("http://" + addr + "/api/v1/tenants"); err == nil && resp.StatusCode == 200 {
		t.Fatal("the TLS listener answered a cleartext API request")
	}
	resp, err := client.PostForm("https://"+addr+"/signin", url.Values{"token": {token}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("console sign-in over TLS: %v %v", resp, err)
	}
	if cks := resp.Cookies(); len(cks) != 1 || !cks[0].Secure || !cks[0].HttpOnly {
		t.Fatalf("session cookie over TLS: %v", resp.Header["Set-Cookie"])
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	key, _ := os.ReadFile(keyFile)
	if strings.Contains(logs.String(), string(key[40:80])) || strings.Contains(logs.String(), token) {
		t.Fatal("logs reveal the key or the token")
	}
}

// TestRunRefusesABadTLSPair: a key that is not the certificate's, or a
// certificate file that is not a file, is a usage error naming the field,
// before anything listens; the key's text is not in it.
func TestRunRefusesABadTLSPair(t *testing.T) {
	gs := graphtest.NewServer(demoTenant())
	defer gs.Close()
	cfgFile, env := writeWorkerConfig(t, gs, storetest.MustSchemaURL(t))
	certFile, _, _ := MustCertificate(t, t.TempDir())
	_, otherKey, _ := MustCertificate(t, t.TempDir())
	for _, c := range []struct{ cert, key, want string }{
		{certFile, otherKey, "are not a certificate and its key"},
		{t.TempDir(), otherKey, "worker.tls_cert"},
		{certFile, "/nonexistent/tls.key", "worker.tls_key"},
	} {
		env["ENTRASYNC_TLS_CERT"], env["ENTRASYNC_TLS_KEY"] = c.cert, c.key
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"--config", cfgFile, "run", "--listen", freeAddr(t)}, func(k string) string { return env[k] }, &out, &errb)
		key, _ := os.ReadFile(otherKey)
		if code := exitCode(err, &errb); code != exitUsage || !strings.Contains(errb.String(), c.want) || strings.Contains(errb.String(), string(key[40:80])) {
			t.Errorf("cert %s key %s: exit %d, %s", c.cert, c.key, code, errb.String())
		}
	}
}
