package sim

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// krakenAsset is an asset under Kraken's names: its id (XXBT, ZUSD, USDT) and altname (XBT).
type krakenAsset struct{ id, alt string }

// krakenLegacy are the engine's asset names Kraken lists under legacy X/Z ids and other
// altnames.
var krakenLegacy = map[string]krakenAsset{
	"BTC": {"XXBT", "XBT"}, "ETH": {"XETH", "ETH"}, "DOGE": {"XXDG", "XDG"}, "LTC": {"XLTC", "LTC"},
	"XRP": {"XXRP", "XRP"}, "USD": {"ZUSD", "USD"}, "EUR": {"ZEUR", "EUR"}, "GBP": {"ZGBP", "GBP"},
}

func krakenAssetOf(name string) krakenAsset {
	if a, ok := krakenLegacy[name]; ok {
		return a
	}
	return krakenAsset{name, name}
}

func krakenAltname(m *market) string {
	return krakenAssetOf(m.sym.Base).alt + krakenAssetOf(m.sym.Quote).alt
}

func krakenPairID(m *market) string {
	b, q := krakenAssetOf(m.sym.Base), krakenAssetOf(m.sym.Quote)
	if b.id != b.alt && q.id != q.alt {
		return b.id + q.id
	}
	return b.alt + q.alt
}

// krPair looks up the market a pair parameter (id or altname) names.
// requires that s.mu is held.
func (s *Server) krPair(c *krakenCall) (*market, string) {
	p := c.params.Get("pair")
	if p == "" {
		return nil, krInvalidArgs + ":pair"
	}
	m := s.kraken().pairs[p]
	if m == nil {
		return nil, krUnknownPair
	}
	return m, ""
}

func krPrice(m *market, d decimal.Decimal) string { return d.StringFixed(m.priceScale) }

func (s *Server) krTime(c *krakenCall) (any, string) {
	return map[string]any{"unixtime": c.now.Unix(), "rfc1123": c.now.UTC().Format("Mon, 02 Jan 06 15:04:05 -0700")}, ""
}

func (s *Server) krAssets(c *krakenCall) (any, string) {
	out := map[string]any{}
	for _, a := range s.kraken().assets {
		out[a.id] = map[string]any{"aclass": "currency", "altname": a.alt, "decimals": 10, "display_decimals": 8, "status": "enabled"}
	}
	return out, ""
}

func (s *Server) krAssetPairs(c *krakenCall) (any, string) {
	want := map[string]bool{}
	if p := c.params.Get("pair"); p != "" {
		for _, x := range strings.Split(p, ",") {
			m := s.kraken().pairs[x]
			if m == nil {
				return nil, krUnknownPair
			}
			want[m.sym.Name] = true
		}
	}
	pct := s.commission.Mul(decimal.NewFromInt(100)).InexactFloat64()
	out := map[string]any{}
	for _, name := range s.marketOrder {
		m := s.markets[name]
		if len(want) > 0 && !want[name] {
			continue
		}
		b, q := krakenAssetOf(m.sym.Base), krakenAssetOf(m.sym.Quote)
		out[krakenPairID(m)] = map[string]any{
			"altname": krakenAltname(m), "wsname": b.alt + "/" + q.alt,
			"aclass_base": "currency", "base": b.id, "aclass_quote": "currency", "quote": q.id, "lot": "unit",
			"cost_decimals": 5, "pair_decimals": m.priceScale, "lot_decimals": m.qtyScale, "lot_multiplier": 1,
			"leverage_buy": []int{}, "leverage_sell": []int{},
			"fees": [][2]float64{{0, pct}}, "fees_maker": [][2]float64{{0, pct}}, "fee_volume_currency": "ZUSD",
			"margin_call": 80, "margin_stop": 40,
			"ordermin": m.minQty.String(), "costmin": m.minNotional.String(), "tick_size": m.tick.String(),
			"status": "online",
		}
	}
	return out, ""
}

func (s *Server) krTicker(c *krakenCall) (any, string) {
	m, e := s.krPair(c)
	if e != "" {
		return nil, e
	}
	bids, asks := m.book(1)
	last := krPrice(m, m.price())
	return map[string]any{krakenPairID(m): map[string]any{
		"a": []string{top(asks, 0), "1", top(asks, 1)},
		"b": []string{top(bids, 0), "1", top(bids, 1)},
		"c": []string{last, "0.00100000"},
		"v": []string{"100.00000000", "100.00000000"}, "p": []string{last, last},
		"t": []int{100, 100}, "l": []string{last, last}, "h": []string{last, last}, "o": last,
	}}, ""
}

// top is field i of the best level, "0" for an empty side.
func top(levels []bookLevel, i int) string {
	if len(levels) == 0 {
		return "0"
	}
	return levels[0][i]
}

func (s *Server) krDepth(c *krakenCall) (any, string) {
	m, e := s.krPair(c)
	if e != "" {
		return nil, e
	}
	count := 100
	if v := c.params.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return nil, krInvalidArgs + ":count"
		}
		count = n
	}
	bids, asks := m.book(count)
	ts := c.now.Unix()
	side := func(ls []bookLevel) [][]any {
		out := make([][]any, 0, len(ls))
		for _, l := range ls {
			out = append(out, []any{l[0], l[1], ts})
		}
		return out
	}
	return map[string]any{krakenPairID(m): map[string]any{"asks": side(asks), "bids": side(bids)}}, ""
}

func (s *Server) krBalance(c *krakenCall) (any, string) {
	out := map[string]string{}
	for asset, b := range c.acct.balances {
		out[krakenAssetOf(asset).id] = fmt8(b.free.Add(b.locked))
	}
	return out, ""
}

func (s *Server) krBalanceEx(c *krakenCall) (any, string) {
	out := map[string]any{}
	for asset, b := range c.acct.balances {
		out[krakenAssetOf(asset).id] = map[string]string{"balance": fmt8(b.free.Add(b.locked)), "hold_trade": fmt8(b.locked)}
	}
	return out, ""
}

// reKrakenUUID and reKrakenShortUUID are the two UUID forms of cl_ord_id (guides
// spot-clordid); free text is printable ASCII up to 18 characters.
var (
	reKrakenUUID      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	reKrakenShortUUID = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
)

// ValidKrakenClOrdID reports whether id is a cl_ord_id Kraken accepts: a long or short UUID,
// or free printable ASCII text of at most 18 characters.
func ValidKrakenClOrdID(id string) bool {
	if reKrakenUUID.MatchString(id) || reKrakenShortUUID.MatchString(id) {
		return true
	}
	if len(id) == 0 || len(id) > 18 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// krTxid makes an order or trade id in Kraken's shape (OUF4EM-FRGI2-MQMWZD) from the engine's
// number, deterministic and unique.
func krTxid(prefix byte, n int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n)*0x9e3779b97f4a7c15)
	s := strings.ToUpper(strconv.FormatUint(binary.BigEndian.Uint64(b[:]), 36))
	s = strings.Repeat("0", 16-len(s)) + s
	return string(prefix) + s[:5] + "-" + s[5:10] + "-" + s[10:16]
}

func (s *Server) krAddOrder(c *krakenCall) (any, string) {
	kr := s.kraken()
	p := c.params
	m, e := s.krPair(c)
	if e != "" {
		return nil, e
	}
	// The fixed count is applied on receipt, even when the order is then refused.
	tc := s.krTradeCounter(c.key, m)
	if v := tc.now(c.now); v+1 > kr.tier.TradeMax {
		tc.add(c.now, 1)
		return nil, krOrderRateLimit
	}
	tc.add(c.now, 1)
	if c.acct.cfg.TradingDisabled {
		return nil, krPermission
	}
	sp := orderSpec{m: m}
	switch p.Get("type") {
	case "buy":
		sp.side = "BUY"
	case "sell":
		sp.side = "SELL"
	default:
		return nil, krInvalidArgs + ":type"
	}
	post := false
	for _, f := range strings.Split(p.Get("oflags"), ",") {
		switch f {
		case "", "fciq", "fcib", "nompp":
		case "post":
			post = true
		default:
			return nil, krInvalidArgs + ":oflags"
		}
	}
	tif := p.Get("timeinforce")
	switch tif {
	case "", "GTC":
		tif = "GTC"
	case "IOC":
	default:
		return nil, krInvalidArgs + ":timeinforce"
	}
	qty, err := decimal.NewFromString(p.Get("volume"))
	if err != nil || !qty.IsPositive() {
		return nil, krInvalidArgs + ":volume"
	}
	if !qty.Truncate(m.qtyScale).Equal(qty) {
		return nil, krInvalidArgs + ":volume"
	}
	if qty.LessThan(m.minQty) {
		return nil, krOrderMinimum
	}
	sp.qty = qty
	switch p.Get("ordertype") {
	case "limit":
		price, err := decimal.NewFromString(p.Get("price"))
		if err != nil || !price.IsPositive() {
			return nil, krInvalidArgs + ":price"
		}
		if !price.Mod(m.tick).IsZero() {
			return nil, krTickSize
		}
		if price.Mul(qty).LessThan(m.minNotional) {
			return nil, krCostMinimum
		}
		sp.typ, sp.price, sp.tif = "LIMIT", price, tif
		if post {
			sp.typ = "LIMIT_MAKER"
		}
	case "market":
		if post {
			return nil, krInvalidArgs + ":oflags"
		}
		if m.price().Mul(qty).LessThan(m.minNotional) {
			return nil, krCostMinimum
		}
		sp.typ = "MARKET"
	default:
		return nil, krInvalidArgs + ":ordertype"
	}
	clOrdID := p.Get("cl_ord_id")
	var userref int64
	if v := p.Get("userref"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || clOrdID != "" {
			return nil, krInvalidArgs + ":userref"
		}
		userref = n
	}
	if clOrdID != "" && !ValidKrakenClOrdID(clOrdID) {
		return nil, krInvalidArgs + ":cl_ord_id"
	}
	sp.clientID = clOrdID
	if clOrdID == "" {
		sp.clientID = "\x00" + strconv.FormatInt(s.nextOrderID+1, 10) // never a client's cl_ord_id
	}
	if p.Get("validate") == "true" {
		return map[string]any{"descr": map[string]string{"order": krDescr(sp)}}, ""
	}
	o, aerr := s.place(c.acct, sp, c.now)
	if aerr != nil {
		return nil, krakenErrorOf(aerr)
	}
	s.stats.endpoint("POST /0/private/AddOrder").OrdersCreated++
	s.stats.total.OrdersCreated++
	txid := krTxid('O', o.id)
	kr.orders[o] = &krakenOrder{txid: txid, clOrdID: clOrdID, userref: userref, post: post}
	kr.byTxid[txid] = o
	return map[string]any{"descr": map[string]string{"order": krDescr(sp)}, "txid": []string{txid}}, ""
}

func krDescr(sp orderSpec) string {
	alt := krakenAltname(sp.m)
	side := strings.ToLower(sp.side)
	if sp.typ == "MARKET" {
		return fmt.Sprintf("%s %s %s @ market", side, fmt8(sp.qty), alt)
	}
	return fmt.Sprintf("%s %s %s @ limit %s", side, fmt8(sp.qty), alt, krPrice(sp.m, sp.price))
}

// krTradeCounter is the trading-engine counter of key on m.
// requires that s.mu is held.
func (s *Server) krTradeCounter(key string, m *market) *decayCounter {
	kr := s.kraken()
	k := key + "|" + krakenPairID(m)
	tc := kr.trade[k]
	if tc == nil {
		tc = &decayCounter{rate: kr.tier.TradeDecay * s.cfg.TimeScale}
		kr.trade[k] = tc
	}
	return tc
}

// krFind finds an order of the account by txid or cl_ord_id: for a cl_ord_id the open one if
// any (uniqueness holds among open orders only), else the latest.
// requires that s.mu is held.
func (s *Server) krFind(a *account, txid, clOrdID string) *order {
	kr := s.kraken()
	if txid != "" {
		if o := kr.byTxid[txid]; o != nil && o.acct == a {
			return o
		}
		return nil
	}
	var found *order
	for i := len(a.orders) - 1; i >= 0; i-- {
		o := a.orders[i]
		if ko := kr.orders[o]; ko != nil && ko.clOrdID == clOrdID {
			if o.live() {
				return o
			}
			if found == nil {
				found = o
			}
		}
	}
	return found
}

func (s *Server) krCancelOrder(c *krakenCall) (any, string) {
	kr := s.kraken()
	txid, clOrdID := c.params.Get("txid"), c.params.Get("cl_ord_id")
	if (txid == "") == (clOrdID == "") {
		return nil, krInvalidArgs + ":txid"
	}
	o := s.krFind(c.acct, txid, clOrdID)
	if o == nil || !o.live() {
		return nil, krUnknownOrder
	}
	cost := krakenCancelCost(s.unscaled(c.now.Sub(o.created)))
	tc := s.krTradeCounter(c.key, o.m)
	if v := tc.now(c.now); cost > 0 && v+cost > kr.tier.TradeMax {
		return nil, krOrderRateLimit
	}
	if c.acct.cfg.TradingDisabled {
		return nil, krPermission
	}
	tc.add(c.now, cost)
	s.finish(o, statusCanceled, c.now)
	return map[string]any{"count": 1}, ""
}

// krStatus is an order's status in Kraken's words.
func krStatus(o *order) string {
	switch o.status {
	case statusNew:
		return "open"
	case statusFilled:
		return "closed"
	case statusCanceled:
		return "canceled"
	}
	return "expired"
}

func secs(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

// krOrder is an order object as OpenOrders, ClosedOrders and QueryOrders show it.
// requires that s.mu is held.
func (s *Server) krOrder(o *order) map[string]any {
	ko := s.kraken().orders[o]
	sp := orderSpec{m: o.m, side: o.side, typ: o.typ, price: o.price, qty: o.origQty}
	ordertype, price := "limit", krPrice(o.m, o.price)
	if o.typ == "MARKET" {
		ordertype, price = "market", "0"
	}
	oflags := "fciq"
	if ko.post {
		oflags = "post,fciq"
	}
	avg := decimal.Zero
	if o.executed.IsPositive() {
		avg = o.cumQuote.Div(o.executed)
	}
	fee := decimal.Zero
	for _, t := range o.fills {
		fee = fee.Add(krFeeInQuote(t))
	}
	out := map[string]any{
		"refid": nil, "userref": ko.userref, "status": krStatus(o), "opentm": secs(o.created), "starttm": 0, "expiretm": 0,
		"descr": map[string]string{"pair": krakenAltname(o.m), "type": strings.ToLower(o.side), "ordertype": ordertype,
			"price": price, "price2": "0", "leverage": "none", "order": krDescr(sp), "close": ""},
		"vol": fmt8(o.origQty), "vol_exec": fmt8(o.executed), "cost": o.cumQuote.StringFixed(5), "fee": fee.StringFixed(5),
		"price": krPrice(o.m, avg), "stopprice": "0.00000", "limitprice": "0.00000", "misc": "", "oflags": oflags,
	}
	if ko.clOrdID != "" {
		out["cl_ord_id"] = ko.clOrdID
	}
	if !o.live() {
		out["closetm"] = secs(o.updated)
		switch o.status {
		case statusCanceled:
			out["reason"] = "User requested"
		case statusExpired:
			out["reason"] = "Order expired"
		default:
			out["reason"] = nil
		}
	}
	return out
}

// krFeeInQuote is a fill's commission in quote terms (the engine charges buys in the base
// asset; Kraken reports fees in quote).
func krFeeInQuote(t *trade) decimal.Decimal {
	if t.isBuyer {
		return t.commission.Mul(t.price)
	}
	return t.commission
}

// krOrdersOf lists the account's orders kept by keep, newest first, as {txid: order}.
// requires that s.mu is held.
func (s *Server) krOrdersOf(c *krakenCall, keep func(*order) bool) map[string]any {
	kr := s.kraken()
	clOrdID := c.params.Get("cl_ord_id")
	out := map[string]any{}
	for i := len(c.acct.orders) - 1; i >= 0; i-- {
		o := c.acct.orders[i]
		ko := kr.orders[o]
		if ko == nil || !keep(o) || (clOrdID != "" && ko.clOrdID != clOrdID) {
			continue
		}
		out[ko.txid] = s.krOrder(o)
	}
	return out
}

func (s *Server) krOpenOrders(c *krakenCall) (any, string) {
	return map[string]any{"open": s.krOrdersOf(c, (*order).live)}, ""
}

// krClosedPage is ClosedOrders' page size.
const krClosedPage = 50

func (s *Server) krClosedOrders(c *krakenCall) (any, string) {
	all := s.krOrdersOf(c, func(o *order) bool { return !o.live() })
	ids := make([]string, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	kr := s.kraken()
	sort.Slice(ids, func(i, j int) bool { return kr.byTxid[ids[i]].id > kr.byTxid[ids[j]].id })
	ofs, _ := strconv.Atoi(c.params.Get("ofs"))
	page := map[string]any{}
	for i := max(ofs, 0); i < len(ids) && len(page) < krClosedPage; i++ {
		page[ids[i]] = all[ids[i]]
	}
	return map[string]any{"closed": page, "count": len(ids)}, ""
}

func (s *Server) krQueryOrders(c *krakenCall) (any, string) {
	raw := c.params.Get("txid")
	if raw == "" {
		return nil, krInvalidArgs + ":txid"
	}
	out := map[string]any{}
	for _, id := range strings.Split(raw, ",") {
		o := s.krFind(c.acct, id, "")
		if o == nil {
			return nil, krInvalidArgs + ":txid"
		}
		out[id] = s.krOrder(o)
	}
	return out, ""
}

func (s *Server) krTradesHistory(c *krakenCall) (any, string) {
	kr := s.kraken()
	ofs, _ := strconv.Atoi(c.params.Get("ofs"))
	trades := c.acct.trades
	out := map[string]any{}
	n := 0
	for i := len(trades) - 1 - max(ofs, 0); i >= 0 && n < krClosedPage; i-- {
		t := trades[i]
		o := s.orderByID(c.acct, t.orderID)
		if o == nil {
			continue
		}
		ko := kr.orders[o]
		if ko == nil {
			continue
		}
		id, ok := kr.trades[t.id]
		if !ok {
			id = krTxid('T', t.id)
			kr.trades[t.id] = id
		}
		ordertype := "limit"
		if o.typ == "MARKET" {
			ordertype = "market"
		}
		out[id] = map[string]any{
			"ordertxid": ko.txid, "postxid": krTxid('P', t.id), "pair": krakenPairID(o.m), "time": secs(t.time),
			"type": strings.ToLower(o.side), "ordertype": ordertype, "price": krPrice(o.m, t.price),
			"cost": t.quoteQty.StringFixed(5), "fee": krFeeInQuote(t).StringFixed(5), "vol": fmt8(t.qty),
			"margin": "0.00000", "misc": "", "trade_id": t.id, "maker": t.isMaker,
		}
		n++
	}
	return map[string]any{"trades": out, "count": len(trades)}, ""
}

// orderByID finds an order of a by the engine's id.
// requires that s.mu is held.
func (s *Server) orderByID(a *account, id int64) *order {
	for i := len(a.orders) - 1; i >= 0; i-- {
		if a.orders[i].id == id {
			return a.orders[i]
		}
	}
	return nil
}

func (s *Server) krTradeVolume(c *krakenCall) (any, string) {
	pct := s.commission.Mul(decimal.NewFromInt(100)).StringFixed(4)
	fees, maker := map[string]any{}, map[string]any{}
	if raw := c.params.Get("pair"); raw != "" {
		for _, p := range strings.Split(raw, ",") {
			m := s.kraken().pairs[p]
			if m == nil {
				return nil, krUnknownPair
			}
			f := map[string]any{"fee": pct, "minfee": pct, "maxfee": pct, "nextfee": nil, "nextvolume": nil, "tiervolume": "0.0000"}
			fees[krakenPairID(m)] = f
			maker[krakenPairID(m)] = f
		}
	}
	return map[string]any{"currency": "ZUSD", "volume": "0.0000", "fees": fees, "fees_maker": maker}, ""
}
