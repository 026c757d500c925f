/* The SQLite store, the embedded default ("sqlite:PATH"): one database file in WAL mode that
 * holds every kline the service persisted plus the checkpoint values that name what it covers.
 *
 * DESIGN. One connection, used by one thread at a time (the persister, or a command such as
 * `klined export`), so it is opened SQLITE_OPEN_NOMUTEX. Every statement is prepared once at
 * open and reused. kl_store_commit() is one BEGIN IMMEDIATE ... COMMIT: all its rows and meta
 * values, or (ROLLBACK on any error) none of them. With journal_mode=WAL and synchronous=FULL
 * a commit fsyncs the -wal file before it returns: a commit that returned survives a power
 * loss. It must, because the worker deletes the WAL segments a checkpoint covers as soon as the
 * commit returns (issue 12, H5: with NORMAL a power cut could take the checkpoint and the
 * segments it covered both). The cost is one fsync per persist (persist-ms, 1 s by default). busy_timeout lets a reader in another process (export) wait instead
 * of failing the persister. The API thread reads through a second store of its own on the same
 * file: WAL lets it read the last committed state while the persister writes, each read
 * statement is one snapshot (a commit is seen whole or not at all), and opening a file whose
 * schema is current takes no write lock, so it never waits for a long commit. A scan, range
 * or symbols callback may read (get_kv; scan from a symbols callback, as export does) but a
 * nested scan, range or last_before, a nested symbols or a commit returns KL_EARG: it would
 * reset the statement being stepped or write inside a read. Only the handle and its path come
 * from kl_alloc; SQLite keeps its own heap (SQLITE_CONFIG_MALLOC is process-wide).
 *
 * FORMAT (schema version 1, in PRAGMA user_version):
 *   klines(symbol TEXT, interval TEXT (Binance name, "1m" .. "1M"), open_time INTEGER,
 *          close_time INTEGER, unit INTEGER (1 = ms, 1000 = us), open/high/low/close TEXT (8
 *          places), volume TEXT (8 places), quote_volume TEXT (16 places), trades INTEGER,
 *          taker_base TEXT (8 places), taker_quote TEXT (16 places), first_id INTEGER,
 *          last_id INTEGER (-1 for a hole kline), is_final INTEGER (0/1),
 *          PRIMARY KEY(symbol, interval, open_time)) WITHOUT ROWID
 *   meta(key TEXT PRIMARY KEY, value INTEGER)
 * Decimals are text so that they stay exact (an __int128 sum does not fit an SQLite INTEGER and
 * must never pass through a double) and read the same in the sqlite3 shell as on Binance.
 * Reading back is strict: a value of the wrong type or text that does not parse fails the scan
 * with KL_ESTORE rather than yield a wrong or missing kline. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/decimal.h"
#include "core/interval.h"
#include "kl/err.h"
#include "store/store_int.h"

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 5000
#define URL_PREFIX "sqlite:"

enum { N_NUM = 8 }; /* decimals of a row bound as text: OHLC, volume, quote, taker base/quote */

typedef struct sq_store {
    kl_store_t base; /* first: kl_store_t * and sq_store * convert both ways */
    sqlite3 *db;
    sqlite3_stmt *upsert, *put_kv, *get_kv, *scan, *symbols, *begin, *commit, *rollback;
    sqlite3_stmt *put_state, *del_state, *states, *state;
    sqlite3_stmt *range[2]; /* ascending, descending */
    sqlite3_stmt *last_before;
    unsigned in_scan : 1, in_symbols : 1; /* a callback must not restart its own statement */
    char *path;
    /* Bound with SQLITE_STATIC: they live as long as the statement, so a later step or a trace
     * can never read freed stack, and no row needs an allocation. */
    char num[N_NUM][KL_NUM_BUFSZ];
} sq_store;

/* Measured with bench/bench_store.c (figures in its header). A 64 MiB page cache holds a whole
 * 80k-row batch (about 17 MB of pages), so a commit does not spill dirty pages into the WAL
 * mid-transaction and read them back. Checkpointing every 16384 pages (64 MiB) instead of 1000
 * lets one checkpoint copy a page that several persists rewrote (the live klines) once, and
 * takes the checkpoint out of most commits. The default 4 KiB page stays: 64 KiB pages made a
 * fresh-file persist 30% faster but a store with long history 4x slower, since each persisted
 * kline is the tail of its own series and dirties a whole page. */
const char kl_store_sqlite_tuning_sql[] = "PRAGMA synchronous=FULL;"
                                         "PRAGMA cache_size=-65536;"
                                         "PRAGMA wal_autocheckpoint=16384;";

static const char SQL_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS klines("
    " symbol TEXT NOT NULL, interval TEXT NOT NULL, open_time INTEGER NOT NULL,"
    " close_time INTEGER NOT NULL, unit INTEGER NOT NULL,"
    " open TEXT NOT NULL, high TEXT NOT NULL, low TEXT NOT NULL, close TEXT NOT NULL,"
    " volume TEXT NOT NULL, quote_volume TEXT NOT NULL, trades INTEGER NOT NULL,"
    " taker_base TEXT NOT NULL, taker_quote TEXT NOT NULL,"
    " first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, is_final INTEGER NOT NULL,"
    " PRIMARY KEY(symbol, interval, open_time)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS series_state(symbol TEXT PRIMARY KEY NOT NULL,"
    " state BLOB NOT NULL) WITHOUT ROWID;";

/* The upsert is INSERT OR REPLACE rather than INSERT ... ON CONFLICT DO UPDATE SET (every
 * column): the same result here, since a row is always replaced whole and the table has no
 * secondary index, trigger or foreign key for the delete+insert of REPLACE to differ on, and
 * the update of 80k existing rows measured 161 ms instead of 206 ms (bench/bench_store.c). */
static const char SQL_UPSERT[] =
    "INSERT OR REPLACE INTO klines(symbol, interval, open_time, close_time, unit, open, high,"
    " low, close, volume, quote_volume, trades, taker_base, taker_quote, first_id, last_id,"
    " is_final)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

static const char SQL_SCAN[] =
    "SELECT open_time, close_time, unit, open, high, low, close, volume, quote_volume, trades,"
    " taker_base, taker_quote, first_id, last_id, is_final"
    " FROM klines WHERE symbol = ?1 AND interval = ?2 ORDER BY open_time";

/* Both directions walk the primary key (symbol, interval, open_time): the equality prefix and the
 * open_time bounds are the search, ORDER BY follows the index (DESC walks it backwards) and
 * LIMIT stops the walk, so no sort and no row outside the answer is read (checked with EXPLAIN
 * QUERY PLAN in the tests). */
#define SQL_RANGE(dir)                                                                           \
    "SELECT open_time, close_time, unit, open, high, low, close, volume, quote_volume, trades,"  \
    " taker_base, taker_quote, first_id, last_id, is_final"                                      \
    " FROM klines WHERE symbol = ?1 AND interval = ?2 AND open_time >= ?3 AND open_time <= ?4"  \
    " ORDER BY open_time " dir " LIMIT ?5"
const char kl_store_sqlite_range_sql[2][512] = {SQL_RANGE("ASC"), SQL_RANGE("DESC")};

/* The kline before a window (kl_store_last_before): the same backward walk of the primary key,
 * stopped at its first row. */
const char kl_store_sqlite_last_before_sql[512] =
    "SELECT open_time, close_time, unit, open, high, low, close, volume, quote_volume, trades,"
    " taker_base, taker_quote, first_id, last_id, is_final"
    " FROM klines WHERE symbol = ?1 AND interval = ?2 AND open_time < ?3"
    " ORDER BY open_time DESC LIMIT 1";

static const char SQL_PUT_KV[] =
    "INSERT INTO meta(key, value) VALUES(?1, ?2)"
    " ON CONFLICT(key) DO UPDATE SET value = excluded.value";

/* ---- errors ---------------------------------------------------------------------------- */

/* "sqlite store PATH: WHAT: sqlite's message (errno text when the OS refused)". Called before
 * any ROLLBACK, which would overwrite sqlite3_errmsg. */
static int
sq_fail(sqlite3 *db, const char *path, const char *what, char *err, size_t cap)
{
    /* errno is kept from the last failed OS call, which may be stale: show it only for the
     * errors that come from the OS. */
    int sys = 0;
    if (db) {
        int prim = sqlite3_extended_errcode(db) & 0xff;
        if (prim == SQLITE_CANTOPEN || prim == SQLITE_IOERR || prim == SQLITE_READONLY ||
            prim == SQLITE_FULL || prim == SQLITE_PERM)
            sys = sqlite3_system_errno(db);
    }
    const char *msg = db ? sqlite3_errmsg(db) : "out of memory";
    if (sys != 0)
        kl_store_errf(err, cap, "sqlite store %s: %s: %s (%s)", path, what, msg, strerror(sys));
    else
        kl_store_errf(err, cap, "sqlite store %s: %s: %s", path, what, msg);
    return KL_ESTORE;
}

/* ---- open / close ---------------------------------------------------------------------- */

static void
sq_close(kl_store_t *base)
{
    sq_store *st = (sq_store *)base;
    sqlite3_stmt *all[] = {st->upsert,  st->put_kv,   st->get_kv,    st->scan,
                           st->symbols, st->begin,    st->commit,    st->rollback,
                           st->put_state, st->del_state, st->states, st->range[0],
                           st->range[1], st->last_before, st->state};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]); /* NULL is a no-op */
    /* _v2 so that a statement we forgot can never leave the file open behind our back. */
    sqlite3_close_v2(st->db);
    kl_free(st->path);
    kl_free(st);
}

static int
sq_exec(sq_store *st, const char *sql, const char *what, char *err, size_t cap)
{
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sq_fail(st->db, st->path, what, err, cap);
    return 0;
}

static int
sq_prepare(sq_store *st, const char *sql, sqlite3_stmt **out, char *err, size_t cap)
{
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK)
        return sq_fail(st->db, st->path, "prepare", err, cap);
    return 0;
}

/* Sets WAL mode, which PRAGMA reports rather than fails when it cannot (e.g. a filesystem
 * without shared memory): a store that silently stayed in rollback mode would block readers. */
static int
sq_set_wal(sq_store *st, char *err, size_t cap)
{
    sqlite3_stmt *s = NULL;
    int rc = KL_ESTORE;
    if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        sq_fail(st->db, st->path, "set WAL journal mode", err, cap);
        goto out;
    }
    const unsigned char *mode = sqlite3_column_text(s, 0);
    if (!mode || strcmp((const char *)mode, "wal") != 0) {
        kl_store_errf(err, cap, "sqlite store %s: WAL journal mode refused (mode is %s)",
                      st->path, mode ? (const char *)mode : "unknown");
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(s);
    return rc;
}

/* Reads PRAGMA user_version into *version. */
static int
sq_version(sq_store *st, int *version, char *err, size_t cap)
{
    sqlite3_stmt *s = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW)
        rc = sq_fail(st->db, st->path, "read schema version", err, cap);
    else
        *version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc;
}

/* Creates the schema in a new file, or checks the version of an existing one; in one write
 * transaction so two processes opening a new file at once cannot both create it. A file whose
 * schema is current is only read: a second handle (the API's, beside the persister's) must
 * open without waiting for the write lock that a long commit holds. */
static int
sq_schema(sq_store *st, char *err, size_t cap)
{
    sqlite3_stmt *s = NULL;
    int current = 0;
    int rc = sq_version(st, &current, err, cap);
    if (rc < 0)
        return rc;
    if (current == SCHEMA_VERSION)
        return 0;
    rc = sq_exec(st, "BEGIN IMMEDIATE", "begin schema transaction", err, cap);
    if (rc < 0)
        return rc;
    rc = KL_ESTORE;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        sq_fail(st->db, st->path, "read schema version", err, cap);
        goto fail;
    }
    int version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    if (version > SCHEMA_VERSION) {
        kl_store_errf(err, cap,
                      "sqlite store %s: schema version %d is newer than this build's (%d)",
                      st->path, version, SCHEMA_VERSION);
        goto fail;
    }
    if (version < SCHEMA_VERSION) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", SCHEMA_VERSION);
        if (sq_exec(st, SQL_SCHEMA, "create schema", err, cap) < 0 ||
            sq_exec(st, sql, "set schema version", err, cap) < 0)
            goto fail;
    }
    if (sq_exec(st, "COMMIT", "commit schema", err, cap) < 0)
        goto fail;
    return 0;
fail:
    sqlite3_finalize(s);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int
sq_open(const char *url, kl_store_t **out, char *err, size_t cap)
{
    const char *path = url + strlen(URL_PREFIX);
    if (strncmp(url, URL_PREFIX, strlen(URL_PREFIX)) != 0 || path[0] == '\0') {
        kl_store_errf(err, cap, "store URL '%s': expected sqlite:PATH", url);
        return KL_EARG;
    }
    size_t path_len = strlen(path);
    sq_store *st = kl_calloc(1, sizeof *st);
    if (!st) {
        kl_store_errf(err, cap, "sqlite store %s: out of memory", path);
        return KL_ENOMEM;
    }
    st->base.ops = &kl_store_sqlite_ops;
    st->path = kl_alloc(path_len + 1);
    if (!st->path) {
        kl_store_errf(err, cap, "sqlite store %s: out of memory", path);
        kl_free(st);
        return KL_ENOMEM;
    }
    memcpy(st->path, path, path_len + 1);

    int rc = KL_ESTORE;
    /* The handle comes back even on failure, carrying the message; sq_close frees it. */
    if (sqlite3_open_v2(path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = sq_fail(st->db, st->path, "cannot open (its directory must exist)", err, cap);
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    if ((rc = sq_set_wal(st, err, cap)) < 0 ||
        (rc = sq_exec(st, kl_store_sqlite_tuning_sql, "set pragmas", err, cap)) < 0 ||
        (rc = sq_schema(st, err, cap)) < 0)
        goto fail;
    if ((rc = sq_prepare(st, SQL_UPSERT, &st->upsert, err, cap)) < 0 ||
        (rc = sq_prepare(st, SQL_PUT_KV, &st->put_kv, err, cap)) < 0 ||
        (rc = sq_prepare(st, "SELECT value FROM meta WHERE key = ?1", &st->get_kv, err, cap)) <
            0 ||
        (rc = sq_prepare(st, SQL_SCAN, &st->scan, err, cap)) < 0 ||
        (rc = sq_prepare(st, "SELECT DISTINCT symbol FROM klines ORDER BY symbol",
                         &st->symbols, err, cap)) < 0 ||
        (rc = sq_prepare(st, "BEGIN IMMEDIATE", &st->begin, err, cap)) < 0 ||
        (rc = sq_prepare(st, "COMMIT", &st->commit, err, cap)) < 0 ||
        (rc = sq_prepare(st, "ROLLBACK", &st->rollback, err, cap)) < 0 ||
        (rc = sq_prepare(st, "INSERT OR REPLACE INTO series_state(symbol, state) VALUES(?1, ?2)",
                         &st->put_state, err, cap)) < 0 ||
        (rc = sq_prepare(st, "DELETE FROM series_state WHERE symbol = ?1", &st->del_state, err,
                         cap)) < 0 ||
        (rc = sq_prepare(st, "SELECT symbol, state FROM series_state ORDER BY symbol",
                         &st->states, err, cap)) < 0 ||
        (rc = sq_prepare(st, "SELECT state FROM series_state WHERE symbol = ?1", &st->state, err,
                         cap)) < 0 ||
        (rc = sq_prepare(st, kl_store_sqlite_range_sql[0], &st->range[0], err, cap)) < 0 ||
        (rc = sq_prepare(st, kl_store_sqlite_range_sql[1], &st->range[1], err, cap)) < 0 ||
        (rc = sq_prepare(st, kl_store_sqlite_last_before_sql, &st->last_before, err, cap)) < 0)
        goto fail;
    *out = &st->base;
    return 0;
fail:
    sq_close(&st->base);
    return rc;
}

/* ---- commit ---------------------------------------------------------------------------- */

static int
sq_step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : rc;
}

/* Binds one row. Text goes in with SQLITE_STATIC: the symbol lives in the caller's batch for
 * the whole call (bindings are cleared before returning), the numbers in st->num. */
static int
sq_bind_row(sq_store *st, const kl_store_row_t *r)
{
    sqlite3_stmt *s = st->upsert;
    const kl_kline_t *k = &r->k;
    size_t len[N_NUM];
    len[0] = kl_dec_format(k->open, st->num[0]);
    len[1] = kl_dec_format(k->high, st->num[1]);
    len[2] = kl_dec_format(k->low, st->num[2]);
    len[3] = kl_dec_format(k->close, st->num[3]);
    len[4] = kl_sum_format_exact(k->volume, 8, st->num[4]);
    len[5] = kl_sum_format_exact(k->quote, 16, st->num[5]);
    len[6] = kl_sum_format_exact(k->taker_base, 8, st->num[6]);
    len[7] = kl_sum_format_exact(k->taker_quote, 16, st->num[7]);
    int rc = 0;
    rc |= sqlite3_bind_text(s, 1, r->symbol, (int)strnlen(r->symbol, KL_STORE_SYMBOL_MAX),
                            SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 2, kl_iv_name(r->iv), -1, SQLITE_STATIC);
    rc |= sqlite3_bind_int64(s, 3, k->open_time);
    rc |= sqlite3_bind_int64(s, 4, k->close_time);
    rc |= sqlite3_bind_int(s, 5, r->unit_per_ms);
    rc |= sqlite3_bind_text(s, 6, st->num[0], (int)len[0], SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 7, st->num[1], (int)len[1], SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 8, st->num[2], (int)len[2], SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 9, st->num[3], (int)len[3], SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 10, st->num[4], (int)len[4], SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 11, st->num[5], (int)len[5], SQLITE_STATIC);
    rc |= sqlite3_bind_int64(s, 12, k->trades);
    rc |= sqlite3_bind_text(s, 13, st->num[6], (int)len[6], SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 14, st->num[7], (int)len[7], SQLITE_STATIC);
    rc |= sqlite3_bind_int64(s, 15, k->first_id);
    rc |= sqlite3_bind_int64(s, 16, k->last_id);
    rc |= sqlite3_bind_int(s, 17, r->is_final);
    return rc; /* SQLITE_OK is 0: any non-zero means one bind failed */
}

static int
sq_put_states(sq_store *st, const kl_store_state_t *v, size_t n, char *what, size_t wcap)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *s = v[i].len ? st->put_state : st->del_state;
        int rc = sqlite3_bind_text(s, 1, v[i].symbol, -1, SQLITE_STATIC);
        if (v[i].len)
            rc |= sqlite3_bind_blob(s, 2, v[i].blob, (int)v[i].len, SQLITE_STATIC);
        if (rc != SQLITE_OK || sq_step_done(s) != 0) {
            snprintf(what, wcap, "%s state of %s", v[i].len ? "store" : "delete", v[i].symbol);
            sqlite3_clear_bindings(s);
            return -1;
        }
        sqlite3_clear_bindings(s);
    }
    return 0;
}

static int sq_commit_all(sq_store *st, const kl_store_row_t *rows, size_t n,
                         const kl_store_state_t *states, size_t n_states,
                         const kl_store_kv_t *kv, size_t n_kv, char *err, size_t cap);

static int
sq_commit(kl_store_t *base, const kl_store_row_t *rows, size_t n, const kl_store_kv_t *kv,
          size_t n_kv, char *err, size_t cap)
{
    return sq_commit_all((sq_store *)base, rows, n, NULL, 0, kv, n_kv, err, cap);
}

static int
sq_commit_batch(kl_store_t *base, const kl_store_batch_t *b, char *err, size_t cap)
{
    return sq_commit_all((sq_store *)base, b->rows, b->n_rows, b->states, b->n_states, b->kv,
                         b->n_kv, err, cap);
}

static int
sq_commit_all(sq_store *st, const kl_store_row_t *rows, size_t n, const kl_store_state_t *states,
              size_t n_states, const kl_store_kv_t *kv, size_t n_kv, char *err, size_t cap)
{
    if (st->in_scan || st->in_symbols) {
        kl_store_errf(err, cap, "sqlite store %s: commit called from a scan callback", st->path);
        return KL_EARG;
    }
    char what[96];
    if (sq_step_done(st->begin) != 0)
        return sq_fail(st->db, st->path, "BEGIN IMMEDIATE", err, cap);
    for (size_t i = 0; i < n; i++) {
        if (sq_bind_row(st, &rows[i]) != 0 || sq_step_done(st->upsert) != 0) {
            snprintf(what, sizeof what, "upsert row %zu (%s %s %lld)", i, rows[i].symbol,
                     kl_iv_name(rows[i].iv), (long long)rows[i].k.open_time);
            goto fail;
        }
    }
    if (sq_put_states(st, states, n_states, what, sizeof what) != 0)
        goto fail;
    for (size_t i = 0; i < n_kv; i++) {
        if (sqlite3_bind_text(st->put_kv, 1, kv[i].key, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int64(st->put_kv, 2, kv[i].value) != SQLITE_OK ||
            sq_step_done(st->put_kv) != 0) {
            snprintf(what, sizeof what, "set meta '%.60s'", kv[i].key);
            goto fail;
        }
    }
    if (sq_step_done(st->commit) != 0) {
        snprintf(what, sizeof what, "COMMIT of %zu rows", n);
        goto fail;
    }
    sqlite3_clear_bindings(st->upsert);
    sqlite3_clear_bindings(st->put_kv);
    return 0;
fail:
    sq_fail(st->db, st->path, what, err, cap);
    /* A failed COMMIT (e.g. SQLITE_BUSY) leaves the transaction open: roll back whatever
     * state we are in, so the next call starts clean and nothing of this one is visible. */
    if (!sqlite3_get_autocommit(st->db))
        sq_step_done(st->rollback);
    sqlite3_clear_bindings(st->upsert);
    sqlite3_clear_bindings(st->put_kv);
    return KL_ESTORE;
}

/* ---- reads ----------------------------------------------------------------------------- */

static int
col_int(sqlite3_stmt *s, int c, int64_t *out)
{
    if (sqlite3_column_type(s, c) != SQLITE_INTEGER)
        return KL_ESTORE;
    *out = sqlite3_column_int64(s, c);
    return 0;
}

static int
col_dec(sqlite3_stmt *s, int c, kl_dec_t *out)
{
    if (sqlite3_column_type(s, c) != SQLITE_TEXT)
        return KL_ESTORE;
    const char *t = (const char *)sqlite3_column_text(s, c);
    int n = sqlite3_column_bytes(s, c);
    if (!t || kl_dec_parse(t, (size_t)n, out) != 0)
        return KL_ESTORE;
    return 0;
}

static int
col_sum(sqlite3_stmt *s, int c, int places, kl_sum_t *out)
{
    if (sqlite3_column_type(s, c) != SQLITE_TEXT)
        return KL_ESTORE;
    const char *t = (const char *)sqlite3_column_text(s, c);
    int n = sqlite3_column_bytes(s, c);
    if (!t || kl_sum_parse(t, (size_t)n, places, out) != 0)
        return KL_ESTORE;
    return 0;
}

/* Rebuilds one row from the scan's columns; any column that is not exactly what the commit
 * writes makes the whole scan fail. */
static int
sq_read_row(sqlite3_stmt *s, kl_store_row_t *r)
{
    kl_kline_t *k = &r->k;
    int64_t unit, fin;
    if (col_int(s, 0, &k->open_time) || col_int(s, 1, &k->close_time) || col_int(s, 2, &unit) ||
        col_dec(s, 3, &k->open) || col_dec(s, 4, &k->high) || col_dec(s, 5, &k->low) ||
        col_dec(s, 6, &k->close) || col_sum(s, 7, 8, &k->volume) ||
        col_sum(s, 8, 16, &k->quote) || col_int(s, 9, &k->trades) ||
        col_sum(s, 10, 8, &k->taker_base) || col_sum(s, 11, 16, &k->taker_quote) ||
        col_int(s, 12, &k->first_id) || col_int(s, 13, &k->last_id) || col_int(s, 14, &fin))
        return KL_ESTORE;
    if ((unit != 1 && unit != 1000) || (fin != 0 && fin != 1))
        return KL_ESTORE;
    r->unit_per_ms = (uint16_t)unit;
    r->is_final = (uint8_t)fin;
    return 0;
}

/* Binds (symbol, interval) as ?1, ?2 of s and fills row's key; row must outlive the steps. */
static int
sq_bind_key(sq_store *st, sqlite3_stmt *s, const char *symbol, int iv, kl_store_row_t *row)
{
    size_t len = strlen(symbol);
    if (st->in_scan || len == 0 || len >= KL_STORE_SYMBOL_MAX)
        return KL_EARG;
    memset(row, 0, sizeof *row);
    memcpy(row->symbol, symbol, len + 1);
    row->iv = (uint8_t)iv;
    if (sqlite3_bind_text(s, 1, row->symbol, (int)len, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_text(s, 2, kl_iv_name(iv), -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_clear_bindings(s);
        return KL_ESTORE;
    }
    return 0;
}

static int sq_step_rows(sq_store *st, sqlite3_stmt *s, kl_store_row_t *row, kl_store_row_fn fn,
                        void *ctx);

static int
sq_scan(kl_store_t *base, const char *symbol, int iv, kl_store_row_fn fn, void *ctx)
{
    sq_store *st = (sq_store *)base;
    kl_store_row_t row;
    int rc = sq_bind_key(st, st->scan, symbol, iv, &row);
    if (rc < 0)
        return rc;
    return sq_step_rows(st, st->scan, &row, fn, ctx);
}

static int
sq_range(kl_store_t *base, const char *symbol, int iv, int64_t lo, int64_t hi, size_t limit,
         int newest_first, kl_store_row_fn fn, void *ctx)
{
    sq_store *st = (sq_store *)base;
    sqlite3_stmt *s = st->range[newest_first ? 1 : 0];
    kl_store_row_t row;
    int rc = sq_bind_key(st, s, symbol, iv, &row);
    if (rc < 0)
        return rc;
    /* A limit beyond INT64_MAX means no limit: SQLite's LIMIT is a signed 64-bit integer. */
    int64_t lim = limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit;
    if (sqlite3_bind_int64(s, 3, lo) != SQLITE_OK || sqlite3_bind_int64(s, 4, hi) != SQLITE_OK ||
        sqlite3_bind_int64(s, 5, lim) != SQLITE_OK) {
        sqlite3_clear_bindings(s);
        return KL_ESTORE;
    }
    return sq_step_rows(st, s, &row, fn, ctx);
}

static int
sq_last_before(kl_store_t *base, const char *symbol, int iv, int64_t t, kl_store_row_t *out)
{
    sq_store *st = (sq_store *)base;
    sqlite3_stmt *s = st->last_before;
    kl_store_row_t row;
    int rc = sq_bind_key(st, s, symbol, iv, &row);
    if (rc < 0)
        return rc;
    if (sqlite3_bind_int64(s, 3, t) != SQLITE_OK) {
        rc = KL_ESTORE;
    } else {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE)
            rc = 1;
        else if (step == SQLITE_ROW && sq_read_row(s, &row) == 0)
            rc = 0;
        else
            rc = KL_ESTORE;
    }
    /* As sq_step_rows: the read transaction ends with the statement. */
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == 0)
        *out = row;
    return rc;
}

/* Steps a bound row query to its end (or fn's non-zero value, or an error), then resets it:
 * the read transaction it opened ends here, so a reader never holds back the writer's WAL
 * checkpoints between calls. */
static int
sq_step_rows(sq_store *st, sqlite3_stmt *s, kl_store_row_t *row, kl_store_row_fn fn, void *ctx)
{
    st->in_scan = 1;
    int rc;
    for (;;) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) {
            rc = 0;
            break;
        }
        if (step != SQLITE_ROW || sq_read_row(s, row) != 0) {
            rc = KL_ESTORE;
            break;
        }
        if ((rc = fn(ctx, row)) != 0)
            break;
    }
    st->in_scan = 0;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

static int
sq_symbols(kl_store_t *base, kl_store_symbol_fn fn, void *ctx)
{
    sq_store *st = (sq_store *)base;
    if (st->in_symbols)
        return KL_EARG;
    sqlite3_stmt *s = st->symbols;
    st->in_symbols = 1;
    int rc;
    for (;;) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) {
            rc = 0;
            break;
        }
        if (step != SQLITE_ROW || sqlite3_column_type(s, 0) != SQLITE_TEXT) {
            rc = KL_ESTORE;
            break;
        }
        if ((rc = fn(ctx, (const char *)sqlite3_column_text(s, 0))) != 0)
            break;
    }
    st->in_symbols = 0;
    sqlite3_reset(s);
    return rc;
}

static int
sq_get_kv(kl_store_t *base, const char *key, int64_t *value)
{
    sq_store *st = (sq_store *)base;
    sqlite3_stmt *s = st->get_kv;
    int rc;
    if (sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC) != SQLITE_OK) {
        rc = KL_ESTORE;
    } else {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) {
            rc = 1;
        } else if (step == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
            *value = sqlite3_column_int64(s, 0);
            rc = 0;
        } else {
            rc = KL_ESTORE;
        }
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

static int
sq_states(kl_store_t *base, kl_store_state_fn fn, void *ctx)
{
    sq_store *st = (sq_store *)base;
    sqlite3_stmt *s = st->states;
    int rc;
    for (;;) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) {
            rc = 0;
            break;
        }
        if (step != SQLITE_ROW || sqlite3_column_type(s, 0) != SQLITE_TEXT ||
            sqlite3_column_type(s, 1) != SQLITE_BLOB) {
            rc = KL_ESTORE;
            break;
        }
        const void *blob = sqlite3_column_blob(s, 1);
        size_t len = (size_t)sqlite3_column_bytes(s, 1);
        if ((rc = fn(ctx, (const char *)sqlite3_column_text(s, 0), blob, len)) != 0)
            break;
    }
    sqlite3_reset(s);
    return rc;
}

static int
sq_state(kl_store_t *base, const char *symbol, kl_store_state_fn fn, void *ctx)
{
    sq_store *st = (sq_store *)base;
    sqlite3_stmt *s = st->state;
    if (sqlite3_bind_text(s, 1, symbol, -1, SQLITE_STATIC) != SQLITE_OK)
        return KL_ESTORE;
    int rc, step = sqlite3_step(s);
    if (step == SQLITE_DONE)
        rc = 1;
    else if (step != SQLITE_ROW || sqlite3_column_type(s, 0) != SQLITE_BLOB)
        rc = KL_ESTORE;
    else
        rc = fn(ctx, symbol, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
    /* reset ends the read transaction: a reader never holds back the writer's checkpoints */
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

const kl_store_ops_t kl_store_sqlite_ops = {
    .scheme = "sqlite",
    .open = sq_open,
    .commit = sq_commit,
    .scan = sq_scan,
    .symbols = sq_symbols,
    .get_kv = sq_get_kv,
    .close = sq_close,
    .commit_batch = sq_commit_batch,
    .states = sq_states,
    .range = sq_range,
    .last_before = sq_last_before,
    .state = sq_state,
};
