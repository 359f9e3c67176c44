package adapters_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

type testConfig struct{}

func (testConfig) Validate() error                            { return nil }
func (testConfig) SchedulerWindows() []scheduler.WindowConfig { return nil }
func (testConfig) SchedulerBuckets() []scheduler.BucketConfig { return nil }
func (testConfig) AcceptanceWindow() time.Duration            { return 0 }

func definition(name string) adapters.Definition {
	return adapters.Definition{Name: name,
		NewConfig: func() adapters.Config { return testConfig{} },
		New:       func(adapters.Config, adapters.Env) (adapters.Exchange, error) { return nil, errors.New("not built") }}
}

func TestRegistry(t *testing.T) {
	adapters.Register(definition("registry-test-a"))
	d, err := adapters.Lookup("registry-test-a")
	if err != nil || d.Name != "registry-test-a" {
		t.Fatalf("Lookup: %+v %v", d, err)
	}
	found := false
	for _, n := range adapters.Registered() {
		found = found || n == "registry-test-a"
	}
	if !found {
		t.Fatalf("Registered() = %v", adapters.Registered())
	}
	_, err = adapters.Lookup("ftx")
	if !errors.Is(err, adapters.ErrUnknownExchange) || !strings.Contains(err.Error(), "registry-test-a") {
		t.Fatalf("unknown exchange: %v (want ErrUnknownExchange listing what is linked)", err)
	}
	for name, d := range map[string]adapters.Definition{
		"twice":      definition("registry-test-a"),
		"no name":    definition(""),
		"no factory": {Name: "registry-test-b", NewConfig: func() adapters.Config { return testConfig{} }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Register did not panic", name)
				}
			}()
			adapters.Register(d)
		}()
	}
}

func TestNoStreams(t *testing.T) {
	var s adapters.Streamer = adapters.NoStreams{}
	if _, err := s.MarketStream([]string{"X"}, adapters.MarketHandler{}, adapters.StreamOptions{}); !errors.Is(err, adapters.ErrNoStreams) {
		t.Fatal(err)
	}
	if _, err := s.UserStream(adapters.UserHandler{}, adapters.StreamOptions{}); !errors.Is(err, adapters.ErrNoStreams) {
		t.Fatal(err)
	}
}
