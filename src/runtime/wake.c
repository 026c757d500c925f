/* Futex eventcount and the spin -> yield -> park idle strategy.
 *
 * DESIGN. The consumer stores sleeping=1 then re-reads its queues; a producer stores into a
 * queue then reads sleeping. Both sides put a seq_cst fence between their store and their load
 * (Dekker), so at least one of them sees the other: either the consumer finds the work, or the
 * producer sees sleeping and bumps seq, which makes FUTEX_WAIT return at once. */
#include "runtime/wake.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void
kl_wake_init(kl_wake_t *w)
{
    atomic_init(&w->seq, 0);
    atomic_init(&w->sleeping, 0);
}

void
kl_wake_notify(kl_wake_t *w)
{
    atomic_thread_fence(memory_order_seq_cst); /* our queue store before the sleeping load */
    if (atomic_load_explicit(&w->sleeping, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&w->seq, 1, memory_order_release);
        syscall(SYS_futex, &w->seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}

uint32_t
kl_wake_prepare(kl_wake_t *w)
{
    uint32_t seq = atomic_load_explicit(&w->seq, memory_order_acquire);
    atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst); /* sleeping store before the queue re-check */
    return seq;
}

void
kl_wake_cancel(kl_wake_t *w)
{
    atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

void
kl_wake_wait(kl_wake_t *w, uint32_t seq, int timeout_ms)
{
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    syscall(SYS_futex, &w->seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
    atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

#define SPIN_PASSES 200
#define YIELD_PASSES 50

void
kl_idle(kl_idle_t *st, kl_wake_t *w, int work, int (*has_work)(void *), void *ctx, int park_ms)
{
    if (work) {
        st->idle_passes = 0;
        return;
    }
    unsigned n = st->idle_passes++;
    if (n < SPIN_PASSES) {
        __builtin_ia32_pause();
        return;
    }
    if (n < SPIN_PASSES + YIELD_PASSES) {
        sched_yield();
        return;
    }
    uint32_t seq = kl_wake_prepare(w);
    if (has_work(ctx)) {
        kl_wake_cancel(w);
        st->idle_passes = 0;
        return;
    }
    kl_wake_wait(w, seq, park_ms);
}
