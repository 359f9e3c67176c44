package backtest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/fx"
)

// Requested says whether args (os.Args) ask for a backtest: its first argument is "backtest".
func Requested(args []string) bool { return len(args) > 1 && args[1] == "backtest" }

// Command runs a backtest from its arguments (after "backtest") with the bot's modules and
// returns the exit code: 0 done, 1 the backtest failed, 2 bad usage.
func Command(args []string, stdout, stderr io.Writer, modules ...fx.Option) int {
	fs := flag.NewFlagSet("backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := fs.String("config", "", "the bot's YAML config, with a backtest: section naming the candle file")
	file := fs.String("file", "", "CSV of candles in Binance's kline format (default: backtest.file)")
	trades := fs.String("trades", "", "CSV of trades in Binance's trades format: they drive the fills (default: backtest.trades)")
	from := fs.String("from", "", "trade from the candle opening at this time (RFC 3339 or 2006-01-02; default: the file's first)")
	to := fs.String("to", "", "trade on candles opening before this time (default: to the file's end)")
	seed := fs.Int64("seed", 1, "seed of the scheduler's jitter and the simulator")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	logs := fs.Bool("logs", false, "print the bot's log lines on stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: backtest --config bt.yaml [--from T] [--to T] [--file F] [--trades F] [--seed N] [--json]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Replays recorded candles through the bot's strategies, orders manager and the Binance")
		fmt.Fprintln(stderr, "adapter against the simulator on simulated time, and reports PnL, fees, fills, drawdown")
		fmt.Fprintln(stderr, "and the request budget the strategy would have used live.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "backtest: unexpected arguments %q\n", fs.Args())
		return 2
	}
	o := Options{Config: *cfg, File: *file, Trades: *trades, Seed: *seed, Environ: os.Environ()}
	var err error
	if o.From, err = parseTime(*from); err != nil {
		fmt.Fprintf(stderr, "backtest: --from: %v\n", err)
		return 2
	}
	if o.To, err = parseTime(*to); err != nil {
		fmt.Fprintf(stderr, "backtest: --to: %v\n", err)
		return 2
	}
	if !o.From.IsZero() && !o.To.IsZero() && !o.To.After(o.From) {
		fmt.Fprintf(stderr, "backtest: --to %s is not after --from %s\n", *to, *from)
		return 2
	}
	if *logs {
		o.Log = stderr
	}
	rep, err := Run(context.Background(), o, modules...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		Print(stdout, rep)
	}
	return 0
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("want RFC 3339 (2024-05-04T06:00:00Z) or a date (2024-05-04), got %q", s)
}

// Print writes the report for a person.
func Print(w io.Writer, r Report) {
	fmt.Fprintf(w, "backtest %s %s: %d candles, %s to %s (%s, %.0f candles/s)\n", r.Symbol, r.Interval, r.Candles,
		r.From.Format(time.RFC3339), r.To.Add(time.Millisecond).Format(time.RFC3339), r.Elapsed.Round(time.Millisecond),
		float64(r.Candles)/max(r.Elapsed.Seconds(), 1e-9))
	if r.FillSource == "trades" {
		fmt.Fprintf(w, "fills driven by the trades file (%d trades)\n", r.TradesReplayed)
	} else {
		fmt.Fprintln(w, "fills driven by the candles (four trades each: open, low, high, close)")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "PnL\t%s %s (%s%%): %s -> %s\n", r.PnL, r.Quote, r.PnLPercent, r.StartValue, r.EndValue)
	fmt.Fprintf(tw, "fees\t%s %s\n", r.Fees, r.Quote)
	fmt.Fprintf(tw, "fills\t%d\n", r.Fills)
	fmt.Fprintf(tw, "orders sent\t%d (rejected by the exchange %d, refused before sending %d, open at the end %d)\n",
		r.OrdersSent, r.OrdersRejected, r.OrdersRefused, r.OpenOrders)
	fmt.Fprintf(tw, "max drawdown\t%s %s (%s%%)\n", r.MaxDrawdown, r.Quote, r.MaxDrawdownPercent)
	var bal []string
	for _, a := range []string{strings.TrimSuffix(r.Symbol, r.Quote), r.Quote} {
		bal = append(bal, r.Balances[a]+" "+a)
	}
	fmt.Fprintf(tw, "end balances\t%s\n", strings.Join(bal, ", "))
	if r.StrategyErrors > 0 {
		fmt.Fprintf(tw, "strategy errors\t%d (see --logs)\n", r.StrategyErrors)
	}
	tw.Flush()
	fmt.Fprintln(w, "request budget (Binance's limits, fixed windows):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "window\tlimit\tsafe (Keel holds past it)\tpeak used\twindows over safe\twindows over limit")
	for _, u := range r.Budget {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", u.Window, u.Limit, u.Safe, u.Peak, u.OverSafe, u.OverLimit)
	}
	tw.Flush()
	if r.WouldHitLimit {
		fmt.Fprintln(w, "would hit a rate limit live: YES (429s, then IP bans) — see the windows over limit")
	} else {
		fmt.Fprintln(w, "would hit a rate limit live: no")
	}
}
