/* The optional Kafka kline sink (kline-sink = kafka://BROKERS/TOPIC): every kline that a
 * checkpoint commits as final is published in Binance's kline stream payload, keyed by symbol;
 * with kline-sink-live, the live (open) klines of each checkpoint too, so consumers see them at
 * the persist cadence. Publishing happens after the store commit, on the persister thread, so
 * the topic never carries a kline the store could lose; a restart may publish a kline twice
 * (at least once: consumers keep the latest per (symbol, interval, open time)). */
#ifndef KL_SINK_KSINK_H
#define KL_SINK_KSINK_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct kl_ksink kl_ksink_t;

/* Connects a producer and checks the topic exists. Returns 0 and *out, or an error with err. */
int kl_ksink_open(const char *brokers, const char *topic, int live, kl_ksink_t **out, char *err,
                  size_t cap);
/* A committed batch (kl_persister_on_commit). Persister thread. */
void kl_ksink_publish(void *sink, const kl_store_row_t *rows, size_t n);
/* Flushes (up to 10 s) and frees. */
void kl_ksink_close(kl_ksink_t *s);

typedef struct kl_ksink_stats {
    uint64_t produced, delivered, errors;
} kl_ksink_stats_t;
/* Any thread; serves pending delivery reports first. */
void kl_ksink_stats(kl_ksink_t *s, kl_ksink_stats_t *out);

#endif
