package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scopes of an admin API token: a read token views, an admin token also
// changes (approves, rejects, pauses, provisions, sets, rotates).
const (
	ScopeRead  = "read"
	ScopeAdmin = "admin"
)

// ValidScope reports whether s is ScopeRead or ScopeAdmin.
func ValidScope(s string) bool { return s == ScopeRead || s == ScopeAdmin }

// Allows reports whether a token of scope have may do what needs scope need:
// admin allows everything, read allows read.
func Allows(have, need string) bool {
	return have == ScopeAdmin || (have == ScopeRead && need == ScopeRead)
}

// TokenHash is the SHA-256 of an API token in hex, the form a TokenStore
// keeps it in.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// APIToken is a live admin API token as the store knows it: never the token
// itself, only its hash.
type APIToken struct {
	Hash string `json:"-"`
	// Scope is ScopeRead or ScopeAdmin.
	Scope string `json:"scope"`
	// Label names the token in the audit trail (admin actions record it);
	// issuing a token revokes the older live tokens of its label.
	Label     string    `json:"label"`
	CreatedAt time.Time `json:"createdAt"`
}

// MaxTokenLabel bounds a token's label.
const MaxTokenLabel = 64

// ValidTokenLabel reports whether label is 1 to MaxTokenLabel letters,
// digits, '-', '_' or '.'.
func ValidTokenLabel(label string) bool {
	if label == "" || len(label) > MaxTokenLabel {
		return false
	}
	for _, r := range label {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// AdminAction is one administrator's action in the audit trail: who (the
// label of the token used, or "cli" for the command line on the host),
// when, what, on which tenant and object.
type AdminAction struct {
	ID int64     `json:"id"`
	At time.Time `json:"at"`
	// Actor is the label of the token the action was taken with.
	Actor string `json:"actor"`
	// Action is one of the Action… names below.
	Action   string `json:"action"`
	TenantID string `json:"tenantId,omitempty"`
	// Target is what the action was on: a run id, a user or group reference.
	Target string `json:"target,omitempty"`
	// Detail says how it went or what was set ("applied", "dry run", a
	// setting's new value, an error).
	Detail string `json:"detail,omitempty"`
}

// Names of the administrators' actions the audit trail records.
const (
	ActionApproveRun     = "run.approve"
	ActionRejectRun      = "run.reject"
	ActionPauseTenant    = "tenant.pause"
	ActionResumeTenant   = "tenant.resume"
	ActionCycleTenant    = "tenant.cycle"
	ActionProvision      = "provision"
	ActionSetSetting     = "settings.set"
	ActionRotateToken    = "token.rotate"
	ActionSandboxChanged = "sandbox.change"
)

// Access is the store's half of the API's permissions: scoped, labelled
// tokens and the audit trail of what administrators did with them. Both
// store backends and synctest's memory directory implement it.
type Access interface {
	// IssueAPIToken stores hash as a live token of scope and label and, in
	// the same transaction, revokes every older live token of the same
	// label. EINVALID for a bad scope or label, ECONFLICT for a hash stored
	// before (nothing changes then).
	IssueAPIToken(ctx context.Context, hash, scope, label string) error
	// LookupAPIToken returns the live token whose hash is hash;
	// ErrTokenNotFound when there is none (unknown or revoked).
	LookupAPIToken(ctx context.Context, hash string) (APIToken, error)
	// RecordAdminAction appends a to the audit trail (setting its ID and,
	// when zero, its time).
	RecordAdminAction(ctx context.Context, a AdminAction) error
	// AdminActions lists the audit trail, newest first, at most limit (100
	// when not positive): of tenantID only, or every tenant's and the
	// tenant-less (token rotations) for "".
	AdminActions(ctx context.Context, tenantID string, limit int) ([]AdminAction, error)
}

// ErrTokenNotFound is returned for a token hash that is unknown or revoked.
var ErrTokenNotFound = &Error{Code: EUNAUTHORIZED, Message: "unknown or revoked token"}

// LogQuery selects a page of a run's provisioning log: entries matching
// every filter given, in id order, Offset entries skipped, at most Limit.
type LogQuery struct {
	Action Action
	Status string
	Entity Entity
	// Text matches the label, Entra ids or reason, case-insensitively.
	Text   string
	Offset int
	// Limit is at most MaxLogPage; 0 means DefaultLogPage.
	Limit int
}

// Sizes of a provisioning log page.
const (
	DefaultLogPage = 100
	MaxLogPage     = 1000
)

// PageLimit is q.Limit within bounds.
func (q LogQuery) PageLimit() int {
	switch {
	case q.Limit <= 0:
		return DefaultLogPage
	case q.Limit > MaxLogPage:
		return MaxLogPage
	}
	return q.Limit
}

// LogPage is one page of a run's provisioning log and how many entries match
// the filters in all.
type LogPage struct {
	// Run is the run itself (its record, without the log).
	Run     *Run       `json:"run"`
	Entries []LogEntry `json:"changes"`
	Total   int        `json:"total"`
	Offset  int        `json:"offset"`
	Limit   int        `json:"limit"`
}

// LogPager pages through a run's provisioning log in the store's query, so a
// run of 100,000 changes is never read whole to show a page.
type LogPager interface {
	// RunLog returns the page q selects of run runID's log;
	// ErrRunNotFound when there is no such run.
	RunLog(ctx context.Context, runID int64, q LogQuery) (LogPage, error)
}

// The statuses of a provisioning log entry.
const (
	LogApplied  = "applied"
	LogHeld     = "held"
	LogConflict = "conflict"
)

// Actions, Entities and LogStatuses list the values a LogQuery filters on,
// in display order.
var (
	Actions     = []Action{ActionCreate, ActionUpdate, ActionArchive, ActionRestore, ActionAdopt, ActionAdd, ActionRemove}
	Entities    = []Entity{EntityUser, EntityGroup, EntityMembership}
	LogStatuses = []string{LogApplied, LogHeld, LogConflict}
)

// ParseLogQuery reads a LogQuery from named values (a URL's query, a form):
// action, status, entity, q (the text), offset and limit. EINVALID names
// the value that is not one of the known ones or out of range.
func ParseLogQuery(get func(name string) string) (LogQuery, error) {
	q := LogQuery{Action: Action(get("action")), Status: get("status"), Entity: Entity(get("entity")), Text: get("q")}
	if q.Action != "" && !slices.Contains(Actions, q.Action) {
		return q, Errorf(EINVALID, "action must be one of %v, not %q", Actions, Printable(string(q.Action)))
	}
	if q.Status != "" && !slices.Contains(LogStatuses, q.Status) {
		return q, Errorf(EINVALID, "status must be one of %v, not %q", LogStatuses, Printable(q.Status))
	}
	if q.Entity != "" && !slices.Contains(Entities, q.Entity) {
		return q, Errorf(EINVALID, "entity must be one of %v, not %q", Entities, Printable(string(q.Entity)))
	}
	if len(q.Text) > 256 {
		return q, Errorf(EINVALID, "q must be at most 256 bytes")
	}
	for _, f := range []struct {
		name string
		dst  *int
		max  int
	}{{"offset", &q.Offset, 100_000_000}, {"limit", &q.Limit, MaxLogPage}} {
		v := get(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > f.max {
			return q, Errorf(EINVALID, "%s must be an integer between 0 and %d", f.name, f.max)
		}
		*f.dst = n
	}
	return q, nil
}

// MatchLog reports whether e passes q's filters (not its paging): the rule
// the store queries implement in SQL, for the in-memory directory.
func MatchLog(e LogEntry, q LogQuery) bool {
	if (q.Action != "" && e.Action != q.Action) || (q.Status != "" && e.Status != q.Status) || (q.Entity != "" && e.Entity != q.Entity) {
		return false
	}
	if q.Text == "" {
		return true
	}
	t := lowerASCII(q.Text)
	for _, s := range []string{e.Label, e.EntraID, e.GroupEntraID, e.Reason} {
		if strings.Contains(lowerASCII(s), t) {
			return true
		}
	}
	return false
}

// lowerASCII lowers A-Z only, as SQL's lower() does on both backends'
// default collations for the ids and labels here.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
