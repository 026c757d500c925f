/* The PostgreSQL store ("postgres://…" / "postgresql://…", the whole URL handed to libpq):
 * production, and the one store that several instances share. Same contract and semantics as
 * the SQLite backend: whole-row upserts keyed by (symbol, interval, open_time), one transaction
 * per kl_store_commit(), exact decimals, scans in ascending open_time, symbols in byte order.
 *
 * DESIGN. One libpq connection, used by one thread at a time (the persister, or a command such
 * as `klined export`). A commit is one transaction: COPY the batch into a per-connection TEMP
 * staging table (ON COMMIT DELETE ROWS, so it is empty again at every COMMIT or ROLLBACK), then
 * one INSERT … SELECT … ON CONFLICT DO UPDATE SET every column, then the engine states of a
 * checkpoint (deletions, then multi-row INSERT … ON CONFLICT (symbol) with the blob as a binary
 * bytea parameter, 256 states per statement), then the meta upserts, then COMMIT. A batch may
 * hold one key twice (a final kline, then its correction): the rows that a later row of the
 * same key replaces are dropped before the COPY (a hash of the keys, O(n)),
 * so the LAST occurrence wins and the INSERT never meets a key twice, which PostgreSQL refuses
 * ("ON CONFLICT DO UPDATE command cannot affect row a second time"). bench/bench_store_pg.c
 * measured this against pipeline mode with a prepared per-row upsert (figures in its header):
 * COPY + upsert is the faster, so it is the one kept. On any error the transaction is rolled
 * back (nothing of the call is visible) and the message names the server, the database, the
 * step and the server's own message. A broken connection (server restart, backend killed) makes
 * that call fail; the next call sees PQstatus() == CONNECTION_BAD and PQreset()s it, so the
 * persister's retry of the same batch works once the server is back (a COMMIT whose answer was
 * lost may have landed: the retry is the same idempotent upsert). Scans read through a
 * cursor in a read-only transaction, FETCH_ROWS rows at a time: memory stays bounded for a
 * long series and the connection is free between fetches, so a scan callback may call
 * get_kv; a nested scan, range or last_before, or a commit, from a callback returns KL_EARG, as
 * with SQLite. A range is the same cursor with bounds and a LIMIT. last_before is one plain
 * SELECT of at most one row (no cursor, no transaction of its own: one round trip). The API
 * reads through a second store (its own connection) beside the persister's: MVCC gives each
 * range one snapshot, and opening it on an existing schema only reads the catalog (CREATE … IF
 * NOT EXISTS) under the advisory lock, so it does not wait for the persister's commits.
 *
 * FORMAT (schema version 1, recorded as the comment of table klines), in the connection's
 * schema (search_path):
 *   klines(symbol text COLLATE "C", interval text COLLATE "C" (Binance name, "1m" .. "1M"),
 *          open_time bigint, close_time bigint, unit int (1 = ms, 1000 = us),
 *          open/high/low/close numeric(38,8), volume numeric(39,8), quote_volume
 *          numeric(39,16), trades bigint, taker_base numeric(39,8), taker_quote
 *          numeric(39,16), first_id bigint, last_id bigint (-1 for a hole kline),
 *          is_final boolean, PRIMARY KEY(symbol, interval, open_time))
 *   meta(key text PRIMARY KEY, value bigint)
 *   series_state(symbol text COLLATE "C" PRIMARY KEY, state bytea): a symbol's engine state
 *          (kl_series_export blob, byte for byte), written in the same transaction as the rows
 *          and meta of a checkpoint (kl_store_commit_batch); a state of length 0 deletes the
 *          row. Added to version 1 by IF NOT EXISTS: a version-1 store without it gains it.
 * Sums get 39 digits, not 38: an __int128 has 39, so numeric(38,x) would refuse the largest
 * sums the engine can hold. COLLATE "C" makes the primary key index ordered byte by byte, as
 * SQLite orders symbols, so listing symbols in that order can walk the index. Decimals travel
 * as text both ways (never through a double); NUMERIC with a declared scale prints exactly that
 * many places, and the readers accept fewer anyway. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/decimal.h"
#include "core/interval.h"
#include "kl/err.h"
#include "store/store_int.h"

#define SCHEMA_VERSION 1
#define SCHEMA_COMMENT_PREFIX "klined schema "
/* Serialises schema creation between instances that open a new database at the same time. */
#define SCHEMA_LOCK_KEY 0x6b6c696e6564LL /* "klined" */
#define COPY_BUF_BYTES (256 * 1024)
#define COPY_ROW_MAX 1200 /* an escaped symbol (64) + 18 fields of at most 48 bytes */
#define FETCH_ROWS 1000
/* States per INSERT/DELETE statement: 2 parameters each, far below the protocol's 65535, and
 * a statement of 256 states (~1.5 MB of 6 KB blobs) keeps one round trip per 256 symbols. */
#define STATE_CHUNK 256
#define FETCH_STATES 64 /* a FETCH of states: 64 x a few KB */
#define OID_TEXT 25     /* pg_type.oid of text and bytea: fixed since PostgreSQL 7 */
#define OID_BYTEA 17

typedef struct pg_store {
    kl_store_t base; /* first: kl_store_t * and pg_store * convert both ways */
    PGconn *conn;
    unsigned staging_ready : 1; /* the TEMP table exists in this session */
    unsigned in_scan : 1, in_symbols : 1;
    int stmt_timeout_ms; /* statement_timeout set on every session; 0: the server's */
    char where[160]; /* "HOST:PORT/DB" for messages; never the URL, which may hold a password */
    char *copy_buf;  /* COPY_BUF_BYTES */
    /* Duplicate keys of a batch: an open-addressing table of row index + 1 (0 = empty) and a
     * flag per row that a later row of the same key replaces it. Grown to the largest batch
     * seen and kept, so a steady persister allocates nothing. */
    uint32_t *slots;
    size_t n_slots;
    uint8_t *skip;
    size_t n_skip;
    /* The states of a batch as indexes, sorted by symbol, then only the last occurrence of
     * each symbol; the second half is the merge sort's scratch. Grown and kept, as slots. */
    uint32_t *sidx;
    size_t n_sidx;
} pg_store;

#define KLINE_COLS                                                                               \
    "symbol, interval, open_time, close_time, unit, open, high, low, close, volume,"             \
    " quote_volume, trades, taker_base, taker_quote, first_id, last_id, is_final"

static const char SQL_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS klines("
    " symbol text COLLATE \"C\" NOT NULL, interval text COLLATE \"C\" NOT NULL,"
    " open_time bigint NOT NULL, close_time bigint NOT NULL, unit int NOT NULL,"
    " open numeric(38,8) NOT NULL, high numeric(38,8) NOT NULL, low numeric(38,8) NOT NULL,"
    " close numeric(38,8) NOT NULL, volume numeric(39,8) NOT NULL,"
    " quote_volume numeric(39,16) NOT NULL, trades bigint NOT NULL,"
    " taker_base numeric(39,8) NOT NULL, taker_quote numeric(39,16) NOT NULL,"
    " first_id bigint NOT NULL, last_id bigint NOT NULL, is_final boolean NOT NULL,"
    " PRIMARY KEY(symbol, interval, open_time));"
    "CREATE TABLE IF NOT EXISTS meta(key text PRIMARY KEY, value bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS series_state("
    " symbol text COLLATE \"C\" PRIMARY KEY, state bytea NOT NULL);";

/* LIKE copies the column types, so the staging rows are checked (numeric overflow, NOT NULL)
 * by the COPY itself. A new name if its columns ever change: an old session's table lives on. */
static const char SQL_STAGING[] =
    "CREATE TEMP TABLE IF NOT EXISTS kl_stage_v1(LIKE klines) ON COMMIT DELETE ROWS";

static const char SQL_COPY[] = "COPY kl_stage_v1(" KLINE_COLS ") FROM STDIN";

/* The batch reaches the staging table without duplicate keys (see mark_superseded), so no
 * DISTINCT ON and no sort: that sort cost 60-100 ms of an 80k-row persist (work_mem spills). */
static const char SQL_UPSERT[] =
    "INSERT INTO klines(" KLINE_COLS ") SELECT " KLINE_COLS " FROM kl_stage_v1"
    " ON CONFLICT (symbol, interval, open_time) DO UPDATE SET"
    " close_time = EXCLUDED.close_time, unit = EXCLUDED.unit, open = EXCLUDED.open,"
    " high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,"
    " volume = EXCLUDED.volume, quote_volume = EXCLUDED.quote_volume,"
    " trades = EXCLUDED.trades, taker_base = EXCLUDED.taker_base,"
    " taker_quote = EXCLUDED.taker_quote, first_id = EXCLUDED.first_id,"
    " last_id = EXCLUDED.last_id, is_final = EXCLUDED.is_final";

static const char SQL_PUT_KV[] = "INSERT INTO meta(key, value) VALUES($1, $2::bigint)"
                                 " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value";

static const char SQL_SCAN[] =
    "DECLARE kl_scan NO SCROLL CURSOR FOR"
    " SELECT open_time, close_time, unit, open, high, low, close, volume, quote_volume, trades,"
    " taker_base, taker_quote, first_id, last_id, is_final"
    " FROM klines WHERE symbol = $1 AND interval = $2 ORDER BY open_time";

/* As the scan, bounded: the equality prefix and the open_time bounds are the primary key's
 * Index Cond, ORDER BY follows the index (DESC = Index Scan Backward) and LIMIT stops it, so
 * there is no Sort node (checked with EXPLAIN in the tests). The plain SELECT is exported for
 * those tests; the backend runs it as a cursor. */
#define PG_RANGE_SELECT(dir)                                                                     \
    "SELECT open_time, close_time, unit, open, high, low, close, volume, quote_volume, trades,"  \
    " taker_base, taker_quote, first_id, last_id, is_final"                                      \
    " FROM klines WHERE symbol = $1 AND interval = $2 AND open_time >= $3::bigint"              \
    " AND open_time <= $4::bigint ORDER BY open_time " dir " LIMIT $5::bigint"
const char kl_store_pg_range_sql[2][512] = {PG_RANGE_SELECT("ASC"), PG_RANGE_SELECT("DESC")};
static const char *const SQL_RANGE[2] = {
    "DECLARE kl_scan NO SCROLL CURSOR FOR " PG_RANGE_SELECT("ASC"),
    "DECLARE kl_scan NO SCROLL CURSOR FOR " PG_RANGE_SELECT("DESC"),
};

/* The kline before a window (kl_store_last_before): the range's backward walk of the primary
 * key, stopped at its first row, so a plain SELECT in one round trip. */
const char kl_store_pg_last_before_sql[512] =
    "SELECT open_time, close_time, unit, open, high, low, close, volume, quote_volume, trades,"
    " taker_base, taker_quote, first_id, last_id, is_final"
    " FROM klines WHERE symbol = $1 AND interval = $2 AND open_time < $3::bigint"
    " ORDER BY open_time DESC LIMIT 1";

/* A skip scan over the primary key: one index probe per symbol instead of reading every
 * kline, which matters for `klined export` on a store with years of history. */
static const char SQL_SYMBOLS[] =
    "WITH RECURSIVE s(sym) AS ("
    " SELECT min(symbol) FROM klines"
    " UNION ALL SELECT (SELECT min(symbol) FROM klines WHERE symbol > s.sym) FROM s"
    " WHERE s.sym IS NOT NULL)"
    " SELECT sym FROM s WHERE sym IS NOT NULL ORDER BY sym";

/* ---- errors ---------------------------------------------------------------------------- */

/* One line: libpq's messages end in a newline and continue on tab-indented lines. */
static void
one_line(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    int space = 0;
    for (const char *p = in; *p && o + 1 < cap; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            space = 1;
            continue;
        }
        if (space && o > 0 && o + 2 < cap)
            out[o++] = ' ';
        space = 0;
        out[o++] = *p;
    }
    out[o] = '\0';
}

/* libpq quotes a URL it cannot parse whole in its message: the password must not reach a log.
 * Writes msg into out with each copy of url replaced by url less its password. */
static void
redact_url(const char *msg, const char *url, char *out, size_t cap)
{
    char safe[256];
    snprintf(safe, sizeof safe, "%s", url);
    const char *auth = strstr(url, "://");
    if (auth) {
        auth += 3;
        const char *at = strchr(auth, '@'), *slash = strchr(auth, '/');
        const char *colon = strchr(auth, ':');
        if (at && (!slash || at < slash) && colon && colon < at)
            snprintf(safe, sizeof safe, "%.*s:***%s", (int)(colon - url), url, at);
    }
    size_t o = 0, ulen = strlen(url);
    while (*msg && o + 1 < cap) {
        if (ulen > 0 && strncmp(msg, url, ulen) == 0) {
            o += (size_t)snprintf(out + o, cap - o, "%s", safe);
            if (o >= cap)
                o = cap - 1;
            msg += ulen;
        } else {
            out[o++] = *msg++;
        }
    }
    out[o] = '\0';
}

/* "postgres store HOST:PORT/DB: WHAT: the server's (or libpq's) message". The primary message
 * of a result when there is one (no "ERROR:" prefix, no CONTEXT lines), else PQerrorMessage. */
static int
pg_fail(pg_store *st, const PGresult *res, const char *what, char *err, size_t cap)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg || !*msg)
        msg = st->conn ? PQerrorMessage(st->conn) : "out of memory";
    if (!msg || !*msg)
        msg = "unknown error";
    char line[512];
    one_line(msg, line, sizeof line);
    kl_store_errf(err, cap, "postgres store %s: %s: %s", st->where, what, line);
    return KL_ESTORE;
}

/* ---- connection ------------------------------------------------------------------------ */

static int
exec_ok(pg_store *st, const char *sql, const char *what, char *err, size_t cap)
{
    PGresult *res = PQexec(st->conn, sql);
    ExecStatusType s = PQresultStatus(res);
    int rc = 0;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        rc = pg_fail(st, res, what, err, cap);
    PQclear(res);
    return rc;
}

/* Per-session settings, again after every reset (a new session forgets them). */
static int
session_init(pg_store *st, char *err, size_t cap)
{
    st->staging_ready = 0;
    /* CREATE … IF NOT EXISTS reports a NOTICE that libpq would print on stderr. */
    int rc = exec_ok(st, "SET client_min_messages = warning", "session setup", err, cap);
    if (rc == 0 && st->stmt_timeout_ms > 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "SET statement_timeout = %d", st->stmt_timeout_ms);
        rc = exec_ok(st, sql, "session setup", err, cap);
    }
    return rc;
}

static int
pg_set_statement_timeout(kl_store_t *base, int ms)
{
    pg_store *st = (pg_store *)base;
    char sql[64], err[256];
    st->stmt_timeout_ms = ms;
    snprintf(sql, sizeof sql, "SET statement_timeout = %d", ms);
    return exec_ok(st, sql, "statement_timeout", err, sizeof err);
}

/* A connection that broke in an earlier call (server restart, backend terminated) is reset
 * here, so that a retry works once the server is back. Not inside a scan: its cursor died with
 * the session, and a reset would hide that. */
static int
ensure_conn(pg_store *st, char *err, size_t cap)
{
    if (PQstatus(st->conn) == CONNECTION_OK)
        return 0;
    if (st->in_scan || st->in_symbols) {
        kl_store_errf(err, cap, "postgres store %s: connection lost during a scan", st->where);
        return KL_ESTORE;
    }
    PQreset(st->conn);
    if (PQstatus(st->conn) != CONNECTION_OK)
        return pg_fail(st, NULL, "reconnect", err, cap);
    return session_init(st, err, cap);
}

static void
pg_close(kl_store_t *base)
{
    pg_store *st = (pg_store *)base;
    PQfinish(st->conn); /* NULL is a no-op */
    kl_free(st->copy_buf);
    kl_free(st->slots);
    kl_free(st->skip);
    kl_free(st->sidx);
    kl_free(st);
}

/* Takes one value from a one-row, one-column result; NULL when absent or SQL NULL. */
static const char *
one_value(const PGresult *res)
{
    if (PQntuples(res) != 1 || PQnfields(res) < 1 || PQgetisnull(res, 0, 0))
        return NULL;
    return PQgetvalue(res, 0, 0);
}

/* Creates the tables in a new database or checks the version of existing ones, under an
 * advisory lock so that instances starting together do not race on CREATE. */
static int
pg_schema(pg_store *st, char *err, size_t cap)
{
    char sql[128];
    int rc = exec_ok(st, "BEGIN", "begin schema transaction", err, cap);
    if (rc < 0)
        return rc;
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", (long long)SCHEMA_LOCK_KEY);
    if ((rc = exec_ok(st, sql, "lock schema", err, cap)) < 0)
        goto fail;
    PGresult *res = PQexec(st->conn, "SELECT to_regclass('klines') IS NOT NULL,"
                                     " obj_description(to_regclass('klines'), 'pg_class')");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        rc = pg_fail(st, res, "read schema version", err, cap);
        PQclear(res);
        goto fail;
    }
    int exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    char comment[96] = "";
    if (!PQgetisnull(res, 0, 1))
        snprintf(comment, sizeof comment, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    rc = KL_ESTORE;
    if (exists) {
        size_t plen = strlen(SCHEMA_COMMENT_PREFIX);
        if (strncmp(comment, SCHEMA_COMMENT_PREFIX, plen) != 0) {
            kl_store_errf(err, cap,
                          "postgres store %s: a table klines exists but was not made by klined "
                          "(its comment is '%s', expected '%s%d')",
                          st->where, comment, SCHEMA_COMMENT_PREFIX, SCHEMA_VERSION);
            goto fail;
        }
        int version = atoi(comment + plen);
        if (version != SCHEMA_VERSION) {
            kl_store_errf(err, cap,
                          "postgres store %s: schema version %d is %s than this build's (%d)",
                          st->where, version, version > SCHEMA_VERSION ? "newer" : "older",
                          SCHEMA_VERSION);
            goto fail;
        }
    }
    /* meta too may be missing on its own (dropped by hand): IF NOT EXISTS covers both. */
    if ((rc = exec_ok(st, SQL_SCHEMA, "create schema", err, cap)) < 0)
        goto fail;
    if (!exists) {
        snprintf(sql, sizeof sql, "COMMENT ON TABLE klines IS '%s%d'", SCHEMA_COMMENT_PREFIX,
                 SCHEMA_VERSION);
        if ((rc = exec_ok(st, sql, "set schema version", err, cap)) < 0)
            goto fail;
    }
    if ((rc = exec_ok(st, "COMMIT", "commit schema", err, cap)) < 0)
        goto fail;
    return 0;
fail:
    PQclear(PQexec(st->conn, "ROLLBACK"));
    return rc;
}

static int
pg_open(const char *url, kl_store_t **out, char *err, size_t cap)
{
    pg_store *st = kl_calloc(1, sizeof *st);
    if (!st) {
        kl_store_errf(err, cap, "postgres store: out of memory");
        return KL_ENOMEM;
    }
    st->base.ops = &kl_store_pg_ops;
    snprintf(st->where, sizeof st->where, "(not connected)");
    st->copy_buf = kl_alloc(COPY_BUF_BYTES);
    if (!st->copy_buf) {
        kl_store_errf(err, cap, "postgres store: out of memory");
        kl_free(st);
        return KL_ENOMEM;
    }
    /* The URL goes in whole as dbname with expand_dbname, so every libpq URI parameter works
     * (sslmode, options=-csearch_path%3D…) and overrides the connect_timeout before it: without
     * one, a reconnect to an unreachable host would hold the persister for the OS's TCP timeout.
     * The fallback names us in pg_stat_activity unless the URL sets application_name. TCP
     * keepalives (idle 10 s, then 3 probes 5 s apart) turn a link that died silently into an
     * error within about 25 s, instead of a read or commit that waits for the OS's
     * two-hour default; the URL may override them too. */
    const char *const keys[] = {"connect_timeout",    "keepalives",        "keepalives_idle",
                                "keepalives_interval", "keepalives_count", "dbname",
                                "fallback_application_name", NULL};
    const char *const vals[] = {"10", "1", "10", "5", "3", url, "klined", NULL};
    st->conn = PQconnectdbParams(keys, vals, 1);
    if (!st->conn) {
        kl_store_errf(err, cap, "postgres store: out of memory");
        pg_close(&st->base);
        return KL_ENOMEM;
    }
    const char *host = PQhost(st->conn), *port = PQport(st->conn), *db = PQdb(st->conn);
    snprintf(st->where, sizeof st->where, "%s:%s/%s", host && *host ? host : "?",
             port && *port ? port : "?", db && *db ? db : "?");
    int rc;
    if (PQstatus(st->conn) != CONNECTION_OK) {
        char msg[512], line[512];
        redact_url(PQerrorMessage(st->conn), url, msg, sizeof msg);
        one_line(msg, line, sizeof line);
        kl_store_errf(err, cap, "postgres store %s: connect: %s", st->where, line);
        rc = KL_ESTORE;
        goto fail;
    }
    if ((rc = session_init(st, err, cap)) < 0 || (rc = pg_schema(st, err, cap)) < 0)
        goto fail;
    *out = &st->base;
    return 0;
fail:
    pg_close(&st->base);
    return rc;
}

/* ---- commit ---------------------------------------------------------------------------- */

/* COPY text format: a backslash, tab, newline or CR inside a value must be escaped. */
static size_t
copy_text(char *p, const char *s)
{
    size_t o = 0;
    for (; *s; s++) {
        switch (*s) {
        case '\\': p[o++] = '\\'; p[o++] = '\\'; break;
        case '\t': p[o++] = '\\'; p[o++] = 't'; break;
        case '\n': p[o++] = '\\'; p[o++] = 'n'; break;
        case '\r': p[o++] = '\\'; p[o++] = 'r'; break;
        default: p[o++] = *s;
        }
    }
    return o;
}

/* Appends one row as a COPY text line; returns its length (< COPY_ROW_MAX). */
static size_t
copy_row(char *p, const kl_store_row_t *r)
{
    const kl_kline_t *k = &r->k;
    size_t o = copy_text(p, r->symbol);
    p[o++] = '\t';
    const char *ivn = kl_iv_name(r->iv);
    size_t ivl = strlen(ivn);
    memcpy(p + o, ivn, ivl);
    o += ivl;
#define FIELD(expr)                                                                              \
    do {                                                                                         \
        p[o++] = '\t';                                                                           \
        o += (expr);                                                                             \
    } while (0)
    FIELD(kl_int_format(k->open_time, p + o));
    FIELD(kl_int_format(k->close_time, p + o));
    FIELD(kl_int_format(r->unit_per_ms, p + o));
    FIELD(kl_dec_format(k->open, p + o));
    FIELD(kl_dec_format(k->high, p + o));
    FIELD(kl_dec_format(k->low, p + o));
    FIELD(kl_dec_format(k->close, p + o));
    FIELD(kl_sum_format_exact(k->volume, 8, p + o));
    FIELD(kl_sum_format_exact(k->quote, 16, p + o));
    FIELD(kl_int_format(k->trades, p + o));
    FIELD(kl_sum_format_exact(k->taker_base, 8, p + o));
    FIELD(kl_sum_format_exact(k->taker_quote, 16, p + o));
    FIELD(kl_int_format(k->first_id, p + o));
    FIELD(kl_int_format(k->last_id, p + o));
    p[o++] = '\t';
    p[o++] = r->is_final ? 't' : 'f';
#undef FIELD
    p[o++] = '\n';
    return o;
}

static uint64_t
key_hash(const kl_store_row_t *r)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (const char *c = r->symbol; *c; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211ULL;
    h = (h ^ r->iv) * 1099511628211ULL;
    h ^= (uint64_t)r->k.open_time;
    h *= 0x9e3779b97f4a7c15ULL; /* spread the time's low bits over the whole word */
    return h ^ (h >> 29);
}

static int
same_key(const kl_store_row_t *a, const kl_store_row_t *b)
{
    return a->iv == b->iv && a->k.open_time == b->k.open_time &&
           strcmp(a->symbol, b->symbol) == 0;
}

/* Sets skip[i] for every row that a later row of the same key replaces, so the LAST occurrence
 * of a key is the one written (a final kline, then its correction): one INSERT … ON CONFLICT
 * must not meet a key twice ("cannot affect row a second time"). O(n), no sort. */
static int
mark_superseded(pg_store *st, const kl_store_row_t *rows, size_t n, char *err, size_t cap)
{
    if (n >= UINT32_MAX / 2) {
        kl_store_errf(err, cap, "postgres store %s: a batch of %zu rows is too large", st->where,
                      n);
        return KL_EARG;
    }
    size_t want = 16;
    while (want < 2 * n)
        want *= 2;
    if (want > st->n_slots) {
        uint32_t *s = kl_alloc(want * sizeof *s);
        if (!s)
            goto oom;
        kl_free(st->slots);
        st->slots = s;
        st->n_slots = want;
    }
    if (n > st->n_skip) {
        uint8_t *k = kl_alloc(n);
        if (!k)
            goto oom;
        kl_free(st->skip);
        st->skip = k;
        st->n_skip = n;
    }
    memset(st->slots, 0, want * sizeof *st->slots);
    memset(st->skip, 0, n);
    size_t mask = want - 1;
    for (size_t i = 0; i < n; i++) {
        size_t h = (size_t)key_hash(&rows[i]) & mask;
        for (;; h = (h + 1) & mask) {
            uint32_t j = st->slots[h];
            if (j == 0) {
                st->slots[h] = (uint32_t)i + 1;
                break;
            }
            if (same_key(&rows[j - 1], &rows[i])) {
                st->skip[j - 1] = 1;
                st->slots[h] = (uint32_t)i + 1;
                break;
            }
        }
    }
    return 0;
oom:
    kl_store_errf(err, cap, "postgres store %s: out of memory for a batch of %zu rows",
                  st->where, n);
    return KL_ENOMEM;
}

/* Streams the batch, less its superseded rows, into the staging table. libpq in blocking mode:
 * PQputCopyData waits while the socket is full, and the server reads COPY data without
 * answering until the end. */
static int
copy_rows(pg_store *st, const kl_store_row_t *rows, size_t n, char *err, size_t cap)
{
    PGresult *res = PQexec(st->conn, SQL_COPY);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        int rc = pg_fail(st, res, "COPY into staging", err, cap);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    size_t len = 0;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        if (st->skip[i])
            continue;
        len += copy_row(st->copy_buf + len, &rows[i]);
        if (len > COPY_BUF_BYTES - COPY_ROW_MAX) {
            ok = PQputCopyData(st->conn, st->copy_buf, (int)len) == 1;
            len = 0;
        }
    }
    if (ok && len > 0)
        ok = PQputCopyData(st->conn, st->copy_buf, (int)len) == 1;
    /* A failed put ends the COPY with an error of our own, so the server aborts it. */
    if (PQputCopyEnd(st->conn, ok ? NULL : "klined: sending COPY data failed") != 1)
        ok = 0;
    int rc = 0;
    while ((res = PQgetResult(st->conn)) != NULL) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = pg_fail(st, res, "COPY into staging", err, cap);
        PQclear(res);
    }
    if (rc == 0 && !ok)
        rc = pg_fail(st, NULL, "COPY into staging", err, cap);
    return rc;
}

/* Orders x[0..n) (indexes into v) by symbol, then by index: a bottom-up merge sort through tmp,
 * since qsort has no context argument in C11. */
static void
sort_states(const kl_store_state_t *v, uint32_t *x, uint32_t *tmp, size_t n)
{
    uint32_t *src = x, *dst = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) {
                int c = strcmp(v[src[a]].symbol, v[src[b]].symbol);
                dst[o++] = (c < 0 || (c == 0 && src[a] < src[b])) ? src[a++] : src[b++];
            }
            while (a < mid)
                dst[o++] = src[a++];
            while (b < hi)
                dst[o++] = src[b++];
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != x)
        memcpy(x, src, n * sizeof *x);
}

/* Leaves in st->sidx[0..*out) the index of the LAST state of each symbol of the batch, in symbol
 * order: a later state of a symbol (or its deletion) replaces an earlier one, as a sequence of
 * single writes would, and one INSERT … ON CONFLICT must not meet a symbol twice. */
static int
prepare_states(pg_store *st, const kl_store_state_t *v, size_t n, size_t *out, char *err,
               size_t cap)
{
    if (n >= UINT32_MAX / 2) {
        kl_store_errf(err, cap, "postgres store %s: a batch of %zu states is too large",
                      st->where, n);
        return KL_EARG;
    }
    if (2 * n > st->n_sidx) {
        uint32_t *x = kl_alloc(2 * n * sizeof *x);
        if (!x) {
            kl_store_errf(err, cap, "postgres store %s: out of memory for a batch of %zu states",
                          st->where, n);
            return KL_ENOMEM;
        }
        kl_free(st->sidx);
        st->sidx = x;
        st->n_sidx = 2 * n;
    }
    uint32_t *x = st->sidx;
    for (size_t i = 0; i < n; i++)
        x[i] = (uint32_t)i;
    sort_states(v, x, x + n, n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (i + 1 == n || strcmp(v[x[i]].symbol, v[x[i + 1]].symbol) != 0)
            x[k++] = x[i];
    *out = k;
    return 0;
}

/* Writes the deletions (put 0) or the stores (put 1) among the k prepared states, STATE_CHUNK
 * per statement. The blob goes as a binary parameter: bytes as they are, zeros included, no
 * escaping either way. */
static int
write_states(pg_store *st, const kl_store_state_t *v, size_t k, int put, char *err, size_t cap)
{
    const char *values[2 * STATE_CHUNK];
    int lengths[2 * STATE_CHUNK], formats[2 * STATE_CHUNK];
    Oid types[2 * STATE_CHUNK];
    char sql[32 * STATE_CHUNK + 256];
    size_t i = 0;
    for (;;) {
        int np = 0, m = 0;
        size_t o = (size_t)snprintf(sql, sizeof sql, "%s",
                                    put ? "INSERT INTO series_state(symbol, state) VALUES"
                                        : "DELETE FROM series_state WHERE symbol IN (");
        for (; i < k && m < STATE_CHUNK; i++) {
            const kl_store_state_t *s = &v[st->sidx[i]];
            if ((s->len > 0) != put)
                continue;
            values[np] = s->symbol;
            lengths[np] = 0;
            formats[np] = 0;
            types[np++] = OID_TEXT;
            if (put) {
                values[np] = s->blob;
                lengths[np] = (int)s->len;
                formats[np] = 1;
                types[np++] = OID_BYTEA;
                o += (size_t)snprintf(sql + o, sizeof sql - o, "%s($%d, $%d)", m ? ", " : "",
                                      np - 1, np);
            } else {
                o += (size_t)snprintf(sql + o, sizeof sql - o, "%s$%d", m ? ", " : "", np);
            }
            m++;
        }
        if (m == 0)
            return 0;
        snprintf(sql + o, sizeof sql - o, "%s",
                 put ? " ON CONFLICT (symbol) DO UPDATE SET state = EXCLUDED.state" : ")");
        PGresult *res = PQexecParams(st->conn, sql, np, types, values, lengths, formats, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            char what[64];
            snprintf(what, sizeof what, "%s %d states", put ? "store" : "delete", m);
            int rc = pg_fail(st, res, what, err, cap);
            PQclear(res);
            return rc;
        }
        PQclear(res);
    }
}

/* One transaction for rows, engine states and meta: kl_store_commit() is the case without
 * states. Everything that can fail without the server (bad sizes, memory) fails before BEGIN. */
static int
pg_commit_all(pg_store *st, const kl_store_row_t *rows, size_t n, const kl_store_state_t *states,
              size_t n_states, const kl_store_kv_t *kv, size_t n_kv, char *err, size_t cap)
{
    if (st->in_scan || st->in_symbols) {
        kl_store_errf(err, cap, "postgres store %s: commit called from a scan callback",
                      st->where);
        return KL_EARG;
    }
    int rc = n > 0 ? mark_superseded(st, rows, n, err, cap) : 0;
    if (rc < 0)
        return rc;
    size_t k = 0;
    if (n_states > 0 && (rc = prepare_states(st, states, n_states, &k, err, cap)) < 0)
        return rc;
    if ((rc = ensure_conn(st, err, cap)) < 0)
        return rc;
    if (n > 0 && !st->staging_ready) {
        if ((rc = exec_ok(st, SQL_STAGING, "create staging table", err, cap)) < 0)
            return rc;
        st->staging_ready = 1;
    }
    if ((rc = exec_ok(st, "BEGIN", "BEGIN", err, cap)) < 0)
        goto fail;
    if (n > 0) {
        char what[64];
        snprintf(what, sizeof what, "upsert of %zu rows", n);
        if ((rc = copy_rows(st, rows, n, err, cap)) < 0 ||
            (rc = exec_ok(st, SQL_UPSERT, what, err, cap)) < 0)
            goto fail;
    }
    if (k > 0 && ((rc = write_states(st, states, k, 0, err, cap)) < 0 ||
                  (rc = write_states(st, states, k, 1, err, cap)) < 0))
        goto fail;
    for (size_t i = 0; i < n_kv; i++) {
        char num[KL_NUM_BUFSZ], what[96];
        kl_int_format(kv[i].value, num);
        const char *params[2] = {kv[i].key, num};
        PGresult *res = PQexecParams(st->conn, SQL_PUT_KV, 2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(what, sizeof what, "set meta '%.60s'", kv[i].key);
            rc = pg_fail(st, res, what, err, cap);
            PQclear(res);
            goto fail;
        }
        PQclear(res);
    }
    char what[64];
    snprintf(what, sizeof what, "COMMIT of %zu rows", n);
    if ((rc = exec_ok(st, "COMMIT", what, err, cap)) < 0)
        goto fail;
    return 0;
fail:
    /* The message is already in err; roll back whatever is open so that nothing of this call
     * is visible and the next one starts clean. A dead connection has nothing open. */
    if (PQstatus(st->conn) == CONNECTION_OK && PQtransactionStatus(st->conn) != PQTRANS_IDLE)
        PQclear(PQexec(st->conn, "ROLLBACK"));
    return KL_ESTORE;
}

static int
pg_commit(kl_store_t *base, const kl_store_row_t *rows, size_t n, const kl_store_kv_t *kv,
          size_t n_kv, char *err, size_t cap)
{
    return pg_commit_all((pg_store *)base, rows, n, NULL, 0, kv, n_kv, err, cap);
}

static int
pg_commit_batch(kl_store_t *base, const kl_store_batch_t *b, char *err, size_t cap)
{
    return pg_commit_all((pg_store *)base, b->rows, b->n_rows, b->states, b->n_states, b->kv,
                         b->n_kv, err, cap);
}

/* ---- reads ----------------------------------------------------------------------------- */

static int
get_int(const PGresult *res, int row, int col, int64_t *out)
{
    if (PQgetisnull(res, row, col))
        return KL_ESTORE;
    return kl_int_parse(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col), out) == 0
               ? 0
               : KL_ESTORE;
}

static int
get_dec(const PGresult *res, int row, int col, kl_dec_t *out)
{
    if (PQgetisnull(res, row, col))
        return KL_ESTORE;
    return kl_dec_parse(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col), out) == 0
               ? 0
               : KL_ESTORE;
}

static int
get_sum(const PGresult *res, int row, int col, int places, kl_sum_t *out)
{
    if (PQgetisnull(res, row, col))
        return KL_ESTORE;
    return kl_sum_parse(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col), places,
                        out) == 0
               ? 0
               : KL_ESTORE;
}

/* Rebuilds one row; any value that is not what a commit writes (NaN, a unit of 7, NULL) fails
 * the whole scan rather than yield a wrong kline. */
static int
read_row(const PGresult *res, int i, kl_store_row_t *r)
{
    kl_kline_t *k = &r->k;
    int64_t unit;
    if (get_int(res, i, 0, &k->open_time) || get_int(res, i, 1, &k->close_time) ||
        get_int(res, i, 2, &unit) || get_dec(res, i, 3, &k->open) ||
        get_dec(res, i, 4, &k->high) || get_dec(res, i, 5, &k->low) ||
        get_dec(res, i, 6, &k->close) || get_sum(res, i, 7, 8, &k->volume) ||
        get_sum(res, i, 8, 16, &k->quote) || get_int(res, i, 9, &k->trades) ||
        get_sum(res, i, 10, 8, &k->taker_base) || get_sum(res, i, 11, 16, &k->taker_quote) ||
        get_int(res, i, 12, &k->first_id) || get_int(res, i, 13, &k->last_id) ||
        PQgetisnull(res, i, 14))
        return KL_ESTORE;
    const char *fin = PQgetvalue(res, i, 14);
    if ((unit != 1 && unit != 1000) || (strcmp(fin, "t") != 0 && strcmp(fin, "f") != 0))
        return KL_ESTORE;
    r->unit_per_ms = (uint16_t)unit;
    r->is_final = fin[0] == 't';
    return 0;
}

/* Runs declare (a DECLARE kl_scan … whose $1, $2 are symbol and interval and whose further
 * parameters are extra[0..n_extra)) in a read-only transaction and calls fn for each row, read
 * FETCH_ROWS at a time: the scan and the range. */
static int
pg_cursor_rows(pg_store *st, const char *declare, const char *symbol, int iv,
               const char *const *extra, int n_extra, kl_store_row_fn fn, void *ctx)
{
    size_t len = strlen(symbol);
    if (st->in_scan || len == 0 || len >= KL_STORE_SYMBOL_MAX || n_extra > 3)
        return KL_EARG;
    if (ensure_conn(st, NULL, 0) < 0)
        return KL_ESTORE;
    kl_store_row_t row;
    memset(&row, 0, sizeof row);
    memcpy(row.symbol, symbol, len + 1);
    row.iv = (uint8_t)iv;

    if (exec_ok(st, "BEGIN READ ONLY", "begin scan", NULL, 0) < 0)
        return KL_ESTORE;
    const char *params[5] = {row.symbol, kl_iv_name(iv)};
    for (int i = 0; i < n_extra; i++)
        params[2 + i] = extra[i];
    PGresult *res = PQexecParams(st->conn, declare, 2 + n_extra, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : KL_ESTORE;
    PQclear(res);
    st->in_scan = 1;
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH %d FROM kl_scan", FETCH_ROWS);
    while (rc == 0) {
        res = PQexec(st->conn, fetch);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 15) {
            rc = KL_ESTORE;
        } else {
            int nt = PQntuples(res);
            for (int i = 0; i < nt && rc == 0; i++) {
                if (read_row(res, i, &row) != 0)
                    rc = KL_ESTORE;
                else
                    rc = fn(ctx, &row);
            }
            if (rc == 0 && nt < FETCH_ROWS) {
                PQclear(res);
                break;
            }
        }
        PQclear(res);
    }
    st->in_scan = 0;
    /* Ends the read transaction and its cursor, whether the scan finished, was stopped by the
     * callback or failed. */
    if (PQstatus(st->conn) == CONNECTION_OK && PQtransactionStatus(st->conn) != PQTRANS_IDLE)
        PQclear(PQexec(st->conn, "ROLLBACK"));
    return rc;
}

static int
pg_scan(kl_store_t *base, const char *symbol, int iv, kl_store_row_fn fn, void *ctx)
{
    return pg_cursor_rows((pg_store *)base, SQL_SCAN, symbol, iv, NULL, 0, fn, ctx);
}

static int
pg_range(kl_store_t *base, const char *symbol, int iv, int64_t lo, int64_t hi, size_t limit,
         int newest_first, kl_store_row_fn fn, void *ctx)
{
    char los[KL_NUM_BUFSZ], his[KL_NUM_BUFSZ], lims[KL_NUM_BUFSZ];
    kl_int_format(lo, los);
    kl_int_format(hi, his);
    /* A limit beyond INT64_MAX means no limit: LIMIT takes a bigint. */
    kl_int_format(limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit, lims);
    const char *const extra[3] = {los, his, lims};
    return pg_cursor_rows((pg_store *)base, SQL_RANGE[newest_first ? 1 : 0], symbol, iv, extra,
                          3, fn, ctx);
}

static int
pg_last_before(kl_store_t *base, const char *symbol, int iv, int64_t t, kl_store_row_t *out)
{
    pg_store *st = (pg_store *)base;
    size_t len = strlen(symbol);
    if (st->in_scan || len == 0 || len >= KL_STORE_SYMBOL_MAX)
        return KL_EARG;
    if (ensure_conn(st, NULL, 0) < 0)
        return KL_ESTORE;
    kl_store_row_t row;
    memset(&row, 0, sizeof row);
    memcpy(row.symbol, symbol, len + 1);
    row.iv = (uint8_t)iv;
    char ts[KL_NUM_BUFSZ];
    kl_int_format(t, ts);
    const char *params[3] = {row.symbol, kl_iv_name(iv), ts};
    PGresult *res = PQexecParams(st->conn, kl_store_pg_last_before_sql, 3, NULL, params, NULL,
                                 NULL, 0);
    int rc;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 15 || PQntuples(res) > 1)
        rc = KL_ESTORE;
    else if (PQntuples(res) == 0)
        rc = 1;
    else
        rc = read_row(res, 0, &row);
    PQclear(res);
    if (rc == 0)
        *out = row;
    return rc;
}

static int
pg_symbols(kl_store_t *base, kl_store_symbol_fn fn, void *ctx)
{
    pg_store *st = (pg_store *)base;
    if (st->in_symbols)
        return KL_EARG;
    if (ensure_conn(st, NULL, 0) < 0)
        return KL_ESTORE;
    /* The whole (small) list is read first, so the connection is free for the callback's own
     * scans, as export does. */
    PGresult *res = PQexec(st->conn, SQL_SYMBOLS);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 1) {
        PQclear(res);
        return KL_ESTORE;
    }
    st->in_symbols = 1;
    int rc = 0;
    int nt = PQntuples(res);
    for (int i = 0; i < nt && rc == 0; i++) {
        if (PQgetisnull(res, i, 0))
            rc = KL_ESTORE;
        else
            rc = fn(ctx, PQgetvalue(res, i, 0));
    }
    st->in_symbols = 0;
    PQclear(res);
    return rc;
}

static int
pg_get_kv(kl_store_t *base, const char *key, int64_t *value)
{
    pg_store *st = (pg_store *)base;
    if (ensure_conn(st, NULL, 0) < 0)
        return KL_ESTORE;
    const char *params[1] = {key};
    PGresult *res = PQexecParams(st->conn, "SELECT value FROM meta WHERE key = $1", 1, NULL,
                                 params, NULL, NULL, 0);
    int rc;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = KL_ESTORE;
    } else if (PQntuples(res) == 0) {
        rc = 1;
    } else {
        const char *v = one_value(res);
        int64_t x;
        rc = v && kl_int_parse(v, strlen(v), &x) == 0 ? 0 : KL_ESTORE;
        if (rc == 0)
            *value = x;
    }
    PQclear(res);
    return rc;
}

/* States through a cursor in a read-only transaction, FETCH_STATES at a time and in binary, so
 * that a store of thousands of symbols never sits in memory whole and the blob arrives as it
 * was written. A symbol that a commit could not have written (NULL, 32 bytes or more, an
 * embedded zero) fails the call rather than name a wrong series. */
static int
pg_states(kl_store_t *base, kl_store_state_fn fn, void *ctx)
{
    pg_store *st = (pg_store *)base;
    if (st->in_scan)
        return KL_EARG;
    if (ensure_conn(st, NULL, 0) < 0)
        return KL_ESTORE;
    if (exec_ok(st, "BEGIN READ ONLY", "begin states", NULL, 0) < 0)
        return KL_ESTORE;
    int rc = exec_ok(st,
                     "DECLARE kl_states NO SCROLL CURSOR FOR"
                     " SELECT symbol, state FROM series_state ORDER BY symbol",
                     "read states", NULL, 0) < 0
                 ? KL_ESTORE
                 : 0;
    st->in_scan = 1;
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH %d FROM kl_states", FETCH_STATES);
    while (rc == 0) {
        PGresult *res = PQexecParams(st->conn, fetch, 0, NULL, NULL, NULL, NULL, 1);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 2) {
            PQclear(res);
            rc = KL_ESTORE;
            break;
        }
        int nt = PQntuples(res);
        for (int i = 0; i < nt && rc == 0; i++) {
            /* libpq ends every value, binary ones too, with a zero byte. */
            const char *sym = PQgetvalue(res, i, 0);
            int slen = PQgetlength(res, i, 0);
            if (PQgetisnull(res, i, 0) || PQgetisnull(res, i, 1) || slen <= 0 ||
                slen >= KL_STORE_SYMBOL_MAX || strlen(sym) != (size_t)slen)
                rc = KL_ESTORE;
            else
                rc = fn(ctx, sym, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
        }
        PQclear(res);
        if (nt < FETCH_STATES)
            break;
    }
    st->in_scan = 0;
    if (PQstatus(st->conn) == CONNECTION_OK && PQtransactionStatus(st->conn) != PQTRANS_IDLE)
        PQclear(PQexec(st->conn, "ROLLBACK"));
    return rc;
}

/* One state by its primary key, the blob in binary as it was written. */
static int
pg_state(kl_store_t *base, const char *symbol, kl_store_state_fn fn, void *ctx)
{
    pg_store *st = (pg_store *)base;
    if (st->in_scan)
        return KL_EARG;
    if (ensure_conn(st, NULL, 0) < 0)
        return KL_ESTORE;
    const char *params[1] = {symbol};
    PGresult *res = PQexecParams(st->conn, "SELECT state FROM series_state WHERE symbol = $1", 1,
                                 NULL, params, NULL, NULL, 1);
    int rc;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 1)
        rc = KL_ESTORE;
    else if (PQntuples(res) == 0)
        rc = 1;
    else if (PQgetisnull(res, 0, 0))
        rc = KL_ESTORE;
    else
        rc = fn(ctx, symbol, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
    PQclear(res);
    return rc;
}

const kl_store_ops_t kl_store_pg_ops = {
    .scheme = "postgres",
    .open = pg_open,
    .commit = pg_commit,
    .scan = pg_scan,
    .symbols = pg_symbols,
    .get_kv = pg_get_kv,
    .close = pg_close,
    .commit_batch = pg_commit_batch,
    .states = pg_states,
    .range = pg_range,
    .last_before = pg_last_before,
    .state = pg_state,
    .set_statement_timeout = pg_set_statement_timeout,
};
