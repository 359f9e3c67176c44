package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keelbot/keel/adapters/rest"
	"github.com/rs/zerolog"
)

// AdminConfig configures the admin HTTP server.
type AdminConfig struct {
	// Listen is host:port; default 127.0.0.1:9464. Empty string disables the server.
	Listen string `koanf:"listen"`
	// AllowRemote must be set to listen on a non-loopback address: /status tells anyone who
	// can reach it what the bot is doing.
	AllowRemote bool `koanf:"allow_remote"`
	// MaxConnections caps the admin server's open connections; one beyond it is closed at
	// once, so idle or slow clients cannot exhaust the bot's file descriptors. Default 32.
	MaxConnections int `koanf:"max_connections"`
	// Token is the bearer token the POST actions (/halt, /resume, /cancel-all, /flatten)
	// require; from the environment, KEEL_ADMIN_TOKEN. Empty: the actions are refused.
	Token rest.Secret `koanf:"token"`
	// IdleTimeout closes a keep-alive connection idle that long. Default 30s. (Reading a
	// request is bounded to 5s for its headers and 10s in all; writing an answer to 30s.)
	IdleTimeout time.Duration `koanf:"idle_timeout"`
}

// The admin server's fixed bounds: its answers are small and made in memory.
const (
	adminReadHeaderTimeout = 5 * time.Second
	adminReadTimeout       = 10 * time.Second
	adminWriteTimeout      = 30 * time.Second
	adminMaxHeaderBytes    = 16 << 10
)

// WithDefaults fills the zero fields.
func (c AdminConfig) WithDefaults() AdminConfig {
	if c.MaxConnections == 0 {
		c.MaxConnections = 32
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 30 * time.Second
	}
	return c
}

// Validate names the bad key.
func (c AdminConfig) Validate() error {
	if c.MaxConnections < 0 {
		return &ConfigError{Key: "admin.max_connections", Reason: fmt.Sprintf("must be >= 1, got %d", c.MaxConnections)}
	}
	if c.IdleTimeout < 0 {
		return &ConfigError{Key: "admin.idle_timeout", Reason: fmt.Sprintf("must be a positive duration, got %s", c.IdleTimeout)}
	}
	if c.Listen == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return &ConfigError{Key: "admin.listen", Reason: fmt.Sprintf("want host:port, got %q", c.Listen)}
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return &ConfigError{Key: "admin.listen", Reason: fmt.Sprintf("bad port %q", port)}
	}
	if !c.AllowRemote && !isLoopback(host) {
		return &ConfigError{Key: "admin.listen", Reason: fmt.Sprintf("%q is not a loopback address; set admin.allow_remote to expose the admin server", c.Listen)}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// StatusFunc returns the /status document: kill switch, breakers, buckets, budgets.
type StatusFunc func(ctx context.Context) any

// AdminServer serves /metrics, /healthz and /status.
type AdminServer struct {
	cfg     AdminConfig
	handler http.Handler
	log     zerolog.Logger

	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// NewAdminHandler returns the admin routes. beforeScrape refreshes gauges that mirror state;
// healthy reports nil while the bot is running.
func NewAdminHandler(m *Metrics, status StatusFunc, healthy func() error, beforeScrape func()) http.Handler {
	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if beforeScrape != nil {
			beforeScrape()
		}
		metrics.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := healthy(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(status(r.Context()))
	})
	return mux
}

// NewAdminServer prepares a server for c.Listen; Start binds it. Zero fields of c take their
// defaults.
func NewAdminServer(c AdminConfig, h http.Handler, log zerolog.Logger) *AdminServer {
	return &AdminServer{cfg: c.WithDefaults(), handler: h, log: log}
}

// Start binds the listener and serves in the background. It returns once bound, so a port
// conflict fails start-up instead of being logged later.
func (a *AdminServer) Start() error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("runtime: admin.listen %s: %w", a.cfg.Listen, err)
	}
	a.ln = ln
	a.srv = &http.Server{Handler: a.handler, ReadHeaderTimeout: adminReadHeaderTimeout,
		ReadTimeout: adminReadTimeout, WriteTimeout: adminWriteTimeout, IdleTimeout: a.cfg.IdleTimeout,
		MaxHeaderBytes: adminMaxHeaderBytes}
	ln = &cappedListener{Listener: ln, slots: make(chan struct{}, a.cfg.MaxConnections), log: a.log}
	a.done = make(chan struct{})
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error().Err(err).Msg("admin server stopped")
		}
	}()
	a.log.Info().Str("addr", ln.Addr().String()).Msg("admin server listening")
	return nil
}

// cappedListener accepts at most cap(slots) open connections: one beyond it is closed at
// once (the client sees the connection reset) instead of queueing, so a flood of idle
// connections costs the bot no descriptor beyond the cap, and the slots free as the server's
// timeouts close the idle ones.
type cappedListener struct {
	net.Listener
	slots   chan struct{}
	log     zerolog.Logger
	refused int // guarded by being touched only from Accept's single caller (http.Server)
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			c.Close()
			if l.refused++; l.refused&(l.refused-1) == 0 { // 1st, 2nd, 4th, 8th...: not a flood of lines
				l.log.Warn().Int("max_connections", cap(l.slots)).Int("refused", l.refused).
					Msg("admin server at its connection cap: refusing connections (admin.max_connections)")
			}
		}
	}
}

// slotConn gives its slot back when closed, once.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// Addr is the bound address once started (useful with port 0), else "".
func (a *AdminServer) Addr() string {
	if a == nil || a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// Stop shuts the server down and waits for it.
func (a *AdminServer) Stop(ctx context.Context) error {
	if a.srv == nil {
		return nil
	}
	err := a.srv.Shutdown(ctx)
	<-a.done
	return err
}
