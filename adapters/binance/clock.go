package binance

import "github.com/keelbot/keel/adapters/rest"

// ErrClockDrift matches (errors.Is) a refusal to sign because the local clock is further
// from the exchange's than recvWindow allows. The request was not sent.
var ErrClockDrift = rest.ErrClockDrift

// ClockDriftError says how far off the local clock is. It matches ErrClockDrift.
type ClockDriftError = rest.ClockDriftError
