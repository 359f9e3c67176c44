package certify_test

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/keelbot/keel/certify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCommandRefusesBadInput: a misspelled scenario, a naive client on a dialect it does not
// speak, or a stray argument is exit code 2 with a line naming what was wrong, before any
// simulator starts.
func TestCommandRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--scenario", "retry-bust"}, `unknown scenario "retry-bust"`},
		{[]string{"--naive", "--dialect", "bybit"}, "--naive speaks the binance dialect only"},
		{[]string{"--dialect", "ftx"}, "--dialect"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		var out, errb bytes.Buffer
		if code := certify.Command(tc.args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
		if !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: stderr %q, want it to name %q", tc.args, errb.String(), tc.want)
		}
	}
}

// TestNamesInIssueOrder: the scenarios run and print in the issue's order.
func TestNamesInIssueOrder(t *testing.T) {
	got := strings.Join(certify.Names(), ",")
	if want := "retry-burst,invalid-requests,clock-drift,deploy-burst,deploy-burst-fleet,reconnect-storm,outage,hot-endpoint,waf-ban"; got != want {
		t.Fatalf("scenarios %s, want %s", got, want)
	}
}
