package binance

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/keelbot/keel/adapters/rest"
)

// Defaults applied by Config.setDefaults to zero fields.
const (
	// DefaultBaseURL is Binance Spot's production REST endpoint.
	DefaultBaseURL = "https://api.binance.com"
	// DefaultRecvWindow is Binance's own default recvWindow, in milliseconds.
	DefaultRecvWindow = 5000
	// MaxRecvWindow is the largest recvWindow Binance accepts, in milliseconds.
	MaxRecvWindow = 60000
	// DefaultTimeout bounds one HTTP attempt. Binance's API gives up on the matching engine
	// after 10 s (-1007), so an attempt gets a little more than that.
	DefaultTimeout = 15 * time.Second
	// DefaultStreamURL and DefaultWSAPIURL are Binance Spot's WebSocket endpoints.
	DefaultStreamURL = "wss://stream.binance.com:9443"
	DefaultWSAPIURL  = "wss://ws-api.binance.com:443/ws-api/v3"
)

// Secret is a credential read from configuration; it prints as "[REDACTED]".
type Secret = rest.Secret

// Config configures a Client. Zero values mean defaults; exactly one signing key may be set
// (api_secret for HMAC-SHA256, or ed25519_private_key / ed25519_private_key_file for
// Ed25519, which Binance recommends). A Config without api_key and keys is public-only:
// market data works, signed calls fail with an auth-class error without sending anything.
type Config struct {
	// BaseURL is the REST root, e.g. https://api.binance.com or the simulator's address.
	BaseURL string `koanf:"base_url"`
	// APIKey is sent in the X-MBX-APIKEY header.
	APIKey Secret `koanf:"api_key"`
	// APISecret is the HMAC-SHA256 secret key.
	APISecret Secret `koanf:"api_secret"`
	// Ed25519PrivateKey is a PKCS#8 PEM block, or a 32-byte seed in base64 or hex.
	Ed25519PrivateKey Secret `koanf:"ed25519_private_key"`
	// Ed25519PrivateKeyFile is the path of a PKCS#8 PEM file holding the Ed25519 key.
	Ed25519PrivateKeyFile string `koanf:"ed25519_private_key_file"`
	// RecvWindow in milliseconds (default 5000, at most 60000). Requests are refused before
	// signing when the local clock is off from the exchange's by more than this.
	RecvWindow int `koanf:"recv_window"`
	// Timeout bounds one HTTP attempt (default 15s).
	Timeout time.Duration `koanf:"timeout"`
	// StreamURL is the market data streams root. Default: base_url's environment's
	// (production wss://stream.binance.com:9443, testnet wss://stream.testnet.binance.vision:9443,
	// demo wss://demo-stream.binance.com:9443); a URL of another Binance environment is refused.
	StreamURL string `koanf:"stream_url"`
	// WSAPIURL is the WebSocket API endpoint that serves the user data stream. Default: base_url's
	// environment's (production wss://ws-api.binance.com:443/ws-api/v3, testnet
	// wss://ws-api.testnet.binance.vision/ws-api/v3, demo wss://demo-ws-api.binance.com/ws-api/v3).
	WSAPIURL string `koanf:"ws_api_url"`
}

// String prints the config with its secrets redacted.
func (c Config) String() string {
	return fmt.Sprintf("binance.Config{BaseURL:%q APIKey:%s APISecret:%s Ed25519PrivateKey:%s Ed25519PrivateKeyFile:%q RecvWindow:%d Timeout:%s}",
		c.BaseURL, c.APIKey, c.APISecret, c.Ed25519PrivateKey, c.Ed25519PrivateKeyFile, c.RecvWindow, c.Timeout)
}

// GoString keeps %#v redacted.
func (c Config) GoString() string { return c.String() }

func (c *Config) setDefaults() {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.RecvWindow == 0 {
		c.RecvWindow = DefaultRecvWindow
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	c.deriveStreamURLs()
}

// setFixedDefaults is setDefaults without the stream URLs, which derive from the final
// base_url: a config's NewConfig applies these before the user's keys are decoded.
func (c *Config) setFixedDefaults() {
	stream, ws := c.StreamURL, c.WSAPIURL
	c.setDefaults()
	c.StreamURL, c.WSAPIURL = stream, ws
}

// Binance's environments: production, the Spot testnet and demo mode serve the same API from
// different hosts, with separate keys and separate markets.
const (
	envProduction = "production"
	envTestnet    = "testnet"
	envDemo       = "demo"
)

// streamURLs are each environment's default market-stream root and WebSocket API endpoint
// (binance-spot-api-docs: testnet/general-info.md, demo-mode/general-info.md).
var streamURLs = map[string][2]string{
	envProduction: {DefaultStreamURL, DefaultWSAPIURL},
	envTestnet:    {"wss://stream.testnet.binance.vision:9443", "wss://ws-api.testnet.binance.vision/ws-api/v3"},
	envDemo:       {"wss://demo-stream.binance.com:9443", "wss://demo-ws-api.binance.com/ws-api/v3"},
}

// environment names the Binance environment a URL's host belongs to, or "" for a host that
// is not Binance's (the simulator, a proxy).
func environment(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case host == "testnet.binance.vision" || strings.HasSuffix(host, ".testnet.binance.vision"):
		return envTestnet
	case strings.HasPrefix(host, "demo-") && strings.HasSuffix(host, ".binance.com"):
		return envDemo
	case host == "binance.com" || strings.HasSuffix(host, ".binance.com"):
		return envProduction
	}
	return ""
}

// deriveStreamURLs fills empty stream URLs from base_url's environment: a testnet base_url
// gets the testnet streams, not production's. A base_url that is not Binance's leaves them
// at production's, as before: name them when you point base_url elsewhere.
func (c *Config) deriveStreamURLs() {
	urls, ok := streamURLs[environment(c.BaseURL)]
	if !ok {
		urls = streamURLs[envProduction]
	}
	if c.StreamURL == "" {
		c.StreamURL = urls[0]
	}
	if c.WSAPIURL == "" {
		c.WSAPIURL = urls[1]
	}
}

// ErrConfig is wrapped by every Validate error.
var ErrConfig = errors.New("binance: invalid config")

func configErr(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, args...))
}

// Validate checks the config after defaults are applied and names the bad key. It never
// includes a secret's value in its error.
func (c Config) Validate() error {
	c.setDefaults()
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return configErr("base_url", "expected an http(s) URL without query, got %q", c.BaseURL)
	}
	for key, v := range map[string]string{"stream_url": c.StreamURL, "ws_api_url": c.WSAPIURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return configErr(key, "expected a ws(s) URL, got %q", v)
		}
	}
	if env := environment(c.BaseURL); env != "" {
		for _, key := range []string{"stream_url", "ws_api_url"} {
			v := map[string]string{"stream_url": c.StreamURL, "ws_api_url": c.WSAPIURL}[key]
			if other := environment(v); other != "" && other != env {
				return configErr(key, "%q is Binance %s but base_url %q is %s: the streams would watch another market than the orders go to (leave %s empty to follow base_url)", v, other, c.BaseURL, env, key)
			}
		}
	}
	if c.RecvWindow < 1 || c.RecvWindow > MaxRecvWindow {
		return configErr("recv_window", "expected milliseconds in [1, %d], got %d", MaxRecvWindow, c.RecvWindow)
	}
	if c.Timeout < 0 {
		return configErr("timeout", "expected a positive duration, got %s", c.Timeout)
	}
	keys := 0
	for _, set := range []bool{c.APISecret != "", c.Ed25519PrivateKey != "", c.Ed25519PrivateKeyFile != ""} {
		if set {
			keys++
		}
	}
	switch {
	case keys > 1:
		return configErr("api_secret", "set exactly one of api_secret, ed25519_private_key, ed25519_private_key_file")
	case keys == 1 && c.APIKey == "":
		return configErr("api_key", "required when a signing key is set")
	case keys == 0 && c.APIKey != "":
		return configErr("api_secret", "api_key is set but no signing key (api_secret, ed25519_private_key or ed25519_private_key_file)")
	}
	if strings.ContainsAny(string(c.APIKey), " \t\r\n") {
		return configErr("api_key", "must not contain whitespace")
	}
	if _, err := c.signer(); err != nil {
		return err
	}
	return nil
}

// signer builds the signer the config's key calls for; nil when the config is public-only.
func (c Config) signer() (signer, error) {
	switch {
	case c.APISecret != "":
		return newHMACSigner(string(c.APISecret)), nil
	case c.Ed25519PrivateKey != "":
		s, err := newEd25519Signer([]byte(c.Ed25519PrivateKey))
		if err != nil {
			return nil, configErr("ed25519_private_key", "%v", err)
		}
		return s, nil
	case c.Ed25519PrivateKeyFile != "":
		raw, err := os.ReadFile(c.Ed25519PrivateKeyFile)
		if err != nil {
			// The path is not a secret; the OS error carries no key material.
			return nil, configErr("ed25519_private_key_file", "%v", err)
		}
		s, err := newEd25519Signer(raw)
		if err != nil {
			return nil, configErr("ed25519_private_key_file", "%v", err)
		}
		return s, nil
	}
	return nil, nil
}
