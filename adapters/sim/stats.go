package sim

import (
	"sort"
	"time"
)

// EndpointStats counts what one endpoint (or all of them) answered.
type EndpointStats struct {
	Requests  int64 `json:"requests"`
	Status429 int64 `json:"status_429"`
	Status418 int64 `json:"status_418"`
	Bans      int64 `json:"bans"`
	// AuthFailures counts the signed calls refused for their key, signature or timestamp,
	// including those Faults.AuthErrorRate refused.
	AuthFailures  int64 `json:"auth_failures"`
	OrdersCreated int64 `json:"orders_created"`
	// UsedWeight is the REQUEST_WEIGHT the endpoint was charged, from every IP, in the current
	// window; it resets with the window. In Total it is the sum over IPs (UsedWeightTotal).
	UsedWeight int64 `json:"used_weight"`
}

// endpointStats is one endpoint's counters and the weight it was charged in the current
// REQUEST_WEIGHT window. Not safe for concurrent use; the server's mutex guards it.
type endpointStats struct {
	EndpointStats
	weight window
}

// Stats is GET /sim/stats: per endpoint ("METHOD /path", or "other") and in total, plus the
// weight each IP has used in the current window.
type Stats struct {
	Total      EndpointStats            `json:"total"`
	Endpoints  map[string]EndpointStats `json:"endpoints"`
	UsedWeight map[string]int64         `json:"used_weight"` // by client IP, current window
	// UsedWeightTotal is the sum of UsedWeight.
	UsedWeightTotal int64 `json:"used_weight_total"`
	// Banned lists the IPs banned now.
	Banned []string `json:"banned"`
	// DepthSnapshots counts GET /api/v3/depth answers per symbol (what a stream client's
	// resyncs cost).
	DepthSnapshots map[string]int64 `json:"depth_snapshots"`
	// Streams counts WebSocket connections (ws_streams.go).
	Streams StreamStats `json:"streams"`
}

type stats struct {
	total     EndpointStats
	endpoints map[string]*endpointStats
	weightIV  interval // the REQUEST_WEIGHT window, for each endpoint's weight
	bans      int64
	depth     map[string]int64
}

func newStats(weight interval) stats {
	return stats{endpoints: map[string]*endpointStats{}, weightIV: weight, depth: map[string]int64{}}
}

// requires that s.mu is held.
func (st *stats) endpoint(key string) *endpointStats {
	e, ok := st.endpoints[key]
	if !ok {
		e = &endpointStats{weight: newWindow(st.weightIV)}
		st.endpoints[key] = e
	}
	return e
}

// charge adds w (negative: a refund) to the REQUEST_WEIGHT the request's IP and endpoint
// used in the window of now, never below zero.
// requires that s.mu is held.
func (s *Server) charge(st *ipState, ep *endpointStats, now time.Time, w int64) {
	for _, win := range []*window{&st.weight, &ep.weight} {
		win.at(now)
		win.count = max(win.count+w, 0)
	}
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := Stats{Total: s.stats.total, Endpoints: map[string]EndpointStats{}, UsedWeight: map[string]int64{}, Banned: []string{}}
	out.Total.Bans = s.stats.bans
	for k, v := range s.stats.endpoints {
		e := v.EndpointStats
		e.UsedWeight = v.weight.at(now)
		out.Endpoints[k] = e
	}
	for ip, st := range s.ips {
		w := st.weight.at(now)
		out.UsedWeight[ip] = w
		out.UsedWeightTotal += w
		if now.Before(st.bannedUntil) {
			out.Banned = append(out.Banned, ip)
		}
	}
	out.Total.UsedWeight = out.UsedWeightTotal
	sort.Strings(out.Banned)
	out.DepthSnapshots = map[string]int64{}
	for k, v := range s.stats.depth {
		out.DepthSnapshots[k] = v
	}
	out.Streams = s.hub.statsSnapshot()
	return out
}
