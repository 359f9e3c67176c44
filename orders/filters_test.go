package orders_test

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/scheduler"
)

func TestPrepareRounds(t *testing.T) {
	btc := symbolInfo("BTCUSDT", "TRADING")
	offGrid := dec("65000.01").Add(decimal.New(1, -30)) // 1e-30 above a tick
	below := dec("65000.01").Sub(decimal.New(1, -30))
	tests := []struct {
		name       string
		side       adapters.Side
		mode       string
		qty, price decimal.Decimal
		wantQty    string
		wantPrice  string
	}{
		{"on grid", adapters.Buy, orders.RoundNearest, dec("0.001"), dec("65000.01"), "0.001", "65000.01"},
		{"nearest down", adapters.Buy, orders.RoundNearest, dec("0.001"), dec("65000.014"), "0.001", "65000.01"},
		{"nearest up", adapters.Buy, orders.RoundNearest, dec("0.001"), dec("65000.016"), "0.001", "65000.02"},
		{"halfway buy goes down", adapters.Buy, orders.RoundNearest, dec("0.001"), dec("65000.015"), "0.001", "65000.01"},
		{"halfway sell goes up", adapters.Sell, orders.RoundNearest, dec("0.001"), dec("65000.015"), "0.001", "65000.02"},
		{"1e-30 above the grid, buy", adapters.Buy, orders.RoundNearest, dec("0.001"), offGrid, "0.001", "65000.01"},
		{"1e-30 above the grid, sell", adapters.Sell, orders.RoundNearest, dec("0.001"), offGrid, "0.001", "65000.01"},
		{"1e-30 below the grid, buy", adapters.Buy, orders.RoundNearest, dec("0.001"), below, "0.001", "65000.01"},
		{"passive buy down", adapters.Buy, orders.RoundPassive, dec("0.001"), dec("65000.019"), "0.001", "65000.01"},
		{"passive sell up", adapters.Sell, orders.RoundPassive, dec("0.001"), dec("65000.011"), "0.001", "65000.02"},
		{"passive 1e-30 above, buy", adapters.Buy, orders.RoundPassive, dec("0.001"), offGrid, "0.001", "65000.01"},
		{"passive 1e-30 above, sell", adapters.Sell, orders.RoundPassive, dec("0.001"), offGrid, "0.001", "65000.02"},
		{"quantity down to the step", adapters.Buy, orders.RoundNearest, dec("0.0012399"), dec("65000"), "0.00123", "65000"},
		{"quantity 1e-30 below a step", adapters.Buy, orders.RoundNearest, dec("0.00123").Sub(decimal.New(1, -30)), dec("65000"), "0.00122", "65000"},
		{"default mode is nearest", adapters.Buy, "", dec("0.001"), dec("65000.016"), "0.001", "65000.02"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := orders.Intent{Symbol: "BTCUSDT", Side: tt.side, Type: adapters.Limit, Quantity: tt.qty, Price: tt.price}
			req, err := orders.Prepare(in, btc, tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			if req.Quantity.String() != tt.wantQty || req.Price.String() != tt.wantPrice {
				t.Fatalf("got %s @ %s, want %s @ %s", req.Quantity, req.Price, tt.wantQty, tt.wantPrice)
			}
			if !req.Price.Mod(btc.TickSize).IsZero() || !req.Quantity.Mod(btc.StepSize).IsZero() {
				t.Fatalf("off the grid: %s @ %s", req.Quantity, req.Price)
			}
			if req.TimeInForce != adapters.GTC {
				t.Fatalf("time in force %q, want GTC by default", req.TimeInForce)
			}
		})
	}
}

func TestPrepareRefuses(t *testing.T) {
	btc := symbolInfo("BTCUSDT", "TRADING")
	ok := func() orders.Intent { return limitBuy("0.001", "65000") }
	tests := []struct {
		name   string
		sym    adapters.SymbolInfo
		edit   func(*orders.Intent)
		field  string
		filter string
	}{
		{"empty symbol", btc, func(in *orders.Intent) { in.Symbol = "" }, "symbol", ""},
		{"rules of another symbol", btc, func(in *orders.Intent) { in.Symbol = "ETHUSDT" }, "symbol", ""},
		{"symbol not trading", symbolInfo("BTCUSDT", "BREAK"), func(*orders.Intent) {}, "symbol", ""},
		{"unknown side", btc, func(in *orders.Intent) { in.Side = "HOLD" }, "side", ""},
		{"lower-case side", btc, func(in *orders.Intent) { in.Side = "buy" }, "side", ""},
		{"unknown type", btc, func(in *orders.Intent) { in.Type = "STOP_LOSS" }, "type", ""},
		{"unknown time in force", btc, func(in *orders.Intent) { in.TimeInForce = "GTX" }, "time_in_force", ""},
		{"time in force on a market order", btc, func(in *orders.Intent) {
			in.Type, in.Price, in.TimeInForce = adapters.Market, decimal.Zero, adapters.IOC
		}, "time_in_force", ""},
		{"zero quantity", btc, func(in *orders.Intent) { in.Quantity = decimal.Zero }, "quantity", ""},
		{"negative quantity", btc, func(in *orders.Intent) { in.Quantity = dec("-0.001") }, "quantity", ""},
		{"quantity below one step", btc, func(in *orders.Intent) { in.Quantity = dec("0.000009") }, "quantity", "LOT_SIZE"},
		{"quantity 1e-30", btc, func(in *orders.Intent) { in.Quantity = decimal.New(1, -30) }, "quantity", "LOT_SIZE"},
		{"quantity above max", btc, func(in *orders.Intent) { in.Quantity, in.Price = dec("9000.00001"), dec("1") }, "quantity", "LOT_SIZE"},
		{"quantity with an absurd exponent", btc, func(in *orders.Intent) { in.Quantity = decimal.New(1, -1000) }, "quantity", ""},
		{"zero price", btc, func(in *orders.Intent) { in.Price = decimal.Zero }, "price", ""},
		{"negative price", btc, func(in *orders.Intent) { in.Price = dec("-65000") }, "price", ""},
		{"price rounding to zero", btc, func(in *orders.Intent) { in.Price, in.Quantity = dec("0.004"), dec("5000") }, "price", "PRICE_FILTER"},
		{"price above max", btc, func(in *orders.Intent) { in.Price = dec("1000000.01") }, "price", "PRICE_FILTER"},
		{"price on a market order", btc, func(in *orders.Intent) { in.Type = adapters.Market }, "price", ""},
		{"below min notional", btc, func(in *orders.Intent) { in.Quantity, in.Price = dec("0.0001"), dec("49999.99") }, "notional", "NOTIONAL"},
		{"min notional reached only before rounding the quantity down", btc, func(in *orders.Intent) {
			in.Quantity, in.Price = dec("0.0000769"), dec("65000")
		}, "notional", "NOTIONAL"},
		{"above max notional", btc, func(in *orders.Intent) { in.Quantity, in.Price = dec("1000"), dec("9000.01") }, "notional", "NOTIONAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ok()
			tt.edit(&in)
			_, err := orders.Prepare(in, tt.sym, orders.RoundNearest)
			var ve *orders.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *ValidationError", err)
			}
			if ve.Field != tt.field || ve.Filter != tt.filter {
				t.Fatalf("field %q filter %q, want %q %q (%v)", ve.Field, ve.Filter, tt.field, tt.filter, err)
			}
			if !errors.Is(err, orders.ErrInvalidIntent) || scheduler.ClassOf(err) != scheduler.ClassValidation {
				t.Fatalf("err %v: not ErrInvalidIntent of class validation (class %s)", err, scheduler.ClassOf(err))
			}
		})
	}
}

func TestPrepareMarketAndMaker(t *testing.T) {
	btc := symbolInfo("BTCUSDT", "TRADING")
	req, err := orders.Prepare(orders.Intent{Symbol: "BTCUSDT", Side: adapters.Sell, Type: adapters.Market, Quantity: dec("0.0012345")}, btc, "")
	if err != nil || req.Quantity.String() != "0.00123" || !req.Price.IsZero() || req.TimeInForce != "" {
		t.Fatalf("market: %+v, %v", req, err)
	}
	req, err = orders.Prepare(orders.Intent{Symbol: "BTCUSDT", Side: adapters.Sell, Type: adapters.LimitMaker, Quantity: dec("0.001"), Price: dec("70000.005")}, btc, "")
	if err != nil || req.Price.String() != "70000.01" || req.TimeInForce != "" {
		t.Fatalf("limit maker: %+v, %v", req, err)
	}
}

func TestParseAmount(t *testing.T) {
	good := map[string]string{"1": "1", "0.001": "0.001", "65000.00": "65000", "000.5": "0.5"}
	for in, want := range good {
		d, err := orders.ParseAmount(in)
		if err != nil || d.String() != want {
			t.Errorf("ParseAmount(%q) = %s, %v; want %s", in, d, err, want)
		}
	}
	bad := []string{"", "NaN", "nan", "Inf", "+Inf", "-Infinity", "-1", "+1", "1e5", "1E-30", " 1", "1 ",
		"1.", ".5", "1..2", "0x10", "1_000", "1,5", "١", "12345678901234567890123456789012345678901234567890123456789012345"}
	for _, in := range bad {
		if d, err := orders.ParseAmount(in); !errors.Is(err, orders.ErrInvalidIntent) {
			t.Errorf("ParseAmount(%q) = %s, %v; want a validation error", in, d, err)
		}
	}
}
