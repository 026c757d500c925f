/* The Kafka source: `--source kafka://BROKERS/TOPIC --group NAME`. Instances of one consumer
 * group share the topic's partitions; each message's key is a symbol and its value one
 * trade/aggTrade event JSON (a `lines` line). A symbol's partition is kl_shard_of(symbol,
 * partitions) (`klined bridge` produces that way), and every symbol of a partition lives on
 * worker partition % workers, so that worker alone decides the partition's offset.
 *
 * DESIGN. Kafka is the log here: no WAL. Each worker checkpoint stores, in the same transaction
 * as the rows and engine states, the next offset of each of its partitions (KL_MSG_KOFFSET
 * markers travel in the worker's ring behind the trades they cover). On assignment of a
 * partition, the states of its symbols and its offset are read from the (shared) store and the
 * consumer resumes there: the state holds exactly the messages before that offset. On
 * revocation: the offsets are sent, every worker checkpoints (KL_MSG_HANDOFF) and the source
 * waits for the commits, then the partition's symbols are let go (KL_MSG_DROP) without
 * finalizing them, since another instance continues them. A crash loses only what its last
 * checkpoint did not cover; the next owner re-reads it from Kafka. Trade-id dedupe is the
 * safety net: a message read twice is refused, never counted twice.
 *
 * Finality. With `clock = event` (the default) a symbol's klines close with its own later
 * trades. With `clock = wall` (rt->wmark) each partition is one connection of wmark.h: a
 * partition is one ordered stream, so its highest T minus disorder-ms, or exchange time minus
 * idle-ms once it was silent that long, closes the klines of the symbols it carried (and of those
 * adopted with it). The announcements are checked after every message, not per poll batch, so
 * that a re-read of the partition puts them at the same positions among its trades; only the
 * idle rule and the max-skew-ms bound follow the clock (docs/semantics.md "Kafka and
 * watermarks").
 *
 * Everything here runs on the source thread; librdkafka calls the rebalance callback from
 * rd_kafka_consumer_poll/close on that same thread. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/evtime.h"
#include "core/log.h"
#include "core/shard.h"
#include "engine/kline.h"
#include "kl/err.h"
#include "runtime/router.h"
#include "source/kafka_topic.h"
#include "source/source.h"
#include "source/trade_json.h"
#include "source/wmark.h"
#include "store/store.h"

#define KOFF_EVERY 256           /* messages of a partition between two offset markers */
#define HANDOFF_WAIT_MS 30000    /* a revocation waits this long for the checkpoints */
#define BATCH_MAX 256            /* messages taken per poll batch: one clock read, one flush */
#define IDLE_CHECK_MS 100        /* how often silent partitions are checked (clock = wall) */

/* A partition's watermark (clock = wall): reset on assignment and on revocation. */
typedef struct part_wm {
    kl_wmark_t wm;
    kl_symset_t syms; /* the symbols it carried or was assigned with: the ones it closes */
} part_wm_t;

typedef struct kafka_src {
    kl_source_t base;
    const kl_config_t *cfg;
    rd_kafka_t *rk;
    kl_store_t *store; /* the source thread's own handle: states and offsets on assignment */
    kl_worker_t **workers;
    int n_workers;
    uint32_t n_parts;
    int64_t *next;    /* per partition: the offset after the last message routed, -1: none */
    uint32_t *unsent; /* per partition: messages routed since the last marker */
    part_wm_t *pw;    /* per partition, used when rt->wmark */
    int64_t idle_checked_ms;
    kl_router_t *rt;  /* during run() */
    uint64_t handoff_token;
    uint64_t wrong_partition, assigned, revoked;
    kl_ratelimit_t rl, rl_future;
} kafka_src_t;

/* ---- watermarks ------------------------------------------------------------------------- */

/* Partition p starts afresh (assigned, or not ours any more): a watermark is only ever proven
 * by what this instance read of p. */
static void
part_reset(kafka_src_t *k, uint32_t p)
{
    kl_symset_fini(&k->pw[p].syms);
    kl_wmark_init(&k->pw[p].wm, k->rt ? k->rt->disorder_ms : 0);
}

static void
part_track(kafka_src_t *k, uint32_t p, const char *symbol, size_t len)
{
    if (kl_symset_add(&k->pw[p].syms, symbol, len) < 0) {
        uint64_t supp;
        if (kl_ratelimit_ok(&k->rl, 1000, &supp))
            kl_log(KL_LOG_ERROR, "kafka", "symbol_untracked",
                   "partition=%u symbol=%.*s reason=\"out of memory\" action=\"its klines close "
                   "with its own trades only\" suppressed=%llu",
                   p, (int)len, symbol, (unsigned long long)supp);
    }
}

/* Sends p's watermark to its symbols when it passed a whole second: behind the trades already
 * routed, in the same rings. */
static void
announce(kafka_src_t *k, uint32_t p)
{
    int64_t at = kl_wmark_due(&k->pw[p].wm);
    if (at == KL_WMARK_NONE)
        return;
    const kl_symset_t *s = &k->pw[p].syms;
    for (size_t i = 0; i < s->n; i++)
        if (kl_router_wmark(k->rt, s->names[i], strlen(s->names[i]), at) == KL_ESHUTDOWN)
            return;
}

/* ---- markers and hand-over -------------------------------------------------------------- */

static int
worker_of(const kafka_src_t *k, uint32_t part)
{
    return (int)(part % (uint32_t)k->n_workers);
}

static void
send_koff(kafka_src_t *k, uint32_t part)
{
    if (k->next[part] < 0)
        return;
    kl_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = KL_MSG_KOFFSET;
    m.u.koff.part = part;
    m.u.koff.next = k->next[part];
    kl_router_control(k->rt, worker_of(k, part), &m);
    k->unsent[part] = 0;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Checkpoints everything routed so far on every worker and waits for the commits. */
static int
checkpoint_all(kafka_src_t *k)
{
    uint64_t token = ++k->handoff_token;
    kl_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = KL_MSG_HANDOFF;
    m.u.handoff.token = token;
    for (int w = 0; w < k->n_workers; w++)
        kl_router_control(k->rt, w, &m);
    kl_router_flush(k->rt);
    int64_t deadline = kl_mono_ms() + HANDOFF_WAIT_MS;
    for (int w = 0; w < k->n_workers; w++)
        while (kl_worker_handoff_done(k->workers[w]) < token) {
            if (kl_mono_ms() > deadline)
                return KL_ESTORE;
            sleep_ms(2);
        }
    return 0;
}

static void
revoke(kafka_src_t *k, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        uint32_t p = (uint32_t)parts->elems[i].partition;
        if (p < k->n_parts)
            send_koff(k, p);
    }
    int rc = checkpoint_all(k);
    if (rc != 0)
        kl_log(KL_LOG_ERROR, "kafka", "handoff_checkpoint_late",
               "partitions=%d waited_ms=%d action=\"letting go anyway: the next owner re-reads "
               "from the last committed offsets (dedupe keeps it exact)\"",
               parts->cnt, HANDOFF_WAIT_MS);
    /* Let the partitions' symbols go: their last checkpoint is where the next owner starts. */
    size_t cap = 1024, n;
    kl_syminfo_t *v = NULL;
    for (;;) {
        kl_free(v);
        v = kl_alloc(cap * sizeof *v);
        n = v ? kl_symreg_list(k->rt->reg, v, cap) : 0;
        if (!v || n <= cap)
            break;
        cap = n + 64;
    }
    size_t dropped = 0;
    for (size_t j = 0; v && j < n; j++) {
        uint32_t p = kl_shard_of(v[j].name, strlen(v[j].name), k->n_parts);
        int ours = 0;
        for (int i = 0; i < parts->cnt; i++)
            ours |= (uint32_t)parts->elems[i].partition == p;
        kl_syminfo_t info;
        if (!ours || kl_symreg_remove(k->rt->reg, v[j].name, &info) != 0)
            continue;
        kl_msg_t m;
        memset(&m, 0, sizeof m);
        m.type = KL_MSG_DROP;
        m.sym = info.id;
        kl_router_control(k->rt, info.worker, &m);
        dropped++;
    }
    kl_free(v);
    /* The worker stops checkpointing the partitions' offsets: they are the next owner's now. */
    for (int i = 0; i < parts->cnt; i++) {
        uint32_t p = (uint32_t)parts->elems[i].partition;
        if (p >= k->n_parts)
            continue;
        k->next[p] = -1;
        part_reset(k, p);
        kl_msg_t m;
        memset(&m, 0, sizeof m);
        m.type = KL_MSG_KOFFSET;
        m.u.koff.part = p;
        m.u.koff.next = -1;
        kl_router_control(k->rt, worker_of(k, p), &m);
    }
    kl_router_flush(k->rt);
    k->revoked += (uint64_t)parts->cnt;
    kl_log(KL_LOG_INFO, "kafka", "revoked", "partitions=%d symbols=%zu checkpoint=%s",
           parts->cnt, dropped, rc == 0 ? "committed" : "late");
}

/* ---- assignment ------------------------------------------------------------------------- */

typedef struct adopt_ctx {
    kafka_src_t *k;
    size_t *n; /* per partition: states adopted; SIZE_MAX: not being assigned */
    int error;
} adopt_ctx_t;

static int
adopt_state(void *ctx, const char *symbol, const void *blob, size_t len)
{
    adopt_ctx_t *c = ctx;
    kafka_src_t *k = c->k;
    uint32_t part = kl_shard_of(symbol, strlen(symbol), k->n_parts);
    if (c->n[part] == SIZE_MAX || len == 0)
        return 0;
    const uint8_t *b = blob;
    uint32_t unit = len >= 40 ? (uint32_t)(b[8] | b[9] << 8) : 1; /* kline_state.c FORMAT */
    kl_syminfo_t info;
    if (kl_symreg_lookup(k->rt->reg, symbol, KL_SYMREG_ADD, unit == 1000 ? 1000 : 1, &info) < 0)
        return 0; /* another --shard's, or invalid: not ours to continue */
    void *copy = kl_alloc(len);
    if (!copy) {
        c->error = KL_ENOMEM;
        return 1;
    }
    memcpy(copy, blob, len);
    kl_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = KL_MSG_ADOPT;
    m.sym = info.id;
    m.u.adopt.blob = copy;
    m.u.adopt.len = (uint32_t)len;
    if (kl_router_control(k->rt, info.worker, &m) != 0) {
        kl_free(copy);
        return 1;
    }
    c->n[part]++;
    if (k->rt->wmark) /* a quiet symbol is closed by its partition's watermark here too */
        part_track(k, part, symbol, strlen(symbol));
    return 0;
}

/* The offset partition p's states cover: where to resume (RD_KAFKA_OFFSET_BEGINNING when the
 * store knows nothing of p). */
static int64_t
assigned_offset(kafka_src_t *k, uint32_t p, size_t adopted)
{
    char key[64];
    kl_worker_koff_key(k->cfg->kafka_topic, p, key, sizeof key);
    int64_t off;
    int rc = kl_store_get_kv(k->store, key, &off);
    if (rc < 0)
        kl_log(KL_LOG_ERROR, "kafka", "offset_unreadable",
               "partition=%u error=\"%s\" action=\"starting it from the beginning (dedupe keeps "
               "it exact)\"",
               p, kl_strerror(rc));
    if (rc != 0)
        off = RD_KAFKA_OFFSET_BEGINNING;
    k->next[p] = off >= 0 ? off : -1;
    if (off >= 0)
        send_koff(k, p); /* the next checkpoint keeps it even before new messages */
    kl_log(KL_LOG_INFO, "kafka", "assigned", "partition=%u offset=%lld symbols=%zu", p,
           (long long)off, adopted);
    return off;
}

/* Loads the assigned partitions: their symbols' states (one pass over the stored states) and
 * the offsets those cover, written into parts for the assignment. */
static void
assign(kafka_src_t *k, rd_kafka_topic_partition_list_t *parts)
{
    size_t *n = kl_alloc(k->n_parts * sizeof *n);
    if (!n) {
        kl_log(KL_LOG_ERROR, "kafka", "assign_failed",
               "error=\"out of memory\" action=\"partitions start from their beginning\"");
        return;
    }
    for (uint32_t p = 0; p < k->n_parts; p++)
        n[p] = SIZE_MAX;
    for (int i = 0; i < parts->cnt; i++)
        if ((uint32_t)parts->elems[i].partition < k->n_parts) {
            n[parts->elems[i].partition] = 0;
            part_reset(k, (uint32_t)parts->elems[i].partition);
        }
    adopt_ctx_t c = {k, n, 0};
    int rc = kl_store_states(k->store, adopt_state, &c);
    if (rc < 0 || c.error)
        kl_log(KL_LOG_ERROR, "kafka", "states_unreadable", "partitions=%d error=\"%s\"",
               parts->cnt, kl_strerror(rc < 0 ? rc : c.error));
    for (int i = 0; i < parts->cnt; i++) {
        uint32_t p = (uint32_t)parts->elems[i].partition;
        if (p < k->n_parts)
            parts->elems[i].offset = assigned_offset(k, p, n[p]);
    }
    kl_free(n);
}

static void
rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
             void *opaque)
{
    kafka_src_t *k = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assign(k, parts);
        kl_router_flush(k->rt);
        k->assigned += (uint64_t)parts->cnt;
        rd_kafka_error_t *e = NULL;
        rd_kafka_resp_err_t r = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            r = rd_kafka_assign(rk, parts);
        if (e || r)
            kl_log(KL_LOG_ERROR, "kafka", "assign_failed", "error=\"%s\"",
                   e ? rd_kafka_error_string(e) : rd_kafka_err2str(r));
        if (e)
            rd_kafka_error_destroy(e);
    } else {
        revoke(k, parts);
        if (coop) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
}

/* ---- messages --------------------------------------------------------------------------- */

static void
reject(kafka_src_t *k, const rd_kafka_message_t *msg, const char *why)
{
    atomic_fetch_add_explicit(&k->base.rejected, 1, memory_order_relaxed);
    uint64_t supp;
    if (kl_ratelimit_ok(&k->rl, 1000, &supp))
        kl_log(KL_LOG_WARN, "kafka", "message_rejected",
               "partition=%d offset=%lld reason=\"%s\" text=\"%.*s\" action=skipped "
               "suppressed=%llu",
               (int)msg->partition, (long long)msg->offset, why,
               (int)(msg->len > 100 ? 100 : msg->len), msg->payload ? (const char *)msg->payload : "",
               (unsigned long long)supp);
}

/* librdkafka's global errors: all brokers down is what /healthz reports as the feed down. */
static void
on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    kafka_src_t *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        atomic_store_explicit(&k->base.feeds_down, 1, memory_order_relaxed);
        atomic_store_explicit(&k->base.feeds_open, 0, memory_order_relaxed);
    }
    uint64_t supp;
    if (kl_ratelimit_ok(&k->rl, 1000, &supp))
        kl_log(KL_LOG_WARN, "kafka", "client_error",
               "error=\"%s\" reason=\"%s\" action=\"librdkafka retries\" suppressed=%llu",
               rd_kafka_err2str((rd_kafka_resp_err_t)err), reason, (unsigned long long)supp);
}

/* One message of the batch received at rx_us / now_ms (exchange time; read with watermarks
 * only). */
static void
on_message(kafka_src_t *k, const rd_kafka_message_t *msg, uint32_t rx_us, int64_t now_ms)
{
    uint32_t p = (uint32_t)msg->partition;
    if (p >= k->n_parts)
        return;
    atomic_store_explicit(&k->base.feeds_down, 0, memory_order_relaxed);
    atomic_store_explicit(&k->base.feeds_open, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&k->base.messages, 1, memory_order_relaxed);
    k->next[p] = msg->offset + 1;
    if (++k->unsent[p] >= KOFF_EVERY)
        send_koff(k, p);
    kl_trade_msg_t m;
    int rc = msg->payload ? kl_trade_json_parse(msg->payload, msg->len, &m) : KL_EJSON;
    if (rc == KL_EJSON_EVENT) {
        atomic_fetch_add_explicit(&k->base.skipped_events, 1, memory_order_relaxed);
        return;
    }
    if (rc == 0)
        rc = kl_trade_validate(&m.t, 1);
    if (rc != 0) {
        reject(k, msg, kl_strerror(rc));
        return;
    }
    size_t len = strlen(m.symbol);
    if ((msg->key_len && (msg->key_len != len || memcmp(msg->key, m.symbol, len) != 0)) ||
        kl_shard_of(m.symbol, len, k->n_parts) != p) {
        /* The partition decides the owner: a symbol elsewhere would be counted by two. */
        k->wrong_partition++;
        reject(k, msg, "key or partition does not match the symbol (produce with klined bridge)");
        return;
    }
    int wmark = k->rt->wmark;
    if (wmark &&
        kl_source_check_time(&k->base, k->rt, m.symbol, len, &m.t, now_ms, &k->rl_future) != 0)
        return; /* counted and logged as too far ahead */
    m.t.rx_us = rx_us;
    rc = kl_router_trade(k->rt, m.symbol, len, 1, &m.t);
    if (rc == KL_EARG && k->rt->auto_add) { /* let go earlier and assigned back: ours again */
        kl_syminfo_t info;
        if (kl_symreg_lookup(k->rt->reg, m.symbol, KL_SYMREG_ADD | KL_SYMREG_CAPPED, 1, &info) >=
            0)
            rc = kl_router_trade(k->rt, m.symbol, len, 1, &m.t);
    }
    if (rc != 0) {
        if (rc != KL_ESHUTDOWN)
            reject(k, msg, kl_strerror(rc));
        return;
    }
    atomic_fetch_add_explicit(&k->base.trades, 1, memory_order_relaxed);
    if (wmark) {
        part_wm_t *pw = &k->pw[p];
        part_track(k, p, m.symbol, len);
        int64_t d = kl_wmark_trade(&pw->wm, m.t.ts, now_ms);
        kl_hist_record(&k->base.feed_delay, d > 0 ? (uint64_t)d * 1000000u : 0);
        /* After every message: the positions of the announcements among the trades then
         * depend on the partition's messages alone, not on how polls batched them. */
        announce(k, p);
    }
}

/* Silent partitions: once idle-ms passed without a message, their symbols close up to exchange
 * time - idle-ms (kl_wmark_idle says when it may). */
static void
idle_check(kafka_src_t *k, int64_t now_ms)
{
    if (now_ms - k->idle_checked_ms < IDLE_CHECK_MS)
        return;
    k->idle_checked_ms = now_ms;
    for (uint32_t p = 0; p < k->n_parts; p++) {
        kl_wmark_idle(&k->pw[p].wm, now_ms, k->rt->idle_ms);
        announce(k, p);
    }
}

static int
kafka_run(kl_source_t *src, kl_router_t *rt, const _Atomic int *stop)
{
    kafka_src_t *k = (kafka_src_t *)src;
    k->rt = rt;
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, k->cfg->kafka_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(k->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        kl_log(KL_LOG_ERROR, "kafka", "subscribe_failed", "topic=%s error=\"%s\"",
               k->cfg->kafka_topic, rd_kafka_err2str(err));
        return KL_EIO;
    }
    kl_log(KL_LOG_INFO, "kafka", "subscribed", "brokers=%s topic=%s group=%s partitions=%u",
           k->cfg->kafka_brokers, k->cfg->kafka_topic, k->cfg->group, k->n_parts);
    for (uint32_t p = 0; p < k->n_parts; p++)
        kl_wmark_init(&k->pw[p].wm, rt->disorder_ms);
    while (!atomic_load_explicit(stop, memory_order_relaxed)) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(k->rk, 50);
        /* The messages librdkafka already holds form one batch, stamped once. */
        uint32_t rx_us = kl_rx_us();
        int64_t now_ms = rt->wmark ? kl_evtime_now_ms() : 0;
        int n = 0;
        for (; msg; msg = ++n < BATCH_MAX ? rd_kafka_consumer_poll(k->rk, 0) : NULL) {
            if (msg->err) {
                if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    uint64_t supp;
                    if (kl_ratelimit_ok(&k->rl, 1000, &supp))
                        kl_log(KL_LOG_WARN, "kafka", "consume_error",
                               "error=\"%s\" action=\"librdkafka retries\" suppressed=%llu",
                               rd_kafka_message_errstr(msg), (unsigned long long)supp);
                }
            } else {
                on_message(k, msg, rx_us, now_ms);
            }
            rd_kafka_message_destroy(msg);
        }
        if (n == 0) /* idle: markers for what is routed */
            for (uint32_t p = 0; p < k->n_parts; p++)
                if (k->unsent[p])
                    send_koff(k, p);
        if (rt->wmark)
            idle_check(k, now_ms);
        kl_router_flush(rt); /* wake the workers for the batch */
    }
    /* Leaving: markers for everything routed; close hands the partitions over (revoke). */
    for (uint32_t p = 0; p < k->n_parts; p++)
        send_koff(k, p);
    kl_router_flush(rt);
    rd_kafka_consumer_close(k->rk);
    kl_log(KL_LOG_INFO, "kafka", "stopped",
           "messages=%llu trades=%llu rejected=%llu wrong_partition=%llu assigned=%llu "
           "revoked=%llu",
           (unsigned long long)atomic_load(&k->base.messages),
           (unsigned long long)atomic_load(&k->base.trades),
           (unsigned long long)atomic_load(&k->base.rejected),
           (unsigned long long)k->wrong_partition, (unsigned long long)k->assigned,
           (unsigned long long)k->revoked);
    return 0;
}

static void
kafka_destroy(kl_source_t *src)
{
    kafka_src_t *k = (kafka_src_t *)src;
    if (k->rk)
        rd_kafka_destroy(k->rk);
    if (k->store)
        kl_store_close(k->store);
    kl_free(k->next);
    kl_free(k->unsent);
    for (uint32_t p = 0; k->pw && p < k->n_parts; p++)
        kl_symset_fini(&k->pw[p].syms);
    kl_free(k->pw);
    kl_free(k);
}

static const kl_source_ops_t kafka_ops = {"kafka", kafka_run, kafka_destroy};

static int
conf_set(rd_kafka_conf_t *conf, const char *key, const char *val, char *err, size_t cap)
{
    char e[256];
    if (rd_kafka_conf_set(conf, key, val, e, sizeof e) != RD_KAFKA_CONF_OK) {
        snprintf(err, cap, "kafka: %s = %s: %s", key, val, e);
        return KL_ECONFIG;
    }
    return 0;
}

int
kl_source_kafka_create(const kl_config_t *cfg, kl_worker_t **workers, int n_workers,
                       kl_source_t **out, char *err, size_t cap)
{
    kafka_src_t *k = kl_calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, cap, "kafka source: out of memory");
        return KL_ENOMEM;
    }
    k->base.ops = &kafka_ops;
    k->cfg = cfg;
    k->workers = workers;
    k->n_workers = n_workers;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[512];
    /* Offsets live in the store's checkpoints, never in Kafka; cooperative rebalancing moves
     * only the partitions that change owner; a dead instance's partitions move after 6 s. */
    int rc = conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, err, cap);
    if (!rc)
        rc = conf_set(conf, "group.id", cfg->group, err, cap);
    if (!rc)
        rc = conf_set(conf, "enable.auto.commit", "false", err, cap);
    if (!rc)
        rc = conf_set(conf, "enable.auto.offset.store", "false", err, cap);
    if (!rc)
        rc = conf_set(conf, "auto.offset.reset", "earliest", err, cap);
    if (!rc)
        rc = conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err, cap);
    if (!rc)
        rc = conf_set(conf, "session.timeout.ms", "6000", err, cap);
    if (!rc)
        rc = conf_set(conf, "heartbeat.interval.ms", "1000", err, cap);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        kafka_destroy(&k->base);
        return rc;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, k);
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, cap, "kafka: %s", e);
        kafka_destroy(&k->base);
        return KL_ECONFIG;
    }
    rd_kafka_poll_set_consumer(k->rk);
    /* The partition count decides every symbol's partition and worker: read it now. */
    rd_kafka_resp_err_t merr = kl_kafka_partitions(k->rk, cfg->kafka_topic, &k->n_parts);
    if (merr) {
        snprintf(err, cap, "kafka: topic %s on %s: %s", cfg->kafka_topic, cfg->kafka_brokers,
                 rd_kafka_err2str(merr));
        kafka_destroy(&k->base);
        return KL_EIO;
    }
    k->next = kl_alloc(k->n_parts * sizeof *k->next);
    k->unsent = kl_calloc(k->n_parts, sizeof *k->unsent);
    k->pw = kl_calloc(k->n_parts, sizeof *k->pw);
    rc = k->next && k->unsent && k->pw ? kl_store_open(cfg->store_url, &k->store, err, cap) : KL_ENOMEM;
    for (uint32_t p = 0; rc == 0 && p < k->n_parts; p++)
        k->next[p] = -1;
    for (int w = 0; rc == 0 && w < n_workers; w++)
        rc = kl_worker_set_kafka(workers[w], cfg->kafka_topic, k->n_parts);
    if (rc != 0) {
        if (!err[0])
            snprintf(err, cap, "kafka source: %s", kl_strerror(rc));
        kafka_destroy(&k->base);
        return rc;
    }
    *out = &k->base;
    return 0;
}

uint32_t
kl_source_kafka_partitions(kl_source_t *src)
{
    return ((kafka_src_t *)src)->n_parts;
}
