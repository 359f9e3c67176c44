package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
)

// runSim is `keel sim`: it serves the simulator until SIGINT or SIGTERM.
func runSim(args []string, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return simMain(ctx, args, stderr, nil)
}

// simMain parses flags, starts the simulator and blocks until ctx is done. When ready is not
// nil it receives the base URL once the server listens (for tests).
func simMain(ctx context.Context, args []string, stderr io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("keel sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8600", "address to listen on (keep it on loopback: the /sim/ admin API answers loopback clients only)")
	dialect := fs.String("dialect", sim.DialectBinance, fmt.Sprintf("exchange API to serve: one of %v", sim.Dialects()))
	seed := fs.Int64("seed", 1, "seed of the price walks, generated ids and fault draws")
	scale := sim.TimeScaleFlag(1)
	fs.Var(&scale, "time-scale", "run limit windows, Retry-After, bans and prices this many times faster (60: a minute lasts a second)")
	apiKey := fs.String("api-key", sim.DefaultAPIKey, "API key of the simulated account (X-MBX-APIKEY)")
	apiSecret := fs.String("api-secret", sim.DefaultAPISecret, "HMAC-SHA256 secret of the account; empty with --ed25519-public-key-file for an Ed25519-only account")
	replay := fs.String("replay", "", "CSV of candles in Binance's kline format (data.binance.vision) whose prices the symbol replays instead of the random walk")
	replaySymbol := fs.String("replay-symbol", "BTCUSDT", "the symbol --replay drives (one the simulator lists: BTCUSDT, ETHUSDT, DOGEUSDT)")
	edFile := fs.String("ed25519-public-key-file", "", "PEM file (PUBLIC KEY, PKIX) with the account's Ed25519 public key; signatures by either key are accepted")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: keel sim [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Serves an exchange's REST API (--dialect; Binance Spot's /api/v3/... by default) for")
		fmt.Fprintln(stderr, "one funded account, with the admin API under /sim/ (stats, orders, faults, keys, bans,")
		fmt.Fprintln(stderr, "clock, prices).")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if err := sim.ValidateDialect(*dialect); err != nil {
		return usageError{fmt.Errorf("--dialect: %w", err)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	log := zerolog.New(stderr).With().Timestamp().Str("component", "sim").Logger()
	cfg := sim.Config{Dialect: *dialect, Seed: *seed, TimeScale: float64(scale), APIKey: *apiKey, APISecret: *apiSecret, Logger: &log}
	if *edFile != "" {
		pub, err := readEd25519PublicKey(*edFile)
		if err != nil {
			return usageError{fmt.Errorf("--ed25519-public-key-file: %w", err)}
		}
		cfg.Ed25519PublicKey = pub
	}
	if *replay != "" {
		f, err := os.Open(*replay)
		if err != nil {
			return usageError{fmt.Errorf("--replay: %w", err)}
		}
		cs, iv, err := adapters.ReadKlineCSV(f, *replaySymbol, 0)
		f.Close()
		if err != nil {
			return usageError{fmt.Errorf("--replay %s: %w", *replay, err)}
		}
		cfg.Replay = []sim.Replay{{Symbol: *replaySymbol, Candles: cs}}
		log.Info().Str("file", *replay).Str("symbol", *replaySymbol).Int("candles", len(cs)).Str("interval", string(iv)).
			Time("from", cs[0].OpenTime).Msg("replaying candles: the file's first candle opens now")
	}
	s, err := sim.New(cfg)
	if err != nil {
		if *replay != "" {
			return usageError{fmt.Errorf("--replay-symbol: %w", err)}
		}
		return err
	}
	if err := s.Listen(*listen); err != nil {
		return err
	}
	log.Info().Str("addr", s.Addr().String()).Str("url", s.URL()).Str("dialect", *dialect).Int64("seed", *seed).
		Float64("time_scale", float64(scale)).Msg("keel sim ready")
	if ready != nil {
		ready <- s.URL()
	}
	<-ctx.Done()
	err = s.Close()
	log.Info().Msg("keel sim stopped")
	return err
}

// readEd25519PublicKey reads a PEM "PUBLIC KEY" (PKIX) Ed25519 key, as Binance asks users to
// upload it.
func readEd25519PublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("not an Ed25519 key (%T)", k)
	}
	return pub, nil
}
