package configs

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"
)

// TestAlertRulesLoad checks configs/alerts.yaml with Prometheus's own checker when it is
// installed (Debian and Ubuntu: apt-get install prometheus), and says how to run it when not.
func TestAlertRulesLoad(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus); configs/alerts.yaml not checked by it")
	}
	out, err := exec.Command(promtool, "check", "rules", "alerts.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules alerts.yaml: %v\n%s", err, out)
	}
}

// TestDashboardIsGrafanaJSON: configs/grafana/keel.json parses, and every panel queries
// something.
func TestDashboardIsGrafanaJSON(t *testing.T) {
	b, err := os.ReadFile("grafana/keel.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string
		UID    string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/keel.json: %v", err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard %q has no uid or no panels", d.Title)
	}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 || p.Targets[0].Expr == "" {
			t.Errorf("panel %q queries nothing", p.Title)
		}
	}
}
