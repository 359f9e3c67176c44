package main

import (
	"context"
	"testing"

	"github.com/keelbot/keel/certify"
	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/strategy"
)

// TestCertifyMarketMaker is CI's certification of the example: it runs every implemented
// keel certify scenario, with the naive client beside it, as `go run ./examples/marketmaker
// certify --naive` would, and requires the bot to pass each while the naive client is banned
// or locked out in retry-burst, clock-drift, deploy-burst and waf-ban (README "Certifying a bot").
func TestCertifyMarketMaker(t *testing.T) {
	o := certify.Options{Naive: true, StoreURL: fleettest.OptionalURL(t, "deploy-burst-fleet is skipped")}
	checkCertified(t, o)
}

func checkCertified(t *testing.T, o certify.Options) {
	t.Helper()
	rep, err := certify.Run(context.Background(), o, strategy.Module("marketmaker", New))
	if err != nil {
		t.Fatal(err)
	}
	lockedOut := map[string]bool{}
	for _, r := range rep.Rows {
		t.Logf("%+v", r)
		switch {
		case r.Error != "":
			t.Errorf("%s (%s): %s", r.Scenario, r.Client, r.Error)
		case r.Client == "keel" && !r.Pass:
			t.Errorf("%s: the bot failed: %s", r.Scenario, r.Why)
		case r.Client == "keel" && !r.Skipped && r.Answer == "no lines":
			t.Errorf("%s: the operator's query %s finds nothing in the bot's log", r.Scenario, r.Query)
		case r.Client == "naive" && !r.Pass:
			lockedOut[r.Scenario] = true
		}
	}
	for _, s := range []string{"retry-burst", "clock-drift", "deploy-burst", "waf-ban"} {
		if !lockedOut[s] {
			t.Errorf("%s: the naive client was neither banned nor locked out", s)
		}
	}
}
