/* Kafka kline sink; see ksink.h. */
#include "sink/ksink.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "api/kjson.h"
#include "core/alloc.h"
#include "core/log.h"
#include "kl/err.h"
#include "source/kafka_topic.h"

struct kl_ksink {
    rd_kafka_t *rk;
    char topic[256];
    int live;
    _Atomic uint64_t produced, delivered, errors, dropped;
    kl_ratelimit_t rl, rl_drop;
};

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kl_ksink_t *s = opaque;
    /* A purged message (close) never went out: a drop, not a broker error. */
    int purged = m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                 m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
    atomic_fetch_add_explicit(purged ? &s->dropped : m->err ? &s->errors : &s->delivered, 1,
                              memory_order_relaxed);
    uint64_t supp;
    if (m->err && !purged && kl_ratelimit_ok(&s->rl, 5000, &supp))
        kl_log(KL_LOG_ERROR, "ksink", "delivery_failed",
               "topic=%s error=\"%s\" action=\"kline not published (it is in the store)\" "
               "suppressed=%llu",
               s->topic, rd_kafka_err2str(m->err), (unsigned long long)supp);
}

int
kl_ksink_open(const char *brokers, const char *topic, int live, uint64_t queue_bytes,
              kl_ksink_t **out, char *err, size_t cap)
{
    kl_ksink_t *s = kl_calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, cap, "kline-sink: out of memory");
        return KL_ENOMEM;
    }
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    s->live = live;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[512], kbytes[32];
    /* The queue is bounded in bytes (kline-sink-queue-bytes); the message count is not the
     * bound, so it is set far above what the bytes allow. */
    snprintf(kbytes, sizeof kbytes, "%llu", (unsigned long long)((queue_bytes + 1023) / 1024));
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, e, sizeof e) ||
        rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", kbytes, e, sizeof e) ||
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "10000000", e, sizeof e) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", e, sizeof e) ||
        rd_kafka_conf_set(conf, "linger.ms", "20", e, sizeof e)) {
        snprintf(err, cap, "kline-sink: %s", e);
        rd_kafka_conf_destroy(conf);
        kl_free(s);
        return KL_ECONFIG;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, s);
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!s->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, cap, "kline-sink: %s", e);
        kl_free(s);
        return KL_ECONFIG;
    }
    uint32_t parts;
    rd_kafka_resp_err_t merr = kl_kafka_partitions(s->rk, topic, &parts);
    if (merr) {
        snprintf(err, cap, "kline-sink: topic %s on %s: %s", topic, brokers,
                 rd_kafka_err2str(merr));
        rd_kafka_destroy(s->rk);
        kl_free(s);
        return KL_EIO;
    }
    *out = s;
    return 0;
}

void
kl_ksink_publish(void *sink, const kl_store_row_t *rows, size_t n)
{
    kl_ksink_t *s = sink;
    char buf[KL_KJSON_MAX];
    int64_t now = kl_now_ms();
    for (size_t i = 0; i < n; i++) {
        const kl_store_row_t *r = &rows[i];
        if (!r->is_final && !s->live)
            continue;
        size_t len = kl_kjson_ws_event(r->symbol, r->iv, &r->k, r->unit_per_ms, r->is_final,
                                       now, buf);
        /* Never waits: no RD_KAFKA_MSG_F_BLOCK, and a full queue is a drop, not a retry. */
        rd_kafka_resp_err_t err = rd_kafka_producev(
            s->rk, RD_KAFKA_V_TOPIC(s->topic), RD_KAFKA_V_KEY(r->symbol, strlen(r->symbol)),
            RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            atomic_fetch_add_explicit(&s->produced, 1, memory_order_relaxed);
            continue;
        }
        int full = err == RD_KAFKA_RESP_ERR__QUEUE_FULL;
        atomic_fetch_add_explicit(full ? &s->dropped : &s->errors, 1, memory_order_relaxed);
        uint64_t supp;
        if (kl_ratelimit_ok(&s->rl_drop, 5000, &supp))
            kl_log(full ? KL_LOG_WARN : KL_LOG_ERROR, "ksink", full ? "dropped" : "produce_failed",
                   "topic=%s symbol=%s error=\"%s\" queued=%d action=\"kline not published "
                   "(it is in the store); persistence goes on\" suppressed=%llu",
                   s->topic, r->symbol, rd_kafka_err2str(err), rd_kafka_outq_len(s->rk),
                   (unsigned long long)supp);
    }
    rd_kafka_poll(s->rk, 0);
}

void
kl_ksink_stats(kl_ksink_t *s, kl_ksink_stats_t *out)
{
    /* Serves the delivery reports waiting since the last commit (rd_kafka_poll is thread-safe;
     * the callback only counts and logs), so an idle sink's counters are current too. */
    rd_kafka_poll(s->rk, 0);
    out->produced = atomic_load_explicit(&s->produced, memory_order_relaxed);
    out->delivered = atomic_load_explicit(&s->delivered, memory_order_relaxed);
    out->errors = atomic_load_explicit(&s->errors, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&s->dropped, memory_order_relaxed);
}

void
kl_ksink_close(kl_ksink_t *s, int timeout_ms)
{
    if (!s)
        return;
    if (rd_kafka_flush(s->rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        int left = rd_kafka_outq_len(s->rk);
        /* A broker that is down must not hold the exit: what it did not take is dropped (the
         * klines are in the store), and the purge's reports count it. */
        rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                                  RD_KAFKA_PURGE_F_NON_BLOCKING);
        rd_kafka_poll(s->rk, 0);
        kl_log(KL_LOG_ERROR, "ksink", "unflushed",
               "topic=%s messages=%d timeout_ms=%d action=\"dropped; the klines are in the "
               "store\"", s->topic, left, timeout_ms);
    }
    rd_kafka_destroy(s->rk);
    kl_free(s);
}
