// Drives the simulator's market streams and WebSocket API with ccxt.pro (ccxt's WebSocket
// side), unmodified: KEEL_SIM_URL=... KEEL_SIM_KEY=... KEEL_SIM_SECRET=... node check_ws.mjs,
// from a directory where ccxt is installed. Prints one JSON line per call and exits non-zero on
// the first failure. Run by ../../ccxt_test.go (TestCCXTStreams) when ccxt is installed.
import ccxt from 'ccxt';

const base = process.env.KEEL_SIM_URL, apiKey = process.env.KEEL_SIM_KEY, secret = process.env.KEEL_SIM_SECRET;
const ws = base.replace(/^http/, 'ws');
const ex = new ccxt.pro.binance({
  apiKey, secret, enableRateLimit: false,
  options: { fetchMarkets: { types: ['spot'] }, fetchMargins: false, fetchCurrencies: false, defaultType: 'spot',
    adjustForTimeDifference: false },
});
for (const [k, u] of Object.entries(ex.urls.api)) {
  if (typeof u === 'string') ex.urls.api[k] = u.replace(/^https?:\/\/[^/]+/, base);
}
ex.urls.api.ws.spot = ws + '/ws';
ex.urls.api.ws['ws-api'].spot = ws + '/ws-api/v3';
await ex.loadHttpProxyAgent(); // ccxt's way to allow plain ws:// (the simulator on loopback)
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
// Streams: ccxt opens /ws/<n> and subscribes with SUBSCRIBE.
await step('watchTicker', () => ex.watchTicker('BTC/USDT'), (t) => t.symbol === 'BTC/USDT' && t.last > 0);
await step('watchOrderBook', () => ex.watchOrderBook('BTC/USDT'), (b) => b.bids.length > 0 && b.asks.length > 0 && b.bids[0][0] < b.asks[0][0]);
await step('watchTrades', () => ex.watchTrades('BTC/USDT'), (t) => t.length > 0 && t[0].price > 0);
await step('watchOHLCV', () => ex.watchOHLCV('BTC/USDT', '1s'), (k) => k.length > 0 && k[0].length === 6);
// The WebSocket API, signed per request (ccxt signs returnRateLimits too).
const o = await step('createOrderWs', () => ex.createOrderWs('BTC/USDT', 'limit', 'buy', 0.001, 30000), (o) => o.id && o.status === 'open');
await step('fetchOrderWs', () => ex.fetchOrderWs(o.id, 'BTC/USDT'), (r) => r.id === o.id);
const e = await step('editOrderWs', () => ex.editOrderWs(o.id, 'BTC/USDT', 'limit', 'buy', 0.001, 29500), (r) => r.id && r.id !== o.id && r.price === 29500);
await step('cancelOrderWs', () => ex.cancelOrderWs(e.id, 'BTC/USDT'), (r) => r.status === 'canceled');
// ccxt 4.5.84 parses account.status without a market type, so its unified balance stays empty
// (against Binance too): the answer itself is checked.
await step('fetchBalanceWs', () => ex.fetchBalanceWs(), (b) => ((b.info || {}).balances || []).some((x) => x.asset === 'USDT' && Number(x.free) > 0));
const m = await step('createMarketOrderWs', () => ex.createOrderWs('BTC/USDT', 'market', 'buy', 0.001), (r) => r.status === 'closed');
await step('fetchMyTradesWs', () => ex.fetchMyTradesWs('BTC/USDT'), (t) => t.some((x) => x.order === m.id));
await ex.close();
process.exit(0);
