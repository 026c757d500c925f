/* Topic metadata for klined's Kafka clients; see kafka_topic.h. */
#include "source/kafka_topic.h"

rd_kafka_resp_err_t
kl_kafka_partitions(rd_kafka_t *rk, const char *topic, uint32_t *n_parts)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    if (!t)
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, t, &md, 15000);
    if (!err) {
        if (md->topic_cnt != 1)
            err = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        else if (md->topics[0].err)
            err = md->topics[0].err;
        else if (md->topics[0].partition_cnt <= 0)
            err = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        else
            *n_parts = (uint32_t)md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return err;
}
