package kraken

import (
	"crypto/sha1"
	"encoding/hex"
	"sync"
	"time"
)

// Kraken's cl_ord_id is a long UUID (36 characters), a short one (32 hex) or free ASCII text
// of at most 18 characters (guides spot-clordid: stored as a 128-bit integer), while Keel's
// client order ids are up to 36 characters of [A-Za-z0-9_-] ("kl-mm1-0UmrNXbk000lhTBw7y").
// The adapter sends every Keel id as the name-based UUID (version 5, RFC 9562) of the id in
// keelNamespace: deterministic, so a restarted process, or another instance of a fleet,
// finds its orders under the same cl_ord_id; and a valid UUID for any parser Kraken might
// use. The UUID cannot be reversed: orders the adapter placed, queried or cancelled are
// reported under Keel's id (idBook); others, listed by OpenOrders after a restart, under the
// UUID, which ClientOrderUUID recomputes from a Keel id to match them.

// keelNamespace is the UUID namespace of Keel's client order ids. Changing it loses every
// open order's mapping.
var keelNamespace = [16]byte{0x8d, 0x3c, 0x1b, 0x6e, 0x6a, 0x57, 0x4d, 0x43, 0x9a, 0x5c, 0x6b, 0x2f, 0x0e, 0x9a, 0x4c, 0x21}

// ClientOrderUUID is the cl_ord_id the adapter sends for Keel's client order id.
func ClientOrderUUID(id string) string {
	h := sha1.New()
	h.Write(keelNamespace[:])
	h.Write([]byte(id))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// idBookSize bounds the orders the adapter remembers.
const idBookSize = 16384

// idBook remembers, for the orders this process has seen, Keel's id behind each cl_ord_id
// and when the order was opened (for the age-based cancel cost). It is bounded: past size
// entries the oldest is forgotten (an unknown age costs the most, which is safe).
type idBook struct {
	mu    sync.Mutex
	size  int
	m     map[string]*idEntry // by cl_ord_id
	order []string            // insertion order, for eviction
}

type idEntry struct {
	keel   string
	opened time.Time // zero: unknown
}

func newIDBook(size int) *idBook { return &idBook{size: size, m: map[string]*idEntry{}} }

// note records Keel's id of a cl_ord_id and returns the cl_ord_id.
func (b *idBook) note(keel string) string {
	u := ClientOrderUUID(keel)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.entryLocked(u).keel = keel
	return u
}

// requires that b.mu is held.
func (b *idBook) entryLocked(u string) *idEntry {
	e, ok := b.m[u]
	if !ok {
		if len(b.order) >= b.size {
			delete(b.m, b.order[0])
			b.order = b.order[1:]
		}
		e = &idEntry{}
		b.m[u] = e
		b.order = append(b.order, u)
	}
	return e
}

// opened records when the order under cl_ord_id u was opened, unless known already.
func (b *idBook) opened(u string, t time.Time) {
	if u == "" || t.IsZero() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.entryLocked(u); e.opened.IsZero() {
		e.opened = t
	}
}

// keel returns Keel's id of a cl_ord_id, or the cl_ord_id itself when unknown.
func (b *idBook) keel(u string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.m[u]; ok && e.keel != "" {
		return e.keel
	}
	return u
}

// openedAt returns when the order under u was opened, zero if unknown.
func (b *idBook) openedAt(u string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.m[u]; ok {
		return e.opened
	}
	return time.Time{}
}
