package binance

// DeclaredEndpoints lists "METHOD /path" of every REST endpoint the adapter describes to the
// scheduler, for the black-box weight test.
func DeclaredEndpoints() []string {
	var out []string
	for _, ep := range allEndpoints {
		out = append(out, ep.method+" "+ep.path)
	}
	return out
}

// StreamURLs are the market-stream root and WebSocket API endpoint the client connects to.
func (c *Client) StreamURLs() (string, string) { return c.cfg.StreamURL, c.cfg.WSAPIURL }
