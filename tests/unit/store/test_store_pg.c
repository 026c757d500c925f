/* Unit tests for src/store/store_pg.c against a real PostgreSQL server, named by the environment
 * variable KL_PG_URL (scripts/pg.sh start; export KL_PG_URL=$(scripts/pg.sh url)). Without it
 * the test FAILS, so that a missing database never looks like a pass, unless KL_PG_SKIP=1 says
 * to skip on purpose. The cases mirror test_store_sqlite.c, since both backends must behave the
 * same: every field back bit for bit, all-or-nothing commits (also when the server fails
 * mid-transaction), last-wins duplicates in a batch, byte-ordered symbols, strict reads, and a
 * connection that comes back after its backend was killed; range reads with inclusive bounds, a
 * limit and either direction, served by the primary key (EXPLAIN), through a second store
 * beside a writing one. Each test works in its own schema
 * (search_path set through the URL), created and dropped through a second, plain connection
 * that also checks the stored text and plants failures (triggers, constraints, bad values). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "core/alloc.h"
#include "core/interval.h"
#include "kl/err.h"
#include "store/store.h"
#include "store/store_int.h"

#define I128_MAX ((kl_sum_t)(((unsigned __int128)1 << 127) - 1))

static const char *g_url; /* KL_PG_URL */
static PGconn *g_raw;     /* the test's own connection, below the API */
static char g_where[256]; /* "HOST:PORT/DB" as the store names the server in its messages */

/* ---- helpers --------------------------------------------------------------------------- */

static void
schema_name(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "klt_%d_%s", (int)getpid(), name);
}

static void
raw_exec(const char *name, const char *sql)
{
    char schema[128], full[4096];
    schema_name(schema, sizeof schema, name);
    snprintf(full, sizeof full, "SET search_path = %s; %s", schema, sql);
    PGresult *res = PQexec(g_raw, full);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        fail_msg("raw exec '%s': %s", sql, PQerrorMessage(g_raw));
    PQclear(res);
}

/* Returns the status of a statement expected to fail, and the server's message in msg. */
static ExecStatusType
raw_try(const char *name, const char *sql, char *msg, size_t cap)
{
    char schema[128], full[4096];
    schema_name(schema, sizeof schema, name);
    snprintf(full, sizeof full, "SET search_path = %s; %s", schema, sql);
    PGresult *res = PQexec(g_raw, full);
    ExecStatusType s = PQresultStatus(res);
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    snprintf(msg, cap, "%s", m ? m : "");
    PQclear(res);
    return s;
}

static void
raw_text(const char *name, const char *sql, char *out, size_t cap)
{
    char schema[128], full[4096];
    schema_name(schema, sizeof schema, name);
    snprintf(full, sizeof full, "SET search_path = %s", schema);
    PQclear(PQexec(g_raw, full));
    PGresult *res = PQexec(g_raw, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("raw query '%s': %s", sql, PQerrorMessage(g_raw));
    snprintf(out, cap, "%s", PQgetisnull(res, 0, 0) ? "(null)" : PQgetvalue(res, 0, 0));
    PQclear(res);
}

/* The store URL for test `name`: KL_PG_URL with its search_path set to the test's schema (made
 * here if missing) and, when app is given, an application_name to find its backend by. */
static void
store_url(const char *name, const char *app, char *url, size_t cap)
{
    char schema[128], sql[256];
    schema_name(schema, sizeof schema, name);
    snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s", schema);
    PGresult *res = PQexec(g_raw, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(g_raw));
    PQclear(res);
    snprintf(url, cap, "%s%soptions=-csearch_path%%3D%s%s%s", g_url,
             strchr(g_url, '?') ? "&" : "?", schema, app ? "&application_name=" : "",
             app ? app : "");
}

static kl_store_t *
open_store_app(const char *name, const char *app)
{
    char url[1024], err[512] = "";
    store_url(name, app, url, sizeof url);
    kl_store_t *st = NULL;
    int rc = kl_store_open(url, &st, err, sizeof err);
    if (rc != 0)
        fail_msg("open %s: %d %s", url, rc, err);
    return st;
}

static kl_store_t *
open_store(const char *name)
{
    return open_store_app(name, NULL);
}

static kl_store_row_t
mk_row(const char *sym, int iv, int64_t open_time, int64_t seed)
{
    kl_store_row_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.symbol, sizeof r.symbol, "%s", sym);
    r.iv = (uint8_t)iv;
    r.unit_per_ms = 1;
    r.is_final = 1;
    r.k.open_time = open_time;
    r.k.close_time = open_time + 59999;
    r.k.open = 100 * KL_DEC_SCALE + seed;
    r.k.high = 101 * KL_DEC_SCALE + seed;
    r.k.low = 99 * KL_DEC_SCALE + seed;
    r.k.close = 100 * KL_DEC_SCALE + 2 * seed;
    r.k.volume = (kl_sum_t)(seed + 1) * 12345678;
    r.k.quote = (kl_sum_t)(seed + 1) * 1234567890123456789LL;
    r.k.taker_base = (kl_sum_t)(seed + 1) * 5;
    r.k.taker_quote = (kl_sum_t)(seed + 1) * 7;
    r.k.trades = seed + 3;
    r.k.first_id = 1000 + seed;
    r.k.last_id = 1002 + seed;
    return r;
}

static void
assert_row_eq(const kl_store_row_t *a, const kl_store_row_t *b)
{
    assert_string_equal(a->symbol, b->symbol);
    assert_int_equal(a->iv, b->iv);
    assert_int_equal(a->is_final, b->is_final);
    assert_int_equal(a->unit_per_ms, b->unit_per_ms);
    assert_int_equal(a->k.open_time, b->k.open_time);
    assert_int_equal(a->k.close_time, b->k.close_time);
    assert_int_equal(a->k.open, b->k.open);
    assert_int_equal(a->k.high, b->k.high);
    assert_int_equal(a->k.low, b->k.low);
    assert_int_equal(a->k.close, b->k.close);
    assert_true(a->k.volume == b->k.volume);
    assert_true(a->k.quote == b->k.quote);
    assert_true(a->k.taker_base == b->k.taker_base);
    assert_true(a->k.taker_quote == b->k.taker_quote);
    assert_int_equal(a->k.trades, b->k.trades);
    assert_int_equal(a->k.first_id, b->k.first_id);
    assert_int_equal(a->k.last_id, b->k.last_id);
}

#define MAX_GOT 3000
struct collect {
    size_t n;
    kl_store_row_t rows[MAX_GOT];
    int stop_after; /* return 7 after this many rows; 0 = never */
};

static int
collect_row(void *ctx, const kl_store_row_t *row)
{
    struct collect *c = ctx;
    if (c->n >= MAX_GOT)
        return -1;
    c->rows[c->n++] = *row;
    return c->stop_after && (int)c->n == c->stop_after ? 7 : 0;
}

static struct collect g_c; /* too big for the stack of a test */

static size_t
scan_all(kl_store_t *st, const char *sym, int iv, struct collect *c)
{
    memset(c, 0, sizeof *c);
    int rc = kl_store_scan(st, sym, iv, collect_row, c);
    if (rc != 0)
        fail_msg("scan %s %s: %d", sym, kl_iv_name(iv), rc);
    return c->n;
}

static void
commit_ok(kl_store_t *st, const kl_store_row_t *rows, size_t n, const kl_store_kv_t *kv,
          size_t n_kv)
{
    char err[512] = "";
    int rc = kl_store_commit(st, rows, n, kv, n_kv, err, sizeof err);
    if (rc != 0)
        fail_msg("commit: %d %s", rc, err);
}

/* ---- setup ----------------------------------------------------------------------------- */

static int
group_setup(void **state)
{
    (void)state;
    g_raw = PQconnectdb(g_url);
    if (PQstatus(g_raw) != CONNECTION_OK) {
        fprintf(stderr, "test_store_pg: cannot connect to KL_PG_URL=%s: %s", g_url,
                PQerrorMessage(g_raw));
        return -1;
    }
    PQclear(PQexec(g_raw, "SET client_min_messages = warning"));
    snprintf(g_where, sizeof g_where, "%s:%s/%s", PQhost(g_raw), PQport(g_raw), PQdb(g_raw));
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT string_agg(quote_ident(nspname), ', ') FROM pg_namespace"
             " WHERE nspname LIKE 'klt\\_%d\\_%%'",
             (int)getpid());
    PGresult *res = PQexec(g_raw, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0)) {
        char drop[8192];
        snprintf(drop, sizeof drop, "DROP SCHEMA %s CASCADE", PQgetvalue(res, 0, 0));
        PQclear(PQexec(g_raw, drop));
    }
    PQclear(res);
    PQfinish(g_raw);
    return 0;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void
test_round_trip_every_field(void **state)
{
    (void)state;
    kl_store_t *st = open_store("round");
    kl_store_row_t in[5];
    /* Extremes: the largest int64 price and __int128 sums, odd digits in every place. */
    in[0] = mk_row("BTCUSDT", KL_IV_1M, 1700000040000, 0);
    in[0].k.open = INT64_MAX;
    in[0].k.high = INT64_MAX;
    in[0].k.low = 1;
    in[0].k.close = 9223372036854775806LL;
    in[0].k.volume = I128_MAX;
    in[0].k.quote = I128_MAX - 12345;
    in[0].k.taker_base = (kl_sum_t)123456789012345678LL * 1000000000000LL + 7;
    in[0].k.taker_quote = 1; /* 1e-16: the last quote place */
    in[0].k.trades = INT64_MAX;
    in[0].k.first_id = 0;
    in[0].k.last_id = INT64_MAX;
    in[0].is_final = 0;
    /* A hole kline: ids -1, zero sums, O=H=L=C. */
    in[1] = mk_row("BTCUSDT", KL_IV_1M, 1700000100000, 0);
    in[1].k.open = in[1].k.high = in[1].k.low = in[1].k.close = 4213456789012LL;
    in[1].k.volume = in[1].k.quote = in[1].k.taker_base = in[1].k.taker_quote = 0;
    in[1].k.trades = 0;
    in[1].k.first_id = in[1].k.last_id = -1;
    /* A microsecond series (2025+ spot dumps) on the calendar month. */
    in[2] = mk_row("ETHUSDT", KL_IV_1MO, 1735689600000000LL, 5);
    in[2].unit_per_ms = 1000;
    in[2].k.close_time = 1738367999999999LL;
    in[2].k.quote = (kl_sum_t)314159265358979323LL * 1000000000000000000LL + 846264338327950288LL;
    in[2].k.taker_quote = -(kl_sum_t)99; /* sign must survive even where it makes no sense */
    /* The 1s interval and a long symbol name: 31 bytes, the most the row holds. */
    in[3] = mk_row("ABCDEFGHIJKLMNOPQRSTUVWXYZ01234", KL_IV_1S, 1000, 9);
    /* Negative extremes, where a sign and 39 digits must fit. (-2^127 itself is left out:
     * kl_sum_parse refuses it although kl_sum_format_exact writes it; see the report.) */
    in[4] = mk_row("NEGUSDT", KL_IV_1H, 0, 1);
    in[4].k.open = INT64_MIN;
    in[4].k.volume = -I128_MAX;
    in[4].k.quote = -I128_MAX;
    in[4].k.trades = INT64_MIN;
    commit_ok(st, in, 5, NULL, 0);

    struct collect *c = &g_c;
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, c), 2);
    assert_row_eq(&c->rows[0], &in[0]);
    assert_row_eq(&c->rows[1], &in[1]);
    assert_int_equal(scan_all(st, "ETHUSDT", KL_IV_1MO, c), 1);
    assert_row_eq(&c->rows[0], &in[2]);
    assert_int_equal(scan_all(st, "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234", KL_IV_1S, c), 1);
    assert_row_eq(&c->rows[0], &in[3]);
    assert_int_equal(scan_all(st, "NEGUSDT", KL_IV_1H, c), 1);
    assert_row_eq(&c->rows[0], &in[4]);
    kl_store_close(st);

    /* The stored values are exact NUMERICs: 8 places, quotes with all 16. */
    char txt[256];
    raw_text("round",
             "SELECT quote_volume || '|' || taker_quote || '|' || open || '|' || interval"
             " FROM klines WHERE symbol='ETHUSDT'",
             txt, sizeof txt);
    assert_string_equal(txt, "31415926535897932384.6264338327950288|-0.0000000000000099|"
                             "100.00000005|1M");
    raw_text("round",
             "SELECT volume || '|' || taker_quote || '|' || unit || '|' || is_final FROM klines"
             " WHERE symbol='BTCUSDT' AND open_time=1700000040000",
             txt, sizeof txt);
    assert_string_equal(txt,
                        "1701411834604692317316873037158.84105727|0.0000000000000001|1|false");
    /* Arithmetic in SQL sees the same exact value (no double on the way in). */
    raw_text("round",
             "SELECT (quote_volume * 10000000000000000)::text FROM klines"
             " WHERE symbol='BTCUSDT' AND open_time=1700000040000",
             txt, sizeof txt);
    assert_string_equal(txt, "170141183460469231731687303715884093382.0000000000000000");
    raw_text("round", "SELECT obj_description('klines'::regclass, 'pg_class')", txt, sizeof txt);
    assert_string_equal(txt, "klined schema 1");
    raw_text("round",
             "SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum)"
             " FROM pg_attribute WHERE attrelid = 'klines'::regclass AND attnum > 0",
             txt, sizeof txt);
    assert_string_equal(txt, "text,text,bigint,bigint,integer,numeric(38,8),numeric(38,8),"
                             "numeric(38,8),numeric(38,8),numeric(39,8),numeric(39,16),bigint,"
                             "numeric(39,8),numeric(39,16),bigint,bigint,boolean");
}

static void
test_upsert_latest_wins(void **state)
{
    (void)state;
    kl_store_t *st = open_store("upsert");
    kl_store_row_t a = mk_row("BTCUSDT", KL_IV_5M, 1700000100000, 1);
    a.is_final = 0;
    commit_ok(st, &a, 1, NULL, 0);
    kl_store_row_t b = mk_row("BTCUSDT", KL_IV_5M, 1700000100000, 40);
    b.k.first_id = b.k.last_id = -1;
    b.unit_per_ms = 1000;
    b.is_final = 1;
    kl_store_row_t batch[2] = {a, b};
    commit_ok(st, batch, 2, NULL, 0);
    struct collect *c = &g_c;
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_5M, c), 1);
    assert_row_eq(&c->rows[0], &b);
    commit_ok(st, &a, 1, NULL, 0);
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_5M, c), 1);
    assert_row_eq(&c->rows[0], &a);
    kl_store_close(st);
}

/* A batch holding one key several times (a final kline, then its correction) must not trip
 * "ON CONFLICT DO UPDATE command cannot affect row a second time", and the LAST one wins,
 * whatever its content, also in a batch large enough to span several COPY buffers. */
static void
test_duplicate_keys_last_wins(void **state)
{
    (void)state;
    kl_store_t *st = open_store("dups");
    enum { N = 2500 };
    static kl_store_row_t rows[N];
    for (int i = 0; i < N; i++)
        rows[i] = mk_row("BTCUSDT", KL_IV_1M, (int64_t)(i % 1000) * 60000, i);
    /* Keys 0..499 appear 3 times (last at i + 2000), keys 500..999 twice (last at i + 1000).
     * The last rows get fewer trades, so a "largest wins" or "first wins" would fail. */
    for (int i = 2000; i < N; i++)
        rows[i].k.trades = 1;
    commit_ok(st, rows, N, NULL, 0);
    struct collect *c = &g_c;
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, c), 1000);
    for (int i = 0; i < 1000; i++) {
        int last = i < 500 ? i + 2000 : i + 1000;
        assert_row_eq(&c->rows[i], &rows[last]);
    }
    assert_int_equal(c->rows[0].k.trades, 1);
    assert_int_equal(c->rows[999].k.trades, 1999 + 3);

    /* The reverse order of a pair: the earlier content wins now, as it comes last. */
    kl_store_row_t pair[3] = {mk_row("ETHUSDT", KL_IV_1H, 0, 9), mk_row("ETHUSDT", KL_IV_1H, 0, 1),
                              mk_row("ETHUSDT", KL_IV_1H, 3600000, 2)};
    pair[1].is_final = 0;
    commit_ok(st, pair, 3, NULL, 0);
    assert_int_equal(scan_all(st, "ETHUSDT", KL_IV_1H, c), 2);
    assert_row_eq(&c->rows[0], &pair[1]);
    assert_row_eq(&c->rows[1], &pair[2]);
    /* The staging table is empty after each commit: a later batch does not see old rows. */
    kl_store_row_t one = mk_row("ETHUSDT", KL_IV_1H, 0, 3);
    commit_ok(st, &one, 1, NULL, 0);
    assert_int_equal(scan_all(st, "ETHUSDT", KL_IV_1H, c), 2);
    assert_row_eq(&c->rows[0], &one);
    kl_store_close(st);
}

static void
test_scan_order_and_filter(void **state)
{
    (void)state;
    kl_store_t *st = open_store("order");
    const int64_t times[] = {5, 1, 4, 2, 3};
    kl_store_row_t rows[15];
    size_t n = 0;
    for (size_t i = 0; i < 5; i++) {
        int64_t t = 1700000000000 + times[i] * 60000;
        rows[n++] = mk_row("BTCUSDT", KL_IV_1M, t, times[i]);
        rows[n++] = mk_row("BTCUSDT", KL_IV_3M, t, 100 + times[i]); /* other interval */
        rows[n++] = mk_row("BTCUSDTX", KL_IV_1M, t, 200 + times[i]); /* prefix-sharing symbol */
    }
    commit_ok(st, rows, n, NULL, 0);
    struct collect *c = &g_c;
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, c), 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(c->rows[i].k.open_time, 1700000000000 + (int64_t)(i + 1) * 60000);
        assert_int_equal(c->rows[i].k.trades, (int64_t)(i + 1) + 3);
        assert_string_equal(c->rows[i].symbol, "BTCUSDT");
        assert_int_equal(c->rows[i].iv, KL_IV_1M);
    }
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_3M, c), 5);
    assert_int_equal(c->rows[0].k.trades, 104);
    assert_int_equal(scan_all(st, "BTCUSD", KL_IV_1M, c), 0);
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1H, c), 0);

    memset(c, 0, sizeof *c);
    c->stop_after = 2;
    assert_int_equal(kl_store_scan(st, "BTCUSDT", KL_IV_1M, collect_row, c), 7);
    assert_int_equal(c->n, 2);
    /* The cursor was closed: a new scan starts from the first row. */
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, c), 5);
    assert_int_equal(c->rows[0].k.open_time, 1700000060000);
    assert_int_equal(kl_store_scan(st, "BTCUSDT", KL_IV_COUNT, collect_row, c), KL_EARG);
    assert_int_equal(kl_store_scan(st, "BTCUSDT", -1, collect_row, c), KL_EARG);
    kl_store_close(st);
}

/* More rows than one FETCH returns: the cursor is read to its end, in order. */
static void
test_long_scan_and_odd_symbols(void **state)
{
    (void)state;
    kl_store_t *st = open_store("long");
    enum { N = 2345 };
    static kl_store_row_t rows[N];
    for (int i = 0; i < N; i++)
        rows[i] = mk_row("SOLUSDT", KL_IV_1S, (int64_t)(N - i) * 1000, i);
    /* Bytes that COPY's text format must escape, in a symbol. */
    kl_store_row_t odd[3] = {mk_row("A\tB\\C", KL_IV_1M, 0, 1), mk_row("X\nY\rZ", KL_IV_1M, 0, 2),
                             mk_row("\\N", KL_IV_1M, 0, 3)};
    commit_ok(st, rows, N, NULL, 0);
    commit_ok(st, odd, 3, NULL, 0);
    struct collect *c = &g_c;
    assert_int_equal(scan_all(st, "SOLUSDT", KL_IV_1S, c), N);
    for (int i = 0; i < N; i++)
        assert_row_eq(&c->rows[i], &rows[N - 1 - i]);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(scan_all(st, odd[i].symbol, KL_IV_1M, c), 1);
        assert_row_eq(&c->rows[0], &odd[i]);
    }
    char txt[64];
    raw_text("long", "SELECT count(*) FROM klines WHERE symbol = E'A\\tB\\\\C'", txt, sizeof txt);
    assert_string_equal(txt, "1");
    kl_store_close(st);
}

struct syms {
    size_t n;
    char names[8][KL_STORE_SYMBOL_MAX];
};

static int
collect_sym(void *ctx, const char *sym)
{
    struct syms *s = ctx;
    if (s->n >= 8)
        return -1;
    snprintf(s->names[s->n++], KL_STORE_SYMBOL_MAX, "%s", sym);
    return 0;
}

static void
test_symbols_listing(void **state)
{
    (void)state;
    kl_store_t *st = open_store("syms");
    struct syms s = {0};
    assert_int_equal(kl_store_symbols(st, collect_sym, &s), 0);
    assert_int_equal(s.n, 0);
    kl_store_row_t rows[] = {
        mk_row("ETHUSDT", KL_IV_1M, 60000, 0),  mk_row("BTCUSDT", KL_IV_1M, 60000, 0),
        mk_row("ETHUSDT", KL_IV_1H, 0, 0),      mk_row("ADAUSDT", KL_IV_1D, 0, 0),
        mk_row("BTCUSDT", KL_IV_1M, 120000, 0), mk_row("BTCUSDC", KL_IV_1W, 0, 0),
        mk_row("aaaUSDT", KL_IV_1M, 0, 0), /* byte order puts lower case last, as SQLite does */
    };
    commit_ok(st, rows, sizeof rows / sizeof rows[0], NULL, 0);
    assert_int_equal(kl_store_symbols(st, collect_sym, &s), 0);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.names[0], "ADAUSDT");
    assert_string_equal(s.names[1], "BTCUSDC");
    assert_string_equal(s.names[2], "BTCUSDT");
    assert_string_equal(s.names[3], "ETHUSDT");
    assert_string_equal(s.names[4], "aaaUSDT");
    kl_store_close(st);
}

static void
test_meta_with_rows(void **state)
{
    (void)state;
    kl_store_t *st = open_store("meta");
    int64_t v = 42;
    assert_int_equal(kl_store_get_kv(st, "wal.0", &v), 1);
    assert_int_equal(v, 42); /* untouched when absent */
    kl_store_row_t r = mk_row("BTCUSDT", KL_IV_1M, 60000, 0);
    kl_store_kv_t kv[] = {{"wal.0", 123456789012345LL}, {"wal.1", -5}};
    commit_ok(st, &r, 1, kv, 2);
    assert_int_equal(kl_store_get_kv(st, "wal.0", &v), 0);
    assert_int_equal(v, 123456789012345LL);
    assert_int_equal(kl_store_get_kv(st, "wal.1", &v), 0);
    assert_int_equal(v, -5);
    kl_store_kv_t kv2[2] = {{"wal.0", INT64_MIN}, {"wal.0", INT64_MAX}}; /* last wins */
    commit_ok(st, NULL, 0, kv2, 2);
    assert_int_equal(kl_store_get_kv(st, "wal.0", &v), 0);
    assert_true(v == INT64_MAX);
    kl_store_close(st);
}

static void
test_invalid_batch_writes_nothing(void **state)
{
    (void)state;
    kl_store_t *st = open_store("invalid");
    char err[512] = "";
    struct collect *c = &g_c;
    int64_t v;
    kl_store_row_t rows[3] = {mk_row("BTCUSDT", KL_IV_1M, 60000, 0),
                              mk_row("BTCUSDT", KL_IV_1M, 120000, 0),
                              mk_row("BTCUSDT", KL_IV_1M, 180000, 0)};
    kl_store_kv_t kv = {"ckpt", 9};

    rows[1].iv = 99;
    assert_int_equal(kl_store_commit(st, rows, 3, &kv, 1, err, sizeof err), KL_EARG);
    assert_string_equal(err, "store commit: row 1 (BTCUSDT): interval id 99 is not < 16");
    rows[1].iv = KL_IV_1M;
    rows[2].is_final = 2;
    assert_int_equal(kl_store_commit(st, rows, 3, &kv, 1, err, sizeof err), KL_EARG);
    assert_string_equal(err, "store commit: row 2 (BTCUSDT 1m): is_final 2 is not 0 or 1");
    rows[2].is_final = 1;
    memset(rows[2].symbol, 'A', KL_STORE_SYMBOL_MAX);
    assert_int_equal(kl_store_commit(st, rows, 3, &kv, 1, err, sizeof err), KL_EARG);
    assert_non_null(strstr(err, "not NUL-terminated within 32 bytes"));
    snprintf(rows[2].symbol, sizeof rows[2].symbol, "BTCUSDT");
    rows[2].unit_per_ms = 10;
    assert_int_equal(kl_store_commit(st, rows, 3, &kv, 1, err, sizeof err), KL_EARG);
    assert_non_null(strstr(err, "unit_per_ms 10 is not 1 or 1000"));
    rows[2].unit_per_ms = 1;
    kl_store_kv_t bad_kv = {"", 1};
    assert_int_equal(kl_store_commit(st, rows, 3, &bad_kv, 1, err, sizeof err), KL_EARG);
    assert_non_null(strstr(err, "meta 0 has an empty key"));

    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, c), 0);
    assert_int_equal(kl_store_get_kv(st, "ckpt", &v), 1);
    commit_ok(st, rows, 3, &kv, 1);
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, c), 3);
    kl_store_close(st);
}

/* Failures raised by the server inside the transaction, after rows were written: a trigger on
 * klines, a CHECK constraint, a trigger on meta. Each leaves the store as it was. */
static void
test_failed_commit_rolls_back(void **state)
{
    (void)state;
    kl_store_t *st = open_store("rollback");
    kl_store_row_t good = mk_row("BTCUSDT", KL_IV_1M, 60000, 0);
    kl_store_kv_t kv = {"ckpt", 1};
    commit_ok(st, &good, 1, &kv, 1);
    raw_exec("rollback",
             "CREATE FUNCTION boom_kl() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
             " IF NEW.symbol = 'BAD' THEN RAISE EXCEPTION 'injected failure'; END IF;"
             " RETURN NEW; END $$;"
             "CREATE FUNCTION boom_meta() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
             " IF NEW.key = 'bad' THEN RAISE EXCEPTION 'injected meta failure'; END IF;"
             " RETURN NEW; END $$;"
             "CREATE TRIGGER boom BEFORE INSERT ON klines FOR EACH ROW EXECUTE FUNCTION boom_kl();"
             "CREATE TRIGGER boom BEFORE INSERT ON meta FOR EACH ROW EXECUTE FUNCTION boom_meta();"
             "ALTER TABLE klines ADD CONSTRAINT trades_ok CHECK (trades >= 0)");
    kl_store_row_t rows[3] = {mk_row("BTCUSDT", KL_IV_1M, 60000, 50),
                              mk_row("BTCUSDT", KL_IV_1M, 120000, 51),
                              mk_row("BAD", KL_IV_1M, 60000, 0)};
    kl_store_kv_t kv2 = {"ckpt", 2};
    char err[512] = "", want[700];
    assert_int_equal(kl_store_commit(st, rows, 3, &kv2, 1, err, sizeof err), KL_ESTORE);
    snprintf(want, sizeof want, "postgres store %s: upsert of 3 rows: injected failure", g_where);
    assert_string_equal(err, want);

    rows[2] = mk_row("ETHUSDT", KL_IV_1M, 60000, 0);
    rows[2].k.trades = -1;
    assert_int_equal(kl_store_commit(st, rows, 3, &kv2, 1, err, sizeof err), KL_ESTORE);
    snprintf(want, sizeof want,
             "postgres store %s: upsert of 3 rows: new row for relation \"klines\" violates "
             "check constraint \"trades_ok\"",
             g_where);
    assert_string_equal(err, want);

    rows[2].k.trades = 0;
    kl_store_kv_t kv3[2] = {{"ckpt", 2}, {"bad", 0}};
    assert_int_equal(kl_store_commit(st, rows, 3, kv3, 2, err, sizeof err), KL_ESTORE);
    snprintf(want, sizeof want, "postgres store %s: set meta 'bad': injected meta failure",
             g_where);
    assert_string_equal(err, want);

    struct collect *c = &g_c;
    int64_t v = 0;
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, c), 1);
    assert_row_eq(&c->rows[0], &good);
    assert_int_equal(scan_all(st, "ETHUSDT", KL_IV_1M, c), 0);
    assert_int_equal(kl_store_get_kv(st, "ckpt", &v), 0);
    assert_int_equal(v, 1);
    char txt[64];
    raw_text("rollback", "SELECT count(*) || '/' || (SELECT count(*) FROM meta) FROM klines", txt,
             sizeof txt);
    assert_string_equal(txt, "1/1");
    /* No transaction was left open: the next commit works and is visible to others. */
    commit_ok(st, rows, 3, &kv2, 1);
    raw_text("rollback", "SELECT count(*) || '/' || (SELECT value FROM meta) FROM klines", txt,
             sizeof txt);
    assert_string_equal(txt, "3/2");
    kl_store_close(st);
    st = open_store("rollback");
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, c), 2);
    assert_row_eq(&c->rows[0], &rows[0]);
    assert_row_eq(&c->rows[1], &rows[1]);
    kl_store_close(st);
}

static void
test_reopen_reads_back(void **state)
{
    (void)state;
    kl_store_t *st = open_store("reopen");
    kl_store_row_t rows[KL_IV_COUNT];
    for (int iv = 0; iv < KL_IV_COUNT; iv++)
        rows[iv] = mk_row("SOLUSDT", iv, 1700000000000LL + iv, iv);
    kl_store_kv_t kv = {"persist.seq", 77};
    commit_ok(st, rows, KL_IV_COUNT, &kv, 1);
    kl_store_close(st);

    st = open_store("reopen"); /* existing schema: checked, not recreated */
    struct collect *c = &g_c;
    for (int iv = 0; iv < KL_IV_COUNT; iv++) {
        assert_int_equal(scan_all(st, "SOLUSDT", iv, c), 1);
        assert_row_eq(&c->rows[0], &rows[iv]);
        assert_string_equal(kl_iv_name(c->rows[0].iv), kl_iv_name(iv));
    }
    int64_t v = 0;
    assert_int_equal(kl_store_get_kv(st, "persist.seq", &v), 0);
    assert_int_equal(v, 77);
    kl_store_close(st);
}

/* NUMERIC's types refuse most damage; what they let through (NaN, a unit of 7, a value from a
 * column whose scale was changed by hand) must fail the scan, never yield a wrong kline. A
 * value printed with fewer places than the column had is still exact and reads back. */
static void
test_damaged_rows_fail_the_scan(void **state)
{
    (void)state;
    kl_store_t *st = open_store("damaged");
    kl_store_row_t rows[3] = {mk_row("BTCUSDT", KL_IV_1M, 60000, 0),
                              mk_row("BTCUSDT", KL_IV_1M, 120000, 0),
                              mk_row("BTCUSDT", KL_IV_1M, 180000, 0)};
    commit_ok(st, rows, 3, NULL, 0);
    char msg[256];
    assert_int_equal(raw_try("damaged", "UPDATE klines SET quote_volume = 'abc'", msg, sizeof msg),
                     PGRES_FATAL_ERROR);
    assert_non_null(strstr(msg, "invalid input syntax for type numeric"));
    static const char *const sabotage[] = {
        "UPDATE klines SET quote_volume = 'NaN' WHERE open_time = 120000",
        "UPDATE klines SET open = 'NaN' WHERE open_time = 120000",
        "UPDATE klines SET unit = 7 WHERE open_time = 120000",
        ("ALTER TABLE klines ALTER COLUMN taker_base TYPE numeric;"
         " UPDATE klines SET taker_base = '1.000000001' WHERE open_time = 120000"),
    };
    struct collect *c = &g_c;
    for (size_t i = 0; i < sizeof sabotage / sizeof sabotage[0]; i++) {
        raw_exec("damaged", sabotage[i]);
        memset(c, 0, sizeof *c);
        if (kl_store_scan(st, "BTCUSDT", KL_IV_1M, collect_row, c) != KL_ESTORE)
            fail_msg("'%s': scan did not fail", sabotage[i]);
        assert_int_equal(c->n, 1); /* the row before the damage, then the error */
        raw_exec("damaged", "UPDATE klines SET quote_volume = 1, open = 1, unit = 1,"
                            " taker_base = 1 WHERE open_time = 120000");
    }
    /* Unconstrained numeric prints only the places it was given: still exact. */
    raw_exec("damaged", "UPDATE klines SET taker_base = '2.5' WHERE open_time = 120000");
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, c), 3);
    assert_true(c->rows[1].k.taker_base == (kl_sum_t)250000000);
    assert_true(c->rows[1].k.quote == (kl_sum_t)10000000000000000LL);
    kl_store_close(st);
}

struct reenter {
    kl_store_t *st;
    int scan_rc, commit_rc, kv_rc, calls;
    int64_t kv;
};

static int
reenter_row(void *ctx, const kl_store_row_t *row)
{
    struct reenter *r = ctx;
    static struct collect c;
    char err[256];
    r->calls++;
    r->scan_rc = kl_store_scan(r->st, row->symbol, row->iv, collect_row, &c);
    r->commit_rc = kl_store_commit(r->st, row, 1, NULL, 0, err, sizeof err);
    r->kv_rc = kl_store_get_kv(r->st, "k", &r->kv);
    return 0;
}

static int
reenter_sym(void *ctx, const char *sym)
{
    struct reenter *r = ctx;
    static struct collect c;
    char err[256];
    memset(&c, 0, sizeof c);
    r->scan_rc = kl_store_scan(r->st, sym, KL_IV_1M, collect_row, &c);
    r->commit_rc = kl_store_commit(r->st, NULL, 0, NULL, 0, err, sizeof err);
    r->calls += (int)c.n;
    return 0;
}

static void
test_callbacks_reentry(void **state)
{
    (void)state;
    kl_store_t *st = open_store("reenter");
    kl_store_row_t rows[2] = {mk_row("BTCUSDT", KL_IV_1M, 60000, 0),
                              mk_row("ETHUSDT", KL_IV_1M, 60000, 0)};
    kl_store_kv_t kv = {"k", 5};
    commit_ok(st, rows, 2, &kv, 1);
    struct reenter r = {.st = st};
    assert_int_equal(kl_store_scan(st, "BTCUSDT", KL_IV_1M, reenter_row, &r), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.scan_rc, KL_EARG);
    assert_int_equal(r.commit_rc, KL_EARG);
    assert_int_equal(r.kv_rc, 0);
    assert_int_equal(r.kv, 5);
    memset(&r, 0, sizeof r);
    r.st = st;
    assert_int_equal(kl_store_symbols(st, reenter_sym, &r), 0);
    assert_int_equal(r.scan_rc, 0);
    assert_int_equal(r.commit_rc, KL_EARG);
    assert_int_equal(r.calls, 2);
    /* After all that, no transaction is left open: a commit works. */
    commit_ok(st, rows, 2, &kv, 1);
    kl_store_close(st);
}

/* A server restart, seen from the store: its backend goes away between two commits. The next
 * call fails (the persister keeps the batch), and the one after reconnects and succeeds. */
static void
test_reconnect_after_backend_killed(void **state)
{
    (void)state;
    char app[64];
    snprintf(app, sizeof app, "klt_reconnect_%d", (int)getpid());
    kl_store_t *st = open_store_app("reconnect", app);
    kl_store_row_t rows[2] = {mk_row("BTCUSDT", KL_IV_1M, 60000, 0),
                              mk_row("BTCUSDT", KL_IV_1M, 120000, 1)};
    kl_store_kv_t kv = {"ckpt", 1};
    commit_ok(st, rows, 1, &kv, 1); /* the staging table now exists in that session */

    char sql[256], txt[64];
    snprintf(sql, sizeof sql,
             "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
             " WHERE application_name = '%s'",
             app);
    raw_text("reconnect", sql, txt, sizeof txt);
    assert_string_equal(txt, "1");

    char err[512] = "", want[512];
    kl_store_kv_t kv2 = {"ckpt", 2};
    assert_int_equal(kl_store_commit(st, rows, 2, &kv2, 1, err, sizeof err), KL_ESTORE);
    snprintf(want, sizeof want, "postgres store %s: ", g_where);
    assert_memory_equal(err, want, strlen(want));
    assert_non_null(strstr(err, "terminat")); /* "terminating connection due to ..." */
    /* The retry of the same batch reconnects, recreates the staging table and lands whole. */
    commit_ok(st, rows, 2, &kv2, 1);
    struct collect *c = &g_c;
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, c), 2);
    assert_row_eq(&c->rows[1], &rows[1]);
    int64_t v = 0;
    assert_int_equal(kl_store_get_kv(st, "ckpt", &v), 0);
    assert_int_equal(v, 2);

    /* Reads reconnect the same way: kill again, the first read fails, the next one works. */
    raw_text("reconnect", sql, txt, sizeof txt);
    assert_string_equal(txt, "1");
    assert_int_equal(kl_store_get_kv(st, "ckpt", &v), KL_ESTORE);
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, c), 2);
    kl_store_close(st);
}

static void
test_bad_urls_and_foreign_tables(void **state)
{
    (void)state;
    char url[1024], err[1024] = "";
    kl_store_t *st = (kl_store_t *)&st; /* any non-NULL: must stay untouched */
    kl_store_t *const sentinel = st;

    /* Nothing listens on port 1: the message names the server and libpq's reason, one line. */
    assert_int_equal(kl_store_open("postgresql://postgres@127.0.0.1:1/klined", &st, err,
                                   sizeof err),
                     KL_ESTORE);
    assert_ptr_equal(st, sentinel);
    assert_non_null(strstr(err, "postgres store 127.0.0.1:1/klined: connect: "));
    assert_non_null(strstr(err, "Connection refused"));
    assert_null(strchr(err, '\n'));
    /* The URL's own parameters win over the store's defaults (connect_timeout=10). */
    assert_int_equal(kl_store_open("postgresql://postgres@127.0.0.1:1/klined?connect_timeout=x",
                                   &st, err, sizeof err),
                     KL_ESTORE);
    assert_non_null(strstr(err, "invalid integer value \"x\" for connection option "
                                "\"connect_timeout\""));
    /* A password never shows in a message. */
    assert_int_equal(kl_store_open("postgres://u:s3cret@127.0.0.1:1/db", &st, err, sizeof err),
                     KL_ESTORE);
    assert_null(strstr(err, "s3cret"));
    assert_non_null(strstr(err, "postgres store 127.0.0.1:1/db: connect: "));
    /* libpq quotes a URL it cannot parse: the store takes the password out of it. */
    assert_int_equal(kl_store_open("postgresql://u:s3cret@[bad", &st, err, sizeof err), KL_ESTORE);
    assert_string_equal(err, "postgres store ?:?/?: connect: end of string reached when looking "
                             "for matching \"]\" in IPv6 host address in URI: "
                             "\"postgresql://u:***@[bad\"");
    assert_ptr_equal(st, sentinel);

    /* A schema that does not exist: nowhere to create the tables. */
    snprintf(url, sizeof url, "%s%soptions=-csearch_path%%3Dklt_no_such_schema_%d", g_url,
             strchr(g_url, '?') ? "&" : "?", (int)getpid());
    assert_int_equal(kl_store_open(url, &st, err, sizeof err), KL_ESTORE);
    assert_non_null(strstr(err, "create schema: no schema has been selected to create in"));

    /* Someone else's klines table is refused, not written into. */
    store_url("foreign", NULL, url, sizeof url);
    raw_exec("foreign", "CREATE TABLE klines(x int)");
    assert_int_equal(kl_store_open(url, &st, err, sizeof err), KL_ESTORE);
    assert_non_null(strstr(err, "a table klines exists but was not made by klined"));
    /* A store from a newer build is refused, not misread. */
    raw_exec("foreign", "COMMENT ON TABLE klines IS 'klined schema 9'");
    assert_int_equal(kl_store_open(url, &st, err, sizeof err), KL_ESTORE);
    assert_non_null(strstr(err, "schema version 9 is newer than this build's (1)"));
    assert_ptr_equal(st, sentinel);
}

static void
test_alloc_failure_on_open(void **state)
{
    (void)state;
    char url[1024], err[600];
    store_url("oom", NULL, url, sizeof url);
    int64_t base = kl_alloc_live_bytes();
    int failures = 0;
    for (int64_t nth = 1; nth < 100; nth++) {
        kl_store_t *st = NULL;
        err[0] = '\0';
        kl_alloc_fail_after(nth);
        int rc = kl_store_open(url, &st, err, sizeof err);
        kl_alloc_fail_after(0);
        if (rc == 0) {
            assert_non_null(st);
            kl_store_close(st);
            break;
        }
        failures++;
        assert_int_equal(rc, KL_ENOMEM);
        assert_null(st);
        assert_string_equal(err, "postgres store: out of memory");
        assert_int_equal(kl_alloc_live_bytes(), base);
    }
    assert_int_equal(failures, 2); /* the handle, then its COPY buffer */
    assert_int_equal(kl_alloc_live_bytes(), base);

    /* A commit that cannot get its duplicate-key table fails before writing anything, and
     * the store works on. */
    kl_store_t *st = open_store("oom");
    kl_store_row_t rows[2] = {mk_row("BTCUSDT", KL_IV_1M, 0, 1), mk_row("BTCUSDT", KL_IV_1M, 0, 2)};
    kl_store_kv_t kv = {"ckpt", 3};
    kl_alloc_fail_after(1);
    int rc = kl_store_commit(st, rows, 2, &kv, 1, err, sizeof err);
    kl_alloc_fail_after(0);
    assert_int_equal(rc, KL_ENOMEM);
    assert_non_null(strstr(err, ": out of memory for a batch of 2 rows"));
    int64_t v = 0;
    assert_int_equal(kl_store_get_kv(st, "ckpt", &v), 1);
    commit_ok(st, rows, 2, &kv, 1);
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, &g_c), 1);
    assert_row_eq(&g_c.rows[0], &rows[1]);
    kl_store_close(st);
}

/* ---- engine states --------------------------------------------------------------------- */

#define MAX_STATES 700
#define STATE_BYTES (1 << 20)
struct states_got {
    size_t n;
    char sym[MAX_STATES][KL_STORE_SYMBOL_MAX];
    size_t off[MAX_STATES], len[MAX_STATES];
    size_t used;
    unsigned char data[STATE_BYTES];
    int stop_after;   /* return 7 after this many states; 0 = never */
    kl_store_t *st;   /* when set, the callback tries a commit and a get_kv */
    int commit_rc, kv_rc;
    int64_t kv;
};
static struct states_got g_s;

static int
collect_state(void *ctx, const char *symbol, const void *blob, size_t len)
{
    struct states_got *g = ctx;
    if (g->n >= MAX_STATES || g->used + len > STATE_BYTES || strlen(symbol) >= KL_STORE_SYMBOL_MAX)
        return -1;
    snprintf(g->sym[g->n], KL_STORE_SYMBOL_MAX, "%s", symbol);
    g->off[g->n] = g->used;
    g->len[g->n] = len;
    if (len)
        memcpy(g->data + g->used, blob, len);
    g->used += len;
    g->n++;
    if (g->st) {
        char err[256];
        kl_store_row_t r = mk_row("XUSDT", KL_IV_1M, 0, 0);
        kl_store_state_t sv = {"XUSDT", "x", 1};
        kl_store_batch_t b = {&r, 1, &sv, 1, NULL, 0};
        g->commit_rc = kl_store_commit_batch(g->st, &b, err, sizeof err);
        g->kv_rc = kl_store_get_kv(g->st, "wal.w0", &g->kv);
    }
    return g->stop_after && (int)g->n == g->stop_after ? 7 : 0;
}

static size_t
states_all(kl_store_t *st)
{
    memset(&g_s, 0, sizeof g_s);
    int rc = kl_store_states(st, collect_state, &g_s);
    if (rc != 0)
        fail_msg("states: %d", rc);
    return g_s.n;
}

/* Asserts that state i of the last states_all() is (sym, blob, len), byte for byte. */
static void
assert_state(size_t i, const char *sym, const void *blob, size_t len)
{
    assert_true(i < g_s.n);
    assert_string_equal(g_s.sym[i], sym);
    assert_int_equal(g_s.len[i], len);
    assert_memory_equal(g_s.data + g_s.off[i], blob, len);
}

static void
batch_ok(kl_store_t *st, const kl_store_row_t *rows, size_t n, const kl_store_state_t *sv,
         size_t n_states, const kl_store_kv_t *kv, size_t n_kv)
{
    char err[512] = "";
    kl_store_batch_t b = {rows, n, sv, n_states, kv, n_kv};
    int rc = kl_store_commit_batch(st, &b, err, sizeof err);
    if (rc != 0)
        fail_msg("commit_batch: %d %s", rc, err);
}

static unsigned char g_blob[6 * 1024 + 3];
static unsigned char g_many[600][97];

/* Blobs as the engine writes them: binary, zero bytes anywhere, 6 KB and more, one byte; read
 * back in symbol byte order, exact; replaced, deleted (len 0), and the last of a symbol wins
 * when a batch names it twice. More than one statement's worth (256) of states at once. */
static void
test_states_round_trip(void **state)
{
    (void)state;
    kl_store_t *st = open_store("states");
    assert_int_equal(states_all(st), 0);
    for (size_t i = 0; i < sizeof g_blob; i++)
        g_blob[i] = (unsigned char)((i * 7919u) >> 3); /* every byte value, zeros included */
    g_blob[0] = 0;
    g_blob[sizeof g_blob - 1] = 0;
    static const unsigned char small[] = {0x00, 0x01, 0x00, 0xff, '\\', 'x', 0x00};
    static const unsigned char zero[] = {0x00};
    kl_store_row_t r = mk_row("BTCUSDT", KL_IV_1M, 60000, 3);
    kl_store_state_t sv[] = {
        {"btcusdt", small, sizeof small},  /* lower case sorts after upper case in C */
        {"BTCUSDT", g_blob, sizeof g_blob},
        {"A", zero, 1},
        {"ETH\\USDT", small, 3},           /* a backslash in the key */
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZ01234", small + 1, 2},
    };
    kl_store_kv_t kv = {"wal.w0", 11};
    batch_ok(st, &r, 1, sv, 5, &kv, 1);
    assert_int_equal(states_all(st), 5);
    assert_state(0, "A", zero, 1);
    assert_state(1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234", small + 1, 2);
    assert_state(2, "BTCUSDT", g_blob, sizeof g_blob);
    assert_state(3, "ETH\\USDT", small, 3);
    assert_state(4, "btcusdt", small, sizeof small);
    /* One state by its key (what a re-add reads): exact bytes; 1 when absent; case matters. */
    memset(&g_s, 0, sizeof g_s);
    assert_int_equal(kl_store_state(st, "BTCUSDT", collect_state, &g_s), 0);
    assert_int_equal(kl_store_state(st, "ETH\\USDT", collect_state, &g_s), 0);
    assert_int_equal(kl_store_state(st, "NOPEUSDT", collect_state, &g_s), 1);
    assert_int_equal(g_s.n, 2);
    assert_state(0, "BTCUSDT", g_blob, sizeof g_blob);
    assert_state(1, "ETH\\USDT", small, 3);
    g_s.stop_after = 3; /* the callback's value is returned */
    assert_int_equal(kl_store_state(st, "btcusdt", collect_state, &g_s), 7);
    /* The server holds the very bytes, not an escaped text form of them. */
    char txt[256];
    raw_text("states", "SELECT encode(state, 'hex') FROM series_state WHERE symbol = 'btcusdt'",
             txt, sizeof txt);
    assert_string_equal(txt, "000100ff5c7800");
    raw_text("states",
             "SELECT length(state) || '/' || md5(state) FROM series_state"
             " WHERE symbol = 'BTCUSDT'",
             txt, sizeof txt);
    char want[64];
    snprintf(want, sizeof want, "%zu/", sizeof g_blob);
    assert_memory_equal(txt, want, strlen(want));
    raw_text("states",
             "SELECT string_agg(format_type(atttypid, atttypmod) || ' ' ||"
             " coalesce((SELECT collname FROM pg_collation WHERE oid = attcollation), '-'), ','"
             " ORDER BY attnum) FROM pg_attribute"
             " WHERE attrelid = 'series_state'::regclass AND attnum > 0",
             txt, sizeof txt);
    assert_string_equal(txt, "text C,bytea -");
    struct collect *c = &g_c;
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, c), 1);
    assert_row_eq(&c->rows[0], &r);
    int64_t v = 0;
    assert_int_equal(kl_store_get_kv(st, "wal.w0", &v), 0);
    assert_int_equal(v, 11);

    /* Replace one, delete two (one of them absent: not an error), leave the others. A symbol
     * twice in one batch: the last wins, whether it is a store or a delete. */
    kl_store_state_t sv2[] = {
        {"BTCUSDT", small, 2},      {"A", NULL, 0},          {"NOSUCH", NULL, 0},
        {"ETH\\USDT", NULL, 0},     {"ETH\\USDT", zero, 1},  /* deleted, then stored */
        {"btcusdt", g_blob, 100},   {"btcusdt", NULL, 0},    /* stored, then deleted */
        {"BTCUSDT", g_blob + 1, 5},                          /* the last of BTCUSDT */
    };
    batch_ok(st, NULL, 0, sv2, 8, NULL, 0);
    assert_int_equal(states_all(st), 3);
    assert_state(0, "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234", small + 1, 2);
    assert_state(1, "BTCUSDT", g_blob + 1, 5);
    assert_state(2, "ETH\\USDT", zero, 1);
    kl_store_close(st);

    /* 600 states of different sizes in one batch (three statements), read back after a reopen
     * (three hundred and some FETCHes of the cursor in one call). */
    st = open_store("states");
    static kl_store_state_t many[600];
    for (int i = 0; i < 600; i++) {
        int id = (i * 37) % 600; /* not in symbol order */
        snprintf(many[i].symbol, sizeof many[i].symbol, "S%03d", id);
        for (size_t b = 0; b < sizeof g_many[id]; b++)
            g_many[id][b] = (unsigned char)(id * 31 + (int)b);
        many[i].blob = g_many[id];
        many[i].len = (uint32_t)(1 + id % 97);
    }
    batch_ok(st, NULL, 0, many, 600, NULL, 0);
    kl_store_close(st);
    st = open_store("states");
    assert_int_equal(states_all(st), 603);
    assert_state(0, "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234", small + 1, 2);
    assert_state(1, "BTCUSDT", g_blob + 1, 5);
    assert_state(2, "ETH\\USDT", zero, 1);
    for (int id = 0; id < 600; id++) {
        char sym[8];
        snprintf(sym, sizeof sym, "S%03d", id);
        assert_state((size_t)(3 + id), sym, g_many[id], (size_t)(1 + id % 97));
    }
    /* A callback's non-zero value stops the read and is returned; no transaction is left. */
    memset(&g_s, 0, sizeof g_s);
    g_s.stop_after = 70;
    assert_int_equal(kl_store_states(st, collect_state, &g_s), 7);
    assert_int_equal(g_s.n, 70);
    /* From inside the callback: a commit is refused, a meta read works. */
    batch_ok(st, NULL, 0, NULL, 0, &kv, 1);
    memset(&g_s, 0, sizeof g_s);
    g_s.stop_after = 1;
    g_s.st = st;
    assert_int_equal(kl_store_states(st, collect_state, &g_s), 7);
    assert_int_equal(g_s.commit_rc, KL_EARG);
    assert_int_equal(g_s.kv_rc, 0);
    assert_int_equal(g_s.kv, 11);
    /* kl_store_commit() (no states) still works and leaves the states alone. */
    commit_ok(st, &r, 1, &kv, 1);
    assert_int_equal(states_all(st), 603);
    kl_store_close(st);
}

/* A checkpoint is all or nothing: a failure raised by the server while the states are written
 * (store or delete), or after them (meta), leaves the rows, the states and the meta of the
 * batch all unwritten, also as seen from another session. */
static void
test_states_atomic_with_rows_and_kv(void **state)
{
    (void)state;
    kl_store_t *st = open_store("statex");
    static const unsigned char b1[] = {1, 0, 2}, b2[] = {9, 9, 0, 9};
    kl_store_row_t good = mk_row("BTCUSDT", KL_IV_1M, 60000, 0);
    kl_store_state_t sv[] = {{"BTCUSDT", b1, 3}, {"DELME", b1, 1}, {"KEEP", b1, 2}};
    kl_store_kv_t kv = {"wal.w0", 1};
    batch_ok(st, &good, 1, sv, 3, &kv, 1);
    raw_exec("statex",
             "CREATE FUNCTION boom_st() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
             " IF TG_OP = 'DELETE' THEN"
             "  IF OLD.symbol = 'KEEP' THEN RAISE EXCEPTION 'injected delete failure'; END IF;"
             "  RETURN OLD; END IF;"
             " IF NEW.symbol = 'BAD' THEN RAISE EXCEPTION 'injected state failure'; END IF;"
             " RETURN NEW; END $$;"
             "CREATE TRIGGER boom BEFORE INSERT OR UPDATE OR DELETE ON series_state"
             " FOR EACH ROW EXECUTE FUNCTION boom_st();"
             "CREATE FUNCTION boom_meta() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
             " IF NEW.key = 'bad' THEN RAISE EXCEPTION 'injected meta failure'; END IF;"
             " RETURN NEW; END $$;"
             "CREATE TRIGGER boom BEFORE INSERT ON meta FOR EACH ROW EXECUTE FUNCTION boom_meta()");
    kl_store_row_t rows[2] = {mk_row("BTCUSDT", KL_IV_1M, 60000, 40),
                              mk_row("ETHUSDT", KL_IV_1M, 60000, 41)};
    kl_store_kv_t kv2[2] = {{"wal.w0", 2}, {"wal.w1", 7}};
    char err[512] = "", want[700];

    /* 1. A store fails: BTCUSDT's new state was already written in the same statement. */
    kl_store_state_t bad_put[] = {{"BTCUSDT", b2, 4}, {"BAD", b2, 4}, {"DELME", NULL, 0}};
    kl_store_batch_t b = {rows, 2, bad_put, 3, kv2, 2};
    assert_int_equal(kl_store_commit_batch(st, &b, err, sizeof err), KL_ESTORE);
    snprintf(want, sizeof want, "postgres store %s: store 2 states: injected state failure",
             g_where);
    assert_string_equal(err, want);
    /* 2. A delete fails (DELME's delete in the same statement went through first). */
    kl_store_state_t bad_del[] = {{"BTCUSDT", b2, 4}, {"DELME", NULL, 0}, {"KEEP", NULL, 0}};
    b.states = bad_del;
    assert_int_equal(kl_store_commit_batch(st, &b, err, sizeof err), KL_ESTORE);
    snprintf(want, sizeof want, "postgres store %s: delete 2 states: injected delete failure",
             g_where);
    assert_string_equal(err, want);
    /* 3. The meta after the states fails. */
    kl_store_state_t fine[] = {{"BTCUSDT", b2, 4}, {"DELME", NULL, 0}, {"NEW", b2, 2}};
    kl_store_kv_t kv3[2] = {{"wal.w0", 2}, {"bad", 0}};
    kl_store_batch_t b3 = {rows, 2, fine, 3, kv3, 2};
    assert_int_equal(kl_store_commit_batch(st, &b3, err, sizeof err), KL_ESTORE);
    snprintf(want, sizeof want, "postgres store %s: set meta 'bad': injected meta failure",
             g_where);
    assert_string_equal(err, want);

    /* None of the three landed, in any of the cases. */
    struct collect *c = &g_c;
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, c), 1);
    assert_row_eq(&c->rows[0], &good);
    assert_int_equal(scan_all(st, "ETHUSDT", KL_IV_1M, c), 0);
    assert_int_equal(states_all(st), 3);
    assert_state(0, "BTCUSDT", b1, 3);
    assert_state(1, "DELME", b1, 1);
    assert_state(2, "KEEP", b1, 2);
    int64_t v = 0;
    assert_int_equal(kl_store_get_kv(st, "wal.w0", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(kl_store_get_kv(st, "wal.w1", &v), 1);
    char txt[128];
    raw_text("statex",
             "SELECT (SELECT count(*) FROM klines) || '/' ||"
             " (SELECT string_agg(symbol || ':' || encode(state, 'hex'), ',' ORDER BY symbol)"
             "  FROM series_state) || '/' || (SELECT string_agg(key || '=' || value, ',')"
             "  FROM meta)",
             txt, sizeof txt);
    assert_string_equal(txt, "1/BTCUSDT:010002,DELME:01,KEEP:0100/wal.w0=1");

    /* The same batch without the failing meta lands whole. */
    b3.n_kv = 1;
    batch_ok(st, rows, 2, fine, 3, kv3, 1);
    raw_text("statex",
             "SELECT (SELECT count(*) FROM klines) || '/' ||"
             " (SELECT string_agg(symbol || ':' || encode(state, 'hex'), ',' ORDER BY symbol)"
             "  FROM series_state) || '/' || (SELECT string_agg(key || '=' || value, ',')"
             "  FROM meta)",
             txt, sizeof txt);
    assert_string_equal(txt, "2/BTCUSDT:09090009,KEEP:0100,NEW:0909/wal.w0=2");
    kl_store_close(st);
}

/* The persister's retry after a server restart: the batch with states fails once on the dead
 * connection, then lands whole; a states read reconnects the same way. Memory for the states
 * is taken before anything is sent, so running out of it writes nothing. */
static void
test_states_reconnect_and_oom(void **state)
{
    (void)state;
    char app[64];
    snprintf(app, sizeof app, "klt_streconn_%d", (int)getpid());
    kl_store_t *st = open_store_app("streconn", app);
    static const unsigned char b1[] = {0, 0, 7};
    kl_store_state_t sv[] = {{"AAA", b1, 3}, {"BBB", b1, 2}};
    kl_store_kv_t kv = {"wal.w0", 5};
    batch_ok(st, NULL, 0, sv, 1, &kv, 1);
    char sql[256], txt[64];
    snprintf(sql, sizeof sql,
             "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
             " WHERE application_name = '%s'",
             app);
    raw_text("streconn", sql, txt, sizeof txt);
    assert_string_equal(txt, "1");
    char err[512] = "";
    kl_store_row_t r = mk_row("AAA", KL_IV_1M, 0, 1);
    kl_store_batch_t b = {&r, 1, sv, 2, &kv, 1};
    assert_int_equal(kl_store_commit_batch(st, &b, err, sizeof err), KL_ESTORE);
    assert_non_null(strstr(err, "terminat"));
    batch_ok(st, &r, 1, sv, 2, &kv, 1);
    assert_int_equal(states_all(st), 2);
    assert_state(0, "AAA", b1, 3);
    assert_state(1, "BBB", b1, 2);
    raw_text("streconn", sql, txt, sizeof txt);
    assert_string_equal(txt, "1");
    memset(&g_s, 0, sizeof g_s);
    assert_int_equal(kl_store_states(st, collect_state, &g_s), KL_ESTORE);
    assert_int_equal(states_all(st), 2);

    /* Out of memory for the states' index: nothing written, the store works on. */
    kl_store_state_t sv2[] = {{"CCC", b1, 1}, {"DDD", b1, 1}, {"EEE", b1, 1}};
    kl_store_kv_t kv2 = {"wal.w0", 6};
    kl_store_batch_t b2 = {NULL, 0, sv2, 3, &kv2, 1};
    kl_alloc_fail_after(1);
    int rc = kl_store_commit_batch(st, &b2, err, sizeof err);
    kl_alloc_fail_after(0);
    assert_int_equal(rc, KL_ENOMEM);
    assert_non_null(strstr(err, ": out of memory for a batch of 3 states"));
    int64_t v = 0;
    assert_int_equal(kl_store_get_kv(st, "wal.w0", &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(states_all(st), 2);
    batch_ok(st, NULL, 0, sv2, 3, &kv2, 1);
    assert_int_equal(states_all(st), 5);
    assert_state(4, "EEE", b1, 1);

    /* A symbol no commit could write fails the read rather than name a wrong series. */
    raw_exec("streconn", "INSERT INTO series_state VALUES (repeat('X', 32), '\\x00')");
    memset(&g_s, 0, sizeof g_s);
    assert_int_equal(kl_store_states(st, collect_state, &g_s), KL_ESTORE);
    assert_int_equal(g_s.n, 5); /* the ones before it, in order */
    kl_store_close(st);
}

/* ---- range reads ----------------------------------------------------------------------- */

#include "range_cases.h"

static void
test_range_bounds_limit_direction(void **state)
{
    (void)state;
    kl_store_t *st = open_store("range");
    kl_store_row_t rows[30];
    range_fill(st, rows);
    range_common_checks(st, &g_c);
    /* The cursor and its transaction were closed: a commit works. */
    commit_ok(st, rows, 3, NULL, 0);
    last_before_common_checks(st);
    commit_ok(st, rows, 3, NULL, 0); /* it left no transaction open either */
    kl_store_close(st);
}

/* More rows than one FETCH: a limit above FETCH_ROWS (1000) is honoured across fetches, in
 * both directions, and microsecond rows are ranged in microseconds. */
static void
test_range_long_and_us(void **state)
{
    (void)state;
    kl_store_t *st = open_store("range_long");
    static kl_store_row_t rows[2500];
    for (int i = 0; i < 2500; i++) {
        rows[i] = mk_row("ETHUSDT", KL_IV_1S, 1735689600000000LL + i * 1000000LL, i);
        rows[i].unit_per_ms = 1000;
        rows[i].k.close_time = rows[i].k.open_time + 999999;
    }
    commit_ok(st, rows, 2500, NULL, 0);
    struct collect *c = &g_c;
    assert_int_equal(range_got(st, "ETHUSDT", KL_IV_1S, 1735689600000000LL + 100 * 1000000LL,
                               INT64_MAX, 2100, 1, c),
                     2100);
    for (size_t i = 0; i < 2100; i++)
        assert_int_equal(c->rows[i].k.open_time, rows[2499 - i].k.open_time);
    assert_row_eq(&c->rows[2099], &rows[400]);
    assert_int_equal(c->rows[0].unit_per_ms, 1000);
    assert_int_equal(range_got(st, "ETHUSDT", KL_IV_1S, 1735689600000000LL + 100 * 1000000LL,
                               INT64_MAX, 2500, 0, c),
                     2400);
    assert_row_eq(&c->rows[0], &rows[100]);
    assert_row_eq(&c->rows[2399], &rows[2499]);
    assert_int_equal(range_got(st, "ETHUSDT", KL_IV_1S, 0, INT64_MAX, 1000, 0, c), 1000);
    assert_row_eq(&c->rows[999], &rows[999]);
    kl_store_close(st);
}

struct range_reenter {
    kl_store_t *st;
    int calls, range_rc, scan_rc, kv_rc, last_rc;
};

static int
range_reenter_row(void *ctx, const kl_store_row_t *row)
{
    struct range_reenter *r = ctx;
    static struct collect c;
    int64_t v;
    r->calls++;
    r->range_rc = kl_store_range(r->st, row->symbol, row->iv, 0, INT64_MAX, 5, 0, collect_row, &c);
    r->scan_rc = kl_store_scan(r->st, row->symbol, row->iv, collect_row, &c);
    r->kv_rc = kl_store_get_kv(r->st, "k", &v);
    kl_store_row_t before;
    r->last_rc = kl_store_last_before(r->st, row->symbol, row->iv, INT64_MAX, &before);
    return 0;
}

static void
test_range_reentry(void **state)
{
    (void)state;
    kl_store_t *st = open_store("range_reenter");
    kl_store_row_t row = mk_row("BTCUSDT", KL_IV_1M, TM(1), 1);
    kl_store_kv_t kv = {"k", 5};
    commit_ok(st, &row, 1, &kv, 1);
    struct range_reenter r = {.st = st};
    assert_int_equal(kl_store_range(st, "BTCUSDT", KL_IV_1M, 0, INT64_MAX, 5, 1,
                                    range_reenter_row, &r),
                     0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.range_rc, KL_EARG);
    assert_int_equal(r.scan_rc, KL_EARG);
    assert_int_equal(r.kv_rc, 0);
    assert_int_equal(r.last_rc, KL_EARG); /* it would reset or nest in the range's read */
    commit_ok(st, &row, 1, &kv, 1);
    kl_store_close(st);
}

/* EXPLAIN of sql (a range statement) with its five parameters, lines joined by "\n". */
static void
explain(const char *name, const char *prefix, const char *sql, const char *sym, int64_t lo,
        int64_t hi, int64_t limit, char *out, size_t cap)
{
    char schema[128], full[2048], los[32], his[32], lims[32];
    schema_name(schema, sizeof schema, name);
    snprintf(full, sizeof full, "SET search_path = %s", schema);
    PQclear(PQexec(g_raw, full));
    snprintf(los, sizeof los, "%lld", (long long)lo);
    snprintf(his, sizeof his, "%lld", (long long)hi);
    snprintf(lims, sizeof lims, "%lld", (long long)limit);
    const char *params[5] = {sym, "1m", los, his, lims};
    snprintf(full, sizeof full, "EXPLAIN %s%s", prefix, sql);
    PGresult *res = PQexecParams(g_raw, full, 5, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", full, PQerrorMessage(g_raw));
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < PQntuples(res); i++)
        o += (size_t)snprintf(out + o, cap - o, "%s\n", PQgetvalue(res, i, 0));
    PQclear(res);
}

static void
assert_pk_plan(const char *plan, int desc, int strict)
{
    /* The primary key (an index scan, or a bitmap of it) with all three key columns in its
     * Index Cond, never a Seq Scan. */
    if ((!strstr(plan, "Bitmap Index Scan on klines_pkey") &&
         !strstr(plan, "using klines_pkey on klines")) ||
        !strstr(plan, "Index Cond: ((symbol = ") || !strstr(plan, "AND (\"interval\" = ") ||
        !strstr(plan, "AND (open_time >= ") || !strstr(plan, "AND (open_time <= ") ||
        strstr(plan, "Seq Scan"))
        fail_msg("not a primary key range plan:\n%s", plan);
    /* Strict: a Limit over one index scan in the asked order, so no Sort and no bitmap. */
    if (strict && (strncmp(plan, "Limit", 5) != 0 ||
                   !strstr(plan, desc ? "Index Scan Backward using klines_pkey on klines"
                                      : "Index Scan using klines_pkey on klines") ||
                   strstr(plan, "Sort") || strstr(plan, "Bitmap")))
        fail_msg("a range cursor that does not walk the primary key in order:\n%s", plan);
}

static void
test_range_uses_primary_key(void **state)
{
    (void)state;
    kl_store_t *st = open_store("plan");
    /* 20 symbols x 500 minutes x 2 intervals, analysed: the planner knows a symbol is 5%. */
    static kl_store_row_t rows[20000];
    size_t n = 0;
    for (int s = 0; s < 20; s++) {
        char sym[16];
        snprintf(sym, sizeof sym, "SYM%02dUSDT", s);
        for (int i = 0; i < 500; i++) {
            rows[n++] = mk_row(sym, KL_IV_1M, TM(i), i);
            rows[n++] = mk_row(sym, KL_IV_5M, TM(i), i);
        }
    }
    commit_ok(st, rows, n, NULL, 0);
    raw_exec("plan", "ANALYZE klines");
    static const struct {
        int64_t lo, hi, limit;
    } asks[] = {
        {INT64_MIN, INT64_MAX, 100},       /* the newest/oldest 100 */
        {INT64_MIN, INT64_MAX, 500},       /* the whole series */
        {INT64_MIN, INT64_MAX, INT64_MAX}, /* no limit */
        {TM(100), TM(400), 100},           /* a window, cut by the limit */
        {TM(100), TM(400), 1000},          /* a window, whole */
    };
    char plan[4096];
    for (int dir = 0; dir < 2; dir++) {
        for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++) {
            /* As the backend runs it: a cursor, which PostgreSQL plans for its first rows
             * (cursor_tuple_fraction), so even an answer of the whole series walks the index
             * in order. */
            raw_exec("plan", "BEGIN READ ONLY");
            explain("plan", "DECLARE kl_x NO SCROLL CURSOR FOR ", kl_store_pg_range_sql[dir],
                    "SYM07USDT", asks[i].lo, asks[i].hi, asks[i].limit, plan, sizeof plan);
            raw_exec("plan", "ROLLBACK");
            assert_pk_plan(plan, dir, 1);
            /* As a plain SELECT, when the limit covers the whole range the planner may fetch
             * through a bitmap of the same index and sort the few rows: still the key. */
            explain("plan", "", kl_store_pg_range_sql[dir], "SYM07USDT", asks[i].lo, asks[i].hi,
                    asks[i].limit, plan, sizeof plan);
            assert_pk_plan(plan, dir, asks[i].limit == 100);
        }
    }
    assert_non_null(strstr(kl_store_pg_range_sql[1], "ORDER BY open_time DESC LIMIT $5"));

    /* kl_store_last_before: one backward step of the primary key, for a t inside the series,
     * past its end and before its start; three bound parameters, no value in the SQL. */
    static const int64_t ts[3] = {TM(250), INT64_MAX, TM(-5)};
    for (int i = 0; i < 3; i++) {
        char full[1024], t[32];
        snprintf(t, sizeof t, "%lld", (long long)ts[i]);
        const char *params[3] = {"SYM07USDT", "1m", t};
        snprintf(full, sizeof full, "EXPLAIN %s", kl_store_pg_last_before_sql);
        PGresult *res = PQexecParams(g_raw, full, 3, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", full, PQerrorMessage(g_raw));
        size_t o = 0;
        plan[0] = '\0';
        for (int r = 0; r < PQntuples(res); r++)
            o += (size_t)snprintf(plan + o, sizeof plan - o, "%s\n", PQgetvalue(res, r, 0));
        PQclear(res);
        if (strncmp(plan, "Limit", 5) != 0 ||
            !strstr(plan, "Index Scan Backward using klines_pkey on klines") ||
            !strstr(plan, "Index Cond: ((symbol = ") || !strstr(plan, "AND (\"interval\" = ") ||
            !strstr(plan, "AND (open_time < ") || strstr(plan, "Sort") || strstr(plan, "Seq Scan"))
            fail_msg("last_before does not walk the primary key backwards:\n%s", plan);
    }
    assert_non_null(strstr(kl_store_pg_last_before_sql, "open_time < $3::bigint"));
    assert_null(strstr(kl_store_pg_last_before_sql, "$4"));
    kl_store_close(st);
}

/* The API's own store beside the persister's: it opens while a writer holds row locks in an
 * open transaction, reads the last commit, and sees the next once it lands. */
static void
test_second_handle_while_writer_holds_lock(void **state)
{
    (void)state;
    kl_store_t *a = open_store("shared");
    kl_store_row_t rows[3] = {mk_row("BTCUSDT", KL_IV_1M, TM(1), 1),
                              mk_row("BTCUSDT", KL_IV_1M, TM(2), 2),
                              mk_row("BTCUSDT", KL_IV_1M, TM(3), 3)};
    kl_store_kv_t kv = {"ckpt", 1};
    commit_ok(a, rows, 3, &kv, 1);
    raw_exec("shared", "BEGIN; UPDATE klines SET trades = 999; UPDATE meta SET value = 2");

    kl_store_t *b = open_store("shared");
    struct collect *c = &g_c;
    range_got(b, "BTCUSDT", KL_IV_1M, TM(1), TM(3), 10, 1, c);
    assert_int_equal(c->n, 3);
    assert_row_eq(&c->rows[0], &rows[2]);
    assert_row_eq(&c->rows[2], &rows[0]);
    int64_t v = 0;
    assert_int_equal(kl_store_get_kv(b, "ckpt", &v), 0);
    assert_int_equal(v, 1);

    raw_exec("shared", "COMMIT");
    range_got(b, "BTCUSDT", KL_IV_1M, TM(1), TM(3), 10, 0, c);
    assert_int_equal(c->n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(c->rows[i].k.trades, 999);
    assert_int_equal(kl_store_get_kv(b, "ckpt", &v), 0);
    assert_int_equal(v, 2);

    rows[0].k.trades = 41;
    commit_ok(b, rows, 1, NULL, 0);
    assert_int_equal(range_got(a, "BTCUSDT", KL_IV_1M, TM(1), TM(1), 1, 0, c), 1);
    assert_int_equal(c->rows[0].k.trades, 41);
    kl_store_close(b);
    kl_store_close(a);
}

#define SHARE_ROWS 20
#define SHARE_COMMITS 100

struct share_writer {
    kl_store_t *st;
    int rc;
    char err[512];
    _Atomic int done;
};

static void *
share_writer_main(void *arg)
{
    struct share_writer *w = arg;
    kl_store_row_t rows[SHARE_ROWS];
    for (int n = 1; n <= SHARE_COMMITS && w->rc == 0; n++) {
        for (int i = 0; i < SHARE_ROWS; i++) {
            rows[i] = mk_row("BTCUSDT", KL_IV_1M, TM(i), i);
            rows[i].k.trades = n;
        }
        w->rc = kl_store_commit(w->st, rows, SHARE_ROWS, NULL, 0, w->err, sizeof w->err);
    }
    atomic_store(&w->done, 1);
    return NULL;
}

static void
check_share_snapshot(kl_store_t *st, int64_t *last)
{
    static struct collect c;
    memset(&c, 0, sizeof c);
    int rc = kl_store_range(st, "BTCUSDT", KL_IV_1M, TM(0), TM(SHARE_ROWS - 1), SHARE_ROWS, 1,
                            collect_row, &c);
    if (rc != 0)
        fail_msg("range beside a writer: %d", rc);
    if (c.n == 0)
        return;
    assert_int_equal(c.n, SHARE_ROWS);
    for (size_t i = 0; i < c.n; i++) {
        assert_int_equal(c.rows[i].k.trades, c.rows[0].k.trades);
        assert_int_equal(c.rows[i].k.open_time, TM(SHARE_ROWS - 1 - (int)i));
    }
    assert_true(c.rows[0].k.trades >= *last);
    *last = c.rows[0].k.trades;
}

static void
test_second_handle_reads_while_other_commits(void **state)
{
    (void)state;
    static struct share_writer w;
    memset(&w, 0, sizeof w);
    w.st = open_store("share");
    kl_store_t *r = open_store("share");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, share_writer_main, &w), 0);
    int64_t last = 0;
    while (!atomic_load(&w.done))
        check_share_snapshot(r, &last);
    assert_int_equal(pthread_join(t, NULL), 0);
    if (w.rc != 0)
        fail_msg("writer: %d %s", w.rc, w.err);
    check_share_snapshot(r, &last);
    assert_int_equal(last, SHARE_COMMITS);
    kl_store_close(r);
    kl_store_close(w.st);
}

int
main(void)
{
    g_url = getenv("KL_PG_URL");
    if (!g_url || !*g_url) {
        const char *skip = getenv("KL_PG_SKIP");
        if (skip && strcmp(skip, "1") == 0) {
            fprintf(stderr, "test_store_pg: SKIPPED on purpose (KL_PG_SKIP=1, no KL_PG_URL)\n");
            return 0;
        }
        fprintf(stderr, "test_store_pg: FAILED: KL_PG_URL is not set. Start a server with\n"
                        "  scripts/pg.sh start && export KL_PG_URL=$(scripts/pg.sh url)\n"
                        "or set KL_PG_SKIP=1 to skip these tests on purpose.\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_field),
        cmocka_unit_test(test_upsert_latest_wins),
        cmocka_unit_test(test_duplicate_keys_last_wins),
        cmocka_unit_test(test_scan_order_and_filter),
        cmocka_unit_test(test_long_scan_and_odd_symbols),
        cmocka_unit_test(test_symbols_listing),
        cmocka_unit_test(test_meta_with_rows),
        cmocka_unit_test(test_invalid_batch_writes_nothing),
        cmocka_unit_test(test_failed_commit_rolls_back),
        cmocka_unit_test(test_reopen_reads_back),
        cmocka_unit_test(test_damaged_rows_fail_the_scan),
        cmocka_unit_test(test_callbacks_reentry),
        cmocka_unit_test(test_reconnect_after_backend_killed),
        cmocka_unit_test(test_bad_urls_and_foreign_tables),
        cmocka_unit_test(test_alloc_failure_on_open),
        cmocka_unit_test(test_states_round_trip),
        cmocka_unit_test(test_states_atomic_with_rows_and_kv),
        cmocka_unit_test(test_states_reconnect_and_oom),
        cmocka_unit_test(test_range_bounds_limit_direction),
        cmocka_unit_test(test_range_long_and_us),
        cmocka_unit_test(test_range_reentry),
        cmocka_unit_test(test_range_uses_primary_key),
        cmocka_unit_test(test_second_handle_while_writer_holds_lock),
        cmocka_unit_test(test_second_handle_reads_while_other_commits),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
