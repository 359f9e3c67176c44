package adapters

import (
	"context"
	"time"
)

// KeyInspector is implemented by adapters that can read what their API key may do, for a
// pre-deployment check (`keel doctor`): a trading bot's key should trade and should not
// withdraw. It is optional: callers type-assert, and say they cannot check when it is absent.
// adapters/binance.Client and adapters/coinbase.Client implement it.
type KeyInspector interface {
	// KeyPermissions reads the key's scopes at background priority.
	KeyPermissions(ctx context.Context, opts ...CallOption) (KeyPermissions, error)
}

// KeyPermissions are an API key's scopes as the exchange reports them.
type KeyPermissions struct {
	// CanTrade: the key may place and cancel spot orders.
	CanTrade bool
	// CanWithdraw: the key may move funds off the exchange. A trading bot's key should not.
	CanWithdraw bool
	// IPRestricted: the exchange accepts the key only from listed addresses.
	IPRestricted bool
	// IPRestrictionUnreported: the exchange does not say whether the key is restricted to
	// addresses (Coinbase's key_permissions), so IPRestricted means nothing.
	IPRestrictionUnreported bool
	// KeyType is the signing scheme the adapter uses with the key: "hmac" (a shared secret),
	// "ed25519" or "ecdsa" (asymmetric: the exchange holds only the public half).
	KeyType string
	// Created is when the key was created (zero if the exchange does not say).
	Created time.Time
	// TradingExpires is when the key's trading permission lapses (zero if never).
	TradingExpires time.Time
}
