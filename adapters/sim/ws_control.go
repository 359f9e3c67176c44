package sim

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
)

// Control messages on a stream connection (web-socket-streams.md "Live Subscribing/
// Unsubscribing to streams"): SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY and
// GET_PROPERTY (the one property is "combined": whether events come wrapped as
// {"stream","data"}; false on /ws, true on /stream). Successes are {"result":...,"id":...}.
//
// Errors carry the codes and messages of the docs' "Error Messages" table. The table prints
// them flat ({"code": 0, "msg": "Unknown property","id": %s}); Binance's servers send them
// nested, {"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":2}, as clients
// report seeing (ctubio/Krypto-trading-bot#1121), and so does the simulator. Where the table has
// no row the simulator chooses:
//   - an unknown stream name: code 2 "Invalid request: invalid stream" (what Binance sends);
//     the whole request is refused, no stream of it is subscribed;
//   - params missing from SUBSCRIBE or UNSUBSCRIBE, or not an array of strings: code 2
//     "Invalid request: missing field `params`" or "Invalid request: invalid stream";
//   - an id that is neither a 64-bit integer, an alphanumeric string of at most 36 characters
//     nor null (all three are accepted, as the docs say) gets the table's "request ID must be an
//     unsigned integer".
// A connection whose URL names something that is no stream (/ws/0, /ws/btcusdt@nope) is
// accepted and that name ignored: Binance does so (a trace of ccxt connecting to
// wss://stream.binance.com:9443/ws/0 and subscribing is in ccxt/ccxt#18162), and ccxt depends
// on it (adapters/sim/testdata/ccxt/check.js).

const msgInvalidStream = "Invalid request: invalid stream"

func streamErr(code int, msg string) map[string]any { return map[string]any{"code": code, "msg": msg} }

var reStringID = regexp.MustCompile(`^[A-Za-z0-9]{1,36}$`)

// validID reports whether raw is an id the docs accept: a 64-bit integer, an alphanumeric
// string of at most 36 characters, or null.
func validID(raw json.RawMessage) bool {
	if bytes.Equal(raw, []byte("null")) {
		return true
	}
	var n int64
	if json.Unmarshal(raw, &n) == nil {
		return true
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && reStringID.MatchString(s)
}

func (c *wsConn) isCombined() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.combined
}

// control answers one control message.
func (c *wsConn) control(msg []byte) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(msg, &req); err != nil {
		c.reply(map[string]any{"error": streamErr(3, "Invalid JSON: "+err.Error()), "id": nil})
		return
	}
	id, hasID := req["id"]
	if !hasID || !validID(id) {
		c.reply(map[string]any{"error": streamErr(2, "Invalid request: request ID must be an unsigned integer"), "id": nil})
		return
	}
	fail := func(code int, msg string) { c.reply(map[string]any{"error": streamErr(code, msg), "id": id}) }
	rawMethod, ok := req["method"]
	if !ok {
		fail(2, "Invalid request: missing field `method`")
		return
	}
	var method string
	_ = json.Unmarshal(rawMethod, &method)
	var params []json.RawMessage
	if raw, ok := req["params"]; ok && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &params); err != nil {
			fail(2, "Invalid request: invalid params")
			return
		}
	}
	for k := range req {
		if k != "id" && k != "method" && k != "params" {
			fail(2, "Invalid request: too many parameters")
			return
		}
	}
	switch method {
	case "SUBSCRIBE", "UNSUBSCRIBE":
		if _, ok := req["params"]; !ok {
			fail(2, "Invalid request: missing field `params`")
			return
		}
		names := make([]string, 0, len(params))
		s := c.hub.s
		for _, raw := range params {
			var n string
			if json.Unmarshal(raw, &n) != nil || !s.validStream(n) {
				fail(2, msgInvalidStream)
				return
			}
			names = append(names, n)
		}
		c.mu.Lock()
		for _, n := range names {
			if method == "SUBSCRIBE" {
				c.streams[n] = true
			} else {
				delete(c.streams, n)
			}
		}
		c.mu.Unlock()
		c.reply(map[string]any{"result": nil, "id": id})
	case "LIST_SUBSCRIPTIONS":
		if len(params) > 0 {
			fail(2, "Invalid request: too many parameters")
			return
		}
		c.mu.Lock()
		list := make([]string, 0, len(c.streams))
		for n := range c.streams {
			list = append(list, n)
		}
		c.mu.Unlock()
		sort.Strings(list)
		c.reply(map[string]any{"result": list, "id": id})
	case "SET_PROPERTY", "GET_PROPERTY":
		want := 1
		if method == "SET_PROPERTY" {
			want = 2
		}
		if len(params) > want {
			fail(2, "Invalid request: too many parameters")
			return
		}
		var name string
		if len(params) == 0 || json.Unmarshal(params[0], &name) != nil {
			fail(2, "Invalid request: property name must be a string")
			return
		}
		if name != "combined" {
			fail(0, "Unknown property")
			return
		}
		if method == "GET_PROPERTY" {
			c.reply(map[string]any{"result": c.isCombined(), "id": id})
			return
		}
		var v bool
		if len(params) < 2 || json.Unmarshal(params[1], &v) != nil {
			fail(1, "Invalid value type: expected Boolean")
			return
		}
		c.mu.Lock()
		c.combined = v
		c.mu.Unlock()
		c.reply(map[string]any{"result": nil, "id": id})
	default:
		fail(2, "Invalid request: unknown variant "+method+
			", expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`")
	}
}

// subscribedStreams is every stream some stream connection follows.
func (h *wsHub) subscribedStreams() map[string]bool {
	h.mu.Lock()
	conns := h.connList()
	h.mu.Unlock()
	out := map[string]bool{}
	for _, c := range conns {
		if c.api {
			continue
		}
		c.mu.Lock()
		for n := range c.streams {
			out[n] = true
		}
		c.mu.Unlock()
	}
	return out
}
