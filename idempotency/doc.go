// Package idempotency gives every order intent a key before anything is sent and journals it,
// so a retry, a timeout or a crash never places an order twice. The key is the exchange's
// client order id; the journal (Store) records each intent's lifecycle durably.
package idempotency
