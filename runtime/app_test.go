package runtime_test

import (
	"context"
	"testing"

	"go.uber.org/fx"

	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

type nopStrategy struct{}

func (nopStrategy) OnEvent(ctx context.Context, ev strategy.Event) error { return nil }

func TestWiringValidates(t *testing.T) {
	err := fx.ValidateApp(
		runtime.Module,
		fx.Invoke(func(*runtime.Loop, *runtime.AdminServer) {}),
		strategy.Module("a", func(strategy.Env, struct{}) (strategy.Strategy, error) { return nopStrategy{}, nil }),
		strategy.Module("b", func(strategy.Env, struct{}) (strategy.Strategy, error) { return nopStrategy{}, nil }),
	)
	if err != nil {
		t.Fatal(err)
	}
}
