// Drives a running simulator (Binance dialect) with ccxt, unmodified: REST market data and
// trading, the market streams and the WebSocket API through ccxt.pro. Run by
// TestCCXTClient (adapters/sim/ccxt_test.go): node check.js <REST root> <api key> <secret>.
// Prints one line per check and exits non-zero on the first failure.
const ccxt = require('ccxt');

const [rest, apiKey, secret] = process.argv.slice(2);
const ws = rest.replace(/^http/, 'ws');

function check(name, ok, detail) {
  if (!ok) {
    console.error(`FAIL ${name}: ${JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok ${name}`);
}

async function main() {
  const ex = new ccxt.pro.binance({
    apiKey, secret,
    options: { defaultType: 'spot', fetchMarkets: ['spot'], fetchCurrencies: false, fetchMargins: false },
  });
  ex.urls.api.public = rest + '/api/v3';
  ex.urls.api.private = rest + '/api/v3';
  ex.urls.api.ws.spot = ws + '/ws';
  ex.urls.api.ws['ws-api'].spot = ws + '/ws-api/v3';

  await ex.loadHttpProxyAgent(); // ccxt's way to allow plain ws:// (the simulator on loopback)
  const markets = await ex.loadMarkets();
  check('loadMarkets (exchangeInfo)', markets['BTC/USDT'] && markets['BTC/USDT'].precision.price > 0, Object.keys(markets));

  const t = await ex.fetchTicker('BTC/USDT');
  check('fetchTicker (ticker/24hr)', t.last > 0 && t.bid > 0 && t.ask > t.bid, t);
  const ts = await ex.fetchTickers(['BTC/USDT', 'ETH/USDT']);
  check('fetchTickers (ticker/24hr symbols)', Object.keys(ts).length === 2, Object.keys(ts));
  const ba = await ex.fetchBidsAsks(['BTC/USDT']);
  check('fetchBidsAsks (ticker/bookTicker)', ba['BTC/USDT'] && ba['BTC/USDT'].bid > 0, ba);
  const ob = await ex.fetchOrderBook('BTC/USDT', 5);
  check('fetchOrderBook (depth)', ob.bids.length === 5 && ob.asks.length === 5 && ob.bids[0][0] < ob.asks[0][0], ob);
  const trades = await ex.fetchTrades('BTC/USDT', undefined, 5);
  check('fetchTrades (aggTrades)', trades.length > 0 && trades[0].price > 0, trades);
  const ohlcv = await ex.fetchOHLCV('BTC/USDT', '1m', undefined, 3);
  check('fetchOHLCV (klines)', ohlcv.length > 0 && ohlcv[0].length === 6, ohlcv);

  const bal = await ex.fetchBalance();
  check('fetchBalance (account)', bal.USDT && bal.USDT.free > 0, bal.USDT);
  const o = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 30000);
  check('createOrder (POST order)', o.id && o.status === 'open', o);
  const got = await ex.fetchOrder(o.id, 'BTC/USDT');
  check('fetchOrder (GET order)', got.id === o.id && got.price === 30000, got);
  const open = await ex.fetchOpenOrders('BTC/USDT');
  check('fetchOpenOrders (openOrders)', open.some((x) => x.id === o.id), open);
  const edited = await ex.editOrder(o.id, 'BTC/USDT', 'limit', 'buy', 0.002, 29000);
  check('editOrder (order/cancelReplace)', edited.id && edited.id !== o.id && edited.price === 29000 && edited.amount === 0.002, edited);
  const canceled = await ex.cancelOrder(edited.id, 'BTC/USDT');
  check('cancelOrder (DELETE order)', canceled.status === 'canceled', canceled);
  const m = await ex.createOrder('BTC/USDT', 'market', 'buy', 0.001);
  check('createOrder market (filled)', m.status === 'closed' && m.filled === 0.001, m);
  const mine = await ex.fetchMyTrades('BTC/USDT');
  check('fetchMyTrades (myTrades)', mine.some((tr) => tr.order === m.id && tr.amount === 0.001), mine);

  // Streams.
  const wt = await ex.watchTicker('BTC/USDT');
  check('watchTicker (@ticker)', wt.symbol === 'BTC/USDT' && wt.last > 0, wt);
  const wb = await ex.watchOrderBook('BTC/USDT');
  check('watchOrderBook (@depth + depth snapshot)', wb.bids.length > 0 && wb.asks.length > 0 && wb.bids[0][0] < wb.asks[0][0], { bid: wb.bids[0], ask: wb.asks[0] });
  const wtr = await ex.watchTrades('BTC/USDT');
  check('watchTrades', wtr.length > 0 && wtr[0].price > 0, wtr);
  const wk = await ex.watchOHLCV('BTC/USDT', '1s');
  check('watchOHLCV (@kline_1s)', wk.length > 0 && wk[0].length === 6, wk);

  // The WebSocket API.
  const wo = await ex.createOrderWs('BTC/USDT', 'limit', 'buy', 0.001, 30000);
  check('createOrderWs (order.place)', wo.id && wo.status === 'open', wo);
  const wf = await ex.fetchOrderWs(wo.id, 'BTC/USDT');
  check('fetchOrderWs (order.status)', wf.id === wo.id, wf);
  const we = await ex.editOrderWs(wo.id, 'BTC/USDT', 'limit', 'buy', 0.001, 29500);
  check('editOrderWs (order.cancelReplace)', we.id && we.id !== wo.id && we.price === 29500, we);
  const wc = await ex.cancelOrderWs(we.id, 'BTC/USDT');
  check('cancelOrderWs (order.cancel)', wc.status === 'canceled', wc);
  const wbal = await ex.fetchBalanceWs();
  // ccxt 4.5.84 parses account.status without a market type, so its unified balance stays
  // empty (against Binance too): the answer itself is checked.
  const usdt = ((wbal.info || {}).balances || []).find((b) => b.asset === 'USDT');
  check('fetchBalanceWs (account.status)', usdt && Number(usdt.free) > 0, wbal.info);
  const wmt = await ex.fetchMyTradesWs('BTC/USDT');
  check('fetchMyTradesWs (myTrades)', wmt.some((tr) => tr.order === m.id), wmt);

  await ex.close();
}

main().then(() => process.exit(0), (e) => {
  console.error('FAIL', e && e.constructor && e.constructor.name, e && e.message);
  process.exit(1);
});
