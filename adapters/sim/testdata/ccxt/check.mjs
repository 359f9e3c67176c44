// Drives the simulator with ccxt (the JavaScript client most bots outside Go use), unmodified:
// KEEL_SIM_URL=... KEEL_SIM_KEY=... KEEL_SIM_SECRET=... node check.mjs, from a directory where
// ccxt is installed. Prints one JSON line per call and exits non-zero on the first failure. Run
// by ../../ccxt_test.go when ccxt is installed (see its doc).
import ccxt from 'ccxt';

const base = process.env.KEEL_SIM_URL, apiKey = process.env.KEEL_SIM_KEY, secret = process.env.KEEL_SIM_SECRET;
const ex = new ccxt.binance({
  apiKey, secret, enableRateLimit: false,
  options: { fetchMarkets: { types: ['spot'] }, fetchMargins: false, fetchCurrencies: false, defaultType: 'spot',
    adjustForTimeDifference: false },
});
// Every endpoint ccxt knows points at the simulator, whatever its host: nothing leaves loopback.
for (const [k, u] of Object.entries(ex.urls.api)) {
  if (typeof u === 'string') ex.urls.api[k] = u.replace(/^https?:\/\/[^/]+/, base);
}
const step = async (name, f, check) => {
  try {
    const r = await f();
    if (check && !check(r)) throw new Error('unexpected answer: ' + JSON.stringify(r).slice(0, 300));
    console.log(JSON.stringify({ step: name, ok: true }));
    return r;
  } catch (e) {
    console.log(JSON.stringify({ step: name, ok: false, error: String(e).slice(0, 500) }));
    process.exit(1);
  }
};
await step('loadMarkets', () => ex.loadMarkets(), (m) => m['BTC/USDT'] !== undefined);
await step('fetchTicker', () => ex.fetchTicker('BTC/USDT'), (t) => t.last > 0 && t.bid > 0 && t.ask > t.bid);
await step('fetchTickers', () => ex.fetchTickers(['BTC/USDT', 'ETH/USDT']), (t) => Object.keys(t).length === 2);
await step('fetchOrderBook', () => ex.fetchOrderBook('BTC/USDT', 5), (b) => b.bids.length === 5 && b.asks.length === 5);
await step('fetchOHLCV', () => ex.fetchOHLCV('BTC/USDT', '1m', undefined, 5), (k) => Array.isArray(k) && k.length >= 1 && k[0].length === 6);
await step('fetchTrades', () => ex.fetchTrades('BTC/USDT', undefined, 5), (t) => t.length >= 1 && t[0].price > 0);
await step('fetchBalance', () => ex.fetchBalance(), (b) => b.USDT && b.USDT.free > 0);
const o = await step('createOrder', () => ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 30000), (o) => o.status === 'open' && o.id);
await step('fetchOrder', () => ex.fetchOrder(o.id, 'BTC/USDT'), (r) => r.id === o.id);
await step('fetchOpenOrders', () => ex.fetchOpenOrders('BTC/USDT'), (r) => r.length === 1);
await step('cancelOrder', () => ex.cancelOrder(o.id, 'BTC/USDT'), (r) => r.status === 'canceled');
await step('createMarketOrder', () => ex.createOrder('BTC/USDT', 'market', 'buy', 0.001), (r) => r.status === 'closed' && r.filled > 0);
await step('fetchMyTrades', () => ex.fetchMyTrades('BTC/USDT'), (t) => t.length >= 1);
