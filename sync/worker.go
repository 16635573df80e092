package sync

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	gosync "sync"
	"sync/atomic"
	"time"
)

// Leaser is the directory's record of each tenant's schedule and cycle lease.
// Several processes sharing one database agree through it on who runs a
// tenant's cycle (C1, C5). Times come from the database's clock.
type Leaser interface {
	// ClaimTenant takes the tenant's lease for holder for ttl. With dueOnly,
	// only when its next scheduled cycle is due. False when someone holds it.
	ClaimTenant(ctx context.Context, tenantID, holder string, ttl time.Duration, dueOnly bool) (bool, error)
	// ClaimDue takes, in one statement, the leases of at most limit of
	// tenantIDs whose next cycle is due (not paused, not disconnected, no
	// live lease), the longest overdue first, for holder for ttl. It returns
	// the ids claimed. Tenants without a schedule are not claimed: see
	// EnsureSchedules.
	ClaimDue(ctx context.Context, tenantIDs []string, holder string, ttl time.Duration, limit int) ([]string, error)
	// EnsureSchedules gives each registered tenant of first that has no
	// schedule one, its first cycle due first[id] from now; schedules that
	// exist are left as they are. It returns the tenants of first that have
	// a schedule (an unregistered one has none).
	EnsureSchedules(ctx context.Context, first map[string]time.Duration) ([]string, error)
	// RenewLease extends holder's lease; false when holder lost it.
	RenewLease(ctx context.Context, tenantID, holder string, ttl time.Duration) (bool, error)
	// ReleaseTenant ends holder's lease; a positive after schedules the next
	// cycle that long from now.
	ReleaseTenant(ctx context.Context, tenantID, holder string, after time.Duration) error
	// Schedule returns the tenant's schedule and state; ErrTenantNotFound
	// before its first claim.
	Schedule(ctx context.Context, tenantID string) (Schedule, error)
	// NoteOutcome records a cycle's outcome: a failure counts towards
	// quarantine (with its reason), a success clears it. It returns the
	// number of consecutive failures.
	NoteOutcome(ctx context.Context, tenantID string, failed bool, reason string) (int, error)
	// SetPaused pauses or resumes the tenant's scheduled cycles (C8).
	SetPaused(ctx context.Context, tenantID string, paused bool) error
	// TenantStates returns every registered tenant's state, by id, in one
	// read (the metrics' gauges at each scrape).
	TenantStates(ctx context.Context) ([]TenantState, error)
}

// Schedule is a tenant's next due time, lease and state, for status displays.
type Schedule struct {
	NextDue     time.Time  `json:"nextDue"`
	LeaseHolder string     `json:"leaseHolder,omitempty"`
	LeaseUntil  *time.Time `json:"leaseUntil,omitempty"`
	// Paused tenants are not synced on schedule (C8).
	Paused bool `json:"paused"`
	// Failures counts consecutive failed cycles; from QuarantineAfter on the
	// tenant is quarantined (C7) and QuarantineReason says why.
	Failures         int    `json:"failures"`
	LastError        string `json:"lastError,omitempty"`
	QuarantineReason string `json:"quarantineReason,omitempty"`
}

// Quarantined reports whether the tenant's cycles are backing off.
func (s Schedule) Quarantined() bool { return s.Failures >= QuarantineAfter }

// TenantState is a tenant's state for status gauges: paused, disconnected,
// its consecutive failures and its held runs awaiting review.
type TenantState struct {
	TenantID     string
	Paused       bool
	Disconnected bool
	Failures     int
	HeldPending  int
}

// Quarantined reports whether the tenant's cycles are backing off.
func (s TenantState) Quarantined() bool { return s.Failures >= QuarantineAfter }

// QuarantineAfter is the number of consecutive failed cycles that puts a
// tenant in quarantine.
const QuarantineAfter = 2

// Backoff is the wait before the next scheduled cycle after failures
// consecutive failures (C7): the normal interval once, then 1 h, 6 h, 12 h and
// from then on once a day — never sooner than the normal interval.
func Backoff(failures int, normal time.Duration) time.Duration {
	var d time.Duration
	switch {
	case failures <= 1:
		d = normal
	case failures == 2:
		d = time.Hour
	case failures == 3:
		d = 6 * time.Hour
	case failures == 4:
		d = 12 * time.Hour
	default:
		d = 24 * time.Hour
	}
	return max(d, normal)
}

// QuarantineReason classifies why a cycle failed, for the tenant's status.
func QuarantineReason(err error) string {
	switch causeCode(err) {
	case EUNAUTHORIZED:
		return "credential rejected or permission missing: " + err.Error()
	case ENOTFOUND:
		return "enterprise application not found: " + err.Error()
	case EINVALID:
		return "configuration: " + err.Error()
	}
	return "Graph or database unavailable: " + err.Error()
}

// Failure categories: why a cycle failed, as a fixed set of values (metric
// labels, logs, the CLI's advice); FailureCategory picks one.
const (
	FailureCredential   = "credential"    // the token was refused, or a permission is missing
	FailureNotFound     = "not_found"     // the enterprise application (or the tenant) is not there
	FailureUnreachable  = "unreachable"   // Graph, the login endpoint or the database did not answer
	FailureConfig       = "configuration" // the configuration or the input is invalid
	FailureInternal     = "internal"      // anything else: a bug or an unexpected answer
	FailureRefused      = "refused"       // not a failure: paused, disconnected or already running
	FailureCancelled    = "cancelled"     // the process stopped mid-cycle
	failureCategoryNone = ""
)

// FailureCategories lists every value FailureCategory returns for an error.
var FailureCategories = []string{FailureCredential, FailureNotFound, FailureUnreachable, FailureConfig, FailureInternal,
	FailureRefused, FailureCancelled}

// FailureCategory classifies err for metrics, logs and advice: one of
// FailureCategories, "" for nil.
func FailureCategory(err error) string {
	switch {
	case err == nil:
		return failureCategoryNone
	case IsRefusal(err):
		return FailureRefused
	case errors.Is(err, context.Canceled):
		return FailureCancelled
	}
	switch causeCode(err) {
	case EUNAUTHORIZED:
		return FailureCredential
	case ENOTFOUND:
		return FailureNotFound
	case EINVALID:
		return FailureConfig
	case EUNAVAILABLE:
		return FailureUnreachable
	}
	return FailureInternal
}

// IsRefusal reports whether err is a cycle refused rather than failed: the
// tenant is paused or disconnected, or a cycle of it is already running.
// A refusal never counts towards quarantine (C7).
func IsRefusal(err error) bool {
	return errors.Is(err, ErrTenantPaused) || errors.Is(err, ErrTenantDisconnected) || errors.Is(err, ErrCycleRunning)
}

// tenantError is a sentinel error said of one tenant, in words that name it
// once: errors.Is and ErrorCode see the sentinel, Error prints only msg.
type tenantError struct {
	msg      string
	sentinel error
}

func (e *tenantError) Error() string { return e.msg }

func (e *tenantError) Unwrap() error { return e.sentinel }

// refusalOf rewords a paused or disconnected refusal of tenantID with the
// command that lifts it; other errors come back as they are.
func refusalOf(tenantID string, err error) error {
	switch {
	case errors.Is(err, ErrTenantPaused):
		return &tenantError{fmt.Sprintf("tenant %s is paused: resume it with `entrasync tenant resume %s` (plans still work)", tenantID, tenantID), ErrTenantPaused}
	case errors.Is(err, ErrTenantDisconnected):
		return &tenantError{fmt.Sprintf("tenant %s is disconnected: reconnect it with `entrasync tenant reconnect %s`", tenantID, tenantID), ErrTenantDisconnected}
	}
	return err
}

// ErrTenantPaused is returned when applying changes to a paused tenant.
var ErrTenantPaused = &Error{Code: EINVALID, Message: "tenant is paused"}

// ErrCycleRunning is returned when a cycle of the tenant is already running,
// in this process or another.
var ErrCycleRunning = &Error{Code: ECONFLICT, Message: "a cycle of this tenant is already running"}

// ErrShuttingDown is returned to work handed to a worker that is stopping.
var ErrShuttingDown = &Error{Code: EUNAVAILABLE, Message: "the worker is shutting down"}

// ErrUnknownTenant is returned for a tenant the worker does not serve.
var ErrUnknownTenant = &Error{Code: ENOTFOUND, Message: "unknown tenant"}

// Cadence says when a tenant's scheduled cycles are due: Next returns the
// first due time after t. The configuration's cron expressions implement it
// (config.Tenant.ParsedSchedule), and so does Every.
type Cadence interface {
	Next(t time.Time) time.Time
}

// Every is a Cadence of a fixed interval: each cycle is due d after the one
// before.
type Every time.Duration

// Next returns t plus the interval.
func (d Every) Next(t time.Time) time.Time { return t.Add(time.Duration(d)) }

// WorkerTenant is one tenant the worker schedules.
type WorkerTenant struct {
	ID     string
	Source Source
	// Schedule says when its scheduled cycles are due (nil: a second after
	// the last one).
	Schedule Cadence
	// FullEvery is how often its cycles read in full between incremental
	// ones (DefaultFullEvery when 0); CycleOptions.FullEvery overrides it.
	FullEvery time.Duration
}

// Observer is told about every finished cycle (metrics).
type Observer interface {
	CycleFinished(tenantID, trigger string, res *Result, err error, d time.Duration)
}

// WorkerConfig tunes a Worker.
type WorkerConfig struct {
	// Holder names this process in leases; it must be unique per process.
	Holder string
	// Poll is how often due tenants are looked for (default 10s, at least 1s).
	Poll time.Duration
	// LeaseTTL bounds how long a dead process blocks a tenant (default 2m).
	LeaseTTL time.Duration
	// ShutdownGrace is how long running cycles may finish on shutdown before
	// they are cancelled and rolled back (default 30s).
	ShutdownGrace time.Duration
	// MaxCycles bounds the cycles this process runs at once, scheduled and
	// on demand (default DefaultMaxCycles). Scheduled cycles are claimed
	// only into free slots; an on-demand cycle waits for one.
	MaxCycles int
	Observer  Observer
	// Refresh, when set, returns the tenants to serve; the worker calls it
	// at every poll (the tenant registry, registry.go).
	Refresh func(ctx context.Context) ([]WorkerTenant, error)
}

// DefaultMaxCycles is the default bound on a process's cycles in flight.
const DefaultMaxCycles = 16

// MaxFirstSpread bounds how far a tenant's first cycle is put off (see
// firstDue).
const MaxFirstSpread = 10 * time.Minute

// Worker runs scheduled and on-demand cycles of many tenants, at most one at
// a time per tenant across every process sharing the directory.
type Worker struct {
	syncer  *Syncer
	store   Store
	tmu     gosync.RWMutex // guards tenants and order (SetTenants)
	tenants map[string]WorkerTenant
	order   []string
	cfg     WorkerConfig
	logger  *slog.Logger

	mu        gosync.Mutex
	running   map[string]bool
	scheduled map[string]bool // tenants whose schedule this process has ensured
	stopping  atomic.Bool

	slots  chan struct{} // one per cycle in flight, MaxCycles of them
	peak   atomic.Int64  // the most cycles in flight at once
	wake   chan struct{} // a slot came free: poll again now
	base   context.Context
	cancel context.CancelFunc
	wg     gosync.WaitGroup
}

// NewWorker returns a Worker over the tenants: syncer runs their cycles,
// store holds their leases and schedules (and, for ApproveRun, their runs).
func NewWorker(syncer *Syncer, store Store, tenants []WorkerTenant, cfg WorkerConfig, logger *slog.Logger) *Worker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Poll < time.Second {
		cfg.Poll = 10 * time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 2 * time.Minute
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 30 * time.Second
	}
	if cfg.MaxCycles <= 0 {
		cfg.MaxCycles = DefaultMaxCycles
	}
	w := &Worker{syncer: syncer, store: store, tenants: map[string]WorkerTenant{}, cfg: cfg, logger: logger,
		running: map[string]bool{}, scheduled: map[string]bool{}, slots: make(chan struct{}, cfg.MaxCycles),
		wake: make(chan struct{}, 1)}
	for _, t := range tenants {
		w.tenants[t.ID] = t
		w.order = append(w.order, t.ID)
	}
	w.base, w.cancel = context.WithCancel(context.Background())
	return w
}

// Run schedules cycles until ctx ends, then stops starting new ones, lets
// running cycles finish for ShutdownGrace, cancels (rolls back) the rest and
// returns.
func (w *Worker) Run(ctx context.Context) error {
	w.logger.Info("worker started", "tenants", len(w.Tenants()), "poll", w.cfg.Poll.String(), "holder", w.cfg.Holder,
		"max_cycles", w.cfg.MaxCycles)
	w.wg.Add(1)
	go func() { defer w.wg.Done(); w.pollEvery(ctx) }()
	<-ctx.Done()
	// Under mu, so that no Owned call adds to wg once Wait may have begun.
	w.mu.Lock()
	w.stopping.Store(true)
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.ShutdownGrace):
		w.logger.Warn("shutdown grace over; cancelling running cycles")
		w.cancel()
		<-done
	}
	w.cancel()
	// The sources' own background work (a mirror being encoded or
	// decoded) ends by itself, in about a second at most.
	w.mu.Lock()
	var sources []Source
	for _, t := range w.tenants {
		sources = append(sources, t.Source)
	}
	w.mu.Unlock()
	for _, src := range sources {
		if b, ok := src.(Background); ok {
			b.Wait()
		}
	}
	w.logger.Info("worker stopped")
	return nil
}

// Owned runs f on w's own context, tracked like a scheduled cycle: the
// caller going away (an HTTP client that disconnects) does not cancel it,
// and Run's shutdown waits for it within ShutdownGrace, then cancels it.
// It returns f's result, or ctx's error when the caller stops waiting first
// (f goes on to its end). ErrShuttingDown once Run is stopping.
func Owned[T any](ctx context.Context, w *Worker, f func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	w.mu.Lock()
	if w.stopping.Load() {
		w.mu.Unlock()
		return zero, ErrShuttingDown
	}
	w.wg.Add(1)
	w.mu.Unlock()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer w.wg.Done()
		v, err := f(w.base)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// pollEvery polls at once (not a whole interval after starting), then every
// Poll, and as soon as a scheduled cycle frees its slot, until ctx ends.
func (w *Worker) pollEvery(ctx context.Context) {
	tick := time.NewTicker(w.cfg.Poll)
	defer tick.Stop()
	for {
		w.poll()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.wake:
		}
	}
}

// poll claims, in one statement, as many due tenants as there are free
// slots, and starts their cycles.
func (w *Worker) poll() {
	if w.base.Err() != nil || w.stopping.Load() {
		return
	}
	w.refresh()
	served := w.Tenants()
	w.ensureSchedules(served)
	free := cap(w.slots) - len(w.slots)
	if free <= 0 {
		return
	}
	w.mu.Lock()
	idle := make([]string, 0, len(served))
	for _, id := range served {
		if !w.running[id] {
			idle = append(idle, id)
		}
	}
	w.mu.Unlock()
	ids, err := w.store.ClaimDue(w.base, idle, w.cfg.Holder, w.cfg.LeaseTTL, free)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			w.logger.Error("claim due tenants", "err", err)
		}
		return
	}
	for _, id := range ids {
		// A cycle started on demand since may have taken the slot or the
		// tenant: hand the lease back, still due.
		if !w.tryAcquire() {
			w.giveBack(id)
			continue
		}
		if !w.markRunning(id) {
			w.releaseSlot()
			w.giveBack(id)
			continue
		}
		t, ok := w.Tenant(id)
		if !ok { // dropped from the registry since the claim
			w.unmarkRunning(id)
			w.releaseSlot()
			w.giveBack(id)
			continue
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer w.signalWake()
			defer w.releaseSlot()
			defer w.unmarkRunning(id)
			_, _ = w.leased(w.base, t, CycleOptions{Trigger: "schedule"})
		}()
	}
}

// giveBack releases a lease claimed but not used, leaving the tenant due.
func (w *Worker) giveBack(id string) {
	if err := w.store.ReleaseTenant(context.WithoutCancel(w.base), id, w.cfg.Holder, 0); err != nil {
		w.logger.Error("release lease", LogTenant, id, "err", err)
	}
}

// ensureSchedules gives the served tenants this process has not scheduled
// yet a schedule if they have none, their first cycles spread (firstDue).
func (w *Worker) ensureSchedules(served []string) {
	now := time.Now()
	var fresh []WorkerTenant
	w.mu.Lock()
	for _, id := range served {
		if !w.scheduled[id] {
			if t, ok := w.Tenant(id); ok {
				fresh = append(fresh, t)
			}
		}
	}
	w.mu.Unlock()
	if len(fresh) == 0 {
		return
	}
	first := make(map[string]time.Duration, len(fresh))
	for _, t := range fresh {
		first[t.ID] = w.firstDue(t, now, len(fresh))
	}
	have, err := w.store.EnsureSchedules(w.base, first)
	if err != nil {
		w.logger.Error("schedule tenants", "err", err)
		return
	}
	w.mu.Lock()
	for _, id := range have {
		w.scheduled[id] = true // the others are asked again at the next poll
	}
	w.mu.Unlock()
}

// firstDue is how long after now a tenant that has never been scheduled has
// its first cycle, when n tenants are scheduled together. With no more than
// MaxCycles (a tenant added to the registry, a small fleet), at once. With
// more (a fleet installed at once), spread over the tenant's interval (at
// most MaxFirstSpread) by a hash of its id, the same in every process: they
// do not all start in the same second, and stay apart afterwards (each next
// cycle is due an interval after the last one started).
func (w *Worker) firstDue(t WorkerTenant, now time.Time, n int) time.Duration {
	if n <= w.cfg.MaxCycles {
		return 0
	}
	window := time.Second
	if t.Schedule != nil {
		window = t.Schedule.Next(now).Sub(now)
	}
	window = min(window, MaxFirstSpread)
	if window <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(t.ID))
	return time.Duration(h.Sum64() % uint64(window))
}

// acquire takes a cycle slot, waiting for one until ctx ends.
func (w *Worker) acquire(ctx context.Context) error {
	select {
	case w.slots <- struct{}{}:
		w.noteInFlight()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tryAcquire takes a cycle slot if one is free.
func (w *Worker) tryAcquire() bool {
	select {
	case w.slots <- struct{}{}:
		w.noteInFlight()
		return true
	default:
		return false
	}
}

func (w *Worker) noteInFlight() {
	n := int64(len(w.slots))
	for p := w.peak.Load(); n > p && !w.peak.CompareAndSwap(p, n); p = w.peak.Load() {
	}
}

func (w *Worker) releaseSlot() { <-w.slots }

func (w *Worker) signalWake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// CyclesInFlight returns the cycles this process runs now, and the most it
// has run at once.
func (w *Worker) CyclesInFlight() (now, peak int) {
	return len(w.slots), int(w.peak.Load())
}

// RunNow runs a full cycle of tenantID now (C2), unless one is already
// running anywhere: then ErrCycleRunning. The tenant's schedule is unchanged.
// Approving a held run is RunNow with AllowArchives.
func (w *Worker) RunNow(ctx context.Context, tenantID string, opt CycleOptions) (*Result, error) {
	t, ok := w.Tenant(tenantID)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTenant, tenantID)
	}
	return w.RunNowWith(ctx, t, opt)
}

// RunNowWith is RunNow with the tenant's source replaced for this cycle
// (a source that reports progress, say). A paused tenant refuses to apply
// (ErrTenantPaused); a dry run still works. A successful cycle lifts the
// tenant's quarantine.
func (w *Worker) RunNowWith(ctx context.Context, t WorkerTenant, opt CycleOptions) (*Result, error) {
	if _, ok := w.Tenant(t.ID); !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTenant, t.ID)
	}
	if !opt.DryRun {
		if err := w.CheckNotPaused(ctx, t.ID); err != nil {
			w.observe(t.ID, opt.Trigger, nil, err, 0)
			return nil, err
		}
	}
	var res *Result
	start := time.Now()
	// A successful applied cycle counts as this interval's: the next one is
	// due an interval from now (which also ends a quarantine's back-off).
	next := func(err error) time.Duration {
		if opt.DryRun || err != nil || t.Schedule == nil {
			return 0
		}
		return max(time.Until(t.Schedule.Next(start)), time.Second)
	}
	if opt.FullEvery == 0 {
		opt.FullEvery = t.FullEvery
	}
	err := w.leaseWith(ctx, t, next, func(ctx context.Context) error {
		var err error
		res, err = w.syncer.Cycle(ctx, t.ID, t.Source, opt)
		return err
	})
	err = refusalOf(t.ID, err)
	if !opt.DryRun && !IsRefusal(err) && !errors.Is(err, context.Canceled) {
		w.noteOutcome(ctx, t.ID, err)
	}
	w.observe(t.ID, opt.Trigger, res, err, time.Since(start))
	w.logFailure(t.ID, opt.Trigger, res, err)
	return res, err
}

// logFailure writes the ERROR line of a failed cycle — every failure, the
// first included — with the tenant, the run, the trigger, the failure's
// category and its error; refusals and cancellations are not failures.
func (w *Worker) logFailure(tenantID, trigger string, res *Result, err error) {
	if err == nil || IsRefusal(err) || errors.Is(err, context.Canceled) {
		return
	}
	var run int64
	if res != nil && res.Run != nil {
		run = res.Run.ID
	}
	w.logger.Error("cycle failed", LogTenant, tenantID, LogRun, run, "trigger", trigger, "reason", FailureCategory(err), "err", err)
}

// CheckNotPaused returns ErrTenantPaused when tenantID is paused.
func (w *Worker) CheckNotPaused(ctx context.Context, tenantID string) error {
	sc, err := w.store.Schedule(ctx, tenantID)
	if err != nil && !errors.Is(err, ErrTenantNotFound) {
		return err
	}
	if sc.Paused {
		return refusalOf(tenantID, ErrTenantPaused)
	}
	return nil
}

// WithLease runs fn holding tenantID's lease (ErrCycleRunning when it is
// held), renewing it while fn runs; fn's context ends if the lease is lost.
func (w *Worker) WithLease(ctx context.Context, tenantID string, fn func(ctx context.Context, src Source) error) error {
	t, ok := w.Tenant(tenantID)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTenant, tenantID)
	}
	return w.lease(ctx, t, func(ctx context.Context) error { return fn(ctx, t.Source) })
}

// lease claims t's lease now (not only when due) and runs fn holding it.
func (w *Worker) lease(ctx context.Context, t WorkerTenant, fn func(ctx context.Context) error) error {
	return w.leaseWith(ctx, t, nil, fn)
}

// leaseWith is lease with next saying, from fn's error, when the tenant's
// next scheduled cycle is due (nil: unchanged).
// A second request for a tenant whose cycle runs in this process fails at
// once (ErrCycleRunning); otherwise it waits for a free cycle slot
// (MaxCycles) until ctx ends or the worker stops.
func (w *Worker) leaseWith(ctx context.Context, t WorkerTenant, next func(error) time.Duration, fn func(ctx context.Context) error) error {
	if !w.markRunning(t.ID) {
		return ErrCycleRunning
	}
	defer w.unmarkRunning(t.ID)
	if !w.tryAcquire() {
		if err := w.acquire(ctx); err != nil {
			return err
		}
		if w.stopping.Load() { // it waited into a shutdown: start nothing new
			w.releaseSlot()
			return ErrShuttingDown
		}
	}
	defer w.releaseSlot()
	claimed, err := w.store.ClaimTenant(ctx, t.ID, w.cfg.Holder, w.cfg.LeaseTTL, false)
	if err != nil {
		return err
	}
	if !claimed {
		if sc, serr := w.store.Schedule(ctx, t.ID); serr == nil && sc.LeaseUntil != nil {
			return fmt.Errorf("%w (on %s, lease until %s; if that process died, the lease frees itself then)",
				ErrCycleRunning, sc.LeaseHolder, sc.LeaseUntil.Format(time.RFC3339))
		}
		return ErrCycleRunning
	}
	return w.hold(ctx, t, next, fn)
}

// leased runs a scheduled cycle under a lease already claimed; the next
// cycle is due after the schedule's interval, or later while the tenant's
// cycles keep failing (C7).
func (w *Worker) leased(ctx context.Context, t WorkerTenant, opt CycleOptions) (*Result, error) {
	var res *Result
	start := time.Now()
	next := func(err error) time.Duration {
		normal := time.Second
		if t.Schedule != nil {
			normal = max(time.Until(t.Schedule.Next(start)), time.Second)
		}
		if errors.Is(err, context.Canceled) {
			return 0 // shut down mid-cycle: still due, for whichever process is next
		}
		if IsRefusal(err) {
			return normal // disconnected: not a failure, no back-off
		}
		return Backoff(w.noteOutcome(ctx, t.ID, err), normal)
	}
	if opt.FullEvery == 0 {
		opt.FullEvery = t.FullEvery
	}
	err := w.hold(ctx, t, next, func(ctx context.Context) error {
		var err error
		res, err = w.syncer.Cycle(ctx, t.ID, t.Source, opt)
		return err
	})
	err = refusalOf(t.ID, err)
	w.observe(t.ID, opt.Trigger, res, err, time.Since(start))
	w.logFailure(t.ID, opt.Trigger, res, err)
	return res, err
}

// noteOutcome records a cycle's outcome and returns the consecutive
// failures; it tells a QuarantineObserver.
func (w *Worker) noteOutcome(ctx context.Context, tenantID string, err error) int {
	reason, category := "", FailureCategory(err)
	if err != nil {
		reason = QuarantineReason(err)
	}
	failures, nerr := w.store.NoteOutcome(context.WithoutCancel(ctx), tenantID, err != nil, reason)
	if nerr != nil {
		w.logger.Error("record cycle outcome", LogTenant, tenantID, "err", nerr)
		return 0
	}
	if failures >= QuarantineAfter {
		w.logger.Warn("tenant quarantined", LogTenant, tenantID, "failures", failures, "reason", reason)
	}
	if qo, ok := w.cfg.Observer.(QuarantineObserver); ok {
		qo.Quarantine(tenantID, failures, category)
	}
	return failures
}

// QuarantineObserver is told each tenant's consecutive failures after a
// cycle (0 lifts the quarantine) and the last failure's category (one of
// FailureCategories, "" after a success) — never its message, which may
// name ids and hosts.
type QuarantineObserver interface {
	Quarantine(tenantID string, failures int, category string)
}

// hold runs fn while renewing the lease, then releases it; next, when set,
// says (from fn's error) when the tenant's next scheduled cycle is due.
func (w *Worker) hold(ctx context.Context, t WorkerTenant, next func(error) time.Duration, fn func(context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	var hb gosync.WaitGroup
	hb.Add(1)
	go func() {
		defer hb.Done()
		tick := time.NewTicker(w.cfg.LeaseTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				ok, err := w.store.RenewLease(ctx, t.ID, w.cfg.Holder, w.cfg.LeaseTTL)
				if err == nil && !ok {
					w.logger.Error("lease lost; abandoning the cycle", LogTenant, t.ID)
					cancel(errors.New("lease lost"))
					return
				}
			}
		}
	}()
	err := fn(ctx)
	close(stop)
	hb.Wait()
	after := time.Duration(0)
	if next != nil {
		after = next(err)
	}
	if rerr := w.store.ReleaseTenant(context.WithoutCancel(ctx), t.ID, w.cfg.Holder, after); rerr != nil {
		w.logger.Error("release lease", LogTenant, t.ID, "err", rerr)
	}
	return err
}

func (w *Worker) observe(tenantID, trigger string, res *Result, err error, d time.Duration) {
	if w.cfg.Observer != nil {
		w.cfg.Observer.CycleFinished(tenantID, trigger, res, err, d)
	}
}

func (w *Worker) markRunning(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running[id] {
		return false
	}
	w.running[id] = true
	return true
}

func (w *Worker) unmarkRunning(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.running, id)
}

// causeCode is the code of the innermost *Error in err's tree: the most
// specific (ErrSnapshotIncomplete wraps the read error that says why).
func causeCode(err error) string {
	code := ErrorCode(err)
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if ae, ok := e.(*Error); ok && ae != ErrSnapshotIncomplete {
			code = ae.Code
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return code
}
