package runtime

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/scheduler"
)

// Metrics are the Prometheus series served on the admin /metrics endpoint, all prefixed
// keel_. They live in their own registry so tests and several bots in one process never clash.
type Metrics struct {
	Registry *prometheus.Registry

	Attempts       *prometheus.CounterVec
	Retries        *prometheus.CounterVec
	RateLimited    *prometheus.CounterVec
	Inflight       *prometheus.GaugeVec
	QueueDepth     *prometheus.GaugeVec
	BreakerState   *prometheus.GaugeVec
	Halted         prometheus.Gauge
	UnknownOrders  prometheus.Counter
	Orders         *prometheus.CounterVec
	StrategyPanics *prometheus.CounterVec
	// RequestDuration is each attempt's latency on the wire, by endpoint and bucket.
	RequestDuration *prometheus.HistogramVec
	// WindowUsed and WindowLimit are each limit window's use and announced limit.
	WindowUsed, WindowLimit *prometheus.GaugeVec
}

// NewMetrics registers Keel's series in a fresh registry, with Go and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_request_attempts_total",
			Help: "REST request attempts by exchange, endpoint, bucket, failure class and HTTP status.",
		}, []string{"exchange", "endpoint", "bucket", "class", "status"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_request_retries_total",
			Help: "Attempts that were retries, by bucket and retry reason.",
		}, []string{"bucket", "reason"}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_rate_limited_total",
			Help: "Answers with HTTP 429 or 418, by bucket and status.",
		}, []string{"bucket", "status"}),
		Inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "keel_requests_inflight",
			Help: "Requests in flight per concurrency bucket.",
		}, []string{"bucket"}),
		QueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "keel_queue_depth",
			Help: "Requests waiting in the scheduler per priority.",
		}, []string{"priority"}),
		BreakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "keel_breaker_state",
			Help: "Circuit breaker state per failure class: 0 closed, 1 half-open, 2 open.",
		}, []string{"class"}),
		Halted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keel_killswitch_halted",
			Help: "1 while the kill switch halts trading.",
		}),
		UnknownOrders: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keel_orders_unknown_outcome_total",
			Help: "Order placements whose outcome could not be decided at once (left to reconciliation).",
		}),
		Orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_orders_total",
			Help: "Order placements by outcome: placed, rejected, unknown, resent (same key, after the exchange proved the first try absent), adopted (found open at reconciliation without a journal entry).",
		}, []string{"outcome"}),
		StrategyPanics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_strategy_panics_total",
			Help: "Strategies stopped by a recovered panic.",
		}, []string{"strategy"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keel_request_duration_seconds",
			Help:    "REST attempt latency (sent to answered) by exchange, endpoint and bucket.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"exchange", "endpoint", "bucket"}),
		WindowUsed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "keel_window_used",
			Help: "What each limit window has used of its limit (weight, orders or requests).",
		}, []string{"window"}),
		WindowLimit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "keel_window_limit",
			Help: "Each limit window's limit as the exchange announces it.",
		}, []string{"window"}),
	}
	m.Registry.MustRegister(m.RequestDuration, m.WindowUsed, m.WindowLimit)
	m.Registry.MustRegister(m.Attempts, m.Retries, m.RateLimited, m.Inflight, m.QueueDepth,
		m.BreakerState, m.Halted, m.UnknownOrders, m.Orders, m.StrategyPanics,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, outcome := range orderOutcomes {
		m.Orders.WithLabelValues(outcome) // every series exists at zero
	}
	return m
}

var orderOutcomes = []string{"placed", "rejected", "unknown", "resent", "adopted"}

// ordersMetrics feeds the orders manager's counters into keel_orders_total (and the older
// keel_orders_unknown_outcome_total).
func (m *Metrics) ordersMetrics() orders.Metrics {
	count := func(outcome string) func(string) {
		c := m.Orders.WithLabelValues(outcome)
		return func(string) { c.Inc() }
	}
	unknown := count("unknown")
	return orders.Metrics{
		Placed:   count("placed"),
		Rejected: count("rejected"),
		UnknownOutcome: func(symbol string) {
			unknown(symbol)
			m.UnknownOrders.Inc()
		},
		Resent:  count("resent"),
		Adopted: count("adopted"),
	}
}

func statusLabel(status int) string {
	if status == 0 {
		return "none"
	}
	return strconv.Itoa(status)
}

// observeSnapshot sets the gauges that mirror the scheduler's state: in-flight per bucket,
// queue depth per priority, breaker state per class. It runs on every scrape.
func (m *Metrics) observeSnapshot(s scheduler.Snapshot) {
	for _, w := range s.Windows {
		m.WindowUsed.WithLabelValues(w.Name).Set(float64(w.Used))
		m.WindowLimit.WithLabelValues(w.Name).Set(float64(w.Limit))
	}
	for _, b := range s.Buckets {
		m.Inflight.WithLabelValues(b.Name).Set(float64(b.InFlight))
	}
	for p := range scheduler.NumPriorities {
		name := scheduler.Priority(p).String()
		m.QueueDepth.WithLabelValues(name).Set(float64(s.Queued[name]))
	}
	for _, b := range s.Breakers {
		v := 0.0
		switch b.State {
		case "half-open":
			v = 1
		case "open":
			v = 2
		}
		m.BreakerState.WithLabelValues(b.Class).Set(v)
	}
}

// initBucket creates a bucket's retry and rate-limit series at zero, so that an alert on
// their rate has a series to read before the first retry or 429 ever happens.
func (m *Metrics) initBucket(bucket string) {
	for _, reason := range []string{scheduler.ClassRateLimit.String(), scheduler.ClassTransient.String()} {
		m.Retries.WithLabelValues(bucket, reason)
	}
	for _, status := range []string{"429", "418"} {
		m.RateLimited.WithLabelValues(bucket, status)
	}
}
