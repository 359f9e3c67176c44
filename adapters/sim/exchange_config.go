package sim

// Secrets implements adapters.SecretHolder: the embedded simulator's account credentials,
// which the dialect's adapter sends, are masked like a real exchange's.
func (c *ExchangeConfig) Secrets() []string { return []string{DefaultAPIKey, DefaultAPISecret} }

// ZeroIsValue implements adapters.ZeroValued: seed 0 is a seed like any other.
func (c *ExchangeConfig) ZeroIsValue() []string { return []string{"seed"} }
