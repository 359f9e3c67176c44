package binance

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/rest"
)

// ErrMalformedAnswer matches (errors.Is) an answer the adapter could not read: bad JSON,
// wrong types, missing fields, numbers that are not plain decimals. For a read it is a
// transient failure; for a write it leaves the outcome unknown.
var ErrMalformedAnswer = rest.ErrMalformedAnswer

func malformed(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%w: %s: %s", ErrMalformedAnswer, what, sanitizeJSONError(err))
	}
	return fmt.Errorf("%w: %s", ErrMalformedAnswer, what)
}

// sanitizeJSONError keeps the kind of a decoding error without quoting the answer.
func sanitizeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "invalid JSON at offset " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "field " + strconv.Quote(truncate(te.Field, 64)) + " has the wrong type (" + te.Value + ")"
	}
	return truncate(err.Error(), 120)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// maxDecimalLen bounds a decimal string; Binance's have at most 8 decimals and 20 digits.
const maxDecimalLen = 64

// parseDecimal builds a decimal from one of Binance's decimal strings ("0.00100000"). It only
// accepts plain notation: an optional '-' (if allowNeg), digits with at most one '.', so a
// hostile "1e999999999", "NaN" or "Infinity" cannot smuggle in a huge or invalid number.
func parseDecimal(field, s string, allowNeg bool) (decimal.Decimal, error) {
	if s == "" || len(s) > maxDecimalLen {
		return decimal.Decimal{}, malformed(field+": not a decimal string", nil)
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		case c == '-' && i == 0 && allowNeg:
		default:
			return decimal.Decimal{}, malformed(field+": not a plain decimal", nil)
		}
	}
	if digits == 0 {
		return decimal.Decimal{}, malformed(field+": not a decimal string", nil)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, malformed(field+": not a decimal", nil)
	}
	return d, nil
}

// parseDecimalBytes is parseDecimal (allowNeg false) of a string's bytes, without making the
// string: a decimal of at most 18 digits (every price and quantity Binance sends) is built
// from its int64 coefficient and exponent, exactly as decimal.NewFromString builds it;
// anything else goes through parseDecimal.
func parseDecimalBytes(field string, b []byte) (decimal.Decimal, error) {
	var coef int64
	digits, frac, dot := 0, 0, false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			coef = coef*10 + int64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return parseDecimal(field, string(b), false) // its error names what is wrong
		}
	}
	if digits == 0 || digits > 18 {
		return parseDecimal(field, string(b), false)
	}
	if coef == 0 {
		return zeros[frac], nil // a removed level's quantity, a third of a diff's
	}
	return decimal.New(coef, int32(-frac)), nil
}

// zeros[n] is zero with n decimals, as decimal.NewFromString gives "0.000…" (n zeros after
// the point). Decimals are immutable values, so one can be shared.
var zeros = func() (z [19]decimal.Decimal) {
	for n := range z {
		z[n] = decimal.New(0, int32(-n))
	}
	return z
}()

// decimals parses several fields at once, stopping at the first failure.
type decimals struct{ err error }

func (p *decimals) get(field, s string) decimal.Decimal {
	return p.getSigned(field, s, false)
}

func (p *decimals) getSigned(field, s string, allowNeg bool) decimal.Decimal {
	if p.err != nil {
		return decimal.Decimal{}
	}
	d, err := parseDecimal(field, s, allowNeg)
	if err != nil {
		p.err = err
	}
	return d
}

func millis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// isIdent reports whether s is a non-empty upper-case enum value or symbol of at most n bytes.
func isIdent(s string, n int) bool {
	if s == "" || len(s) > n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') && c != '_' {
			return false
		}
	}
	return true
}

// isName reports whether s is a plausible symbol or asset name: printable UTF-8 without
// control characters, at most n bytes (Binance has non-ASCII symbol names).
func isName(s string, n int) bool {
	if s == "" || len(s) > n || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// apiError is Binance's error body: {"code":-1121,"msg":"Invalid symbol."}.
type apiError struct {
	Code *int   `json:"code"`
	Msg  string `json:"msg"`
}

// maxMessageLen bounds an exchange message kept in an Outcome.
const maxMessageLen = 512

// parseError reads an error body. ok is false when the body is not Binance's error shape;
// the message is truncated and stripped of control characters.
func parseError(body []byte) (code int, msg string, ok bool) {
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || e.Code == nil {
		return 0, "", false
	}
	if *e.Code > 0 || *e.Code < -99999 {
		return 0, "", false
	}
	return *e.Code, cleanMessage(e.Msg), true
}

func cleanMessage(s string) string {
	s = truncate(s, maxMessageLen)
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}

// parseServerTime reads GET /api/v3/time.
func parseServerTime(body []byte) (time.Time, error) {
	var v struct {
		ServerTime *int64 `json:"serverTime"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return time.Time{}, malformed("server time", err)
	}
	if v.ServerTime == nil || *v.ServerTime <= 0 {
		return time.Time{}, malformed("server time: serverTime missing", nil)
	}
	return millis(*v.ServerTime), nil
}

// parseTicker reads GET /api/v3/ticker/price for one symbol.
func parseTicker(body []byte) (adapters.Ticker, error) {
	var v struct {
		Symbol string `json:"symbol"`
		Price  string `json:"price"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return adapters.Ticker{}, malformed("ticker", err)
	}
	if !isName(v.Symbol, 32) {
		return adapters.Ticker{}, malformed("ticker: symbol missing", nil)
	}
	var d decimals
	t := adapters.Ticker{Symbol: v.Symbol, Price: d.get("ticker price", v.Price)}
	return t, d.err
}

// parseBookTicker reads GET /api/v3/ticker/bookTicker for one symbol.
func parseBookTicker(body []byte) (adapters.BookTicker, error) {
	var v struct {
		Symbol   string `json:"symbol"`
		BidPrice string `json:"bidPrice"`
		BidQty   string `json:"bidQty"`
		AskPrice string `json:"askPrice"`
		AskQty   string `json:"askQty"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return adapters.BookTicker{}, malformed("book ticker", err)
	}
	if !isName(v.Symbol, 32) {
		return adapters.BookTicker{}, malformed("book ticker: symbol missing", nil)
	}
	var d decimals
	t := adapters.BookTicker{
		Symbol:   v.Symbol,
		BidPrice: d.get("bidPrice", v.BidPrice),
		BidQty:   d.get("bidQty", v.BidQty),
		AskPrice: d.get("askPrice", v.AskPrice),
		AskQty:   d.get("askQty", v.AskQty),
	}
	return t, d.err
}

// maxBookLevels is the deepest book Binance serves (limit 5000).
const maxBookLevels = 5000

// parseDepth reads GET /api/v3/depth. Binance does not echo the symbol; the caller's is used.
// Levels are sorted best first whatever order they arrived in.
func parseDepth(body []byte, symbol string) (adapters.Book, error) {
	var v struct {
		LastUpdateID *int64     `json:"lastUpdateId"`
		Bids         [][]string `json:"bids"`
		Asks         [][]string `json:"asks"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return adapters.Book{}, malformed("depth", err)
	}
	if v.LastUpdateID == nil {
		return adapters.Book{}, malformed("depth: lastUpdateId missing", nil)
	}
	if len(v.Bids) > maxBookLevels || len(v.Asks) > maxBookLevels {
		return adapters.Book{}, malformed("depth: too many levels", nil)
	}
	levels := func(side string, in [][]string) ([]adapters.Level, error) {
		out := make([]adapters.Level, 0, len(in))
		var d decimals
		for _, l := range in {
			if len(l) != 2 {
				return nil, malformed("depth: "+side+" level is not [price, qty]", nil)
			}
			out = append(out, adapters.Level{Price: d.get(side+" price", l[0]), Quantity: d.get(side+" qty", l[1])})
		}
		return out, d.err
	}
	bids, err := levels("bid", v.Bids)
	if err != nil {
		return adapters.Book{}, err
	}
	asks, err := levels("ask", v.Asks)
	if err != nil {
		return adapters.Book{}, err
	}
	sort.SliceStable(bids, func(i, j int) bool { return bids[i].Price.Cmp(bids[j].Price) > 0 })
	sort.SliceStable(asks, func(i, j int) bool { return asks[i].Price.Cmp(asks[j].Price) < 0 })
	return adapters.Book{Symbol: symbol, LastUpdateID: *v.LastUpdateID, Bids: bids, Asks: asks}, nil
}

// accountJSON is GET /api/v3/account (rest-api.md "Account information").
type accountJSON struct {
	CanTrade        *bool      `json:"canTrade"`
	CanWithdraw     *bool      `json:"canWithdraw"`
	CanDeposit      *bool      `json:"canDeposit"`
	AccountType     string     `json:"accountType"`
	Permissions     []string   `json:"permissions"`
	CommissionRates *ratesJSON `json:"commissionRates"`
	UpdateTime      int64      `json:"updateTime"`
	Balances        *[]struct {
		Asset  string `json:"asset"`
		Free   string `json:"free"`
		Locked string `json:"locked"`
	} `json:"balances"`
}

// decodeAccount reads GET /api/v3/account and its balances, which every reading needs.
func decodeAccount(body []byte) (accountJSON, []adapters.Balance, error) {
	var v accountJSON
	if err := json.Unmarshal(body, &v); err != nil {
		return v, nil, malformed("account", err)
	}
	if v.Balances == nil {
		return v, nil, malformed("account: balances missing", nil)
	}
	out := make([]adapters.Balance, 0, len(*v.Balances))
	var d decimals
	for _, b := range *v.Balances {
		if !isName(b.Asset, 32) {
			return v, nil, malformed("account: balance without asset", nil)
		}
		out = append(out, adapters.Balance{Asset: b.Asset, Free: d.get("free", b.Free), Locked: d.get("locked", b.Locked)})
	}
	return v, out, d.err
}

// parseAccount reads the balances of GET /api/v3/account.
func parseAccount(body []byte) ([]adapters.Balance, error) {
	_, bs, err := decodeAccount(body)
	if err != nil {
		return nil, err
	}
	return bs, nil
}

// maxPermissions bounds the permissions list read back (Binance has a handful).
const maxPermissions = 64

// parseAccountInfo reads the account's standing from GET /api/v3/account: the canTrade,
// canWithdraw and canDeposit switches must be there (an answer without them says nothing
// about whether the account may trade), permissions, accountType and the account-wide
// commission rates are read when present.
func parseAccountInfo(body []byte) (adapters.Account, error) {
	v, bs, err := decodeAccount(body)
	if err != nil {
		return adapters.Account{}, err
	}
	if v.CanTrade == nil || v.CanWithdraw == nil || v.CanDeposit == nil {
		return adapters.Account{}, malformed("account: canTrade, canWithdraw or canDeposit missing", nil)
	}
	if v.AccountType != "" && !isIdent(v.AccountType, 32) {
		return adapters.Account{}, malformed("account: bad accountType", nil)
	}
	if len(v.Permissions) > maxPermissions {
		return adapters.Account{}, malformed("account: too many permissions", nil)
	}
	for _, p := range v.Permissions {
		if !isIdent(p, 64) {
			return adapters.Account{}, malformed("account: bad permission", nil)
		}
	}
	a := adapters.Account{CanTrade: *v.CanTrade, CanWithdraw: *v.CanWithdraw, CanDeposit: *v.CanDeposit,
		Type: v.AccountType, Permissions: append([]string(nil), v.Permissions...), Balances: bs, UpdatedAt: millis(v.UpdateTime)}
	if v.CommissionRates != nil {
		if a.Commission, err = v.CommissionRates.rates("commissionRates"); err != nil {
			return adapters.Account{}, err
		}
	}
	return a, nil
}

// ratesJSON is one set of commission rates: {"maker","taker","buyer","seller"}.
type ratesJSON struct {
	Maker  string `json:"maker"`
	Taker  string `json:"taker"`
	Buyer  string `json:"buyer"`
	Seller string `json:"seller"`
}

// rates parses the four rates. Each must be a plain decimal in [0, 1]: a commission of a
// whole trade or more is not a number to trust.
func (r ratesJSON) rates(what string) (adapters.CommissionRates, error) {
	var d decimals
	out := adapters.CommissionRates{
		Maker:  d.get(what+".maker", r.Maker),
		Taker:  d.get(what+".taker", r.Taker),
		Buyer:  d.get(what+".buyer", r.Buyer),
		Seller: d.get(what+".seller", r.Seller),
	}
	if d.err != nil {
		return adapters.CommissionRates{}, d.err
	}
	for _, x := range []decimal.Decimal{out.Maker, out.Taker, out.Buyer, out.Seller} {
		if x.GreaterThan(one) {
			return adapters.CommissionRates{}, malformed(what+": rate above 1", nil)
		}
	}
	return out, nil
}

var one = decimal.NewFromInt(1)

// parseCommission reads GET /api/v3/account/commission for symbol (rest-api.md "Query
// Commission Rates"): standardCommission is required; taxCommission, specialCommission
// (added 2025) and discount are read when present. An answer for another symbol is malformed.
func parseCommission(body []byte, symbol string) (adapters.TradingFees, error) {
	var v struct {
		Symbol   string     `json:"symbol"`
		Standard *ratesJSON `json:"standardCommission"`
		Special  *ratesJSON `json:"specialCommission"`
		Tax      *ratesJSON `json:"taxCommission"`
		Discount *struct {
			EnabledForAccount bool   `json:"enabledForAccount"`
			EnabledForSymbol  bool   `json:"enabledForSymbol"`
			Asset             string `json:"discountAsset"`
			Discount          string `json:"discount"`
		} `json:"discount"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return adapters.TradingFees{}, malformed("commission", err)
	}
	if v.Symbol != symbol {
		return adapters.TradingFees{}, malformed("commission: answer for another symbol", nil)
	}
	if v.Standard == nil {
		return adapters.TradingFees{}, malformed("commission: standardCommission missing", nil)
	}
	f := adapters.TradingFees{Symbol: symbol}
	var err error
	if f.Standard, err = v.Standard.rates("standardCommission"); err != nil {
		return adapters.TradingFees{}, err
	}
	if v.Tax != nil {
		if f.Tax, err = v.Tax.rates("taxCommission"); err != nil {
			return adapters.TradingFees{}, err
		}
	}
	if v.Special != nil {
		if f.Special, err = v.Special.rates("specialCommission"); err != nil {
			return adapters.TradingFees{}, err
		}
	}
	if dc := v.Discount; dc != nil {
		if dc.Asset != "" && !isName(dc.Asset, 32) {
			return adapters.TradingFees{}, malformed("commission: bad discountAsset", nil)
		}
		f.Discount = adapters.FeeDiscount{EnabledForAccount: dc.EnabledForAccount, EnabledForSymbol: dc.EnabledForSymbol, Asset: dc.Asset}
		if dc.Discount != "" {
			if f.Discount.Rate, err = parseDecimal("discount", dc.Discount, false); err != nil {
				return adapters.TradingFees{}, err
			}
			if f.Discount.Rate.GreaterThan(one) {
				return adapters.TradingFees{}, malformed("commission: discount above 1", nil)
			}
		}
	}
	return f, nil
}

// orderJSON is an order as POST/GET/DELETE /api/v3/order and GET /api/v3/openOrders report it.
type orderJSON struct {
	Symbol              string `json:"symbol"`
	OrderID             *int64 `json:"orderId"`
	ClientOrderID       string `json:"clientOrderId"`
	OrigClientOrderID   string `json:"origClientOrderId"`
	Price               string `json:"price"`
	OrigQty             string `json:"origQty"`
	ExecutedQty         string `json:"executedQty"`
	CummulativeQuoteQty string `json:"cummulativeQuoteQty"`
	Status              string `json:"status"`
	TimeInForce         string `json:"timeInForce"`
	Type                string `json:"type"`
	Side                string `json:"side"`
	Time                int64  `json:"time"`
	UpdateTime          int64  `json:"updateTime"`
	TransactTime        int64  `json:"transactTime"`
}

// statuses maps Binance's order statuses (enums.md) to Keel's.
var statuses = map[string]adapters.OrderStatus{
	"NEW":              adapters.StatusNew,
	"PENDING_NEW":      adapters.StatusNew,
	"PARTIALLY_FILLED": adapters.StatusPartiallyFilled,
	"FILLED":           adapters.StatusFilled,
	"CANCELED":         adapters.StatusCanceled,
	"PENDING_CANCEL":   adapters.StatusNew, // "currently unused"; the order is still live
	"REJECTED":         adapters.StatusRejected,
	"EXPIRED":          adapters.StatusExpired,
	"EXPIRED_IN_MATCH": adapters.StatusExpired,
}

// maxClientOrderIDLen bounds client order ids read back (Binance's are at most 36).
const maxClientOrderIDLen = 64

func (o orderJSON) toOrder(cancel bool) (adapters.Order, error) {
	cid := o.ClientOrderID
	if cancel {
		// A cancel answer's clientOrderId is the cancel's own id; the order's is orig.
		cid = o.OrigClientOrderID
	}
	switch {
	case !isName(o.Symbol, 32):
		return adapters.Order{}, malformed("order: symbol missing", nil)
	case o.OrderID == nil:
		return adapters.Order{}, malformed("order: orderId missing", nil)
	case cid == "" || len(cid) > maxClientOrderIDLen || !utf8.ValidString(cid):
		return adapters.Order{}, malformed("order: client order id missing", nil)
	case o.Side != string(adapters.Buy) && o.Side != string(adapters.Sell):
		return adapters.Order{}, malformed("order: side is not BUY or SELL", nil)
	case !isIdent(o.Type, 32):
		return adapters.Order{}, malformed("order: type missing", nil)
	case o.TimeInForce != "" && !isIdent(o.TimeInForce, 8):
		return adapters.Order{}, malformed("order: bad timeInForce", nil)
	}
	st, ok := statuses[o.Status]
	if !ok {
		return adapters.Order{}, malformed("order: unknown status", nil)
	}
	var d decimals
	out := adapters.Order{
		Symbol:          o.Symbol,
		ClientOrderID:   cid,
		ExchangeOrderID: strconv.FormatInt(*o.OrderID, 10),
		Side:            adapters.Side(o.Side),
		Type:            adapters.OrderType(o.Type),
		TimeInForce:     adapters.TimeInForce(o.TimeInForce),
		Price:           d.get("price", o.Price),
		Quantity:        d.get("origQty", o.OrigQty),
		ExecutedQty:     d.get("executedQty", o.ExecutedQty),
		// "For some historical orders cummulativeQuoteQty will be < 0" (rest-api.md).
		CumulativeQuote: d.getSigned("cummulativeQuoteQty", o.CummulativeQuoteQty, true),
		Status:          st,
	}
	if d.err != nil {
		return adapters.Order{}, d.err
	}
	created, updated := o.Time, o.UpdateTime
	if created == 0 {
		created = o.TransactTime
	}
	if updated == 0 {
		updated = o.TransactTime
	}
	out.CreatedAt, out.UpdatedAt = millis(created), millis(updated)
	return out, nil
}

// parseOrder reads a single order (POST and GET /api/v3/order).
func parseOrder(body []byte) (adapters.Order, error) {
	var o orderJSON
	if err := json.Unmarshal(body, &o); err != nil {
		return adapters.Order{}, malformed("order", err)
	}
	return o.toOrder(false)
}

// parseCancel reads DELETE /api/v3/order's answer.
func parseCancel(body []byte) (adapters.Order, error) {
	var o orderJSON
	if err := json.Unmarshal(body, &o); err != nil {
		return adapters.Order{}, malformed("cancel", err)
	}
	return o.toOrder(true)
}

// parseOrders reads GET /api/v3/openOrders.
func parseOrders(body []byte) ([]adapters.Order, error) {
	var list []orderJSON
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, malformed("orders", err)
	}
	out := make([]adapters.Order, 0, len(list))
	for _, o := range list {
		ord, err := o.toOrder(false)
		if err != nil {
			return nil, err
		}
		out = append(out, ord)
	}
	return out, nil
}

// parseCancelAll reads DELETE /api/v3/openOrders: cancel reports, and order-list reports
// (which carry the cancelled orders in orderReports).
func parseCancelAll(body []byte) ([]adapters.Order, error) {
	var list []struct {
		orderJSON
		OrderReports []orderJSON `json:"orderReports"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, malformed("cancel all", err)
	}
	var out []adapters.Order
	for _, e := range list {
		reports := e.OrderReports
		if e.OrderID != nil {
			reports = append([]orderJSON{e.orderJSON}, reports...)
		}
		for _, r := range reports {
			o, err := r.toOrder(true)
			if err != nil {
				return nil, err
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// parseTrades reads GET /api/v3/myTrades.
func parseTrades(body []byte) ([]adapters.Fill, error) {
	var list []struct {
		Symbol          string `json:"symbol"`
		ID              *int64 `json:"id"`
		OrderID         *int64 `json:"orderId"`
		Price           string `json:"price"`
		Qty             string `json:"qty"`
		QuoteQty        string `json:"quoteQty"`
		Commission      string `json:"commission"`
		CommissionAsset string `json:"commissionAsset"`
		Time            int64  `json:"time"`
		IsBuyer         bool   `json:"isBuyer"`
		IsMaker         bool   `json:"isMaker"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, malformed("trades", err)
	}
	out := make([]adapters.Fill, 0, len(list))
	for _, t := range list {
		if !isName(t.Symbol, 32) || t.ID == nil || t.OrderID == nil {
			return nil, malformed("trade: symbol, id or orderId missing", nil)
		}
		if t.CommissionAsset != "" && !isName(t.CommissionAsset, 32) {
			return nil, malformed("trade: bad commissionAsset", nil)
		}
		var d decimals
		f := adapters.Fill{
			Symbol:          t.Symbol,
			TradeID:         *t.ID,
			ExchangeOrderID: strconv.FormatInt(*t.OrderID, 10),
			Price:           d.get("price", t.Price),
			Quantity:        d.get("qty", t.Qty),
			QuoteQuantity:   d.get("quoteQty", t.QuoteQty),
			Commission:      d.get("commission", t.Commission),
			CommissionAsset: t.CommissionAsset,
			IsBuyer:         t.IsBuyer,
			IsMaker:         t.IsMaker,
			Time:            millis(t.Time),
		}
		if d.err != nil {
			return nil, d.err
		}
		out = append(out, f)
	}
	return out, nil
}

// rateLimitJSON is one entry of exchangeInfo's rateLimits.
type rateLimitJSON struct {
	RateLimitType string `json:"rateLimitType"`
	Interval      string `json:"interval"`
	IntervalNum   int64  `json:"intervalNum"`
	Limit         int64  `json:"limit"`
}

var intervalUnits = map[string]time.Duration{
	"SECOND": time.Second, "MINUTE": time.Minute, "HOUR": time.Hour, "DAY": 24 * time.Hour,
}

// maxLimit bounds an announced limit; anything larger is not a number to trust.
const maxLimit = 1_000_000_000_000

// parseExchangeInfo reads GET /api/v3/exchangeInfo: symbols with PRICE_FILTER, LOT_SIZE and
// NOTIONAL (or the older MIN_NOTIONAL) filters, and the rate limits mapped to scheduler
// windows (see windowsFor). Unknown filter and rate limit types are ignored, so a new one
// Binance adds does not break start-up.
func parseExchangeInfo(body []byte) (adapters.ExchangeInfo, error) {
	var v struct {
		ServerTime int64           `json:"serverTime"`
		RateLimits []rateLimitJSON `json:"rateLimits"`
		Symbols    *[]struct {
			Symbol     string            `json:"symbol"`
			Status     string            `json:"status"`
			BaseAsset  string            `json:"baseAsset"`
			QuoteAsset string            `json:"quoteAsset"`
			Filters    []json.RawMessage `json:"filters"`
		} `json:"symbols"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return adapters.ExchangeInfo{}, malformed("exchange info", err)
	}
	if v.Symbols == nil {
		return adapters.ExchangeInfo{}, malformed("exchange info: symbols missing", nil)
	}
	info := adapters.ExchangeInfo{ServerTime: millis(v.ServerTime)}
	for _, s := range *v.Symbols {
		if !isName(s.Symbol, 32) || !isIdent(s.Status, 32) || !isName(s.BaseAsset, 32) || !isName(s.QuoteAsset, 32) {
			return adapters.ExchangeInfo{}, malformed("exchange info: symbol with missing fields", nil)
		}
		si := adapters.SymbolInfo{Symbol: s.Symbol, Status: s.Status, BaseAsset: s.BaseAsset, QuoteAsset: s.QuoteAsset}
		for _, raw := range s.Filters {
			if err := applyFilter(&si, raw); err != nil {
				return adapters.ExchangeInfo{}, err
			}
		}
		info.Symbols = append(info.Symbols, si)
	}
	limits, err := parseRateLimits(v.RateLimits)
	if err != nil {
		return adapters.ExchangeInfo{}, err
	}
	info.RateLimits = limits
	return info, nil
}

func applyFilter(si *adapters.SymbolInfo, raw json.RawMessage) error {
	var head struct {
		FilterType string `json:"filterType"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return malformed("exchange info: filter", err)
	}
	var d decimals
	opt := func(field, s string) decimal.Decimal {
		if s == "" {
			return decimal.Decimal{}
		}
		return d.get(field, s)
	}
	switch head.FilterType {
	case "PRICE_FILTER":
		var f struct{ MinPrice, MaxPrice, TickSize string }
		if err := json.Unmarshal(raw, &f); err != nil {
			return malformed("exchange info: PRICE_FILTER", err)
		}
		si.MinPrice, si.MaxPrice, si.TickSize = opt("minPrice", f.MinPrice), opt("maxPrice", f.MaxPrice), opt("tickSize", f.TickSize)
	case "LOT_SIZE":
		var f struct{ MinQty, MaxQty, StepSize string }
		if err := json.Unmarshal(raw, &f); err != nil {
			return malformed("exchange info: LOT_SIZE", err)
		}
		si.MinQty, si.MaxQty, si.StepSize = opt("minQty", f.MinQty), opt("maxQty", f.MaxQty), opt("stepSize", f.StepSize)
	case "NOTIONAL":
		var f struct{ MinNotional, MaxNotional string }
		if err := json.Unmarshal(raw, &f); err != nil {
			return malformed("exchange info: NOTIONAL", err)
		}
		si.MinNotional, si.MaxNotional = opt("minNotional", f.MinNotional), opt("maxNotional", f.MaxNotional)
	case "MIN_NOTIONAL":
		var f struct{ MinNotional string }
		if err := json.Unmarshal(raw, &f); err != nil {
			return malformed("exchange info: MIN_NOTIONAL", err)
		}
		if si.MinNotional.IsZero() {
			si.MinNotional = opt("minNotional", f.MinNotional)
		}
	}
	return d.err
}

// parseRateLimits converts exchangeInfo's rateLimits, naming each by its scheduler window.
func parseRateLimits(in []rateLimitJSON) ([]adapters.RateLimit, error) {
	var out []adapters.RateLimit
	for _, r := range in {
		unit, ok := intervalUnits[r.Interval]
		if !ok {
			continue
		}
		if r.IntervalNum < 1 || r.IntervalNum > 1000 || r.Limit < 1 || r.Limit > maxLimit {
			return nil, malformed("exchange info: rate limit out of range", nil)
		}
		switch r.RateLimitType {
		case "REQUEST_WEIGHT", "ORDERS", "RAW_REQUESTS":
		default:
			continue
		}
		out = append(out, adapters.RateLimit{Kind: r.RateLimitType, Interval: unit * time.Duration(r.IntervalNum), Limit: r.Limit})
	}
	nameWindows(out)
	return out, nil
}

// nameWindows gives each announced limit its scheduler window. Within a kind, limits are
// matched to the adapter's windows by rank of interval (shortest to shortest), so a
// simulator that scales time (ORDERS per 1/6 s and per 24 min) still lands in ORDERS_10S and
// ORDERS_1D. Limits that do not match the adapter's windows one to one keep a name derived
// from their own interval and consume nothing.
func nameWindows(limits []adapters.RateLimit) {
	defaults := DefaultRateLimits()
	for _, kind := range []string{"REQUEST_WEIGHT", "ORDERS", "RAW_REQUESTS"} {
		var idx []int
		for i := range limits {
			if limits[i].Kind == kind {
				idx = append(idx, i)
			}
		}
		var names []adapters.RateLimit
		for _, d := range defaults {
			if d.Kind == kind {
				names = append(names, d)
			}
		}
		sort.SliceStable(idx, func(a, b int) bool { return limits[idx[a]].Interval < limits[idx[b]].Interval })
		sort.SliceStable(names, func(a, b int) bool { return names[a].Interval < names[b].Interval })
		for rank, i := range idx {
			if len(idx) == len(names) {
				limits[i].Window = names[rank].Window
			} else {
				limits[i].Window = kind + "_" + intervalSuffix(limits[i].Interval)
			}
		}
	}
}

// intervalSuffix renders an interval as Binance's header suffix: 1M, 10S, 1D (intervalNum
// then intervalLetter), in the largest unit that divides it.
func intervalSuffix(d time.Duration) string {
	for _, u := range []struct {
		d time.Duration
		l string
	}{{24 * time.Hour, "D"}, {time.Hour, "H"}, {time.Minute, "M"}, {time.Second, "S"}} {
		if d >= u.d && d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.l
		}
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "MS"
}

// parseIntervalSuffix reads a header suffix ("1M", "10S") back into a duration.
func parseIntervalSuffix(s string) (time.Duration, bool) {
	if len(s) < 2 || len(s) > 8 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil || n < 1 || n > 1000 {
		return 0, false
	}
	switch s[len(s)-1] {
	case 'S', 's':
		return time.Duration(n) * time.Second, true
	case 'M', 'm':
		return time.Duration(n) * time.Minute, true
	case 'H', 'h':
		return time.Duration(n) * time.Hour, true
	case 'D', 'd':
		return time.Duration(n) * 24 * time.Hour, true
	}
	return 0, false
}
