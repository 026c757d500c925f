/* The clock thread: the service's metronome. With the wall clock it ticks every worker at each
 * whole second (kline finality for live sources); it asks every worker for a snapshot each
 * persist period; and it calls a stats callback each stats period. It sleeps between events on
 * a futex, so an idle service wakes only for these. */
#ifndef KL_RUNTIME_CLOCK_H
#define KL_RUNTIME_CLOCK_H

#include <stdint.h>

#include "runtime/worker.h"

typedef struct kl_clock kl_clock_t;

typedef struct kl_clock_cfg {
    kl_worker_t **workers;
    int n_workers;
    int wall;          /* tick workers with the wall clock */
    int64_t persist_ms;
    int64_t stats_ms;  /* 0: no stats callback */
    void (*stats_fn)(void *ctx);
    void *stats_ctx;
} kl_clock_cfg_t;

/* Starts the thread ("kl-clock"). Returns 0 and *out, or a negative error. Main thread. */
int kl_clock_start(const kl_clock_cfg_t *cfg, kl_clock_t **out);
/* Stops and joins it. Main thread. */
void kl_clock_stop(kl_clock_t *c);

#endif
