package sync

import (
	"slices"
	"strings"
	"time"
)

// Status is the lifecycle status of a local user (docs/behaviour.md, lifecycle).
type Status string

// The statuses of a local user.
const (
	StatusStaged   Status = "staged"
	StatusInvited  Status = "invited"
	StatusActive   Status = "active"
	StatusArchived Status = "archived"
	StatusPurged   Status = "purged"
)

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusStaged, StatusInvited, StatusActive, StatusArchived, StatusPurged:
		return true
	}
	return false
}

// Origin says who owns a local user or group: the sync (provisioned) or an
// administrator (manual).
type Origin string

// The origins of a local user or group.
const (
	OriginProvisioned Origin = "provisioned"
	OriginManual      Origin = "manual"
)

// EmailSource selects which Entra attribute becomes a user's e-mail (L2).
type EmailSource string

// The e-mail sources a tenant can choose.
const (
	// EmailFromMail uses mail, or the userPrincipalName where mail is empty.
	EmailFromMail EmailSource = "mail"
	// EmailFromUPN always uses the userPrincipalName.
	EmailFromUPN EmailSource = "upn"
)

// PathDirect is the assignment path of a user holding an app role assignment
// itself; group paths are "group:<entra group id>".
const PathDirect = "direct"

// GroupPath returns the assignment path through the Entra group id.
func GroupPath(groupID string) string { return "group:" + groupID }

// ---- what Microsoft Graph says -------------------------------------------

// EntraUser is a user as read from Microsoft Graph: only the fields entrasync uses.
type EntraUser struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
	Mail              string `json:"mail,omitempty"`
	DisplayName       string `json:"displayName,omitempty"`
	GivenName         string `json:"givenName,omitempty"`
	Surname           string `json:"surname,omitempty"`
	AccountEnabled    bool   `json:"accountEnabled"`
}

// Email returns the user's e-mail under the tenant's choice of source (L2):
// mail, or the UPN where mail is empty; always the UPN with EmailFromUPN.
func (u EntraUser) Email(src EmailSource) string {
	mail := strings.TrimSpace(u.Mail)
	if src == EmailFromUPN || mail == "" {
		return strings.TrimSpace(u.UserPrincipalName)
	}
	return mail
}

// EntraGroup is a group assigned to the application, as read from Graph.
type EntraGroup struct {
	ID              string   `json:"id"`
	DisplayName     string   `json:"displayName"`
	SecurityEnabled bool     `json:"securityEnabled"`
	MailEnabled     bool     `json:"mailEnabled"`
	GroupTypes      []string `json:"groupTypes,omitempty"`
	// Found is false when the assignment names a group Graph no longer has.
	Found bool `json:"found"`
	// Members are the ids of the group's direct user members (read only for
	// supported groups).
	Members []string `json:"members,omitempty"`
	// Nested are the groups that are direct members of this group (S3).
	Nested []Ref `json:"nested,omitempty"`
	// OtherMembers counts direct members that are neither users nor groups
	// (devices, contacts, service principals); OtherIDs are their ids when
	// the read kept them (for change tracking).
	OtherMembers int      `json:"otherMembers,omitempty"`
	OtherIDs     []string `json:"-"`
}

// Ref names a directory object: its id and display name.
type Ref struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// GroupSupport applies S2: a group is supported when it exists and is
// security-enabled, and is not a Microsoft 365 (Unified) group. It returns
// the reason when it is not.
func GroupSupport(g EntraGroup) (ok bool, reason string) {
	switch {
	case !g.Found:
		return false, "group not found in Entra"
	case slices.ContainsFunc(g.GroupTypes, func(t string) bool { return strings.EqualFold(t, "Unified") }):
		return false, "Microsoft 365 group (groupTypes contains Unified) is not supported"
	case !g.SecurityEnabled && g.MailEnabled:
		return false, "distribution group (securityEnabled is false) is not supported"
	case !g.SecurityEnabled:
		return false, "not a security group (securityEnabled is false)"
	}
	return true, ""
}

// Snapshot is everything a cycle read from Graph about one tenant's application.
type Snapshot struct {
	ServicePrincipal Ref `json:"servicePrincipal"`
	// Users holds every user the read returned: direct assignees and direct
	// members of supported groups, keyed by object id.
	Users map[string]EntraUser `json:"users"`
	// DirectUsers are the ids of users holding an assignment themselves.
	DirectUsers []string `json:"directUsers"`
	// AssignmentsListed is how many assignments the listing returned (users,
	// groups, service principals and others), to compare with Graph's count.
	AssignmentsListed int `json:"assignmentsListed"`
	// Groups are all groups assigned to the application, supported or not.
	Groups []EntraGroup `json:"groups"`
	// ServicePrincipalAssignments counts assignments whose principal is a
	// service principal; they are ignored (S4).
	ServicePrincipalAssignments int `json:"servicePrincipalAssignments"`
	// Skipped lists objects the read passed over, with the reason.
	Skipped []Skip `json:"skipped,omitempty"`
	// GraphRequests counts the Graph requests the read made (each item of a
	// $batch counts); RoundTrips the HTTP round trips (a $batch is one).
	GraphRequests int `json:"graphRequests"`
	RoundTrips    int `json:"roundTrips"`
	// LowerBound is the fewest round trips the data allowed.
	LowerBound int `json:"lowerBound"`
	// CriticalPath is the longest chain of round trips that must follow
	// each other: wall time is judged against it times the latency.
	CriticalPath int `json:"criticalPath,omitempty"`
	// ThrottleWait is how long the read waited out throttling.
	ThrottleWait time.Duration `json:"throttleWait"`
	// Changed, when the source knows it (an incremental read), is what
	// differs from the picture the last cycle planned against: a cycle over
	// a directory that cycle left as it planned loads and plans only that
	// (DiffScoped). nil: unknown.
	Changed *Changes `json:"-"`
}

// ---- the local directory --------------------------------------------------

// TenantSettings are a tenant's provisioning settings and the defaults of the
// per-user and per-group settings (docs/behaviour.md, lifecycle).
type TenantSettings struct {
	AutoInvite             bool        `json:"autoInvite"`
	EmailSource            EmailSource `json:"emailSource"`
	MembersMayStoreData    bool        `json:"membersMayStoreData"`
	RequireMobileAuth      bool        `json:"requireMobileAuth"`
	GroupRequireMobileAuth bool        `json:"groupRequireMobileAuth"`
	// The archive guard's thresholds (C6): user archives, group archives
	// and membership removals, each as a number and a percentage.
	ArchiveThreshold                  int `json:"archiveThreshold"`
	ArchiveThresholdPercent           int `json:"archiveThresholdPercent"`
	GroupArchiveThreshold             int `json:"groupArchiveThreshold"`
	GroupArchiveThresholdPercent      int `json:"groupArchiveThresholdPercent"`
	MembershipRemovalThreshold        int `json:"membershipRemovalThreshold"`
	MembershipRemovalThresholdPercent int `json:"membershipRemovalThresholdPercent"`
}

// DefaultTenantSettings returns the defaults of docs/behaviour.md (lifecycle, settings).
func DefaultTenantSettings() TenantSettings {
	return TenantSettings{
		EmailSource:             EmailFromMail,
		MembersMayStoreData:     true,
		RequireMobileAuth:       true,
		ArchiveThreshold:        500,
		ArchiveThresholdPercent: 30,
		// Groups are fewer than users: 50 at once is not a reorganisation
		// made by hand.
		GroupArchiveThreshold:             50,
		GroupArchiveThresholdPercent:      30,
		MembershipRemovalThreshold:        1000,
		MembershipRemovalThresholdPercent: 30,
	}
}

// Tenant is one organisation's connection as the directory records it.
type Tenant struct {
	ID            string         `json:"id"`
	EntraTenantID string         `json:"entraTenantId"`
	Settings      TenantSettings `json:"settings"`
	// PendingHold is true while a run whose archives the guard held awaits
	// an administrator's review: later cycles hold archives too (C6).
	PendingHold bool `json:"pendingHold,omitempty"`
	// DirectoryVersion counts the writes to the tenant's directory (a
	// cycle's changes, an administrator's write), as of the transaction
	// that loaded it.
	DirectoryVersion int64 `json:"directoryVersion,omitempty"`
}

// User is a local user. Entra-owned attributes are copied by the sync (L2);
// Status beyond staged and the setting overrides belong to administrators (L8).
type User struct {
	ID                int64      `json:"id,omitempty"`
	EntraID           string     `json:"entraId,omitempty"`
	Origin            Origin     `json:"origin"`
	UserPrincipalName string     `json:"userPrincipalName,omitempty"`
	Mail              string     `json:"mail,omitempty"`
	Email             string     `json:"email,omitempty"`
	DisplayName       string     `json:"displayName,omitempty"`
	GivenName         string     `json:"givenName,omitempty"`
	Surname           string     `json:"surname,omitempty"`
	AccountEnabled    bool       `json:"accountEnabled"`
	Status            Status     `json:"status"`
	PreviousStatus    Status     `json:"previousStatus,omitempty"`
	ArchivedAt        *time.Time `json:"archivedAt,omitempty"`
	ArchiveReason     string     `json:"archiveReason,omitempty"`
	Paths             []string   `json:"paths,omitempty"`
	// RequireMobileAuth is the per-user override; nil means the tenant default.
	RequireMobileAuth *bool `json:"requireMobileAuth,omitempty"`
}

// Group is a local group.
type Group struct {
	ID            int64      `json:"id,omitempty"`
	EntraID       string     `json:"entraId,omitempty"`
	Origin        Origin     `json:"origin"`
	DisplayName   string     `json:"displayName"`
	ArchivedAt    *time.Time `json:"archivedAt,omitempty"`
	ArchiveReason string     `json:"archiveReason,omitempty"`
	// Members are the Entra object ids of the group's provisioned local members.
	Members []string `json:"members,omitempty"`
	// Per-group overrides; nil means the tenant default.
	MembersMayStoreData *bool `json:"membersMayStoreData,omitempty"`
	RequireMobileAuth   *bool `json:"requireMobileAuth,omitempty"`
}

// Archived reports whether the group is archived.
func (g *Group) Archived() bool { return g.ArchivedAt != nil }

// State is a tenant's local directory as a cycle sees it: all of it, or
// the part a scoped plan needs (Tx.StateOf), with the totals the archive
// guard measures against.
type State struct {
	Tenant Tenant  `json:"tenant"`
	Users  []User  `json:"users"`
	Groups []Group `json:"groups"`
	// Partial is set when Users and the groups' Members are only part of
	// the directory (a scoped plan's); Totals then count the whole, for the
	// archive guard, once loaded.
	Partial bool    `json:"partial,omitempty"`
	Totals  *Totals `json:"totals,omitempty"`
	// Provisioned, in a Partial state, names which of the scope's
	// PassedOver users have a provisioned row.
	Provisioned map[string]bool `json:"provisioned,omitempty"`
	// preloaded is set on a whole state loaded during the read
	// (StatePreloader) and taken by the cycle's transaction.
	preloaded bool
}

// Totals count what the whole directory holds, for the archive guard (C6):
// live provisioned users and groups, and the memberships of those groups.
type Totals struct {
	Users       int `json:"users"`
	Groups      int `json:"groups"`
	Memberships int `json:"memberships"`
}
