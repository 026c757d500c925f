/* The worker -> API kline ring; see pub.h for the design and the wakeup protocol. */
#include "runtime/pub.h"

#include <string.h>

#include "core/alloc.h"
#include "kl/err.h"

int
kl_pubring_init(kl_pubring_t *r, size_t capacity, void (*wake)(void *), void *wake_ctx)
{
    if (capacity < 2 || (capacity & (capacity - 1)) != 0)
        return KL_EARG;
    memset(r, 0, sizeof *r);
    r->slots = kl_calloc(capacity, sizeof *r->slots);
    if (!r->slots)
        return KL_ENOMEM;
    r->mask = capacity - 1;
    r->wake = wake;
    r->wake_ctx = wake_ctx;
    return 0;
}

void
kl_pubring_fini(kl_pubring_t *r)
{
    kl_free(r->slots);
    r->slots = NULL;
}

int
kl_pubring_push(kl_pubring_t *r, const kl_pub_msg_t *m)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (head - r->tail_cache > r->mask) {
        /* acquire: the consumer finished reading the slots it freed. */
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head - r->tail_cache > r->mask) {
            atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
            return KL_EFULL;
        }
    }
    r->slots[head & r->mask] = *m;
    /* release: the slot is written before the consumer can see the new head. */
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    r->pushed++;
    return 0;
}

void
kl_pubring_flush(kl_pubring_t *r)
{
    if (!r->pushed)
        return;
    r->pushed = 0;
    /* Dekker with kl_pubring_arm + kl_pubring_pending: the fence orders the (release) head
     * stores before the read of armed, so either we see armed or the consumer sees the head. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_exchange(&r->armed, 0) && r->wake)
        r->wake(r->wake_ctx);
}

size_t
kl_pubring_pop(kl_pubring_t *r, kl_pub_msg_t *out, size_t max)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (r->head_cache == tail) {
        /* acquire: pairs with the producer's release of head. */
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (r->head_cache == tail)
            return 0;
    }
    size_t n = 0;
    while (n < max && tail != r->head_cache) {
        out[n++] = r->slots[tail & r->mask];
        tail++;
    }
    /* release: our reads of the slots happen before the producer may reuse them. */
    atomic_store_explicit(&r->tail, tail, memory_order_release);
    return n;
}

void
kl_pubring_arm(kl_pubring_t *r)
{
    atomic_store(&r->armed, 1);
}

int
kl_pubring_pending(kl_pubring_t *r)
{
    /* seq_cst: pairs with the producer's exchange in kl_pubring_flush. */
    return atomic_load(&r->head) != atomic_load_explicit(&r->tail, memory_order_relaxed);
}
