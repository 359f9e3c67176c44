package rest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/scheduler"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// once is a scheduler that runs a single attempt and returns its outcome as is.
type once struct{}

func (once) Do(ctx context.Context, r *scheduler.Request) (scheduler.Outcome, error) {
	return r.Attempt(ctx, 1), nil
}

func byStatus(a rest.Answer, out *scheduler.Outcome) {
	if a.Status >= 400 {
		out.Class = scheduler.ClassValidation
		out.Message = string(a.Body)
	}
}

func newClient(t *testing.T, base string, opts ...rest.Option) *rest.Client {
	t.Helper()
	c, err := rest.New(rest.Config{Name: "test", BaseURL: base, Timeout: 2 * time.Second, MaxBody: 64, Classify: byStatus}, once{}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func get(c *rest.Client, path string, write bool, parse func([]byte) error) scheduler.Outcome {
	out, _ := c.Do(context.Background(), rest.Call{Endpoint: path, Method: http.MethodGet, Write: write,
		Build: func(ctx context.Context) (*http.Request, error) {
			r, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL(path, "signature=s3cr3t"), nil)
			if err == nil {
				r.Header.Set("X-Api-Key", "the-key")
			}
			return r, err
		},
		Parse: parse})
	return out
}

// A redirect is never followed: the signed request's key and signature stay with the
// exchange's host, and the 3xx comes back as the answer.
func TestRedirectIsNotFollowed(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
	}))
	defer other.Close()
	ex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer ex.Close()
	// Even with a caller's client whose policy would follow it.
	c := newClient(t, ex.URL, rest.WithHTTPClient(&http.Client{}))
	out := get(c, "/api/order", true, func([]byte) error { return nil })
	if elsewhere.Load() != 0 {
		t.Fatal("the request followed a redirect to another host")
	}
	if out.Status != http.StatusTemporaryRedirect {
		t.Fatalf("status %d, want the 307 itself", out.Status)
	}
	if scheduler.Classify(out, true) == scheduler.ClassNone {
		t.Fatal("a redirect answered to a write passed as success")
	}
	if !errors.Is(out.Err, rest.ErrRedirect) || !strings.Contains(out.Err.Error(), other.URL+"/steal") || strings.Contains(out.Err.Error(), "s3cr3t") {
		t.Fatalf("the error must name the target (not its query): %v", out.Err)
	}
}

// A success larger than MaxBody is malformed: unknown for a write, transient for a read.
func TestBodyBound(t *testing.T) {
	ex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 65))
	}))
	defer ex.Close()
	c := newClient(t, ex.URL)
	for write, want := range map[bool]scheduler.Class{true: scheduler.ClassUnknown, false: scheduler.ClassTransient} {
		out := get(c, "/big", write, func([]byte) error { t.Fatal("an oversized body was parsed"); return nil })
		if out.Class != want || !out.Malformed || !errors.Is(out.Err, rest.ErrMalformedAnswer) {
			t.Fatalf("write=%v: class %s malformed %v err %v", write, out.Class, out.Malformed, out.Err)
		}
	}
}

// Call.MaxBody overrides Config.MaxBody for one call, both ways: a small endpoint refuses
// what the client's default would take, a large one takes what the default would refuse.
func TestBodyBoundPerCall(t *testing.T) {
	ex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 40))
	}))
	defer ex.Close()
	c := newClient(t, ex.URL) // Config.MaxBody 64
	call := func(limit int64) scheduler.Outcome {
		out, _ := c.Do(context.Background(), rest.Call{Endpoint: "/e", Method: http.MethodGet, MaxBody: limit,
			Build: func(ctx context.Context) (*http.Request, error) {
				return http.NewRequestWithContext(ctx, http.MethodGet, c.URL("/e", ""), nil)
			},
			Parse: func([]byte) error { return nil }})
		return out
	}
	if out := call(16); !errors.Is(out.Err, rest.ErrMalformedAnswer) || !strings.Contains(out.Err.Error(), "larger than 16 bytes") {
		t.Fatalf("a 40-byte answer under a 16-byte call limit: %v", out.Err)
	}
	if out := call(0); out.Err != nil || out.Class != scheduler.ClassNone {
		t.Fatalf("no call limit: the client's 64 bytes apply: class %s err %v", out.Class, out.Err)
	}
}

// A 2xx whose body the adapter cannot parse is marked malformed (an endpoint fault the
// scheduler counts per endpoint, not a platform outage), its error matching
// ErrMalformedAnswer even when the parser did not say so; a failure without an answer is not.
func TestUnparsableSuccessIsMalformed(t *testing.T) {
	ex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"bidPrice":`)
	}))
	defer ex.Close()
	c := newClient(t, ex.URL)
	out := get(c, "/api/ticker", false, func(b []byte) error { return errors.New("unexpected end of JSON input") })
	if out.Class != scheduler.ClassTransient || !out.Malformed || !errors.Is(out.Err, rest.ErrMalformedAnswer) {
		t.Fatalf("class %s malformed %v err %v, want a transient malformed answer", out.Class, out.Malformed, out.Err)
	}
	ex.Close()
	if out := get(c, "/api/ticker", false, nil); out.Malformed {
		t.Fatalf("a connection failure was marked malformed: %+v", out)
	}
}

// A transport failure before the request was written is transient even for a write; one
// after it was written leaves a write unknown. Neither error carries the URL's signature.
func TestTransportClass(t *testing.T) {
	ex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close() // read, then hang up without answering
	}))
	defer ex.Close()
	c := newClient(t, ex.URL)
	out := get(c, "/api/order", true, nil)
	if out.Class != scheduler.ClassUnknown {
		t.Fatalf("written write, answer lost: class %s, want unknown", out.Class)
	}
	if strings.Contains(out.Err.Error(), "s3cr3t") {
		t.Fatalf("error carries the signed URL: %v", out.Err)
	}
	ex.Close()
	out = get(c, "/api/order", true, nil)
	if out.Class != scheduler.ClassTransient {
		t.Fatalf("never sent: class %s, want transient", out.Class)
	}
	if strings.Contains(out.Err.Error(), "s3cr3t") {
		t.Fatalf("error carries the signed URL: %v", out.Err)
	}
}

// Build's error fails the attempt unsent in its own class; Written is called once per built
// attempt, after the request went out.
func TestBuildAndWritten(t *testing.T) {
	var got atomic.Int64
	ex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	defer ex.Close()
	c := newClient(t, ex.URL)
	out, _ := c.Do(context.Background(), rest.Call{Endpoint: "/x", Method: http.MethodGet,
		Build: func(context.Context) (*http.Request, error) {
			return nil, rest.LocalError(scheduler.ClassAuth, errors.New("clock drift"))
		}})
	if out.Class != scheduler.ClassAuth || got.Load() != 0 {
		t.Fatalf("class %s, %d sent", out.Class, got.Load())
	}
	var written atomic.Int64
	out, _ = c.Do(context.Background(), rest.Call{Endpoint: "/x", Method: http.MethodGet,
		Build: func(ctx context.Context) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, c.URL("/x", ""), nil)
		},
		Written: func() { written.Add(1) }})
	if out.Status != 200 || written.Load() != 1 {
		t.Fatalf("status %d, Written called %d times", out.Status, written.Load())
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "7": 7 * time.Second, "0.25": 250 * time.Millisecond, "-3": 0, "NaN": 0, "soon": 0,
		"999999999": time.Hour, now.Add(10 * time.Second).Format(http.TimeFormat): 10 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat): 0, now.Add(48 * time.Hour).Format(http.TimeFormat): time.Hour,
	} {
		if got := rest.RetryAfter(v, now, time.Hour); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestParamsEncode(t *testing.T) {
	for _, tt := range []struct {
		in   rest.Params
		want string
	}{
		{rest.Params{{"a", "b c"}}, "a=b%20c"},
		{rest.Params{{"id", "x-_.~Z9"}}, "id=x-_.~Z9"},
		{rest.Params{{"q", "a&b=c+d/%"}}, "q=a%26b%3Dc%2Bd%2F%25"},
		{rest.Params{{"s", "é"}}.Add("n", "1"), "s=%C3%A9&n=1"},
	} {
		if got := tt.in.Encode(); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := rest.Secret("hunter2")
	for _, got := range []string{s.String(), s.GoString()} {
		if strings.Contains(got, "hunter2") {
			t.Fatalf("secret printed: %s", got)
		}
	}
	b, _ := s.MarshalJSON()
	if strings.Contains(string(b), "hunter2") {
		t.Fatal("secret marshalled")
	}
}

// A write that has left is seen through to its answer: the caller's context ending after the
// request was written (a strategy stopping, a shutdown) does not turn an order the exchange
// is placing into an unknown outcome. A write whose context ended before it was sent is not
// sent.
func TestWriteSeenThroughAfterCancel(t *testing.T) {
	received := make(chan struct{}, 1)
	release := make(chan struct{})
	var hits atomic.Int64
	ex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		received <- struct{}{}
		<-release
		io.WriteString(w, "placed")
	}))
	defer ex.Close()
	c := newClient(t, ex.URL)
	place := func(ctx context.Context) (scheduler.Outcome, string) {
		var body string
		out, _ := c.Do(ctx, rest.Call{Endpoint: "/order", Method: http.MethodPost, Write: true,
			Build: func(ctx context.Context) (*http.Request, error) {
				return http.NewRequestWithContext(ctx, http.MethodPost, c.URL("/order", ""), strings.NewReader("x=1"))
			},
			Parse: func(b []byte) error { body = string(b); return nil }})
		return out, body
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-received; cancel(); close(release) }()
	out, body := place(ctx)
	if out.Class != scheduler.ClassNone || body != "placed" {
		t.Fatalf("a written placement whose caller stopped: class %s body %q err %v, want the exchange's answer", out.Class, body, out.Err)
	}
	gone, cancelGone := context.WithCancel(context.Background())
	cancelGone()
	out, _ = place(gone)
	if hits.Load() != 1 || out.Class == scheduler.ClassUnknown {
		t.Fatalf("a placement cancelled before it was sent: %d requests reached the exchange, class %s", hits.Load(), out.Class)
	}
}

// closeConn tells when the HTTP client closes it (a request being cut).
type closeConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *closeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// stalledBody is a request body whose first read tells reading and then waits for release:
// the transport has the placement's connection and is writing it.
type stalledBody struct {
	r       io.Reader
	reading chan<- struct{}
	release <-chan struct{}
	once    sync.Once
}

func (b *stalledBody) Read(p []byte) (int, error) {
	b.once.Do(func() { close(b.reading); <-b.release })
	return b.r.Read(p)
}

// A placement whose caller stops once the transport has its connection and is writing it is
// seen through to its answer: a cut at that point cannot stop bytes already on their way,
// so it would only turn an order the exchange may be placing into an unknown outcome. This
// was the example bot's SIGTERM flake: stopping the strategy cut such a placement, the
// exchange placed it, and the journal was left with an unknown entry.
func TestWriteBeingWrittenSeenThroughAfterCancel(t *testing.T) {
	ex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, _ := io.ReadAll(r.Body); string(b) != "x=1" {
			http.Error(w, "body "+string(b), http.StatusBadRequest)
			return
		}
		io.WriteString(w, "placed")
	}))
	defer ex.Close()
	closed := make(chan struct{})
	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &closeConn{Conn: conn, closed: closed}, nil
	}}
	defer tr.CloseIdleConnections()
	c := newClient(t, ex.URL, rest.WithHTTPClient(&http.Client{Transport: tr}))
	ctx, cancel := context.WithCancel(context.Background())
	reading, release := make(chan struct{}), make(chan struct{})
	go func() {
		<-reading // the transport is writing the request
		cancel()  // the strategy stops
		// A client that cuts the request closes its connection (promptly: the cut is what
		// the wait is for); one that sees it through does not, and goes on after the wait.
		select {
		case <-closed:
		case <-time.After(300 * time.Millisecond):
		}
		close(release)
	}()
	var body string
	out, _ := c.Do(ctx, rest.Call{Endpoint: "/order", Method: http.MethodPost, Write: true,
		Build: func(ctx context.Context) (*http.Request, error) {
			r, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL("/order", ""),
				&stalledBody{r: strings.NewReader("x=1"), reading: reading, release: release})
			if err == nil {
				r.ContentLength = 3
			}
			return r, err
		},
		Parse: func(b []byte) error { body = string(b); return nil }})
	if out.Class != scheduler.ClassNone || body != "placed" {
		t.Fatalf("a placement being written when its caller stopped: class %s body %q err %v, want the exchange's answer",
			out.Class, body, out.Err)
	}
}
