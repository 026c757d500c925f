// The live chart page as a person sees it: Debian's Chromium (headless, through playwright-core)
// opens klined's "/" and must draw the seeded history (candles counted by the page and coloured
// pixels on the canvas), fill the pickers from the service, show the stream as live, and move
// the last candle to a new high price within one trade sent through the lines feed. It also
// checks the documented time-zone shift (axis time = openTime + offset) and that switching the
// interval and zone reloads the chart. Env: KL_BASE, KL_FEED_PORT, KL_ARTIFACTS, KL_CHROMIUM.
// A screenshot goes to $KL_ARTIFACTS/chart.png for a human to look at.
import fs from 'node:fs';
import { chromium } from 'playwright-core';
import { BASE, aggTrade, artifact, check, done, eq, feed, getJson, highest, until } from './lib.mjs';

const CHROMIUM = process.env.KL_CHROMIUM || '/usr/bin/chromium';
const SYM = 'BTCUSDT';
const TZ = '+08:00';
const TZ_S = 8 * 3600;

// lightweight-charts paints on the next animation frames: wait for two before a screenshot.
const frames = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

async function main() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium`);
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    await run(browser);
  } finally {
    await browser.close();
  }
}

async function run(browser) {
  const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  const requests = [];
  page.on('request', (r) => requests.push(r.url().replace(BASE, '')));
  // Every stream the page opens: its URL, whether it closed, and the kline highs it received.
  // A stream that klined drops makes the page reconnect and reload REST, which would hide the
  // failure from the candle checks: so the live checks also look at the socket itself.
  const sockets = [];
  const streams = [];
  page.on('websocket', (w) => {
    sockets.push(w.url());
    const st = { url: w.url(), closed: false, highs: [] };
    streams.push(st);
    w.on('close', () => { st.closed = true; });
    w.on('framereceived', (f) => {
      try { st.highs.push(Number(JSON.parse(f.payload).k.h)); } catch { /* not a kline event */ }
    });
  });
  const streamOf = (suffix) => streams.filter((st) => st.url.endsWith(suffix));

  const url = `${BASE}/?symbol=${SYM}&interval=1m&tz=${encodeURIComponent(TZ)}`;
  const resp = await page.goto(url);
  eq('GET / answers 200', resp && resp.status(), 200);
  eq('page title', await page.title(), 'klined');

  const drawn = await page.waitForFunction(
    () => window.__klined && window.__klined.candles() > 0 && window.__klined.state() === 'live',
    null, { timeout: 20000 }).then(() => true, () => false);
  check('history drawn and stream live', drawn,
    `candles=${await page.evaluate(() => window.__klined?.candles())} state=${await page.evaluate(() => window.__klined?.state())}`);

  // Pickers: the symbols klined serves, all 16 Binance intervals, UTC and the offsets.
  const info = await getJson('/api/v3/exchangeInfo');
  const served = (info.body.symbols || []).map((s) => s.symbol);
  const opts = (id) => page.$$eval(`#${id} option`, (os) => os.map((o) => o.value));
  eq('symbol picker = exchangeInfo symbols', await opts('symbol'), served);
  eq('interval picker = the 16 Binance intervals', await opts('interval'),
    ['1s', '1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M']);
  const tzs = await opts('tz');
  check('time zone picker has UTC, -05:00, +05:30, +08:00', ['+00:00', '-05:00', '+05:30', '+08:00'].every((z) => tzs.includes(z)), tzs.join(' '));
  eq('the URL selection is applied', await page.evaluate(() => ['symbol', 'interval', 'tz'].map((id) => document.getElementById(id).value)), [SYM, '1m', TZ]);

  // The page loads its history with the zone and streams it with the zone suffix.
  check('REST history asked with timeZone', requests.some((r) => r.startsWith(`/api/v3/klines?symbol=${SYM}&interval=1m`) && r.includes('timeZone=%2B08%3A00')), requests.join(' '));

  // The drawn candles are the REST klines, each shifted by +8 h (lightweight-charts labels in UTC).
  const rest = (await getJson(`/api/v3/klines?symbol=${SYM}&interval=1m&limit=1000&timeZone=${encodeURIComponent(TZ)}`)).body;
  check('REST has seeded history (more than 10 klines)', Array.isArray(rest) && rest.length > 10, JSON.stringify(rest).slice(0, 200));
  const first = await page.evaluate(() => window.__klined.candles());
  // The two reads are a moment apart: a minute may open between them, on either side.
  check('page draws the REST klines (count, give or take the minute just opened)', Math.abs(first - rest.length) <= 1, `page ${first}, REST ${rest.length}`);
  const last = await page.evaluate(() => window.__klined.last());
  const restLast = rest.find((k) => k[0] / 1000 + TZ_S === last.time);
  check('last candle time = REST openTime/1000 + 8 h', restLast || last.time === rest.at(-1)[0] / 1000 + TZ_S + 60,
    `page time ${last.time}, REST last openTime ${rest.at(-1)[0]}`);

  // Non-blank canvas: pixels in the candle colours (#26a69a up, #ef5350 down) were painted.
  const painted = await page.evaluate(() => {
    let up = 0;
    let down = 0;
    for (const c of document.querySelectorAll('#chart canvas')) {
      if (!c.width || !c.height) continue;
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] < 200) continue;
        if (Math.abs(d[i] - 0x26) < 8 && Math.abs(d[i + 1] - 0xa6) < 8 && Math.abs(d[i + 2] - 0x9a) < 8) up++;
        if (Math.abs(d[i] - 0xef) < 8 && Math.abs(d[i + 1] - 0x53) < 8 && Math.abs(d[i + 2] - 0x50) < 8) down++;
      }
    }
    return { up, down };
  });
  check('canvas shows up and down candles', painted.up > 20 && painted.down > 20, JSON.stringify(painted));

  // A trade at a new high: the last candle's high and close become that price, live.
  const high = Math.floor(Math.max(await highest(SYM), last.high)) + 1234.5;
  await feed([aggTrade(SYM, high.toFixed(2), '0.5')]);
  const moved = await until(() => page.evaluate((h) => {
    const l = window.__klined.last();
    return l.high === h && l.close === h ? l : null;
  }, high));
  check(`last candle high and close moved to ${high}`, moved, JSON.stringify(await page.evaluate(() => window.__klined.last())));
  if (moved) {
    const now = (await getJson(`/api/v3/klines?symbol=${SYM}&interval=1m&limit=3`)).body;
    const k = now.find((r) => r[0] / 1000 + TZ_S === moved.time);
    check('that candle is REST\'s kline with the same high and close', k && Number(k[2]) === high && Number(k[4]) === high, JSON.stringify(now));
  }
  const s1m = streamOf(`/ws/${SYM.toLowerCase()}@kline_1m@+08:00`);
  eq('one 1m@+08:00 stream, still open (klined kept it, the page never reconnected)', s1m.map((st) => st.closed), [false]);
  check('the new high came in a kline event on that stream', s1m.some((st) => st.highs.includes(high)), JSON.stringify(s1m));
  eq('#conn says live', await page.textContent('#conn'), 'live');
  eq('#conn data-state is live', await page.getAttribute('#conn', 'data-state'), 'live');
  await frames(page);
  await page.screenshot({ path: artifact('chart.png') });

  // Switching to 5m in UTC reloads: times unshifted, the new high is in the 5m candle too.
  await page.selectOption('#interval', '5m');
  await page.selectOption('#tz', '+00:00');
  const utc = await until(() => page.evaluate((h) => {
    const l = window.__klined.last();
    return window.__klined.state() === 'live' && l && l.time % 300 === 0 && l.high === h ? l : null;
  }, high));
  const rest5 = (await getJson(`/api/v3/klines?symbol=${SYM}&interval=5m&limit=3`)).body;
  check('5m UTC: last candle = REST 5m kline, unshifted', utc && rest5.some((k) => k[0] / 1000 === utc.time && Number(k[2]) === high),
    `${JSON.stringify(await page.evaluate(() => window.__klined.last()))} REST ${JSON.stringify(rest5)}`);
  check('the URL follows the pickers', page.url().includes('interval=5m') && page.url().includes('tz=%2B00%3A00'), page.url());
  check('WS streams asked: 1m@+08:00 then 5m in UTC',
    sockets.some((u) => u.endsWith(`/ws/${SYM.toLowerCase()}@kline_1m@+08:00`)) && sockets.some((u) => u.endsWith(`/ws/${SYM.toLowerCase()}@kline_5m`)),
    sockets.join(' '));
  await frames(page);
  await page.screenshot({ path: artifact('chart-5m.png') });

  // 1h in +05:30: klined's hours then open at :30 UTC, and the shifted axis puts each candle on a
  // whole local hour. A trade sent now must reach that candle through the @+05:30 stream.
  await page.selectOption('#interval', '1h');
  await page.selectOption('#tz', '+05:30');
  await until(() => page.evaluate(() => {
    const l = window.__klined.last();
    return window.__klined.state() === 'live' && l && location.search.includes('interval=1h') && l;
  }));
  const high2 = high + 100.25;
  await feed([aggTrade(SYM, high2.toFixed(2), '0.1')]);
  const h1 = await until(() => page.evaluate((h) => {
    const l = window.__klined.last();
    return l && l.high === h && l.close === h ? l : null;
  }, high2));
  const rest1h = (await getJson(`/api/v3/klines?symbol=${SYM}&interval=1h&limit=2&timeZone=%2B05%3A30`)).body;
  check(`1h +05:30: the live candle moved to ${high2}`, h1, JSON.stringify(await page.evaluate(() => window.__klined.last())));
  check('1h +05:30: candle on a whole local hour, = REST openTime/1000 + 5.5 h', h1 && h1.time % 3600 === 0 &&
    rest1h.some((k) => k[0] / 1000 + 19800 === h1.time && Number(k[2]) === high2 && (k[0] / 1000) % 3600 === 1800),
    `${JSON.stringify(h1)} REST ${JSON.stringify(rest1h)}`);
  const s1h = streamOf(`/ws/${SYM.toLowerCase()}@kline_1h@+05:30`);
  eq('1h: one @+05:30 stream, still open', s1h.map((st) => st.closed), [false]);
  check(`1h: ${high2} came in a kline event on that stream`, s1h.some((st) => st.highs.includes(high2)), JSON.stringify(s1h));
  eq('#conn still says live', await page.getAttribute('#conn', 'data-state'), 'live');

  eq('no page errors', errors, []);
}

main().then(() => done(), done);
