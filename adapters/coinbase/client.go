package coinbase

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// Scheduler is what the adapter needs from the account's scheduler; *scheduler.Scheduler
// satisfies it.
type Scheduler = rest.Scheduler

// Option customizes a Client.
type Option func(*options)

type options struct {
	http  *http.Client
	clock clock.Clock
}

// WithHTTPClient sets the HTTP client. Redirects are never followed.
func WithHTTPClient(h *http.Client) Option { return func(o *options) { o.http = h } }

// WithClock sets the local clock (default: the wall clock).
func WithClock(clk clock.Clock) Option { return func(o *options) { o.clock = clk } }

// ErrNoCredentials is returned, classified auth, for a private call on a public-only client.
var ErrNoCredentials = errors.New("coinbase: no API key configured for a private endpoint")

// Client is the Coinbase Advanced Trade adapter. Build one with New; it is safe for
// concurrent use. Its streams are in stream.go.
type Client struct {
	cfg    Config  // without its secrets
	signer *signer // nil for a public-only client
	sched  Scheduler
	rest   *rest.Client
	clock  clock.Clock
	time   *rest.TimeKeeper
	host   string // the JWT uri's host
	base   string // the base URL's path, prefixed to every path in the uri

	mu       sync.Mutex
	products map[string]product // Keel symbol → product
	byID     map[string]string  // product_id → Keel symbol
	loadedAt time.Time
	acked    map[string]string // client order id → order_id, for orders this process saw acknowledged
	ackOrder []string

	pacing pacer // the streams' connection and message pacing

	readBacks sync.Map // order_id → struct{}: orders read back right after their create
}

// maxAcked bounds the acknowledged ids the client remembers.
const maxAcked = 100_000

// New builds a Client from cfg (defaults applied, then validated).
func New(cfg Config, sched Scheduler, opts ...Option) (*Client, error) {
	if sched == nil {
		return nil, errors.New("coinbase: New: nil scheduler")
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{http: &http.Client{}, clock: clock.Real{}}
	for _, f := range opts {
		f(&o)
	}
	c := &Client{sched: sched, clock: o.clock, products: map[string]product{}, byID: map[string]string{}, acked: map[string]string{}}
	if cfg.APISecret != "" {
		s, err := parseKey(string(cfg.APIKey), string(cfg.APISecret))
		if err != nil {
			return nil, configErr("api_secret", "%v", err)
		}
		c.signer = s
	}
	cfg.APIKey, cfg.APISecret = "", ""
	c.cfg = cfg
	base, err := rest.ParseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, configErr("base_url", "%v", err)
	}
	c.host, c.base = base.Host, base.Path
	h := *o.http
	inner := h.Transport
	if inner == nil {
		inner = http.DefaultTransport
	}
	h.Transport = &resigner{base: inner, c: c}
	c.rest, err = rest.New(rest.Config{Name: "coinbase", BaseURL: cfg.BaseURL, Timeout: cfg.Timeout, Classify: c.classifyAnswer},
		sched, rest.WithHTTPClient(&h), rest.WithClock(o.clock))
	if err != nil {
		return nil, err
	}
	c.time = rest.NewTimeKeeper("coinbase", c.clock, cfg.JWTLifetime)
	return c, nil
}

// Name returns "coinbase".
func (c *Client) Name() string { return "coinbase" }

// String describes the client without its credentials.
func (c *Client) String() string {
	kind := "public"
	if c.signer != nil {
		kind = c.signer.alg()
	}
	return "coinbase.Client{base_url: " + c.cfg.BaseURL + ", key: " + kind + "}"
}

// GoString keeps %#v from printing the credentials.
func (c *Client) GoString() string { return c.String() }

// call is one REST call.
type call struct {
	ep       endpoint
	path     string // the path sent (ep.path with its parameters); "" means ep.path
	query    rest.Params
	body     []byte
	priority scheduler.Priority
	key      string
	retry    scheduler.RetrySafeFunc
	parse    func(body []byte) error
	sending  func(time.Time)
}

// do runs a call through the scheduler.
func (c *Client) do(ctx context.Context, cl call) (scheduler.Outcome, error) {
	if cl.path == "" {
		cl.path = cl.ep.path
	}
	if cl.ep.private {
		if c.signer == nil {
			return scheduler.Outcome{}, rest.LocalError(scheduler.ClassAuth, ErrNoCredentials)
		}
		if c.time.NeedsSync(c.clock.Now()) {
			if err := c.syncTime(ctx, cl.priority); err != nil {
				return scheduler.Outcome{}, err
			}
		}
	}
	query := cl.query.Encode()
	return c.rest.Do(ctx, rest.Call{
		Endpoint: cl.ep.path, Method: cl.ep.method, Bucket: cl.ep.bucket, Priority: cl.priority,
		Costs: cl.ep.costs(), Write: cl.ep.write, Cancel: cl.ep.cancel, IdempotencyKey: cl.key, RetrySafe: cl.retry,
		Sending: cl.sending,
		Build:   func(ctx context.Context) (*http.Request, error) { return c.build(ctx, cl, query) },
		Parse:   cl.parse,
	})
}

// build makes one attempt's request with a fresh JWT.
func (c *Client) build(ctx context.Context, cl call, query string) (*http.Request, error) {
	var body io.Reader
	if cl.ep.method == http.MethodPost {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.ep.method, c.rest.URL(cl.path, query), body)
	if err != nil {
		return nil, fmt.Errorf("coinbase: building %s %s", cl.ep.method, cl.ep.path)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !cl.ep.private {
		return req, nil
	}
	tok, err := c.jwt(cl.ep.method, cl.path)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return req, nil
}

// jwt signs a request to path at the exchange's time; nothing is signed when the local
// clock is further off than the JWT lives.
func (c *Client) jwt(method, path string) (string, error) {
	now, err := c.time.Timestamp(c.clock.Now())
	if err != nil {
		return "", rest.LocalError(scheduler.ClassAuth, err)
	}
	tok, err := c.signer.sign(FormatURI(method, c.host, c.base+path), now, c.cfg.JWTLifetime)
	if err != nil {
		return "", rest.LocalError(scheduler.ClassTransient, err)
	}
	return tok, nil
}

// resigner re-sends a request answered 401 once with a fresh JWT: Coinbase refuses valid
// JWTs now and then (coinbase-advanced-py#132), and a 401 means the request was not served,
// so one more try is safe for a write too. A second 401 is the answer: auth, the breaker and
// the kill switch.
type resigner struct {
	base http.RoundTripper
	c    *Client
}

func (t *resigner) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") || t.c.signer == nil {
		return resp, err
	}
	again := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil
		}
		b, gerr := req.GetBody()
		if gerr != nil {
			return resp, nil
		}
		again.Body = b
	}
	path := strings.TrimPrefix(req.URL.Path, t.c.base)
	tok, jerr := t.c.jwt(req.Method, path)
	if jerr != nil {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	again.Header.Set("Authorization", "Bearer "+tok)
	return t.base.RoundTrip(again)
}

// SyncTime measures the offset between Coinbase's clock and the local one with GET /time
// (public, background priority). Private calls sync on their own when the offset is
// missing, old, or was contradicted by a 401.
func (c *Client) SyncTime(ctx context.Context) error {
	return c.syncTime(ctx, scheduler.PriorityBackground)
}

func (c *Client) syncTime(ctx context.Context, p scheduler.Priority) error {
	var server, sent, received time.Time
	_, err := c.do(ctx, call{ep: epTime, priority: p, sending: func(t time.Time) { sent = t },
		parse: func(b []byte) error {
			received = c.clock.Now()
			t, err := parseServerTime(b)
			server = t
			return err
		}})
	if err != nil {
		return err
	}
	off := c.time.Record(server, sent, received)
	if cs, ok := c.sched.(interface{ SetClockOffset(time.Duration) }); ok {
		cs.SetClockOffset(off)
	}
	return nil
}

// remember records an acknowledged placement.
func (c *Client) remember(clientID, orderID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.acked[clientID]; !ok {
		c.ackOrder = append(c.ackOrder, clientID)
		if len(c.ackOrder) > maxAcked {
			delete(c.acked, c.ackOrder[0])
			c.ackOrder = c.ackOrder[1:]
		}
	}
	c.acked[clientID] = orderID
}

func (c *Client) ackedID(clientID string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.acked[clientID]
	return id, ok
}

// decode reads JSON into v, naming what it was.
func decode(what string, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return malformed("%s: %v", what, err)
	}
	return nil
}
