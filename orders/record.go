package orders

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/idempotency"
)

// The journal keeps an Intent as an idempotency.IntentRecord (that package may not know
// decimals or adapters' types); this file is the one place that converts, both ways.

// intentRecord is what the journal keeps of a placement: the intent as validated and rounded
// (the request as sent), in strings, and the strategy that owns it.
func intentRecord(req adapters.OrderRequest, strategy string) idempotency.IntentRecord {
	in := idempotency.IntentRecord{
		Symbol: req.Symbol, Side: string(req.Side), Type: string(req.Type),
		TimeInForce: string(req.TimeInForce), Quantity: req.Quantity.String(), Strategy: strategy,
	}
	if !req.Price.IsZero() {
		in.Price = req.Price.String()
	}
	return in
}

// entryOrder is the order a journal entry describes, in status: intentRecord read back. An
// amount that is not a decimal is a corrupt journal.
func entryOrder(e idempotency.Entry, status adapters.OrderStatus) (adapters.Order, error) {
	q, err := decimal.NewFromString(e.Intent.Quantity)
	if err != nil {
		return adapters.Order{}, fmt.Errorf("orders: journal entry %s: quantity %q: %w", e.Key, e.Intent.Quantity, idempotency.ErrCorrupt)
	}
	var p decimal.Decimal
	if e.Intent.Price != "" {
		if p, err = decimal.NewFromString(e.Intent.Price); err != nil {
			return adapters.Order{}, fmt.Errorf("orders: journal entry %s: price %q: %w", e.Key, e.Intent.Price, idempotency.ErrCorrupt)
		}
	}
	return adapters.Order{
		Symbol: e.Intent.Symbol, ClientOrderID: e.Key, ExchangeOrderID: e.ExchangeOrderID,
		Side: adapters.Side(e.Intent.Side), Type: adapters.OrderType(e.Intent.Type),
		TimeInForce: adapters.TimeInForce(e.Intent.TimeInForce), Price: p, Quantity: q,
		Status: status, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
	}, nil
}
