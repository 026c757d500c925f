/* Clock thread; see clock.h. */
#include "runtime/clock.h"

#include <pthread.h>
#include <stdatomic.h>

#include "core/alloc.h"
#include "core/log.h"
#include "kl/err.h"
#include "runtime/wake.h"

struct kl_clock {
    kl_clock_cfg_t cfg;
    pthread_t thread;
    kl_wake_t wake;
    _Atomic int stop;
};

static void *
clock_main(void *arg)
{
    kl_clock_t *c = arg;
    pthread_setname_np(pthread_self(), "kl-clock");
    int64_t mono = kl_mono_ms();
    int64_t next_persist = mono + c->cfg.persist_ms;
    int64_t next_stats = c->cfg.stats_ms > 0 ? mono + c->cfg.stats_ms : INT64_MAX;
    int64_t last_second = kl_now_ms() / 1000;
    while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
        int64_t now = kl_now_ms();
        mono = kl_mono_ms();
        if (c->cfg.wall && now / 1000 != last_second) {
            last_second = now / 1000;
            for (int i = 0; i < c->cfg.n_workers; i++)
                kl_worker_tick(c->cfg.workers[i], now);
        }
        if (mono >= next_persist) {
            for (int i = 0; i < c->cfg.n_workers; i++)
                kl_worker_request_snapshot(c->cfg.workers[i]);
            next_persist += c->cfg.persist_ms;
            if (next_persist <= mono) /* fell behind (suspended): no burst of requests */
                next_persist = mono + c->cfg.persist_ms;
        }
        if (mono >= next_stats) {
            c->cfg.stats_fn(c->cfg.stats_ctx);
            next_stats = mono + c->cfg.stats_ms;
        }
        int64_t wait = next_persist - mono;
        if (c->cfg.wall) {
            int64_t to_second = 1000 - now % 1000;
            if (to_second < wait)
                wait = to_second;
        }
        if (next_stats - mono < wait)
            wait = next_stats - mono;
        if (wait < 1)
            wait = 1;
        uint32_t seq = kl_wake_prepare(&c->wake);
        if (atomic_load_explicit(&c->stop, memory_order_acquire)) {
            kl_wake_cancel(&c->wake);
            break;
        }
        kl_wake_wait(&c->wake, seq, (int)wait);
    }
    return NULL;
}

int
kl_clock_start(const kl_clock_cfg_t *cfg, kl_clock_t **out)
{
    if (cfg->persist_ms <= 0 || (cfg->stats_ms > 0 && !cfg->stats_fn))
        return KL_EARG;
    kl_clock_t *c = kl_calloc(1, sizeof *c);
    if (!c)
        return KL_ENOMEM;
    c->cfg = *cfg;
    kl_wake_init(&c->wake);
    int rc = pthread_create(&c->thread, NULL, clock_main, c);
    if (rc != 0) {
        kl_free(c);
        return -rc;
    }
    *out = c;
    return 0;
}

void
kl_clock_stop(kl_clock_t *c)
{
    if (!c)
        return;
    atomic_store_explicit(&c->stop, 1, memory_order_release);
    kl_wake_notify(&c->wake);
    pthread_join(c->thread, NULL);
    kl_free(c);
}
