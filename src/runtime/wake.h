/* Eventcount for parking an idle consumer thread on a futex and waking it from any producer,
 * so that a busy path pays one relaxed load per batch and an idle service sleeps. */
#ifndef KL_RUNTIME_WAKE_H
#define KL_RUNTIME_WAKE_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct kl_wake {
    _Alignas(64) _Atomic uint32_t seq;
    _Atomic int sleeping;
} kl_wake_t;

void kl_wake_init(kl_wake_t *w);

/* Any thread, after publishing work: wakes the consumer if it is parked. */
void kl_wake_notify(kl_wake_t *w);

/* Consumer only. Announces the intent to sleep and returns the sequence to wait on; the caller
 * must then re-check for work and call either kl_wake_cancel() or kl_wake_wait(). */
uint32_t kl_wake_prepare(kl_wake_t *w);
void kl_wake_cancel(kl_wake_t *w);

/* Consumer only. Sleeps until notified after prepare, or timeout_ms passes. */
void kl_wake_wait(kl_wake_t *w, uint32_t seq, int timeout_ms);

/* The idle strategy of an agent loop: call after each pass with the work it did. Spins, then
 * yields, then parks via kl_wake; has_work re-checks the inputs between prepare and wait. */
typedef struct kl_idle {
    unsigned idle_passes;
} kl_idle_t;

void kl_idle(kl_idle_t *st, kl_wake_t *w, int work, int (*has_work)(void *), void *ctx,
             int park_ms);

#endif
