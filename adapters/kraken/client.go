package kraken

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

func init() {
	adapters.Register(adapters.Definition{
		Name:      "kraken",
		NewConfig: func() adapters.Config { c := &BotConfig{}; c.setDefaults(); return c },
		New: func(cfg adapters.Config, env adapters.Env) (adapters.Exchange, error) {
			c, ok := cfg.(*BotConfig)
			if !ok {
				return nil, fmt.Errorf("kraken: config of type %T", cfg)
			}
			return New(c.Config, env.Scheduler)
		},
		Streams: false,
	})
}

// BotConfig is the `exchange:` section of a bot trading on Kraken: a Config that must carry
// credentials (a public-only Config is for market data tools, not a trading bot).
type BotConfig struct {
	Config `koanf:",squash"`
}

// Validate checks the Config and that it can sign.
func (c *BotConfig) Validate() error {
	if c.APIKey == "" {
		return configErr("api_key", "required for trading; set KEEL_EXCHANGE_API_KEY")
	}
	if c.APISecret == "" {
		return configErr("api_secret", "required for trading; set KEEL_EXCHANGE_API_SECRET (the private key, base64)")
	}
	return c.Config.Validate()
}

// Scheduler is what the adapter needs from the account's scheduler; *scheduler.Scheduler
// satisfies it. If it also has AddWindow(scheduler.WindowConfig) error, each pair's
// trading-engine counter becomes a window of its own when the pair is first traded;
// without it orders are paced by the REST and public windows only.
type Scheduler interface {
	Do(ctx context.Context, r *scheduler.Request) (scheduler.Outcome, error)
}

type windowAdder interface {
	AddWindow(w scheduler.WindowConfig) error
}

// Option customizes a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.httpc = h } }

// WithClock sets the local clock (default the wall clock); it also drives the local nonce.
func WithClock(clk clock.Clock) Option { return func(c *Client) { c.clock = clk } }

// WithNonceSource replaces the local nonce source, for a fleet sharing the key.
func WithNonceSource(n NonceSource) Option { return func(c *Client) { c.nonce = n } }

// WithSendLock replaces the local send lock, for a fleet sharing the key.
func WithSendLock(l SendLock) Option { return func(c *Client) { c.lock = l } }

// Client is the Kraken Spot REST adapter; it implements adapters.Exchange and
// adapters.AccountReader's TradingFees. Build one with New; it is safe for concurrent use.
type Client struct {
	// NoStreams: REST only; the runtime polls (Definition.Streams is false).
	adapters.NoStreams

	cfg    Config       // secrets removed
	key    *rest.Secret // API-Key
	secret *[]byte      // decoded private key; nil for a public-only client
	rest   *rest.Client
	sched  Scheduler
	httpc  *http.Client
	clock  clock.Clock
	nonce  NonceSource
	lock   SendLock
	tier   Tier

	namesMu sync.Mutex
	names   *names // loaded by ExchangeInfo, or on first need

	windows sync.Map // pair id → struct{}: trade windows added
	ids     *idBook
}

// ErrNoCredentials is returned, classified auth, for a private call on a public-only client.
var ErrNoCredentials = errors.New("kraken: no API key configured for a private endpoint")

// New builds a Client from cfg (defaults applied, then validated).
func New(cfg Config, sched Scheduler, opts ...Option) (*Client, error) {
	if sched == nil {
		return nil, errors.New("kraken: New: nil scheduler")
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key := cfg.APIKey
	c := &Client{cfg: cfg, key: &key, sched: sched, clock: clock.Real{}, tier: cfg.tier(), ids: newIDBook(idBookSize)}
	if cfg.APISecret != "" {
		raw, err := decodeSecret(cfg.APISecret)
		if err != nil {
			return nil, configErr("api_secret", "%v", err)
		}
		c.secret = &raw
	}
	c.cfg.APIKey, c.cfg.APISecret = "", ""
	for _, o := range opts {
		o(c)
	}
	if c.nonce == nil {
		n, err := NewLocalNonce(c.clock, cfg.NonceFile)
		if err != nil {
			return nil, err
		}
		c.nonce = n
	}
	if c.lock == nil {
		c.lock = newLocalLock()
	}
	ropts := []rest.Option{rest.WithClock(c.clock)}
	if c.httpc != nil {
		ropts = append(ropts, rest.WithHTTPClient(c.httpc))
	}
	rc, err := rest.New(rest.Config{Name: "kraken", BaseURL: cfg.BaseURL, Timeout: cfg.Timeout,
		Classify: func(a rest.Answer, out *scheduler.Outcome) { classify(a, out, c.tier.RESTMax) }}, sched, ropts...)
	if err != nil {
		return nil, err
	}
	c.rest = rc
	return c, nil
}

// Name returns "kraken".
func (c *Client) Name() string { return "kraken" }

// String describes the client without its credentials.
func (c *Client) String() string {
	kind := "public"
	if c.secret != nil {
		kind = "hmac-sha512"
	}
	return "kraken.Client{base_url: " + c.cfg.BaseURL + ", tier: " + c.tier.Name + ", key: " + kind + "}"
}

// GoString keeps %#v from printing the credentials.
func (c *Client) GoString() string { return c.String() }

// call is one REST call.
type call struct {
	ep       endpoint
	params   rest.Params
	priority scheduler.Priority
	costs    []scheduler.Cost // nil: the endpoint's
	key      string           // idempotency key, for the log
	retry    scheduler.RetrySafeFunc
	parse    func(body []byte) error
}

// do runs a call through the scheduler.
func (c *Client) do(ctx context.Context, cl call) (scheduler.Outcome, error) {
	costs := cl.costs
	if costs == nil {
		costs = cl.ep.costs()
	}
	rc := rest.Call{Endpoint: cl.ep.path, Method: cl.ep.method, Bucket: cl.ep.bucket, Priority: cl.priority,
		Costs: costs, Write: cl.ep.write, Cancel: cl.ep.cancel, IdempotencyKey: cl.key, RetrySafe: cl.retry, Parse: cl.parse,
		MaxBody: cl.ep.maxBody()}
	if !cl.ep.private {
		rc.Build = func(ctx context.Context) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, c.rest.URL(cl.ep.path, cl.params.Encode()), nil)
		}
		return c.rest.Do(ctx, rc)
	}
	if c.secret == nil {
		return scheduler.Outcome{}, rest.LocalError(scheduler.ClassAuth, ErrNoCredentials)
	}
	// The send lock is held from drawing the nonce until the exchange has begun to answer (or
	// the attempt ends, or maxLockHold passes): see holdUntilAnswered.
	rc.Build = func(ctx context.Context) (*http.Request, error) {
		unlock, err := c.lock.Lock(ctx)
		if err != nil {
			return nil, rest.LocalError(scheduler.ClassTransient, fmt.Errorf("kraken: waiting for the send lock: %w", err))
		}
		tctx, hold := c.holdUntilAnswered(ctx, unlock)
		req, err := c.signed(tctx, cl)
		if err != nil {
			unlock()
			return nil, err
		}
		hold()
		return req, nil
	}
	return c.rest.Do(ctx, rc)
}

// maxLockHold bounds how long one call holds the key's send lock: a call whose answer is
// that late no longer holds back the others (a later nonce may then overtake it).
const maxLockHold = 2 * time.Second

// holdUntilAnswered returns ctx with a trace that notes the first byte of the answer, and
// hold, which releases the send lock (unlock) at that first byte, or when ctx (the
// attempt's: it ends with the attempt) ends, or after maxLockHold.
//
// Releasing once the request is written (httptrace WroteRequest) is not enough: two requests
// written in order on two connections are read by the exchange in either order, and the
// later nonce, read first, makes the earlier one invalid (the simulator shows it with a
// dozen concurrent cancels). An answer proves the exchange has processed the nonce. The
// price is one private call in flight per key at a time, which Kraken's limits (a REST
// counter draining at most 1 a second, a trading counter at most 3.75 a second per pair)
// never come near.
func (c *Client) holdUntilAnswered(ctx context.Context, unlock func()) (context.Context, func()) {
	answered := make(chan struct{})
	var once sync.Once
	tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotFirstResponseByte: func() { once.Do(func() { close(answered) }) },
	})
	return tctx, func() {
		timer, stop := c.clock.NewTimer(maxLockHold)
		go func() {
			defer stop()
			defer unlock()
			select {
			case <-answered:
			case <-tctx.Done():
			case <-timer:
			}
		}()
	}
}

// signed builds a private call's request with the next nonce.
func (c *Client) signed(ctx context.Context, cl call) (*http.Request, error) {
	n, err := c.nonce.Next(ctx)
	if err != nil {
		return nil, rest.LocalError(scheduler.ClassTransient, fmt.Errorf("kraken: drawing a nonce: %w", err))
	}
	nonce := strconv.FormatUint(n, 10)
	body := rest.Params{{"nonce", nonce}}
	body = append(body, cl.params...)
	enc := body.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.rest.URL(cl.ep.path, ""), strings.NewReader(enc))
	if err != nil {
		return nil, rest.LocalError(scheduler.ClassValidation, fmt.Errorf("kraken: building %s", cl.ep.path))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "keel")
	req.Header.Set("API-Key", string(*c.key))
	req.Header.Set("API-Sign", Sign(*c.secret, cl.ep.path, nonce, enc))
	return req, nil
}

// fetch runs a read and parses its answer into a T.
func fetch[T any](ctx context.Context, c *Client, ep endpoint, p rest.Params, opts []adapters.CallOption,
	parse func([]byte) (T, error)) (T, error) {
	o := adapters.ApplyCallOptions(opts)
	var out T
	_, err := c.do(ctx, call{ep: ep, params: p, priority: o.PriorityOr(ep.priority),
		parse: func(b []byte) (err error) { out, err = parse(b); return err }})
	return out, err
}

// loadNames returns the symbol maps, reading AssetPairs and Assets the first time.
func (c *Client) loadNames(ctx context.Context, opts []adapters.CallOption) (*names, error) {
	c.namesMu.Lock()
	n := c.names
	c.namesMu.Unlock()
	if n != nil {
		return n, nil
	}
	return c.refreshNames(ctx, opts)
}

func (c *Client) refreshNames(ctx context.Context, opts []adapters.CallOption) (*names, error) {
	var pairs, assets []byte
	keep := func(dst *[]byte) func([]byte) ([]byte, error) {
		return func(b []byte) ([]byte, error) { *dst = append([]byte(nil), b...); return *dst, nil }
	}
	if _, err := fetch(ctx, c, epAssets, nil, opts, keep(&assets)); err != nil {
		return nil, err
	}
	if _, err := fetch(ctx, c, epAssetPairs, nil, opts, keep(&pairs)); err != nil {
		return nil, err
	}
	n, err := parseNames(pairs, assets)
	if err != nil {
		return nil, err
	}
	c.namesMu.Lock()
	c.names = n
	c.namesMu.Unlock()
	return n, nil
}

// pair returns the pair of a Keel symbol, or a validation error without sending anything.
func (c *Client) pair(ctx context.Context, symbol string, opts []adapters.CallOption) (*pairInfo, *names, error) {
	n, err := c.loadNames(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	pi := n.bySymbol[symbol]
	if pi == nil {
		return nil, nil, invalid("symbol %q is not a Kraken pair (Keel names pairs base+quote with BTC for XBT, DOGE for XDG)", truncate(symbol, 32))
	}
	return pi, n, nil
}

// tradeWindow makes sure the scheduler has pi's trading-engine window and returns its name,
// "" when the scheduler cannot add windows.
func (c *Client) tradeWindow(pi *pairInfo) (string, error) {
	w := c.cfg.TradeWindow(pi.id)
	if _, ok := c.windows.Load(pi.id); ok {
		return w.Name, nil
	}
	wa, ok := c.sched.(windowAdder)
	if !ok {
		return "", nil
	}
	if err := wa.AddWindow(w); err != nil {
		return "", fmt.Errorf("kraken: adding the trading window of %s: %w", pi.id, err)
	}
	c.windows.Store(pi.id, struct{}{})
	return w.Name, nil
}

// ErrInvalidRequest is wrapped, classified validation, when a call is refused before sending.
var ErrInvalidRequest = errors.New("kraken: invalid request")

func invalid(format string, args ...any) error {
	return rest.LocalError(scheduler.ClassValidation, fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...)))
}

// exchangeMessage is the Kraken error of a scheduler failure, "" if none.
func exchangeMessage(err error) string {
	var se *scheduler.Error
	if errors.As(err, &se) {
		return se.Outcome.Message
	}
	return ""
}

// since is the age of an order opened at t, on the exchange's time: the local clock's age
// times the time scale (a simulator at TimeScale 100 ages orders 100 times faster).
func (c *Client) since(t, now time.Time) time.Duration {
	return time.Duration(float64(now.Sub(t)) * c.cfg.TimeScale)
}
