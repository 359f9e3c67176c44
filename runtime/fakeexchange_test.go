package runtime

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
)

// fakeExchange is a hand-written adapters.Exchange for the runtime's unit tests. The
// end-to-end tests use the real simulator instead.
type fakeExchange struct {
	adapters.NoStreams
	mu        sync.Mutex
	book      map[string]adapters.BookTicker
	bookErr   error
	infoCalls atomic.Int64
	infoGate  chan struct{} // when set, ExchangeInfo waits for it
	balances  []adapters.Balance
}

var errNotInFake = errors.New("fake exchange: not implemented")

func (f *fakeExchange) Name() string { return "fake" }

func (f *fakeExchange) ExchangeInfo(ctx context.Context, _ ...adapters.CallOption) (adapters.ExchangeInfo, error) {
	f.infoCalls.Add(1)
	if f.infoGate != nil {
		<-f.infoGate
	}
	return adapters.ExchangeInfo{Symbols: []adapters.SymbolInfo{{
		Symbol: "BTCUSDT", Status: "TRADING", BaseAsset: "BTC", QuoteAsset: "USDT",
		TickSize: decimal.RequireFromString("0.01"), StepSize: decimal.RequireFromString("0.00001"),
	}}}, nil
}

func (f *fakeExchange) Ticker(context.Context, string, ...adapters.CallOption) (adapters.Ticker, error) {
	return adapters.Ticker{}, errNotInFake
}

func (f *fakeExchange) BookTicker(_ context.Context, symbol string, _ ...adapters.CallOption) (adapters.BookTicker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bookErr != nil {
		return adapters.BookTicker{}, f.bookErr
	}
	return f.book[symbol], nil
}

func (f *fakeExchange) setBook(symbol, bid, ask string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.book == nil {
		f.book = map[string]adapters.BookTicker{}
	}
	f.book[symbol] = adapters.BookTicker{Symbol: symbol, BidPrice: decimal.RequireFromString(bid),
		AskPrice: decimal.RequireFromString(ask), BidQty: decimal.NewFromInt(1), AskQty: decimal.NewFromInt(1)}
	f.bookErr = err
}

func (f *fakeExchange) Depth(context.Context, string, int, ...adapters.CallOption) (adapters.Book, error) {
	return adapters.Book{}, errNotInFake
}

func (f *fakeExchange) Balances(context.Context, ...adapters.CallOption) ([]adapters.Balance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]adapters.Balance(nil), f.balances...), nil
}

func (f *fakeExchange) PlaceOrder(context.Context, adapters.OrderRequest, ...adapters.CallOption) (adapters.Order, error) {
	return adapters.Order{}, errNotInFake
}

func (f *fakeExchange) QueryOrder(context.Context, string, string, ...adapters.CallOption) (adapters.Order, error) {
	return adapters.Order{}, errNotInFake
}

func (f *fakeExchange) CancelOrder(context.Context, string, string, ...adapters.CallOption) (adapters.Order, error) {
	return adapters.Order{}, errNotInFake
}

func (f *fakeExchange) OpenOrders(context.Context, string, ...adapters.CallOption) ([]adapters.Order, error) {
	return nil, nil
}

func (f *fakeExchange) Trades(context.Context, string, int64, ...adapters.CallOption) ([]adapters.Fill, error) {
	return nil, nil
}
