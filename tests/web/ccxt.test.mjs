// Stock client libraries against a running klined, unchanged but for the base URL: ccxt's binance
// class must load markets and fetch OHLCV equal to REST /api/v3/klines (and so to the store), and
// the `ws` package on /ws/btcusdt@kline_1m must receive kline events equal to the REST live kline
// after a trade; the combined /stream, the time-zone stream and SUBSCRIBE forms are checked too. Every URL ccxt requests
// is printed ("ccxt hit: ..."), so the list of endpoints a ccxt user needs from klined is in the
// log; any hit outside /api/v3 fails. Env: KL_BASE, KL_FEED_PORT.
import ccxt from 'ccxt';
import WebSocket from 'ws';
import { BASE, WS_BASE, aggTrade, check, done, eq, feed, getJson, highest, until } from './lib.mjs';

const SYM = 'BTCUSDT';

// Every ccxt binance API root points at klined with its own path (…/api/v3, …/sapi/v1, …), so no
// request can leave the machine, and one that is not /api/v3 shows up as a failed check.
function client() {
  const urls = {};
  for (const [key, url] of Object.entries(new ccxt.binance().urls.api)) urls[key] = BASE + new URL(url).pathname;
  const ex = new ccxt.binance({
    urls: { api: urls },
    options: {
      fetchMarkets: { types: ['spot'] }, // klined is spot only: no fapi/dapi/eapi exchangeInfo
      fetchCurrencies: false, // sapi capital/config/getall, a private endpoint
      fetchMargins: false,
    },
  });
  ex.hits = [];
  const fetch = ex.fetch.bind(ex);
  ex.fetch = (url, method = 'GET', ...rest) => {
    ex.hits.push(`${method} ${url.replace(BASE, '')}`);
    return fetch(url, method, ...rest);
  };
  return ex;
}

const kline = (r) => r.slice(0, 6).map(Number); // [t, o, h, l, c, v] as ccxt returns them

// REST, then ccxt, then REST again: a kline may roll over in between (a new minute opens a hole
// kline), so compare only when both REST reads agree; that happens within a few tries.
async function stableCompare(ex, since) {
  for (let i = 0; i < 5; i++) {
    const q = `/api/v3/klines?symbol=${SYM}&interval=1m&limit=500${since ? '&startTime=' + since : ''}`;
    const a = (await getJson(q)).body;
    const got = await ex.fetchOHLCV('BTC/USDT', '1m', since);
    const b = (await getJson(q)).body;
    if (JSON.stringify(a) === JSON.stringify(b)) return { rest: a.map(kline), got };
  }
  return { rest: null, got: null };
}

function openWs(path) {
  const ws = new WebSocket(WS_BASE + path);
  const msgs = [];
  ws.on('message', (d) => msgs.push(JSON.parse(d.toString())));
  const opened = new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  return { ws, msgs, opened };
}

async function testCcxt() {
  const ex = client();
  const markets = await ex.loadMarkets();
  const m = markets['BTC/USDT'];
  check('ccxt loadMarkets finds BTC/USDT', m, Object.keys(markets).join(' '));
  if (m) eq('BTC/USDT market: id, base, quote, spot', [m.id, m.base, m.quote, m.spot], [SYM, 'BTC', 'USDT', true]);
  check('ccxt sees ETH/USDT too', markets['ETH/USDT']);

  const { rest, got } = await stableCompare(ex);
  check('REST 1m history is there (> 10 klines)', rest && rest.length > 10, rest && rest.length);
  eq('ccxt fetchOHLCV BTC/USDT 1m = REST /api/v3/klines', got, rest);

  if (rest && rest.length > 5) {
    const since = rest[rest.length - 5][0];
    const r = await stableCompare(ex, since);
    eq('fetchOHLCV with since = REST with startTime', r.got, r.rest);
    check('since returns the klines from that openTime', r.got && r.got[0] && r.got[0][0] === since, JSON.stringify(r.got && r.got[0]));
  }

  const t = await ex.fetchTime();
  const now = (await getJson('/api/v3/time')).body.serverTime;
  check('ccxt fetchTime = /api/v3/time serverTime (within the two calls)', Number.isInteger(t) && Math.abs(now - t) < 60000, `${t} vs ${now}`);

  // Binance's error shape is what ccxt maps to its exception classes.
  let err = null;
  try { await ex.publicGetKlines({ symbol: 'NOPEUSDT', interval: '1m' }); } catch (e) { err = e; }
  check('unknown symbol -> ccxt BadSymbol (code -1121)', err instanceof ccxt.BadSymbol, err && `${err.constructor.name}: ${err.message}`);

  for (const h of [...new Set(ex.hits.map((x) => x.split('?')[0]))]) console.log(`ccxt hit: ${h}`);
  const outside = ex.hits.filter((h) => !h.split(' ')[1].startsWith('/api/v3/'));
  eq('ccxt asked only /api/v3 endpoints', outside, []);
}

async function testWs() {
  const single = openWs(`/ws/${SYM.toLowerCase()}@kline_1m`);
  const combined = openWs(`/stream?streams=${SYM.toLowerCase()}@kline_1m/ethusdt@kline_5m`);
  const ctl = openWs(`/ws/${SYM.toLowerCase()}@kline_5m`);
  // Binance's time-zone stream form, literally as its docs write it: '+' in a path is a plus.
  const tz = openWs(`/ws/${SYM.toLowerCase()}@kline_1h@+05:30`);
  let tzClose = null;
  tz.ws.on('close', (code) => { tzClose = code; });
  try {
    await Promise.all([single.opened, combined.opened, ctl.opened, tz.opened]);
    check('ws connected: /ws/<sym>@kline_1m, /stream?streams=…, /ws/<sym>@kline_1h@+05:30 and a second /ws', true);

    ctl.ws.send(JSON.stringify({ method: 'SUBSCRIBE', params: ['ethusdt@kline_1m'], id: 1 }));
    const ack = await until(() => ctl.msgs.find((x) => x.id === 1));
    eq('SUBSCRIBE answers {"result":null,"id":1}', ack, { result: null, id: 1 });
    ctl.ws.send(JSON.stringify({ method: 'LIST_SUBSCRIPTIONS', id: 2 }));
    const list = await until(() => ctl.msgs.find((x) => x.id === 2));
    eq('LIST_SUBSCRIPTIONS lists both streams', list && [...list.result].sort(), ['btcusdt@kline_5m', 'ethusdt@kline_1m']);

    const high = Math.floor(await highest(SYM)) + 777.25;
    const eth = Math.floor(await highest('ETHUSDT')) + 11.5;
    await feed([aggTrade(SYM, high.toFixed(2), '0.25'), aggTrade('ETHUSDT', eth.toFixed(2), '2')]);

    const ev = await until(() => single.msgs.find((x) => x.k && Number(x.k.h) === high));
    check(`/ws kline event with the new high ${high}`, ev, JSON.stringify(single.msgs.slice(-2)));
    if (ev) {
      eq('event shape: e, s, k.s, k.i, k.x', [ev.e, ev.s, ev.k.s, ev.k.i, ev.k.x], ['kline', SYM, SYM, '1m', false]);
      eq('k has all 17 Binance fields', Object.keys(ev.k).sort(), ['B', 'L', 'Q', 'T', 'V', 'c', 'f', 'h', 'i', 'l', 'n', 'o', 'q', 's', 't', 'v', 'x'].sort());
      eq('k.T = k.t + 60000 - 1', ev.k.T, ev.k.t + 59999);
      const rows = (await getJson(`/api/v3/klines?symbol=${SYM}&interval=1m&startTime=${ev.k.t}&limit=1`)).body;
      const r = rows[0] || [];
      eq('ws kline = REST live kline (t, o, h, l, c, v, T, q, n, V, Q)',
        [ev.k.t, ev.k.o, ev.k.h, ev.k.l, ev.k.c, ev.k.v, ev.k.T, ev.k.q, ev.k.n, ev.k.V, ev.k.Q],
        [r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10]]);
      eq('close is the trade price', Number(ev.k.c), high);
    }

    const tev = await until(() => tz.msgs.find((x) => x.k && Number(x.k.h) === high));
    check(`/ws/${SYM.toLowerCase()}@kline_1h@+05:30 delivers the trade`, tev, `closed with ${tzClose}; got ${JSON.stringify(tz.msgs.slice(-2))}`);
    if (tev) {
      eq('+05:30 hour opens at :30 UTC (k.t mod 1 h = 30 min)', tev.k.t % 3600000, 1800000);
      const r = (await getJson(`/api/v3/klines?symbol=${SYM}&interval=1h&timeZone=%2B05%3A30&startTime=${tev.k.t}&limit=1`)).body[0] || [];
      eq('tz ws kline = REST timeZone=+05:30 kline (t, o, h, l, c, v)',
        [tev.k.t, tev.k.o, tev.k.h, tev.k.l, tev.k.c, tev.k.v], r.slice(0, 6));
    }

    const wrapped = await until(() => combined.msgs.find((x) => x.stream === 'ethusdt@kline_5m' && x.data && Number(x.data.k.h) === eth));
    check('/stream wraps events as {stream, data} (ethusdt@kline_5m)', wrapped, JSON.stringify(combined.msgs.slice(-2)));
    const sub = await until(() => ctl.msgs.find((x) => x.e === 'kline' && x.s === 'ETHUSDT' && x.k.i === '1m' && Number(x.k.h) === eth));
    check('a SUBSCRIBEd stream delivers (ETHUSDT 1m)', sub, JSON.stringify(ctl.msgs.slice(-2)));
  } finally {
    for (const c of [single, combined, ctl, tz]) c.ws.terminate();
  }
}

async function main() {
  const ping = await getJson('/api/v3/ping');
  eq('GET /api/v3/ping = {}', [ping.status, ping.body], [200, {}]);
  const bad = await getJson('/api/v3/klines?symbol=NOPEUSDT&interval=1m');
  eq('unknown symbol: 400 {"code":-1121,"msg":"Invalid symbol."}', [bad.status, bad.body], [400, { code: -1121, msg: 'Invalid symbol.' }]);
  await testCcxt();
  await testWs();
}

main().then(() => done(), done);
