package main

import (
	"errors"
	"io"
	"os"

	"github.com/keelbot/keel/backtest"
	"github.com/keelbot/keel/examples/macross/crossover"
	"github.com/keelbot/keel/strategy"
)

func init() {
	commands["backtest"] = command{summary: "replay recorded candles through a strategy on simulated time", run: runBacktest}
}

// errBacktestFailed: the backtest could not run; its error is already printed.
var errBacktestFailed = errors.New("backtest failed")

// runBacktest is `keel backtest`: keel links one strategy, the moving-average crossover of
// examples/macross (strategies.macross in the config), so a first run shows a report; a bot
// backtests its own strategies with its own binary (`mybot backtest`, see package backtest).
func runBacktest(args []string, stderr io.Writer) error {
	return backtestMain(args, os.Stdout, stderr)
}

func backtestMain(args []string, stdout, stderr io.Writer) error {
	switch backtest.Command(args, stdout, stderr, strategy.Module("macross", crossover.New)) {
	case 0:
		return nil
	case 2:
		return usageError{errors.New("see keel backtest -h")}
	default:
		return errBacktestFailed
	}
}
