// Package archtest enforces docs/architecture.md's package table: imports only point down it, and each
// package uses only the third-party libraries its row allows. A wrong arrow fails CI.
package archtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/keelbot/keel"

// rule is one row of docs/architecture.md's table. Paths are relative to the module; a rule applies to
// the package and everything below it unless a more specific rule exists.
type rule struct {
	keel       []string // keel packages (and their subpackages) it may import directly
	notKeel    []string // ... except these subtrees
	thirdParty []string // module path prefixes it may import directly; nil means any
}

var rules = map[string]rule{
	"scheduler":   {keel: []string{"scheduler", "clock", "jitter", "internal"}, thirdParty: []string{"github.com/sony/gobreaker/v2", "github.com/rs/zerolog"}},
	"idempotency": {keel: []string{"idempotency", "clock", "jitter", "internal"}, thirdParty: []string{"go.etcd.io/bbolt", "github.com/redis/go-redis/v9"}},
	"killswitch":  {keel: []string{"killswitch", "clock", "jitter", "internal"}, thirdParty: []string{"github.com/rs/zerolog", "github.com/redis/go-redis/v9"}},
	"adapters": {keel: []string{"adapters", "scheduler", "clock", "jitter", "internal"}, thirdParty: []string{
		"github.com/shopspring/decimal", "github.com/coder/websocket", "github.com/rs/zerolog", "golang.org/x/sync",
	}},
	"orders": {keel: []string{"orders", "adapters", "idempotency", "scheduler", "clock", "jitter", "internal"}, thirdParty: []string{
		"github.com/shopspring/decimal", "github.com/rs/zerolog",
	}},
	// ledger books fills into positions and PnL: plain data over decimals, so strategy can
	// re-export its types and runtime feed it.
	"ledger": {keel: []string{"ledger", "clock", "jitter", "internal"}, thirdParty: []string{"github.com/shopspring/decimal"}},
	// notify pages a human over plain HTTP: the standard library only.
	"notify": {keel: []string{"notify", "clock", "jitter", "internal"}, thirdParty: []string{}},
	// strategy re-exports the errors of orders, scheduler and killswitch a strategy handles,
	// so that a strategy imports strategy and adapters only (see examples_test.go).
	"strategy": {keel: []string{"strategy", "adapters", "ledger", "orders", "scheduler", "killswitch", "clock", "jitter", "internal"}, thirdParty: []string{
		"github.com/shopspring/decimal", "go.uber.org/fx", "github.com/rs/zerolog",
	}},
	// runtime is the composition root over the exchange contract: it builds whatever
	// exchange.name names from the registry and links no exchange itself.
	"runtime": {keel: []string{"clock", "jitter", "scheduler", "idempotency", "killswitch", "adapters", "ledger", "notify", "orders", "strategy", "internal", "configs"},
		notKeel: []string{"adapters/binance", "adapters/bybit", "adapters/kraken", "adapters/coinbase", "adapters/sim", "adapters/exchanges"}},
	// certify composes the runtime with the simulator to put a bot through incidents.
	"certify": {keel: []string{""}},
	// backtest composes the strategies, the orders manager, the Binance adapter and the
	// simulator on simulated time.
	"backtest": {keel: []string{""}, notKeel: []string{"examples", "cmd"}},
	"examples": {keel: []string{""}},
	"cmd":      {keel: []string{""}},
	// internal packages serve everyone, so they may import no public keel package.
	"internal": {keel: []string{"internal", "clock", "jitter"}},
	// clock and jitter are the floor: time and the randomness of waits for everyone, importing
	// nothing of keel's (not even each other) and nothing third-party.
	"clock":  {keel: []string{"clock"}, thirdParty: []string{}},
	"jitter": {keel: []string{"jitter"}, thirdParty: []string{}},
	// internal/fleet implements the seams of scheduler, killswitch and idempotency on Redis.
	"internal/fleet": {keel: []string{"scheduler", "killswitch", "idempotency", "clock", "jitter", "internal"}, thirdParty: []string{
		"github.com/redis/go-redis/v9", "github.com/rs/zerolog",
	}},
	// configs embeds YAML; it imports nothing.
	"configs": {keel: []string{}, thirdParty: []string{}},
}

// pkg is a package as `go list -json` describes it.
type pkg struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Module     *struct{ Path string }
}

func TestImportDirection(t *testing.T) {
	touchSources(t)
	ours, std := listPackages(t)
	for _, v := range violations(ours, std) {
		t.Error(v)
	}
}

// listPackages returns the module's packages and the set of standard-library packages they
// depend on, from `go list -deps`.
func listPackages(t *testing.T) ([]pkg, map[string]bool) {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	std := map[string]bool{}
	var ours []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Standard {
			std[p.ImportPath] = true
		}
		if p.ImportPath == module || strings.HasPrefix(p.ImportPath, module+"/") {
			ours = append(ours, p)
		}
	}
	if len(ours) == 0 {
		t.Fatal("go list found no keel packages")
	}
	return ours, std
}

// violations checks keel packages against rules and describes each package without a row,
// each import of a keel package against docs/architecture.md's arrows, and each third-party import its
// row does not allow. std names the standard library's packages; a path whose first element
// has no dot is taken for one too.
func violations(ours []pkg, std map[string]bool) []string {
	var out []string
	for _, p := range ours {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		r, ok := ruleFor(rel)
		if !ok {
			out = append(out, fmt.Sprintf("%s: no row in docs/architecture.md's package table; add one to archtest", rel))
			continue
		}
		for _, imp := range p.Imports {
			switch {
			case std[imp] || !strings.Contains(strings.SplitN(imp, "/", 2)[0], "."):
				continue
			case imp == module || strings.HasPrefix(imp, module+"/"):
				target := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
				if !under(target, r.keel) || under(target, r.notKeel) {
					out = append(out, fmt.Sprintf("%s imports %s: against docs/architecture.md's arrows (allowed: %v)", rel, target, r.keel))
				}
			case r.thirdParty != nil && !under(imp, r.thirdParty):
				out = append(out, fmt.Sprintf("%s imports %s: not a dependency its row allows (%v)", rel, imp, r.thirdParty))
			}
		}
	}
	return out
}

// TestWrongArrowsFail feeds the checker synthetic packages: each wrong arrow, each
// third-party import outside its row and each package without a row is reported; the arrows
// docs/architecture.md allows are not.
func TestWrongArrowsFail(t *testing.T) {
	std := map[string]bool{"fmt": true, "time": true}
	tests := []struct {
		pkg     string // relative to the module
		imports []string
		want    string // the violation reported, "" for none
	}{
		{"scheduler", []string{"fmt", "github.com/sony/gobreaker/v2", "github.com/rs/zerolog", module + "/clock"}, ""},
		{"scheduler", []string{module + "/adapters"}, "scheduler imports adapters: against docs/architecture.md's arrows"},
		{"scheduler", []string{module + "/killswitch"}, "scheduler imports killswitch: against docs/architecture.md's arrows"},
		{"scheduler", []string{"github.com/redis/go-redis/v9"}, "scheduler imports github.com/redis/go-redis/v9: not a dependency its row allows"},
		{"adapters", []string{module + "/scheduler", "github.com/shopspring/decimal"}, ""},
		{"adapters", []string{module + "/orders"}, "adapters imports orders: against docs/architecture.md's arrows"},
		{"adapters/binance", []string{module + "/orders"}, "adapters/binance imports orders: against docs/architecture.md's arrows"},
		{"orders", []string{module + "/adapters", module + "/idempotency", module + "/scheduler"}, ""},
		{"orders", []string{"go.uber.org/fx"}, "orders imports go.uber.org/fx: not a dependency its row allows"},
		{"strategy", []string{module + "/runtime"}, "strategy imports runtime: against docs/architecture.md's arrows"},
		{"strategy", []string{module + "/ledger"}, ""},
		{"ledger", []string{module + "/adapters"}, "ledger imports adapters: against docs/architecture.md's arrows"},
		{"clock", []string{module + "/scheduler"}, "clock imports scheduler: against docs/architecture.md's arrows"},
		{"scheduler", []string{module + "/clock", module + "/jitter"}, ""},
		{"adapters/stream", []string{module + "/jitter"}, ""},
		{"jitter", []string{"time"}, ""},
		{"jitter", []string{module + "/clock"}, "jitter imports clock: against docs/architecture.md's arrows"},
		{"jitter", []string{"golang.org/x/exp/rand"}, "jitter imports golang.org/x/exp/rand: not a dependency its row allows"},
		{"configs", []string{"gopkg.in/yaml.v3"}, "configs imports gopkg.in/yaml.v3: not a dependency its row allows"},
		{"examples/marketmaker", []string{module + "/runtime", "go.uber.org/fx"}, ""},
		{"cmd/keel", []string{module + "/runtime"}, ""},
		{"metrics", []string{"fmt"}, "metrics: no row in docs/architecture.md's package table"},
	}
	for _, tt := range tests {
		t.Run(tt.pkg+" "+strings.Join(tt.imports, ","), func(t *testing.T) {
			got := violations([]pkg{{ImportPath: module + "/" + tt.pkg, Imports: tt.imports}}, std)
			switch {
			case tt.want == "" && len(got) != 0:
				t.Fatalf("violations %q, want none", got)
			case tt.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0], tt.want)):
				t.Fatalf("violations %q, want one starting %q", got, tt.want)
			}
		})
	}
}

// ruleFor finds the most specific rule for a package path.
func ruleFor(rel string) (rule, bool) {
	for p := rel; ; {
		if r, ok := rules[p]; ok {
			return r, true
		}
		i := strings.LastIndex(p, "/")
		if i < 0 {
			return rule{}, false
		}
		p = p[:i]
	}
}

func under(path string, prefixes []string) bool {
	for _, pre := range prefixes {
		if pre == "" || path == pre || strings.HasPrefix(path, pre+"/") {
			return true
		}
	}
	return false
}

// touchSources reads every Go file of the module so that go test's cache, which tracks the
// files a test opens, reruns this test whenever an import may have changed.
func touchSources(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".go") || d.Name() == "go.mod") {
			_, err = os.ReadFile(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
