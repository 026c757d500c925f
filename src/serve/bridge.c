/* `klined bridge`: the live Binance feed, with its reconnects and REST gap backfill, published to
 * a Kafka topic instead of being aggregated here. The exchange is then read once and the topic
 * replayed by any number of `klined serve --source kafka://…` instances.
 *
 * Each trade becomes one message: key = symbol, value = a Binance aggTrade event JSON line (what
 * the lines and Kafka sources parse), partition = kl_shard_of(symbol, partitions), the rule the
 * consumers use to know which symbols a partition holds. The producer is idempotent (a retry
 * never duplicates a message within a partition).
 *
 * Restart: before connecting, the bridge reads the tail of every partition (at most
 * RESUME_SCAN messages each) and resumes each symbol after the highest id found there, so the
 * exchange's REST backfill fills exactly the gap while it was down. A symbol not found in those
 * tails starts at the live edge (logged). */
#include "serve/bridge.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/decimal.h"
#include "core/log.h"
#include "core/shard.h"
#include "kl/err.h"
#include "runtime/router.h"
#include "source/kafka_topic.h"
#include "source/source.h"
#include "source/trade_json.h"

#define RESUME_SCAN 1000000 /* messages read back per partition at start */
#define RESUME_CAP 65536     /* symbols remembered (power of two) */

/* symbol -> highest id in the topic (open addressing, FNV-1a via kl_shard_of) */
typedef struct resume_map {
    char (*name)[32];
    int64_t *id;
    size_t n;
} resume_map_t;

typedef struct bridge {
    resume_map_t resume;
    rd_kafka_t *rk;
    const char *topic;
    uint32_t n_parts;
    uint64_t produced, failed, queue_full;
    _Atomic uint64_t delivered, delivery_errors;
    kl_ratelimit_t rl;
} bridge_t;

/* The aggTrade event of t; returns its length. buf >= 256. */
static size_t
format_trade(const char *sym, size_t len, const kl_trade_t *t, char *buf)
{
    char p[32], q[32];
    p[kl_dec_format(t->price, p)] = '\0';
    q[kl_dec_format(t->qty, q)] = '\0';
    int n = snprintf(buf, 256,
                     "{\"e\":\"aggTrade\",\"E\":%lld,\"s\":\"%.*s\",\"a\":%lld,\"p\":\"%s\","
                     "\"q\":\"%s\",\"f\":%lld,\"l\":%lld,\"T\":%lld,\"m\":%s,\"M\":true}",
                     (long long)t->ts, (int)len, sym, (long long)t->id, p, q,
                     (long long)t->first_id, (long long)t->last_id, (long long)t->ts,
                     t->buyer_maker ? "true" : "false");
    return (size_t)n;
}

static int
sink(void *ctx, const char *sym, size_t len, uint32_t unit_per_ms, const kl_trade_t *t)
{
    (void)unit_per_ms; /* the live feed is in ms */
    bridge_t *b = ctx;
    char buf[256];
    size_t n = format_trade(sym, len, t, buf);
    int32_t part = (int32_t)kl_shard_of(sym, len, b->n_parts);
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            b->rk, RD_KAFKA_V_TOPIC(b->topic), RD_KAFKA_V_PARTITION(part),
            RD_KAFKA_V_KEY(sym, len), RD_KAFKA_V_VALUE(buf, n),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && tries < 1000) {
            b->queue_full++;
            rd_kafka_poll(b->rk, 10); /* the broker is behind: wait for deliveries */
            continue;
        }
        b->failed++;
        uint64_t supp;
        if (kl_ratelimit_ok(&b->rl, 1000, &supp))
            kl_log(KL_LOG_ERROR, "bridge", "produce_failed",
                   "symbol=%.*s id=%lld error=\"%s\" action=\"trade not published\" "
                   "suppressed=%llu",
                   (int)len, sym, (long long)t->id, rd_kafka_err2str(err),
                   (unsigned long long)supp);
        return 0;
    }
    b->produced++;
    rd_kafka_poll(b->rk, 0); /* delivery reports */
    return 0;
}

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    bridge_t *b = opaque;
    if (m->err) {
        atomic_fetch_add_explicit(&b->delivery_errors, 1, memory_order_relaxed);
        uint64_t supp;
        if (kl_ratelimit_ok(&b->rl, 1000, &supp))
            kl_log(KL_LOG_ERROR, "bridge", "delivery_failed",
                   "partition=%d error=\"%s\" action=\"message lost after librdkafka's "
                   "retries\" suppressed=%llu",
                   (int)m->partition, rd_kafka_err2str(m->err), (unsigned long long)supp);
    } else {
        atomic_fetch_add_explicit(&b->delivered, 1, memory_order_relaxed);
    }
}

static int
open_producer(bridge_t *b, const kl_config_t *cfg, char *err, size_t cap)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[512];
    static const char *const kv[][2] = {
        {"enable.idempotence", "true"}, /* no duplicates from retries, order kept */
        {"linger.ms", "5"},
        {"compression.type", "lz4"},
    };
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->bridge_brokers, e, sizeof e)) {
        snprintf(err, cap, "bridge: bootstrap.servers: %s", e);
        rd_kafka_conf_destroy(conf);
        return KL_ECONFIG;
    }
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], e, sizeof e)) {
            snprintf(err, cap, "bridge: %s: %s", kv[i][0], e);
            rd_kafka_conf_destroy(conf);
            return KL_ECONFIG;
        }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, b);
    b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!b->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, cap, "bridge: %s", e);
        return KL_ECONFIG;
    }
    rd_kafka_resp_err_t merr = kl_kafka_partitions(b->rk, cfg->bridge_topic, &b->n_parts);
    if (merr) {
        snprintf(err, cap, "bridge: topic %s on %s: %s (create it first)", cfg->bridge_topic,
                 cfg->bridge_brokers, rd_kafka_err2str(merr));
        return KL_EIO;
    }
    b->topic = cfg->bridge_topic;
    return 0;
}

static int64_t *
resume_slot(resume_map_t *m, const char *sym, size_t len, int add)
{
    if (!m->name || len == 0 || len >= 32)
        return NULL;
    size_t i = kl_shard_of(sym, len, 0xffffffffu) & (RESUME_CAP - 1);
    for (;; i = (i + 1) & (RESUME_CAP - 1)) {
        if (m->name[i][0] == '\0') {
            if (!add || m->n + 1 >= RESUME_CAP / 2)
                return NULL;
            memcpy(m->name[i], sym, len);
            m->name[i][len] = '\0';
            m->id[i] = INT64_MIN;
            m->n++;
            return &m->id[i];
        }
        if (strncmp(m->name[i], sym, 32) == 0 && m->name[i][len] == '\0')
            return &m->id[i];
    }
}

static int64_t
resume_id(void *ctx, const char *symbol)
{
    bridge_t *b = ctx;
    int64_t *v = resume_slot(&b->resume, symbol, strlen(symbol), 0);
    return v ? *v : INT64_MIN;
}

/* Reads the tail of every partition: the highest trade id published per symbol. */
static int
load_resume(bridge_t *b, const kl_config_t *cfg, char *err, size_t cap)
{
    resume_map_t *m = &b->resume;
    m->name = kl_calloc(RESUME_CAP, sizeof *m->name);
    m->id = kl_alloc(RESUME_CAP * sizeof *m->id);
    if (!m->name || !m->id) {
        snprintf(err, cap, "bridge: out of memory");
        return KL_ENOMEM;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[512];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->bridge_brokers, e, sizeof e) ||
        rd_kafka_conf_set(conf, "group.id", "klined-bridge-resume", e, sizeof e) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof e) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", e, sizeof e)) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, cap, "bridge: resume consumer: %s", e);
        return KL_ECONFIG;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, cap, "bridge: resume consumer: %s", e);
        return KL_ECONFIG;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)b->n_parts);
    int waiting = 0;
    uint64_t scanned = 0;
    for (uint32_t p = 0; p < b->n_parts; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, cfg->bridge_topic, (int32_t)p, &lo, &hi,
                                             10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi <= lo)
            continue;
        rd_kafka_topic_partition_list_add(parts, cfg->bridge_topic, (int32_t)p)->offset =
            hi - lo > RESUME_SCAN ? hi - RESUME_SCAN : lo;
        waiting++;
    }
    if (waiting)
        rd_kafka_assign(rk, parts);
    int64_t deadline = kl_mono_ms() + 60000;
    while (waiting > 0 && kl_mono_ms() < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 500);
        if (!msg)
            continue;
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            waiting--;
        } else if (!msg->err && msg->payload) {
            kl_trade_msg_t t;
            scanned++;
            if (kl_trade_json_parse(msg->payload, msg->len, &t) == 0) {
                int64_t *v = resume_slot(m, t.symbol, strlen(t.symbol), 1);
                if (v && t.t.id > *v)
                    *v = t.t.id;
            }
        }
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    kl_log(waiting ? KL_LOG_WARN : KL_LOG_INFO, "bridge", "resume",
           "topic=%s messages_read=%llu symbols=%zu partitions_unfinished=%d%s", cfg->bridge_topic,
           (unsigned long long)scanned, m->n, waiting,
           waiting ? " action=\"those symbols start at the live edge\"" : "");
    return 0;
}

typedef struct run_ctx {
    kl_source_t *src;
    kl_router_t *rt;
    _Atomic int *stop;
    int status;
    _Atomic int done;
} run_ctx_t;

static void *
run_main(void *arg)
{
    run_ctx_t *r = arg;
    pthread_setname_np(pthread_self(), "kl-source");
    r->status = r->src->ops->run(r->src, r->rt, r->stop);
    atomic_store(&r->done, 1);
    return NULL;
}

int
kl_bridge_main(int argc, char **argv)
{
    kl_config_t cfg;
    kl_config_defaults(&cfg);
    char err[1024] = "";
    if (kl_config_parse(&cfg, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "klined bridge: %s\n", err);
        return 2;
    }
    if (cfg.help) {
        fputs("usage: klined bridge --bridge-to kafka://BROKERS/TOPIC [serve flags for the "
              "binance source: --symbols, --quote-assets, --binance-ws, --binance-rest, "
              "--shard ...]\n",
              stdout);
        kl_config_free(&cfg);
        return 0;
    }
    if (!cfg.bridge_topic || cfg.source != KL_CFG_SRC_BINANCE) {
        fprintf(stderr, "klined bridge: needs bridge-to = kafka://BROKERS/TOPIC and the binance "
                        "source\n");
        kl_config_free(&cfg);
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    bridge_t b;
    memset(&b, 0, sizeof b);
    int rc = open_producer(&b, &cfg, err, sizeof err);
    if (rc == 0)
        rc = load_resume(&b, &cfg, err, sizeof err);
    kl_symreg_t *reg = rc == 0 ? kl_symreg_create(1) : NULL;
    if (rc == 0 && !reg)
        rc = KL_ENOMEM;
    if (reg)
        kl_symreg_set_shard(reg, cfg.shard_index, cfg.shard_count);
    for (size_t i = 0; rc == 0 && i < cfg.n_symbols; i++) {
        kl_syminfo_t info;
        int r = kl_symreg_lookup(reg, cfg.symbols[i].name, KL_SYMREG_ADD, 1, &info);
        rc = r < 0 && r != KL_ESHARD ? r : 0;
    }
    kl_source_t *src = NULL;
    if (rc == 0)
        rc = kl_source_binance_create(&cfg, resume_id, &b, &src, err, sizeof err);
    _Atomic int stop = 0;
    kl_worker_t *none[1] = {NULL};
    kl_router_t rt;
    memset(&rt, 0, sizeof rt);
    if (rc == 0)
        rc = kl_router_init(&rt, none, 1, 0, reg, 0, &stop);
    if (rc != 0) {
        fprintf(stderr, "klined bridge: %s\n", err[0] ? err : kl_strerror(rc));
        if (src)
            src->ops->destroy(src);
        kl_router_fini(&rt);
        kl_symreg_destroy(reg);
        if (b.rk)
            rd_kafka_destroy(b.rk);
        kl_free(b.resume.name);
        kl_free(b.resume.id);
        kl_config_free(&cfg);
        return 1;
    }
    rt.sink = sink;
    rt.sink_ctx = &b;
    kl_log(KL_LOG_INFO, "bridge", "started", "brokers=%s topic=%s partitions=%u symbols=%zu",
           cfg.bridge_brokers, cfg.bridge_topic, b.n_parts, cfg.n_symbols);
    run_ctx_t r = {src, &rt, &stop, 0, 0};
    pthread_t th;
    int prc = pthread_create(&th, NULL, run_main, &r);
    const char *why = "source ended";
    if (prc != 0) { /* no source thread: nothing to wait for, and the exit status says so */
        kl_log(KL_LOG_ERROR, "bridge", "start_failed",
               "error=\"cannot start the source thread: %s\" action=\"exiting with status 1\"",
               strerror(prc));
        why = "the source thread did not start";
        r.status = -prc;
    }
    while (prc == 0 && !atomic_load(&r.done)) {
        struct timespec ts = {0, 200000000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            why = sig == SIGINT ? "SIGINT" : "SIGTERM";
            break;
        }
    }
    atomic_store(&stop, 1);
    if (prc == 0)
        pthread_join(th, NULL);
    /* Everything produced reaches the brokers before we go (or is reported lost). */
    rd_kafka_resp_err_t ferr = rd_kafka_flush(b.rk, 30000);
    kl_log(ferr ? KL_LOG_ERROR : KL_LOG_INFO, "bridge", "stopped",
           "reason=%s produced=%llu delivered=%llu delivery_errors=%llu failed=%llu "
           "queue_full_waits=%llu unflushed=%d",
           why, (unsigned long long)b.produced, (unsigned long long)atomic_load(&b.delivered),
           (unsigned long long)atomic_load(&b.delivery_errors), (unsigned long long)b.failed,
           (unsigned long long)b.queue_full, rd_kafka_outq_len(b.rk));
    src->ops->destroy(src);
    kl_router_fini(&rt);
    kl_symreg_destroy(reg);
    rd_kafka_destroy(b.rk);
    kl_free(b.resume.name);
    kl_free(b.resume.id);
    kl_config_free(&cfg);
    return r.status < 0 || ferr ? 1 : 0;
}
