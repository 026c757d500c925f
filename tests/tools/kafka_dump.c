/* kafka_dump: prints every message of a topic, from the beginning of each partition to its end
 * (the high watermark when it starts), one line per message: "PARTITION KEY VALUE". For the
 * integration tests, which check what klined published (the kline sink) without a Kafka CLI.
 *
 * usage: kafka_dump BOOTSTRAP TOPIC [--timeout-ms N]   exit 0, or 1 when it could not read it all
 * in time (default 30 s). */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: kafka_dump BOOTSTRAP TOPIC [--timeout-ms N]\n");
        return 2;
    }
    long long timeout = argc >= 5 && strcmp(argv[3], "--timeout-ms") == 0 ? atoll(argv[4]) : 30000;
    char e[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], e, sizeof e) ||
        rd_kafka_conf_set(conf, "group.id", "kafka-dump", e, sizeof e) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof e)) {
        fprintf(stderr, "kafka_dump: %s\n", e);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk) {
        fprintf(stderr, "kafka_dump: %s\n", e);
        return 1;
    }
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, argv[2], NULL);
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 0, t, &md, 10000) || md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "kafka_dump: no metadata for %s\n", argv[2]);
        return 1;
    }
    int parts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    int64_t *end = calloc((size_t)parts, sizeof *end);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    int waiting = 0;
    for (int p = 0; p < parts; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, argv[2], p, &lo, &hi, 10000) || hi <= lo)
            continue;
        end[p] = hi;
        rd_kafka_topic_partition_list_add(l, argv[2], p)->offset = lo;
        waiting++;
    }
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    long long deadline = now_ms() + timeout;
    while (waiting > 0 && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (!m->err) {
            printf("%d %.*s %.*s\n", (int)m->partition, (int)m->key_len, (const char *)m->key,
                   (int)m->len, (const char *)m->payload);
            if (m->offset + 1 == end[m->partition])
                waiting--;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(end);
    if (waiting)
        fprintf(stderr, "kafka_dump: %d partition(s) not read to the end in time\n", waiting);
    return waiting ? 1 : 0;
}
