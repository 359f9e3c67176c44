package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/keelbot/keel/killswitch"
)

// halt, resume and status act on the kill-switch file a running bot watches: it halts within
// its poll interval (250 ms by default) and resumes when the file goes.
func init() {
	commands["halt"] = command{summary: "halt trading: create the kill-switch file with a reason", run: func(args []string) error {
		return haltMain(context.Background(), args, os.Stdout, os.Stderr)
	}}
	commands["resume"] = command{summary: "resume trading: delete the kill-switch file", run: func(args []string) error {
		return resumeMain(context.Background(), args, os.Stdout, os.Stderr)
	}}
	commands["status"] = command{summary: "show whether trading is halted, and why", run: func(args []string) error {
		return statusMain(args, os.Stdout, os.Stderr)
	}}
}

// switchFlags declares --file, defaulting like the runtime: KEEL_KILLSWITCH_FILE, else
// ./KILLSWITCH.
func switchFlags(name, usage string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("keel "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("KEEL_KILLSWITCH_FILE")
	if def == "" {
		def = killswitch.DefaultFile
	}
	file := fs.String("file", def, "the kill-switch file (the bot's killswitch.file; env KEEL_KILLSWITCH_FILE)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: keel "+name+" "+usage)
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	return fs, file
}

func openSwitch(fs *flag.FlagSet, file string, args []string) (*killswitch.Switch, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return killswitch.File(file)
}

func haltMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, file := switchFlags("halt", `--reason "why" [flags]`, stderr)
	reason := fs.String("reason", "", "why trading is halted (required; shown in the bot's log and status)")
	who := fs.String("who", "", "who halts (default: your user name)")
	sw, err := openSwitch(fs, *file, args)
	if err != nil {
		return err
	}
	if *reason == "" {
		return usageError{fmt.Errorf("--reason is required")}
	}
	if halted, r := sw.Halted(); halted {
		fmt.Fprintf(stdout, "already halted: %s\n", r)
		return nil
	}
	if err := sw.Trip(ctx, killswitch.Reason{Who: *who, Why: *reason}); err != nil {
		return err
	}
	fmt.Fprintln(stdout, sw.State())
	return nil
}

func resumeMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, file := switchFlags("resume", "[flags]", stderr)
	sw, err := openSwitch(fs, *file, args)
	if err != nil {
		return err
	}
	if err := sw.Resume(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, sw.State())
	return nil
}

func statusMain(args []string, stdout, stderr io.Writer) error {
	fs, file := switchFlags("status", "[flags]", stderr)
	asJSON := fs.Bool("json", false, `print {"halted": ..., "reason": {...}}`)
	sw, err := openSwitch(fs, *file, args)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sw.State())
	}
	fmt.Fprintln(stdout, sw.State())
	return nil
}
