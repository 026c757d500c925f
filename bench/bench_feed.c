/* Measures the live-feed path of an I/O thread, from exchange JSON already in memory, against
 * the SPEC's targets (issue 5): (a) messages/s through kl_trade_json_parse + kl_trade_validate +
 * a real kl_router_t into real worker rings, per I/O thread (target >= 2 M/s); (c) the latency
 * of one message from the start of parsing to its kline state updated (parse, validate, route
 * through a ring, pop, kl_series_apply), p50 and p99 from a log-bucket histogram. The workers
 * are created but never started: the bench thread drains their rings between batches with the
 * clock stopped, so the figure in (a) is the I/O thread's work alone and a full ring never
 * turns it into a measure of the workers. The end-to-end figure over loopback (b) needs the
 * real binary and the fake exchange, so it lives in scripts/bench.sh.
 *
 * usage: bench_feed [N_MSGS [N_LAT]]   (defaults 1,000,000 and 100,000) */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/kline.h"
#include "kl/err.h"
#include "runtime/ring.h"
#include "runtime/router.h"
#include "runtime/symreg.h"
#include "runtime/worker.h"
#include "source/trade_json.h"

#define RUNS 3
#define N_SYM 200
#define N_WORKERS 2
#define BATCH 1024       /* messages routed between flushes, as one lws service pass */
#define RING_CAP 65536   /* serve's default queue capacity */
#define MAX_SYM_ID 1024  /* symreg ids are dense from 0 */
#define LAT_BUCKETS 256  /* 8 per power of two, from 1 ns */

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

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

typedef struct corpus {
    char *buf;
    size_t *off; /* message i is buf[off[i] .. off[i+1]) */
    size_t n;
} corpus_t;

static char syms[N_SYM][16], lower[N_SYM][16];

static void
make_symbols(void)
{
    static const char *quotes[] = {"USDT", "BTC", "FDUSD", "ETH"};
    for (int s = 0; s < N_SYM; s++) {
        int len = 2 + s % 4;
        for (int k = 0; k < len; k++)
            syms[s][k] = (char)('A' + (s * 7 + k * 13 + s / 26) % 26);
        snprintf(syms[s] + len, sizeof syms[s] - (size_t)len, "%s", quotes[s % 4]);
        for (size_t k = 0; syms[s][k]; k++)
            lower[s][k] = (char)(syms[s][k] + ('a' - 'A') * (syms[s][k] >= 'A'));
    }
}

/* Combined-stream aggTrade frames as Binance spot sends them (the shape fake_exchange plays):
 * time and ids increase, so every trade is new to its series and applies in order. */
static int
build(corpus_t *c, size_t n)
{
    c->n = n;
    c->buf = malloc(n * 320);
    c->off = malloc((n + 1) * sizeof *c->off);
    if (c->buf == NULL || c->off == NULL)
        return -1;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        int s = (int)(rnd() % N_SYM);
        int64_t ts = 1704067200000LL + (int64_t)i / 4;
        int64_t id = 3000000000LL + (int64_t)i;
        unsigned px = (unsigned)(rnd() % 900000000) + 1000;
        unsigned qty = (unsigned)(rnd() % 10000000) + 1;
        c->off[i] = pos;
        int len = snprintf(c->buf + pos, 320,
                           "{\"stream\":\"%s@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"E\":%" PRId64
                           ",\"s\":\"%s\",\"a\":%" PRId64 ",\"p\":\"%u.%08u\",\"q\":\"%u.%08u\","
                           "\"f\":%" PRId64 ",\"l\":%" PRId64 ",\"T\":%" PRId64 ",\"m\":%s,\"M\":"
                           "true}}",
                           lower[s], ts + 1, syms[s], id, px / 10000, px % 10000 * 10000,
                           qty / 1000, qty % 1000 * 100000, id * 2, id * 2 + (int64_t)(rnd() % 3),
                           ts, (rnd() & 1) ? "true" : "false");
        if (len <= 0 || len >= 320)
            return -1;
        pos += (size_t)len;
    }
    c->off[n] = pos;
    return 0;
}

typedef struct rig {
    kl_sched_t sch;
    kl_symreg_t *reg;
    kl_worker_t *w[N_WORKERS];
    kl_router_t rt;
    _Atomic int stop;
} rig_t;

static int
rig_init(rig_t *g, int n_workers)
{
    kl_sched_cfg_t cfg;
    kl_sched_cfg_default(&cfg);
    if (kl_sched_init(&g->sch, &cfg) != 0)
        return -1;
    g->reg = kl_symreg_create(n_workers);
    if (!g->reg)
        return -1;
    for (int i = 0; i < n_workers; i++) {
        kl_worker_cfg_t wc = {.index = i, .cpu = -1, .sched_ms = &g->sch, .sched_us = &g->sch,
                              .n_inputs = 1, .ring_capacity = RING_CAP, .reg = g->reg};
        if (kl_worker_create(&wc, &g->w[i]) != 0)
            return -1;
    }
    atomic_store(&g->stop, 0);
    /* auto_add as serve without --symbols: the first sight of each symbol registers it. */
    return kl_router_init(&g->rt, g->w, n_workers, 0, g->reg, 1, &g->stop) == 0 ? 0 : -1;
}

static void
rig_fini(rig_t *g, int n_workers)
{
    kl_router_fini(&g->rt);
    for (int i = 0; i < n_workers; i++)
        kl_worker_destroy(g->w[i]);
    kl_symreg_destroy(g->reg);
}

static void
fail(const corpus_t *c, size_t i, const char *what, int rc)
{
    fprintf(stderr, "bench_feed: message %zu: %s: %s\n%.*s\n", i, what, kl_strerror(rc),
            (int)(c->off[i + 1] - c->off[i]), c->buf + c->off[i]);
    exit(1);
}

/* One I/O thread's work per message: parse, validate, route. */
static inline void
feed_one(const corpus_t *c, size_t i, kl_router_t *rt)
{
    kl_trade_msg_t m;
    int rc = kl_trade_json_parse(c->buf + c->off[i], c->off[i + 1] - c->off[i], &m);
    if (rc != 0)
        fail(c, i, "parse", rc);
    rc = kl_trade_validate(&m.t, 1);
    if (rc != 0)
        fail(c, i, "validate", rc);
    rc = kl_router_trade(rt, m.symbol, strlen(m.symbol), 1, &m.t);
    if (rc != 0)
        fail(c, i, "route", rc);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* (a): the corpus RUNS times through one router; the clock runs only while routing. */
static void
bench_throughput(const corpus_t *c)
{
    rig_t g;
    if (rig_init(&g, N_WORKERS) != 0) {
        fprintf(stderr, "bench_feed: rig setup failed\n");
        exit(1);
    }
    static kl_msg_t drain[4096];
    double rate[RUNS];
    uint64_t popped = 0;
    for (int r = 0; r < RUNS; r++) {
        uint64_t busy = 0;
        for (size_t i = 0; i < c->n;) {
            size_t end = i + BATCH < c->n ? i + BATCH : c->n;
            uint64_t t0 = now_ns();
            for (; i < end; i++)
                feed_one(c, i, &g.rt);
            kl_router_flush(&g.rt);
            busy += now_ns() - t0;
            for (int w = 0; w < N_WORKERS; w++) {
                size_t k;
                while ((k = kl_ring_pop(kl_worker_ring(g.w[w], 0), drain, 4096)) > 0)
                    popped += k;
            }
        }
        rate[r] = (double)c->n / ((double)busy * 1e-9);
    }
    qsort(rate, RUNS, sizeof rate[0], cmp_double);
    printf("feed: %zu combined-stream aggTrade frames, %d symbols, %d worker rings, flush every "
           "%d\n", c->n, N_SYM, N_WORKERS, BATCH);
    printf("feed: parse+validate+route: best   %6.2f M msgs/s per I/O thread (target >= 2)\n",
           rate[RUNS - 1] / 1e6);
    printf("feed: parse+validate+route: median %6.2f M msgs/s per I/O thread\n",
           rate[RUNS / 2] / 1e6);
    printf("feed: routed %" PRIu64 ", unknown %" PRIu64 ", popped %" PRIu64 " (expect %zu)\n",
           g.rt.routed, g.rt.unknown, popped, c->n * RUNS);
    if (popped != c->n * RUNS) {
        fprintf(stderr, "bench_feed: messages lost in the rings\n");
        exit(1);
    }
    rig_fini(&g, N_WORKERS);
}

static int
bucket_of(uint64_t ns)
{
    if (ns < 1)
        ns = 1;
    int e = 63 - __builtin_clzll(ns);
    int sub = e >= 3 ? (int)((ns >> (e - 3)) & 7) : (int)((ns << (3 - e)) & 7);
    int b = e * 8 + sub;
    return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

/* Lower bound of bucket b in ns. */
static double
bucket_ns(int b)
{
    int e = b / 8, sub = b % 8;
    return (double)(1ULL << e) * (1.0 + sub / 8.0);
}

static double
percentile(const uint64_t *h, uint64_t n, double p)
{
    uint64_t want = (uint64_t)((double)n * p), seen = 0;
    for (int b = 0; b < LAT_BUCKETS; b++) {
        seen += h[b];
        if (seen > want)
            return bucket_ns(b);
    }
    return bucket_ns(LAT_BUCKETS - 1);
}

static void
on_emit(void *ctx, const kl_series_t *s, int iv, const kl_kline_t *k, unsigned flags)
{
    (void)s, (void)iv, (void)k, (void)flags;
    ++*(uint64_t *)ctx;
}

/* (c): per message, parse -> validate -> router -> ring -> pop -> kl_series_apply, one thread. */
static void
bench_latency(const corpus_t *c, size_t n)
{
    rig_t g;
    if (rig_init(&g, 1) != 0) {
        fprintf(stderr, "bench_feed: rig setup failed\n");
        exit(1);
    }
    size_t stride = (kl_series_size(&g.sch) + 63) / 64 * 64;
    char *ser = aligned_alloc(64, stride * MAX_SYM_ID);
    if (!ser) {
        fprintf(stderr, "bench_feed: out of memory\n");
        exit(1);
    }
    for (size_t s = 0; s < MAX_SYM_ID; s++)
        kl_series_init((kl_series_t *)(void *)(ser + s * stride), &g.sch, NULL);
    static uint64_t hist[LAT_BUCKETS];
    uint64_t emitted = 0, not_applied = 0, total = 0, clock_cost;
    kl_ring_t *ring = kl_worker_ring(g.w[0], 0);
    {
        uint64_t t0 = now_ns();
        for (int k = 0; k < 100000; k++)
            (void)now_ns();
        clock_cost = (now_ns() - t0) / 100000;
    }
    if (n > c->n)
        n = c->n;
    for (size_t i = 0; i < n; i++) {
        kl_msg_t m;
        uint64_t t0 = now_ns();
        feed_one(c, i, &g.rt);
        if (kl_ring_pop(ring, &m, 1) != 1 || m.sym >= MAX_SYM_ID)
            fail(c, i, "pop", KL_EARG);
        if (kl_series_apply((kl_series_t *)(void *)(ser + m.sym * stride), &m.u.trade, on_emit,
                            &emitted) != KL_APPLIED)
            not_applied++;
        uint64_t dt = now_ns() - t0;
        hist[bucket_of(dt)]++;
        total += dt;
    }
    printf("latency: %zu frames, frame in memory -> kline state updated (parse, validate, route, "
           "ring, pop, apply; 16 intervals)\n", n);
    printf("latency: p50 %.0f ns  p99 %.0f ns  p99.9 %.0f ns  mean %.0f ns  (bucket lower bounds, "
           "1/8 octave; includes one clock read, ~%" PRIu64 " ns)\n",
           percentile(hist, n, 0.50), percentile(hist, n, 0.99), percentile(hist, n, 0.999),
           (double)total / (double)n, clock_cost);
    printf("latency: %.3f klines emitted per trade%s\n", (double)emitted / (double)n,
           not_applied ? "; SOME TRADES NOT APPLIED" : "");
    free(ser);
    rig_fini(&g, 1);
}

int
main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000;
    size_t n_lat = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 100000;
    if (n == 0) {
        fprintf(stderr, "usage: bench_feed [N_MSGS [N_LAT]]\n");
        return 2;
    }
    make_symbols();
    corpus_t c;
    if (build(&c, n) != 0) {
        fprintf(stderr, "bench_feed: out of memory\n");
        return 1;
    }
    printf("corpus: %zu frames, %.1f bytes each on average\n", n,
           (double)c.off[n] / (double)n);
    bench_throughput(&c);
    bench_latency(&c, n_lat);
    free(c.buf);
    free(c.off);
    return 0;
}
