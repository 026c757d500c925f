/* The re-adder: completes the re-add of a removed symbol whose series no worker holds any more
 * (its parked slot was freed, or the process restarted since the removal), by reading the
 * series' checkpointed state from the store and handing it to the registry, which gives it to
 * the worker that creates the slot (symreg.h). The read runs on a thread of its own with its own
 * store handle, so that neither a worker (which never waits on the store) nor the API's socket
 * thread (which serves every client) waits for it.
 *
 * DESIGN. A bounded FIFO of names (mutex + condition variable: admin commands, not trades) feeds
 * one thread, "kl-readd", started and connected to the store on the first job. Each job reads
 * the state with one keyed read (kl_store_state), adds the name with it
 * (kl_symreg_readd_state) and sends the add to its worker through the caller's callback (the
 * admin ring). No stored state: the series starts afresh (logged). A store error: the re-add is
 * cancelled, the name stays removed and the error is logged, so the admin can add it again.
 * Stop: the job in progress finishes, queued ones are cancelled (logged). */
#ifndef KL_SERVE_READD_H
#define KL_SERVE_READD_H

#include "runtime/symreg.h"
#include "store/store.h"

#define KL_READD_QUEUE 256 /* names waiting for their state; beyond: KL_EFULL */

typedef struct kl_readd kl_readd_t;

/* Sends the add of a re-added symbol (info: its new entry) to its worker. Returns 0 or an
 * error (logged by the re-adder). Called on the re-adder's thread. */
typedef int (*kl_readd_send_fn)(void *ctx, const kl_syminfo_t *info);

/* Creates the re-adder (no thread yet). store_url is copied. Returns NULL without memory. Main
 * thread. */
kl_readd_t *kl_readd_create(const char *store_url, kl_symreg_t *reg, kl_readd_send_fn send,
                            void *ctx);

/* Any thread, after kl_symreg_readd() answered KL_SYMREG_NEED_STATE for name: queues it.
 * Returns 0; KL_EFULL (queue full) or KL_ESHUTDOWN (stopping), or an error starting the
 * thread: the caller then cancels the re-add (kl_symreg_readd_cancel). */
int kl_readd_submit(kl_readd_t *q, const char *name);

/* Stops the thread (if started) after its current job, cancels the queued re-adds and frees
 * everything. NULL is a no-op. Not concurrently with kl_readd_submit(). */
void kl_readd_destroy(kl_readd_t *q);

/* Completes the KL_SYMREG_NEED_STATE re-add of name from store st (the calling thread's
 * handle): reads its state and calls kl_symreg_readd_state(). Returns 1 and *out (added), 0
 * (live already), or an error: a store error cancels the re-add. Used by the re-adder's thread
 * and by recovery (main thread, before any worker runs). */
int kl_readd_from_store(kl_store_t *st, kl_symreg_t *reg, const char *name, kl_syminfo_t *out);

#endif
