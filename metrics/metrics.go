// Package metrics defines the dashboard's Prometheus metrics: requests by
// route and status, calls to the Mangrove API by endpoint with latency
// histograms, open event streams, active task watchers, and generations
// started and finished by outcome.
//
// Every metric lives in the registry given to New; nothing touches the
// global default registry, so tests build their own.
package metrics

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/carbon-dash/mangrove-dashboard/internal/connlimit"
)

// Outcomes of a confirmed generation, the label of GenerationsStarted.
const (
	OutcomeStarted  = "started"  // the API accepted it and returned a task
	OutcomeRejected = "rejected" // the API refused it (4xx): nothing started
	OutcomeUnknown  = "unknown"  // no answer: it may or may not have started
)

// Metrics holds the collectors. A nil *Metrics is valid and records nothing.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	upstream        *prometheus.CounterVec
	upstreamLatency *prometheus.HistogramVec
	genStarted      *prometheus.CounterVec
	genFinished     *prometheus.CounterVec
}

// New creates the collectors and registers them in reg.
func New(reg *prometheus.Registry) *Metrics {
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dashboard_http_requests_total",
			Help: "Requests served, by route pattern (never the raw URL), method and status.",
		}, []string{"route", "method", "status"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dashboard_http_request_duration_seconds",
			Help:    "Time to serve a request, by route pattern and method; event streams are left out.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dashboard_upstream_requests_total",
			Help: "HTTP requests to the Mangrove API (each retry counts), by endpoint template, method and status; status is \"error\" when no answer came.",
		}, []string{"endpoint", "method", "status"}),
		upstreamLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dashboard_upstream_request_duration_seconds",
			Help:    "Latency of requests to the Mangrove API until the response headers, by endpoint template and method.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}, []string{"endpoint", "method"}),
		genStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dashboard_generations_started_total",
			Help: "Confirmed batch generations by what the API answered: started, rejected or unknown (no answer).",
		}, []string{"outcome"}),
		genFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dashboard_generations_finished_total",
			Help: "Batch generations started from this dashboard that reached a final state, by outcome: complete or failed.",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.requests, m.requestDuration, m.upstream, m.upstreamLatency, m.genStarted, m.genFinished)
	for _, o := range []string{OutcomeStarted, OutcomeRejected, OutcomeUnknown} {
		m.genStarted.WithLabelValues(o) // show zeros before the first generation
	}
	for _, o := range []string{"complete", "failed"} {
		m.genFinished.WithLabelValues(o)
	}
	return m
}

// Registry is the registry the metrics live in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// RegisterGauges adds the gauges read at scrape time: open event-stream
// subscribers and running task watchers.
func (m *Metrics) RegisterGauges(streams, watchers func() int) {
	if m == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dashboard_event_streams_open",
			Help: "Task event streams (server-sent events) currently open.",
		}, func() float64 { return float64(streams()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dashboard_task_watchers_active",
			Help: "Task watchers currently polling the API (one per running task, shared by its viewers).",
		}, func() float64 { return float64(watchers()) }),
	)
}

// RegisterBudget adds the gauge of API tokens running out of their quota,
// read at scrape time from lowTokens.
func (m *Metrics) RegisterBudget(lowTokens func() int) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dashboard_upstream_tokens_low_budget",
		Help: "API tokens whose last answer left them under a tenth of the current rate-limit window (RateLimit-Remaining / RateLimit-Limit).",
	}, func() float64 { return float64(lowTokens()) }))
}

// RegisterConnections adds the connection cap's figures, read at scrape
// time from stats: connections open, and those refused or closed to make
// room since start.
func (m *Metrics) RegisterConnections(stats func() connlimit.Stats) {
	if m == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dashboard_connections_open",
			Help: "Client connections open (MAX_CONNECTIONS caps them).",
		}, func() float64 { return float64(stats().Open) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "dashboard_connections_refused_total",
			Help: "Connections answered 503 because every slot under MAX_CONNECTIONS was busy.",
		}, func() float64 { return float64(stats().Refused) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "dashboard_connections_evicted_total",
			Help: "Idle connections closed to make room for a new one at MAX_CONNECTIONS.",
		}, func() float64 { return float64(stats().Evicted) }),
	)
}

// ObserveRequest records one served request. route is the matched route
// pattern, such as "/ledgers/:id"; stream leaves the duration out (event
// streams last minutes and would drown the histogram).
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration, stream bool) {
	if m == nil {
		return
	}
	method = MethodLabel(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	if !stream {
		m.requestDuration.WithLabelValues(route, method).Observe(d.Seconds())
	}
}

// knownMethods are the methods a metric names; any other is counted as
// "other", so a client cannot add series by making methods up.
var knownMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// MethodLabel is method as a metric label: one of knownMethods, or "other".
func MethodLabel(method string) string {
	if slices.Contains(knownMethods, method) {
		return method
	}
	return "other"
}

// GenerationStarted counts a confirmed generation by the API's answer
// (OutcomeStarted, OutcomeRejected or OutcomeUnknown).
func (m *Metrics) GenerationStarted(outcome string) {
	if m == nil {
		return
	}
	m.genStarted.WithLabelValues(outcome).Inc()
}

// GenerationFinished counts a generation that reached a final state
// ("complete" or "failed").
func (m *Metrics) GenerationFinished(outcome string) {
	if m == nil {
		return
	}
	m.genFinished.WithLabelValues(outcome).Inc()
}

// observeUpstream records one request to the API.
func (m *Metrics) observeUpstream(endpoint, method, status string, d time.Duration) {
	method = MethodLabel(method)
	m.upstream.WithLabelValues(endpoint, method, status).Inc()
	m.upstreamLatency.WithLabelValues(endpoint, method).Observe(d.Seconds())
}
