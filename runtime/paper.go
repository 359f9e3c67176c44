package runtime

import (
	"fmt"
	"sort"

	"github.com/knadh/koanf/v2"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/paper"
)

// PaperConfig is exchange.paper: the paper account of `exchange.mode: paper`.
type PaperConfig struct {
	// Balances funds the paper account (asset → amount). Default 10000 USDT.
	Balances map[string]string `koanf:"balances"`
	// Commission charged on every paper fill, in the asset received. Default "0.001".
	Commission string `koanf:"commission"`
}

// decodePaper takes exchange.mode and exchange.paper out of the section (they are the
// runtime's, not the adapter's) and checks them.
func (e *ExchangeConfig) decodePaper(section *koanf.Koanf) error {
	e.Mode = section.String("exchange.mode")
	section.Delete("exchange.mode")
	if e.Mode == "" {
		e.Mode = "live"
	}
	if e.Mode != "live" && e.Mode != "paper" {
		return &ConfigError{Key: "exchange.mode", Reason: fmt.Sprintf("want live or paper, got %q", e.Mode)}
	}
	if section.Exists("exchange.paper") {
		if e.Mode != "paper" {
			return &ConfigError{Key: "exchange.paper", Reason: "set only with exchange.mode: paper"}
		}
		if err := decodeStrict(section, "exchange.paper", &e.Paper); err != nil {
			return err
		}
		section.Delete("exchange.paper")
	}
	if e.Paper.Balances == nil {
		e.Paper.Balances = map[string]string{"USDT": "10000"}
	}
	if e.Paper.Commission == "" {
		e.Paper.Commission = "0.001"
	}
	if c, err := decimal.NewFromString(e.Paper.Commission); err != nil || c.IsNegative() || c.GreaterThanOrEqual(decimal.NewFromInt(1)) {
		return &ConfigError{Key: "exchange.paper.commission", Reason: fmt.Sprintf("want a rate in [0, 1), got %q", e.Paper.Commission)}
	}
	assets := make([]string, 0, len(e.Paper.Balances))
	for a := range e.Paper.Balances {
		assets = append(assets, a)
	}
	sort.Strings(assets)
	for _, a := range assets {
		if d, err := decimal.NewFromString(e.Paper.Balances[a]); err != nil || d.IsNegative() {
			return &ConfigError{Key: "exchange.paper.balances." + a, Reason: fmt.Sprintf("want a non-negative decimal, got %q", e.Paper.Balances[a])}
		}
	}
	return nil
}

// paperExchange wraps ex for exchange.mode: paper.
func paperExchange(ex adapters.Exchange, c PaperConfig) adapters.Exchange {
	bal := map[string]decimal.Decimal{}
	for a, v := range c.Balances {
		bal[a] = decimal.RequireFromString(v)
	}
	return paper.New(ex, paper.Config{Balances: bal, Commission: decimal.RequireFromString(c.Commission)})
}
