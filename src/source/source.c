/* What every source shares (source.h): its counters read for the stats line and /metrics, and
 * the future bound on live trades. */
#include "source/source.h"

#include <stdatomic.h>
#include <string.h>

#include "core/log.h"
#include "kl/err.h"

void
kl_source_stats(kl_source_t *src, kl_source_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->messages = atomic_load_explicit(&src->messages, memory_order_relaxed);
    out->trades = atomic_load_explicit(&src->trades, memory_order_relaxed);
    out->rejected = atomic_load_explicit(&src->rejected, memory_order_relaxed);
    out->skipped_events = atomic_load_explicit(&src->skipped_events, memory_order_relaxed);
    out->too_far_ahead = atomic_load_explicit(&src->too_far_ahead, memory_order_relaxed);
}

int
kl_source_check_time(kl_source_t *src, const kl_router_t *rt, const char *symbol, size_t len,
                     const kl_trade_t *t, int64_t now_ms, kl_ratelimit_t *rl)
{
    if (rt->max_skew_ms <= 0 || t->ts <= now_ms + rt->max_skew_ms)
        return 0;
    uint64_t n = atomic_fetch_add_explicit(&src->too_far_ahead, 1, memory_order_relaxed) + 1;
    uint64_t supp;
    if (kl_ratelimit_ok(rl, 1000, &supp))
        kl_log(KL_LOG_WARN, "source", "trade_from_future",
               "source=%s symbol=%.*s id=%lld trade_ms=%lld exchange_now_ms=%lld ahead_ms=%lld "
               "max_skew_ms=%lld action=refused refused=%llu suppressed=%llu",
               src->ops->name, (int)len, symbol, (long long)t->id, (long long)t->ts,
               (long long)now_ms, (long long)(t->ts - now_ms), (long long)rt->max_skew_ms,
               (unsigned long long)n, (unsigned long long)supp);
    return KL_ETIME;
}
