package backtest

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// meter sits between the adapter and the scheduler and counts what every attempt costs in
// Binance's limit windows, as fixed windows aligned to the (simulated) clock, the way Binance
// counts. The scheduler it wraps has no limits of its own here: the meter measures what the
// strategy would use, it does not shape it.
type meter struct {
	*scheduler.Scheduler // SetClockOffset, SetWindowLimit, ... pass through
	clk                  clock.Clock
	safety               float64
	limits               map[string]limitWindow
	used                 map[string]map[int64]int64 // window → window start (unix ns) → used
	count                map[string]int             // "METHOD /path" → attempts
}

type limitWindow struct {
	interval time.Duration
	limit    int64
}

func newMeter(s *scheduler.Scheduler, clk clock.Clock, safety float64) *meter {
	m := &meter{Scheduler: s, clk: clk, safety: safety, limits: map[string]limitWindow{},
		used: map[string]map[int64]int64{}, count: map[string]int{}}
	for _, l := range binance.DefaultRateLimits() {
		m.limits[l.Window] = limitWindow{interval: l.Interval, limit: l.Limit}
		m.used[l.Window] = map[int64]int64{}
	}
	return m
}

// Do counts each attempt of r, then runs it. The backtest drives one request at a time, so
// the maps need no lock.
func (m *meter) Do(ctx context.Context, r *scheduler.Request) (scheduler.Outcome, error) {
	inner := r.Attempt
	name := nameOf(r)
	costs := r.Costs
	cp := *r
	cp.Attempt = func(ctx context.Context, attempt int) scheduler.Outcome {
		m.count[name]++
		m.add(m.clk.Now(), costs)
		return inner(ctx, attempt)
	}
	// Nothing in a backtest waits on the simulated clock, which moves only between candles: a
	// request still queued after stuckAfter of wall time would wait forever. It is an error
	// naming the request, not a hang.
	ctx, cancel := context.WithTimeoutCause(ctx, stuckAfter, fmt.Errorf("backtest: %s waited %s for the simulated clock to move (a hold or a wait in the scheduler)", name, stuckAfter))
	defer cancel()
	return m.Scheduler.Do(ctx, &cp)
}

// stuckAfter is how long a request may take in wall time.
const stuckAfter = 10 * time.Second

// report is the use of each window, in Binance's order, and whether any went past its limit.
func (m *meter) report() ([]WindowUse, bool) {
	var out []WindowUse
	hit := false
	for _, l := range binance.DefaultRateLimits() {
		lw := m.limits[l.Window]
		u := WindowUse{Window: l.Window, Interval: lw.interval, Limit: lw.limit,
			Safe: int64(math.Floor(float64(lw.limit) * m.safety))}
		starts := make([]int64, 0, len(m.used[l.Window]))
		for s := range m.used[l.Window] {
			starts = append(starts, s)
		}
		sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
		for _, s := range starts {
			v := m.used[l.Window][s]
			if v > u.Peak {
				u.Peak, u.PeakAt = v, time.Unix(0, s).UTC()
			}
			if v > u.Safe {
				u.OverSafe++
			}
			if v > u.Limit {
				u.OverLimit++
				hit = true
			}
		}
		out = append(out, u)
	}
	return out, hit
}

// accountRead is what GET /api/v3/account costs (rest-api.md: weight 20; every request counts
// 1 raw request), for reads the backtest accounts for without sending.
var accountRead = call{name: "GET /api/v3/account", costs: []scheduler.Cost{
	{Window: binance.WindowRequestWeight, Amount: 20}, {Window: binance.WindowRawRequests, Amount: 1}}}

// call is a request the backtest charges without sending.
type call struct {
	name  string
	costs []scheduler.Cost
}

// charge counts c as sent at at.
func (m *meter) charge(at time.Time, c call) {
	m.count[c.name]++
	m.add(at, c.costs)
}

func (m *meter) add(at time.Time, costs []scheduler.Cost) {
	for _, c := range costs {
		if l, ok := m.limits[c.Window]; ok {
			m.used[c.Window][at.Truncate(l.interval).UnixNano()] += c.Amount
		}
	}
}
