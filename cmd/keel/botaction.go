package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os/user"
	"time"

	"github.com/keelbot/keel/runtime"
)

// The admin server's actions (runtime/actions.go): keel halt and resume use them when a bot
// answers and KEEL_ADMIN_TOKEN is set (the bot acts at once and says so), and the kill-switch
// file or fleet key otherwise; cancel-all and flatten need the bot.

// postAdmin sends one action to the bot and returns its status and JSON answer.
func postAdmin(ctx context.Context, target runtime.OperatorTarget, path string, body any, timeout time.Duration) (int, []byte, error) {
	url, err := runtime.AdminURL(target.Admin, path)
	if err != nil {
		return 0, nil, err
	}
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+target.AdminToken)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, answer, nil
}

// viaBot tries an action on the bot and reports whether it was done there. Without a token,
// or with no bot answering, it returns false (the caller falls back to the switch file); a
// refusal is said on stderr before falling back.
func viaBot(ctx context.Context, target runtime.OperatorTarget, path string, body any, timeout time.Duration, stdout, stderr io.Writer) bool {
	if target.Admin == "" || target.AdminToken == "" {
		return false
	}
	if !runtime.ProbeAdmin(ctx, target.Admin, timeout).Answers {
		return false
	}
	code, answer, err := postAdmin(ctx, target, path, body, timeout)
	if err != nil || code != http.StatusOK {
		fmt.Fprintf(stderr, "keel: the bot on %s did not take %s (%s); using the kill-switch file instead\n", target.Admin, path, answerOrErr(code, answer, err))
		return false
	}
	fmt.Fprintf(stdout, "done by the bot on %s: %s\n", target.Admin, bytes.TrimSpace(answer))
	return true
}

func answerOrErr(code int, answer []byte, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("HTTP %d %s", code, bytes.TrimSpace(answer))
}

func whoOrUser(who string) string {
	if who != "" {
		return who
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "keel cli"
}

// botActionMain runs cancel-all or flatten on the bot the config names.
func botActionMain(ctx context.Context, action string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keel "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "the bot's YAML config: its admin.listen (default configs/sim.yaml if it exists)")
	strategyName := fs.String("strategy", "", "only this strategy's orders and positions")
	symbol := fs.String("symbol", "", "only this symbol's")
	reason := fs.String("reason", "", "why (logged by the bot)")
	who := fs.String("who", "", "who (default: your user name)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the bot to finish")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: keel %s [--config bot.yaml] [--strategy name] [--symbol SYMBOL]\n\nNeeds a running bot and KEEL_ADMIN_TOKEN (the bot's admin.token).\n\n", action)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	_, target, closeSwitch, err := runtime.OpenOperator(runtime.LoadOptions{Path: runtime.ConfigPath(*config)})
	if err != nil {
		return err
	}
	defer closeSwitch()
	switch {
	case target.Admin == "":
		return errors.New(action + " needs a running bot: admin.listen is empty (the admin server is off)")
	case target.AdminToken == "":
		return errors.New(action + " needs the bot's admin token: set KEEL_ADMIN_TOKEN")
	}
	if probe := runtime.ProbeAdmin(ctx, target.Admin, 2*time.Second); !probe.Answers {
		return fmt.Errorf("%s needs a running bot: %s (to stop trading without one: keel halt)", action, probe.Detail)
	}
	body := map[string]any{"who": whoOrUser(*who), "reason": *reason, "strategy": *strategyName, "symbol": *symbol}
	code, answer, err := postAdmin(ctx, target, "/"+action, body, *timeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", bytes.TrimSpace(answer))
	if code != http.StatusOK {
		return fmt.Errorf("%s: the bot answered HTTP %d", action, code)
	}
	return nil
}
