package kraken

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/rest"
)

// The parsers read Kraken's answers into Keel's types. Every amount is a decimal built from
// the answer's text (Kraken sends strings; a few fields are documented as strings but shown
// as numbers, so both are read, from their text, never through a float). Anything malformed
// or nonsensical is an error naming the field, wrapping rest.ErrMalformedAnswer.

func malformed(format string, args ...any) error {
	return fmt.Errorf("kraken: %w: %s", rest.ErrMalformedAnswer, fmt.Sprintf(format, args...))
}

// num is a decimal read from a JSON string or number.
type num struct {
	d   decimal.Decimal
	set bool
}

func (n *num) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	if s == "" || strings.ContainsAny(s, "eE") {
		return fmt.Errorf("not a plain decimal: %q", truncate(s, 32))
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return fmt.Errorf("not a decimal: %q", truncate(s, 32))
	}
	n.d, n.set = d, true
	return nil
}

// time reads a Kraken timestamp (Unix seconds with a fraction).
func (n num) time() time.Time {
	if !n.set || !n.d.IsPositive() {
		return time.Time{}
	}
	return time.UnixMicro(n.d.Shift(6).IntPart())
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// result decodes the result of a successful envelope into v. (Failures never reach a
// parser: classify turned them into classified outcomes.)
func result(body []byte, v any) error {
	var env struct {
		Error  []string        `json:"error"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return malformed("not a Kraken envelope: %v", err)
	}
	if len(env.Result) == 0 || string(env.Result) == "null" {
		return malformed("no result")
	}
	if err := json.Unmarshal(env.Result, v); err != nil {
		return malformed("result: %v", err)
	}
	return nil
}

// keelAsset is the name Keel uses for a Kraken asset altname: the common code where Kraken
// kept a legacy one (XBT is BTC, XDG is DOGE), else the altname.
func keelAsset(alt string) string {
	switch alt {
	case "XBT":
		return "BTC"
	case "XDG":
		return "DOGE"
	}
	return alt
}

// pairInfo is one tradable pair under both names.
type pairInfo struct {
	id, alt string // Kraken's pair id (XXBTZUSD) and altname (XBTUSD)
	info    adapters.SymbolInfo
}

// names maps Keel's symbols and assets to Kraken's and back.
type names struct {
	bySymbol map[string]*pairInfo
	byPair   map[string]*pairInfo // by id and by altname
	assets   map[string]string    // Kraken asset id → Keel asset
	symbols  []adapters.SymbolInfo
}

// parseNames builds the names from AssetPairs and Assets answers.
func parseNames(pairsBody, assetsBody []byte) (*names, error) {
	var assets map[string]struct {
		Altname string `json:"altname"`
	}
	if err := result(assetsBody, &assets); err != nil {
		return nil, err
	}
	var pairs map[string]struct {
		Altname      string `json:"altname"`
		Base         string `json:"base"`
		Quote        string `json:"quote"`
		PairDecimals *int   `json:"pair_decimals"`
		LotDecimals  *int   `json:"lot_decimals"`
		OrderMin     num    `json:"ordermin"`
		CostMin      num    `json:"costmin"`
		TickSize     num    `json:"tick_size"`
		Status       string `json:"status"`
	}
	if err := result(pairsBody, &pairs); err != nil {
		return nil, err
	}
	n := &names{bySymbol: map[string]*pairInfo{}, byPair: map[string]*pairInfo{}, assets: map[string]string{}}
	for id, a := range assets {
		if a.Altname == "" {
			return nil, malformed("asset %q has no altname", truncate(id, 16))
		}
		n.assets[id] = keelAsset(a.Altname)
	}
	for id, p := range pairs {
		base, okb := n.assets[p.Base]
		quote, okq := n.assets[p.Quote]
		if !okb || !okq || p.Altname == "" {
			return nil, malformed("pair %q: base %q or quote %q not among the assets, or no altname", truncate(id, 16), truncate(p.Base, 16), truncate(p.Quote, 16))
		}
		if p.LotDecimals == nil || *p.LotDecimals < 0 || *p.LotDecimals > 18 {
			return nil, malformed("pair %s: lot_decimals missing or out of range", id)
		}
		tick := p.TickSize.d
		if !p.TickSize.set {
			if p.PairDecimals == nil || *p.PairDecimals < 0 || *p.PairDecimals > 18 {
				return nil, malformed("pair %s: neither tick_size nor pair_decimals", id)
			}
			tick = decimal.New(1, -int32(*p.PairDecimals))
		}
		if !tick.IsPositive() || p.OrderMin.d.IsNegative() || p.CostMin.d.IsNegative() {
			return nil, malformed("pair %s: tick_size must be positive, ordermin and costmin not negative", id)
		}
		status := "TRADING"
		if p.Status != "" && p.Status != "online" {
			status = strings.ToUpper(p.Status)
		}
		pi := &pairInfo{id: id, alt: p.Altname, info: adapters.SymbolInfo{
			Symbol: base + quote, Status: status, BaseAsset: base, QuoteAsset: quote,
			TickSize: tick, StepSize: decimal.New(1, -int32(*p.LotDecimals)),
			MinQty: p.OrderMin.d, MinNotional: p.CostMin.d,
		}}
		if prev, dup := n.bySymbol[pi.info.Symbol]; dup {
			// Two pairs map to one Keel name (a dark-pool ".d" twin, say): keep the shorter id.
			if len(prev.id) <= len(id) {
				n.byPair[id], n.byPair[p.Altname] = pi, pi
				continue
			}
		}
		n.bySymbol[pi.info.Symbol] = pi
		n.byPair[id], n.byPair[p.Altname] = pi, pi
	}
	for _, pi := range n.bySymbol {
		n.symbols = append(n.symbols, pi.info)
	}
	sort.Slice(n.symbols, func(i, j int) bool { return n.symbols[i].Symbol < n.symbols[j].Symbol })
	return n, nil
}

// asset is Keel's name of a Kraken asset id (the id itself when unknown).
func (n *names) asset(id string) string {
	if a, ok := n.assets[id]; ok {
		return a
	}
	return id
}

// single returns the one value of a result keyed by pair id.
func single[T any](body []byte, what string) (T, error) {
	var m map[string]T
	var zero T
	if err := result(body, &m); err != nil {
		return zero, err
	}
	if len(m) != 1 {
		return zero, malformed("%s: want one pair, got %d", what, len(m))
	}
	for _, v := range m {
		return v, nil
	}
	return zero, nil
}

func parseServerTime(body []byte) (time.Time, error) {
	var r struct {
		Unixtime int64 `json:"unixtime"`
	}
	if err := result(body, &r); err != nil {
		return time.Time{}, err
	}
	if r.Unixtime <= 0 {
		return time.Time{}, malformed("Time: unixtime %d", r.Unixtime)
	}
	return time.Unix(r.Unixtime, 0), nil
}

type tickerResult struct {
	A []num `json:"a"`
	B []num `json:"b"`
	C []num `json:"c"`
}

func parseTicker(body []byte, symbol string) (adapters.Ticker, error) {
	t, err := single[tickerResult](body, "Ticker")
	if err != nil {
		return adapters.Ticker{}, err
	}
	if len(t.C) < 1 || !t.C[0].d.IsPositive() {
		return adapters.Ticker{}, malformed("Ticker: last price (c) missing or not positive")
	}
	return adapters.Ticker{Symbol: symbol, Price: t.C[0].d}, nil
}

func parseBookTicker(body []byte, symbol string) (adapters.BookTicker, error) {
	t, err := single[tickerResult](body, "Ticker")
	if err != nil {
		return adapters.BookTicker{}, err
	}
	if len(t.A) < 3 || len(t.B) < 3 {
		return adapters.BookTicker{}, malformed("Ticker: ask (a) or bid (b) incomplete")
	}
	bt := adapters.BookTicker{Symbol: symbol, BidPrice: t.B[0].d, BidQty: t.B[2].d, AskPrice: t.A[0].d, AskQty: t.A[2].d}
	if !bt.BidPrice.IsPositive() || !bt.AskPrice.IsPositive() || bt.AskPrice.LessThan(bt.BidPrice) || bt.BidQty.IsNegative() || bt.AskQty.IsNegative() {
		return adapters.BookTicker{}, malformed("Ticker: bid %s ask %s: zero, negative or crossed", bt.BidPrice, bt.AskPrice)
	}
	return bt, nil
}

func parseDepth(body []byte, symbol string) (adapters.Book, error) {
	d, err := single[struct {
		Asks [][]num `json:"asks"`
		Bids [][]num `json:"bids"`
	}](body, "Depth")
	if err != nil {
		return adapters.Book{}, err
	}
	side := func(name string, raw [][]num, better func(a, b decimal.Decimal) bool) ([]adapters.Level, error) {
		out := make([]adapters.Level, 0, len(raw))
		for i, l := range raw {
			if len(l) < 2 || !l[0].d.IsPositive() || !l[1].d.IsPositive() {
				return nil, malformed("Depth: %s[%d]: want a positive price and volume", name, i)
			}
			if i > 0 && !better(out[i-1].Price, l[0].d) {
				return nil, malformed("Depth: %s not sorted best first at %d", name, i)
			}
			out = append(out, adapters.Level{Price: l[0].d, Quantity: l[1].d})
		}
		return out, nil
	}
	bids, err := side("bids", d.Bids, func(a, b decimal.Decimal) bool { return a.GreaterThan(b) })
	if err != nil {
		return adapters.Book{}, err
	}
	asks, err := side("asks", d.Asks, func(a, b decimal.Decimal) bool { return a.LessThan(b) })
	if err != nil {
		return adapters.Book{}, err
	}
	if len(bids) > 0 && len(asks) > 0 && !asks[0].Price.GreaterThan(bids[0].Price) {
		return adapters.Book{}, malformed("Depth: crossed book (bid %s, ask %s)", bids[0].Price, asks[0].Price)
	}
	return adapters.Book{Symbol: symbol, Bids: bids, Asks: asks}, nil
}

// parseBalances reads BalanceEx: free = balance + credit - credit_used - hold_trade (the
// docs' available balance), locked = hold_trade. Suffixed balances (.S staked, .M, .F,
// .B, .T) are read-only and left out.
func parseBalances(body []byte, n *names) ([]adapters.Balance, error) {
	var m map[string]struct {
		Balance    num `json:"balance"`
		Credit     num `json:"credit"`
		CreditUsed num `json:"credit_used"`
		HoldTrade  num `json:"hold_trade"`
	}
	if err := result(body, &m); err != nil {
		return nil, err
	}
	out := make([]adapters.Balance, 0, len(m))
	for id, b := range m {
		if strings.Contains(id, ".") {
			continue
		}
		free := b.Balance.d.Add(b.Credit.d).Sub(b.CreditUsed.d).Sub(b.HoldTrade.d)
		if b.Balance.d.IsNegative() || b.HoldTrade.d.IsNegative() {
			return nil, malformed("BalanceEx: %s: negative balance or hold", truncate(id, 16))
		}
		out = append(out, adapters.Balance{Asset: n.asset(id), Free: free, Locked: b.HoldTrade.d})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Asset < out[j].Asset })
	return out, nil
}

// krakenOrder is an order object of OpenOrders, ClosedOrders and QueryOrders.
type krakenOrder struct {
	ClOrdID string `json:"cl_ord_id"`
	Status  string `json:"status"`
	OpenTm  num    `json:"opentm"`
	CloseTm num    `json:"closetm"`
	Descr   struct {
		Pair      string `json:"pair"`
		Type      string `json:"type"`
		OrderType string `json:"ordertype"`
		Price     num    `json:"price"`
	} `json:"descr"`
	Vol     num    `json:"vol"`
	VolExec num    `json:"vol_exec"`
	Cost    num    `json:"cost"`
	OFlags  string `json:"oflags"`
}

// order converts a Kraken order; clientID maps its cl_ord_id back to Keel's id.
func (o krakenOrder) order(txid string, n *names, clientID func(string) string) (adapters.Order, error) {
	pi := n.byPair[o.Descr.Pair]
	if pi == nil {
		return adapters.Order{}, malformed("order %s: unknown pair %q", truncate(txid, 24), truncate(o.Descr.Pair, 16))
	}
	out := adapters.Order{Symbol: pi.info.Symbol, ClientOrderID: clientID(o.ClOrdID), ExchangeOrderID: txid,
		TimeInForce: adapters.GTC, Quantity: o.Vol.d, ExecutedQty: o.VolExec.d, CumulativeQuote: o.Cost.d,
		CreatedAt: o.OpenTm.time(), UpdatedAt: o.CloseTm.time()}
	if out.UpdatedAt.IsZero() {
		out.UpdatedAt = out.CreatedAt
	}
	switch o.Descr.Type {
	case "buy":
		out.Side = adapters.Buy
	case "sell":
		out.Side = adapters.Sell
	default:
		return adapters.Order{}, malformed("order %s: type %q", truncate(txid, 24), truncate(o.Descr.Type, 16))
	}
	switch o.Descr.OrderType {
	case "limit":
		out.Type, out.Price = adapters.Limit, o.Descr.Price.d
		if hasFlag(o.OFlags, "post") {
			out.Type = adapters.LimitMaker
		}
	case "market":
		out.Type = adapters.Market
	default:
		out.Type = adapters.OrderType(strings.ToUpper(o.Descr.OrderType))
	}
	switch o.Status {
	case "pending", "open":
		out.Status = adapters.StatusNew
		if o.VolExec.d.IsPositive() {
			out.Status = adapters.StatusPartiallyFilled
		}
	case "closed":
		out.Status = adapters.StatusFilled
	case "canceled":
		out.Status = adapters.StatusCanceled
	case "expired":
		out.Status = adapters.StatusExpired
	default:
		return adapters.Order{}, malformed("order %s: status %q", truncate(txid, 24), truncate(o.Status, 16))
	}
	if !out.Quantity.IsPositive() || out.ExecutedQty.IsNegative() || out.ExecutedQty.GreaterThan(out.Quantity) || out.CumulativeQuote.IsNegative() {
		return adapters.Order{}, malformed("order %s: vol %s, vol_exec %s, cost %s", truncate(txid, 24), out.Quantity, out.ExecutedQty, out.CumulativeQuote)
	}
	return out, nil
}

func hasFlag(flags, f string) bool {
	for _, x := range strings.Split(flags, ",") {
		if x == f {
			return true
		}
	}
	return false
}

// parseOrderMap reads {txid: order} under key ("open", "closed") or, with key "", the flat
// QueryOrders result; newest first.
func parseOrderMap(body []byte, key string) (map[string]krakenOrder, error) {
	if key == "" {
		var m map[string]krakenOrder
		return m, result(body, &m)
	}
	var wrap map[string]json.RawMessage
	if err := result(body, &wrap); err != nil {
		return nil, err
	}
	raw, ok := wrap[key]
	if !ok {
		return nil, malformed("no %q in the result", key)
	}
	var m map[string]krakenOrder
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, malformed("%s: %v", key, err)
	}
	return m, nil
}

// parseAddOrder reads AddOrder's txid.
func parseAddOrder(body []byte) (string, error) {
	var r struct {
		Txid []string `json:"txid"`
	}
	if err := result(body, &r); err != nil {
		return "", err
	}
	if len(r.Txid) != 1 || r.Txid[0] == "" {
		return "", malformed("AddOrder: want one txid, got %d", len(r.Txid))
	}
	return r.Txid[0], nil
}

// parseCancel reads CancelOrder's count and pending.
func parseCancel(body []byte) (int, bool, error) {
	var r struct {
		Count   *int `json:"count"`
		Pending bool `json:"pending"`
	}
	if err := result(body, &r); err != nil {
		return 0, false, err
	}
	if r.Count == nil || *r.Count < 0 {
		return 0, false, malformed("CancelOrder: count missing or negative")
	}
	return *r.Count, r.Pending, nil
}

// tradeRecord is one trade of TradesHistory.
type tradeRecord struct {
	OrderTxid string `json:"ordertxid"`
	Pair      string `json:"pair"`
	Time      num    `json:"time"`
	Type      string `json:"type"`
	Price     num    `json:"price"`
	Cost      num    `json:"cost"`
	Fee       num    `json:"fee"`
	Vol       num    `json:"vol"`
	TradeID   *int64 `json:"trade_id"`
	Maker     bool   `json:"maker"`
}

// parseTrades reads TradesHistory's trades of pair pi, and the total count.
func parseTrades(body []byte, pi *pairInfo) ([]adapters.Fill, int, error) {
	var r struct {
		Trades map[string]tradeRecord `json:"trades"`
		Count  int                    `json:"count"`
	}
	if err := result(body, &r); err != nil {
		return nil, 0, err
	}
	var out []adapters.Fill
	for id, t := range r.Trades {
		if t.Pair != pi.id && t.Pair != pi.alt {
			continue
		}
		if t.TradeID == nil || !t.Price.d.IsPositive() || !t.Vol.d.IsPositive() || t.Fee.d.IsNegative() {
			return nil, 0, malformed("trade %s: trade_id missing, or price, vol or fee out of range", truncate(id, 24))
		}
		out = append(out, adapters.Fill{Symbol: pi.info.Symbol, TradeID: *t.TradeID, ExchangeOrderID: t.OrderTxid,
			Price: t.Price.d, Quantity: t.Vol.d, QuoteQuantity: t.Cost.d, Commission: t.Fee.d,
			CommissionAsset: pi.info.QuoteAsset, IsBuyer: t.Type == "buy", IsMaker: t.Maker, Time: t.Time.time()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TradeID < out[j].TradeID })
	return out, r.Count, nil
}

// parseFees reads TradeVolume's taker and maker fees of pair pi: percentages ("0.1000" is
// 0.10 %), as fractions. The examples name the fields fee/minfee/...; the schema min_fee/...;
// only fee is read, which both share.
func parseFees(body []byte, pi *pairInfo) (adapters.TradingFees, error) {
	type fee struct {
		Fee num `json:"fee"`
	}
	var r struct {
		Fees      map[string]fee `json:"fees"`
		FeesMaker map[string]fee `json:"fees_maker"`
	}
	if err := result(body, &r); err != nil {
		return adapters.TradingFees{}, err
	}
	pick := func(m map[string]fee, what string) (decimal.Decimal, error) {
		f, ok := m[pi.id]
		if !ok {
			f, ok = m[pi.alt]
		}
		if !ok || !f.Fee.set || f.Fee.d.IsNegative() || f.Fee.d.GreaterThan(decimal.NewFromInt(100)) {
			return decimal.Zero, malformed("TradeVolume: %s of %s missing or not a percentage", what, pi.id)
		}
		return f.Fee.d.Shift(-2), nil
	}
	taker, err := pick(r.Fees, "fees")
	if err != nil {
		return adapters.TradingFees{}, err
	}
	maker, err := pick(r.FeesMaker, "fees_maker")
	if err != nil {
		// Pairs without maker/taker distinction report only fees.
		maker = taker
	}
	return adapters.TradingFees{Symbol: pi.info.Symbol, Standard: adapters.CommissionRates{Maker: maker, Taker: taker}}, nil
}
