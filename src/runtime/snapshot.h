/* Per-worker snapshot state: which slots changed since the last persist (the dirty set) and the
 * two row buffers of the double buffer. Only this module touches them; the owning worker calls
 * every function here, from its own thread.
 *
 * DESIGN. The dirty set is a bitset of uint64 words plus a list of dirty slot indices, both
 * sized for every slot the worker has, so marking is O(1) and never allocates. Finalized klines
 * are appended to the active buffer as they roll over, so no final kline can be lost between
 * two snapshots. kl_snap_take() appends the current klines of the dirty slots, freezes the
 * active buffer for the persister and moves the dirty set to "in flight". Only kl_snap_ack()
 * releases it. kl_snap_fail() merges it back: the slots become dirty again (their newest state
 * is copied at the next take) and the frozen buffer's final rows go back in front of the active
 * buffer's, so an older final row can never overwrite a correction. Engine states travel with
 * the rows (a checkpoint); on failure they are dropped, except removals, since the dirty slots
 * are exported again at the next take. One batch is in flight at a
 * time; a failed or slow store therefore delays checkpoints but never drops a row. */
#ifndef KL_RUNTIME_SNAPSHOT_H
#define KL_RUNTIME_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct kl_snap kl_snap_t;

/* A frozen batch, owned by the snapshot module; valid until kl_snap_ack()/kl_snap_fail(). */
typedef struct kl_snap_batch {
    const kl_store_row_t *rows;
    size_t n;
    const kl_store_state_t *states; /* engine state of each dirty symbol; len 0 = removed */
    size_t n_states;
} kl_snap_batch_t;

/* Creates the state for up to n_slots slots. NULL on allocation failure. */
kl_snap_t *kl_snap_create(size_t n_slots);
void kl_snap_destroy(kl_snap_t *s);

/* Makes room for n_slots slots (never shrinks). Off the hot path: when the worker grows. */
int kl_snap_grow(kl_snap_t *s, size_t n_slots);

/* Hot path: slot changed. O(1), no allocation. slot < the grown size. */
void kl_snap_mark(kl_snap_t *s, uint32_t slot);

/* Appends a final kline (or any row that must be written as is). The buffer grows by doubling
 * when full, at rollover only, never per trade. Returns 0 or KL_ENOMEM. */
int kl_snap_add_row(kl_snap_t *s, const kl_store_row_t *row);

/* Appends a symbol's engine state blob (copied), or a removal (blob NULL, len 0), to the
 * active batch. Grows like kl_snap_add_row(). Returns 0 or KL_ENOMEM. */
int kl_snap_add_state(kl_snap_t *s, const char *symbol, const void *blob, size_t len);

/* Called by kl_snap_take() for each dirty slot: appends that slot's current rows with
 * kl_snap_add_row(). A freed slot appends nothing. */
typedef int (*kl_snap_fill_fn)(void *ctx, kl_snap_t *s, uint32_t slot);

/* Takes a snapshot (see DESIGN). Returns 0 and *batch (possibly empty: n == 0, which needs no
 * commit, but still needs kl_snap_ack()); KL_EFULL if a batch is still in flight; KL_ENOMEM or
 * fill's error (then nothing changed). */
int kl_snap_take(kl_snap_t *s, kl_snap_fill_fn fill, void *ctx, kl_snap_batch_t *batch);

/* The in-flight batch committed: release it. */
void kl_snap_ack(kl_snap_t *s);

/* The in-flight batch failed: merge it back (see DESIGN). Returns 0 or KL_ENOMEM (then the
 * batch stays in flight and the call may be retried). */
int kl_snap_fail(kl_snap_t *s);

int kl_snap_in_flight(const kl_snap_t *s);
/* 1 when slot has nothing waiting for the store: not dirty, and not in the batch in flight. What
 * a slot held at its last fill is then committed (a failed batch would have made it dirty). */
int kl_snap_clean(const kl_snap_t *s, uint32_t slot);
size_t kl_snap_dirty_count(const kl_snap_t *s);
size_t kl_snap_pending_rows(const kl_snap_t *s); /* rows waiting in the active buffer */
/* Rows held for the store: the active buffer plus the batch in flight (what a failed commit
 * merges back), i.e. the memory a store outage costs. */
size_t kl_snap_backlog_rows(const kl_snap_t *s);

/* Calls fn for every row not yet committed (the batch in flight, then the active buffer), oldest
 * first; stops at fn's first non-zero value and returns it. Owner thread; off the hot path (the
 * API's first look at a symbol). */
int kl_snap_each_pending(const kl_snap_t *s, kl_store_row_fn fn, void *ctx);

#endif
