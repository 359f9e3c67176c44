package bybit

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
)

// Bybit sends every amount as a JSON string. The parsers build decimals from those strings
// only, refuse exponents, signs where none belongs and absurd sizes, and name the field at
// fault.

var plainDecimal = regexp.MustCompile(`^-?[0-9]{1,30}(\.[0-9]{1,30})?$`)

// dec reads a decimal field; "" is zero when emptyOK.
func dec(field, v string, emptyOK bool) (decimal.Decimal, error) {
	if v == "" && emptyOK {
		return decimal.Zero, nil
	}
	if !plainDecimal.MatchString(v) {
		return decimal.Zero, malformed("%s: %q is not a plain decimal", field, snippet([]byte(v)))
	}
	return decimal.RequireFromString(v), nil
}

// nonNeg reads a decimal that must not be negative.
func nonNeg(field, v string, emptyOK bool) (decimal.Decimal, error) {
	d, err := dec(field, v, emptyOK)
	if err == nil && d.IsNegative() {
		err = malformed("%s: %s is negative", field, v)
	}
	return d, err
}

// millis reads a millisecond timestamp sent as a string ("" is the zero time).
func millis(field, v string) (time.Time, error) {
	if v == "" || v == "0" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 1e14 {
		return time.Time{}, malformed("%s: %q is not a millisecond timestamp", field, snippet([]byte(v)))
	}
	return time.UnixMilli(n), nil
}

func decode(what string, raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return malformed("%s: %v", what, err)
	}
	return nil
}

func parseServerTime(raw json.RawMessage) (time.Time, error) {
	var r struct {
		TimeSecond string `json:"timeSecond"`
		TimeNano   string `json:"timeNano"`
	}
	if err := decode("market time", raw, &r); err != nil {
		return time.Time{}, err
	}
	ns, err := strconv.ParseInt(r.TimeNano, 10, 64)
	if err != nil || ns <= 0 {
		s, err2 := strconv.ParseInt(r.TimeSecond, 10, 64)
		if err2 != nil || s <= 0 {
			return time.Time{}, malformed("market time: neither timeNano %q nor timeSecond %q is a time", snippet([]byte(r.TimeNano)), snippet([]byte(r.TimeSecond)))
		}
		return time.Unix(s, 0), nil
	}
	return time.Unix(0, ns), nil
}

// parseInstruments reads GET /v5/market/instruments-info?category=spot.
func parseInstruments(raw json.RawMessage) ([]adapters.SymbolInfo, error) {
	var r struct {
		List []struct {
			Symbol, BaseCoin, QuoteCoin, Status string
			LotSizeFilter                       struct {
				BasePrecision, MinOrderQty, MaxOrderQty, MinOrderAmt, MaxOrderAmt, MaxLimitOrderQty string
			}
			PriceFilter struct{ TickSize string }
		} `json:"list"`
	}
	if err := decode("instruments-info", raw, &r); err != nil {
		return nil, err
	}
	out := make([]adapters.SymbolInfo, 0, len(r.List))
	for _, s := range r.List {
		if s.Symbol == "" || s.BaseCoin == "" || s.QuoteCoin == "" {
			return nil, malformed("instruments-info: a symbol without name, baseCoin or quoteCoin")
		}
		si := adapters.SymbolInfo{Symbol: s.Symbol, BaseAsset: s.BaseCoin, QuoteAsset: s.QuoteCoin, Status: strings.ToUpper(s.Status)}
		f := s.LotSizeFilter
		maxQty := f.MaxLimitOrderQty
		if maxQty == "" {
			maxQty = f.MaxOrderQty
		}
		var err error
		for _, x := range []struct {
			field string
			v     string
			to    *decimal.Decimal
		}{
			{"priceFilter.tickSize", s.PriceFilter.TickSize, &si.TickSize},
			{"lotSizeFilter.basePrecision", f.BasePrecision, &si.StepSize},
			{"lotSizeFilter.minOrderQty", f.MinOrderQty, &si.MinQty},
			{"lotSizeFilter.maxLimitOrderQty", maxQty, &si.MaxQty},
			{"lotSizeFilter.minOrderAmt", f.MinOrderAmt, &si.MinNotional},
			{"lotSizeFilter.maxOrderAmt", f.MaxOrderAmt, &si.MaxNotional},
		} {
			if *x.to, err = nonNeg(s.Symbol+" "+x.field, x.v, true); err != nil {
				return nil, err
			}
		}
		if !si.TickSize.IsPositive() || !si.StepSize.IsPositive() {
			return nil, malformed("instruments-info: %s has no positive tickSize or basePrecision", s.Symbol)
		}
		if si.Status == "TRADING" || s.Status == "Trading" {
			si.Status = "TRADING"
		}
		out = append(out, si)
	}
	return out, nil
}

// ticker is one entry of GET /v5/market/tickers?category=spot.
type ticker struct {
	Symbol    string `json:"symbol"`
	LastPrice string `json:"lastPrice"`
	Bid1Price string `json:"bid1Price"`
	Bid1Size  string `json:"bid1Size"`
	Ask1Price string `json:"ask1Price"`
	Ask1Size  string `json:"ask1Size"`
}

// parseTicker finds symbol's entry; errNoSuchSymbol when the answer does not list it.
func parseTicker(raw json.RawMessage, symbol string) (ticker, error) {
	var r struct {
		List []ticker `json:"list"`
	}
	if err := decode("tickers", raw, &r); err != nil {
		return ticker{}, err
	}
	for _, t := range r.List {
		if t.Symbol == symbol {
			return t, nil
		}
	}
	return ticker{}, errNoSuchSymbol
}

func parseLastPrice(raw json.RawMessage, symbol string) (adapters.Ticker, error) {
	t, err := parseTicker(raw, symbol)
	if err != nil {
		return adapters.Ticker{}, err
	}
	p, err := nonNeg("lastPrice", t.LastPrice, false)
	if err != nil {
		return adapters.Ticker{}, err
	}
	if !p.IsPositive() {
		return adapters.Ticker{}, malformed("tickers: %s lastPrice is zero", symbol)
	}
	return adapters.Ticker{Symbol: symbol, Price: p}, nil
}

func parseBookTicker(raw json.RawMessage, symbol string) (adapters.BookTicker, error) {
	t, err := parseTicker(raw, symbol)
	if err != nil {
		return adapters.BookTicker{}, err
	}
	bt := adapters.BookTicker{Symbol: symbol}
	for _, x := range []struct {
		field, v string
		to       *decimal.Decimal
	}{{"bid1Price", t.Bid1Price, &bt.BidPrice}, {"bid1Size", t.Bid1Size, &bt.BidQty},
		{"ask1Price", t.Ask1Price, &bt.AskPrice}, {"ask1Size", t.Ask1Size, &bt.AskQty}} {
		if *x.to, err = nonNeg(x.field, x.v, true); err != nil {
			return adapters.BookTicker{}, err
		}
	}
	if bt.BidPrice.IsPositive() && bt.AskPrice.IsPositive() && bt.AskPrice.LessThan(bt.BidPrice) {
		return adapters.BookTicker{}, malformed("tickers: %s book is crossed (bid %s > ask %s)", symbol, bt.BidPrice, bt.AskPrice)
	}
	return bt, nil
}

// parseOrderbook reads GET /v5/market/orderbook: b best (highest) first, a best (lowest)
// first.
func parseOrderbook(raw json.RawMessage, symbol string) (adapters.Book, error) {
	var r struct {
		S string      `json:"s"`
		B [][2]string `json:"b"`
		A [][2]string `json:"a"`
		U int64       `json:"u"`
	}
	if err := decode("orderbook", raw, &r); err != nil {
		return adapters.Book{}, err
	}
	if r.S != symbol {
		return adapters.Book{}, malformed("orderbook: asked for %s, got %q", symbol, snippet([]byte(r.S)))
	}
	book := adapters.Book{Symbol: symbol, LastUpdateID: r.U}
	var err error
	if book.Bids, err = levels("b", r.B, true); err != nil {
		return adapters.Book{}, err
	}
	if book.Asks, err = levels("a", r.A, false); err != nil {
		return adapters.Book{}, err
	}
	if len(book.Bids) > 0 && len(book.Asks) > 0 && book.Asks[0].Price.LessThanOrEqual(book.Bids[0].Price) {
		return adapters.Book{}, malformed("orderbook: %s is crossed", symbol)
	}
	return book, nil
}

func levels(side string, raw [][2]string, desc bool) ([]adapters.Level, error) {
	out := make([]adapters.Level, 0, len(raw))
	for i, l := range raw {
		p, err := nonNeg(side+" price", l[0], false)
		if err != nil {
			return nil, err
		}
		q, err := nonNeg(side+" size", l[1], false)
		if err != nil {
			return nil, err
		}
		if !p.IsPositive() {
			return nil, malformed("orderbook: %s level %d has price zero", side, i)
		}
		if i > 0 && (desc && !p.LessThan(out[i-1].Price) || !desc && !p.GreaterThan(out[i-1].Price)) {
			return nil, malformed("orderbook: %s is not sorted best first at level %d", side, i)
		}
		out = append(out, adapters.Level{Price: p, Quantity: q})
	}
	return out, nil
}

// parseWallet reads GET /v5/account/wallet-balance?accountType=UNIFIED. Spot has no "free"
// field since the unified account (free is deprecated): free is walletBalance - locked, and
// zero when borrowing makes that negative (a guess; the docs give no formula).
func parseWallet(raw json.RawMessage) ([]adapters.Balance, error) {
	var r struct {
		List []struct {
			Coin []struct {
				Coin          string `json:"coin"`
				WalletBalance string `json:"walletBalance"`
				Locked        string `json:"locked"`
			} `json:"coin"`
		} `json:"list"`
	}
	if err := decode("wallet-balance", raw, &r); err != nil {
		return nil, err
	}
	var out []adapters.Balance
	for _, acct := range r.List {
		for _, c := range acct.Coin {
			if c.Coin == "" {
				return nil, malformed("wallet-balance: a coin without a name")
			}
			total, err := dec(c.Coin+" walletBalance", c.WalletBalance, true)
			if err != nil {
				return nil, err
			}
			locked, err := nonNeg(c.Coin+" locked", c.Locked, true)
			if err != nil {
				return nil, err
			}
			out = append(out, adapters.Balance{Asset: c.Coin, Free: decimal.Max(total.Sub(locked), decimal.Zero), Locked: locked})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Asset < out[j].Asset })
	return out, nil
}

// parseFeeRate reads GET /v5/account/fee-rate?category=spot&symbol=S.
func parseFeeRate(raw json.RawMessage, symbol string) (adapters.TradingFees, error) {
	var r struct {
		List []struct {
			Symbol       string `json:"symbol"`
			TakerFeeRate string `json:"takerFeeRate"`
			MakerFeeRate string `json:"makerFeeRate"`
		} `json:"list"`
	}
	if err := decode("fee-rate", raw, &r); err != nil {
		return adapters.TradingFees{}, err
	}
	for _, f := range r.List {
		if f.Symbol != symbol {
			continue
		}
		// A negative maker rate is a rebate (enum.mdx "Spot Fee Currency Instruction").
		maker, err := dec("makerFeeRate", f.MakerFeeRate, false)
		if err != nil {
			return adapters.TradingFees{}, err
		}
		taker, err := nonNeg("takerFeeRate", f.TakerFeeRate, false)
		if err != nil {
			return adapters.TradingFees{}, err
		}
		one := decimal.NewFromInt(1)
		if maker.Abs().GreaterThan(one) || taker.GreaterThan(one) {
			return adapters.TradingFees{}, malformed("fee-rate: %s rates %s/%s are not fractions", symbol, maker, taker)
		}
		return adapters.TradingFees{Symbol: symbol, Standard: adapters.CommissionRates{Maker: maker, Taker: taker}}, nil
	}
	return adapters.TradingFees{}, errNoSuchSymbol
}

// apiKeyInfo is the part of GET /v5/user/query-api the adapter reads.
type apiKeyInfo struct {
	ReadOnly    int                 `json:"readOnly"`
	Permissions map[string][]string `json:"permissions"`
	UTA         int                 `json:"uta"`
}

// parseAPIKeyInfo reads an account's standing from its key's information: it may trade spot
// when the key is not read-only and has Spot's SpotTrade permission; withdraw with Wallet's
// Withdraw. Bybit says nothing of deposits through the API; CanDeposit is true (a guess).
// Permissions are "SPOT" when spot trading is allowed, plus every permission as
// "Group.Permission" ("Wallet.Withdraw"), plus "READ_ONLY" for a read-only key.
func parseAPIKeyInfo(raw json.RawMessage) (adapters.Account, error) {
	var r apiKeyInfo
	if err := decode("query-api", raw, &r); err != nil {
		return adapters.Account{}, err
	}
	if r.ReadOnly != 0 && r.ReadOnly != 1 {
		return adapters.Account{}, malformed("query-api: readOnly %d is not 0 or 1", r.ReadOnly)
	}
	has := func(group, perm string) bool {
		for _, p := range r.Permissions[group] {
			if p == perm {
				return true
			}
		}
		return false
	}
	a := adapters.Account{CanTrade: r.ReadOnly == 0 && has("Spot", "SpotTrade"), CanWithdraw: r.ReadOnly == 0 && has("Wallet", "Withdraw"),
		CanDeposit: true, Type: "SPOT"}
	if r.UTA == 1 {
		a.Type = "UNIFIED"
	}
	if a.CanTrade {
		a.Permissions = append(a.Permissions, "SPOT")
	}
	if r.ReadOnly == 1 {
		a.Permissions = append(a.Permissions, "READ_ONLY")
	}
	groups := make([]string, 0, len(r.Permissions))
	for g := range r.Permissions {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		for _, p := range r.Permissions[g] {
			a.Permissions = append(a.Permissions, g+"."+p)
		}
	}
	return a, nil
}

// order is an order as /v5/order/realtime and /v5/order/history list it.
type order struct {
	OrderID      string `json:"orderId"`
	OrderLinkID  string `json:"orderLinkId"`
	Symbol       string `json:"symbol"`
	Price        string `json:"price"`
	Qty          string `json:"qty"`
	Side         string `json:"side"`
	OrderStatus  string `json:"orderStatus"`
	CumExecQty   string `json:"cumExecQty"`
	CumExecValue string `json:"cumExecValue"`
	TimeInForce  string `json:"timeInForce"`
	OrderType    string `json:"orderType"`
	MarketUnit   string `json:"marketUnit"`
	CreatedTime  string `json:"createdTime"`
	UpdatedTime  string `json:"updatedTime"`
}

// orderList is a page of orders.
type orderList struct {
	List           []order `json:"list"`
	NextPageCursor string  `json:"nextPageCursor"`
}

func parseOrderList(raw json.RawMessage) (orderList, error) {
	var r orderList
	err := decode("order list", raw, &r)
	return r, err
}

// statuses maps enum.mdx's orderStatus to Keel's. PartiallyFilledCanceled ("Only spot has
// this order status") and Deactivated (a conditional order cancelled before it triggered)
// are cancellations; Untriggered and Triggered orders are not on the book yet.
var statuses = map[string]adapters.OrderStatus{
	"New": adapters.StatusNew, "PartiallyFilled": adapters.StatusPartiallyFilled, "Untriggered": adapters.StatusNew,
	"Triggered": adapters.StatusNew, "Filled": adapters.StatusFilled, "Cancelled": adapters.StatusCanceled,
	"PartiallyFilledCanceled": adapters.StatusCanceled, "Deactivated": adapters.StatusCanceled,
	"Rejected": adapters.StatusRejected,
}

// toOrder turns a listed order into Keel's. A market order's qty in quoteCoin is an amount
// to spend, not a quantity: its Quantity is then what it executed.
func (o order) toOrder() (adapters.Order, error) {
	out := adapters.Order{Symbol: o.Symbol, ClientOrderID: o.OrderLinkID, ExchangeOrderID: o.OrderID}
	if o.OrderID == "" || o.Symbol == "" {
		return out, malformed("order without orderId or symbol")
	}
	switch o.Side {
	case "Buy":
		out.Side = adapters.Buy
	case "Sell":
		out.Side = adapters.Sell
	default:
		return out, malformed("order %s: side %q", o.OrderID, snippet([]byte(o.Side)))
	}
	st, ok := statuses[o.OrderStatus]
	if !ok {
		return out, malformed("order %s: orderStatus %q", o.OrderID, snippet([]byte(o.OrderStatus)))
	}
	out.Status = st
	switch {
	case o.OrderType == "Market":
		out.Type = adapters.Market
	case o.OrderType == "Limit" && o.TimeInForce == "PostOnly":
		out.Type = adapters.LimitMaker
	case o.OrderType == "Limit":
		out.Type = adapters.Limit
		switch tif := adapters.TimeInForce(o.TimeInForce); tif {
		case adapters.GTC, adapters.IOC, adapters.FOK:
			out.TimeInForce = tif
		}
	default:
		return out, malformed("order %s: orderType %q", o.OrderID, snippet([]byte(o.OrderType)))
	}
	var err error
	if out.Price, err = nonNeg("price", o.Price, true); err != nil {
		return out, err
	}
	if out.Quantity, err = nonNeg("qty", o.Qty, false); err != nil {
		return out, err
	}
	if out.ExecutedQty, err = nonNeg("cumExecQty", o.CumExecQty, true); err != nil {
		return out, err
	}
	if out.CumulativeQuote, err = nonNeg("cumExecValue", o.CumExecValue, true); err != nil {
		return out, err
	}
	if out.Type == adapters.Market && o.MarketUnit == "quoteCoin" {
		out.Quantity = out.ExecutedQty
	}
	if out.ExecutedQty.GreaterThan(out.Quantity) {
		return out, malformed("order %s: executed %s of %s", o.OrderID, out.ExecutedQty, out.Quantity)
	}
	if out.CreatedAt, err = millis("createdTime", o.CreatedTime); err != nil {
		return out, err
	}
	if out.UpdatedAt, err = millis("updatedTime", o.UpdatedTime); err != nil {
		return out, err
	}
	return out, nil
}

// execution is one fill of GET /v5/execution/list.
type execution struct {
	Symbol      string `json:"symbol"`
	OrderID     string `json:"orderId"`
	Side        string `json:"side"`
	ExecID      string `json:"execId"`
	ExecPrice   string `json:"execPrice"`
	ExecQty     string `json:"execQty"`
	ExecValue   string `json:"execValue"`
	ExecFee     string `json:"execFee"`
	FeeCurrency string `json:"feeCurrency"`
	ExecTime    string `json:"execTime"`
	ExecType    string `json:"execType"`
	IsMaker     bool   `json:"isMaker"`
}

type executionList struct {
	List           []execution `json:"list"`
	NextPageCursor string      `json:"nextPageCursor"`
}

// toFill turns a fill into Keel's. Spot execIds are decimal strings; one that is not (the
// derivatives' are UUIDs) gets TradeID 0 and is not reachable by Trades' fromID.
func (e execution) toFill() (adapters.Fill, error) {
	f := adapters.Fill{Symbol: e.Symbol, ExchangeOrderID: e.OrderID, CommissionAsset: e.FeeCurrency, IsMaker: e.IsMaker}
	if e.Symbol == "" || e.OrderID == "" {
		return f, malformed("execution without symbol or orderId")
	}
	if id, err := strconv.ParseInt(e.ExecID, 10, 64); err == nil && id > 0 {
		f.TradeID = id
	}
	switch e.Side {
	case "Buy":
		f.IsBuyer = true
	case "Sell":
	default:
		return f, malformed("execution %s: side %q", snippet([]byte(e.ExecID)), snippet([]byte(e.Side)))
	}
	var err error
	if f.Price, err = nonNeg("execPrice", e.ExecPrice, false); err != nil {
		return f, err
	}
	if f.Quantity, err = nonNeg("execQty", e.ExecQty, false); err != nil {
		return f, err
	}
	if f.QuoteQuantity, err = nonNeg("execValue", e.ExecValue, true); err != nil {
		return f, err
	}
	// A maker rebate makes the fee negative.
	if f.Commission, err = dec("execFee", e.ExecFee, true); err != nil {
		return f, err
	}
	if f.Time, err = millis("execTime", e.ExecTime); err != nil {
		return f, err
	}
	return f, nil
}
