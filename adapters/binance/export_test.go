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
