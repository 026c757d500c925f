// The `klined replay --intervals all` job done in DuckDB, as a peer to compare rates against:
// one spot aggTrades CSV in, one Binance kline CSV per interval out, with exact decimals
// (DECIMAL(38,8) prices and quantities, DECIMAL(38,16) price*qty sums, truncated to 8 places on
// output) and hole klines between trades, so that its files can be diffed with klined's.
// Prices and quantities are parsed as DECIMAL(18,8) (int64 inside: exact, and as wide as
// klined's own 1e-8 int64) and widened to DECIMAL(38,8) at once: DuckDB 1.5's CSV reader parses
// straight into DECIMAL(38,8) about 25x slower, which would measure that quirk, not the job.
// Trades are first folded into 1 s buckets, then every interval rolls those up, the same
// shortcut klined's segment takes.
//
// usage: node duckdb_replay.mjs --out DIR [--symbol SYM] [--threads N] FILE
// prints: "duckdb: N rows in T s: X M rows/s (threads=K)" on stdout
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdirSync } from 'node:fs';
import { basename } from 'node:path';

const args = process.argv.slice(2);
let out = null, symbol = null, threads = null, file = null;
for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') out = args[++i];
    else if (args[i] === '--symbol') symbol = args[++i];
    else if (args[i] === '--threads') threads = Number(args[++i]);
    else file = args[i];
}
if (!out || !file) {
    console.error('usage: node duckdb_replay.mjs --out DIR [--symbol SYM] [--threads N] FILE');
    process.exit(2);
}
symbol ??= basename(file).split('-')[0];
mkdirSync(out, { recursive: true });

const DAY = 86400000;
// name -> [length ms, origin ms]; length 0 is the calendar month. Origins as klined's defaults:
// the epoch, but Monday 1970-01-05 for 1w.
const IVS = [
    ['1s', 1000, 0], ['1m', 60000, 0], ['3m', 180000, 0], ['5m', 300000, 0],
    ['15m', 900000, 0], ['30m', 1800000, 0], ['1h', 3600000, 0], ['2h', 7200000, 0],
    ['4h', 14400000, 0], ['6h', 21600000, 0], ['8h', 28800000, 0], ['12h', 43200000, 0],
    ['1d', DAY, 0], ['3d', 3 * DAY, 0], ['1w', 7 * DAY, 4 * DAY], ['1M', 0, 0],
];

const sqlStr = (s) => `'${String(s).replaceAll("'", "''")}'`;

const instance = await DuckDBInstance.create(':memory:', threads ? { threads: String(threads) } : {});
const con = await instance.connect();
const t0 = performance.now();

await con.run(`
CREATE TABLE t AS SELECT * REPLACE (price::DECIMAL(38,8) AS price, qty::DECIMAL(38,8) AS qty)
FROM read_csv(${sqlStr(file)}, header = false, delim = ',', auto_detect = false,
    columns = {'id': 'BIGINT', 'price': 'DECIMAL(18,8)', 'qty': 'DECIMAL(18,8)',
               'first_id': 'BIGINT', 'last_id': 'BIGINT', 'ts': 'BIGINT',
               'maker': 'BOOLEAN', 'best': 'BOOLEAN'})`);

// open/close follow (time, id) order; the key packs both into one HUGEINT.
await con.run(`
CREATE TABLE s1 AS SELECT
    ts // 1000 * 1000 AS ot,
    arg_min(price, ts::HUGEINT * 10000000000000 + id) AS open,
    min(ts::HUGEINT * 10000000000000 + id) AS okey,
    max(price) AS high, min(price) AS low,
    arg_max(price, ts::HUGEINT * 10000000000000 + id) AS close,
    max(ts::HUGEINT * 10000000000000 + id) AS ckey,
    sum(qty)::DECIMAL(38,8) AS volume,
    sum(price * qty)::DECIMAL(38,16) AS quote,
    sum(last_id - first_id + 1)::BIGINT AS trades,
    coalesce(sum(qty) FILTER (WHERE NOT maker), 0)::DECIMAL(38,8) AS tbase,
    coalesce(sum(price * qty) FILTER (WHERE NOT maker), 0)::DECIMAL(38,16) AS tquote
FROM t GROUP BY 1`);
const rows = Number((await (await con.run('SELECT count(*) FROM t')).getRows())[0][0]);

for (const [name, len, origin] of IVS) {
    const bucket = len === 0
        ? `epoch_ms(date_trunc('month', epoch_ms(ot)))`
        : `(ot - ${origin}) // ${len} * ${len} + ${origin}`;
    const grid = len === 0
        ? `SELECT epoch_ms(x) AS ot FROM bounds, generate_series(epoch_ms(bounds.lo), epoch_ms(bounds.hi), INTERVAL 1 MONTH) AS s(x)`
        : `SELECT x AS ot FROM bounds, generate_series(bounds.lo, bounds.hi, ${len}) AS s(x)`;
    const next = len === 0 ? `epoch_ms(epoch_ms(g.ot) + INTERVAL 1 MONTH)` : `g.ot + ${len}`;
    // Quote sums keep 16 places; Binance prints them truncated to 8: drop the last 8 digits.
    const q8 = (c) => `substr(CAST(${c} AS VARCHAR), 1, length(CAST(${c} AS VARCHAR)) - 8)`;
    const path = `${out}/${symbol}-${name}.csv`;
    await con.run(`
COPY (
WITH k AS (
    SELECT ${bucket} AS ot, arg_min(open, okey) AS open, max(high) AS high, min(low) AS low,
           arg_max(close, ckey) AS close, sum(volume)::DECIMAL(38,8) AS volume,
           sum(quote)::DECIMAL(38,16) AS quote, sum(trades)::BIGINT AS trades,
           sum(tbase)::DECIMAL(38,8) AS tbase, sum(tquote)::DECIMAL(38,16) AS tquote
    FROM s1 GROUP BY 1),
bounds AS (SELECT min(ot) AS lo, max(ot) AS hi FROM k),
g AS (${grid}),
f AS (
    SELECT g.ot, ${next} - 1 AS ct, k.*,
           last_value(k.close IGNORE NULLS) OVER (ORDER BY g.ot ROWS UNBOUNDED PRECEDING) AS pc
    FROM g LEFT JOIN k ON k.ot = g.ot)
SELECT ot, coalesce(open, pc), coalesce(high, pc), coalesce(low, pc), coalesce(close, pc),
       coalesce(volume, 0::DECIMAL(38,8)), ct, ${q8('coalesce(quote, 0::DECIMAL(38,16))')},
       coalesce(trades, 0), coalesce(tbase, 0::DECIMAL(38,8)),
       ${q8('coalesce(tquote, 0::DECIMAL(38,16))')}, 0
FROM f ORDER BY ot
) TO ${sqlStr(path)} (HEADER false, DELIMITER ',', QUOTE '')`);
}

const dt = (performance.now() - t0) / 1000;
const nthreads = (await (await con.run("SELECT current_setting('threads')")).getRows())[0][0];
console.log(`duckdb: ${rows} rows in ${dt.toFixed(3)} s: ${(rows / dt / 1e6).toFixed(2)} M rows/s (threads=${nthreads})`);
