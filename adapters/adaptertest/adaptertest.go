// Package adaptertest is the conformance suite every exchange adapter passes: placement,
// query by client order id, cancel, open orders, balances, fills, the failure classes of the
// usual mistakes (unknown symbol, filter failure, bad or revoked key, duplicate client order
// id, unknown order), the failure classes of the exchange's own trouble (a rate limit with
// Retry-After, a 5xx on a read, a placement whose outcome is unknown: see Fault) and usage
// feedback reaching the scheduler.
//
// An adapter's test gives Run a Harness that builds a fresh adapter against a live exchange,
// usually a simulator on loopback:
//
//	func TestConformance(t *testing.T) {
//		adaptertest.Run(t, adaptertest.Harness{New: func(t *testing.T) *adaptertest.Env { ... }})
//	}
//
// The suite only uses the adapters.Exchange contract and the hooks in Env, so it runs against
// any exchange; hooks an exchange cannot offer are left nil and their subtests are skipped.
// Adapters that also implement adapters.AccountReader (fees and account standing) are held
// to it too; for others those subtests are skipped.
package adaptertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

// Harness adapts the suite to one exchange adapter.
type Harness struct {
	// New returns a fresh adapter on a fresh exchange (or a fresh account), with valid
	// credentials. Every subtest calls it, so breakers, bans and orders of one subtest do not
	// leak into another. Register cleanups with t.Cleanup.
	New func(t *testing.T) *Env
	// Timeout bounds each exchange call; default 20s.
	Timeout time.Duration
}

// Env is one fresh adapter and the hooks that drive its exchange.
type Env struct {
	// Exchange is the adapter under test.
	Exchange adapters.Exchange
	// Symbol is a TRADING symbol whose quote asset the account holds enough of to buy a few
	// times its minimum notional, and whose base asset it holds enough of to sell as much.
	Symbol string

	// BadKey, if set, returns an adapter on the same exchange whose credentials the exchange
	// does not know.
	BadKey func(t *testing.T) adapters.Exchange
	// RevokeKey, if set, makes the exchange reject Exchange's key until restore is called.
	RevokeKey func(t *testing.T) (restore func())
	// SetPrice, if set, moves a symbol's last price; resting orders it crosses fill.
	SetPrice func(t *testing.T, symbol string, price decimal.Decimal)
	// Usage, if set, returns the usage counts the adapter has fed its scheduler (the
	// exchange's own counts, reported with answers).
	Usage func() []scheduler.Usage
	// DisableTrading, if set, makes the exchange refuse the account's orders and cancels
	// (an account that "may not place or cancel orders") until restore is called.
	DisableTrading func(t *testing.T) (restore func())
	// WantFees, if set, are the fees the exchange charges on Symbol; TradingFees must
	// report them.
	WantFees *adapters.TradingFees
	// Inject, if set, makes the exchange fail requests as f says until clear is called. The
	// subtests of the exchange's failures (Fault) need it and Requests, and skip without.
	Inject func(t *testing.T, f Fault) (clear func())
	// Requests, if set, counts the requests the exchange has received, answered or not: all
	// of them, and the order placements among them. The failure subtests use it to check
	// that nothing was resent.
	Requests func() (all, placements int64)
	// LastingClientIDs: the exchange answers a create repeating a client order id with the
	// original order (Coinbase), so the adapter may settle an unknown outcome by resending
	// the identical create. The unknown-outcome tests then allow resends, and still require
	// at most one order under the id.
	LastingClientIDs bool
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("adaptertest: Harness.New is nil")
	}
	if h.Timeout == 0 {
		h.Timeout = 20 * time.Second
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := h.New(t)
			if env == nil || env.Exchange == nil || env.Symbol == "" {
				t.Fatal("adaptertest: Harness.New returned an Env without Exchange or Symbol")
			}
			ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
			defer cancel()
			defer func() {
				if r := recover(); r != nil {
					f, ok := r.(failure)
					if !ok {
						panic(r)
					}
					t.Fatalf("%s: %v", f.where, f.err)
				}
			}()
			c.run(ctx, t, env)
		})
	}
}

type testCase struct {
	name string
	run  func(ctx context.Context, t *testing.T, env *Env)
}

var cases = []testCase{
	{"ExchangeInfo", testExchangeInfo},
	{"MarketData", testMarketData},
	{"Balances", testBalances},
	{"PlaceQueryCancel", testPlaceQueryCancel},
	{"DuplicateClientOrderID", testDuplicateClientOrderID},
	{"QueryUnknownOrder", testQueryUnknown},
	{"CancelUnknownOrder", testCancelUnknown},
	{"UnknownSymbol", testUnknownSymbol},
	{"FilterFailure", testFilterFailure},
	{"MarketOrderFillsAndTrades", testMarketOrder},
	{"RestingOrderFillsWhenPriceCrosses", testRestingFill},
	{"BadKey", testBadKey},
	{"RevokedKey", testRevokedKey},
	{"UsageFeedback", testUsage},
	{"TradingFees", testTradingFees},
	{"TradingFeesUnknownSymbol", testTradingFeesUnknownSymbol},
	{"AccountStanding", testAccountStanding},
	{"TradingDisabled", testTradingDisabled},
	{"RateLimited", testRateLimited},
	{"TransientRead", testTransientRead},
	{"PlacementServerError", testPlacementUnknown(FaultServerError, false)},
	{"PlacementExecutionUnknown", testPlacementUnknown(FaultUnknownOutcome, true)},
	{"PlacementAnswerLost", testPlacementUnknown(FaultLostAnswer, true)},
}

// NewClientOrderID returns a fresh id matching Binance's ^[a-zA-Z0-9-_]{1,36}$, which every
// exchange the suite runs against must accept.
func NewClientOrderID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "kt-" + hex.EncodeToString(b[:])
}

// wantClass fails t unless err is a failure of class want.
func wantClass(t *testing.T, err error, want scheduler.Class) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want a %s failure", want)
	}
	if got := scheduler.ClassOf(err); got != want {
		t.Fatalf("got class %s (%v), want %s", got, err, want)
	}
}

// failure is must's panic value; Run turns it into t.Fatal on the subtest's goroutine.
type failure struct {
	where string
	err   error
}

// must returns v, or ends the subtest when err is set (calls can then be chained inline:
// must(ex.Ticker(ctx, s)).Price).
func must[T any](v T, err error) T {
	if err != nil {
		_, file, line, _ := runtime.Caller(1)
		panic(failure{where: filepath.Base(file) + ":" + strconv.Itoa(line), err: err})
	}
	return v
}

// market is what the order tests need to know about the symbol.
type market struct {
	info  adapters.SymbolInfo
	price decimal.Decimal
}

func loadMarket(ctx context.Context, t *testing.T, env *Env) market {
	t.Helper()
	info := must(env.Exchange.ExchangeInfo(ctx))
	si, ok := info.Symbol(env.Symbol)
	if !ok {
		t.Fatalf("ExchangeInfo does not list %s", env.Symbol)
	}
	tk := must(env.Exchange.Ticker(ctx, env.Symbol))
	return market{info: si, price: tk.Price}
}

func floorTo(x, step decimal.Decimal) decimal.Decimal {
	if step.IsZero() {
		return x
	}
	return x.Div(step).Floor().Mul(step)
}

func ceilTo(x, step decimal.Decimal) decimal.Decimal {
	if step.IsZero() {
		return x
	}
	return x.Div(step).Ceil().Mul(step)
}

// quantityFor returns a quantity on the step grid worth at least twice the minimum notional
// at price (and at least MinQty).
func (m market) quantityFor(price decimal.Decimal) decimal.Decimal {
	notional := m.info.MinNotional.Mul(decimal.NewFromInt(2))
	if notional.IsZero() {
		notional = decimal.NewFromInt(10)
	}
	q := ceilTo(notional.DivRound(price, 16), m.info.StepSize)
	if q.LessThan(m.info.MinQty) {
		q = ceilTo(m.info.MinQty, m.info.StepSize)
	}
	return q
}

// restingBuy is a limit buy far enough below the market that it rests.
func (m market) restingBuy(symbol string) adapters.OrderRequest {
	price := floorTo(m.price.Mul(decimal.RequireFromString("0.8")), m.info.TickSize)
	if price.LessThan(m.info.MinPrice) {
		price = m.info.MinPrice
	}
	return adapters.OrderRequest{
		Symbol: symbol, Side: adapters.Buy, Type: adapters.Limit, TimeInForce: adapters.GTC,
		Quantity: m.quantityFor(price), Price: price, ClientOrderID: NewClientOrderID(),
	}
}

func findOrder(orders []adapters.Order, clientOrderID string) (adapters.Order, int) {
	var found adapters.Order
	n := 0
	for _, o := range orders {
		if o.ClientOrderID == clientOrderID {
			found, n = o, n+1
		}
	}
	return found, n
}

func testExchangeInfo(ctx context.Context, t *testing.T, env *Env) {
	info := must(env.Exchange.ExchangeInfo(ctx))
	si, ok := info.Symbol(env.Symbol)
	if !ok {
		t.Fatalf("%s not listed", env.Symbol)
	}
	if si.Status != "TRADING" || !si.TickSize.IsPositive() || !si.StepSize.IsPositive() || si.BaseAsset == "" || si.QuoteAsset == "" {
		t.Fatalf("symbol info incomplete: %+v", si)
	}
	if len(info.RateLimits) == 0 {
		t.Fatal("no rate limits announced")
	}
	for _, l := range info.RateLimits {
		if l.Window == "" || l.Limit < 1 || l.Interval <= 0 {
			t.Errorf("rate limit incomplete: %+v", l)
		}
	}
}

func testMarketData(ctx context.Context, t *testing.T, env *Env) {
	tk := must(env.Exchange.Ticker(ctx, env.Symbol))
	if tk.Symbol != env.Symbol || !tk.Price.IsPositive() {
		t.Fatalf("ticker: %+v", tk)
	}
	bt := must(env.Exchange.BookTicker(ctx, env.Symbol))
	if bt.Symbol != env.Symbol || !bt.BidPrice.IsPositive() || bt.AskPrice.LessThan(bt.BidPrice) {
		t.Fatalf("book ticker: %+v", bt)
	}
	book := must(env.Exchange.Depth(ctx, env.Symbol, 5))
	if book.Symbol != env.Symbol || len(book.Bids) == 0 || len(book.Asks) == 0 || len(book.Bids) > 5 || len(book.Asks) > 5 {
		t.Fatalf("depth: %d bids, %d asks", len(book.Bids), len(book.Asks))
	}
	for i := 1; i < len(book.Bids); i++ {
		if book.Bids[i].Price.GreaterThan(book.Bids[i-1].Price) {
			t.Fatal("bids not sorted best first")
		}
	}
	for i := 1; i < len(book.Asks); i++ {
		if book.Asks[i].Price.LessThan(book.Asks[i-1].Price) {
			t.Fatal("asks not sorted best first")
		}
	}
	if book.Asks[0].Price.LessThan(book.Bids[0].Price) {
		t.Fatal("crossed book")
	}
}

func testBalances(ctx context.Context, t *testing.T, env *Env) {
	m := loadMarket(ctx, t, env)
	bs := must(env.Exchange.Balances(ctx))
	for _, b := range bs {
		if b.Asset == m.info.QuoteAsset {
			if !b.Free.IsPositive() || b.Locked.IsNegative() {
				t.Fatalf("quote balance: %+v", b)
			}
			return
		}
	}
	t.Fatalf("no %s balance in %d balances", m.info.QuoteAsset, len(bs))
}

func testPlaceQueryCancel(ctx context.Context, t *testing.T, env *Env) {
	ex := env.Exchange
	m := loadMarket(ctx, t, env)
	req := m.restingBuy(env.Symbol)
	placed := must(ex.PlaceOrder(ctx, req))
	if placed.ClientOrderID != req.ClientOrderID || placed.Symbol != env.Symbol || placed.Status != adapters.StatusNew ||
		placed.Side != adapters.Buy || placed.Type != adapters.Limit || !placed.Price.Equal(req.Price) ||
		!placed.Quantity.Equal(req.Quantity) || placed.ExchangeOrderID == "" {
		t.Fatalf("placed: %+v, requested %+v", placed, req)
	}

	got := must(ex.QueryOrder(ctx, env.Symbol, req.ClientOrderID))
	if got.ExchangeOrderID != placed.ExchangeOrderID || got.Status != adapters.StatusNew || !got.Price.Equal(req.Price) {
		t.Fatalf("queried: %+v", got)
	}

	if _, n := findOrder(must(ex.OpenOrders(ctx, env.Symbol)), req.ClientOrderID); n != 1 {
		t.Fatalf("open orders of %s list the order %d times", env.Symbol, n)
	}
	if _, n := findOrder(must(ex.OpenOrders(ctx, "")), req.ClientOrderID); n != 1 {
		t.Fatalf("open orders of every symbol list the order %d times", n)
	}

	canceled := must(ex.CancelOrder(ctx, env.Symbol, req.ClientOrderID))
	if canceled.ClientOrderID != req.ClientOrderID || canceled.Status != adapters.StatusCanceled {
		t.Fatalf("canceled: %+v", canceled)
	}
	got = must(ex.QueryOrder(ctx, env.Symbol, req.ClientOrderID))
	if got.Status != adapters.StatusCanceled || !got.Status.Final() {
		t.Fatalf("after cancel: %+v", got)
	}
	if _, n := findOrder(must(ex.OpenOrders(ctx, env.Symbol)), req.ClientOrderID); n != 0 {
		t.Fatal("a canceled order is still open")
	}
	// Cancelling again: nothing open by that id.
	_, err := ex.CancelOrder(ctx, env.Symbol, req.ClientOrderID)
	if !errors.Is(err, adapters.ErrOrderNotFound) {
		t.Fatalf("second cancel: %v, want ErrOrderNotFound", err)
	}
}

func testDuplicateClientOrderID(ctx context.Context, t *testing.T, env *Env) {
	ex := env.Exchange
	m := loadMarket(ctx, t, env)
	req := m.restingBuy(env.Symbol)
	must(ex.PlaceOrder(ctx, req))
	_, err := ex.PlaceOrder(ctx, req)
	wantClass(t, err, scheduler.ClassValidation)
	if _, n := findOrder(must(ex.OpenOrders(ctx, env.Symbol)), req.ClientOrderID); n != 1 {
		t.Fatalf("%d open orders under one client order id, want 1", n)
	}
	must(ex.CancelOrder(ctx, env.Symbol, req.ClientOrderID))
}

func testQueryUnknown(ctx context.Context, t *testing.T, env *Env) {
	_, err := env.Exchange.QueryOrder(ctx, env.Symbol, NewClientOrderID())
	if !errors.Is(err, adapters.ErrOrderNotFound) {
		t.Fatalf("got %v, want ErrOrderNotFound", err)
	}
	wantClass(t, err, scheduler.ClassValidation)
}

func testCancelUnknown(ctx context.Context, t *testing.T, env *Env) {
	_, err := env.Exchange.CancelOrder(ctx, env.Symbol, NewClientOrderID())
	if !errors.Is(err, adapters.ErrOrderNotFound) {
		t.Fatalf("got %v, want ErrOrderNotFound", err)
	}
	wantClass(t, err, scheduler.ClassValidation)
}

func testUnknownSymbol(ctx context.Context, t *testing.T, env *Env) {
	const symbol = "KEELNOSUCHSYM"
	_, err := env.Exchange.Ticker(ctx, symbol)
	wantClass(t, err, scheduler.ClassValidation)
	_, err = env.Exchange.PlaceOrder(ctx, adapters.OrderRequest{
		Symbol: symbol, Side: adapters.Buy, Type: adapters.Limit, TimeInForce: adapters.GTC,
		Quantity: decimal.NewFromInt(1), Price: decimal.NewFromInt(1), ClientOrderID: NewClientOrderID(),
	})
	wantClass(t, err, scheduler.ClassValidation)
}

func testFilterFailure(ctx context.Context, t *testing.T, env *Env) {
	ex := env.Exchange
	m := loadMarket(ctx, t, env)
	base := m.restingBuy(env.Symbol)

	offTick := base
	offTick.ClientOrderID = NewClientOrderID()
	offTick.Price = base.Price.Add(m.info.TickSize.Div(decimal.NewFromInt(3)))
	_, err := ex.PlaceOrder(ctx, offTick)
	wantClass(t, err, scheduler.ClassValidation)

	offStep := base
	offStep.ClientOrderID = NewClientOrderID()
	offStep.Quantity = base.Quantity.Add(m.info.StepSize.Div(decimal.NewFromInt(3)))
	_, err = ex.PlaceOrder(ctx, offStep)
	wantClass(t, err, scheduler.ClassValidation)

	if m.info.MinNotional.IsPositive() {
		tiny := base
		tiny.ClientOrderID = NewClientOrderID()
		tiny.Quantity = ceilTo(m.info.MinQty, m.info.StepSize)
		if tiny.Quantity.Mul(tiny.Price).LessThan(m.info.MinNotional) {
			_, err = ex.PlaceOrder(ctx, tiny)
			wantClass(t, err, scheduler.ClassValidation)
		}
	}
	if n := len(must(ex.OpenOrders(ctx, env.Symbol))); n != 0 {
		t.Fatalf("%d orders open after rejected placements", n)
	}
}

func testMarketOrder(ctx context.Context, t *testing.T, env *Env) {
	ex := env.Exchange
	m := loadMarket(ctx, t, env)
	before := balanceOf(must(ex.Balances(ctx)), m.info.BaseAsset)
	req := adapters.OrderRequest{Symbol: env.Symbol, Side: adapters.Buy, Type: adapters.Market,
		Quantity: m.quantityFor(m.price), ClientOrderID: NewClientOrderID()}
	o := must(ex.PlaceOrder(ctx, req))
	if o.Status != adapters.StatusFilled || !o.ExecutedQty.Equal(req.Quantity) || !o.CumulativeQuote.IsPositive() {
		t.Fatalf("market order: %+v", o)
	}
	fills := must(ex.Trades(ctx, env.Symbol, 0))
	var qty decimal.Decimal
	for _, f := range fills {
		if f.ExchangeOrderID == o.ExchangeOrderID {
			if !f.IsBuyer || !f.Price.IsPositive() || f.Symbol != env.Symbol {
				t.Fatalf("fill: %+v", f)
			}
			qty = qty.Add(f.Quantity)
		}
	}
	if !qty.Equal(req.Quantity) {
		t.Fatalf("fills of the order add up to %s, want %s", qty, req.Quantity)
	}
	after := balanceOf(must(ex.Balances(ctx)), m.info.BaseAsset)
	if !after.GreaterThan(before) {
		t.Fatalf("%s balance %s → %s after a buy", m.info.BaseAsset, before, after)
	}
	// The fills are also reachable from their own trade id.
	if len(fills) > 0 {
		from := fills[len(fills)-1].TradeID
		for _, f := range must(ex.Trades(ctx, env.Symbol, from)) {
			if f.TradeID < from {
				t.Fatalf("Trades(fromID=%d) returned trade %d", from, f.TradeID)
			}
		}
	}
}

func balanceOf(bs []adapters.Balance, asset string) decimal.Decimal {
	for _, b := range bs {
		if b.Asset == asset {
			return b.Free.Add(b.Locked)
		}
	}
	return decimal.Zero
}

func testRestingFill(ctx context.Context, t *testing.T, env *Env) {
	if env.SetPrice == nil {
		t.Skip("the harness cannot move prices")
	}
	ex := env.Exchange
	m := loadMarket(ctx, t, env)
	req := m.restingBuy(env.Symbol)
	must(ex.PlaceOrder(ctx, req))
	env.SetPrice(t, env.Symbol, floorTo(req.Price.Mul(decimal.RequireFromString("0.99")), m.info.TickSize))
	o := must(ex.QueryOrder(ctx, env.Symbol, req.ClientOrderID))
	if o.Status != adapters.StatusFilled || !o.ExecutedQty.Equal(req.Quantity) {
		t.Fatalf("after the price crossed: %+v", o)
	}
	if _, n := findOrder(must(ex.OpenOrders(ctx, env.Symbol)), req.ClientOrderID); n != 0 {
		t.Fatal("a filled order is still open")
	}
}

func testBadKey(ctx context.Context, t *testing.T, env *Env) {
	if env.BadKey == nil {
		t.Skip("the harness has no bad key")
	}
	bad := env.BadKey(t)
	_, err := bad.Balances(ctx)
	wantClass(t, err, scheduler.ClassAuth)
}

func testRevokedKey(ctx context.Context, t *testing.T, env *Env) {
	if env.RevokeKey == nil {
		t.Skip("the harness cannot revoke keys")
	}
	must(env.Exchange.Balances(ctx))
	restore := env.RevokeKey(t)
	defer restore()
	_, err := env.Exchange.Balances(ctx)
	wantClass(t, err, scheduler.ClassAuth)
	// Public market data does not need the key.
	must(env.Exchange.Ticker(ctx, env.Symbol))
}

func testUsage(ctx context.Context, t *testing.T, env *Env) {
	if env.Usage == nil {
		t.Skip("the exchange reports no usage")
	}
	must(env.Exchange.ExchangeInfo(ctx))
	must(env.Exchange.Balances(ctx))
	for _, u := range env.Usage() {
		if u.Window != "" && u.Used > 0 {
			return
		}
	}
	t.Fatalf("no usage reached the scheduler: %+v", env.Usage())
}

// accountReader returns env's exchange as an AccountReader, or skips the subtest.
func accountReader(t *testing.T, env *Env) adapters.AccountReader {
	t.Helper()
	ar, ok := env.Exchange.(adapters.AccountReader)
	if !ok {
		t.Skip("the adapter does not implement adapters.AccountReader")
	}
	return ar
}

func checkRates(t *testing.T, what string, r adapters.CommissionRates) {
	t.Helper()
	for name, d := range map[string]decimal.Decimal{"maker": r.Maker, "taker": r.Taker, "buyer": r.Buyer, "seller": r.Seller} {
		if d.IsNegative() || d.GreaterThan(decimal.NewFromInt(1)) {
			t.Fatalf("%s.%s = %s, want a rate in [0, 1]", what, name, d)
		}
	}
}

func sameRates(a, b adapters.CommissionRates) bool {
	return a.Maker.Equal(b.Maker) && a.Taker.Equal(b.Taker) && a.Buyer.Equal(b.Buyer) && a.Seller.Equal(b.Seller)
}

// testTradingFees: the rates are sane, are the ones the harness says the exchange charges,
// and are the ones a taker buy is actually charged (when the commission is paid in the base
// asset received, without a discount).
func testTradingFees(ctx context.Context, t *testing.T, env *Env) {
	ar := accountReader(t, env)
	fees := must(ar.TradingFees(ctx, env.Symbol))
	if fees.Symbol != env.Symbol {
		t.Fatalf("fees for %q, asked for %s", fees.Symbol, env.Symbol)
	}
	checkRates(t, "standard", fees.Standard)
	checkRates(t, "tax", fees.Tax)
	checkRates(t, "special", fees.Special)
	if fees.Discount.Rate.IsNegative() || fees.Discount.Rate.GreaterThan(decimal.NewFromInt(1)) {
		t.Fatalf("discount rate %s", fees.Discount.Rate)
	}
	if w := env.WantFees; w != nil {
		if !sameRates(fees.Standard, w.Standard) || !sameRates(fees.Tax, w.Tax) || !sameRates(fees.Special, w.Special) ||
			fees.Discount.Applies() != w.Discount.Applies() || fees.Discount.Asset != w.Discount.Asset || !fees.Discount.Rate.Equal(w.Discount.Rate) {
			t.Fatalf("fees %+v, want %+v", fees, *w)
		}
	}

	m := loadMarket(ctx, t, env)
	req := adapters.OrderRequest{Symbol: env.Symbol, Side: adapters.Buy, Type: adapters.Market,
		Quantity: m.quantityFor(m.price), ClientOrderID: NewClientOrderID()}
	o := must(env.Exchange.PlaceOrder(ctx, req))
	rate := fees.Rate(false, adapters.Buy)
	checked := 0
	for _, f := range must(env.Exchange.Trades(ctx, env.Symbol, 0)) {
		if f.ExchangeOrderID != o.ExchangeOrderID || f.CommissionAsset != m.info.BaseAsset || fees.Discount.Applies() {
			continue
		}
		if f.IsMaker {
			t.Fatalf("a market order's fill is a maker: %+v", f)
		}
		// Exchanges round the commission to their precision (Binance: 8 decimals).
		want := f.Quantity.Mul(rate)
		if d := want.Sub(f.Commission).Abs(); d.GreaterThan(decimal.New(1, -8)) {
			t.Fatalf("fill of %s charged %s %s, the reported taker rate %s says %s", f.Quantity, f.Commission, f.CommissionAsset, rate, want)
		}
		checked++
	}
	t.Logf("%d fills charged the reported rate %s", checked, rate)
}

func testTradingFeesUnknownSymbol(ctx context.Context, t *testing.T, env *Env) {
	ar := accountReader(t, env)
	_, err := ar.TradingFees(ctx, "KEELNOSUCHSYM")
	wantClass(t, err, scheduler.ClassValidation)
}

// testAccountStanding: a fresh, funded account may trade, names its permissions, and its
// balances agree with Balances.
func testAccountStanding(ctx context.Context, t *testing.T, env *Env) {
	ar := accountReader(t, env)
	m := loadMarket(ctx, t, env)
	a := must(ar.Account(ctx))
	if !a.CanTrade {
		t.Fatalf("a fresh account cannot trade: %+v", a)
	}
	if len(a.Permissions) == 0 {
		t.Fatal("no permissions reported")
	}
	checkRates(t, "account commission", a.Commission)
	quote := balanceOf(a.Balances, m.info.QuoteAsset)
	if !quote.IsPositive() {
		t.Fatalf("no %s in the account's balances", m.info.QuoteAsset)
	}
	if b := balanceOf(must(env.Exchange.Balances(ctx)), m.info.QuoteAsset); !b.Equal(quote) {
		t.Fatalf("Account says %s %s, Balances says %s", quote, m.info.QuoteAsset, b)
	}
}

// testTradingDisabled: an account the exchange stops from trading says so in Account, and its
// orders are refused as validation failures (never retried, never unknown).
func testTradingDisabled(ctx context.Context, t *testing.T, env *Env) {
	if env.DisableTrading == nil {
		t.Skip("the harness cannot disable trading")
	}
	ar := accountReader(t, env)
	m := loadMarket(ctx, t, env)
	resting := m.restingBuy(env.Symbol)
	must(env.Exchange.PlaceOrder(ctx, resting))
	restore := env.DisableTrading(t)
	if a := must(ar.Account(ctx)); a.CanTrade {
		t.Fatal("Account says the account can trade after trading was disabled")
	}
	req := m.restingBuy(env.Symbol)
	_, err := env.Exchange.PlaceOrder(ctx, req)
	wantClass(t, err, scheduler.ClassValidation)
	_, err = env.Exchange.CancelOrder(ctx, env.Symbol, resting.ClientOrderID)
	wantClass(t, err, scheduler.ClassValidation)
	restore()
	if a := must(ar.Account(ctx)); !a.CanTrade {
		t.Fatal("Account says the account cannot trade after trading was restored")
	}
	must(env.Exchange.CancelOrder(ctx, env.Symbol, resting.ClientOrderID))
}

// SameLevels reports whether two sides of a book hold the same levels in the same order,
// prices and quantities equal as decimals (1.0 is 1).
func SameLevels(a, b []adapters.Level) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Price.Equal(b[i].Price) || !a[i].Quantity.Equal(b[i].Quantity) {
			return false
		}
	}
	return true
}
