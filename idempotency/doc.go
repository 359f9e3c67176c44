// Package idempotency gives every order intent a key before anything is sent and journals it,
// so a retry, a timeout or a crash never places an order twice. The key is the exchange's
// client order id; the journal (Store) records each intent's lifecycle durably.
//
// # Keys
//
// A KeyGenerator makes keys like "kl-mm1-0UmrNXbk000lhTBw7y": the bot's prefix, the instance
// tag, and a time-ordered unique part. Keys are valid Binance client order ids of at most 32
// characters, unique across instances and restarts, and one intent keeps its key through every
// retry. Owns tells this bot's keys from anyone else's, which is how start-up reconciliation
// decides which open orders on the exchange to adopt.
//
//	keys, err := idempotency.NewKeyGenerator(cfg.Prefix, cfg.Instance) // validates both
//	key := keys.Next()
//
// # The journal
//
// Store is the contract; every method's write is durable when it returns. An entry moves
//
//	reserved → sent → acked | rejected | unknown → resolved
//
// and Update refuses any other move (CanMove) with a *TransitionError. The order path reserves
// the key, marks the entry sent right before the request is handed to the scheduler, with the
// deadline by which its last try must be signed (Entry.SendBy), and records the outcome; on
// start-up, every entry still reserved, sent or unknown is reconciled against the exchange
// before any strategy runs, and SendBy tells it how long a request may still land. Compact
// drops resolved entries past their retention.
//
// OpenFile opens the default store, a bbolt file (one process at a time). A journal that cannot
// be read stops start-up with a *JournalError naming the file and the problem: an empty journal
// would forget live orders, so the store never starts one in place of a damaged file. A missing
// file is created (a first run), and FileStore.Created says so, for a warning in the log.
// NewMemoryStore is the same contract in memory, for tests. Package storetest is the
// conformance suite every Store passes.
package idempotency
