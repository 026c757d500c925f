/* The API's view of live klines: which (symbol, interval) pairs are watched, what the workers
 * sent about them (live kline, recent finals), the fan-out of each change to WS subscriptions,
 * and the merge of store rows with that memory for REST. API thread only, but for
 * api_hub_klines/api_hub_seed, which reader threads run on a copy of a pair's memory.
 *
 * Memory. Each symbol's pairs are allocated on first use and freed when unwatched; the symbols
 * sit in an LRU list, and when their bytes exceed api-cache-bytes the least recently used ones
 * that no WS stream and no waiting request pins are unwatched and freed (a later query watches
 * them again: the worker re-sends what the store does not have). */
#include "api/api_int.h"

#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "engine/kfill.h"
#include "kl/err.h"

#define DRAIN_BATCH 256

int
api_hub_init(kl_api_t *a)
{
    a->drain = kl_alloc(DRAIN_BATCH * sizeof *a->drain);
    return a->drain ? 0 : KL_ENOMEM;
}

static void
symw_free(symw_t *w)
{
    for (int iv = 0; iv < KL_IV_COUNT; iv++)
        kl_free(w->pair[iv]);
    kl_free(w);
}

void
api_hub_fini(kl_api_t *a)
{
    for (size_t i = 0; i < a->by_sym_cap; i++)
        if (a->by_sym[i])
            symw_free(a->by_sym[i]);
    kl_free(a->by_sym);
    kl_free(a->drain);
    a->by_sym = NULL;
    a->by_sym_cap = 0;
}

static symw_t *
find(kl_api_t *a, uint32_t sym)
{
    return sym < a->by_sym_cap ? a->by_sym[sym] : NULL;
}

/* ---- LRU and the byte bound ------------------------------------------------------------- */

static void
lru_unlink(kl_api_t *a, symw_t *w)
{
    if (!w->lru_prev && a->lru_head != w)
        return; /* not in the list */
    if (w->lru_prev)
        w->lru_prev->lru_next = w->lru_next;
    else
        a->lru_head = w->lru_next;
    if (w->lru_next)
        w->lru_next->lru_prev = w->lru_prev;
    else
        a->lru_tail = w->lru_prev;
    w->lru_prev = w->lru_next = NULL;
}

static void
lru_touch(kl_api_t *a, symw_t *w)
{
    if (a->lru_head == w)
        return;
    lru_unlink(a, w);
    w->lru_next = a->lru_head;
    if (a->lru_head)
        a->lru_head->lru_prev = w;
    a->lru_head = w;
    if (!a->lru_tail)
        a->lru_tail = w;
}

static int
pinned(const symw_t *w)
{
    if (w->n_waiters)
        return 1;
    for (int iv = 0; iv < KL_IV_COUNT; iv++)
        if (w->pair[iv] && w->pair[iv]->subs)
            return 1;
    return 0;
}

static void send_watch(kl_api_t *a, symw_t *w);

/* Unwatches and frees w (not pinned). */
static void
symw_drop(kl_api_t *a, symw_t *w)
{
    if (w->asked) { /* tell the worker; if its ring is full, what it still sends is ignored */
        w->want = 0;
        send_watch(a, w);
    }
    lru_unlink(a, w);
    for (int iv = 0; iv < KL_IV_COUNT; iv++)
        if (w->pair[iv])
            a->cache_bytes -= sizeof(pair_t);
    a->cache_bytes -= sizeof(symw_t);
    a->cache_symbols--;
    a->by_sym[w->sym] = NULL;
    symw_free(w);
}

/* Evicts least recently used symbols, never keep nor a pinned one, until the bytes fit. */
static void
evict(kl_api_t *a, const symw_t *keep)
{
    symw_t *w = a->lru_tail;
    while (w && a->cache_bytes > (size_t)a->cfg->api_cache_bytes) {
        symw_t *prev = w->lru_prev;
        if (w != keep && !pinned(w)) {
            symw_drop(a, w);
            a->cache_evictions++;
        }
        w = prev;
    }
}

/* The pair (w, iv), allocated on first use. NULL when out of memory. */
static pair_t *
pair_get(kl_api_t *a, symw_t *w, int iv)
{
    if (!w->pair[iv]) {
        w->pair[iv] = kl_calloc(1, sizeof(pair_t));
        if (!w->pair[iv])
            return NULL;
        a->cache_bytes += sizeof(pair_t);
        evict(a, w);
    }
    return w->pair[iv];
}

static void
pair_free(kl_api_t *a, symw_t *w, int iv)
{
    if (w->pair[iv] && !w->pair[iv]->subs) {
        kl_free(w->pair[iv]);
        w->pair[iv] = NULL;
        a->cache_bytes -= sizeof(pair_t);
    }
}

symw_t *
api_hub_find(kl_api_t *a, uint32_t sym)
{
    return find(a, sym);
}

pair_t *
api_hub_pair(kl_api_t *a, uint32_t sym, int iv)
{
    symw_t *w = find(a, sym);
    return w && iv >= 0 && iv < KL_IV_COUNT ? w->pair[iv] : NULL;
}

symw_t *
api_hub_get(kl_api_t *a, uint32_t sym)
{
    if (sym >= a->by_sym_cap) {
        size_t ncap = a->by_sym_cap ? a->by_sym_cap : 256;
        while (ncap <= sym)
            ncap *= 2;
        symw_t **nb = kl_calloc(ncap, sizeof *nb);
        if (!nb)
            return NULL;
        if (a->by_sym_cap)
            memcpy(nb, a->by_sym, a->by_sym_cap * sizeof *nb);
        kl_free(a->by_sym);
        a->by_sym = nb;
        a->by_sym_cap = ncap;
    }
    if (!a->by_sym[sym]) {
        symw_t *w = kl_calloc(1, sizeof *w);
        if (!w)
            return NULL;
        w->sym = sym;
        w->unit = 1;
        a->by_sym[sym] = w;
        a->cache_bytes += sizeof *w;
        a->cache_symbols++;
        lru_touch(a, w);
        evict(a, w);
    }
    return a->by_sym[sym];
}

/* Tells the owning worker the pair mask of w. A full request ring is retried at the next tick
 * (token stays 0). */
static void
send_watch(kl_api_t *a, symw_t *w)
{
    kl_syminfo_t info;
    if (kl_symreg_get(a->d.reg, w->sym, &info) != 0 || !info.live || info.worker < 0 ||
        info.worker >= a->d.n_workers)
        return;
    kl_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = KL_MSG_WATCH;
    m.sym = w->sym;
    m.u.watch.mask = w->want;
    if (++a->next_token == 0)
        a->next_token = 1;
    m.u.watch.token = a->next_token;
    kl_worker_t *wk = a->d.workers[info.worker];
    if (kl_ring_try_push(kl_worker_api_ring(wk), &m) != 0)
        return;
    kl_wake_notify(kl_worker_wake(wk));
    w->asked = w->want;
    w->token = m.u.watch.token;
    w->asked_ms = kl_mono_ms();
    w->epoch = kl_symreg_epoch(a->d.reg);
}

pair_t *
api_hub_use(kl_api_t *a, uint32_t sym, int iv)
{
    symw_t *w = api_hub_get(a, sym);
    if (!w)
        return NULL;
    lru_touch(a, w);
    pair_t *p = pair_get(a, w, iv);
    if (!p)
        return NULL;
    p->used_ms = kl_mono_ms();
    if (!(w->want >> iv & 1)) {
        w->want |= 1u << iv;
        w->synced &= ~(1u << iv);
        send_watch(a, w);
    }
    return (w->synced >> iv & 1) ? p : NULL;
}

int
api_hub_sub(kl_api_t *a, sub_t *u)
{
    symw_t *w = api_hub_get(a, u->sym);
    if (!w)
        return KL_ENOMEM;
    api_hub_use(a, u->sym, u->src_iv);
    pair_t *p = pair_get(a, w, u->src_iv);
    if (!p)
        return KL_ENOMEM;
    u->next_in_pair = p->subs;
    p->subs = u;
    return 0;
}

void
api_hub_unsub(kl_api_t *a, sub_t *u)
{
    symw_t *w = find(a, u->sym);
    pair_t *p = w ? w->pair[u->src_iv] : NULL;
    if (!p)
        return;
    for (sub_t **pp = &p->subs; *pp; pp = &(*pp)->next_in_pair)
        if (*pp == u) {
            *pp = u->next_in_pair;
            break;
        }
    p->used_ms = kl_mono_ms(); /* idle from now */
}

/* ---- what the workers send -------------------------------------------------------------- */

static const kl_kline_t *
fin_at(const pair_t *p, unsigned i)
{
    return &p->fin[(p->fin_head + i) % API_FINALS_KEEP];
}

static void
fin_add(pair_t *p, const kl_kline_t *k)
{
    if (p->fin_n) {
        kl_kline_t *last = (kl_kline_t *)fin_at(p, p->fin_n - 1);
        if (k->open_time < last->open_time) { /* a correction of an older final */
            for (unsigned i = 0; i < p->fin_n; i++)
                if (fin_at(p, i)->open_time == k->open_time)
                    *(kl_kline_t *)fin_at(p, i) = *k;
            return;
        }
        if (k->open_time == last->open_time) {
            *last = *k;
            return;
        }
    }
    if (p->fin_n == API_FINALS_KEEP) {
        p->fin_head = (p->fin_head + 1) % API_FINALS_KEEP;
        p->fin_n--;
    }
    p->fin[(p->fin_head + p->fin_n) % API_FINALS_KEEP] = *k;
    p->fin_n++;
}

static void
on_msg(kl_api_t *a, const kl_pub_msg_t *m)
{
    symw_t *w = find(a, m->sym);
    if (!w)
        return;
    if (m->type == KL_PUB_SYNC_END) {
        if (m->token != w->token)
            return; /* an older request; a newer one is in flight */
        w->synced |= w->asked;
        w->token = 0;
        if (m->unit_per_ms)
            w->unit = m->unit_per_ms;
        for (sess_t **pp = &a->waiters; *pp;) {
            sess_t *s = *pp;
            if (s->wait_sym == m->sym) {
                *pp = s->wait_next;
                w->n_waiters--;
                api_rest_ready(a, s, 0);
            } else {
                pp = &s->wait_next;
            }
        }
        return;
    }
    if (m->iv < 0 || m->iv >= KL_IV_COUNT || !(w->want >> m->iv & 1) || !w->pair[m->iv])
        return;
    pair_t *p = w->pair[m->iv];
    w->unit = m->unit_per_ms;
    int final = m->type == KL_PUB_FINAL;
    if (final) {
        fin_add(p, &m->k);
        if (p->have_live && p->live.open_time <= m->k.open_time)
            p->have_live = 0;
    } else {
        p->live = m->k;
        p->have_live = 1;
    }
    if (p->subs) {
        for (sub_t *u = p->subs, *next; u; u = next) {
            next = u->next_in_pair; /* a push may drop the session (slow client) */
            api_ws_push(a, u, &m->k, final, m->t_ns);
        }
        kl_hist_record(&a->lat_queue, kl_mono_ns() - m->t_ns);
    }
}

void
api_hub_drain(kl_api_t *a)
{
    for (int rounds = 0; rounds < 64; rounds++) {
        for (int i = 0; i < a->d.n_workers; i++) {
            size_t n;
            while ((n = kl_pubring_pop(&a->pub[i], a->drain, DRAIN_BATCH)) > 0) {
                for (size_t j = 0; j < n; j++)
                    on_msg(a, &a->drain[j]);
            }
        }
        /* Arm, then look once more: a flush that came before the arm did not wake us. */
        int pending = 0;
        for (int i = 0; i < a->d.n_workers; i++) {
            kl_pubring_arm(&a->pub[i]);
            pending |= kl_pubring_pending(&a->pub[i]);
        }
        if (!pending)
            return;
    }
    lws_cancel_service(a->ctx); /* still more: come back after serving the sockets */
}

/* ---- periodic: timeouts, expiry, registry changes ---------------------------------------- */

static void
pair_reset(pair_t *p)
{
    if (!p)
        return;
    p->have_live = 0;
    p->fin_n = p->fin_head = 0;
}

void
api_hub_tick(kl_api_t *a)
{
    int64_t now = kl_mono_ms();
    for (sess_t **pp = &a->waiters; *pp;) {
        sess_t *s = *pp;
        if (now >= s->wait_deadline_ms) {
            *pp = s->wait_next;
            symw_t *w = find(a, s->wait_sym);
            if (w)
                w->n_waiters--;
            a->sync_timeouts++;
            api_rest_ready(a, s, 1);
        } else {
            pp = &s->wait_next;
        }
    }
    uint64_t epoch = kl_symreg_epoch(a->d.reg);
    for (size_t i = 0; i < a->by_sym_cap; i++) {
        symw_t *w = a->by_sym[i];
        if (!w)
            continue;
        if (!w->want) { /* nothing watched, the worker told: free it */
            if (!w->asked && !pinned(w))
                symw_drop(a, w);
            else if (w->asked && !w->token)
                send_watch(a, w); /* an unwatch the full ring refused */
            continue;
        }
        if (w->token && now - w->asked_ms > API_SYNC_TIMEOUT_MS)
            w->token = 0; /* its answer was dropped (a full ring): ask again below */
        uint32_t want = w->want;
        for (int iv = 0; iv < KL_IV_COUNT; iv++)
            if ((want >> iv & 1) && (!w->pair[iv] || (!w->pair[iv]->subs &&
                                                      now - w->pair[iv]->used_ms >
                                                          API_WATCH_IDLE_MS))) {
                want &= ~(1u << iv);
                pair_free(a, w, iv);
            }
        if (w->epoch != epoch && w->token == 0) {
            /* A symbol was removed somewhere: if it was this one, a re-added slot starts with
             * no watch; asking again re-syncs whatever the worker does not publish. */
            kl_syminfo_t info;
            if (kl_symreg_get(a->d.reg, w->sym, &info) != 0 || !info.live) {
                for (int iv = 0; iv < KL_IV_COUNT; iv++)
                    pair_reset(w->pair[iv]);
                w->synced = 0;
                w->epoch = epoch;
                continue;
            }
            w->want = want;
            w->synced = 0;
            send_watch(a, w);
            continue;
        }
        if (want != w->want || (w->token == 0 && (w->synced & want) != want)) {
            w->want = want;
            w->synced &= want;
            send_watch(a, w);
        }
    }
}

/* ---- store + memory, for REST ----------------------------------------------------------- */

/* DESIGN. An answer is a window of the filled series: the store's rows, overlaid with the
 * pair's memory (recent finals and the live kline win over the store's older version of the
 * same open_time), with the implied holes of every gap filled in (engine/kfill.h). At most
 * `limit` known klines are read, since each is at least one kline of the answer; a window that
 * starts inside a gap reads the kline before it (kl_store_last_before) for the holes' price,
 * and one that ends inside a gap reads the first kline after it, since holes exist only
 * between two klines: none is made up before the series' first kline or after its live one.
 * Holes are generated from the window's edge, never walked to from the gap's start, so an
 * answer costs O(limit) whatever the gap's length. */

typedef struct collect {
    kl_kline_t *v;
    size_t n, cap;
    int oom;
} collect_t;

static int
collect_row(void *ctx, const kl_store_row_t *row)
{
    collect_t *c = ctx;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 256;
        kl_kline_t *nv = kl_alloc(ncap * sizeof *nv);
        if (!nv) {
            c->oom = 1;
            return 1;
        }
        if (c->n)
            memcpy(nv, c->v, c->n * sizeof *nv);
        kl_free(c->v);
        c->v = nv;
        c->cap = ncap;
    }
    c->v[c->n++] = row->k;
    return 0;
}

/* The grid of the service's interval iv in unit (1 or 1000), or NULL when it is not enabled. */
static const kl_ivspec_t *
spec_of(const kl_api_t *a, uint32_t unit, int iv)
{
    const kl_sched_t *sch = unit == 1000 ? a->d.sched_us : a->d.sched_ms;
    if (!sch || iv < 0 || iv >= KL_IV_COUNT || sch->pos[iv] < 0)
        return NULL;
    return &sch->spec[sch->pos[iv]];
}

/* The pair's memory, ascending: its recent finals, then the live kline when it is newer.
 * Whatever the pair holds is newer than the store, even before its sync completes (the sync's
 * finals arrive first). */
void
api_hub_mem(kl_api_t *a, uint32_t sym, int iv, api_mem_t *m)
{
    symw_t *w = find(a, sym);
    const pair_t *p = w && iv >= 0 && iv < KL_IV_COUNT && (w->want >> iv & 1) ? w->pair[iv]
                                                                                : NULL;
    size_t nm = 0;
    for (unsigned j = 0; p && j < p->fin_n; j++)
        m->k[nm++] = *fin_at(p, j);
    if (p && p->have_live && (!nm || p->live.open_time > m->k[nm - 1].open_time))
        m->k[nm++] = p->live;
    m->n = nm;
    m->have_live = p && p->have_live;
    m->live_open = m->have_live ? p->live.open_time : 0;
}

/* The series' last kline that opens before lo, from the store or the memory (which wins on the
 * same open_time). Returns 0 with *out, 1 when there is none, or a store error. */
static int
kline_before(kl_store_t *st, const char *symbol, int iv, int64_t lo, const kl_kline_t *mem,
             size_t nm, kl_kline_t *out)
{
    kl_store_row_t row;
    int rc = kl_store_last_before(st, symbol, iv, lo, &row);
    if (rc < 0)
        return rc;
    const kl_kline_t *best = rc == 0 ? &row.k : NULL;
    for (size_t j = 0; j < nm && mem[j].open_time < lo; j++)
        if (!best || mem[j].open_time >= best->open_time)
            best = &mem[j];
    if (!best)
        return 1;
    *out = *best;
    return 0;
}

/* The open time of the series' first kline after hi (store or memory), or KL_FILL_NONE. */
static int
open_after(kl_store_t *st, const char *symbol, int iv, int64_t hi, const kl_kline_t *mem,
           size_t nm, int64_t *out)
{
    collect_t c = {0};
    int rc = kl_store_range(st, symbol, iv, hi + 1, INT64_MAX, 1, 0, collect_row, &c);
    int64_t first = c.n ? c.v[0].open_time : KL_FILL_NONE;
    kl_free(c.v);
    if (c.oom || rc < 0)
        return c.oom ? KL_ENOMEM : rc;
    for (size_t j = 0; j < nm; j++)
        if (mem[j].open_time > hi) {
            if (mem[j].open_time < first)
                first = mem[j].open_time;
            break;
        }
    *out = first;
    return 0;
}

/* Whether a kline of spec opens in [lo, t): room for holes before the window's first kline. */
static int
room_before(const kl_ivspec_t *spec, int64_t lo, int64_t t)
{
    int64_t o = kl_iv_open(spec, lo);
    if (o < lo)
        o = kl_iv_next(spec, o);
    return o < t;
}

int
api_hub_klines(const kl_api_t *a, kl_store_t *st, const api_mem_t *pm, const char *symbol,
               uint32_t unit, int iv, int64_t lo, int64_t hi, size_t limit, int newest,
               kl_kline_t **out, size_t *n_out)
{
    collect_t c = {0};
    kl_kline_t *m = NULL;
    *out = NULL;
    *n_out = 0;
    if (limit == 0 || lo > hi)
        return 0;
    const kl_ivspec_t *spec = spec_of(a, unit, iv);
    /* The filled window can hold at most this many klines; the store is read for no more. */
    if (spec && limit > (size_t)a->cfg->max_query_rows &&
        kl_fill_slots(spec, lo, hi) > (size_t)a->cfg->max_query_rows)
        return API_EROWS;
    int rc = kl_store_range(st, symbol, iv, lo, hi, limit, newest, collect_row, &c);
    if (c.oom || rc < 0) {
        rc = c.oom ? KL_ENOMEM : rc;
        goto fail;
    }
    if (newest) /* the store gave them newest first */
        for (size_t i = 0; i < c.n / 2; i++) {
            kl_kline_t t = c.v[i];
            c.v[i] = c.v[c.n - 1 - i];
            c.v[c.n - 1 - i] = t;
        }
    const kl_kline_t *mem = pm->k;
    size_t nm = pm->n;
    m = kl_alloc((c.n + nm + 1) * sizeof *m);
    if (!m) {
        rc = KL_ENOMEM;
        goto fail;
    }
    size_t n = 0, i = 0, j = 0;
    while (i < c.n || j < nm) {
        const kl_kline_t *k;
        if (j < nm && (i >= c.n || mem[j].open_time <= c.v[i].open_time)) {
            if (i < c.n && c.v[i].open_time == mem[j].open_time)
                i++;
            k = &mem[j++];
        } else {
            k = &c.v[i++];
        }
        if (k->open_time >= lo && k->open_time <= hi)
            m[n++] = *k;
    }
    kl_free(c.v);
    c.v = NULL;
    /* The limit again: the memory may have added klines at the new end. */
    int enough = n >= limit; /* the known klines alone make the whole answer */
    if (n > limit) {
        if (newest)
            memmove(m, m + (n - limit), limit * sizeof *m);
        n = limit;
    }
    if (!spec) { /* not a service interval: there is no grid to fill on */
        *out = m;
        *n_out = n;
        return 0;
    }
    /* The kline before the window, when holes may open in [lo, first known kline). */
    kl_kline_t prev;
    int have_prev = 0;
    if (!(newest && enough) && lo != INT64_MIN &&
        (n == 0 || room_before(spec, lo, m[0].open_time))) {
        if ((rc = kline_before(st, symbol, iv, lo, mem, nm, &prev)) < 0)
            goto fail;
        have_prev = rc == 0;
    }
    /* The kline after the window, when holes may open in (last known kline, hi]; the live
     * kline has nothing after it. */
    const kl_kline_t *last = n ? &m[n - 1] : have_prev ? &prev : NULL;
    int64_t next_open = KL_FILL_NONE;
    if (!(!newest && enough) && hi != INT64_MAX && last && last->close_time < hi &&
        !(pm->have_live && last->open_time >= pm->live_open)) {
        if ((rc = open_after(st, symbol, iv, hi, mem, nm, &next_open)) < 0)
            goto fail;
    }
    /* Size the answer by the span it can cover, not by a caller's "no limit". */
    int64_t span_lo = have_prev ? (prev.close_time + 1 > lo ? prev.close_time + 1 : lo)
                                : n ? m[0].open_time : INT64_MAX;
    int64_t span_hi = next_open != KL_FILL_NONE ? (next_open - 1 < hi ? next_open - 1 : hi)
                                                : n ? m[n - 1].open_time : INT64_MIN;
    size_t cap = span_lo <= span_hi ? kl_fill_slots(spec, span_lo, span_hi) : 0;
    cap = cap > SIZE_MAX - n ? SIZE_MAX : cap + n;
    if (cap > limit)
        cap = limit;
    if (cap == 0) {
        kl_free(m);
        return 0;
    }
    kl_kline_t *f = cap > SIZE_MAX / sizeof *f ? NULL : kl_alloc(cap * sizeof *f);
    if (!f) {
        rc = KL_ENOMEM;
        goto fail;
    }
    *n_out = kl_fill_window(spec, have_prev ? &prev : NULL, m, n, next_open, lo, hi, newest, f,
                            cap);
    *out = f;
    kl_free(m);
    return 0;
fail:
    kl_free(c.v);
    kl_free(m);
    return rc;
}

int
api_hub_seed(const kl_api_t *a, kl_store_t *st, const api_mem_t *mem, const char *symbol,
             uint32_t unit, int iv, int64_t lo, int64_t hi, kl_kline_t *acc, int *have_acc)
{
    kl_kline_t *base;
    size_t n;
    *have_acc = 0;
    int rc = api_hub_klines(a, st, mem, symbol, unit, iv, lo, hi, SIZE_MAX, 0, &base, &n);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (!*have_acc)
            *acc = base[i], *have_acc = 1;
        else
            kl_kline_merge(acc, &base[i]);
    }
    kl_free(base);
    return 0;
}
