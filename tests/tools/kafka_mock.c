/* kafka_mock: a librdkafka mock cluster fed with a deterministic aggTrade tape, for the Kafka
 * source's integration tests (tests/integ/kafka.sh). Each message is keyed by its symbol, carries
 * one Binance aggTrade event JSON line and goes to partition kl_shard_of(symbol) -- the contract a
 * real bridge must honour -- and every trade is also written as a data.binance.vision spot
 * aggTrades CSV so that `klined replay` of those files gives the reference klines. It keeps the
 * cluster (and so the consumer groups) alive after producing, until --hold-seconds or a signal.
 * `kafka_mock --consume BOOTSTRAP TOPIC` reads a topic back through a consumer group and checks
 * the key/partition/value contract: it is how the tool itself is tested.
 *
 * --pause-at K1,K2,... stops the tape after K1 (then K2...) messages are delivered, until SIGUSR1:
 * the scripts use it to make a consumer join or die at a known point of the stream.
 *
 * --live LO,HI makes a live feed for watermark finality (tests/integ/kafka_wmark.sh): the tape
 * spans about --span-ms (default 30000) from the wall clock at its start, and each trade is sent
 * LO to HI ms after its time T (later when the one before it went later: the tape stays in T
 * order, so every partition is). --rate is ignored; a pause shifts the rest of the tape by its
 * length; no hole of minutes. --quiet K gives the last symbol only K trades: it falls silent.
 *
 * stdout carries exactly the lines the scripts parse, each flushed at once:
 *   kafka_mock: bootstrap=HOST:PORT[,HOST:PORT...]
 *   kafka_mock: paused=K                   (once per --pause-at point)
 *   kafka_mock: produced=COUNT
 *   kafka_mock: partition=P end=N          (one per partition: its end offset)
 * Everything else (per-partition figures, errors) goes to stderr. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/shard.h"

#define KM_NAME_MAX 24
#define KM_T0_MS INT64_C(1704067200000) /* 2024-01-01T00:00:00Z */
#define KM_SPAN_MS INT64_C(14400000)    /* the tape of each symbol spans about 4 hours */

static volatile sig_atomic_t g_stop, g_resume, g_stop_sig, g_stop_pid;

/* --live, --span-ms, --quiet */
static struct {
    int on;
    long lat_lo, lat_hi, span_ms, quiet;
} g_live = {0, 0, 0, 30000, 0};

/* The sender is kept: a stray pkill from another test run must be told from our own stop. */
static void
on_signal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (sig == SIGUSR1) {
        g_resume = 1;
    } else {
        g_stop_sig = sig;
        g_stop_pid = si ? (sig_atomic_t)si->si_pid : 0;
        g_stop = 1;
    }
}

static void
die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kafka_mock: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* xorshift64*: the tape must be the same for a seed on every machine, so no rand(). */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static int64_t
rnd_below(uint64_t *s, int64_t n)
{
    return n <= 0 ? 0 : (int64_t)(rnd(s) % (uint64_t)n);
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_until_wall(int64_t at_ms)
{
    int64_t d = at_ms - wall_ms();
    if (d > 0) {
        struct timespec ts = {(time_t)(d / 1000), (long)(d % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static long
arg_long(const char *opt, const char *v, long lo, long hi)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi)
        die("%s %s: expected an integer in [%ld, %ld]", opt, v, lo, hi);
    return x;
}

/* One symbol's generator state: the next trade is made on demand, so the merge of all symbols
 * in time order needs no buffer. */
struct sym {
    char name[KM_NAME_MAX];
    uint32_t part;
    uint64_t rng;
    long left;       /* trades still to make */
    int64_t t_ms;    /* time of the next trade */
    int64_t agg_id;  /* id of the next trade */
    int64_t first;   /* first raw trade id of the next trade */
    int64_t price;   /* 10^-8 units */
    int64_t gap_ms;  /* mean of the ordinary gaps */
    FILE *csv;
};

/* Names spread evenly over the partitions: real-looking pairs taken in a fixed order, each kept
 * only while its partition has fewer than ceil(n/p) symbols, so every partition gets work and no
 * instance of a group is idle by accident of the hash. */
static void
pick_names(struct sym *sy, long n, uint32_t parts)
{
    static const char *const base[] = {
        "BTC", "ETH", "BNB", "SOL", "XRP", "ADA", "DOGE", "TRX", "DOT", "LINK", "LTC", "AVAX",
        "ATOM", "UNI", "ETC", "XLM", "FIL", "NEAR", "APT", "ARB", "OP", "SUI", "AAVE", "INJ"};
    static const char *const quote[] = {"USDT", "BTC", "FDUSD", "ETH"};
    long quota = (n + (long)parts - 1) / (long)parts;
    long *cnt = calloc(parts, sizeof *cnt);
    if (cnt == NULL)
        die("out of memory");
    long k = 0;
    size_t nb = sizeof base / sizeof base[0], nq = sizeof quote / sizeof quote[0];
    for (size_t c = 0; k < n; c++) {
        char name[KM_NAME_MAX];
        if (c < nb * nq)
            snprintf(name, sizeof name, "%s%s", base[c % nb], quote[c / nb]);
        else
            snprintf(name, sizeof name, "S%zuUSDT", c - nb * nq);
        uint32_t p = kl_shard_of(name, strlen(name), parts);
        if (cnt[p] >= quota)
            continue;
        cnt[p]++;
        memcpy(sy[k].name, name, sizeof name);
        sy[k].part = p;
        k++;
    }
    free(cnt);
}

/* Gap to the next trade: bursts (same ms), ordinary gaps around gap_ms, some longer pauses and a
 * rare hole of 3-10 minutes, so that the 1m series has hole klines. */
static int64_t
next_gap(struct sym *y)
{
    int64_t r = rnd_below(&y->rng, 1000);
    if (r < 300)
        return 0;
    if (r < 900)
        return rnd_below(&y->rng, 2 * y->gap_ms);
    if (r < 998 || g_live.on) /* live: minutes of silence would stall the test */
        return rnd_below(&y->rng, 10 * y->gap_ms);
    return 180000 + rnd_below(&y->rng, 420000);
}

struct trade {
    int64_t a, f, l, t_ms, p, q;
    int m;
};

static void
make_trade(struct sym *y, struct trade *tr)
{
    /* A walk of at most 0.05% per trade, kept above 1/100 of a unit of price. */
    int64_t step = y->price / 2000;
    if (step < 1)
        step = 1;
    y->price += rnd_below(&y->rng, 2 * step + 1) - step;
    if (y->price < 1000000)
        y->price = 1000000;
    int64_t n = 1 + rnd_below(&y->rng, 3);
    tr->a = y->agg_id;
    tr->f = y->first;
    tr->l = y->first + n - 1;
    tr->t_ms = y->t_ms;
    tr->p = y->price;
    /* qty from 1e-8 up to about 50, never 0 (Binance has no empty trade) */
    int64_t r = rnd_below(&y->rng, 10);
    tr->q = 1 + (r < 5 ? rnd_below(&y->rng, 100000000) : r < 9 ? rnd_below(&y->rng, 500000000)
                                                               : rnd_below(&y->rng, 5000000000));
    tr->m = (int)rnd_below(&y->rng, 2);
    y->agg_id++;
    y->first += n;
    y->left--;
    y->t_ms += next_gap(y);
}

static void
fmt_dec(char *out, size_t cap, int64_t v)
{
    snprintf(out, cap, "%" PRId64 ".%08" PRId64, v / 100000000, v % 100000000);
}

struct counts {
    long ok, failed;
};

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct counts *c = opaque;
    if (m->err) {
        c->failed++;
        fprintf(stderr, "kafka_mock: delivery failed: %s\n", rd_kafka_err2str(m->err));
    } else {
        c->ok++;
    }
}

static void
conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
        die("config %s=%s: %s", k, v, err);
}

static int
run_produce(const char *topic, long parts, long nsym, long per_sym, long rate, uint64_t seed,
            long hold_s, long brokers, const char *out_dir, const long *pause_at, int n_pause)
{
    int next_pause = 0;
    struct counts cnt = {0, 0};
    char err[512], nb[16];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(nb, sizeof nb, "%ld", brokers);
    conf_set(conf, "test.mock.num.brokers", nb);
    /* Idempotence keeps each partition in send order even if a batch is retried. */
    conf_set(conf, "enable.idempotence", "true");
    conf_set(conf, "linger.ms", "5");
    /* The mock keeps at most 5 MB per partition and drops the oldest beyond: compress. */
    conf_set(conf, "compression.codec", "lz4");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &cnt);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk == NULL)
        die("producer: %s", err);
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(rk);
    if (mc == NULL)
        die("no mock cluster (librdkafka without test.mock support?)");
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topic, (int)parts, 1);
    if (e)
        die("topic %s: %s", topic, rd_kafka_err2str(e));

    struct sym *sy = calloc((size_t)nsym, sizeof *sy);
    long *per_part = calloc((size_t)parts, sizeof *per_part);
    if (sy == NULL || per_part == NULL)
        die("out of memory");
    pick_names(sy, nsym, (uint32_t)parts);
    int64_t gap = KM_SPAN_MS / per_sym - 840; /* the long pauses and holes add about 840 ms */
    if (gap < 200)
        gap = 200;
    if (g_live.on) /* bursts, ordinary gaps and pauses average 1.1 gaps */
        gap = g_live.span_ms * 10 / 11 / per_sym > 1 ? g_live.span_ms * 10 / 11 / per_sym : 1;
    uint64_t lat_rng = seed * UINT64_C(0x94D049BB133111EB) + 3;
    int64_t shift_ms = 0; /* live: wall time of the tape's start, plus the pauses so far */
    for (long i = 0; i < nsym; i++) {
        struct sym *y = &sy[i];
        y->rng = seed * UINT64_C(0x9E3779B97F4A7C15) + (uint64_t)i * UINT64_C(0xBF58476D1CE4E5B9) + 1;
        for (int w = 0; w < 8; w++)
            rnd(&y->rng);
        y->left = g_live.on && g_live.quiet > 0 && i == nsym - 1 ? g_live.quiet : per_sym;
        y->t_ms = KM_T0_MS + rnd_below(&y->rng, g_live.on ? 1000 : 60000);
        y->agg_id = 1;
        y->first = 1;
        y->price = (10 + rnd_below(&y->rng, 60000)) * 1000000; /* 0.1 .. 600 */
        y->gap_ms = gap;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s-aggTrades-2024-01-01.csv", out_dir, y->name);
        y->csv = fopen(path, "w");
        if (y->csv == NULL)
            die("%s: %s", path, strerror(errno));
        fprintf(stderr, "kafka_mock: symbol %s partition %" PRIu32 "\n", y->name, y->part);
    }

    printf("kafka_mock: bootstrap=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    long total = 0, sent = 0;
    for (long i = 0; i < nsym; i++)
        total += sy[i].left;
    double t_start = now_s();
    if (g_live.on)
        shift_ms = wall_ms() - KM_T0_MS;
    while (sent < total && !g_stop) {
        /* the earliest next trade over all symbols; ties go to the lower index */
        struct sym *y = NULL;
        for (long i = 0; i < nsym; i++)
            if (sy[i].left > 0 && (y == NULL || sy[i].t_ms < y->t_ms))
                y = &sy[i];
        struct trade tr;
        make_trade(y, &tr);
        if (g_live.on) {
            tr.t_ms += shift_ms;
            sleep_until_wall(tr.t_ms + g_live.lat_lo +
                             rnd_below(&lat_rng, g_live.lat_hi - g_live.lat_lo + 1));
        }
        char p[32], q[32], val[512];
        fmt_dec(p, sizeof p, tr.p);
        fmt_dec(q, sizeof q, tr.q);
        fprintf(y->csv, "%" PRId64 ",%s,%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,True\n", tr.a, p,
                q, tr.f, tr.l, tr.t_ms, tr.m ? "True" : "False");
        if (g_live.on) /* the test reads a silent symbol's last trade while the tape goes on */
            fflush(y->csv);
        int len = snprintf(val, sizeof val,
                           "{\"e\":\"aggTrade\",\"E\":%" PRId64 ",\"s\":\"%s\",\"a\":%" PRId64
                           ",\"p\":\"%s\",\"q\":\"%s\",\"f\":%" PRId64 ",\"l\":%" PRId64
                           ",\"T\":%" PRId64 ",\"m\":%s,\"M\":true}",
                           tr.t_ms, y->name, tr.a, p, q, tr.f, tr.l, tr.t_ms,
                           tr.m ? "true" : "false");
        for (;;) {
            e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION((int32_t)y->part),
                                  RD_KAFKA_V_KEY(y->name, strlen(y->name)),
                                  RD_KAFKA_V_VALUE(val, (size_t)len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(rk, 10);
        }
        if (e)
            die("produce %s: %s", y->name, rd_kafka_err2str(e));
        sent++;
        per_part[y->part]++;
        rd_kafka_poll(rk, 0);
        if (next_pause < n_pause && sent == pause_at[next_pause]) {
            while (rd_kafka_outq_len(rk) > 0 && !g_stop)
                rd_kafka_flush(rk, 100);
            int64_t paused_ms = wall_ms();
            printf("kafka_mock: paused=%ld\n", sent);
            fflush(stdout);
            while (!g_resume && !g_stop) {
                struct timespec ts = {0, 20000000};
                nanosleep(&ts, NULL);
                rd_kafka_poll(rk, 0);
            }
            g_resume = 0;
            next_pause++;
            if (g_live.on) /* the rest of the tape goes on from now */
                shift_ms += wall_ms() - paused_ms;
            t_start = now_s() - (double)sent / (double)(rate > 0 ? rate : 1);
        }
        if (rate > 0 && !g_live.on) {
            double ahead = t_start + (double)sent / (double)rate - now_s();
            if (ahead > 0.001) {
                struct timespec ts = {(time_t)ahead, (long)((ahead - (double)(time_t)ahead) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
    }
    if (g_stop)
        fprintf(stderr, "kafka_mock: stopped by signal %d from pid %d after %ld messages\n",
                (int)g_stop_sig, (int)g_stop_pid, sent);
    for (long i = 0; i < nsym; i++)
        if (fclose(sy[i].csv) != 0)
            die("%s: write failed", sy[i].name);
    while (rd_kafka_outq_len(rk) > 0 && !g_stop)
        rd_kafka_flush(rk, 100);
    for (long i = 0; i < parts; i++)
        fprintf(stderr, "kafka_mock: partition %ld: %ld messages\n", i, per_part[i]);
    if (cnt.failed > 0 || cnt.ok != sent)
        fprintf(stderr, "kafka_mock: %ld delivered, %ld failed of %ld\n", cnt.ok, cnt.failed, sent);
    printf("kafka_mock: produced=%ld\n", cnt.ok);
    for (long i = 0; i < parts; i++)
        printf("kafka_mock: partition=%ld end=%ld\n", i, per_part[i]);
    fflush(stdout);

    double until = now_s() + (double)hold_s;
    while (!g_stop && now_s() < until) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_destroy(rk);
    free(sy);
    free(per_part);
    return cnt.failed > 0 || cnt.ok != sent ? 1 : 0;
}

/* Reads the topic from the start through group `group` until it has been idle for idle_s seconds
 * after the first message (or 60 s without any), checking that each key is a symbol whose shard
 * is the message's partition and whose "s" field is the key, and that the per-symbol ids run
 * 1, 2, 3... in partition order. */
static int
run_consume(const char *bootstrap, const char *topic, const char *group, long expect)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", bootstrap);
    conf_set(conf, "group.id", group);
    conf_set(conf, "auto.offset.reset", "earliest");
    conf_set(conf, "enable.auto.commit", "false");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL)
        die("consumer: %s", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (e)
        die("subscribe: %s", rd_kafka_err2str(e));

    enum { MAXSYM = 4096 };
    static char names[MAXSYM][KM_NAME_MAX];
    static int64_t last_id[MAXSYM];
    long nsym = 0, n = 0, bad = 0, parts = 0;
    double last = now_s(), start = last;
    while (!g_stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL) {
            if ((n > 0 && now_s() - last > 3.0) || (n == 0 && now_s() - start > 60.0))
                break;
            if (expect > 0 && n >= expect)
                break;
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "kafka_mock: consume: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        last = now_s();
        n++;
        if (parts == 0) {
            const struct rd_kafka_metadata *md;
            rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
            if (rd_kafka_metadata(rk, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (md->topic_cnt == 1)
                    parts = md->topics[0].partition_cnt;
                rd_kafka_metadata_destroy(md);
            }
            rd_kafka_topic_destroy(t);
            if (parts <= 0)
                die("no metadata for %s", topic);
        }
        char key[KM_NAME_MAX] = "", want[64];
        if (m->key_len > 0 && m->key_len < sizeof key)
            memcpy(key, m->key, m->key_len);
        snprintf(want, sizeof want, "\"s\":\"%s\"", key);
        const char *v = m->payload;
        int okv = v != NULL && memmem(v, m->len, want, strlen(want)) != NULL;
        int okp = key[0] != '\0' &&
                  (int32_t)kl_shard_of(key, strlen(key), (uint32_t)parts) == m->partition;
        long k = 0;
        while (k < nsym && strcmp(names[k], key) != 0)
            k++;
        if (k == nsym && nsym < MAXSYM)
            memcpy(names[nsym++], key, sizeof key);
        int64_t id = -1;
        const char *pa = v ? memmem(v, m->len, "\"a\":", 4) : NULL;
        if (pa != NULL)
            id = strtoll(pa + 4, NULL, 10);
        int oki = k < MAXSYM && id == last_id[k] + 1;
        if (k < MAXSYM)
            last_id[k] = id;
        if (!okv || !okp || !oki) {
            if (bad < 10)
                fprintf(stderr, "kafka_mock: bad message p%" PRId32 " @%" PRId64 " key=%s%s%s%s\n",
                        m->partition, m->offset, key, okv ? "" : " (value)",
                        okp ? "" : " (partition)", oki ? "" : " (id order)");
            bad++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    printf("kafka_mock: consumed=%ld symbols=%ld bad=%ld\n", n, nsym, bad);
    fflush(stdout);
    return bad > 0 || n == 0 || (expect > 0 && n != expect) ? 1 : 0;
}

static void
usage(void)
{
    fprintf(stderr,
            "usage: kafka_mock --topic T --partitions P --symbols N --trades-per-symbol M "
            "--out-dir DIR [--rate R] [--seed S] [--hold-seconds H] [--brokers B]\n"
            "       [--pause-at K1,K2...] [--live LO,HI [--span-ms S] [--quiet K]]\n"
            "       kafka_mock --consume BOOTSTRAP TOPIC [--group G] [--expect N]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    const char *topic = NULL, *out_dir = NULL, *cons_bs = NULL, *cons_topic = NULL;
    const char *group = "kafka_mock_check";
    long parts = 0, nsym = 0, per_sym = 0, rate = 0, hold = 600, brokers = 1, expect = 0;
    long pause_at[16];
    int n_pause = 0;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(a, "--topic") == 0)
            topic = v;
        else if (strcmp(a, "--partitions") == 0)
            parts = arg_long(a, v, 1, 1000);
        else if (strcmp(a, "--symbols") == 0)
            nsym = arg_long(a, v, 1, 100000);
        else if (strcmp(a, "--trades-per-symbol") == 0)
            per_sym = arg_long(a, v, 1, 100000000);
        else if (strcmp(a, "--out-dir") == 0)
            out_dir = v;
        else if (strcmp(a, "--rate") == 0)
            rate = arg_long(a, v, 0, 100000000);
        else if (strcmp(a, "--seed") == 0)
            seed = (uint64_t)arg_long(a, v, 0, 0x7fffffffL);
        else if (strcmp(a, "--hold-seconds") == 0)
            hold = arg_long(a, v, 0, 86400 * 7);
        else if (strcmp(a, "--brokers") == 0)
            brokers = arg_long(a, v, 1, 9);
        else if (strcmp(a, "--pause-at") == 0) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *sp, *tok = strtok_r(buf, ",", &sp); tok; tok = strtok_r(NULL, ",", &sp)) {
                if (n_pause == 16)
                    die("--pause-at: at most 16 points");
                pause_at[n_pause] = arg_long(a, tok, 1, 2000000000);
                if (n_pause > 0 && pause_at[n_pause] <= pause_at[n_pause - 1])
                    die("--pause-at: points must increase");
                n_pause++;
            }
        } else if (strcmp(a, "--live") == 0) {
            char buf[64], *c;
            snprintf(buf, sizeof buf, "%s", v);
            if ((c = strchr(buf, ',')) == NULL)
                die("--live LO,HI: two latencies in ms");
            *c = '\0';
            g_live.on = 1;
            g_live.lat_lo = arg_long(a, buf, 0, 60000);
            g_live.lat_hi = arg_long(a, c + 1, g_live.lat_lo, 60000);
        } else if (strcmp(a, "--span-ms") == 0)
            g_live.span_ms = arg_long(a, v, 1000, 86400000);
        else if (strcmp(a, "--quiet") == 0)
            g_live.quiet = arg_long(a, v, 1, 100000000);
        else if (strcmp(a, "--group") == 0)
            group = v;
        else if (strcmp(a, "--expect") == 0)
            expect = arg_long(a, v, 0, 1000000000);
        else if (strcmp(a, "--consume") == 0) {
            if (i + 1 >= argc)
                usage();
            cons_bs = v;
            cons_topic = argv[++i];
        } else
            usage();
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    if (cons_bs != NULL)
        return run_consume(cons_bs, cons_topic, group, expect);
    if (topic == NULL || out_dir == NULL || parts < 1 || nsym < 1 || per_sym < 1)
        usage();
    return run_produce(topic, parts, nsym, per_sym, rate, seed, hold, brokers, out_dir, pause_at, n_pause);
}
