package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Incremental cycles (docs/behaviour.md, C11). A tenant's delta state is
// where Graph's change tracking left off: the delta links, when they were
// taken, the strategy they serve and the picture of Graph they lead to (the
// mirror, opaque to sync). It is kept in the directory and saved only in the
// transaction that applies a cycle, so a failed or dry-run cycle never moves
// it. A cycle is incremental when a usable state exists, full otherwise.

// DeltaState is one tenant's change-tracking state.
type DeltaState struct {
	TenantID string `json:"tenantId"`
	// Strategy names the delta queries the links serve (StrategyDelta…);
	// "" means none can be used and every cycle reads in full.
	Strategy string `json:"strategy"`
	// Note says why a strategy is missing or reduced (a refused permission).
	Note string `json:"note,omitempty"`
	// Links are the delta links by query (users, groups, assignments).
	Links map[string]string `json:"links,omitempty"`
	// TakenAt is when the links were taken (the last cycle's read);
	// FullAt when the last full read was.
	TakenAt time.Time `json:"takenAt"`
	FullAt  time.Time `json:"fullAt"`
	// Scope identifies the configuration that decides scope (the tenant,
	// the application, the Graph endpoint); a state of another scope is
	// not used.
	Scope string `json:"scope"`
	// Mirror is the source's picture of Graph as of the links (encoded by
	// the source; the directory keeps it as it is). A state to save with
	// a nil Mirror keeps the stored one.
	Mirror []byte `json:"-"`
	// MirrorParts, when set, are the lengths of the Mirror's parts, in
	// order (they add up to its length): the directory keeps each on its
	// own, and a save rewrites only the parts whose bytes changed. Nil: one
	// part.
	MirrorParts []int `json:"-"`
	// Encode, when set, gives the Mirror and its parts: the source encodes
	// it in the background while the cycle plans and applies (Encoded waits
	// for it).
	Encode func() ([]byte, []int, error) `json:"-"`
	// Generation counts the saves; a save whose predecessor was replaced
	// meanwhile is refused (ECONFLICT).
	Generation int64 `json:"generation"`
	// What the cycle that saved it left: the tenant's directory version
	// after its writes (the store fills it in when saving), a hash of the
	// settings it planned with, and whether it applied all it planned (no
	// conflict, nothing held). A cycle whose round changed nothing, over
	// that same directory, has nothing to plan.
	DirectoryVersion int64  `json:"directoryVersion"`
	SettingsHash     string `json:"settingsHash,omitempty"`
	Clean            bool   `json:"clean"`
	// Summary is what that cycle's plan said besides its changes: a
	// settled cycle's plan says the same.
	Summary PlanSummary `json:"summary"`
	// basis, for an incremental read after a clean cycle (one that applied
	// all it planned), is the directory that cycle left: over the same
	// directory, a round that changed nothing has nothing to plan
	// (settled, planSettled) and one that did may be planned in part
	// (planScoped).
	basis   *planBasis
	settled bool
}

// planBasis is the directory version and settings a clean cycle left.
type planBasis struct {
	version  int64
	settings string
}

// holds reports whether the directory head is still the one b names, with
// no held run awaiting review.
func (b *planBasis) holds(head Tenant) bool {
	return b != nil && head.DirectoryVersion == b.version && settingsHash(head.Settings) == b.settings && !head.PendingHold
}

// Encoded waits for a mirror encoded in the background (Encode) and sets
// Mirror; it does nothing when there is none.
func (st *DeltaState) Encoded() error {
	if st.Encode == nil {
		return nil
	}
	b, parts, err := st.Encode()
	st.Encode = nil
	if err != nil {
		return fmt.Errorf("sync: encode the delta state's mirror: %w", err)
	}
	st.Mirror, st.MirrorParts = b, parts
	return nil
}

// The strategies of a delta state.
const (
	// StrategyDelta: users/delta, groups/delta (members) and assignment
	// changes from directoryObjects/delta.
	StrategyDelta = "users+groups+assignments"
	// StrategyDeltaListed: users/delta and groups/delta; the assignments
	// are listed in full each cycle.
	StrategyDeltaListed = "users+groups"
)

// The modes of a run.
const (
	ModeFull        = "full"
	ModeIncremental = "incremental"
)

// PlanSummary is what a plan says besides its changes.
type PlanSummary struct {
	Skipped                     []Skip `json:"skipped,omitempty"`
	InScope                     int    `json:"inScope"`
	ServicePrincipalAssignments int    `json:"servicePrincipalAssignments"`
}

// DefaultFullEvery is how often a full cycle runs when incremental ones
// could (full_every).
const DefaultFullEvery = 24 * time.Hour

// DeltaSource is a Source that can also read what changed since a state.
type DeltaSource interface {
	Source
	// DeltaScope identifies the configuration that decides scope.
	DeltaScope() string
	// SnapshotDelta reads the whole picture as Snapshot does, taking fresh
	// delta links first, so that what changes during the read is replayed
	// by the next incremental read. The state it returns has no TenantID,
	// FullAt or Generation (the Syncer sets them).
	SnapshotDelta(ctx context.Context) (*Snapshot, *DeltaState, error)
	// Incremental reads the changes since prev and returns the whole
	// picture they lead to, as a full read would give it, with the next
	// state. ErrDeltaReset (in the chain) means prev cannot be used and a
	// full read must be made.
	Incremental(ctx context.Context, prev *DeltaState) (*Snapshot, *DeltaState, error)
}

// Background is a Source with work of its own that can outlive a cycle (a
// mirror encoded or decoded aside): Wait returns once it is done.
type Background interface {
	Wait()
}

// MirrorWarmer is a DeltaSource that can prepare, in the background, for
// the next incremental read of the state a full cycle saved (decode its
// mirror); an incremental read keeps its own.
type MirrorWarmer interface {
	Warm(mirror []byte)
}

// DeltaStore is the directory's half of incremental cycles: Directory reads
// a tenant's state; Tx.SaveDelta (DeltaTx) writes it with the cycle.
type DeltaStore interface {
	// DeltaState returns tenantID's state, nil when it has none.
	DeltaState(ctx context.Context, tenantID string) (*DeltaState, error)
}

// DeltaTx saves a tenant's state in the cycle's transaction.
type DeltaTx interface {
	// Tenant is the tenant as the transaction locked it: its effective
	// settings, a pending hold, its directory version.
	Tenant() Tenant
	// SaveDelta replaces the tenant's state with st, whose Generation is
	// the one read (0: none was); it sets st.Generation to the new one and
	// st.DirectoryVersion to the directory's version after this
	// transaction's writes. ECONFLICT when another save came between.
	SaveDelta(ctx context.Context, st *DeltaState) error
}

// ErrDeltaReset means a delta state cannot be used (Graph refused its token:
// 410 Gone, syncStateNotFound; or answered something a merge cannot trust):
// a full read replaces it.
var ErrDeltaReset = errors.New("delta state cannot be used")

// DeltaReset wraps why as ErrDeltaReset.
func DeltaReset(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrDeltaReset, fmt.Sprintf(format, args...))
}

// fullReason says why a cycle must read in full, "" when it may be
// incremental: asked for, no state, a state without a strategy, another
// scope, or full_every elapsed since the last full read.
func fullReason(prev *DeltaState, scope string, opt CycleOptions, now time.Time) string {
	every := opt.FullEvery
	if every <= 0 {
		every = DefaultFullEvery
	}
	switch {
	case opt.reset != "":
		return opt.reset
	case opt.Full:
		return "full cycle requested"
	case prev == nil:
		return "no delta state yet"
	case prev.Strategy == "":
		if prev.Note != "" {
			return prev.Note
		}
		return "delta queries not available"
	case prev.Scope != scope:
		return "the configuration that decides scope changed"
	case prev.FullAt.IsZero():
		return fmt.Sprintf("the last full read added members to more than %d groups, unproven: read in full once more", MaxGainingProofs)
	case !now.Before(prev.FullAt.Add(every)):
		return fmt.Sprintf("full_every (%s) elapsed since the last full cycle", every)
	}
	return ""
}

// readDelta reads for one cycle: incrementally when the tenant's state
// allows, in full otherwise (or when Graph refuses the state, logged and
// recorded on the run). It returns the state to save with the cycle (nil
// when there is none to save).
func (s *Syncer) readDelta(ctx context.Context, tenantID string, src DeltaSource, ds DeltaStore, run *Run, opt CycleOptions, full func()) (*Snapshot, *DeltaState, error) {
	prev, err := ds.DeltaState(ctx, tenantID)
	if err != nil {
		return nil, nil, fmt.Errorf("sync: load delta state: %w", err)
	}
	reason := fullReason(prev, src.DeltaScope(), opt, run.StartedAt)
	var tried *Snapshot // an incremental read Graph refused: its requests count too
	if reason == "" {
		run.Mode = ModeIncremental
		snap, next, err := src.Incremental(ctx, prev)
		if err == nil {
			next.FullAt = prev.FullAt
			if prev.Clean {
				next.basis = &planBasis{version: prev.DirectoryVersion, settings: prev.SettingsHash}
				if next.Mirror == nil && next.Encode == nil { // the round changed nothing
					next.settled, next.Summary = true, prev.Summary
				}
			}
			return snap, s.stamp(next, tenantID, prev), nil
		}
		if !errors.Is(err, ErrDeltaReset) && !errors.Is(err, ErrListingShort) {
			return snap, nil, err
		}
		tried, reason = snap, err.Error()
		s.logger.Warn("delta state refused; reading in full", LogTenant, tenantID, "reason", reason)
	}
	run.Mode, run.FullReason = ModeFull, reason
	full()
	snap, next, err := src.SnapshotDelta(ctx)
	if snap != nil && tried != nil {
		snap.GraphRequests += tried.GraphRequests
		snap.RoundTrips += tried.RoundTrips
		snap.ThrottleWait += tried.ThrottleWait
	}
	if err != nil || next == nil {
		return snap, nil, err
	}
	next.FullAt = run.StartedAt
	return snap, s.stamp(next, tenantID, prev), nil
}

// stamp readies next to replace prev.
func (s *Syncer) stamp(next *DeltaState, tenantID string, prev *DeltaState) *DeltaState {
	next.TenantID = tenantID
	next.Generation = 0
	if prev != nil {
		next.Generation = prev.Generation
	}
	return next
}

// planSettled begins the cycle's transaction and, when next is settled and
// the directory is as the previous cycle left it (the same version, the same
// settings, no held run awaiting review), returns an empty plan without
// loading the directory: planning the same picture against the same
// directory that cycle brought up to date gives nothing (C9). ok is false
// (and nothing is held) otherwise.
func (s *Syncer) planSettled(ctx context.Context, tenantID string, next *DeltaState) (tx Tx, st *State, plan *Plan, ok bool, err error) {
	if next == nil || !next.settled {
		return nil, nil, nil, false, nil
	}
	if tx, err = s.dir.Begin(ctx, tenantID); err != nil {
		return nil, nil, nil, false, fmt.Errorf("sync: begin: %w", err)
	}
	if dtx, isDelta := tx.(DeltaTx); isDelta {
		if head := dtx.Tenant(); next.basis.holds(head) {
			sum := next.Summary
			return tx, &State{Tenant: head}, &Plan{TenantID: tenantID, Skipped: sum.Skipped, InScope: sum.InScope,
				ServicePrincipalAssignments: sum.ServicePrincipalAssignments}, true, nil
		}
	}
	_ = tx.Rollback()
	return nil, nil, nil, false, nil
}

// planScoped plans snap against the part of the directory its Changes
// reach (ScopeOf, StateOf, DiffScoped) when the directory is as the last
// clean cycle left it; ok is false when a whole plan must be made.
func (s *Syncer) planScoped(ctx context.Context, tx Tx, snap *Snapshot, now time.Time, next *DeltaState, approved map[string]bool) (st *State, plan *Plan, ok bool, err error) {
	stx, scoped := tx.(ScopedTx)
	dtx, isDelta := tx.(DeltaTx)
	if !scoped || !isDelta || next == nil || snap.Changed == nil || approved != nil {
		return nil, nil, false, nil
	}
	head := dtx.Tenant()
	if !next.basis.holds(head) {
		return nil, nil, false, nil
	}
	scope, ok := ScopeOf(snap, snap.Changed, head.Settings)
	if !ok {
		return nil, nil, false, nil
	}
	if st, err = stx.StateOf(ctx, scope); err != nil {
		return nil, nil, false, fmt.Errorf("sync: load state: %w", err)
	}
	if err := safePlan(func() { plan, ok = DiffScoped(snap, st, scope, now.UTC()) }); err != nil {
		return nil, nil, false, err
	}
	if !ok {
		s.logger.Warn("a scoped plan reached beyond what it loaded; planning the whole directory", LogTenant, head.ID)
		return nil, nil, false, nil
	}
	if NeedsTotals(plan) {
		t, err := stx.Totals(ctx)
		if err != nil {
			return nil, nil, false, fmt.Errorf("sync: count the directory: %w", err)
		}
		st.Totals = &t
	}
	return st, plan, true, nil
}

// settingsHash identifies the settings a cycle planned with.
func settingsHash(t TenantSettings) string {
	b, _ := json.Marshal(t)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}
