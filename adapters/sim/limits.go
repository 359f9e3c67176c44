package sim

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// interval is a limit window as Binance names it: intervalNum and interval (SECOND, MINUTE,
// HOUR, DAY), with the header letter (rest-api.md "General Info on Limits").
type interval struct {
	d      time.Duration
	num    int64
	name   string
	letter string
}

// scaledInterval divides nominal by scale, rounds to whole seconds (at least one) and names
// the result with the largest unit that divides it exactly. Because the enforced window is the
// rounded one, exchangeInfo reports what is enforced: at --time-scale 60 REQUEST_WEIGHT is
// "1 SECOND", ORDERS 10s becomes "1 SECOND" (rounded up) and ORDERS 1d becomes "24 MINUTE".
func scaledInterval(nominal time.Duration, scale float64) interval {
	secs := int64(math.Round(nominal.Seconds() / scale))
	if secs < 1 {
		secs = 1
	}
	units := []struct {
		secs   int64
		name   string
		letter string
	}{{86400, "DAY", "D"}, {3600, "HOUR", "H"}, {60, "MINUTE", "M"}, {1, "SECOND", "S"}}
	for _, u := range units {
		if secs%u.secs == 0 {
			return interval{d: time.Duration(secs) * time.Second, num: secs / u.secs, name: u.name, letter: u.letter}
		}
	}
	panic("unreachable")
}

// suffix is the header suffix, e.g. "1M" in X-MBX-USED-WEIGHT-1M.
func (iv interval) suffix() string { return strconv.FormatInt(iv.num, 10) + iv.letter }

// per is how error messages name the window, e.g. "1 MINUTE".
func (iv interval) per() string { return fmt.Sprintf("%d %s", iv.num, iv.name) }

// window is a fixed window counter aligned to the clock (epoch multiples of its length).
// Not safe for concurrent use; the server's mutex guards it.
type window struct {
	iv    interval
	start time.Time
	count int64
}

func newWindow(iv interval) window { return window{iv: iv} }

// windowStart is the start of the window of length d containing now.
func windowStart(now time.Time, d time.Duration) time.Time {
	ns := now.UnixNano()
	return time.Unix(0, ns-ns%int64(d))
}

// at rolls the window forward to now and returns the current count.
func (w *window) at(now time.Time) int64 {
	if s := windowStart(now, w.iv.d); !s.Equal(w.start) {
		w.start, w.count = s, 0
	}
	return w.count
}

// end is when the current window closes.
func (w *window) end() time.Time { return w.start.Add(w.iv.d) }

// retryAfter is the whole number of seconds (at least 1) until t, as Retry-After carries it.
func retryAfter(now, t time.Time) int64 {
	d := t.Sub(now)
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

// rateLimit is one entry of exchangeInfo's rateLimits.
type rateLimit struct {
	RateLimitType string `json:"rateLimitType"`
	Interval      string `json:"interval"`
	IntervalNum   int64  `json:"intervalNum"`
	Limit         int64  `json:"limit"`
}

// limitSet holds the scaled windows shared by every IP and account.
type limitSet struct {
	weight, raw, orders10s, ordersDay     interval
	weightLimit, rawLimit                 int64
	orders10sLimit, ordersDayLimit        int64
	nominalWeight, nominal10s, nominalDay interval // the unscaled names, for extra headers
	scaled                                bool
}

func newLimitSet(l Limits, scale float64) limitSet {
	return limitSet{
		weight: scaledInterval(l.RequestWeightWindow, scale), weightLimit: l.RequestWeight,
		raw: scaledInterval(l.RawRequestsWindow, scale), rawLimit: l.RawRequests,
		orders10s: scaledInterval(10*time.Second, scale), orders10sLimit: l.Orders10s,
		ordersDay: scaledInterval(24*time.Hour, scale), ordersDayLimit: l.OrdersDay,
		nominalWeight: scaledInterval(l.RequestWeightWindow, 1),
		nominal10s:    scaledInterval(10*time.Second, 1),
		nominalDay:    scaledInterval(24*time.Hour, 1),
		scaled:        scale != 1,
	}
}

func (ls limitSet) rateLimits() []rateLimit {
	return []rateLimit{
		{"REQUEST_WEIGHT", ls.weight.name, ls.weight.num, ls.weightLimit},
		{"ORDERS", ls.orders10s.name, ls.orders10s.num, ls.orders10sLimit},
		{"ORDERS", ls.ordersDay.name, ls.ordersDay.num, ls.ordersDayLimit},
		{"RAW_REQUESTS", ls.raw.name, ls.raw.num, ls.rawLimit},
	}
}

// setHeaders writes the usage headers every answer carries. Their names follow the enforced
// windows; under a time scale the nominal names (X-MBX-USED-WEIGHT-1M, X-MBX-ORDER-COUNT-10S,
// X-MBX-ORDER-COUNT-1D) are sent as well, with the same counts, for clients that hard-code them.
//
// The names are written as the docs spell them (X-MBX-USED-WEIGHT-1M), not in Go's canonical
// form; header names are case-insensitive and clients canonicalize them when reading.
func (ls limitSet) setHeaders(h http.Header, weight, orders10s, ordersDay int64) {
	set := func(name string, v int64) { h[name] = []string{strconv.FormatInt(v, 10)} }
	set("X-MBX-USED-WEIGHT-"+ls.weight.suffix(), weight)
	set("X-MBX-ORDER-COUNT-"+ls.orders10s.suffix(), orders10s)
	set("X-MBX-ORDER-COUNT-"+ls.ordersDay.suffix(), ordersDay)
	if ls.scaled {
		set("X-MBX-USED-WEIGHT-"+ls.nominalWeight.suffix(), weight)
		set("X-MBX-ORDER-COUNT-"+ls.nominal10s.suffix(), orders10s)
		set("X-MBX-ORDER-COUNT-"+ls.nominalDay.suffix(), ordersDay)
	}
}
