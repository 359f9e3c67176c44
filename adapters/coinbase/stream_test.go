package coinbase_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/adaptertest"
	"github.com/keelbot/keel/adapters/coinbase"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/adapters/stream"
	"github.com/keelbot/keel/internal/syncbuf"
)

var streamSymbols = []string{"BTCUSDT", "ETHUSDT", "DOGEUSDT"}

// streamSim is a coinbase simulator whose prices move only when the test moves them, pushing
// its feeds every 20 ms.
func streamSim(t *testing.T, cc sim.CoinbaseConfig) *sim.Server {
	return startSim(t, sim.Config{WalkInterval: 1000 * time.Hour, Streams: sim.StreamConfig{Interval: 20 * time.Millisecond},
		DialectConfig: cc})
}

type status struct {
	symbol string
	fresh  bool
}

// move steps every symbol's price up and down a few ticks every 5 ms until stop closes.
func move(s *sim.Server, stop <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		base := map[string]decimal.Decimal{"BTCUSDT": decimal.RequireFromString("65000"), "ETHUSDT": decimal.RequireFromString("3200"),
			"DOGEUSDT": decimal.RequireFromString("0.15")}
		step := map[string]decimal.Decimal{"BTCUSDT": decimal.RequireFromString("0.01"), "ETHUSDT": decimal.RequireFromString("0.01"),
			"DOGEUSDT": decimal.RequireFromString("0.00001")}
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			for sym, p := range base {
				_ = s.SetPrice(sym, p.Add(step[sym].Mul(decimal.NewFromInt(i%7))).String())
			}
		}
	}()
}

// waitFresh waits until every symbol's book is synced, reading statuses meanwhile.
func waitFresh(t *testing.T, ctx context.Context, ms *coinbase.MarketStream, statuses <-chan status, what string) {
	t.Helper()
	for {
		all := true
		for _, s := range streamSymbols {
			all = all && ms.Book(s).Synced()
		}
		if all {
			return
		}
		select {
		case <-statuses:
		case <-time.After(20 * time.Millisecond): // a bounded look at the books themselves
		case <-ctx.Done():
			t.Fatalf("%s: not every book synced", what)
		}
	}
}

// sameAsREST compares each symbol's local book with the simulator's product_book, once the
// price stands still.
func sameAsREST(t *testing.T, ctx context.Context, f *fixture, ms *coinbase.MarketStream) {
	t.Helper()
	for _, sym := range streamSymbols {
		var got, want adapters.Book
		for try := 0; ; try++ {
			var err error
			if want, err = f.client.Depth(ctx, sym, 50); err != nil {
				t.Fatal(err)
			}
			got = ms.Book(sym).Levels(0)
			if adaptertest.SameLevels(got.Bids, want.Bids) && adaptertest.SameLevels(got.Asks, want.Asks) {
				break
			}
			if try == 100 || ctx.Err() != nil {
				t.Fatalf("%s: local book %d/%d levels (top %v/%v) differs from the simulator's %d/%d (top %v/%v)", sym,
					len(got.Bids), len(got.Asks), top(got.Bids), top(got.Asks), len(want.Bids), len(want.Asks), top(want.Bids), top(want.Asks))
			}
			time.Sleep(20 * time.Millisecond) // the next push is at most 20 ms away
		}
	}
}

func top(ls []adapters.Level) string {
	if len(ls) == 0 {
		return "-"
	}
	return ls[0].Price.String() + "×" + ls[0].Quantity.String()
}

// TestMarketStreamFollowsTheBook: level2 builds each symbol's book equal to the simulator's
// product_book, level for level, while prices move; market_trades, ticker and candles arrive.
func TestMarketStreamFollowsTheBook(t *testing.T) {
	s := streamSim(t, sim.CoinbaseConfig{})
	f := newClientOn(t, s, fixtureOpts{})
	ctx := testCtx(t)
	statuses := make(chan status, 10000)
	var mu sync.Mutex
	trades, tickers, candles := 0, 0, 0
	ms, err := f.client.OpenMarketStream(streamSymbols, adapters.MarketHandler{
		OnStatus: func(sym string, fresh bool, _ string) { statuses <- status{sym, fresh} },
		OnTrade: func(tr adapters.Trade) {
			mu.Lock()
			defer mu.Unlock()
			if tr.Price.IsPositive() && tr.Quantity.IsPositive() {
				trades++
			}
		},
	}, coinbase.StreamOptions{Seed: 1,
		OnTicker: func(te coinbase.TickerEvent) {
			mu.Lock()
			defer mu.Unlock()
			if te.BestBid.LessThan(te.BestAsk) && te.BestBid.IsPositive() {
				tickers++
			}
		},
		OnCandle: func(ce coinbase.CandleEvent) {
			mu.Lock()
			defer mu.Unlock()
			if ce.High.GreaterThanOrEqual(ce.Low) && ce.Close.IsPositive() {
				candles++
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer runBackground(ctx, ms.Run)()
	waitFresh(t, ctx, ms, statuses, "start")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	move(s, stop, &wg)
	time.Sleep(300 * time.Millisecond) // prices move for a while (the test's own load, not a wait for a condition)
	close(stop)
	wg.Wait()
	sameAsREST(t, ctx, f, ms)
	mu.Lock()
	defer mu.Unlock()
	if tickers == 0 {
		t.Errorf("no ticker")
	}
	if candles == 0 {
		t.Errorf("no candle")
	}
	if ms.Conn().Stats().Connects != 1 {
		t.Errorf("%d connections for a calm stream", ms.Conn().Stats().Connects)
	}
}

// TestMarketTradesArrive: the price walk's trades reach OnTrade, with their price and size.
func TestMarketTradesArrive(t *testing.T) {
	s := startSim(t, sim.Config{WalkInterval: 20 * time.Millisecond, Streams: sim.StreamConfig{Interval: 20 * time.Millisecond}})
	f := newClientOn(t, s, fixtureOpts{})
	ctx := testCtx(t)
	trades := make(chan adapters.Trade, 1000)
	ms, err := f.client.OpenMarketStream([]string{"BTCUSDT"}, adapters.MarketHandler{
		OnTrade: func(tr adapters.Trade) {
			select {
			case trades <- tr:
			default:
			}
		}}, coinbase.StreamOptions{Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer runBackground(ctx, ms.Run)()
	for n := 0; n < 3; n++ {
		select {
		case tr := <-trades:
			if tr.Symbol != "BTCUSDT" || !tr.Price.IsPositive() || !tr.Quantity.IsPositive() || tr.ID <= 0 || tr.Time.IsZero() {
				t.Fatalf("trade %+v", tr)
			}
		case <-ctx.Done():
			t.Fatal("no trade")
		}
	}
}

// TestStreamsSurviveDropStorm: a market stream of three symbols and the user stream, every
// connection dropped every 100 ms (the two streams would reconnect 20 times a second) until
// each stream has reconnected eight times. Every resync is one reconnect and one level2
// snapshot per symbol over it (no REST call); the client's pacing (6 attempts a second) keeps
// the simulator's connection limit (8 per second per IP) from refusing any; and the books end
// equal to the simulator's.
func TestStreamsSurviveDropStorm(t *testing.T) {
	s := streamSim(t, sim.CoinbaseConfig{})
	f := newClientOn(t, s, fixtureOpts{})
	ctx := testCtx(t)
	statuses := make(chan status, 10000)
	lim := stream.NewLimiter(stream.LimiterConfig{}, nil)
	ms, err := f.client.OpenMarketStream(streamSymbols, adapters.MarketHandler{
		OnStatus: func(sym string, fresh bool, _ string) {
			select {
			case statuses <- status{sym, fresh}:
			default:
			}
		},
	}, coinbase.StreamOptions{Limiter: lim, Seed: 1, Conn: stream.Config{BackoffBase: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	resynced := make(chan struct{}, 100)
	us, err := f.client.OpenUserStream(adapters.UserHandler{OnResync: func() { resynced <- struct{}{} }},
		coinbase.StreamOptions{Limiter: lim, Seed: 2, Conn: stream.Config{BackoffBase: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer runBackground(ctx, ms.Run)()
	defer runBackground(ctx, us.Run)()
	waitFresh(t, ctx, ms, statuses, "start")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	move(s, stop, &wg)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	restBefore := s.Stats().Total.Requests
	s.SetStreamFaults(sim.StreamFaults{DropEveryMS: 100})
	for ms.Conn().Stats().Connects < 9 || us.Conn().Stats().Connects < 9 {
		select {
		case <-statuses:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("the streams did not see eight drops: %+v %+v", ms.Conn().Stats(), us.Conn().Stats())
		}
	}
	s.SetStreamFaults(sim.StreamFaults{})
	waitFresh(t, ctx, ms, statuses, "after the storm")
	restDuring := s.Stats().Total.Requests - restBefore
	close(stop)
	wg.Wait()

	mc, uc := ms.Conn().Stats(), us.Conn().Stats()
	if got, most := ms.Snapshots(), mc.Connects*int64(len(streamSymbols)); got > most || got < int64(len(streamSymbols)) {
		t.Errorf("%d level2 snapshots for %d connections of %d symbols", got, mc.Connects, len(streamSymbols))
	}
	if restDuring != 0 {
		t.Errorf("%d REST requests while resyncing: a resync should cost none", restDuring)
	}
	st := s.Stats()
	if st.Streams.Refused != 0 {
		t.Errorf("the simulator refused %d connection attempts", st.Streams.Refused)
	}
	// Every connection after the first resyncs once its snapshot arrives; one dropped before
	// that never does (the next one does), so under load fewer is right; none, or more, is not.
	if got := int64(len(resynced)); got < 1 || got > uc.Connects-1 {
		t.Errorf("OnResync %d times for %d user stream connections", got, uc.Connects)
	}
	t.Logf("market: %+v, user: %+v, snapshots %d, limiter total %d", mc, uc, ms.Snapshots(), lim.Total())
	sameAsREST(t, ctx, f, ms)
}

// TestSequenceGapResyncsOnce: one skipped message (a gap in sequence_num) costs one reconnect
// and one snapshot per symbol, each logged as a stream_resync with its reason (connect at
// first, gap after) and no REST weight.
func TestSequenceGapResyncsOnce(t *testing.T) {
	s := streamSim(t, sim.CoinbaseConfig{})
	f := newClientOn(t, s, fixtureOpts{})
	ctx := testCtx(t)
	statuses := make(chan status, 10000)
	var logs syncbuf.Buffer
	ms, err := f.client.OpenMarketStream(streamSymbols, adapters.MarketHandler{
		OnStatus: func(sym string, fresh bool, _ string) { statuses <- status{sym, fresh} },
	}, coinbase.StreamOptions{Seed: 3, Log: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer runBackground(ctx, ms.Run)()
	waitFresh(t, ctx, ms, statuses, "start")
	before := ms.Snapshots()
	s.SetStreamFaults(sim.StreamFaults{SkipDepth: 1, Symbol: "ETHUSDT"})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	move(s, stop, &wg)
	for ms.Conn().Stats().Connects < 2 {
		select {
		case <-statuses:
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("the gap was not noticed")
		}
	}
	close(stop)
	wg.Wait()
	waitFresh(t, ctx, ms, statuses, "after the gap")
	if got := ms.Snapshots() - before; got != int64(len(streamSymbols)) || ms.Conn().Stats().Connects != 2 {
		t.Fatalf("the gap cost %d snapshots and %d connections, want %d and 2", got, ms.Conn().Stats().Connects, len(streamSymbols))
	}
	reasons := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var ev struct {
			Event, Reason, Symbol string
			Weight                *int64
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == coinbase.EventResync {
			if ev.Weight == nil || *ev.Weight != 0 || ev.Symbol == "" {
				t.Errorf("resync event %s", line)
			}
			reasons[ev.Reason]++
		}
	}
	if reasons[coinbase.ResyncConnect] != len(streamSymbols) || reasons[coinbase.ResyncGap] != len(streamSymbols) {
		t.Errorf("stream_resync reasons %v, want %d connect and %d gap", reasons, len(streamSymbols), len(streamSymbols))
	}
	sameAsREST(t, ctx, f, ms)
}

// TestUserStreamOrders: the user channel reports the open orders as its snapshot, a placed
// order, and its cancel, by client order id; a revoked key stops the stream with
// adapters.ErrStreamAuth.
func TestUserStreamOrders(t *testing.T) {
	s := streamSim(t, sim.CoinbaseConfig{})
	f := newClientOn(t, s, fixtureOpts{})
	ctx := testCtx(t)
	place := func(id string) adapters.Order {
		t.Helper()
		o, err := f.client.PlaceOrder(ctx, adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
			TimeInForce: adapters.GTC, Quantity: decimal.RequireFromString("0.01"), Price: decimal.RequireFromString("1000"), ClientOrderID: id})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	before := place("ws-0") // open before the stream starts: its snapshot holds it
	orders := make(chan adapters.Order, 100)
	us, err := f.client.OpenUserStream(adapters.UserHandler{OnOrder: func(o adapters.Order) { orders <- o }}, coinbase.StreamOptions{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	rctx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go func() { runErr <- us.Run(rctx) }()
	wait := func(id string, st adapters.OrderStatus) adapters.Order {
		t.Helper()
		for {
			select {
			case o := <-orders:
				if o.ClientOrderID == id && o.Status == st {
					return o
				}
			case <-ctx.Done():
				t.Fatalf("no %s update for %s", st, id)
			}
		}
	}
	// The snapshot came after the subscription: from here on every change is reported.
	if got := wait("ws-0", adapters.StatusNew); got.ExchangeOrderID != before.ExchangeOrderID {
		t.Fatalf("snapshot %+v, REST %+v", got, before)
	}
	placed := place("ws-1")
	got := wait("ws-1", adapters.StatusNew)
	if got.ExchangeOrderID != placed.ExchangeOrderID || !got.Price.Equal(placed.Price) || !got.Quantity.Equal(placed.Quantity) || got.Side != adapters.Buy {
		t.Fatalf("stream %+v, REST %+v", got, placed)
	}
	if _, err := f.client.CancelOrder(ctx, "BTCUSDT", "ws-1"); err != nil {
		t.Fatal(err)
	}
	wait("ws-1", adapters.StatusCanceled)

	if err := s.RevokeKey(testKey); err != nil {
		t.Fatal(err)
	}
	s.DropStreams()
	select {
	case err := <-runErr:
		if !errors.Is(err, adapters.ErrStreamAuth) {
			t.Fatalf("Run after the key was revoked: %v, want ErrStreamAuth", err)
		}
	case <-ctx.Done():
		t.Fatal("the user stream did not stop on the refused key")
	}
}

// TestSubscribeMessages reads what the adapter sends a WebSocket server: within 5 s of
// connecting, one subscribe per channel — heartbeats first — each with a JWT of its own
// (distinct nonces) that names the key, iss "cdp", no uri, exp jwt_lifetime past Coinbase's
// clock (the simulator's, set 3 s off the host's) and nbf MaxNbfSlack before it.
func TestSubscribeMessages(t *testing.T) {
	s := streamSim(t, sim.CoinbaseConfig{})
	s.SetClockOffset(3 * time.Second) // within jwt_lifetime: a larger offset is refused (TimeKeeper)
	msgs := make(chan []byte, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			_, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			msgs <- b
		}
	}))
	defer srv.Close()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http")
	f := newClientOn(t, s, fixtureOpts{cfg: func(c *coinbase.Config) { c.WSURL, c.WSUserURL = wsURL, wsURL }})
	ctx := testCtx(t)
	ms, err := f.client.OpenMarketStream([]string{"BTCUSDT"}, adapters.MarketHandler{}, coinbase.StreamOptions{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	defer runBackground(ctx, ms.Run)()
	var channels []string
	nonces := map[string]bool{}
	for len(channels) < 3 {
		var b []byte
		select {
		case b = <-msgs:
		case <-ctx.Done():
			t.Fatalf("subscriptions so far: %v", channels)
		}
		var m struct {
			Type       string   `json:"type"`
			Channel    string   `json:"channel"`
			ProductIDs []string `json:"product_ids"`
			JWT        string   `json:"jwt"`
		}
		if err := json.Unmarshal(b, &m); err != nil || m.Type != "subscribe" {
			t.Fatalf("message %s: %v", b, err)
		}
		channels = append(channels, m.Channel)
		parts := strings.Split(m.JWT, ".")
		if len(parts) != 3 {
			t.Fatalf("%s: jwt %q", m.Channel, m.JWT)
		}
		var hdr struct{ Alg, Kid, Nonce string }
		var cl map[string]any
		hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
		cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
		if json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &cl) != nil {
			t.Fatalf("%s: undecodable JWT", m.Channel)
		}
		if hdr.Alg != "ES256" || hdr.Kid != testKey || nonces[hdr.Nonce] || hdr.Nonce == "" {
			t.Fatalf("%s: header %+v (nonces so far %v)", m.Channel, hdr, nonces)
		}
		nonces[hdr.Nonce] = true
		if _, ok := cl["uri"]; ok || cl["sub"] != testKey || cl["iss"] != "cdp" {
			t.Fatalf("%s: claims %v", m.Channel, cl)
		}
		nbf, exp := int64(cl["nbf"].(float64)), int64(cl["exp"].(float64))
		life := exp - nbf - int64(coinbase.MaxNbfSlack/time.Second) // 5, or 6 when exp was rounded up
		if off := exp - time.Now().Unix(); off < 7 || off > 10 || life < 5 || life > 6 {
			t.Fatalf("%s: exp %d s from the host's clock (want ~3+5: Coinbase's clock plus jwt_lifetime), exp-nbf %d", m.Channel, off, exp-nbf)
		}
		if m.Channel == "heartbeats" && len(m.ProductIDs) != 0 || m.Channel != "heartbeats" && (len(m.ProductIDs) != 1 || m.ProductIDs[0] != "BTC-USDT") {
			t.Fatalf("%s: product_ids %v", m.Channel, m.ProductIDs)
		}
	}
	if took := time.Since(start); took > coinbase.SubscribeWithin {
		t.Fatalf("subscribed after %s", took)
	}
	if channels[0] != "heartbeats" || channels[1] != "level2" || channels[2] != "market_trades" {
		t.Fatalf("channels %v", channels)
	}
}

func runBackground(ctx context.Context, run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = run(ctx) }()
	return func() { cancel(); <-done }
}
