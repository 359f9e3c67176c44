package coinbase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/scheduler"
)

var decimalOne = decimal.NewFromInt(1)

// createBody is POST /orders' body.
type createBody struct {
	ClientOrderID      string                 `json:"client_order_id"`
	ProductID          string                 `json:"product_id"`
	Side               string                 `json:"side"`
	OrderConfiguration map[string]orderConfig `json:"order_configuration"`
}

type orderConfig struct {
	BaseSize   string `json:"base_size,omitempty"`
	LimitPrice string `json:"limit_price,omitempty"`
	PostOnly   *bool  `json:"post_only,omitempty"`
}

// orderBody is the create of req on product p: LIMIT GTC is limit_limit_gtc, LIMIT_MAKER the
// same with post_only, LIMIT IOC sor_limit_ioc, LIMIT FOK limit_limit_fok, MARKET
// market_market_ioc sized in the base currency (Keel's quantities are base amounts).
func orderBody(req adapters.OrderRequest, p product) ([]byte, error) {
	b := createBody{ClientOrderID: req.ClientOrderID, ProductID: p.ProductID}
	switch req.Side {
	case adapters.Buy:
		b.Side = "BUY"
	case adapters.Sell:
		b.Side = "SELL"
	default:
		return nil, invalid("side %q is not BUY or SELL", snippet([]byte(req.Side)))
	}
	if !req.Quantity.IsPositive() {
		return nil, invalid("quantity must be positive")
	}
	conf := orderConfig{BaseSize: req.Quantity.String()}
	kind := ""
	switch req.Type {
	case adapters.Limit, adapters.LimitMaker:
		if !req.Price.IsPositive() {
			return nil, invalid("a limit order needs a positive price")
		}
		conf.LimitPrice = req.Price.String()
		switch {
		case req.Type == adapters.LimitMaker:
			t := true
			kind, conf.PostOnly = "limit_limit_gtc", &t
		case req.TimeInForce == "" || req.TimeInForce == adapters.GTC:
			f := false
			kind, conf.PostOnly = "limit_limit_gtc", &f
		case req.TimeInForce == adapters.IOC:
			kind = "sor_limit_ioc"
		case req.TimeInForce == adapters.FOK:
			kind = "limit_limit_fok"
		default:
			return nil, invalid("time in force %q is not GTC, IOC or FOK", snippet([]byte(req.TimeInForce)))
		}
	case adapters.Market:
		kind = "market_market_ioc"
	default:
		return nil, invalid("order type %q is not supported", snippet([]byte(req.Type)))
	}
	b.OrderConfiguration = map[string]orderConfig{kind: conf}
	return json.Marshal(b)
}

// PlaceOrder places req under req.ClientOrderID (POST /orders, orders priority), then reads
// the order back (GET /orders/historical/{order_id}) for its state: a market order is
// already filled. A refusal arrives as HTTP 200 with success:false and is classified by its
// reason. An unknown outcome is settled first by resending the identical create
// (resendIdentical); an error matching scheduler.ErrUnknownOutcome, once those retries are
// spent, means the order may exist: QueryOrder, or the identical create again with the same
// client order id, settles it.
func (c *Client) PlaceOrder(ctx context.Context, req adapters.OrderRequest, opts ...adapters.CallOption) (adapters.Order, error) {
	if err := checkClientID(req.ClientOrderID); err != nil {
		return adapters.Order{}, err
	}
	if _, ok := c.ackedID(req.ClientOrderID); ok {
		return adapters.Order{}, rest.LocalError(scheduler.ClassValidation,
			fmt.Errorf("%w: %s", ErrDuplicateClientOrderID, req.ClientOrderID))
	}
	o := adapters.ApplyCallOptions(opts)
	prio := o.PriorityOr(epCreate.priority)
	p, err := c.product(ctx, req.Symbol, prio)
	if err != nil {
		return adapters.Order{}, err
	}
	body, err := orderBody(req, p)
	if err != nil {
		return adapters.Order{}, err
	}
	var orderID string
	_, err = c.do(ctx, call{ep: epCreate, body: body, priority: prio, key: req.ClientOrderID, retry: resendIdentical,
		parse: func(b []byte) error {
			a, err := parseCreate(b)
			if err != nil {
				return err
			}
			orderID = a.OrderID
			if a.SuccessResponse != nil && a.SuccessResponse.OrderID != "" {
				orderID = a.SuccessResponse.OrderID
				if a.SuccessResponse.ClientOrderID != "" && a.SuccessResponse.ClientOrderID != req.ClientOrderID {
					return malformed("order create: answer for client_order_id %q", snippet([]byte(a.SuccessResponse.ClientOrderID)))
				}
			}
			if orderID == "" {
				return malformed("order create: success without order_id")
			}
			return nil
		}})
	if err != nil {
		return adapters.Order{}, fmt.Errorf("coinbase: place %s: %w", req.ClientOrderID, err)
	}
	c.remember(req.ClientOrderID, orderID)
	c.readBacks.Store(orderID, struct{}{})
	got, gerr := c.readOrder(ctx, epReadBack, orderID, prio)
	_, unsignalled := c.readBacks.LoadAndDelete(orderID)
	if gerr == nil {
		if got.Status == adapters.StatusRejected {
			// Accepted, then FAILED: nothing is live. When the reason was the order rate, the
			// read-back's first answer was the scheduler's rate-limit signal (classifyAnswer).
			class, why := scheduler.ClassValidation, ""
			if !unsignalled {
				class, why = scheduler.ClassRateLimit, " (RATE_LIMIT_EXCEEDED)"
			}
			return adapters.Order{}, rest.LocalError(class,
				fmt.Errorf("coinbase: place %s: %w%s: accepted as %s", req.ClientOrderID, ErrOrderFailed, why, orderID))
		}
		return got, nil
	}
	return adapters.Order{Symbol: req.Symbol, ClientOrderID: req.ClientOrderID, ExchangeOrderID: orderID,
		Side: req.Side, Type: req.Type, TimeInForce: req.TimeInForce, Price: req.Price, Quantity: req.Quantity,
		Status: adapters.StatusNew}, nil
}

// resendIdentical is the create's RetrySafe: after an unknown outcome (a timeout, a 5xx, a
// dropped connection) the identical create — the same body, the same client_order_id, a fresh
// JWT — is always safe to send again, because Coinbase answers a repeated client_order_id with
// the original order instead of a second one. So the scheduler settles an unknown outcome by
// resending within its retry budget, with no lookup first (a lookup by client_order_id is a
// paged list: slower, and bounded in how far back it sees). The caller's own RetrySafe (the
// orders manager's query) is not needed here; when the retries run out the outcome stays
// unknown and the caller settles it as for any exchange.
func resendIdentical(context.Context, scheduler.Outcome) (bool, error) { return true, nil }

// LastingClientIDs is true: Coinbase answers a create repeating a client_order_id with the
// original order (adapters.LastingClientIDs), so the orders manager's restart reconciliation
// may settle an unknown placement by the identical create, as resendIdentical does live.
func (c *Client) LastingClientIDs() bool { return true }

// ErrOrderFailed is wrapped when an order Coinbase accepted ended FAILED at once (its
// reject_reason, RATE_LIMIT_EXCEEDED among them): nothing is live under its client order id.
var ErrOrderFailed = errors.New("coinbase: order accepted, then FAILED")

// getOrder reads one order by order_id (GET /orders/historical/{order_id}).
func (c *Client) getOrder(ctx context.Context, orderID string, opts []adapters.CallOption) (adapters.Order, error) {
	o := adapters.ApplyCallOptions(opts)
	return c.readOrder(ctx, epGetOrder, orderID, o.PriorityOr(epGetOrder.priority))
}

// readOrder reads one order by order_id through ep (epGetOrder, or epReadBack after a create).
func (c *Client) readOrder(ctx context.Context, ep endpoint, orderID string, prio scheduler.Priority) (adapters.Order, error) {
	raw, err := fetch(ctx, c, call{ep: ep, path: root + "/orders/historical/" + url.PathEscape(orderID), priority: prio},
		func(b []byte) (apiOrder, error) {
			var r struct {
				Order *apiOrder `json:"order"`
			}
			if err := decode("order", b, &r); err != nil {
				return apiOrder{}, err
			}
			if r.Order == nil {
				return apiOrder{}, malformed("order: no order in the answer")
			}
			return *r.Order, nil
		})
	if err != nil {
		return adapters.Order{}, err
	}
	sym, err := c.symbolOf(ctx, raw.ProductID, prio)
	if err != nil {
		return adapters.Order{}, err
	}
	return raw.toOrder(sym)
}

// orderPageSize is how many orders a page of GET /orders/historical/batch asks for.
const orderPageSize = 1000

// historyPages bounds how far back QueryOrder looks for a client order id it has not seen.
const historyPages = 3

// listOrders reads one page of GET /orders/historical/batch.
func (c *Client) listOrders(ctx context.Context, q rest.Params, prio scheduler.Priority) ([]apiOrder, string, error) {
	type page struct {
		orders []apiOrder
		next   string
	}
	pg, err := fetch(ctx, c, call{ep: epListOrders, query: q, priority: prio}, func(b []byte) (page, error) {
		var r struct {
			Orders  []apiOrder `json:"orders"`
			HasNext bool       `json:"has_next"`
			Cursor  string     `json:"cursor"`
		}
		if err := decode("orders", b, &r); err != nil {
			return page{}, err
		}
		next := ""
		if r.HasNext {
			next = r.Cursor
		}
		return page{r.Orders, next}, nil
	})
	return pg.orders, pg.next, err
}

// QueryOrder fetches an order by client order id. Coinbase cannot look an order up by it:
// an id this client saw acknowledged is read by its order_id; any other is looked for in the
// product's open orders, then in its latest orders of any status (historyPages pages of
// 1000). Not found there is adapters.ErrOrderNotFound, classified validation. That proof is
// bounded by the look-back — but a resend of the identical create with the same id is safe
// whatever it says: Coinbase answers a repeated client_order_id with the original order.
func (c *Client) QueryOrder(ctx context.Context, symbol, clientOrderID string, opts ...adapters.CallOption) (adapters.Order, error) {
	if err := checkClientID(clientOrderID); err != nil {
		return adapters.Order{}, err
	}
	o := adapters.ApplyCallOptions(opts)
	prio := o.PriorityOr(epGetOrder.priority)
	p, err := c.product(ctx, symbol, prio)
	if err != nil {
		return adapters.Order{}, err
	}
	if id, ok := c.ackedID(clientOrderID); ok {
		got, err := c.getOrder(ctx, id, opts)
		if err == nil || exchangeCode(err) != codeNotFound {
			return got, err
		}
	}
	for _, status := range []string{"OPEN", ""} {
		cursor := ""
		for range historyPages {
			q := rest.Params{{"product_ids", p.ProductID}}
			if status != "" {
				q = q.Add("order_status", status)
			}
			q = q.Add("limit", fmt.Sprint(orderPageSize))
			if cursor != "" {
				q = q.Add("cursor", cursor)
			}
			list, next, err := c.listOrders(ctx, q, prio)
			if err != nil {
				return adapters.Order{}, fmt.Errorf("coinbase: query %s: %w", clientOrderID, err)
			}
			for _, x := range list {
				if x.ClientOrderID == clientOrderID {
					c.remember(clientOrderID, x.OrderID)
					return x.toOrder(symbol)
				}
			}
			if cursor = next; cursor == "" {
				break
			}
		}
	}
	return adapters.Order{}, rest.LocalError(scheduler.ClassValidation, fmt.Errorf("coinbase: query %s: %w", clientOrderID, adapters.ErrOrderNotFound))
}

// CancelOrder cancels by client order id: the order is found as QueryOrder finds it, then
// cancelled by order_id (POST /orders/batch_cancel, critical priority, so it passes a halt).
// An order Coinbase does not know, already filled or already cancelled matches
// adapters.ErrOrderNotFound. The order is returned as cancelled from the acknowledgement.
func (c *Client) CancelOrder(ctx context.Context, symbol, clientOrderID string, opts ...adapters.CallOption) (adapters.Order, error) {
	o := adapters.ApplyCallOptions(opts)
	prio := o.PriorityOr(epCancel.priority)
	cur, err := c.QueryOrder(ctx, symbol, clientOrderID, adapters.WithPriority(prio))
	if err != nil {
		return adapters.Order{}, fmt.Errorf("coinbase: cancel %s: %w", clientOrderID, err)
	}
	if cur.Status.Final() {
		return adapters.Order{}, rest.LocalError(scheduler.ClassValidation,
			fmt.Errorf("coinbase: cancel %s: %w: it is %s", clientOrderID, adapters.ErrOrderNotFound, cur.Status))
	}
	body, _ := json.Marshal(map[string][]string{"order_ids": {cur.ExchangeOrderID}})
	_, err = c.do(ctx, call{ep: epCancel, body: body, priority: prio, key: clientOrderID, retry: o.RetrySafe,
		parse: func(b []byte) error { _, err := parseCancel(b); return err }})
	if err != nil {
		if notFoundCodes[exchangeCode(err)] {
			return adapters.Order{}, fmt.Errorf("coinbase: cancel %s: %w: %w", clientOrderID, adapters.ErrOrderNotFound, err)
		}
		return adapters.Order{}, fmt.Errorf("coinbase: cancel %s: %w", clientOrderID, err)
	}
	cur.Status = adapters.StatusCanceled
	return cur, nil
}

// OpenOrders lists the open orders of symbol, or of every product when symbol is ""
// (GET /orders/historical/batch with order_status OPEN, account priority).
func (c *Client) OpenOrders(ctx context.Context, symbol string, opts ...adapters.CallOption) ([]adapters.Order, error) {
	o := adapters.ApplyCallOptions(opts)
	prio := o.PriorityOr(epListOrders.priority)
	q := rest.Params{{"order_status", "OPEN"}}
	if symbol != "" {
		p, err := c.product(ctx, symbol, prio)
		if err != nil {
			return nil, err
		}
		q = q.Add("product_ids", p.ProductID)
	}
	q = q.Add("limit", fmt.Sprint(orderPageSize))
	var out []adapters.Order
	cursor := ""
	for range maxPages {
		pq := q
		if cursor != "" {
			pq = pq.Add("cursor", cursor)
		}
		list, next, err := c.listOrders(ctx, pq, prio)
		if err != nil {
			return nil, err
		}
		for _, x := range list {
			sym, err := c.symbolOf(ctx, x.ProductID, prio)
			if err != nil {
				return nil, err
			}
			ord, err := x.toOrder(sym)
			if err != nil {
				return nil, err
			}
			out = append(out, ord)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	return out, nil
}

// Trades lists the account's fills of symbol with trade id >= fromID, oldest first; 0 reads
// the latest 100. GET /orders/historical/fills pages back from the newest (100 a page, at
// most maxPages) until it passes fromID. Commissions are in the quote currency.
func (c *Client) Trades(ctx context.Context, symbol string, fromID int64, opts ...adapters.CallOption) ([]adapters.Fill, error) {
	if fromID < 0 {
		return nil, invalid("fromID must not be negative")
	}
	o := adapters.ApplyCallOptions(opts)
	prio := o.PriorityOr(epListFills.priority)
	p, err := c.product(ctx, symbol, prio)
	if err != nil {
		return nil, err
	}
	var out []adapters.Fill
	cursor := ""
	for range maxPages {
		q := rest.Params{{"product_ids", p.ProductID}, {"limit", "100"}}
		if cursor != "" {
			q = q.Add("cursor", cursor)
		}
		type page struct {
			fills []apiFill
			next  string
		}
		pg, err := fetch(ctx, c, call{ep: epListFills, query: q, priority: prio}, func(b []byte) (page, error) {
			var r struct {
				Fills  []apiFill `json:"fills"`
				Cursor string    `json:"cursor"`
			}
			err := decode("fills", b, &r)
			return page{r.Fills, r.Cursor}, err
		})
		if err != nil {
			return nil, err
		}
		passed := false
		for _, f := range pg.fills {
			fl, err := f.toFill(symbol, p.quote())
			if err != nil {
				return nil, err
			}
			if fl.TradeID < fromID {
				passed = true
				continue
			}
			out = append(out, fl)
		}
		if cursor = pg.next; fromID == 0 || passed || cursor == "" || len(pg.fills) == 0 {
			break
		}
	}
	sortFills(out)
	return out, nil
}
