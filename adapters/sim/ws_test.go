package sim_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/clock"
)

// wsSim is a simulator on the wall clock whose price only moves through SetPrice, so every
// update id is the test's doing.
func wsSim(t *testing.T, mutate func(*sim.Config)) *sim.Server {
	t.Helper()
	cfg := sim.Config{Seed: 3, WalkInterval: 1000 * time.Hour, APIKey: testKey, APISecret: testSecret}
	cfg.Streams.Interval = 5 * time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	return listen(t, cfg)
}

func wsURL(s *sim.Server, path string) string { return "ws://" + s.Addr().String() + path }

// dialWS connects to path and closes the connection when the test ends. The read limit fits
// a diff update of a price jump of thousands of ticks.
func dialWS(t *testing.T, ctx context.Context, s *sim.Server, path string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, wsURL(s, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadLimit(4 << 20)
	return c
}

type depthEvent struct {
	E    string      `json:"e"`
	T    int64       `json:"E"` // encoding/json matches names case-insensitively: declare both
	U    int64       `json:"U"`
	LU   int64       `json:"u"`
	Bids [][2]string `json:"b"`
	Asks [][2]string `json:"a"`
}

func readDepth(t *testing.T, ctx context.Context, c *websocket.Conn) depthEvent {
	t.Helper()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var env struct {
			Stream string     `json:"stream"`
			Data   depthEvent `json:"data"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		if env.Data.E == "depthUpdate" {
			return env.Data
		}
	}
}

type snapshot struct {
	LastUpdateID int64       `json:"lastUpdateId"`
	Bids         [][2]string `json:"bids"`
	Asks         [][2]string `json:"asks"`
}

func getDepth(t *testing.T, s *sim.Server, symbol string) snapshot {
	t.Helper()
	resp, err := http.Get(s.URL() + "/api/v3/depth?symbol=" + symbol + "&limit=5000") // the whole book
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d snapshot
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

type localBook struct{ bids, asks map[string]string }

func (b *localBook) apply(side map[string]string, levels [][2]string) {
	for _, l := range levels {
		if q, _ := strconv.ParseFloat(l[1], 64); q == 0 {
			delete(side, l[0])
		} else {
			side[l[0]] = l[1]
		}
	}
}

func (b *localBook) equal(d snapshot) bool {
	flat := func(m map[string]string) string {
		var ks []string
		for k, v := range m {
			ks = append(ks, k+"="+v)
		}
		sort.Strings(ks)
		return strings.Join(ks, ",")
	}
	want := localBook{bids: map[string]string{}, asks: map[string]string{}}
	want.apply(want.bids, d.Bids)
	want.apply(want.asks, d.Asks)
	return flat(b.bids) == flat(want.bids) && flat(b.asks) == flat(want.asks)
}

// TestDepthStreamAgreesWithSnapshot follows "How to manage a local order book correctly":
// a snapshot plus the diffs after it equals a later snapshot, and a skipped update shows as a
// gap in update ids.
func TestDepthStreamAgreesWithSnapshot(t *testing.T) {
	s := wsSim(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/stream?streams=btcusdt@depth@100ms/btcusdt@trade")
	if err := s.SetPrice("BTCUSDT", "65000.05"); err != nil {
		t.Fatal(err)
	}
	first := readDepth(t, ctx, c)
	snap := getDepth(t, s, "BTCUSDT")
	if first.LU > snap.LastUpdateID {
		t.Fatalf("event u %d after snapshot %d", first.LU, snap.LastUpdateID)
	}
	book := localBook{bids: map[string]string{}, asks: map[string]string{}}
	book.apply(book.bids, snap.Bids)
	book.apply(book.asks, snap.Asks)
	// Small moves inside the dense levels, and jumps that move the deep grid levels too.
	for _, p := range []string{"65000.09", "64999.50", "66000.00", "63000.01", "65000.00"} {
		if err := s.SetPrice("BTCUSDT", p); err != nil {
			t.Fatal(err)
		}
	}
	last := snap.LastUpdateID
	for last < snap.LastUpdateID+5 {
		ev := readDepth(t, ctx, c)
		if ev.LU <= last {
			continue
		}
		if ev.U > last+1 {
			t.Fatalf("gap: U %d after %d", ev.U, last)
		}
		book.apply(book.bids, ev.Bids)
		book.apply(book.asks, ev.Asks)
		last = ev.LU
	}
	if !book.equal(getDepth(t, s, "BTCUSDT")) {
		t.Fatal("local book differs from the simulator's snapshot")
	}

	s.SetStreamFaults(sim.StreamFaults{SkipDepth: 1, Symbol: "BTCUSDT"})
	gap := false
	for i := 0; i < 50 && !gap; i++ {
		_ = s.SetPrice("BTCUSDT", strconv.Itoa(65001+i))
		rctx, rcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		_, b, err := c.Read(rctx)
		rcancel()
		if err != nil {
			if ctx.Err() != nil {
				t.Fatal(err)
			}
			c = dialWS(t, ctx, s, "/stream?streams=btcusdt@depth@100ms")
			continue
		}
		var env struct{ Data depthEvent }
		_ = json.Unmarshal(b, &env)
		if env.Data.E != "depthUpdate" {
			continue
		}
		gap = env.Data.U > last+1
		last = env.Data.LU
	}
	if !gap || s.Stats().Streams.DepthSkipped != 1 {
		t.Fatalf("no gap after a skipped update (skipped %d)", s.Stats().Streams.DepthSkipped)
	}
	if got := s.Stats().DepthSnapshots["BTCUSDT"]; got != 2 {
		t.Fatalf("depth snapshots %d, want 2", got)
	}
}

func TestStreamConnectionLimit(t *testing.T) {
	s := wsSim(t, func(c *sim.Config) { c.Streams.ConnectionsPerWindow = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 2; i++ {
		c, _, err := websocket.Dial(ctx, wsURL(s, "/ws/ethusdt@trade"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
	}
	_, resp, err := websocket.Dial(ctx, wsURL(s, "/ws/ethusdt@trade"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: err %v resp %v, want 429", err, resp)
	}
	st := s.Stats().Streams
	if st.Opened != 2 || st.Refused != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUserDataStreamSignature(t *testing.T) {
	s := wsSim(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/ws-api/v3")
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	sig := sim.SignHMAC(testSecret, "apiKey="+testKey+"&timestamp="+ts)
	req := `{"id":"s1","method":"userDataStream.subscribe.signature","params":{"apiKey":"` + testKey +
		`","timestamp":` + ts + `,"signature":"` + sig + `"}}`
	if err := c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
		t.Fatal(err)
	}
	_, b, err := c.Read(ctx)
	if err != nil || !strings.Contains(string(b), `"status":200`) || !strings.Contains(string(b), `"subscriptionId":0`) {
		t.Fatalf("subscribe answer %s %v", b, err)
	}
	h := &harness{t: t, s: s, base: s.URL(), client: &http.Client{}, key: testKey, secret: testSecret, clk: clock.NewFake(time.Now())}
	r := h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "GTC", "quantity", "0.001", "price", "60000", "newClientOrderId", "ws-1"))
	if r.status != 200 {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	var got []string
	for len(got) < 2 {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			SubscriptionID int `json:"subscriptionId"`
			Event          struct {
				E  string `json:"e"`
				T  int64  `json:"E"`
				C  string `json:"c"`
				OC string `json:"C"`
				X  string `json:"X"`
				XT string `json:"x"`
			} `json:"event"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.Event.E+":"+ev.Event.C+ev.Event.X)
	}
	if got[0] != "executionReport:ws-1NEW" || got[1] != "outboundAccountPosition:" {
		t.Fatalf("events %v", got)
	}
}

// apiCall sends one WebSocket API request and returns its answer (events in between are
// skipped).
func apiCall(t *testing.T, ctx context.Context, c *websocket.Conn, id, method string, params map[string]any) map[string]any {
	t.Helper()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	b, _ := json.Marshal(msg)
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		var ans map[string]any
		if err := json.Unmarshal(b, &ans); err != nil {
			t.Fatal(err)
		}
		if ans["id"] == id {
			return ans
		}
	}
}

// signedParams are apiKey, timestamp and the signature over both, sorted by name.
func signedParams(key string, sign func(payload string) string) map[string]any {
	ts := time.Now().UnixMilli()
	payload := "apiKey=" + key + "&timestamp=" + strconv.FormatInt(ts, 10)
	return map[string]any{"apiKey": key, "timestamp": ts, "signature": sign(payload)}
}

func wantAPIError(t *testing.T, ans map[string]any, status, code int) {
	t.Helper()
	e, _ := ans["error"].(map[string]any)
	if ans["status"] != float64(status) || e == nil || e["code"] != float64(code) {
		t.Fatalf("answer %v, want status %d code %d", ans, status, code)
	}
}

// TestUserDataStreamSessionLogon: session.logon is for Ed25519 keys (an HMAC key is refused
// with -4056), userDataStream.subscribe needs a logged-on session, events reach the
// subscription, and session.logout ends the session's subscription but not a signed one.
func TestUserDataStreamSessionLogon(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(strings.NewReader(strings.Repeat("logon", 13)))
	if err != nil {
		t.Fatal(err)
	}
	s := wsSim(t, func(c *sim.Config) {
		c.Accounts = []sim.Account{{APIKey: testKey, HMACSecret: testSecret}, {APIKey: "ed-key", Ed25519PublicKey: pub}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/ws-api/v3")
	hmacSign := func(p string) string { return sim.SignHMAC(testSecret, p) }
	edSign := func(p string) string { return sim.SignEd25519(priv, p) }

	wantAPIError(t, apiCall(t, ctx, c, "l1", "session.logon", signedParams(testKey, hmacSign)), 400, -4056)
	if msg := apiCall(t, ctx, c, "l1b", "session.logon", signedParams(testKey, hmacSign))["error"].(map[string]any)["msg"]; msg != "HMAC_SHA256 API key is not supported." {
		t.Fatalf("message %q", msg)
	}
	wantAPIError(t, apiCall(t, ctx, c, "s0", "userDataStream.subscribe", nil), 401, -1002)
	wantAPIError(t, apiCall(t, ctx, c, "l2", "session.logon", signedParams("ed-key", hmacSign)), 400, -1022)

	ans := apiCall(t, ctx, c, "l3", "session.logon", signedParams("ed-key", edSign))
	if ans["status"] != float64(200) || ans["result"].(map[string]any)["apiKey"] != "ed-key" {
		t.Fatalf("logon: %v", ans)
	}
	ans = apiCall(t, ctx, c, "s1", "userDataStream.subscribe", nil)
	if ans["status"] != float64(200) || ans["result"].(map[string]any)["subscriptionId"] != float64(0) {
		t.Fatalf("subscribe: %v", ans)
	}
	// One subscription per account per connection, however it was started.
	wantAPIError(t, apiCall(t, ctx, c, "s2", "userDataStream.subscribe.signature", signedParams("ed-key", edSign)), 400, -2035)

	h := &harness{t: t, s: s, base: s.URL(), client: &http.Client{}, key: "ed-key", edKey: priv, clk: clock.NewFake(time.Now())}
	if r := h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "GTC", "quantity", "0.001", "price", "60000", "newClientOrderId", "logon-1")); r.status != 200 {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	_, b, err := c.Read(ctx)
	if err != nil || !strings.Contains(string(b), `"subscriptionId":0`) || !strings.Contains(string(b), `"c":"logon-1"`) {
		t.Fatalf("event %s %v", b, err)
	}

	// A signed subscription for the other account on the same session survives a logout;
	// the session's own does not.
	if ans := apiCall(t, ctx, c, "s3", "userDataStream.subscribe.signature", signedParams(testKey, hmacSign)); ans["status"] != float64(200) {
		t.Fatalf("signed subscribe: %v", ans)
	}
	apiCall(t, ctx, c, "o1", "session.logout", nil)
	st := apiCall(t, ctx, c, "st1", "session.status", nil)["result"].(map[string]any)
	if st["apiKey"] != nil || st["userDataStream"] != true {
		t.Fatalf("status after logout: %v", st)
	}
	apiCall(t, ctx, c, "u1", "userDataStream.unsubscribe", nil)
	if st := apiCall(t, ctx, c, "st2", "session.status", nil)["result"].(map[string]any); st["userDataStream"] != false {
		t.Fatalf("status after unsubscribe: %v", st)
	}
	ss := s.Stats().Streams
	if ss.Logons != 1 || ss.UserSubscriptions != 1 || ss.UserSubscriptionsSignature != 1 {
		t.Fatalf("stream stats %+v", ss)
	}
}

// TestStreamMessageRateLimit: a client may send MessagesPerSecond messages a second on one
// stream connection; the next one gets the connection closed, as Binance does.
func TestStreamMessageRateLimit(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC))
	s := wsSim(t, func(c *sim.Config) { c.Clock = clk; c.Streams.MessagesPerSecond = 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/ws/btcusdt@trade")
	send := func(id int) {
		t.Helper()
		if err := c.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(`{"method":"LIST_SUBSCRIPTIONS","id":%d}`, id))); err != nil {
			t.Fatal(err)
		}
	}
	for id := 1; id <= 3; id++ {
		send(id)
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatalf("message %d within the limit: %v", id, err)
		}
	}
	clk.Advance(time.Second) // a new second: three more are fine
	for id := 4; id <= 6; id++ {
		send(id)
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatalf("message %d in the next second: %v", id, err)
		}
	}
	send(7)
	if _, _, err := c.Read(ctx); err == nil {
		t.Fatal("the fourth message in one second did not close the connection")
	}
	if st := s.Stats().Streams; st.ClosedRate != 1 {
		t.Fatalf("closed for rate %d times, want 1", st.ClosedRate)
	}
}

// TestStreamAdminEndpoints: the /sim/streams admin API sets, shows and clears stream faults,
// and drops every connection on demand.
func TestStreamAdminEndpoints(t *testing.T) {
	h := newHarness(t, nil)
	s := h.s
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/ws/btcusdt@trade")
	if r := h.do(http.MethodPut, "/sim/streams/faults", "", `{"depth_delay_ms":50,"skip_depth":2,"symbol":"BTCUSDT"}`, nil); r.status != 200 {
		t.Fatalf("PUT faults: %d %s", r.status, r.body)
	}
	if f := s.StreamFaults(); f.DepthDelayMS != 50 || f.SkipDepth != 2 || f.Symbol != "BTCUSDT" {
		t.Fatalf("faults now %+v", f)
	}
	if r := h.do(http.MethodGet, "/sim/streams/faults", "", "", nil); r.status != 200 || !strings.Contains(string(r.body), `"skip_depth":2`) {
		t.Fatalf("GET faults: %d %s", r.status, r.body)
	}
	if r := h.do(http.MethodDelete, "/sim/streams/faults", "", "", nil); r.status != 200 || s.StreamFaults() != (sim.StreamFaults{}) {
		t.Fatalf("DELETE faults: %d, now %+v", r.status, s.StreamFaults())
	}
	if r := h.do(http.MethodPost, "/sim/streams/drop", "", "", nil); r.status != 200 {
		t.Fatalf("drop: %d %s", r.status, r.body)
	}
	if _, _, err := c.Read(ctx); err == nil {
		t.Fatal("the connection survived a drop")
	}
	if st := s.Stats().Streams; st.Dropped != 1 {
		t.Fatalf("dropped %d, want 1", st.Dropped)
	}
}
