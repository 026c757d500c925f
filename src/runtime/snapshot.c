/* Dirty set and double buffer; see snapshot.h for the design and its guarantees. */
#include "runtime/snapshot.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "kl/err.h"

typedef struct rowbuf {
    kl_store_row_t *rows;
    size_t n, cap;
} rowbuf_t;

/* States: fixed entries pointing into a byte arena (offsets, so the arena may move). */
typedef struct statebuf {
    kl_store_state_t *v;
    size_t *off;
    size_t n, cap;
    uint8_t *bytes;
    size_t used, bytes_cap;
} statebuf_t;

typedef struct dirtyset {
    uint64_t *bits;
    uint32_t *list;
    size_t n;
} dirtyset_t;

struct kl_snap {
    size_t n_slots;
    dirtyset_t dirty, flight;
    rowbuf_t buf[2];
    statebuf_t sb[2];
    int active;
    int in_flight;
};

static int
dirty_resize(dirtyset_t *d, size_t old_slots, size_t n_slots)
{
    size_t ow = (old_slots + 63) / 64, nw = (n_slots + 63) / 64;
    uint64_t *bits = kl_calloc(nw ? nw : 1, sizeof *bits);
    uint32_t *list = kl_calloc(n_slots ? n_slots : 1, sizeof *list);
    if (!bits || !list) {
        kl_free(bits);
        kl_free(list);
        return KL_ENOMEM;
    }
    if (d->bits) {
        memcpy(bits, d->bits, ow * sizeof *bits);
        memcpy(list, d->list, d->n * sizeof *list);
    }
    kl_free(d->bits);
    kl_free(d->list);
    d->bits = bits;
    d->list = list;
    return 0;
}

static int
rowbuf_reserve(rowbuf_t *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 1024;
    while (ncap < need)
        ncap *= 2;
    kl_store_row_t *nr = kl_alloc(ncap * sizeof *nr);
    if (!nr)
        return KL_ENOMEM;
    if (b->n)
        memcpy(nr, b->rows, b->n * sizeof *nr);
    kl_free(b->rows);
    b->rows = nr;
    b->cap = ncap;
    return 0;
}

static void
statebuf_free(statebuf_t *b)
{
    kl_free(b->v);
    kl_free(b->off);
    kl_free(b->bytes);
    memset(b, 0, sizeof *b);
}

static int
statebuf_add(statebuf_t *b, const char *symbol, const void *blob, size_t len)
{
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 256;
        kl_store_state_t *nv = kl_alloc(ncap * sizeof *nv);
        size_t *no = nv ? kl_alloc(ncap * sizeof *no) : NULL;
        if (!no) {
            kl_free(nv);
            return KL_ENOMEM;
        }
        if (b->n) {
            memcpy(nv, b->v, b->n * sizeof *nv);
            memcpy(no, b->off, b->n * sizeof *no);
        }
        kl_free(b->v);
        kl_free(b->off);
        b->v = nv;
        b->off = no;
        b->cap = ncap;
    }
    if (b->used + len > b->bytes_cap) {
        size_t ncap = b->bytes_cap ? b->bytes_cap : 65536;
        while (ncap < b->used + len)
            ncap *= 2;
        uint8_t *nb = kl_alloc(ncap);
        if (!nb)
            return KL_ENOMEM;
        if (b->used)
            memcpy(nb, b->bytes, b->used);
        kl_free(b->bytes);
        b->bytes = nb;
        b->bytes_cap = ncap;
    }
    kl_store_state_t *e = &b->v[b->n];
    memset(e->symbol, 0, sizeof e->symbol);
    snprintf(e->symbol, sizeof e->symbol, "%s", symbol);
    e->len = (uint32_t)len;
    e->blob = NULL;
    b->off[b->n++] = b->used;
    if (len)
        memcpy(b->bytes + b->used, blob, len);
    b->used += len;
    return 0;
}

/* Points every entry at its bytes (done when freezing: the arena no longer moves). */
static void
statebuf_fix(statebuf_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        b->v[i].blob = b->v[i].len ? b->bytes + b->off[i] : NULL;
}

int
kl_snap_add_state(kl_snap_t *s, const char *symbol, const void *blob, size_t len)
{
    return statebuf_add(&s->sb[s->active], symbol, blob, len);
}

kl_snap_t *
kl_snap_create(size_t n_slots)
{
    kl_snap_t *s = kl_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (dirty_resize(&s->dirty, 0, n_slots) != 0 || dirty_resize(&s->flight, 0, n_slots) != 0) {
        kl_snap_destroy(s);
        return NULL;
    }
    s->n_slots = n_slots;
    return s;
}

void
kl_snap_destroy(kl_snap_t *s)
{
    if (!s)
        return;
    kl_free(s->dirty.bits);
    kl_free(s->dirty.list);
    kl_free(s->flight.bits);
    kl_free(s->flight.list);
    kl_free(s->buf[0].rows);
    kl_free(s->buf[1].rows);
    statebuf_free(&s->sb[0]);
    statebuf_free(&s->sb[1]);
    kl_free(s);
}

int
kl_snap_grow(kl_snap_t *s, size_t n_slots)
{
    if (n_slots <= s->n_slots)
        return 0;
    dirtyset_t d = s->dirty, f = s->flight;
    /* Build both before committing either, so a failure leaves the state as it was. */
    dirtyset_t nd = {0}, nf = {0};
    if (dirty_resize(&nd, 0, n_slots) != 0 || dirty_resize(&nf, 0, n_slots) != 0) {
        kl_free(nd.bits);
        kl_free(nd.list);
        return KL_ENOMEM;
    }
    size_t ow = (s->n_slots + 63) / 64;
    if (ow) {
        memcpy(nd.bits, d.bits, ow * sizeof *d.bits);
        memcpy(nf.bits, f.bits, ow * sizeof *f.bits);
    }
    if (d.n)
        memcpy(nd.list, d.list, d.n * sizeof *d.list);
    nd.n = d.n;
    if (f.n)
        memcpy(nf.list, f.list, f.n * sizeof *f.list);
    nf.n = f.n;
    kl_free(d.bits);
    kl_free(d.list);
    kl_free(f.bits);
    kl_free(f.list);
    s->dirty = nd;
    s->flight = nf;
    s->n_slots = n_slots;
    return 0;
}

void
kl_snap_mark(kl_snap_t *s, uint32_t slot)
{
    uint64_t bit = (uint64_t)1 << (slot & 63);
    uint64_t *w = &s->dirty.bits[slot >> 6];
    if (!(*w & bit)) {
        *w |= bit;
        s->dirty.list[s->dirty.n++] = slot;
    }
}

int
kl_snap_add_row(kl_snap_t *s, const kl_store_row_t *row)
{
    rowbuf_t *b = &s->buf[s->active];
    if (b->n == b->cap && rowbuf_reserve(b, b->n + 1) != 0)
        return KL_ENOMEM;
    b->rows[b->n++] = *row;
    return 0;
}

int
kl_snap_take(kl_snap_t *s, kl_snap_fill_fn fill, void *ctx, kl_snap_batch_t *batch)
{
    if (s->in_flight)
        return KL_EFULL;
    rowbuf_t *b = &s->buf[s->active];
    statebuf_t *sb = &s->sb[s->active];
    size_t n_before = b->n, ns_before = sb->n, used_before = sb->used;
    for (size_t i = 0; i < s->dirty.n; i++) {
        int rc = fill(ctx, s, s->dirty.list[i]);
        if (rc != 0) {
            b->n = n_before; /* undo: the dirty set still holds every slot */
            sb->n = ns_before;
            sb->used = used_before;
            return rc;
        }
    }
    statebuf_fix(sb);
    batch->states = sb->v;
    batch->n_states = sb->n;
    /* The dirty set becomes the in-flight set; the (empty) in-flight set becomes the new dirty
     * set. */
    dirtyset_t t = s->flight;
    s->flight = s->dirty;
    s->dirty = t;
    batch->rows = b->rows;
    batch->n = b->n;
    s->active ^= 1;
    s->in_flight = 1;
    return 0;
}

static void
dirty_clear(dirtyset_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        d->bits[d->list[i] >> 6] = 0;
    d->n = 0;
}

void
kl_snap_ack(kl_snap_t *s)
{
    if (!s->in_flight)
        return;
    dirty_clear(&s->flight);
    s->buf[s->active ^ 1].n = 0;
    s->sb[s->active ^ 1].n = 0;
    s->sb[s->active ^ 1].used = 0;
    s->in_flight = 0;
}

int
kl_snap_fail(kl_snap_t *s)
{
    if (!s->in_flight)
        return 0;
    rowbuf_t *frozen = &s->buf[s->active ^ 1], *act = &s->buf[s->active];
    statebuf_t *fs = &s->sb[s->active ^ 1], *as = &s->sb[s->active];
    /* Everything that can fail first, so a failure changes nothing. States: the frozen batch's
     * removals, then the active ones; exported states are dropped (their slots are dirty again
     * and are exported afresh). */
    statebuf_t merged = {0};
    for (size_t i = 0; i < fs->n; i++)
        if (fs->v[i].len == 0 && statebuf_add(&merged, fs->v[i].symbol, NULL, 0) != 0)
            goto nomem;
    for (size_t i = 0; i < as->n; i++)
        if (statebuf_add(&merged, as->v[i].symbol, as->bytes + as->off[i], as->v[i].len) != 0)
            goto nomem;
    size_t k = 0;
    for (size_t i = 0; i < frozen->n; i++)
        k += frozen->rows[i].is_final;
    if (rowbuf_reserve(frozen, k + act->n) != 0)
        goto nomem;
    /* Rows: the frozen batch's final rows (current rows are re-read from the dirty slots), then
     * the newer active rows; the frozen buffer becomes the active one. */
    k = 0;
    for (size_t i = 0; i < frozen->n; i++)
        if (frozen->rows[i].is_final)
            frozen->rows[k++] = frozen->rows[i];
    if (act->n)
        memcpy(frozen->rows + k, act->rows, act->n * sizeof *act->rows);
    frozen->n = k + act->n;
    act->n = 0;
    statebuf_free(fs);
    statebuf_free(as);
    *fs = merged;
    s->active ^= 1;
    for (size_t i = 0; i < s->flight.n; i++)
        kl_snap_mark(s, s->flight.list[i]);
    dirty_clear(&s->flight);
    s->in_flight = 0;
    return 0;
nomem:
    statebuf_free(&merged);
    return KL_ENOMEM;
}

int
kl_snap_in_flight(const kl_snap_t *s)
{
    return s->in_flight;
}

int
kl_snap_clean(const kl_snap_t *s, uint32_t slot)
{
    if (slot >= s->n_slots)
        return 1;
    uint64_t bit = (uint64_t)1 << (slot & 63);
    return !(s->dirty.bits[slot >> 6] & bit) &&
           !(s->in_flight && (s->flight.bits[slot >> 6] & bit));
}

size_t
kl_snap_dirty_count(const kl_snap_t *s)
{
    return s->dirty.n;
}

size_t
kl_snap_pending_rows(const kl_snap_t *s)
{
    return s->buf[s->active].n;
}

size_t
kl_snap_backlog_rows(const kl_snap_t *s)
{
    return s->buf[s->active].n + (s->in_flight ? s->buf[s->active ^ 1].n : 0);
}

int
kl_snap_each_pending(const kl_snap_t *s, kl_store_row_fn fn, void *ctx)
{
    /* The in-flight buffer is older than the active one: visit it first. The persister only
     * reads it, so reading it here too is safe. */
    const rowbuf_t *order[2] = {s->in_flight ? &s->buf[1 - s->active] : NULL, &s->buf[s->active]};
    for (int b = 0; b < 2; b++)
        for (size_t i = 0; order[b] && i < order[b]->n; i++) {
            int rc = fn(ctx, &order[b]->rows[i]);
            if (rc != 0)
                return rc;
        }
    return 0;
}
