/* /metrics (Prometheus text format 0.0.4) and /healthz. Every counter the service keeps is here:
 * per worker (label worker="N"), the source, the persister, the API itself, and three latency
 * histograms: trade received -> kline updated (workers), kline updated -> WS frame queued (API
 * thread), snapshot commit (persister). */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>

#include "api/prom.h"
#include "core/log.h"
#include "serve/service.h"
#include "sink/ksink.h"
#include "source/source.h"
#include "api/reader.h"
#include "store/persister.h"

typedef struct wfield {
    const char *name, *type, *help;
    size_t off;
} wfield_t;

#define WF(f, n, t, h) {n, t, h, offsetof(kl_worker_stats_t, f)}
static const wfield_t wfields[] = {
    WF(trades, "klined_worker_trades_total", "counter", "Trades taken from the queues."),
    WF(applied, "klined_trades_applied_total", "counter", "Trades applied in order."),
    WF(late, "klined_trades_late_total", "counter", "Late trades applied (amending klines)."),
    WF(duplicates, "klined_trades_duplicate_total", "counter", "Trades ignored as duplicates."),
    WF(too_late, "klined_trades_too_late_total", "counter",
       "Trades refused: older than the lateness window."),
    WF(stale, "klined_trades_stale_id_total", "counter",
       "Trades refused: id below the duplicate window."),
    WF(unknown_symbol, "klined_trades_unknown_symbol_total", "counter",
       "Trades for a symbol the worker does not hold."),
    WF(finals, "klined_klines_final_total", "counter", "Klines that became final."),
    WF(finals_lost, "klined_final_klines_lost_total", "counter",
       "Final klines that found no memory for the store: the service fail-stops, and the "
       "restart's WAL replay writes them."),
    WF(snapshots, "klined_snapshots_total", "counter", "Snapshots taken."),
    WF(snapshot_rows, "klined_snapshot_rows_total", "counter", "Rows handed to the persister."),
    WF(commit_ok, "klined_checkpoints_total", "counter", "Snapshots the store confirmed."),
    WF(commit_failed, "klined_checkpoint_failures_total", "counter",
       "Snapshots the store refused (retried)."),
    WF(live_symbols, "klined_symbols", "gauge", "Symbols held."),
    WF(parked_symbols, "klined_parked_symbols", "gauge",
       "Removed symbols whose series are kept in memory for a re-add."),
    WF(dirty, "klined_dirty_symbols", "gauge", "Symbols changed since the last snapshot."),
    WF(pending_rows, "klined_pending_rows", "gauge", "Final rows waiting for the store."),
    WF(queue_depth, "klined_queue_depth", "gauge", "Messages waiting in the worker's queues."),
    WF(queue_waits, "klined_queue_full_waits_total", "counter",
       "Times a producer found a worker queue full and waited."),
    WF(wal_bytes, "klined_wal_bytes_total", "counter", "Bytes written to the WAL."),
};

static void
u64(kl_buf_t *b, const char *name, const char *type, const char *help, uint64_t v)
{
    kl_prom_family(b, name, type, help);
    kl_prom_u64(b, name, NULL, v);
}

/* One histogram family with a series per worker, read by get. */
static void
worker_hist(kl_buf_t *b, const kl_service_view_t *v, const char *name, const char *help,
            void (*get)(kl_worker_t *, kl_hist_snap_t *))
{
    char lab[32];
    kl_prom_family(b, name, "histogram", help);
    for (int i = 0; i < v->n_workers; i++) {
        kl_hist_snap_t h;
        get(v->workers[i], &h);
        snprintf(lab, sizeof lab, "worker=\"%d\"", i);
        kl_prom_hist(b, name, lab, &h);
    }
}

void
api_metrics(kl_api_t *a, sess_t *s)
{
    kl_service_view_t v;
    kl_service_view(a->d.svc, &v);
    api_http_reply(s, 200, "text/plain; version=0.0.4; charset=utf-8", "", 0);
    kl_buf_t *b = &s->body;
    kl_worker_stats_t st[KL_CFG_WORKERS_MAX];
    for (int i = 0; i < v.n_workers; i++)
        kl_worker_stats(v.workers[i], &st[i]);
    char lab[32];
    for (size_t f = 0; f < sizeof wfields / sizeof wfields[0]; f++) {
        kl_prom_family(b, wfields[f].name, wfields[f].type, wfields[f].help);
        for (int i = 0; i < v.n_workers; i++) {
            snprintf(lab, sizeof lab, "worker=\"%d\"", i);
            kl_prom_u64(b, wfields[f].name, lab,
                        *(const uint64_t *)(const void *)((const char *)&st[i] + wfields[f].off));
        }
    }
    kl_prom_family(b, "klined_snapshot_take_seconds", "gauge",
                   "Time the worker took to copy its last snapshot.");
    for (int i = 0; i < v.n_workers; i++) {
        snprintf(lab, sizeof lab, "worker=\"%d\"", i);
        kl_prom_f64(b, "klined_snapshot_take_seconds", lab, (double)st[i].last_snapshot_us / 1e6);
    }
    kl_prom_family(b, "klined_api_updates_dropped_total", "counter",
                   "Kline updates a worker dropped because the API's ring was full.");
    for (int i = 0; i < v.n_workers; i++) {
        snprintf(lab, sizeof lab, "worker=\"%d\"", i);
        kl_prom_u64(b, "klined_api_updates_dropped_total", lab,
                    atomic_load_explicit(&a->pub[i].dropped, memory_order_relaxed));
    }
    worker_hist(b, &v, "klined_trade_to_kline_seconds",
                "Trade received by the source to kline updated by the worker.", kl_worker_latency);
    worker_hist(b, &v, "klined_final_delay_seconds",
                "Kline close to final kline emitted, in exchange time (live sources).",
                kl_worker_final_delay);
    kl_hist_snap_t h;
    kl_hist_read(&a->lat_queue, &h);
    kl_prom_family(b, "klined_kline_to_ws_seconds", "histogram",
                   "Kline updated by the worker to WS frame queued for the clients.");
    kl_prom_hist(b, "klined_kline_to_ws_seconds", NULL, &h);

    kl_persister_stats_t p;
    kl_persister_stats(v.persister, &p);
    kl_prom_family(b, "klined_snapshot_commit_seconds", "histogram",
                   "Store transaction of one snapshot (rows, states, WAL position).");
    kl_prom_hist(b, "klined_snapshot_commit_seconds", NULL, &p.commit_lat);
    u64(b, "klined_store_commits_total", "counter", "Store transactions committed.", p.commits);
    u64(b, "klined_store_commit_failures_total", "counter", "Store transactions failed.",
        p.failures);
    u64(b, "klined_store_rows_total", "counter", "Rows written to the store.", p.rows);

    if (v.source) {
        kl_source_stats_t src;
        kl_source_stats(v.source, &src);
        u64(b, "klined_source_messages_total", "counter", "Messages read by the source.",
            src.messages);
        u64(b, "klined_source_trades_total", "counter", "Trades routed by the source.",
            src.trades);
        u64(b, "klined_source_rejected_total", "counter",
            "Messages refused by the source's parsers.", src.rejected);
        u64(b, "klined_source_skipped_events_total", "counter",
            "Well-formed events that are not trades.", src.skipped_events);
        u64(b, "klined_source_too_far_ahead_total", "counter",
            "Live trades refused: their time was more than max-skew-ms ahead of exchange time.",
            src.too_far_ahead);
        kl_hist_snap_t fd;
        kl_hist_read(&v.source->feed_delay, &fd);
        char slab[64];
        snprintf(slab, sizeof slab, "source=\"%s\"", v.source->ops->name);
        kl_prom_family(b, "klined_feed_delay_seconds", "histogram",
                       "Trade delivered by the feed minus its trade time T, in exchange time.");
        kl_prom_hist(b, "klined_feed_delay_seconds", slab, &fd);
        u64(b, "klined_feed_connections_open", "gauge", "Exchange connections open.",
            (uint64_t)atomic_load_explicit(&v.source->feeds_open, memory_order_relaxed));
        u64(b, "klined_feed_connections_down", "gauge",
            "Exchange connections that should be open and are not.",
            (uint64_t)atomic_load_explicit(&v.source->feeds_down, memory_order_relaxed));
    }
    { /* symbol creation bounds (max-symbols, symbol-create-rate): what the registry refused */
        kl_symreg_stats_t sr;
        kl_symreg_stats(a->d.reg, &sr);
        static const char *const why[KL_SYMREG_N_REFUSALS] = {"reason=\"cap\"",
                                                              "reason=\"rate\"",
                                                              "reason=\"name\""};
        kl_prom_family(b, "klined_source_symbols_refused_total", "counter",
                       "New symbols refused: max-symbols live (cap), created faster than "
                       "symbol-create-rate (rate), not a symbol name (name).");
        for (int i = 0; i < KL_SYMREG_N_REFUSALS; i++)
            kl_prom_u64(b, "klined_source_symbols_refused_total", why[i], sr.refused[i]);
        u64(b, "klined_symbols_live", "gauge", "Symbols served (live in the registry).",
            sr.live);
        u64(b, "klined_symbols_registered", "gauge",
            "Registry entries, live and removed (ids are never reused).", sr.entries);
    }
    if (v.sink) {
        kl_ksink_stats_t ks;
        kl_ksink_stats(v.sink, &ks);
        u64(b, "klined_kline_sink_produced_total", "counter",
            "Klines handed to the Kafka kline sink.", ks.produced);
        u64(b, "klined_kline_sink_delivered_total", "counter",
            "Klines the Kafka brokers acknowledged.", ks.delivered);
        u64(b, "klined_kline_sink_errors_total", "counter",
            "Klines the kline sink could not publish (they are in the store).", ks.errors);
        u64(b, "klined_kline_sink_dropped_total", "counter",
            "Klines the kline sink dropped, its queue full (broker down or slow) or purged at "
            "exit; they are in the store.", ks.dropped);
    }
    u64(b, "klined_log_dropped_total", "counter",
        "Log lines dropped because stderr was blocked and the log ring was full.",
        kl_log_dropped());
    u64(b, "klined_api_connections", "gauge",
        "HTTP and WebSocket connections open (max-connections).", (uint64_t)api_conn_count(a));
    u64(b, "klined_api_connections_refused_total", "counter",
        "Connections refused at accept (max-connections, max-connections-per-ip).",
        a->conn_refused);
    u64(b, "klined_api_connections_evicted_total", "counter",
        "Idle connections (no complete request yet) closed to make room for a new one.",
        a->conn_evicted);
    u64(b, "klined_api_origin_refused_total", "counter",
        "Requests from a browser page whose Origin is not in allowed-origins.", a->origin_refused);
    u64(b, "klined_ws_clients", "gauge", "WebSocket clients connected.", (uint64_t)a->n_sessions);
    u64(b, "klined_ws_connections_total", "counter", "WebSocket clients accepted.",
        a->ws_connects);
    u64(b, "klined_ws_refused_total", "counter", "WebSocket clients refused (connection cap).",
        a->ws_refused);
    u64(b, "klined_ws_slow_disconnects_total", "counter",
        "WebSocket clients disconnected because their queue was full.", a->ws_slow);
    u64(b, "klined_ws_queue_bytes", "gauge",
        "Bytes queued for WebSocket clients (bounded by ws-total-queue-bytes).",
        (uint64_t)a->ws_q_bytes);
    u64(b, "klined_ws_total_queue_drops_total", "counter",
        "WebSocket clients disconnected because all queues together were full.",
        a->ws_total_drops);
    u64(b, "klined_ws_frames_total", "counter", "WebSocket frames sent.", a->ws_frames);
    u64(b, "klined_ws_control_total", "counter", "WebSocket control messages received.",
        a->ws_ctl);
    u64(b, "klined_ws_control_errors_total", "counter", "WebSocket control messages refused.",
        a->ws_ctl_errors);
    u64(b, "klined_http_requests_total", "counter", "HTTP requests routed.", a->http_requests);
    u64(b, "klined_rest_klines_total", "counter", "Kline REST requests.", a->rest_klines);
    u64(b, "klined_admin_denied_total", "counter", "Admin requests refused (token).",
        a->admin_denied);
    u64(b, "klined_api_sync_timeouts_total", "counter",
        "REST requests answered from the store alone (no answer from the worker in time).",
        a->sync_timeouts);
    api_readers_stats_t rs;
    api_readers_stats(a->readers, &rs);
    u64(b, "klined_api_reads_queued", "gauge",
        "API store reads queued, running or waiting to be answered.", rs.queued);
    u64(b, "klined_api_read_queue_bytes", "gauge",
        "Bytes charged to the API store reads in the queue (bound: api-read-queue-bytes).",
        rs.bytes);
    u64(b, "klined_api_reads_total", "counter", "API store reads done by the reader threads.",
        rs.done);
    u64(b, "klined_api_reads_rejected_total", "counter",
        "Kline REST requests refused with 503 because the read queue was full.",
        a->reads_rejected);
    u64(b, "klined_api_seeds_deferred_total", "counter",
        "Time-zone WS pushes dropped because the read queue was full (retried at the next).",
        a->seeds_deferred);
    u64(b, "klined_api_query_rows_refused_total", "counter",
        "Queries refused for reading more than max-query-rows klines.", a->rows_refused);
    u64(b, "klined_api_cache_bytes", "gauge",
        "Bytes of the API's per-symbol memory (bound: api-cache-bytes).", a->cache_bytes);
    u64(b, "klined_api_cache_symbols", "gauge", "Symbols in the API's per-symbol memory.",
        a->cache_symbols);
    u64(b, "klined_api_cache_evictions_total", "counter",
        "Idle symbols evicted from the API's memory to stay within api-cache-bytes.",
        a->cache_evictions);
}

void
api_healthz(kl_api_t *a, sess_t *s)
{
    kl_service_view_t v;
    kl_service_view(a->d.svc, &v);
    kl_buf_t r = {0};
    int64_t now = kl_mono_ms();
    if (kl_service_failed(a->d.svc))
        kl_buf_puts(&r, ",\"worker: stopped after a WAL write failed or a final kline found no "
                        "memory (see the log); a restart recovers from the WAL\"");
    if (v.source) {
        int64_t down = atomic_load_explicit(&v.source->feeds_down, memory_order_relaxed);
        if (down > 0)
            kl_buf_printf(&r, ",\"feed: %lld exchange connection(s) down\"", (long long)down);
    }
    kl_persister_stats_t p;
    kl_persister_stats(v.persister, &p);
    uint64_t pending = 0;
    for (int i = 0; i < v.n_workers; i++) {
        kl_worker_stats_t w;
        kl_worker_stats(v.workers[i], &w);
        pending += w.pending_rows + w.dirty;
    }
    int64_t lag_ms = 10LL * a->cfg->persist_ms > 10000 ? 10LL * a->cfg->persist_ms : 10000;
    if (p.last_fail_ms > p.last_ok_ms)
        kl_buf_puts(&r, ",\"store: the last commit failed (retrying)\"");
    else if (pending && p.last_ok_ms && now - p.last_ok_ms > lag_ms)
        kl_buf_printf(&r, ",\"store: no commit for %lld ms with %llu rows/symbols waiting\"",
                      (long long)(now - p.last_ok_ms), (unsigned long long)pending);
    if (r.oom) {
        kl_buf_free(&r);
        api_http_reply(s, 503, "application/json", "{\"status\":\"unknown\"}", 20);
        return;
    }
    if (r.len == 0) {
        api_http_reply(s, 200, "application/json", "{\"status\":\"ok\"}", 15);
    } else {
        api_http_reply(s, 503, "application/json", "{\"status\":\"unhealthy\",\"reasons\":[", 33);
        kl_buf_put(&s->body, r.p + 1, r.len - 1);
        kl_buf_puts(&s->body, "]}");
    }
    kl_buf_free(&r);
}
