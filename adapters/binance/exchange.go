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

var _ adapters.Exchange = (*Client)(nil)

// ErrInvalidRequest is wrapped, classified validation, when a call is refused before sending.
var ErrInvalidRequest = errors.New("binance: invalid request")

func invalid(format string, args ...any) error {
	return localError(scheduler.ClassValidation, fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...)))
}

// clientOrderIDPattern is Binance's newClientOrderId rule (DESIGN.md "Order idempotency").
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
	o := adapters.ApplyCallOptions(opts)
	var info adapters.ExchangeInfo
	_, err := c.do(ctx, call{ep: epExchangeInfo, weight: epExchangeInfo.weight, priority: o.PriorityOr(epExchangeInfo.priority),
		parse: func(b []byte) (err error) { info, err = parseExchangeInfo(b); return err }})
	if err != nil {
		return adapters.ExchangeInfo{}, err
	}
	if err := c.learnLimits(info.RateLimits); err != nil {
		return info, err
	}
	return info, nil
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
		c.intervals[l.Window] = l.Interval
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
	o := adapters.ApplyCallOptions(opts)
	_, err := c.do(ctx, call{ep: epPing, weight: epPing.weight, priority: o.PriorityOr(epPing.priority),
		parse: func([]byte) error { return nil }})
	return err
}

// Ticker returns a symbol's last price (market priority).
func (c *Client) Ticker(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.Ticker, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.Ticker{}, err
	}
	o := adapters.ApplyCallOptions(opts)
	var t adapters.Ticker
	_, err := c.do(ctx, call{ep: epTicker, params: params{{"symbol", symbol}}, weight: epTicker.weight,
		priority: o.PriorityOr(epTicker.priority),
		parse:    func(b []byte) (err error) { t, err = parseTicker(b); return err }})
	return t, err
}

// BookTicker returns a symbol's best bid and ask (market priority).
func (c *Client) BookTicker(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.BookTicker, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.BookTicker{}, err
	}
	o := adapters.ApplyCallOptions(opts)
	var t adapters.BookTicker
	_, err := c.do(ctx, call{ep: epBookTicker, params: params{{"symbol", symbol}}, weight: epBookTicker.weight,
		priority: o.PriorityOr(epBookTicker.priority),
		parse:    func(b []byte) (err error) { t, err = parseBookTicker(b); return err }})
	return t, err
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
	o := adapters.ApplyCallOptions(opts)
	var book adapters.Book
	_, err := c.do(ctx, call{ep: epDepth, params: params{{"symbol", symbol}, {"limit", strconv.Itoa(limit)}},
		weight: depthWeight(limit), priority: o.PriorityOr(epDepth.priority),
		parse: func(b []byte) (err error) { book, err = parseDepth(b, symbol); return err }})
	return book, err
}

// Balances returns the account's balances (account priority).
func (c *Client) Balances(ctx context.Context, opts ...adapters.CallOption) ([]adapters.Balance, error) {
	o := adapters.ApplyCallOptions(opts)
	var bs []adapters.Balance
	_, err := c.do(ctx, call{ep: epAccount, weight: epAccount.weight, priority: o.PriorityOr(epAccount.priority),
		parse: func(b []byte) (err error) { bs, err = parseAccount(b); return err }})
	return bs, err
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
		p = p.add("timeInForce", string(tif)).add("quantity", req.Quantity.String()).add("price", req.Price.String())
	case adapters.LimitMaker:
		if !req.Price.IsPositive() {
			return nil, invalid("a limit maker order needs a positive price")
		}
		p = p.add("quantity", req.Quantity.String()).add("price", req.Price.String())
	case adapters.Market:
		p = p.add("quantity", req.Quantity.String())
	default:
		return nil, invalid("order type %q is not supported", truncate(string(req.Type), 16))
	}
	// RESULT carries the order's state; FULL would add fills the adapter does not return.
	return p.add("newClientOrderId", req.ClientOrderID).add("newOrderRespType", "RESULT"), nil
}

// QueryOrder fetches an order by client order id (origClientOrderId; account priority).
// Binance's -2013 "Order does not exist." becomes an error matching adapters.ErrOrderNotFound,
// which still carries the scheduler's validation class.
func (c *Client) QueryOrder(ctx context.Context, symbol, clientOrderID string, opts ...adapters.CallOption) (adapters.Order, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.Order{}, err
	}
	if err := checkClientOrderID(clientOrderID); err != nil {
		return adapters.Order{}, err
	}
	o := adapters.ApplyCallOptions(opts)
	var ord adapters.Order
	_, err := c.do(ctx, call{ep: epQueryOrder, params: params{{"symbol", symbol}, {"origClientOrderId", clientOrderID}},
		weight: epQueryOrder.weight, priority: o.PriorityOr(epQueryOrder.priority), key: clientOrderID,
		parse: func(b []byte) (err error) { ord, err = parseOrder(b); return err }})
	if err != nil {
		if exchangeCode(err) == -2013 {
			return adapters.Order{}, fmt.Errorf("binance: query %s: %w: %w", clientOrderID, adapters.ErrOrderNotFound, err)
		}
		return adapters.Order{}, fmt.Errorf("binance: query %s: %w", clientOrderID, err)
	}
	return ord, nil
}

// unknownOrderMsg is the matching engine's message for an order it does not have
// (errors.md "Messages for -1010 ERROR_MSG_RECEIVED, -2010 NEW_ORDER_REJECTED, -2011 ...").
const unknownOrderMsg = "Unknown order sent."

// CancelOrder cancels by client order id (origClientOrderId; critical priority, so it passes
// a closed gate). When the exchange has no open order by that id — never placed, or already
// filled, cancelled or expired: Binance answers -2011 "Unknown order sent." for both — the
// error matches adapters.ErrOrderNotFound; query the order to learn which.
func (c *Client) CancelOrder(ctx context.Context, symbol, clientOrderID string, opts ...adapters.CallOption) (adapters.Order, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.Order{}, err
	}
	if err := checkClientOrderID(clientOrderID); err != nil {
		return adapters.Order{}, err
	}
	o := adapters.ApplyCallOptions(opts)
	var ord adapters.Order
	_, err := c.do(ctx, call{ep: epCancelOrder, params: params{{"symbol", symbol}, {"origClientOrderId", clientOrderID}},
		weight: epCancelOrder.weight, priority: o.PriorityOr(epCancelOrder.priority), key: clientOrderID, retry: o.RetrySafe,
		parse: func(b []byte) (err error) { ord, err = parseCancel(b); return err }})
	if err != nil {
		code := exchangeCode(err)
		if code == -2013 || (code == -2011 && exchangeMessage(err) == unknownOrderMsg) {
			return adapters.Order{}, fmt.Errorf("binance: cancel %s: %w: %w", clientOrderID, adapters.ErrOrderNotFound, err)
		}
		return adapters.Order{}, fmt.Errorf("binance: cancel %s: %w", clientOrderID, err)
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
		weight = 80
	}
	o := adapters.ApplyCallOptions(opts)
	var ords []adapters.Order
	_, err := c.do(ctx, call{ep: epOpenOrders, params: p, weight: weight, priority: o.PriorityOr(epOpenOrders.priority),
		parse: func(b []byte) (err error) { ords, err = parseOrders(b); return err }})
	return ords, err
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
		p = p.add("fromId", strconv.FormatInt(fromID, 10))
	}
	p = p.add("limit", "1000")
	o := adapters.ApplyCallOptions(opts)
	var fills []adapters.Fill
	_, err := c.do(ctx, call{ep: epMyTrades, params: p, weight: epMyTrades.weight, priority: o.PriorityOr(epMyTrades.priority),
		parse: func(b []byte) (err error) { fills, err = parseTrades(b); return err }})
	return fills, err
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
