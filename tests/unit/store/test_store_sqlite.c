/* Unit tests for src/store/store.c and store_sqlite.c against real SQLite files in a temp
 * directory. The store is where a restart gets its klines back, so every field must come back
 * bit for bit (__int128 sums, 16-place quotes, hole ids -1, us times), a commit must be all or
 * nothing (a checkpoint in meta must never name rows that are not there), and a damaged row must
 * fail a scan instead of vanishing. Range reads (the REST API's) must honour inclusive bounds,
 * the limit and the direction, walk the primary key (EXPLAIN QUERY PLAN), and work through a
 * second handle on the same file while another writes. One symbol's engine state reads back by
 * its key, through the backend's keyed read and through the generic fallback. Some tests reach
 * past the API with the
 * sqlite3 library itself, to check the on-disk text and to plant failures (a trigger, a bad
 * value). */
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/alloc.h"
#include "core/interval.h"
#include "kl/err.h"
#include "store/store.h"
#include "store/store_int.h"

#define I128_MAX ((kl_sum_t)(((unsigned __int128)1 << 127) - 1))

static char g_dir[256];

/* ---- helpers --------------------------------------------------------------------------- */

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/kl_store_test.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    chmod(g_dir, 0700);
    return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
db_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", g_dir, name);
}

static kl_store_t *
open_store(const char *name)
{
    char path[512], url[600], err[512] = "";
    db_path(path, sizeof path, name);
    snprintf(url, sizeof url, "sqlite:%s", path);
    kl_store_t *st = NULL;
    int rc = kl_store_open(url, &st, err, sizeof err);
    if (rc != 0)
        fail_msg("open %s: %d %s", url, rc, err);
    return st;
}

/* A second, plain connection to the same file, for checks and sabotage below the API. */
static void
raw_exec(const char *name, const char *sql)
{
    char path[512];
    db_path(path, sizeof path, name);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("raw exec '%s': %s", sql, msg);
    sqlite3_close(db);
}

static void
raw_text(const char *name, const char *sql, char *out, size_t cap)
{
    char path[512];
    db_path(path, sizeof path, name);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
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

#define MAX_GOT 64
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

/* ---- tests ----------------------------------------------------------------------------- */

static void
test_round_trip_every_field(void **state)
{
    (void)state;
    kl_store_t *st = open_store("round.db");
    kl_store_row_t in[4];
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
    commit_ok(st, in, 4, NULL, 0);

    struct collect c;
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, &c), 2);
    assert_row_eq(&c.rows[0], &in[0]);
    assert_row_eq(&c.rows[1], &in[1]);
    assert_int_equal(scan_all(st, "ETHUSDT", KL_IV_1MO, &c), 1);
    assert_row_eq(&c.rows[0], &in[2]);
    assert_int_equal(scan_all(st, "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234", KL_IV_1S, &c), 1);
    assert_row_eq(&c.rows[0], &in[3]);
    kl_store_close(st);

    /* The on-disk text is the documented format: 8 places, quotes with all 16. */
    char txt[128];
    raw_text("round.db",
             "SELECT quote_volume || '|' || taker_quote || '|' || open || '|' || interval"
             " FROM klines WHERE symbol='ETHUSDT'",
             txt, sizeof txt);
    assert_string_equal(txt, "31415926535897932384.6264338327950288|-0.0000000000000099|"
                             "100.00000005|1M");
    raw_text("round.db",
             "SELECT volume || '|' || taker_quote || '|' || unit FROM klines"
             " WHERE symbol='BTCUSDT' AND open_time=1700000040000",
             txt, sizeof txt);
    assert_string_equal(txt, "1701411834604692317316873037158.84105727|0.0000000000000001|1");
    raw_text("round.db", "PRAGMA journal_mode", txt, sizeof txt);
    assert_string_equal(txt, "wal");
}

static void
test_upsert_latest_wins(void **state)
{
    (void)state;
    kl_store_t *st = open_store("upsert.db");
    kl_store_row_t a = mk_row("BTCUSDT", KL_IV_5M, 1700000100000, 1);
    a.is_final = 0;
    commit_ok(st, &a, 1, NULL, 0);
    kl_store_row_t b = mk_row("BTCUSDT", KL_IV_5M, 1700000100000, 40);
    b.k.first_id = b.k.last_id = -1;
    b.unit_per_ms = 1000;
    b.is_final = 1;
    /* The same key twice in one batch: the later one wins too. */
    kl_store_row_t batch[2] = {a, b};
    commit_ok(st, batch, 2, NULL, 0);
    struct collect c;
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_5M, &c), 1);
    assert_row_eq(&c.rows[0], &b);
    commit_ok(st, &a, 1, NULL, 0);
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_5M, &c), 1);
    assert_row_eq(&c.rows[0], &a);
    kl_store_close(st);
}

static void
test_scan_order_and_filter(void **state)
{
    (void)state;
    kl_store_t *st = open_store("order.db");
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
    struct collect c;
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, &c), 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(c.rows[i].k.open_time, 1700000000000 + (int64_t)(i + 1) * 60000);
        assert_int_equal(c.rows[i].k.trades, (int64_t)(i + 1) + 3);
        assert_string_equal(c.rows[i].symbol, "BTCUSDT");
        assert_int_equal(c.rows[i].iv, KL_IV_1M);
    }
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_3M, &c), 5);
    assert_int_equal(c.rows[0].k.trades, 104);
    assert_int_equal(scan_all(st, "BTCUSD", KL_IV_1M, &c), 0);
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1H, &c), 0);

    /* A callback's non-zero value stops the scan and comes back as is. */
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    assert_int_equal(kl_store_scan(st, "BTCUSDT", KL_IV_1M, collect_row, &c), 7);
    assert_int_equal(c.n, 2);
    /* The statement was reset: a new scan starts from the first row. */
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, &c), 5);
    assert_int_equal(kl_store_scan(st, "BTCUSDT", KL_IV_COUNT, collect_row, &c), KL_EARG);
    assert_int_equal(kl_store_scan(st, "BTCUSDT", -1, collect_row, &c), KL_EARG);
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
    kl_store_t *st = open_store("syms.db");
    struct syms s = {0};
    assert_int_equal(kl_store_symbols(st, collect_sym, &s), 0);
    assert_int_equal(s.n, 0);
    kl_store_row_t rows[] = {
        mk_row("ETHUSDT", KL_IV_1M, 60000, 0),  mk_row("BTCUSDT", KL_IV_1M, 60000, 0),
        mk_row("ETHUSDT", KL_IV_1H, 0, 0),      mk_row("ADAUSDT", KL_IV_1D, 0, 0),
        mk_row("BTCUSDT", KL_IV_1M, 120000, 0), mk_row("BTCUSDC", KL_IV_1W, 0, 0),
    };
    commit_ok(st, rows, sizeof rows / sizeof rows[0], NULL, 0);
    assert_int_equal(kl_store_symbols(st, collect_sym, &s), 0);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.names[0], "ADAUSDT");
    assert_string_equal(s.names[1], "BTCUSDC");
    assert_string_equal(s.names[2], "BTCUSDT");
    assert_string_equal(s.names[3], "ETHUSDT");
    kl_store_close(st);
}

static void
test_meta_with_rows(void **state)
{
    (void)state;
    kl_store_t *st = open_store("meta.db");
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
    /* Meta alone, and an update of an existing key. */
    kl_store_kv_t kv2 = {"wal.0", INT64_MIN};
    commit_ok(st, NULL, 0, &kv2, 1);
    assert_int_equal(kl_store_get_kv(st, "wal.0", &v), 0);
    assert_true(v == INT64_MIN);
    kl_store_close(st);
}

typedef struct got_state {
    char sym[KL_STORE_SYMBOL_MAX];
    unsigned char blob[64];
    size_t len;
    int calls;
} got_state_t;

static int
get_state(void *ctx, const char *symbol, const void *blob, size_t len)
{
    got_state_t *g = ctx;
    snprintf(g->sym, sizeof g->sym, "%s", symbol);
    g->len = len;
    memcpy(g->blob, blob, len < sizeof g->blob ? len : sizeof g->blob);
    g->calls++;
    return g->calls == 3 ? 9 : 0;
}

static void
test_state_by_symbol(void **state)
{
    (void)state;
    kl_store_t *st = open_store("state1.db");
    static const unsigned char a[] = {0x00, 0x01, 0xff, 0x00}, b[] = {'K', 'L', 'S'};
    kl_store_state_t sv[] = {{"AUSDT", a, sizeof a}, {"BUSDT", b, sizeof b}};
    kl_store_batch_t batch = {NULL, 0, sv, 2, NULL, 0};
    char err[512] = "";
    assert_int_equal(kl_store_commit_batch(st, &batch, err, sizeof err), 0);
    /* The keyed read, then the generic one (a backend without it) must agree. */
    const kl_store_ops_t *keyed = st->ops;
    kl_store_ops_t scan = *keyed;
    scan.state = NULL;
    for (int pass = 0; pass < 2; pass++) {
        st->ops = pass ? &scan : keyed;
        got_state_t g = {0};
        assert_int_equal(kl_store_state(st, "BUSDT", get_state, &g), 0);
        assert_string_equal(g.sym, "BUSDT");
        assert_int_equal(g.len, sizeof b);
        assert_memory_equal(g.blob, b, sizeof b);
        assert_int_equal(kl_store_state(st, "AUSDT", get_state, &g), 0);
        assert_int_equal(g.len, sizeof a);
        assert_memory_equal(g.blob, a, sizeof a);
        assert_int_equal(kl_store_state(st, "CUSDT", get_state, &g), 1); /* absent */
        assert_int_equal(kl_store_state(st, "ausdt", get_state, &g), 1);
        assert_int_equal(g.calls, 2);
        assert_int_equal(kl_store_state(st, "AUSDT", get_state, &g), 9); /* fn's value */
        assert_int_equal(kl_store_state(st, NULL, get_state, &g), KL_EARG);
    }
    st->ops = keyed;
    /* A deleted state is absent. */
    kl_store_state_t del = {"AUSDT", NULL, 0};
    kl_store_batch_t bd = {NULL, 0, &del, 1, NULL, 0};
    assert_int_equal(kl_store_commit_batch(st, &bd, err, sizeof err), 0);
    got_state_t g = {0};
    assert_int_equal(kl_store_state(st, "AUSDT", get_state, &g), 1);
    kl_store_close(st);
}

static void
test_invalid_batch_writes_nothing(void **state)
{
    (void)state;
    kl_store_t *st = open_store("invalid.db");
    char err[512] = "";
    struct collect c;
    int64_t v;
    kl_store_row_t rows[3] = {mk_row("BTCUSDT", KL_IV_1M, 60000, 0),
                              mk_row("BTCUSDT", KL_IV_1M, 120000, 0),
                              mk_row("BTCUSDT", KL_IV_1M, 180000, 0)};
    kl_store_kv_t kv = {"ckpt", 9};

    /* Validation happens before BEGIN: the first, valid row must not land either. */
    rows[1].iv = 99;
    assert_int_equal(kl_store_commit(st, rows, 3, &kv, 1, err, sizeof err), KL_EARG);
    assert_string_equal(err, "store commit: row 1 (BTCUSDT): interval id 99 is not < 16");
    rows[1].iv = KL_IV_1M;
    rows[2].symbol[0] = '\0';
    assert_int_equal(kl_store_commit(st, rows, 3, &kv, 1, err, sizeof err), KL_EARG);
    assert_non_null(strstr(err, "row 2: symbol is empty"));
    memset(rows[2].symbol, 'A', KL_STORE_SYMBOL_MAX); /* no NUL at all */
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
    assert_int_equal(kl_store_commit(st, NULL, 2, NULL, 0, err, sizeof err), KL_EARG);

    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, &c), 0);
    assert_int_equal(kl_store_get_kv(st, "ckpt", &v), 1);
    /* The store is still usable and the same batch, fixed, commits whole. */
    commit_ok(st, rows, 3, &kv, 1);
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, &c), 3);
    kl_store_close(st);
}

static void
test_failed_commit_rolls_back(void **state)
{
    (void)state;
    kl_store_t *st = open_store("rollback.db");
    kl_store_row_t good = mk_row("BTCUSDT", KL_IV_1M, 60000, 0);
    kl_store_kv_t kv = {"ckpt", 1};
    commit_ok(st, &good, 1, &kv, 1);
    /* A failure inside the transaction, after rows (an update and an insert) were written. */
    raw_exec("rollback.db", "CREATE TRIGGER boom BEFORE INSERT ON klines WHEN NEW.symbol = 'BAD'"
                            " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
    kl_store_row_t rows[3] = {mk_row("BTCUSDT", KL_IV_1M, 60000, 50),
                              mk_row("BTCUSDT", KL_IV_1M, 120000, 51),
                              mk_row("BAD", KL_IV_1M, 60000, 0)};
    kl_store_kv_t kv2 = {"ckpt", 2};
    char err[512] = "", path[512], want[700];
    assert_int_equal(kl_store_commit(st, rows, 3, &kv2, 1, err, sizeof err), KL_ESTORE);
    db_path(path, sizeof path, "rollback.db");
    snprintf(want, sizeof want, "sqlite store %s: upsert row 2 (BAD 1m 60000): injected failure",
             path);
    assert_string_equal(err, want);

    struct collect c;
    int64_t v = 0;
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, &c), 1);
    assert_row_eq(&c.rows[0], &good);
    assert_int_equal(kl_store_get_kv(st, "ckpt", &v), 0);
    assert_int_equal(v, 1);
    /* No transaction was left open: the next commit works and is durable for others. */
    commit_ok(st, rows, 2, &kv2, 1);
    kl_store_close(st);
    st = open_store("rollback.db");
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, &c), 2);
    assert_row_eq(&c.rows[0], &rows[0]);
    assert_row_eq(&c.rows[1], &rows[1]);
    assert_int_equal(kl_store_get_kv(st, "ckpt", &v), 0);
    assert_int_equal(v, 2);
    kl_store_close(st);
}

static void
test_reopen_reads_back(void **state)
{
    (void)state;
    kl_store_t *st = open_store("reopen.db");
    kl_store_row_t rows[16];
    for (int iv = 0; iv < KL_IV_COUNT; iv++)
        rows[iv] = mk_row("SOLUSDT", iv, 1700000000000LL + iv, iv);
    kl_store_kv_t kv = {"persist.seq", 77};
    commit_ok(st, rows, KL_IV_COUNT, &kv, 1);
    kl_store_close(st);

    st = open_store("reopen.db"); /* existing schema: checked, not recreated */
    struct collect c;
    for (int iv = 0; iv < KL_IV_COUNT; iv++) {
        assert_int_equal(scan_all(st, "SOLUSDT", iv, &c), 1);
        assert_row_eq(&c.rows[0], &rows[iv]);
    }
    int64_t v = 0;
    assert_int_equal(kl_store_get_kv(st, "persist.seq", &v), 0);
    assert_int_equal(v, 77);
    kl_store_close(st);
}

static void
test_damaged_rows_fail_the_scan(void **state)
{
    (void)state;
    kl_store_t *st = open_store("damaged.db");
    kl_store_row_t rows[3] = {mk_row("BTCUSDT", KL_IV_1M, 60000, 0),
                              mk_row("BTCUSDT", KL_IV_1M, 120000, 0),
                              mk_row("BTCUSDT", KL_IV_1M, 180000, 0)};
    commit_ok(st, rows, 3, NULL, 0);
    kl_store_close(st);
    static const char *const sabotage[] = {
        "UPDATE klines SET quote_volume = 'abc' WHERE open_time = 120000",
        "UPDATE klines SET quote_volume = '1.00000000000000001' WHERE open_time = 120000",
        "UPDATE klines SET open = '1.000000001' WHERE open_time = 120000",
        "UPDATE klines SET volume = NULL WHERE open_time = 120000", /* NOT NULL refuses */
        "UPDATE klines SET first_id = 'x' WHERE open_time = 120000",
        "UPDATE klines SET unit = 7 WHERE open_time = 120000",
        "UPDATE klines SET taker_base = X'35' WHERE open_time = 120000", /* a blob, not text */
    };
    for (size_t i = 0; i < sizeof sabotage / sizeof sabotage[0]; i++) {
        char path[512];
        db_path(path, sizeof path, "damaged.db");
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        int rc = sqlite3_exec(db, sabotage[i], NULL, NULL, NULL);
        sqlite3_close(db);
        if (i == 3) {
            assert_int_equal(rc, SQLITE_CONSTRAINT);
            continue;
        }
        assert_int_equal(rc, SQLITE_OK);
        st = open_store("damaged.db");
        struct collect c;
        memset(&c, 0, sizeof c);
        if (kl_store_scan(st, "BTCUSDT", KL_IV_1M, collect_row, &c) != KL_ESTORE)
            fail_msg("'%s': scan did not fail", sabotage[i]);
        assert_int_equal(c.n, 1); /* the row before the damage, then the error */
        kl_store_close(st);
        /* Repair, so each case damages one thing only. */
        char fix[256];
        snprintf(fix, sizeof fix,
                 "UPDATE klines SET quote_volume = '1.0', open = '1', first_id = 1, unit = 1,"
                 " taker_base = '1' WHERE open_time = 120000");
        raw_exec("damaged.db", fix);
    }
    raw_exec("damaged.db", "INSERT INTO meta VALUES('textval', 'abc')");
    st = open_store("damaged.db");
    int64_t v;
    assert_int_equal(kl_store_get_kv(st, "textval", &v), KL_ESTORE);
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
    struct collect c;
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
    /* export's pattern: for each symbol, scan its series. */
    struct reenter *r = ctx;
    struct collect c;
    memset(&c, 0, sizeof c);
    r->scan_rc = kl_store_scan(r->st, sym, KL_IV_1M, collect_row, &c);
    r->calls += (int)c.n;
    return 0;
}

static void
test_callbacks_reentry(void **state)
{
    (void)state;
    kl_store_t *st = open_store("reenter.db");
    kl_store_row_t rows[2] = {mk_row("BTCUSDT", KL_IV_1M, 60000, 0),
                              mk_row("ETHUSDT", KL_IV_1M, 60000, 0)};
    kl_store_kv_t kv = {"k", 5};
    commit_ok(st, rows, 2, &kv, 1);
    /* A scan's statement cannot serve a nested scan, and a commit inside a read would mix a
     * write transaction into it: both are refused; a meta read is fine. */
    struct reenter r = {.st = st};
    assert_int_equal(kl_store_scan(st, "BTCUSDT", KL_IV_1M, reenter_row, &r), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.scan_rc, KL_EARG);
    assert_int_equal(r.commit_rc, KL_EARG);
    assert_int_equal(r.kv_rc, 0);
    assert_int_equal(r.kv, 5);
    /* Scanning from a symbols callback uses another statement and works. */
    memset(&r, 0, sizeof r);
    r.st = st;
    assert_int_equal(kl_store_symbols(st, reenter_sym, &r), 0);
    assert_int_equal(r.scan_rc, 0);
    assert_int_equal(r.calls, 2);
    kl_store_close(st);
}

static void
test_bad_paths_and_urls(void **state)
{
    (void)state;
    char url[600], err[600] = "";
    kl_store_t *st = (kl_store_t *)&st; /* any non-NULL: must stay untouched */
    kl_store_t *const sentinel = st;

    snprintf(url, sizeof url, "sqlite:%s/no/such/dir/k.db", g_dir);
    assert_int_equal(kl_store_open(url, &st, err, sizeof err), KL_ESTORE);
    assert_ptr_equal(st, sentinel);
    char want[700];
    snprintf(want, sizeof want,
             "sqlite store %s/no/such/dir/k.db: cannot open (its directory must exist): unable "
             "to open database file (No such file or directory)",
             g_dir);
    assert_string_equal(err, want);

    /* A regular file where a directory should be: fails even for root. */
    raw_exec("plainfile.db", "CREATE TABLE t(x)");
    snprintf(url, sizeof url, "sqlite:%s/plainfile.db/k.db", g_dir);
    assert_int_equal(kl_store_open(url, &st, err, sizeof err), KL_ESTORE);
    assert_non_null(strstr(err, "plainfile.db/k.db: cannot open"));
    assert_non_null(strstr(err, "(Not a directory)"));

    /* A read-only directory; root ignores permissions, so only checked as another user. */
    if (geteuid() != 0) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/ro", g_dir);
        assert_int_equal(mkdir(dir, 0500), 0);
        snprintf(url, sizeof url, "sqlite:%s/k.db", dir);
        assert_int_equal(kl_store_open(url, &st, err, sizeof err), KL_ESTORE);
        assert_non_null(strstr(err, "/ro/k.db: cannot open"));
        chmod(dir, 0700);
    }

    assert_int_equal(kl_store_open("sqlite:", &st, err, sizeof err), KL_EARG);
    assert_string_equal(err, "store URL 'sqlite:': expected sqlite:PATH");
    assert_int_equal(kl_store_open("mysql://x", &st, err, sizeof err), KL_EARG);
    assert_non_null(strstr(err, "'mysql://x': unknown scheme"));
    /* Postgres URLs reach the postgres backend (nothing listens on port 1). */
    assert_int_equal(kl_store_open("postgres://u@127.0.0.1:1/db", &st, err, sizeof err),
                     KL_ESTORE);
    assert_non_null(strstr(err, "postgres store 127.0.0.1:1/db: connect: "));
    assert_int_equal(kl_store_open("postgresql://u@127.0.0.1:1/db", &st, err, sizeof err),
                     KL_ESTORE);
    assert_ptr_equal(st, sentinel);
    /* No err buffer: still a clean error. */
    assert_int_equal(kl_store_open("sqlite:/nonexistent-kl-dir/x.db", &st, NULL, 0), KL_ESTORE);

    /* A file from a newer build is refused, not misread. */
    raw_exec("future.db", "PRAGMA user_version = 9");
    snprintf(url, sizeof url, "sqlite:%s/future.db", g_dir);
    assert_int_equal(kl_store_open(url, &st, err, sizeof err), KL_ESTORE);
    assert_non_null(strstr(err, "schema version 9 is newer than this build's (1)"));
    assert_ptr_equal(st, sentinel);
}

static void
test_alloc_failure_on_open(void **state)
{
    (void)state;
    char path[512], url[600], err[600];
    db_path(path, sizeof path, "oom.db");
    snprintf(url, sizeof url, "sqlite:%s", path);
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
        assert_non_null(strstr(err, "oom.db: out of memory"));
        assert_int_equal(kl_alloc_live_bytes(), base);
    }
    assert_int_equal(failures, 2); /* the handle, then its path */
    assert_int_equal(kl_alloc_live_bytes(), base);
}

/* ---- range reads ----------------------------------------------------------------------- */

#include "range_cases.h"

static void
test_range_bounds_limit_direction(void **state)
{
    (void)state;
    kl_store_t *st = open_store("range.db");
    kl_store_row_t rows[30];
    range_fill(st, rows);
    struct collect c;
    range_common_checks(st, &c);
    assert_int_equal(scan_all(st, "BTCUSDT", KL_IV_1M, &c), 10);
    last_before_common_checks(st);
    kl_store_close(st);
}

/* Microsecond rows (2025+ spot dumps) are ranged in microseconds. */
static void
test_range_us_rows(void **state)
{
    (void)state;
    kl_store_t *st = open_store("range_us.db");
    kl_store_row_t rows[5];
    for (int i = 0; i < 5; i++) {
        rows[i] = mk_row("ETHUSDT", KL_IV_1S, 1735689600000000LL + i * 1000000LL, i);
        rows[i].unit_per_ms = 1000;
        rows[i].k.close_time = rows[i].k.open_time + 999999;
    }
    commit_ok(st, rows, 5, NULL, 0);
    struct collect c;
    range_got(st, "ETHUSDT", KL_IV_1S, 1735689601000000LL, 1735689603000000LL, 10, 1, &c);
    assert_int_equal(c.n, 3);
    assert_row_eq(&c.rows[0], &rows[3]);
    assert_row_eq(&c.rows[1], &rows[2]);
    assert_row_eq(&c.rows[2], &rows[1]);
    assert_int_equal(c.rows[0].unit_per_ms, 1000);
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
    struct collect c;
    int64_t v;
    r->calls++;
    r->range_rc = kl_store_range(r->st, row->symbol, row->iv, 0, INT64_MAX, 5, 0, collect_row, &c);
    r->scan_rc = kl_store_scan(r->st, row->symbol, row->iv, collect_row, &c);
    r->kv_rc = kl_store_get_kv(r->st, "k", &v);
    kl_store_row_t before;
    r->last_rc = kl_store_last_before(r->st, row->symbol, row->iv, INT64_MAX, &before);
    return 0;
}

static int
range_from_scan_row(void *ctx, const kl_store_row_t *row)
{
    struct range_reenter *r = ctx;
    struct collect c;
    r->calls++;
    r->range_rc = kl_store_range(r->st, row->symbol, row->iv, 0, INT64_MAX, 5, 0, collect_row, &c);
    return 0;
}

static void
test_range_reentry(void **state)
{
    (void)state;
    kl_store_t *st = open_store("range_reenter.db");
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
    memset(&r, 0, sizeof r);
    r.st = st;
    assert_int_equal(kl_store_scan(st, "BTCUSDT", KL_IV_1M, range_from_scan_row, &r), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.range_rc, KL_EARG);
    kl_store_close(st);
}

/* The plan of each range statement, rows joined by "; ". */
static void
query_plan(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    char q[1024];
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", q, sqlite3_errmsg(db));
    out[0] = '\0';
    size_t o = 0;
    while (sqlite3_step(s) == SQLITE_ROW)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "; " : "",
                              (const char *)sqlite3_column_text(s, 3));
    sqlite3_finalize(s);
}

static void
test_range_uses_primary_key(void **state)
{
    (void)state;
    kl_store_t *st = open_store("plan.db");
    kl_store_row_t rows[200];
    for (int i = 0; i < 200; i++)
        rows[i] = mk_row(i % 2 ? "BTCUSDT" : "ETHUSDT", KL_IV_1M, TM(i / 2), i);
    commit_ok(st, rows, 200, NULL, 0);
    char path[512], plan[512];
    db_path(path, sizeof path, "plan.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    /* Also after ANALYZE, when the planner has statistics to prefer something else with. */
    for (int analyzed = 0; analyzed < 2; analyzed++) {
        for (int dir = 0; dir < 2; dir++) {
            query_plan(db, kl_store_sqlite_range_sql[dir], plan, sizeof plan);
            /* One index search on all three key columns, and no sort (no TEMP B-TREE). */
            assert_string_equal(plan, "SEARCH klines USING PRIMARY KEY (symbol=? AND "
                                      "interval=? AND open_time>? AND open_time<?)");
        }
        /* kl_store_last_before: the same key, walked backwards from t and stopped at once. */
        query_plan(db, kl_store_sqlite_last_before_sql, plan, sizeof plan);
        assert_string_equal(plan, "SEARCH klines USING PRIMARY KEY (symbol=? AND interval=? AND "
                                  "open_time<?)");
        assert_int_equal(sqlite3_exec(db, "ANALYZE", NULL, NULL, NULL), SQLITE_OK);
    }
    /* Bound parameters only: five of them, the SQL holds no value. */
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, kl_store_sqlite_range_sql[1], -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_bind_parameter_count(s), 5);
    sqlite3_finalize(s);
    assert_non_null(strstr(kl_store_sqlite_range_sql[1], "ORDER BY open_time DESC LIMIT ?5"));
    assert_int_equal(sqlite3_prepare_v2(db, kl_store_sqlite_last_before_sql, -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_bind_parameter_count(s), 3);
    sqlite3_finalize(s);
    assert_non_null(strstr(kl_store_sqlite_last_before_sql, "ORDER BY open_time DESC LIMIT 1"));
    sqlite3_close(db);
    kl_store_close(st);
}

/* The API opens its own store on the persister's file. That open must not need the write
 * lock (a commit may hold it), and its reads see the last commit while the next is open. */
static void
test_second_handle_while_writer_holds_lock(void **state)
{
    (void)state;
    kl_store_t *a = open_store("shared.db");
    kl_store_row_t rows[3] = {mk_row("BTCUSDT", KL_IV_1M, TM(1), 1),
                              mk_row("BTCUSDT", KL_IV_1M, TM(2), 2),
                              mk_row("BTCUSDT", KL_IV_1M, TM(3), 3)};
    kl_store_kv_t kv = {"ckpt", 1};
    commit_ok(a, rows, 3, &kv, 1);

    /* A plain connection holds the write lock with an uncommitted change, as a long commit
     * of the persister would. */
    char path[512];
    db_path(path, sizeof path, "shared.db");
    sqlite3 *w = NULL;
    assert_int_equal(sqlite3_open(path, &w), SQLITE_OK);
    assert_int_equal(sqlite3_exec(w,
                                  "BEGIN IMMEDIATE; UPDATE klines SET trades = 999;"
                                  " UPDATE meta SET value = 2",
                                  NULL, NULL, NULL),
                     SQLITE_OK);

    kl_store_t *b = open_store("shared.db"); /* fails after the busy timeout if it locks */
    struct collect c;
    range_got(b, "BTCUSDT", KL_IV_1M, TM(1), TM(3), 10, 1, &c);
    assert_int_equal(c.n, 3);
    assert_row_eq(&c.rows[0], &rows[2]);
    assert_row_eq(&c.rows[2], &rows[0]);
    int64_t v = 0;
    assert_int_equal(kl_store_get_kv(b, "ckpt", &v), 0);
    assert_int_equal(v, 1);

    assert_int_equal(sqlite3_exec(w, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    range_got(b, "BTCUSDT", KL_IV_1M, TM(1), TM(3), 10, 0, &c);
    assert_int_equal(c.n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(c.rows[i].k.trades, 999);
    assert_int_equal(kl_store_get_kv(b, "ckpt", &v), 0);
    assert_int_equal(v, 2);
    sqlite3_close(w);

    /* Both handles write and read in turn; each sees the other's commits. */
    rows[0].k.trades = 41;
    commit_ok(b, rows, 1, NULL, 0);
    assert_int_equal(range_got(a, "BTCUSDT", KL_IV_1M, TM(1), TM(1), 1, 0, &c), 1);
    assert_int_equal(c.rows[0].k.trades, 41);
    char mode[32];
    raw_text("shared.db", "PRAGMA journal_mode", mode, sizeof mode);
    assert_string_equal(mode, "wal");
    kl_store_close(b);
    kl_store_close(a);
}

#define SHARE_ROWS 20
#define SHARE_COMMITS 300

struct share_writer {
    kl_store_t *st;
    int rc;
    char err[512];
    _Atomic int done;
};

/* The persister's part: every commit rewrites all rows with trades = the commit's number. */
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
    struct collect c;
    memset(&c, 0, sizeof c);
    int rc = kl_store_range(st, "BTCUSDT", KL_IV_1M, TM(0), TM(SHARE_ROWS - 1), SHARE_ROWS, 1,
                            collect_row, &c);
    if (rc != 0)
        fail_msg("range beside a writer: %d", rc);
    if (c.n == 0)
        return; /* before the first commit */
    assert_int_equal(c.n, SHARE_ROWS);
    /* One commit whole: every row from the same commit, never older than the last read. */
    for (size_t i = 0; i < c.n; i++) {
        assert_int_equal(c.rows[i].k.trades, c.rows[0].k.trades);
        assert_int_equal(c.rows[i].k.open_time, TM(SHARE_ROWS - 1 - (int)i));
    }
    assert_true(c.rows[0].k.trades >= *last);
    *last = c.rows[0].k.trades;
}

/* A reader thread's store beside a writer thread's: no read fails (no SQLITE_BUSY reaches the
 * caller) and every read is one commit's state. */
static void
test_second_handle_reads_while_other_commits(void **state)
{
    (void)state;
    static struct share_writer w;
    memset(&w, 0, sizeof w);
    w.st = open_store("share.db");
    kl_store_t *r = open_store("share.db");
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

/* H5 (issue 12): the store's connection runs synchronous=FULL, so a commit that returned is
 * durable before the worker deletes the WAL segments it covers. */
static void
test_commit_durable(void **state)
{
    (void)state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, kl_store_sqlite_tuning_sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA synchronous", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 2); /* 2 = FULL */
    sqlite3_finalize(s);
    sqlite3_close(db);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_field),
        cmocka_unit_test(test_upsert_latest_wins),
        cmocka_unit_test(test_scan_order_and_filter),
        cmocka_unit_test(test_symbols_listing),
        cmocka_unit_test(test_meta_with_rows),
        cmocka_unit_test(test_invalid_batch_writes_nothing),
        cmocka_unit_test(test_failed_commit_rolls_back),
        cmocka_unit_test(test_reopen_reads_back),
        cmocka_unit_test(test_damaged_rows_fail_the_scan),
        cmocka_unit_test(test_callbacks_reentry),
        cmocka_unit_test(test_bad_paths_and_urls),
        cmocka_unit_test(test_alloc_failure_on_open),
        cmocka_unit_test(test_range_bounds_limit_direction),
        cmocka_unit_test(test_range_us_rows),
        cmocka_unit_test(test_range_reentry),
        cmocka_unit_test(test_range_uses_primary_key),
        cmocka_unit_test(test_second_handle_while_writer_holds_lock),
        cmocka_unit_test(test_second_handle_reads_while_other_commits),
        cmocka_unit_test(test_state_by_symbol),
        cmocka_unit_test(test_commit_durable),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
