package sim

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestRebanAfterGrowsBanOfClientThatKeepsKnocking: with SetRebanAfter(3), the third request
// during a ban bans the IP again (a second ban, doubled and starting now); without it a ban
// stays as set however often it is knocked on.
func TestRebanAfterGrowsBanOfClientThatKeepsKnocking(t *testing.T) {
	for _, n := range []int{0, 3} {
		s, err := New(Config{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		s.SetRebanAfter(n)
		s.Ban("192.0.2.1", time.Minute)
		for range 4 {
			r := httptest.NewRequest(http.MethodGet, "/api/v3/ping", nil)
			r.RemoteAddr = "192.0.2.1:1234"
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != http.StatusTeapot {
				t.Fatalf("reban %d: status %d during the ban, want 418", n, w.Code)
			}
		}
		want := int64(1)
		if n > 0 {
			want = 2
		}
		if got := s.Stats().Total.Bans; got != want {
			t.Errorf("reban %d: %d bans, want %d", n, got, want)
		}
		_ = s.Close()
	}
}
