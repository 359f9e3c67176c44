package scheduler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/scheduler"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*scheduler.Config)
		want   string // "" for valid
	}{
		{"base", func(*scheduler.Config) {}, ""},
		{"zero config", func(c *scheduler.Config) { *c = scheduler.Config{} }, ""},
		{"bucket cap 0 is the default", func(c *scheduler.Config) { c.Buckets[0].MaxConcurrency = 0 }, ""},
		{"bucket cap < 1", func(c *scheduler.Config) { c.Buckets[0].MaxConcurrency = -1 }, "scheduler: buckets[private].max_concurrency: must be >= 1, got -1"},
		{"bucket without name", func(c *scheduler.Config) { c.Buckets[1].Name = "" }, "scheduler: buckets[1].name: must not be empty"},
		{"duplicate bucket", func(c *scheduler.Config) { c.Buckets[1].Name = "private" }, "scheduler: buckets[private].name: duplicate bucket"},
		{"empty window name", func(c *scheduler.Config) { c.Windows[0].Name = "" }, "scheduler: windows[0].name: must not be empty"},
		{"zero window limit", func(c *scheduler.Config) { c.Windows[0].Limit = 0 }, "scheduler: windows[W].limit: must be >= 1, got 0"},
		{"negative window limit", func(c *scheduler.Config) { c.Windows[0].Limit = -5 }, "scheduler: windows[W].limit: must be >= 1, got -5"},
		{"zero window interval", func(c *scheduler.Config) { c.Windows[0].Interval = 0 }, "scheduler: windows[W].interval: must be > 0, got 0s"},
		{"negative window interval", func(c *scheduler.Config) { c.Windows[0].Interval = -time.Minute }, "scheduler: windows[W].interval: must be > 0, got -1m0s"},
		{"unknown window kind", func(c *scheduler.Config) { c.Windows[0].Kind = "leaky" }, `scheduler: windows[W].kind: unknown kind "leaky" (want "fixed", "sliding", "decaying" or one registered with WithWindowKind)`},
		{"sliding window", func(c *scheduler.Config) { c.Windows[0].Kind = scheduler.KindSliding }, ""},
		{"decaying window", func(c *scheduler.Config) { c.Windows[0].Kind = scheduler.KindDecaying }, ""},
		{"decaying window burst > 1", func(c *scheduler.Config) { c.Windows[0].Kind, c.Windows[0].Burst = scheduler.KindDecaying, 2 }, "scheduler: windows[W].burst: must be in (0,1], got 2"},
		{"burst > 1", func(c *scheduler.Config) { c.Windows[0].Burst = 1.5 }, "scheduler: windows[W].burst: must be in (0,1], got 1.5"},
		{"safety fraction > 1", func(c *scheduler.Config) { c.SafetyFraction = 1.2 }, "scheduler: safety_fraction: must be in (0,1], got 1.2"},
		{"safety fraction < 0", func(c *scheduler.Config) { c.SafetyFraction = -0.5 }, "scheduler: safety_fraction: must be in (0,1], got -0.5"},
		{"safety fraction NaN", func(c *scheduler.Config) { c.SafetyFraction = math.NaN() }, "scheduler: safety_fraction: must be in (0,1], got NaN"},
		{"safety fraction +Inf", func(c *scheduler.Config) { c.SafetyFraction = math.Inf(1) }, "scheduler: safety_fraction: must be in (0,1], got +Inf"},
		{"safety fraction -Inf", func(c *scheduler.Config) { c.SafetyFraction = math.Inf(-1) }, "scheduler: safety_fraction: must be in (0,1], got -Inf"},
		{"safety fraction 0 is the default", func(c *scheduler.Config) { c.SafetyFraction = 0 }, ""},
		{"safety fraction 1", func(c *scheduler.Config) { c.SafetyFraction = 1 }, ""},
		{"confirmed fraction below the safety fraction", func(c *scheduler.Config) { c.SafetyFractionConfirmed = 0.8 }, "scheduler: safety_fraction_confirmed: must be in [safety_fraction (0.9), 1], got 0.8"},
		{"confirmed fraction > 1", func(c *scheduler.Config) { c.SafetyFractionConfirmed = 1.1 }, "scheduler: safety_fraction_confirmed: must be in [safety_fraction (0.9), 1], got 1.1"},
		{"confirmed fraction NaN", func(c *scheduler.Config) { c.SafetyFractionConfirmed = math.NaN() }, "scheduler: safety_fraction_confirmed: must be in [safety_fraction (0.9), 1], got NaN"},
		{"confirmed fraction defaults to a higher safety fraction", func(c *scheduler.Config) { c.SafetyFraction = 0.995 }, ""},
		{"cancel floor 1", func(c *scheduler.Config) { c.Headroom.CancelFloor = 1 }, "scheduler: headroom.cancel_floor: must be < 1 (negative: none), got 1"},
		{"no cancel floor", func(c *scheduler.Config) { c.Headroom.CancelFloor = -1 }, ""},
		{"no lending", func(c *scheduler.Config) { c.Headroom.Lookback = -time.Second }, ""},
		{"headroom above a higher priority's", func(c *scheduler.Config) { c.Headroom.Market = 0.9 }, "scheduler: headroom.market: must not exceed headroom.account (0.85), got 0.9"},
		{"headroom > 1", func(c *scheduler.Config) { c.Headroom.Critical = 2 }, "scheduler: headroom.critical: must be in (0,1], got 2"},
		{"negative budget", func(c *scheduler.Config) { c.DefaultBudget = -time.Second }, "scheduler: default_budget: must be > 0, got -1s"},
		{"backoff cap below base", func(c *scheduler.Config) { c.Backoff.Cap = 100 * time.Millisecond }, "scheduler: backoff.cap: must be >= backoff.base (200ms), got 100ms"},
		{"ban pause cap below the ban pause", func(c *scheduler.Config) { c.Backoff.BanPause = time.Hour }, "scheduler: backoff.ban_pause_cap: must be >= backoff.ban_pause (1h0m0s), got 30m0s"},
		{"negative ban pause", func(c *scheduler.Config) { c.Backoff.BanPause = -time.Minute }, "scheduler: backoff.ban_pause: must be > 0, got -1m0s"},
		{"failure ratio > 1", func(c *scheduler.Config) { c.Breakers.Transient.FailureRatio = 2 }, "scheduler: breakers.transient.failure_ratio: must be <= 1 (negative disables), got 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			tt.modify(&cfg)
			err := cfg.Validate()
			if got := errString(err); got != tt.want {
				t.Fatalf("Validate() = %q, want %q", got, tt.want)
			}
			s, err := scheduler.New(cfg)
			if got := errString(err); got != tt.want {
				t.Fatalf("New() = %q, want %q", got, tt.want)
			}
			if s != nil {
				s.Close()
			}
		})
	}
	t.Run("a kind registered with WithWindowKind is known to New", func(t *testing.T) {
		cfg := baseConfig()
		cfg.Windows[0].Kind = "leaky"
		s, err := scheduler.New(cfg, scheduler.WithWindowKind("leaky", func(scheduler.WindowConfig) scheduler.Counter { return &gateCounter{open: true} }))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		s.Close()
	})
}

// TestZeroMeansDefault: a zero field is its documented default, in Effective and in the
// scheduler New builds.
func TestZeroMeansDefault(t *testing.T) {
	cfg := baseConfig()
	cfg.Buckets = []scheduler.BucketConfig{{Name: "private"}, {Name: "public", Public: true}}
	cfg.SafetyFraction = 0
	eff := cfg.Effective()
	if eff.SafetyFraction != 0.9 || eff.Buckets[0].MaxConcurrency != 2 || eff.Buckets[1].MaxConcurrency != 4 ||
		eff.Windows[0].Kind != scheduler.KindFixed || eff.Windows[0].Burst != 0.2 || eff.Retries.RateLimit != 2 ||
		eff.AIMD.SuccessRun != 20 || eff.Breakers.Transient.MinCalls != 10 || eff.Breakers.Transient.Window != 30*time.Second {
		t.Fatalf("Effective() = %+v", eff)
	}
	if cfg.Buckets[0].MaxConcurrency != 0 {
		t.Fatal("Effective changed its receiver's buckets")
	}
	s, _ := newScheduler(t, cfg)
	snap := s.Snapshot()
	if snap.Windows[0].SafeLimit != 900 || snap.Buckets[0].Cap != 2 || snap.Buckets[1].Cap != 4 {
		t.Fatalf("snapshot %+v, want safe limit 900 (0.9 of 1000), caps 2 and 4", snap)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestInvalidRequest(t *testing.T) {
	ok := succeed
	tests := []struct {
		name string
		r    *scheduler.Request
		want string
	}{
		{"nil", nil, "nil request"},
		{"no attempt", &scheduler.Request{Bucket: "private"}, "attempt: must be set"},
		{"unknown bucket", &scheduler.Request{Bucket: "nope", Attempt: ok}, `bucket: "nope" is not configured`},
		{"unknown window", &scheduler.Request{Bucket: "private", Attempt: ok, Costs: []scheduler.Cost{{Window: "X", Amount: 1}}}, `costs[0].window: "X" is not configured`},
		{"negative cost", &scheduler.Request{Bucket: "private", Attempt: ok, Costs: []scheduler.Cost{{Window: "W", Amount: -1}}}, "costs[0].amount: must be >= 0, got -1"},
		// A market read may borrow all but the 1% cancel floor of the 90% safe: 891 of 1000.
		{"cost above the usable limit", &scheduler.Request{Bucket: "private", Priority: scheduler.PriorityMarket, Attempt: ok, Costs: []scheduler.Cost{{Window: "W", Amount: 892}}}, `costs[0].amount: 892 exceeds window "W"'s usable 891 at market priority`},
		{"bad priority", &scheduler.Request{Bucket: "private", Priority: 9, Attempt: ok}, "priority: unknown priority(9)"},
		{"cancel that is not a write", &scheduler.Request{Bucket: "private", Cancel: true, Attempt: ok}, "cancel: a cancel must also be a write (set Write)"},
	}
	s, _ := newScheduler(t, baseConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Do(context.Background(), tt.r)
			if !errors.Is(err, scheduler.ErrInvalidRequest) || !strings.HasSuffix(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalidRequest ending %q", err, tt.want)
			}
			if scheduler.ClassOf(err) != scheduler.ClassValidation {
				t.Fatalf("ClassOf = %v", scheduler.ClassOf(err))
			}
		})
	}
}

type gateFunc func(context.Context, scheduler.Priority) error

func (f gateFunc) Allow(ctx context.Context, p scheduler.Priority) error { return f(ctx, p) }

var errHalted = errors.New("halted by operator")

// TestGate: the gate is asked by what a request does, not by its priority: every write that
// is not a cancel is gated, whatever its priority (a new order raised to critical does not
// bypass a halt); cancels pass a closed gate; reads are never gated (an orders manager still
// queries its orders while halted).
func TestGate(t *testing.T) {
	tests := []struct {
		name          string
		p             scheduler.Priority
		write, cancel bool
		gated         bool
	}{
		{"new order at critical", scheduler.PriorityCritical, true, false, true},
		{"new order at orders", scheduler.PriorityOrders, true, false, true},
		{"write at account", scheduler.PriorityAccount, true, false, true},
		{"write at background", scheduler.PriorityBackground, true, false, true},
		{"cancel at critical", scheduler.PriorityCritical, true, true, false},
		{"cancel at orders", scheduler.PriorityOrders, true, true, false},
		{"read at critical", scheduler.PriorityCritical, false, false, false},
		{"read at orders", scheduler.PriorityOrders, false, false, false},
		{"read at account", scheduler.PriorityAccount, false, false, false},
		{"read at market", scheduler.PriorityMarket, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []scheduler.Priority
			s, _ := newScheduler(t, baseConfig(), scheduler.WithGate(gateFunc(func(_ context.Context, p scheduler.Priority) error {
				asked = append(asked, p)
				return errHalted
			})))
			sent := false
			r := req("x", "private", tt.p, 1, func(context.Context, int) scheduler.Outcome { sent = true; return scheduler.Outcome{Status: 200} })
			r.Write, r.Cancel = tt.write, tt.cancel
			_, err := s.Do(context.Background(), r)
			var g *scheduler.GateClosedError
			if tt.gated {
				if !errors.As(err, &g) || !errors.Is(err, errHalted) || scheduler.ClassOf(err) != scheduler.ClassValidation {
					t.Fatalf("err = %v, want a GateClosedError wrapping the gate's", err)
				}
				if sent {
					t.Fatal("sent through a closed gate")
				}
				if len(asked) != 1 || asked[0] != tt.p {
					t.Fatalf("gate asked %v, want once with %s", asked, tt.p)
				}
				return
			}
			if err != nil || !sent {
				t.Fatalf("err = %v, sent %v; want sent through the closed gate", err, sent)
			}
			if len(asked) != 0 {
				t.Fatalf("gate asked %v for a request that must not be gated", asked)
			}
		})
	}
}

// TestGateAskedEveryAttempt: the gate is asked again before a retry, so a halt that comes
// while a new order waits out a 429 stops the retry.
func TestGateAskedEveryAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var halted atomic.Bool
		s, clk := newScheduler(t, baseConfig(), scheduler.WithGate(gateFunc(func(context.Context, scheduler.Priority) error {
			if halted.Load() {
				return errHalted
			}
			return nil
		})))
		attempts := 0
		r := req("order", "private", scheduler.PriorityCritical, 1, func(context.Context, int) scheduler.Outcome {
			attempts++
			halted.Store(true)
			return scheduler.Outcome{Status: 429, RetryAfter: time.Second}
		})
		r.Write = true
		res := doAll(t, s, clk, r)[0]
		if !errors.Is(res.err, errHalted) || attempts != 1 {
			t.Fatalf("err = %v after %d attempts; want the halt before the retry", res.err, attempts)
		}
		s.Close()
	})
}

// TestGateClosesWhileQueued: a gate that closes while an order waits stops it before it is
// sent, and gives its budget back.
func TestGateClosesWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := tightConfig(10)
		cfg.DefaultBudget = 2 * time.Minute
		halted := false
		s, clk := newScheduler(t, cfg, scheduler.WithGate(gateFunc(func(context.Context, scheduler.Priority) error {
			if halted {
				return errHalted
			}
			return nil
		})))
		fill(t, s, scheduler.PriorityCritical, 9, succeed)
		order := req("order", "private", scheduler.PriorityOrders, 3, succeed)
		order.Write = true
		p := goDo(context.Background(), s, order)
		synctest.Wait()
		halted = true
		if err := p.drive(t, clk).err; !errors.Is(err, errHalted) {
			t.Fatalf("err = %v, want the gate's", err)
		}
		if used := windowUsed(s, "W"); used != 0 {
			t.Fatalf("used = %d in the new window, want 0", used)
		}
		s.Close()
	})
}

// TestClose: queued requests and later calls fail with ErrClosed.
func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newScheduler(t, tightConfig(10))
		fill(t, s, scheduler.PriorityCritical, 9, succeed)
		var queued []*pending
		for range 3 {
			queued = append(queued, goDo(context.Background(), s, req("q", "private", scheduler.PriorityOrders, 1, succeed)))
		}
		synctest.Wait()
		s.Close()
		for _, p := range queued {
			if err := p.wait().err; !errors.Is(err, scheduler.ErrClosed) {
				t.Fatalf("queued: %v, want ErrClosed", err)
			}
		}
		if _, err := s.Do(context.Background(), req("late", "private", scheduler.PriorityOrders, 1, succeed)); !errors.Is(err, scheduler.ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
		s.Close()
	})
}

// designFields are docs/architecture.md's "Stable surfaces" log fields: the 16 of the seed,
// kept as they are, then the four issue 19 added. An attempt event has these and no other.
var designFields = []string{"ts", "bot_instance_id", "exchange", "endpoint", "method", "status", "error_code",
	"error_message", "request_id", "attempt", "latency_ms", "rate_limit_bucket", "concurrency_inflight",
	"retry_reason", "delay_ms", "idempotency_key",
	"failure_class", "weight", "queue_wait_ms", "retry_after_ms"}

// logLines parses the JSON events in buf, failing the test unless each has exactly
// designFields.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if got, want := slices.Sorted(maps.Keys(ev)), slices.Sorted(slices.Values(designFields)); !slices.Equal(got, want) {
			t.Fatalf("fields %v, want exactly %v", got, want)
		}
		events = append(events, ev)
	}
	return events
}

// TestLogEvent: one event per attempt with exactly the stable fields, secrets redacted.
func TestLogEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		var events []scheduler.AttemptEvent
		s, clk := newScheduler(t, baseConfig(), scheduler.WithLogger(zerolog.New(&buf)),
			scheduler.WithObserver(func(e scheduler.AttemptEvent) { events = append(events, e) }))
		secret := "signature=0f3a9c5e7b1d2f4a6c8e0b2d4f6a8c0e1f3a5c7e9b1d3f5a"
		r := req("order", "private", scheduler.PriorityOrders, 1, func(_ context.Context, attempt int) scheduler.Outcome {
			clk.Advance(25 * time.Millisecond)
			if attempt == 1 {
				return scheduler.Outcome{Status: 503, Code: -1001, Message: "internal error; " + secret, RequestID: "req-1"}
			}
			return scheduler.Outcome{Status: 200, RequestID: "req-2"}
		})
		r.Method, r.IdempotencyKey = "POST", "keel-abc-1"
		r.RetrySafe = func(context.Context, scheduler.Outcome) (bool, error) { return true, nil }
		r.Write = true
		doAll(t, s, clk, r)
		if strings.Contains(buf.String(), "0f3a9c5e") {
			t.Fatalf("secret in the log:\n%s", buf.String())
		}
		lines := logLines(t, &buf)
		if len(lines) != 2 {
			t.Fatalf("%d log lines, want 2:\n%s", len(lines), buf.String())
		}
		first, second := lines[0], lines[1]
		want := map[string]any{
			"ts": "2025-01-06T12:00:00.025Z", "bot_instance_id": "bot-1", "exchange": "testex", "endpoint": "/api/order",
			"method": "POST", "status": 503.0, "error_code": -1001.0, "error_message": "internal error; signature=[REDACTED]",
			"request_id": "req-1", "attempt": 1.0, "latency_ms": 25.0, "rate_limit_bucket": "private",
			"concurrency_inflight": 1.0, "retry_reason": "unknown", "idempotency_key": "keel-abc-1",
			"failure_class": "unknown", "weight": 1.0, "queue_wait_ms": 0.0, "retry_after_ms": 0.0,
		}
		for k, v := range want {
			if first[k] != v {
				t.Errorf("first event %s = %v, want %v", k, first[k], v)
			}
		}
		if d := first["delay_ms"].(float64); d < 0 || d > 200 {
			t.Errorf("delay_ms = %v, want full jitter in [0, 200)", d)
		}
		if second["attempt"] != 2.0 || second["retry_reason"] != "" || second["delay_ms"] != 0.0 || second["request_id"] != "req-2" ||
			second["failure_class"] != "ok" {
			t.Errorf("second event = %v", second)
		}
		if len(events) != 2 || events[0].Class != scheduler.ClassUnknown || events[1].Class != scheduler.ClassNone || events[0].Latency != 25*time.Millisecond {
			t.Errorf("observer got %+v", events)
		}
		s.Close()
	})
}

// TestLogEventLevels: the logger's level decides which attempts are written (a success at
// info, a failure at warn, an auth failure at error), and no event carries a level field.
func TestLogEventLevels(t *testing.T) {
	tests := []struct {
		level zerolog.Level
		want  []string // endpoints logged, in order
	}{
		{zerolog.DebugLevel, []string{"/api/ok", "/api/rejected", "/api/auth"}},
		{zerolog.InfoLevel, []string{"/api/ok", "/api/rejected", "/api/auth"}},
		{zerolog.WarnLevel, []string{"/api/rejected", "/api/auth"}},
		{zerolog.ErrorLevel, []string{"/api/auth"}},
		{zerolog.Disabled, nil},
	}
	for _, tt := range tests {
		t.Run(tt.level.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var buf bytes.Buffer
				s, clk := newScheduler(t, baseConfig(), scheduler.WithLogger(zerolog.New(&buf).Level(tt.level)))
				for _, o := range []struct {
					name string
					out  scheduler.Outcome
				}{{"ok", scheduler.Outcome{Status: 200}}, {"rejected", scheduler.Outcome{Status: 400}}, {"auth", scheduler.Outcome{Status: 401}}} {
					doAll(t, s, clk, req(o.name, "private", scheduler.PriorityOrders, 1, func(context.Context, int) scheduler.Outcome { return o.out }))
				}
				var got []string
				for _, ev := range logLines(t, &buf) {
					got = append(got, ev["endpoint"].(string))
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("logged %v, want %v", got, tt.want)
				}
				s.Close()
			})
		})
	}
}

// TestLogEventRedactsEndpointAndRequestID: a secret an adapter put in the endpoint or the
// request id does not reach the log, the observers or the error's text; a path keeps its
// shape and a UUID request id is kept whole.
func TestLogEventRedactsEndpointAndRequestID(t *testing.T) {
	const sig = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
	const key = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
	const uuid = "1e2b5b6c-3b0a-4d5f-9b0e-7d0c4a1f2e3d"
	tests := []struct {
		name, endpoint, requestID string
		wantEndpoint, wantID      string
	}{
		{"signed query", "/api/v3/order?symbol=BTCUSDT&timestamp=1700000000000&signature=" + sig, uuid,
			"/api/v3/order?symbol=BTCUSDT&timestamp=1700000000000&signature=[REDACTED]", uuid},
		{"key in a path segment", "/api/v3/userDataStream/" + key, "listenKey=" + key,
			"/api/v3/userDataStream/[REDACTED]", "listenKey=[REDACTED]"},
		{"long path, nothing secret", "/sapi/v1/sub-account/universalTransfer", "req-7",
			"/sapi/v1/sub-account/universalTransfer", "req-7"},
		{"bare signature as request id", "/api/v3/account", sig, "/api/v3/account", "[REDACTED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var buf bytes.Buffer
				var events []scheduler.AttemptEvent
				s, clk := newScheduler(t, baseConfig(), scheduler.WithLogger(zerolog.New(&buf)),
					scheduler.WithObserver(func(e scheduler.AttemptEvent) { events = append(events, e) }))
				r := req("x", "private", scheduler.PriorityOrders, 1, func(context.Context, int) scheduler.Outcome {
					return scheduler.Outcome{Status: 400, Code: -1102, Message: "Illegal characters found in parameter 'signature'; signature=" + sig,
						RequestID: tt.requestID, Err: errors.New("POST " + tt.endpoint + ": bad request")}
				})
				r.Endpoint = tt.endpoint
				res := doAll(t, s, clk, r)[0]
				lines := logLines(t, &buf)
				if len(lines) != 1 || lines[0]["endpoint"] != tt.wantEndpoint || lines[0]["request_id"] != tt.wantID {
					t.Fatalf("events %v, want endpoint %q, request_id %q", lines, tt.wantEndpoint, tt.wantID)
				}
				if len(events) != 1 || events[0].Endpoint != tt.wantEndpoint || events[0].RequestID != tt.wantID {
					t.Fatalf("observer got %+v", events)
				}
				var e *scheduler.Error
				if !errors.As(res.err, &e) {
					t.Fatalf("err = %v, want *Error", res.err)
				}
				for what, text := range map[string]string{"log": buf.String(), "error": res.err.Error(), "error's message": e.Outcome.Message} {
					if strings.Contains(text, sig[:16]) || strings.Contains(text, key[:16]) {
						t.Errorf("secret in the %s: %s", what, text)
					}
				}
				s.Close()
			})
		})
	}
}

// TestAIMDHalvesBucketOn429 checks the wiring: a 429 halves the bucket's live limit.
func TestAIMDHalvesBucketOn429(t *testing.T) {
	s, _ := newScheduler(t, breakerConfig())
	do(s, "b0", scheduler.Outcome{Status: 429})
	for _, b := range s.Snapshot().Buckets {
		if b.Name == "b0" && (b.Limit != 1 || b.Cap != 4 || b.HeldUntil.IsZero()) {
			t.Fatalf("bucket %+v, want limit 1 of 4, held", b)
		}
	}
}

// TestAIMDGrowsThroughScheduler: through the scheduler, a bucket's live limit grows by one
// after 20 consecutive successes (a transient failure restarts the run; a validation
// refusal says nothing about load and neither counts nor restarts it), never above the cap,
// and the limit is what caps requests in flight.
func TestAIMDGrowsThroughScheduler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := baseConfig()
		cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 6}} // starts at 3
		cfg.Windows = []scheduler.WindowConfig{{Name: "W", Limit: 100000, Interval: time.Minute, Burst: 1}}
		cfg.Retries.Transient = -1
		s, clk := newScheduler(t, cfg)
		limit := func() int { return s.Snapshot().Buckets[0].Limit }
		send := func(n int, o scheduler.Outcome) {
			for range n {
				doAll(t, s, clk, req("x", "private", scheduler.PriorityOrders, 1, func(context.Context, int) scheduler.Outcome { return o }))
			}
		}
		ok, unavailable, rejected := scheduler.Outcome{Status: 200}, scheduler.Outcome{Status: 503}, scheduler.Outcome{Status: 400}
		steps := []struct {
			n    int
			o    scheduler.Outcome
			want int
		}{
			{19, ok, 3}, {1, ok, 4},
			{19, ok, 4}, {1, unavailable, 4}, {19, ok, 4}, {1, ok, 5},
			{10, ok, 5}, {1, rejected, 5}, {10, ok, 6},
			{60, ok, 6}, // the cap
		}
		if limit() != 3 {
			t.Fatalf("start limit %d, want 3 (half the cap)", limit())
		}
		for i, st := range steps {
			send(st.n, st.o)
			if got := limit(); got != st.want {
				t.Fatalf("step %d (%d x %d): limit %d, want %d", i, st.n, st.o.Status, got, st.want)
			}
		}

		// At the cap, 6 requests go out at once and the others wait.
		release := make(chan struct{})
		var mu sync.Mutex
		inflight, most := 0, 0
		var reqs []*scheduler.Request
		for range 10 {
			reqs = append(reqs, req("x", "private", scheduler.PriorityOrders, 1, func(context.Context, int) scheduler.Outcome {
				mu.Lock()
				inflight++
				most = max(most, inflight)
				mu.Unlock()
				<-release
				mu.Lock()
				inflight--
				mu.Unlock()
				return ok
			}))
		}
		var ps []*pending
		for _, r := range reqs {
			ps = append(ps, goDo(context.Background(), s, r))
		}
		synctest.Wait()
		if q := s.Snapshot().Queued["orders"]; most != 6 || q != 4 {
			t.Fatalf("%d in flight, %d queued; want 6 (the cap) and 4", most, q)
		}
		close(release)
		for _, p := range ps {
			if res := p.wait(); res.err != nil {
				t.Fatalf("Do: %v", res.err)
			}
		}
		if most != 6 || limit() != 6 {
			t.Fatalf("at most %d in flight, limit %d; want 6, never above the cap", most, limit())
		}
		s.Close()
	})
}
