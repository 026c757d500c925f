/* SPSC ring implementation; see ring.h for the memory-ordering design. */
#include "runtime/ring.h"

#include <sched.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "kl/err.h"

int
kl_ring_init(kl_ring_t *r, size_t capacity)
{
    if (capacity < 2 || (capacity & (capacity - 1)) != 0)
        return KL_EARG;
    memset(r, 0, sizeof *r);
    r->slots = kl_calloc(capacity, sizeof *r->slots);
    if (!r->slots)
        return KL_ENOMEM;
    r->mask = capacity - 1;
    return 0;
}

void
kl_ring_fini(kl_ring_t *r)
{
    kl_free(r->slots);
    r->slots = NULL;
}

int
kl_ring_try_push(kl_ring_t *r, const kl_msg_t *m)
{
    /* relaxed: head is written only by this thread. */
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (head - r->tail_cache > r->mask) {
        /* acquire: the consumer's reads of the slots it freed happen before we overwrite them. */
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head - r->tail_cache > r->mask)
            return KL_EFULL;
    }
    r->slots[head & r->mask] = *m;
    /* release: the slot contents are visible before the consumer sees the new head. */
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    return 0;
}

int
kl_ring_push(kl_ring_t *r, const kl_msg_t *m, const _Atomic int *stop)
{
    if (kl_ring_try_push(r, m) == 0)
        return 0;
    /* relaxed: a statistic, read by the stats line from another thread. */
    atomic_fetch_add_explicit(&r->waits, 1, memory_order_relaxed);
    for (unsigned spins = 0;; spins++) {
        if (kl_ring_try_push(r, m) == 0)
            return 0;
        /* relaxed: a stop request needs no ordering with the ring. */
        if (stop && atomic_load_explicit(stop, memory_order_relaxed))
            return KL_ESHUTDOWN;
        if (spins < 64) {
            __builtin_ia32_pause();
        } else if (spins < 128) {
            sched_yield();
        } else {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
    }
}

size_t
kl_ring_pop(kl_ring_t *r, kl_msg_t *out, size_t max)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (r->head_cache == tail) {
        /* acquire: pairs with the producer's release of head (slot contents). */
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (r->head_cache == tail)
            return 0;
    }
    size_t n = (size_t)(r->head_cache - tail);
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++)
        out[i] = r->slots[(tail + i) & r->mask];
    /* release: our reads of the slots complete before the producer may reuse them. */
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
    return n;
}

size_t
kl_ring_depth(const kl_ring_t *r)
{
    /* relaxed: an approximate figure for stats. */
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    return h >= t ? (size_t)(h - t) : 0;
}
