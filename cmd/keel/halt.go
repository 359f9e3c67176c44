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

	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/runtime"
)

// halt, resume and status act on the kill-switch file a running bot watches: it halts within
// its poll interval (250 ms by default) and resumes when the file goes.
func init() {
	commands["halt"] = command{summary: "halt trading (--reduce-only: only orders that reduce a position), through the bot or the kill-switch file", run: func(args []string, stderr io.Writer) error {
		return haltMain(context.Background(), args, os.Stdout, stderr)
	}}
	commands["resume"] = command{summary: "resume trading, through the bot or by deleting the kill-switch file", run: func(args []string, stderr io.Writer) error {
		return resumeMain(context.Background(), args, os.Stdout, stderr)
	}}
	commands["cancel-all"] = command{summary: "cancel a running bot's open orders (--strategy, --symbol) through its admin server", run: func(args []string, stderr io.Writer) error {
		return botActionMain(context.Background(), "cancel-all", args, os.Stdout, stderr)
	}}
	commands["flatten"] = command{summary: "cancel, then close a running bot's positions with reduce-only orders (leaves it reduce-only)", run: func(args []string, stderr io.Writer) error {
		return botActionMain(context.Background(), "flatten", args, os.Stdout, stderr)
	}}
	commands["status"] = command{summary: "show whether trading is halted, and why", run: func(args []string, stderr io.Writer) error {
		return statusMain(args, os.Stdout, stderr)
	}}
}

// switchFlags declares --config and --file. Without --file the switch is the one the bot's
// configuration names: killswitch.file from --config (default configs/sim.yaml when it exists,
// else the built-in defaults) and the KEEL_* environment, shared through Redis when store.url
// is set; --file names a kill-switch file directly.
func switchFlags(name, usage string, stderr io.Writer) (*flag.FlagSet, *switchOpts) {
	fs := flag.NewFlagSet("keel "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &switchOpts{}
	fs.StringVar(&o.config, "config", "", "the bot's YAML config: its killswitch.file, and its store.url in fleet mode (default configs/sim.yaml if it exists)")
	fs.StringVar(&o.file, "file", "", "a kill-switch file to use instead of the config's killswitch.file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: keel "+name+" "+usage)
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	return fs, o
}

type switchOpts struct{ config, file string }

// openSwitch parses args and opens the switch; close releases it. target says where the bot's
// admin server listens (zero with --file).
func openSwitch(fs *flag.FlagSet, o *switchOpts, args []string) (sw *killswitch.Switch, target runtime.OperatorTarget, close func() error, err error) {
	if err := fs.Parse(args); err != nil {
		return nil, target, nil, err
	}
	if fs.NArg() > 0 {
		return nil, target, nil, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if o.file != "" {
		if o.config != "" {
			return nil, target, nil, usageError{errors.New("--file and --config name two switches; give one")}
		}
		sw, err := killswitch.File(o.file)
		return sw, target, func() error { return nil }, err
	}
	return runtime.OpenOperator(runtime.LoadOptions{Path: runtime.ConfigPath(o.config)})
}

func haltMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, o := switchFlags("halt", `--reason "why" [flags]`, stderr)
	reason := fs.String("reason", "", "why trading is halted (required; shown in the bot's log and status)")
	who := fs.String("who", "", "who halts (default: your user name)")
	reduceOnly := fs.Bool("reduce-only", false, "halt in reduce-only mode: orders that reduce a strategy's position still go, no other")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the bot's admin server")
	sw, target, closeSwitch, err := openSwitch(fs, o, args)
	if err != nil {
		return err
	}
	defer closeSwitch()
	if *reason == "" {
		return usageError{fmt.Errorf("--reason is required")}
	}
	if halted, r := sw.Halted(); halted {
		fmt.Fprintf(stdout, "already halted: %s\n", r)
		return nil
	}
	body := map[string]any{"reason": *reason, "who": whoOrUser(*who), "reduce_only": *reduceOnly}
	if done := viaBot(ctx, target, "/halt", body, *timeout, stdout, stderr); done {
		return nil
	}
	if err := sw.Trip(ctx, killswitch.Reason{Who: *who, Why: *reason, ReduceOnly: *reduceOnly}); err != nil {
		return err
	}
	fmt.Fprintln(stdout, sw.State())
	return nil
}

func resumeMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, o := switchFlags("resume", `[--reason "why"] [flags]`, stderr)
	reason := fs.String("reason", "", "why trading resumes (recorded in fleet mode, where only a resume record lifts a halt)")
	who := fs.String("who", "", "who resumes (default: your user name)")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the bot's admin server")
	sw, target, closeSwitch, err := openSwitch(fs, o, args)
	if err != nil {
		return err
	}
	defer closeSwitch()
	if viaBot(ctx, target, "/resume", map[string]any{"reason": *reason, "who": whoOrUser(*who)}, *timeout, stdout, stderr) {
		return nil
	}
	if err := sw.ResumeWith(ctx, killswitch.Reason{Who: *who, Why: *reason}); err != nil {
		return err
	}
	fmt.Fprintln(stdout, sw.State())
	return nil
}

func statusMain(args []string, stdout, stderr io.Writer) error {
	fs, o := switchFlags("status", "[flags]", stderr)
	asJSON := fs.Bool("json", false, `print {"halted", "reason", "file", "fleet", "bot"} as JSON`)
	timeout := fs.Duration("timeout", time.Second, "how long to wait for the bot's admin server to answer GET /healthz")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var (
		sw          *killswitch.Switch
		target      runtime.OperatorTarget
		closeSwitch = func() error { return nil }
		err         error
	)
	switch {
	case fs.NArg() > 0:
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	case o.file != "" && o.config != "":
		return usageError{errors.New("--file and --config name two switches; give one")}
	case o.file != "":
		target.File = o.file
		sw, err = killswitch.File(o.file)
	default:
		sw, target, closeSwitch, err = runtime.OpenOperator(runtime.LoadOptions{Path: runtime.ConfigPath(o.config)})
	}
	if err != nil {
		return err
	}
	defer closeSwitch()
	rep := statusReport{Status: sw.State(), File: fileState{Path: target.File}}
	if _, err := os.Stat(target.File); err == nil {
		rep.File.Present = true
	}
	if target.FleetKey != "" {
		rep.Fleet = &fleetState{Store: target.Store, Key: target.FleetKey}
	}
	switch {
	case o.file != "":
		rep.Bot = botState{BotProbe: runtime.BotProbe{Detail: "not asked: --file names no admin address (give --config)"}}
	case target.Admin == "":
		rep.Bot = botState{BotProbe: runtime.BotProbe{Detail: "not asked: admin.listen is empty (the admin server is off)"}}
	default:
		rep.Bot = botState{Admin: target.Admin, BotProbe: runtime.ProbeAdmin(context.Background(), target.Admin, *timeout)}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.print(stdout)
	return nil
}

// statusReport is what `keel status` knows, each part with how it knows it.
type statusReport struct {
	killswitch.Status
	File  fileState   `json:"file"`
	Fleet *fleetState `json:"fleet,omitempty"`
	Bot   botState    `json:"bot"`
}

type fileState struct {
	Path    string `json:"path"`
	Present bool   `json:"present"`
}

type fleetState struct {
	Store string `json:"store"`
	Key   string `json:"key"`
}

type botState struct {
	Admin string `json:"admin,omitempty"`
	runtime.BotProbe
}

func (r statusReport) print(w io.Writer) {
	fmt.Fprintf(w, "kill switch: %s\n", r.Status)
	present := "absent"
	if r.File.Present {
		present = "present"
	}
	fmt.Fprintf(w, "  file %s: %s\n", r.File.Path, present)
	if r.Fleet != nil {
		fmt.Fprintf(w, "  fleet key %s in %s (a halt there halts every instance)\n", r.Fleet.Key, r.Fleet.Store)
	}
	switch {
	case r.Bot.Admin == "":
		fmt.Fprintf(w, "bot: %s\n", r.Bot.Detail)
	case r.Bot.Healthy:
		fmt.Fprintf(w, "bot: answering on %s (%s)\n", r.Bot.Admin, r.Bot.Detail)
	case r.Bot.Answers:
		fmt.Fprintf(w, "bot: answering on %s but not healthy (%s)\n", r.Bot.Admin, r.Bot.Detail)
	default:
		fmt.Fprintf(w, "bot: none answers on %s (%s)\n", r.Bot.Admin, r.Bot.Detail)
	}
}
