// Command keel is Keel's operator CLI.
//
//	keel sim [flags]     run the simulated Binance Spot exchange on loopback
//	keel help [command]  show help
//
// Each subcommand is a function of its arguments registered in commands; adding one (halt,
// resume, status) is one entry.
package main

import (
	"errors"
	"flag"
	"fmt"
	_ "github.com/keelbot/keel/adapters/exchanges" // the config names one of them
	"io"
	"os"
	"sort"
)

// command is one subcommand: run gets the arguments after the subcommand's name and the
// writer for usage and errors (os.Stderr, or a test's buffer).
type command struct {
	summary string
	run     func(args []string, stderr io.Writer) error
}

// commands maps subcommand names to their implementation.
var commands = map[string]command{
	"sim": {summary: "run the simulated Binance Spot exchange", run: runSim},
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stderr))
}

// dispatch runs the subcommand named by args[0] and returns the exit code: 0 on success,
// 2 for usage errors, 1 for failures.
func dispatch(args []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				_ = c.run([]string{"-h"}, stderr)
				return 0
			}
		}
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "keel: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := c.run(args[1:], stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "keel %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(stderr, "keel %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// usageError marks a bad command line.
type usageError struct{ error }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: keel <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'keel <command> -h' for a command's flags.")
}
