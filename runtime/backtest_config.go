package runtime

import "github.com/keelbot/keel/strategy"

// BacktestConfig is the `backtest:` section, read by `keel backtest` and `<bot> backtest`
// (package backtest); a running bot ignores it. Zero fields take the defaults noted.
type BacktestConfig struct {
	// File is a CSV of candles in Binance's kline format (data.binance.vision) to replay.
	File string `koanf:"file"`
	// Trades is a CSV of public trades in Binance's trades format (data.binance.vision: id,
	// price, qty, quoteQty, time, isBuyerMaker, isBestMatch). When set, the simulator's
	// matching replays these trades instead of four per candle; without File, one-minute
	// candles are built from them.
	Trades string `koanf:"trades"`
	// Symbol the file's candles are of, one the simulator lists (BTCUSDT, ETHUSDT,
	// DOGEUSDT). Default BTCUSDT.
	Symbol string `koanf:"symbol"`
	// Balances funds the account at the start (asset → amount, decimal strings). Default
	// 10000 of the symbol's quote asset and none of its base.
	Balances map[string]string `koanf:"balances"`
	// Commission charged on every fill, in the asset received. Default "0.001" (0.1%).
	Commission string `koanf:"commission"`
}

// StrategySection is the config section of strategy name (strategies.<name>), decoded as
// strictly as the runtime decodes it, for programs that build a strategy's Env themselves.
func StrategySection(c *Config, name string) strategy.ConfigSection {
	return strategySection{cfg: c, name: name}
}
