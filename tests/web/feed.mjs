// Seeds a running klined with half an hour of trades through its lines:tcp source, so the chart
// and the clients have history to load: `node feed.mjs seed` (env KL_FEED_PORT, KL_BASE). Called
// by tests/integ/web.sh right after klined starts; exits non-zero unless REST then shows the
// trades. They go in one write, oldest first: the first one starts each symbol's series in the
// past and the rest roll it forward to now, before the wall clock's tick can close those minutes
// (which would make them too late).
import { aggTrade, feed, getJson, until } from './lib.mjs';

const START = { BTCUSDT: 60000, ETHUSDT: 3000 };

function history(minutes) {
  const now = Date.now();
  const events = [];
  for (const [sym, p0] of Object.entries(START)) {
    for (let s = minutes * 60; s > 0; s -= 20) {
      // A slow wave plus a zigzag: candles of both colours, with distinct highs and lows.
      const p = p0 * (1 + 0.01 * Math.sin(s / 240)) + ((s / 20) % 3 === 0 ? -1 : 1) * p0 * 0.0004;
      events.push(aggTrade(sym, p.toFixed(2), (0.01 + (s % 7) / 100).toFixed(4), now - s * 1000, s % 40 === 0));
    }
  }
  return events.sort((x, y) => x.T - y.T || x.a - y.a);
}

// Waits until REST shows each symbol's last seeded trade as the close of its 1m kline, so the
// tests start on a service that has taken the whole seed.
async function landed(events) {
  for (const sym of Object.keys(START)) {
    const t = events.filter((e) => e.s === sym).at(-1);
    const k = await until(async () => {
      const q = `/api/v3/klines?symbol=${sym}&interval=1m&startTime=${t.T - (t.T % 60000)}&limit=1`;
      const { body } = await getJson(q).catch(() => ({}));
      return Array.isArray(body) && body[0] && Number(body[0][4]) === Number(t.p) && body;
    }, 30000, 200);
    if (!k) throw new Error(`${sym}: the seed's last trade (${t.p} at ${t.T}) is not in REST /api/v3/klines`);
  }
}

if (process.argv[2] === 'seed') {
  const events = history(30);
  await feed(events);
  await landed(events);
  console.log(`seeded ${events.length} trades; REST has them`);
} else {
  console.error('usage: node feed.mjs seed   (env KL_FEED_PORT)');
  process.exit(2);
}
