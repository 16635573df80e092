package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const good = `
database: postgres://u:pw@db/entrasync
tenants:
  - name: contoso
    tenant_id: 11111111-1111-1111-1111-111111111111
    client_id: 22222222-2222-2222-2222-222222222222
    app_id: 33333333-3333-3333-3333-333333333333
`

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseDefaultsAndEnv(t *testing.T) {
	c, err := Parse(strings.NewReader(good), env(map[string]string{
		"ENTRASYNC_CONTOSO_CLIENT_SECRET": "s3cret-value",
		"ENTRASYNC_LOG_FORMAT":            "json",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	tn := c.Tenants[0]
	if tn.Schedule != DefaultSchedule || tn.EmailSource != "mail" || tn.GraphEndpoint != "https://graph.microsoft.com" ||
		tn.LoginEndpoint != "https://login.microsoftonline.com" || tn.ClientSecret.Reveal() != "s3cret-value" || c.Log.Format != "json" {
		t.Fatalf("parsed %+v", c)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	c, err := Parse(strings.NewReader(good), env(map[string]string{"ENTRASYNC_CONTOSO_CLIENT_SECRET": "s3cret-value"}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %+v %#v %s", c, c, c, c.Tenants[0].ClientSecret)
	j, _ := json.Marshal(c)
	buf.Write(j)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("cfg", "secret", c.Tenants[0].ClientSecret, "db", c.Database)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "tenant", c.Tenants[0])
	for _, leak := range []string{"s3cret-value", "pw@"} {
		if strings.Contains(buf.String(), leak) {
			t.Fatalf("output reveals %q: %s", leak, buf.String())
		}
	}
}

func TestSecretFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(strings.NewReader(good+"    client_secret_file: "+p+"\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tenants[0].ClientSecret.Reveal() != "from-file" {
		t.Fatalf("secret = %q", c.Tenants[0].ClientSecret.Reveal())
	}
	c, err = Parse(strings.NewReader(good+"    client_secret_file: /nonexistent/x\n"), env(nil))
	if err != nil || c.Validate() != nil {
		t.Fatalf("a missing secret file fails the configuration (%v, %v): only commands that talk to Graph need it", err, c.Validate())
	}
	if err := c.Tenants[0].CheckSecret(); err == nil || !strings.Contains(err.Error(), "tenants[0].client_secret_file") {
		t.Fatalf("missing file error = %v", err)
	}
}

func TestValidateNamesField(t *testing.T) {
	secret := env(map[string]string{"ENTRASYNC_CONTOSO_CLIENT_SECRET": "x"})
	cases := []struct {
		name, yaml, field string
		getenv            func(string) string
	}{
		{"bad name", strings.Replace(good, "contoso", "Con toso", 1), "tenants[0].name", secret},
		{"bad client id", strings.Replace(good, "22222222-2222-2222-2222-222222222222", "nope", 1), "tenants[0].client_id", secret},
		{"no app", strings.Replace(good, "app_id", "#", 1), "tenants[0].service_principal_id", secret},
		{"bad email source", good + "    email_source: phone\n", "tenants[0].email_source", secret},
		{"bad cloud", good + "    cloud: mars\n", "tenants[0].cloud", secret},
		{"bad threshold percent", good + "    archive_threshold_percent: 150\n", "tenants[0].archive_threshold_percent", secret},
		{"bad schedule", good + "    schedule: \"@every 5s\"\n", "tenants[0].schedule", secret},
		{"bad cron", good + "    schedule: \"61 * * * *\"\n", "tenants[0].schedule", secret},
		{"bad listen", good + "worker:\n  listen: nowhere\n", "worker.listen", secret},
		{"tls cert without key", good + "worker:\n  tls_cert: /etc/entrasync/tls.crt\n", "worker.tls_key", secret},
		{"tls key without cert", good + "worker:\n  tls_key: /etc/entrasync/tls.key\n", "worker.tls_cert", secret},
		{"http endpoint", good + "    graph_endpoint: http://graph.example\n", "tenants[0].graph_endpoint", secret},
		{"bad database", strings.Replace(good, "postgres://u:pw@db/entrasync", "mysql://x", 1), "database", secret},
		{"bad log format", good + "log:\n  format: xml\n", "log.format", secret},
		{"duplicate tenant", good + strings.SplitN(good, "tenants:\n", 2)[1], "tenants[1].name", secret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tc.yaml), tc.getenv)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			err = c.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Validate() = %v, want a FieldError on %s", err, tc.field)
			}
		})
	}
}

func TestParseRejectsUnknownFieldsAndBadYAML(t *testing.T) {
	for _, in := range []string{"tenantz: []\n", "tenants: [\n", "tenants:\n  - name: a\n    colour: red\n"} {
		if _, err := Parse(strings.NewReader(in), env(nil)); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
	c, err := Parse(strings.NewReader(""), env(nil))
	if err != nil || c.Validate() != nil || len(c.Tenants) != 0 {
		t.Fatalf("empty config: %v %v", c, err)
	}
}

// endless is a reader that never ends, like /dev/zero.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// TestFilesAreRegularAndBounded: a configuration or secret file that is a
// device, a directory or too long is refused with an error that says so,
// instead of being read without end.
func TestFilesAreRegularAndBounded(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("#"), MaxConfigBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/dev/zero": "not a regular file", dir: "not a regular file", big: "longer than"} {
		if _, err := Load(path, env(nil)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%s) = %v, want an error saying %q", path, err, want)
		}
	}
	if _, err := Parse(endless{}, env(nil)); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("Parse(endless reader) = %v, want it refused as too long", err)
	}
	bigSecret := filepath.Join(dir, "secret")
	if err := os.WriteFile(bigSecret, bytes.Repeat([]byte("s"), MaxSecretBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/dev/zero": "not a regular file", bigSecret: "longer than"} {
		cfg := good + "    client_secret_file: " + path + "\n"
		c, err := Parse(strings.NewReader(cfg), env(nil))
		if err == nil {
			err = c.Tenants[0].CheckSecret()
		}
		if err == nil || !strings.Contains(err.Error(), "tenants[0].client_secret_file") || !strings.Contains(err.Error(), want) {
			t.Errorf("client_secret_file %s: %v, want an error naming the field and saying %q", path, err, want)
		}
	}
	ok := filepath.Join(dir, "ok.yaml")
	if err := os.WriteFile(ok, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ok, env(nil)); err != nil {
		t.Errorf("Load of a small regular file: %v", err)
	}
}

const withCredentials = `
credentials:
  - name: vendor-cert
    kind: certificate
    client_id: 44444444-4444-4444-4444-444444444444
    certificate_file: CERTFILE
    certificate_password_env: CERT_PW
    send_certificate_chain: true
  - name: vendor-secret
    kind: client_secret
    client_id: 55555555-5555-5555-5555-555555555555
  - name: k8s
    kind: workload_identity
    client_id: 66666666-6666-6666-6666-666666666666
  - name: msi
    kind: managed_identity
tenants:
  - name: acme
    tenant_id: acme.onmicrosoft.com
    credential: vendor-cert
    app_id: 33333333-3333-3333-3333-333333333333
  - name: globex
    tenant_id: 77777777-7777-7777-7777-777777777777
    credential: vendor-secret
    app_id: 33333333-3333-3333-3333-333333333333
  - name: legacy
    tenant_id: 11111111-1111-1111-1111-111111111111
    client_id: 22222222-2222-2222-2222-222222222222
    app_id: 33333333-3333-3333-3333-333333333333
`

func TestCredentialsNamedAndRedacted(t *testing.T) {
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	const keyMaterial = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
	if err := os.WriteFile(certFile, []byte(keyMaterial), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("eyJfederated.token.value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(strings.NewReader(strings.Replace(withCredentials, "CERTFILE", certFile, 1)), env(map[string]string{
		"CERT_PW": "p12-pass-phrase",
		"ENTRASYNC_CREDENTIAL_VENDOR_SECRET_SECRET": "vendor-secret-value",
		"ENTRASYNC_LEGACY_CLIENT_SECRET":            "legacy-secret-value",
		"AZURE_FEDERATED_TOKEN_FILE":                tokenFile,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	acme, _ := c.Tenant("acme")
	cr, err := c.TenantCredential(acme)
	if err != nil || cr.Kind != CredentialCertificate || cr.Certificate.Reveal() != keyMaterial || cr.CertificatePassword.Reveal() != "p12-pass-phrase" ||
		acme.ClientID != "44444444-4444-4444-4444-444444444444" || !cr.SendCertificateChain {
		t.Fatalf("acme's credential %+v (client id %s): %v", cr, acme.ClientID, err)
	}
	legacy, _ := c.Tenant("legacy")
	if cr, _ := c.TenantCredential(legacy); cr.Kind != CredentialSecret || cr.ClientSecret.Reveal() != "legacy-secret-value" {
		t.Fatalf("a tenant's own client secret: %+v", cr)
	}
	k8s, _ := c.CredentialNamed("k8s")
	if tok, err := k8s.FederatedToken(); err != nil || tok != "eyJfederated.token.value" {
		t.Fatalf("federated token %q: %v", tok, err)
	}

	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %+v %#v", c, c, c)
	j, _ := json.Marshal(c)
	buf.Write(j)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "credentials", c.Credentials)
	for _, leak := range []string{"MIIEvQ", "p12-pass-phrase", "vendor-secret-value", "legacy-secret-value"} {
		if strings.Contains(buf.String(), leak) {
			t.Fatalf("output reveals %q", leak)
		}
	}
}

// TestNamedCredentialSecretIsCheckedOnlyWhenAsked: a named client-secret
// credential without its secret is a valid configuration (listings need
// none); CheckSecrets, asked where Graph is called, names it.
func TestNamedCredentialSecretIsCheckedOnlyWhenAsked(t *testing.T) {
	const y = "credentials:\n  - name: x\n    kind: client_secret\n    client_id: 44444444-4444-4444-4444-444444444444\n" +
		"    client_secret_file: /nonexistent/secret\ntenants:\n  - name: acme\n    tenant_id: acme.example\n" +
		"    app_id: 33333333-3333-3333-3333-333333333333\n    credential: x\n"
	cfg, err := Parse(strings.NewReader(y), env(nil))
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatalf("a named credential without its secret: %v, want a valid configuration", err)
	}
	var fe *FieldError
	if err := cfg.CheckSecrets(&cfg.Tenants[0]); !errors.As(err, &fe) || fe.Field != "credentials[0].client_secret_file" {
		t.Fatalf("CheckSecrets = %v, want a FieldError on credentials[0].client_secret_file", err)
	}
}

func TestCredentialValidation(t *testing.T) {
	base := func(cred, tenant string) string {
		return "credentials:\n" + cred + "tenants:\n  - name: acme\n    tenant_id: acme.example\n    app_id: 33333333-3333-3333-3333-333333333333\n" + tenant
	}
	for _, c := range []struct{ yaml, field string }{
		{base("  - name: x\n    kind: password\n    client_id: 44444444-4444-4444-4444-444444444444\n", "    credential: x\n"), "credentials[0] (x).kind"},
		{base("  - name: x\n    kind: certificate\n    client_id: 44444444-4444-4444-4444-444444444444\n", "    credential: x\n"), "credentials[0] (x).certificate_file"},
		{base("  - name: x\n    kind: workload_identity\n    client_id: 44444444-4444-4444-4444-444444444444\n", "    credential: x\n"), "credentials[0] (x).token_file"},
		{base("  - name: x\n    kind: certificate\n", "    credential: x\n"), "credentials[0] (x).client_id"},
		{base("  - name: x\n    kind: managed_identity\n", "    credential: y\n"), "tenants[0].credential"},
	} {
		cfg, err := Parse(strings.NewReader(c.yaml), env(nil))
		if err == nil {
			err = cfg.Validate()
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: got %v, want a FieldError on %s", c.yaml, err, c.field)
		}
	}
}

// TestYAMLErrorsNameTheLine: a syntax error names the line that broke the
// document (yaml.v3 alone names the line its list or mapping began on).
func TestYAMLErrorsNameTheLine(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"tenants:\n  - name: a\n    tenant_id: b\n  - name: c\n   tenant_id: d\n", "config: line 5: "},
		{"log:\n  format: text\n  level: info\nworker:\n  - poll\n  x: y\n", "config: line 6: "},
		{"log:\n  format: text\n  level: info\n\nworker:\n  poll: 10s\n   listen: x\n", "config: line 7: "},
		{"log: {format: text,\n  level: info}\nworker: [\n", "config: line 3: "},
		{"worker:\n  poll: abc\n", "line 2: cannot unmarshal"},
	}
	for _, c := range cases {
		_, err := Parse(strings.NewReader(c.yaml), env(nil))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) && !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want %q", c.yaml, err, c.want)
		}
	}
}

// TestMistypedKeySuggestsTheKeyMeant: an unknown key names its line, where
// it is, and the nearest known key.
func TestMistypedKeySuggestsTheKeyMeant(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{good + "    tenant_idd: x\n", `unknown key "tenant_idd" in a tenant (did you mean "tenant_id"?)`},
		{good + "    archive_treshold: 3\n", `(did you mean "archive_threshold"?)`},
		{"graph:\n  concurency: 3\n", `line 2: unknown key "concurency" in graph: (did you mean "concurrency"?)`},
		{"databse: x\n", `unknown key "databse" in the top level (did you mean "database"?)`},
		{"log:\n  zzz: x\n", `unknown key "zzz" in log: (known: format, level)`},
	}
	for _, c := range cases {
		_, err := Parse(strings.NewReader(c.yaml), env(nil))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want %q", c.yaml, err, c.want)
		}
	}
}

// TestSecretIsCheckedOnlyWhenAsked: a configuration without a tenant's
// secret is valid (listings need none); CheckSecret names where it is
// looked for.
func TestSecretIsCheckedOnlyWhenAsked(t *testing.T) {
	c, err := Parse(strings.NewReader(good), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate without a secret: %v", err)
	}
	err = c.Tenants[0].CheckSecret()
	var fe *FieldError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "ENTRASYNC_CONTOSO_CLIENT_SECRET") {
		t.Fatalf("CheckSecret() = %v, want a FieldError naming the variable", err)
	}
	c, _ = Parse(strings.NewReader(good), env(map[string]string{"ENTRASYNC_CONTOSO_CLIENT_SECRET": "x"}))
	if err := c.Tenants[0].CheckSecret(); err != nil {
		t.Fatalf("CheckSecret() with the secret set = %v", err)
	}
}
