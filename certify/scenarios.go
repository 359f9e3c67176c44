package certify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// harness is what a scenario drives: the simulator of one run and what it recorded.
// retryFloor is the retries a bot may make in an outage however few its first attempts: the
// scheduler's default retry budget floor.
const retryFloor = 5

type harness struct {
	o   Options
	srv *sim.Server
	clk clock.Clock
	// ex is the (first) bot's exchange adapter, through its scheduler (nil for the naive
	// client): a scenario loads it as a strategy would.
	ex adapters.Exchange
	// keyDisabled is the simulator's verdict on the key before the scenario refused it itself
	// (clock-drift); nil means read it at the end.
	keyDisabled *bool
	// marks are stats snapshots by name, taken by the scenario.
	marks map[string]sim.Stats
	// trips reads the kill-switch trips logged so far (nil for the naive client);
	// tripsBefore is how many there were when the scenario refused the key.
	trips       func() []string
	tripsBefore int
	// note is what the incident itself measured, for the verdict; placed and failed are the
	// client order ids of the orders it placed itself.
	note           string
	placed, failed []string
	// logs reads the bot's JSON log so far (nil for the naive client).
	logs func() string
}

// queueWaits returns the queue_wait_ms of every attempt event in the bot's log that match
// selects.
func (h *harness) queueWaits(match func(ev map[string]any) bool) []int64 {
	if h.logs == nil {
		return nil
	}
	var out []int64
	for _, ev := range events(h.logs(), func(ev map[string]any) bool { return ev["attempt"] != nil && match(ev) }) {
		w, _ := ev["queue_wait_ms"].(float64)
		out = append(out, int64(w))
	}
	return out
}

// events returns the JSON log lines of logs that match selects, decoded.
func events(logs string, match func(ev map[string]any) bool) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && match(ev) {
			out = append(out, ev)
		}
	}
	return out
}

func (h *harness) sleep(ctx context.Context, d time.Duration) { clock.Sleep(ctx, h.clk, d) }

func (h *harness) mark(name string) { h.marks[name] = h.srv.Stats() }

// pollInBackground runs poll's loop until the returned stop is called, and waits for it.
func (h *harness) pollInBackground(ctx context.Context, f func(context.Context)) (stop func()) {
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.poll(pctx, time.Hour, f)
	}()
	return func() { cancel(); <-done }
}

// poll runs f every 100 ms for d through the bot's adapter; for the naive client (no adapter)
// it only waits.
func (h *harness) poll(ctx context.Context, d time.Duration, f func(context.Context)) {
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for pctx.Err() == nil {
		if h.ex != nil {
			f(pctx)
		}
		h.sleep(pctx, 100*time.Millisecond)
	}
}

// atLeast is d scaled, but never shorter than min: a bot's own timers (backoff, ticks) are not
// scaled, so an incident must last long enough for it to meet the incident at all.
func (h *harness) atLeast(d, min time.Duration) time.Duration { return max(scaled(h.o, d), min) }

// scenario is one incident: how it is injected, what the bot's log should let an operator
// see, and the pass criteria.
type scenario struct {
	name string
	// env adds KEEL_ settings to the bot's run (e.g. polling instead of streams).
	env []string
	// inject applies the incident to h.srv and returns when it is over.
	inject func(ctx context.Context, h *harness)
	// naive is the naive client's workload under the same incident.
	naive naiveWorkload
	// instances > 1 runs that many bots (and naive clients) against one simulator of the
	// run's own, started within 100 ms; fleet makes the bots share --store-url.
	instances int
	fleet     bool
	// limits are the simulator's (zero: its defaults).
	limits sim.Limits
	// judge sets r.Pass and r.Why for the bot's run.
	judge func(h *harness, r *Row)
	// query is the operator's jq line; match and fields are the same selection in Go.
	query  string
	match  func(ev map[string]any) bool
	fields []string
}

var scenarios = []scenario{
	{
		name: "retry-burst",
		env:  []string{"KEEL_MARKET_STREAMS=false", "KEEL_MARKET_POLL_INTERVAL=50ms"},
		inject: func(ctx context.Context, h *harness) {
			h.srv.SetFaults(sim.Faults{ErrorRate: 0.3, ErrorStatus: 429, Methods: []string{"GET"}})
			// Besides the bot's own 50 ms polls, a strategy reading the book every 100 ms.
			h.poll(ctx, 3*time.Second, func(ctx context.Context) { _, _ = h.ex.BookTicker(ctx, "BTCUSDT") })
			h.srv.SetFaults(sim.Faults{})
			h.sleep(ctx, time.Second)
		},
		naive:  naiveReads,
		judge:  func(h *harness, r *Row) { noAbuse(r) },
		query:  `jq -c 'select(.failure_class=="rate_limit") | {ts,rate_limit_bucket,endpoint,status,weight,retry_after_ms}' keel.log`,
		match:  func(ev map[string]any) bool { return ev["failure_class"] == "rate_limit" },
		fields: []string{"ts", "rate_limit_bucket", "endpoint", "status", "weight", "retry_after_ms"},
	},
	{
		name: "invalid-requests",
		inject: func(ctx context.Context, h *harness) {
			h.mark("before")
			_ = h.srv.SetTradingDisabled(sim.DefaultAPIKey, true)
			h.sleep(ctx, 4*time.Second)
			_ = h.srv.SetTradingDisabled(sim.DefaultAPIKey, false)
			h.mark("after")
		},
		naive: naiveOrders,
		judge: func(h *harness, r *Row) {
			sent := h.marks["after"].Endpoints[orderEndpoint].Requests - h.marks["before"].Endpoints[orderEndpoint].Requests
			if !noAbuse(r) {
				return
			}
			if sent > 3 {
				r.Pass, r.Why = false, fmt.Sprintf("%d refused orders reached the exchange, want at most 3 (orders.validation_guard)", sent)
				return
			}
			r.Why = fmt.Sprintf("%d refused orders reached the exchange (at most 3)", sent)
		},
		query: `jq -c 'select(.event=="validation_guard" or .failure_class=="validation") | {ts,event,endpoint,error_code,error_message,state,until}' keel.log`,
		match: func(ev map[string]any) bool {
			return ev["event"] == "validation_guard" || ev["failure_class"] == "validation"
		},
		fields: []string{"ts", "event", "endpoint", "error_code", "error_message", "state", "until"},
	},
	{
		name: "clock-drift",
		inject: func(ctx context.Context, h *harness) {
			// Signed reads every 100 ms through the bot's scheduler, as a strategy watching
			// its balances would, so the drift is met whatever the strategy does.
			balances := func(ctx context.Context) { _, _ = h.ex.Balances(ctx) }
			h.srv.SetClockOffset(-3 * time.Second)
			h.poll(ctx, 1500*time.Millisecond, balances)
			h.srv.SetClockOffset(-3500 * time.Millisecond)
			h.poll(ctx, 1500*time.Millisecond, balances)
			disabled := h.srv.KeyDisabled(sim.DefaultAPIKey)
			h.keyDisabled = &disabled
			if h.trips != nil {
				h.tripsBefore = len(h.trips())
			}
			h.mark("revoked")
			// A signing bug: the exchange no longer verifies the bot's signatures (-1022).
			_ = h.srv.RotateSecret(sim.DefaultAPIKey, "not-the-secret-the-bot-signs-with")
			// The bot meets it at its next signed request: the balances read every 100 ms (an
			// open auth breaker keeps them from the exchange once it trips); wait for the trip
			// (up to 8 s), then a second for stragglers.
			for deadline := time.Now().Add(8 * time.Second); h.trips != nil && len(h.trips()) <= h.tripsBefore && time.Now().Before(deadline); {
				balances(ctx)
				h.sleep(ctx, 100*time.Millisecond)
			}
			h.sleep(ctx, time.Second)
			h.mark("end")
		},
		naive: naiveSigned,
		judge: func(h *harness, r *Row) {
			if !noAbuse(r) {
				return
			}
			after := h.marks["end"].Total.AuthFailures - h.marks["revoked"].Total.AuthFailures
			switch {
			case h.tripsBefore > 0:
				r.Pass, r.Why = false, "the clock drift alone tripped the kill switch: "+r.Trips[0]
			case len(r.Trips) == 0:
				r.Pass, r.Why = false, "the key was refused and the kill switch did not trip"
			case after > 3:
				r.Pass, r.Why = false, fmt.Sprintf("%d signed requests were refused after the key was, want at most 3 (no retries of auth failures)", after)
			default:
				r.Why = fmt.Sprintf("drift absorbed; %d signed request(s) after the refusal, then halted", after)
			}
		},
		query: `jq -c 'select(.event=="kill_switch_trip" or .event=="clock_offset") | {ts,event,offset_ms,endpoint,reason}' keel.log`,
		match: func(ev map[string]any) bool {
			return ev["event"] == "kill_switch_trip" || ev["event"] == "clock_offset"
		},
		fields: []string{"ts", "event", "offset_ms", "endpoint", "reason"},
	},
	deployBurst("deploy-burst", false),
	deployBurst("deploy-burst-fleet", true),
	{
		name: "reconnect-storm",
		inject: func(ctx context.Context, h *harness) {
			// The storm starts once the bot's streams are up (a loaded machine may take
			// longer than the warm-up second).
			for deadline := time.Now().Add(10 * time.Second); h.srv.Stats().Streams.Open == 0 && time.Now().Before(deadline); {
				h.sleep(ctx, 100*time.Millisecond)
			}
			h.mark("before")
			for range stormDrops {
				h.srv.DropStreams()
				h.sleep(ctx, 750*time.Millisecond)
			}
			h.mark("after")
			h.sleep(ctx, time.Second)
		},
		judge: func(h *harness, r *Row) {
			if !noAbuse(r) {
				return
			}
			before, after := h.marks["before"], h.marks["after"]
			conns := int64(before.Streams.Open)
			opened := after.Streams.Opened - before.Streams.Opened
			snapshots := sum(after.DepthSnapshots) - sum(before.DepthSnapshots)
			// Each drop costs at most one new connection per connection the bot had and one
			// book snapshot per symbol (a resync per reconnect, never a loop of them).
			symbols := int64(max(1, len(before.DepthSnapshots)))
			switch {
			case after.Streams.Refused > before.Streams.Refused:
				r.Pass, r.Why = false, fmt.Sprintf("%d connection attempts refused by the connection limit", after.Streams.Refused-before.Streams.Refused)
			case opened > (stormDrops+1)*conns:
				r.Pass, r.Why = false, fmt.Sprintf("%d connections opened for %d drops of %d connections, want at most %d", opened, stormDrops, conns, (stormDrops+1)*conns)
			case snapshots > (stormDrops+1)*symbols:
				r.Pass, r.Why = false, fmt.Sprintf("%d book snapshots for %d drops, want at most %d (one per reconnect per symbol)", snapshots, stormDrops, (stormDrops+1)*symbols)
			default:
				r.Why = fmt.Sprintf("%d drops of %d connections: %d reconnects, %d book snapshots", stormDrops, conns, opened, snapshots)
			}
		},
		query: `jq -c 'select(.event? // "" | startswith("stream_")) | {ts,event,stream,attempt,delay_ms,reason,weight}' keel.log`,
		match: func(ev map[string]any) bool {
			name, _ := ev["event"].(string)
			return strings.HasPrefix(name, "stream_")
		},
		fields: []string{"ts", "event", "stream", "attempt", "delay_ms", "reason", "weight"},
	},
	{
		name: "outage",
		inject: func(ctx context.Context, h *harness) {
			h.srv.SetFaults(sim.Faults{ErrorRate: 0.6, ErrorStatus: 503, TimeoutRate: 0.3})
			// A bot on streams makes few REST calls of its own: read the ticker every 100 ms
			// through its scheduler, as a strategy polling would, so the outage is met.
			h.poll(ctx, h.atLeast(time.Minute, 3*time.Second), func(ctx context.Context) { _, _ = h.ex.Ticker(ctx, "BTCUSDT") })
			h.srv.SetFaults(sim.Faults{})
			h.sleep(ctx, time.Second)
		},
		naive: naiveReads,
		judge: func(h *harness, r *Row) {
			if !noAbuse(r) {
				return
			}
			// The retry budget's floor (scheduler.retry_budget.floor, 5 by default) lets a bot
			// that made few first attempts retry a few times all the same: not abuse.
			if limit := max(r.FirstAttempts/4, retryFloor) + 3; r.Retries > limit {
				r.Pass, r.Why = false, fmt.Sprintf("%d retries for %d first attempts, want at most %d", r.Retries, r.FirstAttempts, limit)
				return
			}
			r.Why = fmt.Sprintf("retry amplification %.2f", amplification(r))
		},
		query: `jq -c 'select(.failure_class=="transient" or .event=="breaker_probe") | {ts,event,endpoint,status,breaker,error_message}' keel.log`,
		match: func(ev map[string]any) bool {
			return ev["failure_class"] == "transient" || ev["event"] == "breaker_probe"
		},
		fields: []string{"ts", "event", "endpoint", "status", "breaker", "error_message"},
	},
	{
		name: "hot-endpoint",
		// A limit the readers saturate whatever the machine's speed: six depth-5000 reads per
		// window (scaled minute).
		limits: sim.Limits{RequestWeight: 1500},
		inject: func(ctx context.Context, h *harness) {
			h.mark("before")
			if h.ex == nil { // the naive client: its own workload is the hot endpoint
				h.sleep(ctx, hotFor)
				h.mark("after")
				return
			}
			tk, err := h.ex.Ticker(ctx, "BTCUSDT")
			if err != nil {
				h.note = "no ticker before the load: " + err.Error()
				return
			}
			lctx, stop := context.WithTimeout(ctx, hotFor)
			defer stop()
			var wg sync.WaitGroup
			var reads, shed atomic.Int64
			for range hotReaders {
				wg.Go(func() {
					for lctx.Err() == nil {
						_, err := h.ex.Depth(lctx, "BTCUSDT", 5000)
						reads.Add(1)
						if errors.Is(err, scheduler.ErrShed) {
							shed.Add(1)
						}
					}
				})
			}
			// Beside the readers, an order every 200 ms through the same scheduler (resting
			// far below the market, cancelled at once): each must go out without queueing
			// behind the reads.
			price := tk.Price.Div(decimal.NewFromInt(2)).Round(2)
			for i := 0; lctx.Err() == nil; i++ {
				id := fmt.Sprintf("certhot%d", i)
				_, err := h.ex.PlaceOrder(ctx, adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
					TimeInForce: adapters.GTC, Quantity: decimal.RequireFromString("0.001"), Price: price, ClientOrderID: id})
				if err != nil {
					h.failed = append(h.failed, id+": "+err.Error())
				} else {
					h.placed = append(h.placed, id)
					_, _ = h.ex.CancelOrder(ctx, "BTCUSDT", id)
				}
				h.sleep(lctx, 200*time.Millisecond)
			}
			wg.Wait()
			h.mark("after")
			h.note = fmt.Sprintf("%d of %d depth-5000 reads shed", shed.Load(), reads.Load())
		},
		naive: naiveHeavy,
		judge: func(h *harness, r *Row) {
			if !noAbuse(r) {
				return
			}
			orders, reads := h.queueWaits(func(ev map[string]any) bool {
				return ev["endpoint"] == "/api/v3/order" && ev["method"] == "POST" && slices.Contains(h.placed, fmt.Sprint(ev["idempotency_key"]))
			}), h.queueWaits(func(ev map[string]any) bool { return ev["endpoint"] == "/api/v3/depth" && ev["weight"] == 250.0 })
			switch {
			case r.RateLimit > 0:
				r.Pass, r.Why = false, fmt.Sprintf("%d rate-limit answers: the hot endpoint was not kept inside the budget", r.RateLimit)
			case len(h.failed) > 0 || len(h.placed) == 0:
				r.Pass, r.Why = false, fmt.Sprintf("orders failed under the load: %d placed, %d failed (%s) %s", len(h.placed), len(h.failed), strings.Join(h.failed, "; "), h.note)
			default:
				r.Why = fmt.Sprintf("%d orders placed under the load, median queue wait %d ms, longest %d ms (depth reads: %d ms, %d ms); %s",
					len(h.placed), median(orders), slices.Max(append(orders, 0)), median(reads), slices.Max(append(reads, 0)), h.note)
			}
		},
		query: `jq -c 'select(.weight>=100 or (.event=="request_refused" and .reason=="shed")) | {ts,event,endpoint,weight,queue_wait_ms,reason}' keel.log`,
		match: func(ev map[string]any) bool {
			w, _ := ev["weight"].(float64)
			return w >= 100 || (ev["event"] == "request_refused" && ev["reason"] == "shed")
		},
		fields: []string{"ts", "event", "endpoint", "weight", "queue_wait_ms", "reason"},
	},
	{
		name: "waf-ban",
		inject: func(ctx context.Context, h *harness) {
			// A strategy reading the book every 100 ms throughout, so the block is met and the
			// resume is seen whatever the strategy itself reads.
			defer h.pollInBackground(ctx, func(ctx context.Context) { _, _ = h.ex.BookTicker(ctx, "BTCUSDT") })()
			h.srv.SetRebanAfter(5)
			h.srv.SetFaults(sim.Faults{ErrorRate: 1, ErrorStatus: 403})
			h.sleep(ctx, h.atLeast(30*time.Second, time.Second))
			h.srv.SetFaults(sim.Faults{})
			ban := h.atLeast(2*time.Minute, 2*time.Second)
			h.srv.Ban("127.0.0.1", ban)
			h.sleep(ctx, ban)
			h.mark("ban_end")
			// Resuming slowly is right: the rate_limit breaker the block opened stays open its
			// open_for (10 s by default, the bot's own time, not scaled), then a read probes.
			h.sleep(ctx, resumeWithin)
			h.mark("end")
		},
		naive: naiveReads,
		judge: func(h *harness, r *Row) {
			if r.KeyDisabled {
				r.Pass, r.Why = false, "the key was disabled"
				return
			}
			if r.Bans > 1 {
				r.Pass, r.Why = false, fmt.Sprintf("the ban grew: %d bans, want only the injected one", r.Bans)
				return
			}
			resumed := h.marks["end"].Total.Requests - h.marks["ban_end"].Total.Requests
			if resumed == 0 {
				r.Pass, r.Why = false, "no request after the ban ended: the bot did not resume"
				return
			}
			r.Pass, r.Why = true, fmt.Sprintf("held through the ban (%d answers 418), resumed with %d requests", r.Status418, resumed)
		},
		query:  `jq -c 'select(.status==418 or .status==403) | {ts,endpoint,status,retry_after_ms,error_message}' keel.log`,
		match:  func(ev map[string]any) bool { return ev["status"] == 418.0 || ev["status"] == 403.0 },
		fields: []string{"ts", "endpoint", "status", "retry_after_ms", "error_message"},
	},
}

const orderEndpoint = "POST /api/v3/order"

const (
	// stormDrops is how many times reconnect-storm drops every stream, 750 ms apart.
	stormDrops = 8
	// hotReaders read the deepest book for hotFor in hot-endpoint, beside the strategy.
	hotReaders = 4
	hotFor     = 3 * time.Second
	// resumeWithin is how soon after a ban ends waf-ban wants a request again.
	resumeWithin = 12 * time.Second
)

// deployBurst is scenario 4: five instances of the bot start within 100 ms against one
// simulator whose request-weight limit their start-ups together exceed (300 per minute,
// scaled), without a fleet store (each learns the IP's usage from the exchange's headers) or
// with one (they share one budget: no rate-limit answer at all).
func deployBurst(name string, fleet bool) scenario {
	return scenario{
		name:      name,
		instances: 5,
		fleet:     fleet,
		limits:    sim.Limits{RequestWeight: 300},
		inject:    func(ctx context.Context, h *harness) { h.sleep(ctx, 4*time.Second) },
		naive:     naiveReads,
		judge: func(h *harness, r *Row) {
			if !noAbuse(r) {
				return
			}
			if fleet && r.RateLimit > 0 {
				r.Pass, r.Why = false, fmt.Sprintf("%d rate-limit answers with a shared budget, want 0", r.RateLimit)
				return
			}
			r.Why = fmt.Sprintf("5 instances, %d rate-limit answers, no ban", r.RateLimit)
		},
		// Which instance sent what, and what came back: one line per instance and answer.
		query:  `jq -c 'select(.attempt!=null) | {bot_instance_id,status,failure_class}' keel.log | sort | uniq -c`,
		match:  func(ev map[string]any) bool { return ev["attempt"] != nil },
		fields: []string{"bot_instance_id", "status", "failure_class"},
	}
}

// median is the middle of xs (0 for none).
func median(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func sum(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// noAbuse fails r for a ban or a disabled key and reports whether r still passes.
func noAbuse(r *Row) bool {
	r.Pass = true
	switch {
	case r.Bans > 0 || r.Status418 > 0:
		r.Pass, r.Why = false, fmt.Sprintf("banned: %d bans, %d answers 418", r.Bans, r.Status418)
	case r.KeyDisabled:
		r.Pass, r.Why = false, "the simulator disabled the key for repeated auth failures"
	default:
		r.Why = "no ban, key enabled"
	}
	return r.Pass
}

func amplification(r *Row) float64 {
	if r.FirstAttempts == 0 {
		return 0
	}
	return float64(r.FirstAttempts+r.Retries) / float64(r.FirstAttempts)
}

// answer runs the scenario's query over the bot's JSON log: how many lines match, and the
// first one projected on the query's fields.
func (s scenario) answer(logs string) string {
	evs := events(logs, s.match)
	if len(evs) == 0 {
		return "no lines"
	}
	proj := map[string]any{}
	for _, f := range s.fields {
		proj[f] = evs[0][f]
	}
	first, _ := json.Marshal(proj)
	return fmt.Sprintf("%d lines; first %s", len(evs), first)
}
