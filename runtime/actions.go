package runtime

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/strategy"
)

// reducing marks a placement's context as checked to reduce its strategy's position, which
// the kill switch's gate lets through in reduce-only mode.
type reducing struct{}

// reducer decides which placements reduce a position. Reduce-only placements are serialized,
// so two in flight cannot together sell more than the position holds.
type reducer struct {
	mu     sync.Mutex
	fills  *fills
	orders OrderService
}

// ErrNotReducing is wrapped (with the kill switch's HaltedError) by a placement refused in
// reduce-only mode because it would not reduce the strategy's position.
var ErrNotReducing = errors.New("reduce-only: the order would not reduce the strategy's position")

// place sends in for strategyName if it reduces the strategy's position on its symbol, counting
// the strategy's open orders on that side; halted is the kill switch's refusal, returned
// (wrapped) when it does not.
func (r *reducer) place(ctx context.Context, strategyName string, in strategy.Intent, halted error) (adapters.Order, error) {
	if r == nil || r.fills == nil {
		return adapters.Order{}, halted
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	pos, _ := r.fills.l.Position(strategyName, in.Symbol)
	held := pos.Quantity.Abs()
	reduces := (in.Side == adapters.Sell && pos.Quantity.IsPositive()) || (in.Side == adapters.Buy && pos.Quantity.IsNegative())
	committed := in.Quantity
	for _, o := range r.orders.Open(strategyName) {
		if o.Symbol == in.Symbol && o.Side == in.Side {
			committed = committed.Add(o.Quantity.Sub(o.ExecutedQty))
		}
	}
	if !reduces || !in.Quantity.IsPositive() || committed.GreaterThan(held) {
		return adapters.Order{}, fmt.Errorf("%w: %w (position %s %s, this order and the open ones on its side: %s %s)",
			halted, ErrNotReducing, pos.Quantity, in.Symbol, in.Side, committed)
	}
	return r.orders.Place(context.WithValue(ctx, reducing{}, true), strategyName, in)
}

// actions are the admin server's POST endpoints: halt, resume, cancel-all and flatten.
type actions struct {
	token   string
	log     zerolog.Logger
	sw      *killswitch.Switch
	loop    *Loop
	reducer *reducer
	flatMu  sync.Mutex // one flatten at a time: a second waits, then finds the positions closed
}

// routes wraps next with the POST actions; everything else goes to next (the GET endpoints,
// open on loopback as before).
func (a *actions) routes(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.HandleFunc("POST /halt", a.authorized(a.halt))
	mux.HandleFunc("POST /resume", a.authorized(a.resume))
	mux.HandleFunc("POST /cancel-all", a.authorized(a.cancelAll))
	mux.HandleFunc("POST /flatten", a.authorized(a.flatten))
	return mux
}

// authorized requires "Authorization: Bearer <admin.token>"; a request without it, or with
// another token, is refused with 401 and a log line (never the token it carried).
func (a *actions) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		why := ""
		switch {
		case a.token == "":
			why = "no admin token configured on the bot (set KEEL_ADMIN_TOKEN): admin actions are off"
		case !ok || got == "":
			why = "no bearer token"
		case subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) != 1:
			why = "wrong bearer token"
		}
		if why != "" {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			a.log.Warn().Str("event", "admin_refused").Str("path", r.URL.Path).Str("remote", host).Str("reason", why).
				Msg("admin action refused")
			w.Header().Set("WWW-Authenticate", `Bearer realm="keel"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": why})
			return
		}
		h(w, r)
	}
}

// actionRequest is the optional JSON body of an action.
type actionRequest struct {
	Who        string `json:"who"`
	Reason     string `json:"reason"`
	ReduceOnly bool   `json:"reduce_only"`
	Strategy   string `json:"strategy"`
	Symbol     string `json:"symbol"`
}

func readAction(r *http.Request) (actionRequest, error) {
	var req actionRequest
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 16<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return req, fmt.Errorf("body: want JSON with who, reason, reduce_only, strategy, symbol: %v", err)
		}
	}
	q := r.URL.Query()
	if v := q.Get("strategy"); v != "" {
		req.Strategy = v
	}
	if v := q.Get("symbol"); v != "" {
		req.Symbol = v
	}
	if req.Who == "" {
		req.Who = "admin api"
	}
	return req, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(redactedJSON(v))
}

func (a *actions) halt(w http.ResponseWriter, r *http.Request) {
	req, err := readAction(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if req.Reason == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "reason is required"})
		return
	}
	a.log.Warn().Str("event", "admin_action").Str("action", "halt").Str("who", req.Who).Bool("reduce_only", req.ReduceOnly).Msg("admin: halt")
	if err := a.sw.Trip(r.Context(), killswitch.Reason{Who: req.Who, Why: req.Reason, ReduceOnly: req.ReduceOnly}); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error(), "kill_switch": a.sw.State()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kill_switch": a.sw.State()})
}

func (a *actions) resume(w http.ResponseWriter, r *http.Request) {
	req, err := readAction(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	a.log.Warn().Str("event", "admin_action").Str("action", "resume").Str("who", req.Who).Msg("admin: resume")
	if err := a.sw.ResumeWith(r.Context(), killswitch.Reason{Who: req.Who, Why: req.Reason}); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error(), "kill_switch": a.sw.State()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kill_switch": a.sw.State()})
}

// actionOrder is one order an action touched.
type actionOrder struct {
	Strategy      string               `json:"strategy"`
	Symbol        string               `json:"symbol"`
	Side          adapters.Side        `json:"side,omitempty"`
	Quantity      decimal.Decimal      `json:"quantity"`
	ClientOrderID string               `json:"client_order_id,omitempty"`
	Status        adapters.OrderStatus `json:"status,omitempty"`
	Error         string               `json:"error,omitempty"`
}

type actionResult struct {
	Cancelled []actionOrder `json:"cancelled"`
	// Filled lists the orders that had filled before their cancel reached the exchange: not
	// open any more, and not a failure of the action.
	Filled    []actionOrder       `json:"filled,omitempty"`
	Placed    []actionOrder       `json:"placed,omitempty"`
	Failed    []actionOrder       `json:"failed,omitempty"`
	Positions []strategy.Position `json:"positions,omitempty"`
	Kill      killswitch.Status   `json:"kill_switch"`
}

// cancelMatching cancels the open orders of req's strategy and symbol (all when empty).
func (a *actions) cancelMatching(ctx context.Context, req actionRequest, res *actionResult) {
	for _, name := range a.loop.strategyNames() {
		if req.Strategy != "" && name != req.Strategy {
			continue
		}
		for _, o := range a.loop.orders.Open(name) {
			if req.Symbol != "" && o.Symbol != req.Symbol {
				continue
			}
			ao := actionOrder{Strategy: name, Symbol: o.Symbol, Side: o.Side, Quantity: o.Quantity, ClientOrderID: o.ClientOrderID}
			err := a.loop.orders.Cancel(ctx, o.Symbol, o.ClientOrderID)
			switch {
			case errors.Is(err, orders.ErrNotOpen):
				ao.Status = adapters.StatusFilled
				res.Filled = append(res.Filled, ao)
				continue
			case err != nil && !errors.Is(err, adapters.ErrOrderNotFound):
				ao.Error = err.Error()
				res.Failed = append(res.Failed, ao)
				continue
			}
			ao.Status = adapters.StatusCanceled
			res.Cancelled = append(res.Cancelled, ao)
		}
	}
}

func (a *actions) cancelAll(w http.ResponseWriter, r *http.Request) {
	req, err := readAction(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if !a.loop.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the bot is starting: reconciliation has not finished"})
		return
	}
	a.log.Warn().Str("event", "admin_action").Str("action", "cancel-all").Str("who", req.Who).Str("strategy", req.Strategy).Str("symbol", req.Symbol).Msg("admin: cancel all")
	res := actionResult{Cancelled: []actionOrder{}}
	a.cancelMatching(r.Context(), req, &res)
	res.Kill = a.sw.State()
	code := http.StatusOK
	if len(res.Failed) > 0 {
		code = http.StatusBadGateway
	}
	writeJSON(w, code, res)
}

// flatten cancels the matching open orders, then closes the matching positions with market
// orders that reduce them, through the orders manager (journal, scheduler) like any order.
// While trading runs it first switches the kill switch to reduce-only, so no strategy
// reopens what is being closed; under a full halt it refuses (no order may leave), and says so.
func (a *actions) flatten(w http.ResponseWriter, r *http.Request) {
	req, err := readAction(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if !a.loop.Ready() || a.reducer == nil || a.reducer.fills == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the bot is starting, or has no ledger: nothing to flatten against"})
		return
	}
	a.flatMu.Lock()
	defer a.flatMu.Unlock()
	ctx := r.Context()
	if halted, reason := a.sw.Halted(); halted && !reason.ReduceOnly {
		writeJSON(w, http.StatusConflict, map[string]any{"error": "trading is halted: no order may leave, flattening included; halt in reduce-only mode (keel halt --reduce-only) or resume, then flatten",
			"kill_switch": a.sw.State()})
		return
	} else if !halted {
		why := "flatten"
		if req.Reason != "" {
			why += ": " + req.Reason
		}
		if err := a.sw.Trip(ctx, killswitch.Reason{Who: req.Who, Why: why, ReduceOnly: true}); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
			return
		}
	}
	a.log.Warn().Str("event", "admin_action").Str("action", "flatten").Str("who", req.Who).Str("strategy", req.Strategy).Str("symbol", req.Symbol).Msg("admin: flatten")
	res := actionResult{Cancelled: []actionOrder{}}
	a.cancelMatching(ctx, req, &res)
	// Positions as the exchange's trades say, fees included: a buy paying its fee in the base
	// asset holds less than it bought, and selling the booked quantity would be refused.
	a.reducer.fills.settle(ctx)
	for _, p := range a.reducer.fills.l.Positions(req.Strategy) {
		if (req.Symbol != "" && p.Symbol != req.Symbol) || p.Quantity.IsZero() {
			continue
		}
		side := adapters.Sell
		if p.Quantity.IsNegative() {
			side = adapters.Buy
		}
		in := strategy.Intent{Symbol: p.Symbol, Side: side, Type: adapters.Market, Quantity: p.Quantity.Abs()}
		ao := actionOrder{Strategy: p.Strategy, Symbol: p.Symbol, Side: side, Quantity: in.Quantity}
		o, err := a.reducer.place(ctx, p.Strategy, in, a.sw.Check())
		if err != nil {
			ao.Error = err.Error()
			res.Failed = append(res.Failed, ao)
			continue
		}
		ao.ClientOrderID, ao.Status = o.ClientOrderID, o.Status
		res.Placed = append(res.Placed, ao)
	}
	for _, p := range a.reducer.fills.l.Positions(req.Strategy) {
		if req.Symbol == "" || p.Symbol == req.Symbol {
			res.Positions = append(res.Positions, p)
		}
	}
	res.Kill = a.sw.State()
	code := http.StatusOK
	if len(res.Failed) > 0 {
		code = http.StatusBadGateway
	}
	writeJSON(w, code, res)
}

// strategyNames lists the started strategies.
func (l *Loop) strategyNames() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, d := range l.defs {
		if l.runners[d.Name] != nil {
			out = append(out, d.Name)
		}
	}
	return out
}
