package sim

import "sort"

// EndpointStats counts what one endpoint (or all of them) answered.
type EndpointStats struct {
	Requests      int64 `json:"requests"`
	Status429     int64 `json:"status_429"`
	Status418     int64 `json:"status_418"`
	Bans          int64 `json:"bans"`
	AuthFailures  int64 `json:"auth_failures"`
	OrdersCreated int64 `json:"orders_created"`
}

type endpointStats = EndpointStats

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
	endpoints map[string]*EndpointStats
	bans      int64
	depth     map[string]int64
}

func newStats() stats {
	return stats{endpoints: map[string]*EndpointStats{}, depth: map[string]int64{}}
}

// requires that s.mu is held.
func (st *stats) endpoint(key string) *EndpointStats {
	e, ok := st.endpoints[key]
	if !ok {
		e = &EndpointStats{}
		st.endpoints[key] = e
	}
	return e
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := Stats{Total: s.stats.total, Endpoints: map[string]EndpointStats{}, UsedWeight: map[string]int64{}, Banned: []string{}}
	out.Total.Bans = s.stats.bans
	for k, v := range s.stats.endpoints {
		out.Endpoints[k] = *v
	}
	for ip, st := range s.ips {
		w := st.weight.at(now)
		out.UsedWeight[ip] = w
		out.UsedWeightTotal += w
		if now.Before(st.bannedUntil) {
			out.Banned = append(out.Banned, ip)
		}
	}
	sort.Strings(out.Banned)
	out.DepthSnapshots = map[string]int64{}
	for k, v := range s.stats.depth {
		out.DepthSnapshots[k] = v
	}
	out.Streams = s.hub.statsSnapshot()
	return out
}
