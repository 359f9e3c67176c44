package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/ledger"
	"github.com/keelbot/keel/scheduler"
)

// UIConfig configures what a human watching the console sees.
type UIConfig struct {
	// SummaryInterval is how often a summary line per strategy is printed on a terminal
	// (log.format console, or auto on a terminal): open orders, position, PnL, fills, budget
	// used, kill switch. Default 10s. JSON logs get no summary: /status and /metrics have it.
	SummaryInterval time.Duration `koanf:"summary_interval"`
}

// consoleFormat reports whether c writes human-readable lines to w (a terminal, or forced).
func consoleFormat(c LogConfig, w io.Writer) bool {
	if c.Format == "console" {
		return true
	}
	if c.Format == "json" {
		return false
	}
	return isTerminal(w)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// summaryLoop prints a summary line per strategy every ui.summary_interval.
func (l *Loop) summaryLoop(ctx context.Context, snapshot func() scheduler.Snapshot) {
	for clock.Sleep(ctx, l.clk, l.cfg.UI.SummaryInterval) {
		l.logSummary(l.log, snapshot())
	}
}

// logSummary writes one info line per strategy: what a human wants to know at a glance.
func (l *Loop) logSummary(log zerolog.Logger, snap scheduler.Snapshot) {
	budget := budgetUsed(snap)
	halted := "running"
	if h, reason := l.sw.Halted(); h {
		halted = "HALTED: " + reason.String()
	}
	for _, st := range l.strategies() {
		var pnl ledger.PnL
		var positions []string
		if l.fills != nil {
			for _, p := range l.fills.l.Positions(st.Name) {
				if !p.Quantity.IsZero() {
					positions = append(positions, p.Quantity.String()+" "+p.Symbol)
				}
			}
			pnl = l.fills.l.PnL(st.Name)
		}
		pos := "flat"
		if len(positions) > 0 {
			pos = strings.Join(positions, ", ")
		}
		log.Info().Str("strategy", st.Name).Str("state", st.State).Int("open_orders", st.OpenOrders).
			Str("position", pos).Str("realized", money(pnl.Realized, pnl.Quote)).
			Str("unrealized", money(pnl.Unrealized, pnl.Quote)).Str("fees", money(pnl.Fees, pnl.Quote)).
			Int("fills", pnl.Fills).Str("budget_used", fmt.Sprintf("%.0f%%", budget*100)).
			Str("kill_switch", halted).Msg("summary")
	}
}

func money(v decimal.Decimal, quote string) string {
	s := v.StringFixed(2)
	if quote != "" {
		s += " " + quote
	}
	return s
}

// budgetUsed is the highest share of any limit window used, 0..1.
func budgetUsed(s scheduler.Snapshot) float64 {
	worst := 0.0
	for _, w := range s.Windows {
		if w.Limit > 0 {
			worst = max(worst, float64(w.Used)/float64(w.Limit))
		}
	}
	return worst
}

// demoteSuccesses drops the scheduler's per-attempt events of successful requests from a
// console: on a terminal one line per request buries what matters, and the summary line says
// how trading goes. Failures still print; log.level debug shows every attempt again; JSON
// output is never filtered (it is the stable surface).
type demoteSuccesses struct{ w io.Writer }

func (d demoteSuccesses) Write(p []byte) (int, error) {
	if isSuccessAttempt(p) {
		return len(p), nil
	}
	return d.w.Write(p)
}

// isSuccessAttempt reports whether a JSON log line is an attempt event of a success: status
// 2xx, error_code 0 and no "event" or "level" field (named events carry those).
func isSuccessAttempt(p []byte) bool {
	s := string(p)
	if !strings.Contains(s, `"failure_class":"ok"`) || strings.Contains(s, `"level":`) {
		return false
	}
	return strings.Contains(s, `"error_code":0,`)
}

// streamCollector serves the streams' and market data's state on /metrics at scrape time.
type streamCollector struct{ l *Loop }

var (
	descStreamConnected = prometheus.NewDesc("keel_stream_connected",
		"1 while a stream is connected (stream=user: the user data stream; stream=market: the symbol's book is in sync); absent when market.streams is off.",
		[]string{"stream", "symbol"}, nil)
	descMarketStale = prometheus.NewDesc("keel_market_data_stale",
		"1 while a subscribed symbol's market data is stale (stream down or resyncing, a late poll, a quote that is not sane).",
		[]string{"symbol"}, nil)
)

var (
	descUnknownOldest = prometheus.NewDesc("keel_orders_unknown_oldest_seconds",
		"Age of the oldest order whose outcome is still unknown (0 when none): it may be live on the exchange.", nil, nil)
	descStoreUp = prometheus.NewDesc("keel_store_up",
		"1 while a store answers (store=journal: the order journal; store=redis: fleet mode's Redis); 0: new orders are refused.",
		[]string{"store"}, nil)
)

func (c streamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descStreamConnected
	ch <- descMarketStale
	ch <- descUnknownOldest
	ch <- descStoreUp
}

// collectJournal reads the journal's unknown outcomes: their oldest age, and whether the
// journal answers at all (one read per scrape, bounded by the scrape's own pace).
func (c streamCollector) collectJournal(ch chan<- prometheus.Metric) {
	l := c.l
	if l.fleet != nil {
		down, _ := l.fleet.Down()
		ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, boolGauge(!down), "redis")
	}
	if l.journal == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	entries, err := l.journal.List(ctx, idempotency.StateUnknown)
	ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, boolGauge(err == nil), "journal")
	oldest := 0.0
	now := l.clk.Now()
	for _, e := range entries {
		oldest = max(oldest, now.Sub(e.UpdatedAt).Seconds())
	}
	if err == nil {
		ch <- prometheus.MustNewConstMetric(descUnknownOldest, prometheus.GaugeValue, oldest)
	}
}

func (c streamCollector) Collect(ch chan<- prometheus.Metric) {
	c.collectJournal(ch)
	l := c.l
	symbols := l.feed.symbols()
	for _, s := range symbols {
		_, fresh := l.feed.quote(s)
		ch <- prometheus.MustNewConstMetric(descMarketStale, prometheus.GaugeValue, boolGauge(!fresh), s)
	}
	if !l.cfg.Market.Streams || !l.streamsOffered {
		return
	}
	ch <- prometheus.MustNewConstMetric(descStreamConnected, prometheus.GaugeValue, boolGauge(l.streams.userStreamUp()), "user", "")
	for _, s := range symbols {
		ch <- prometheus.MustNewConstMetric(descStreamConnected, prometheus.GaugeValue, boolGauge(l.streams.marketHealthy(s)), "market", s)
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
