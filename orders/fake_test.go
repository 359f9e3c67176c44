package orders_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

// fault scripts one PlaceOrder attempt of fakeExchange.
type fault struct {
	land bool  // the order is booked although err is returned
	err  error // what the attempt returns
}

// Errors as the scheduler returns them.
var (
	errUnknown  = &scheduler.Error{Class: scheduler.ClassUnknown, Attempts: 1, Outcome: scheduler.Outcome{Status: 503, Code: -1007, Message: "Timeout waiting for response from backend server."}}
	errRejected = &scheduler.Error{Class: scheduler.ClassValidation, Attempts: 1, Outcome: scheduler.Outcome{Status: 400, Code: -2010, Message: "Account has insufficient balance for requested action."}}
	errReadFail = &scheduler.Error{Class: scheduler.ClassTransient, Attempts: 3, Outcome: scheduler.Outcome{Status: 503}}
	errGate     = &scheduler.GateClosedError{Err: errors.New("halted")}
)

// fakeExchange is an in-memory adapters.Exchange. PlaceOrder behaves like an adapter behind
// the scheduler: an unknown outcome asks the call's RetrySafe and, when it says safe, tries
// again (up to 2 retries), consuming one scripted fault per attempt.
type fakeExchange struct {
	adapters.NoStreams
	mu      sync.Mutex
	info    adapters.ExchangeInfo
	orders  map[string]*adapters.Order // by client order id
	seq     int64
	trades  []adapters.Fill
	faults  []fault // consumed by PlaceOrder attempts
	qerrs   []error // consumed by QueryOrder calls before answering
	openErr error
	// openShed is how many OpenOrders calls the scheduler sheds (never sent) before one is
	// answered.
	openShed int
	onPlace  func() // called during every placement attempt
	// hold, if set, runs before a placement's first attempt, outside the lock: the request
	// waiting in the scheduler's queue. An error ends the placement with nothing sent.
	hold func(ctx context.Context) error
	now  func() time.Time
	// lasting keeps client order ids as lasting keys (adapters.LastingClientIDs, Coinbase): a
	// create repeating an id is answered with the original order instead of "Duplicate".
	lasting bool

	attempts    []adapters.OrderRequest // every PlaceOrder attempt
	placeCalls  int
	queries     int
	queriedKeys map[string]int                  // queries by client order id
	priorities  map[string][]scheduler.Priority // method → priorities seen
}

func newFakeExchange() *fakeExchange {
	return &fakeExchange{
		info: adapters.ExchangeInfo{Symbols: []adapters.SymbolInfo{
			symbolInfo("BTCUSDT", "TRADING"), symbolInfo("HALTUSDT", "HALT"),
		}},
		orders:     map[string]*adapters.Order{},
		now:        func() time.Time { return time.Unix(1700000000, 0) },
		priorities: map[string][]scheduler.Priority{},
	}
}

func symbolInfo(name, status string) adapters.SymbolInfo {
	d := decimal.RequireFromString
	return adapters.SymbolInfo{
		Symbol: name, Status: status, BaseAsset: "BTC", QuoteAsset: "USDT",
		TickSize: d("0.01"), MinPrice: d("0.01"), MaxPrice: d("1000000"),
		StepSize: d("0.00001"), MinQty: d("0.00001"), MaxQty: d("9000"),
		MinNotional: d("5"), MaxNotional: d("9000000"),
	}
}

func (f *fakeExchange) script(fs ...fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, fs...)
}

func (f *fakeExchange) failQueries(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.qerrs = append(f.qerrs, errs...)
}

func (f *fakeExchange) seen(method string, p scheduler.Priority, opts []adapters.CallOption) {
	o := adapters.ApplyCallOptions(opts)
	f.priorities[method] = append(f.priorities[method], o.PriorityOr(p))
}

func (f *fakeExchange) Name() string { return "fake" }

func (f *fakeExchange) LastingClientIDs() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lasting
}

func (f *fakeExchange) ExchangeInfo(ctx context.Context, opts ...adapters.CallOption) (adapters.ExchangeInfo, error) {
	return f.info, nil
}

func (f *fakeExchange) Ticker(context.Context, string, ...adapters.CallOption) (adapters.Ticker, error) {
	return adapters.Ticker{}, errors.New("fake: not implemented")
}

func (f *fakeExchange) BookTicker(context.Context, string, ...adapters.CallOption) (adapters.BookTicker, error) {
	return adapters.BookTicker{}, errors.New("fake: not implemented")
}

func (f *fakeExchange) Depth(context.Context, string, int, ...adapters.CallOption) (adapters.Book, error) {
	return adapters.Book{}, errors.New("fake: not implemented")
}

func (f *fakeExchange) Balances(context.Context, ...adapters.CallOption) ([]adapters.Balance, error) {
	return nil, nil
}

func (f *fakeExchange) PlaceOrder(ctx context.Context, req adapters.OrderRequest, opts ...adapters.CallOption) (adapters.Order, error) {
	f.mu.Lock()
	f.placeCalls++
	f.seen("place", scheduler.PriorityOrders, opts)
	f.mu.Unlock()
	o := adapters.ApplyCallOptions(opts)
	if f.hold != nil {
		if err := f.hold(ctx); err != nil {
			return adapters.Order{}, err
		}
	}
	for retry := 0; ; retry++ {
		got, err := f.placeAttempt(req)
		if err == nil || !errors.Is(err, scheduler.ErrUnknownOutcome) || o.RetrySafe == nil || retry == 2 {
			return got, err
		}
		safe, serr := o.RetrySafe(ctx, scheduler.Outcome{Status: 503})
		if serr != nil || !safe {
			if serr != nil {
				return adapters.Order{}, &scheduler.Error{Class: scheduler.ClassUnknown, Attempts: retry + 1, Cause: serr}
			}
			return adapters.Order{}, err
		}
	}
}

func (f *fakeExchange) placeAttempt(req adapters.OrderRequest) (adapters.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts = append(f.attempts, req)
	if f.onPlace != nil {
		f.onPlace()
	}
	var ft fault
	if len(f.faults) > 0 {
		ft, f.faults = f.faults[0], f.faults[1:]
	} else {
		ft.land = true
	}
	if !ft.land {
		return adapters.Order{}, ft.err
	}
	if o, dup := f.orders[req.ClientOrderID]; dup {
		if ft.err != nil {
			return adapters.Order{}, ft.err
		}
		if f.lasting {
			return *o, nil
		}
		return adapters.Order{}, &scheduler.Error{Class: scheduler.ClassValidation, Attempts: 1, Outcome: scheduler.Outcome{Status: 400, Code: -2010, Message: "Duplicate order sent."}}
	}
	f.seq++
	o := &adapters.Order{
		Symbol: req.Symbol, ClientOrderID: req.ClientOrderID, ExchangeOrderID: strconv.FormatInt(f.seq, 10),
		Side: req.Side, Type: req.Type, TimeInForce: req.TimeInForce, Price: req.Price, Quantity: req.Quantity,
		Status: adapters.StatusNew, CreatedAt: f.now(), UpdatedAt: f.now(),
	}
	f.orders[req.ClientOrderID] = o
	if ft.err != nil {
		return adapters.Order{}, ft.err
	}
	return *o, nil
}

func (f *fakeExchange) QueryOrder(ctx context.Context, symbol, id string, opts ...adapters.CallOption) (adapters.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries++
	if f.queriedKeys == nil {
		f.queriedKeys = map[string]int{}
	}
	f.queriedKeys[id]++
	f.seen("query", scheduler.PriorityAccount, opts)
	if len(f.qerrs) > 0 {
		err := f.qerrs[0]
		f.qerrs = f.qerrs[1:]
		return adapters.Order{}, err
	}
	o, ok := f.orders[id]
	if !ok || o.Symbol != symbol {
		return adapters.Order{}, fmt.Errorf("fake: %s: %w", id, adapters.ErrOrderNotFound)
	}
	return *o, nil
}

func (f *fakeExchange) CancelOrder(ctx context.Context, symbol, id string, opts ...adapters.CallOption) (adapters.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen("cancel", scheduler.PriorityCritical, opts)
	o, ok := f.orders[id]
	if !ok || o.Symbol != symbol || o.Status.Final() {
		return adapters.Order{}, fmt.Errorf("fake: cancel %s: %w", id, adapters.ErrOrderNotFound)
	}
	o.Status, o.UpdatedAt = adapters.StatusCanceled, f.now()
	return *o, nil
}

func (f *fakeExchange) OpenOrders(ctx context.Context, symbol string, opts ...adapters.CallOption) ([]adapters.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen("open", scheduler.PriorityAccount, opts)
	if f.openShed > 0 {
		f.openShed--
		return nil, fmt.Errorf("fake: open orders: %w", scheduler.ErrShed)
	}
	if f.openErr != nil {
		return nil, f.openErr
	}
	var out []adapters.Order
	for _, o := range f.orders {
		if !o.Status.Final() && (symbol == "" || o.Symbol == symbol) {
			out = append(out, *o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ExchangeOrderID < out[j].ExchangeOrderID })
	return out, nil
}

func (f *fakeExchange) Trades(ctx context.Context, symbol string, fromID int64, opts ...adapters.CallOption) ([]adapters.Fill, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []adapters.Fill
	for _, t := range f.trades {
		if t.Symbol == symbol && t.TradeID >= fromID {
			out = append(out, t)
		}
	}
	return out, nil
}

// book puts an order on the exchange directly (as another process of this bot, or a human).
func (f *fakeExchange) book(symbol, id, qty, price string) adapters.Order {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	o := &adapters.Order{
		Symbol: symbol, ClientOrderID: id, ExchangeOrderID: strconv.FormatInt(f.seq, 10),
		Side: adapters.Buy, Type: adapters.Limit, TimeInForce: adapters.GTC,
		Price: decimal.RequireFromString(price), Quantity: decimal.RequireFromString(qty),
		Status: adapters.StatusNew, CreatedAt: f.now(), UpdatedAt: f.now(),
	}
	f.orders[id] = o
	return *o
}

// fill executes qty of an order at its price and records the trade.
func (f *fakeExchange) fill(id, qty string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[id]
	q := decimal.RequireFromString(qty)
	o.ExecutedQty = o.ExecutedQty.Add(q)
	o.CumulativeQuote = o.CumulativeQuote.Add(q.Mul(o.Price))
	o.Status = adapters.StatusPartiallyFilled
	if o.ExecutedQty.Cmp(o.Quantity) >= 0 {
		o.Status = adapters.StatusFilled
	}
	f.trades = append(f.trades, adapters.Fill{
		Symbol: o.Symbol, TradeID: int64(len(f.trades) + 1), ExchangeOrderID: o.ExchangeOrderID,
		Price: o.Price, Quantity: q, QuoteQuantity: q.Mul(o.Price), Time: f.now(),
	})
}

func (f *fakeExchange) order(id string) (adapters.Order, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.orders[id]
	if !ok {
		return adapters.Order{}, false
	}
	return *o, true
}

func (f *fakeExchange) numOrders() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.orders)
}

func (f *fakeExchange) numAttempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.attempts)
}

func (f *fakeExchange) queriesOf(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queriedKeys[id]
}
