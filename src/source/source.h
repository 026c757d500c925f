/* The source interface: something that produces trades on its own thread and hands them to a
 * router. Replay and lines sources implement it now; the live Binance feed and Kafka drop in
 * behind the same three calls. */
#ifndef KL_SOURCE_SOURCE_H
#define KL_SOURCE_SOURCE_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/hist.h"
#include "core/log.h" /* kl_ratelimit_t */
#include "runtime/router.h"

typedef struct kl_source kl_source_t;

typedef struct kl_source_stats {
    uint64_t messages, trades, rejected, skipped_events, unknown_symbols;
    uint64_t too_far_ahead; /* trades refused: T beyond exchange time + max-skew-ms */
} kl_source_stats_t;

typedef struct kl_source_ops {
    const char *name;
    /* Runs on the source thread until the input ends (returns 0), *stop is set (returns 0) or a
     * fatal error (returns < 0, already logged). Pushes trades through rt and flushes it. */
    int (*run)(kl_source_t *src, kl_router_t *rt, const _Atomic int *stop);
    void (*destroy)(kl_source_t *src);
} kl_source_ops_t;

struct kl_source {
    const kl_source_ops_t *ops;
    int finite; /* ends by itself: replay, lines on stdin */
    /* counters, written by the source thread (relaxed), read by stats */
    _Atomic uint64_t messages, trades, rejected, skipped_events, too_far_ahead;
    /* live sources with watermarks: trade delivered - its T, in exchange time (source thread
     * records, any thread reads) */
    kl_hist_t feed_delay;
    /* feed connections that should be open and are not (live sources; /healthz), and those that
     * are open */
    _Atomic int64_t feeds_down, feeds_open;
};

/* Where a restarted replay resumes: the highest trade id already applied to symbol, or
 * INT64_MIN to start from its first trade. */
typedef int64_t (*kl_resume_fn)(void *ctx, const char *symbol);

/* Replay of dump files (klined replay's inputs), interleaved across symbols in time order.
 * pace 0: full speed; pace X: X times real time. resume (may be NULL) is asked once per symbol;
 * trades at or below its answer are skipped (counted as `skipped`). Returns 0 and *out, or an
 * error with err set. */
int kl_source_replay_create(const char *const *files, size_t n, double pace, kl_resume_fn resume,
                            void *resume_ctx, kl_source_t **out, char *err, size_t cap);

/* One Binance trade/aggTrade event JSON per line, from stdin (fd 0) or from TCP clients of a
 * listener on host:port (127.0.0.1 only). ack (lines-ack): each TCP client gets `ack N` lines
 * back once its first N lines are in the WAL (lines.c). */
int kl_source_lines_stdin_create(kl_source_t **out, char *err, size_t cap);
int kl_source_lines_tcp_create(const char *host, uint16_t port, int ack, kl_source_t **out,
                               char *err, size_t cap);

/* The live Binance spot feed (source/binance.h): aggTrade streams of cfg->symbols from
 * cfg->binance_ws, every gap backfilled by id from cfg->binance_rest, each symbol resuming after
 * resume()'s answer when it has one. KL_ECONFIG with err set for no symbols or a bad URL. */
struct kl_config;
int kl_source_binance_create(const struct kl_config *cfg, kl_resume_fn resume, void *resume_ctx,
                             kl_source_t **out, char *err, size_t cap);

/* Kafka (source/kafka.c): a member of consumer group cfg->group on cfg->kafka_topic; reads the
 * topic's partition count and gives every worker its offset table (kl_worker_set_kafka), so it
 * must be created before the workers start. KL_EIO when the topic cannot be read. */
struct kl_worker;
int kl_source_kafka_create(const struct kl_config *cfg, struct kl_worker **workers, int n_workers,
                           kl_source_t **out, char *err, size_t cap);
uint32_t kl_source_kafka_partitions(kl_source_t *src);

void kl_source_stats(kl_source_t *src, kl_source_stats_t *out);

/* Source thread, for a live trade t of symbol (len bytes) delivered now (exchange time): 0 when
 * it may be routed; KL_ETIME when t.ts is more than rt->max_skew_ms ahead of now, counted in
 * too_far_ahead and logged (rate-limited by *rl) with the symbol. A trade from the future would
 * move its symbol's klines past every real trade to come. */
int kl_source_check_time(kl_source_t *src, const kl_router_t *rt, const char *symbol,
                         size_t len, const kl_trade_t *t, int64_t now_ms, kl_ratelimit_t *rl);

#endif
