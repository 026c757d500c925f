/* A router sends one source thread's trades to the workers that own their symbols. Each source
 * thread owns one router and is producer number `producer` on every worker's rings, so each edge
 * is SPSC. Symbol lookups hit a local cache (name -> id, worker) and go to the registry only on a
 * miss; the cache is dropped when the registry's epoch moves (a symbol was removed). Workers are
 * notified once per flush, not once per trade. Owner thread only. */
#ifndef KL_RUNTIME_ROUTER_H
#define KL_RUNTIME_ROUTER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "kl/types.h"
#include "runtime/symreg.h"
#include "runtime/worker.h"

#define KL_ROUTER_CACHE 4096 /* entries, power of two */

typedef struct kl_route {
    char name[KL_SYM_MAX];
    uint32_t sym;
    int worker; /* -1: empty */
} kl_route_t;

typedef struct kl_router {
    kl_worker_t **workers;
    int n_workers;
    int producer;
    kl_symreg_t *reg;
    int auto_add; /* unknown symbols are added (auto-add-symbols), within max-symbols and the
                     creation rate; removed ones are not */
    /* Time policy the source applies (set by the service before the source starts): */
    int wmark;           /* finality follows the source's watermarks (kl_router_wmark) */
    int64_t disorder_ms; /* config disorder-ms */
    int64_t idle_ms;     /* config idle-ms */
    int64_t max_skew_ms; /* config max-skew-ms: trades further ahead of exchange time are
                            refused; 0 = no bound (event clock) */
    const _Atomic int *stop;
    uint64_t epoch;
    uint64_t notify; /* bit per worker pushed to since the last flush */
    uint64_t routed, unknown;
    kl_route_t *cache;
    /* klined bridge: when set, trades go to sink instead of the workers (holds are no-ops). */
    int (*sink)(void *ctx, const char *symbol, size_t len, uint32_t unit_per_ms,
                const kl_trade_t *t);
    void *sink_ctx;
} kl_router_t;

/* Returns 0 or KL_ENOMEM. n_workers <= 64. */
int kl_router_init(kl_router_t *rt, kl_worker_t **workers, int n_workers, int producer,
                   kl_symreg_t *reg, int auto_add, const _Atomic int *stop);
void kl_router_fini(kl_router_t *rt);

/* Routes one validated trade of symbol (len bytes, [A-Z0-9]) in time unit unit_per_ms. Waits
 * while the worker's ring is full. Returns 0; KL_EARG when the symbol is unknown and not added,
 * or not a valid name (counted by the registry); KL_ESYMLIMIT when adding it was refused by
 * max-symbols or the creation rate (counted by the registry); both counted in rt->unknown;
 * KL_ESHUTDOWN when stopping. */
int kl_router_trade(kl_router_t *rt, const char *symbol, size_t len, uint32_t unit_per_ms,
                    const kl_trade_t *t);

/* Holds (hold = 1) or releases the clock of symbol (len bytes) on its worker, in order with its
 * trades: a source calls it when it finds a hole in a symbol's trades and again once the hole is
 * filled, so that wall-clock ticks never finalize klines its backfill still belongs to. Returns
 * 0, KL_EARG (unknown symbol) or KL_ESHUTDOWN. */
int kl_router_hold(kl_router_t *rt, const char *symbol, size_t len, int hold);

/* Announces that symbol's feed delivered every trade before now_ms (event time, ms): its
 * klines that end by then become final. Goes through the ring of its trades, behind them.
 * Returns 0, KL_EARG (unknown symbol: never added by this) or KL_ESHUTDOWN. */
int kl_router_wmark(kl_router_t *rt, const char *symbol, size_t len, int64_t now_ms);

/* Sends a control message (KL_MSG_ADD/REMOVE) for sym to worker w. */
int kl_router_control(kl_router_t *rt, int w, const kl_msg_t *m);

/* Wakes the workers that received messages since the last flush. */
void kl_router_flush(kl_router_t *rt);

#endif
