/* A worker: one pinned thread that owns a partition of the symbols and everything about them:
 * their kline series, the id -> slot map, the snapshot state. Everything reaches it through its
 * input rings (one SPSC ring per producer), its tick/snapshot flags and the persister handoff.
 *
 * DESIGN. The loop drains each ring in batches, applies trades with kl_series_apply() and marks
 * the slot dirty; klines that become final go straight into the snapshot's active buffer. A
 * wall-clock tick (from the clock thread) runs kl_series_tick() over the live slots only. A
 * snapshot request takes a snapshot when none is in flight and hands the frozen batch to the
 * persister through a one-slot handoff (state PENDING -> OK/FAILED, release/acquire); the worker
 * acks or merges back when the persister answers. Idle: spin, yield, then park on a futex.
 * Stop: drain the rings, take a final snapshot, wait for its commit, exit.
 *
 * Durability: each pass first logs every message it popped (and each tick) to the WAL and
 * commits the group with one write(2), then applies them. A snapshot therefore reflects exactly
 * the records up to the WAL's committed sequence number, which it carries as its checkpoint
 * ("wal.w<N>") together with the engine state of every dirty symbol; once the store confirms
 * it, the WAL segments it covers are deleted. A WAL write failure is fatal to the worker: it
 * stops taking messages (its producers then wait) and reports itself failed.
 *
 * Slots live in chunks of KL_WORKER_CHUNK series (kl_series_size() stride) that are never moved,
 * so growing is one allocation and never a pause; freed slots go to a free list for reuse, and
 * only live slots are in the tick list. Symbol ids are dense and global (symreg), so the
 * "hash" from id to slot is a direct index.
 *
 * Removal parks: a removed symbol's slot leaves the id map and the tick list (it costs nothing
 * per tick or trade) but keeps its series, is marked dirty so the next checkpoint stores its
 * klines as they are (open ones stay open) and its state marked parked (kl_series_state_parked),
 * and is found by name when the symbol is re-added, under its new id. At most max_parked parked
 * series are kept per worker; beyond that, or when a slot is needed and none is free, the oldest
 * parked series whose checkpoint is committed is freed (with the registry's consent,
 * kl_symreg_unpark), and a re-add then resumes from its stored state, which the registry hands
 * to the slot (kl_symreg_take_state). */
#ifndef KL_RUNTIME_WORKER_H
#define KL_RUNTIME_WORKER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hist.h"
#include "engine/kline.h"
#include "runtime/pub.h"
#include "runtime/ring.h"
#include "runtime/snapshot.h"
#include "runtime/symreg.h"
#include "runtime/wake.h"
#include "wal/wal.h"

#define KL_WORKER_CHUNK 256

typedef struct kl_worker kl_worker_t;

typedef struct kl_worker_cfg {
    int index;
    int cpu; /* -1: not pinned */
    const kl_sched_t *sched_ms, *sched_us;
    int n_inputs;         /* producer rings */
    size_t ring_capacity; /* messages per ring, power of two */
    kl_symreg_t *reg;
    int wall_clock;       /* 1: ticks from the clock thread; 0: event time only */
    int live_delays;      /* 1: finals are measured against exchange time (kl_evtime):
                             kl_worker_final_delay (live sources with watermarks) */
    kl_wake_t *persister_wake;
    kl_wal_t *wal;        /* the worker's write-ahead log (owned by the caller); NULL: none */
    size_t max_pending_rows; /* store backlog at which the worker stops taking trades; 0: none */
    uint32_t shard_index, shard_count; /* --shard: names the WAL checkpoint keys */
    size_t max_parked; /* removed series kept in memory for a re-add (0: none, always from the
                          store) */
} kl_worker_cfg_t;

/* Counters, published by the worker once per batch (relaxed); read from any thread. */
typedef struct kl_worker_stats {
    uint64_t trades, applied, late, duplicates, too_late, stale, unknown_symbol;
    uint64_t finals, finals_lost, snapshots, snapshot_rows, commit_ok, commit_failed;
    uint64_t live_symbols, dirty, pending_rows, queue_depth, queue_waits;
    uint64_t last_snapshot_us; /* time to take the last snapshot */
    uint64_t wal_bytes;        /* written to the WAL since start */
    uint64_t parked_symbols;   /* removed symbols whose series are kept for a re-add */
} kl_worker_stats_t;

/* Allocates a worker and its rings. Returns 0 and *out, or KL_ENOMEM / KL_EARG. Main thread. */
int kl_worker_create(const kl_worker_cfg_t *cfg, kl_worker_t **out);
void kl_worker_destroy(kl_worker_t *w);

/* The ring producer p (0 <= p < n_inputs) pushes into; only that producer may push. */
kl_ring_t *kl_worker_ring(kl_worker_t *w, int p);
/* How many messages of ring p the worker has written to its WAL (committed, fsynced per the
 * fsync policy): every message before that ring position survives a crash of the process. With
 * the ring's head read by its producer, this tells the producer what it may acknowledge (the
 * lines source's lines-ack). Any thread. */
uint64_t kl_worker_logged(const kl_worker_t *w, int p);
/* The worker's wakeup: producers call kl_wake_notify() on it after pushing. */
kl_wake_t *kl_worker_wake(kl_worker_t *w);

/* Starts the thread (named "kl-worker-N", pinned when cpu >= 0). Returns 0 or -errno. */
int kl_worker_start(kl_worker_t *w);

/* Any thread: the wall clock reached now_ms (the clock thread calls it once per second). */
void kl_worker_tick(kl_worker_t *w, int64_t now_ms);
/* Any thread: take a snapshot at the next opportunity. */
void kl_worker_request_snapshot(kl_worker_t *w);

/* Any thread, after every producer has stopped pushing: drain, final snapshot, commit, exit;
 * returns when the thread has exited. Returns 0, or KL_ESTORE if the final snapshot could not
 * be committed (the data is reported lost, loudly). */
int kl_worker_stop(kl_worker_t *w);

void kl_worker_stats(kl_worker_t *w, kl_worker_stats_t *out);

/* Connects the worker to the API thread (before kl_worker_start): out receives the klines of
 * watched (symbol, interval) pairs (pub.h), and the API thread becomes the single producer of
 * kl_worker_api_ring(), a ring of in_capacity KL_MSG_WATCH requests (push, then notify
 * kl_worker_wake()). Returns 0, KL_EARG or KL_ENOMEM. */
int kl_worker_set_api(kl_worker_t *w, kl_pubring_t *out, size_t in_capacity);
kl_ring_t *kl_worker_api_ring(kl_worker_t *w);

/* Kafka source (before kl_worker_start): the worker keeps, per partition of topic (n_parts),
 * the offset the last KL_MSG_KOFFSET gave, and each checkpoint stores them (meta keys from
 * kl_worker_koff_key) with the rows and states, in one transaction. Returns 0 or KL_ENOMEM. */
int kl_worker_set_kafka(kl_worker_t *w, const char *topic, uint32_t n_parts);
void kl_worker_koff_key(const char *topic, uint32_t part, char *buf, size_t cap);
/* Any thread: the highest KL_MSG_HANDOFF token whose checkpoint has committed. */
uint64_t kl_worker_handoff_done(kl_worker_t *w);
/* Persister, with a pending batch: the extra meta values (offsets) it commits. */
size_t kl_worker_batch_kv(kl_worker_t *w, const kl_store_kv_t **kv);

/* Any thread: the histogram of trade received (kl_trade_t.rx_us) -> kline updated, one sample
 * per pass (its oldest live trade). */
void kl_worker_latency(kl_worker_t *w, kl_hist_snap_t *out);

/* Any thread: the histogram of kline close -> final emitted, in exchange time (kl_evtime), one
 * sample per final kline (corrections excluded); empty unless cfg.live_delays. */
void kl_worker_final_delay(kl_worker_t *w, kl_hist_snap_t *out);

/* Gives the worker its WAL writer (before kl_worker_start; the caller keeps ownership). */
void kl_worker_set_wal(kl_worker_t *w, kl_wal_t *wal);

/* 1 when the worker hit a fatal error (WAL write) and stopped taking work. Any thread. */
int kl_worker_failed(kl_worker_t *w);

/* Recovery, before kl_worker_start (main thread): adopts a series for symbol `name` (global id
 * sym, unit) from a state blob; dirty marks it for the next snapshot. Returns 0, KL_EARG when
 * the blob does not fit the configuration (the symbol is then held with an empty series), or
 * KL_ENOMEM. */
int kl_worker_adopt(kl_worker_t *w, uint32_t sym, const char *name, uint32_t unit_per_ms,
                    const void *blob, size_t len, int dirty);

/* Recovery, before kl_worker_start: applies one message as the running worker would, without
 * logging it (it comes from a WAL). Returns 0, or KL_ENOMEM when the message could not be
 * applied in full (the recovery must then fail rather than continue short). */
int kl_worker_replay(kl_worker_t *w, const kl_msg_t *m);
/* Recovery, before kl_worker_start: a logged wall-clock tick, for symbol sym only. Returns 0 or
 * KL_ENOMEM as kl_worker_replay. */
int kl_worker_replay_tick(kl_worker_t *w, uint32_t sym, int64_t now_ms);

/* Recovery, before kl_worker_start: takes a snapshot now and returns its batch (rows, states)
 * for the caller to commit itself; then kl_worker_checkpoint_done(). */
int kl_worker_checkpoint_take(kl_worker_t *w, kl_snap_batch_t *batch);
void kl_worker_checkpoint_done(kl_worker_t *w, int ok);

/* The checkpoint key of worker index i in the store's meta table: "wal.w<i>", or
 * "wal.s<k>of<n>.w<i>" for shard k of n (shards share a store, not their logs). w: any worker
 * of the service (it carries the shard). */
void kl_worker_wal_key(const kl_worker_t *w, int index, char *buf, size_t cap);

/* Persister side of the handoff (persister thread only). Returns 1 and the frozen batch when one
 * is pending, with the WAL sequence it covers in *wal_seq (and the worker's index in *index);
 * then kl_worker_batch_done() must be called with the commit's outcome. */
int kl_worker_batch_pending(kl_worker_t *w, kl_snap_batch_t *batch, uint64_t *wal_seq,
                            int *index);
void kl_worker_batch_done(kl_worker_t *w, int ok);

#endif
