package adapters

import (
	"time"

	"github.com/shopspring/decimal"
)

// DepthUpdate is one diff update of an order book from a stream: the absolute quantity of every
// level that changed between update ids FirstID and FinalID (zero removes the level).
type DepthUpdate struct {
	Symbol           string
	FirstID, FinalID int64
	Bids, Asks       []Level
	// Time is the exchange's event time.
	Time time.Time
}

// Trade is one public trade from a stream.
type Trade struct {
	Symbol   string
	ID       int64
	Price    decimal.Decimal
	Quantity decimal.Decimal
	// BuyerMaker is true when the buyer's order was resting (the seller took it).
	BuyerMaker bool
	Time       time.Time
}
