package runtime_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test stops what it started: the app's goroutines (loop, runners, pollers, streams,
// admin server, kill-switch watcher) end with it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
