/* Bounded lock-free single-producer/single-consumer ring of fixed 64-byte messages (Aeron
 * spsc_rb style), one per producer -> consumer edge. Messages are copied in and out; no heap
 * pointers travel through it except where a message type says so.
 *
 * DESIGN. head is written only by the producer, tail only by the consumer; each side caches the
 * other's index and reloads it only when the cache says full/empty, so the hot path touches one
 * shared cache line per batch. Publication is a release store of head after the slots are
 * written; the consumer's acquire load of head makes them visible. Overflow policy: the ring
 * never drops; a producer that finds it full waits (kl_ring_push spins, yields, then sleeps in
 * 50 us steps) and counts the wait. */
#ifndef KL_RUNTIME_RING_H
#define KL_RUNTIME_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "kl/types.h"

enum kl_msg_type {
    KL_MSG_TRADE = 1,
    KL_MSG_ADD,      /* add symbol sym named add.name, time unit add.unit_per_ms */
    KL_MSG_REMOVE,   /* finalize, persist and free symbol sym */
    KL_MSG_EOF,      /* a finite source ended: no more messages from this producer */
    KL_MSG_HOLD,     /* the source has a hole in sym's trades: the clock must not finalize past
                        them until KL_MSG_RELEASE (the backfill arrives first) */
    KL_MSG_RELEASE,
    KL_MSG_WATCH,    /* API -> worker: publish sym's intervals in watch.mask from now on (0:
                        stop), after sending what is pending for the newly watched ones; answered
                        by KL_PUB_SYNC_END carrying watch.token. Not logged: not state. */
    /* Kafka source (no WAL: the topic is the log, offsets are checkpointed with the states). */
    KL_MSG_KOFFSET,  /* koff: every message of partition koff.part before koff.next was sent */
    KL_MSG_ADOPT,    /* adopt: continue sym from a checkpointed state (blob: kl_alloc'd, the
                        worker frees it) */
    KL_MSG_HANDOFF,  /* handoff: checkpoint everything received so far, then report token done
                        (kl_worker_handoff_done) */
    KL_MSG_DROP,     /* let sym go without finalizing it: another instance continues it */
    KL_MSG_WMARK,    /* wmark: sym's feed delivered every trade before wmark.now_ms (event
                        time, ms): its klines that end by then are final. In order with its
                        trades, so none of those can still be behind it in the ring. */
};

typedef struct kl_msg {
    uint16_t type;
    uint16_t flags;
    uint32_t sym; /* global symbol id */
    union {
        kl_trade_t trade;
        struct {
            char name[32];
            uint32_t unit_per_ms;
        } add;
        struct {
            uint32_t mask;
            uint32_t token;
        } watch;
        struct {
            uint32_t part;
            int64_t next;
        } koff;
        struct {
            void *blob;
            uint32_t len;
        } adopt;
        struct {
            uint64_t token;
        } handoff;
        struct {
            int64_t now_ms;
        } wmark;
    } u;
} kl_msg_t;
_Static_assert(sizeof(kl_msg_t) == 64, "one message per cache line");

typedef struct kl_ring {
    _Alignas(64) _Atomic uint64_t head; /* next slot the producer writes */
    uint64_t tail_cache;                /* producer's view of tail */
    _Atomic uint64_t waits;             /* producer: times it found the ring full (stats) */
    _Alignas(64) _Atomic uint64_t tail; /* next slot the consumer reads */
    uint64_t head_cache;                /* consumer's view of head */
    _Alignas(64) uint64_t mask;
    kl_msg_t *slots;
} kl_ring_t;

/* Allocates a ring of capacity messages (a power of two). Returns 0 or KL_ENOMEM/KL_EARG.
 * Main thread, before the producer and consumer start. */
int kl_ring_init(kl_ring_t *r, size_t capacity);
void kl_ring_fini(kl_ring_t *r);

/* Producer thread only. Copies m in without waiting; returns 0, or KL_EFULL. */
int kl_ring_try_push(kl_ring_t *r, const kl_msg_t *m);

/* Producer thread only. Copies m in, waiting while the ring is full (backpressure). Returns 0,
 * or KL_ESHUTDOWN if *stop becomes non-zero while waiting (stop may be NULL). */
int kl_ring_push(kl_ring_t *r, const kl_msg_t *m, const _Atomic int *stop);

/* Consumer thread only. Copies up to max messages into out; returns how many (0 = empty). */
size_t kl_ring_pop(kl_ring_t *r, kl_msg_t *out, size_t max);

/* Messages waiting; approximate when called from a third thread (stats). */
size_t kl_ring_depth(const kl_ring_t *r);

#endif
