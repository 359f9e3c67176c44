package runtime

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/killswitch"
)

// OpenKillSwitch opens the kill switch a bot configured by o watches, for an operator's tool
// (`keel halt|resume|status --config`): the killswitch.file of that configuration, kept in
// step with the fleet's Redis key when store.url is set, so one halt reaches every instance.
//
// Only the sections the switch needs must be valid: an operator halting a production bot need
// not hold its API secret. close releases the Redis connection, if any.
func OpenKillSwitch(o LoadOptions) (sw *killswitch.Switch, close func() error, err error) {
	sw, _, close, err = OpenOperator(o)
	return sw, close, err
}

// OperatorTarget says what an operator's tool acts on for one bot's configuration, so it
// can say how it knows what it prints.
type OperatorTarget struct {
	// File is killswitch.file.
	File string `json:"file"`
	// Admin is admin.listen ("" when the admin server is off).
	Admin string `json:"admin"`
	// Store is store.url with any password hidden, and FleetKey the fleet's kill-switch key
	// in Redis; both empty outside fleet mode.
	Store    string `json:"store,omitempty"`
	FleetKey string `json:"fleet_key,omitempty"`
	// AdminToken is admin.token (KEEL_ADMIN_TOKEN), for the admin server's POST actions;
	// never printed.
	AdminToken string `json:"-"`
}

// OpenOperator is OpenKillSwitch that also says what the switch is made of and where the
// bot's admin server listens.
func OpenOperator(o LoadOptions) (sw *killswitch.Switch, target OperatorTarget, close func() error, err error) {
	c, _, err := loadUnvalidated(o)
	if err != nil {
		return nil, target, nil, err
	}
	if err := c.KillSwitch.Validate(); err != nil {
		return nil, target, nil, sectionError("killswitch", err)
	}
	if err := c.validateFleet(); err != nil {
		return nil, target, nil, err
	}
	target = OperatorTarget{File: c.KillSwitch.File, Admin: c.Admin.Listen, AdminToken: string(c.Admin.Token)}
	if !c.fleetEnabled() {
		sw, err := killswitch.New(c.KillSwitch)
		return sw, target, func() error { return nil }, err
	}
	fl, rdb, err := connectFleet(c, zerolog.Nop())
	if err != nil {
		return nil, target, nil, err
	}
	target.Store, target.FleetKey = redactURL(c.Store.URL), fl.KillSwitchKey()
	sw, err = newKillSwitch(c, fl)
	if err != nil {
		_ = rdb.Close()
		return nil, target, nil, err
	}
	return sw, target, func() error { _ = fl.Close(); return rdb.Close() }, nil
}

// BotProbe is what GET /healthz on a bot's admin address answered.
type BotProbe struct {
	// Answers is true when something answered /healthz like a Keel bot (200 or 503).
	Answers bool `json:"answers"`
	// Healthy is true on 200.
	Healthy bool `json:"healthy"`
	// Detail is the answer's first line or why nothing answered.
	Detail string `json:"detail"`
}

// AdminURL is the http URL of path on a bot's admin.listen, a wildcard host asked on loopback;
// an error when listen names no fixed address (port 0, unparsable).
func AdminURL(listen, path string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" {
		return "", fmt.Errorf("admin.listen %q names no fixed address to ask", listen)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}

// ProbeAdmin asks the admin server at listen (admin.listen) whether a bot runs there, within
// timeout. A wildcard host (0.0.0.0, ::) is asked on loopback.
func ProbeAdmin(ctx context.Context, listen string, timeout time.Duration) BotProbe {
	url, err := AdminURL(listen, "/healthz")
	if err != nil {
		return BotProbe{Detail: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return BotProbe{Detail: err.Error()}
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return BotProbe{Detail: "nothing answers GET " + url + ": " + shortNetError(err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	switch resp.StatusCode {
	case http.StatusOK:
		return BotProbe{Answers: true, Healthy: true, Detail: fmt.Sprintf("GET %s: %d %s", url, resp.StatusCode, line)}
	case http.StatusServiceUnavailable:
		return BotProbe{Answers: true, Detail: fmt.Sprintf("GET %s: %d %s", url, resp.StatusCode, line)}
	}
	return BotProbe{Detail: fmt.Sprintf("GET %s answered %d: not a Keel bot's admin server", url, resp.StatusCode)}
}

// shortNetError drops the request line net/http repeats in front of the cause.
func shortNetError(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "dial") {
		return s[i+2:]
	}
	return s
}
