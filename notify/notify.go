// Package notify pages a human when a bot stops trading or is in trouble: the kill switch
// tripped (with the reason and who), the auth breaker open, a ban with its end, a platform
// breaker open for minutes, an order outcome unknown for minutes, the journal or Redis out
// of reach, and trading resumed.
//
// One interface, Sink, delivers a Message; three built-ins speak plain HTTP: Webhook (a
// generic JSON POST), Slack (an incoming webhook) and Telegram (a bot's sendMessage). A
// Notifier sits between the bot and its sinks and makes paging safe to call from anywhere:
//
//   - Notify never blocks: events go into a bounded queue, and a full queue drops (and
//     counts) rather than wait. Trading never waits for a page.
//   - An incident is one page plus updates, never a storm: the first event of an incident
//     (events share an Incident key, e.g. the kill switch's trips and resumes) is sent at
//     once; further events within UpdateInterval of the last message are counted, and one
//     update summing them up is sent when the interval ends. Twenty trips in a minute are one
//     page and one summary.
//   - Every sink delivers on its own goroutine with its own queue, retrying a failed delivery
//     with full-jitter backoff, so a hung or failing endpoint delays only its own messages.
//   - Sinks never print their URLs: a sink's Name says what it is and where (the host), and
//     delivery errors are stripped of the URL (a Slack webhook's path and a Telegram bot
//     token are the credentials) and passed through internal/redact.
package notify

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/internal/redact"
	"github.com/keelbot/keel/jitter"
)

// Kinds of events the runtime sends.
const (
	KindKillSwitch   = "kill_switch_tripped"
	KindResumed      = "trading_resumed"
	KindAuthBreaker  = "auth_breaker_open"
	KindBan          = "ip_ban"
	KindBreakerOpen  = "platform_breaker_open"
	KindUnknownOrder = "unknown_outcome_unresolved"
	KindStoreDown    = "store_unavailable"
	KindTest         = "test"
)

// Severity says how urgent an event is.
type Severity string

const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

// Event is something a human should know.
type Event struct {
	Kind string `json:"kind"`
	// Incident groups events into one incident (default: Kind). The kill switch's trips and
	// resumes share "kill_switch", so a flapping switch is one incident.
	Incident string   `json:"incident"`
	Severity Severity `json:"severity"`
	// Summary is one line for a human ("kill switch tripped: auth failure ... (by auto)").
	Summary string            `json:"summary"`
	Fields  map[string]string `json:"fields,omitempty"`
	Time    time.Time         `json:"time"`
	// Resolved marks the end of the incident (trading resumed, the store back).
	Resolved bool `json:"resolved,omitempty"`
}

// Message is what a sink delivers: an event, or an update summing up an incident's events.
type Message struct {
	Event
	// Bot names the bot (instance id and exchange) for the reader of a shared channel.
	Bot string `json:"bot"`
	// Update: this message sums up Count further events of an incident already paged; Event
	// is the latest of them.
	Update bool `json:"update,omitempty"`
	Count  int  `json:"count,omitempty"`
	// Suppressed is how many messages the rate cap dropped since the last one sent.
	Suppressed int `json:"suppressed,omitempty"`
}

// Text is the message as one or two lines of plain text (Slack, Telegram).
func (m Message) Text() string {
	var b strings.Builder
	icon := map[Severity]string{Critical: "[CRITICAL]", Warning: "[WARNING]", Info: "[INFO]"}[m.Severity]
	if m.Resolved {
		icon = "[RESOLVED]"
	}
	fmt.Fprintf(&b, "%s %s: %s", icon, m.Bot, m.Summary)
	if m.Update {
		fmt.Fprintf(&b, " (update: %d more events of this incident since the last message; this is the latest)", m.Count)
	}
	if len(m.Fields) > 0 {
		keys := make([]string, 0, len(m.Fields))
		for k := range m.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("\n")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s: %s", k, m.Fields[k])
		}
	}
	if m.Suppressed > 0 {
		fmt.Fprintf(&b, "\n(%d messages dropped by the rate cap before this one)", m.Suppressed)
	}
	s := b.String()
	if len(s) > maxText {
		// Telegram refuses a message over 4096 characters; a page must never fail for its length.
		s = strings.ToValidUTF8(s[:maxText], "") + "…"
	}
	return s
}

// maxText bounds a message's text (Telegram's limit is 4096 characters).
const maxText = 3500

// Sink delivers messages somewhere a human reads them. Send is called from the sink's own
// goroutine, one message at a time; it returns an error to have the message retried.
type Sink interface {
	// Name says what and where, without secrets ("slack hooks.slack.com").
	Name() string
	Send(ctx context.Context, m Message) error
}

// Config tunes a Notifier. Zero fields take the defaults.
type Config struct {
	// Bot names the bot in every message.
	Bot string
	// UpdateInterval: an incident's further events are summed up at most this often.
	// Default 1m.
	UpdateInterval time.Duration
	// MaxPerMinute caps messages per sink over a minute, whatever the incidents. Default 10.
	MaxPerMinute int
	// Attempts is how many times a delivery is tried. Default 5.
	Attempts int
	// BackoffBase and BackoffCap bound the full-jitter wait between tries. Defaults 1s, 30s.
	BackoffBase, BackoffCap time.Duration
	// Timeout bounds one delivery attempt. Default 10s.
	Timeout time.Duration
	// QueueSize bounds the events waiting and each sink's messages waiting. Default 64.
	QueueSize int
}

func (c Config) withDefaults() Config {
	if c.UpdateInterval <= 0 {
		c.UpdateInterval = time.Minute
	}
	if c.MaxPerMinute <= 0 {
		c.MaxPerMinute = 10
	}
	if c.Attempts <= 0 {
		c.Attempts = 5
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = time.Second
	}
	if c.BackoffCap <= 0 {
		c.BackoffCap = 30 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 64
	}
	return c
}

// Logf reports what the notifier could not do (a delivery given up, a queue full); the text
// never holds a sink's URL.
type Logf func(format string, args ...any)

// Notifier de-duplicates, rate-limits and delivers events to its sinks. Create it with New and
// run it with Run; Notify may be called before Run starts and after it ends (then events are
// dropped).
type Notifier struct {
	cfg   Config
	clk   clock.Clock
	rng   *jitter.Rand
	logf  Logf
	sinks []*sinkQueue

	events  chan Event
	mu      sync.Mutex
	dropped int // events dropped because the queue was full

	incidents map[string]*incident // owned by Run's goroutine
}

type incident struct {
	lastSent time.Time
	pending  int
	latest   Event
}

type sinkQueue struct {
	sink Sink
	msgs chan Message
	sent []time.Time // send times over the last minute (rate cap)
	supp int         // messages dropped by the cap since the last one sent
}

// New returns a notifier delivering to sinks. clk and rng may be nil (wall clock, a random
// seed); logf may be nil.
func New(cfg Config, sinks []Sink, clk clock.Clock, rng *jitter.Rand, logf Logf) *Notifier {
	cfg = cfg.withDefaults()
	if clk == nil {
		clk = clock.Real{}
	}
	if rng == nil {
		rng = jitter.NewRandom()
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	n := &Notifier{cfg: cfg, clk: clk, rng: rng, logf: logf, events: make(chan Event, cfg.QueueSize),
		incidents: map[string]*incident{}}
	for _, s := range sinks {
		n.sinks = append(n.sinks, &sinkQueue{sink: s, msgs: make(chan Message, cfg.QueueSize)})
	}
	return n
}

// Sinks names the sinks, for a start-up log line.
func (n *Notifier) Sinks() []string {
	out := make([]string, 0, len(n.sinks))
	for _, s := range n.sinks {
		out = append(out, s.sink.Name())
	}
	return out
}

// Notify queues ev and returns at once; with the queue full the event is dropped (counted,
// and logged once per run of drops). Safe for concurrent use; a nil Notifier does nothing.
func (n *Notifier) Notify(ev Event) {
	if n == nil || len(n.sinks) == 0 {
		return
	}
	if ev.Incident == "" {
		ev.Incident = ev.Kind
	}
	if ev.Time.IsZero() {
		ev.Time = n.clk.Now()
	}
	ev.Summary = redact.String(ev.Summary)
	for k, v := range ev.Fields {
		ev.Fields[k] = redact.String(v)
	}
	select {
	case n.events <- ev:
	default:
		n.mu.Lock()
		n.dropped++
		first := n.dropped == 1
		n.mu.Unlock()
		if first {
			n.logf("notify: event queue full: dropping %s (trading goes on; the next message says how many were dropped)", ev.Kind)
		}
	}
}

// Run processes events and delivers messages until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range n.sinks {
		wg.Add(1)
		go func(s *sinkQueue) {
			defer wg.Done()
			n.deliver(ctx, s)
		}(s)
	}
	defer wg.Wait()
	tick := n.cfg.UpdateInterval / 10
	for {
		timer, stop := n.clk.NewTimer(tick)
		select {
		case <-ctx.Done():
			stop()
			return
		case ev := <-n.events:
			stop()
			n.handle(ev)
		case <-timer:
			n.flush()
		}
	}
}

// handle pages the first event of an incident at once; later ones within UpdateInterval of
// the incident's last message wait for the update.
func (n *Notifier) handle(ev Event) {
	now := n.clk.Now()
	inc := n.incidents[ev.Incident]
	if inc != nil && now.Sub(inc.lastSent) < n.cfg.UpdateInterval {
		inc.pending++
		inc.latest = ev
		return
	}
	if inc == nil {
		inc = &incident{}
		n.incidents[ev.Incident] = inc
	}
	n.send(Message{Event: ev})
	inc.lastSent, inc.pending = now, 0
}

// flush sends the update of every incident whose interval ended with events pending, and
// forgets quiet incidents.
func (n *Notifier) flush() {
	now := n.clk.Now()
	for key, inc := range n.incidents {
		if now.Sub(inc.lastSent) < n.cfg.UpdateInterval {
			continue
		}
		if inc.pending == 0 {
			delete(n.incidents, key)
			continue
		}
		n.send(Message{Event: inc.latest, Update: true, Count: inc.pending})
		inc.lastSent, inc.pending = now, 0
	}
}

// send hands m to every sink's queue without waiting.
func (n *Notifier) send(m Message) {
	m.Bot = n.cfg.Bot
	for _, s := range n.sinks {
		select {
		case s.msgs <- m:
		default:
			n.logf("notify: %s: message queue full, dropping: %s", s.sink.Name(), m.Summary)
		}
	}
}

// deliver sends one sink's messages in order, each retried with backoff, within the rate cap.
func (n *Notifier) deliver(ctx context.Context, s *sinkQueue) {
	for {
		var m Message
		select {
		case <-ctx.Done():
			return
		case m = <-s.msgs:
		}
		now := n.clk.Now()
		kept := s.sent[:0]
		for _, t := range s.sent {
			if now.Sub(t) < time.Minute {
				kept = append(kept, t)
			}
		}
		s.sent = kept
		if len(s.sent) >= n.cfg.MaxPerMinute && !m.Resolved {
			s.supp++
			continue
		}
		s.sent = append(s.sent, now)
		m.Suppressed, s.supp = s.supp, 0
		n.mu.Lock()
		if n.dropped > 0 {
			m.Suppressed += n.dropped
			n.dropped = 0
		}
		n.mu.Unlock()
		n.tryHard(ctx, s.sink, m)
	}
}

// tryHard delivers m, retrying with full-jitter backoff up to Attempts tries.
func (n *Notifier) tryHard(ctx context.Context, s Sink, m Message) {
	for attempt := 0; attempt < n.cfg.Attempts; attempt++ {
		if attempt > 0 {
			wait := jitter.Full(n.rng, n.cfg.BackoffBase, n.cfg.BackoffCap, attempt-1)
			if !clock.Sleep(ctx, n.clk, wait) {
				return
			}
		}
		actx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
		err := s.Send(actx, m)
		cancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return
		}
		if attempt == n.cfg.Attempts-1 {
			n.logf("notify: %s: giving up after %d tries: %s (the message was: %s)", s.Name(), n.cfg.Attempts, redact.String(err.Error()), m.Summary)
		}
	}
}
