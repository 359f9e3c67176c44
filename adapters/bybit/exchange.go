package bybit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/scheduler"
)

var (
	_ adapters.Exchange      = (*Client)(nil)
	_ adapters.AccountReader = (*Client)(nil)
)

// ErrInvalidRequest is wrapped, classified validation, when a call is refused before sending.
var ErrInvalidRequest = errors.New("bybit: invalid request")

// errNoSuchSymbol: an answer that does not list the symbol asked for.
var errNoSuchSymbol = errors.New("bybit: symbol not listed")

func invalid(format string, args ...any) error {
	return rest.LocalError(scheduler.ClassValidation, fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...)))
}

// notListed is the validation failure of a symbol the exchange's answer does not list.
func notListed(what, symbol string) error {
	return rest.LocalError(scheduler.ClassValidation, fmt.Errorf("bybit: %s: %w: %s", what, errNoSuchSymbol, symbol))
}

// orderLinkIDPattern is orderLinkId's rule (create-order.mdx): "A max of 36 characters.
// Combinations of numbers, letters (upper and lower cases), dashes, and underscores".
var orderLinkIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,36}$`)

var symbolPattern = regexp.MustCompile(`^[A-Z0-9]{1,32}$`)

func checkSymbol(symbol string) error {
	if !symbolPattern.MatchString(symbol) {
		return invalid("symbol %q is empty or not upper-case letters and digits", snippet([]byte(symbol)))
	}
	return nil
}

func checkLinkID(id string) error {
	if !orderLinkIDPattern.MatchString(id) {
		return invalid("client order id %q does not match ^[A-Za-z0-9_-]{1,36}$ (orderLinkId)", snippet([]byte(id)))
	}
	return nil
}

// spot is the category parameter every call but the server time and wallet balance carries.
func spot() rest.Params { return rest.Params{{"category", "spot"}} }

// fetch runs one read and parses its result into a T; the priority is the endpoint's unless
// opts override it.
func fetch[T any](ctx context.Context, c *Client, ep endpoint, q rest.Params, opts []adapters.CallOption,
	parse func(json.RawMessage, envelope) (T, error)) (T, error) {
	o := adapters.ApplyCallOptions(opts)
	var out T
	_, err := c.do(ctx, call{ep: ep, query: q, priority: o.PriorityOr(ep.priority),
		parse: func(r json.RawMessage, e envelope) (err error) { out, err = parse(r, e); return err }})
	return out, err
}

// listed runs fetch with a parser that may find the symbol missing from the answer, which
// is then a validation failure (not a malformed answer to retry).
func listed[T any](ctx context.Context, c *Client, what, symbol string, ep endpoint, q rest.Params, opts []adapters.CallOption,
	parse func(json.RawMessage) (T, error)) (T, error) {
	missing := false
	v, err := fetch(ctx, c, ep, q, opts, func(r json.RawMessage, _ envelope) (T, error) {
		v, err := parse(r)
		if errors.Is(err, errNoSuchSymbol) {
			missing = true
			return v, nil
		}
		return v, err
	})
	if err == nil && missing {
		err = notListed(what, symbol)
	}
	return v, err
}

// ExchangeInfo lists the spot symbols (GET /v5/market/instruments-info, background priority)
// and the documented limits. Bybit announces no limits through the API; X-Bapi-Limit on
// private answers carries each endpoint's, and the adapter feeds the scheduler the usage.
func (c *Client) ExchangeInfo(ctx context.Context, opts ...adapters.CallOption) (adapters.ExchangeInfo, error) {
	return fetch(ctx, c, epInstruments, spot(), opts, func(r json.RawMessage, e envelope) (adapters.ExchangeInfo, error) {
		syms, err := parseInstruments(r)
		if err != nil {
			return adapters.ExchangeInfo{}, err
		}
		info := adapters.ExchangeInfo{Symbols: syms, RateLimits: DefaultRateLimits()}
		if e.Time > 0 {
			info.ServerTime = time.UnixMilli(e.Time)
		}
		return info, nil
	})
}

// Ticker returns a symbol's last price (GET /v5/market/tickers, market priority).
func (c *Client) Ticker(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.Ticker, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.Ticker{}, err
	}
	return listed(ctx, c, "ticker", symbol, epTickers, spot().Add("symbol", symbol), opts,
		func(r json.RawMessage) (adapters.Ticker, error) { return parseLastPrice(r, symbol) })
}

// BookTicker returns a symbol's best bid and ask (bid1/ask1 of GET /v5/market/tickers).
func (c *Client) BookTicker(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.BookTicker, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.BookTicker{}, err
	}
	return listed(ctx, c, "book ticker", symbol, epTickers, spot().Add("symbol", symbol), opts,
		func(r json.RawMessage) (adapters.BookTicker, error) { return parseBookTicker(r, symbol) })
}

// maxDepth is the spot orderbook's largest limit (orderbook.mdx: [1, 1000] since 2026-05;
// it was 200 before).
const maxDepth = 1000

// Depth returns limit levels a side (default 100, at most 1000) from GET /v5/market/orderbook.
func (c *Client) Depth(ctx context.Context, symbol string, limit int, opts ...adapters.CallOption) (adapters.Book, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.Book{}, err
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, maxDepth)
	return fetch(ctx, c, epOrderbook, spot().Add("symbol", symbol).Add("limit", strconv.Itoa(limit)), opts,
		func(r json.RawMessage, _ envelope) (adapters.Book, error) { return parseOrderbook(r, symbol) })
}

// Balances returns the unified account's coins (GET /v5/account/wallet-balance, account
// priority): free is walletBalance - locked.
func (c *Client) Balances(ctx context.Context, opts ...adapters.CallOption) ([]adapters.Balance, error) {
	return fetch(ctx, c, epWallet, rest.Params{{"accountType", "UNIFIED"}}, opts,
		func(r json.RawMessage, _ envelope) ([]adapters.Balance, error) { return parseWallet(r) })
}

// Account returns the account's standing from its key's information (GET /v5/user/query-api)
// and its balances (GET /v5/account/wallet-balance), both at background priority: two calls,
// for the runtime's TTL cache. Account-wide commission is not reported; TradingFees has the
// per-symbol rates.
func (c *Client) Account(ctx context.Context, opts ...adapters.CallOption) (adapters.Account, error) {
	a, err := fetch(ctx, c, epQueryAPI, nil, opts, func(r json.RawMessage, _ envelope) (adapters.Account, error) {
		return parseAPIKeyInfo(r)
	})
	if err != nil {
		return adapters.Account{}, err
	}
	bopts := append([]adapters.CallOption{adapters.WithPriority(scheduler.PriorityBackground)}, opts...)
	if a.Balances, err = c.Balances(ctx, bopts...); err != nil {
		return adapters.Account{}, err
	}
	return a, nil
}

// TradingFees returns the account's maker and taker rates on symbol
// (GET /v5/account/fee-rate, 5 per second, background priority).
func (c *Client) TradingFees(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.TradingFees, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.TradingFees{}, err
	}
	return listed(ctx, c, "fee rate", symbol, epFeeRate, spot().Add("symbol", symbol), opts,
		func(r json.RawMessage) (adapters.TradingFees, error) { return parseFeeRate(r, symbol) })
}

// createBody is POST /v5/order/create's body for spot, fields in the docs' order.
type createBody struct {
	Category    string `json:"category"`
	Symbol      string `json:"symbol"`
	Side        string `json:"side"`
	OrderType   string `json:"orderType"`
	Qty         string `json:"qty"`
	Price       string `json:"price,omitempty"`
	TimeInForce string `json:"timeInForce,omitempty"`
	OrderLinkID string `json:"orderLinkId"`
	MarketUnit  string `json:"marketUnit,omitempty"`
}

func orderBody(req adapters.OrderRequest) ([]byte, error) {
	if err := checkSymbol(req.Symbol); err != nil {
		return nil, err
	}
	if err := checkLinkID(req.ClientOrderID); err != nil {
		return nil, err
	}
	b := createBody{Category: "spot", Symbol: req.Symbol, OrderLinkID: req.ClientOrderID}
	switch req.Side {
	case adapters.Buy:
		b.Side = "Buy"
	case adapters.Sell:
		b.Side = "Sell"
	default:
		return nil, invalid("side %q is not BUY or SELL", snippet([]byte(req.Side)))
	}
	if !req.Quantity.IsPositive() {
		return nil, invalid("quantity must be positive")
	}
	b.Qty = req.Quantity.String()
	switch req.Type {
	case adapters.Limit, adapters.LimitMaker:
		if !req.Price.IsPositive() {
			return nil, invalid("a limit order needs a positive price")
		}
		b.OrderType, b.Price = "Limit", req.Price.String()
		b.TimeInForce = string(req.TimeInForce)
		switch {
		case req.Type == adapters.LimitMaker:
			b.TimeInForce = "PostOnly"
		case b.TimeInForce == "":
			b.TimeInForce = string(adapters.GTC)
		case req.TimeInForce != adapters.GTC && req.TimeInForce != adapters.IOC && req.TimeInForce != adapters.FOK:
			return nil, invalid("timeInForce %q is not GTC, IOC or FOK", snippet([]byte(req.TimeInForce)))
		}
	case adapters.Market:
		// A spot market Buy's qty is in the quote coin by default; Keel's quantities are in
		// the base asset, both ways.
		b.OrderType, b.MarketUnit = "Market", "baseCoin"
	default:
		return nil, invalid("order type %q is not supported", snippet([]byte(req.Type)))
	}
	return json.Marshal(b)
}

// PlaceOrder places req with req.ClientOrderID as orderLinkId (POST /v5/order/create, orders
// priority). Bybit answers an accepted order with its ids only ("This request is
// asynchronous"), so the order is then read back by orderLinkId (GET /v5/order/realtime);
// when that read fails or does not see it yet, the order is returned as accepted
// (StatusNew) from the request. An error matching scheduler.ErrUnknownOutcome means the
// order may exist: query it by its client order id before sending anything again.
func (c *Client) PlaceOrder(ctx context.Context, req adapters.OrderRequest, opts ...adapters.CallOption) (adapters.Order, error) {
	body, err := orderBody(req)
	if err != nil {
		return adapters.Order{}, err
	}
	o := adapters.ApplyCallOptions(opts)
	var ack struct {
		OrderID     string `json:"orderId"`
		OrderLinkID string `json:"orderLinkId"`
	}
	prio := o.PriorityOr(epCreate.priority)
	_, err = c.do(ctx, call{ep: epCreate, body: body, priority: prio, key: req.ClientOrderID, retry: o.RetrySafe,
		parse: func(r json.RawMessage, _ envelope) error {
			if err := decode("order create", r, &ack); err != nil {
				return err
			}
			if ack.OrderID == "" || ack.OrderLinkID != req.ClientOrderID {
				return malformed("order create: answer for orderLinkId %q with orderId %q", snippet([]byte(ack.OrderLinkID)), snippet([]byte(ack.OrderID)))
			}
			return nil
		}})
	if err != nil {
		return adapters.Order{}, fmt.Errorf("bybit: place %s: %w", req.ClientOrderID, err)
	}
	if got, found, qerr := c.realtime(ctx, req.Symbol, req.ClientOrderID, []adapters.CallOption{adapters.WithPriority(prio)}); qerr == nil && found {
		return got, nil
	}
	return adapters.Order{Symbol: req.Symbol, ClientOrderID: req.ClientOrderID, ExchangeOrderID: ack.OrderID,
		Side: req.Side, Type: req.Type, TimeInForce: req.TimeInForce, Price: req.Price, Quantity: req.Quantity,
		Status: adapters.StatusNew}, nil
}

// realtime reads one order by orderLinkId from GET /v5/order/realtime, which lists open
// orders and the account's last 500 closed ones ("openOnly param will be ignored when query
// by orderId or orderLinkId").
func (c *Client) realtime(ctx context.Context, symbol, linkID string, opts []adapters.CallOption) (adapters.Order, bool, error) {
	return c.findOrder(ctx, epRealtime, symbol, linkID, opts)
}

func (c *Client) findOrder(ctx context.Context, ep endpoint, symbol, linkID string, opts []adapters.CallOption) (adapters.Order, bool, error) {
	q := spot().Add("symbol", symbol).Add("orderLinkId", linkID)
	type found struct {
		o  adapters.Order
		ok bool
	}
	f, err := fetch(ctx, c, ep, q, opts, func(r json.RawMessage, _ envelope) (found, error) {
		l, err := parseOrderList(r)
		if err != nil {
			return found{}, err
		}
		for _, x := range l.List {
			if x.OrderLinkID == linkID && x.Symbol == symbol {
				o, err := x.toOrder()
				return found{o, err == nil}, err
			}
		}
		return found{}, nil
	})
	return f.o, f.ok, err
}

// QueryOrder fetches an order by client order id: GET /v5/order/realtime, then, when it does
// not list it (closed orders leave it after the account's last 500 and after Bybit restarts),
// GET /v5/order/history. Neither listing it is adapters.ErrOrderNotFound, classified
// validation. Caveat: history hides cancelled and rejected orders without fills after 24
// hours, and both lists are updated asynchronously, so "not found" right after a placement
// is weaker proof than Binance's -2013 (a guess: Bybit documents no better query).
func (c *Client) QueryOrder(ctx context.Context, symbol, clientOrderID string, opts ...adapters.CallOption) (adapters.Order, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.Order{}, err
	}
	if err := checkLinkID(clientOrderID); err != nil {
		return adapters.Order{}, err
	}
	o, ok, err := c.realtime(ctx, symbol, clientOrderID, opts)
	if err == nil && !ok {
		o, ok, err = c.findOrder(ctx, epHistory, symbol, clientOrderID, opts)
	}
	switch {
	case err != nil:
		return adapters.Order{}, fmt.Errorf("bybit: query %s: %w", clientOrderID, err)
	case !ok:
		return adapters.Order{}, rest.LocalError(scheduler.ClassValidation, fmt.Errorf("bybit: query %s: %w", clientOrderID, adapters.ErrOrderNotFound))
	}
	return o, nil
}

// cancelBody is POST /v5/order/cancel's body.
type cancelBody struct {
	Category    string `json:"category"`
	Symbol      string `json:"symbol"`
	OrderLinkID string `json:"orderLinkId"`
}

// CancelOrder cancels by orderLinkId (POST /v5/order/cancel, critical priority, so it passes
// a halt). Bybit acknowledges with the ids only: the order is returned as cancelled; its
// fills, if one raced the cancel, are QueryOrder's to tell. When Bybit has no open order by
// that id (170213, 110001, or one of the "already filled / cancelled" codes) the error
// matches adapters.ErrOrderNotFound.
func (c *Client) CancelOrder(ctx context.Context, symbol, clientOrderID string, opts ...adapters.CallOption) (adapters.Order, error) {
	if err := checkSymbol(symbol); err != nil {
		return adapters.Order{}, err
	}
	if err := checkLinkID(clientOrderID); err != nil {
		return adapters.Order{}, err
	}
	body, _ := json.Marshal(cancelBody{Category: "spot", Symbol: symbol, OrderLinkID: clientOrderID})
	o := adapters.ApplyCallOptions(opts)
	var ack struct {
		OrderID string `json:"orderId"`
	}
	_, err := c.do(ctx, call{ep: epCancel, body: body, priority: o.PriorityOr(epCancel.priority), key: clientOrderID,
		retry: o.RetrySafe, parse: func(r json.RawMessage, _ envelope) error { return decode("order cancel", r, &ack) }})
	if err != nil {
		if notFoundCodes[exchangeCode(err)] {
			return adapters.Order{}, fmt.Errorf("bybit: cancel %s: %w: %w", clientOrderID, adapters.ErrOrderNotFound, err)
		}
		return adapters.Order{}, fmt.Errorf("bybit: cancel %s: %w", clientOrderID, err)
	}
	return adapters.Order{Symbol: symbol, ClientOrderID: clientOrderID, ExchangeOrderID: ack.OrderID, Status: adapters.StatusCanceled}, nil
}

// CancelAllOpenOrders cancels every open spot order of symbol, or of every symbol when symbol
// is "" (POST /v5/order/cancel-all, critical priority), for kill-switch flattening. It returns
// the cancelled orders' ids as orders marked cancelled.
func (c *Client) CancelAllOpenOrders(ctx context.Context, symbol string, opts ...adapters.CallOption) ([]adapters.Order, error) {
	body := map[string]string{"category": "spot"}
	if symbol != "" {
		if err := checkSymbol(symbol); err != nil {
			return nil, err
		}
		body["symbol"] = symbol
	}
	raw, _ := json.Marshal(body)
	o := adapters.ApplyCallOptions(opts)
	var out []adapters.Order
	_, err := c.do(ctx, call{ep: epCancelAll, body: raw, priority: o.PriorityOr(epCancelAll.priority), retry: o.RetrySafe,
		parse: func(r json.RawMessage, _ envelope) error {
			var res struct {
				List []struct {
					OrderID     string `json:"orderId"`
					OrderLinkID string `json:"orderLinkId"`
				} `json:"list"`
			}
			if err := decode("cancel-all", r, &res); err != nil {
				return err
			}
			for _, x := range res.List {
				out = append(out, adapters.Order{Symbol: symbol, ClientOrderID: x.OrderLinkID, ExchangeOrderID: x.OrderID, Status: adapters.StatusCanceled})
			}
			return nil
		}})
	return out, err
}

// maxPages bounds the pages a listing reads (50 orders or 100 fills each).
const maxPages = 20

// OpenOrders lists open orders of symbol, or of every spot symbol when symbol is ""
// (GET /v5/order/realtime, 50 a page, account priority).
func (c *Client) OpenOrders(ctx context.Context, symbol string, opts ...adapters.CallOption) ([]adapters.Order, error) {
	q := spot()
	if symbol != "" {
		if err := checkSymbol(symbol); err != nil {
			return nil, err
		}
		q = q.Add("symbol", symbol)
	}
	q = q.Add("openOnly", "0").Add("limit", "50")
	var out []adapters.Order
	cursor := ""
	for range maxPages {
		pq := q
		if cursor != "" {
			pq = pq.Add("cursor", cursor)
		}
		l, err := fetch(ctx, c, epRealtime, pq, opts, func(r json.RawMessage, _ envelope) (orderList, error) { return parseOrderList(r) })
		if err != nil {
			return nil, err
		}
		for _, x := range l.List {
			o, err := x.toOrder()
			if err != nil {
				return nil, err
			}
			out = append(out, o)
		}
		if cursor = l.NextPageCursor; cursor == "" || len(l.List) == 0 {
			break
		}
	}
	return out, nil
}

// Trades lists the account's fills of symbol with trade id (execId) >= fromID, oldest first;
// 0 reads the latest 100. GET /v5/execution/list has no fromId: it pages back from the newest
// (100 a page, at most 20 pages, within its default last 7 days) until it passes fromID.
func (c *Client) Trades(ctx context.Context, symbol string, fromID int64, opts ...adapters.CallOption) ([]adapters.Fill, error) {
	if err := checkSymbol(symbol); err != nil {
		return nil, err
	}
	if fromID < 0 {
		return nil, invalid("fromID must not be negative")
	}
	q := spot().Add("symbol", symbol).Add("limit", "100")
	var out []adapters.Fill
	cursor := ""
	for range maxPages {
		pq := q
		if cursor != "" {
			pq = pq.Add("cursor", cursor)
		}
		l, err := fetch(ctx, c, epExecutions, pq, opts, func(r json.RawMessage, _ envelope) (executionList, error) {
			var l executionList
			err := decode("execution list", r, &l)
			return l, err
		})
		if err != nil {
			return nil, err
		}
		passed := false
		for _, e := range l.List {
			if e.ExecType != "" && e.ExecType != "Trade" {
				continue
			}
			f, err := e.toFill()
			if err != nil {
				return nil, err
			}
			if f.TradeID < fromID {
				passed = true
				continue
			}
			out = append(out, f)
		}
		cursor = l.NextPageCursor
		if fromID == 0 || passed || cursor == "" || len(l.List) == 0 {
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].TradeID < out[j].TradeID })
	return out, nil
}

// exchangeCode returns the retCode of a scheduler failure, 0 if none.
func exchangeCode(err error) int {
	var se *scheduler.Error
	if errors.As(err, &se) {
		return se.Outcome.Code
	}
	return 0
}
