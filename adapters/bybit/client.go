package bybit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// Scheduler is what the adapter needs from the account's scheduler; *scheduler.Scheduler
// satisfies it.
type Scheduler = rest.Scheduler

// Option customizes a Client.
type Option = rest.Option

// WithHTTPClient sets the HTTP client. Redirects are never followed.
func WithHTTPClient(h *http.Client) Option { return rest.WithHTTPClient(h) }

// WithClock sets the local clock (default: the wall clock).
func WithClock(clk clock.Clock) Option { return rest.WithClock(clk) }

// Client is the Bybit v5 spot adapter. Build one with New; it is safe for concurrent use. It
// has no streams (MarketStream and UserStream return adapters.ErrNoStreams): the runtime
// polls REST.
type Client struct {
	adapters.NoStreams

	cfg    Config  // without its secrets: they live behind key and secret
	key    *Secret // pointers, so that even %v of a Client value prints no credential
	secret *Secret
	sched  Scheduler
	rest   *rest.Client
	clock  clock.Clock
	time   *rest.TimeKeeper

	mu         sync.Mutex
	limits     map[string]int64 // window → the limit X-Bapi-Limit last said
	taught     map[string]int64 // window → the limit learnLimit last set
	documented map[string]int64 // window → Bybit's documented limit
}

// ErrNoCredentials is returned, classified auth, for a signed call on a public-only client.
var ErrNoCredentials = errors.New("bybit: no API key configured for a signed endpoint")

// New builds a Client from cfg (defaults applied, then validated).
func New(cfg Config, sched Scheduler, opts ...Option) (*Client, error) {
	if sched == nil {
		return nil, errors.New("bybit: New: nil scheduler")
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key, secret := cfg.APIKey, cfg.APISecret
	cfg.APIKey, cfg.APISecret = "", ""
	c := &Client{cfg: cfg, key: &key, secret: &secret, sched: sched}
	var err error
	c.rest, err = rest.New(rest.Config{Name: "bybit", BaseURL: cfg.BaseURL, Timeout: cfg.Timeout,
		RequestIDHeader: "Traceid", Classify: c.classifyAnswer}, sched, opts...)
	if err != nil {
		return nil, err
	}
	c.clock = c.rest.Clock()
	c.time = rest.NewTimeKeeper("bybit", c.clock, cfg.AcceptanceWindow())
	c.limits, c.taught, c.documented = map[string]int64{}, map[string]int64{}, map[string]int64{}
	for _, l := range DefaultRateLimits() {
		c.documented[l.Window] = l.Limit
	}
	return c, nil
}

// Name returns "bybit".
func (c *Client) Name() string { return "bybit" }

// String describes the client without its credentials.
func (c *Client) String() string {
	kind := "public"
	if *c.key != "" {
		kind = "hmac"
	}
	return "bybit.Client{base_url: " + c.cfg.BaseURL + ", key: " + kind + "}"
}

// GoString keeps %#v from printing the credentials.
func (c *Client) GoString() string { return c.String() }

// sign is Bybit's v5 HMAC signature (guide.mdx "Create A Request"): lower-case hex of
// HMAC-SHA256(secret, timestamp + api_key + recv_window + payload), where payload is the query
// string of a GET and the JSON body of a POST, exactly as sent.
func sign(secret, timestamp, apiKey, recvWindow, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte(apiKey))
	m.Write([]byte(recvWindow))
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

// call is one REST call.
type call struct {
	ep       endpoint
	query    rest.Params // GET parameters
	body     []byte      // POST JSON body
	priority scheduler.Priority
	key      string // idempotency key, for the log
	retry    scheduler.RetrySafeFunc
	parse    func(result json.RawMessage, env envelope) error
	sending  func(time.Time)
}

// do runs a call through the scheduler.
func (c *Client) do(ctx context.Context, cl call) (scheduler.Outcome, error) {
	if cl.ep.signed {
		if *c.key == "" {
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
		Sending: cl.sending, MaxBody: cl.ep.maxBody(),
		Build: func(ctx context.Context) (*http.Request, error) { return c.build(ctx, cl, query) },
		Parse: func(body []byte) error {
			env, err := parseEnvelope(body)
			if err != nil {
				return err
			}
			if cl.parse == nil {
				return nil
			}
			return cl.parse(env.Result, env)
		},
	})
}

// build makes one attempt's request, signed afresh.
func (c *Client) build(ctx context.Context, cl call, query string) (*http.Request, error) {
	var rd *bytes.Reader
	if cl.ep.method == http.MethodPost {
		rd = bytes.NewReader(cl.body)
	}
	u := c.rest.URL(cl.ep.path, query)
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequestWithContext(ctx, cl.ep.method, u, rd)
	} else {
		req, err = http.NewRequestWithContext(ctx, cl.ep.method, u, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("bybit: building %s %s", cl.ep.method, cl.ep.path)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !cl.ep.signed {
		return req, nil
	}
	now, err := c.time.Timestamp(c.clock.Now())
	if err != nil {
		// Nothing is sent: a drifted host clock is an operator problem, escalated as auth.
		return nil, rest.LocalError(scheduler.ClassAuth, err)
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	recv := strconv.Itoa(c.cfg.RecvWindow)
	payload := query
	if rd != nil {
		payload = string(cl.body)
	}
	req.Header.Set("X-BAPI-API-KEY", string(*c.key))
	req.Header.Set("X-BAPI-TIMESTAMP", ts)
	req.Header.Set("X-BAPI-RECV-WINDOW", recv)
	req.Header.Set("X-BAPI-SIGN", sign(string(*c.secret), ts, string(*c.key), recv, payload))
	// Not in guide.mdx, but every official SDK sends it, for HMAC keys too.
	req.Header.Set("X-BAPI-SIGN-TYPE", "2")
	return req, nil
}

// classifyAnswer reads an answer for the scheduler: the status for what Bybit's edge answers
// without an envelope (403, 404, 5xx ...), the retCode of the envelope otherwise; the usage
// headers of the endpoint's per-UID window; the wait of a 10006.
func (c *Client) classifyAnswer(a rest.Answer, out *scheduler.Outcome) {
	ep, _ := endpointAt(a.Method, a.Endpoint)
	var limit int64
	out.Usage, limit = usage(ep, a.Header)
	if limit > 0 {
		c.learnLimit(ep.window, limit)
	}
	if a.Status != http.StatusOK {
		classifyStatus(a.Status, a.Body, a.Write, out)
		return
	}
	env, err := parseEnvelope(a.Body)
	if err != nil {
		out.Class, out.Err = rest.TransportClass(true, a.Write), fmt.Errorf("%s %s: %w", a.Method, a.Endpoint, err)
		return
	}
	code := *env.RetCode
	if code == 0 {
		if ep.signed {
			c.time.Accepted(a.Sent)
		}
		return
	}
	out.Code, out.Message = code, snippet([]byte(withoutOrigin(env.RetMsg)))
	out.Class = classifyCode(code, a.Write)
	switch code {
	case 10006, 170005, 170222:
		wait, werr := limitWait(a.Header, env.Time, a.Now.Add(c.time.Offset(a.Now)))
		out.RetryAfter = max(out.RetryAfter, wait)
		if werr != nil {
			out.Message += " (" + werr.Error() + ")"
		}
		// The per-UID window of order creation counts placements only: cancels and reads
		// have windows of their own and go on.
		out.OrderLimit = ep.path == epCreate.path
	case 10002, -1:
		// Our offset is stale, or the exchange's clock stepped: the offset is measured again
		// before the next signature, and this refusal is a refused request, not an auth
		// failure, unless it was signed with an offset already re-measured for the same reason
		// (rest.TimeKeeper.Refused).
		c.time.ClassifyRefusal(a, out)
	}
}

// limitTeacher is the part of *scheduler.Scheduler that learnLimit needs.
type limitTeacher interface {
	Snapshot() scheduler.Snapshot
	SetWindowLimit(name string, limit int64, interval time.Duration) error
}

// learnLimit teaches the scheduler the account's own limit of an endpoint when X-Bapi-Limit
// first tells it or changes it: VIP and PRO tiers raise the order endpoints (spot create from
// 20/s up to 1200/s). Only a window still at Bybit's documented limit is changed: a limit the
// user configured (scheduler.windows: two bots sharing an account, each taking half) is the
// user's, and stays. The window keeps its interval.
func (c *Client) learnLimit(window string, limit int64) {
	c.mu.Lock()
	if c.limits[window] == limit {
		c.mu.Unlock()
		return
	}
	c.limits[window] = limit
	c.mu.Unlock()
	lt, ok := c.sched.(limitTeacher)
	if !ok {
		return
	}
	for _, w := range lt.Snapshot().Windows {
		if w.Name != window || w.Limit == limit {
			continue
		}
		c.mu.Lock()
		ours := w.Limit == c.documented[window] || w.Limit == c.taught[window]
		if ours {
			c.taught[window] = limit
		}
		c.mu.Unlock()
		if ours {
			_ = lt.SetWindowLimit(window, limit, w.Interval)
		}
	}
}

// SyncTime measures the offset between Bybit's clock and the local one with
// GET /v5/market/time (background priority). Signed calls sync on their own when the offset
// is missing, old, or was contradicted by a 10002.
func (c *Client) SyncTime(ctx context.Context) error {
	return c.syncTime(ctx, scheduler.PriorityBackground)
}

func (c *Client) syncTime(ctx context.Context, p scheduler.Priority) error {
	var server, sent, received time.Time
	_, err := c.do(ctx, call{ep: epTime, priority: p,
		sending: func(t time.Time) { sent = t },
		parse: func(result json.RawMessage, _ envelope) error {
			received = c.clock.Now()
			t, err := parseServerTime(result)
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
