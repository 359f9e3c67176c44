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
