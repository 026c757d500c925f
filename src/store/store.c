/* The store front end: picks a backend from the URL's scheme and checks every batch before a
 * backend sees it, so that an invalid row fails a kl_store_commit() before anything is written
 * and every backend rejects exactly the same inputs. */
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/interval.h"
#include "kl/err.h"
#include "store/store_int.h"

void
kl_store_errf(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

int
kl_store_open(const char *url, kl_store_t **out, char *err, size_t cap)
{
    if (!url || !out) {
        kl_store_errf(err, cap, "store: no URL given");
        return KL_EARG;
    }
    if (strncmp(url, "sqlite:", 7) == 0)
        return kl_store_sqlite_ops.open(url, out, err, cap);
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return kl_store_pg_ops.open(url, out, err, cap);
    kl_store_errf(err, cap,
                  "store URL '%s': unknown scheme (allowed: sqlite:PATH, postgres://..., "
                  "postgresql://...)",
                  url);
    return KL_EARG;
}

/* A batch is all valid or not written at all: a bad row found halfway through would otherwise
 * cost a rollback of everything before it, and a backend could not report it any better. */
static int
check_batch(const kl_store_row_t *rows, size_t n, const kl_store_kv_t *kv, size_t n_kv,
            char *err, size_t cap)
{
    if ((n > 0 && !rows) || (n_kv > 0 && !kv)) {
        kl_store_errf(err, cap, "store commit: NULL rows or meta with a non-zero count");
        return KL_EARG;
    }
    for (size_t i = 0; i < n; i++) {
        const kl_store_row_t *r = &rows[i];
        size_t len = strnlen(r->symbol, KL_STORE_SYMBOL_MAX);
        if (len == 0 || len == KL_STORE_SYMBOL_MAX) {
            kl_store_errf(err, cap,
                          "store commit: row %zu: symbol is empty or not NUL-terminated within "
                          "%d bytes",
                          i, KL_STORE_SYMBOL_MAX);
            return KL_EARG;
        }
        if (r->iv >= KL_IV_COUNT) {
            kl_store_errf(err, cap, "store commit: row %zu (%s): interval id %u is not < %d", i,
                          r->symbol, (unsigned)r->iv, KL_IV_COUNT);
            return KL_EARG;
        }
        if (r->unit_per_ms != 1 && r->unit_per_ms != 1000) {
            kl_store_errf(err, cap,
                          "store commit: row %zu (%s %s): unit_per_ms %u is not 1 or 1000", i,
                          r->symbol, kl_iv_name(r->iv), (unsigned)r->unit_per_ms);
            return KL_EARG;
        }
        if (r->is_final > 1) {
            kl_store_errf(err, cap, "store commit: row %zu (%s %s): is_final %u is not 0 or 1", i,
                          r->symbol, kl_iv_name(r->iv), (unsigned)r->is_final);
            return KL_EARG;
        }
    }
    for (size_t i = 0; i < n_kv; i++) {
        if (!kv[i].key || kv[i].key[0] == '\0') {
            kl_store_errf(err, cap, "store commit: meta %zu has an empty key", i);
            return KL_EARG;
        }
    }
    return 0;
}

int
kl_store_commit(kl_store_t *st, const kl_store_row_t *rows, size_t n, const kl_store_kv_t *kv,
                size_t n_kv, char *err, size_t cap)
{
    if (!st) {
        kl_store_errf(err, cap, "store commit: no store");
        return KL_EARG;
    }
    int rc = check_batch(rows, n, kv, n_kv, err, cap);
    if (rc < 0)
        return rc;
    return st->ops->commit(st, rows, n, kv, n_kv, err, cap);
}

int
kl_store_commit_batch(kl_store_t *st, const kl_store_batch_t *b, char *err, size_t cap)
{
    if (!st || !b) {
        kl_store_errf(err, cap, "store commit: no store or batch");
        return KL_EARG;
    }
    if (b->n_states > 0 && !st->ops->commit_batch) {
        kl_store_errf(err, cap, "store commit: the %s store keeps no engine states",
                      st->ops->scheme);
        return KL_EARG;
    }
    int rc = check_batch(b->rows, b->n_rows, b->kv, b->n_kv, err, cap);
    if (rc < 0)
        return rc;
    if ((b->n_states > 0 && !b->states)) {
        kl_store_errf(err, cap, "store commit: NULL states with a non-zero count");
        return KL_EARG;
    }
    for (size_t i = 0; i < b->n_states; i++) {
        size_t len = strnlen(b->states[i].symbol, KL_STORE_SYMBOL_MAX);
        if (len == 0 || len == KL_STORE_SYMBOL_MAX || (b->states[i].len && !b->states[i].blob)) {
            kl_store_errf(err, cap, "store commit: state %zu: bad symbol or NULL blob", i);
            return KL_EARG;
        }
    }
    if (!st->ops->commit_batch)
        return st->ops->commit(st, b->rows, b->n_rows, b->kv, b->n_kv, err, cap);
    return st->ops->commit_batch(st, b, err, cap);
}

int
kl_store_states(kl_store_t *st, kl_store_state_fn fn, void *ctx)
{
    if (!st || !fn || !st->ops->states)
        return KL_EARG;
    return st->ops->states(st, fn, ctx);
}

typedef struct one_state {
    const char *symbol;
    kl_store_state_fn fn;
    void *ctx;
    int found, rc;
} one_state_t;

static int
one_state(void *ctx, const char *symbol, const void *blob, size_t len)
{
    one_state_t *o = ctx;
    if (strcmp(symbol, o->symbol) != 0)
        return 0;
    o->found = 1;
    o->rc = o->fn(o->ctx, symbol, blob, len);
    return 1; /* found: stop the scan */
}

int
kl_store_state(kl_store_t *st, const char *symbol, kl_store_state_fn fn, void *ctx)
{
    if (!st || !symbol || !fn || !st->ops->states)
        return KL_EARG;
    if (st->ops->state)
        return st->ops->state(st, symbol, fn, ctx);
    /* A backend without a keyed read: the whole table, once, for a rare call. */
    one_state_t o = {symbol, fn, ctx, 0, 0};
    int rc = st->ops->states(st, one_state, &o);
    if (o.found)
        return o.rc;
    return rc < 0 ? rc : 1;
}

int
kl_store_scan(kl_store_t *st, const char *symbol, int iv, kl_store_row_fn fn, void *ctx)
{
    if (!st || !symbol || !fn || iv < 0 || iv >= KL_IV_COUNT)
        return KL_EARG;
    return st->ops->scan(st, symbol, iv, fn, ctx);
}

int
kl_store_range(kl_store_t *st, const char *symbol, int iv, int64_t lo, int64_t hi, size_t limit,
               int newest_first, kl_store_row_fn fn, void *ctx)
{
    if (!st || !symbol || !fn || iv < 0 || iv >= KL_IV_COUNT || !st->ops->range)
        return KL_EARG;
    /* Decided here so that no backend has to bind an empty range or a LIMIT of 0. */
    if (limit == 0 || lo > hi)
        return 0;
    return st->ops->range(st, symbol, iv, lo, hi, limit, newest_first != 0, fn, ctx);
}

int
kl_store_last_before(kl_store_t *st, const char *symbol, int iv, int64_t t, kl_store_row_t *out)
{
    if (!st || !symbol || !out || iv < 0 || iv >= KL_IV_COUNT || !st->ops->last_before)
        return KL_EARG;
    if (t == INT64_MIN) /* nothing opens before it: no backend binds that edge */
        return 1;
    return st->ops->last_before(st, symbol, iv, t, out);
}

int
kl_store_symbols(kl_store_t *st, kl_store_symbol_fn fn, void *ctx)
{
    if (!st || !fn)
        return KL_EARG;
    return st->ops->symbols(st, fn, ctx);
}

int
kl_store_get_kv(kl_store_t *st, const char *key, int64_t *value)
{
    if (!st || !key || !value)
        return KL_EARG;
    return st->ops->get_kv(st, key, value);
}

void
kl_store_close(kl_store_t *st)
{
    if (st)
        st->ops->close(st);
}

int
kl_store_set_statement_timeout(kl_store_t *st, int ms)
{
    if (!st || ms < 0)
        return KL_EARG;
    return st->ops->set_statement_timeout ? st->ops->set_statement_timeout(st, ms) : 0;
}
