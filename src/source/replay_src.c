/* Replay source: the dump files of `klined replay`, read through the same kl_dumpstream so both
 * paths see identical trades, merged across symbols in time order with a binary heap, at full
 * speed or paced against the monotonic clock. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "kl/err.h"
#include "source/dumpstream.h"
#include "source/inputs.h"
#include "source/source.h"

typedef struct stream {
    kl_dumpstream_t ds;
    const char *symbol;
    size_t symlen;
    kl_trade_t next;
    int64_t key_us; /* next.ts in us, to order ms and us series together */
    int64_t resume_id; /* trades with id <= this were applied before a restart */
} stream_t;

typedef struct replay_src {
    kl_source_t base;
    kl_inputs_t in;
    double pace;
    stream_t *streams;
    size_t n_streams;
    size_t *heap; /* stream indices, min-heap on key_us */
    size_t n_heap;
    kl_ratelimit_t rl;
} replay_src_t;

static void
on_reject(void *ctx, const char *path, uint64_t line, int err, const char *row, size_t n)
{
    replay_src_t *r = ctx;
    atomic_fetch_add_explicit(&r->base.rejected, 1, memory_order_relaxed);
    uint64_t supp;
    if (kl_ratelimit_ok(&r->rl, 1000, &supp))
        kl_log(KL_LOG_WARN, "replay", "row_rejected",
               "file=%s line=%llu error=\"%s\" row=\"%.*s\" action=skipped suppressed=%llu", path,
               (unsigned long long)line, kl_strerror(err), (int)(n > 100 ? 100 : n), row,
               (unsigned long long)supp);
}

static int
heap_less(const replay_src_t *r, size_t a, size_t b)
{
    const stream_t *x = &r->streams[r->heap[a]], *y = &r->streams[r->heap[b]];
    return x->key_us < y->key_us || (x->key_us == y->key_us && r->heap[a] < r->heap[b]);
}

static void
heap_swap(replay_src_t *r, size_t a, size_t b)
{
    size_t t = r->heap[a];
    r->heap[a] = r->heap[b];
    r->heap[b] = t;
}

static void
heap_down(replay_src_t *r, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < r->n_heap && heap_less(r, l, m))
            m = l;
        if (l + 1 < r->n_heap && heap_less(r, l + 1, m))
            m = l + 1;
        if (m == i)
            return;
        heap_swap(r, i, m);
        i = m;
    }
}

static void
heap_up(replay_src_t *r, size_t i)
{
    while (i > 0 && heap_less(r, i, (i - 1) / 2)) {
        heap_swap(r, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

/* Loads the stream's next trade. Returns 1, 0 at its end, < 0 on a read error. */
static int
advance(replay_src_t *r, stream_t *s)
{
    int rc;
    while ((rc = kl_dumpstream_next(&s->ds, &s->next, 0)) > 0 && s->next.id <= s->resume_id)
        atomic_fetch_add_explicit(&r->base.skipped_events, 1, memory_order_relaxed);
    if (rc > 0)
        s->key_us = s->next.ts * (1000 / s->ds.unit_per_ms);
    return rc;
}

static void
sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int
replay_run(kl_source_t *src, kl_router_t *rt, const _Atomic int *stop)
{
    replay_src_t *r = (replay_src_t *)src;
    int status = 0;
    for (size_t i = 0; i < r->n_streams; i++) {
        int rc = advance(r, &r->streams[i]);
        if (rc < 0)
            status = rc;
        if (rc > 0) {
            r->heap[r->n_heap++] = i;
            heap_up(r, r->n_heap - 1);
        }
    }
    int64_t t0_wall = kl_mono_ms(), t0_event_us = 0;
    if (r->n_heap)
        t0_event_us = r->streams[r->heap[0]].key_us;
    uint64_t n = 0;
    while (r->n_heap > 0) {
        stream_t *s = &r->streams[r->heap[0]];
        if (r->pace > 0) {
            int64_t due = t0_wall + (int64_t)((double)(s->key_us - t0_event_us) / 1000.0 / r->pace);
            int64_t now = kl_mono_ms();
            if (due > now) {
                kl_router_flush(rt);
                sleep_ms(due - now > 50 ? 50 : due - now);
                if (atomic_load_explicit(stop, memory_order_relaxed))
                    break;
                continue;
            }
        }
        int rc = kl_router_trade(rt, s->symbol, s->symlen, (uint32_t)s->ds.unit_per_ms, &s->next);
        if (rc == KL_ESHUTDOWN)
            break;
        if (rc == KL_ENOMEM) { /* a replay that skipped a trade would not be exact: stop */
            kl_log(KL_LOG_ERROR, "replay", "trade_not_routed",
                   "symbol=%.*s id=%lld error=\"out of memory\" action=\"the replay source "
                   "stops with an error\"", (int)s->symlen, s->symbol, (long long)s->next.id);
            status = rc;
            break;
        }
        atomic_fetch_add_explicit(&src->trades, rc == 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&src->messages, 1, memory_order_relaxed);
        rc = advance(r, s);
        if (rc > 0) {
            heap_down(r, 0);
        } else {
            if (rc < 0)
                status = rc;
            r->heap[0] = r->heap[--r->n_heap];
            heap_down(r, 0);
        }
        if ((++n & 1023) == 0) {
            kl_router_flush(rt);
            if (atomic_load_explicit(stop, memory_order_relaxed))
                break;
        }
    }
    kl_router_flush(rt);
    kl_log(KL_LOG_INFO, "replay", "source_done", "trades=%llu rejected=%llu status=%s",
           (unsigned long long)atomic_load(&src->trades),
           (unsigned long long)atomic_load(&src->rejected), status ? kl_strerror(status) : "ok");
    return status;
}

static void
replay_destroy(kl_source_t *src)
{
    replay_src_t *r = (replay_src_t *)src;
    for (size_t i = 0; i < r->n_streams; i++)
        kl_dumpstream_close(&r->streams[i].ds);
    kl_free(r->streams);
    kl_free(r->heap);
    kl_inputs_free(&r->in);
    kl_free(r);
}

static const kl_source_ops_t replay_ops = {"replay", replay_run, replay_destroy};

int
kl_source_replay_create(const char *const *files, size_t n, double pace, kl_resume_fn resume,
                        void *resume_ctx, kl_source_t **out, char *err, size_t cap)
{
    replay_src_t *r = kl_calloc(1, sizeof *r);
    if (!r)
        return KL_ENOMEM;
    r->base.ops = &replay_ops;
    r->base.finite = 1;
    r->pace = pace;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = kl_inputs_add(&r->in, files[i], NULL, err, cap);
    if (rc == 0)
        rc = kl_inputs_prepare(&r->in, err, cap);
    if (rc == 0 && r->in.n > 0) {
        r->streams = kl_calloc(r->in.n, sizeof *r->streams);
        r->heap = kl_calloc(r->in.n, sizeof *r->heap);
        if (!r->streams || !r->heap)
            rc = KL_ENOMEM;
    }
    /* One stream per symbol: the sorted inputs hold each symbol's files together. */
    for (size_t first = 0; rc == 0 && first < r->in.n;) {
        size_t last = first + 1;
        while (last < r->in.n && strcmp(r->in.v[last].symbol, r->in.v[first].symbol) == 0)
            last++;
        stream_t *s = &r->streams[r->n_streams++];
        s->symbol = r->in.v[first].symbol;
        s->symlen = strlen(s->symbol);
        s->resume_id = resume ? resume(resume_ctx, s->symbol) : INT64_MIN;
        kl_dumpstream_init(&s->ds, &r->in.v[first], last - first, on_reject, r);
        first = last;
    }
    if (rc != 0) {
        if (rc == KL_ENOMEM)
            snprintf(err, cap, "replay source: out of memory");
        replay_destroy(&r->base);
        return rc;
    }
    *out = &r->base;
    return 0;
}
