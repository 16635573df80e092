package web

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/entrasync/entrasync/sync"
)

// Metrics are the worker's Prometheus metrics, on a registry of their own,
// served at /metrics. They observe the worker's cycles (sync.Observer,
// sync.QuarantineObserver) and Graph's requests (GraphObserver).
type Metrics struct {
	reg           *prometheus.Registry
	cycles        *prometheus.CounterVec
	cycleDuration *prometheus.HistogramVec
	changes       *prometheus.CounterVec
	graphRequests *prometheus.CounterVec
	throttleWait  *prometheus.CounterVec
	lastSuccess   *prometheus.GaugeVec
	conflicts     *prometheus.GaugeVec
	failures      *prometheus.GaugeVec
}

// NewMetrics returns the metrics, registered with Go's and the process's.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		cycles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "entrasync_cycles_total",
			Help: "Cycles run, by tenant, trigger and outcome (succeeded, conflicts, failed, dry_run, already_running)."}, []string{"tenant", "trigger", "outcome"}),
		cycleDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "entrasync_cycle_duration_seconds",
			Help: "Wall time of a cycle, read to commit.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}, []string{"tenant"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "entrasync_changes_total",
			Help: "Changes applied, by tenant and entity.action (user.create, membership.add ...)."}, []string{"tenant", "change"}),
		graphRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "entrasync_graph_requests_total",
			Help: "HTTP requests to Microsoft Graph, by tenant, endpoint and status (0: transport error)."}, []string{"tenant", "endpoint", "status"}),
		throttleWait: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "entrasync_graph_throttle_wait_seconds_total",
			Help: "Retry-After asked for by throttled (429) or unavailable (503) Graph responses."}, []string{"tenant"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "entrasync_last_success_timestamp_seconds",
			Help: "Unix time of the tenant's last successful cycle."}, []string{"tenant"}),
		conflicts: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "entrasync_conflicts",
			Help: "E-mail conflicts held back by the tenant's last cycle."}, []string{"tenant"}),
	}
	m.failures = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "entrasync_tenant_consecutive_failures",
		Help: "Consecutive failed cycles of the tenant; 2 or more means quarantined (reason label)."}, []string{"tenant", "reason"})
	m.reg.MustRegister(m.failures, m.cycles, m.cycleDuration, m.changes, m.graphRequests, m.throttleWait, m.lastSuccess, m.conflicts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// CycleFinished implements sync.Observer.
func (m *Metrics) CycleFinished(tenant, trigger string, res *sync.Result, err error, d time.Duration) {
	outcome := "failed"
	switch {
	case errors.Is(err, sync.ErrCycleRunning):
		outcome = "already_running"
	case err == nil && res != nil && res.DryRun:
		outcome = "dry_run"
	case err == nil && res != nil && res.Run != nil:
		outcome = string(res.Run.Outcome)
	}
	m.cycles.WithLabelValues(tenant, trigger, outcome).Inc()
	if outcome == "already_running" {
		return
	}
	m.cycleDuration.WithLabelValues(tenant).Observe(d.Seconds())
	if err != nil || res == nil || res.Plan == nil || res.DryRun {
		return
	}
	for k, n := range res.Plan.Counts() {
		if k != "conflict" {
			m.changes.WithLabelValues(tenant, k).Add(float64(n))
		}
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

// Quarantine implements sync.QuarantineObserver.
func (m *Metrics) Quarantine(tenant string, failures int, reason string) {
	m.failures.DeletePartialMatch(prometheus.Labels{"tenant": tenant})
	m.failures.WithLabelValues(tenant, shortLabel(reason, 120)).Set(float64(failures))
}

// shortLabel is a label value of at most n runes, control characters
// shown as '?'.
func shortLabel(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = append(r[:n-1], '…')
	}
	for i, c := range r {
		if c < ' ' || c == 0x7f {
			r[i] = '?'
		}
	}
	return string(r)
}
