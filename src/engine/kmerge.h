/* Klines in a client's time zone, computed exactly from the service's own klines. The service
 * aggregates in its configured offset; a REST/WS client may ask for another (Binance's
 * `timeZone`, `@+08:00`). Intervals whose boundaries coincide are served as they are; any other
 * is folded from the largest enabled interval whose boundaries are a superset of the requested
 * ones, which gives what aggregating the trades in that zone gives. Pure functions; any thread
 * may call them on data it owns. */
#ifndef KL_ENGINE_KMERGE_H
#define KL_ENGINE_KMERGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/interval.h"
#include "engine/kline.h"
#include "kl/types.h"

/* Merges k (the next kline in time order, same symbol) into acc. Semantics equal aggregating the
 * trades of both: open = first kline WITH trades' open, close = last with trades' close,
 * high/low over klines with trades, sums and trade counts added, first_id = first traded
 * kline's, last_id = last traded kline's; close_time = k's close_time. A hole kline (trades == 0:
 * O=H=L=C = previous close, ids -1) changes nothing but close_time, except when acc has no trade
 * yet (then acc stays a hole at that price). *acc must start as a copy of the first kline. */
void kl_kline_merge(kl_kline_t *acc, const kl_kline_t *k);

typedef struct kl_tz_plan {
    int iv;         /* requested enum kl_iv */
    int direct;     /* 1: the service's own iv klines already are the answer (boundaries coincide) */
    int base_iv;    /* the service interval to read: iv itself when direct, else the largest
                     * enabled one whose boundaries tile every tz kline */
    kl_ivspec_t tz; /* the requested iv in the requested tz (the service's origin for iv when it
                     * is enabled, the default origin otherwise), in the service's unit */
} kl_tz_plan_t;

/* Plans how to serve interval iv (enum kl_iv) in offset tz_minutes from a service scheduled by
 * svc. Tiling means every tz boundary is a base boundary: for fixed lengths, the base length
 * divides iv's and the two grids share a point; for the calendar month, the base length divides
 * a day and the base grid holds the tz's local midnights. 1M is only ever direct (same offset).
 * Returns 0 and fills *out, or KL_EINTERVAL when iv is out of range or neither enabled and
 * directly compatible nor tileable by an enabled interval, or KL_ETZ for an offset outside
 * -12:00 .. +14:00. *out is written only on success. */
int kl_tz_plan(const kl_sched_t *svc, int iv, int32_t tz_minutes, kl_tz_plan_t *out);

/* Folds base klines (ascending open_time, base_iv of the service, possibly with gaps) into tz
 * klines: out[j] is the merge (kl_kline_merge) of the base klines whose open_time lies in
 * [tz open, tz close], with open_time/close_time set to that tz kline's bounds. A tz kline whose
 * first base kline is missing starts at the first present one; a tz kline with no base kline
 * at all is not written (a gap stays a gap). Returns the number written (<= cap); the caller
 * passes base klines that start at a tz boundary (or accepts a partial first kline) and, if
 * the result is cap, folds the rest from where it stopped. base and out must not overlap. */
size_t kl_tz_fold(const kl_tz_plan_t *p, const kl_kline_t *base, size_t n, kl_kline_t *out,
                  size_t cap);

#endif
