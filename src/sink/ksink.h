/* The optional Kafka kline sink (kline-sink = kafka://BROKERS/TOPIC): every kline that a
 * checkpoint commits as final is published in Binance's kline stream payload, keyed by symbol;
 * with kline-sink-live, the live (open) klines of each checkpoint too, so consumers see them at
 * the persist cadence. Publishing happens after the store commit, on the persister thread, so
 * the topic never carries a kline the store could lose; a restart may publish a kline twice
 * (at least once: consumers keep the latest per (symbol, interval, open time)).
 *
 * The sink never blocks the persister: a kline is handed to librdkafka's queue without waiting
 * (no RD_KAFKA_MSG_F_BLOCK, polls with timeout 0). That queue is bounded by queue_bytes
 * (kline-sink-queue-bytes); while the broker is down or slower than the commits, it fills, and
 * each kline that finds it full is dropped and counted (dropped; the newest are the ones lost,
 * the queued ones still go out when the broker is back). A dropped kline is in the store: the
 * topic is a best-effort feed, the store is the record. */
#ifndef KL_SINK_KSINK_H
#define KL_SINK_KSINK_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct kl_ksink kl_ksink_t;

/* Connects a producer and checks the topic exists. Returns 0 and *out, or an error with err. */
int kl_ksink_open(const char *brokers, const char *topic, int live, uint64_t queue_bytes,
                  kl_ksink_t **out, char *err, size_t cap);
/* A committed batch (kl_persister_on_commit). Persister thread. */
void kl_ksink_publish(void *sink, const kl_store_row_t *rows, size_t n);
/* Flushes (up to timeout_ms), purges what the broker did not take by then (counted as
 * dropped, and logged), and frees. */
void kl_ksink_close(kl_ksink_t *s, int timeout_ms);

typedef struct kl_ksink_stats {
    uint64_t produced, delivered, errors;
    uint64_t dropped; /* refused by the full queue, or purged at close: never sent */
} kl_ksink_stats_t;
/* Any thread; serves pending delivery reports first. */
void kl_ksink_stats(kl_ksink_t *s, kl_ksink_stats_t *out);

#endif
