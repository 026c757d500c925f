/* Kline publication from the workers to the API thread: one bounded SPSC ring per worker
 * (worker -> API), carrying fixed-size kline messages for the (symbol, interval) pairs the API
 * watches. It is the only way kline state leaves a worker for clients, and it never blocks the
 * worker: a full ring drops the message and counts it (the next update of the pair carries the
 * newest state again; a dropped final is still in the store).
 *
 * DESIGN. Same index discipline as ring.h (each side caches the other's index). Waking the
 * API thread costs a syscall (lws_cancel_service), so it is paid at most once per API drain: the
 * consumer "arms" the ring before it sleeps, and a producer's flush wakes it only if it finds it
 * armed (an atomic exchange), after which the consumer drains, re-arms and re-checks. */
#ifndef KL_RUNTIME_PUB_H
#define KL_RUNTIME_PUB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "kl/types.h"

enum kl_pub_type {
    KL_PUB_LIVE = 1, /* the current (open) kline of (sym, iv) after a pass that changed it */
    KL_PUB_FINAL,    /* a kline that became final (or a hole, or a correction: flags) */
    KL_PUB_SYNC_END, /* answer to a watch request: everything pending was sent (iv = -1) */
};

typedef struct kl_pub_msg {
    uint8_t type;
    int8_t iv;            /* enum kl_iv; -1 for SYNC_END */
    uint16_t unit_per_ms; /* time unit of k's times */
    uint32_t sym;         /* global symbol id */
    uint32_t flags;       /* kl_emit_flags of a FINAL; for SYNC_END 1 = symbol not served */
    uint32_t token;       /* SYNC_END: the watch request's token */
    uint64_t t_ns;        /* monotonic ns when the worker published it (latency metrics) */
    uint64_t snap_gen;    /* FINAL: the worker's snapshot count when it was emitted; the store
                             has the kline once a snapshot after it commits */
    kl_kline_t k;
} kl_pub_msg_t;

typedef struct kl_pubring {
    _Alignas(64) _Atomic uint64_t head;
    uint64_t tail_cache;
    uint64_t pushed; /* since the last flush (producer) */
    _Atomic uint64_t dropped;
    _Alignas(64) _Atomic uint64_t tail;
    uint64_t head_cache;
    _Alignas(64) _Atomic int armed; /* consumer is about to sleep: the next flush wakes it */
    uint64_t mask;
    kl_pub_msg_t *slots;
    void (*wake)(void *ctx); /* wakes the consumer (thread-safe), e.g. lws_cancel_service */
    void *wake_ctx;
} kl_pubring_t;

/* capacity: power of two. Returns 0, KL_EARG or KL_ENOMEM. Before either side starts. */
int kl_pubring_init(kl_pubring_t *r, size_t capacity, void (*wake)(void *), void *wake_ctx);
void kl_pubring_fini(kl_pubring_t *r);

/* Producer: copies m in; on a full ring drops it, counts it and returns KL_EFULL. */
int kl_pubring_push(kl_pubring_t *r, const kl_pub_msg_t *m);
/* Producer, after a batch of pushes: wakes the consumer if it is armed. */
void kl_pubring_flush(kl_pubring_t *r);

/* Consumer: copies up to max messages out; returns how many. */
size_t kl_pubring_pop(kl_pubring_t *r, kl_pub_msg_t *out, size_t max);
/* Consumer, before it sleeps: arm the wakeup, then call kl_pubring_pending() once more (a push
 * flushed before the arm did not wake it). */
void kl_pubring_arm(kl_pubring_t *r);
int kl_pubring_pending(kl_pubring_t *r);

#endif
