package sim

import (
	"encoding/json"
	"strconv"

	"github.com/shopspring/decimal"
)

var zero = decimal.Zero

// Public endpoints (security type NONE). Shapes follow rest-api.md "General endpoints" and
// "Market Data endpoints".

func (s *Server) ping(c *call) reply {
	if err := c.req.unread(); err != nil {
		return fail(err)
	}
	return ok(struct{}{})
}

func (s *Server) serverTime(c *call) reply {
	if err := c.req.unread(); err != nil {
		return fail(err)
	}
	return ok(map[string]int64{"serverTime": c.now.UnixMilli()})
}

func fail(e *apiError) reply { return reply{status: e.status, body: e} }

func (s *Server) exchangeInfo(c *call) reply {
	q := c.req
	names, aerr := s.symbolList(q)
	if aerr != nil {
		return fail(aerr)
	}
	q.accept("permissions", "showPermissionSets", "symbolStatus")
	if aerr := q.unread(); aerr != nil {
		return fail(aerr)
	}
	syms := []map[string]any{}
	for _, n := range names {
		m := s.markets[n]
		syms = append(syms, map[string]any{
			"symbol": m.sym.Name, "status": "TRADING",
			"baseAsset": m.sym.Base, "baseAssetPrecision": 8,
			"quoteAsset": m.sym.Quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
			"baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
			"orderTypes":                      []string{"LIMIT", "LIMIT_MAKER", "MARKET"},
			"icebergAllowed":                  false,
			"ocoAllowed":                      false,
			"otoAllowed":                      false,
			"opoAllowed":                      false,
			"quoteOrderQtyMarketAllowed":      true,
			"allowTrailingStop":               false,
			"cancelReplaceAllowed":            true,
			"amendAllowed":                    false,
			"pegInstructionsAllowed":          false,
			"isSpotTradingAllowed":            true,
			"isMarginTradingAllowed":          false,
			"filters":                         m.filtersJSON(),
			"permissions":                     []string{},
			"permissionSets":                  [][]string{{"SPOT"}},
			"defaultSelfTradePreventionMode":  "NONE",
			"allowedSelfTradePreventionModes": []string{"NONE"},
		})
	}
	return ok(map[string]any{
		"timezone":        "UTC",
		"serverTime":      c.now.UnixMilli(),
		"rateLimits":      s.limits.rateLimits(),
		"exchangeFilters": []any{},
		"symbols":         syms,
	})
}

// symbolList reads symbol or symbols (a JSON array, e.g. ["BTCUSDT","ETHUSDT"]); neither means
// every symbol. Both is -1128; an unknown symbol is -1121; a malformed array is -1100.
func (s *Server) symbolList(q *request) ([]string, *apiError) {
	_, hasOne := q.str("symbol")
	many, hasMany := q.str("symbols")
	switch {
	case hasOne && hasMany:
		return nil, errBadCombo()
	case hasOne:
		m, aerr := s.symbolParam(q, "symbol", true)
		if aerr != nil {
			return nil, aerr
		}
		return []string{m.sym.Name}, nil
	case hasMany:
		var list []string
		if err := json.Unmarshal([]byte(many), &list); err != nil || len(list) == 0 {
			return nil, errIllegalChars("symbols", `^\[("[^"]{1,64}",?)+\]$`)
		}
		seen := map[string]bool{}
		for _, n := range list {
			if seen[n] {
				return nil, errf(400, -1151, "Symbol is present multiple times in the list.")
			}
			seen[n] = true
			if _, ok := s.markets[n]; !ok {
				return nil, errInvalidSymbol()
			}
		}
		return list, nil
	}
	return append([]string(nil), s.marketOrder...), nil
}

// depthLimit is the depth limit parameter: default 100, anything over 5000 reads as 5000.
// Malformed values weigh as the default; the handler rejects them.
func depthLimit(q *request) int64 {
	v, ok := q.values["limit"]
	if !ok {
		return 100
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 100
	}
	if n > 5000 {
		return 5000
	}
	return n
}

func (s *Server) depth(c *call) reply {
	q := c.req
	m, aerr := s.symbolParam(q, "symbol", true)
	if aerr != nil {
		return fail(aerr)
	}
	if _, _, aerr := q.intParam("limit", 1, 1<<31-1); aerr != nil {
		return fail(aerr)
	}
	if _, aerr := statusFilter(q, true); aerr != nil {
		return fail(aerr)
	}
	if aerr := q.unread(); aerr != nil {
		return fail(aerr)
	}
	bids, asks := m.book(int(depthLimit(q)))
	bids, asks = s.faults.bendBook("/api/v3/depth", bids, asks)
	s.stats.depth[m.sym.Name]++
	return ok(map[string]any{"lastUpdateId": m.updateID, "bids": bids, "asks": asks})
}

func (s *Server) tickerPrice(c *call) reply {
	return s.ticker(c, func(m *market) map[string]any {
		return map[string]any{"symbol": m.sym.Name, "price": fmt8(m.price())}
	})
}

func (s *Server) bookTicker(c *call) reply {
	return s.ticker(c, func(m *market) map[string]any {
		bids, asks := m.book(1)
		bids, asks = s.faults.bendBook("/api/v3/ticker/bookTicker", bids, asks)
		out := map[string]any{"symbol": m.sym.Name, "bidPrice": fmt8(zero), "bidQty": fmt8(zero),
			"askPrice": fmt8(zero), "askQty": fmt8(zero)}
		if len(bids) > 0 {
			out["bidPrice"], out["bidQty"] = bids[0][0], bids[0][1]
		}
		if len(asks) > 0 {
			out["askPrice"], out["askQty"] = asks[0][0], asks[0][1]
		}
		return out
	})
}

// ticker answers an object for symbol, an array for symbols or for all symbols.
func (s *Server) ticker(c *call, one func(*market) map[string]any) reply {
	q := c.req
	_, single := q.values["symbol"]
	names, aerr := s.symbolList(q)
	if aerr != nil {
		return fail(aerr)
	}
	return s.tickerReply(q, single, names, one)
}

// tickerReply ends a ticker's request, its symbols parsed: the status filter, nothing else
// sent, then an object for a single symbol, an array for several or all.
func (s *Server) tickerReply(q *request, single bool, names []string, one func(*market) map[string]any) reply {
	if keep, aerr := statusFilter(q, single); aerr != nil {
		return fail(aerr)
	} else if !keep {
		names = nil
	}
	if aerr := q.unread(); aerr != nil {
		return fail(aerr)
	}
	if single {
		return ok(one(s.markets[names[0]]))
	}
	out := make([]map[string]any, 0, len(names))
	for _, n := range names {
		out = append(out, one(s.markets[n]))
	}
	return ok(out)
}
