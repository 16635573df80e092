package web

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/entrasync/entrasync/sync"
)

// Metrics are the worker's Prometheus metrics, on a registry of their own,
// served at /metrics. They observe the worker's cycles (sync.Observer,
// sync.QuarantineObserver) and Graph's requests (GraphObserver), and, once
// WatchTenants is called, read every tenant's state in one query at each scrape. Every
// label value comes from a fixed set (tenant names, triggers, outcomes,
// failure categories, change kinds, endpoints with ids replaced): no
// message, id or host reaches /metrics, which needs no token.
type Metrics struct {
	reg           *prometheus.Registry
	cycles        *prometheus.CounterVec
	cycleDuration *prometheus.HistogramVec
	changes       *prometheus.CounterVec
	failuresTotal *prometheus.CounterVec
	graphRequests *prometheus.CounterVec
	throttleWait  *prometheus.CounterVec
	lastSuccess   *prometheus.GaugeVec
	conflicts     *prometheus.GaugeVec
	failures      *prometheus.GaugeVec
}

// Outcomes of entrasync_cycles_total beyond a run's own (succeeded,
// conflicts, held, failed).
const (
	outcomeDryRun  = "dry_run"
	outcomeRefused = "refused" // paused, disconnected, or a cycle already running
	outcomeFailed  = "failed"
)

// NewMetrics returns the metrics, registered with Go's and the process's.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		cycles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "entrasync_cycles_total",
			Help: "Cycles run, by tenant, trigger (schedule, api, cli) and outcome (succeeded, conflicts, held, failed, dry_run, refused)."},
			[]string{"tenant", "trigger", "outcome"}),
		cycleDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "entrasync_cycle_duration_seconds",
			Help: "Wall time of a cycle, read to commit.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}, []string{"tenant"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "entrasync_changes_total",
			Help: "Changes of applied cycles by tenant, entity.action (user.create, membership.add ...) and status: applied, or held by the archive guard (not applied until approved)."},
			[]string{"tenant", "change", "status"}),
		failuresTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "entrasync_cycle_failures_total",
			Help: "Failed cycles by tenant and reason (credential, not_found, unreachable, configuration, internal)."}, []string{"tenant", "reason"}),
		graphRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "entrasync_graph_requests_total",
			Help: "HTTP requests to Microsoft Graph, by tenant, endpoint and status (0: transport error)."}, []string{"tenant", "endpoint", "status"}),
		throttleWait: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "entrasync_graph_throttle_wait_seconds_total",
			Help: "Retry-After asked for by throttled (429) or unavailable (503) Graph responses."}, []string{"tenant"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "entrasync_last_success_timestamp_seconds",
			Help: "Unix time of the tenant's last successful cycle."}, []string{"tenant"}),
		conflicts: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "entrasync_conflicts",
			Help: "E-mail conflicts held back by the tenant's last cycle."}, []string{"tenant"}),
		failures: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "entrasync_tenant_consecutive_failures",
			Help: "Consecutive failed cycles of the tenant; 2 or more means quarantined. reason is the last failure's category."},
			[]string{"tenant", "reason"}),
	}
	m.reg.MustRegister(m.failures, m.cycles, m.cycleDuration, m.changes, m.failuresTotal, m.graphRequests, m.throttleWait,
		m.lastSuccess, m.conflicts, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// BuildInfo adds entrasync_build_info: always 1, labelled with version
// and the Go version. Call it once.
func (m *Metrics) BuildInfo(version string) {
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "entrasync_build_info",
		Help:        "Always 1; the labels say which entrasync and Go built this process.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()}})
	info.Set(1)
	m.reg.MustRegister(info)
}

// CycleFinished implements sync.Observer.
func (m *Metrics) CycleFinished(tenant, trigger string, res *sync.Result, err error, d time.Duration) {
	outcome := outcomeFailed
	switch {
	case sync.IsRefusal(err):
		outcome = outcomeRefused
	case errors.Is(err, context.Canceled):
		return // a stopping process: neither a cycle nor a failure
	case err == nil && res != nil && res.DryRun:
		outcome = outcomeDryRun
	case err == nil && res != nil && res.Run != nil:
		outcome = string(res.Run.Outcome)
	}
	m.cycles.WithLabelValues(tenant, trigger, outcome).Inc()
	if outcome == outcomeRefused {
		return
	}
	m.cycleDuration.WithLabelValues(tenant).Observe(d.Seconds())
	if err != nil {
		m.failuresTotal.WithLabelValues(tenant, sync.FailureCategory(err)).Inc()
		return
	}
	if res == nil || res.Plan == nil || res.DryRun {
		return
	}
	for _, ch := range res.Plan.Changes {
		m.changes.WithLabelValues(tenant, string(ch.Entity)+"."+string(ch.Action), "applied").Inc()
	}
	for _, ch := range res.Plan.Held {
		m.changes.WithLabelValues(tenant, string(ch.Entity)+"."+string(ch.Action), "held").Inc()
	}
	m.conflicts.WithLabelValues(tenant).Set(float64(len(res.Plan.Conflicts)))
	m.lastSuccess.WithLabelValues(tenant).Set(float64(time.Now().Unix()))
}

// GraphObserver returns the hook that counts a tenant's Graph requests and
// throttling waits (graph.Config.Observe).
func (m *Metrics) GraphObserver(tenant string) func(string, int, time.Duration) {
	return func(endpoint string, status int, wait time.Duration) {
		m.graphRequests.WithLabelValues(tenant, endpoint, strconv.Itoa(status)).Inc()
		if wait > 0 {
			m.throttleWait.WithLabelValues(tenant).Add(wait.Seconds())
		}
	}
}

// Quarantine implements sync.QuarantineObserver: category is one of
// sync.FailureCategories ("" after a success, shown as "none").
func (m *Metrics) Quarantine(tenant string, failures int, category string) {
	if category == "" {
		category = "none"
	}
	m.failures.DeletePartialMatch(prometheus.Labels{"tenant": tenant})
	m.failures.WithLabelValues(tenant, category).Set(float64(failures))
}

// TenantState is what the directory reads for the tenant gauges.
type TenantState interface {
	TenantStates(ctx context.Context) ([]sync.TenantState, error)
}

// WatchTenants adds the gauges read from dir at each scrape, in one read,
// for every tenant the directory has (the file's and the registry's):
// entrasync_tenant_paused, entrasync_tenant_quarantined,
// entrasync_tenant_disconnected (0 or 1) and entrasync_held_runs_pending
// (held runs awaiting approve or reject), plus
// entrasync_tenant_state_errors_total when the directory does not answer.
func (m *Metrics) WatchTenants(dir TenantState) {
	m.reg.MustRegister(&tenantCollector{dir: dir,
		readErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "entrasync_tenant_state_errors_total",
			Help: "Scrapes at which the tenants' state could not be read from the directory."})})
}

var (
	descPaused = prometheus.NewDesc("entrasync_tenant_paused",
		"1 while the tenant is paused (no scheduled cycles).", []string{"tenant"}, nil)
	descQuarantined = prometheus.NewDesc("entrasync_tenant_quarantined",
		"1 while the tenant's cycles keep failing and back off.", []string{"tenant"}, nil)
	descDisconnected = prometheus.NewDesc("entrasync_tenant_disconnected",
		"1 while the tenant is disconnected (its cycles are refused).", []string{"tenant"}, nil)
	descHeld = prometheus.NewDesc("entrasync_held_runs_pending",
		"Held runs of the tenant that await `entrasync runs approve|reject`.", []string{"tenant"}, nil)
)

type tenantCollector struct {
	dir        TenantState
	readErrors prometheus.Counter
}

func (c *tenantCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPaused, descQuarantined, descDisconnected, descHeld} {
		ch <- d
	}
	c.readErrors.Describe(ch)
}

func (c *tenantCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	one := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	states, err := c.dir.TenantStates(ctx)
	if err != nil {
		c.readErrors.Inc()
	}
	for _, st := range states {
		t := st.TenantID
		ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, one(st.Paused), t)
		ch <- prometheus.MustNewConstMetric(descQuarantined, prometheus.GaugeValue, one(st.Quarantined()), t)
		ch <- prometheus.MustNewConstMetric(descDisconnected, prometheus.GaugeValue, one(st.Disconnected), t)
		ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(st.HeldPending), t)
	}
	c.readErrors.Collect(ch)
}
