package orders_test

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/orders"
)

// Prepare puts an intent on the symbol's grid, or says which filter refuses it.
func ExamplePrepare() {
	btc := adapters.SymbolInfo{Symbol: "BTCUSDT", Status: "TRADING",
		TickSize: decimal.RequireFromString("0.01"), StepSize: decimal.RequireFromString("0.00001"),
		MinQty: decimal.RequireFromString("0.00001"), MinNotional: decimal.RequireFromString("5")}
	qty, _ := orders.ParseAmount("0.0012345")
	price, _ := orders.ParseAmount("65000.015")
	for _, side := range []adapters.Side{adapters.Buy, adapters.Sell} {
		req, _ := orders.Prepare(orders.Intent{Symbol: "BTCUSDT", Side: side, Type: adapters.Limit,
			Quantity: qty, Price: price}, btc, orders.RoundNearest)
		fmt.Println(req.Side, req.Quantity, "@", req.Price, req.TimeInForce)
	}
	_, err := orders.Prepare(orders.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
		Quantity: decimal.RequireFromString("0.00007"), Price: price}, btc, orders.RoundNearest)
	fmt.Println(err)
	_, err = orders.ParseAmount("NaN")
	fmt.Println(err)
	// Output:
	// BUY 0.00123 @ 65000.01 GTC
	// SELL 0.00123 @ 65000.02 GTC
	// orders: invalid intent for BTCUSDT: notional (NOTIONAL): 65000.01 × 0.00007 = 4.5500007 is below the minimum 5
	// orders: invalid intent: amount: "NaN" is not a plain decimal number (character 'N' at 0)
}
