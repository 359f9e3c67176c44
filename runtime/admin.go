package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// AdminConfig configures the admin HTTP server.
type AdminConfig struct {
	// Listen is host:port; default 127.0.0.1:9464. Empty string disables the server.
	Listen string `koanf:"listen"`
	// AllowRemote must be set to listen on a non-loopback address: /status tells anyone who
	// can reach it what the bot is doing.
	AllowRemote bool `koanf:"allow_remote"`
}

// Validate names the bad key.
func (c AdminConfig) Validate() error {
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

// NewAdminServer prepares a server for c.Listen; Start binds it.
func NewAdminServer(c AdminConfig, h http.Handler, log zerolog.Logger) *AdminServer {
	return &AdminServer{cfg: c, handler: h, log: log}
}

// Start binds the listener and serves in the background. It returns once bound, so a port
// conflict fails start-up instead of being logged later.
func (a *AdminServer) Start() error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("runtime: admin.listen %s: %w", a.cfg.Listen, err)
	}
	a.ln = ln
	a.srv = &http.Server{Handler: a.handler, ReadHeaderTimeout: 5 * time.Second}
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
