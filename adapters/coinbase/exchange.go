package coinbase

import (
	"context"
	"errors"
	"fmt"
	"net/url"
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
	_ adapters.KeyInspector  = (*Client)(nil)
)

// ErrInvalidRequest is wrapped, classified validation, when a call is refused before sending.
var ErrInvalidRequest = errors.New("coinbase: invalid request")

// ErrDuplicateClientOrderID is wrapped, classified validation, when PlaceOrder is asked to
// place a client order id this client already saw acknowledged. Coinbase would answer such a
// repeat with the original order instead of creating one, which is what a resend after an
// unknown outcome relies on; a caller re-using an id it knows was placed has made a mistake,
// and is told so without a request.
var ErrDuplicateClientOrderID = errors.New("coinbase: client order id already placed")

// errNoSuchSymbol: a symbol Coinbase does not list.
var errNoSuchSymbol = errors.New("coinbase: symbol not listed")

func invalid(format string, args ...any) error {
	return rest.LocalError(scheduler.ClassValidation, fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...)))
}

// MaxClientOrderID is client_order_id's longest length (changelog: 128 characters).
const MaxClientOrderID = 128

func checkClientID(id string) error {
	if id == "" || len(id) > MaxClientOrderID {
		return invalid("client order id must be 1-%d characters, got %d", MaxClientOrderID, len(id))
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return invalid("client order id %q has a character outside printable ASCII", snippet([]byte(id)))
		}
	}
	return nil
}

// productReload bounds how often an unknown symbol makes the client list products again.
const productReload = time.Minute

// loadProducts lists the SPOT products (GET /market/products).
func (c *Client) loadProducts(ctx context.Context, prio scheduler.Priority) ([]product, error) {
	var ps []product
	_, err := c.do(ctx, call{ep: epProducts, query: rest.Params{{"product_type", "SPOT"}}, priority: prio,
		parse: func(b []byte) (err error) { ps, err = parseProducts(b); return err }})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loadedAt = c.clock.Now()
	for _, p := range ps {
		if p.ProductType != "" && p.ProductType != "SPOT" {
			continue
		}
		c.products[p.symbol()] = p
		c.byID[p.ProductID] = p.symbol()
	}
	return ps, nil
}

// product resolves a Keel symbol (BTCUSD) to its product, listing products when it is not
// known yet (at most once a minute for a symbol that stays unknown).
func (c *Client) product(ctx context.Context, symbol string, prio scheduler.Priority) (product, error) {
	if symbol == "" || len(symbol) > 64 {
		return product{}, invalid("symbol %q is empty or too long", snippet([]byte(symbol)))
	}
	c.mu.Lock()
	p, ok := c.products[symbol]
	stale := c.loadedAt.IsZero() || c.clock.Now().Sub(c.loadedAt) > productReload
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	if stale {
		if _, err := c.loadProducts(ctx, prio); err != nil {
			return product{}, err
		}
		c.mu.Lock()
		p, ok = c.products[symbol]
		c.mu.Unlock()
		if ok {
			return p, nil
		}
	}
	return product{}, rest.LocalError(scheduler.ClassValidation, fmt.Errorf("%w: %s", errNoSuchSymbol, snippet([]byte(symbol))))
}

// symbolOf is the Keel symbol of a product_id.
func (c *Client) symbolOf(ctx context.Context, id string, prio scheduler.Priority) (string, error) {
	c.mu.Lock()
	s, ok := c.byID[id]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	if _, err := c.loadProducts(ctx, prio); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok = c.byID[id]; !ok {
		return "", malformed("an order of product %q, which is not listed", snippet([]byte(id)))
	}
	return s, nil
}

// fetch runs one read and parses its answer into a T.
func fetch[T any](ctx context.Context, c *Client, cl call, parse func([]byte) (T, error)) (T, error) {
	var out T
	cl.parse = func(b []byte) (err error) { out, err = parse(b); return err }
	_, err := c.do(ctx, cl)
	return out, err
}

// ExchangeInfo lists the SPOT products (GET /market/products, background priority) and the
// documented limits.
func (c *Client) ExchangeInfo(ctx context.Context, opts ...adapters.CallOption) (adapters.ExchangeInfo, error) {
	o := adapters.ApplyCallOptions(opts)
	ps, err := c.loadProducts(ctx, o.PriorityOr(epProducts.priority))
	if err != nil {
		return adapters.ExchangeInfo{}, err
	}
	info := adapters.ExchangeInfo{RateLimits: DefaultRateLimits()}
	for _, p := range ps {
		if p.ProductType != "" && p.ProductType != "SPOT" {
			continue
		}
		si, err := p.info()
		if err != nil {
			return adapters.ExchangeInfo{}, err
		}
		info.Symbols = append(info.Symbols, si)
	}
	return info, nil
}

// Ticker returns a symbol's last price (GET /market/products/{product_id}, market priority).
func (c *Client) Ticker(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.Ticker, error) {
	o := adapters.ApplyCallOptions(opts)
	prio := o.PriorityOr(epProduct.priority)
	p, err := c.product(ctx, symbol, prio)
	if err != nil {
		return adapters.Ticker{}, err
	}
	return fetch(ctx, c, call{ep: epProduct, path: root + "/market/products/" + url.PathEscape(p.ProductID), priority: prio},
		func(b []byte) (adapters.Ticker, error) {
			var r product
			if err := decode("product", b, &r); err != nil {
				return adapters.Ticker{}, err
			}
			px, err := amount("price", r.Price, false)
			if err == nil && !px.IsPositive() {
				err = malformed("product %s: price 0", snippet([]byte(p.ProductID)))
			}
			return adapters.Ticker{Symbol: symbol, Price: px}, err
		})
}

// Depth returns limit levels a side (default 100) from GET /market/product_book.
func (c *Client) Depth(ctx context.Context, symbol string, limit int, opts ...adapters.CallOption) (adapters.Book, error) {
	o := adapters.ApplyCallOptions(opts)
	prio := o.PriorityOr(epBook.priority)
	p, err := c.product(ctx, symbol, prio)
	if err != nil {
		return adapters.Book{}, err
	}
	if limit <= 0 {
		limit = 100
	}
	return fetch(ctx, c, call{ep: epBook, query: rest.Params{{"product_id", p.ProductID}, {"limit", strconv.Itoa(limit)}}, priority: prio},
		func(b []byte) (adapters.Book, error) {
			book, err := parseBook(b, symbol)
			if err == nil && (len(book.Bids) > limit || len(book.Asks) > limit) {
				book.Bids, book.Asks = book.Bids[:min(limit, len(book.Bids))], book.Asks[:min(limit, len(book.Asks))]
			}
			return book, err
		})
}

// BookTicker returns a symbol's best bid and ask (GET /market/product_book with limit 1).
func (c *Client) BookTicker(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.BookTicker, error) {
	book, err := c.Depth(ctx, symbol, 1, opts...)
	if err != nil {
		return adapters.BookTicker{}, err
	}
	if len(book.Bids) == 0 || len(book.Asks) == 0 {
		return adapters.BookTicker{}, rest.LocalError(scheduler.ClassTransient, malformed("product book of %s: a side is empty", symbol))
	}
	return adapters.BookTicker{Symbol: symbol, BidPrice: book.Bids[0].Price, BidQty: book.Bids[0].Quantity,
		AskPrice: book.Asks[0].Price, AskQty: book.Asks[0].Quantity}, nil
}

// maxPages bounds every paged listing.
const maxPages = 20

// Balances returns every currency account (GET /accounts, 250 a page, account priority):
// free is available_balance, locked is hold.
func (c *Client) Balances(ctx context.Context, opts ...adapters.CallOption) ([]adapters.Balance, error) {
	o := adapters.ApplyCallOptions(opts)
	var out []adapters.Balance
	cursor := ""
	for range maxPages {
		q := rest.Params{{"limit", "250"}}
		if cursor != "" {
			q = q.Add("cursor", cursor)
		}
		type page struct {
			bs   []adapters.Balance
			next string
		}
		pg, err := fetch(ctx, c, call{ep: epAccounts, query: q, priority: o.PriorityOr(epAccounts.priority)}, func(b []byte) (page, error) {
			bs, next, err := parseAccounts(b)
			return page{bs, next}, err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, pg.bs...)
		if cursor = pg.next; cursor == "" {
			break
		}
	}
	return out, nil
}

// KeyPermissions is GET /key_permissions: what the API key may do.
type KeyPermissions struct {
	CanView, CanTrade, CanTransfer bool
	PortfolioUUID, PortfolioType   string
}

// ErrKeyPermissions is wrapped by CheckKeyPermissions' refusals.
var ErrKeyPermissions = errors.New("coinbase: API key permissions unfit for a trading bot")

// Check refuses a key that cannot trade, or that can transfer funds out (a bot's key must
// never be able to move money away: a leaked key then costs trades, not the account).
func (p KeyPermissions) Check() error {
	switch {
	case !p.CanTrade:
		return fmt.Errorf("%w: can_trade is false; give the key the trade permission", ErrKeyPermissions)
	case p.CanTransfer:
		return fmt.Errorf("%w: can_transfer is true; use a key without the transfer permission", ErrKeyPermissions)
	}
	return nil
}

// KeyPermissions is adapters.KeyInspector, keel doctor's check of the key: GET
// /key_permissions as exchange-neutral scopes. CanTrade is can_trade, CanWithdraw
// can_transfer (the doctor fails a key that cannot trade or can move funds out); Coinbase does
// not report an IP allowlist (IPRestrictionUnreported); KeyType is "ecdsa" or "ed25519".
func (c *Client) KeyPermissions(ctx context.Context, opts ...adapters.CallOption) (adapters.KeyPermissions, error) {
	kp, err := c.KeyScopes(ctx, opts...)
	if err != nil {
		return adapters.KeyPermissions{}, err
	}
	out := adapters.KeyPermissions{CanTrade: kp.CanTrade, CanWithdraw: kp.CanTransfer, IPRestrictionUnreported: true}
	if c.signer != nil {
		out.KeyType = map[string]string{"ES256": "ecdsa", "EdDSA": "ed25519"}[c.signer.alg()]
	}
	return out, nil
}

// KeyScopes reads the key's permissions in Coinbase's terms (GET /key_permissions,
// background priority); KeyScopes().Check() refuses a key unfit for a bot.
func (c *Client) KeyScopes(ctx context.Context, opts ...adapters.CallOption) (KeyPermissions, error) {
	o := adapters.ApplyCallOptions(opts)
	return fetch(ctx, c, call{ep: epPermissions, priority: o.PriorityOr(epPermissions.priority)}, func(b []byte) (KeyPermissions, error) {
		var r struct {
			CanView       *bool  `json:"can_view"`
			CanTrade      *bool  `json:"can_trade"`
			CanTransfer   *bool  `json:"can_transfer"`
			PortfolioUUID string `json:"portfolio_uuid"`
			PortfolioType string `json:"portfolio_type"`
		}
		if err := decode("key permissions", b, &r); err != nil {
			return KeyPermissions{}, err
		}
		if r.CanView == nil || r.CanTrade == nil || r.CanTransfer == nil {
			return KeyPermissions{}, malformed("key permissions: can_view, can_trade or can_transfer missing")
		}
		return KeyPermissions{CanView: *r.CanView, CanTrade: *r.CanTrade, CanTransfer: *r.CanTransfer,
			PortfolioUUID: r.PortfolioUUID, PortfolioType: r.PortfolioType}, nil
	})
}

// Account returns the key's standing (GET /key_permissions) and the balances, at background
// priority. CanTrade is can_trade, CanWithdraw can_transfer; deposits are not the key's to
// refuse (CanDeposit true). Permissions lists VIEW, TRADE and TRANSFER as granted.
func (c *Client) Account(ctx context.Context, opts ...adapters.CallOption) (adapters.Account, error) {
	kp, err := c.KeyScopes(ctx, opts...)
	if err != nil {
		return adapters.Account{}, err
	}
	a := adapters.Account{CanTrade: kp.CanTrade, CanWithdraw: kp.CanTransfer, CanDeposit: true, Type: "SPOT"}
	for _, p := range []struct {
		ok   bool
		name string
	}{{kp.CanView, "VIEW"}, {kp.CanTrade, "TRADE"}, {kp.CanTransfer, "TRANSFER"}} {
		if p.ok {
			a.Permissions = append(a.Permissions, p.name)
		}
	}
	bopts := append([]adapters.CallOption{adapters.WithPriority(scheduler.PriorityBackground)}, opts...)
	if a.Balances, err = c.Balances(ctx, bopts...); err != nil {
		return adapters.Account{}, err
	}
	return a, nil
}

// TradingFees returns the account's fee tier (GET /transaction_summary, background
// priority): Coinbase's rates are per account, the same on every product.
func (c *Client) TradingFees(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.TradingFees, error) {
	o := adapters.ApplyCallOptions(opts)
	prio := o.PriorityOr(epSummary.priority)
	if _, err := c.product(ctx, symbol, prio); err != nil {
		return adapters.TradingFees{}, err
	}
	return fetch(ctx, c, call{ep: epSummary, query: rest.Params{{"product_type", "SPOT"}}, priority: prio}, func(b []byte) (adapters.TradingFees, error) {
		var r struct {
			FeeTier struct {
				Maker flexString `json:"maker_fee_rate"`
				Taker flexString `json:"taker_fee_rate"`
			} `json:"fee_tier"`
		}
		if err := decode("transaction summary", b, &r); err != nil {
			return adapters.TradingFees{}, err
		}
		maker, err := amount("maker_fee_rate", string(r.FeeTier.Maker), false)
		if err != nil {
			return adapters.TradingFees{}, err
		}
		taker, err := amount("taker_fee_rate", string(r.FeeTier.Taker), false)
		if err != nil {
			return adapters.TradingFees{}, err
		}
		if maker.GreaterThan(decimalOne) || taker.GreaterThan(decimalOne) {
			return adapters.TradingFees{}, malformed("fee rates above 1: maker %s, taker %s", maker, taker)
		}
		return adapters.TradingFees{Symbol: symbol, Standard: adapters.CommissionRates{Maker: maker, Taker: taker}}, nil
	})
}

// exchangeCode returns the Outcome.Code of a scheduler failure, 0 if none.
func exchangeCode(err error) int {
	var se *scheduler.Error
	if errors.As(err, &se) {
		return se.Outcome.Code
	}
	return 0
}

// sortFills orders fills by trade id, oldest first.
func sortFills(fs []adapters.Fill) {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].TradeID < fs[j].TradeID })
}
