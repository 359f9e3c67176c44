package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/keelbot/keel/certify"
)

// TestKeelCertifyJSON runs `keel certify --scenario outage --json` as CI would: the runtime
// alone passes, the JSON report says so, and it carries the operator's query and answer.
func TestKeelCertifyJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if err := certifyMain([]string{"--scenario", "outage", "--json"}, &out, &errb); err != nil {
		t.Fatalf("keel certify: %v\n%s%s", err, out.String(), errb.String())
	}
	var rep certify.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if !rep.Pass || len(rep.Rows) != 1 || rep.Rows[0].Scenario != "outage" || rep.Rows[0].Query == "" {
		t.Fatalf("report %+v, want one passing outage row with its query", rep)
	}
}

// TestKeelCertifyUnknownScenario: exit code 2 (usage) for a scenario that does not exist.
func TestKeelCertifyUnknownScenario(t *testing.T) {
	var errb bytes.Buffer
	if code := dispatch([]string{"certify", "--scenario", "nope"}, &errb); code != 2 {
		t.Fatalf("exit %d, want 2; stderr %s", code, errb.String())
	}
}
