package archtest

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A strategy in examples/ is what users copy, so it shows the whole surface a strategy needs:
// strategy, and adapters for the exchange's types (sides, orders, balances). Nothing else of
// Keel's: an error to handle or a type to name that lives elsewhere is a gap in strategy's
// re-exports, not a reason to reach into orders, scheduler or killswitch. A main.go also
// wires the bot: runtime, and the exchange packages it links (adapters/exchanges, or one
// exchange or the simulator, which register themselves). Test files may use anything.
var (
	strategyFileMay = []string{"strategy", "adapters"}
	mainFileMay     = []string{"runtime", "certify", "backtest"}
	mainFileMayTree = []string{"adapters"}
)

// exampleViolations describes each of Keel's packages that an example file imports and may
// not. file is the path relative to the module; imports are import paths.
func exampleViolations(file string, imports []string) []string {
	isMain := filepath.Base(file) == "main.go"
	var out []string
	for _, imp := range imports {
		if imp != module && !strings.HasPrefix(imp, module+"/") {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
		switch {
		case slices.Contains(strategyFileMay, rel):
		case under(rel, []string{"examples"}): // the example's own strategy package, itself checked here
		case isMain && (slices.Contains(mainFileMay, rel) || under(rel, mainFileMayTree)):
		case isMain:
			out = append(out, fmt.Sprintf("%s imports %s: a main.go imports only strategy, adapters, runtime and exchange packages (adapters/...) of Keel's",
				file, rel))
		default:
			out = append(out, fmt.Sprintf("%s imports %s: a strategy imports only strategy and adapters of Keel's; re-export what it needs from strategy",
				file, rel))
		}
	}
	return out
}

// TestExampleStrategiesImportOnlyStrategyAndAdapters checks every non-test Go file under
// examples/.
func TestExampleStrategiesImportOnlyStrategyAndAdapters(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(filepath.Join(root, "examples"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		var imports []string
		for _, spec := range f.Imports {
			p, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return fmt.Errorf("%s: import %s: %w", path, spec.Path.Value, err)
			}
			imports = append(imports, p)
		}
		rel, _ := filepath.Rel(root, path)
		for _, v := range exampleViolations(filepath.ToSlash(rel), imports) {
			t.Error(v)
		}
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 { // marketmaker.go, marketmaker's main.go, tight's main.go
		t.Fatalf("checked %d example files, want at least 3: is examples/ where this test looks?", files)
	}
}

// TestExampleViolationsAreReported feeds the checker synthetic files.
func TestExampleViolationsAreReported(t *testing.T) {
	tests := []struct {
		file    string
		imports []string
		want    string // the package reported, "" for none
	}{
		{"examples/mm/mm.go", []string{"context", "github.com/shopspring/decimal", module + "/strategy", module + "/adapters"}, ""},
		{"examples/mm/mm.go", []string{module + "/strategy", module + "/killswitch"}, "killswitch"},
		{"examples/mm/mm.go", []string{module + "/scheduler"}, "scheduler"},
		{"examples/mm/mm.go", []string{module + "/orders"}, "orders"},
		{"examples/mm/mm.go", []string{module + "/adapters/sim"}, "adapters/sim"},
		{"examples/mm/mm.go", []string{module + "/runtime"}, "runtime"},
		{"examples/mm/main.go", []string{module + "/runtime", module + "/strategy", module + "/adapters/exchanges"}, ""},
		{"examples/mm/main.go", []string{module + "/adapters/binance"}, ""},
		{"examples/mm/main.go", []string{module + "/idempotency"}, "idempotency"},
		{"examples/mm/main.go", []string{module + "/examples/mm/quoting"}, ""},
		{"examples/mm/main.go", []string{module + "/internal/syncbuf"}, "internal/syncbuf"},
	}
	for _, tt := range tests {
		t.Run(tt.file+" "+strings.Join(tt.imports, ","), func(t *testing.T) {
			got := exampleViolations(tt.file, tt.imports)
			switch {
			case tt.want == "" && len(got) != 0:
				t.Fatalf("violations %q, want none", got)
			case tt.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0], tt.file+" imports "+tt.want+":")):
				t.Fatalf("violations %q, want one for %s", got, tt.want)
			}
		})
	}
}
