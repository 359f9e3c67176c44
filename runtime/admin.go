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
	srv  *http.Server
	ln   net.Listener
	log  zerolog.Logger
	done chan struct{}
}

// NewAdminHandler returns the admin routes. healthy reports nil while the bot is running.
func NewAdminHandler(m *Metrics, status StatusFunc, healthy func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
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

// StartAdmin listens on c.Listen and serves h until Stop. It returns once the listener is
// bound, so a port conflict fails start-up instead of being logged later.
func StartAdmin(c AdminConfig, h http.Handler, log zerolog.Logger) (*AdminServer, error) {
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("runtime: admin.listen %s: %w", c.Listen, err)
	}
	a := &AdminServer{
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second},
		ln:   ln,
		log:  log,
		done: make(chan struct{}),
	}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error().Err(err).Msg("admin server stopped")
		}
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg("admin server listening")
	return a, nil
}

// Addr is the bound address (useful with port 0).
func (a *AdminServer) Addr() string { return a.ln.Addr().String() }

// Stop shuts the server down and waits for it.
func (a *AdminServer) Stop(ctx context.Context) error {
	err := a.srv.Shutdown(ctx)
	<-a.done
	return err
}
