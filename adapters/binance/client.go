package binance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// Scheduler is what the adapter needs from the account's scheduler: *scheduler.Scheduler
// satisfies it. If it also has SetWindowLimit(name string, limit int64, interval
// time.Duration) error, ExchangeInfo teaches it the announced limits; if it has
// SetClockOffset(time.Duration), every server-time sync aligns its fixed windows to the
// exchange's clock.
type Scheduler interface {
	Do(ctx context.Context, r *scheduler.Request) (scheduler.Outcome, error)
}

// limitSetter and clockSetter are the optional parts of a Scheduler.
type limitSetter interface {
	SetWindowLimit(name string, limit int64, interval time.Duration) error
}

type clockSetter interface {
	SetClockOffset(d time.Duration)
}

// Option customizes a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: a client without an overall timeout; each
// attempt is bounded by Config.Timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithClock sets the local clock (default: the wall clock).
func WithClock(clk clock.Clock) Option { return func(c *Client) { c.clock = clk } }

// maxBody bounds an answer's size; exchangeInfo for every symbol is the largest (a few MB).
const maxBody = 32 << 20

// Client is the Binance Spot adapter. It implements adapters.Exchange. Its zero value is not
// usable; build one with New. A Client is safe for concurrent use.
type Client struct {
	cfg    Config  // with its secrets removed: they live behind key and signer
	key    *Secret // the API key; a pointer so that even %v of a Client value prints no key
	base   *url.URL
	sched  Scheduler
	http   *http.Client
	clock  clock.Clock
	signer signer // nil for a public-only config
	time   *timeKeeper

	mu        sync.Mutex
	intervals map[string]time.Duration // window → interval, for reading usage headers
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
	base, _ := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	key := cfg.APIKey
	cfg.APIKey, cfg.APISecret, cfg.Ed25519PrivateKey = "", "", ""
	c := &Client{cfg: cfg, key: &key, base: base, sched: sched, http: &http.Client{}, clock: clock.Real{}, signer: s}
	for _, o := range opts {
		o(c)
	}
	c.time = &timeKeeper{clock: c.clock, recvWindow: time.Duration(cfg.RecvWindow) * time.Millisecond}
	c.intervals = map[string]time.Duration{}
	for _, l := range DefaultRateLimits() {
		c.intervals[l.Window] = l.Interval
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
func localError(class scheduler.Class, err error) error {
	return &scheduler.Error{Class: class, Cause: err}
}

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
	req := &scheduler.Request{
		Endpoint:       cl.ep.path,
		Method:         cl.ep.method,
		Bucket:         cl.ep.bucket,
		Priority:       cl.priority,
		Costs:          cl.ep.costs(cl.weight),
		Write:          cl.ep.write,
		Cancel:         cl.ep.cancels(),
		IdempotencyKey: cl.key,
		RetrySafe:      cl.retry,
		Attempt: func(ctx context.Context, attempt int) scheduler.Outcome {
			return c.attempt(ctx, cl)
		},
	}
	return c.sched.Do(ctx, req)
}

// syncTimeIfNeeded measures the exchange's clock before a signed request when the offset is
// missing, old, or was contradicted by a -1021 (GET /api/v3/time, weight 1, at priority p).
func (c *Client) syncTimeIfNeeded(ctx context.Context, p scheduler.Priority) error {
	if !c.time.needsSync(c.clock.Now()) {
		return nil
	}
	return c.syncTime(ctx, p)
}

// cancels reports whether the endpoint only takes exposure away: Binance Spot's writes by
// DELETE are its cancels (an order, all open orders of a symbol, an order list). The
// scheduler lets them through a halt; everything else that writes is gated.
func (e endpoint) cancels() bool { return e.write && e.method == http.MethodDelete }

// attempt performs one HTTP try and describes its outcome to the scheduler.
func (c *Client) attempt(ctx context.Context, cl call) scheduler.Outcome {
	write := cl.ep.write
	query, body := "", ""
	encoded := cl.params.encode()
	if cl.ep.signed {
		ts, err := c.time.timestamp(c.clock.Now())
		if err != nil {
			// Nothing is sent: a drifted clock is an operator problem, escalated as auth.
			return scheduler.Outcome{Class: scheduler.ClassAuth, Err: err}
		}
		extra := params{{"recvWindow", strconv.Itoa(c.cfg.RecvWindow)}, {"timestamp", strconv.FormatInt(ts, 10)}}.encode()
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

	u := *c.base
	u.Path = c.base.Path + cl.ep.path
	u.RawQuery = query
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var written bool
	var wmu sync.Mutex
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		wmu.Lock()
		written = written || i.Err == nil
		wmu.Unlock()
	}}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(actx, trace), cl.ep.method, u.String(), rd)
	if err != nil {
		return scheduler.Outcome{Class: scheduler.ClassValidation, Err: fmt.Errorf("binance: building request: %s", cl.ep.path)}
	}
	if body != "" {
		hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cl.ep.signed {
		hreq.Header.Set("X-MBX-APIKEY", string(*c.key))
	}
	if cl.sending != nil {
		cl.sending(c.clock.Now())
	}
	resp, err := c.http.Do(hreq)
	wmu.Lock()
	wasWritten := written
	wmu.Unlock()
	if err != nil {
		// A context error before anything was written is the caller's cancellation.
		return scheduler.Outcome{Class: transportClass(wasWritten, write), Err: sanitizeTransport(err, cl.ep)}
	}
	defer resp.Body.Close()
	out := scheduler.Outcome{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Mbx-Uuid")}
	out.Usage = c.usage(resp.Header)
	out.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.clock.Now())
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err == nil && len(raw) > maxBody {
		err = errors.New("answer larger than 32 MiB")
	}
	if err != nil {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			// The exchange answered but we cannot read it: for a write the effect is unknown.
			out.Class = transportClass(true, write)
			out.Err = fmt.Errorf("%w: %s %s: reading the answer: %s", ErrMalformedAnswer, cl.ep.method, cl.ep.path, sanitizeTransport(err, cl.ep))
			return out
		}
		raw = nil
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if perr := cl.parse(raw); perr != nil {
			out.Class = transportClass(true, write)
			out.Err = fmt.Errorf("%s %s: %w", cl.ep.method, cl.ep.path, perr)
		}
		return out
	}
	code, msg, _ := parseError(raw)
	out.Code, out.Message = code, msg
	class, ban := classify(resp.StatusCode, code, write)
	out.Class, out.Ban = class, ban
	// -1015 is the ORDERS limit (the account's unfilled order count): it holds new orders
	// only. Cancels lower that count, and Binance keeps answering them.
	out.OrderLimit = code == -1015
	if ban && out.RetryAfter == 0 {
		out.RetryAfter = banUntil(msg, c.clock.Now().Add(c.time.currentOffset(c.clock.Now())))
	}
	if code == -1021 {
		// Our offset is stale (or the exchange stepped): resync before the next signature.
		c.time.markStale()
	}
	return out
}

// sanitizeTransport strips the request URL (it carries the signature and parameters) from
// a transport error, keeping the method, path and cause.
func sanitizeTransport(err error, ep endpoint) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: ep.path, Err: ue.Err}
	}
	return err
}

// usage reads the X-MBX-USED-WEIGHT-* and X-MBX-ORDER-COUNT-* headers into scheduler usage.
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
				out = append(out, scheduler.Usage{Window: w, Used: used})
			}
		}
	}
	return out
}

// maxRetryAfter bounds a Retry-After we honour (Binance's longest ban is 3 days).
const maxRetryAfter = 72 * time.Hour

// retryAfter reads a Retry-After header: seconds (Binance's form; fractions accepted) or an
// HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs != secs {
			return 0
		}
		if secs > maxRetryAfter.Seconds() {
			return maxRetryAfter
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d <= 0 {
			return 0
		}
		return min(d, maxRetryAfter)
	}
	return 0
}

// banUntil reads "IP banned until 1620286253180" from a 418's message when it came without
// Retry-After; serverNow is the exchange's clock.
func banUntil(msg string, serverNow time.Time) time.Duration {
	const marker = "banned until "
	i := strings.Index(msg, marker)
	if i < 0 {
		return 0
	}
	rest := msg[i+len(marker):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	ms, err := strconv.ParseInt(rest[:j], 10, 64)
	if err != nil {
		return 0
	}
	d := time.UnixMilli(ms).Sub(serverNow)
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
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
	off := c.time.record(server, sent, received)
	if cs, ok := c.sched.(clockSetter); ok {
		cs.SetClockOffset(off)
	}
	return nil
}
