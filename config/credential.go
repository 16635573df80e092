package config

import (
	"fmt"
	"strings"
)

// The kinds of credential entrasync obtains Graph tokens with.
const (
	// CredentialSecret is an app registration's client secret.
	CredentialSecret = "client_secret"
	// CredentialCertificate is an app registration's certificate: a PEM file
	// (certificate and private key) or a PKCS#12 (.pfx) file.
	CredentialCertificate = "certificate"
	// CredentialWorkloadIdentity is workload identity federation: a token
	// file another issuer writes (AKS, GitHub Actions), exchanged for an
	// Entra token of the app registration that trusts that issuer.
	CredentialWorkloadIdentity = "workload_identity"
	// CredentialManagedIdentity is an Azure managed identity, system-assigned
	// (no client_id) or user-assigned.
	CredentialManagedIdentity = "managed_identity"
)

// Credential is one named way of obtaining tokens; tenants refer to it by
// name, so several tenants can share one multi-tenant application's
// credential, each with its own tenant id. Secrets, key passwords and the
// certificate file's contents are Secrets: they print as "[redacted]".
type Credential struct {
	// Name is how tenants refer to it: lower-case letters, digits, '-'.
	Name string `yaml:"name"`
	// Kind is client_secret, certificate, workload_identity or
	// managed_identity.
	Kind string `yaml:"kind"`
	// ClientID is the application (client) id of the app registration; for
	// a managed identity, a user-assigned identity's client id (empty:
	// the system-assigned identity).
	ClientID string `yaml:"client_id"`

	// ClientSecret (client_secret) comes from the environment variable
	// ClientSecretEnv (default ENTRASYNC_CREDENTIAL_<NAME>_SECRET) or the
	// file ClientSecretFile, never from the configuration file itself.
	ClientSecret     Secret `yaml:"-"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	ClientSecretFile string `yaml:"client_secret_file"`

	// CertificateFile (certificate) is a PEM file holding the certificate
	// and its private key, or a PKCS#12 file; its bytes are Certificate.
	CertificateFile string `yaml:"certificate_file"`
	Certificate     Secret `yaml:"-"`
	// CertificatePassword decrypts the key (PKCS#12 or an encrypted PEM
	// key); it comes from CertificatePasswordEnv or CertificatePasswordFile.
	CertificatePassword     Secret `yaml:"-"`
	CertificatePasswordEnv  string `yaml:"certificate_password_env"`
	CertificatePasswordFile string `yaml:"certificate_password_file"`
	// SendCertificateChain sends the certificate chain (x5c) with each
	// assertion, for subject name and issuer authentication.
	SendCertificateChain bool `yaml:"send_certificate_chain"`

	// TokenFile (workload_identity) is the federated token file, read anew
	// for every token request (the issuer rotates it); default the
	// environment variable AZURE_FEDERATED_TOKEN_FILE, as AKS sets it.
	TokenFile string `yaml:"token_file"`

	// ResourceID (managed_identity) names a user-assigned identity by its
	// Azure resource id instead of ClientID.
	ResourceID string `yaml:"resource_id"`
	// secretErr is why a secret of the credential could not be read (a
	// file); Check returns it, only where Graph is called.
	secretErr error
	where     string // "credentials[i] (name)", for Check's errors
}

// SecretEnv returns the environment variable a client_secret credential's
// secret is read from.
func (c *Credential) SecretEnv() string {
	if c.ClientSecretEnv != "" {
		return c.ClientSecretEnv
	}
	return envName("ENTRASYNC_CREDENTIAL_", c.Name, "_SECRET")
}

// load reads what the credential's kind needs from the environment and
// files; p names it in errors ("credentials[0]").
func (c *Credential) load(p string, getenv func(string) string) error {
	// A secret that cannot be read is told by Check, where Graph is called:
	// commands that read only the directory need no secret (SecretErr).
	read := func(field, path string) (Secret, error) {
		b, err := ReadSmallFile(path, MaxSecretBytes)
		if err != nil {
			c.secretErr = &FieldError{p + "." + field, err.Error()}
			return "", nil
		}
		return Secret(b), nil
	}
	var err error
	switch c.Kind {
	case CredentialSecret:
		if c.ClientSecretFile != "" {
			s, err := read("client_secret_file", c.ClientSecretFile)
			c.ClientSecret = Secret(strings.TrimSpace(s.Reveal()))
			return err
		}
		c.ClientSecret = Secret(getenv(c.SecretEnv()))
	case CredentialCertificate:
		if c.CertificateFile != "" {
			if c.Certificate, err = read("certificate_file", c.CertificateFile); err != nil {
				return err
			}
		}
		switch {
		case c.CertificatePasswordFile != "":
			s, err := read("certificate_password_file", c.CertificatePasswordFile)
			c.CertificatePassword = Secret(strings.TrimRight(s.Reveal(), "\r\n"))
			return err
		case c.CertificatePasswordEnv != "":
			c.CertificatePassword = Secret(getenv(c.CertificatePasswordEnv))
		}
	case CredentialWorkloadIdentity:
		if c.TokenFile == "" {
			c.TokenFile = getenv("AZURE_FEDERATED_TOKEN_FILE")
		}
	}
	return nil
}

func (c *Credential) validate(p string) error {
	switch {
	case !nameRE.MatchString(c.Name):
		return &FieldError{p + ".name", "required: lower-case letters, digits and '-', at most 63"}
	case c.ClientID != "" && !guidRE.MatchString(c.ClientID):
		return &FieldError{p + ".client_id", "must be a GUID"}
	}
	p += " (" + c.Name + ")"
	switch c.Kind {
	case CredentialSecret, CredentialCertificate, CredentialWorkloadIdentity:
		if c.ClientID == "" {
			return &FieldError{p + ".client_id", "required (the Application (client) ID of the app registration)"}
		}
	case CredentialManagedIdentity:
		if c.ClientID != "" && c.ResourceID != "" {
			return &FieldError{p + ".resource_id", "give client_id or resource_id of the user-assigned identity, not both"}
		}
	default:
		return &FieldError{p + ".kind", fmt.Sprintf("%q is not client_secret, certificate, workload_identity or managed_identity", c.Kind)}
	}
	c.where = p
	switch c.Kind {
	case CredentialCertificate:
		switch {
		case c.CertificateFile == "":
			return &FieldError{p + ".certificate_file", "required (a PEM file with the certificate and its private key, or a PKCS#12 file)"}
		case c.CertificatePasswordEnv != "" && c.CertificatePasswordFile != "":
			return &FieldError{p + ".certificate_password_file", "give certificate_password_env or certificate_password_file, not both"}
		}
	case CredentialWorkloadIdentity:
		if c.TokenFile == "" {
			return &FieldError{p + ".token_file", "required (the federated token file), or set AZURE_FEDERATED_TOKEN_FILE"}
		}
	}
	return nil
}

// Check reports a secret the credential needs and does not have: a client
// secret that is empty or a file that could not be read, a certificate
// password variable that is empty. Only commands that call Graph ask.
func (c *Credential) Check() error {
	switch {
	case c.secretErr != nil:
		return c.secretErr
	case c.Kind == CredentialSecret && c.ClientSecret == "":
		src := "environment variable " + c.SecretEnv()
		if c.ClientSecretFile != "" {
			src = "file " + c.ClientSecretFile
		}
		return &FieldError{c.where + ".client_secret", "empty: set it in the " + src}
	case c.Kind == CredentialCertificate && c.CertificatePasswordEnv != "" && c.CertificatePassword == "":
		return &FieldError{c.where + ".certificate_password_env", "environment variable " + c.CertificatePasswordEnv + " is empty"}
	}
	return nil
}

// FederatedToken reads a workload_identity credential's token file (a
// bounded read, anew each time: the issuer rotates the file). The error
// names the file, never its contents.
func (c *Credential) FederatedToken() (string, error) {
	b, err := ReadSmallFile(c.TokenFile, MaxSecretBytes)
	if err != nil {
		return "", fmt.Errorf("credential %s: federated token file: %w", c.Name, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("credential %s: federated token file %s is empty", c.Name, c.TokenFile)
	}
	return tok, nil
}

// CredentialNamed returns the credential named name, or an error listing
// the names there are.
func (c *Config) CredentialNamed(name string) (*Credential, error) {
	var names []string
	for i := range c.Credentials {
		if c.Credentials[i].Name == name {
			return &c.Credentials[i], nil
		}
		names = append(names, c.Credentials[i].Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no credential named %q: no credentials are configured (add one under credentials: in the config file)", name)
	}
	return nil, fmt.Errorf("no credential named %q (configured: %s)", name, strings.Join(names, ", "))
}

// TenantCredential returns the credential t obtains tokens with: the one it
// names, or a client_secret credential of its own client_id and secret.
// The client id is t's (which FillTenant set from the credential when the
// tenant gives none).
func (c *Config) TenantCredential(t *Tenant) (Credential, error) {
	if t.Credential == "" {
		return Credential{Name: t.Name, Kind: CredentialSecret, ClientID: t.ClientID, ClientSecret: t.ClientSecret,
			ClientSecretEnv: t.SecretEnv(), ClientSecretFile: t.ClientSecretFile}, nil
	}
	cr, err := c.CredentialNamed(t.Credential)
	if err != nil {
		return Credential{}, &FieldError{"tenants." + t.Name + ".credential", err.Error()}
	}
	out := *cr
	if t.ClientID != "" && cr.Kind != CredentialManagedIdentity {
		out.ClientID = t.ClientID
	}
	return out, nil
}
