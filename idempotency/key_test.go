package idempotency_test

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/idempotency"
)

// binanceID is Binance's rule for newClientOrderId.
var binanceID = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,36}$`)

var t0 = time.Date(2025, 6, 1, 9, 30, 0, 0, time.UTC)

// fixedClock returns a clock that stands still at t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func newGen(t testing.TB, prefix, instance string, opts ...idempotency.KeyOption) *idempotency.KeyGenerator {
	t.Helper()
	g, err := idempotency.NewKeyGenerator(prefix, instance, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestNewKeyGeneratorValidates(t *testing.T) {
	for _, tc := range []struct {
		prefix, instance string
		want             string // substring of the error; "" means valid
	}{
		{"kl", "a1", ""},
		{"KEEL01", "zzzzzz", ""},
		{"", "a1", "prefix: must not be empty"},
		{"kl-", "a1", `prefix "kl-": character '-'`},
		{"k_l", "a1", `prefix "k_l": character '_'`},
		{"kéé", "a1", `prefix "kéé": character`},
		{"toolong", "a1", `prefix "toolong": longer than 6`},
		{"x", "a1", `prefix "x": reserved`},
		{"X", "a1", `prefix "X": reserved`},
		{"kl", "", "instance: must not be empty"},
		{"kl", "pod-1", `instance "pod-1": character '-'`},
		{"kl", "host123", `instance "host123": longer than 6`},
		{"kl", "a b", `instance "a b": character ' '`},
	} {
		t.Run(tc.prefix+"/"+tc.instance, func(t *testing.T) {
			_, err := idempotency.NewKeyGenerator(tc.prefix, tc.instance)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			case err != nil && !strings.HasPrefix(err.Error(), "idempotency: "):
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestKeysAlphabetAndLength: every key is a valid Binance client id of at most 32 characters,
// whatever the clock says (epoch, now, far future) and however long prefix and instance are.
func TestKeysAlphabetAndLength(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		prefix, instance string
		at               time.Time
	}{
		{"kl", "a", t0},
		{"KEEL01", "ZZZZZZ", t0},
		{"k", "0", time.Unix(0, 0)},
		{"k", "0", time.Date(8000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		now := tc.at
		g := newGen(t, tc.prefix, tc.instance, idempotency.WithKeyClock(func() time.Time {
			now = now.Add(time.Duration(r.IntN(3)) * time.Millisecond)
			return now
		}))
		for range 20000 {
			k := g.Next()
			if !binanceID.MatchString(k) || len(k) > 32 || len(k) > idempotency.MaxKeyLen {
				t.Fatalf("bad key %q (len %d)", k, len(k))
			}
			if !g.Owns(k) || !g.OwnsInstance(k) {
				t.Fatalf("generator does not own its key %q", k)
			}
		}
	}
	if idempotency.MaxKeyLen > 32 {
		t.Errorf("MaxKeyLen = %d", idempotency.MaxKeyLen)
	}
}

// TestKeysOrderedAndUnique: one generator's keys strictly increase as strings, whether the
// clock advances, stands still (past the per-millisecond counter) or steps back.
func TestKeysOrderedAndUnique(t *testing.T) {
	for _, tc := range []struct {
		name string
		step func(i int) time.Duration // clock offset from t0 for the i-th key
		n    int
	}{
		{"advancing", func(i int) time.Duration { return time.Duration(i) * time.Millisecond / 3 }, 50000},
		{"standing still past the counter", func(int) time.Duration { return 0 }, 300000},
		{"stepping back", func(i int) time.Duration { return time.Duration(1000-i%2000) * time.Millisecond }, 50000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := 0
			g := newGen(t, "kl", "a1", idempotency.WithKeyClock(func() time.Time { i++; return t0.Add(tc.step(i)) }))
			prev := g.Next()
			for range tc.n {
				k := g.Next()
				if k <= prev {
					t.Fatalf("key %q after %q: not increasing", k, prev)
				}
				prev = k
			}
		})
	}
}

// TestKeysUniqueAcrossRestarts: many generators (restarts, or processes sharing an instance
// tag) starting at the very same clock instant never hand out the same key.
func TestKeysUniqueAcrossRestarts(t *testing.T) {
	const restarts, each = 2000, 50
	seen := make(map[string]int, restarts*each)
	for r := range restarts {
		g := newGen(t, "kl", "a1", idempotency.WithKeyClock(fixedClock(t0)))
		for range each {
			k := g.Next()
			if prev, dup := seen[k]; dup {
				t.Fatalf("restart %d repeated key %q of restart %d", r, k, prev)
			}
			seen[k] = r
		}
	}
}

// TestKeysOrderedAcrossRestarts: a generator started later (a restart) sorts after an
// earlier one with the same prefix and instance.
func TestKeysOrderedAcrossRestarts(t *testing.T) {
	var all []string
	for r := range 50 {
		at := t0.Add(time.Duration(r) * time.Millisecond)
		g := newGen(t, "kl", "a1", idempotency.WithKeyClock(fixedClock(at)))
		for range 100 {
			all = append(all, g.Next())
		}
	}
	if !sort.StringsAreSorted(all) {
		t.Error("keys of later generators do not sort after earlier ones")
	}
}

func TestKeysConcurrent(t *testing.T) {
	const workers, each = 8, 5000
	g := newGen(t, "kl", "a1", idempotency.WithKeyClock(fixedClock(t0)))
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys := make([]string, each)
			for i := range keys {
				keys[i] = g.Next()
			}
			mu.Lock()
			defer mu.Unlock()
			for _, k := range keys {
				if seen[k] {
					t.Errorf("duplicate key %q", k)
				}
				seen[k] = true
			}
		}()
	}
	wg.Wait()
	if len(seen) != workers*each {
		t.Errorf("%d distinct keys, want %d", len(seen), workers*each)
	}
}

func TestOwnsAndParseKey(t *testing.T) {
	g := newGen(t, "kl", "a1", idempotency.WithKeyClock(fixedClock(t0)))
	mine := g.Next()
	sibling := newGen(t, "kl", "b2", idempotency.WithKeyClock(fixedClock(t0))).Next()
	longer := newGen(t, "klx", "a1", idempotency.WithKeyClock(fixedClock(t0))).Next()
	for _, tc := range []struct {
		key                string
		owns, ownsInst, ok bool
	}{
		{mine, true, true, true},
		{sibling, true, false, true},
		{longer, false, false, true},                              // another bot whose prefix starts like ours
		{"kl-a1-" + strings.Repeat("0", 17), false, false, false}, // unique part too short
		{"kl-a1-" + strings.Repeat("!", 18), false, false, false},
		{"web_12ab34cd", false, false, false}, // a client id Binance's UI made
		{"x-ABCDEF-kl", false, false, false},
		{"", false, false, false},
		{strings.Repeat("k", 40), false, false, false},
	} {
		t.Run(tc.key, func(t *testing.T) {
			if got := g.Owns(tc.key); got != tc.owns {
				t.Errorf("Owns = %v, want %v", got, tc.owns)
			}
			if got := g.OwnsInstance(tc.key); got != tc.ownsInst {
				t.Errorf("OwnsInstance = %v, want %v", got, tc.ownsInst)
			}
			if _, ok := idempotency.ParseKey(tc.key); ok != tc.ok {
				t.Errorf("ParseKey ok = %v, want %v", ok, tc.ok)
			}
		})
	}
	p, ok := idempotency.ParseKey(mine)
	if !ok || p.Prefix != "kl" || p.Instance != "a1" || !p.Time.Equal(t0) {
		t.Errorf("ParseKey(%q) = %+v, %v", mine, p, ok)
	}
	if g.Prefix() != "kl" || g.Instance() != "a1" {
		t.Errorf("Prefix(), Instance() = %q, %q", g.Prefix(), g.Instance())
	}
}

func FuzzParseKey(f *testing.F) {
	g := newGen(f, "kl", "a1", idempotency.WithKeyClock(fixedClock(t0)))
	f.Add(g.Next())
	f.Add("kl-a1-")
	f.Add("web_123")
	f.Fuzz(func(t *testing.T, key string) {
		p, ok := idempotency.ParseKey(key)
		if !ok {
			return
		}
		if !binanceID.MatchString(key) || len(key) > idempotency.MaxKeyLen {
			t.Fatalf("ParseKey accepted %q", key)
		}
		if !strings.HasPrefix(key, p.Prefix+"-"+p.Instance+"-") {
			t.Fatalf("ParseKey(%q) = %+v", key, p)
		}
	})
}

func ExampleKeyGenerator() {
	// A fixed clock and seed make the output reproducible; production passes neither.
	at := time.Date(2025, 6, 1, 9, 30, 0, 0, time.UTC)
	g, err := idempotency.NewKeyGenerator("kl", "mm1",
		idempotency.WithKeyClock(func() time.Time { return at }),
		idempotency.WithKeyRand(rand.New(rand.NewPCG(1, 2))))
	if err != nil {
		fmt.Println(err)
		return
	}
	k1, k2 := g.Next(), g.Next()
	fmt.Println(k1, len(k1))
	fmt.Println(k2, k1 < k2)
	fmt.Println(g.Owns(k1), g.Owns("web_f00d"))
	// Output:
	// kl-mm1-0UmrNXbk000lhTBw7y 25
	// kl-mm1-0UmrNXbk001lhTBw7y true
	// true false
}
