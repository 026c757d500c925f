/* The HTTP and WebSocket API: Binance-compatible REST and kline streams, the admin endpoints,
 * /metrics, /healthz and the chart page, all served by one libwebsockets context on one thread
 * ("kl-api").
 *
 * DESIGN. The API thread never touches kline state. It asks a worker to "watch" a (symbol,
 * interval) pair (KL_MSG_WATCH on the worker's API ring); the worker then sends, through its
 * bounded publication ring (runtime/pub.h), the finals the store does not have yet and the live
 * kline, then every change of the pair. The API keeps, per watched pair, the live kline and the
 * last finals: REST answers = the store's rows overlaid with those (the store lags by up to one
 * persist period), WS clients get each change. A worker never waits for the API, and the API
 * never waits for a client: each WS client has a bounded queue in which a stream's pending
 * update is replaced by its newer state, and a client whose queue overflows is disconnected.
 * Pairs nobody asked for during a minute are unwatched. */
#ifndef KL_API_API_H
#define KL_API_API_H

#include <stddef.h>

#include "core/config.h"
#include "engine/kline.h"
#include "runtime/pub.h"
#include "runtime/symreg.h"
#include "runtime/worker.h"

typedef struct kl_api kl_api_t;
typedef struct kl_service kl_service_t;

typedef struct kl_api_deps {
    const kl_config_t *cfg;
    kl_service_t *svc; /* admin commands, metrics */
    kl_symreg_t *reg;
    kl_worker_t **workers;
    int n_workers;
    const kl_sched_t *sched_ms, *sched_us; /* the service's schedules (tz plans) */
} kl_api_deps_t;

/* Binds the listening socket, opens the API's own store handle and creates one publication ring
 * per worker (connect them with kl_worker_set_api before the workers start). Returns 0 and *out,
 * or an error with a message in err. Main thread. */
int kl_api_create(const kl_api_deps_t *d, kl_api_t **out, char *err, size_t cap);
kl_pubring_t *kl_api_pubring(kl_api_t *a, int worker);

/* Starts the API thread. Returns 0 or -errno. */
int kl_api_start(kl_api_t *a);
/* Stops the thread (if started): no more requests are served. Main thread; NULL is a no-op. */
void kl_api_stop(kl_api_t *a);
/* Closes every connection and frees, after the workers stopped (they may wake the API until
 * then). Main thread; NULL is a no-op. */
void kl_api_destroy(kl_api_t *a);

#endif
