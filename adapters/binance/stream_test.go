package binance_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/adaptertest"
	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/adapters/stream"
)

// fiveSymbols are the default three and two more, so five streams run at once.
func fiveSymbols() []sim.Symbol {
	syms := sim.DefaultSymbols()
	extra := syms[1]
	extra.Name, extra.Base, extra.Price = "BNBUSDT", "BNB", "600.00"
	syms = append(syms, extra)
	extra.Name, extra.Base, extra.Price = "SOLUSDT", "SOL", "150.00"
	return append(syms, extra)
}

// streamSim is a simulator whose prices move only when the test moves them. Its books hold
// 100 levels a side, so the streams' snapshots (DepthLimit 100) cover them whole and a local
// book can equal the simulator's level for level (TestDeepBookStaysEqual covers 5000).
func streamSim(t *testing.T) *sim.Server { return streamSimWith(t, sim.StreamConfig{}) }

// streamSimWith is streamSim with more of the stream config set.
func streamSimWith(t *testing.T, sc sim.StreamConfig) *sim.Server {
	sc.Interval, sc.BookLevels = 20*time.Millisecond, 100
	return startSim(t, sim.Config{Symbols: fiveSymbols(), WalkInterval: 1000 * time.Hour, Streams: sc})
}

func withStreams(s *sim.Server) func(*binance.Config) {
	return func(c *binance.Config) {
		c.StreamURL = "ws://" + s.Addr().String()
		c.WSAPIURL = "ws://" + s.Addr().String() + "/ws-api/v3"
	}
}

// mover moves every price one tick up or down every few milliseconds until stop is closed.
func mover(s *sim.Server, symbols []string, stop <-chan struct{}, done *sync.WaitGroup) {
	done.Add(1)
	go func() {
		defer done.Done()
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		base := map[string]float64{"BTCUSDT": 65000, "ETHUSDT": 3200, "DOGEUSDT": 0.15, "BNBUSDT": 600, "SOLUSDT": 150}
		step := map[string]float64{"DOGEUSDT": 0.00001}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			for _, sym := range symbols {
				d := step[sym]
				if d == 0 {
					d = 0.01
				}
				p := base[sym] + float64(i%7)*d
				_ = s.SetPrice(sym, json.Number(formatFloat(p)).String())
			}
		}
	}()
}

func formatFloat(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

type status struct {
	symbol string
	fresh  bool
}

// TestStreamsSurviveDropStorm: five streams, every connection dropped ten times within five
// seconds. Every stream comes back; resync costs at most one depth snapshot per symbol per
// connection; the simulator's connection limit is never hit; no 429; and the books end equal
// to the simulator's.
func TestStreamsSurviveDropStorm(t *testing.T) {
	// The simulator admits barely more connection attempts than a client that reconnects once
	// per drop needs (5 streams × ~11-13 connections): a client that retried in a storm would
	// be refused, so "refused 0" below means something.
	const attemptBudget = 70
	s := streamSimWith(t, sim.StreamConfig{ConnectionsPerWindow: attemptBudget})
	f := newClientOn(t, s, fixtureOpts{cfg: withStreams(s)})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	symbols := []string{"BTCUSDT", "ETHUSDT", "DOGEUSDT", "BNBUSDT", "SOLUSDT"}
	var wg sync.WaitGroup
	stopMover := make(chan struct{})
	mover(s, symbols, stopMover, &wg)

	lim := stream.NewLimiter(stream.LimiterConfig{}, nil)
	statuses := make(chan status, 10000)
	books := make(chan adapters.DepthUpdate, 100000)
	runCtx, stopStreams := context.WithCancel(ctx)
	streams := map[string]*binance.MarketStream{}
	for i, sym := range symbols {
		ms, err := f.client.OpenMarketStream([]string{sym}, binance.MarketHandler{
			OnStatus: func(symbol string, fresh bool, _ string) { statuses <- status{symbol, fresh} },
			OnBook: func(_ string, _ *adapters.OrderBook, u adapters.DepthUpdate) {
				select {
				case books <- u:
				default:
				}
			},
		}, binance.StreamOptions{Limiter: lim, Seed: uint64(i + 1), Conn: stream.Config{BackoffBase: 50 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		streams[sym] = ms
		wg.Add(1)
		go func() { defer wg.Done(); _ = ms.Run(runCtx) }()
	}
	defer func() { stopStreams(); close(stopMover); wg.Wait() }()

	waitFresh := func(what string) {
		t.Helper()
		fresh := map[string]bool{}
		for _, sym := range symbols {
			fresh[sym] = streams[sym].Book(sym).Synced()
		}
		for {
			all := true
			for _, v := range fresh {
				all = all && v
			}
			if all {
				return
			}
			select {
			case st := <-statuses:
				fresh[st.symbol] = st.fresh
			case <-ctx.Done():
				t.Fatalf("%s: not every stream fresh: %v", what, fresh)
			}
		}
	}
	waitFresh("start")

	began := time.Now()
	s.SetStreamFaults(sim.StreamFaults{DropEveryMS: 500})
	for done := false; !done; {
		done = true
		for _, sym := range symbols {
			done = done && streams[sym].Conn().Stats().Connects >= 11
		}
		if done {
			break
		}
		select {
		case <-statuses:
		case <-ctx.Done():
			t.Fatal("streams did not see ten drops")
		}
	}
	s.SetStreamFaults(sim.StreamFaults{})
	if d := time.Since(began); d > 7*time.Second {
		t.Errorf("ten drops took %s", d)
	}
	waitFresh("after the storm")

	st := s.Stats()
	for _, sym := range symbols {
		c := streams[sym].Conn().Stats()
		// One snapshot per connection, plus the documented re-ask when a snapshot arrives
		// older than the diffs buffered meanwhile (rare; more under load).
		snaps, stale := st.DepthSnapshots[sym], streams[sym].Book(sym).StaleSnapshots()
		if snaps-stale > c.Connects || stale > c.Connects/2 || snaps != streams[sym].Snapshots(sym) {
			t.Errorf("%s: %d depth snapshots (%d by the stream, %d of them re-asked as stale) for %d connections",
				sym, snaps, streams[sym].Snapshots(sym), stale, c.Connects)
		}
		t.Logf("%s: connects %d attempts %d snapshots %d", sym, c.Connects, c.Attempts, snaps)
	}
	if st.Streams.Refused != 0 || st.Total.Status429 != 0 || st.Total.Status418 != 0 {
		t.Errorf("refused %d, 429s %d, 418s %d", st.Streams.Refused, st.Total.Status429, st.Total.Status418)
	}
	if n := lim.Total(); n > attemptBudget {
		t.Errorf("%d connection attempts, the simulator admits %d", n, attemptBudget)
	}

	// The books end equal to the simulator's.
	close(stopMover)
	stopMover = make(chan struct{})
	for _, sym := range symbols {
		_ = s.SetPrice(sym, map[string]string{"BTCUSDT": "65010.00", "ETHUSDT": "3210.00", "DOGEUSDT": "0.15010",
			"BNBUSDT": "610.00", "SOLUSDT": "160.00"}[sym])
	}
	// The book may catch up without a diff reaching books (a resync's snapshot calls no
	// OnBook), so the wait also looks again on a tick: a bounded poll of the book itself.
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	// The simulator's own price walk goes on, so the book is compared with a snapshot of the
	// same update id: a book that moved past the snapshot meanwhile is compared with a fresh one.
	for _, sym := range symbols {
		for {
			want := restDepth(t, s, sym)
			for streams[sym].Book(sym).LastUpdateID() < want.LastUpdateID {
				select {
				case <-books:
				case <-poll.C:
				case <-ctx.Done():
					t.Fatalf("%s: book stuck at %d, want %d", sym, streams[sym].Book(sym).LastUpdateID(), want.LastUpdateID)
				}
			}
			got := streams[sym].Book(sym).Levels(0)
			if got.LastUpdateID != want.LastUpdateID {
				continue // moved on since the snapshot: compare with a newer one
			}
			if !adaptertest.SameLevels(got.Bids, want.Bids) || !adaptertest.SameLevels(got.Asks, want.Asks) {
				t.Errorf("%s: local book differs from the simulator's at update %d (%d/%d levels vs %d/%d)", sym,
					want.LastUpdateID, len(got.Bids), len(got.Asks), len(want.Bids), len(want.Asks))
			}
			break
		}
	}
}

// TestGapResyncsOnce: one skipped diff update costs exactly one snapshot and no reconnect.
func TestGapResyncsOnce(t *testing.T) {
	s := streamSim(t)
	f := newClientOn(t, s, fixtureOpts{cfg: withStreams(s)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	statuses := make(chan status, 1000)
	ms, err := f.client.OpenMarketStream([]string{"ETHUSDT"}, binance.MarketHandler{
		OnStatus: func(symbol string, fresh bool, _ string) { statuses <- status{symbol, fresh} },
	}, binance.StreamOptions{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	defer runBackground(ctx, ms.Run)()
	next := func(want bool) {
		t.Helper()
		for {
			select {
			case st := <-statuses:
				if st.fresh == want {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no status fresh=%v", want)
			}
		}
	}
	next(true)
	before := s.Stats().DepthSnapshots["ETHUSDT"]
	s.SetStreamFaults(sim.StreamFaults{SkipDepth: 1, Symbol: "ETHUSDT"})
	_ = s.SetPrice("ETHUSDT", "3201.00")
	// Move until the stream sees the gap (the first update is skipped, the next shows it).
	stopMove := make(chan struct{})
	var mw sync.WaitGroup
	mover(s, []string{"ETHUSDT"}, stopMove, &mw)
	next(false)
	next(true)
	close(stopMove)
	mw.Wait()
	after := s.Stats().DepthSnapshots["ETHUSDT"]
	if after-before != 1 || ms.Conn().Stats().Connects != 1 {
		t.Fatalf("gap cost %d snapshots and %d connections, want 1 and 1", after-before, ms.Conn().Stats().Connects)
	}
}

// TestUserStreamOrders: executionReport events reach OnOrder and a reconnect calls OnResync,
// through both ways of subscribing: a signed subscription (HMAC, or Ed25519 on request) and
// session.logon + userDataStream.subscribe (Ed25519, the default for it). Every connection
// authenticates again the way it was asked to.
func TestUserStreamOrders(t *testing.T) {
	for _, tc := range []struct {
		name string
		ed   bool
		auth binance.UserAuth
		want binance.UserAuth
	}{
		{"HMAC signature", false, binance.UserAuthAuto, binance.UserAuthSignature},
		{"Ed25519 session.logon", true, binance.UserAuthAuto, binance.UserAuthSessionLogon},
		{"Ed25519 signature", true, binance.UserAuthSignature, binance.UserAuthSignature},
		{"Ed25519 session.logon explicit", true, binance.UserAuthSessionLogon, binance.UserAuthSessionLogon},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := streamSim(t)
			f := newClientOn(t, s, fixtureOpts{cfg: withStreams(s), ed25519: tc.ed})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			orders := make(chan adapters.Order, 100)
			ups := make(chan bool, 100)
			resyncs := make(chan struct{}, 10)
			us, err := f.client.OpenUserStream(binance.UserHandler{
				OnOrder:  func(o adapters.Order) { orders <- o },
				OnStatus: func(up bool, _ error) { ups <- up },
				OnResync: func() { resyncs <- struct{}{} },
			}, binance.StreamOptions{Seed: 3, UserAuth: tc.auth})
			if err != nil {
				t.Fatal(err)
			}
			if us.Auth() != tc.want {
				t.Fatalf("auth %s, want %s", us.Auth(), tc.want)
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); _ = us.Run(ctx) }()
			defer func() { cancel(); wg.Wait() }()
			waitUp := func() {
				t.Helper()
				for {
					select {
					case up := <-ups:
						if up {
							return
						}
					case <-ctx.Done():
						t.Fatal("user stream never up")
					}
				}
			}
			waitUp()
			req := adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit, TimeInForce: adapters.GTC,
				Quantity: dec("0.001"), Price: dec("60000"), ClientOrderID: "uds-1"}
			if _, err := f.client.PlaceOrder(ctx, req); err != nil {
				t.Fatal(err)
			}
			if _, err := f.client.CancelOrder(ctx, "BTCUSDT", "uds-1"); err != nil {
				t.Fatal(err)
			}
			var got []adapters.OrderStatus
			for len(got) < 2 {
				select {
				case o := <-orders:
					if o.ClientOrderID != "uds-1" {
						t.Fatalf("order %+v", o)
					}
					got = append(got, o.Status)
				case <-ctx.Done():
					t.Fatalf("events %v", got)
				}
			}
			if got[0] != adapters.StatusNew || got[1] != adapters.StatusCanceled {
				t.Fatalf("statuses %v", got)
			}
			s.DropStreams()
			select {
			case <-resyncs:
			case <-ctx.Done():
				t.Fatal("no resync after a reconnect")
			}
			// The reconnected subscription carries events again.
			req.ClientOrderID = "uds-2"
			if _, err := f.client.PlaceOrder(ctx, req); err != nil {
				t.Fatal(err)
			}
			for seen := false; !seen; {
				select {
				case o := <-orders:
					seen = o.ClientOrderID == "uds-2"
				case <-ctx.Done():
					t.Fatal("no event on the reconnected subscription")
				}
			}
			st := s.Stats().Streams
			connects := us.Conn().Stats().Connects
			logons, signed := int64(0), connects
			if tc.want == binance.UserAuthSessionLogon {
				logons, signed = connects, 0
			}
			if connects != 2 || st.Logons != logons || st.UserSubscriptions != logons || st.UserSubscriptionsSignature != signed {
				t.Fatalf("%d connects; sim: %d logons, %d session subscriptions, %d signed", connects, st.Logons,
					st.UserSubscriptions, st.UserSubscriptionsSignature)
			}
		})
	}
}

// TestUserStreamLogonRefusedForHMAC: Binance supports session.logon for Ed25519 keys only, so
// asking for it with an HMAC key fails before anything is sent.
func TestUserStreamLogonRefusedForHMAC(t *testing.T) {
	s := streamSim(t)
	f := newClientOn(t, s, fixtureOpts{cfg: withStreams(s)})
	_, err := f.client.OpenUserStream(binance.UserHandler{}, binance.StreamOptions{UserAuth: binance.UserAuthSessionLogon})
	if !errors.Is(err, binance.ErrLogonNeedsEd25519) {
		t.Fatalf("err %v, want ErrLogonNeedsEd25519", err)
	}
	if st := s.Stats().Streams; st.APIOpened != 0 || st.Logons != 0 {
		t.Fatalf("something was sent: %+v", st)
	}
}

// TestUserStreamLogonRejectedStops: a logon the exchange refuses (here a key it pairs with
// another Ed25519 public key: -1022) stops the stream instead of retrying an auth failure.
func TestUserStreamLogonRejectedStops(t *testing.T) {
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	s := startSim(t, sim.Config{Accounts: []sim.Account{{APIKey: edKey, Ed25519PublicKey: other}},
		WalkInterval: 1000 * time.Hour})
	f := newClientOn(t, s, fixtureOpts{cfg: withStreams(s), ed25519: true})
	us, err := f.client.OpenUserStream(binance.UserHandler{}, binance.StreamOptions{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	err = us.Run(ctx)
	if !errors.Is(err, binance.ErrStreamAuth) || !errors.Is(err, stream.ErrStop) {
		t.Fatalf("Run: %v, want a stop on ErrStreamAuth", err)
	}
	if st := us.Conn().Stats(); st.Attempts != 1 || st.Connects != 0 {
		t.Fatalf("stats %+v: an auth failure was retried", st)
	}
}

// TestDeepBookStaysEqual: a stream that syncs from a 5000-level snapshot (weight 250) keeps
// the whole book, deep grid levels included, equal to the simulator's through price jumps
// of thousands of ticks: the diff updates carry every level that entered or left the book.
func TestDeepBookStaysEqual(t *testing.T) {
	s := startSim(t, sim.Config{WalkInterval: 1000 * time.Hour, Streams: sim.StreamConfig{Interval: 10 * time.Millisecond}})
	f := newClientOn(t, s, fixtureOpts{cfg: withStreams(s)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	symbols := []string{"BTCUSDT", "DOGEUSDT"}
	fresh := make(chan string, 100)
	moved := make(chan struct{}, 1)
	ms, err := f.client.OpenMarketStream(symbols, binance.MarketHandler{
		OnStatus: func(symbol string, ok bool, _ string) {
			if ok {
				fresh <- symbol
			}
		},
		OnBook: func(string, *adapters.OrderBook, adapters.DepthUpdate) {
			select {
			case moved <- struct{}{}:
			default:
			}
		},
	}, binance.StreamOptions{Seed: 11, DepthLimit: 5000})
	if err != nil {
		t.Fatal(err)
	}
	defer runBackground(ctx, ms.Run)()
	for n := 0; n < len(symbols); n++ {
		select {
		case <-fresh:
		case <-ctx.Done():
			t.Fatal("streams never fresh")
		}
	}
	moves := map[string][]string{
		"BTCUSDT":  {"66000.00", "63499.63", "63499.64", "65000.00"},
		"DOGEUSDT": {"0.15500", "0.14000", "0.00900", "0.15000"},
	}
	for i := 0; i < 4; i++ {
		for _, sym := range symbols {
			if err := s.SetPrice(sym, moves[sym][i]); err != nil {
				t.Fatal(err)
			}
		}
		for _, sym := range symbols {
			want := restDepthLimit(t, s, sym, 5000)
			book := ms.Book(sym)
			for book.LastUpdateID() < want.LastUpdateID {
				select {
				case <-moved:
				case <-ctx.Done():
					t.Fatalf("%s: book stuck at %d, want %d", sym, book.LastUpdateID(), want.LastUpdateID)
				}
			}
			got := book.Levels(0)
			if book.LastUpdateID() != want.LastUpdateID || !adaptertest.SameLevels(got.Bids, want.Bids) || !adaptertest.SameLevels(got.Asks, want.Asks) {
				t.Fatalf("%s after %s: local book (%d/%d levels at %d) differs from the simulator's (%d/%d at %d)", sym,
					moves[sym][i], len(got.Bids), len(got.Asks), book.LastUpdateID(), len(want.Bids), len(want.Asks), want.LastUpdateID)
			}
		}
	}
	for _, sym := range symbols {
		if n := ms.Snapshots(sym); n != 1 {
			t.Errorf("%s: the stream fetched %d snapshots, want 1: the diffs alone kept the book", sym, n)
		}
	}
}

// runBackground runs run until the returned stop is called, which cancels it and waits.
func runBackground(ctx context.Context, run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = run(ctx) }()
	return func() { cancel(); <-done }
}

func restDepth(t *testing.T, s *sim.Server, symbol string) adapters.Book {
	t.Helper()
	return restDepthLimit(t, s, symbol, 1000)
}

func restDepthLimit(t *testing.T, s *sim.Server, symbol string, limit int) adapters.Book {
	t.Helper()
	resp, err := http.Get(s.URL() + "/api/v3/depth?symbol=" + symbol + "&limit=" + strconv.Itoa(limit))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw struct {
		LastUpdateID int64       `json:"lastUpdateId"`
		Bids         [][2]string `json:"bids"`
		Asks         [][2]string `json:"asks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	b := adapters.Book{Symbol: symbol, LastUpdateID: raw.LastUpdateID}
	for _, l := range raw.Bids {
		b.Bids = append(b.Bids, adapters.Level{Price: dec(l[0]), Quantity: dec(l[1])})
	}
	for _, l := range raw.Asks {
		b.Asks = append(b.Asks, adapters.Level{Price: dec(l[0]), Quantity: dec(l[1])})
	}
	return b
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// TestUserStreamSyncsClockBeforeSigning: a fresh client whose host clock is ahead of the
// exchange's measures the offset (one GET /api/v3/time) before it signs the logon, so the
// first connection is accepted instead of answering -1021 forever.
func TestUserStreamSyncsClockBeforeSigning(t *testing.T) {
	for _, auth := range []binance.UserAuth{binance.UserAuthSessionLogon, binance.UserAuthSignature} {
		t.Run(auth.String(), func(t *testing.T) {
			s := streamSim(t)
			s.SetClockOffset(-3 * time.Second) // the exchange is 3 s behind this host
			f := newClientOn(t, s, fixtureOpts{cfg: withStreams(s), ed25519: true})
			ups := make(chan bool, 10)
			us, err := f.client.OpenUserStream(binance.UserHandler{OnStatus: func(up bool, _ error) { ups <- up }},
				binance.StreamOptions{Seed: 5, UserAuth: auth})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			done := make(chan error, 1)
			go func() { done <- us.Run(ctx) }()
			defer func() { cancel(); <-done }()
			select {
			case <-ups:
			case <-ctx.Done():
				t.Fatal("never up")
			}
			st := s.Stats()
			if c := us.Conn().Stats(); c.Attempts != 1 || c.Connects != 1 || st.Total.AuthFailures != 0 ||
				st.Endpoints["GET /api/v3/time"].Requests != 1 {
				t.Fatalf("conn %+v, auth failures %d, time syncs %d", c, st.Total.AuthFailures, st.Endpoints["GET /api/v3/time"].Requests)
			}
		})
	}
}
