package binance

import (
	"encoding/json"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
)

// generalLevels is the way a side of a diff update was decoded before scanLevels: encoding/json
// into pairs of strings, each parsed by parseDecimal. The fast way must give what it gives.
func generalLevels(side string, raw []byte) ([]adapters.Level, error) {
	var pairs [][2]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, malformed("depthUpdate", err)
	}
	var p decimals
	var out []adapters.Level
	for _, l := range pairs {
		out = append(out, adapters.Level{Price: p.get(side+" price", l[0]), Quantity: p.get(side+" qty", l[1])})
	}
	return out, p.err
}

// sameDecimal: equal in value and in representation (the same coefficient and exponent, so
// the same String and StringFixed of every caller).
func sameDecimal(a, b decimal.Decimal) bool {
	return a.Equal(b) && a.Exponent() == b.Exponent() && a.Coefficient().Cmp(b.Coefficient()) == 0
}

func checkLevelsAgree(t *testing.T, raw string) {
	t.Helper()
	if !json.Valid([]byte(raw)) {
		return // encoding/json hands UnmarshalJSON valid JSON only
	}
	got, gotErr := parseLevels("b", []byte(raw))
	want, wantErr := generalLevels("b", []byte(raw))
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%s: error %v, the general way %v", raw, gotErr, wantErr)
	}
	if wantErr != nil {
		if gotErr.Error() != wantErr.Error() {
			t.Fatalf("%s: error %q, the general way %q", raw, gotErr, wantErr)
		}
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d levels, the general way %d", raw, len(got), len(want))
	}
	for i := range got {
		if !sameDecimal(got[i].Price, want[i].Price) || !sameDecimal(got[i].Quantity, want[i].Quantity) {
			t.Fatalf("%s: level %d is %v, the general way %v", raw, i, got[i], want[i])
		}
	}
}

var levelSeeds = []string{
	`[["0.01000000","1.50000000"],["0.00990000","0.00000000"]]`,
	`[]`, ` [ ] `, `null`, `[ [ "1" , "2" ] ,["3","4"] ]`,
	`[["5.",".5"]]`, `[[".","1"]]`, `[["","1"]]`, `[["1"]]`, `[["1","2","3"]]`, `[[1,"2"]]`,
	`[["-1","2"]]`, `[["1e3","2"]]`, `[["1.2.3","2"]]`, `[["\u0031","2"]]`, `[["1\"","2"]]`,
	`[["123456789012345678","1"]]`, `[["1234567890123456789","1"]]`, `[["0.000000000000000001","1"]]`,
	`[["99999999999999999999999.5","1"]]`, `[["00012.3400","0"]]`, `88`, `"1.5"`, `{"a":1}`,
	`[["1","2"],["x","3"],["4","y"]]`,
}

// TestScanLevelsAgreesWithTheGeneralWay: for what Binance sends and for what it does not (a
// pair that is not two strings, escapes, signs, exponents, more than 18 digits), a diff's
// levels parse to the same decimals, in the same representation, with the same error.
func TestScanLevelsAgreesWithTheGeneralWay(t *testing.T) {
	for _, raw := range levelSeeds {
		checkLevelsAgree(t, raw)
	}
}

func FuzzScanLevels(f *testing.F) {
	for _, raw := range levelSeeds {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) { checkLevelsAgree(t, raw) })
}

// depthMessage is a combined-stream diff update of n levels a side, as Binance sends them.
func depthMessage(n int) []byte {
	var b, a [][2]string
	for i := range n {
		q := "1.25000000"
		if i%3 == 0 {
			q = "0.00000000"
		}
		b = append(b, [2]string{decimal.New(int64(6543210-i), -2).StringFixed(8), q})
		a = append(a, [2]string{decimal.New(int64(6543211+i), -2).StringFixed(8), q})
	}
	data, _ := json.Marshal(map[string]any{"e": "depthUpdate", "E": int64(1765100000000000), "s": "BTCUSDT",
		"U": 100, "u": 120, "b": b, "a": a})
	msg, _ := json.Marshal(map[string]any{"stream": "btcusdt@depth@100ms", "data": json.RawMessage(data)})
	return msg
}

// twoPassDepth is how a diff update was decoded before wsMessage: the envelope with the data
// copied raw, the data decoded again into strings, each parsed into a decimal. The baseline
// of BenchmarkDepthDecode.
func twoPassDepth(msg []byte) (adapters.DepthUpdate, error) {
	var env struct {
		Stream string          `json:"stream"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(msg, &env); err != nil {
		return adapters.DepthUpdate{}, err
	}
	var d struct {
		Event  string      `json:"e"`
		Time   int64       `json:"E"`
		Symbol string      `json:"s"`
		First  int64       `json:"U"`
		Final  int64       `json:"u"`
		Bids   [][2]string `json:"b"`
		Asks   [][2]string `json:"a"`
	}
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return adapters.DepthUpdate{}, err
	}
	u := adapters.DepthUpdate{Symbol: d.Symbol, FirstID: d.First, FinalID: d.Final, Time: micros(d.Time)}
	var p decimals
	u.Bids = make([]adapters.Level, 0, len(d.Bids))
	u.Asks = make([]adapters.Level, 0, len(d.Asks))
	for _, l := range d.Bids {
		u.Bids = append(u.Bids, adapters.Level{Price: p.get("b price", l[0]), Quantity: p.get("b qty", l[1])})
	}
	for _, l := range d.Asks {
		u.Asks = append(u.Asks, adapters.Level{Price: p.get("a price", l[0]), Quantity: p.get("a qty", l[1])})
	}
	return u, p.err
}

// TestOnePassDecodesAsTwoPasses: the one-pass decoding of a diff update gives what the
// two-pass one gave.
func TestOnePassDecodesAsTwoPasses(t *testing.T) {
	msg := depthMessage(20)
	want, err := twoPassDepth(msg)
	if err != nil {
		t.Fatal(err)
	}
	m := &MarketStream{}
	m.msg.Data.Bids.side, m.msg.Data.Asks.side = "b", "a"
	if err := json.Unmarshal(msg, &m.msg); err != nil {
		t.Fatal(err)
	}
	got, err := m.msg.Data.update()
	if err != nil {
		t.Fatal(err)
	}
	if got.Symbol != want.Symbol || got.FirstID != want.FirstID || got.FinalID != want.FinalID || !got.Time.Equal(want.Time) ||
		len(got.Bids) != 20 || len(got.Asks) != 20 {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range got.Bids {
		if !sameDecimal(got.Bids[i].Price, want.Bids[i].Price) || !sameDecimal(got.Bids[i].Quantity, want.Bids[i].Quantity) ||
			!sameDecimal(got.Asks[i].Price, want.Asks[i].Price) || !sameDecimal(got.Asks[i].Quantity, want.Asks[i].Quantity) {
			t.Fatalf("level %d: %v/%v, want %v/%v", i, got.Bids[i], got.Asks[i], want.Bids[i], want.Asks[i])
		}
	}
}

// BenchmarkDepthDecode: one diff update of 20 levels a side from the message's bytes to an
// adapters.DepthUpdate; "two-pass" is the decoding it replaced, the baseline in the same run.
func BenchmarkDepthDecode(b *testing.B) {
	msg := depthMessage(20)
	b.Run("one-pass", func(b *testing.B) {
		m := &MarketStream{}
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			m.msg = wsMessage{}
			m.msg.Data.Bids.side, m.msg.Data.Asks.side = "b", "a"
			if err := json.Unmarshal(msg, &m.msg); err != nil {
				b.Fatal(err)
			}
			if _, err := m.msg.Data.update(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("two-pass", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if _, err := twoPassDepth(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
