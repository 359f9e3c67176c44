package sim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
)

// krHarness is a Kraken-dialect simulator with a fake clock and a self-signing client.
type krHarness struct {
	*harness
	priv  string
	nonce uint64
}

func newKrakenHarness(t *testing.T, mutate func(*sim.Config)) *krHarness {
	t.Helper()
	h := newHarness(t, func(c *sim.Config) {
		c.Dialect = sim.DialectKraken
		if mutate != nil {
			mutate(c)
		}
	})
	return &krHarness{harness: h, priv: sim.KrakenPrivateKey(testSecret), nonce: 1000}
}

// krAnswer is a decoded Kraken envelope.
type krAnswer struct {
	Error  []string        `json:"error"`
	Result json.RawMessage `json:"result"`
}

func (h *krHarness) decode(r resp) krAnswer {
	h.t.Helper()
	var a krAnswer
	r.json(h.t, &a)
	return a
}

func (h *krHarness) public(method, query string) krAnswer {
	h.t.Helper()
	return h.decode(h.get("/0/public/"+method, query))
}

// private signs and sends a private call with the next nonce.
func (h *krHarness) private(method string, params url.Values) krAnswer {
	h.t.Helper()
	h.nonce++
	return h.privateNonce(method, params, h.nonce)
}

func (h *krHarness) privateNonce(method string, params url.Values, nonce uint64) krAnswer {
	h.t.Helper()
	if params == nil {
		params = url.Values{}
	}
	n := strconv.FormatUint(nonce, 10)
	body := "nonce=" + n
	if enc := params.Encode(); enc != "" {
		body += "&" + enc
	}
	path := "/0/private/" + method
	sig, err := sim.SignKraken(h.priv, path, n, body)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.decode(h.do(http.MethodPost, path, "", body, map[string]string{"API-Key": h.key, "API-Sign": sig}))
}

func wantKrError(t *testing.T, a krAnswer, want string) {
	t.Helper()
	if len(a.Error) != 1 || !strings.HasPrefix(a.Error[0], want) {
		t.Fatalf("got errors %q (result %s), want %q", a.Error, a.Result, want)
	}
}

func wantKrOK(t *testing.T, a krAnswer) {
	t.Helper()
	if len(a.Error) != 0 {
		t.Fatalf("got errors %q", a.Error)
	}
}

// TestKrakenSignatureExample is the worked example of docs.kraken.com guides spot-rest-auth.
func TestKrakenSignatureExample(t *testing.T) {
	const (
		key   = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
		nonce = "1616492376594"
		body  = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
		want  = "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
	)
	got, err := sim.SignKraken(key, "/0/private/AddOrder", nonce, body)
	if err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
}

func TestKrakenPublicNames(t *testing.T) {
	h := newKrakenHarness(t, nil)
	a := h.public("AssetPairs", "")
	wantKrOK(t, a)
	var pairs map[string]struct {
		Altname, Base, Quote string
		TickSize             string `json:"tick_size"`
	}
	if err := json.Unmarshal(a.Result, &pairs); err != nil {
		t.Fatal(err)
	}
	if p := pairs["XBTUSDT"]; p.Altname != "XBTUSDT" || p.Base != "XXBT" || p.Quote != "USDT" || p.TickSize != "0.01" {
		t.Fatalf("XBTUSDT: %+v (all: %v)", p, pairs)
	}
	if _, ok := pairs["XDGUSDT"]; !ok {
		t.Fatalf("DOGEUSDT not listed as XDGUSDT: %v", pairs)
	}
	wantKrOK(t, h.public("Ticker", "pair=XBTUSDT"))
	wantKrError(t, h.public("Ticker", "pair=NOSUCH"), "EQuery:Unknown asset pair")
}

func TestKrakenNonceAndSignature(t *testing.T) {
	h := newKrakenHarness(t, nil)
	wantKrOK(t, h.privateNonce("Balance", nil, 5000))
	wantKrError(t, h.privateNonce("Balance", nil, 5000), "EAPI:Invalid nonce")
	wantKrError(t, h.privateNonce("Balance", nil, 4999), "EAPI:Invalid nonce")
	wantKrOK(t, h.privateNonce("Balance", nil, 5001))

	h.priv = sim.KrakenPrivateKey("another-secret")
	wantKrError(t, h.privateNonce("Balance", nil, 6000), "EAPI:Invalid signature")
	h.priv = sim.KrakenPrivateKey(testSecret)
	h.key = "no-such-key"
	wantKrError(t, h.privateNonce("Balance", nil, 6001), "EAPI:Invalid key")
}

// TestKrakenLockout: repeated invalid keys lock the IP out for ~15 minutes (time-scaled),
// good keys included, and the lockout ends.
func TestKrakenLockout(t *testing.T) {
	h := newKrakenHarness(t, func(c *sim.Config) { c.Abuse.AuthFailures = 3 })
	good := h.key
	h.key = "no-such-key"
	for range 3 {
		wantKrError(t, h.private("Balance", nil), "EAPI:Invalid key")
	}
	h.key = good
	wantKrError(t, h.private("Balance", nil), "EGeneral:Temporary lockout")
	if st := h.s.Stats(); st.Total.Bans != 1 || st.Total.AuthFailures != 3 {
		t.Fatalf("stats: %+v", st.Total)
	}
	wantKrOK(t, h.public("Time", "")) // public calls are not locked out
	h.clk.Advance(15*time.Minute + time.Second)
	wantKrOK(t, h.private("Balance", nil))
}

// TestKrakenRESTCounter: the counter allows 15 calls at once (starter), refuses the 16th,
// keeps counting refused calls, and drains at 0.33 per second.
func TestKrakenRESTCounter(t *testing.T) {
	h := newKrakenHarness(t, nil)
	for i := range 15 {
		if a := h.private("Balance", nil); len(a.Error) != 0 {
			t.Fatalf("call %d: %q", i+1, a.Error)
		}
	}
	wantKrError(t, h.private("Balance", nil), "EAPI:Rate limit exceeded")
	// The refused call counted (16): after 3 s (~1 drained) it is still refused.
	h.clk.Advance(3 * time.Second)
	wantKrError(t, h.private("Balance", nil), "EAPI:Rate limit exceeded")
	// 17 now; 3 under the max needs (17-14)/0.33 ≈ 9.1 s.
	h.clk.Advance(10 * time.Second)
	wantKrOK(t, h.private("Balance", nil))
	// TradesHistory costs 2: at ~14.7 it is refused where Balance would not be.
	wantKrError(t, h.private("TradesHistory", nil), "EAPI:Rate limit exceeded")
	if st := h.s.Stats(); st.Total.Status429 != 3 {
		t.Fatalf("%d rate-limit answers counted, want 3", st.Total.Status429)
	}
	// Orders are not on the REST counter.
	wantKrOK(t, h.private("AddOrder", url.Values{"pair": {"XBTUSDT"}, "type": {"buy"}, "ordertype": {"limit"},
		"price": {"50000.00"}, "volume": {"0.001"}}))
}

// TestKrakenTradingCounter: AddOrder costs 1 (even refused) and a cancel costs by the order's
// age; past 60 (starter) the pair's transactions are refused until the counter drains.
func TestKrakenTradingCounter(t *testing.T) {
	h := newKrakenHarness(t, nil)
	add := func(id string) krAnswer {
		return h.private("AddOrder", url.Values{"pair": {"XBTUSDT"}, "type": {"buy"}, "ordertype": {"limit"},
			"price": {"50000.00"}, "volume": {"0.0002"}, "cl_ord_id": {id}})
	}
	cancel := func(id string) krAnswer { return h.private("CancelOrder", url.Values{"cl_ord_id": {id}}) }
	// 6 adds and 6 immediate cancels: 6*(1+8) = 54. The REST counter is untouched.
	for i := range 6 {
		id := "o" + strconv.Itoa(i)
		wantKrOK(t, add(id))
		wantKrOK(t, cancel(id))
	}
	wantKrOK(t, add("x1"))                                     // 55
	wantKrError(t, cancel("x1"), "EOrder:Rate limit exceeded") // 55+8 > 60, not charged
	for i := range 5 {
		wantKrOK(t, add("y"+strconv.Itoa(i))) // 56..60
	}
	wantKrError(t, add("z"), "EOrder:Rate limit exceeded") // 61, counted
	// Another pair has its own counter.
	wantKrOK(t, h.private("AddOrder", url.Values{"pair": {"ETHUSDT"}, "type": {"buy"}, "ordertype": {"limit"},
		"price": {"1000.00"}, "volume": {"0.01"}}))
	// 300 s later the counter is empty and resting orders cancel for free.
	h.clk.Advance(300 * time.Second)
	for _, id := range []string{"x1", "y0", "y1", "y2", "y3", "y4"} {
		wantKrOK(t, cancel(id))
	}
	wantKrError(t, cancel("y0"), "EOrder:Unknown order")
}

func TestKrakenOrderLifecycle(t *testing.T) {
	h := newKrakenHarness(t, nil)
	const id = "6d1b345e-2821-40e2-ad83-4ecb18a06876"
	p := url.Values{"pair": {"XBTUSD"}, "type": {"buy"}, "ordertype": {"limit"}, "price": {"50000.00"}, "volume": {"0.001"}, "cl_ord_id": {id}}
	wantKrError(t, h.private("AddOrder", p), "EQuery:Unknown asset pair")
	p.Set("pair", "XBTUSDT")
	a := h.private("AddOrder", p)
	wantKrOK(t, a)
	var placed struct{ Txid []string }
	if err := json.Unmarshal(a.Result, &placed); err != nil || len(placed.Txid) != 1 || len(placed.Txid[0]) != 19 {
		t.Fatalf("AddOrder result %s", a.Result)
	}
	wantKrError(t, h.private("AddOrder", p), "EOrder:Duplicate order")
	bad := url.Values{"pair": {"XBTUSDT"}, "type": {"buy"}, "ordertype": {"limit"}, "price": {"50000.00"}, "volume": {"0.001"}}
	for field, v := range map[string]string{"cl_ord_id": "this-is-longer-than-18", "price": "50000.001"} {
		q := url.Values{}
		for k, x := range bad {
			q[k] = x
		}
		q.Set(field, v)
		if a := h.private("AddOrder", q); len(a.Error) == 0 {
			t.Fatalf("%s=%s accepted", field, v)
		}
	}

	open := h.private("OpenOrders", url.Values{"cl_ord_id": {id}})
	wantKrOK(t, open)
	if !strings.Contains(string(open.Result), placed.Txid[0]) || !strings.Contains(string(open.Result), `"cl_ord_id":"`+id+`"`) {
		t.Fatalf("OpenOrders: %s", open.Result)
	}
	wantKrOK(t, h.private("CancelOrder", url.Values{"cl_ord_id": {id}}))
	closed := h.private("ClosedOrders", url.Values{"cl_ord_id": {id}})
	if !strings.Contains(string(closed.Result), `"status":"canceled"`) {
		t.Fatalf("ClosedOrders: %s", closed.Result)
	}
	// The id may be reused once the first order is closed.
	wantKrOK(t, h.private("AddOrder", p))
}

// TestKrakenFaults: the shared faults in Kraken's terms.
func TestKrakenFaults(t *testing.T) {
	h := newKrakenHarness(t, nil)
	h.s.SetFaults(sim.Faults{ErrorRate: 1, ErrorStatus: http.StatusTooManyRequests, RetryAfterS: 600})
	a := h.public("Time", "")
	wantKrError(t, a, "EService:Throttled: ")
	ts, err := strconv.ParseInt(strings.TrimPrefix(a.Error[0], "EService:Throttled: "), 10, 64)
	if err != nil || ts != h.clk.Now().Add(600*time.Second).Unix() {
		t.Fatalf("throttled until %q", a.Error[0])
	}
	h.s.SetFaults(sim.Faults{ErrorRate: 1})
	r := h.get("/0/public/Time", "")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("5xx fault answered %d", r.status)
	}
	h.s.SetFaults(sim.Faults{UnknownRate: 1, Paths: []string{"/0/private/AddOrder"}})
	wantKrError(t, h.private("AddOrder", url.Values{"pair": {"XBTUSDT"}, "type": {"buy"}, "ordertype": {"limit"},
		"price": {"50000.00"}, "volume": {"0.001"}, "cl_ord_id": {"after-unknown"}}), "EGeneral:Internal error")
	h.s.SetFaults(sim.Faults{})
	if !strings.Contains(string(h.private("OpenOrders", nil).Result), "after-unknown") {
		t.Fatal("an unknown-outcome placement was not applied")
	}
}
