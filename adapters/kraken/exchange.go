package kraken

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/scheduler"
)

var _ adapters.Exchange = (*Client)(nil)

// clientOrderIDPattern is Keel's client order id rule (as Binance's newClientOrderId).
var clientOrderIDPattern = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,36}$`)

func checkClientOrderID(id string) error {
	if !clientOrderIDPattern.MatchString(id) {
		return invalid("client order id %q does not match ^[a-zA-Z0-9-_]{1,36}$", truncate(id, 40))
	}
	return nil
}

// ExchangeInfo reads the server time, Assets and AssetPairs (background priority) and
// returns the pairs under Keel's names, and the limits the adapter schedules by. Kraken
// announces no limits: they are the configured tier's.
func (c *Client) ExchangeInfo(ctx context.Context, opts ...adapters.CallOption) (adapters.ExchangeInfo, error) {
	st, err := fetch(ctx, c, epTime, nil, opts, parseServerTime)
	if err != nil {
		return adapters.ExchangeInfo{}, err
	}
	n, err := c.refreshNames(ctx, opts)
	if err != nil {
		return adapters.ExchangeInfo{}, err
	}
	info := adapters.ExchangeInfo{ServerTime: st, Symbols: append([]adapters.SymbolInfo(nil), n.symbols...)}
	for _, w := range c.cfg.SchedulerWindows() {
		kind := "REQUEST_COUNTER"
		if w.Name == WindowPublic {
			kind = "PUBLIC_COUNTER"
		}
		info.RateLimits = append(info.RateLimits, adapters.RateLimit{Window: w.Name, Kind: kind, Interval: w.Interval, Limit: w.Limit})
	}
	tw := c.cfg.TradeWindow("<pair>")
	info.RateLimits = append(info.RateLimits, adapters.RateLimit{Window: tw.Name, Kind: "ORDERS", Interval: tw.Interval, Limit: tw.Limit})
	return info, nil
}

// Ticker returns a pair's last trade price (market priority).
func (c *Client) Ticker(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.Ticker, error) {
	pi, _, err := c.pair(ctx, symbol, opts)
	if err != nil {
		return adapters.Ticker{}, err
	}
	return fetch(ctx, c, epTicker, rest.Params{{"pair", pi.alt}}, opts,
		func(b []byte) (adapters.Ticker, error) { return parseTicker(b, symbol) })
}

// BookTicker returns a pair's best bid and ask from Ticker (market priority).
func (c *Client) BookTicker(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.BookTicker, error) {
	pi, _, err := c.pair(ctx, symbol, opts)
	if err != nil {
		return adapters.BookTicker{}, err
	}
	return fetch(ctx, c, epTicker, rest.Params{{"pair", pi.alt}}, opts,
		func(b []byte) (adapters.BookTicker, error) { return parseBookTicker(b, symbol) })
}

// maxDepth is the most levels Depth serves.
const maxDepth = 500

// Depth returns up to limit levels a side (default 100, at most 500; market priority).
func (c *Client) Depth(ctx context.Context, symbol string, limit int, opts ...adapters.CallOption) (adapters.Book, error) {
	pi, _, err := c.pair(ctx, symbol, opts)
	if err != nil {
		return adapters.Book{}, err
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, maxDepth)
	return fetch(ctx, c, epDepth, rest.Params{{"pair", pi.alt}, {"count", strconv.Itoa(limit)}}, opts,
		func(b []byte) (adapters.Book, error) { return parseDepth(b, symbol) })
}

// Balances returns the account's balances from BalanceEx (account priority).
func (c *Client) Balances(ctx context.Context, opts ...adapters.CallOption) ([]adapters.Balance, error) {
	n, err := c.loadNames(ctx, opts)
	if err != nil {
		return nil, err
	}
	return fetch(ctx, c, epBalanceEx, nil, opts, func(b []byte) ([]adapters.Balance, error) { return parseBalances(b, n) })
}

// TradingFees returns the account's fees on symbol from TradeVolume (background priority).
func (c *Client) TradingFees(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.TradingFees, error) {
	pi, _, err := c.pair(ctx, symbol, opts)
	if err != nil {
		return adapters.TradingFees{}, err
	}
	return fetch(ctx, c, epTradeVolume, rest.Params{{"pair", pi.alt}}, opts,
		func(b []byte) (adapters.TradingFees, error) { return parseFees(b, pi) })
}

// PlaceOrder places req with cl_ord_id ClientOrderUUID(req.ClientOrderID) (orders
// priority). It costs the pair's trading window 1. An error matching
// scheduler.ErrUnknownOutcome means the order may exist: QueryOrder finds it by its client
// order id. A limit GTC order is reported as placed (NEW) from the acknowledgement; a market
// or IOC order, which finishes at once, is read back with QueryOrders.
func (c *Client) PlaceOrder(ctx context.Context, req adapters.OrderRequest, opts ...adapters.CallOption) (adapters.Order, error) {
	if err := checkClientOrderID(req.ClientOrderID); err != nil {
		return adapters.Order{}, err
	}
	pi, n, err := c.pair(ctx, req.Symbol, opts)
	if err != nil {
		return adapters.Order{}, err
	}
	p, err := orderParams(req, pi)
	if err != nil {
		return adapters.Order{}, err
	}
	uuid := c.ids.note(req.ClientOrderID)
	p = p.Add("cl_ord_id", uuid)
	costs := epAddOrder.costs()
	w, err := c.tradeWindow(pi)
	if err != nil {
		return adapters.Order{}, err
	}
	if w != "" {
		costs = append(costs, scheduler.Cost{Window: w, Amount: addOrderCost})
	}
	o := adapters.ApplyCallOptions(opts)
	var txid string
	_, err = c.do(ctx, call{ep: epAddOrder, params: p, priority: o.PriorityOr(epAddOrder.priority), costs: costs,
		key: req.ClientOrderID, retry: o.RetrySafe,
		parse: func(b []byte) (err error) { txid, err = parseAddOrder(b); return err }})
	if err != nil {
		return adapters.Order{}, fmt.Errorf("kraken: place %s: %w", req.ClientOrderID, err)
	}
	now := c.clock.Now()
	c.ids.opened(uuid, now)
	placed := adapters.Order{Symbol: req.Symbol, ClientOrderID: req.ClientOrderID, ExchangeOrderID: txid, Side: req.Side,
		Type: req.Type, TimeInForce: req.TimeInForce, Price: req.Price, Quantity: req.Quantity, Status: adapters.StatusNew,
		CreatedAt: now, UpdatedAt: now}
	if placed.TimeInForce == "" && req.Type != adapters.Market {
		placed.TimeInForce = adapters.GTC
	}
	if req.Type == adapters.Market || req.TimeInForce == adapters.IOC {
		m, qerr := c.queryTxid(ctx, txid, n, opts)
		if qerr == nil {
			return m, nil
		}
		// The order is placed; its state will be read again by whoever polls it.
	}
	return placed, nil
}

func orderParams(req adapters.OrderRequest, pi *pairInfo) (rest.Params, error) {
	var side string
	switch req.Side {
	case adapters.Buy:
		side = "buy"
	case adapters.Sell:
		side = "sell"
	default:
		return nil, invalid("side %q is not BUY or SELL", truncate(string(req.Side), 16))
	}
	if !req.Quantity.IsPositive() {
		return nil, invalid("quantity must be positive")
	}
	p := rest.Params{{"pair", pi.alt}, {"type", side}}
	switch req.Type {
	case adapters.Limit, adapters.LimitMaker:
		if !req.Price.IsPositive() {
			return nil, invalid("a limit order needs a positive price")
		}
		p = p.Add("ordertype", "limit").Add("price", req.Price.String()).Add("volume", req.Quantity.String())
		if req.Type == adapters.LimitMaker {
			p = p.Add("oflags", "post")
			break
		}
		switch req.TimeInForce {
		case "", adapters.GTC:
		case adapters.IOC:
			p = p.Add("timeinforce", "IOC")
		default:
			return nil, invalid("timeInForce %q is not GTC or IOC (Kraken's spot REST documents no FOK)", truncate(string(req.TimeInForce), 8))
		}
	case adapters.Market:
		p = p.Add("ordertype", "market").Add("volume", req.Quantity.String())
	default:
		return nil, invalid("order type %q is not supported", truncate(string(req.Type), 16))
	}
	return p, nil
}

// queryTxid reads one order by txid (QueryOrders, account priority).
func (c *Client) queryTxid(ctx context.Context, txid string, n *names, opts []adapters.CallOption) (adapters.Order, error) {
	m, err := fetch(ctx, c, epQueryOrders, rest.Params{{"txid", txid}}, opts,
		func(b []byte) (map[string]krakenOrder, error) { return parseOrderMap(b, "") })
	if err != nil {
		return adapters.Order{}, err
	}
	ko, ok := m[txid]
	if !ok {
		return adapters.Order{}, rest.LocalError(scheduler.ClassTransient, fmt.Errorf("kraken: %w: QueryOrders did not return %s", rest.ErrMalformedAnswer, truncate(txid, 24)))
	}
	return c.convert(txid, ko, n)
}

// convert converts an order and remembers when it was opened.
func (c *Client) convert(txid string, ko krakenOrder, n *names) (adapters.Order, error) {
	c.ids.opened(ko.ClOrdID, ko.OpenTm.time())
	return ko.order(txid, n, c.ids.keel)
}

// QueryOrder finds an order by Keel's client order id: among the open orders first, then
// the closed ones (both filter by cl_ord_id; it is unique among open orders only, so the
// latest closed one is taken). adapters.ErrOrderNotFound when neither has it: the proof a
// placement did not land.
func (c *Client) QueryOrder(ctx context.Context, symbol, clientOrderID string, opts ...adapters.CallOption) (adapters.Order, error) {
	if err := checkClientOrderID(clientOrderID); err != nil {
		return adapters.Order{}, err
	}
	pi, n, err := c.pair(ctx, symbol, opts)
	if err != nil {
		return adapters.Order{}, err
	}
	uuid := c.ids.note(clientOrderID)
	for _, q := range []struct {
		ep  endpoint
		key string
	}{{epOpenOrders, "open"}, {epClosedOrders, "closed"}} {
		m, err := fetch(ctx, c, q.ep, rest.Params{{"cl_ord_id", uuid}}, opts,
			func(b []byte) (map[string]krakenOrder, error) { return parseOrderMap(b, q.key) })
		if err != nil {
			return adapters.Order{}, fmt.Errorf("kraken: query %s: %w", clientOrderID, err)
		}
		var best adapters.Order
		found := false
		for txid, ko := range m {
			if ko.ClOrdID != "" && ko.ClOrdID != uuid {
				continue
			}
			o, err := c.convert(txid, ko, n)
			if err != nil {
				return adapters.Order{}, fmt.Errorf("kraken: query %s: %w", clientOrderID, err)
			}
			if o.Symbol == pi.info.Symbol && (!found || o.CreatedAt.After(best.CreatedAt)) {
				best, found = o, true
			}
		}
		if found {
			return best, nil
		}
	}
	return adapters.Order{}, rest.LocalError(scheduler.ClassValidation,
		fmt.Errorf("kraken: query %s: %w: neither open nor closed orders have it", clientOrderID, adapters.ErrOrderNotFound))
}

// CancelOrder cancels by cl_ord_id (critical priority). It costs the pair's trading window
// by the order's age when the scheduler sends it: +8 for an order younger than 5 s (or of
// unknown age) down to 0 after 300 s. EOrder:Unknown order (never placed, or closed already)
// is adapters.ErrOrderNotFound.
func (c *Client) CancelOrder(ctx context.Context, symbol, clientOrderID string, opts ...adapters.CallOption) (adapters.Order, error) {
	if err := checkClientOrderID(clientOrderID); err != nil {
		return adapters.Order{}, err
	}
	pi, _, err := c.pair(ctx, symbol, opts)
	if err != nil {
		return adapters.Order{}, err
	}
	uuid := c.ids.note(clientOrderID)
	costs := epCancelOrder.costs()
	w, err := c.tradeWindow(pi)
	if err != nil {
		return adapters.Order{}, err
	}
	if w != "" {
		costs = append(costs, scheduler.Cost{Window: w, Amount: CancelCost(0), AmountAt: c.cancelCostAt(uuid)})
	}
	o := adapters.ApplyCallOptions(opts)
	var count int
	var pending bool
	_, err = c.do(ctx, call{ep: epCancelOrder, params: rest.Params{{"cl_ord_id", uuid}}, priority: o.PriorityOr(epCancelOrder.priority),
		costs: costs, key: clientOrderID, retry: o.RetrySafe,
		parse: func(b []byte) (err error) { count, pending, err = parseCancel(b); return err }})
	switch {
	case err != nil && strings.HasPrefix(exchangeMessage(err), "EOrder:Unknown order"):
		return adapters.Order{}, fmt.Errorf("kraken: cancel %s: %w: %w", clientOrderID, adapters.ErrOrderNotFound, err)
	case err != nil:
		return adapters.Order{}, fmt.Errorf("kraken: cancel %s: %w", clientOrderID, err)
	case count == 0 && !pending:
		return adapters.Order{}, rest.LocalError(scheduler.ClassValidation,
			fmt.Errorf("kraken: cancel %s: %w: nothing cancelled", clientOrderID, adapters.ErrOrderNotFound))
	}
	now := c.clock.Now()
	return adapters.Order{Symbol: symbol, ClientOrderID: clientOrderID, Status: adapters.StatusCanceled, UpdatedAt: now}, nil
}

// cancelCostAt returns the AmountAt of a cancel of the order under cl_ord_id u: its cost by
// age at the moment the scheduler admits it, the most (+8) when its age is unknown.
func (c *Client) cancelCostAt(u string) func(now time.Time) int64 {
	return func(now time.Time) int64 {
		opened := c.ids.openedAt(u)
		if opened.IsZero() {
			return CancelCost(0)
		}
		return CancelCost(c.since(opened, now))
	}
}

// OpenOrders lists the open orders of symbol, or of every pair when symbol is "" (account
// priority).
func (c *Client) OpenOrders(ctx context.Context, symbol string, opts ...adapters.CallOption) ([]adapters.Order, error) {
	n, err := c.loadNames(ctx, opts)
	if err != nil {
		return nil, err
	}
	if symbol != "" {
		if _, _, err := c.pair(ctx, symbol, opts); err != nil {
			return nil, err
		}
	}
	m, err := fetch(ctx, c, epOpenOrders, nil, opts, func(b []byte) (map[string]krakenOrder, error) { return parseOrderMap(b, "open") })
	if err != nil {
		return nil, err
	}
	var out []adapters.Order
	for txid, ko := range m {
		o, err := c.convert(txid, ko, n)
		if err != nil {
			return nil, err
		}
		if symbol == "" || o.Symbol == symbol {
			out = append(out, o)
		}
	}
	sortOrders(out)
	return out, nil
}

func sortOrders(os []adapters.Order) {
	for i := 1; i < len(os); i++ {
		for j := i; j > 0 && os[j].CreatedAt.Before(os[j-1].CreatedAt); j-- {
			os[j], os[j-1] = os[j-1], os[j]
		}
	}
}

// maxTradePages bounds how many pages of 50 Trades reads looking for fromID.
const maxTradePages = 10

// Trades lists the account's fills of symbol with trade id >= fromID (0: the latest page).
// TradesHistory has no pair filter and costs 2 on the REST counter: it pages back (at most
// maxTradePages) until a page reaches below fromID.
func (c *Client) Trades(ctx context.Context, symbol string, fromID int64, opts ...adapters.CallOption) ([]adapters.Fill, error) {
	if fromID < 0 {
		return nil, invalid("fromID must not be negative")
	}
	pi, _, err := c.pair(ctx, symbol, opts)
	if err != nil {
		return nil, err
	}
	var out []adapters.Fill
	for page := 0; page < maxTradePages; page++ {
		var count int
		fills, err := fetch(ctx, c, epTradesHistory, rest.Params{{"ofs", strconv.Itoa(page * 50)}}, opts,
			func(b []byte) ([]adapters.Fill, error) {
				f, n, err := parseTrades(b, pi)
				count = n
				return f, err
			})
		if err != nil {
			return nil, err
		}
		reached := fromID == 0
		for _, f := range fills {
			if f.TradeID >= fromID {
				out = append(out, f)
			} else {
				reached = true
			}
		}
		if reached || (page+1)*50 >= count {
			break
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].TradeID < out[j-1].TradeID; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}
