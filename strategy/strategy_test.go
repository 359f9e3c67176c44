package strategy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/keelbot/keel/strategy"
)

type cfg struct {
	Symbol string `koanf:"symbol"`
}

func (c *cfg) Validate() error {
	if c.Symbol == "" {
		return errors.New("symbol: required")
	}
	return nil
}

type section map[string]string

func (s section) Decode(into any) error {
	into.(*cfg).Symbol = s["symbol"]
	return nil
}

type nop struct{}

func (nop) OnEvent(context.Context, strategy.Event) error { return nil }

func collect(t *testing.T, opts ...fx.Option) []strategy.Definition {
	t.Helper()
	var defs []strategy.Definition
	app := fxtest.New(t, append(opts, fx.Invoke(fx.Annotate(func(d []strategy.Definition) { defs = d }, fx.ParamTags(strategy.GroupTag))))...)
	app.RequireStart().RequireStop()
	return defs
}

func TestModuleContributesANamedDefinition(t *testing.T) {
	var got cfg
	defs := collect(t,
		strategy.Module("alpha", func(env strategy.Env, c cfg) (strategy.Strategy, error) { got = c; return nop{}, nil }),
		strategy.Module("beta", func(env strategy.Env, c cfg) (strategy.Strategy, error) { return nop{}, nil }),
	)
	if len(defs) != 2 {
		t.Fatalf("got %d definitions", len(defs))
	}
	var alpha strategy.Definition
	for _, d := range defs {
		if d.Name == "alpha" {
			alpha = d
		}
	}
	if _, err := alpha.New(strategy.Env{Name: "alpha", Config: section{"symbol": "BTCUSDT"}}); err != nil {
		t.Fatal(err)
	}
	if got.Symbol != "BTCUSDT" {
		t.Fatalf("config not decoded: %+v", got)
	}
	// The config's Validate runs before the constructor and its error names the strategy.
	_, err := alpha.New(strategy.Env{Name: "alpha", Config: section{}})
	if err == nil || !strings.Contains(err.Error(), "strategy alpha") || !strings.Contains(err.Error(), "symbol") {
		t.Fatalf("err = %v", err)
	}
}

func TestModuleRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", "Has Space", "UPPER", strings.Repeat("a", 33), "../x"} {
		err := fx.ValidateApp(strategy.Module(name, func(strategy.Env, cfg) (strategy.Strategy, error) { return nop{}, nil }))
		if err == nil || !strings.Contains(err.Error(), "strategy: name") {
			t.Errorf("name %q: err = %v", name, err)
		}
	}
}
