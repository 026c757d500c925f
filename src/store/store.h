/* The store: where klines persist, behind one small vtable so SQLite (embedded default) and
 * PostgreSQL (production) are interchangeable. A kl_store_t is used by one thread at a time:
 * the persister while the service runs, or a command such as `klined export`. Other threads
 * that read (the API) open their own kl_store_t on the same URL: opening a store whose schema
 * exists already succeeds, and a reader's handle sees each commit whole or not at all, without
 * blocking the writer (SQLite in WAL mode with a busy timeout; PostgreSQL MVCC).
 *
 * DESIGN. Rows are keyed by (symbol, interval, open_time); an upsert replaces the whole row, so
 * re-sending a kline (a retry after a failed commit, a correction, a newer live state) is
 * idempotent and the latest write wins. Each kl_store_commit() is one transaction: its rows and
 * its meta values land together or not at all, which is what lets a checkpoint (meta) name
 * exactly the klines it covers. Decimals are stored exactly as text: prices and volumes with 8
 * places, quote volumes with their full 16. */
#ifndef KL_STORE_STORE_H
#define KL_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "kl/types.h"

#define KL_STORE_SYMBOL_MAX 32

typedef struct kl_store kl_store_t;

/* One kline to upsert. symbol is NUL-terminated; iv is an enum kl_iv. unit_per_ms (1 or 1000)
 * records the time unit of open_time/close_time. */
typedef struct kl_store_row {
    char symbol[KL_STORE_SYMBOL_MAX];
    uint8_t iv;
    uint8_t is_final;
    uint16_t unit_per_ms;
    kl_kline_t k;
} kl_store_row_t;

/* A symbol's engine state (kl_series_export blob) stored with the rows, so that a checkpoint can
 * be continued exactly (a removed symbol's too: its re-add resumes from it); len 0 (blob NULL)
 * deletes the symbol's state. */
typedef struct kl_store_state {
    char symbol[KL_STORE_SYMBOL_MAX];
    const void *blob;
    uint32_t len;
} kl_store_state_t;

/* A named integer stored in the same transaction as the rows (checkpoints, offsets). */
typedef struct kl_store_kv {
    const char *key;
    int64_t value;
} kl_store_kv_t;

/* Everything one checkpoint writes, in one transaction. */
typedef struct kl_store_batch {
    const kl_store_row_t *rows;
    size_t n_rows;
    const kl_store_state_t *states;
    size_t n_states;
    const kl_store_kv_t *kv;
    size_t n_kv;
} kl_store_batch_t;

/* Called once per stored engine state by kl_store_states(); blob valid only during the call. */
typedef int (*kl_store_state_fn)(void *ctx, const char *symbol, const void *blob, size_t len);

/* Called once per row by the scan functions; a non-zero return stops the scan and is returned.
 * row is valid only during the call. */
typedef int (*kl_store_row_fn)(void *ctx, const kl_store_row_t *row);
typedef int (*kl_store_symbol_fn)(void *ctx, const char *symbol);

typedef struct kl_store_ops {
    const char *scheme; /* "sqlite", "postgres" */
    int (*open)(const char *url, kl_store_t **out, char *err, size_t cap);
    int (*commit)(kl_store_t *st, const kl_store_row_t *rows, size_t n, const kl_store_kv_t *kv,
                  size_t n_kv, char *err, size_t cap);
    int (*scan)(kl_store_t *st, const char *symbol, int iv, kl_store_row_fn fn, void *ctx);
    int (*symbols)(kl_store_t *st, kl_store_symbol_fn fn, void *ctx);
    int (*get_kv)(kl_store_t *st, const char *key, int64_t *value);
    void (*close)(kl_store_t *st);
    /* Backends with engine states (checkpoints): one transaction for rows, states and kv. */
    int (*commit_batch)(kl_store_t *st, const kl_store_batch_t *b, char *err, size_t cap);
    int (*states)(kl_store_t *st, kl_store_state_fn fn, void *ctx);
    int (*range)(kl_store_t *st, const char *symbol, int iv, int64_t lo, int64_t hi, size_t limit,
                 int newest_first, kl_store_row_fn fn, void *ctx);
    int (*last_before)(kl_store_t *st, const char *symbol, int iv, int64_t t, kl_store_row_t *out);
    /* One symbol's state (optional: kl_store_state() falls back to filtering states()). */
    int (*state)(kl_store_t *st, const char *symbol, kl_store_state_fn fn, void *ctx);
    /* Optional: bound each statement of this handle (PostgreSQL statement_timeout). */
    int (*set_statement_timeout)(kl_store_t *st, int ms);
} kl_store_ops_t;

struct kl_store {
    const kl_store_ops_t *ops;
};

/* Opens the store named by url: "sqlite:PATH" (creates the file, its directory must exist) or
 * "postgres://…" / "postgresql://…". Creates the schema if missing. Returns 0 and *out, or a
 * negative code with a message in err (cap bytes) that names the store and the cause. */
int kl_store_open(const char *url, kl_store_t **out, char *err, size_t cap);

/* Upserts n rows and sets n_kv meta values in one transaction. Returns 0, or a negative code
 * with err filled; on failure nothing of the call is visible in the store. */
int kl_store_commit(kl_store_t *st, const kl_store_row_t *rows, size_t n, const kl_store_kv_t *kv,
                    size_t n_kv, char *err, size_t cap);

/* kl_store_commit() with engine states: rows, states and kv in one transaction. Returns 0,
 * KL_EARG (invalid batch, or a backend without states given states), or a store error. */
int kl_store_commit_batch(kl_store_t *st, const kl_store_batch_t *b, char *err, size_t cap);

/* Calls fn for every stored engine state, in symbol order. Returns 0, fn's value, or an error
 * (KL_EARG from a backend without states). */
int kl_store_states(kl_store_t *st, kl_store_state_fn fn, void *ctx);

/* Calls fn once with the stored engine state of symbol, if there is one: one primary-key read
 * (re-adding a removed symbol resumes from it). Returns 0 (fn was called and returned 0), fn's
 * non-zero value, 1 when the store holds no state for symbol, or a negative error (KL_EARG from
 * a backend without states). Caller: the thread using st. */
int kl_store_state(kl_store_t *st, const char *symbol, kl_store_state_fn fn, void *ctx);

/* Calls fn for every row of (symbol, iv) in ascending open_time. Returns 0, fn's non-zero
 * value, or a negative store error. */
int kl_store_scan(kl_store_t *st, const char *symbol, int iv, kl_store_row_fn fn, void *ctx);

/* Calls fn for the rows of (symbol, iv) with lo <= open_time <= hi (in the rows' own unit), at
 * most limit rows: the lowest open_times first (newest_first = 0) or the highest first
 * (newest_first = 1; fn then sees them in DESCENDING order). limit 0 calls fn for no row; lo > hi
 * is an empty range. Served by the primary key index with bound parameters only. Returns 0,
 * fn's non-zero value, or a negative store error (KL_EARG for a NULL argument or a bad iv).
 * Caller: the thread using st; for reads beside a writer, open a second kl_store_t on the same
 * URL in the reading thread. */
int kl_store_range(kl_store_t *st, const char *symbol, int iv, int64_t lo, int64_t hi,
                   size_t limit, int newest_first, kl_store_row_fn fn, void *ctx);

/* Reads the last row of (symbol, iv) with open_time < t (in the rows' own unit): the kline
 * before a window that starts inside a gap, whose close the window's implied holes show
 * (engine/kfill.h). One statement served by the primary key index (a backward walk stopped at
 * its first row), with bound parameters only. Returns 0 with *out filled, 1 when no row opens
 * before t, or a negative store error (KL_EARG for a NULL argument, a bad iv, or a call from
 * inside a scan or range callback, as for kl_store_range). *out only on 0. Caller: the thread
 * using st. */
int kl_store_last_before(kl_store_t *st, const char *symbol, int iv, int64_t t,
                         kl_store_row_t *out);

/* Makes every later statement of st fail (a store error) when it runs longer than ms; 0 = no
 * bound. Kept across reconnects. PostgreSQL: statement_timeout of the session; backends
 * without statements that can hang on a peer (SQLite) ignore it. Returns 0 or a store error.
 * Caller: the thread using st (the API's readers bound their reads with it; the persister's
 * commits are not bounded, since a large checkpoint may take long and is retried whole). */
int kl_store_set_statement_timeout(kl_store_t *st, int ms);

/* Calls fn for every distinct symbol, in ascending order. */
int kl_store_symbols(kl_store_t *st, kl_store_symbol_fn fn, void *ctx);

/* Reads a meta value. Returns 0 and *value, 1 when the key is absent, or a negative error. */
int kl_store_get_kv(kl_store_t *st, const char *key, int64_t *value);

void kl_store_close(kl_store_t *st);

#endif
