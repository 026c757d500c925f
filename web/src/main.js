// klined's live chart. History comes from REST /api/v3/klines, live updates from the Binance-style
// WS stream /ws/<symbol>@kline_<interval>[@<tz>] on the same host, so the page works unchanged
// behind any proxy that fronts klined. The selection lives in the URL (?symbol=&interval=&tz=) so
// a chart can be linked to and tests can open a given one.
import { createChart, CandlestickSeries, HistogramSeries } from 'lightweight-charts';

const INTERVALS = ['1s', '1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h',
  '1d', '3d', '1w', '1M'];
const TZS = ['-08:00', '-05:00', '+00:00', '+01:00', '+03:00', '+05:30', '+08:00', '+09:00'];
const UP = '#26a69a';
const DOWN = '#ef5350';

const $ = (id) => document.getElementById(id);
const pad = (n) => String(n).padStart(2, '0');

// The browser's own offset right now. Binance's timeZone is a fixed offset, so a zone with DST
// gets today's offset, as Binance's own UI does.
function browserTz() {
  const m = -new Date().getTimezoneOffset();
  return (m < 0 ? '-' : '+') + pad(Math.floor(Math.abs(m) / 60)) + ':' + pad(Math.abs(m) % 60);
}

function tzSeconds(tz) {
  const m = /^([+-])(\d\d):(\d\d)$/.exec(tz);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 3600 + Number(m[3]) * 60) : 0;
}

// lightweight-charts takes UTC seconds and always labels its axis in UTC; it has no time zones.
// Klines stay in UTC on the wire (Binance's timeZone only moves interval boundaries), so we shift
// each openTime by the offset: a 1d candle that opens at 16:00 UTC with +08:00 is then drawn and
// labelled at 00:00, the local midnight where it really starts.
let shift = 0;
const toTime = (ms) => Math.floor(ms / 1000) + shift;

const chart = createChart($('chart'), {
  autoSize: true,
  layout: { background: { color: '#131722' }, textColor: '#d1d4dc' },
  grid: { vertLines: { color: '#1e222d' }, horzLines: { color: '#1e222d' } },
  timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 4 }, // room for the live candle
});
const candles = chart.addSeries(CandlestickSeries, {
  upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN,
});
// Volume shares the pane on its own hidden scale in the bottom fifth; the candles keep clear of it.
const volume = chart.addSeries(HistogramSeries, {
  priceFormat: { type: 'volume' }, priceScaleId: '', lastValueVisible: false, priceLineVisible: false,
});
volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
candles.priceScale().applyOptions({ scaleMargins: { top: 0.1, bottom: 0.25 } });

function bars(k) {
  const time = toTime(k.t);
  const c = { time, open: +k.o, high: +k.h, low: +k.l, close: +k.c };
  return [c, { time, value: +k.v, color: c.close >= c.open ? UP + '80' : DOWN + '80' }];
}

// Enough decimals for the finest price seen (at most Binance's 8), so 0.00001234 is not drawn as 0.
function setPrecision(prices) {
  let p = 2;
  for (const s of prices) {
    const frac = (s.split('.')[1] || '').replace(/0+$/, '');
    p = Math.max(p, Math.min(8, frac.length));
  }
  candles.applyOptions({ priceFormat: { type: 'price', precision: p, minMove: 10 ** -p } });
}

function legend(c, v) {
  $('legend').textContent = c
    ? `O ${c.open} H ${c.high} L ${c.low} C ${c.close} V ${v ? v.value : ''}` : '';
}
chart.subscribeCrosshairMove((p) => {
  const c = p.seriesData && p.seriesData.get(candles);
  if (c) legend(c, p.seriesData.get(volume));
  else legend(candles.data().at(-1), volume.data().at(-1));
});

let state = '';
function setState(s) {
  state = s;
  $('conn').textContent = s;
  $('conn').dataset.state = s;
}

function showError(msg) {
  $('error').textContent = msg;
  $('error').hidden = !msg;
}

// One kline event: the open candle moves, a new one starts, or a late trade amends an older one
// (klined re-emits the corrected kline), which only a historical update can change.
function apply(k) {
  const [c, v] = bars(k);
  const last = candles.data().at(-1);
  const old = last && c.time < last.time;
  try {
    candles.update(c, old);
    volume.update(v, old);
  } catch (e) {
    console.warn('kline not drawn', k, e); // an amended kline older than the loaded history
  }
  if (!old) legend(c, v);
}

let sel = {};
let session = 0; // bumped on every (re)start, so callbacks of an older socket or fetch do nothing
let ws = null;
let retry = null;
let attempts = 0;

// Reconnects back off exponentially (0.5 s .. 30 s) with jitter, so a restarted klined is not
// hit by every open page at the same instant. The backoff starts over only after a connection
// that stayed up for 10 s: one that a server accepts and drops at once must not reset it.
let openedAt = 0;
function reconnect(my) {
  if (my !== session || retry) return;
  if (openedAt && Date.now() - openedAt > 10000) attempts = 0;
  openedAt = 0;
  setState('reconnecting');
  if (ws) ws.onclose = ws.onmessage = null, ws.close();
  const ms = Math.min(30000, 500 * 2 ** attempts++) * (0.5 + Math.random() / 2);
  retry = setTimeout(() => { retry = null; start(true); }, ms);
}

// Opens the stream first and buffers what it sends while the history loads, so no update that
// happens in between is lost; the buffer is applied on top of the history. A reconnect loads
// the history again, which fills the candles missed while disconnected.
async function start(keep) {
  const my = ++session;
  clearTimeout(retry);
  retry = null;
  if (ws) ws.onclose = ws.onmessage = null, ws.close();
  if (!keep) setState('connecting');
  const sym = sel.symbol;
  const utc = sel.tz === '+00:00';
  shift = tzSeconds(sel.tz);
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const stream = `${sym.toLowerCase()}@kline_${sel.interval}${utc ? '' : '@' + sel.tz}`;
  const sock = new WebSocket(`${proto}//${location.host}/ws/${stream}`);
  ws = sock;
  let buffer = [];
  let opened = false;
  let loaded = false;
  const live = () => { if (opened && loaded) setState('live'); };
  sock.onopen = () => { if (my === session) { opened = true; openedAt = Date.now(); live(); } };
  sock.onclose = () => reconnect(my);
  sock.onmessage = (ev) => {
    if (my !== session) return;
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    const d = msg.data || msg; // tolerate the combined-stream wrapper too
    if (d.e !== 'kline' || d.s !== sym) return;
    if (buffer) buffer.push(d.k);
    else apply(d.k);
  };

  const q = new URLSearchParams({ symbol: sym, interval: sel.interval, limit: '1000' });
  if (!utc) q.set('timeZone', sel.tz);
  let rows;
  try {
    const r = await fetch(`/api/v3/klines?${q}`);
    const body = await r.json();
    if (my !== session) return;
    if (r.status >= 400 && r.status < 500) {
      // A request klined refuses (e.g. an interval it does not keep) will not get better by
      // retrying: say why and stop.
      showError(`${body.msg || r.statusText} (code ${body.code})`);
      sock.onclose = sock.onmessage = null;
      sock.close();
      candles.setData([]);
      volume.setData([]);
      setState('closed');
      return;
    }
    if (!r.ok || !Array.isArray(body)) throw new Error(`HTTP ${r.status}`);
    rows = body;
  } catch (e) {
    if (my === session) { showError(`history: ${e.message}`); reconnect(my); }
    return;
  }
  showError('');
  setPrecision(rows.flatMap((r) => [r[1], r[2], r[3], r[4]]));
  const ks = rows.map((r) => bars({ t: r[0], o: r[1], h: r[2], l: r[3], c: r[4], v: r[5] }));
  candles.setData(ks.map((b) => b[0]));
  volume.setData(ks.map((b) => b[1]));
  // A short history fills the width instead of hugging the right edge; a long one opens at now.
  if (!keep) ks.length < 150 ? chart.timeScale().fitContent() : chart.timeScale().scrollToRealTime();
  for (const k of buffer) if (toTime(k.t) >= (ks.at(-1)?.[0].time ?? 0)) apply(k);
  buffer = null;
  legend(candles.data().at(-1), volume.data().at(-1));
  loaded = true;
  live();
}

function fill(select, values, labels = {}) {
  select.replaceChildren(...values.map((v) => new Option(labels[v] || v, v)));
}

function choose() {
  sel = { symbol: $('symbol').value, interval: $('interval').value, tz: $('tz').value };
  history.replaceState(null, '', `?${new URLSearchParams(sel)}`);
  attempts = 0;
  start(false);
}

async function init() {
  const want = new URLSearchParams(location.search);
  let symbols = [];
  try {
    const info = await (await fetch('/api/v3/exchangeInfo')).json();
    symbols = info.symbols.map((s) => s.symbol);
  } catch (e) {
    showError(`exchangeInfo: ${e.message}`);
  }
  if (!symbols.length) {
    setState('closed');
    if (!$('error').textContent) showError('klined serves no symbols');
    return;
  }
  const own = browserTz();
  const tzs = [...new Set([...TZS, own])].sort((a, b) => tzSeconds(a) - tzSeconds(b));
  fill($('symbol'), symbols);
  fill($('interval'), INTERVALS);
  fill($('tz'), tzs, { '+00:00': 'UTC', [own]: `${own === '+00:00' ? 'UTC' : own} (browser)` });
  const pick = (id, v, dflt) => { $(id).value = $(id).querySelector(`option[value="${v}"]`) ? v : dflt; };
  pick('symbol', want.get('symbol'), symbols[0]);
  pick('interval', want.get('interval'), '1m');
  pick('tz', want.get('tz'), own);
  for (const id of ['symbol', 'interval', 'tz']) $(id).addEventListener('change', choose);
  choose();
}

// For the browser tests (tests/web/chart.test.mjs): what is drawn, and the stream's state.
window.__klined = {
  candles: () => candles.data().length,
  last: () => { const c = candles.data().at(-1); return c && { ...c }; },
  state: () => state,
};

init();
