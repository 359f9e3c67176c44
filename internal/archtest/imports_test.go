// Package archtest enforces DESIGN.md's package table: imports only point down it, and each
// package uses only the third-party libraries its row allows. A wrong arrow fails CI.
package archtest

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/keelbot/keel"

// rule is one row of DESIGN.md's table. Paths are relative to the module; a rule applies to
// the package and everything below it unless a more specific rule exists.
type rule struct {
	keel       []string // keel packages (and their subpackages) it may import directly
	thirdParty []string // module path prefixes it may import directly; nil means any
}

var rules = map[string]rule{
	"scheduler":   {keel: []string{"scheduler", "internal"}, thirdParty: []string{"github.com/sony/gobreaker/v2", "github.com/rs/zerolog"}},
	"idempotency": {keel: []string{"idempotency", "internal"}, thirdParty: []string{"go.etcd.io/bbolt", "github.com/redis/go-redis/v9"}},
	"killswitch":  {keel: []string{"killswitch", "internal"}, thirdParty: []string{"github.com/rs/zerolog", "github.com/redis/go-redis/v9"}},
	"adapters": {keel: []string{"adapters", "scheduler", "internal"}, thirdParty: []string{
		"github.com/shopspring/decimal", "github.com/coder/websocket", "github.com/rs/zerolog", "golang.org/x/sync",
	}},
	"orders": {keel: []string{"orders", "adapters", "idempotency", "scheduler", "internal"}, thirdParty: []string{
		"github.com/shopspring/decimal", "github.com/rs/zerolog",
	}},
	"strategy": {keel: []string{"strategy", "adapters", "orders", "scheduler", "internal"}, thirdParty: []string{
		"github.com/shopspring/decimal", "go.uber.org/fx", "github.com/rs/zerolog",
	}},
	"runtime":  {keel: []string{""}},
	"examples": {keel: []string{""}},
	"cmd":      {keel: []string{""}},
	// internal packages serve everyone, so they may import no public keel package.
	"internal": {keel: []string{"internal"}},
	// internal/fleet implements the seams of scheduler, killswitch and idempotency on Redis.
	"internal/fleet": {keel: []string{"scheduler", "killswitch", "idempotency", "internal"}, thirdParty: []string{
		"github.com/redis/go-redis/v9", "github.com/rs/zerolog",
	}},
	// configs embeds YAML; it imports nothing.
	"configs": {keel: []string{}, thirdParty: []string{}},
}

type pkg struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Module     *struct{ Path string }
}

func TestImportDirection(t *testing.T) {
	touchSources(t)
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
	for _, p := range ours {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		r, ok := ruleFor(rel)
		if !ok {
			t.Errorf("%s: no row in DESIGN.md's package table; add one to archtest", rel)
			continue
		}
		for _, imp := range p.Imports {
			switch {
			case std[imp] || !strings.Contains(strings.SplitN(imp, "/", 2)[0], "."):
				continue
			case imp == module || strings.HasPrefix(imp, module+"/"):
				target := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
				if !under(target, r.keel) {
					t.Errorf("%s imports %s: against DESIGN.md's arrows (allowed: %v)", rel, target, r.keel)
				}
			case r.thirdParty != nil && !under(imp, r.thirdParty):
				t.Errorf("%s imports %s: not a dependency its row allows (%v)", rel, imp, r.thirdParty)
			}
		}
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
