package main

import (
	"context"
	"testing"

	"github.com/keelbot/keel/certify"
	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/strategy"
)

// TestCertifyTight: the tutorial bot, with its config, passes every keel certify scenario, as
// `go run ./examples/tight certify --config examples/tight/tight.yaml` runs them (the naive
// client's rows and the operator's queries are the market maker's test's business: this bot
// places an order only when the spread is tight, so a query about its orders may rightly find
// nothing).
func TestCertifyTight(t *testing.T) {
	o := certify.Options{Config: "tight.yaml", StoreURL: fleettest.OptionalURL(t, "deploy-burst-fleet is skipped")}
	rep, err := certify.Run(context.Background(), o, strategy.Module("tight", New))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		switch {
		case r.Error != "":
			t.Errorf("%s: %s", r.Scenario, r.Error)
		case !r.Pass:
			t.Errorf("%s: the bot failed: %s", r.Scenario, r.Why)
		}
	}
}
