package kraken_test

import (
	"encoding/base64"
	"testing"

	"github.com/keelbot/keel/adapters/kraken"
)

// TestSignDocsExample is the worked example of docs.kraken.com guides spot-rest-auth, and
// two more vectors computed with the same formula.
func TestSignDocsExample(t *testing.T) {
	key, err := base64.StdEncoding.DecodeString("kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, nonce, body, want string }{
		{"docs AddOrder", "/0/private/AddOrder", "1616492376594",
			"nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25",
			"4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="},
		{"Balance", "/0/private/Balance", "1616492376594", "nonce=1616492376594",
			"1nH4vwR+8FHiYh1QT649xXkGd3JR3x0DWkgv3u9Ed/Qqv6KPtgQpEU4m+Emb/VgpEji3j1XNwI+HCbfXxmrTOg=="},
		{"JSON body", "/0/private/AddOrder", "1616492376594",
			`{"nonce":1616492376594,"ordertype":"limit","pair":"XBTUSD","price":"37500","type":"buy","volume":"1.25"}`,
			"kMkTQfyYJH05IdnWQ9TIqL9Kq+dKqcD5O/TGPPLRwwy1is/YvqEYtMAHf7tXsqwfbLwp7pbzJzWHxzKPnL8rfA=="},
	} {
		if got := kraken.Sign(key, tc.path, tc.nonce, tc.body); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}
