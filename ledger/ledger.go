// Package ledger turns an account's fills into positions and profit: per strategy and per
// symbol, the position (signed, in the base asset), its average entry, realized and
// unrealized PnL in the quote asset, fees paid (in their asset, and converted to the quote
// asset), traded volume and the number of fills. Every amount is a decimal.
//
// Fills reach a ledger from two places, and it reconciles them:
//
//   - order updates (Update): the order's cumulative executed quantity and quote, as the user
//     data stream or a REST poll reports it. They come first but carry no fee and no trade id,
//     so what they add beyond the trades already applied is booked provisionally, at the
//     average price of the executed amount.
//   - trades (Trade): the exchange's own record of each fill (Binance GET /api/v3/myTrades),
//     with its price, fee and trade id. A trade of an order whose update already booked it
//     adds only its fee; a trade ahead of its order's update is booked in full, and the
//     update then adds only what the trades did not cover.
//
// So each order's fills are counted once, whichever report arrives first, and a restart that
// replays an order's cumulative state (reconciliation reports an open order from zero) books
// nothing twice: the ledger remembers, per order, how much it booked from each source. Trade
// ids are remembered too, so a trade fetched twice counts once.
//
// Fees in the base asset change the position (a buy of 1 BTC paying 0.001 BTC holds 0.999)
// and are valued at the trade's price; fees in the quote asset are what they are; fees in a
// third asset (BNB) are converted at that asset's mid against the quote asset when the
// ledger's Marks know it, and counted per asset always. Net PnL is realized + unrealized −
// fees, so a round trip at one price nets exactly the fees paid.
//
// The ledger is a value in memory; Snapshot and Restore persist it (the runtime keeps it in
// the order journal, so a restart keeps it and fleet mode keeps it in Redis). It is safe for
// concurrent use.
package ledger

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// Trade is one fill as the exchange records it.
type Trade struct {
	Strategy string
	Symbol   string
	// Base and Quote are the symbol's assets ("BTC", "USDT").
	Base, Quote string
	// OrderID is the exchange's order id; TradeID the exchange's trade id (unique per symbol).
	OrderID string
	TradeID int64
	Buy     bool
	Price   decimal.Decimal
	// Quantity is in the base asset.
	Quantity decimal.Decimal
	Fee      decimal.Decimal
	FeeAsset string
	Time     time.Time
}

// Update is an order's cumulative execution as last reported.
type Update struct {
	Strategy    string
	Symbol      string
	Base, Quote string
	OrderID     string
	Buy         bool
	// Executed and ExecutedQuote are cumulative: everything the order filled so far.
	Executed, ExecutedQuote decimal.Decimal
	// Final: the order can change no more (filled, cancelled, expired, rejected).
	Final bool
	Time  time.Time
}

// Position is one strategy's position on one symbol.
type Position struct {
	Strategy string `json:"strategy"`
	Symbol   string `json:"symbol"`
	Base     string `json:"base"`
	Quote    string `json:"quote"`
	// Quantity is signed: positive long, negative short, in the base asset.
	Quantity decimal.Decimal `json:"quantity"`
	// AvgEntry is the average price of the open quantity; zero when flat.
	AvgEntry decimal.Decimal `json:"avg_entry"`
	// Realized is the PnL closed so far, in the quote asset, before fees.
	Realized decimal.Decimal `json:"realized"`
	// Unrealized is (Mark − AvgEntry) × Quantity, in the quote asset; zero without a mark.
	Unrealized decimal.Decimal `json:"unrealized"`
	// Mark is the price Unrealized was computed at (the symbol's mid); zero when unknown.
	Mark decimal.Decimal `json:"mark"`
	// Fees are the fees paid per asset; FeesQuote all of them in the quote asset.
	Fees      map[string]decimal.Decimal `json:"fees"`
	FeesQuote decimal.Decimal            `json:"fees_quote"`
	// Volume is the traded notional in the quote asset; Fills the number of fills booked.
	Volume    decimal.Decimal `json:"volume"`
	Fills     int             `json:"fills"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Net is Realized + Unrealized − FeesQuote.
func (p Position) Net() decimal.Decimal { return p.Realized.Add(p.Unrealized).Sub(p.FeesQuote) }

// PnL sums positions. Amounts add up only in one quote asset: Quote names it, or is "" when
// the positions summed have several (then read them one by one).
type PnL struct {
	Quote      string          `json:"quote"`
	Realized   decimal.Decimal `json:"realized"`
	Unrealized decimal.Decimal `json:"unrealized"`
	Fees       decimal.Decimal `json:"fees"`
	Net        decimal.Decimal `json:"net"`
	Volume     decimal.Decimal `json:"volume"`
	Fills      int             `json:"fills"`
}

// Marks gives a symbol's current mid price, for unrealized PnL and fee conversion; false
// when none is known. The ledger never asks the exchange itself.
type Marks func(symbol string) (decimal.Decimal, bool)

// Ledger books fills. The zero value is not usable; call New.
type Ledger struct {
	mu     sync.Mutex
	marks  Marks
	book   map[posKey]*book
	orders map[string]*orderRec // by exchange order id
	seen   map[string]*seenSet  // by symbol
	// fetched is, per symbol, the last trade id a trade fetch went through (Cursor/SetCursor).
	fetched map[string]int64
	changed func()
}

// orderRetention bounds how long an order the trades never confirmed is remembered.
const orderRetention = 7 * 24 * time.Hour

type posKey struct{ strategy, symbol string }

// book is a position's running state. Cost is signed like Qty (the open quantity's basis);
// the average entry is Cost/Qty.
type book struct {
	Base, Quote string
	Qty, Cost   decimal.Decimal
	Realized    decimal.Decimal
	Fees        map[string]decimal.Decimal
	FeesQuote   decimal.Decimal
	Volume      decimal.Decimal
	Fills       int
	UpdatedAt   time.Time
}

// orderRec is what the ledger booked for one order: from updates (UpdQty, UpdQuote: the
// cumulative execution last reported) and from trades (TrdQty, TrdQuote). The position holds
// max of the two; the difference is what the other source has yet to confirm.
type orderRec struct {
	Strategy, Symbol, Base, Quote string
	Buy                           bool
	UpdQty, UpdQuote              decimal.Decimal
	TrdQty, TrdQuote              decimal.Decimal
	Final                         bool
	At                            time.Time
}

// settled: the order is final and its trades confirm everything its updates booked.
func (o *orderRec) settled() bool { return o.Final && o.TrdQty.Cmp(o.UpdQty) >= 0 }

// Option configures a Ledger.
type Option func(*Ledger)

// WithMarks sets where mids come from.
func WithMarks(m Marks) Option { return func(l *Ledger) { l.marks = m } }

// WithOnChange is called (without the ledger's lock) after every change, e.g. to persist.
func WithOnChange(f func()) Option { return func(l *Ledger) { l.changed = f } }

// New returns an empty ledger.
func New(opts ...Option) *Ledger {
	l := &Ledger{book: map[posKey]*book{}, orders: map[string]*orderRec{}, seen: map[string]*seenSet{},
		fetched: map[string]int64{}}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Track records that orderID belongs to strategy, so that its trades are attributed even
// when they arrive before any fill report (an acknowledged order that has not filled yet).
func (l *Ledger) Track(u Update) {
	if u.OrderID == "" || u.Strategy == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.orders[u.OrderID]; !ok {
		l.orders[u.OrderID] = &orderRec{Strategy: u.Strategy, Symbol: u.Symbol, Base: u.Base, Quote: u.Quote, Buy: u.Buy, At: u.Time}
	}
}

// Owner returns the strategy an order id was tracked for.
func (l *Ledger) Owner(orderID string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o, ok := l.orders[orderID]
	if !ok {
		return "", false
	}
	return o.Strategy, true
}

// ApplyUpdate books what an order's cumulative execution adds beyond what the ledger booked
// for it already, and returns the base quantity it booked provisionally (awaiting trades).
func (l *Ledger) ApplyUpdate(u Update) decimal.Decimal {
	if u.OrderID == "" || u.Strategy == "" {
		return decimal.Zero
	}
	l.mu.Lock()
	o := l.orders[u.OrderID]
	if o == nil {
		o = &orderRec{Strategy: u.Strategy, Symbol: u.Symbol, Base: u.Base, Quote: u.Quote, Buy: u.Buy}
		l.orders[u.OrderID] = o
	}
	o.At = u.Time
	booked := decimal.Zero
	if u.Executed.Cmp(o.UpdQty) > 0 {
		// What the position holds of this order is max(updates, trades); the update adds the
		// part beyond both, at the average price of that part.
		heldQty, heldQuote := o.UpdQty, o.UpdQuote
		if o.TrdQty.Cmp(heldQty) > 0 {
			heldQty, heldQuote = o.TrdQty, o.TrdQuote
		}
		if add := u.Executed.Sub(heldQty); add.IsPositive() {
			quote := u.ExecutedQuote.Sub(heldQuote)
			price := decimal.Zero
			if quote.IsPositive() {
				price = quote.Div(add)
			}
			b := l.bookFor(u.Strategy, u.Symbol, u.Base, u.Quote)
			b.fill(u.Buy, add, price, quote)
			b.Fills++
			b.UpdatedAt = u.Time
			booked = add
		}
		o.UpdQty, o.UpdQuote = u.Executed, u.ExecutedQuote
	}
	o.Final = o.Final || u.Final
	// Worth persisting only if it booked something or settles an order that had fills: an
	// acknowledgement or the cancel of an order that never filled changes no position, and
	// a market maker makes many.
	changed := booked.IsPositive() || (o.settled() && o.UpdQty.IsPositive())
	if o.settled() {
		delete(l.orders, u.OrderID)
	}
	l.mu.Unlock()
	if changed {
		l.notify()
	}
	return booked
}

// ApplyTrade books one trade of a strategy's order: in full if its order's updates have not
// booked it, its fee alone if they have. A trade already applied (same symbol and trade id),
// or without a trade id (> 0), is ignored; false then. Trade ids must grow per symbol, as the
// exchanges' do: the fetch cursor (SetCursor) counts every id up to it as seen.
func (l *Ledger) ApplyTrade(t Trade) bool {
	l.mu.Lock()
	ok := l.applyTradeLocked(t)
	l.mu.Unlock()
	if ok {
		l.notify()
	}
	return ok
}

func (l *Ledger) applyTradeLocked(t Trade) bool {
	// A trade without an id could not be told from itself fetched again: its order's update
	// books the fill instead (without the fee).
	if t.Strategy == "" || t.TradeID <= 0 {
		return false
	}
	s := l.seen[t.Symbol]
	if s == nil {
		s = &seenSet{}
		l.seen[t.Symbol] = s
	}
	if s.has(t.TradeID, l.fetched[t.Symbol]) {
		return false
	}
	s.add(t.TradeID)
	o := l.orders[t.OrderID]
	if o == nil {
		o = &orderRec{Strategy: t.Strategy, Symbol: t.Symbol, Base: t.Base, Quote: t.Quote, Buy: t.Buy}
		l.orders[t.OrderID] = o
	}
	if t.Time.After(o.At) {
		o.At = t.Time
	}
	b := l.bookFor(t.Strategy, t.Symbol, t.Base, t.Quote)
	quote := t.Price.Mul(t.Quantity)
	// The part of this trade beyond what the order's updates booked extends the position.
	held := decimal.Max(o.UpdQty, o.TrdQty)
	o.TrdQty, o.TrdQuote = o.TrdQty.Add(t.Quantity), o.TrdQuote.Add(quote)
	if add := o.TrdQty.Sub(held); add.IsPositive() {
		b.fill(t.Buy, add, t.Price, t.Price.Mul(add))
		b.Fills++
	}
	l.fee(b, t)
	b.UpdatedAt = t.Time
	if o.settled() {
		delete(l.orders, t.OrderID)
	}
	return true
}

// fee books a trade's fee: per asset always; in the base asset it also shrinks what the
// trade left the position holding, valued at the trade's price.
func (l *Ledger) fee(b *book, t Trade) {
	if !t.Fee.IsPositive() || t.FeeAsset == "" {
		return
	}
	if b.Fees == nil {
		b.Fees = map[string]decimal.Decimal{}
	}
	b.Fees[t.FeeAsset] = b.Fees[t.FeeAsset].Add(t.Fee)
	switch t.FeeAsset {
	case t.Quote:
		b.FeesQuote = b.FeesQuote.Add(t.Fee)
	case t.Base:
		value := t.Fee.Mul(t.Price)
		b.Qty = b.Qty.Sub(t.Fee)
		b.Cost = b.Cost.Sub(value)
		if b.Qty.IsZero() {
			b.Cost = decimal.Zero
		}
		b.FeesQuote = b.FeesQuote.Add(value)
	default:
		if l.marks != nil {
			if mid, ok := l.marks(t.FeeAsset + t.Quote); ok && mid.IsPositive() {
				b.FeesQuote = b.FeesQuote.Add(t.Fee.Mul(mid))
			}
		}
	}
}

func (l *Ledger) bookFor(strategy, symbol, base, quote string) *book {
	k := posKey{strategy, symbol}
	b := l.book[k]
	if b == nil {
		b = &book{Base: base, Quote: quote}
		l.book[k] = b
	}
	if b.Base == "" {
		b.Base, b.Quote = base, quote
	}
	return b
}

// fill moves the position by qty (base) at price; quote is qty×price as reported (the
// volume). A fill against the position closes it first (realizing PnL against the average
// entry), and what is left opens the other way.
func (b *book) fill(buy bool, qty, price, quote decimal.Decimal) {
	signed := qty
	if !buy {
		signed = qty.Neg()
	}
	b.Volume = b.Volume.Add(quote.Abs())
	if b.Qty.IsZero() || b.Qty.Sign() == signed.Sign() {
		b.Qty = b.Qty.Add(signed)
		b.Cost = b.Cost.Add(signed.Mul(price))
		return
	}
	closing := decimal.Min(qty, b.Qty.Abs())
	avg := b.Cost.Div(b.Qty) // signed cost over signed quantity: a positive price
	// Long: closing at price − avg per unit; short: avg − price.
	pnl := price.Sub(avg).Mul(closing)
	if b.Qty.IsNegative() {
		pnl = pnl.Neg()
	}
	b.Realized = b.Realized.Add(pnl)
	if closing.Equal(b.Qty.Abs()) {
		b.Qty, b.Cost = decimal.Zero, decimal.Zero
	} else {
		frac := closing.Mul(decimal.NewFromInt(int64(b.Qty.Sign())))
		b.Qty = b.Qty.Sub(frac)
		b.Cost = b.Cost.Sub(frac.Mul(avg))
	}
	if rest := qty.Sub(closing); rest.IsPositive() {
		if !buy {
			rest = rest.Neg()
		}
		b.Qty = rest
		b.Cost = rest.Mul(price)
	}
}

// Position returns strategy's position on symbol, marked at the symbol's mid when Marks
// knows it. A strategy with no fills on it has a zero Position (false).
func (l *Ledger) Position(strategy, symbol string) (Position, bool) {
	l.mu.Lock()
	b := l.book[posKey{strategy, symbol}]
	var p Position
	if b != nil {
		p = b.position(strategy, symbol)
	}
	l.mu.Unlock()
	if b == nil {
		return Position{Strategy: strategy, Symbol: symbol}, false
	}
	l.mark(&p)
	return p, true
}

// Positions returns every position, sorted by strategy then symbol; strategy "" means all.
func (l *Ledger) Positions(strategy string) []Position {
	l.mu.Lock()
	out := make([]Position, 0, len(l.book))
	for k, b := range l.book {
		if strategy == "" || k.strategy == strategy {
			out = append(out, b.position(k.strategy, k.symbol))
		}
	}
	l.mu.Unlock()
	for i := range out {
		l.mark(&out[i])
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Strategy != out[j].Strategy {
			return out[i].Strategy < out[j].Strategy
		}
		return out[i].Symbol < out[j].Symbol
	})
	return out
}

// PnL sums a strategy's positions ("" for every strategy's).
func (l *Ledger) PnL(strategy string) PnL {
	return Sum(l.Positions(strategy))
}

// Sum adds positions up (see PnL for the quote asset).
func Sum(ps []Position) PnL {
	var s PnL
	for i, p := range ps {
		if i == 0 {
			s.Quote = p.Quote
		} else if p.Quote != s.Quote {
			s.Quote = ""
		}
		s.Realized = s.Realized.Add(p.Realized)
		s.Unrealized = s.Unrealized.Add(p.Unrealized)
		s.Fees = s.Fees.Add(p.FeesQuote)
		s.Volume = s.Volume.Add(p.Volume)
		s.Fills += p.Fills
	}
	s.Net = s.Realized.Add(s.Unrealized).Sub(s.Fees)
	return s
}

func (b *book) position(strategy, symbol string) Position {
	p := Position{Strategy: strategy, Symbol: symbol, Base: b.Base, Quote: b.Quote, Quantity: b.Qty,
		Realized: b.Realized, FeesQuote: b.FeesQuote, Volume: b.Volume, Fills: b.Fills, UpdatedAt: b.UpdatedAt,
		Fees: make(map[string]decimal.Decimal, len(b.Fees))}
	for a, v := range b.Fees {
		p.Fees[a] = v
	}
	if !b.Qty.IsZero() {
		p.AvgEntry = b.Cost.Div(b.Qty)
	}
	return p
}

func (l *Ledger) mark(p *Position) {
	if l.marks == nil || p.Quantity.IsZero() {
		return
	}
	if mid, ok := l.marks(p.Symbol); ok && mid.IsPositive() {
		p.Mark = mid
		p.Unrealized = mid.Sub(p.AvgEntry).Mul(p.Quantity)
	}
}

// Pending lists the symbols with fills booked from updates that trades have not confirmed
// yet: the ones to fetch trades for.
func (l *Ledger) Pending() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	set := map[string]bool{}
	for _, o := range l.orders {
		if o.UpdQty.Cmp(o.TrdQty) > 0 {
			set[o.Symbol] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Unfetched lists the symbols with trades applied above their fetch cursor (attached to order
// reports, not fetched): a fetch moves the cursor past them, which bounds what the ledger
// remembers of trade ids.
func (l *Ledger) Unfetched() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for sym, s := range l.seen {
		if len(s.ids) > 0 {
			out = append(out, sym)
		}
	}
	sort.Strings(out)
	return out
}

// Symbols lists every symbol the ledger holds anything for.
func (l *Ledger) Symbols() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	set := map[string]bool{}
	for k := range l.book {
		set[k.symbol] = true
	}
	for _, o := range l.orders {
		set[o.Symbol] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Cursor is the last trade id a trade fetch of symbol went through, and whether any did.
func (l *Ledger) Cursor(symbol string) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.fetched[symbol]
	return v, ok
}

// SetCursor records that a trade fetch of symbol went through tradeID: trades up to it were
// all offered to ApplyTrade.
func (l *Ledger) SetCursor(symbol string, tradeID int64) {
	l.mu.Lock()
	if tradeID > l.fetched[symbol] {
		l.fetched[symbol] = tradeID
		if s := l.seen[symbol]; s != nil {
			s.prune(tradeID)
		}
	}
	l.mu.Unlock()
	l.notify()
}

// Prune forgets orders untouched for the retention: fills their trades never confirmed stay
// booked as reported.
func (l *Ledger) Prune(now time.Time) int {
	l.mu.Lock()
	n := 0
	for id, o := range l.orders {
		if !o.At.IsZero() && now.Sub(o.At) > orderRetention {
			delete(l.orders, id)
			n++
		}
	}
	l.mu.Unlock()
	if n > 0 {
		l.notify()
	}
	return n
}

func (l *Ledger) notify() {
	if l.changed != nil {
		l.changed()
	}
}

// seenSet holds trade ids above the fetch cursor: below it every trade was offered already.
type seenSet struct{ ids map[int64]struct{} }

func (s *seenSet) has(id, below int64) bool {
	if id <= below && below > 0 {
		return true
	}
	_, ok := s.ids[id]
	return ok
}

func (s *seenSet) add(id int64) {
	if s.ids == nil {
		s.ids = map[int64]struct{}{}
	}
	s.ids[id] = struct{}{}
}

func (s *seenSet) prune(below int64) {
	for id := range s.ids {
		if id <= below {
			delete(s.ids, id)
		}
	}
}

// snapshot is the persisted form.
type snapshot struct {
	Version   int                  `json:"version"`
	Positions []snapBook           `json:"positions"`
	Orders    map[string]*orderRec `json:"orders,omitempty"`
	Seen      map[string][]int64   `json:"seen,omitempty"`
	Fetched   map[string]int64     `json:"fetched,omitempty"`
}

type snapBook struct {
	Strategy string `json:"strategy"`
	Symbol   string `json:"symbol"`
	Book     *book  `json:"book"`
}

// Snapshot is the ledger as JSON, for Restore.
func (l *Ledger) Snapshot() ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := snapshot{Version: 1, Orders: l.orders, Fetched: l.fetched, Seen: map[string][]int64{}}
	for k, b := range l.book {
		s.Positions = append(s.Positions, snapBook{Strategy: k.strategy, Symbol: k.symbol, Book: b})
	}
	sort.Slice(s.Positions, func(i, j int) bool {
		a, b := s.Positions[i], s.Positions[j]
		return a.Strategy < b.Strategy || a.Strategy == b.Strategy && a.Symbol < b.Symbol
	})
	for sym, set := range l.seen {
		for id := range set.ids {
			s.Seen[sym] = append(s.Seen[sym], id)
		}
		sort.Slice(s.Seen[sym], func(i, j int) bool { return s.Seen[sym][i] < s.Seen[sym][j] })
	}
	return json.Marshal(s)
}

// Restore replaces the ledger's state with a Snapshot's.
func (l *Ledger) Restore(data []byte) error {
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("ledger: snapshot does not parse: %w", err)
	}
	if s.Version != 1 {
		return fmt.Errorf("ledger: snapshot version %d, want 1", s.Version)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.book = map[posKey]*book{}
	for _, p := range s.Positions {
		if p.Book == nil || p.Strategy == "" || p.Symbol == "" {
			return fmt.Errorf("ledger: snapshot has a position without strategy, symbol or state")
		}
		l.book[posKey{p.Strategy, p.Symbol}] = p.Book
	}
	l.orders = s.Orders
	if l.orders == nil {
		l.orders = map[string]*orderRec{}
	}
	l.fetched = s.Fetched
	if l.fetched == nil {
		l.fetched = map[string]int64{}
	}
	l.seen = map[string]*seenSet{}
	for sym, ids := range s.Seen {
		set := &seenSet{}
		for _, id := range ids {
			set.add(id)
		}
		l.seen[sym] = set
	}
	return nil
}
