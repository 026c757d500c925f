/* The running service: the store, the symbol registry, the workers, the persister, the clock and
 * the source, started and stopped in a documented order, plus the internal admin API that the
 * HTTP admin endpoints will call.
 *
 * Start order: store (schema) -> registry (configured symbols) -> workers -> the live source's
 * stream kind checked against the store -> recovery (states from the store + WAL replay,
 * recover.h) -> WAL writers -> source -> persister -> workers' threads -> clock -> source thread.
 * Stop order (SIGINT/SIGTERM, or the end of a finite source with --exit-on-eof):
 * 1. stop the source and join its thread, so nothing new is accepted;
 * 2. stop the clock;
 * 3. stop each worker: it drains its rings, takes a final snapshot and waits for its commit;
 * 4. stop the persister (every batch answered), close the store.
 * Everything accepted before step 1 is therefore committed, or the failure is logged. */
#ifndef KL_SERVE_SERVICE_H
#define KL_SERVE_SERVICE_H

#include <stddef.h>

#include "core/config.h"
#include "runtime/symreg.h"
#include "runtime/worker.h"

typedef struct kl_service kl_service_t;

/* Builds and starts everything from cfg (which must outlive the service). Returns 0 and *out,
 * or a negative error with a message in err. Main thread. */
int kl_service_start(const kl_config_t *cfg, kl_service_t **out, char *err, size_t cap);

/* 1 once a finite source has reached its end. Any thread. */
int kl_service_source_done(kl_service_t *svc);

/* 1 when a worker stopped on a fatal error (a WAL write failed). Any thread. */
int kl_service_failed(kl_service_t *svc);

/* Ordered shutdown (see above) and free. Returns 0, or non-zero if the source failed or a final
 * commit could not be made. Main thread. */
int kl_service_stop(kl_service_t *svc);

/* Admin API. Any thread (serialised internally); none is on the hot path.
 * add: registers name ([A-Z0-9], 1..31) on the least-loaded worker; a removed name resumes its
 *      series: on the worker that keeps it parked (0), or, when only the store has it,
 *      KL_SERVICE_ADD_PENDING: its state is read on the re-adder's thread (readd.h) and the
 *      symbol is served once it is read (milliseconds; a failure is logged and leaves it
 *      removed). KL_EARG (invalid, already served or being re-added), KL_ESHARD, KL_EFULL.
 * remove: stops serving the symbol; its klines stay as they are (open ones open) and its series
 *      is parked and checkpointed at once, for a re-add to resume; 0 or KL_EARG.
 * list: copies up to max served symbols sorted by name; returns how many are served.
 * snapshot: asks every worker for a snapshot now. */
#define KL_SERVICE_ADD_PENDING 1
int kl_service_add_symbol(kl_service_t *svc, const char *name);
int kl_service_remove_symbol(kl_service_t *svc, const char *name);
size_t kl_service_list_symbols(kl_service_t *svc, kl_syminfo_t *out, size_t max);
void kl_service_snapshot(kl_service_t *svc);

/* Applies a reloaded config's symbol list: adds the new ones, removes the ones no longer
 * listed. Other keys need a restart (logged). Main thread. */
void kl_service_reload(kl_service_t *svc, const kl_config_t *fresh);

/* What /metrics and /healthz read; pointers valid while the service runs. Any thread. */
typedef struct kl_service_view {
    kl_worker_t *const *workers;
    int n_workers;
    struct kl_persister *persister;
    struct kl_source *source; /* NULL: none */
    struct kl_ksink *sink;    /* NULL: no kline sink */
} kl_service_view_t;
void kl_service_view(kl_service_t *svc, kl_service_view_t *out);

/* Logs one stats line (also called by the clock every stats period). */
void kl_service_log_stats(kl_service_t *svc);

/* `klined serve`: config, signals, start, wait, stop. Returns the exit status. */
int kl_serve_main(int argc, char **argv);

#endif
