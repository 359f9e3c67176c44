package runtime_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keelbot/keel/runtime"
)

// TestFleetConfig: store.url (KEEL_STORE_URL) and fleet.size are read and checked, and a bad
// value names its key without echoing a password.
func TestFleetConfig(t *testing.T) {
	c, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: []string{"KEEL_STORE_URL=redis://127.0.0.1:6379/0", "KEEL_FLEET_SIZE=5"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.URL != "redis://127.0.0.1:6379/0" || c.Fleet.Size != 5 || c.Store.Prefix != "keel:sim:" {
		t.Fatalf("store %+v fleet %+v", c.Store, c.Fleet)
	}
	for _, tc := range []struct {
		env []string
		key string
	}{
		{[]string{"KEEL_STORE_URL=http://u:hunter2@host/0"}, "store.url"},
		{[]string{"KEEL_FLEET_SIZE=-1"}, "fleet.size"},
	} {
		_, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: tc.env})
		var ce *runtime.ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%v: err = %v, want a ConfigError for %s", tc.env, err, tc.key)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error carries the password: %v", err)
		}
	}
}
