package binance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// Scheduler is what the adapter needs from the account's scheduler: *scheduler.Scheduler
// satisfies it. If it also has SetWindowLimit(name string, limit int64, interval
// time.Duration) error, ExchangeInfo teaches it the announced limits; if it has
// SetClockOffset(time.Duration), every server-time sync aligns its fixed windows to the
// exchange's clock, and if it has SetClockUncertainty(time.Duration) too, tells it how far off
// that alignment may be.
type Scheduler = rest.Scheduler

// limitSetter, clockSetter and uncertaintySetter are the optional parts of a Scheduler.
type limitSetter interface {
	SetWindowLimit(name string, limit int64, interval time.Duration) error
}

type clockSetter interface {
	SetClockOffset(d time.Duration)
}

type uncertaintySetter interface {
	SetClockUncertainty(d time.Duration)
}

// Option customizes a Client.
type Option = rest.Option

// WithHTTPClient sets the HTTP client (default: a client without an overall timeout; each
// attempt is bounded by Config.Timeout). Redirects are never followed.
func WithHTTPClient(h *http.Client) Option { return rest.WithHTTPClient(h) }

// WithClock sets the local clock (default: the wall clock).
func WithClock(clk clock.Clock) Option { return rest.WithClock(clk) }

// maxBody bounds an answer of an endpoint without its own bound (bodies.go).
const maxBody = bodyLarge

// maxRetryAfter bounds a wait we honour (Binance's longest ban is 3 days).
const maxRetryAfter = 72 * time.Hour

// Client is the Binance Spot adapter. It implements adapters.Exchange. Its zero value is not
// usable; build one with New. A Client is safe for concurrent use.
type Client struct {
	cfg    Config  // with its secrets removed: they live behind key and signer
	key    *Secret // the API key; a pointer so that even %v of a Client value prints no key
	sched  Scheduler
	rest   *rest.Client
	clock  clock.Clock
	signer signer // nil for a public-only config
	time   *rest.TimeKeeper

	mu        sync.Mutex
	intervals map[string]time.Duration // window → interval, for reading usage headers
	limits    map[string]int64         // window → announced limit, the most a usage header may say
}

// New builds a Client. It validates cfg (after defaults) and reads the signing key.
func New(cfg Config, sched Scheduler, opts ...Option) (*Client, error) {
	if sched == nil {
		return nil, errors.New("binance: New: nil scheduler")
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := cfg.signer()
	if err != nil {
		return nil, err
	}
	key := cfg.APIKey
	cfg.APIKey, cfg.APISecret, cfg.Ed25519PrivateKey = "", "", ""
	c := &Client{cfg: cfg, key: &key, sched: sched, signer: s}
	c.rest, err = rest.New(rest.Config{Name: "binance", BaseURL: cfg.BaseURL, Timeout: cfg.Timeout, MaxBody: maxBody,
		MaxRetryAfter: maxRetryAfter, RequestIDHeader: "X-Mbx-Uuid", Classify: c.classifyAnswer}, sched, opts...)
	if err != nil {
		return nil, err
	}
	c.clock = c.rest.Clock()
	c.time = rest.NewTimeKeeper("binance", c.clock, time.Duration(cfg.RecvWindow)*time.Millisecond)
	c.intervals, c.limits = map[string]time.Duration{}, map[string]int64{}
	for _, l := range DefaultRateLimits() {
		c.intervals[l.Window], c.limits[l.Window] = l.Interval, l.Limit
	}
	return c, nil
}

// Name returns "binance".
func (c *Client) Name() string { return "binance" }

// String describes the client without its credentials.
func (c *Client) String() string {
	kind := "public"
	if c.signer != nil {
		kind = c.signer.kind()
	}
	return "binance.Client{base_url: " + c.cfg.BaseURL + ", key: " + kind + "}"
}

// GoString keeps %#v from printing the credentials.
func (c *Client) GoString() string { return c.String() }

// call is one REST call: its endpoint, parameters, the weight it consumes, and how to read a
// successful answer.
type call struct {
	ep       endpoint
	params   params
	weight   int64
	priority scheduler.Priority
	key      string // idempotency key, for the log
	retry    scheduler.RetrySafeFunc
	// parse reads a 2xx answer; an error makes the attempt a classified failure.
	parse func(body []byte) error
	// sending, if set, is told the local time just before each attempt is sent.
	sending func(time.Time)
}

// ErrNoCredentials is returned, classified auth, for a signed call on a public-only client.
var ErrNoCredentials = errors.New("binance: no API key configured for a signed endpoint")

// localError is a failure found before anything was sent, in the scheduler's error type so
// that scheduler.ClassOf reads its class.
func localError(class scheduler.Class, err error) error { return rest.LocalError(class, err) }

// do runs a call through the scheduler and returns the final outcome.
func (c *Client) do(ctx context.Context, cl call) (scheduler.Outcome, error) {
	if cl.ep.signed {
		if c.signer == nil {
			return scheduler.Outcome{}, localError(scheduler.ClassAuth, ErrNoCredentials)
		}
		if err := c.syncTimeIfNeeded(ctx, cl.priority); err != nil {
			return scheduler.Outcome{}, err
		}
	}
	return c.rest.Do(ctx, rest.Call{
		Endpoint:       cl.ep.path,
		Method:         cl.ep.method,
		Bucket:         cl.ep.bucket,
		Priority:       cl.priority,
		Costs:          cl.ep.costs(cl.weight),
		Write:          cl.ep.write,
		Cancel:         cl.ep.cancels(),
		IdempotencyKey: cl.key,
		RetrySafe:      cl.retry,
		Build:          func(ctx context.Context) (*http.Request, error) { return c.build(ctx, cl) },
		Parse:          cl.parse,
		Sending:        cl.sending,
		MaxBody:        cl.ep.maxBody,
	})
}

// syncTimeIfNeeded measures the exchange's clock before a signed request when the offset is
// missing, old, or was contradicted by a -1021 (GET /api/v3/time, weight 1, at priority p).
func (c *Client) syncTimeIfNeeded(ctx context.Context, p scheduler.Priority) error {
	if !c.time.NeedsSync(c.clock.Now()) {
		return nil
	}
	return c.syncTime(ctx, p)
}

// cancels reports whether the endpoint only takes exposure away: Binance Spot's writes by
// DELETE are its cancels (an order, all open orders of a symbol, an order list). The
// scheduler lets them through a halt; everything else that writes is gated.
func (e endpoint) cancels() bool { return e.write && e.method == http.MethodDelete }

// build signs one attempt: a fresh timestamp each time, the signature over Binance's payload
// (the percent-encoded query concatenated with the percent-encoded body).
func (c *Client) build(ctx context.Context, cl call) (*http.Request, error) {
	query, body := "", ""
	encoded := cl.params.Encode()
	if cl.ep.signed {
		ts, err := c.time.Timestamp(c.clock.Now())
		if err != nil {
			// Nothing is sent: a drifted clock is an operator problem, escalated as auth.
			return nil, localError(scheduler.ClassAuth, err)
		}
		extra := params{{"recvWindow", strconv.Itoa(c.cfg.RecvWindow)}, {"timestamp", strconv.FormatInt(ts.UnixMilli(), 10)}}.Encode()
		if encoded != "" {
			encoded += "&"
		}
		encoded += extra
	}
	if cl.ep.method == http.MethodPost {
		body = encoded
	} else {
		query = encoded
	}
	if cl.ep.signed {
		sig := c.signer.sign(signPayload(query, body))
		if body != "" {
			body = withSignature(body, sig)
		} else {
			query = withSignature(query, sig)
		}
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, cl.ep.method, c.rest.URL(cl.ep.path, query), rd)
	if err != nil {
		return nil, fmt.Errorf("binance: building request: %s", cl.ep.path)
	}
	if body != "" {
		hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cl.ep.signed {
		hreq.Header.Set("X-MBX-APIKEY", string(*c.key))
	}
	return hreq, nil
}

// classifyAnswer reads an answer's usage headers and, for a non-2xx, its error code into the
// outcome: the class (classify), a ban's end, the ORDERS limit, a stale clock after -1021.
func (c *Client) classifyAnswer(a rest.Answer, out *scheduler.Outcome) {
	out.Usage = c.usage(a.Header)
	if a.Status >= 200 && a.Status < 300 {
		if signedEndpoint(a.Method, a.Endpoint) {
			c.time.Accepted(a.Sent)
		}
		return
	}
	code, msg, _ := parseError(a.Body)
	out.Code, out.Message = code, msg
	class, ban := classify(a.Status, code, a.Write)
	out.Class, out.Ban = class, ban
	// -1015 is the ORDERS limit (the account's unfilled order count): it holds new orders
	// only. Cancels lower that count, and Binance keeps answering them.
	out.OrderLimit = code == -1015
	if ban && out.RetryAfter == 0 {
		out.RetryAfter = banUntil(msg, a.Now.Add(c.time.Offset(a.Now)))
	}
	if code == -1021 {
		// Our offset is stale, or the exchange's clock stepped (rest.TimeKeeper.Refused).
		c.time.ClassifyRefusal(a, out)
	}
}

// usage reads the X-MBX-USED-WEIGHT-* and X-MBX-ORDER-COUNT-* headers into scheduler usage,
// each clamped to its window's announced limit.
func (c *Client) usage(h http.Header) []scheduler.Usage {
	var out []scheduler.Usage
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, vals := range h {
		if len(vals) == 0 {
			continue
		}
		var kind, suffix string
		upper := strings.ToUpper(name)
		switch {
		case strings.HasPrefix(upper, "X-MBX-USED-WEIGHT-"):
			kind, suffix = "REQUEST_WEIGHT", upper[len("X-MBX-USED-WEIGHT-"):]
		case strings.HasPrefix(upper, "X-MBX-ORDER-COUNT-"):
			kind, suffix = "ORDERS", upper[len("X-MBX-ORDER-COUNT-"):]
		default:
			continue
		}
		d, ok := parseIntervalSuffix(suffix)
		if !ok {
			continue
		}
		used, err := strconv.ParseInt(strings.TrimSpace(vals[0]), 10, 64)
		if err != nil || used < 0 || used > maxLimit {
			continue
		}
		for w, iv := range c.intervals {
			if iv == d && strings.HasPrefix(w, kind+"_") {
				// Clamped to the announced limit: a count past it says "full" and no more (a
				// hostile 999,999,999 must not read as a window full for ages).
				out = append(out, scheduler.Usage{Window: w, Used: min(used, c.limits[w])})
			}
		}
	}
	return out
}

// retryAfter reads a Retry-After header: seconds (Binance's form; fractions accepted) or an
// HTTP date.
func retryAfter(v string, now time.Time) time.Duration { return rest.RetryAfter(v, now, maxRetryAfter) }

// banUntil reads "IP banned until 1620286253180" from a 418's message when it came without
// Retry-After; serverNow is the exchange's clock.
func banUntil(msg string, serverNow time.Time) time.Duration {
	const marker = "banned until "
	i := strings.Index(msg, marker)
	if i < 0 {
		return 0
	}
	digits := msg[i+len(marker):]
	j := 0
	for j < len(digits) && digits[j] >= '0' && digits[j] <= '9' {
		j++
	}
	ms, err := strconv.ParseInt(digits[:j], 10, 64)
	if err != nil {
		return 0
	}
	return rest.Until(time.UnixMilli(ms), serverNow, maxRetryAfter)
}

// SyncTime measures the offset between the exchange's clock and the local one with
// GET /api/v3/time (background priority) and passes it to the scheduler. Signed calls sync
// on their own when the offset is missing, stale, or was contradicted by a -1021.
func (c *Client) SyncTime(ctx context.Context) error {
	return c.syncTime(ctx, scheduler.PriorityBackground)
}

func (c *Client) syncTime(ctx context.Context, p scheduler.Priority) error {
	var server, sent, received time.Time
	_, err := c.do(ctx, call{ep: epTime, weight: epTime.weight, priority: p,
		sending: func(t time.Time) { sent = t },
		parse: func(body []byte) error {
			received = c.clock.Now()
			t, err := parseServerTime(body)
			server = t
			return err
		}})
	if err != nil {
		return err
	}
	// The server read its clock somewhere in the round trip; assume half-way.
	off := c.time.Record(server, sent, received)
	if cs, ok := c.sched.(clockSetter); ok {
		cs.SetClockOffset(off)
	}
	if us, ok := c.sched.(uncertaintySetter); ok {
		// Half the round trip either way, and the millisecond serverTime is rounded down to.
		us.SetClockUncertainty(max(received.Sub(sent), 0)/2 + time.Millisecond)
	}
	return nil
}
