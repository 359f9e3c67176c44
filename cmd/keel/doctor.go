package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/keelbot/keel/runtime"
)

func init() {
	commands["doctor"] = command{summary: "check a config before going live (read-only; exit 1 on any FAIL)", run: func(args []string, stderr io.Writer) error {
		return doctorMain(context.Background(), args, os.Stdout, stderr)
	}}
}

// errChecksFailed is doctor's exit 1: the report says which.
var errChecksFailed = errors.New("at least one check failed")

func doctorMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keel doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "the bot's YAML config (default configs/sim.yaml if it exists, else the built-in defaults); secrets from the KEEL_ environment as for the bot")
	asJSON := fs.Bool("json", false, "print the report as JSON (for CI)")
	timeout := fs.Duration("timeout", 5*time.Second, "bound on each call to the exchange, Redis or the admin server")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: keel doctor --config prod.yaml [--json]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Checks a configuration before it goes live: key scopes, clock, budgets, kill path, journal,")
		fmt.Fprintln(stderr, "and lists every value with its source. Read-only and safe beside a running bot.")
		fmt.Fprintln(stderr, "Exit status: 0 when nothing failed (warnings allowed), 1 on any FAIL, 2 on a bad command line.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	rep := runtime.Doctor(ctx, runtime.DoctorOptions{Load: runtime.LoadOptions{Path: runtime.ConfigPath(*config)}, Timeout: *timeout})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printDoctor(stdout, rep)
	}
	if rep.Failed() {
		return errChecksFailed
	}
	return nil
}

func printDoctor(w io.Writer, rep runtime.DoctorReport) {
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "%-4s  %-26s %s\n", c.Status, c.Name, c.Evidence)
		if c.Action != "" && c.Status != runtime.CheckOK {
			fmt.Fprintf(w, "      %-26s → %s\n", "", c.Action)
		}
	}
	if len(rep.Config) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "config (value, source):")
		for _, v := range rep.Config {
			fmt.Fprintf(w, "  %-48s %-30s %s\n", v.Key, v.Value, v.Source)
		}
	}
}
