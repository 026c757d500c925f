/* The persister: one thread that commits the workers' frozen snapshot batches to the store, so
 * that no commit ever runs on a worker.
 *
 * DESIGN. Each worker has a one-slot handoff (worker.h). The persister sleeps on its wake until
 * a worker publishes a batch, commits it as one transaction, and answers OK or FAILED; the
 * worker then acks or merges the batch back. A failure is logged (rate-limited) with the store's
 * reason, and the worker retries with backoff; nothing is dropped. The persister stops after
 * the workers, so their final snapshots are committed. */
#ifndef KL_STORE_PERSISTER_H
#define KL_STORE_PERSISTER_H

#include <stdint.h>

#include "runtime/wake.h"
#include "runtime/worker.h"
#include "store/store.h"

typedef struct kl_persister kl_persister_t;

typedef struct kl_persister_stats {
    uint64_t commits, failures, rows;
    uint64_t last_commit_us, max_commit_us;
    int64_t last_ok_ms, last_fail_ms; /* kl_mono_ms() of the last good / failed commit; 0: none */
    kl_hist_snap_t commit_lat;        /* snapshot commit latency */
} kl_persister_stats_t;

/* The persister takes no ownership of store (the caller closes it after stop). Workers are
 * attached with kl_persister_set_workers() before start. Main thread. */
kl_persister_t *kl_persister_create(kl_store_t *store);
void kl_persister_set_workers(kl_persister_t *p, kl_worker_t **workers, int n);
kl_wake_t *kl_persister_wake(kl_persister_t *p);
int kl_persister_start(kl_persister_t *p);
/* Before start: fn is called on the persister thread with the rows of every committed batch
 * (the kline sink publishes from there). */
void kl_persister_on_commit(kl_persister_t *p, void (*fn)(void *, const kl_store_row_t *, size_t),
                            void *ctx);
/* Stops after answering every pending batch; call after all workers have stopped. */
void kl_persister_stop(kl_persister_t *p);
void kl_persister_destroy(kl_persister_t *p);
void kl_persister_stats(kl_persister_t *p, kl_persister_stats_t *out);

#endif
