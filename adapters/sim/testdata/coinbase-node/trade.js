// Drives an unmodified coinbase-api client (github.com/tiagosiebler/coinbase-api) against
// BASE_URL as it would drive Coinbase Advanced Trade: nothing tells it the exchange is a
// simulator. Each step prints one JSON line {"step": ..., ...}; a failure prints
// {"step": ..., "error": ...} and exits 1. Run by coinbase_thirdparty_test.go.
'use strict';
const { CBAdvancedTradeClient } = require('coinbase-api');

const client = new CBAdvancedTradeClient({
  apiKey: process.env.API_KEY,
  apiSecret: process.env.API_SECRET,
  baseUrl: process.env.BASE_URL,
});

function out(step, v) { console.log(JSON.stringify({ step, ...v })); }

async function main() {
  const product = 'BTC-USDT';
  const time = await client.getServerTime();
  out('time', { epoch_seconds: String(time.epochSeconds) });

  const bba = await client.getBestBidAsk({ product_ids: [product] });
  const book = bba.pricebooks[0];
  out('best_bid_ask', { product_id: book.product_id, bid: book.bids[0].price, ask: book.asks[0].price });

  const accounts = await client.getAccounts({ limit: 250 });
  out('accounts', { currencies: accounts.accounts.map((a) => a.currency).sort() });

  const perms = await client.getApiKeyPermissions();
  out('key_permissions', { can_trade: perms.can_trade, can_transfer: perms.can_transfer });

  const id = client.generateNewOrderId();
  const order = {
    client_order_id: id,
    product_id: product,
    side: 'BUY',
    order_configuration: { limit_limit_gtc: { base_size: '0.01', limit_price: '1000', post_only: false } },
  };
  const placed = await client.submitOrder({ ...order });
  out('place', { success: placed.success, order_id: placed.success_response && placed.success_response.order_id, client_order_id: id });

  const found = await client.getOrder({ order_id: placed.success_response.order_id });
  out('find', { order_id: found.order.order_id, client_order_id: found.order.client_order_id, status: found.order.status });

  const open = await client.getOrders({ order_status: ['OPEN'], product_ids: [product] });
  out('list_open', { client_order_ids: open.orders.map((o) => o.client_order_id) });

  const again = await client.submitOrder({ ...order });
  out('repeat', { success: again.success, order_id: again.success_response && again.success_response.order_id });

  const cancelled = await client.cancelOrders({ order_ids: [placed.success_response.order_id] });
  out('cancel', { success: cancelled.results[0].success, order_id: cancelled.results[0].order_id });

  const after = await client.getOrder({ order_id: placed.success_response.order_id });
  out('find_cancelled', { status: after.order.status });

  const refused = await client.submitOrder({ ...order, client_order_id: client.generateNewOrderId(),
    order_configuration: { limit_limit_gtc: { base_size: '0.00000001', limit_price: '1000', post_only: false } } });
  out('refused', { success: refused.success, error: refused.error_response && (refused.error_response.error || refused.error_response.new_order_failure_reason) });
}

main().catch((e) => {
  const detail = e && (e.body || e.message || e);
  out('error', { error: typeof detail === 'string' ? detail : JSON.stringify(detail) });
  process.exit(1);
});
