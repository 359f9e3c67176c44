// Package paper is dry-run trading on live prices: an adapters.Exchange that reads market data
// from a real exchange adapter (public endpoints and streams only: no key is used or needed)
// and fills the bot's orders locally against that exchange's live book. The runtime wraps the
// configured adapter in it when `exchange.mode: paper`; requests still go through the
// account's scheduler, so the public weights are respected as they are live.
//
// The fill model: a market order fills whole at the best ask (buy) or bid (sell) when it is
// placed; a limit order that crosses fills whole at the touch (taker); any other rests, its
// funds locked, and fills whole at its own price (maker) once the ask falls to a resting buy's
// price or the bid rises to a resting sell's. The book top comes from the market stream when
// one runs (every update matches the resting orders), else from a book ticker read. Fees are
// the configured commission, in the asset received. Not modelled: partial fills, queue
// position, and the book's depth beyond its top.
package paper

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// Config is the paper account.
type Config struct {
	// Balances funds the account (asset → amount).
	Balances map[string]decimal.Decimal
	// Commission is charged on every fill, in the asset received (0.001 is 0.1%).
	Commission decimal.Decimal
	// Clock stamps orders and fills and ages stream quotes; nil: the wall clock.
	Clock clock.Clock
}

// topFresh is how old a streamed book top may be before a book ticker read replaces it.
const topFresh = 5 * time.Second

// Exchange is the paper exchange over a live adapter. Safe for concurrent use.
type Exchange struct {
	live adapters.Exchange
	cfg  Config
	clk  clock.Clock

	mu       sync.Mutex
	info     map[string]adapters.SymbolInfo
	balances map[string]*balance
	orders   map[string]*adapters.Order // by client order id
	resting  []string                   // client ids of resting orders, oldest first
	fills    map[string][]adapters.Fill // by symbol
	tops     map[string]top
	users    map[*userStream]struct{}
	nextID   int64
}

type balance struct{ free, locked decimal.Decimal }

type top struct {
	bid, ask decimal.Decimal
	at       time.Time
}

// New wraps live.
func New(live adapters.Exchange, cfg Config) *Exchange {
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	e := &Exchange{live: live, cfg: cfg, clk: clk, info: map[string]adapters.SymbolInfo{}, balances: map[string]*balance{},
		orders: map[string]*adapters.Order{}, fills: map[string][]adapters.Fill{}, tops: map[string]top{},
		users: map[*userStream]struct{}{}}
	for a, v := range cfg.Balances {
		e.balances[a] = &balance{free: v}
	}
	return e
}

// Unwrap is the live adapter (the runtime finds its server-time call through it).
func (e *Exchange) Unwrap() adapters.Exchange { return e.live }

// Name is the live exchange's.
func (e *Exchange) Name() string { return e.live.Name() }

// Market data: the live exchange's.

func (e *Exchange) ExchangeInfo(ctx context.Context, opts ...adapters.CallOption) (adapters.ExchangeInfo, error) {
	info, err := e.live.ExchangeInfo(ctx, opts...)
	if err == nil {
		e.mu.Lock()
		for _, s := range info.Symbols {
			e.info[s.Symbol] = s
		}
		e.mu.Unlock()
	}
	return info, err
}

func (e *Exchange) Ticker(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.Ticker, error) {
	return e.live.Ticker(ctx, symbol, opts...)
}

func (e *Exchange) BookTicker(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.BookTicker, error) {
	bt, err := e.live.BookTicker(ctx, symbol, opts...)
	if err == nil {
		e.onTop(symbol, bt.BidPrice, bt.AskPrice)
	}
	return bt, err
}

func (e *Exchange) Depth(ctx context.Context, symbol string, limit int, opts ...adapters.CallOption) (adapters.Book, error) {
	return e.live.Depth(ctx, symbol, limit, opts...)
}

// Candles are the live exchange's (adapters.ErrNoCandles if it has none).
func (e *Exchange) Candles(ctx context.Context, symbol string, interval adapters.Interval, q adapters.CandleQuery, opts ...adapters.CallOption) ([]adapters.Candle, error) {
	if cr, ok := e.live.(adapters.CandleReader); ok {
		return cr.Candles(ctx, symbol, interval, q, opts...)
	}
	return nil, adapters.ErrNoCandles
}

// CandleStream is the live exchange's (adapters.ErrNoCandles if it has none).
func (e *Exchange) CandleStream(series []adapters.CandleSeries, h adapters.CandleHandler, o adapters.StreamOptions) (adapters.CandleStream, error) {
	if cs, ok := e.live.(adapters.CandleStreamer); ok {
		return cs.CandleStream(series, h, o)
	}
	return nil, adapters.ErrNoCandles
}

// MarketStream is the live exchange's; every book update also matches the resting orders.
func (e *Exchange) MarketStream(symbols []string, h adapters.MarketHandler, o adapters.StreamOptions) (adapters.MarketStream, error) {
	inner := h.OnBook
	h.OnBook = func(symbol string, book *adapters.OrderBook, u adapters.DepthUpdate) {
		if bid, ask, ok := book.Top(); ok {
			e.onTop(symbol, bid.Price, ask.Price)
		}
		if inner != nil {
			inner(symbol, book, u)
		}
	}
	return e.live.MarketStream(symbols, h, o)
}

// UserStream reports the paper account's order changes as they happen.
func (e *Exchange) UserStream(h adapters.UserHandler, _ adapters.StreamOptions) (adapters.UserStream, error) {
	return &userStream{e: e, h: h}, nil
}

type userStream struct {
	e *Exchange
	h adapters.UserHandler
}

func (u *userStream) Run(ctx context.Context) error {
	u.e.mu.Lock()
	u.e.users[u] = struct{}{}
	u.e.mu.Unlock()
	defer func() {
		u.e.mu.Lock()
		delete(u.e.users, u)
		u.e.mu.Unlock()
	}()
	if u.h.OnStatus != nil {
		u.h.OnStatus(true, nil)
	}
	<-ctx.Done()
	if u.h.OnStatus != nil {
		u.h.OnStatus(false, nil)
	}
	return ctx.Err()
}

// The account: local.

// errRefused is a validation refusal of the paper exchange (the scheduler's class
// validation: never retried).
func errRefused(format string, args ...any) error {
	return rest.LocalError(scheduler.ClassValidation, fmt.Errorf("paper: "+format, args...))
}

func (e *Exchange) Balances(ctx context.Context, _ ...adapters.CallOption) ([]adapters.Balance, error) {
	e.matchStale(ctx)
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.balancesLocked(), nil
}

// requires that e.mu is held.
func (e *Exchange) balancesLocked() []adapters.Balance {
	out := make([]adapters.Balance, 0, len(e.balances))
	for a, b := range e.balances {
		out = append(out, adapters.Balance{Asset: a, Free: b.free, Locked: b.locked})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Asset < out[j].Asset })
	return out
}

// TradingFees are the configured commission (adapters.AccountReader).
func (e *Exchange) TradingFees(_ context.Context, symbol string, _ ...adapters.CallOption) (adapters.TradingFees, error) {
	c := e.cfg.Commission
	return adapters.TradingFees{Symbol: symbol, Standard: adapters.CommissionRates{Maker: c, Taker: c}}, nil
}

// Account is the paper account: it may trade (adapters.AccountReader).
func (e *Exchange) Account(ctx context.Context, _ ...adapters.CallOption) (adapters.Account, error) {
	bs, _ := e.Balances(ctx)
	c := e.cfg.Commission
	return adapters.Account{CanTrade: true, Type: "SPOT", Permissions: []string{"SPOT"},
		Commission: adapters.CommissionRates{Maker: c, Taker: c}, Balances: bs}, nil
}

// symbol is a symbol's rules, read from the live exchange once.
func (e *Exchange) symbol(ctx context.Context, symbol string) (adapters.SymbolInfo, error) {
	e.mu.Lock()
	si, ok := e.info[symbol]
	e.mu.Unlock()
	if ok {
		return si, nil
	}
	if _, err := e.ExchangeInfo(ctx); err != nil {
		return si, err
	}
	e.mu.Lock()
	si, ok = e.info[symbol]
	e.mu.Unlock()
	if !ok {
		return si, errRefused("unknown symbol %s", symbol)
	}
	return si, nil
}

// topOf is symbol's book top: the stream's when fresh, else a book ticker read.
func (e *Exchange) topOf(ctx context.Context, symbol string) (top, error) {
	e.mu.Lock()
	t, ok := e.tops[symbol]
	e.mu.Unlock()
	if ok && e.clk.Now().Sub(t.at) < topFresh {
		return t, nil
	}
	bt, err := e.live.BookTicker(ctx, symbol)
	if err != nil {
		return top{}, err
	}
	if !bt.BidPrice.IsPositive() || !bt.AskPrice.GreaterThan(bt.BidPrice) {
		return top{}, errRefused("no sane book to fill against on %s (bid %s, ask %s)", symbol, bt.BidPrice, bt.AskPrice)
	}
	e.onTop(symbol, bt.BidPrice, bt.AskPrice)
	return top{bid: bt.BidPrice, ask: bt.AskPrice, at: e.clk.Now()}, nil
}

// PlaceOrder fills or rests req locally.
func (e *Exchange) PlaceOrder(ctx context.Context, req adapters.OrderRequest, _ ...adapters.CallOption) (adapters.Order, error) {
	si, err := e.symbol(ctx, req.Symbol)
	if err != nil {
		return adapters.Order{}, err
	}
	t, err := e.topOf(ctx, req.Symbol)
	if err != nil {
		return adapters.Order{}, err
	}
	now := e.clk.Now()
	e.mu.Lock()
	if _, dup := e.orders[req.ClientOrderID]; dup {
		e.mu.Unlock()
		return adapters.Order{}, errRefused("duplicate client order id %s", req.ClientOrderID)
	}
	e.nextID++
	o := &adapters.Order{Symbol: req.Symbol, ClientOrderID: req.ClientOrderID, ExchangeOrderID: "paper-" + strconv.FormatInt(e.nextID, 10),
		Side: req.Side, Type: req.Type, TimeInForce: req.TimeInForce, Price: req.Price, Quantity: req.Quantity,
		Status: adapters.StatusNew, CreatedAt: now, UpdatedAt: now}
	px, cross := t.ask, true
	if req.Side == adapters.Sell {
		px = t.bid
	}
	if req.Type != adapters.Market {
		cross = (req.Side == adapters.Buy && req.Price.GreaterThanOrEqual(t.ask)) || (req.Side == adapters.Sell && req.Price.LessThanOrEqual(t.bid))
		if req.Type == adapters.LimitMaker && cross {
			e.mu.Unlock()
			return adapters.Order{}, errRefused("a LIMIT_MAKER order would trade at once")
		}
		if !cross {
			px = req.Price
		}
	}
	// Funds: a buy locks the quote at its price (the ask for a market buy), a sell the base.
	lockAsset, need := si.QuoteAsset, req.Quantity.Mul(px)
	if req.Side == adapters.Sell {
		lockAsset, need = si.BaseAsset, req.Quantity
	}
	b := e.bal(lockAsset)
	if b.free.LessThan(need) {
		e.mu.Unlock()
		return adapters.Order{}, errRefused("insufficient balance: %s %s free, %s needed", b.free, lockAsset, need)
	}
	b.free, b.locked = b.free.Sub(need), b.locked.Add(need)
	e.orders[o.ClientOrderID] = o
	var ev []adapters.Order
	if cross {
		e.fillLocked(o, si, px, false, now)
		ev = append(ev, *o)
	} else if req.TimeInForce == adapters.IOC || req.TimeInForce == adapters.FOK {
		e.releaseLocked(o, si)
		o.Status = adapters.StatusExpired
		ev = append(ev, *o)
	} else {
		e.resting = append(e.resting, o.ClientOrderID)
	}
	out := *o
	users := e.usersLocked()
	e.mu.Unlock()
	notify(users, ev)
	return out, nil
}

// requires that e.mu is held.
func (e *Exchange) bal(asset string) *balance {
	b := e.balances[asset]
	if b == nil {
		b = &balance{}
		e.balances[asset] = b
	}
	return b
}

// fillLocked fills o whole at px: the locked funds pay, the commission is taken from what it
// receives.
// requires that e.mu is held.
func (e *Exchange) fillLocked(o *adapters.Order, si adapters.SymbolInfo, px decimal.Decimal, maker bool, now time.Time) {
	base, quote := e.bal(si.BaseAsset), e.bal(si.QuoteAsset)
	qty := o.Quantity
	notional := qty.Mul(px)
	f := adapters.Fill{Symbol: o.Symbol, TradeID: e.nextTrade(), ExchangeOrderID: o.ExchangeOrderID, Price: px,
		Quantity: qty, QuoteQuantity: notional, IsBuyer: o.Side == adapters.Buy, IsMaker: maker, Time: now}
	if o.Side == adapters.Buy {
		// A buy locked qty × px: the ask it crossed, or its own price it rests at and fills at.
		quote.locked = quote.locked.Sub(notional)
		f.Commission, f.CommissionAsset = qty.Mul(e.cfg.Commission), si.BaseAsset
		base.free = base.free.Add(qty.Sub(f.Commission))
	} else {
		base.locked = base.locked.Sub(qty)
		f.Commission, f.CommissionAsset = notional.Mul(e.cfg.Commission), si.QuoteAsset
		quote.free = quote.free.Add(notional.Sub(f.Commission))
	}
	o.ExecutedQty, o.CumulativeQuote = qty, notional
	o.Status, o.UpdatedAt = adapters.StatusFilled, now
	e.fills[o.Symbol] = append(e.fills[o.Symbol], f)
}

// nextTrade is the next trade id.
// requires that e.mu is held.
func (e *Exchange) nextTrade() int64 {
	n := int64(0)
	for _, fs := range e.fills {
		n += int64(len(fs))
	}
	return n + 1
}

// releaseLocked gives a resting order's locked funds back.
// requires that e.mu is held.
func (e *Exchange) releaseLocked(o *adapters.Order, si adapters.SymbolInfo) {
	if o.Side == adapters.Buy {
		q := e.bal(si.QuoteAsset)
		amt := o.Quantity.Mul(o.Price)
		q.locked, q.free = q.locked.Sub(amt), q.free.Add(amt)
		return
	}
	b := e.bal(si.BaseAsset)
	b.locked, b.free = b.locked.Sub(o.Quantity), b.free.Add(o.Quantity)
}

// requires that e.mu is held.
func (e *Exchange) usersLocked() []*userStream {
	out := make([]*userStream, 0, len(e.users))
	for u := range e.users {
		out = append(out, u)
	}
	return out
}

// notify tells the user streams of order changes, outside the lock.
func notify(users []*userStream, orders []adapters.Order) {
	for _, o := range orders {
		for _, u := range users {
			if u.h.OnOrder != nil {
				u.h.OnOrder(o)
			}
		}
	}
}

// onTop records symbol's book top and fills the resting orders it reaches.
func (e *Exchange) onTop(symbol string, bid, ask decimal.Decimal) {
	if !bid.IsPositive() || !ask.GreaterThan(bid) {
		return // not a book to fill against
	}
	now := e.clk.Now()
	e.mu.Lock()
	e.tops[symbol] = top{bid: bid, ask: ask, at: now}
	var filled []adapters.Order
	kept := e.resting[:0]
	for _, id := range e.resting {
		o := e.orders[id]
		if o.Symbol != symbol || o.Status != adapters.StatusNew {
			if o.Status == adapters.StatusNew {
				kept = append(kept, id)
			}
			continue
		}
		if (o.Side == adapters.Buy && ask.LessThanOrEqual(o.Price)) || (o.Side == adapters.Sell && bid.GreaterThanOrEqual(o.Price)) {
			e.fillLocked(o, e.info[symbol], o.Price, true, now)
			filled = append(filled, *o)
			continue
		}
		kept = append(kept, id)
	}
	e.resting = kept
	users := e.usersLocked()
	e.mu.Unlock()
	notify(users, filled)
}

// matchStale reads the book top of every symbol with resting orders whose streamed top is not
// fresh (no market stream, or a quiet one), so resting orders fill without a stream too.
func (e *Exchange) matchStale(ctx context.Context) {
	e.mu.Lock()
	var syms []string
	seen := map[string]bool{}
	now := e.clk.Now()
	for _, id := range e.resting {
		s := e.orders[id].Symbol
		if t, ok := e.tops[s]; !seen[s] && (!ok || now.Sub(t.at) >= topFresh) {
			seen[s] = true
			syms = append(syms, s)
		}
	}
	e.mu.Unlock()
	for _, s := range syms {
		_, _ = e.topOf(ctx, s) // a failed read leaves the orders resting until the next
	}
}

// QueryOrder is a paper order by client id, or adapters.ErrOrderNotFound.
func (e *Exchange) QueryOrder(ctx context.Context, symbol, clientOrderID string, _ ...adapters.CallOption) (adapters.Order, error) {
	e.matchStale(ctx)
	e.mu.Lock()
	defer e.mu.Unlock()
	o, ok := e.orders[clientOrderID]
	if !ok || o.Symbol != symbol {
		return adapters.Order{}, adapters.ErrOrderNotFound
	}
	return *o, nil
}

// CancelOrder cancels a resting paper order; one that is not resting (filled, cancelled,
// unknown) is adapters.ErrOrderNotFound, as Binance answers -2011 for it.
func (e *Exchange) CancelOrder(ctx context.Context, symbol, clientOrderID string, _ ...adapters.CallOption) (adapters.Order, error) {
	e.mu.Lock()
	o, ok := e.orders[clientOrderID]
	if !ok || o.Symbol != symbol || o.Status != adapters.StatusNew {
		e.mu.Unlock()
		return adapters.Order{}, adapters.ErrOrderNotFound
	}
	e.releaseLocked(o, e.info[symbol])
	o.Status, o.UpdatedAt = adapters.StatusCanceled, e.clk.Now()
	out := *o
	users := e.usersLocked()
	e.mu.Unlock()
	notify(users, []adapters.Order{out})
	return out, nil
}

// OpenOrders lists resting paper orders of symbol ("" for all).
func (e *Exchange) OpenOrders(ctx context.Context, symbol string, _ ...adapters.CallOption) ([]adapters.Order, error) {
	e.matchStale(ctx)
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []adapters.Order
	for _, id := range e.resting {
		if o := e.orders[id]; o.Status == adapters.StatusNew && (symbol == "" || o.Symbol == symbol) {
			out = append(out, *o)
		}
	}
	return out, nil
}

// Trades lists the paper fills of symbol with trade id >= fromID (0: all).
func (e *Exchange) Trades(_ context.Context, symbol string, fromID int64, _ ...adapters.CallOption) ([]adapters.Fill, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []adapters.Fill
	for _, f := range e.fills[symbol] {
		if f.TradeID >= fromID {
			out = append(out, f)
		}
	}
	return out, nil
}

var _ adapters.Exchange = (*Exchange)(nil)
var _ adapters.AccountReader = (*Exchange)(nil)
