// Seeds a running klined with half an hour of trades through its lines:tcp source, so the chart
// and the clients have history to load: `node feed.mjs seed` (env KL_FEED_PORT). Called by
// tests/integ/web.sh right after klined starts. The trades go in one write, oldest first: the
// first one starts each symbol's series in the past and the rest roll it forward to now, before
// the wall clock's tick can close those minutes (which would make them too late).
import { aggTrade, feed } from './lib.mjs';

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

if (process.argv[2] === 'seed') {
  const events = history(30);
  await feed(events);
  console.log(`seeded ${events.length} trades`);
} else {
  console.error('usage: node feed.mjs seed   (env KL_FEED_PORT)');
  process.exit(2);
}
