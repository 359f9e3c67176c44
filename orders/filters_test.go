package orders_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/scheduler"
)

func TestPrepareRounds(t *testing.T) {
	btc := symbolInfo("BTCUSDT", "TRADING")
	// Ordinary excess digits, as strategies produce them: float noise, a product, a quotient
	// (shopspring divides to 16 places) and a quotient times a factor (19 places).
	floatAbove := dec("65010.010000000002") // strconv of 65010.01 computed in float64
	floatBelow := dec("65000.009999999998")
	tilted := dec("65432.17").Mul(dec("0.999")) // 65366.73783
	third := dec("100").Div(dec("3"))           // 33.3333333333333333
	perNotional := dec("10").Div(dec("65000"))  // 0.0001538461538462
	twenty := dec("65000.01").Add(decimal.New(1, -orders.MaxAmountPlaces))
	// A product of two quotients: 32 places, arbitrary digits.
	product := dec("3000000").Div(dec("7")).Mul(dec("1").Div(dec("3")))
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
		{"float noise above the grid, buy", adapters.Buy, orders.RoundNearest, dec("0.001"), floatAbove, "0.001", "65010.01"},
		{"float noise above the grid, sell", adapters.Sell, orders.RoundNearest, dec("0.001"), floatAbove, "0.001", "65010.01"},
		{"float noise below the grid, buy", adapters.Buy, orders.RoundNearest, dec("0.001"), floatBelow, "0.001", "65000.01"},
		{"passive buy down", adapters.Buy, orders.RoundPassive, dec("0.001"), dec("65000.019"), "0.001", "65000.01"},
		{"passive sell up", adapters.Sell, orders.RoundPassive, dec("0.001"), dec("65000.011"), "0.001", "65000.02"},
		{"passive float noise above, buy", adapters.Buy, orders.RoundPassive, dec("0.001"), floatAbove, "0.001", "65010.01"},
		{"passive float noise above, sell", adapters.Sell, orders.RoundPassive, dec("0.001"), floatAbove, "0.001", "65010.02"},
		{"mid × 0.999", adapters.Buy, orders.RoundNearest, dec("0.001"), tilted, "0.001", "65366.74"},
		{"a quotient as the price", adapters.Buy, orders.RoundNearest, dec("1"), third, "1", "33.33"},
		{"quantity from a quotient", adapters.Buy, orders.RoundNearest, perNotional, dec("65000"), "0.00015", "65000"},
		{"quantity from a quotient times a factor", adapters.Buy, orders.RoundNearest, perNotional.Mul(dec("0.999")), dec("65000"), "0.00015", "65000"},
		{"a product of two quotients as the quantity", adapters.Buy, orders.RoundNearest, product.Div(dec("1000000")), dec("65000"), "0.14285", "65000"},
		{"1e-20 off the grid, 1e-18 of the tick", adapters.Buy, orders.RoundNearest, dec("0.001"), twenty, "0.001", "65000.01"},
		{"trailing zeros are not places", adapters.Buy, orders.RoundNearest, dec("0.001"), dec("65000.010000000000000000000000000000"), "0.001", "65000.01"},
		{"quantity down to the step", adapters.Buy, orders.RoundNearest, dec("0.0012399"), dec("65000"), "0.00123", "65000"},
		{"quantity float noise below a step", adapters.Buy, orders.RoundNearest, dec("0.0012299999999999999"), dec("65000"), "0.00122", "65000"},
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
		{"quantity 1e-30", btc, func(in *orders.Intent) { in.Quantity = decimal.New(1, -30) }, "quantity", ""},
		{"quantity 1e-30 below a step", btc, func(in *orders.Intent) { in.Quantity = dec("0.00123").Sub(decimal.New(1, -30)) }, "quantity", ""},
		{"quantity above max", btc, func(in *orders.Intent) { in.Quantity, in.Price = dec("9000.00001"), dec("1") }, "quantity", "LOT_SIZE"},
		{"quantity with an absurd exponent", btc, func(in *orders.Intent) { in.Quantity = decimal.New(1, -1000) }, "quantity", ""},
		{"zero price", btc, func(in *orders.Intent) { in.Price = decimal.Zero }, "price", ""},
		{"price 1e-30 above the grid", btc, func(in *orders.Intent) { in.Price = dec("65000.01").Add(decimal.New(1, -30)) }, "price", ""},
		{"price 1e-30 below the grid", btc, func(in *orders.Intent) { in.Price = dec("65000.01").Sub(decimal.New(1, -30)) }, "price", ""},
		{"price 1e-23 off the grid (1e-21 of the tick)", btc, func(in *orders.Intent) {
			in.Price = dec("65000.01").Add(decimal.New(1, -23))
		}, "price", ""},
		{"price with an absurd exponent", btc, func(in *orders.Intent) { in.Price = decimal.New(65000, 1000) }, "price", ""},
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

// TestPrepareNamesPrecision: a hostile amount's refusal says which field and how fine it is.
func TestPrepareNamesPrecision(t *testing.T) {
	btc := symbolInfo("BTCUSDT", "TRADING")
	for _, tc := range []struct {
		field string
		in    orders.Intent
		want  string
	}{
		{"price", orders.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit, Quantity: dec("0.001"),
			Price: dec("65000.01").Add(decimal.New(1, -30))}, "65000.010000000000000000000000000001 is 0.000000000000000000000000000001 off the grid of 0.01"},
		{"quantity", orders.Intent{Symbol: "BTCUSDT", Side: adapters.Sell, Type: adapters.Market,
			Quantity: dec("0.001").Add(decimal.New(7, -27))}, "off the grid of 0.00001"},
	} {
		_, err := orders.Prepare(tc.in, btc, orders.RoundNearest)
		var ve *orders.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want a validation error of %s saying %q", tc.field, err, tc.field, tc.want)
		}
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
	good["65000.01000000000000000001"] = "65000.01000000000000000001" // 20 places
	good["0.100000000000000000000000000"] = "0.1"                     // trailing zeros are not places
	bad := []string{"", "NaN", "nan", "Inf", "+Inf", "-Infinity", "-1", "+1", "1e5", "1E-30", " 1", "1 ",
		"1.", ".5", "1..2", "0x10", "1_000", "1,5", "١", "12345678901234567890123456789012345678901234567890123456789012345",
		"65000.010000000000000000000000000001"} // 30 places
	for _, in := range bad {
		if d, err := orders.ParseAmount(in); !errors.Is(err, orders.ErrInvalidIntent) {
			t.Errorf("ParseAmount(%q) = %s, %v; want a validation error", in, d, err)
		}
	}
}

// TestPrepareRoundsTinyPrices: on a symbol priced in millionths (tick 1e-8), a price a
// strategy computed in float64 carries 22 places and float noise; it is rounded, not refused.
func TestPrepareRoundsTinyPrices(t *testing.T) {
	pepe := symbolInfo("PEPEUSDT", "TRADING")
	pepe.TickSize, pepe.MinPrice, pepe.StepSize, pepe.MinQty, pepe.MaxQty = dec("0.00000001"), dec("0.00000001"), dec("1"), dec("1"), dec("90000000000")
	for _, tc := range []struct {
		price decimal.Decimal
		want  string
	}{
		{decimal.NewFromFloat(1.0 / 3 * 0.0000037), "0.00000123"}, // 0.0000012333333333333333
		{decimal.NewFromFloat(0.1 * 0.0000123), "0.00000123"},     // float noise just off the grid
		{dec("0.0000037").Div(dec("3")), "0.00000123"},            // a quotient
	} {
		req, err := orders.Prepare(orders.Intent{Symbol: "PEPEUSDT", Side: adapters.Buy, Type: adapters.Limit,
			Quantity: dec("5000000"), Price: tc.price}, pepe, orders.RoundNearest)
		if err != nil || req.Price.String() != tc.want {
			t.Errorf("price %s: %v, %v; want %s", tc.price, req.Price, err, tc.want)
		}
	}
}
