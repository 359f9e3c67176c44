package idempotency

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Key layout (at most 32 characters, all of Binance's client-order-id alphabet
// [a-zA-Z0-9-_], and only letters, digits and '-'):
//
//	<prefix>-<instance>-<ms:8><seq:3><nonce:7>
//
// prefix marks the bot (1–6 letters or digits, e.g. "kl"); instance marks the process group
// that generated the key (1–6 letters or digits). The last 18 characters are base-62 digits
// in ASCII order, so for one prefix and instance a later key sorts after an earlier one:
// ms is the Unix time in milliseconds (8 digits last until the year 8900), seq counts keys
// within one millisecond, and nonce is drawn once per generator so two generators started at
// the same instant (a restart, or two processes sharing an instance tag) do not collide.
const (
	maxPrefixLen   = 6
	maxInstanceLen = 6
	msDigits       = 8
	seqDigits      = 3
	nonceDigits    = 7
	uniqueLen      = msDigits + seqDigits + nonceDigits
	// MaxKeyLen is the longest key a KeyGenerator produces.
	MaxKeyLen = maxPrefixLen + 1 + maxInstanceLen + 1 + uniqueLen
)

// digits are the base-62 digits in ASCII order, so that fixed-width numbers compare as strings.
const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

var (
	maxSeq   = pow62(seqDigits)   // keys per millisecond before the generator borrows the next one
	maxNonce = pow62(nonceDigits) // distinct nonces
)

// KeyGenerator makes idempotency keys that double as exchange client order ids.
//
// Keys from one generator are unique and strictly increasing (as strings), even when the clock
// stands still or steps back. Keys from different generators are unique with overwhelming
// probability (a random nonce per generator separates two processes that start within the same
// millisecond with the same instance tag). A KeyGenerator is safe for concurrent use; its zero
// value is not usable, call NewKeyGenerator.
type KeyGenerator struct {
	prefix string // "<prefix>-"
	head   string // "<prefix>-<instance>-"
	now    func() time.Time
	nonce  string
	mu     sync.Mutex
	lastMs int64  // guarded by mu: the millisecond of the last key (never decreases)
	seq    uint64 // guarded by mu: keys made in lastMs so far
}

// KeyOption configures a KeyGenerator.
type KeyOption func(*keyOptions)

type keyOptions struct {
	now  func() time.Time
	rand *rand.Rand
}

// WithKeyClock sets the time source (default time.Now). Tests pass a fixed or fake clock.
func WithKeyClock(now func() time.Time) KeyOption {
	return func(o *keyOptions) { o.now = now }
}

// WithKeyRand sets the randomness the per-generator nonce is drawn from (default: seeded from
// crypto/rand). Two generators given identically seeded sources at the same instant collide,
// which is what a test of the nonce wants and production never does.
func WithKeyRand(r *rand.Rand) KeyOption {
	return func(o *keyOptions) { o.rand = r }
}

// NewKeyGenerator returns a generator for keys "<prefix>-<instance>-<unique>". prefix marks
// every key of this bot (see Owns); instanceID tells instances of a fleet apart. Both must be
// 1–6 ASCII letters or digits; an error names the bad one. The prefix "x" is refused because
// Binance reads client ids starting "x-" as broker tags.
func NewKeyGenerator(prefix, instanceID string, opts ...KeyOption) (*KeyGenerator, error) {
	if err := ValidateKeyPart("prefix", prefix, maxPrefixLen); err != nil {
		return nil, err
	}
	if strings.EqualFold(prefix, "x") {
		return nil, fmt.Errorf("idempotency: prefix %q: reserved (Binance reads \"x-\" client ids as broker tags)", prefix)
	}
	if err := ValidateKeyPart("instance", instanceID, maxInstanceLen); err != nil {
		return nil, err
	}
	o := keyOptions{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.rand == nil {
		var seed [32]byte
		_, _ = crand.Read(seed[:]) // never fails on supported platforms (Go ≥ 1.24 crashes instead)
		o.rand = rand.New(rand.NewChaCha8(seed))
	}
	return &KeyGenerator{
		prefix: prefix + "-",
		head:   prefix + "-" + instanceID + "-",
		now:    o.now,
		nonce:  encode62(o.rand.Uint64N(maxNonce), nonceDigits),
	}, nil
}

// ValidateKeyPart checks a configured key prefix or instance tag: 1 to max ASCII letters or
// digits. field names the setting in the error ("prefix", "instance").
func ValidateKeyPart(field, v string, max int) error {
	if v == "" {
		return fmt.Errorf("idempotency: %s: must not be empty", field)
	}
	if len(v) > max {
		return fmt.Errorf("idempotency: %s %q: longer than %d characters", field, v, max)
	}
	for i := 0; i < len(v); i++ {
		if !isAlnum(v[i]) {
			return fmt.Errorf("idempotency: %s %q: character %q at %d is not an ASCII letter or digit", field, v, v[i], i)
		}
	}
	return nil
}

// Next returns a new key. It never fails and never repeats a key this generator returned.
func (g *KeyGenerator) Next() string {
	ms := g.now().UnixMilli()
	g.mu.Lock()
	if ms > g.lastMs {
		g.lastMs, g.seq = ms, 0
	} else if g.seq++; g.seq >= maxSeq {
		// More keys in one millisecond than seq can count (or a clock stepping back): borrow
		// the next millisecond so order and uniqueness hold.
		g.lastMs, g.seq = g.lastMs+1, 0
	}
	ms, seq := g.lastMs, g.seq
	g.mu.Unlock()

	var b strings.Builder
	b.Grow(len(g.head) + uniqueLen)
	b.WriteString(g.head)
	b.WriteString(encode62(uint64(max(ms, 0)), msDigits))
	b.WriteString(encode62(seq, seqDigits))
	b.WriteString(g.nonce)
	return b.String()
}

// Owns reports whether key was made by a generator with this bot's prefix, on any instance: the
// test start-up reconciliation uses to adopt open orders found on the exchange.
func (g *KeyGenerator) Owns(key string) bool {
	p, ok := ParseKey(key)
	return ok && p.Prefix+"-" == g.prefix
}

// OwnsInstance reports whether key was made by a generator with this bot's prefix and this
// generator's instance tag.
func (g *KeyGenerator) OwnsInstance(key string) bool {
	return g.Owns(key) && strings.HasPrefix(key, g.head)
}

// Instance returns the instance tag this generator puts in its keys.
func (g *KeyGenerator) Instance() string {
	return strings.TrimSuffix(strings.TrimPrefix(g.head, g.prefix), "-")
}

// Prefix returns the bot prefix keys start with, without the separator.
func (g *KeyGenerator) Prefix() string { return strings.TrimSuffix(g.prefix, "-") }

// KeyParts is a key taken apart by ParseKey.
type KeyParts struct {
	Prefix   string
	Instance string
	// Time is the millisecond the key was made in (a generator that made more keys in one
	// millisecond than it can count borrows the next one, so this can run slightly ahead).
	Time time.Time
}

// ParseKey takes apart a key in KeyGenerator's layout, and reports false for anything else
// (another bot's or a human's client order id).
func ParseKey(key string) (KeyParts, bool) {
	if len(key) > MaxKeyLen {
		return KeyParts{}, false
	}
	prefix, rest, ok := strings.Cut(key, "-")
	if !ok || ValidateKeyPart("", prefix, maxPrefixLen) != nil {
		return KeyParts{}, false
	}
	inst, unique, ok := strings.Cut(rest, "-")
	if !ok || ValidateKeyPart("", inst, maxInstanceLen) != nil || len(unique) != uniqueLen {
		return KeyParts{}, false
	}
	ms, ok := decode62(unique[:msDigits])
	if !ok {
		return KeyParts{}, false
	}
	if _, ok := decode62(unique[msDigits:]); !ok {
		return KeyParts{}, false
	}
	return KeyParts{Prefix: prefix, Instance: inst, Time: time.UnixMilli(int64(ms))}, true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// encode62 writes v as exactly n base-62 digits (v must be below 62^n; higher digits are lost).
func encode62(v uint64, n int) string {
	var buf [16]byte
	for i := n - 1; i >= 0; i-- {
		buf[i] = digits[v%62]
		v /= 62
	}
	return string(buf[:n])
}

func decode62(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(digits, s[i])
		if d < 0 {
			return 0, false
		}
		v = v*62 + uint64(d)
	}
	return v, true
}

func pow62(n int) uint64 {
	v := uint64(1)
	for range n {
		v *= 62
	}
	return v
}
