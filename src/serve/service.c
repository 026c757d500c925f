/* Service assembly and lifecycle; see service.h for the start and stop orders. */
#include "serve/service.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "core/alloc.h"
#include "core/evtime.h"
#include "core/log.h"
#include "engine/kline.h"
#include "kl/err.h"
#include "runtime/clock.h"
#include "runtime/router.h"
#include "runtime/worker.h"
#include "serve/readd.h"
#include "serve/recover.h"
#include "serve/watchdog.h"
#include "source/source.h"
#include "sink/ksink.h"
#include "store/persister.h"
#include "store/store.h"

enum { PRODUCER_SOURCE, PRODUCER_ADMIN, N_PRODUCERS };

struct kl_service {
    const kl_config_t *cfg;
    kl_store_t *store;
    kl_symreg_t *reg;
    kl_sched_t sched_ms, sched_us;
    kl_worker_t **workers;
    kl_wal_t **wals;
    int n_workers;
    kl_persister_t *persister;
    kl_clock_t *clock;
    kl_source_t *source;
    pthread_t source_thread;
    int source_started;
    _Atomic int source_stop, source_done;
    int source_status;
    kl_router_t src_router;
    pthread_mutex_t admin_mu;
    kl_router_t admin_router;
    _Atomic int admin_stop;
    kl_api_t *api;
    kl_ksink_t *sink;
    kl_readd_t *readd; /* re-adds that resume from the store */
};

static int readd_send(void *ctx, const kl_syminfo_t *info);
static void stop_stage(kl_service_t *svc, const char *stage);

/* ---- stats ------------------------------------------------------------------------------ */

void
kl_service_log_stats(kl_service_t *svc)
{
    kl_worker_stats_t sum = {0}, w;
    for (int i = 0; i < svc->n_workers; i++) {
        kl_worker_stats(svc->workers[i], &w);
        if (svc->n_workers > 1) /* per thread, then the totals below */
            kl_log(KL_LOG_INFO, "stats", "worker_stats",
                   "worker=%d trades=%llu applied=%llu duplicates=%llu too_late=%llu "
                   "symbols=%llu queue_depth=%llu queue_waits=%llu dirty=%llu pending_rows=%llu "
                   "snapshots=%llu snapshot_us=%llu commits=%llu commit_failures=%llu",
                   i, (unsigned long long)w.trades, (unsigned long long)w.applied,
                   (unsigned long long)w.duplicates, (unsigned long long)w.too_late,
                   (unsigned long long)w.live_symbols, (unsigned long long)w.queue_depth,
                   (unsigned long long)w.queue_waits, (unsigned long long)w.dirty,
                   (unsigned long long)w.pending_rows, (unsigned long long)w.snapshots,
                   (unsigned long long)w.last_snapshot_us, (unsigned long long)w.commit_ok,
                   (unsigned long long)w.commit_failed);
        const uint64_t *a = (const uint64_t *)(const void *)&w;
        uint64_t *s = (uint64_t *)(void *)&sum;
        for (size_t k = 0; k < sizeof w / sizeof(uint64_t); k++)
            s[k] = (&w.last_snapshot_us == &a[k]) ? (a[k] > s[k] ? a[k] : s[k]) : s[k] + a[k];
    }
    kl_persister_stats_t p;
    kl_persister_stats(svc->persister, &p);
    kl_source_stats_t src = {0};
    if (svc->source)
        kl_source_stats(svc->source, &src);
    kl_symreg_stats_t sr;
    kl_symreg_stats(svc->reg, &sr);
    char sink[160] = "";
    if (svc->sink) {
        kl_ksink_stats_t ks;
        kl_ksink_stats(svc->sink, &ks);
        snprintf(sink, sizeof sink, " sink_produced=%llu sink_delivered=%llu sink_errors=%llu "
                 "sink_dropped=%llu", (unsigned long long)ks.produced,
                 (unsigned long long)ks.delivered, (unsigned long long)ks.errors,
                 (unsigned long long)ks.dropped);
    }
    kl_log(KL_LOG_INFO, "stats", "stats",
           "source_messages=%llu source_trades=%llu source_rejected=%llu too_far_ahead=%llu "
           "worker_trades=%llu "
           "applied=%llu late=%llu duplicates=%llu too_late=%llu stale=%llu unknown_symbol=%llu "
           "symbols=%llu queue_depth=%llu queue_waits=%llu dirty=%llu pending_rows=%llu "
           "snapshots=%llu snapshot_rows=%llu snapshot_us=%llu commits=%llu commit_failures=%llu "
           "commit_us=%llu commit_max_us=%llu symbols_refused_cap=%llu "
           "symbols_refused_rate=%llu symbols_refused_name=%llu%s",
           (unsigned long long)src.messages, (unsigned long long)src.trades,
           (unsigned long long)src.rejected, (unsigned long long)src.too_far_ahead,
           (unsigned long long)sum.trades,
           (unsigned long long)sum.applied, (unsigned long long)sum.late,
           (unsigned long long)sum.duplicates, (unsigned long long)sum.too_late,
           (unsigned long long)sum.stale, (unsigned long long)sum.unknown_symbol,
           (unsigned long long)sum.live_symbols, (unsigned long long)sum.queue_depth,
           (unsigned long long)sum.queue_waits, (unsigned long long)sum.dirty,
           (unsigned long long)sum.pending_rows, (unsigned long long)sum.snapshots,
           (unsigned long long)sum.snapshot_rows, (unsigned long long)sum.last_snapshot_us,
           (unsigned long long)p.commits, (unsigned long long)p.failures,
           (unsigned long long)p.last_commit_us, (unsigned long long)p.max_commit_us,
           (unsigned long long)sr.refused[KL_SYMREG_REFUSED_CAP],
           (unsigned long long)sr.refused[KL_SYMREG_REFUSED_RATE],
           (unsigned long long)sr.refused[KL_SYMREG_REFUSED_NAME], sink);
}

static void
stats_cb(void *ctx)
{
    kl_service_log_stats(ctx);
}

/* ---- source thread ---------------------------------------------------------------------- */

static void *
source_main(void *arg)
{
    kl_service_t *svc = arg;
    pthread_setname_np(pthread_self(), "kl-source");
    svc->source_status = svc->source->ops->run(svc->source, &svc->src_router, &svc->source_stop);
    /* release: source_status is visible to whoever sees source_done. */
    atomic_store_explicit(&svc->source_done, 1, memory_order_release);
    return NULL;
}

static int64_t
resume_id(void *ctx, const char *symbol)
{
    return kl_symreg_resume(ctx, symbol);
}

static int
make_source(kl_service_t *svc, char *err, size_t cap)
{
    const kl_config_t *c = svc->cfg;
    switch (c->source) {
    case KL_CFG_SRC_REPLAY:
        return kl_source_replay_create(c->replay_files, c->n_replay_files, c->pace, resume_id,
                                       svc->reg, &svc->source, err, cap);
    case KL_CFG_SRC_LINES_STDIN:
        return kl_source_lines_stdin_create(&svc->source, err, cap);
    case KL_CFG_SRC_LINES_TCP:
        return kl_source_lines_tcp_create(c->lines_host, c->lines_port, c->lines_ack,
                                          &svc->source, err, cap);
    case KL_CFG_SRC_BINANCE:
        return kl_source_binance_create(c, resume_id, svc->reg, &svc->source, err, cap);
    case KL_CFG_SRC_KAFKA: {
        int rc = kl_source_kafka_create(c, svc->workers, svc->n_workers, &svc->source, err, cap);
        if (rc == 0) /* a partition's symbols share a worker: it alone decides the offset */
            kl_symreg_set_placement(svc->reg, kl_source_kafka_partitions(svc->source));
        return rc;
    }
    default:
        snprintf(err, cap, "unknown source");
        return KL_ECONFIG;
    }
}

/* ---- start/stop ------------------------------------------------------------------------- */

static int
ensure_parent_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return mkdir(dir, 0755) != 0 && errno != EEXIST ? -errno : 0;
}

#define KL_SERVE_HOLE_LIMIT 2

static int
build_scheds(kl_service_t *svc, char *err, size_t cap)
{
    kl_sched_cfg_t sc;
    kl_sched_cfg_default(&sc);
    sc.iv_mask = svc->cfg->intervals;
    sc.tz_minutes = svc->cfg->tz_minutes;
    sc.lateness_ms = svc->cfg->lateness_ms;
    /* A rollover across a long silence or downtime emits at most this many hole klines per
     * interval; the rest are implied and filled by readers (export, REST). So a restart after a
     * day down, or a symbol quiet for a week, costs a bounded number of rows per symbol. */
    sc.hole_limit = KL_SERVE_HOLE_LIMIT;
    int rc = kl_sched_init(&svc->sched_ms, &sc);
    sc.unit_per_ms = 1000;
    if (rc == 0)
        rc = kl_sched_init(&svc->sched_us, &sc);
    if (rc != 0)
        snprintf(err, cap, "config: intervals/tz/lateness-ms: %s (lateness-ms must not exceed "
                           "the shortest enabled interval)", kl_strerror(rc));
    return rc;
}

/* A store's resume ids are aggTrade ids or raw trade ids, never both: the live source's stream
 * kind is recorded in the store on its first start and must not change afterwards. */
static int
check_stream_kind(kl_service_t *svc, char *err, size_t cap)
{
    if (svc->cfg->source != KL_CFG_SRC_BINANCE)
        return 0;
    int64_t want = strcmp(svc->cfg->binance_stream, "trade") == 0 ? 2 : 1, have = 0;
    int rc = kl_store_get_kv(svc->store, "binance.stream", &have);
    if (rc < 0) {
        snprintf(err, cap, "store %s: reading binance.stream: %s", svc->cfg->store_url,
                 kl_strerror(rc));
        return rc;
    }
    if (rc == 0 && have != want) {
        snprintf(err, cap, "binance-stream = \"%s\": this store was built from %s streams, whose "
                 "ids do not mix with these; use a new store (and wal-dir) to switch",
                 svc->cfg->binance_stream, have == 2 ? "trade" : "aggTrade");
        return KL_ECONFIG;
    }
    if (rc == 1) {
        kl_store_kv_t kv = {"binance.stream", want};
        kl_store_batch_t b = {.kv = &kv, .n_kv = 1};
        return kl_store_commit_batch(svc->store, &b, err, cap);
    }
    return 0;
}

/* Recovery (recover.h), then a WAL writer per worker continuing each log's numbering. */
static int
recover_and_open_wals(kl_service_t *svc, char *err, size_t cap)
{
    const kl_config_t *cfg = svc->cfg;
    kl_recover_result_t *res = kl_calloc(1, sizeof *res);
    if (!res)
        return KL_ENOMEM;
    int rc = kl_recover(cfg->wal_dir, cfg->wal_repair == KL_CFG_WAL_REPAIR_CUT, svc->store,
                        svc->reg, svc->workers, svc->n_workers, res, err, cap);
    if (rc == 0)
        kl_log(KL_LOG_INFO, "recover", "done",
               "states=%llu removed=%llu records=%llu trades=%llu ticks=%llu damaged_logs=%llu "
               "cut_bytes=%llu",
               (unsigned long long)res->states, (unsigned long long)res->removed,
               (unsigned long long)res->records,
               (unsigned long long)res->trades, (unsigned long long)res->ticks,
               (unsigned long long)res->damaged_logs, (unsigned long long)res->cut_bytes);
    if (rc == 0 && !(svc->wals = kl_calloc((size_t)svc->n_workers, sizeof *svc->wals)))
        rc = KL_ENOMEM;
    kl_wal_cfg_t wc = {
        .fsync = cfg->fsync == KL_CFG_FSYNC_ALWAYS     ? KL_WAL_FSYNC_ALWAYS
                 : cfg->fsync == KL_CFG_FSYNC_EVERYSEC ? KL_WAL_FSYNC_EVERYSEC
                                                       : KL_WAL_FSYNC_NO,
        .segment_bytes = 64u << 20,
    };
    for (int i = 0; rc == 0 && i < svc->n_workers; i++) {
        rc = kl_wal_open(cfg->wal_dir, i, &wc, res->next_seq[i], &svc->wals[i]);
        if (rc != 0)
            snprintf(err, cap, "wal-dir %s: cannot open the log of worker %d: %s", cfg->wal_dir,
                     i, kl_strerror(rc));
        else
            kl_worker_set_wal(svc->workers[i], svc->wals[i]);
    }
    kl_free(res);
    return rc;
}

int
kl_service_start(const kl_config_t *cfg, kl_service_t **out, char *err, size_t cap)
{
    kl_service_t *svc = kl_calloc(1, sizeof *svc);
    if (!svc) {
        snprintf(err, cap, "start: out of memory");
        return KL_ENOMEM;
    }
    svc->cfg = cfg;
    pthread_mutex_init(&svc->admin_mu, NULL);
    /* Exchange time is anchored now: a wall-clock step from here on changes nothing. */
    (void)kl_evtime_now_ms();
    int rc = build_scheds(svc, err, cap);
    if (rc == 0 && cfg->store == KL_CFG_STORE_SQLITE && (rc = ensure_parent_dir(cfg->store_path)))
        snprintf(err, cap, "store %s: cannot create its directory: %s", cfg->store_url,
                 kl_strerror(rc));
    if (rc == 0)
        rc = kl_store_open(cfg->store_url, &svc->store, err, cap);
    if (rc == 0 && !(svc->reg = kl_symreg_create(cfg->workers)))
        rc = KL_ENOMEM;
    if (rc == 0)
        kl_symreg_set_shard(svc->reg, cfg->shard_index, cfg->shard_count);
    size_t foreign = 0;
    int kafka = cfg->source == KL_CFG_SRC_KAFKA; /* the assigned partitions decide the symbols */
    for (size_t i = 0; rc == 0 && !kafka && i < cfg->n_symbols; i++) {
        kl_syminfo_t info;
        int r = kl_symreg_lookup(svc->reg, cfg->symbols[i].name, KL_SYMREG_ADD, 0, &info);
        foreign += r == KL_ESHARD;
        rc = r < 0 && r != KL_ESHARD ? KL_ENOMEM : 0;
    }
    if (rc == 0 && cfg->shard_count > 1)
        kl_log(KL_LOG_INFO, "serve", "shard", "shard=%u/%u symbols=%zu other_shards=%zu",
               cfg->shard_index, cfg->shard_count, cfg->n_symbols - foreign, foreign);
    if (rc == 0 && !(svc->persister = kl_persister_create(svc->store)))
        rc = KL_ENOMEM;
    if (rc == 0 && cfg->sink_topic) {
        rc = kl_ksink_open(cfg->sink_brokers, cfg->sink_topic, cfg->sink_live,
                           cfg->sink_queue_bytes, &svc->sink, err, cap);
        if (rc == 0)
            kl_persister_on_commit(svc->persister, kl_ksink_publish, svc->sink);
    }
    if (rc == 0 && !(svc->workers = kl_calloc((size_t)cfg->workers, sizeof *svc->workers)))
        rc = KL_ENOMEM;
    int wall = cfg->clock_effective == KL_CFG_CLOCK_WALL;
    /* Live feeds close klines by their connections' watermarks (source/wmark.h), sent in order
     * with their trades; a Kafka partition is such a connection. The clock thread's wall ticks
     * only remain for replay with clock = wall (a replay has no connection). */
    int wmark = wall && (cfg->source == KL_CFG_SRC_BINANCE || cfg->source == KL_CFG_SRC_LINES_TCP ||
                         cfg->source == KL_CFG_SRC_LINES_STDIN || cfg->source == KL_CFG_SRC_KAFKA);
    for (int i = 0; rc == 0 && i < cfg->workers; i++) {
        kl_worker_cfg_t wc = {
            .index = i,
            .cpu = cfg->n_cpus ? cfg->cpus[(size_t)i % cfg->n_cpus] : -1,
            .sched_ms = &svc->sched_ms,
            .sched_us = &svc->sched_us,
            .n_inputs = N_PRODUCERS,
            .ring_capacity = cfg->queue_capacity,
            .reg = svc->reg,
            .wall_clock = wall && !wmark,
            .live_delays = wmark,
            .persister_wake = kl_persister_wake(svc->persister),
            .max_pending_rows = cfg->max_pending_rows,
            .shard_index = cfg->shard_index,
            .shard_count = cfg->shard_count,
            .max_parked = cfg->parked_symbols,
        };
        rc = kl_worker_create(&wc, &svc->workers[i]);
        if (rc == 0)
            svc->n_workers++;
    }
    if (rc == 0)
        rc = check_stream_kind(svc, err, cap);
    /* Kafka is the log: no WAL, and the states come with each assigned partition. */
    if (rc == 0 && !kafka)
        rc = recover_and_open_wals(svc, err, cap);
    if (rc == 0) { /* from here on, within the bounds: the configured and recovered are in */
        kl_symreg_limits_t lim = {cfg->max_symbols, cfg->symbol_create_rate,
                                  cfg->symbol_create_burst};
        kl_symreg_set_limits(svc->reg, &lim);
    }
    if (rc == 0)
        rc = make_source(svc, err, cap);
    /* auto-add-symbols = auto: a trade's unknown symbol is added for lines: and replay: without
     * a `symbols` list, and for Kafka (its partitions decide); never for binance, whose symbols
     * are `symbols` or the exchangeInfo list of quote-assets (docs/config.md). */
    int auto_add = cfg->auto_add == KL_CFG_AUTO_ADD_YES ||
                   (cfg->auto_add == KL_CFG_AUTO_ADD_AUTO && cfg->source != KL_CFG_SRC_BINANCE &&
                    (cfg->n_symbols == 0 || kafka));
    if (rc == 0)
        rc = kl_router_init(&svc->src_router, svc->workers, svc->n_workers, PRODUCER_SOURCE,
                            svc->reg, auto_add, &svc->source_stop);
    if (rc == 0) {
        svc->src_router.wmark = wmark;
        svc->src_router.disorder_ms = cfg->disorder_ms;
        svc->src_router.idle_ms = cfg->idle_ms;
        svc->src_router.max_skew_ms = wmark ? cfg->max_skew_ms : 0;
    }
    if (rc == 0)
        rc = kl_router_init(&svc->admin_router, svc->workers, svc->n_workers, PRODUCER_ADMIN,
                            svc->reg, 0, &svc->admin_stop);
    if (rc == 0 && !(svc->readd = kl_readd_create(cfg->store_url, svc->reg, readd_send, svc)))
        rc = KL_ENOMEM;
    if (rc == 0) {
        kl_api_deps_t deps = {cfg, svc, svc->reg, svc->workers, svc->n_workers, &svc->sched_ms,
                              &svc->sched_us};
        rc = kl_api_create(&deps, &svc->api, err, cap);
    }
    for (int i = 0; rc == 0 && i < svc->n_workers; i++)
        rc = kl_worker_set_api(svc->workers[i], kl_api_pubring(svc->api, i), 1024);
    if (rc != 0) {
        if (!err[0])
            snprintf(err, cap, "start: %s", kl_strerror(rc));
        goto fail;
    }
    kl_persister_set_workers(svc->persister, svc->workers, svc->n_workers);
    if ((rc = kl_persister_start(svc->persister)) != 0)
        goto fail_threads;
    for (int i = 0; i < svc->n_workers; i++)
        if ((rc = kl_worker_start(svc->workers[i])) != 0)
            goto fail_threads;
    kl_clock_cfg_t cc = {
        .workers = svc->workers,
        .n_workers = svc->n_workers,
        .wall = wall && !wmark,
        .persist_ms = cfg->persist_ms,
        .stats_ms = (int64_t)cfg->stats_s * 1000,
        .stats_fn = stats_cb,
        .stats_ctx = svc,
    };
    if ((rc = kl_clock_start(&cc, &svc->clock)) != 0)
        goto fail_threads;
    if ((rc = pthread_create(&svc->source_thread, NULL, source_main, svc)) != 0) {
        rc = -rc;
        goto fail_threads;
    }
    svc->source_started = 1;
    if ((rc = kl_api_start(svc->api)) != 0)
        goto fail_threads;
    kl_log(KL_LOG_INFO, "serve", "started",
           "source=%s store=%s workers=%d intervals=%d clock=%s persist_ms=%d symbols=%zu",
           svc->source->ops->name, cfg->store_url, svc->n_workers, svc->sched_ms.n,
           wmark ? "watermark" : wall ? "wall" : "event", cfg->persist_ms, cfg->n_symbols);
    *out = svc;
    return 0;

fail_threads:
    snprintf(err, cap, "start: cannot start threads: %s", kl_strerror(rc));
    kl_service_stop(svc);
    return rc;
fail:
    kl_service_stop(svc);
    return rc;
}

void
kl_service_view(kl_service_t *svc, kl_service_view_t *out)
{
    out->workers = svc->workers;
    out->n_workers = svc->n_workers;
    out->persister = svc->persister;
    out->source = svc->source;
    out->sink = svc->sink;
}

int
kl_service_source_done(kl_service_t *svc)
{
    return atomic_load_explicit(&svc->source_done, memory_order_acquire);
}

int
kl_service_failed(kl_service_t *svc)
{
    for (int i = 0; i < svc->n_workers; i++)
        if (kl_worker_failed(svc->workers[i]))
            return 1;
    return 0;
}

int
kl_service_stop(kl_service_t *svc)
{
    int status = 0;
    stop_stage(svc, "stopping the API and the source");
    /* 0. No more clients: the API stops first, so no admin command races the shutdown (its
     * context lives on until the workers, which may still wake it, have stopped); then the
     * re-adder, the other producer of admin commands. */
    kl_api_stop(svc->api);
    kl_readd_destroy(svc->readd);
    svc->readd = NULL;
    /* 1. No new input. */
    atomic_store_explicit(&svc->source_stop, 1, memory_order_relaxed);
    atomic_store_explicit(&svc->admin_stop, 1, memory_order_relaxed);
    if (svc->source_started) {
        pthread_join(svc->source_thread, NULL);
        if (svc->source_status < 0)
            status = 1;
    }
    /* 2. No more ticks or snapshot requests. */
    kl_clock_stop(svc->clock);
    /* 3. Workers drain, take their final snapshot and wait for its commit. */
    stop_stage(svc, "workers drain and wait for their final commit");
    for (int i = 0; i < svc->n_workers; i++)
        if (kl_worker_stop(svc->workers[i]) != 0)
            status = 1;
    if (svc->persister && svc->n_workers)
        kl_service_log_stats(svc);
    /* 4. The persister has answered everything; close the store. */
    stop_stage(svc, "the persister's last commit");
    if (svc->persister)
        kl_persister_stop(svc->persister);
    stop_stage(svc, "flushing the kline sink");
    /* After the last commit: its klines go out too; a down broker holds the exit at most
     * half the shutdown bound. */
    kl_ksink_close(svc->sink, svc->cfg->shutdown_timeout_ms > 0
                                  ? (svc->cfg->shutdown_timeout_ms + 1) / 2 : 5000);
    stop_stage(svc, NULL); /* from here on, threads are gone and the service is freed */
    kl_api_destroy(svc->api);
    if (svc->source)
        svc->source->ops->destroy(svc->source);
    kl_router_fini(&svc->src_router);
    kl_router_fini(&svc->admin_router);
    for (int i = 0; i < svc->n_workers; i++) {
        kl_worker_destroy(svc->workers[i]);
        if (svc->wals && svc->wals[i] && kl_wal_close(svc->wals[i]) != 0)
            status = 1;
    }
    kl_free(svc->wals);
    kl_free(svc->workers);
    kl_persister_destroy(svc->persister);
    kl_symreg_destroy(svc->reg);
    if (svc->store)
        kl_store_close(svc->store);
    pthread_mutex_destroy(&svc->admin_mu);
    kl_free(svc);
    return status;
}

/* ---- admin ------------------------------------------------------------------------------ */

static int
admin_send(kl_service_t *svc, int worker, const kl_msg_t *m)
{
    pthread_mutex_lock(&svc->admin_mu); /* the admin ring has one producer at a time */
    int rc = kl_router_control(&svc->admin_router, worker, m);
    kl_router_flush(&svc->admin_router);
    pthread_mutex_unlock(&svc->admin_mu);
    return rc;
}

/* The worker creates the slot, or resumes the series parked there under the same name. */
static int
send_add(kl_service_t *svc, const kl_syminfo_t *info, const char *note)
{
    kl_msg_t m = {.type = KL_MSG_ADD, .sym = info->id};
    snprintf(m.u.add.name, sizeof m.u.add.name, "%s", info->name);
    m.u.add.unit_per_ms = info->unit_per_ms;
    kl_log(KL_LOG_INFO, "admin", "symbol_added", "symbol=%s worker=%d%s", info->name,
           info->worker, note);
    return admin_send(svc, info->worker, &m);
}

/* The re-adder's thread, once a stored state is attached to the new entry. */
static int
readd_send(void *ctx, const kl_syminfo_t *info)
{
    return send_add(ctx, info, " series=\"resumed from the store\"");
}

int
kl_service_add_symbol(kl_service_t *svc, const char *name)
{
    kl_syminfo_t info;
    int rc = kl_symreg_readd(svc->reg, name, 0, &info);
    if (rc == KL_SYMREG_NEED_STATE) {
        /* Its series is only in the store: read off this thread, added once read. */
        if ((rc = kl_readd_submit(svc->readd, name)) != 0) {
            kl_symreg_readd_cancel(svc->reg, name);
            kl_log(KL_LOG_ERROR, "admin", "symbol_add_failed",
                   "symbol=%s error=\"%s\" action=\"not added: it stays removed\"", name,
                   kl_strerror(rc));
            return rc;
        }
        kl_log(KL_LOG_INFO, "admin", "symbol_add_pending",
               "symbol=%s action=\"reading its stored series; served once it is read\"", name);
        return KL_SERVICE_ADD_PENDING;
    }
    if (rc != 1)
        return rc < 0 ? rc : KL_EARG;
    return send_add(svc, &info, "");
}

int
kl_service_remove_symbol(kl_service_t *svc, const char *name)
{
    kl_syminfo_t info;
    int rc = kl_symreg_remove(svc->reg, name, &info);
    if (rc != 0)
        return rc;
    kl_msg_t m = {.type = KL_MSG_REMOVE, .sym = info.id};
    rc = admin_send(svc, info.worker, &m);
    if (rc == 0)
        kl_service_snapshot(svc); /* checkpoint its parked series now, not at the next period */
    return rc;
}

size_t
kl_service_list_symbols(kl_service_t *svc, kl_syminfo_t *out, size_t max)
{
    return kl_symreg_list(svc->reg, out, max);
}

void
kl_service_snapshot(kl_service_t *svc)
{
    for (int i = 0; i < svc->n_workers; i++)
        kl_worker_request_snapshot(svc->workers[i]);
}

void
kl_service_reload(kl_service_t *svc, const kl_config_t *fresh)
{
    if (fresh->n_symbols == 0) {
        kl_log(KL_LOG_INFO, "serve", "reload", "symbols=unrestricted action=\"nothing removed\"");
        return;
    }
    size_t n = kl_symreg_list(svc->reg, NULL, 0);
    kl_syminfo_t *cur = kl_calloc(n ? n : 1, sizeof *cur);
    if (!cur) {
        kl_log(KL_LOG_ERROR, "serve", "reload_failed", "reason=\"out of memory\"");
        return;
    }
    n = kl_symreg_list(svc->reg, cur, n);
    int added = 0, removed = 0;
    for (size_t i = 0; i < fresh->n_symbols; i++)
        added += kl_service_add_symbol(svc, fresh->symbols[i].name) >= 0;
    for (size_t i = 0; i < n; i++) {
        int keep = 0;
        for (size_t j = 0; j < fresh->n_symbols && !keep; j++)
            keep = strcmp(cur[i].name, fresh->symbols[j].name) == 0;
        if (!keep)
            removed += kl_service_remove_symbol(svc, cur[i].name) == 0;
    }
    kl_free(cur);
    kl_log(KL_LOG_INFO, "serve", "reload", "symbols=%zu added=%d removed=%d "
           "note=\"only the symbol list is reloaded; other keys need a restart\"",
           fresh->n_symbols, added, removed);
}

/* ---- shutdown bound (shutdown-timeout-ms) ------------------------------------------------ */

/* A graceful stop waits for the store (the final commits), which may be frozen: the watchdog
 * (watchdog.h) bounds it. Past shutdown-timeout-ms it logs what was left and ends the process
 * with _exit(KL_SERVE_EXIT_TIMEOUT), which is no worse than a crash: every trade taken is in the
 * WAL (or, for Kafka, after the checkpointed offsets), and the next start recovers it. What the
 * stop waits for is tracked here; the state is static: there is one `klined serve` per
 * process. */
#define KL_SERVE_EXIT_TIMEOUT 3

static struct {
    pthread_mutex_t mu;
    kl_service_t *svc; /* the service being stopped; NULL once done */
    const char *stage; /* what the stop waits for; NULL: past the threads (stats unreadable) */
    int ms;            /* the bound */
} g_stop = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0};

static void
stop_stage(kl_service_t *svc, const char *stage)
{
    pthread_mutex_lock(&g_stop.mu);
    if (g_stop.svc == svc)
        g_stop.stage = stage;
    pthread_mutex_unlock(&g_stop.mu);
}

static void
stop_track(kl_service_t *svc, int ms)
{
    pthread_mutex_lock(&g_stop.mu);
    g_stop.svc = svc;
    g_stop.stage = svc ? "stopping" : NULL;
    g_stop.ms = ms;
    pthread_mutex_unlock(&g_stop.mu);
}

/* The watchdog's report, on its thread just before it exits: what the stop was waiting for. */
static void
stop_report(void *ctx)
{
    (void)ctx;
    /* Under the lock: the stopping thread cannot free the workers meanwhile (it passes
     * stop_stage(NULL) first). */
    pthread_mutex_lock(&g_stop.mu);
    unsigned long long dirty = 0, pending = 0, queued = 0;
    kl_service_t *svc = g_stop.svc;
    if (svc && g_stop.stage)
        for (int i = 0; i < svc->n_workers; i++) {
            kl_worker_stats_t w;
            kl_worker_stats(svc->workers[i], &w);
            dirty += w.dirty;
            pending += w.pending_rows;
            queued += w.queue_depth;
        }
    kl_log(KL_LOG_ERROR, "serve", "shutdown_timeout",
           "timeout_ms=%d waiting_for=\"%s\" dirty_symbols=%llu pending_rows=%llu "
           "queued_messages=%llu action=\"exiting without the last checkpoint; the WAL keeps "
           "every trade taken and the next start recovers it\"",
           g_stop.ms, g_stop.stage ? g_stop.stage : "closing the store", dirty, pending, queued);
    pthread_mutex_unlock(&g_stop.mu);
}

/* ---- klined serve ----------------------------------------------------------------------- */

int
kl_serve_main(int argc, char **argv)
{
    kl_config_t cfg;
    kl_config_defaults(&cfg);
    char err[1024] = "";
    if (kl_config_parse(&cfg, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "klined serve: %s\n", err);
        return 2;
    }
    if (cfg.help) {
        kl_config_usage(stdout);
        kl_config_free(&cfg);
        return 0;
    }
    kl_log_set_level((int)cfg.log_level);
    /* Signals go to this thread only: block them before any thread starts (threads inherit). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A blocked stderr must block no thread but the logger's (after the mask: it inherits it). */
    if (kl_log_async_start(cfg.log_buffer_bytes) != 0)
        fprintf(stderr, "klined serve: no logger thread; log lines are written directly\n");
    kl_service_t *svc;
    if (kl_service_start(&cfg, &svc, err, sizeof err) != 0) {
        kl_log_async_stop(2000);
        fprintf(stderr, "klined serve: %s\n", err);
        kl_config_free(&cfg);
        return 1;
    }
    const char *why = "signal";
    int failed = 0;
    for (;;) {
        struct timespec ts = {0, 100 * 1000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            why = sig == SIGINT ? "SIGINT" : "SIGTERM";
            break;
        }
        if (sig == SIGHUP) {
            kl_config_t fresh;
            kl_config_defaults(&fresh);
            if (kl_config_parse(&fresh, argc, argv, err, sizeof err) == 0)
                kl_service_reload(svc, &fresh);
            else
                kl_log(KL_LOG_ERROR, "serve", "reload_failed", "error=\"%s\" action=\"kept "
                       "the running configuration\"", err);
            kl_config_free(&fresh);
        }
        if (kl_service_failed(svc)) {
            why = "a worker failed (a WAL write, or a final kline that found no memory; see its "
                  "error): no durability, so no more work";
            failed = 1;
            break;
        }
        if (cfg.exit_on_eof && kl_service_source_done(svc)) {
            why = "end of input";
            break;
        }
    }
    kl_log(KL_LOG_INFO, "serve", "stopping", "reason=\"%s\"", why);
    /* Every stop is bounded. Fail-stop: a few seconds, and status 1; a thread blocked on a dead
     * disk or store must not keep the process from exiting and being restarted. */
    int bound = failed ? KL_FAILSTOP_GRACE_MS : cfg.shutdown_timeout_ms;
    stop_track(svc, bound);
    if (kl_watchdog_arm(bound, failed ? 1 : KL_SERVE_EXIT_TIMEOUT, why, stop_report, NULL) != 0) {
        if (failed)
            _exit(1);
        kl_log(KL_LOG_ERROR, "serve", "shutdown_unbounded",
               "action=\"stopping without the shutdown-timeout-ms bound (no watchdog thread)\"");
    }
    int status = kl_service_stop(svc) || failed;
    stop_track(NULL, 0);
    kl_watchdog_disarm();
    kl_log(KL_LOG_INFO, "serve", "stopped", "status=%d", status);
    kl_log_async_stop(2000); /* bounded: a stderr still blocked keeps the rest */
    kl_config_free(&cfg);
    return status;
}
