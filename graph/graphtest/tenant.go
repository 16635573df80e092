// Package graphtest is a simulated Microsoft Entra tenant served over HTTPS.
//
// A [Server] speaks the documented Microsoft Graph v1.0 wire format for the
// endpoints entrasync reads, plus the OpenID discovery document and the OAuth2
// client-credentials token endpoint of the Microsoft identity platform, so the
// real msgraph-sdk-go client and a real azidentity credential can be exercised
// against it in tests, benchmarks and demos:
//
//	GET  /{tenant}/v2.0/.well-known/openid-configuration
//	POST /{tenant}/oauth2/v2.0/token                       (client_credentials: a secret, a
//	                                                        certificate's assertion, a federated token)
//	GET  /msi/token                                        (App Service managed identity)
//	GET  /v1.0/servicePrincipals/{id}
//	GET  /v1.0/servicePrincipals(appId='{appId}')
//	GET  /v1.0/servicePrincipals/{id}/appRoleAssignedTo    (also by appId)
//	GET  /v1.0/groups/{id}
//	GET  /v1.0/groups/{id}/members
//	GET  /v1.0/users/{id}                                  (id or userPrincipalName)
//	GET  /v1.0/users                                       ($filter=startswith(userPrincipalName,'…') or …)
//	POST /v1.0/$batch
//	GET  /v1.0/users/delta                                 (also delta(); delta.go, delta_serve.go)
//	GET  /v1.0/groups/delta
//	GET  /v1.0/directoryObjects/delta                      ($filter=isof(appRoleAssignment) or isof(user))
//
// Graph requests need a bearer token issued by the server. Listings support
// $top (1..999, default 100) and server-driven paging with an absolute
// @odata.nextLink; every Graph endpoint supports $select (delta endpoints:
// see Delta queries). Other OData query
// options ($filter but the one /users takes, $expand, $count...) are
// rejected with 400 rather than ignored.
//
// # Credentials
//
// An azidentity credential for a server s (DisableInstanceDiscovery is
// required: otherwise MSAL asks login.microsoftonline.com to validate the
// authority):
//
//	cred, err := azidentity.NewClientSecretCredential(t.TenantID, t.ClientID, t.ClientSecret,
//		&azidentity.ClientSecretCredentialOptions{
//			ClientOptions: azcore.ClientOptions{
//				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.LoginEndpoint()},
//				Transport: s.Client(),
//			},
//			DisableInstanceDiscovery: true,
//		})
//
// Tokens are requested for the scope s.GraphEndpoint()+"/.default"
// ("https://graph.microsoft.com/.default" is accepted too). Besides the
// client secret, the token endpoint verifies client assertions signed with
// a certificate of Tenant.Certificates and federated tokens of
// FederatedToken matching Tenant.FederatedCredentials; IdentityEndpoint and
// IdentityHeader, set as IDENTITY_ENDPOINT and IDENTITY_HEADER, point
// azidentity's managed identity at the server (credentials.go). Client's
// transport refuses to dial anything off loopback (OffLoopback lists what
// it refused), so a credential that would ask the instance metadata
// service or the public cloud fails instead of leaving the machine.
//
// # Graph SDK
//
// The SDK's request adapter needs the server's host among its valid hosts,
// an HTTP client that trusts the server's certificate and the base URL of
// the server. graph.New builds it so (msgraph-sdk-go-core and kiota, the
// request builders of msgraph-sdk-go's sub-packages) from a graph.Config:
//
//	src, err := graph.New(graph.Config{TenantID: t.TenantID, ClientID: t.ClientID, ClientSecret: t.ClientSecret,
//		ServicePrincipalID: t.Application.ID, GraphEndpoint: s.GraphEndpoint(), LoginEndpoint: s.LoginEndpoint(),
//		Transport: s.Client().Transport}, nil)
//
// The SDK parses principalId and resourceId as UUIDs, which is why
// Tenant.Validate requires GUID object ids.
//
// # Tenant, faults and counts
//
// The served directory is a [Tenant], built in Go, loaded from a JSON
// fixture with [LoadTenant] or generated at scale with [Generate]. It can be
// changed while the server runs ([Server.Update] and the convenience
// mutators), faults can be injected ([Server.InjectFault]: error statuses,
// raw bodies, delays, truncated bodies and silently dropped pages, also for
// single items of a $batch) and every request is counted ([Server.Requests]).
//
// # Delta queries
//
// The delta endpoints serve Graph's change tracking from a sequence number
// the server records per object, property and group membership whenever the
// tenant changes (Update and every mutator), starting with the first delta
// request. An initial round pages every object (@odata.nextLink with
// $skiptoken; page size from Prefer: odata.maxpagesize, default 100) and
// ends with an @odata.deltaLink whose opaque $deltatoken (base64url) carries
// the sequence number and the round's $select and $filter; GETting it returns
// what changed since: changed objects (whole, or only the changed properties
// with Prefer: return=minimal), deleted ones as {"id", "@removed"}, and for
// groups/delta with $select=members the members@delta added and removed.
// $deltatoken=latest returns only a deltaLink. groups/delta splits a group's
// members@delta over several items (WithDeltaMemberChunk), possibly on
// several pages; $filter=id eq '…' or … takes at most 50 ids. Server methods
// simulate the rest: ReplayDelta (an unchanged object comes again),
// ExpireDeltaTokens (410 Gone with a Location, or 400 syncStateNotFound) and
// SetAssignmentDelta / WithoutAssignmentDelta (directoryObjects/delta
// answers 400, as where it is not served). Faults apply to delta pages as to
// listings (Page 1 is the first request of a round). docs/graph.md lists
// which shapes follow the documentation and which are assumptions.
//
// # Throttling
//
// Every Graph request and $batch item is charged resource units as Graph's
// identity service does ([Server.ResourceUnits], header x-ms-resource-unit).
// [WithThrottle] enforces a budget per sliding window: a request over budget
// gets 429 TooManyRequests with Retry-After (a $batch item gets its own 429
// inside a 200 batch). [Server.ThrottleStats] counts the 429s and the
// requests that came back before their Retry-After had elapsed.
package graphtest

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// DefaultAppRoleID is the app role id Graph uses for the default access role,
// applied to assignments that do not name one.
const DefaultAppRoleID = "00000000-0000-0000-0000-000000000000"

// User is a user object of the tenant. Empty strings are served as null.
type User struct {
	ID                string `json:"id"`                // object id (a GUID)
	UserPrincipalName string `json:"userPrincipalName"` // required, unique
	Mail              string `json:"mail,omitempty"`
	DisplayName       string `json:"displayName,omitempty"`
	GivenName         string `json:"givenName,omitempty"`
	Surname           string `json:"surname,omitempty"`
	// AccountEnabled is not in Graph's default property set: select it.
	// It is false when omitted from a fixture.
	AccountEnabled bool `json:"accountEnabled"`
}

// Group is a group object of the tenant.
type Group struct {
	ID              string   `json:"id"` // object id (a GUID)
	DisplayName     string   `json:"displayName"`
	SecurityEnabled bool     `json:"securityEnabled"`
	MailEnabled     bool     `json:"mailEnabled"`
	GroupTypes      []string `json:"groupTypes"` // e.g. ["Unified"]; nil is served as []
	// Members holds the object ids of the direct members: users, groups or
	// service principals (including the tenant's Application).
	Members []string `json:"members"`
}

// ServicePrincipal is a service principal object of the tenant.
type ServicePrincipal struct {
	ID          string `json:"id"`    // object id (a GUID)
	AppID       string `json:"appId"` // application (client) id, unique
	DisplayName string `json:"displayName"`
}

// Assignment assigns a principal (user, group or service principal) to the
// tenant's Application. The principalType Graph reports is derived from the
// kind of the object PrincipalID names.
type Assignment struct {
	// ID is the assignment id. When empty one is generated: Graph ids of
	// appRoleAssignments are not GUIDs but 43-character base64url strings.
	ID string `json:"id,omitempty"`
	// PrincipalID is the object id of the assigned user, group or service
	// principal.
	PrincipalID string `json:"principalId"`
	// AppRoleID defaults to DefaultAppRoleID.
	AppRoleID string `json:"appRoleId,omitempty"`
}

// Tenant is the whole simulated directory. It can be built in Go or loaded
// from a JSON fixture with LoadTenant.
type Tenant struct {
	// TenantID is the directory id, the path segment of the authority
	// (https://<host>/<TenantID>).
	TenantID string `json:"tenantId"`
	// ClientID and ClientSecret are the only client credentials the token
	// endpoint accepts.
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	// Application is the enterprise application whose appRoleAssignedTo
	// listing is served. It is a service principal of the directory too.
	Application ServicePrincipal `json:"application"`
	// Users are served in this order by GET /v1.0/users.
	Users []User `json:"users"`
	// Groups of the directory.
	Groups []Group `json:"groups"`
	// ServicePrincipals are the other service principals; they can be
	// assigned to the Application and be members of groups.
	ServicePrincipals []ServicePrincipal `json:"servicePrincipals"`
	// Assignments are the principals assigned to Application.
	Assignments []Assignment `json:"assignments"`

	// Certificates are the certificates registered on the client's app
	// registration: client assertions signed with their keys are accepted.
	Certificates []*x509.Certificate `json:"-"`
	// FederatedCredentials are its federated identity credentials.
	FederatedCredentials []FederatedCredential `json:"federatedCredentials,omitempty"`
	// ManagedIdentity is what the managed-identity endpoint serves (nil:
	// no identity on this resource).
	ManagedIdentity *ManagedIdentity `json:"managedIdentity,omitempty"`
	// ConsentMissing models a customer tenant whose administrator has not
	// consented to the (multi-tenant) client yet: the token endpoint
	// answers AADSTS700016, as for an application not in the directory.
	ConsentMissing bool `json:"consentMissing,omitempty"`
	// Permissions are the Graph application permissions granted to the
	// client; a request needing another is 403 (credentials.go). nil grants
	// the least-privileged three, Application.Read.All, GroupMember.Read.All
	// and User.Read.All: everything but directoryObjects/getByIds, which
	// needs Directory.Read.All listed.
	Permissions []string `json:"permissions,omitempty"`
}

// LoadTenant reads a tenant from a JSON fixture. Decoding is strict (an
// unknown field or trailing data is an error) and the tenant is validated with
// Validate. Assignments without an id get a generated one and those without an
// appRoleId get DefaultAppRoleID.
func LoadTenant(r io.Reader) (*Tenant, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var t Tenant
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("graphtest: decode tenant: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("graphtest: decode tenant: unexpected data after the tenant object")
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	t.normalize()
	return &t, nil
}

// LoadTenantFile reads a tenant from the JSON fixture at path (see LoadTenant).
func LoadTenantFile(path string) (*Tenant, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("graphtest: load tenant: %w", err)
	}
	t, err := LoadTenant(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return t, nil
}

// Clone returns a deep copy of t (nil for a nil t).
func (t *Tenant) Clone() *Tenant {
	if t == nil {
		return nil
	}
	c := *t
	c.Users = append([]User(nil), t.Users...)
	c.ServicePrincipals = append([]ServicePrincipal(nil), t.ServicePrincipals...)
	c.Assignments = append([]Assignment(nil), t.Assignments...)
	c.Certificates = append([]*x509.Certificate(nil), t.Certificates...)
	c.FederatedCredentials = append([]FederatedCredential(nil), t.FederatedCredentials...)
	if t.Permissions != nil {
		c.Permissions = append([]string{}, t.Permissions...)
	}
	if t.ManagedIdentity != nil {
		mi := *t.ManagedIdentity
		mi.UserAssigned = append([]string(nil), mi.UserAssigned...)
		c.ManagedIdentity = &mi
	}
	if t.Groups != nil {
		c.Groups = make([]Group, len(t.Groups))
		for i, g := range t.Groups {
			g.GroupTypes = append([]string(nil), g.GroupTypes...)
			g.Members = append([]string(nil), g.Members...)
			c.Groups[i] = g
		}
	}
	return &c
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Validate checks that the tenant is consistent: credentials and the
// Application are set, every object has a GUID id, ids are unique across users,
// groups and service principals (the Application included), user principal
// names and appIds are unique, group members and assigned principals exist,
// and assignments are not duplicated. The error names the offending object.
func (t *Tenant) Validate() error {
	if t == nil {
		return errors.New("graphtest: tenant is nil")
	}
	switch {
	case t.TenantID == "":
		return errors.New("graphtest: tenant: tenantId is required")
	case t.ClientID == "":
		return errors.New("graphtest: tenant: clientId is required")
	case t.ClientSecret == "":
		return errors.New("graphtest: tenant: clientSecret is required")
	case t.Application.ID == "":
		return errors.New("graphtest: application: id is required")
	case t.Application.AppID == "":
		return fmt.Errorf("graphtest: application (id %q): appId is required", t.Application.ID)
	}
	if strings.ContainsAny(t.TenantID, "/?#% ") {
		return fmt.Errorf("graphtest: tenant: tenantId %q must be usable as a URL path segment", t.TenantID)
	}

	ids := map[string]string{} // lower-cased id -> description of the first owner
	claim := func(desc, id string) error {
		if id == "" {
			return fmt.Errorf("graphtest: %s: id is required", desc)
		}
		if !guidRE.MatchString(id) {
			return fmt.Errorf("graphtest: %s (id %q): id is not a GUID (Entra object ids are GUIDs and the Graph SDK parses principalId and resourceId as UUIDs)", desc, id)
		}
		key := strings.ToLower(id)
		if prev, ok := ids[key]; ok {
			return fmt.Errorf("graphtest: %s (id %q): duplicate id, already used by %s", desc, id, prev)
		}
		ids[key] = desc
		return nil
	}
	appIDs := map[string]string{}
	claimAppID := func(desc, id, appID string) error {
		if appID == "" {
			return fmt.Errorf("graphtest: %s (id %q): appId is required", desc, id)
		}
		key := strings.ToLower(appID)
		if prev, ok := appIDs[key]; ok {
			return fmt.Errorf("graphtest: %s (id %q): duplicate appId %q, already used by %s", desc, id, appID, prev)
		}
		appIDs[key] = desc
		return nil
	}

	if err := claim("application", t.Application.ID); err != nil {
		return err
	}
	if err := claimAppID("application", t.Application.ID, t.Application.AppID); err != nil {
		return err
	}
	upns := map[string]string{}
	for i, u := range t.Users {
		desc := fmt.Sprintf("users[%d]", i)
		if err := claim(desc, u.ID); err != nil {
			return err
		}
		if u.UserPrincipalName == "" {
			return fmt.Errorf("graphtest: %s (id %q): userPrincipalName is required", desc, u.ID)
		}
		key := strings.ToLower(u.UserPrincipalName)
		if prev, ok := upns[key]; ok {
			return fmt.Errorf("graphtest: %s (id %q): duplicate userPrincipalName %q, already used by %s", desc, u.ID, u.UserPrincipalName, prev)
		}
		upns[key] = desc
	}
	for i, g := range t.Groups {
		if err := claim(fmt.Sprintf("groups[%d]", i), g.ID); err != nil {
			return err
		}
	}
	for i, sp := range t.ServicePrincipals {
		desc := fmt.Sprintf("servicePrincipals[%d]", i)
		if err := claim(desc, sp.ID); err != nil {
			return err
		}
		if err := claimAppID(desc, sp.ID, sp.AppID); err != nil {
			return err
		}
	}
	for i, g := range t.Groups {
		seen := map[string]bool{}
		for _, m := range g.Members {
			switch {
			case m == "":
				return fmt.Errorf("graphtest: groups[%d] (id %q): empty member id", i, g.ID)
			case strings.EqualFold(m, g.ID):
				return fmt.Errorf("graphtest: groups[%d] (id %q): a group cannot be a member of itself", i, g.ID)
			case ids[strings.ToLower(m)] == "":
				return fmt.Errorf("graphtest: groups[%d] (id %q): member %q does not exist", i, g.ID, m)
			case seen[strings.ToLower(m)]:
				return fmt.Errorf("graphtest: groups[%d] (id %q): member %q is listed twice", i, g.ID, m)
			}
			seen[strings.ToLower(m)] = true
		}
	}
	assignIDs := map[string]int{}
	pairs := map[string]int{}
	for i, a := range t.Assignments {
		desc := fmt.Sprintf("assignments[%d]", i)
		if a.ID != "" {
			desc += fmt.Sprintf(" (id %q)", a.ID)
			if strings.ContainsAny(a.ID, "/?#") {
				return fmt.Errorf("graphtest: %s: id must not contain '/', '?' or '#'", desc)
			}
			if j, ok := assignIDs[a.ID]; ok {
				return fmt.Errorf("graphtest: %s: duplicate id, already used by assignments[%d]", desc, j)
			}
			assignIDs[a.ID] = i
		}
		if a.PrincipalID == "" {
			return fmt.Errorf("graphtest: %s: principalId is required", desc)
		}
		if ids[strings.ToLower(a.PrincipalID)] == "" {
			return fmt.Errorf("graphtest: %s: principal %q does not exist", desc, a.PrincipalID)
		}
		role := a.AppRoleID
		if role == "" {
			role = DefaultAppRoleID
		} else if !guidRE.MatchString(role) {
			return fmt.Errorf("graphtest: %s: appRoleId %q is not a GUID", desc, role)
		}
		key := strings.ToLower(a.PrincipalID + "|" + role)
		if j, ok := pairs[key]; ok {
			return fmt.Errorf("graphtest: %s: principal %q already has app role %s (assignments[%d])", desc, a.PrincipalID, role, j)
		}
		pairs[key] = i
	}
	return nil
}

// normalize fills the generated defaults of assignments.
func (t *Tenant) normalize() {
	for i := range t.Assignments {
		a := &t.Assignments[i]
		if a.ID == "" {
			a.ID = newAssignmentID()
		}
		if a.AppRoleID == "" {
			a.AppRoleID = DefaultAppRoleID
		}
	}
}
