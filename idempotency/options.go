package idempotency

import "time"

// Option configures a store (NewMemoryStore, OpenFile).
type Option func(*options)

type options struct {
	now         func() time.Time
	lockTimeout time.Duration
}

// DefaultLockTimeout is how long OpenFile waits for another process to release the journal.
const DefaultLockTimeout = time.Second

func buildOptions(opts []Option) options {
	o := options{now: time.Now, lockTimeout: DefaultLockTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithClock sets the clock a store stamps CreatedAt and UpdatedAt with (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithLockTimeout sets how long OpenFile waits for the journal's file lock before it gives up
// with ErrLocked (default DefaultLockTimeout). The memory store ignores it.
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) { o.lockTimeout = d }
}
