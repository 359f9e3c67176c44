package sim

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// The coinbase dialect's market and account endpoints, in the shapes of the Advanced Trade
// OpenAPI spec (only the fields a client reads are filled with meaning; the rest carry the
// spec's types).

// cbTime is GET /time: {iso, epochSeconds, epochMillis}, camelCase as Coinbase answers it.
func (s *Server) cbTime(c *coinbaseCall) coinbaseReply {
	return cbOK(map[string]string{
		"iso":          c.now.UTC().Format(time.RFC3339Nano),
		"epochSeconds": strconv.FormatInt(c.now.Unix(), 10),
		"epochMillis":  strconv.FormatInt(c.now.UnixMilli(), 10),
	})
}

// cbProductJSON is one product (GetProductResponse).
func cbProductJSON(m *market) map[string]any {
	id := CoinbaseProductID(m.sym)
	return map[string]any{
		"product_id": id, "price": m.price().String(), "price_percentage_change_24h": "0",
		"volume_24h": "0", "volume_percentage_change_24h": "0",
		"base_increment": m.step.String(), "quote_increment": m.tick.String(), "price_increment": m.tick.String(),
		"quote_min_size": m.minNotional.String(), "quote_max_size": m.maxNotional.String(),
		"base_min_size": m.minQty.String(), "base_max_size": m.maxQty.String(),
		"base_name": m.sym.Base, "quote_name": m.sym.Quote, "watched": false, "is_disabled": false, "new": false,
		"status": "online", "cancel_only": false, "limit_only": false, "post_only": false, "trading_disabled": false,
		"auction_mode": false, "product_type": "SPOT", "quote_currency_id": m.sym.Quote, "base_currency_id": m.sym.Base,
		"mid_market_price": "", "alias": "", "alias_to": []string{}, "base_display_symbol": m.sym.Base,
		"quote_display_symbol": m.sym.Quote, "view_only": false, "display_name": id, "product_venue": "CBE",
	}
}

// cbProducts is GET /products and /market/products: SPOT products, product_ids filtering;
// product_type FUTURE lists nothing (futures are not simulated).
func (s *Server) cbProducts(c *coinbaseCall) coinbaseReply {
	list := []map[string]any{}
	want := map[string]bool{}
	for _, id := range c.req.qlist("product_ids") {
		want[id] = true
	}
	if t := c.req.qstr("product_type"); t == "" || t == "SPOT" || t == "UNKNOWN_PRODUCT_TYPE" {
		for _, name := range s.marketOrder {
			m := s.markets[name]
			if len(want) > 0 && !want[CoinbaseProductID(m.sym)] {
				continue
			}
			list = append(list, cbProductJSON(m))
		}
	}
	return cbOK(map[string]any{"products": list, "num_products": len(list)})
}

// cbMarket finds the product named by id; a 404 NOT_FOUND otherwise, as Coinbase answers.
// requires that s.mu is held.
func (c *coinbaseCall) market(id string) (*market, *coinbaseReply) {
	if id == "" {
		r := cbInvalid("product_id is required")
		return nil, &r
	}
	m, ok := c.cb.products[id]
	if !ok {
		r := cbError(http.StatusNotFound, "NOT_FOUND", "ProductID "+id+" could not be found")
		return nil, &r
	}
	return m, nil
}

func (s *Server) cbProduct(c *coinbaseCall) coinbaseReply {
	m, r := c.market(c.req.params["product_id"])
	if r != nil {
		return *r
	}
	return cbOK(cbProductJSON(m))
}

// cbLevels turns book levels into [{price, size}].
func cbLevels(ls []bookLevel) []map[string]string {
	out := make([]map[string]string, 0, len(ls))
	for _, l := range ls {
		out = append(out, map[string]string{"price": l[0], "size": l[1]})
	}
	return out
}

// cbProductBook is GET /product_book and /market/product_book: limit levels a side (default
// and at most 500: a guess, the spec gives no bound).
func (s *Server) cbProductBook(c *coinbaseCall) coinbaseReply {
	m, r := c.market(c.req.qstr("product_id"))
	if r != nil {
		return *r
	}
	limit := 500
	if v := c.req.qstr("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return cbInvalid("limit: invalid value")
		}
		if n > 0 && n < limit {
			limit = n
		}
	}
	bids, asks := m.book(limit)
	s.stats.depth[m.sym.Name]++
	last := m.price()
	mid, spread := last, decimal.Zero
	if len(bids) > 0 && len(asks) > 0 {
		b, a := decimal.RequireFromString(bids[0][0]), decimal.RequireFromString(asks[0][0])
		mid, spread = b.Add(a).Div(decimal.NewFromInt(2)), a.Sub(b)
	}
	bps := decimal.Zero
	if mid.IsPositive() {
		bps = spread.Div(mid).Mul(decimal.NewFromInt(10000)).Round(4)
	}
	return cbOK(map[string]any{
		"pricebook": map[string]any{"product_id": CoinbaseProductID(m.sym), "bids": cbLevels(bids), "asks": cbLevels(asks),
			"time": c.now.UTC().Format(time.RFC3339Nano)},
		"last": last.String(), "mid_market": mid.String(), "spread_bps": bps.String(), "spread_absolute": spread.String(),
	})
}

// cbBestBidAsk is GET /best_bid_ask: one level a side of each product asked (every product
// when none is).
func (s *Server) cbBestBidAsk(c *coinbaseCall) coinbaseReply {
	ids := c.req.qlist("product_ids")
	if len(ids) == 0 {
		for _, n := range s.marketOrder {
			ids = append(ids, CoinbaseProductID(s.markets[n].sym))
		}
	}
	books := []map[string]any{}
	for _, id := range ids {
		m, ok := c.cb.products[id]
		if !ok {
			continue
		}
		bids, asks := m.book(1)
		books = append(books, map[string]any{"product_id": id, "bids": cbLevels(bids), "asks": cbLevels(asks),
			"time": c.now.UTC().Format(time.RFC3339Nano)})
	}
	return cbOK(map[string]any{"pricebooks": books})
}

// cbTicker is GET /products/{id}/ticker: the simulator keeps no public trade tape, so the
// last trade is one at the last price, numbered by the book's update id.
func (s *Server) cbTicker(c *coinbaseCall) coinbaseReply {
	m, r := c.market(c.req.params["product_id"])
	if r != nil {
		return *r
	}
	bids, asks := m.book(1)
	bb, ba := "", ""
	if len(bids) > 0 {
		bb = bids[0][0]
	}
	if len(asks) > 0 {
		ba = asks[0][0]
	}
	id := CoinbaseProductID(m.sym)
	trade := map[string]string{"trade_id": strconv.FormatInt(m.updateID, 10), "product_id": id, "price": m.price().String(),
		"size": m.baseQty().String(), "time": c.now.UTC().Format(time.RFC3339Nano), "side": "BUY", "bid": "", "ask": "", "exchange": "CBE"}
	return cbOK(map[string]any{"trades": []any{trade}, "best_bid": bb, "best_ask": ba})
}

// cbAccountUUID is an account's (a currency wallet's) id.
func cbAccountUUID(key, asset string) string {
	h := 0
	for _, r := range key + "/" + asset {
		h = h*31 + int(r)
	}
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(h), uint64(len(asset)))
}

// cbAccounts is GET /accounts: one account per currency held, available_balance (free) and
// hold (held by open orders); limit (default 49, at most 250) and cursor page them.
func (s *Server) cbAccounts(c *coinbaseCall) coinbaseReply {
	a := c.acct
	assets := make([]string, 0, len(a.balances))
	for k := range a.balances {
		assets = append(assets, k)
	}
	sort.Strings(assets)
	limit := 49
	if v := c.req.qstr("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return cbInvalid("limit: invalid value")
		}
		if n > 0 {
			limit = min(n, 250)
		}
	}
	start := 0
	if v := c.req.qstr("cursor"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > len(assets) {
			return cbInvalid("cursor: invalid value")
		}
		start = n
	}
	end := min(start+limit, len(assets))
	list := []map[string]any{}
	for _, k := range assets[start:end] {
		b := a.bal(k)
		list = append(list, map[string]any{
			"uuid": cbAccountUUID(a.cfg.APIKey, k), "name": k + " Wallet", "currency": k,
			"available_balance": map[string]string{"value": b.free.String(), "currency": k},
			"default":           true, "active": true, "created_at": "2024-01-01T00:00:00Z", "updated_at": c.now.UTC().Format(time.RFC3339Nano),
			"deleted_at": nil, "type": "ACCOUNT_TYPE_CRYPTO", "ready": true,
			"hold": map[string]string{"value": b.locked.String(), "currency": k}, "retail_portfolio_id": cbPortfolio,
		})
	}
	cursor := ""
	if end < len(assets) {
		cursor = strconv.Itoa(end)
	}
	return cbOK(map[string]any{"accounts": list, "has_next": cursor != "", "cursor": cursor, "size": len(list)})
}

const cbPortfolio = "00000000-0000-4000-8000-00000000cafe"

// cbKeyPermissions is GET /key_permissions: the simulated key can view, trade unless the
// account's trading was disabled (/sim/ admin), and transfer when Account.EnableWithdrawals.
func (s *Server) cbKeyPermissions(c *coinbaseCall) coinbaseReply {
	return cbOK(map[string]any{"can_view": true, "can_trade": !c.acct.cfg.TradingDisabled, "can_transfer": c.acct.cfg.EnableWithdrawals,
		"portfolio_uuid": cbPortfolio, "portfolio_type": "DEFAULT"})
}

// cbTransactionSummary is GET /transaction_summary: the fee tier is the simulator's
// commission rate, maker and taker alike.
func (s *Server) cbTransactionSummary(c *coinbaseCall) coinbaseReply {
	rate := s.commission.String()
	return cbOK(map[string]any{
		"total_volume": 0, "total_fees": 0,
		"fee_tier": map[string]string{"pricing_tier": "Advanced 1", "usd_from": "0", "usd_to": "1000",
			"taker_fee_rate": rate, "maker_fee_rate": rate, "aop_from": "", "aop_to": ""},
		"margin_rate": nil, "goods_and_services_tax": nil, "advanced_trade_only_volume": 0, "advanced_trade_only_fees": 0,
		"coinbase_pro_volume": 0, "coinbase_pro_fees": 0, "total_balance": "", "has_promo_fee": false,
	})
}
