/* Latency histogram with one writer and lock-free readers (see hist.h DESIGN). The writer's
 * update is a relaxed load and store per field, not an atomic add: with one writer there is no
 * lost update to guard against, and a plain store costs no locked instruction on the hot path. */
#include "core/hist.h"

#include <stddef.h>

const uint64_t kl_hist_bounds_ns[KL_HIST_BUCKETS] = {
    1000ULL,          2000ULL,          5000ULL,          10000ULL,         20000ULL,
    50000ULL,         100000ULL,        200000ULL,        500000ULL,        1000000ULL,
    2000000ULL,       5000000ULL,       10000000ULL,      20000000ULL,      50000000ULL,
    100000000ULL,     200000000ULL,     500000000ULL,     1000000000ULL,    2000000000ULL,
    5000000000ULL,    10000000000ULL,   30000000000ULL,   UINT64_MAX,
};

/* First bucket whose bound is >= ns: a binary search over 23 finite bounds (5 compares), and
 * the last bucket catches the rest. */
static unsigned
bucket_of(uint64_t ns)
{
    unsigned lo = 0, hi = KL_HIST_BUCKETS - 1;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (ns <= kl_hist_bounds_ns[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void
kl_hist_record(kl_hist_t *h, uint64_t ns)
{
    unsigned i = bucket_of(ns);
    /* relaxed: single writer, so load+store cannot lose an update; readers tolerate skew. */
    uint64_t v = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
    atomic_store_explicit(&h->bucket[i], v + 1, memory_order_relaxed);
    v = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
    atomic_store_explicit(&h->sum_ns, v + ns, memory_order_relaxed);
    v = atomic_load_explicit(&h->count, memory_order_relaxed);
    atomic_store_explicit(&h->count, v + 1, memory_order_relaxed);
}

void
kl_hist_read(const kl_hist_t *h, kl_hist_snap_t *out)
{
    uint64_t total = 0;
    for (size_t i = 0; i < KL_HIST_BUCKETS; i++) {
        /* relaxed: a metrics read; each counter only grows, skew between them is allowed. */
        out->bucket[i] = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        total += out->bucket[i];
    }
    out->sum_ns = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
    /* Prometheus requires _count == the +Inf bucket, and a record in flight may have bumped a
     * bucket but not yet count: the buckets read are the truth, so count is their sum (h->count
     * is for readers that want one load). */
    out->count = total;
}

void
kl_hist_add(kl_hist_snap_t *acc, const kl_hist_snap_t *s)
{
    for (size_t i = 0; i < KL_HIST_BUCKETS; i++)
        acc->bucket[i] += s->bucket[i];
    acc->count += s->count;
    acc->sum_ns += s->sum_ns;
}
