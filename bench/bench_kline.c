/* Measures the kline engine alone: how many trades per second one core can push through
 * kl_series_apply() for 1,000 symbols with all 16 intervals, on binary trades already in memory,
 * so that parsing, queues and I/O are out of the figure. Scenario 1 is a live-like feed (a
 * global clock, skewed symbol popularity, holes for quiet symbols); scenario 2 is the worst
 * case, where every trade of a symbol opens a new second and so rolls the segment. Given a
 * spot aggTrades dump, it also times the CSV row parser and a one-symbol apply over that dump,
 * which splits `klined replay`'s time between parsing and kline updating.
 *
 * usage: bench_kline [N_TRADES] [AGGTRADES.csv]   (N_TRADES default 20,000,000) */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/interval.h"
#include "engine/kline.h"
#include "kl/types.h"
#include "source/csv_scan.h"

#define N_SYM 1000
#define RUNS 3
#define START_MS 1704067200000LL

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

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
rnd_below(uint64_t n)
{
    return (rnd() >> 11) % n;
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The emit callback must cost what a real consumer's cheapest one costs, and the compiler
 * must not drop it: fold every emitted kline into a volatile sink. */
static volatile uint64_t sink;

static void
on_emit(void *ctx, const kl_series_t *s, int iv, const kl_kline_t *k, unsigned flags)
{
    (void)s;
    (void)iv;
    (*(uint64_t *)ctx)++;
    sink += (uint64_t)k->close + flags;
}

typedef struct feed {
    kl_trade_t *t;
    uint16_t *sym;
    size_t n;
} feed_t;

/* Each symbol lives at its own price level (from 0.0001 to ~60000, all with 8 decimals) and
 * random-walks by ticks of about 1e-4 of its price. */
typedef struct symgen {
    int64_t price, tick, id, raw_id;
} symgen_t;

static void
symgen_init(symgen_t *g)
{
    for (int s = 0; s < N_SYM; s++) {
        int64_t p = (int64_t)(10000 + rnd_below(100000)); /* 1e-4 .. 1.1e-3 in 1e-8 units */
        for (int d = (int)rnd_below(9); d > 0; d--)
            p *= 10;
        g[s].price = p;
        g[s].tick = p / 10000 > 0 ? p / 10000 : 1;
        g[s].id = 100000000 + (int64_t)rnd_below(1000000000);
        g[s].raw_id = g[s].id * 3;
    }
}

static void
symgen_trade(symgen_t *g, int64_t ts, kl_trade_t *t)
{
    uint64_t r = rnd_below(100);
    if (r >= 50) {
        int64_t step = g->tick * (int64_t)(1 + rnd_below(r >= 95 ? 20 : 3));
        g->price += (r & 1) ? step : (g->price > 2 * step ? -step : step);
    }
    uint64_t x = rnd_below(1000);
    /* qty: notional mostly 10..5000 quote units, whatever the price level */
    kl_sum_t notional = (kl_sum_t)(1000 + x * x * x / 2000) * KL_DEC_SCALE * KL_DEC_SCALE;
    int64_t qty = (int64_t)(notional / g->price);
    uint64_t nraw = rnd_below(4) == 0 ? 1 + rnd_below(6) : 1;
    t->ts = ts;
    t->id = g->id++;
    t->first_id = g->raw_id;
    t->last_id = g->raw_id + (int64_t)nraw - 1;
    g->raw_id += (int64_t)nraw;
    t->price = g->price;
    t->qty = qty > 0 ? qty : 1;
    t->buyer_maker = (uint8_t)(rnd() & 1);
}

/* Scenario 1: a live feed. The clock advances 0-4 ms per trade; the symbol is u^3-skewed, so
 * a few symbols take most trades (the hottest ~100x the median) and quiet ones leave holes. */
static void
feed_live(feed_t *f, symgen_t *g)
{
    int64_t ts = START_MS;
    for (size_t i = 0; i < f->n; i++) {
        ts += (int64_t)rnd_below(5);
        uint64_t u = rnd_below(1u << 20);
        uint16_t s = (uint16_t)(((u * u >> 20) * u >> 20) * N_SYM >> 20);
        f->sym[i] = s;
        symgen_trade(&g[s], ts, &f->t[i]);
    }
}

/* Scenario 0, the headline: a busy feed of 100,000 trades/s over the 1,000 skewed symbols (the
 * clock advances 1 ms every 100 trades), as during a backfill or a busy market: most trades
 * update an open segment, rollovers are a small share. */
static void
feed_busy(feed_t *f, symgen_t *g)
{
    int64_t ts = START_MS;
    for (size_t i = 0; i < f->n; i++) {
        ts += i % 100 == 0;
        uint64_t u = rnd_below(1u << 20);
        uint16_t s = (uint16_t)(((u * u >> 20) * u >> 20) * N_SYM >> 20);
        f->sym[i] = s;
        symgen_trade(&g[s], ts, &f->t[i]);
    }
}

/* Scenario 2: round robin with 1 ms per trade, so each symbol trades exactly once a second:
 * every trade lands in a new second and rolls the segment (but makes no hole). */
static void
feed_worst(feed_t *f, symgen_t *g)
{
    int64_t ts = START_MS;
    for (size_t i = 0; i < f->n; i++) {
        uint16_t s = (uint16_t)(i % N_SYM);
        f->sym[i] = s;
        symgen_trade(&g[s], ts++, &f->t[i]);
    }
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times RUNS passes of the apply loop over f (series re-initialized before each, untimed) and
 * prints best and median rates. */
/* The series sit back to back with kl_series_size() as the stride, as a worker lays them out. */
typedef struct series_arr {
    char *base;
    size_t stride;
} series_arr_t;

static inline kl_series_t *
ser_at(const series_arr_t *a, size_t i)
{
    return (kl_series_t *)(void *)(a->base + i * a->stride);
}

static void
run_scenario(const char *name, const feed_t *f, const series_arr_t *ser, int n_ser,
             const kl_sched_t *sch)
{
    double rate[RUNS];
    uint64_t emitted = 0, holes = 0, other = 0;
    for (int run = 0; run < RUNS; run++) {
        for (int s = 0; s < n_ser; s++)
            kl_series_init(ser_at(ser, (size_t)s), sch, NULL);
        emitted = 0;
        double t0 = now_s();
        for (size_t i = 0; i < f->n; i++)
            if (kl_series_apply(ser_at(ser, f->sym[i]), &f->t[i], on_emit, &emitted) != KL_APPLIED)
                other++;
        rate[run] = (double)f->n / (now_s() - t0);
    }
    holes = 0;
    for (int s = 0; s < n_ser; s++)
        holes += ser_at(ser, (size_t)s)->stats.holes;
    qsort(rate, RUNS, sizeof rate[0], cmp_double);
    printf("%s: best   %7.2f M trades/s per core\n", name, rate[RUNS - 1] / 1e6);
    printf("%s: median %7.2f M trades/s per core\n", name, rate[RUNS / 2] / 1e6);
    printf("%s: %zu trades, %d series, %.3f klines emitted per trade (%.3f holes)%s\n", name,
           f->n, n_ser, (double)emitted / (double)f->n, (double)holes / (double)f->n,
           other ? "; SOME TRADES NOT APPLIED" : "");
}

/* Parses the dump into memory (timed: the parse-only rate), then times one series applying it
 * with all 16 intervals: the engine share of a `klined replay --intervals all` run. */
static int
run_dump(const char *path, const kl_sched_t *sch, const series_arr_t *ser)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        perror(path);
        return -1;
    }
    size_t len = (size_t)st.st_size;
    const char *data = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (data == MAP_FAILED) {
        perror(path);
        return -1;
    }
    size_t cap = len / 40 + 1, n = 0; /* an aggTrades row is over 60 bytes */
    kl_trade_t *t = malloc(cap * sizeof *t);
    if (!t) {
        munmap((void *)data, len);
        return -1;
    }
    double best_parse = 0;
    size_t bad = 0;
    for (int run = 0; run < RUNS; run++) {
        n = 0;
        bad = 0;
        double t0 = now_s();
        for (const char *p = data, *end = data + len; p < end && n < cap;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            if (le > p) {
                if (kl_csv_parse_row(p, (size_t)(le - p), KL_CSV_SPOT_AGG, &t[n]) == 0 &&
                    kl_trade_validate(&t[n], 1) == 0)
                    n++;
                else
                    bad++;
            }
            p = le + 1;
        }
        double r = (double)(n + bad) / (now_s() - t0);
        if (r > best_parse)
            best_parse = r;
    }
    munmap((void *)data, len);
    printf("dump parse: best   %7.2f M rows/s per core (kl_csv_parse_row + validate, %zu rows, "
           "%zu bad, %.1f MB/s)\n",
           best_parse / 1e6, n + bad, bad, best_parse * (double)len / (double)(n + bad) / 1e6);
    uint16_t *sym = calloc(n ? n : 1, sizeof *sym);
    if (!sym) {
        free(t);
        return -1;
    }
    feed_t f = {t, sym, n};
    run_scenario("dump apply (1 symbol, 16 intervals)", &f, ser, 1, sch);
    free(sym);
    free(t);
    return 0;
}

int
main(int argc, char **argv)
{
    size_t n = 20000000;
    const char *dump = NULL;
    for (int i = 1; i < argc; i++) {
        char *end;
        unsigned long long v = strtoull(argv[i], &end, 10);
        if (*end == '\0' && v > 0)
            n = (size_t)v;
        else
            dump = argv[i];
    }
    kl_sched_cfg_t cfg;
    kl_sched_t sch;
    kl_sched_cfg_default(&cfg);
    if (kl_sched_init(&sch, &cfg) != 0) {
        fprintf(stderr, "bench_kline: kl_sched_init failed\n");
        return 1;
    }
    size_t align = _Alignof(kl_series_t);
    series_arr_t ser = {NULL, (kl_series_size(&sch) + align - 1) / align * align};
    ser.base = aligned_alloc(64, (ser.stride * N_SYM + 63) & ~(size_t)63);
    feed_t f = {malloc(n * sizeof(kl_trade_t)), malloc(n * sizeof(uint16_t)), n};
    symgen_t *g = malloc(N_SYM * sizeof *g);
    if (!ser.base || !f.t || !f.sym || !g) {
        fprintf(stderr, "bench_kline: out of memory\n");
        return 1;
    }
    printf("series: sizeof(kl_series_t) = %zu bytes; kl_series_size() = %zu bytes (stride %zu) "
           "for %d intervals, lateness %lld ms = %.0f bytes per (symbol, interval); "
           "sizeof(kl_agg_t) = %zu; %d symbols = %.2f MB\n",
           sizeof(kl_series_t), kl_series_size(&sch), ser.stride, sch.n,
           (long long)(sch.lateness / sch.unit_per_ms), (double)ser.stride / sch.n,
           sizeof(kl_agg_t), N_SYM, (double)ser.stride * N_SYM / 1e6);

    symgen_init(g);
    feed_busy(&f, g);
    run_scenario("busy feed (1000 symbols, 100k trades/s)", &f, &ser, N_SYM, &sch);

    symgen_init(g);
    feed_live(&f, g);
    run_scenario("live feed (1000 symbols, skewed)", &f, &ser, N_SYM, &sch);

    symgen_init(g);
    feed_worst(&f, g);
    run_scenario("worst case (new second every trade)", &f, &ser, N_SYM, &sch);

    free(f.t);
    free(f.sym);
    free(g);
    int rc = dump ? run_dump(dump, &sch, &ser) : 0;
    free(ser.base);
    return rc ? 1 : 0;
}
