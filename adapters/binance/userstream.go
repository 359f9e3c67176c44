package binance

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/stream"
	"github.com/keelbot/keel/scheduler"
)

// UserHandler receives a UserStream's events (adapters.UserHandler) on the stream's
// goroutine.
type UserHandler = adapters.UserHandler

// UserAuth is how a UserStream authenticates its subscription on the WebSocket API
// (web-socket-api.md "User Data Stream requests"; the listenKey endpoints were retired on
// 2026-02-20).
type UserAuth int

const (
	// UserAuthAuto, the zero value, logs the session on with an Ed25519 key and signs the
	// subscription with an HMAC key.
	UserAuthAuto UserAuth = iota
	// UserAuthSignature sends userDataStream.subscribe.signature: the subscription itself is
	// signed (apiKey, recvWindow, timestamp). Any key type.
	UserAuthSignature
	// UserAuthSessionLogon sends session.logon, then userDataStream.subscribe on the
	// authenticated session. Binance supports it for Ed25519 keys only; with an HMAC key
	// Client.UserStream refuses it before anything is sent.
	UserAuthSessionLogon
)

// String names the mode for logs.
func (a UserAuth) String() string {
	switch a {
	case UserAuthAuto:
		return "auto"
	case UserAuthSignature:
		return "userDataStream.subscribe.signature"
	case UserAuthSessionLogon:
		return "session.logon"
	}
	return "UserAuth(" + strconv.Itoa(int(a)) + ")"
}

// ErrLogonNeedsEd25519 is returned by Client.UserStream for UserAuthSessionLogon with an HMAC
// key, and matches (errors.Is) the exchange's own refusal (-4056): session.logon supports
// Ed25519 keys only.
var ErrLogonNeedsEd25519 = fmt.Errorf("binance: session.logon supports Ed25519 keys only: %w", adapters.ErrStreamKeyUnsupported)

// UserStream is the account's user data stream through the WebSocket API: on every
// (re)connect it subscribes again, with userDataStream.subscribe.signature or with
// session.logon + userDataStream.subscribe (StreamOptions.UserAuth). Build with
// Client.UserStream; Run it.
type UserStream struct {
	c     *Client
	h     UserHandler
	conn  *stream.Conn
	logon bool // session.logon + userDataStream.subscribe
	id    atomic.Int64
}

// ErrStreamAuth matches (errors.Is) a subscription the exchange refused for the key or the
// signature; the stream stops instead of retrying an auth failure.
var ErrStreamAuth = adapters.ErrStreamAuth

// UserStream is the contract's user data stream (adapters.Streamer) with default options.
func (c *Client) UserStream(h adapters.UserHandler, o adapters.StreamOptions) (adapters.UserStream, error) {
	return c.OpenUserStream(h, StreamOptions{Limiter: o.Limiter, Clock: o.Clock, Seed: o.Seed, Log: o.Log})
}

// OpenUserStream builds the account's user data stream with Binance's own options; it needs
// an API key and a signing key, and an Ed25519 key for UserAuthSessionLogon.
func (c *Client) OpenUserStream(h UserHandler, opts StreamOptions) (*UserStream, error) {
	if c.signer == nil || *c.key == "" {
		return nil, localError(scheduler.ClassAuth, ErrNoCredentials)
	}
	ed := c.signer.kind() == "ed25519"
	u := &UserStream{c: c, h: h}
	switch opts.UserAuth {
	case UserAuthAuto:
		u.logon = ed
	case UserAuthSignature:
	case UserAuthSessionLogon:
		if !ed {
			return nil, fmt.Errorf("binance: user data stream: %w; the configured key is HMAC-SHA256 (use %s)",
				ErrLogonNeedsEd25519, UserAuthSignature)
		}
		u.logon = true
	default:
		return nil, fmt.Errorf("binance: user data stream: unknown %s", opts.UserAuth)
	}
	u.conn = stream.New(opts.conn(c.cfg.WSAPIURL, "user"), stream.Handler{
		OnConnect: u.subscribe,
		OnMessage: u.onMessage,
		OnState: func(st stream.State) {
			if h.OnStatus != nil {
				h.OnStatus(st.Up, st.Err)
			}
			if st.Up && st.Connects > 1 && h.OnResync != nil {
				h.OnResync()
			}
		},
	})
	return u, nil
}

// Conn is the underlying connection.
func (u *UserStream) Conn() *stream.Conn { return u.conn }

// Auth is the authentication the stream uses (never UserAuthAuto).
func (u *UserStream) Auth() UserAuth {
	if u.logon {
		return UserAuthSessionLogon
	}
	return UserAuthSignature
}

// Run follows the stream until ctx ends, or until the exchange refuses the key.
func (u *UserStream) Run(ctx context.Context) error { return u.conn.Run(ctx) }

// subscribe starts the subscription on a new connection: session.logon then
// userDataStream.subscribe, or userDataStream.subscribe.signature.
func (u *UserStream) subscribe(ctx context.Context, s *stream.Session) error {
	if !u.logon {
		return u.request(ctx, s, "userDataStream.subscribe.signature", true)
	}
	if err := u.request(ctx, s, "session.logon", true); err != nil {
		return err
	}
	return u.request(ctx, s, "userDataStream.subscribe", false)
}

// request sends one WebSocket API request and waits for its answer. A signed request
// carries apiKey, recvWindow, timestamp and the signature over every other param sorted by
// name (web-socket-api.md "SIGNED request security"): apiKey=..&recvWindow=..&timestamp=...
// An answer that retrying cannot change (a refused key or signature, an HMAC key at
// session.logon) stops the stream.
func (u *UserStream) request(ctx context.Context, s *stream.Session, method string, signed bool) error {
	c := u.c
	msg := map[string]any{"id": fmt.Sprintf("keel-uds-%d", u.id.Add(1)), "method": method}
	if signed {
		// As for signed REST calls, through the scheduler.
		if err := c.syncTimeIfNeeded(ctx, scheduler.PriorityAccount); err != nil {
			return fmt.Errorf("binance: %s: syncing the clock: %w", method, err)
		}
		at, err := c.time.Timestamp(c.clock.Now())
		if err != nil {
			return err
		}
		ts := at.UnixMilli()
		payload := "apiKey=" + string(*c.key) + "&recvWindow=" + strconv.Itoa(c.cfg.RecvWindow) +
			"&timestamp=" + strconv.FormatInt(ts, 10)
		msg["params"] = map[string]any{"apiKey": string(*c.key), "recvWindow": c.cfg.RecvWindow, "timestamp": ts,
			"signature": c.signer.sign([]byte(payload))}
	}
	id := msg["id"].(string)
	req, _ := json.Marshal(msg)
	if err := s.Write(ctx, req); err != nil {
		return err
	}
	for {
		b, err := s.Read(ctx)
		if err != nil {
			return err
		}
		var ans struct {
			ID     string      `json:"id"`
			Status int         `json:"status"`
			Error  *wsAPIError `json:"error"`
		}
		if json.Unmarshal(b, &ans) != nil || ans.ID != id {
			continue
		}
		if ans.Status == 200 {
			return nil
		}
		if ans.Error != nil && ans.Error.Code == -1021 {
			c.time.MarkStale() // the next connect measures the clock again
		}
		return ans.Error.err(method, ans.Status)
	}
}

// wsAPIError is a WebSocket API answer's error: {"code":-1022,"msg":"..."}.
type wsAPIError struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

// err turns the error answer to method into an error (e may be nil: an error status without
// a body). Answers that retrying cannot change wrap stream.ErrStop and ErrStreamAuth.
func (e *wsAPIError) err(method string, status int) error {
	code, msg := 0, ""
	if e != nil {
		code, msg = e.Code, cleanMessage(e.Msg)
	}
	err := fmt.Errorf("binance: %s: status %d code %d %s", truncate(method, 64), status, code, msg)
	switch {
	case code == -4056: // "HMAC_SHA256 API key is not supported."
		return fmt.Errorf("%w: %w: %w: %w", stream.ErrStop, ErrStreamAuth, ErrLogonNeedsEd25519, err)
	case status == 401 || status == 403 || code == -1002 || code == -1022 || code == -2014 || code == -2015:
		return fmt.Errorf("%w: %w: %w", stream.ErrStop, ErrStreamAuth, err)
	}
	return err
}

// wsExecutionReport is user-data-stream.md's executionReport, every case pair declared.
type wsExecutionReport struct {
	Event       string `json:"e"`
	Time        int64  `json:"E"`
	Symbol      string `json:"s"`
	ClientID    string `json:"c"`
	OrigClient  string `json:"C"`
	Side        string `json:"S"`
	Type        string `json:"o"`
	OrderCreate int64  `json:"O"`
	TIF         string `json:"f"`
	Iceberg     string `json:"F"`
	Qty         string `json:"q"`
	QuoteQty    string `json:"Q"`
	Price       string `json:"p"`
	StopPrice   string `json:"P"`
	ExecType    string `json:"x"`
	Status      string `json:"X"`
	OrderID     int64  `json:"i"`
	Ignore      int64  `json:"I"`
	LastQty     string `json:"l"`
	Executed    string `json:"z"`
	CumQuote    string `json:"Z"`
	LastPrice   string `json:"L"`
	Commission  string `json:"n"`
	TxTime      int64  `json:"T"`
	TradeID     int64  `json:"t"`
	Working     bool   `json:"w"`
	WorkingTime int64  `json:"W"`
	Maker       bool   `json:"m"`
	IgnoreM     bool   `json:"M"`
	LastQuote   string `json:"Y"`
}

type wsPosition struct {
	Event    string `json:"e"`
	Time     int64  `json:"E"`
	Update   int64  `json:"u"`
	Balances []struct {
		Asset  string `json:"a"`
		Free   string `json:"f"`
		Locked string `json:"l"`
	} `json:"B"`
}

func (u *UserStream) onMessage(msg []byte) error {
	var env struct {
		Event json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(msg, &env); err != nil {
		return malformed("user data message", err)
	}
	if env.Event == nil {
		return nil // an answer to a request
	}
	var head struct {
		E string `json:"e"`
		T int64  `json:"E"`
	}
	if err := json.Unmarshal(env.Event, &head); err != nil {
		return malformed("user data event", err)
	}
	switch head.E {
	case "executionReport":
		if u.h.OnOrder == nil {
			return nil
		}
		var r wsExecutionReport
		if err := json.Unmarshal(env.Event, &r); err != nil {
			return malformed("executionReport", err)
		}
		id := r.ClientID
		if r.ExecType == "CANCELED" && r.OrigClient != "" {
			id = r.OrigClient
		}
		var p decimals
		o := adapters.Order{Symbol: r.Symbol, ClientOrderID: id, ExchangeOrderID: fmt.Sprint(r.OrderID),
			Side: adapters.Side(r.Side), Type: adapters.OrderType(r.Type), TimeInForce: adapters.TimeInForce(r.TIF),
			Price: p.get("p", r.Price), Quantity: p.get("q", r.Qty), ExecutedQty: p.get("z", r.Executed),
			CumulativeQuote: p.get("Z", r.CumQuote), Status: adapters.OrderStatus(r.Status),
			CreatedAt: millis(r.OrderCreate), UpdatedAt: millis(r.Time)}
		if p.err != nil {
			return p.err
		}
		u.h.OnOrder(o)
	case "outboundAccountPosition":
		if u.h.OnBalances == nil {
			return nil
		}
		var pos wsPosition
		if err := json.Unmarshal(env.Event, &pos); err != nil {
			return malformed("outboundAccountPosition", err)
		}
		var p decimals
		var out []adapters.Balance
		for _, b := range pos.Balances {
			out = append(out, adapters.Balance{Asset: b.Asset, Free: p.get("f", b.Free), Locked: p.get("l", b.Locked)})
		}
		if p.err != nil {
			return p.err
		}
		u.h.OnBalances(out)
	}
	return nil
}
