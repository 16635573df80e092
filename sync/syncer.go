package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Source reads one tenant's picture from Microsoft Graph. Any read that fails
// after retries fails the whole Snapshot (C4).
type Source interface {
	Snapshot(ctx context.Context) (*Snapshot, error)
}

// Directory is the local directory: tenants, users, groups, memberships,
// paths, runs, the provisioning log and the event outbox.
type Directory interface {
	// RegisterTenant creates or updates a tenant's connection and settings.
	RegisterTenant(ctx context.Context, t Tenant) error
	// Begin starts a transaction on one tenant's directory that holds the
	// tenant's lock until Commit or Rollback. ErrTenantNotFound if unknown.
	Begin(ctx context.Context, tenantID string) (Tx, error)
	// RecordRun records a run that applied nothing (a failed read).
	RecordRun(ctx context.Context, run *Run) error
	// Users lists a tenant's users, optionally by status.
	Users(ctx context.Context, tenantID string, status Status) ([]User, error)
	// Groups lists a tenant's groups with their members.
	Groups(ctx context.Context, tenantID string) ([]Group, error)
	// Runs lists a tenant's runs (all tenants for ""), newest first.
	Runs(ctx context.Context, tenantID string, limit int) ([]Run, error)
	// Run returns one run and its provisioning log; ErrRunNotFound if none.
	Run(ctx context.Context, id int64) (*Run, []LogEntry, error)
	// Events lists a tenant's outbox events with an id above after, in order.
	Events(ctx context.Context, tenantID string, after int64, limit int) ([]Event, error)
}

// Tx is one transaction on a tenant's directory.
type Tx interface {
	// State loads the tenant's local directory.
	State(ctx context.Context) (*State, error)
	// Apply applies the plan's changes, records run (setting its ID), its
	// provisioning log and events, and sets ApplyMillis (all of it) and
	// FinishedAt. Changes that collide at the database
	// come back as an ECONFLICT error and nothing is kept.
	Apply(ctx context.Context, run *Run, plan *Plan, events []Event) error
	// Commit makes the transaction's writes durable.
	Commit() error
	// Rollback discards them; it is a no-op after Commit.
	Rollback() error
}

// Outcome is how a run ended.
type Outcome string

// The outcomes of a run.
const (
	OutcomeSucceeded Outcome = "succeeded"
	OutcomeConflicts Outcome = "conflicts" // applied, with conflicts held back
	OutcomeFailed    Outcome = "failed"
	OutcomeHeld      Outcome = "held" // applied, with archives held by the guard (C6)
)

// The reviews of a held run.
const (
	ReviewApproved = "approved"
	ReviewRejected = "rejected"
)

// Run is the record of one cycle.
type Run struct {
	ID            int64     `json:"id"`
	TenantID      string    `json:"tenantId"`
	Trigger       string    `json:"trigger"`
	StartedAt     time.Time `json:"startedAt"`
	FinishedAt    time.Time `json:"finishedAt"`
	Outcome       Outcome   `json:"outcome"`
	Counts        Counts    `json:"counts"`
	GraphRequests int       `json:"graphRequests"`
	RoundTrips    int       `json:"roundTrips"`
	LowerBound    int       `json:"lowerBound"`
	// CriticalPath is the longest chain of round trips that had to follow
	// each other (a full read's), 0 when not known.
	CriticalPath int `json:"criticalPath,omitempty"`
	// Mode is how the cycle read Graph (ModeFull, ModeIncremental);
	// FullReason why a full read was made.
	Mode        string     `json:"mode,omitempty"`
	FullReason  string     `json:"fullReason,omitempty"`
	ThrottleMs  int64      `json:"throttleWaitMs"`
	ReadMillis  int64      `json:"readMs"`
	PlanMillis  int64      `json:"planMs"`
	ApplyMillis int64      `json:"applyMs"`
	Error       string     `json:"error,omitempty"`
	Conflicts   []Conflict `json:"conflicts,omitempty"`
	// Held counts the changes the archive guard held back (C6); Review is
	// how an administrator decided on them (approved, rejected, or "").
	Held       int        `json:"held,omitempty"`
	Review     string     `json:"review,omitempty"`
	ReviewedAt *time.Time `json:"reviewedAt,omitempty"`
	// ReviewedBy is who decided (sync.Actor of the review's context).
	ReviewedBy string `json:"reviewedBy,omitempty"`
	// Skipped are the objects the cycle's plan passed over, with why.
	Skipped []Skip `json:"skipped,omitempty"`
}

type actorKey struct{}

// WithActor returns ctx saying who acts through it: an administrator on the
// command line ("cli:alice@host"), an API token. Reviews of held runs
// record it.
func WithActor(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, actorKey{}, who)
}

// Actor returns who acts through ctx (WithActor), "" when nobody said.
func Actor(ctx context.Context) string {
	who, _ := ctx.Value(actorKey{}).(string)
	return who
}

// LogEntry is one row of the provisioning log: a change a run applied or held.
type LogEntry struct {
	ID           int64         `json:"id"`
	RunID        int64         `json:"runId"`
	Status       string        `json:"status"` // applied, conflict
	Action       Action        `json:"action"`
	Entity       Entity        `json:"entity"`
	EntraID      string        `json:"entraId"`
	GroupEntraID string        `json:"groupEntraId,omitempty"`
	Label        string        `json:"label"`
	Reason       string        `json:"reason"`
	Fields       []FieldChange `json:"fields,omitempty"`
}

// Event is one outbox entry for downstream consumers.
type Event struct {
	ID           int64             `json:"id"`
	TenantID     string            `json:"tenantId"`
	RunID        int64             `json:"runId,omitempty"`
	Type         string            `json:"type"`
	EntraID      string            `json:"entraId,omitempty"`
	GroupEntraID string            `json:"groupEntraId,omitempty"`
	Data         map[string]string `json:"data,omitempty"`
	CreatedAt    time.Time         `json:"createdAt"`
}

// The event types of group and membership changes, by action.
var (
	groupEvents = map[Action]string{ActionCreate: "group.created", ActionUpdate: "group.renamed",
		ActionArchive: "group.archived", ActionRestore: "group.restored", ActionAdopt: "group.adopted"}
	membershipEvents = map[Action]string{ActionAdd: "membership.added", ActionRemove: "membership.removed"}
)

// Events derives the outbox events of a plan's changes.
func (p *Plan) Events() []Event {
	evs := make([]Event, 0, len(p.Changes))
	add := func(typ string, ch Change, data map[string]string) {
		evs = append(evs, Event{TenantID: p.TenantID, Type: typ, EntraID: ch.EntraID, GroupEntraID: ch.GroupEntraID, Data: data})
	}
	for _, ch := range p.Changes {
		switch ch.Entity {
		case EntityUser:
			switch ch.Action {
			case ActionCreate:
				add("user.created", ch, map[string]string{"email": ch.After.Email, "status": string(ch.After.Status)})
				if ch.After.Status == StatusInvited {
					add("user.invited", ch, map[string]string{"email": ch.After.Email})
				}
			case ActionAdopt:
				add("user.adopted", ch, map[string]string{"email": ch.After.Email})
			case ActionArchive:
				add("user.archived", ch, map[string]string{"reason": ch.Reason, "previousStatus": string(ch.Before.Status)})
			case ActionRestore:
				add("user.restored", ch, map[string]string{"status": string(ch.After.Status)})
			case ActionUpdate:
				add("user.updated", ch, nil)
			}
			if ch.Before != nil && ch.Before.Email != ch.After.Email && ch.Action != ActionAdopt {
				add("user.email_changed", ch, map[string]string{"old": ch.Before.Email, "new": ch.After.Email})
			}
		case EntityGroup:
			add(groupEvents[ch.Action], ch, map[string]string{"displayName": ch.GroupAfter.DisplayName})
		case EntityMembership:
			add(membershipEvents[ch.Action], ch, nil)
		}
	}
	return evs
}

// Result is what a cycle did: its run record and its plan.
type Result struct {
	Run    *Run
	Plan   *Plan
	DryRun bool
}

// CycleOptions tune one cycle.
type CycleOptions struct {
	// DryRun plans and stops before applying (C3); nothing is written.
	DryRun bool
	// Trigger says who started the cycle (schedule, cli, api, demo).
	Trigger string
	// Approved names the held changes an administrator approved (HeldKeys,
	// from HeldChanges): they pass the archive guard this cycle; others are
	// guarded.
	Approved map[string]bool
	// Full makes the cycle read in full even where an incremental read
	// could be made (sync --full).
	Full bool
	// FullEvery is how often a full cycle runs between incremental ones
	// (DefaultFullEvery when 0).
	FullEvery time.Duration

	// reset, when set, makes the cycle read in full for this reason (an
	// incremental picture found short of Graph's counts); spent is the
	// Graph figures of the read it replaces.
	reset   string
	spent   *Snapshot
	started time.Time
}

// Syncer runs cycles: read → plan → apply → record.
type Syncer struct {
	dir    Directory
	logger *slog.Logger
	now    func() time.Time
}

// NewSyncer returns a Syncer over dir. A nil logger discards.
func NewSyncer(dir Directory, logger *slog.Logger) *Syncer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Syncer{dir: dir, logger: logger, now: time.Now}
}

// Log attribute keys.
const (
	LogTenant = "tenant"
	LogRun    = "run"
)

// Cycle runs one full cycle of tenantID against src. A failed read applies
// nothing and records a failed run (ErrSnapshotIncomplete in the chain); a dry
// run writes nothing at all. The tenant's directory is loaded, planned and
// applied in one transaction.
func (s *Syncer) Cycle(ctx context.Context, tenantID string, src Source, opt CycleOptions) (*Result, error) {
	log := s.logger.With(LogTenant, tenantID)
	run := &Run{TenantID: tenantID, Trigger: opt.Trigger, StartedAt: s.now().UTC()}
	if !opt.started.IsZero() {
		run.StartedAt = opt.started // a full read replacing a refused incremental one
	}
	var pre *preload // the directory, loaded during a full read
	defer func() { pre.stop() }()
	snap, next, err := s.read(ctx, tenantID, src, run, opt, func() { pre = s.startPreload(ctx, tenantID) })
	run.ReadMillis = time.Since(run.StartedAt).Milliseconds()
	if snap != nil && opt.spent != nil {
		snap.GraphRequests += opt.spent.GraphRequests
		snap.RoundTrips += opt.spent.RoundTrips
		snap.ThrottleWait += opt.spent.ThrottleWait
	}
	if snap != nil {
		run.GraphRequests, run.RoundTrips, run.LowerBound = snap.GraphRequests, snap.RoundTrips, snap.LowerBound
		run.CriticalPath = snap.CriticalPath
		run.ThrottleMs = snap.ThrottleWait.Milliseconds()
	}
	if err != nil {
		return s.readFailed(ctx, run, opt, err)
	}
	planStart := s.now()
	tx, st, plan, settled, err := s.planSettled(ctx, tenantID, next)
	if err != nil {
		return nil, err
	}
	if !settled {
		if tx, st, plan, err = s.plan(ctx, tenantID, snap, planStart, next, opt.Approved, pre); err != nil {
			return nil, err
		}
	}
	defer func() { _ = tx.Rollback() }()
	if prover, ok := src.(ListingProver); ok && !settled {
		a, groups := toProve(plan)
		if next != nil && run.Mode == ModeFull && next.Strategy != "" {
			// The groups this full read adds members to go into the mirror,
			// which incremental rounds only amend: their listings are
			// proven too when they are few, else the next cycle reads in
			// full once more (a short answer is not short twice).
			if gaining := groupsGaining(plan, groups); len(gaining) <= MaxGainingProofs {
				groups = append(groups, gaining...)
			} else {
				next.FullAt = time.Time{}
			}
		}
		if a || len(groups) > 0 {
			// No Graph request while the tenant is locked (on SQLite, the
			// process's one writer): unlock, prove, lock and plan again.
			_ = tx.Rollback()
			err := prover.ProveListings(ctx, snap, a, groups)
			run.GraphRequests, run.RoundTrips, run.ThrottleMs = snap.GraphRequests, snap.RoundTrips, snap.ThrottleWait.Milliseconds()
			if err != nil && errors.Is(err, ErrListingShort) && run.Mode == ModeIncremental {
				// The picture kept with the delta state is wrong (a short
				// listing got into it): read in full now, and prove again.
				log.Warn("incremental picture short of Graph's counts; reading in full", "err", err)
				// Only its figures go on: the picture itself is dropped.
				spent := &Snapshot{GraphRequests: snap.GraphRequests, RoundTrips: snap.RoundTrips, ThrottleWait: snap.ThrottleWait}
				opt.reset, opt.spent, opt.started = "the incremental picture is short of Graph's counts: "+err.Error(), spent, run.StartedAt
				return s.Cycle(ctx, tenantID, src, opt)
			}
			if err != nil {
				return s.readFailed(ctx, run, opt, err)
			}
			if tx, st, plan, err = s.plan(ctx, tenantID, snap, planStart, next, opt.Approved, pre); err != nil {
				return nil, err
			}
			if a2, groups2 := toProve(plan); (a2 && !a) || !subset(groups2, groups) {
				_ = tx.Rollback()
				return s.readFailed(ctx, run, opt, Errorf(EUNAVAILABLE,
					"the directory changed while Graph's counts were read; the next cycle plans afresh"))
			}
		}
	}
	if err := safePlan(func() {
		if !settled {
			Guard(plan, st, opt.Approved)
		}
	}); err != nil {
		return nil, err
	}
	applyStart := s.now()
	run.PlanMillis = applyStart.Sub(planStart).Milliseconds()
	// The snapshot is not kept: on a large tenant it is hundreds of
	// thousands of users the apply no longer needs.
	res := &Result{Run: run, Plan: plan, DryRun: opt.DryRun}
	run.Counts = plan.Counts()
	run.Conflicts = plan.Conflicts
	run.Skipped = plan.Skipped
	run.Outcome = OutcomeSucceeded
	if len(plan.Conflicts) > 0 {
		run.Outcome = OutcomeConflicts
	}
	if run.Held = len(plan.Held); run.Held > 0 {
		run.Outcome = OutcomeHeld
	}
	if opt.DryRun {
		run.FinishedAt = s.now().UTC()
		return res, nil
	}
	if err := tx.Apply(ctx, run, plan, plan.Events()); err != nil {
		return res, s.applyFailed(ctx, tx, run, fmt.Errorf("sync: apply: %w", err))
	}
	saved := false
	if dtx, ok := tx.(DeltaTx); ok && next != nil {
		// The delta state moves with the changes it led to, or not at all.
		next.Clean = run.Outcome == OutcomeSucceeded
		next.SettingsHash = settingsHash(st.Tenant.Settings)
		next.Summary = PlanSummary{Skipped: plan.Skipped, InScope: plan.InScope, ServicePrincipalAssignments: plan.ServicePrincipalAssignments}
		if err := next.Encoded(); err != nil {
			return res, s.applyFailed(ctx, tx, run, err)
		}
		if err := dtx.SaveDelta(ctx, next); err != nil {
			return res, s.applyFailed(ctx, tx, run, fmt.Errorf("sync: save delta state: %w", err))
		}
		saved = true
	}
	if err := tx.Commit(); err != nil {
		return res, s.applyFailed(ctx, tx, run, fmt.Errorf("sync: commit: %w", err))
	}
	if w, ok := src.(MirrorWarmer); ok && saved && run.Mode == ModeFull && len(next.Mirror) > 0 {
		w.Warm(next.Mirror) // saved: the next incremental read starts from it
	}
	if next != nil {
		next.Mirror = nil
	}
	planned := "whole directory"
	switch {
	case settled:
		planned = "settled"
	case st.Partial:
		planned = fmt.Sprintf("scoped (%d users loaded)", len(st.Users))
	case st.preloaded:
		planned = "whole directory, loaded during the read"
	}
	log.Info("cycle finished", LogRun, run.ID, "outcome", run.Outcome, "mode", run.Mode, "planned", planned, "changes", len(plan.Changes),
		"conflicts", len(plan.Conflicts), "graph_requests", run.GraphRequests, "read_ms", run.ReadMillis)
	return res, nil
}

// read reads the cycle's picture: incrementally or in full for a
// DeltaSource (readDelta), in full otherwise. full is called as a full
// read starts.
func (s *Syncer) read(ctx context.Context, tenantID string, src Source, run *Run, opt CycleOptions, full func()) (*Snapshot, *DeltaState, error) {
	dsrc, ok := src.(DeltaSource)
	if ds, stores := s.dir.(DeltaStore); ok && stores {
		return s.readDelta(ctx, tenantID, dsrc, ds, run, opt, full)
	}
	full()
	run.Mode = ModeFull
	snap, err := src.Snapshot(ctx)
	return snap, nil, err
}

// plan begins the cycle's transaction (locking the tenant), loads the
// directory and plans against snap: only the part snap's changes reach
// when it can (planScoped), else the whole (pre's, when it is still the
// directory's).
func (s *Syncer) plan(ctx context.Context, tenantID string, snap *Snapshot, now time.Time, next *DeltaState, approved map[string]bool, pre *preload) (Tx, *State, *Plan, error) {
	preloaded := pre.take(ctx) // before the transaction holds a connection and the lock
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("sync: begin: %w", err)
	}
	tx, err := s.dir.Begin(ctx, tenantID)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sync: begin: %w", err)
	}
	if st, plan, ok, err := s.planScoped(ctx, tx, snap, now, next, approved); err != nil || ok {
		if err != nil {
			_ = tx.Rollback()
		}
		return tx, st, plan, err
	}
	st, err := wholeState(ctx, tx, preloaded)
	if err != nil {
		_ = tx.Rollback()
		return nil, nil, nil, fmt.Errorf("sync: load state: %w", err)
	}
	var plan *Plan
	if err := safePlan(func() { plan = Diff(snap, st, now.UTC()) }); err != nil {
		_ = tx.Rollback()
		return nil, nil, nil, err
	}
	return tx, st, plan, nil
}

// subset reports whether every id of a is in b.
func subset(a, b []string) bool {
	in := make(map[string]bool, len(b))
	for _, id := range b {
		in[id] = true
	}
	for _, id := range a {
		if !in[id] {
			return false
		}
	}
	return true
}

// readFailed ends a cycle whose read failed, or came back short: nothing is
// applied, and (unless a dry run or cancelled) a failed run is recorded.
func (s *Syncer) readFailed(ctx context.Context, run *Run, opt CycleOptions, err error) (*Result, error) {
	err = fmt.Errorf("%w: %w", ErrSnapshotIncomplete, err)
	run.Outcome, run.Error, run.FinishedAt = OutcomeFailed, err.Error(), s.now().UTC()
	if !opt.DryRun && !errors.Is(err, context.Canceled) {
		if rerr := s.dir.RecordRun(context.WithoutCancel(ctx), run); rerr != nil {
			s.logger.Error("record failed run", LogTenant, run.TenantID, "err", rerr)
		}
	}
	return &Result{Run: run, DryRun: opt.DryRun}, err
}

// safePlan runs the planner and turns a panic into an error, so one tenant's
// unforeseen data fails its cycle instead of the whole worker.
func safePlan(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Code: EINTERNAL, Message: fmt.Sprintf("sync: planner failed: %v", r)}
		}
	}()
	fn()
	return nil
}

// applyFailed rolls the cycle back and records it as a failed run (in its
// own transaction), so that `runs list` shows why nothing changed.
func (s *Syncer) applyFailed(ctx context.Context, tx Tx, run *Run, err error) error {
	_ = tx.Rollback()
	run.ID, run.Outcome, run.Error, run.FinishedAt = 0, OutcomeFailed, err.Error(), s.now().UTC()
	if !errors.Is(err, context.Canceled) {
		if rerr := s.dir.RecordRun(context.WithoutCancel(ctx), run); rerr != nil {
			s.logger.Error("record failed run", LogTenant, run.TenantID, "err", rerr)
		}
	}
	return err
}
