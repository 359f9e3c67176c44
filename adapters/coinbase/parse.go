package coinbase

import (
	"encoding/json"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
)

// plainDecimal is what Coinbase writes amounts as: digits, an optional fraction.
var plainDecimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// amount reads a decimal string; "" is zero when optional.
func amount(field, s string, optional bool) (decimal.Decimal, error) {
	if s == "" && optional {
		return decimal.Zero, nil
	}
	if !plainDecimal.MatchString(s) {
		return decimal.Zero, malformed("%s %q is not a plain decimal", field, snippet([]byte(s)))
	}
	return decimal.RequireFromString(s), nil
}

// flexString reads a JSON string or number as text (Coinbase writes epochSeconds as a
// string, some fields as numbers).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// parseServerTime reads GET /time: epochMillis, else epochSeconds, else iso.
func parseServerTime(b []byte) (time.Time, error) {
	var t struct {
		ISO          string     `json:"iso"`
		EpochSeconds flexString `json:"epochSeconds"`
		EpochMillis  flexString `json:"epochMillis"`
	}
	if err := decode("server time", b, &t); err != nil {
		return time.Time{}, err
	}
	if ms, err := strconv.ParseInt(string(t.EpochMillis), 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms), nil
	}
	if s, err := strconv.ParseInt(string(t.EpochSeconds), 10, 64); err == nil && s > 0 {
		return time.Unix(s, 0), nil
	}
	if x, err := time.Parse(time.RFC3339Nano, t.ISO); err == nil {
		return x, nil
	}
	return time.Time{}, malformed("server time: no epochMillis, epochSeconds or iso")
}

// product is one product of GET /market/products.
type product struct {
	ProductID       string `json:"product_id"`
	Price           string `json:"price"`
	BaseIncrement   string `json:"base_increment"`
	QuoteIncrement  string `json:"quote_increment"`
	PriceIncrement  string `json:"price_increment"`
	BaseMinSize     string `json:"base_min_size"`
	BaseMaxSize     string `json:"base_max_size"`
	QuoteMinSize    string `json:"quote_min_size"`
	QuoteMaxSize    string `json:"quote_max_size"`
	BaseCurrencyID  string `json:"base_currency_id"`
	QuoteCurrencyID string `json:"quote_currency_id"`
	Status          string `json:"status"`
	TradingDisabled bool   `json:"trading_disabled"`
	IsDisabled      bool   `json:"is_disabled"`
	CancelOnly      bool   `json:"cancel_only"`
	ProductType     string `json:"product_type"`
}

// symbol is the product's Keel symbol: base and quote without the dash (BTC-USD → BTCUSD),
// the form every other exchange of Keel uses, so a strategy's symbol works on all of them.
func (p product) symbol() string { return p.base() + p.quote() }

func (p product) base() string {
	if p.BaseCurrencyID != "" {
		return p.BaseCurrencyID
	}
	b, _, _ := strings.Cut(p.ProductID, "-")
	return b
}

func (p product) quote() string {
	if p.QuoteCurrencyID != "" {
		return p.QuoteCurrencyID
	}
	_, q, _ := strings.Cut(p.ProductID, "-")
	return q
}

func parseProducts(b []byte) ([]product, error) {
	var r struct {
		Products []product `json:"products"`
	}
	if err := decode("products", b, &r); err != nil {
		return nil, err
	}
	for _, p := range r.Products {
		if p.ProductID == "" || p.base() == "" || p.quote() == "" {
			return nil, malformed("products: a product without product_id, base or quote")
		}
	}
	return r.Products, nil
}

// info is the product as exchange-neutral symbol info. quote_increment is the price tick
// (price_increment when set), base_increment the step.
func (p product) info() (adapters.SymbolInfo, error) {
	si := adapters.SymbolInfo{Symbol: p.symbol(), BaseAsset: p.base(), QuoteAsset: p.quote(), Status: "BREAK"}
	if p.Status == "online" && !p.TradingDisabled && !p.IsDisabled && !p.CancelOnly {
		si.Status = "TRADING"
	}
	tick := p.PriceIncrement
	if tick == "" {
		tick = p.QuoteIncrement
	}
	var err error
	for _, f := range []struct {
		name string
		raw  string
		to   *decimal.Decimal
	}{{"price_increment", tick, &si.TickSize}, {"base_increment", p.BaseIncrement, &si.StepSize},
		{"base_min_size", p.BaseMinSize, &si.MinQty}, {"base_max_size", p.BaseMaxSize, &si.MaxQty},
		{"quote_min_size", p.QuoteMinSize, &si.MinNotional}, {"quote_max_size", p.QuoteMaxSize, &si.MaxNotional}} {
		if *f.to, err = amount(p.ProductID+" "+f.name, f.raw, true); err != nil {
			return si, err
		}
	}
	if !si.TickSize.IsPositive() || !si.StepSize.IsPositive() {
		return si, malformed("product %s: zero increment", snippet([]byte(p.ProductID)))
	}
	return si, nil
}

// level is one {price, size} of a book.
type level struct {
	Price string `json:"price"`
	Size  string `json:"size"`
}

func parseLevels(side string, ls []level) ([]adapters.Level, error) {
	out := make([]adapters.Level, 0, len(ls))
	for _, l := range ls {
		p, err := amount(side+" price", l.Price, false)
		if err != nil {
			return nil, err
		}
		q, err := amount(side+" size", l.Size, false)
		if err != nil {
			return nil, err
		}
		if !p.IsPositive() {
			return nil, malformed("%s: a zero price", side)
		}
		out = append(out, adapters.Level{Price: p, Quantity: q})
	}
	return out, nil
}

// parseBook reads GET /market/product_book into a book sorted best first; a crossed book is
// malformed.
func parseBook(b []byte, symbol string) (adapters.Book, error) {
	var r struct {
		Pricebook struct {
			Bids []level `json:"bids"`
			Asks []level `json:"asks"`
		} `json:"pricebook"`
	}
	if err := decode("product book", b, &r); err != nil {
		return adapters.Book{}, err
	}
	bids, err := parseLevels("bid", r.Pricebook.Bids)
	if err != nil {
		return adapters.Book{}, err
	}
	asks, err := parseLevels("ask", r.Pricebook.Asks)
	if err != nil {
		return adapters.Book{}, err
	}
	for i := 1; i < len(bids); i++ {
		if bids[i].Price.GreaterThan(bids[i-1].Price) {
			return adapters.Book{}, malformed("product book: bids not sorted best first")
		}
	}
	for i := 1; i < len(asks); i++ {
		if asks[i].Price.LessThan(asks[i-1].Price) {
			return adapters.Book{}, malformed("product book: asks not sorted best first")
		}
	}
	if len(bids) > 0 && len(asks) > 0 && !asks[0].Price.GreaterThan(bids[0].Price) {
		return adapters.Book{}, malformed("product book: crossed (bid %s >= ask %s)", bids[0].Price, asks[0].Price)
	}
	return adapters.Book{Symbol: symbol, Bids: bids, Asks: asks}, nil
}

// apiOrder is the spec's Order, the fields the adapter reads.
type apiOrder struct {
	OrderID            string                     `json:"order_id"`
	ProductID          string                     `json:"product_id"`
	ClientOrderID      string                     `json:"client_order_id"`
	Side               string                     `json:"side"`
	Status             string                     `json:"status"`
	TimeInForce        string                     `json:"time_in_force"`
	OrderType          string                     `json:"order_type"`
	CreatedTime        string                     `json:"created_time"`
	LastFillTime       string                     `json:"last_fill_time"`
	FilledSize         string                     `json:"filled_size"`
	FilledValue        string                     `json:"filled_value"`
	RejectReason       string                     `json:"reject_reason"`
	OrderConfiguration map[string]json.RawMessage `json:"order_configuration"`
}

// orderConf is one order configuration's fields.
type orderConf struct {
	BaseSize   string `json:"base_size"`
	QuoteSize  string `json:"quote_size"`
	LimitPrice string `json:"limit_price"`
	PostOnly   bool   `json:"post_only"`
}

// toOrder turns an order into Keel's terms; symbol is its Keel symbol.
func (o apiOrder) toOrder(symbol string) (adapters.Order, error) {
	out := adapters.Order{Symbol: symbol, ClientOrderID: o.ClientOrderID, ExchangeOrderID: o.OrderID}
	if o.OrderID == "" {
		return out, malformed("order without order_id")
	}
	switch o.Side {
	case "BUY":
		out.Side = adapters.Buy
	case "SELL":
		out.Side = adapters.Sell
	default:
		return out, malformed("order %s: side %q", o.OrderID, snippet([]byte(o.Side)))
	}
	if len(o.OrderConfiguration) != 1 {
		return out, malformed("order %s: %d order configurations", o.OrderID, len(o.OrderConfiguration))
	}
	var conf orderConf
	var kind string
	for k, raw := range o.OrderConfiguration {
		kind = k
		if err := decode("order configuration", raw, &conf); err != nil {
			return out, err
		}
	}
	var err error
	switch kind {
	case "market_market_ioc":
		out.Type = adapters.Market
	case "limit_limit_gtc":
		out.Type, out.TimeInForce = adapters.Limit, adapters.GTC
		if conf.PostOnly {
			out.Type, out.TimeInForce = adapters.LimitMaker, ""
		}
	case "limit_limit_fok":
		out.Type, out.TimeInForce = adapters.Limit, adapters.FOK
	case "sor_limit_ioc":
		out.Type, out.TimeInForce = adapters.Limit, adapters.IOC
	default:
		out.Type = adapters.OrderType(strings.ToUpper(kind))
	}
	if out.Price, err = amount("limit_price", conf.LimitPrice, true); err != nil {
		return out, err
	}
	if out.Quantity, err = amount("base_size", conf.BaseSize, true); err != nil {
		return out, err
	}
	if out.ExecutedQty, err = amount("filled_size", o.FilledSize, true); err != nil {
		return out, err
	}
	if out.CumulativeQuote, err = amount("filled_value", o.FilledValue, true); err != nil {
		return out, err
	}
	if out.Quantity.IsZero() {
		out.Quantity = out.ExecutedQty // a market order sized in quote
	}
	switch o.Status {
	case "OPEN", "PENDING", "QUEUED", "CANCEL_QUEUED", "EDIT_QUEUED":
		out.Status = adapters.StatusNew
		if out.ExecutedQty.IsPositive() {
			out.Status = adapters.StatusPartiallyFilled
		}
	case "FILLED":
		out.Status = adapters.StatusFilled
	case "CANCELLED":
		out.Status = adapters.StatusCanceled
	case "EXPIRED":
		out.Status = adapters.StatusExpired
	case "FAILED":
		out.Status = adapters.StatusRejected
	default:
		out.Status = adapters.StatusUnknown
	}
	if t, err := time.Parse(time.RFC3339Nano, o.CreatedTime); err == nil {
		out.CreatedAt, out.UpdatedAt = t, t
	}
	if t, err := time.Parse(time.RFC3339Nano, o.LastFillTime); err == nil && t.After(out.UpdatedAt) {
		out.UpdatedAt = t
	}
	return out, nil
}

// apiFill is one fill of GET /orders/historical/fills.
type apiFill struct {
	TradeID            string `json:"trade_id"`
	OrderID            string `json:"order_id"`
	TradeTime          string `json:"trade_time"`
	Price              string `json:"price"`
	Size               string `json:"size"`
	Commission         string `json:"commission"`
	ProductID          string `json:"product_id"`
	LiquidityIndicator string `json:"liquidity_indicator"`
	SizeInQuote        bool   `json:"size_in_quote"`
	Side               string `json:"side"`
}

// TradeID is a fill's trade_id as Keel's integer id: the number itself when it is one, else
// a 63-bit FNV hash of it (a guess: Coinbase writes numeric and UUID-shaped ids in different
// places; hashed ids have no order, so Trades' fromID means little for them).
func TradeID(s string) int64 {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return n
	}
	h := fnv.New64a()
	h.Write([]byte(s))
	return int64(h.Sum64() >> 1)
}

func (f apiFill) toFill(symbol, quote string) (adapters.Fill, error) {
	out := adapters.Fill{Symbol: symbol, TradeID: TradeID(f.TradeID), ExchangeOrderID: f.OrderID, CommissionAsset: quote,
		IsBuyer: f.Side == "BUY", IsMaker: f.LiquidityIndicator == "MAKER"}
	var err error
	if out.Price, err = amount("fill price", f.Price, false); err != nil {
		return out, err
	}
	if out.Quantity, err = amount("fill size", f.Size, false); err != nil {
		return out, err
	}
	if out.Commission, err = amount("commission", f.Commission, true); err != nil {
		return out, err
	}
	if f.SizeInQuote && out.Price.IsPositive() {
		out.Quantity = out.Quantity.Div(out.Price).Round(16)
	}
	out.QuoteQuantity = out.Price.Mul(out.Quantity)
	if t, err := time.Parse(time.RFC3339Nano, f.TradeTime); err == nil {
		out.Time = t
	}
	return out, nil
}

// apiAccount is one account (a currency wallet) of GET /accounts.
type apiAccount struct {
	Currency         string `json:"currency"`
	AvailableBalance struct {
		Value string `json:"value"`
	} `json:"available_balance"`
	Hold struct {
		Value string `json:"value"`
	} `json:"hold"`
}

// parseAccounts reads one page: balances (free = available_balance, locked = hold; total is
// their sum), whether there is another page and its cursor.
func parseAccounts(b []byte) ([]adapters.Balance, string, error) {
	var r struct {
		Accounts []apiAccount `json:"accounts"`
		HasNext  bool         `json:"has_next"`
		Cursor   string       `json:"cursor"`
	}
	if err := decode("accounts", b, &r); err != nil {
		return nil, "", err
	}
	out := make([]adapters.Balance, 0, len(r.Accounts))
	for _, a := range r.Accounts {
		if a.Currency == "" {
			return nil, "", malformed("accounts: an account without currency")
		}
		free, err := amount(a.Currency+" available_balance", a.AvailableBalance.Value, true)
		if err != nil {
			return nil, "", err
		}
		hold, err := amount(a.Currency+" hold", a.Hold.Value, true)
		if err != nil {
			return nil, "", err
		}
		out = append(out, adapters.Balance{Asset: a.Currency, Free: free, Locked: hold})
	}
	next := ""
	if r.HasNext {
		next = r.Cursor
	}
	return out, next, nil
}
