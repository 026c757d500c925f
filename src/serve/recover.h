/* Crash recovery at start-up, before any thread runs: load every symbol's checkpointed engine
 * state from the store, replay each worker's WAL after its checkpoint (cutting a torn or corrupt
 * tail), and commit the result as a new checkpoint. The service then continues exactly where a
 * process that never crashed would be: open klines, lateness state and duplicate windows
 * included. Sources resume after each symbol's last applied trade id (symreg resume ids). */
#ifndef KL_SERVE_RECOVER_H
#define KL_SERVE_RECOVER_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/symreg.h"
#include "runtime/worker.h"
#include "store/store.h"

#define KL_RECOVER_MAX_LOGS 1024

typedef struct kl_recover_result {
    uint64_t states, records, trades, ticks, damaged_logs, cut_bytes;
    uint64_t removed; /* stored states of removed symbols (kept for a re-add, not loaded) */
    /* next sequence number for the WAL of each worker index (>= 1) */
    uint64_t next_seq[KL_RECOVER_MAX_LOGS];
} kl_recover_result_t;

/* Runs recovery into the (not yet started) workers. wal_dir may not exist (a first start).
 * repair_cut = 0 (wal-repair = tail): damage the checkpoint covers is skipped, a torn tail is
 * cut (kept aside), and damage that valid records follow, or records missing between the
 * checkpoint and the log, stop the start; 1 (cut): the log is cut at that damage (kept aside)
 * and a gap is accepted, each logged at ERROR.
 * Returns 0 and fills *res, or an error with err set (the service must not start). */
int kl_recover(const char *wal_dir, int repair_cut, kl_store_t *store, kl_symreg_t *reg,
               kl_worker_t **workers, int n_workers, kl_recover_result_t *res, char *err,
               size_t cap);

#endif
