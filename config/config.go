// Package config holds entrasync's configuration: plain structs, defaults,
// parsing from a YAML file plus environment variables, and validation that
// names the field at fault. It imports nothing of entrasync's.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// Secret is a credential. It prints, logs and marshals as "[redacted]";
// Reveal returns the value for the one place that needs it.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer without revealing the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from revealing the value.
func (s Secret) GoString() string { return s.String() }

// LogValue keeps log/slog from revealing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON keeps JSON output from revealing the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText keeps text encoders (YAML included) from revealing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Clouds maps a national cloud's name to its Graph and login endpoints.
var Clouds = map[string][2]string{
	"public":    {"https://graph.microsoft.com", "https://login.microsoftonline.com"},
	"usgov":     {"https://graph.microsoft.us", "https://login.microsoftonline.us"},
	"usgov-dod": {"https://dod-graph.microsoft.us", "https://login.microsoftonline.us"},
	"china":     {"https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn"},
}

// DefaultSchedule syncs every tenant every 45 minutes.
const DefaultSchedule = "@every 45m"

// Config is the whole configuration.
type Config struct {
	// Database is a PostgreSQL URL (postgres://…) or a SQLite file path;
	// empty means the default SQLite file. Env: ENTRASYNC_DATABASE_URL.
	Database Secret `yaml:"database"`
	Log      Log    `yaml:"log"`
	Graph    Graph  `yaml:"graph"`
	Worker   Worker `yaml:"worker"`
	// Credentials are named; tenants refer to one by name (credential.go).
	Credentials []Credential `yaml:"credentials"`
	Tenants     []Tenant     `yaml:"tenants"`
}

// Threshold is one of a tenant's archive-guard thresholds: its YAML key, its
// value (nil: the default) and whether it is a percentage.
type Threshold struct {
	Key     string
	Value   *int
	Percent bool
}

// Thresholds lists the tenant's archive-guard thresholds in YAML order.
func (t *Tenant) Thresholds() []Threshold {
	return []Threshold{
		{"archive_threshold", t.ArchiveThreshold, false},
		{"archive_threshold_percent", t.ArchiveThresholdPercent, true},
		{"group_archive_threshold", t.GroupArchiveThreshold, false},
		{"group_archive_threshold_percent", t.GroupArchiveThresholdPercent, true},
		{"membership_removal_threshold", t.MembershipRemovalThreshold, false},
		{"membership_removal_threshold_percent", t.MembershipRemovalThresholdPercent, true},
	}
}

// Worker configures `entrasync run`. Env: ENTRASYNC_LISTEN,
// ENTRASYNC_TLS_CERT, ENTRASYNC_TLS_KEY.
type Worker struct {
	// Listen is the admin API, /metrics, /healthz and /readyz address.
	Listen string `yaml:"listen"`
	// Poll is how often each process looks for due tenants.
	Poll time.Duration `yaml:"poll"`
	// LeaseTTL bounds how long a dead process blocks a tenant.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// ShutdownGrace is how long a running cycle may finish on SIGTERM.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// MaxCycles bounds the cycles one process runs at once (default 16).
	MaxCycles int `yaml:"max_cycles"`
	// TLSCert and TLSKey are PEM files (a certificate chain, its private
	// key): with both set the listener serves HTTPS only, so tokens and the
	// console's session cookie never cross a network in cleartext. Env:
	// ENTRASYNC_TLS_CERT, ENTRASYNC_TLS_KEY.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// Log configures logging. Env: ENTRASYNC_LOG_FORMAT, ENTRASYNC_LOG_LEVEL.
type Log struct {
	Format string `yaml:"format"` // text or json
	Level  string `yaml:"level"`  // debug, info, warn, error
}

// Graph holds defaults for every tenant's Graph access.
type Graph struct {
	Cloud         string        `yaml:"cloud"`          // public, usgov, usgov-dod, china
	Endpoint      string        `yaml:"endpoint"`       // overrides the cloud's Graph endpoint
	LoginEndpoint string        `yaml:"login_endpoint"` // overrides the cloud's login endpoint
	Concurrency   int           `yaml:"concurrency"`    // parallel reads per tenant
	MaxRetries    int           `yaml:"max_retries"`    // per throttled request
	RetryDelay    time.Duration `yaml:"retry_delay"`    // back-off without Retry-After
	// MaxThrottleWait caps the time one cycle may wait out throttling.
	MaxThrottleWait time.Duration `yaml:"max_throttle_wait"`
	// Timeout bounds each HTTP request to Graph.
	Timeout time.Duration `yaml:"timeout"`
	// CAFile is a PEM file of extra root certificates to trust for Graph and
	// login (a TLS-inspecting proxy, a test tenant).
	CAFile string `yaml:"ca_file"`
}

// Tenant is one organisation's connection.
type Tenant struct {
	// Name is the local id of the tenant: lower-case letters, digits, '-'.
	Name     string `yaml:"name"`
	TenantID string `yaml:"tenant_id"`
	// Credential names an entry of credentials: (credential.go); the tenant
	// then needs no client_id or secret of its own (client_id, when given,
	// overrides the credential's). Without it the tenant's client_id and
	// client secret form a client-secret credential, as before.
	Credential string `yaml:"credential"`
	ClientID   string `yaml:"client_id"`
	// ClientSecret is never read from the file itself: it comes from the
	// environment variable ClientSecretEnv (default
	// ENTRASYNC_<NAME>_CLIENT_SECRET) or the file ClientSecretFile.
	ClientSecret     Secret `yaml:"-"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// secretErr is why ClientSecretFile could not be read; CheckSecret
	// reports it to the commands that talk to Graph, the others never ask.
	secretErr error
	// ServicePrincipalID (object id) or AppID names the enterprise application.
	ServicePrincipalID string `yaml:"service_principal_id"`
	AppID              string `yaml:"app_id"`
	// Schedule is a cron expression or "@every <duration>"; default 45 minutes.
	Schedule string `yaml:"schedule"`
	// FullEvery is how often a cycle reads Graph in full between
	// incremental ones (a Go duration, at least 1h; default 24h).
	FullEvery   string `yaml:"full_every"`
	AutoInvite  bool   `yaml:"auto_invite"`
	EmailSource string `yaml:"email_source"` // mail (default) or upn
	// ArchiveThreshold and ArchiveThresholdPercent tune the archive guard:
	// a cycle archiving more users holds its destructive changes for review.
	// Unset: 500 users and 30 %; 0 turns one off. The group and membership
	// thresholds do the same for group archives (default 50 and 30 %) and
	// membership removals (default 1000 and 30 %).
	ArchiveThreshold                  *int `yaml:"archive_threshold"`
	ArchiveThresholdPercent           *int `yaml:"archive_threshold_percent"`
	GroupArchiveThreshold             *int `yaml:"group_archive_threshold"`
	GroupArchiveThresholdPercent      *int `yaml:"group_archive_threshold_percent"`
	MembershipRemovalThreshold        *int `yaml:"membership_removal_threshold"`
	MembershipRemovalThresholdPercent *int `yaml:"membership_removal_threshold_percent"`
	// Cloud and endpoints override the graph section for this tenant.
	Cloud         string `yaml:"cloud"`
	GraphEndpoint string `yaml:"graph_endpoint"`
	LoginEndpoint string `yaml:"login_endpoint"`
}

// SecretEnv returns the environment variable the tenant's secret is read from.
func (t *Tenant) SecretEnv() string {
	if t.ClientSecretEnv != "" {
		return t.ClientSecretEnv
	}
	return envName("ENTRASYNC_", t.Name, "_CLIENT_SECRET")
}

// envName is an environment variable named after name: upper case, '-'
// as '_', between prefix and suffix.
func envName(prefix, name, suffix string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + suffix
}

// Default returns a configuration with every default set and no tenants.
func Default() *Config {
	return &Config{
		Log: Log{Format: "text", Level: "info"},
		Graph: Graph{Cloud: "public", Concurrency: 4, MaxRetries: 5, RetryDelay: 2 * time.Second,
			MaxThrottleWait: 5 * time.Minute, Timeout: 100 * time.Second},
		Worker: Worker{Listen: "127.0.0.1:8080", Poll: 10 * time.Second, LeaseTTL: 2 * time.Minute, ShutdownGrace: 30 * time.Second,
			MaxCycles: 16},
	}
}

// Parse reads YAML from r (nil or empty: defaults only), applies environment
// overrides through getenv, fills per-tenant defaults and reads secrets from
// the environment or files. It does not validate; call Validate.
func Parse(r io.Reader, getenv func(string) string) (*Config, error) {
	c := Default()
	if r != nil {
		body, err := io.ReadAll(io.LimitReader(r, MaxConfigBytes+1))
		if err != nil {
			return nil, fmt.Errorf("config: read: %w", err)
		}
		if len(body) > MaxConfigBytes {
			return nil, fmt.Errorf("config: longer than %d bytes; is it the right file?", MaxConfigBytes)
		}
		if len(bytes.TrimSpace(body)) > 0 {
			dec := yaml.NewDecoder(bytes.NewReader(body))
			dec.KnownFields(true)
			if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
				return nil, yamlError(body, err)
			}
		}
	}
	if v := getenv("ENTRASYNC_DATABASE_URL"); v != "" {
		c.Database = Secret(v)
	}
	if v := getenv("ENTRASYNC_LOG_FORMAT"); v != "" {
		c.Log.Format = v
	}
	if v := getenv("ENTRASYNC_LOG_LEVEL"); v != "" {
		c.Log.Level = v
	}
	if v := getenv("ENTRASYNC_LISTEN"); v != "" {
		c.Worker.Listen = v
	}
	if v := getenv("ENTRASYNC_TLS_CERT"); v != "" {
		c.Worker.TLSCert = v
	}
	if v := getenv("ENTRASYNC_TLS_KEY"); v != "" {
		c.Worker.TLSKey = v
	}
	for i := range c.Credentials {
		if err := c.Credentials[i].load(fmt.Sprintf("credentials[%d]", i), getenv); err != nil {
			return nil, err
		}
	}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		c.FillTenant(t)
		switch {
		case t.Credential != "":
			// The named credential holds the secret, if any.
		case t.ClientSecretFile != "":
			b, err := ReadSmallFile(t.ClientSecretFile, MaxSecretBytes)
			if err != nil {
				t.secretErr = &FieldError{fmt.Sprintf("tenants[%d].client_secret_file", i), err.Error()}
				continue
			}
			t.ClientSecret = Secret(strings.TrimSpace(string(b)))
		default:
			t.ClientSecret = Secret(getenv(t.SecretEnv()))
		}
	}
	return c, nil
}

// FillTenant sets t's defaults: schedule, e-mail source, cloud and its
// endpoints, and the client id of its named credential. Parse calls it for
// every tenant of the file; tenants of the database's registry get it too.
func (c *Config) FillTenant(t *Tenant) {
	if t.Schedule == "" {
		t.Schedule = DefaultSchedule
	}
	if t.EmailSource == "" {
		t.EmailSource = "mail"
	}
	if t.Cloud == "" {
		t.Cloud = c.Graph.Cloud
	}
	if e, ok := Clouds[t.Cloud]; ok {
		t.GraphEndpoint = first(t.GraphEndpoint, c.Graph.Endpoint, e[0])
		t.LoginEndpoint = first(t.LoginEndpoint, c.Graph.LoginEndpoint, e[1])
	}
	if t.Credential != "" && t.ClientID == "" {
		if cr, err := c.CredentialNamed(t.Credential); err == nil {
			t.ClientID = cr.ClientID
		}
	}
}

// Load parses the file at path ("" for none) with the process environment.
func Load(path string, getenv func(string) string) (*Config, error) {
	if path == "" {
		return Parse(nil, getenv)
	}
	body, err := ReadSmallFile(path, MaxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(bytes.NewReader(body), getenv)
}

// The largest configuration file and secret file entrasync reads.
const (
	MaxConfigBytes = 1 << 20
	MaxSecretBytes = 64 << 10
)

// ReadSmallFile reads the regular file at path, refusing anything else — a
// directory, a device such as /dev/zero, a pipe — and a file longer than
// limit bytes, with an error that says which. Configuration, secret and CA
// files are read with it, so a wrong path fails clearly instead of reading
// without end.
func ReadSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is longer than %d bytes", path, limit)
	}
	return b, nil
}

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	// Entra tenant ids are GUIDs or verified domain names.
	tenantRE = regexp.MustCompile(`^[0-9A-Za-z.-]{1,253}$`)
)

// FieldError names the configuration field at fault.
type FieldError struct {
	Field   string
	Problem string
}

// Error implements error.
func (e *FieldError) Error() string { return "config: " + e.Field + ": " + e.Problem }

// Validate checks the configuration and returns a *FieldError naming the
// first field at fault. Tenants are optional here; commands that need one
// say so. Client secrets are not checked here (Tenant.CheckSecret).
func (c *Config) Validate() error {
	if db := c.Database.Reveal(); db != "" {
		if scheme, _, ok := strings.Cut(db, "://"); ok && !regexp.MustCompile(`^(postgres|postgresql|sqlite|file)$`).MatchString(scheme) {
			return &FieldError{"database", "must be a postgres:// URL or a SQLite file path"}
		}
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return &FieldError{"log.format", fmt.Sprintf("%q is not text or json", c.Log.Format)}
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		return &FieldError{"log.level", fmt.Sprintf("%q is not debug, info, warn or error", c.Log.Level)}
	}
	if _, ok := Clouds[c.Graph.Cloud]; !ok {
		return &FieldError{"graph.cloud", fmt.Sprintf("%q is not one of public, usgov, usgov-dod, china", c.Graph.Cloud)}
	}
	if c.Graph.Concurrency < 1 || c.Graph.Concurrency > 32 {
		return &FieldError{"graph.concurrency", "must be between 1 and 32"}
	}
	if c.Graph.MaxRetries < 0 || c.Graph.MaxRetries > 10 {
		return &FieldError{"graph.max_retries", "must be between 0 and 10"}
	}
	if c.Graph.MaxThrottleWait < time.Second {
		return &FieldError{"graph.max_throttle_wait", "must be at least 1s"}
	}
	if c.Graph.Timeout < time.Second {
		return &FieldError{"graph.timeout", "must be at least 1s"}
	}
	switch {
	case c.Worker.Listen == "" || !strings.Contains(c.Worker.Listen, ":"):
		return &FieldError{"worker.listen", fmt.Sprintf("%q is not host:port", c.Worker.Listen)}
	case c.Worker.Poll < time.Second:
		return &FieldError{"worker.poll", "must be at least 1s"}
	case c.Worker.LeaseTTL < 10*time.Second:
		return &FieldError{"worker.lease_ttl", "must be at least 10s"}
	case c.Worker.MaxCycles < 1 || c.Worker.MaxCycles > 1024:
		return &FieldError{"worker.max_cycles", "must be from 1 to 1024"}
	case c.Worker.ShutdownGrace < 0:
		return &FieldError{"worker.shutdown_grace", "must not be negative"}
	case c.Worker.TLSCert != "" && c.Worker.TLSKey == "":
		return &FieldError{"worker.tls_key", "must be set with worker.tls_cert (the certificate's private key)"}
	case c.Worker.TLSKey != "" && c.Worker.TLSCert == "":
		return &FieldError{"worker.tls_cert", "must be set with worker.tls_key (the certificate chain)"}
	}
	creds := map[string]bool{}
	for i := range c.Credentials {
		p := fmt.Sprintf("credentials[%d]", i)
		if err := c.Credentials[i].validate(p); err != nil {
			return err
		}
		if creds[c.Credentials[i].Name] {
			return &FieldError{p + ".name", fmt.Sprintf("%q is used twice", c.Credentials[i].Name)}
		}
		creds[c.Credentials[i].Name] = true
	}
	seen := map[string]bool{}
	for i := range c.Tenants {
		if err := c.ValidateTenant(&c.Tenants[i], fmt.Sprintf("tenants[%d]", i)); err != nil {
			return err
		}
		if seen[c.Tenants[i].Name] {
			return &FieldError{fmt.Sprintf("tenants[%d].name", i), fmt.Sprintf("%q is used twice", c.Tenants[i].Name)}
		}
		seen[c.Tenants[i].Name] = true
	}
	return nil
}

// ValidateTenant checks one tenant, its named credential included, and
// returns a *FieldError whose field starts with p ("tenants[0]").
func (c *Config) ValidateTenant(t *Tenant, p string) error {
	if t.Credential != "" {
		cr, err := c.CredentialNamed(t.Credential)
		if err != nil {
			return &FieldError{p + ".credential", err.Error()}
		}
		if t.ClientID != "" && !guidRE.MatchString(t.ClientID) {
			return &FieldError{p + ".client_id", "must be a GUID"}
		}
		if cr.Kind != CredentialManagedIdentity && t.ClientID == "" {
			return &FieldError{p + ".client_id", "required (neither the tenant nor credential " + cr.Name + " gives one)"}
		}
	}
	return t.validate(p)
}

func (t *Tenant) validate(p string) error {
	named := t.Credential != ""
	switch {
	case !nameRE.MatchString(t.Name):
		return &FieldError{p + ".name", "required: lower-case letters, digits and '-', at most 63"}
	case t.TenantID == "":
		return &FieldError{p + ".tenant_id", "required (the Entra directory id)"}
	case !tenantRE.MatchString(t.TenantID):
		return &FieldError{p + ".tenant_id", "must be a GUID or a domain name"}
	case !named && t.ClientID == "":
		return &FieldError{p + ".client_id", "required (the application id of entrasync's registration), or name a credential"}
	case !named && !guidRE.MatchString(t.ClientID):
		return &FieldError{p + ".client_id", "must be a GUID"}
	case t.ServicePrincipalID == "" && t.AppID == "":
		return &FieldError{p + ".service_principal_id", "service_principal_id or app_id is required"}
	case t.ServicePrincipalID != "" && t.AppID != "":
		return &FieldError{p + ".app_id", "give service_principal_id or app_id, not both"}
	case t.ServicePrincipalID != "" && !guidRE.MatchString(t.ServicePrincipalID):
		return &FieldError{p + ".service_principal_id", "must be a GUID"}
	case t.AppID != "" && !guidRE.MatchString(t.AppID):
		return &FieldError{p + ".app_id", "must be a GUID"}
	case t.EmailSource != "mail" && t.EmailSource != "upn":
		return &FieldError{p + ".email_source", fmt.Sprintf("%q is not mail or upn", t.EmailSource)}
	}
	for _, th := range t.Thresholds() {
		switch {
		case th.Value == nil:
		case *th.Value < 0:
			return &FieldError{p + "." + th.Key, "must not be negative"}
		case th.Percent && *th.Value > 100:
			return &FieldError{p + "." + th.Key, "must be between 0 and 100"}
		}
	}
	if _, ok := Clouds[t.Cloud]; !ok {
		return &FieldError{p + ".cloud", fmt.Sprintf("%q is not one of public, usgov, usgov-dod, china", t.Cloud)}
	}
	for _, f := range []struct{ name, v string }{{"graph_endpoint", t.GraphEndpoint}, {"login_endpoint", t.LoginEndpoint}} {
		u, err := url.Parse(f.v)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return &FieldError{p + "." + f.name, fmt.Sprintf("%q must be an https URL", f.v)}
		}
	}
	if _, err := t.ParsedSchedule(); err != nil {
		return &FieldError{p + ".schedule", err.Error()}
	}
	if _, err := t.ParsedFullEvery(); err != nil {
		return &FieldError{p + ".full_every", err.Error()}
	}
	if d, ok := strings.CutPrefix(t.Schedule, "@every "); ok {
		if dur, err := time.ParseDuration(d); err != nil || dur < time.Minute {
			return &FieldError{p + ".schedule", fmt.Sprintf("%q: @every needs a duration of at least 1m", t.Schedule)}
		}
	}
	return nil
}

// CheckSecret returns nil when the tenant's client secret is there, else a
// *FieldError saying where it is looked for (the environment variable, or
// the file and why it could not be read). Validate does not ask for the
// secret: only commands that talk to Graph need it, and they call this.
func (t *Tenant) CheckSecret() error {
	if t.Credential != "" {
		return nil // a named credential: Config.CheckSecrets asks it
	}
	if t.secretErr != nil {
		return t.secretErr
	}
	if t.ClientSecret == "" {
		src := "environment variable " + t.SecretEnv()
		if t.ClientSecretFile != "" {
			src = "file " + t.ClientSecretFile
		}
		return &FieldError{"tenants." + t.Name + ".client_secret", "empty: set it in the " + src}
	}
	return nil
}

// DefaultFullEvery is how often a full cycle runs by default.
const DefaultFullEvery = "24h"

// ParsedFullEvery parses FullEvery ("" is the default): a Go duration of
// at least an hour.
func (t *Tenant) ParsedFullEvery() (time.Duration, error) {
	v := t.FullEvery
	if v == "" {
		v = DefaultFullEvery
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Hour {
		return 0, fmt.Errorf("%q: needs a duration of at least 1h, such as 24h or 168h", v)
	}
	return d, nil
}

// ParsedSchedule parses the tenant's Schedule: a standard five-field cron
// expression, a descriptor such as @hourly, or "@every <duration>". The
// result says when each cycle after a given time is due (it is the worker's
// sync.Cadence). The error quotes the schedule and says what is wrong; a
// validated configuration has none.
func (t *Tenant) ParsedSchedule() (cron.Schedule, error) {
	s, err := cron.ParseStandard(t.Schedule)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", t.Schedule, err)
	}
	return s, nil
}

// Tenant returns the tenant named name, or an error listing the names.
func (c *Config) Tenant(name string) (*Tenant, error) {
	var names []string
	for i := range c.Tenants {
		if c.Tenants[i].Name == name {
			return &c.Tenants[i], nil
		}
		names = append(names, c.Tenants[i].Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("config: no tenants configured (add one under tenants: in the config file)")
	}
	return nil, fmt.Errorf("config: no tenant named %q (configured: %s)", name, strings.Join(names, ", "))
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// CheckSecrets reports a secret tenant t needs to call Graph and does not
// have: its own client secret, or its named credential's (Credential.Check).
func (c *Config) CheckSecrets(t *Tenant) error {
	if t.Credential == "" {
		return t.CheckSecret()
	}
	cr, err := c.CredentialNamed(t.Credential)
	if err != nil {
		return &FieldError{"tenants." + t.Name + ".credential", err.Error()}
	}
	return cr.Check()
}
