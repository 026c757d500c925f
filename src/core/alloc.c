/* Counting allocator over aligned_alloc. Each block carries a 64-byte header holding its size,
 * so kl_free can keep the live-byte count exact without malloc_usable_size, and every payload
 * is cache-line aligned: rings, wakeups and workers have _Alignas(64) members. */
#include "core/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define HDR 64 /* keeps the payload 64-byte aligned */

static _Atomic int64_t live_bytes;
static _Atomic int64_t fail_countdown;

void *
kl_alloc(size_t n)
{
    /* relaxed: the countdown is a test hook; exactness across threads is not needed. */
    int64_t c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (c > 0 && atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed) == 1)
        return NULL;
    if (n > SIZE_MAX - HDR)
        return NULL;
    size_t total = (n + HDR + 63) & ~(size_t)63;
    unsigned char *p = total >= n ? aligned_alloc(64, total) : NULL;
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    atomic_fetch_add_explicit(&live_bytes, (int64_t)n, memory_order_relaxed);
    return p + HDR;
}

void *
kl_calloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    void *p = kl_alloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void
kl_free(void *p)
{
    if (!p)
        return;
    unsigned char *base = (unsigned char *)p - HDR;
    size_t n;
    memcpy(&n, base, sizeof n);
    atomic_fetch_sub_explicit(&live_bytes, (int64_t)n, memory_order_relaxed);
    free(base);
}

int64_t
kl_alloc_live_bytes(void)
{
    return atomic_load_explicit(&live_bytes, memory_order_relaxed);
}

void
kl_alloc_fail_after(int64_t nth)
{
    atomic_store_explicit(&fail_countdown, nth, memory_order_relaxed);
}
