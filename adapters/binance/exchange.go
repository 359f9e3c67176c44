package binance

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

var (
	_ adapters.Exchange      = (*Client)(nil)
	_ adapters.AccountReader = (*Client)(nil)
)

// ErrInvalidRequest is wrapped, classified validation, when a call is refused before sending.
var ErrInvalidRequest = errors.New("binance: invalid request")

func invalid(format string, args ...any) error {
	return localError(scheduler.ClassValidation, fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...)))
}

// clientOrderIDPattern is Binance's newClientOrderId rule (docs/architecture.md "Order idempotency").
var clientOrderIDPattern = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,36}$`)

func checkSymbol(symbol string) error {
	if !isName(symbol, 32) {
		return invalid("symbol %q is empty or malformed", truncate(symbol, 40))
	}
	return nil
}

func checkClientOrderID(id string) error {
	if !clientOrderIDPattern.MatchString(id) {
		return invalid("client order id %q does not match ^[a-zA-Z0-9-_]{1,36}$", truncate(id, 40))
	}
	return nil
}

// ExchangeInfo fetches trading rules and rate limits (background priority) and teaches the
// scheduler the announced limits of the windows the adapter uses.
func (c *Client) ExchangeInfo(ctx context.Context, opts ...adapters.CallOption) (adapters.ExchangeInfo, error) {
	info, err := fetch(ctx, c, epExchangeInfo, nil, 0, opts, parseExchangeInfo)
	if err != nil {
		return adapters.ExchangeInfo{}, err
	}
	if err := c.learnLimits(info.RateLimits); err != nil {
		return info, err
	}
	return info, nil
}

// fetch runs one read of ep with params p and parses its answer into a T: what every read
// method shares. weight 0 is the endpoint's own; the priority is the endpoint's unless opts
// override it.
func fetch[T any](ctx context.Context, c *Client, ep endpoint, p params, weight int64, opts []adapters.CallOption,
	parse func([]byte) (T, error)) (T, error) {
	if weight == 0 {
		weight = ep.weight
	}
	o := adapters.ApplyCallOptions(opts)
	var out T
	_, err := c.do(ctx, call{ep: ep, params: p, weight: weight, priority: o.PriorityOr(ep.priority),
		parse: func(b []byte) (err error) { out, err = parse(b); return err }})
	return out, err
}

// learnLimits pushes announced limits to the scheduler and remembers each window's interval
// for reading usage headers.
func (c *Client) learnLimits(limits []adapters.RateLimit) error {
	known := map[string]bool{}
	for _, d := range DefaultRateLimits() {
		known[d.Window] = true
	}
	ls, _ := c.sched.(limitSetter)
	var errs []error
	for _, l := range limits {
		if !known[l.Window] {
			continue
		}
		c.mu.Lock()
		c.intervals[l.Window], c.limits[l.Window] = l.Interval, l.Limit
		c.mu.Unlock()
		if ls != nil {
			if err := ls.SetWindowLimit(l.Window, l.Limit, l.Interval); err != nil {
				errs = append(errs, fmt.Errorf("binance: teaching the scheduler %s: %w", l.Window, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Ping calls GET /api/v3/ping (background priority).
func (c *Client) Ping(ctx context.Context, opts ...adapters.CallOption) error {
	_, err := fetch(ctx, c, epPing, nil, 0, opts, func([]byte) (struct{}, error) { return struct{}{}, nil })
	return err
}

// Ticker returns a symbol's last price (market priority).
func (c *Client) Ticker(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.Ticker, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.Ticker{}, err
	}
	return fetch(ctx, c, epTicker, params{{"symbol", symbol}}, 0, opts, parseTicker)
}

// BookTicker returns a symbol's best bid and ask (market priority).
func (c *Client) BookTicker(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.BookTicker, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.BookTicker{}, err
	}
	return fetch(ctx, c, epBookTicker, params{{"symbol", symbol}}, 0, opts, parseBookTicker)
}

// Depth returns an order book snapshot of limit levels per side (default 100, at most 5000;
// the weight grows with the limit).
func (c *Client) Depth(ctx context.Context, symbol string, limit int, opts ...adapters.CallOption) (adapters.Book, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.Book{}, err
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, maxBookLevels)
	return fetch(ctx, c, epDepth, params{{"symbol", symbol}, {"limit", strconv.Itoa(limit)}}, depthWeight(limit), opts,
		func(b []byte) (adapters.Book, error) { return parseDepth(b, symbol) })
}

// Balances returns the account's balances (account priority).
func (c *Client) Balances(ctx context.Context, opts ...adapters.CallOption) ([]adapters.Balance, error) {
	return fetch(ctx, c, epAccount, nil, 0, opts, parseAccount)
}

// Account returns the account's standing — canTrade, canWithdraw, canDeposit, permissions,
// account type, account-wide commission — and its balances, from GET /api/v3/account at
// background priority (weight 20): the runtime caches it with a TTL.
func (c *Client) Account(ctx context.Context, opts ...adapters.CallOption) (adapters.Account, error) {
	return fetch(ctx, c, epAccountInfo, nil, 0, opts, parseAccountInfo)
}

// TradingFees returns the account's commission rates on symbol from
// GET /api/v3/account/commission at background priority (weight 20): the runtime caches
// them with a TTL (rates change with the account's tier, not per order).
func (c *Client) TradingFees(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.TradingFees, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.TradingFees{}, err
	}
	return fetch(ctx, c, epCommission, params{{"symbol", symbol}}, 0, opts,
		func(b []byte) (adapters.TradingFees, error) { return parseCommission(b, symbol) })
}

// PlaceOrder places req with req.ClientOrderID as newClientOrderId (orders priority). An
// error matching scheduler.ErrUnknownOutcome means the order may exist: query it by its
// client order id before sending anything again.
func (c *Client) PlaceOrder(ctx context.Context, req adapters.OrderRequest, opts ...adapters.CallOption) (adapters.Order, error) {
	p, err := orderParams(req)
	if err != nil {
		return adapters.Order{}, err
	}
	o := adapters.ApplyCallOptions(opts)
	var ord adapters.Order
	_, err = c.do(ctx, call{ep: epNewOrder, params: p, weight: epNewOrder.weight,
		priority: o.PriorityOr(epNewOrder.priority), key: req.ClientOrderID, retry: o.RetrySafe,
		parse: func(b []byte) (err error) { ord, err = parseOrder(b); return err }})
	if err != nil {
		return adapters.Order{}, fmt.Errorf("binance: place %s: %w", req.ClientOrderID, err)
	}
	return ord, nil
}

func orderParams(req adapters.OrderRequest) (params, error) {
	if err := checkSymbol(req.Symbol); err != nil {
		return nil, err
	}
	if err := checkClientOrderID(req.ClientOrderID); err != nil {
		return nil, err
	}
	if req.Side != adapters.Buy && req.Side != adapters.Sell {
		return nil, invalid("side %q is not BUY or SELL", truncate(string(req.Side), 16))
	}
	if !req.Quantity.IsPositive() {
		return nil, invalid("quantity must be positive")
	}
	p := params{{"symbol", req.Symbol}, {"side", string(req.Side)}, {"type", string(req.Type)}}
	switch req.Type {
	case adapters.Limit:
		tif := req.TimeInForce
		if tif == "" {
			tif = adapters.GTC
		}
		if tif != adapters.GTC && tif != adapters.IOC && tif != adapters.FOK {
			return nil, invalid("timeInForce %q is not GTC, IOC or FOK", truncate(string(tif), 8))
		}
		if !req.Price.IsPositive() {
			return nil, invalid("a limit order needs a positive price")
		}
		p = p.Add("timeInForce", string(tif)).Add("quantity", req.Quantity.String()).Add("price", req.Price.String())
	case adapters.LimitMaker:
		if !req.Price.IsPositive() {
			return nil, invalid("a limit maker order needs a positive price")
		}
		p = p.Add("quantity", req.Quantity.String()).Add("price", req.Price.String())
	case adapters.Market:
		p = p.Add("quantity", req.Quantity.String())
	default:
		return nil, invalid("order type %q is not supported", truncate(string(req.Type), 16))
	}
	// RESULT carries the order's state; FULL would add fills the adapter does not return.
	return p.Add("newClientOrderId", req.ClientOrderID).Add("newOrderRespType", "RESULT"), nil
}

// QueryOrder fetches an order by client order id (origClientOrderId; account priority).
// Binance's -2013 "Order does not exist." becomes an error matching adapters.ErrOrderNotFound,
// which still carries the scheduler's validation class.
func (c *Client) QueryOrder(ctx context.Context, symbol, clientOrderID string, opts ...adapters.CallOption) (adapters.Order, error) {
	return c.byClientID(ctx, "query", epQueryOrder, symbol, clientOrderID, opts, parseOrder,
		func(code int, _ string) bool { return code == -2013 })
}

// unknownOrderMsg is the matching engine's message for an order it does not have
// (errors.md "Messages for -1010 ERROR_MSG_RECEIVED, -2010 NEW_ORDER_REJECTED, -2011 ...").
const unknownOrderMsg = "Unknown order sent."

// CancelOrder cancels by client order id (origClientOrderId; critical priority, so it passes
// a closed gate). When the exchange has no open order by that id — never placed, or already
// filled, cancelled or expired: Binance answers -2011 "Unknown order sent." for both — the
// error matches adapters.ErrOrderNotFound; query the order to learn which.
func (c *Client) CancelOrder(ctx context.Context, symbol, clientOrderID string, opts ...adapters.CallOption) (adapters.Order, error) {
	return c.byClientID(ctx, "cancel", epCancelOrder, symbol, clientOrderID, opts, parseCancel,
		func(code int, msg string) bool { return code == -2013 || (code == -2011 && msg == unknownOrderMsg) })
}

// byClientID runs ep on one order named by symbol and origClientOrderId, the client order id
// doubling as the idempotency key in the log (and a write passing on WithRetrySafe). An
// exchange error for which notFound is true also matches adapters.ErrOrderNotFound.
func (c *Client) byClientID(ctx context.Context, verb string, ep endpoint, symbol, clientOrderID string,
	opts []adapters.CallOption, parse func([]byte) (adapters.Order, error), notFound func(code int, msg string) bool) (adapters.Order, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.Order{}, err
	}
	if err := checkClientOrderID(clientOrderID); err != nil {
		return adapters.Order{}, err
	}
	o := adapters.ApplyCallOptions(opts)
	cl := call{ep: ep, params: params{{"symbol", symbol}, {"origClientOrderId", clientOrderID}},
		weight: ep.weight, priority: o.PriorityOr(ep.priority), key: clientOrderID}
	if ep.write {
		cl.retry = o.RetrySafe
	}
	var ord adapters.Order
	cl.parse = func(b []byte) (err error) { ord, err = parse(b); return err }
	if _, err := c.do(ctx, cl); err != nil {
		if notFound(exchangeCode(err), exchangeMessage(err)) {
			return adapters.Order{}, fmt.Errorf("binance: %s %s: %w: %w", verb, clientOrderID, adapters.ErrOrderNotFound, err)
		}
		return adapters.Order{}, fmt.Errorf("binance: %s %s: %w", verb, clientOrderID, err)
	}
	return ord, nil
}

// CancelAllOpenOrders cancels every open order of a symbol (DELETE /api/v3/openOrders,
// critical priority), for kill-switch flattening. It returns the cancelled orders.
func (c *Client) CancelAllOpenOrders(ctx context.Context, symbol string, opts ...adapters.CallOption) ([]adapters.Order, error) {
	if err := checkSymbol(symbol); err != nil {
		return nil, err
	}
	o := adapters.ApplyCallOptions(opts)
	var ords []adapters.Order
	_, err := c.do(ctx, call{ep: epCancelAll, params: params{{"symbol", symbol}}, weight: epCancelAll.weight,
		priority: o.PriorityOr(epCancelAll.priority), retry: o.RetrySafe,
		parse: func(b []byte) (err error) { ords, err = parseCancelAll(b); return err }})
	return ords, err
}

// OpenOrders lists open orders of symbol, or of every symbol when symbol is "" (weight 80
// instead of 6: use sparingly). Account priority.
func (c *Client) OpenOrders(ctx context.Context, symbol string, opts ...adapters.CallOption) ([]adapters.Order, error) {
	var p params
	weight := epOpenOrders.weight
	if symbol != "" {
		if err := checkSymbol(symbol); err != nil {
			return nil, err
		}
		p = params{{"symbol", symbol}}
	} else {
		weight = openOrdersAllWeight
	}
	return fetch(ctx, c, epOpenOrders, p, weight, opts, parseOrders)
}

// Trades lists the account's fills of symbol with trade id >= fromID (0: the most recent),
// up to 1000. Account priority.
func (c *Client) Trades(ctx context.Context, symbol string, fromID int64, opts ...adapters.CallOption) ([]adapters.Fill, error) {
	if err := checkSymbol(symbol); err != nil {
		return nil, err
	}
	if fromID < 0 {
		return nil, invalid("fromID must not be negative")
	}
	p := params{{"symbol", symbol}}
	if fromID > 0 {
		p = p.Add("fromId", strconv.FormatInt(fromID, 10))
	}
	p = p.Add("limit", "1000")
	return fetch(ctx, c, epMyTrades, p, 0, opts, parseTrades)
}

// exchangeCode returns the Binance error code of a scheduler failure, 0 if none.
func exchangeCode(err error) int {
	var se *scheduler.Error
	if errors.As(err, &se) {
		return se.Outcome.Code
	}
	return 0
}

func exchangeMessage(err error) string {
	var se *scheduler.Error
	if errors.As(err, &se) {
		return se.Outcome.Message
	}
	return ""
}
