package orders

import (
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
)

// Intent is an order a strategy wants; strategies know it as strategy.Intent, the same type.
// Amounts are exact decimals; Place rounds them to the symbol's grid (Prepare) before
// anything is journalled or sent. The journal keeps it as an idempotency.IntentRecord.
type Intent struct {
	Symbol string
	Side   adapters.Side
	Type   adapters.OrderType
	// TimeInForce applies to LIMIT orders only; empty means GTC.
	TimeInForce adapters.TimeInForce
	Quantity    decimal.Decimal
	// Price is the limit price of LIMIT and LIMIT_MAKER orders and must be zero for MARKET.
	Price decimal.Decimal
	// Strategy names the strategy that owns the order, so its events and Open reach it. A
	// strategy leaves it empty: the runtime sets it to the placing strategy's name,
	// overwriting whatever is there, so no strategy places an order in another's name.
	Strategy string
}

// maxAmountLen bounds ParseAmount's input, and maxExp the decimal exponent of any amount: a
// hostile "1e-1000000" must not turn rounding into a big-number computation.
const (
	maxAmountLen = 64
	maxExp       = 64
)

// MaxAmountPlaces is the most decimal places (trailing zeros aside) ParseAmount takes from
// text: exchange amounts carry at most 8 (Binance's tick and step sizes go down to 1e-8), so
// a written amount finer than 1e-20 is a typo or an attack.
const MaxAmountPlaces = 20

// gridEpsilon is how close to the tick or step grid, relative to the tick or step, an amount
// may lie without being on it before Prepare refuses it instead of rounding it. No arithmetic
// a strategy does lands that close by accident: float64 noise is ~1e-16 of the amount (an
// amount is at least one tick, so at least 1e-16 of a tick), shopspring's Div errs by up to
// 5e-17 absolute (at least 5e-20 of any tick or step below 1000), and products of quotients
// err by as much or more. "65000.01 + 1e-30" (1e-28 of a 0.01 tick) is a bug or an attack,
// which rounding would hide; ordinary excess digits (65010.010000000002, mid × 0.999, a
// product of two quotients with 32 places) are still rounded.
var gridEpsilon = decimal.New(1, -20)

// ParseAmount reads a quantity or price given as text (a config value, a JSON field) strictly:
// plain decimal notation, digits with an optional fraction, at most 64 characters and
// MaxAmountPlaces decimal places. Signs, exponents, spaces, "NaN", "Inf", hex and digit
// separators are refused with a *ValidationError, so no float-ish string becomes an amount.
// decimal.NewFromString (and so Decimal's UnmarshalText and UnmarshalJSON) also refuses NaN
// and Inf but takes exponents ("1e-30"); Prepare refuses what that lets through.
func ParseAmount(s string) (decimal.Decimal, error) {
	if s == "" {
		return decimal.Decimal{}, invalid("", "amount", "", "empty")
	}
	if len(s) > maxAmountLen {
		return decimal.Decimal{}, invalid("", "amount", "", "longer than %d characters", maxAmountLen)
	}
	dot := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && dot < 0 && i > 0 && i < len(s)-1:
			dot = i
		default:
			return decimal.Decimal{}, invalid("", "amount", "", "%q is not a plain decimal number (character %q at %d)", s, c, i)
		}
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, invalid("", "amount", "", "%q: %v", s, err)
	}
	if !d.Equal(d.Truncate(MaxAmountPlaces)) { // trailing zeros are not places
		return decimal.Decimal{}, invalid("", "amount", "", "%q has more than %d decimal places", s, MaxAmountPlaces)
	}
	return d, nil
}

// RoundQuantity rounds q down to a multiple of step: an order is never larger than asked.
// A zero step leaves q as it is. It requires q >= 0 and step >= 0.
func RoundQuantity(q, step decimal.Decimal) decimal.Decimal {
	if step.Sign() <= 0 {
		return q
	}
	// Mod is exact (QuoRem at precision 0), unlike Div, whose precision is a package global.
	return q.Sub(q.Mod(step))
}

// RoundPrice moves p onto the tick grid (multiples of tick) by mode, RoundNearest or
// RoundPassive (see their docs); a zero tick leaves p as it is. It requires p >= 0 and
// tick >= 0. The arithmetic is exact, so a price is never sent off the grid; Prepare refuses
// prices within gridEpsilon of the grid but off it before they get here.
func RoundPrice(p, tick decimal.Decimal, side adapters.Side, mode string) decimal.Decimal {
	if tick.Sign() <= 0 {
		return p
	}
	rem := p.Mod(tick)
	if rem.IsZero() {
		return p
	}
	down := p.Sub(rem)
	up := down.Add(tick)
	if mode == RoundPassive {
		if side == adapters.Sell {
			return up
		}
		return down
	}
	switch rem.Add(rem).Cmp(tick) {
	case -1:
		return down
	case 1:
		return up
	}
	if side == adapters.Sell { // exactly halfway: the passive side
		return up
	}
	return down
}

// Prepare validates an intent against the symbol's rules and returns the request to send,
// with the price on the tick grid (by rounding mode, RoundNearest or RoundPassive; "" means
// RoundNearest) and the quantity rounded down to the step. It refuses, with a
// *ValidationError naming the field and the filter, anything the exchange would refuse:
// a symbol that is not the intent's or not TRADING, an unknown side, type or time in force,
// a quantity or price that is not positive, has an absurd exponent, or lies off the step or
// tick grid by less than gridEpsilon of it (see there),
// a MARKET order with a price, and rounded amounts outside LOT_SIZE, PRICE_FILTER or
// NOTIONAL. ClientOrderID is left empty.
//
// The notional of a MARKET order is not checked: it depends on the price the order fills at,
// which is known only once it has; the exchange checks it (and refuses with a filter error,
// a validation failure that sends nothing twice).
func Prepare(in Intent, sym adapters.SymbolInfo, mode string) (adapters.OrderRequest, error) {
	s := in.Symbol
	switch {
	case s == "":
		return adapters.OrderRequest{}, invalid(s, "symbol", "", "empty")
	case sym.Symbol != s:
		return adapters.OrderRequest{}, invalid(s, "symbol", "", "rules given are for %q", sym.Symbol)
	case sym.Status != "TRADING":
		return adapters.OrderRequest{}, invalid(s, "symbol", "", "not trading (status %q)", sym.Status)
	}
	if in.Side != adapters.Buy && in.Side != adapters.Sell {
		return adapters.OrderRequest{}, invalid(s, "side", "", "expected BUY or SELL, got %q", in.Side)
	}
	req := adapters.OrderRequest{Symbol: s, Side: in.Side, Type: in.Type}
	limit := false
	switch in.Type {
	case adapters.Limit:
		limit = true
		switch in.TimeInForce {
		case "":
			req.TimeInForce = adapters.GTC
		case adapters.GTC, adapters.IOC, adapters.FOK:
			req.TimeInForce = in.TimeInForce
		default:
			return adapters.OrderRequest{}, invalid(s, "time_in_force", "", "expected GTC, IOC or FOK, got %q", in.TimeInForce)
		}
	case adapters.LimitMaker, adapters.Market:
		limit = in.Type == adapters.LimitMaker
		if in.TimeInForce != "" {
			return adapters.OrderRequest{}, invalid(s, "time_in_force", "", "not allowed for %s orders", in.Type)
		}
	default:
		return adapters.OrderRequest{}, invalid(s, "type", "", "expected LIMIT, LIMIT_MAKER or MARKET, got %q", in.Type)
	}

	if err := checkAmount(s, "quantity", in.Quantity, sym.StepSize); err != nil {
		return adapters.OrderRequest{}, err
	}
	req.Quantity = RoundQuantity(in.Quantity, sym.StepSize)
	switch {
	case req.Quantity.Sign() <= 0:
		return adapters.OrderRequest{}, invalid(s, "quantity", "LOT_SIZE", "%s is less than one step (%s)", in.Quantity, sym.StepSize)
	case sym.MinQty.Sign() > 0 && req.Quantity.Cmp(sym.MinQty) < 0:
		return adapters.OrderRequest{}, invalid(s, "quantity", "LOT_SIZE", "%s (rounded from %s) is below the minimum %s", req.Quantity, in.Quantity, sym.MinQty)
	case sym.MaxQty.Sign() > 0 && req.Quantity.Cmp(sym.MaxQty) > 0:
		return adapters.OrderRequest{}, invalid(s, "quantity", "LOT_SIZE", "%s is above the maximum %s", req.Quantity, sym.MaxQty)
	}

	if !limit {
		if !in.Price.IsZero() {
			return adapters.OrderRequest{}, invalid(s, "price", "", "must be zero for a MARKET order, got %s", in.Price)
		}
		// No MIN_NOTIONAL/NOTIONAL check for MARKET orders: quantity × fill price is unknown
		// before the fill, and a price guessed from the book could refuse an order the
		// exchange takes, or pass one it refuses. The exchange applies the filter (Binance's
		// applyMinToMarket/applyMaxToMarket, on its average price) and its refusal is a
		// validation error that Place returns without retrying.
		return req, nil
	}
	if err := checkAmount(s, "price", in.Price, sym.TickSize); err != nil {
		return adapters.OrderRequest{}, err
	}
	req.Price = RoundPrice(in.Price, sym.TickSize, in.Side, mode)
	switch {
	case req.Price.Sign() <= 0:
		return adapters.OrderRequest{}, invalid(s, "price", "PRICE_FILTER", "%s rounds to zero (tick %s)", in.Price, sym.TickSize)
	case sym.MinPrice.Sign() > 0 && req.Price.Cmp(sym.MinPrice) < 0:
		return adapters.OrderRequest{}, invalid(s, "price", "PRICE_FILTER", "%s (rounded from %s) is below the minimum %s", req.Price, in.Price, sym.MinPrice)
	case sym.MaxPrice.Sign() > 0 && req.Price.Cmp(sym.MaxPrice) > 0:
		return adapters.OrderRequest{}, invalid(s, "price", "PRICE_FILTER", "%s (rounded from %s) is above the maximum %s", req.Price, in.Price, sym.MaxPrice)
	}
	notional := req.Price.Mul(req.Quantity)
	switch {
	case sym.MinNotional.Sign() > 0 && notional.Cmp(sym.MinNotional) < 0:
		return adapters.OrderRequest{}, invalid(s, "notional", "NOTIONAL", "%s × %s = %s is below the minimum %s", req.Price, req.Quantity, notional, sym.MinNotional)
	case sym.MaxNotional.Sign() > 0 && notional.Cmp(sym.MaxNotional) > 0:
		return adapters.OrderRequest{}, invalid(s, "notional", "NOTIONAL", "%s × %s = %s is above the maximum %s", req.Price, req.Quantity, notional, sym.MaxNotional)
	}
	return req, nil
}

// checkAmount refuses amounts that are not positive, whose exponent is absurd, or that lie
// off the grid of unit (the step or tick) by less than gridEpsilon of it. The exponent is
// checked first, so the grid is only ever computed on a bounded number.
func checkAmount(symbol, field string, d, unit decimal.Decimal) error {
	if d.Sign() <= 0 {
		return invalid(symbol, field, "", "must be positive, got %s", d)
	}
	e := d.Exponent()
	if e < -maxExp || e > maxExp {
		return invalid(symbol, field, "", "exponent %d outside [-%d, %d]", e, maxExp, maxExp)
	}
	if unit.Sign() <= 0 {
		return nil
	}
	off := d.Mod(unit)
	if off.IsZero() {
		return nil
	}
	off = decimal.Min(off, unit.Sub(off)) // to the nearest grid point
	if off.Cmp(unit.Mul(gridEpsilon)) < 0 {
		return invalid(symbol, field, "", "%s is %s off the grid of %s: closer than any arithmetic error (%s of it), so refused rather than rounded",
			d, off, unit, gridEpsilon)
	}
	return nil
}
