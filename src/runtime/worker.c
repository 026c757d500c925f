/* Worker thread: see worker.h for the design. Everything below runs on the worker's own thread
 * unless its comment says otherwise. */
#include "runtime/worker.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/hist.h"
#include "core/evtime.h"
#include "core/log.h"
#include "kl/err.h"
#include "wal/walrec.h"

#define BATCH 256
#define PARK_MS 100
#define STOP_COMMIT_TRIES 20

enum { HANDOFF_IDLE, HANDOFF_PENDING, HANDOFF_OK, HANDOFF_FAILED };

typedef struct slotmeta {
    char name[KL_SYM_MAX];
    uint32_t sym;
    uint32_t live_pos; /* index in live[] */
    uint16_t unit_per_ms;
    uint8_t live;
    uint8_t held; /* a source backfills it: ticks skip it (KL_MSG_HOLD) */
    uint8_t touched; /* watched and changed in this pass: in touched[] */
    uint8_t parked;  /* removed, series kept for a re-add: in parked[], not in live[] */
    uint32_t watch;  /* intervals (bits of enum kl_iv) the API wants published */
} slotmeta_t;

typedef struct chunk {
    char *series; /* KL_WORKER_CHUNK series, stride bytes apart */
    slotmeta_t meta[KL_WORKER_CHUNK];
} chunk_t;

struct kl_worker {
    kl_worker_cfg_t cfg;
    pthread_t thread;
    int started;
    kl_ring_t *rings;
    _Atomic uint64_t *logged; /* per ring: messages popped and committed to the WAL */
    kl_wake_t wake;
    _Atomic int stop;
    _Atomic int64_t tick_ms;
    _Atomic int snap_req;

    /* slots */
    size_t stride;
    chunk_t **chunks;
    size_t n_chunks, chunks_cap;
    uint32_t *free_slots;
    size_t n_free;
    uint32_t *live; /* live slot indices, for the clock loop */
    size_t n_live;
    uint32_t *by_sym; /* symbol id -> slot + 1 (0: not here) */
    size_t by_sym_cap;
    uint32_t *parked; /* parked slots, oldest first; room for every slot */
    size_t n_parked, parked_cap;

    kl_snap_t *snap;
    _Atomic int handoff;
    kl_snap_batch_t batch;
    int64_t last_tick_ms;
    int consecutive_failures;
    int64_t retry_after_ms;

    kl_worker_stats_t local; /* worker-owned counters */
    struct {
        _Atomic uint64_t v[sizeof(kl_worker_stats_t) / sizeof(uint64_t)];
    } pub;
    kl_ratelimit_t rl_emit;
    int stop_status;
    _Atomic int failed;
    uint64_t batch_seq; /* WAL seq the in-flight batch covers */
    kl_msg_t *pass;     /* one pass's messages: BATCH per input ring */
    int backlogged;     /* taking no trades until the store catches up */
    int want_snapshot;  /* a snapshot was requested and not taken yet */
    uint64_t rows_lost; /* final rows that found no memory (logged; fails a recovery) */
    int final_lost;     /* a final row found no memory: no checkpoint may pass over it again */

    /* API publication (kl_worker_set_api): watch requests in, kline updates out. */
    kl_ring_t api_in;
    kl_pubring_t *out;
    kl_msg_t *api_pass;
    uint32_t *touched; /* watched slots changed in this pass */
    size_t n_touched;
    uint32_t pass_rx_us; /* receive stamp of the pass's first live trade, 0: none */
    kl_hist_t lat_apply; /* trade received -> kline updated */
    kl_hist_t lat_final; /* kline close -> final emitted (exchange time) */
    int64_t emit_now_ms; /* exchange time of the message being handled; 0: not read yet */

    /* Kafka (kl_worker_set_kafka): per partition, the next offset not yet received; each
     * checkpoint carries the ones set, under koff_keys[p]. */
    int64_t *koff;
    char (*koff_keys)[64];
    uint32_t n_parts;
    kl_store_kv_t *bkv; /* the in-flight batch's offsets */
    size_t n_bkv;
    int koff_changed; /* an offset moved since the last checkpoint: commit even if nothing else */
    uint64_t handoff_req, handoff_taken; /* HANDOFF tokens: asked, in the batch in flight */
    _Atomic uint64_t handoff_done;
};

/* ---- slots ----------------------------------------------------------------------------- */

static inline chunk_t *
chunk_of(const kl_worker_t *w, uint32_t slot)
{
    return w->chunks[slot / KL_WORKER_CHUNK];
}

static inline kl_series_t *
series_of(const kl_worker_t *w, uint32_t slot)
{
    return (kl_series_t *)(void *)(chunk_of(w, slot)->series +
                                   (size_t)(slot % KL_WORKER_CHUNK) * w->stride);
}

static inline slotmeta_t *
meta_of(const kl_worker_t *w, uint32_t slot)
{
    return &chunk_of(w, slot)->meta[slot % KL_WORKER_CHUNK];
}

/* One more chunk of slots: the only allocation on the add path, never per trade. */
static int
grow_chunks(kl_worker_t *w)
{
    if (w->n_chunks == w->chunks_cap) {
        size_t ncap = w->chunks_cap ? w->chunks_cap * 2 : 4;
        chunk_t **nc = kl_calloc(ncap, sizeof *nc);
        if (!nc)
            return KL_ENOMEM;
        if (w->n_chunks)
            memcpy(nc, w->chunks, w->n_chunks * sizeof *nc);
        kl_free(w->chunks);
        w->chunks = nc;
        w->chunks_cap = ncap;
    }
    size_t total = (w->n_chunks + 1) * KL_WORKER_CHUNK;
    chunk_t *c = kl_calloc(1, sizeof *c);
    char *series = c ? kl_alloc(KL_WORKER_CHUNK * w->stride) : NULL;
    uint32_t *nf = series ? kl_alloc(total * sizeof *nf) : NULL;
    uint32_t *nl = nf ? kl_alloc(total * sizeof *nl) : NULL;
    uint32_t *nt = nl ? kl_alloc(total * sizeof *nt) : NULL;
    if (!nt || kl_snap_grow(w->snap, total) != 0) {
        kl_free(nt);
        kl_free(nl);
        kl_free(nf);
        kl_free(series);
        kl_free(c);
        return KL_ENOMEM;
    }
    c->series = series;
    if (w->n_free) /* memcpy from NULL is undefined even for 0 bytes */
        memcpy(nf, w->free_slots, w->n_free * sizeof *nf);
    if (w->n_live)
        memcpy(nl, w->live, w->n_live * sizeof *nl);
    if (w->n_touched)
        memcpy(nt, w->touched, w->n_touched * sizeof *nt);
    kl_free(w->free_slots);
    kl_free(w->live);
    kl_free(w->touched);
    w->free_slots = nf;
    w->live = nl;
    w->touched = nt;
    /* Push in reverse so the lowest slot is reused first. */
    for (size_t i = KL_WORKER_CHUNK; i-- > 0;)
        w->free_slots[w->n_free++] = (uint32_t)(w->n_chunks * KL_WORKER_CHUNK + i);
    w->chunks[w->n_chunks++] = c;
    return 0;
}

static int
by_sym_reserve(kl_worker_t *w, uint32_t sym)
{
    if (sym < w->by_sym_cap)
        return 0;
    size_t ncap = w->by_sym_cap ? w->by_sym_cap : 256;
    while (ncap <= sym)
        ncap *= 2;
    uint32_t *nb = kl_calloc(ncap, sizeof *nb);
    if (!nb)
        return KL_ENOMEM;
    if (w->by_sym_cap)
        memcpy(nb, w->by_sym, w->by_sym_cap * sizeof *nb);
    kl_free(w->by_sym);
    w->by_sym = nb;
    w->by_sym_cap = ncap;
    return 0;
}

/* ---- parked series (removed symbols kept for a re-add; worker.h) ------------------------- */

/* Room in parked[] for every slot, so parking never allocates. Off the hot path: slot_add. */
static int
parked_reserve(kl_worker_t *w)
{
    size_t total = w->n_chunks * KL_WORKER_CHUNK;
    if (w->parked_cap >= total)
        return 0;
    uint32_t *np = kl_alloc((total ? total : 1) * sizeof *np);
    if (!np)
        return KL_ENOMEM;
    if (w->n_parked)
        memcpy(np, w->parked, w->n_parked * sizeof *np);
    kl_free(w->parked);
    w->parked = np;
    w->parked_cap = total;
    return 0;
}

static int64_t
parked_find(const kl_worker_t *w, const char *name)
{
    for (size_t i = 0; i < w->n_parked; i++)
        if (strcmp(meta_of(w, w->parked[i])->name, name) == 0)
            return w->parked[i];
    return -1;
}

static void
parked_del(kl_worker_t *w, size_t i)
{
    meta_of(w, w->parked[i])->parked = 0;
    memmove(&w->parked[i], &w->parked[i + 1], (w->n_parked - i - 1) * sizeof *w->parked);
    w->n_parked--;
    w->local.parked_symbols = w->n_parked;
}

/* Frees the oldest parked series that may go: its checkpoint (rows + parked state) committed,
 * and no re-add on its way here. Returns 1 when a slot was freed. */
static int
parked_evict(kl_worker_t *w)
{
    for (size_t i = 0; i < w->n_parked; i++) {
        uint32_t slot = w->parked[i];
        slotmeta_t *m = meta_of(w, slot);
        if (!kl_snap_clean(w->snap, slot) || kl_symreg_unpark(w->cfg.reg, m->name, w->cfg.index))
            continue;
        parked_del(w, i);
        w->free_slots[w->n_free++] = slot;
        kl_log(KL_LOG_INFO, "worker", "parked_series_freed",
               "worker=%d symbol=%s parked=%zu max_parked=%zu action=\"a re-add resumes it from "
               "its stored state\"",
               w->cfg.index, m->name, w->n_parked, w->cfg.max_parked);
        return 1;
    }
    return 0;
}

/* Keeps at most max_parked parked series, as far as their checkpoints allow. */
static void
parked_trim(kl_worker_t *w)
{
    while (w->n_parked > w->cfg.max_parked && parked_evict(w))
        ;
}

/* Re-add of a symbol whose series is parked here: the slot continues under the new id. */
static int64_t
slot_resume(kl_worker_t *w, uint32_t slot, uint32_t sym)
{
    for (size_t i = 0; i < w->n_parked; i++)
        if (w->parked[i] == slot) {
            parked_del(w, i);
            break;
        }
    slotmeta_t *m = meta_of(w, slot);
    m->sym = sym;
    m->live = 1;
    m->held = 0;
    m->watch = 0;
    m->live_pos = (uint32_t)w->n_live;
    w->live[w->n_live++] = slot;
    w->by_sym[sym] = slot + 1;
    w->local.live_symbols = w->n_live;
    /* The next checkpoint stores the state again, without the parked mark. */
    kl_snap_mark(w->snap, slot);
    void *st;
    uint32_t len;
    if (kl_symreg_take_state(w->cfg.reg, sym, &st, &len)) /* memory is never older than it */
        kl_free(st);
    kl_log(KL_LOG_INFO, "worker", "symbol_resumed", "worker=%d symbol=%s from=memory",
           w->cfg.index, m->name);
    return slot;
}

/* A new slot of a re-added symbol whose series only the store had: continue from the state
 * the re-add read (kl_symreg_readd_state). */
static void
slot_take_state(kl_worker_t *w, uint32_t slot, uint32_t sym)
{
    void *st;
    uint32_t len;
    if (!kl_symreg_take_state(w->cfg.reg, sym, &st, &len))
        return;
    kl_series_t *s = series_of(w, slot);
    slotmeta_t *m = meta_of(w, slot);
    int irc = kl_series_import(s, s->sched, m, st, len);
    if (irc != 0) {
        kl_series_init(s, s->sched, m);
        kl_log(irc == KL_EIO ? KL_LOG_ERROR : KL_LOG_WARN, "worker",
               irc == KL_EIO ? "state_corrupt" : "state_unusable",
               "worker=%d symbol=%s bytes=%u action=\"series restarts at its next trade "
               "(%s)\"",
               w->cfg.index, m->name, len,
               irc == KL_EIO ? "its stored state fails its checksum: the store is damaged"
                             : "intervals, unit or lateness changed since it was stored?");
    } else {
        kl_snap_mark(w->snap, slot); /* stored again, without the parked mark */
        kl_log(KL_LOG_INFO, "worker", "symbol_resumed", "worker=%d symbol=%s from=store",
               w->cfg.index, m->name);
    }
    kl_free(st);
}

/* Creates the slot of symbol sym, or resumes the series a removal of the same name parked here.
 * Returns the slot, or -1 (counted by the caller). */
static int64_t
slot_add(kl_worker_t *w, uint32_t sym, const char *name, uint32_t unit_per_ms)
{
    int64_t p = by_sym_reserve(w, sym) == 0 ? parked_find(w, name) : -1;
    if (p >= 0 && (unit_per_ms == 0 || unit_per_ms == meta_of(w, (uint32_t)p)->unit_per_ms))
        return slot_resume(w, (uint32_t)p, sym);
    if (p >= 0) { /* a series in another time unit cannot continue in this one */
        kl_log(KL_LOG_WARN, "worker", "parked_series_dropped",
               "worker=%d symbol=%s parked_unit_per_ms=%u unit_per_ms=%u action=\"a new series "
               "starts in the new unit\"",
               w->cfg.index, name, meta_of(w, (uint32_t)p)->unit_per_ms, unit_per_ms);
        for (size_t i = 0; i < w->n_parked; i++)
            if (w->parked[i] == (uint32_t)p) {
                parked_del(w, i);
                w->free_slots[w->n_free++] = (uint32_t)p;
                break;
            }
    }
    /* A parked slot whose checkpoint is committed is reused before the worker grows. */
    if (by_sym_reserve(w, sym) != 0 ||
        (w->n_free == 0 && !parked_evict(w) && grow_chunks(w) != 0) || parked_reserve(w) != 0) {
        kl_log(KL_LOG_ERROR, "worker", "symbol_add_failed", "worker=%d symbol=%s reason=%s",
               w->cfg.index, name, "out of memory");
        return -1;
    }
    uint32_t slot = w->free_slots[--w->n_free];
    slotmeta_t *m = meta_of(w, slot);
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->sym = sym;
    if (unit_per_ms == 0)
        unit_per_ms = 1; /* added ahead of any trade: live sources are in ms */
    m->unit_per_ms = (uint16_t)unit_per_ms;
    m->live = 1;
    m->live_pos = (uint32_t)w->n_live;
    w->live[w->n_live++] = slot;
    kl_series_init(series_of(w, slot), unit_per_ms == 1000 ? w->cfg.sched_us : w->cfg.sched_ms, m);
    w->by_sym[sym] = slot + 1;
    w->local.live_symbols = w->n_live;
    slot_take_state(w, slot, sym);
    return slot;
}

static int64_t
slot_find(kl_worker_t *w, uint32_t sym)
{
    if (sym < w->by_sym_cap && w->by_sym[sym] != 0)
        return (int64_t)w->by_sym[sym] - 1;
    /* First message of a symbol: ask the registry whether it is ours (off the hot path). */
    kl_syminfo_t info;
    if (kl_symreg_get(w->cfg.reg, sym, &info) != 0 || !info.live || info.worker != w->cfg.index)
        return -1;
    return slot_add(w, sym, info.name, info.unit_per_ms);
}

/* ---- publication to the API ------------------------------------------------------------ */

static void
pub_kline(kl_worker_t *w, const slotmeta_t *m, int type, int iv, const kl_kline_t *k,
          unsigned flags, uint64_t t_ns)
{
    if (!w->out)
        return;
    kl_pub_msg_t p;
    p.type = (uint8_t)type;
    p.iv = (int8_t)iv;
    p.unit_per_ms = m->unit_per_ms;
    p.sym = m->sym;
    p.flags = flags;
    p.token = 0;
    p.t_ns = t_ns;
    p.k = *k;
    kl_pubring_push(w->out, &p); /* full: dropped and counted by the ring */
}

static void
touch(kl_worker_t *w, slotmeta_t *m, uint32_t slot)
{
    if (!m->touched) {
        m->touched = 1;
        w->touched[w->n_touched++] = slot;
    }
}

/* End of a pass: the new live kline of every watched interval of every changed watched slot. */
static void
pub_touched(kl_worker_t *w)
{
    if (w->pass_rx_us) {
        uint32_t d = kl_rx_us() - w->pass_rx_us; /* modular: the stamp wraps */
        kl_hist_record(&w->lat_apply, (uint64_t)d * 1000u);
        w->pass_rx_us = 0;
    }
    if (!w->out)
        return;
    uint64_t now = w->n_touched ? kl_mono_ns() : 0;
    for (size_t i = 0; i < w->n_touched; i++) {
        uint32_t slot = w->touched[i];
        slotmeta_t *m = meta_of(w, slot);
        m->touched = 0;
        if (!m->live)
            continue;
        const kl_series_t *s = series_of(w, slot);
        for (int j = 0; j < s->sched->n; j++) {
            int iv = s->sched->spec[j].iv;
            kl_kline_t k;
            if ((m->watch >> iv & 1) && kl_series_get(s, iv, &k) == 0)
                pub_kline(w, m, KL_PUB_LIVE, iv, &k, 0, now);
        }
    }
    w->n_touched = 0;
    kl_pubring_flush(w->out);
}

typedef struct pending_ctx {
    kl_worker_t *w;
    const slotmeta_t *m;
    uint32_t mask;
    uint64_t t_ns;
} pending_ctx_t;

static int
pub_pending_row(void *ctx, const kl_store_row_t *row)
{
    pending_ctx_t *c = ctx;
    if (row->is_final && (c->mask >> row->iv & 1) && strcmp(row->symbol, c->m->name) == 0)
        pub_kline(c->w, c->m, KL_PUB_FINAL, row->iv, &row->k, 0, c->t_ns);
    return 0;
}

/* A watch request: from now on publish the intervals in mask; for the newly watched ones first
 * send the finals the store does not have yet and the live klines, then SYNC_END, so the API
 * can answer from store + what it received, with nothing missing in between. */
static void
on_watch(kl_worker_t *w, const kl_msg_t *msg)
{
    kl_pub_msg_t end;
    memset(&end, 0, sizeof end);
    end.type = KL_PUB_SYNC_END;
    end.iv = -1;
    end.sym = msg->sym;
    end.token = msg->u.watch.token;
    int64_t slot = slot_find(w, msg->sym);
    if (slot < 0) {
        end.flags = 1;
        kl_pubring_push(w->out, &end);
        return;
    }
    slotmeta_t *m = meta_of(w, (uint32_t)slot);
    uint32_t fresh = msg->u.watch.mask & ~m->watch;
    m->watch = msg->u.watch.mask;
    uint64_t now = kl_mono_ns();
    if (fresh) {
        pending_ctx_t c = {w, m, fresh, now};
        kl_snap_each_pending(w->snap, pub_pending_row, &c);
        const kl_series_t *s = series_of(w, (uint32_t)slot);
        for (int j = 0; j < s->sched->n; j++) {
            int iv = s->sched->spec[j].iv;
            kl_kline_t k;
            if ((fresh >> iv & 1) && kl_series_get(s, iv, &k) == 0)
                pub_kline(w, m, KL_PUB_LIVE, iv, &k, 0, now);
        }
    }
    end.unit_per_ms = m->unit_per_ms;
    end.t_ns = now;
    kl_pubring_push(w->out, &end);
}

/* ---- emission and snapshots ------------------------------------------------------------ */

static void
row_fill(kl_store_row_t *row, const slotmeta_t *m, int iv, const kl_kline_t *k, int final)
{
    memcpy(row->symbol, m->name, sizeof row->symbol);
    row->iv = (uint8_t)iv;
    row->is_final = (uint8_t)final;
    row->unit_per_ms = m->unit_per_ms;
    row->k = *k;
}

static void
on_emit(void *ctx, const kl_series_t *s, int iv, const kl_kline_t *k, unsigned flags)
{
    kl_worker_t *w = ctx;
    slotmeta_t *m = s->user;
    if (m->watch >> iv & 1) {
        pub_kline(w, m, KL_PUB_FINAL, iv, k, flags, kl_mono_ns());
        /* the next interval's kline is now the live one: publish it with the pass */
        touch(w, m, w->by_sym[m->sym] - 1);
    }
    if (w->cfg.live_delays && !(flags & KL_EMIT_CORRECTION)) {
        if (!w->emit_now_ms) /* one clock read per message, however many klines it closes */
            w->emit_now_ms = kl_evtime_now_ms();
        int64_t d = w->emit_now_ms - (k->close_time + 1) / s->sched->unit_per_ms;
        kl_hist_record(&w->lat_final, d > 0 ? (uint64_t)d * 1000000u : 0);
    }
    kl_store_row_t row;
    row_fill(&row, s->user, iv, k, 1);
    w->local.finals++;
    if (kl_snap_add_row(w->snap, &row) != 0) {
        /* The row is only in memory's absence now. A later checkpoint would store states past
         * it and release the WAL that can rebuild it, so none is taken again: the worker
         * fails like on a WAL error (fail-stop, /healthz red), and the restart replays the WAL
         * from the last checkpoint, which writes the row. */
        w->rows_lost++;
        w->local.finals_lost++;
        w->final_lost = 1;
        atomic_store_explicit(&w->failed, 1, memory_order_relaxed);
        uint64_t supp;
        if (kl_ratelimit_ok(&w->rl_emit, 1000, &supp))
            kl_log(KL_LOG_ERROR, "worker", "final_kline_lost",
                   "worker=%d symbol=%s interval=%s open_time=%lld reason=\"out of memory\" "
                   "suppressed=%llu action=\"no checkpoint from now on; exiting so a "
                   "supervisor restarts, and the WAL replay writes the kline\"",
                   w->cfg.index, ((const slotmeta_t *)s->user)->name, kl_iv_name(iv),
                   (long long)k->open_time, (unsigned long long)supp);
    }
}

static int
fill_slot(void *ctx, kl_snap_t *snap, uint32_t slot)
{
    kl_worker_t *w = ctx;
    const slotmeta_t *m = meta_of(w, slot);
    if (!m->live && !m->parked)
        return 0;
    const kl_series_t *s = series_of(w, slot);
    const kl_sched_t *sch = s->sched;
    for (int i = 0; i < sch->n; i++) {
        kl_store_row_t row;
        if (kl_series_get(s, sch->spec[i].iv, &row.k) != 0)
            return 0; /* no trade yet */
        row_fill(&row, m, sch->spec[i].iv, &row.k, 0);
        int rc = kl_snap_add_row(snap, &row);
        if (rc != 0)
            return rc;
    }
    /* The engine state goes with the rows: the checkpoint a restart continues from. */
    uint8_t blob[KL_SERIES_STATE_MAX];
    size_t len = kl_series_export(s, blob, sizeof blob);
    if (m->parked) /* removed: a restart keeps it removed, a re-add resumes from it */
        kl_series_state_set_parked(blob, len, 1);
    return len ? kl_snap_add_state(snap, m->name, blob, len) : 0;
}

/* Removal: the symbol is no longer routed, ticked or published, but nothing is finalized. Its
 * series is parked in its slot (worker.h): marked dirty, so the next checkpoint stores its
 * klines as they are (open ones stay open) and its state marked parked; a re-add finds it by
 * name (slot_add). A series with no trade has nothing to keep: its slot is free at once. */
static void
slot_remove(kl_worker_t *w, uint32_t sym)
{
    if (sym >= w->by_sym_cap || w->by_sym[sym] == 0)
        return;
    uint32_t slot = w->by_sym[sym] - 1;
    slotmeta_t *m = meta_of(w, slot);
    /* Swap-remove from the live list so the clock loop never visits it. */
    uint32_t last = w->live[--w->n_live];
    w->live[m->live_pos] = last;
    meta_of(w, last)->live_pos = m->live_pos;
    m->live = 0;
    m->watch = 0;
    m->held = 0;
    w->by_sym[sym] = 0;
    w->local.live_symbols = w->n_live;
    if (!series_of(w, slot)->started) {
        w->free_slots[w->n_free++] = slot;
        kl_log(KL_LOG_INFO, "worker", "symbol_removed",
               "worker=%d symbol=%s klines=none action=\"slot freed\"", w->cfg.index, m->name);
        return;
    }
    m->parked = 1;
    w->parked[w->n_parked++] = slot; /* parked_reserve made room for every slot */
    w->local.parked_symbols = w->n_parked;
    kl_snap_mark(w->snap, slot);
    kl_log(KL_LOG_INFO, "worker", "symbol_removed",
           "worker=%d symbol=%s klines=\"kept as they are (open ones stay open)\" "
           "action=\"series parked for a re-add; checkpointed with the next snapshot\"",
           w->cfg.index, m->name);
    parked_trim(w);
}

/* Kafka hand-over, receiving side: the symbol continues from its checkpointed state. */
static void
slot_adopt(kl_worker_t *w, const kl_msg_t *m)
{
    int64_t slot = slot_find(w, m->sym);
    if (slot >= 0) {
        kl_series_t *s = series_of(w, (uint32_t)slot);
        int irc = kl_series_import(s, s->sched, meta_of(w, (uint32_t)slot), m->u.adopt.blob,
                                   m->u.adopt.len);
        if (irc != 0) {
            kl_series_init(s, s->sched, meta_of(w, (uint32_t)slot));
            kl_log(irc == KL_EIO ? KL_LOG_ERROR : KL_LOG_WARN, "worker",
                   irc == KL_EIO ? "state_corrupt" : "state_unusable",
                   "worker=%d symbol=%s action=\"series restarts at its next trade\"",
                   w->cfg.index, meta_of(w, (uint32_t)slot)->name);
        }
    }
    kl_free(m->u.adopt.blob);
}

/* Kafka hand-over, giving side: the slot is freed without final rows or a state removal; its
 * last checkpoint is where the next owner continues. */
static void
slot_drop(kl_worker_t *w, uint32_t sym)
{
    if (sym >= w->by_sym_cap || w->by_sym[sym] == 0)
        return;
    uint32_t slot = w->by_sym[sym] - 1;
    slotmeta_t *m = meta_of(w, slot);
    uint32_t last = w->live[--w->n_live];
    w->live[m->live_pos] = last;
    meta_of(w, last)->live_pos = m->live_pos;
    m->live = 0;
    m->watch = 0;
    w->by_sym[sym] = 0;
    w->free_slots[w->n_free++] = slot;
    w->local.live_symbols = w->n_live;
}

static void tick_slot(kl_worker_t *w, uint32_t slot, int64_t now_ms);

static void
handle(kl_worker_t *w, const kl_msg_t *m)
{
    w->emit_now_ms = 0;
    switch (m->type) {
    case KL_MSG_TRADE: {
        w->local.trades++;
        int64_t slot = slot_find(w, m->sym);
        if (slot < 0) {
            w->local.unknown_symbol++;
            return;
        }
        switch (kl_series_apply(series_of(w, (uint32_t)slot), &m->u.trade, on_emit, w)) {
        case KL_APPLIED: w->local.applied++; break;
        case KL_APPLIED_LATE: w->local.late++; break;
        case KL_DUPLICATE: w->local.duplicates++; return;
        case KL_TOO_LATE: w->local.too_late++; return;
        default: w->local.stale++; return;
        }
        kl_snap_mark(w->snap, (uint32_t)slot);
        slotmeta_t *meta = meta_of(w, (uint32_t)slot);
        if (meta->watch)
            touch(w, meta, (uint32_t)slot);
        if (!w->pass_rx_us)
            w->pass_rx_us = m->u.trade.rx_us;
        break;
    }
    case KL_MSG_ADD:
        if (m->sym >= w->by_sym_cap || w->by_sym[m->sym] == 0)
            slot_add(w, m->sym, m->u.add.name, m->u.add.unit_per_ms);
        break;
    case KL_MSG_REMOVE:
        slot_remove(w, m->sym);
        break;
    case KL_MSG_HOLD:
    case KL_MSG_RELEASE: {
        int64_t slot = slot_find(w, m->sym);
        if (slot >= 0)
            meta_of(w, (uint32_t)slot)->held = m->type == KL_MSG_HOLD;
        break;
    }
    case KL_MSG_WMARK: {
        /* by_sym only: a watermark never creates a slot (the symbol has had no trade here) */
        if (m->sym < w->by_sym_cap && w->by_sym[m->sym] != 0) {
            uint32_t slot = w->by_sym[m->sym] - 1;
            if (!meta_of(w, slot)->held)
                tick_slot(w, slot, m->u.wmark.now_ms);
        }
        break;
    }
    case KL_MSG_KOFFSET: /* next -1: the partition is not ours any more */
        if (m->u.koff.part < w->n_parts && w->koff[m->u.koff.part] != m->u.koff.next) {
            w->koff[m->u.koff.part] = m->u.koff.next;
            w->koff_changed = 1;
        }
        break;
    case KL_MSG_ADOPT:
        slot_adopt(w, m);
        break;
    case KL_MSG_HANDOFF:
        w->handoff_req = m->u.handoff.token;
        w->want_snapshot = 1;
        break;
    case KL_MSG_DROP:
        slot_drop(w, m->sym);
        break;
    default:
        break;
    }
}

static void
tick_slot(kl_worker_t *w, uint32_t slot, int64_t now_ms)
{
    kl_series_t *s = series_of(w, slot);
    w->emit_now_ms = 0;
    int64_t seg_end = s->seg_end;
    kl_series_tick(s, now_ms * s->sched->unit_per_ms, on_emit, w);
    /* With a lateness window the watermark a tick moves decides future trades: checkpoint it.
     * Without one, a restarted series repeats the same rollover on its next trade. */
    if (s->seg_end != seg_end && s->sched->lateness > 0)
        kl_snap_mark(w->snap, slot);
}

static void
do_tick(kl_worker_t *w, int64_t now_ms)
{
    for (size_t i = 0; i < w->n_live; i++) {
        if (meta_of(w, w->live[i])->held)
            continue; /* its backfill comes first; its own trades move it meanwhile */
        tick_slot(w, w->live[i], now_ms);
    }
}

static int
take_snapshot(kl_worker_t *w)
{
    if (w->final_lost) /* a checkpoint now would pass over the lost row (on_emit) */
        return 0;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    kl_snap_batch_t batch;
    int rc = kl_snap_take(w->snap, fill_slot, w, &batch);
    if (rc != 0)
        return rc;
    clock_gettime(CLOCK_MONOTONIC, &b);
    w->local.last_snapshot_us =
        (uint64_t)((b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000);
    w->local.snapshots++;
    if (batch.n == 0 && batch.n_states == 0 && !w->koff_changed) {
        kl_snap_ack(w->snap);
        if (w->handoff_req) /* nothing changed since the last checkpoint: already covered */
            atomic_store_explicit(&w->handoff_done, w->handoff_req, memory_order_release);
        return 0;
    }
    w->local.snapshot_rows += batch.n;
    w->batch = batch;
    w->n_bkv = 0;
    for (uint32_t p = 0; p < w->n_parts; p++)
        if (w->koff[p] >= 0)
            w->bkv[w->n_bkv++] = (kl_store_kv_t){w->koff_keys[p], w->koff[p]};
    w->koff_changed = 0; /* (a failed commit re-sends them: they stay set) */
    w->handoff_taken = w->handoff_req;
    w->batch_seq = w->cfg.wal ? kl_wal_committed_seq(w->cfg.wal) : 0;
    /* release: the batch fields are visible to the persister before it sees PENDING. */
    atomic_store_explicit(&w->handoff, HANDOFF_PENDING, memory_order_release);
    kl_wake_notify(w->cfg.persister_wake);
    return 0;
}

/* Returns 1 if the handoff is idle (no batch in flight) after looking at the answer. */
static int
check_handoff(kl_worker_t *w)
{
    /* acquire: pairs with the persister's release of the outcome. */
    int st = atomic_load_explicit(&w->handoff, memory_order_acquire);
    if (st == HANDOFF_OK) {
        kl_snap_ack(w->snap);
        parked_trim(w); /* parked series whose checkpoint this was may go now */
        if (w->handoff_taken) /* release: pairs with the waiting source's acquire */
            atomic_store_explicit(&w->handoff_done, w->handoff_taken, memory_order_release);
        if (w->cfg.wal && !atomic_load_explicit(&w->failed, memory_order_relaxed) &&
            kl_wal_release(w->cfg.wal, w->batch_seq) < 0)
            kl_log(KL_LOG_WARN, "worker", "wal_release_failed",
                   "worker=%d upto=%llu action=\"segments kept, retried at the next checkpoint\"",
                   w->cfg.index, (unsigned long long)w->batch_seq);
        w->local.commit_ok++;
        w->consecutive_failures = 0;
        atomic_store_explicit(&w->handoff, HANDOFF_IDLE, memory_order_relaxed);
        return 1;
    }
    if (st == HANDOFF_FAILED) {
        if (kl_snap_fail(w->snap) != 0)
            return 0; /* cannot merge back yet: keep it in flight, retry later */
        w->local.commit_failed++;
        w->koff_changed |= w->n_bkv > 0; /* the offsets go with the next attempt */
        int f = ++w->consecutive_failures;
        int64_t backoff = atomic_load_explicit(&w->stop, memory_order_relaxed)
                              ? 500                               /* shutting down: keep trying */
                              : (int64_t)1000 << (f < 5 ? f : 5); /* 2 s .. 32 s */
        w->retry_after_ms = kl_mono_ms() + backoff;
        atomic_store_explicit(&w->handoff, HANDOFF_IDLE, memory_order_relaxed);
        return 1;
    }
    return st == HANDOFF_IDLE;
}

static void
publish_stats(kl_worker_t *w)
{
    w->local.dirty = kl_snap_dirty_count(w->snap);
    w->local.pending_rows = kl_snap_pending_rows(w->snap);
    uint64_t depth = 0, waits = 0;
    for (int p = 0; p < w->cfg.n_inputs; p++) {
        depth += kl_ring_depth(&w->rings[p]);
        waits += atomic_load_explicit(&w->rings[p].waits, memory_order_relaxed);
    }
    w->local.queue_depth = depth;
    w->local.wal_bytes = w->cfg.wal ? kl_wal_bytes(w->cfg.wal) : 0;
    w->local.queue_waits = waits;
    const uint64_t *src = (const uint64_t *)(const void *)&w->local;
    for (size_t i = 0; i < sizeof w->pub.v / sizeof w->pub.v[0]; i++)
        atomic_store_explicit(&w->pub.v[i], src[i], memory_order_relaxed);
}

static int
rings_nonempty(const kl_worker_t *w)
{
    for (int p = 0; p < w->cfg.n_inputs; p++)
        if (kl_ring_depth(&w->rings[p]) != 0)
            return 1;
    return 0;
}

static int
has_work(void *ctx)
{
    kl_worker_t *w = ctx;
    /* While backlogged, or after a WAL failure, the rings are not read: their content is no
     * reason to stay awake (a failed worker spun on them at shutdown). */
    return (!w->backlogged && !atomic_load_explicit(&w->failed, memory_order_relaxed) &&
            rings_nonempty(w)) || (w->out && kl_ring_depth(&w->api_in)) ||
           atomic_load_explicit(&w->snap_req, memory_order_relaxed) ||
           (w->cfg.wall_clock &&
            atomic_load_explicit(&w->tick_ms, memory_order_relaxed) != w->last_tick_ms) ||
           atomic_load_explicit(&w->handoff, memory_order_relaxed) >= HANDOFF_OK ||
           atomic_load_explicit(&w->stop, memory_order_relaxed);
}

/* Encodes message m for the WAL; returns the payload length, or 0 when it is not logged (a
 * trade for a symbol this worker does not hold is dropped, so it need not be replayed). */
static size_t
encode_msg(kl_worker_t *w, const kl_msg_t *m, uint8_t *out)
{
    kl_walrec_t r;
    memset(&r, 0, sizeof r);
    int64_t slot;
    switch (m->type) {
    case KL_MSG_TRADE:
        if ((slot = slot_find(w, m->sym)) < 0)
            return 0;
        r.type = KL_WALREC_TRADE;
        r.trade = m->u.trade;
        r.unit_per_ms = meta_of(w, (uint32_t)slot)->unit_per_ms;
        memcpy(r.name, meta_of(w, (uint32_t)slot)->name, sizeof r.name);
        break;
    case KL_MSG_ADD:
        r.type = KL_WALREC_ADD;
        r.unit_per_ms = m->u.add.unit_per_ms ? m->u.add.unit_per_ms : 1;
        memcpy(r.name, m->u.add.name, sizeof r.name - 1);
        break;
    case KL_MSG_REMOVE:
    case KL_MSG_HOLD:
    case KL_MSG_RELEASE:
        if (m->sym >= w->by_sym_cap || w->by_sym[m->sym] == 0)
            return 0;
        r.type = m->type == KL_MSG_REMOVE ? KL_WALREC_REMOVE
                 : m->type == KL_MSG_HOLD ? KL_WALREC_HOLD
                                          : KL_WALREC_RELEASE;
        memcpy(r.name, meta_of(w, w->by_sym[m->sym] - 1)->name, sizeof r.name);
        break;
    case KL_MSG_WMARK: {
        if (m->sym >= w->by_sym_cap || w->by_sym[m->sym] == 0)
            return 0;
        uint32_t ws = w->by_sym[m->sym] - 1;
        const kl_series_t *s = series_of(w, ws);
        /* A watermark inside the current segment changes nothing a restart could tell (the
         * segment only moves forward, so it cannot roll later in the pass either), unless a
         * lateness window makes the watermark itself decide future trades. */
        if (s->started && s->sched->lateness == 0 &&
            m->u.wmark.now_ms * s->sched->unit_per_ms < s->seg_end)
            return 0;
        r.type = KL_WALREC_WMARK;
        r.now_ms = m->u.wmark.now_ms;
        memcpy(r.name, meta_of(w, ws)->name, sizeof r.name);
        break;
    }
    default:
        return 0;
    }
    return kl_walrec_encode(&r, out);
}

static void
wal_fatal(kl_worker_t *w, int rc)
{
    atomic_store_explicit(&w->failed, 1, memory_order_relaxed);
    /* The WAL logged the failure itself (file, errno, the fail-stop); this says what the
     * worker does about it. */
    kl_log(KL_LOG_WARN, "worker", "wal_failed",
           "worker=%d error=\"%s\" action=\"stopped taking work; the service exits\"",
           w->cfg.index, kl_strerror(rc));
}

/* Logs the pass's messages (and its tick) and commits them with one write. Returns 0, or -1
 * after a WAL failure (nothing of the pass may then be applied). */
static int
log_pass(kl_worker_t *w, const kl_msg_t *m, size_t n, int64_t tick_ms)
{
    if (!w->cfg.wal)
        return 0;
    uint8_t rec[KL_WALREC_MAX];
    uint64_t seq;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t len = encode_msg(w, &m[i], rec);
        if (len) {
            uint16_t type = m[i].type == KL_MSG_TRADE     ? KL_WALREC_TRADE
                            : m[i].type == KL_MSG_ADD     ? KL_WALREC_ADD
                            : m[i].type == KL_MSG_REMOVE  ? KL_WALREC_REMOVE
                            : m[i].type == KL_MSG_HOLD    ? KL_WALREC_HOLD
                            : m[i].type == KL_MSG_WMARK   ? KL_WALREC_WMARK
                                                          : KL_WALREC_RELEASE;
            rc = kl_wal_append(w->cfg.wal, type, rec, (uint32_t)len, &seq);
        }
    }
    if (rc == 0 && tick_ms) {
        kl_walrec_t r = {.type = KL_WALREC_TICK, .now_ms = tick_ms};
        size_t len = kl_walrec_encode(&r, rec);
        rc = kl_wal_append(w->cfg.wal, KL_WALREC_TICK, rec, (uint32_t)len, &seq);
    }
    if (rc == 0)
        rc = kl_wal_commit(w->cfg.wal);
    if (rc != 0) {
        wal_fatal(w, rc);
        return -1;
    }
    return 0;
}

/* At stop: 1 when everything is committed and the thread may exit, -1 when it gives up. */
static int
stop_step(kl_worker_t *w, int idle_handoff)
{
    /* Drain first; but a backlogged worker cannot drain until the store takes its rows, so
     * then it keeps committing. */
    /* A failed worker never reads its rings again: it only tries its last checkpoint (what it
     * applied is all in the WAL's written part), and reports the failure. */
    int failed = atomic_load_explicit(&w->failed, memory_order_relaxed);
    if (!idle_handoff || (rings_nonempty(w) && !w->backlogged && !failed))
        return 0;
    if (w->final_lost)
        return -1; /* no last checkpoint either: the WAL rebuilds what was lost */
    if (kl_snap_dirty_count(w->snap) == 0 && kl_snap_pending_rows(w->snap) == 0)
        return failed ? -1 : rings_nonempty(w) ? 0 : 1;
    if (w->consecutive_failures >= STOP_COMMIT_TRIES) {
        kl_log(KL_LOG_ERROR, "worker", "final_snapshot_lost",
               "worker=%d dirty_symbols=%zu pending_rows=%zu failures=%d "
               "action=\"exiting without the last commit\"",
               w->cfg.index, kl_snap_dirty_count(w->snap), kl_snap_pending_rows(w->snap),
               w->consecutive_failures);
        return -1;
    }
    if (kl_mono_ms() >= w->retry_after_ms)
        take_snapshot(w);
    return 0;
}

static void *
worker_main(void *arg)
{
    kl_worker_t *w = arg;
    char name[16];
    snprintf(name, sizeof name, "kl-worker-%d", w->cfg.index);
    pthread_setname_np(pthread_self(), name);
    kl_msg_t *buf = w->pass;
    kl_idle_t idle = {0};
    for (;;) {
        int work = 0;
        size_t n = 0;
        /* Store outage: past the backlog bound, take no more trades until a commit succeeds.
         * The rings fill and the sources wait; memory stays bounded and nothing is dropped. */
        /* Hysteresis (on at the bound, off at half of it), so a store that is merely slower
         * than the input does not flip it on every commit. The backlog counts the batch in
         * flight too: a failed commit merges it back. */
        size_t held = kl_snap_backlog_rows(w->snap);
        int backlog = w->cfg.max_pending_rows &&
                      (w->backlogged ? held > w->cfg.max_pending_rows / 2
                                     : held >= w->cfg.max_pending_rows);
        if (backlog != w->backlogged) {
            w->backlogged = backlog;
            kl_log(backlog ? KL_LOG_WARN : KL_LOG_INFO, "worker",
                   backlog ? "backpressure_on" : "backpressure_off",
                   "worker=%d held_rows=%zu max_pending_rows=%zu reason=\"%s\"", w->cfg.index,
                   held, w->cfg.max_pending_rows,
                   backlog ? "the store is not keeping up" : "the store caught up");
        }
        if (!backlog && !atomic_load_explicit(&w->failed, memory_order_relaxed))
            for (int p = 0; p < w->cfg.n_inputs; p++)
                n += kl_ring_pop(&w->rings[p], buf + n, BATCH);
        int64_t t = atomic_load_explicit(&w->tick_ms, memory_order_relaxed);
        /* Ticks obey backpressure like trades: a tick after a long pause can finalize many
         * klines at once, and a backlogged store must not take them now. */
        int tick = w->cfg.wall_clock && t != w->last_tick_ms && !w->failed && !backlog;
        /* Write-ahead: the whole pass is logged with one write before any of it is applied. */
        if ((n || tick) && log_pass(w, buf, n, tick ? t : 0) != 0)
            n = 0, tick = 0;
        /* Written to the WAL (fsynced per its policy): a source may acknowledge it now. Release:
         * pairs with kl_worker_logged(). */
        if (n)
            for (int p = 0; p < w->cfg.n_inputs; p++)
                atomic_store_explicit(&w->logged[p],
                                      atomic_load_explicit(&w->rings[p].tail,
                                                           memory_order_relaxed),
                                      memory_order_release);
        for (size_t i = 0; i < n; i++)
            handle(w, &buf[i]);
        work += (int)n;
        if (tick) {
            w->last_tick_ms = t;
            do_tick(w, t);
            work++;
        }
        /* API requests are read even while backlogged: they change no state, and a client
         * waiting for its first klines should not wait for the store. */
        if (w->out) {
            size_t na = kl_ring_pop(&w->api_in, w->api_pass, BATCH);
            for (size_t i = 0; i < na; i++)
                if (w->api_pass[i].type == KL_MSG_WATCH)
                    on_watch(w, &w->api_pass[i]);
            work += (int)na;
        }
        pub_touched(w);
        int idle_handoff = check_handoff(w);
        /* acquire: pairs with kl_worker_stop()'s release; every message pushed before the stop
         * request is visible in the rings now. */
        if (atomic_load_explicit(&w->stop, memory_order_acquire)) {
            int st = stop_step(w, idle_handoff);
            if (st != 0) {
                w->stop_status = st < 0 ? KL_ESTORE : 0;
                break;
            }
        } else {
            /* A request waits here, not in the atomic, while a batch is in flight or backing
             * off: the persister's answer wakes us, the backoff by the park timeout, so the
             * worker parks instead of spinning on its own request. */
            if (atomic_exchange_explicit(&w->snap_req, 0, memory_order_relaxed))
                w->want_snapshot = 1;
            if (w->want_snapshot && idle_handoff && kl_mono_ms() >= w->retry_after_ms) {
                w->want_snapshot = 0;
                work += take_snapshot(w) == 0;
            }
        }
        if (work)
            publish_stats(w);
        kl_idle(&idle, &w->wake, work, has_work, w, PARK_MS);
    }
    publish_stats(w);
    return NULL;
}

/* ---- lifecycle (main thread unless noted) ---------------------------------------------- */

int
kl_worker_create(const kl_worker_cfg_t *cfg, kl_worker_t **out)
{
    if (cfg->n_inputs < 1 || !cfg->sched_ms || !cfg->sched_us || !cfg->reg)
        return KL_EARG;
    kl_worker_t *w = kl_calloc(1, sizeof *w);
    if (!w)
        return KL_ENOMEM;
    w->cfg = *cfg;
    kl_wake_init(&w->wake);
    size_t a = _Alignof(kl_series_t);
    size_t sz_ms = kl_series_size(cfg->sched_ms), sz_us = kl_series_size(cfg->sched_us);
    w->stride = ((sz_ms > sz_us ? sz_ms : sz_us) + a - 1) / a * a;
    w->rings = kl_calloc((size_t)cfg->n_inputs, sizeof *w->rings);
    w->logged = kl_calloc((size_t)cfg->n_inputs, sizeof *w->logged);
    w->snap = kl_snap_create(0);
    w->pass = kl_alloc((size_t)cfg->n_inputs * BATCH * sizeof *w->pass);
    int rc = (!w->rings || !w->logged || !w->snap || !w->pass) ? KL_ENOMEM : 0;
    for (int p = 0; rc == 0 && p < cfg->n_inputs; p++)
        rc = kl_ring_init(&w->rings[p], cfg->ring_capacity);
    if (rc != 0) {
        kl_worker_destroy(w);
        return rc;
    }
    *out = w;
    return 0;
}

void
kl_worker_destroy(kl_worker_t *w)
{
    if (!w)
        return;
    for (int p = 0; w->rings && p < w->cfg.n_inputs; p++)
        kl_ring_fini(&w->rings[p]);
    kl_free(w->rings);
    kl_free(w->logged);
    for (size_t i = 0; i < w->n_chunks; i++) {
        kl_free(w->chunks[i]->series);
        kl_free(w->chunks[i]);
    }
    kl_free(w->chunks);
    kl_free(w->free_slots);
    kl_free(w->live);
    kl_free(w->by_sym);
    kl_free(w->parked);
    kl_snap_destroy(w->snap);
    kl_free(w->pass);
    kl_free(w->touched);
    kl_free(w->koff);
    kl_free(w->koff_keys);
    kl_free(w->bkv);
    if (w->api_pass) {
        kl_ring_fini(&w->api_in);
        kl_free(w->api_pass);
    }
    kl_free(w);
}

uint64_t
kl_worker_logged(const kl_worker_t *w, int p)
{
    return atomic_load_explicit(&w->logged[p], memory_order_acquire);
}

kl_ring_t *
kl_worker_ring(kl_worker_t *w, int p)
{
    return &w->rings[p];
}

kl_wake_t *
kl_worker_wake(kl_worker_t *w)
{
    return &w->wake;
}

int
kl_worker_start(kl_worker_t *w)
{
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0)
        return -rc;
    w->started = 1;
    if (w->cfg.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(w->cfg.cpu, &set);
        rc = pthread_setaffinity_np(w->thread, sizeof set, &set);
        if (rc != 0)
            kl_log(KL_LOG_WARN, "worker", "pin_failed", "worker=%d cpu=%d error=\"%s\" "
                   "action=\"running unpinned\"", w->cfg.index, w->cfg.cpu, strerror(rc));
    }
    return 0;
}

void
kl_worker_tick(kl_worker_t *w, int64_t now_ms)
{
    /* relaxed: the tick is a value, not a publication of other data. */
    atomic_store_explicit(&w->tick_ms, now_ms, memory_order_relaxed);
    kl_wake_notify(&w->wake);
}

void
kl_worker_request_snapshot(kl_worker_t *w)
{
    atomic_store_explicit(&w->snap_req, 1, memory_order_relaxed);
    kl_wake_notify(&w->wake);
}

int
kl_worker_stop(kl_worker_t *w)
{
    if (!w->started)
        return 0;
    atomic_store_explicit(&w->stop, 1, memory_order_release);
    kl_wake_notify(&w->wake);
    pthread_join(w->thread, NULL);
    w->started = 0;
    return w->stop_status;
}

void
kl_worker_stats(kl_worker_t *w, kl_worker_stats_t *out)
{
    uint64_t *dst = (uint64_t *)(void *)out;
    for (size_t i = 0; i < sizeof w->pub.v / sizeof w->pub.v[0]; i++)
        dst[i] = atomic_load_explicit(&w->pub.v[i], memory_order_relaxed);
}

int
kl_worker_batch_pending(kl_worker_t *w, kl_snap_batch_t *batch, uint64_t *wal_seq, int *index)
{
    /* acquire: pairs with take_snapshot()'s release; the batch fields are complete. */
    if (atomic_load_explicit(&w->handoff, memory_order_acquire) != HANDOFF_PENDING)
        return 0;
    *batch = w->batch;
    *wal_seq = w->batch_seq;
    *index = w->cfg.index;
    return 1;
}

int
kl_worker_set_kafka(kl_worker_t *w, const char *topic, uint32_t n_parts)
{
    w->koff = kl_alloc(n_parts * sizeof *w->koff);
    w->koff_keys = kl_alloc(n_parts * sizeof *w->koff_keys);
    w->bkv = kl_alloc(n_parts * sizeof *w->bkv);
    if (!w->koff || !w->koff_keys || !w->bkv)
        return KL_ENOMEM;
    for (uint32_t p = 0; p < n_parts; p++) {
        w->koff[p] = -1;
        kl_worker_koff_key(topic, p, w->koff_keys[p], sizeof w->koff_keys[p]);
    }
    w->n_parts = n_parts;
    return 0;
}

void
kl_worker_koff_key(const char *topic, uint32_t part, char *buf, size_t cap)
{
    snprintf(buf, cap, "kafka.%.40s.%u", topic, part);
}

uint64_t
kl_worker_handoff_done(kl_worker_t *w)
{
    return atomic_load_explicit(&w->handoff_done, memory_order_acquire);
}

size_t
kl_worker_batch_kv(kl_worker_t *w, const kl_store_kv_t **kv)
{
    *kv = w->bkv;
    return w->n_bkv;
}

int
kl_worker_set_api(kl_worker_t *w, kl_pubring_t *out, size_t in_capacity)
{
    w->api_pass = kl_alloc(BATCH * sizeof *w->api_pass);
    int rc = w->api_pass ? kl_ring_init(&w->api_in, in_capacity) : KL_ENOMEM;
    if (rc != 0) {
        kl_free(w->api_pass);
        w->api_pass = NULL;
        return rc;
    }
    w->out = out;
    return 0;
}

kl_ring_t *
kl_worker_api_ring(kl_worker_t *w)
{
    return &w->api_in;
}

void
kl_worker_latency(kl_worker_t *w, kl_hist_snap_t *out)
{
    kl_hist_read(&w->lat_apply, out);
}

void
kl_worker_set_wal(kl_worker_t *w, kl_wal_t *wal)
{
    w->cfg.wal = wal;
}

int
kl_worker_failed(kl_worker_t *w)
{
    return atomic_load_explicit(&w->failed, memory_order_relaxed);
}

void
kl_worker_wal_key(const kl_worker_t *w, int index, char *buf, size_t cap)
{
    /* Instances of different shards share a store: each one's log positions are its own. */
    if (w->cfg.shard_count > 1)
        snprintf(buf, cap, "wal.s%uof%u.w%d", w->cfg.shard_index, w->cfg.shard_count, index);
    else
        snprintf(buf, cap, "wal.w%d", index);
}

int
kl_worker_adopt(kl_worker_t *w, uint32_t sym, const char *name, uint32_t unit_per_ms,
                const void *blob, size_t len, int dirty)
{
    int64_t slot = slot_add(w, sym, name, unit_per_ms);
    if (slot < 0)
        return KL_ENOMEM;
    kl_series_t *s = series_of(w, (uint32_t)slot);
    int rc = kl_series_import(s, s->sched, meta_of(w, (uint32_t)slot), blob, len);
    if (rc != 0) {
        kl_series_init(s, s->sched, meta_of(w, (uint32_t)slot));
        /* KL_EIO: corrupt, the caller stops; else incompatible: it restarts the series */
        return rc == KL_EIO ? KL_EIO : KL_EARG;
    }
    if (dirty)
        kl_snap_mark(w->snap, (uint32_t)slot);
    return 0;
}

int
kl_worker_replay(kl_worker_t *w, const kl_msg_t *m)
{
    /* The registry routed this symbol here: not finding memory for it is an error, not an
     * unknown symbol, and so is losing a final row. */
    if ((m->type == KL_MSG_TRADE || m->type == KL_MSG_ADD) && slot_find(w, m->sym) < 0)
        return KL_ENOMEM;
    uint64_t lost = w->rows_lost;
    handle(w, m);
    return w->rows_lost != lost ? KL_ENOMEM : 0;
}

void
kl_worker_final_delay(kl_worker_t *w, kl_hist_snap_t *out)
{
    kl_hist_read(&w->lat_final, out);
}

int
kl_worker_replay_tick(kl_worker_t *w, uint32_t sym, int64_t now_ms)
{
    if (sym >= w->by_sym_cap || w->by_sym[sym] == 0)
        return 0;
    uint32_t slot = w->by_sym[sym] - 1;
    if (meta_of(w, slot)->held)
        return 0;
    kl_series_t *s = series_of(w, slot);
    uint64_t lost = w->rows_lost;
    kl_series_tick(s, now_ms * s->sched->unit_per_ms, on_emit, w);
    kl_snap_mark(w->snap, slot);
    return w->rows_lost != lost ? KL_ENOMEM : 0;
}

int
kl_worker_checkpoint_take(kl_worker_t *w, kl_snap_batch_t *batch)
{
    return kl_snap_take(w->snap, fill_slot, w, batch);
}

void
kl_worker_checkpoint_done(kl_worker_t *w, int ok)
{
    if (ok) {
        kl_snap_ack(w->snap);
        parked_trim(w);
    } else {
        kl_snap_fail(w->snap);
    }
}

void
kl_worker_batch_done(kl_worker_t *w, int ok)
{
    /* release: the persister is done reading the batch before the worker may reuse it. */
    atomic_store_explicit(&w->handoff, ok ? HANDOFF_OK : HANDOFF_FAILED, memory_order_release);
    kl_wake_notify(&w->wake);
}
