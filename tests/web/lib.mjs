// Shared by the tests in tests/web/: where the running klined is (env), a tiny check/summary
// harness that prints the plain "N passed, N failed" line CI reads, and the lines feed. klined's
// `--source lines:tcp://127.0.0.1:PORT` LISTENS on PORT (src/source/lines.c), so the feed is a
// TCP client that writes one Binance aggTrade event per line.
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';

export const BASE = (process.env.KL_BASE || 'http://127.0.0.1:18080').replace(/\/$/, '');
export const WS_BASE = BASE.replace(/^http/, 'ws');
export const FEED_PORT = Number(process.env.KL_FEED_PORT || 0);
export const ARTIFACTS = process.env.KL_ARTIFACTS || new URL('out/', import.meta.url).pathname;

let passed = 0;
let failed = 0;

export function check(name, cond, detail = '') {
  if (cond) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail ? ': ' + detail : ''}`);
  }
  return !!cond;
}

export function eq(name, got, want) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g === w || !Array.isArray(got) || !Array.isArray(want) || g.length < 600) return check(name, g === w, `got ${g}, want ${w}`);
  // Long arrays (kline lists): the lengths and the first element that differs.
  let i = 0;
  while (i < got.length && JSON.stringify(got[i]) === JSON.stringify(want[i])) i++;
  return check(name, false, `lengths ${got.length} and ${want.length}; first difference at [${i}]: got ${JSON.stringify(got[i])}, want ${JSON.stringify(want[i])}`);
}

// Prints the summary and exits: non-zero when a check failed or none ran.
export function done(err) {
  if (err) {
    failed++;
    console.log(`FAIL unexpected error: ${err && err.stack ? err.stack : err}`);
  }
  if (passed + failed === 0) failed++, console.log('FAIL no check ran');
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

export function artifact(name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

// Aggregate trade ids only grow, across processes too (the seed, then each test), because klined
// refuses ids far below the highest it has seen: milliseconds since the epoch times 100, bumped
// by one for each id this process already gave out in the same millisecond.
let lastId = 0;
export function nextId() {
  lastId = Math.max(lastId + 1, Date.now() * 100);
  return lastId;
}

export function aggTrade(symbol, price, qty, timeMs = Date.now(), buyerMaker = false) {
  const a = nextId();
  return {
    e: 'aggTrade', E: timeMs, s: symbol, a, p: String(price), q: String(qty),
    f: a, l: a, T: timeMs, m: buyerMaker, M: true,
  };
}

// Writes the events, one JSON line each, over one connection, and closes it.
export function feed(events, port = FEED_PORT) {
  if (!port) throw new Error('KL_FEED_PORT is not set: the port of klined\'s lines:tcp source');
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.end(events.map((e) => JSON.stringify(e) + '\n').join(''), resolve);
    });
    sock.on('error', reject);
  });
}

export async function getJson(pathAndQuery) {
  const r = await fetch(BASE + pathAndQuery);
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: r.status, body };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn until it returns a truthy value (then returns it) or the deadline passes (then null).
// A deadline, not a timing assertion: it only bounds how long a broken service can hang a test.
export async function until(fn, ms = 15000, every = 100) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) return null;
    await sleep(every);
  }
}

// The highest price seen in the REST history of a symbol, so a test's "new high" really is one.
export async function highest(symbol) {
  const { body } = await getJson(`/api/v3/klines?symbol=${symbol}&interval=1d&limit=1000`);
  return Array.isArray(body) ? Math.max(0, ...body.map((k) => Number(k[2]))) : 0;
}
