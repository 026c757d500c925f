/* What every Kafka client of klined asks first: how many partitions a topic has (it decides
 * each symbol's partition, kl_shard_of). Shared by the source, the bridge and the kline sink. */
#ifndef KL_SOURCE_KAFKA_TOPIC_H
#define KL_SOURCE_KAFKA_TOPIC_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

/* Reads topic's metadata through rk (up to 15 s). Returns RD_KAFKA_RESP_ERR_NO_ERROR and
 * *n_parts >= 1, or the error (unknown topic included). */
rd_kafka_resp_err_t kl_kafka_partitions(rd_kafka_t *rk, const char *topic, uint32_t *n_parts);

#endif
