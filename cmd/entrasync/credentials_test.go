package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
)

// TestCheckCertificateCredential: a tenant of the file names a certificate
// credential; check passes with the registered certificate, and with
// another names the fix; neither output shows the key or its password.
func TestCheckCertificateCredential(t *testing.T) {
	registered, regPEM, err := graphtest.NewCertificate("registered")
	if err != nil {
		t.Fatal(err)
	}
	_, otherPEM, err := graphtest.NewCertificate("other")
	if err != nil {
		t.Fatal(err)
	}
	gs := graphtest.NewServer(demoTenant())
	defer gs.Close()
	gs.Update(func(tn *graphtest.Tenant) { tn.Certificates = []*x509.Certificate{registered} })
	tn := gs.Tenant()
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	cfgFile := writeConfig(t, gs, fmt.Sprintf(`credentials:
  - name: vendor-cert
    kind: certificate
    client_id: %s
    certificate_file: %s
    certificate_password_env: CERT_PASSWORD
tenants:
  - name: demo
    tenant_id: %s
    credential: vendor-cert
    service_principal_id: %s
`, tn.ClientID, certFile, tn.TenantID, tn.Application.ID))
	env := map[string]string{"ENTRASYNC_DATABASE_URL": filepath.Join(dir, "c.db"), "CERT_PASSWORD": "unused-pass-phrase"}
	keyLine := func(p []byte) string {
		return strings.Split(strings.Split(string(p), "PRIVATE KEY-----\n")[1], "\n")[0]
	}

	if err := os.WriteFile(certFile, regPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := runCLI(t, env, "--config", cfgFile, "migrate"); code != exitOK { // check creates no directory
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code := runCLI(t, env, "--config", cfgFile, "check")
	if code != exitOK {
		t.Fatalf("check with the registered certificate: exit %d\n%s%s", code, out, stderr)
	}
	wantLine(t, out, "token", "✓")

	if err := os.WriteFile(certFile, otherPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = runCLI(t, env, "--config", cfgFile, "check")
	if code != exitFailure {
		t.Fatalf("check with another certificate: exit %d\n%s", code, out)
	}
	wantLine(t, out, "token", "✗", "certificate is not registered", "fix: upload the public part of the configured certificate")
	for _, leak := range []string{keyLine(regPEM), keyLine(otherPEM), "unused-pass-phrase"} {
		if strings.Contains(out+stderr, leak) {
			t.Fatalf("check output reveals a secret %q…", leak[:8])
		}
	}
}
