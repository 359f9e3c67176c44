package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/shopspring/decimal"
)

// The admin API lives under /sim/, speaks JSON and answers loopback clients only (403
// otherwise). It is never rate limited and never counted in the stats.
//
//	GET    /sim/stats                                    Stats
//	GET    /sim/orders                                   []OrderRecord, every order ever created
//	GET    /sim/faults                                   the current Faults
//	PUT    /sim/faults   Faults                          replace the faults (POST works too):
//	                                                     rates of errors, timeouts, unknowns; and
//	                                                     hostile answers: quote (zero_bid, crossed,
//	                                                     zero), trickle_ms, retry_after_raw,
//	                                                     ban_until_ms, used_weight, pad_bytes
//	DELETE /sim/faults                                   clear the faults
//	POST   /sim/keys/revoke   {"api_key":"K"}            every signed call with K: 401 -2015
//	POST   /sim/keys/restore  {"api_key":"K"}            undo a revoke or an automatic disable
//	POST   /sim/ban      {"ip":"127.0.0.1","seconds":120} ban an IP now (seconds before scaling;
//	                                                     0 = the next escalation step)
//	POST   /sim/unban    {"ip":"127.0.0.1"}              lift a ban, forget Retry-After
//	GET    /sim/clock                                    {"server_time_ms":…,"offset_ms":…}
//	POST   /sim/clock    {"offset_ms":1500}              shift the server clock
//	POST   /sim/price    {"symbol":"BTCUSDT","price":"64000.00"} move a price (fills cross)
//	POST   /sim/streams/drop                             drop every WebSocket connection now
//	GET    /sim/streams/faults                           the current StreamFaults
//	PUT    /sim/streams/faults  StreamFaults             drop every N ms, delay or skip depth
//	DELETE /sim/streams/faults                           clear the stream faults
//
// Errors answer {"error":"…"} with 400 (bad body), 404 (unknown path or key) or 403.

// OrderRecord is one order in GET /sim/orders.
type OrderRecord struct {
	APIKey        string `json:"api_key"`
	Symbol        string `json:"symbol"`
	OrderID       int64  `json:"order_id"`
	ClientOrderID string `json:"client_order_id"`
	Side          string `json:"side"`
	Type          string `json:"type"`
	TimeInForce   string `json:"time_in_force"`
	Status        string `json:"status"`
	Price         string `json:"price"`
	OrigQty       string `json:"orig_qty"`
	ExecutedQty   string `json:"executed_qty"`
	CreatedMs     int64  `json:"created_ms"`
	UpdatedMs     int64  `json:"updated_ms"`
}

// Orders returns every order ever created, oldest first.
func (s *Server) Orders() []OrderRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync(s.now())
	out := make([]OrderRecord, 0, len(s.allOrders))
	for _, o := range s.allOrders {
		out = append(out, OrderRecord{
			APIKey: o.acct.cfg.APIKey, Symbol: o.m.sym.Name, OrderID: o.id, ClientOrderID: o.clientID,
			Side: o.side, Type: o.typ, TimeInForce: o.tif, Status: o.status,
			Price: fmt8(o.price), OrigQty: fmt8(o.origQty), ExecutedQty: fmt8(o.executed),
			CreatedMs: o.created.UnixMilli(), UpdatedMs: o.updated.UnixMilli(),
		})
	}
	return out
}

// ErrUnknownKey is returned for an API key the server does not know.
var ErrUnknownKey = errors.New("sim: unknown API key")

// RevokeKey makes every signed call with key answer 401 -2015.
func (s *Server) RevokeKey(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[key]
	if !ok {
		return ErrUnknownKey
	}
	a.revoked = true
	return nil
}

// RotateSecret gives key a new HMAC secret (and no Ed25519 key) on the exchange's side, as
// when a deploy ships the wrong secret: the client's signatures stop verifying (Binance
// -1022), and repeated failures disable the key as any bad signature does. The Binance and
// Bybit dialects verify against it.
func (s *Server) RotateSecret(key, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[key]
	if !ok {
		return ErrUnknownKey
	}
	a.cfg.HMACSecret, a.cfg.Ed25519PublicKey = secret, nil
	return nil
}

// RestoreKey undoes RevokeKey and an automatic disable, and forgets past auth failures.
func (s *Server) RestoreKey(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[key]
	if !ok {
		return ErrUnknownKey
	}
	a.revoked = false
	a.key = keyState{}
	return nil
}

// SetTradingDisabled switches the account of key to one that may not place or cancel
// orders (Account.TradingDisabled), or back.
func (s *Server) SetTradingDisabled(key string, disabled bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[key]
	if !ok {
		return ErrUnknownKey
	}
	a.cfg.TradingDisabled = disabled
	return nil
}

// SetKeyScopes changes what GET /sapi/v1/account/apiRestrictions reports for key:
// withdrawals enabled, IP restriction on.
func (s *Server) SetKeyScopes(key string, enableWithdrawals, ipRestrict bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[key]
	if !ok {
		return ErrUnknownKey
	}
	a.cfg.EnableWithdrawals, a.cfg.IPRestrict = enableWithdrawals, ipRestrict
	return nil
}

// KeyDisabled reports whether key is revoked or disabled.
func (s *Server) KeyDisabled(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[key]
	return ok && (a.revoked || a.key.disabled)
}

// Ban bans ip now for d (already in server time, not scaled); d <= 0 uses the next step of the
// escalation. It returns when the ban ends.
func (s *Server) Ban(ip string, d time.Duration) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.bans++
	return s.ban(s.ip(ip), s.now(), d)
}

// Unban lifts a ban and forgets the IP's Retry-After and ban history.
func (s *Server) Unban(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.ip(ip)
	st.bannedUntil, st.retryUntil, st.violations, st.bans = time.Time{}, time.Time{}, 0, 0
}

// SetClockOffset shifts the server's clock by d (serverTime, timestamp checks, windows).
func (s *Server) SetClockOffset(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset = d
}

// SetPrice moves symbol's price to price (rounded down to its tick); resting orders it
// crosses fill.
func (s *Server) SetPrice(symbol, price string) error {
	p, err := decimal.NewFromString(price)
	if err != nil || !p.IsPositive() {
		return fmt.Errorf("sim: price: want a positive decimal, got %q", price)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.markets[symbol]
	if !ok {
		return fmt.Errorf("sim: unknown symbol %q", symbol)
	}
	now := s.now()
	s.sync(now)
	m.setPrice(p)
	s.matchResting(m, now)
	return nil
}

// Price is symbol's current price, and false for an unknown symbol.
func (s *Server) Price(symbol string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.markets[symbol]
	if !ok {
		return "", false
	}
	s.sync(s.now())
	return fmt8(m.price()), true
}

// Balance is the free and locked amount of asset in the account of key.
func (s *Server) Balance(key, asset string) (free, locked string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[key]
	if !ok {
		return "", "", ErrUnknownKey
	}
	s.sync(s.now())
	b := a.bal(asset)
	return fmt8(b.free), fmt8(b.locked), nil
}

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		adminJSON(w, http.StatusForbidden, map[string]string{"error": "admin API is loopback only"})
		return
	}
	var body struct {
		APIKey   string `json:"api_key"`
		IP       string `json:"ip"`
		Seconds  int64  `json:"seconds"`
		OffsetMs *int64 `json:"offset_ms"`
		Symbol   string `json:"symbol"`
		Price    string `json:"price"`
	}
	decode := func(v any) bool {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
			adminJSON(w, http.StatusBadRequest, map[string]string{"error": "bad JSON body: " + err.Error()})
			return false
		}
		return true
	}
	okBody := map[string]bool{"ok": true}
	switch r.Method + " " + r.URL.Path {
	case "GET /sim/stats":
		adminJSON(w, http.StatusOK, s.Stats())
	case "GET /sim/orders":
		adminJSON(w, http.StatusOK, s.Orders())
	case "GET /sim/faults":
		s.mu.Lock()
		f := s.faults
		s.mu.Unlock()
		adminJSON(w, http.StatusOK, f)
	case "PUT /sim/faults", "POST /sim/faults":
		var f Faults
		if !decode(&f) {
			return
		}
		if err := f.Validate(); err != nil {
			adminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.SetFaults(f)
		adminJSON(w, http.StatusOK, f)
	case "DELETE /sim/faults":
		s.SetFaults(Faults{})
		adminJSON(w, http.StatusOK, okBody)
	case "POST /sim/keys/revoke", "POST /sim/keys/restore":
		if !decode(&body) {
			return
		}
		op := s.RevokeKey
		if r.URL.Path == "/sim/keys/restore" {
			op = s.RestoreKey
		}
		if err := op(body.APIKey); err != nil {
			adminJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		adminJSON(w, http.StatusOK, okBody)
	case "POST /sim/ban":
		if !decode(&body) {
			return
		}
		if net.ParseIP(body.IP) == nil || body.Seconds < 0 {
			adminJSON(w, http.StatusBadRequest, map[string]string{"error": "ban: want an ip and seconds >= 0"})
			return
		}
		until := s.Ban(body.IP, s.scaled(time.Duration(body.Seconds)*time.Second))
		adminJSON(w, http.StatusOK, map[string]int64{"banned_until_ms": until.UnixMilli()})
	case "POST /sim/unban":
		if !decode(&body) {
			return
		}
		s.Unban(body.IP)
		adminJSON(w, http.StatusOK, okBody)
	case "GET /sim/clock", "POST /sim/clock":
		if r.Method == http.MethodPost {
			if !decode(&body) {
				return
			}
			if body.OffsetMs == nil {
				adminJSON(w, http.StatusBadRequest, map[string]string{"error": "clock: want offset_ms"})
				return
			}
			s.SetClockOffset(time.Duration(*body.OffsetMs) * time.Millisecond)
		}
		s.mu.Lock()
		out := map[string]int64{"server_time_ms": s.now().UnixMilli(), "offset_ms": s.offset.Milliseconds()}
		s.mu.Unlock()
		adminJSON(w, http.StatusOK, out)
	case "POST /sim/price":
		if !decode(&body) {
			return
		}
		if err := s.SetPrice(body.Symbol, body.Price); err != nil {
			adminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		adminJSON(w, http.StatusOK, okBody)
	case "POST /sim/streams/drop":
		s.DropStreams()
		adminJSON(w, http.StatusOK, okBody)
	case "GET /sim/streams/faults":
		adminJSON(w, http.StatusOK, s.StreamFaults())
	case "PUT /sim/streams/faults", "POST /sim/streams/faults":
		var f StreamFaults
		if !decode(&f) {
			return
		}
		if f.DropEveryMS < 0 || f.DepthDelayMS < 0 || f.SkipDepth < 0 {
			adminJSON(w, http.StatusBadRequest, map[string]string{"error": "stream faults: want values >= 0"})
			return
		}
		s.SetStreamFaults(f)
		adminJSON(w, http.StatusOK, f)
	case "DELETE /sim/streams/faults":
		s.SetStreamFaults(StreamFaults{})
		adminJSON(w, http.StatusOK, okBody)
	default:
		adminJSON(w, http.StatusNotFound, map[string]string{"error": "unknown admin endpoint " + r.Method + " " + r.URL.Path})
	}
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
