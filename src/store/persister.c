/* Persister thread: see persister.h. */
#include "store/persister.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "kl/err.h"

struct kl_persister {
    kl_store_t *store;
    kl_worker_t **workers;
    int n_workers;
    kl_wake_t wake;
    pthread_t thread;
    int started;
    _Atomic int stop;
    _Atomic uint64_t commits, failures, rows, last_us, max_us;
    _Atomic int64_t last_ok_ms, last_fail_ms; /* monotonic; 0: never */
    kl_hist_t commit_lat;
    void (*on_commit)(void *ctx, const kl_store_row_t *rows, size_t n);
    void *on_commit_ctx;
    kl_store_kv_t *kv; /* one batch's meta values: the WAL position and any Kafka offsets */
    size_t kv_cap;
    kl_ratelimit_t rl;
};

static int
pass(kl_persister_t *p)
{
    int work = 0;
    for (int i = 0; i < p->n_workers; i++) {
        kl_snap_batch_t b;
        uint64_t seq;
        int index;
        if (!kl_worker_batch_pending(p->workers[i], &b, &seq, &index))
            continue;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        char err[512] = "", key[48];
        /* The checkpoint: rows, engine states and the WAL position they cover, together. */
        kl_worker_wal_key(p->workers[i], index, key, sizeof key);
        const kl_store_kv_t *extra;
        size_t n_extra = kl_worker_batch_kv(p->workers[i], &extra);
        if (n_extra + 1 > p->kv_cap) {
            kl_free(p->kv);
            p->kv = kl_alloc((n_extra + 1) * sizeof *p->kv);
            p->kv_cap = p->kv ? n_extra + 1 : 0;
            if (!p->kv) { /* retried: the worker keeps the batch */
                kl_worker_batch_done(p->workers[i], 0);
                continue;
            }
        }
        p->kv[0] = (kl_store_kv_t){key, (int64_t)seq};
        if (n_extra)
            memcpy(&p->kv[1], extra, n_extra * sizeof *extra);
        kl_store_batch_t batch = {b.rows, b.n, b.states, b.n_states, p->kv, n_extra + 1};
        int rc = kl_store_commit_batch(p->store, &batch, err, sizeof err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        uint64_t us = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
        /* relaxed: statistics only. */
        atomic_store_explicit(&p->last_us, us, memory_order_relaxed);
        if (us > atomic_load_explicit(&p->max_us, memory_order_relaxed))
            atomic_store_explicit(&p->max_us, us, memory_order_relaxed);
        kl_hist_record(&p->commit_lat, us * 1000u);
        atomic_store_explicit(rc == 0 ? &p->last_ok_ms : &p->last_fail_ms, kl_mono_ms(),
                              memory_order_relaxed);
        if (rc == 0) {
            atomic_fetch_add_explicit(&p->commits, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&p->rows, b.n, memory_order_relaxed);
            if (p->on_commit) /* after the commit: what it publishes is durable */
                p->on_commit(p->on_commit_ctx, b.rows, b.n);
        } else {
            atomic_fetch_add_explicit(&p->failures, 1, memory_order_relaxed);
            uint64_t supp;
            if (kl_ratelimit_ok(&p->rl, 5000, &supp))
                kl_log(KL_LOG_ERROR, "persister", "commit_failed",
                       "worker=%d rows=%zu error=\"%s\" action=\"batch kept by the worker, "
                       "retried with backoff\" suppressed=%llu",
                       i, b.n, err, (unsigned long long)supp);
        }
        kl_worker_batch_done(p->workers[i], rc == 0);
        work++;
    }
    return work;
}

static int
has_work(void *ctx)
{
    kl_persister_t *p = ctx;
    kl_snap_batch_t b;
    uint64_t seq;
    int index;
    for (int i = 0; i < p->n_workers; i++)
        if (kl_worker_batch_pending(p->workers[i], &b, &seq, &index))
            return 1;
    return atomic_load_explicit(&p->stop, memory_order_relaxed);
}

static void *
persister_main(void *arg)
{
    kl_persister_t *p = arg;
    pthread_setname_np(pthread_self(), "kl-persister");
    kl_idle_t idle = {0};
    for (;;) {
        int work = pass(p);
        /* acquire: pairs with kl_persister_stop(); workers have exited by then. */
        if (!work && atomic_load_explicit(&p->stop, memory_order_acquire))
            break;
        kl_idle(&idle, &p->wake, work, has_work, p, 200);
    }
    return NULL;
}

kl_persister_t *
kl_persister_create(kl_store_t *store)
{
    kl_persister_t *p = kl_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->store = store;
    kl_wake_init(&p->wake);
    return p;
}

void
kl_persister_set_workers(kl_persister_t *p, kl_worker_t **workers, int n)
{
    p->workers = workers;
    p->n_workers = n;
}

kl_wake_t *
kl_persister_wake(kl_persister_t *p)
{
    return &p->wake;
}

int
kl_persister_start(kl_persister_t *p)
{
    int rc = pthread_create(&p->thread, NULL, persister_main, p);
    if (rc != 0)
        return -rc;
    p->started = 1;
    return 0;
}

void
kl_persister_stop(kl_persister_t *p)
{
    if (!p->started)
        return;
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    kl_wake_notify(&p->wake);
    pthread_join(p->thread, NULL);
    p->started = 0;
}

void
kl_persister_destroy(kl_persister_t *p)
{
    if (p)
        kl_free(p->kv);
    kl_free(p);
}

void
kl_persister_on_commit(kl_persister_t *p, void (*fn)(void *, const kl_store_row_t *, size_t),
                       void *ctx)
{
    p->on_commit = fn;
    p->on_commit_ctx = ctx;
}

void
kl_persister_stats(kl_persister_t *p, kl_persister_stats_t *out)
{
    out->commits = atomic_load_explicit(&p->commits, memory_order_relaxed);
    out->failures = atomic_load_explicit(&p->failures, memory_order_relaxed);
    out->rows = atomic_load_explicit(&p->rows, memory_order_relaxed);
    out->last_commit_us = atomic_load_explicit(&p->last_us, memory_order_relaxed);
    out->max_commit_us = atomic_load_explicit(&p->max_us, memory_order_relaxed);
    out->last_ok_ms = atomic_load_explicit(&p->last_ok_ms, memory_order_relaxed);
    out->last_fail_ms = atomic_load_explicit(&p->last_fail_ms, memory_order_relaxed);
    kl_hist_read(&p->commit_lat, &out->commit_lat);
}
