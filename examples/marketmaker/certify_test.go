package main

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/keelbot/keel/certify"
	"github.com/keelbot/keel/strategy"
)

// TestCertifyMarketMaker is CI's certification of the example: it runs every implemented
// keel certify scenario, with the naive client beside it, as `go run ./examples/marketmaker
// certify --naive` would, and requires the bot to pass each while the naive client is banned
// or locked out where the issue says it must be.
func TestCertifyMarketMaker(t *testing.T) {
	o := certify.Options{Naive: true}
	// deploy-burst-fleet needs the fleet's Redis: required in CI, skipped with a note here.
	if c, err := net.DialTimeout("tcp", redisAddr, time.Second); err == nil {
		c.Close()
		o.StoreURL = "redis://" + redisAddr + "/0"
	} else if os.Getenv("CI") == "true" {
		t.Fatalf("deploy-burst-fleet needs Redis at %s (%v); .ci/run starts one", redisAddr, err)
	} else {
		t.Logf("no Redis at %s: deploy-burst-fleet is skipped", redisAddr)
	}
	checkCertified(t, o)
}

const redisAddr = "127.0.0.1:6379"

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
		case r.Client == "keel" && r.Answer == "no lines":
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
