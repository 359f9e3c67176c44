package runtime

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/fx/fxevent"

	"github.com/keelbot/keel/internal/redact"
)

// LogConfig selects the log level and format.
type LogConfig struct {
	// Level is a zerolog level name: trace, debug, info, warn, error. Default info.
	Level string `koanf:"level"`
	// Format is json, console, or auto (console when stdout is a terminal). Default auto.
	Format string `koanf:"format"`
}

// Validate names the bad key.
func (c LogConfig) Validate() error {
	if _, err := zerolog.ParseLevel(c.Level); err != nil || c.Level == "" {
		return &ConfigError{Key: "log.level", Reason: fmt.Sprintf("want one of trace, debug, info, warn, error; got %q", c.Level)}
	}
	switch c.Format {
	case "json", "console", "auto":
		return nil
	}
	return &ConfigError{Key: "log.format", Reason: fmt.Sprintf("want json, console or auto; got %q", c.Format)}
}

// NewLogger builds the process logger: JSON lines with a "ts" field (the stable surface
// operators parse), or human-readable console output when w is a terminal and the format is
// auto. The logger carries bot_instance_id so every event says which instance wrote it.
func NewLogger(c LogConfig, w io.Writer, instanceID string) zerolog.Logger {
	return newBareLogger(c, w).With().Timestamp().Str("bot_instance_id", instanceID).Logger()
}

// newBareLogger is NewLogger without context fields: the scheduler's per-attempt events
// write ts and bot_instance_id themselves.
func newBareLogger(c LogConfig, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil || c.Level == "" {
		level = zerolog.InfoLevel
	}
	console := consoleFormat(c, w)
	// Every line is masked of the configured secrets' values (internal/redact), whatever
	// wrote it: an exchange's message, a library's error, a kill-switch reason.
	w = redact.Writer(w)
	out := w
	if console {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, FormatPrepare: consoleLevel}
		if level > zerolog.DebugLevel {
			// One line per successful request is debug on a terminal (the summary line says
			// how trading goes); failures still print.
			out = demoteSuccesses{out}
		}
	}
	setZerologGlobals.Do(func() {
		// docs/architecture.md's stable log surface names the timestamp "ts", in UTC with milliseconds.
		// zerolog only has process-wide settings for this; the composition root owns them.
		zerolog.TimestampFieldName = "ts"
		zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
		zerolog.TimestampFunc = func() time.Time { return time.Now().UTC() }
	})
	return zerolog.New(out).Level(level)
}

var setZerologGlobals sync.Once

// consoleLevel gives the scheduler's attempt events a level on a terminal. In JSON they carry
// exactly the stable fields and no level (docs/architecture.md), which the console writer would
// print as "???"; the level the scheduler chose them at follows from the answer: a success is
// info, an auth refusal (401/403) error, anything else warn.
func consoleLevel(evt map[string]any) error {
	if _, ok := evt[zerolog.LevelFieldName]; ok {
		return nil
	}
	raw, ok := evt["status"]
	if !ok {
		return nil
	}
	status, _ := strconv.Atoi(fmt.Sprint(raw))
	code, _ := strconv.Atoi(fmt.Sprint(evt["error_code"]))
	level := zerolog.WarnLevel
	switch {
	case status == 401 || status == 403:
		level = zerolog.ErrorLevel
	case status >= 200 && status < 300 && code == 0:
		level = zerolog.InfoLevel
	}
	evt[zerolog.LevelFieldName] = level.String()
	return nil
}

// fxLogger sends fx's own events through zerolog: errors at error level, the chatter of
// provides and invokes at debug, so a normal start shows only what matters.
type fxLogger struct {
	log zerolog.Logger
}

// NewFxLogger adapts l to fx's event logger interface.
func NewFxLogger(l zerolog.Logger) fxevent.Logger {
	return fxLogger{log: l.With().Str("component", "fx").Logger()}
}

func (l fxLogger) LogEvent(event fxevent.Event) {
	switch e := event.(type) {
	case *fxevent.OnStartExecuted:
		l.done(e.Err, "start hook", e.FunctionName, e.Runtime)
	case *fxevent.OnStopExecuted:
		l.done(e.Err, "stop hook", e.FunctionName, e.Runtime)
	case *fxevent.Supplied:
		l.failed(e.Err, "supply "+e.TypeName)
	case *fxevent.Provided:
		if e.Err != nil {
			l.failed(e.Err, "provide "+e.ConstructorName)
			return
		}
		l.log.Debug().Str("constructor", e.ConstructorName).Strs("types", e.OutputTypeNames).Str("module", e.ModuleName).Msg("provided")
	case *fxevent.Replaced:
		l.failed(e.Err, "replace "+strings.Join(e.OutputTypeNames, ","))
	case *fxevent.Decorated:
		l.failed(e.Err, "decorate "+e.DecoratorName)
	case *fxevent.Run:
		l.failed(e.Err, "run "+e.Name)
	case *fxevent.Invoked:
		l.failed(e.Err, "invoke "+e.FunctionName)
	case *fxevent.Stopping:
		l.log.Info().Str("signal", strings.ToUpper(e.Signal.String())).Msg("stopping")
	case *fxevent.Stopped:
		l.failed(e.Err, "stop")
	case *fxevent.RollingBack:
		l.log.Error().Err(e.StartErr).Msg("start failed, rolling back")
	case *fxevent.RolledBack:
		l.failed(e.Err, "roll back")
	case *fxevent.Started:
		if e.Err != nil {
			l.log.Error().Err(e.Err).Msg("start failed")
			return
		}
		l.log.Debug().Msg("started")
	case *fxevent.LoggerInitialized:
		l.failed(e.Err, "logger "+e.ConstructorName)
	}
}

func (l fxLogger) done(err error, what, fn string, took time.Duration) {
	if err != nil {
		l.log.Error().Err(err).Str("function", fn).Msg(what + " failed")
		return
	}
	l.log.Debug().Str("function", fn).Dur("runtime_ms", took).Msg(what + " done")
}

func (l fxLogger) failed(err error, what string) {
	if err != nil {
		l.log.Error().Err(err).Msg(what + " failed")
	}
}
