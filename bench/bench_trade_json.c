/* Measures kl_trade_json_parse() alone, on one core, against the SPEC's live-feed target of
 * 2 M exchange messages/s per I/O thread: ~1M realistic messages (futures and spot aggTrades,
 * spot trades, bare and in the combined-stream envelope, 200 symbols) are built in memory
 * first, so that I/O and allocation stay out of the figure. A second figure shows the cost of
 * recognising and dropping the depth updates that share a combined stream.
 *
 * usage: bench_trade_json [N_MSGS]   (default 1,000,000) */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kl/err.h"
#include "source/trade_json.h"

#define RUNS 3
#define N_SYM 200

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct corpus {
    char *buf;
    size_t *off; /* message i is buf[off[i] .. off[i+1]) */
    size_t n, bytes;
} corpus_t;

/* One message of the kinds a live feed carries, in the shapes the captures show. */
static int
make_msg(char *out, size_t cap, size_t i, int depth_only)
{
    static char syms[N_SYM][16], lower[N_SYM][16];
    static int init;
    if (!init) {
        static const char *quotes[] = {"USDT", "BTC", "BUSD", "ETH"};
        for (int s = 0; s < N_SYM; s++) {
            int len = 2 + s % 4;
            for (int k = 0; k < len; k++)
                syms[s][k] = (char)('A' + (s * 7 + k * 13) % 26);
            strcpy(syms[s] + len, quotes[s % 4]);
            for (size_t k = 0; syms[s][k]; k++)
                lower[s][k] = (char)(syms[s][k] + ('a' - 'A') * (syms[s][k] >= 'A'));
        }
        init = 1;
    }
    int s = (int)(rnd() % N_SYM);
    int64_t ts = 1626992741000LL + (int64_t)i * 3;
    int64_t id = 100000000LL + (int64_t)i;
    unsigned px = (unsigned)(rnd() % 9000000) + 1000;
    unsigned qty = (unsigned)(rnd() % 100000) + 1;
    int maker = (int)(rnd() & 1);
    const char *mk = maker ? "true" : "false";
    if (depth_only)
        return snprintf(out, cap,
                        "{\"stream\":\"%s@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"E\":"
                        "%" PRId64 ",\"T\":%" PRId64 ",\"s\":\"%s\",\"U\":600859599090,\"u\":"
                        "600859600917,\"pu\":600859598061,\"b\":[[\"7.5040\",\"813\"],"
                        "[\"7.6090\",\"0\"],[\"7.6110\",\"2\"]],\"a\":[[\"7.6150\",\"1563\"],"
                        "[\"7.6220\",\"3284\"]]}}",
                        lower[s], ts + 50, ts, syms[s]);
    switch (i % 4) {
    case 0: /* futures aggTrade in the envelope, as BINANCE_FUTURES.ws.1.0 */
        return snprintf(out, cap,
                        "{\"stream\":\"%s@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"E\":%" PRId64
                        ",\"a\":%" PRId64 ",\"s\":\"%s\",\"p\":\"%u.%04u\",\"q\":\"%u\",\"f\":"
                        "%" PRId64 ",\"l\":%" PRId64 ",\"T\":%" PRId64 ",\"m\":%s}}",
                        lower[s], ts + 150, id, syms[s], px / 10000, px % 10000, qty, id * 2,
                        id * 2 + (int64_t)(rnd() % 4), ts, mk);
    case 1: /* spot aggTrade in the envelope, as BINANCE_US.ws.1.0 */
        return snprintf(out, cap,
                        "{\"stream\":\"%s@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"E\":%" PRId64
                        ",\"s\":\"%s\",\"a\":%" PRId64 ",\"p\":\"%u.%08u\",\"q\":\"%u.%08u\","
                        "\"f\":%" PRId64 ",\"l\":%" PRId64 ",\"T\":%" PRId64 ",\"m\":%s,\"M\":"
                        "true}}",
                        lower[s], ts + 1, syms[s], id, px / 1000, px % 1000 * 1000, qty / 100,
                        qty % 100 * 100000, id * 2, id * 2, ts, mk);
    case 2: /* bare spot trade event, as a `lines`/Kafka source receives it */
        return snprintf(out, cap,
                        "{\"e\":\"trade\",\"E\":%" PRId64 ",\"s\":\"%s\",\"t\":%" PRId64
                        ",\"p\":\"%u.%08u\",\"q\":\"%u.%08u\",\"T\":%" PRId64 ",\"m\":%s,\"M\":"
                        "true}",
                        ts + 1, syms[s], id, px / 100000, px % 100000 * 100, qty / 1000,
                        qty % 1000 * 100000, ts, mk);
    default: /* bare futures aggTrade */
        return snprintf(out, cap,
                        "{\"e\":\"aggTrade\",\"E\":%" PRId64 ",\"a\":%" PRId64 ",\"s\":\"%s\","
                        "\"p\":\"%u.%02u\",\"q\":\"%u.%03u\",\"f\":%" PRId64 ",\"l\":%" PRId64
                        ",\"T\":%" PRId64 ",\"m\":%s}",
                        ts + 90, id, syms[s], px / 100, px % 100, qty / 1000, qty % 1000, id * 3,
                        id * 3 + 7, ts, mk);
    }
}

static int
build(corpus_t *c, size_t n, int depth_only)
{
    c->n = n;
    c->buf = malloc(n * 400);
    c->off = malloc((n + 1) * sizeof *c->off);
    if (c->buf == NULL || c->off == NULL)
        return -1;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        c->off[i] = pos;
        int len = make_msg(c->buf + pos, 400, i, depth_only);
        if (len <= 0 || len >= 400)
            return -1;
        pos += (size_t)len;
    }
    c->off[n] = pos;
    c->bytes = pos;
    return 0;
}

/* Parses every message RUNS times; returns the best rate in msgs/s. *expect_rc is what every
 * message must return; any other result aborts the bench, since a figure for a parser that
 * fails is meaningless. */
static double
run(const corpus_t *c, int expect_rc, const char *name)
{
    double best = 0;
    for (int r = 0; r < RUNS; r++) {
        uint64_t sum = 0;
        double t0 = now_s();
        for (size_t i = 0; i < c->n; i++) {
            kl_trade_msg_t m;
            int rc = kl_trade_json_parse(c->buf + c->off[i], c->off[i + 1] - c->off[i], &m);
            if (rc != expect_rc) {
                fprintf(stderr, "bench_trade_json: message %zu: %s\n%.*s\n", i, kl_strerror(rc),
                        (int)(c->off[i + 1] - c->off[i]), c->buf + c->off[i]);
                exit(1);
            }
            if (rc == 0)
                sum += (uint64_t)m.t.price ^ (uint64_t)m.t.last_id ^ (uint64_t)m.symbol[1];
        }
        double dt = now_s() - t0;
        double rate = (double)c->n / dt;
        if (rate > best)
            best = rate;
        printf("%s: run %d  %7.2f M msgs/s  %7.1f MB/s  (checksum %016" PRIx64 ")\n", name, r + 1,
               rate / 1e6, (double)c->bytes / dt / 1e6, sum);
    }
    printf("%s: best   %7.2f M msgs/s per core, %zu msgs of %.0f bytes on average\n", name,
           best / 1e6, c->n, (double)c->bytes / (double)c->n);
    return best;
}

int
main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000;
    if (n == 0)
        n = 1;
    corpus_t trades, depth;
    if (build(&trades, n, 0) != 0 || build(&depth, n / 4 + 1, 1) != 0) {
        fprintf(stderr, "bench_trade_json: out of memory\n");
        return 1;
    }
    double r = run(&trades, 0, "trade/aggTrade");
    run(&depth, KL_EJSON_EVENT, "depthUpdate (skipped)");
    printf("SPEC target 2.00 M msgs/s per I/O thread: %s (%.1fx)\n", r >= 2e6 ? "met" : "NOT met",
           r / 2e6);
    free(trades.buf);
    free(trades.off);
    free(depth.buf);
    free(depth.off);
    return 0;
}
