package strategy_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/scheduler"
	"github.com/keelbot/keel/strategy"
)

// TestErrorsMatchWhatTheRuntimeReturns: each error a strategy handles through the strategy
// package matches the error the runtime's packages actually return, as they return it
// (typed, wrapped), and the two names match each other both ways.
func TestErrorsMatchWhatTheRuntimeReturns(t *testing.T) {
	halted := &killswitch.HaltedError{Reason: killswitch.Reason{Why: "test"}}
	_, invalid := orders.Prepare(strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Market,
		Quantity: decimal.RequireFromString("1"), Price: decimal.RequireFromString("1")},
		adapters.SymbolInfo{Symbol: "BTCUSDT", Status: "TRADING"}, "")
	tests := []struct {
		name     string
		returned error // as the runtime returns it
		exported error // strategy's name
		own      error // the owning package's name
	}{
		{"halted by the runtime's check", halted, strategy.ErrHalted, killswitch.ErrHalted},
		{"halted at the scheduler's gate", &scheduler.GateClosedError{Err: halted}, strategy.ErrHalted, killswitch.ErrHalted},
		{"placement outcome unknown", &orders.UnknownOutcomeError{ClientOrderID: "k", Symbol: "BTCUSDT", Err: errors.New("timeout")},
			strategy.ErrUnknownOutcome, scheduler.ErrUnknownOutcome},
		{"unknown class from the scheduler", &scheduler.Error{Class: scheduler.ClassUnknown}, strategy.ErrUnknownOutcome, scheduler.ErrUnknownOutcome},
		{"shed", fmt.Errorf("binance: exchange info: %w", scheduler.ErrShed), strategy.ErrShed, scheduler.ErrShed},
		{"invalid intent", invalid, strategy.ErrInvalidIntent, orders.ErrInvalidIntent},
		{"cancel of a filled order", fmt.Errorf("orders: cancel k on BTCUSDT: already filled: %w", orders.ErrNotOpen), strategy.ErrNotOpen, orders.ErrNotOpen},
		{"never placed", fmt.Errorf("settled: %w", orders.ErrNotPlaced), strategy.ErrNotPlaced, orders.ErrNotPlaced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.returned, tt.exported) || !errors.Is(tt.returned, tt.own) {
				t.Fatalf("%v: matches strategy's %v: %t, its own package's %v: %t; want both",
					tt.returned, tt.exported, errors.Is(tt.returned, tt.exported), tt.own, errors.Is(tt.returned, tt.own))
			}
			if !errors.Is(tt.exported, tt.own) || !errors.Is(tt.own, tt.exported) {
				t.Fatalf("strategy's %v and %v are not the same error", tt.exported, tt.own)
			}
		})
	}
	var verr *strategy.ValidationError
	if !errors.As(invalid, &verr) || verr.Field != "price" {
		t.Fatalf("Prepare's refusal %v is not a *strategy.ValidationError naming the price", invalid)
	}
}
