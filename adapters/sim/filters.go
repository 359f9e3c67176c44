package sim

import "github.com/shopspring/decimal"

// Filter checks, as filters.md defines them. Each failure is -1013 "Filter failure: NAME"
// (errors.md "Filter failures"). A zero bound disables its rule.

// checkPrice is PRICE_FILTER: price >= minPrice, price <= maxPrice, price % tickSize == 0.
func (m *market) checkPrice(p decimal.Decimal) *apiError {
	if !m.minPrice.IsZero() && p.LessThan(m.minPrice) {
		return errFilter("PRICE_FILTER")
	}
	if !m.maxPrice.IsZero() && p.GreaterThan(m.maxPrice) {
		return errFilter("PRICE_FILTER")
	}
	if !m.tick.IsZero() && !p.Mod(m.tick).IsZero() {
		return errFilter("PRICE_FILTER")
	}
	return nil
}

// checkLot is LOT_SIZE: quantity >= minQty, quantity <= maxQty, quantity % stepSize == 0 (the
// rule since 2023-03-13; before it was (quantity - minQty) % stepSize).
func (m *market) checkLot(q decimal.Decimal) *apiError {
	if !q.IsPositive() {
		return errFilter("LOT_SIZE")
	}
	if !m.minQty.IsZero() && q.LessThan(m.minQty) {
		return errFilter("LOT_SIZE")
	}
	if !m.maxQty.IsZero() && q.GreaterThan(m.maxQty) {
		return errFilter("LOT_SIZE")
	}
	if !m.step.IsZero() && !q.Mod(m.step).IsZero() {
		return errFilter("LOT_SIZE")
	}
	return nil
}

// checkNotional is NOTIONAL: minNotional <= price * quantity <= maxNotional. For MARKET orders
// only the minimum applies (applyMinToMarket true, applyMaxToMarket false, as exchangeInfo
// announces) and the last price stands in for the average price.
func (m *market) checkNotional(n decimal.Decimal, isMarket bool) *apiError {
	if !m.minNotional.IsZero() && n.LessThan(m.minNotional) {
		return errFilter("NOTIONAL")
	}
	if !isMarket && !m.maxNotional.IsZero() && n.GreaterThan(m.maxNotional) {
		return errFilter("NOTIONAL")
	}
	return nil
}

// filtersJSON is the symbol's filters array in exchangeInfo (filters.md "/exchangeInfo format").
func (m *market) filtersJSON() []map[string]any {
	return []map[string]any{
		{"filterType": "PRICE_FILTER", "minPrice": fmt8(m.minPrice), "maxPrice": fmt8(m.maxPrice), "tickSize": fmt8(m.tick)},
		{"filterType": "LOT_SIZE", "minQty": fmt8(m.minQty), "maxQty": fmt8(m.maxQty), "stepSize": fmt8(m.step)},
		{"filterType": "NOTIONAL", "minNotional": fmt8(m.minNotional), "applyMinToMarket": true,
			"maxNotional": fmt8(m.maxNotional), "applyMaxToMarket": false, "avgPriceMins": 5},
	}
}
