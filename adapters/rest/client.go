package rest

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

// Scheduler is what a Client needs from the account's scheduler; *scheduler.Scheduler
// satisfies it.
type Scheduler interface {
	Do(ctx context.Context, r *scheduler.Request) (scheduler.Outcome, error)
}

// Defaults applied by New to zero Config fields.
const (
	// DefaultTimeout bounds one HTTP attempt.
	DefaultTimeout = 15 * time.Second
	// DefaultMaxBody bounds an answer's size (Binance's exchangeInfo for every symbol, the
	// largest answer of the exchanges Keel speaks, is a few MB).
	DefaultMaxBody = 32 << 20
	// DefaultMaxRetryAfter bounds a wait an answer may impose (Binance's longest IP ban is 3
	// days); anything longer is taken as this.
	DefaultMaxRetryAfter = 72 * time.Hour
)

// ErrMalformedAnswer matches (errors.Is) an answer an adapter could not read: bad JSON,
// wrong types, missing fields, numbers that are not plain decimals, values that make no
// sense. For a read it is a transient failure; for a write it leaves the outcome unknown.
var ErrMalformedAnswer = errors.New("malformed answer")

// ErrRedirect matches an answer that redirected the request elsewhere: never followed, so
// the credentials and the signed body stay with the exchange's host. For a write the outcome
// is unknown (scheduler.Classify), for a read it is transient.
var ErrRedirect = errors.New("redirect refused")

// redirectTarget is a Location's scheme, host and path: its query may carry a signature.
func redirectTarget(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		return "an unreadable location"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// Config configures a Client. Zero values take the defaults above.
type Config struct {
	// Name is the exchange's name, prefixed to errors ("bybit").
	Name string
	// BaseURL is the REST root ("https://api.bybit.com"); paths are appended to it.
	BaseURL string
	// Timeout bounds one attempt, from building the request to reading the whole answer.
	Timeout time.Duration
	// MaxBody bounds an answer's size; a larger success is malformed.
	MaxBody int64
	// MaxRetryAfter bounds what RetryAfter reads.
	MaxRetryAfter time.Duration
	// RequestIDHeader names the answer header that carries the exchange's request id, which
	// the attempt's log event shows ("X-Mbx-Uuid"); empty: none.
	RequestIDHeader string
	// Classify reads an answer into out, whose Status, RequestID and RetryAfter (from the
	// Retry-After header) are already set: it sets the Class (and Code, Message, Usage, Ban,
	// RetryAfter, OrderLimit as the exchange tells them). An answer it leaves ClassNone is
	// classified by status alone: a 2xx is a success and is parsed by Call.Parse. Required.
	Classify func(a Answer, out *scheduler.Outcome)
}

// Answer is what an attempt received, for Config.Classify.
type Answer struct {
	// Endpoint and Method are the call's (Call.Endpoint, Call.Method): an exchange whose
	// limits and usage headers are per endpoint reads them by it.
	Endpoint, Method string
	Status           int
	Header           http.Header
	// Body is the answer's body, at most the call's body limit; nil when it could not be read.
	Body []byte
	// Write is the call's Write: an answer that leaves a write's effect unknown must be
	// classified scheduler.ClassUnknown, a read's scheduler.ClassTransient.
	Write bool
	// Now is the local time the answer was read.
	Now time.Time
	// Sent is the local time the attempt was sent (its signature's time).
	Sent time.Time
}

// Option customizes a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: one without an overall timeout; each attempt
// is bounded by Config.Timeout). Its redirect policy is replaced: a Client never follows one.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithClock sets the local clock (default: the wall clock).
func WithClock(clk clock.Clock) Option { return func(c *Client) { c.clock = clk } }

// Client runs REST calls through a scheduler. Build one with New; it is safe for concurrent
// use.
type Client struct {
	cfg   Config
	base  *url.URL
	sched Scheduler
	http  *http.Client
	clock clock.Clock
}

// New builds a Client. BaseURL must be an absolute http(s) URL without query.
func New(cfg Config, sched Scheduler, opts ...Option) (*Client, error) {
	if sched == nil {
		return nil, errors.New(cfg.Name + ": nil scheduler")
	}
	if cfg.Classify == nil {
		return nil, errors.New(cfg.Name + ": rest.Config.Classify is nil")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	base, err := ParseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("%s: base_url: %w", cfg.Name, err)
	}
	c := &Client{cfg: cfg, base: base, sched: sched, http: &http.Client{}, clock: clock.Real{}}
	for _, o := range opts {
		o(c)
	}
	h := *c.http // a copy: the caller's client keeps its own policy
	h.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &h
	return c, nil
}

// ParseBaseURL checks a REST root: an absolute http(s) URL with a host and no query or
// fragment. The trailing slash is dropped.
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("expected an http(s) URL without query, got %q", raw)
	}
	return u, nil
}

// Clock is the client's local clock.
func (c *Client) Clock() clock.Clock { return c.clock }

// BaseURL is the REST root, without a trailing slash.
func (c *Client) BaseURL() string { return c.base.String() }

// URL is the absolute URL of path with an encoded query (may be empty).
func (c *Client) URL(path, query string) string {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query
	return u.String()
}

// Call is one REST call: how to describe it to the scheduler, how to build each attempt and
// how to read a success.
type Call struct {
	// Endpoint and Method name the call in logs and metrics ("/v5/order/create", "POST").
	Endpoint, Method string
	Bucket           string
	Priority         scheduler.Priority
	Costs            []scheduler.Cost
	// Write marks a call that changes state at the exchange; Cancel one that only takes
	// exposure away (it passes a halt).
	Write, Cancel  bool
	IdempotencyKey string
	RetrySafe      scheduler.RetrySafeFunc
	// Build returns one attempt's request, built with ctx (it carries the attempt's timeout
	// and the trace that tells whether the request was written). It signs afresh: a new
	// timestamp, nonce or token per attempt. An error fails the attempt unsent, in the class
	// scheduler.ClassOf reads from it (validation when it has none).
	Build func(ctx context.Context) (*http.Request, error)
	// Written, if set, is called once per attempt whose Build succeeded: as soon as the
	// request has been written to the connection, or when the attempt ends without it.
	// (An exchange whose nonces must arrive in order holds a lock from Build until then.)
	Written func()
	// Parse reads a success's body; an error makes the answer malformed.
	Parse func(body []byte) error
	// MaxBody, if > 0, bounds this call's answer instead of Config.MaxBody: size it to what
	// the endpoint returns (a ticker is a few hundred bytes, a full exchange info megabytes),
	// so a hostile or broken answer costs that much memory at most.
	MaxBody int64
	// Sending, if set, is told the local time just before each attempt is sent.
	Sending func(time.Time)
}

// LocalError is a failure found before anything was sent, in the scheduler's error type so
// that scheduler.ClassOf reads its class.
func LocalError(class scheduler.Class, err error) error {
	return &scheduler.Error{Class: class, Cause: err}
}

// Do runs call through the scheduler and returns the final outcome.
func (c *Client) Do(ctx context.Context, call Call) (scheduler.Outcome, error) {
	req := &scheduler.Request{
		Endpoint:       call.Endpoint,
		Method:         call.Method,
		Bucket:         call.Bucket,
		Priority:       call.Priority,
		Costs:          call.Costs,
		Write:          call.Write,
		Cancel:         call.Cancel,
		IdempotencyKey: call.IdempotencyKey,
		RetrySafe:      call.RetrySafe,
		Attempt: func(ctx context.Context, _ int) scheduler.Outcome {
			return c.attempt(ctx, &call)
		},
	}
	return c.sched.Do(ctx, req)
}

// Fetch runs a read and parses its success into a T: what every read method shares.
func Fetch[T any](ctx context.Context, c *Client, call Call, parse func([]byte) (T, error)) (T, error) {
	var out T
	call.Parse = func(b []byte) (err error) { out, err = parse(b); return err }
	_, err := c.Do(ctx, call)
	return out, err
}

// TransportClass is the class of an attempt that got no usable answer: a write whose request
// was written may have landed (unknown); anything else is transient.
func TransportClass(written, write bool) scheduler.Class {
	if write && written {
		return scheduler.ClassUnknown
	}
	return scheduler.ClassTransient
}

// attempt performs one HTTP try and describes its outcome to the scheduler.
func (c *Client) attempt(ctx context.Context, call *Call) scheduler.Outcome {
	if err := ctx.Err(); err != nil {
		return scheduler.Outcome{Class: scheduler.ClassTransient, Err: err} // nothing sent
	}
	var (
		wmu     sync.Mutex
		written bool
		started bool // a write has its connection: the transport may write it at any moment
		once    sync.Once
	)
	// A write that may have left is seen through to its answer: cancelling the caller's
	// context (a strategy stopping, a shutdown) after that would turn an order the exchange is
	// placing into an unknown outcome. So a write's context ends with the caller's only until
	// the transport has a connection for it; after that only Config.Timeout ends it.
	// The cut-off is the connection, not the trace's WroteRequest: a cut is asynchronous (the
	// transport closes the connection when its round-trip goroutine next runs), and the
	// transport's writer, which reports WroteRequest before it flushes, goes on writing
	// meanwhile, so on a loaded machine a placement "cut before it was written" often reached
	// the exchange anyway, its outcome unknown (the example bot's SIGTERM test left such an
	// entry in the journal). Before a connection is in hand nothing can be written.
	parent := ctx
	if call.Write {
		parent = context.WithoutCancel(ctx)
	}
	actx, cancel := context.WithTimeout(parent, c.cfg.Timeout)
	defer cancel()
	if call.Write {
		stop := context.AfterFunc(ctx, func() {
			wmu.Lock()
			defer wmu.Unlock()
			if !started && !written {
				cancel()
			}
		})
		defer stop()
	}
	done := func() {
		if call.Written != nil {
			once.Do(call.Written)
		}
	}
	trace := &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) {
			wmu.Lock()
			started = true
			wmu.Unlock()
		},
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			wmu.Lock()
			written = written || i.Err == nil
			wmu.Unlock()
			done()
		},
	}
	hreq, err := call.Build(httptrace.WithClientTrace(actx, trace))
	if err != nil {
		class := scheduler.ClassOf(err)
		if class == scheduler.ClassNone {
			class = scheduler.ClassValidation
		}
		return scheduler.Outcome{Class: class, Err: err}
	}
	defer done()
	sent := c.clock.Now()
	if call.Sending != nil {
		call.Sending(sent)
	}
	resp, err := c.http.Do(hreq)
	wmu.Lock()
	wasWritten := written
	wmu.Unlock()
	if err != nil {
		return scheduler.Outcome{Class: TransportClass(wasWritten, call.Write), Err: c.sanitize(err, call)}
	}
	defer resp.Body.Close()
	out := scheduler.Outcome{Status: resp.StatusCode}
	if c.cfg.RequestIDHeader != "" {
		out.RequestID = resp.Header.Get(c.cfg.RequestIDHeader)
	}
	now := c.clock.Now()
	out.RetryAfter = RetryAfter(resp.Header.Get("Retry-After"), now, c.cfg.MaxRetryAfter)
	limit := c.cfg.MaxBody
	if call.MaxBody > 0 {
		limit = call.MaxBody
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err == nil && int64(len(raw)) > limit {
		err = fmt.Errorf("answer larger than %d bytes", limit)
	}
	success := resp.StatusCode >= 200 && resp.StatusCode < 300
	if err != nil {
		if success {
			// The exchange answered but we cannot read it: for a write the effect is unknown.
			out.Class, out.Malformed = TransportClass(true, call.Write), true
			out.Err = fmt.Errorf("%s: %w: %s %s: reading the answer: %s", c.cfg.Name, ErrMalformedAnswer, call.Method, call.Endpoint, c.sanitize(err, call))
			return out
		}
		raw = nil
	}
	c.cfg.Classify(Answer{Endpoint: call.Endpoint, Method: call.Method, Status: resp.StatusCode, Header: resp.Header, Body: raw, Write: call.Write, Now: now, Sent: sent}, &out)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && out.Err == nil {
		// Not followed (New's redirect policy): say where it pointed, without its query.
		out.Err = fmt.Errorf("%s: %s %s: %w to %s", c.cfg.Name, call.Method, call.Endpoint, ErrRedirect, redirectTarget(resp.Header.Get("Location")))
	}
	if success && out.Class == scheduler.ClassNone && out.Err == nil && call.Parse != nil {
		if perr := call.Parse(raw); perr != nil {
			// An endpoint fault, not a platform outage: the scheduler counts it per endpoint.
			out.Class, out.Malformed = TransportClass(true, call.Write), true
			if !errors.Is(perr, ErrMalformedAnswer) {
				perr = fmt.Errorf("%w: %w", ErrMalformedAnswer, perr)
			}
			out.Err = fmt.Errorf("%s: %s %s: %w", c.cfg.Name, call.Method, call.Endpoint, perr)
		}
	}
	return out
}

// sanitize strips the request URL (it may carry a signature and parameters) from a
// transport error, keeping the operation, the endpoint and the cause.
func (c *Client) sanitize(err error, call *Call) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: call.Endpoint, Err: ue.Err}
	}
	return err
}

// RetryAfter reads a Retry-After header: seconds (fractions accepted) or an HTTP date,
// bounded by limit. Anything else, zero, negative or past is 0.
func RetryAfter(v string, now time.Time, limit time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs != secs {
			return 0
		}
		if secs > limit.Seconds() {
			return limit
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d <= 0 {
			return 0
		}
		return min(d, limit)
	}
	return 0
}

// Until is how long from now until t, an instant an exchange announced (a ban's end, a
// limit's reset), bounded by limit; 0 when t is not after now.
func Until(t, now time.Time, limit time.Duration) time.Duration {
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, limit)
}
