/* End-to-end tests of the running service (kl_service_start .. kl_service_stop) with real
 * threads, a real SQLite store and real sources. The replay scenario checks that every row the
 * service commits equals what a single-threaded kl_series_t produces from the same trades (SPEC
 * §1: serve --source replay gives the klines of klined replay). The lines scenarios drive the
 * TCP lines source by hand to check symbols added and removed at runtime, with and without a
 * configured symbol list, and that removing and re-adding a symbol continues its klines (SPEC
 * §1 "Continuity", §2): from the worker's memory, from the store after the parked series was
 * freed, after a restart, and through WAL recovery (a crashed child, a hand-written log).
 * Progress is observed through the store itself (a second connection polled every 10 ms, for
 * up to 20 s per condition); nothing is asserted on timing. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/log.h"
#include "engine/kfill.h"
#include "engine/kline.h"
#include "kl/err.h"
#include "serve/service.h"
#include "store/store.h"
#include "wal/wal.h"
#include "wal/walrec.h"

#define T0 1704153600000LL /* 2024-01-02T00:00:00Z */
#define WAIT_MS 20000
#define POLL_MS 10

/* ---- kline lists: the reference's and the store's, in the same shape -------------------- */

typedef struct klist {
    kl_kline_t *k;
    uint8_t *final;
    size_t n, cap;
} klist_t;

/* Appends, or replaces the last entry when it has the same open time (a correction or the
 * latest state of the same kline: the store keeps one row per open time too). */
static void
klist_put(klist_t *l, const kl_kline_t *k, int final)
{
    if (l->n > 0 && l->k[l->n - 1].open_time == k->open_time) {
        l->k[l->n - 1] = *k;
        l->final[l->n - 1] = (uint8_t)final;
        return;
    }
    assert_true(l->n == 0 || l->k[l->n - 1].open_time < k->open_time);
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->k = realloc(l->k, l->cap * sizeof *l->k);
        l->final = realloc(l->final, l->cap);
        assert_non_null(l->k);
        assert_non_null(l->final);
    }
    l->k[l->n] = *k;
    l->final[l->n++] = (uint8_t)final;
}

static void
klist_free(klist_t *l)
{
    free(l->k);
    free(l->final);
    memset(l, 0, sizeof *l);
}

/* One symbol's reference: its series and what it emitted, per interval. */
typedef struct ref {
    const char *symbol;
    kl_sched_t sched;
    kl_series_t series;
    klist_t iv[KL_IV_COUNT];
} ref_t;

static void
ref_emit(void *ctx, const kl_series_t *s, int iv, const kl_kline_t *k, unsigned flags)
{
    (void)s;
    (void)flags;
    ref_t *r = ctx;
    klist_put(&r->iv[iv], k, 1);
}

/* Same schedule as the service builds from cfg (service.c build_scheds). */
static void
ref_init(ref_t *r, const char *symbol, const kl_config_t *cfg)
{
    memset(r, 0, sizeof *r);
    r->symbol = symbol;
    kl_sched_cfg_t sc;
    kl_sched_cfg_default(&sc);
    sc.iv_mask = cfg->intervals;
    sc.tz_minutes = cfg->tz_minutes;
    sc.lateness_ms = cfg->lateness_ms;
    assert_int_equal(kl_sched_init(&r->sched, &sc), 0);
    kl_series_init(&r->series, &r->sched, r);
}

static void
ref_apply(ref_t *r, const kl_trade_t *t)
{
    assert_int_equal(kl_trade_validate(t, 1), 0);
    (void)kl_series_apply(&r->series, t, ref_emit, r);
}

/* The live klines join the lists as the store holds them: not final, also when the symbol was
 * removed (removal keeps them open). Later trades may still replace them (same open time). */
static void
ref_finish(ref_t *r)
{
    for (int i = 0; i < r->sched.n; i++) {
        int iv = r->sched.spec[i].iv;
        kl_kline_t k;
        if (kl_series_get(&r->series, iv, &k) == 0)
            klist_put(&r->iv[iv], &k, 0);
    }
}

static void
ref_free(ref_t *r)
{
    for (int i = 0; i < KL_IV_COUNT; i++)
        klist_free(&r->iv[i]);
}

/* ---- the store, read through a second connection --------------------------------------- */

typedef struct scan_ctx {
    klist_t *l;
    int bad_unit;
    const kl_ivspec_t *fill; /* the series' grid: implied holes are filled in (kfill.h) */
} scan_ctx_t;

static int
scan_row(void *ctx, const kl_store_row_t *row)
{
    scan_ctx_t *c = ctx;
    c->bad_unit += row->unit_per_ms != 1;
    if (c->l->n > 0 && c->l->k[c->l->n - 1].open_time >= row->k.open_time)
        return 1; /* not ascending, or a duplicate key */
    if (c->fill && c->l->n > 0) { /* serve stores a long gap's holes implied */
        kl_kline_t prev = c->l->k[c->l->n - 1], h;
        kl_fill_gap_t g;
        kl_fill_gap_init(&g, c->fill, &prev, row->k.open_time);
        while (kl_fill_gap_next(&g, &h))
            klist_put(c->l, &h, 1);
    }
    klist_put(c->l, &row->k, row->is_final);
    return 0;
}

/* The stored rows of (symbol, iv), with the implied holes filled in when fill is the series'
 * interval grid (as every reader of the store does), else exactly as stored. */
static void
store_read_grid(kl_store_t *st, const char *symbol, int iv, const kl_ivspec_t *fill,
                klist_t *out)
{
    memset(out, 0, sizeof *out);
    scan_ctx_t c = {out, 0, fill};
    assert_int_equal(kl_store_scan(st, symbol, iv, scan_row, &c), 0);
    assert_int_equal(c.bad_unit, 0);
}

static void
store_read(kl_store_t *st, const char *symbol, int iv, klist_t *out)
{
    store_read_grid(st, symbol, iv, NULL, out);
}

static int
store_collect_symbol(void *ctx, const char *symbol)
{
    char *buf = ctx;
    strcat(buf, symbol);
    strcat(buf, ",");
    return 0;
}

static void
store_symbols(kl_store_t *st, char *buf)
{
    buf[0] = '\0';
    assert_int_equal(kl_store_symbols(st, store_collect_symbol, buf), 0);
}

/* Σ trades of symbol's 1m rows: how many raw trades the store holds for it. */
static int64_t
store_trades(kl_store_t *st, const char *symbol)
{
    klist_t l;
    store_read(st, symbol, KL_IV_1M, &l);
    int64_t n = 0;
    for (size_t i = 0; i < l.n; i++)
        n += l.k[i].trades;
    klist_free(&l);
    return n;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls until symbol has want trades in the store; returns what it last saw. */
static int64_t
wait_store_trades(kl_store_t *st, const char *symbol, int64_t want)
{
    int64_t n = -1;
    for (int waited = 0; waited < WAIT_MS; waited += POLL_MS) {
        n = store_trades(st, symbol);
        if (n == want)
            break;
        sleep_ms(POLL_MS);
    }
    return n;
}

static const char *
field_diff(const kl_kline_t *a, const kl_kline_t *b)
{
    if (a->open_time != b->open_time)
        return "open_time";
    if (a->close_time != b->close_time)
        return "close_time";
    if (a->open != b->open)
        return "open";
    if (a->high != b->high)
        return "high";
    if (a->low != b->low)
        return "low";
    if (a->close != b->close)
        return "close";
    if (a->volume != b->volume)
        return "volume";
    if (a->quote != b->quote)
        return "quote";
    if (a->taker_base != b->taker_base)
        return "taker_base";
    if (a->taker_quote != b->taker_quote)
        return "taker_quote";
    if (a->trades != b->trades)
        return "trades";
    if (a->first_id != b->first_id)
        return "first_id";
    if (a->last_id != b->last_id)
        return "last_id";
    return NULL;
}

/* Every interval of the reference equals the store's rows, field by field, final flag too.
 * Returns the number of rows compared. */
static size_t
compare_with_store(kl_store_t *st, ref_t *r)
{
    size_t rows = 0;
    for (int i = 0; i < r->sched.n; i++) {
        int iv = r->sched.spec[i].iv;
        klist_t got;
        store_read_grid(st, r->symbol, iv, &r->sched.spec[i], &got);
        const klist_t *want = &r->iv[iv];
        if (got.n != want->n)
            fail_msg("%s %s: store has %zu rows, reference %zu (first open times %lld / %lld)",
                     r->symbol, kl_iv_name(iv), got.n, want->n,
                     got.n ? (long long)got.k[0].open_time : -1LL,
                     want->n ? (long long)want->k[0].open_time : -1LL);
        for (size_t j = 0; j < got.n; j++) {
            const char *f = field_diff(&got.k[j], &want->k[j]);
            if (f)
                fail_msg("%s %s row %zu (open %lld): field %s differs (store trades %lld, "
                         "reference trades %lld)",
                         r->symbol, kl_iv_name(iv), j, (long long)want->k[j].open_time, f,
                         (long long)got.k[j].trades, (long long)want->k[j].trades);
            if (got.final[j] != want->final[j])
                fail_msg("%s %s row %zu (open %lld): store final=%d, reference final=%d",
                         r->symbol, kl_iv_name(iv), j, (long long)want->k[j].open_time,
                         got.final[j], want->final[j]);
        }
        rows += got.n;
        klist_free(&got);
    }
    return rows;
}

/* ---- temp dirs, config, service ----------------------------------------------------------- */

static char tmpdir[64];

static int
setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kl_test_service_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    kl_log_set_level(KL_LOG_WARN);
    return 0;
}

static int
teardown_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static kl_service_t *
start_service(kl_config_t *cfg, const char *text)
{
    char err[1024] = "";
    kl_config_defaults(cfg);
    if (kl_config_load_text(cfg, text, "test.ini", err, sizeof err) != 0)
        fail_msg("config: %s", err);
    cfg->listen_port = 0; /* the API on a free port: tests run side by side */
    kl_service_t *svc = NULL;
    if (kl_service_start(cfg, &svc, err, sizeof err) != 0)
        fail_msg("start: %s", err);
    assert_non_null(svc);
    return svc;
}

static kl_store_t *
open_store(const char *db)
{
    char url[256], err[512] = "";
    snprintf(url, sizeof url, "sqlite:%s", db);
    kl_store_t *st = NULL;
    if (kl_store_open(url, &st, err, sizeof err) != 0)
        fail_msg("store: %s", err);
    return st;
}

/* ---- scenario 1: replay of generated dumps vs the reference ------------------------------ */

static uint64_t rng_state;

static uint32_t
rng(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

static void
fmt_dec(char *buf, size_t cap, int64_t v)
{
    snprintf(buf, cap, "%lld.%08lld", (long long)(v / 100000000), (long long)(v % 100000000));
}

#define N_REPLAY_SYMS 3
#define TRADES_PER_SYM 4000

/* Writes one symbol's aggTrades dump (spot layout, no header) and feeds the same trades to the
 * reference. About two hours of trades, with a 17-minute and a 3-minute gap (hole klines), runs
 * of equal timestamps, and a few aggregated trades spanning several raw ids. */
static int64_t
write_dump(const char *path, ref_t *r, int sym)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    rng_state = 0x9e3779b97f4a7c15ULL * (uint64_t)(sym + 1);
    int64_t t = T0 + sym * 137;
    int64_t id = 1000000 * (sym + 1), raw = 5000000 * (sym + 1);
    int64_t price = (100 + 37 * sym) * 100000000LL + 12345678;
    int64_t n_raw = 0;
    int64_t gap1 = T0 + (20 + 11 * sym) * 60000LL, gap2 = T0 + (80 + 7 * sym) * 60000LL + 1234;
    for (int i = 0; i < TRADES_PER_SYM; i++) {
        uint32_t x = rng();
        t += x % 10 == 0 ? 0 : (int64_t)(rng() % 3500);
        if (t >= gap1 && t < gap1 + 17 * 60000LL)
            t = gap1 + 17 * 60000LL + (int64_t)(rng() % 1000);
        if (t >= gap2 && t < gap2 + 3 * 60000LL)
            t = gap2 + 3 * 60000LL;
        price += (int64_t)(rng() % 2000001) - 1000000;
        if (price < 100000000)
            price = 100000000;
        kl_trade_t tr = {
            .ts = t,
            .id = id++,
            .first_id = raw,
            .last_id = raw + (rng() % 7 == 0 ? (int64_t)(rng() % 5) : 0),
            .price = price,
            .qty = 1 + (int64_t)(rng() % 300000000),
            .buyer_maker = (uint8_t)(rng() & 1),
        };
        raw = tr.last_id + 1;
        n_raw += tr.last_id - tr.first_id + 1;
        char p[32], q[32];
        fmt_dec(p, sizeof p, tr.price);
        fmt_dec(q, sizeof q, tr.qty);
        fprintf(f, "%lld,%s,%s,%lld,%lld,%lld,%s,True\n", (long long)tr.id, p, q,
                (long long)tr.first_id, (long long)tr.last_id, (long long)tr.ts,
                tr.buyer_maker ? "True" : "False");
        ref_apply(r, &tr);
    }
    assert_int_equal(fclose(f), 0);
    return n_raw;
}

static void
replay_matches_single_threaded_reference(void **state)
{
    (void)state;
    static const char *syms[N_REPLAY_SYMS] = {"AUSDT", "BUSDT", "CUSDT"};
    static ref_t refs[N_REPLAY_SYMS];
    kl_config_t defaults;
    kl_config_defaults(&defaults);
    char files[N_REPLAY_SYMS][160], text[2048], db[128];
    int64_t raw_trades[N_REPLAY_SYMS];
    for (int s = 0; s < N_REPLAY_SYMS; s++) {
        ref_init(&refs[s], syms[s], &defaults);
        snprintf(files[s], sizeof files[s], "%s/%s-aggTrades-2024-01-02.csv", tmpdir, syms[s]);
        raw_trades[s] = write_dump(files[s], &refs[s], s);
        assert_true(raw_trades[s] > TRADES_PER_SYM);
        ref_finish(&refs[s]);
    }
    snprintf(db, sizeof db, "%s/replay.db", tmpdir);
    /* A small queue so that the source meets backpressure, and two workers. */
    snprintf(text, sizeof text,
             "source = replay:%s,%s,%s\nstore = sqlite:%s\nwal-dir = %s/wal-replay\nworkers = 2\n"
             "persist-ms = 50\nclock = event\nstats-s = 0\nqueue-capacity = 1024\n"
             "log-level = warn\n",
             files[0], files[1], files[2], db, tmpdir);
    kl_config_t cfg;
    kl_service_t *svc = start_service(&cfg, text);
    int done = 0;
    for (int waited = 0; waited < WAIT_MS && !done; waited += POLL_MS) {
        done = kl_service_source_done(svc);
        if (!done)
            sleep_ms(POLL_MS);
    }
    assert_true(done);
    kl_syminfo_t list[8];
    assert_int_equal(kl_service_list_symbols(svc, list, 8), N_REPLAY_SYMS);
    for (int s = 0; s < N_REPLAY_SYMS; s++)
        assert_string_equal(list[s].name, syms[s]);
    assert_int_equal(kl_service_stop(svc), 0);
    kl_config_free(&cfg);

    kl_store_t *st = open_store(db);
    char symbols[256];
    store_symbols(st, symbols);
    assert_string_equal(symbols, "AUSDT,BUSDT,CUSDT,");
    size_t rows = 0;
    for (int s = 0; s < N_REPLAY_SYMS; s++) {
        assert_int_equal(store_trades(st, syms[s]), raw_trades[s]);
        rows += compare_with_store(st, &refs[s]);
        ref_free(&refs[s]);
    }
    /* About 2 h of 1s klines (hole klines included) per symbol, plus the longer intervals. */
    assert_true(rows > 3 * 7000);
    kl_store_close(st);
}

/* ---- scenarios 2 and 3: the TCP lines source and runtime symbols ------------------------- */

static uint16_t
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static int
connect_client(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int waited = 0; waited < WAIT_MS; waited += POLL_MS) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return fd;
        close(fd);
        sleep_ms(POLL_MS);
    }
    fail_msg("cannot connect to the lines source on port %u", port);
    return -1;
}

/* A client feeding trade lines, and the reference of each symbol it feeds. */
typedef struct feed {
    int fd;
    int64_t next_id[8];
} feed_t;

static void
send_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        assert_true(w > 0);
        buf += w;
        n -= (size_t)w;
    }
}

/* Sends one aggTrade line of symbol (index k for its id sequence) and applies it to r (when
 * not NULL: a trade that should count). A feed with fd -1 only applies it. */
static void
send_trade(feed_t *fd, int k, const char *symbol, int64_t ts, int64_t price, int64_t qty, int m,
           ref_t *r)
{
    kl_trade_t t = {
        .ts = ts,
        .id = fd->next_id[k],
        .first_id = fd->next_id[k] * 10,
        .last_id = fd->next_id[k] * 10,
        .price = price,
        .qty = qty,
        .buyer_maker = (uint8_t)m,
    };
    fd->next_id[k]++;
    if (r)
        ref_apply(r, &t);
    if (fd->fd < 0) /* dry: the reference of what another process sends */
        return;
    char p[32], q[32], line[512];
    fmt_dec(p, sizeof p, price);
    fmt_dec(q, sizeof q, qty);
    int n = snprintf(line, sizeof line,
                     "{\"e\":\"aggTrade\",\"E\":%lld,\"s\":\"%s\",\"a\":%lld,\"p\":\"%s\","
                     "\"q\":\"%s\",\"f\":%lld,\"l\":%lld,\"T\":%lld,\"m\":%s}\n",
                     (long long)ts + 5, symbol, (long long)t.id, p, q, (long long)t.first_id,
                     (long long)t.last_id, (long long)ts, m ? "true" : "false");
    send_all(fd->fd, line, (size_t)n);
}

/* Sends n trades of symbol from ts0, one every step ms, prices walking from price0. */
static void
send_run(feed_t *f, int k, const char *symbol, int n, int64_t ts0, int64_t step, int64_t price0,
         ref_t *r)
{
    for (int i = 0; i < n; i++)
        send_trade(f, k, symbol, ts0 + i * step, price0 + (i % 7) * 1234567 - (i % 3) * 999,
                   100000 + i * 7, i % 3 == 0, r);
}

static void
list_is(kl_service_t *svc, const char *want)
{
    kl_syminfo_t l[16];
    size_t n = kl_service_list_symbols(svc, l, 16);
    char got[256] = "";
    for (size_t i = 0; i < n && i < 16; i++) {
        strcat(got, l[i].name);
        strcat(got, ",");
    }
    assert_string_equal(got, want);
}

static void
configured_symbols_add_and_remove_at_runtime(void **state)
{
    (void)state;
    kl_config_t cfg;
    char text[1024], db[128];
    snprintf(db, sizeof db, "%s/lines.db", tmpdir);
    uint16_t port = free_port();
    snprintf(text, sizeof text,
             "source = lines:tcp://127.0.0.1:%u\nstore = sqlite:%s\nwal-dir = %s/wal-lines\n"
             "workers = 2\npersist-ms = 50\nclock = event\nstats-s = 0\n"
             "symbols = AUSDT,BUSDT\nlog-level = error\n",
             port, db, tmpdir);
    kl_service_t *svc = start_service(&cfg, text);
    static ref_t ra, rb, rc;
    ref_init(&ra, "AUSDT", &cfg);
    ref_init(&rb, "BUSDT", &cfg);
    ref_init(&rc, "CUSDT", &cfg);
    list_is(svc, "AUSDT,BUSDT,");
    feed_t f = {.fd = connect_client(port), .next_id = {1, 1, 1}};
    kl_store_t *st = open_store(db);

    /* A and B over five minutes; C is not configured yet: refused. */
    send_run(&f, 0, "AUSDT", 300, T0 + 100, 1000, 150000000, &ra);
    send_run(&f, 1, "BUSDT", 240, T0 + 200, 1250, 2500000000LL, &rb);
    send_run(&f, 2, "CUSDT", 5, T0 + 300, 1000, 700000000, NULL);
    assert_int_equal(wait_store_trades(st, "AUSDT", 300), 300);
    assert_int_equal(wait_store_trades(st, "BUSDT", 240), 240);
    assert_int_equal(store_trades(st, "CUSDT"), 0);

    /* Add C: accepted from now on. Adding a served or invalid name is refused. */
    assert_int_equal(kl_service_add_symbol(svc, "CUSDT"), 0);
    assert_int_equal(kl_service_add_symbol(svc, "CUSDT"), KL_EARG);
    assert_int_equal(kl_service_add_symbol(svc, "AUSDT"), KL_EARG);
    assert_int_equal(kl_service_add_symbol(svc, "c-usdt"), KL_EARG);
    list_is(svc, "AUSDT,BUSDT,CUSDT,");
    send_run(&f, 2, "CUSDT", 90, T0 + 240000, 2000, 700000000, &rc);
    assert_int_equal(wait_store_trades(st, "CUSDT", 90), 90);

    /* Remove B: its klines are persisted as they are; later B trades are refused. */
    assert_int_equal(kl_service_remove_symbol(svc, "BUSDT"), 0);
    assert_int_equal(kl_service_remove_symbol(svc, "BUSDT"), KL_EARG);
    assert_int_equal(kl_service_remove_symbol(svc, "ZZZ"), KL_EARG);
    list_is(svc, "AUSDT,CUSDT,");
    send_run(&f, 1, "BUSDT", 50, T0 + 290000, 100, 9999900000000LL, NULL); /* same minute too */
    send_run(&f, 1, "BUSDT", 50, T0 + 600000, 100, 9999900000000LL, NULL);
    /* Then more A and C, behind the B lines on the same connection. */
    send_run(&f, 0, "AUSDT", 120, T0 + 400100, 1000, 150000000, &ra);
    send_run(&f, 2, "CUSDT", 30, T0 + 420000, 3000, 700000000, &rc);
    assert_int_equal(wait_store_trades(st, "AUSDT", 420), 420);
    assert_int_equal(wait_store_trades(st, "CUSDT", 120), 120);
    close(f.fd);
    assert_int_equal(kl_service_stop(svc), 0);

    char symbols[256];
    store_symbols(st, symbols);
    assert_string_equal(symbols, "AUSDT,BUSDT,CUSDT,");
    assert_int_equal(store_trades(st, "BUSDT"), 240);
    ref_finish(&ra);
    ref_finish(&rb);
    ref_finish(&rc);
    /* B exactly as the reference had it at removal, its last klines still open: no later trade
     * reached it, and removing it finalized nothing. */
    compare_with_store(st, &rb);
    compare_with_store(st, &ra);
    compare_with_store(st, &rc);
    klist_t c1m;
    store_read(st, "CUSDT", KL_IV_1M, &c1m);
    assert_true(c1m.n > 0);
    assert_int_equal(c1m.k[0].open_time, T0 + 240000); /* the refused C trades left nothing */
    klist_free(&c1m);
    ref_free(&ra);
    ref_free(&rb);
    ref_free(&rc);
    kl_store_close(st);
    kl_config_free(&cfg);
}

static void
unlisted_symbols_are_added_automatically(void **state)
{
    (void)state;
    kl_config_t cfg;
    char text[1024], db[128];
    snprintf(db, sizeof db, "%s/auto.db", tmpdir);
    uint16_t port = free_port();
    snprintf(text, sizeof text,
             "source = lines:tcp://127.0.0.1:%u\nstore = sqlite:%s\nwal-dir = %s/wal-auto\n"
             "workers = 2\npersist-ms = 50\nclock = event\nstats-s = 0\nlog-level = error\n",
             port, db, tmpdir);
    kl_service_t *svc = start_service(&cfg, text);
    static ref_t rx, ry;
    ref_init(&rx, "XUSDT", &cfg);
    ref_init(&ry, "YUSDT", &cfg);
    list_is(svc, "");
    feed_t f = {.fd = connect_client(port), .next_id = {1, 1}};
    kl_store_t *st = open_store(db);
    send_run(&f, 0, "XUSDT", 200, T0 + 10, 900, 42000000000LL, &rx);
    send_run(&f, 1, "YUSDT", 100, T0 + 20, 1700, 300000000, &ry);
    assert_int_equal(wait_store_trades(st, "XUSDT", 200), 200);
    assert_int_equal(wait_store_trades(st, "YUSDT", 100), 100);
    list_is(svc, "XUSDT,YUSDT,");
    /* The admin API still works on an unrestricted service. */
    assert_int_equal(kl_service_add_symbol(svc, "ZUSDT"), 0);
    list_is(svc, "XUSDT,YUSDT,ZUSDT,");
    close(f.fd);
    assert_int_equal(kl_service_stop(svc), 0);
    char symbols[256];
    store_symbols(st, symbols);
    assert_string_equal(symbols, "XUSDT,YUSDT,"); /* Z had no trade: no kline */
    ref_finish(&rx);
    ref_finish(&ry);
    compare_with_store(st, &rx);
    compare_with_store(st, &ry);
    ref_free(&rx);
    ref_free(&ry);
    kl_store_close(st);
    kl_config_free(&cfg);
}

/* ---- removal and re-add: the klines continue (SPEC §1 "Continuity", §2) ------------------- */

static int
state_parked_cb(void *ctx, const char *symbol, const void *blob, size_t len)
{
    (void)symbol;
    *(int *)ctx = kl_series_state_parked(blob, len);
    return 0;
}

/* 1 when the store holds symbol's engine state marked parked (removed), 0 when unmarked, -1
 * when it holds none. */
static int
store_state_parked(kl_store_t *st, const char *symbol)
{
    int parked = -1;
    int rc = kl_store_state(st, symbol, state_parked_cb, &parked);
    assert_true(rc == 0 || rc == 1);
    return rc == 1 ? -1 : parked;
}

static void
wait_state_parked(kl_store_t *st, const char *symbol, int want)
{
    int got = -2;
    for (int waited = 0; waited < WAIT_MS; waited += POLL_MS) {
        if ((got = store_state_parked(st, symbol)) == want)
            return;
        sleep_ms(POLL_MS);
    }
    fail_msg("%s: stored state parked=%d, want %d", symbol, got, want);
}

static int
is_listed(kl_service_t *svc, const char *name)
{
    kl_syminfo_t l[16];
    size_t n = kl_service_list_symbols(svc, l, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (strcmp(l[i].name, name) == 0)
            return 1;
    return 0;
}

static void
wait_listed(kl_service_t *svc, const char *name)
{
    for (int waited = 0; waited < WAIT_MS; waited += POLL_MS) {
        if (is_listed(svc, name))
            return;
        sleep_ms(POLL_MS);
    }
    fail_msg("%s is not served", name);
}

/* A worker counter summed over the workers (offset of the field in kl_worker_stats_t). */
static uint64_t
worker_sum(kl_service_t *svc, size_t off)
{
    kl_service_view_t v;
    kl_service_view(svc, &v);
    uint64_t sum = 0;
    for (int i = 0; i < v.n_workers; i++) {
        kl_worker_stats_t w;
        kl_worker_stats(v.workers[i], &w);
        sum += *(const uint64_t *)(const void *)((const char *)&w + off);
    }
    return sum;
}

static int
wait_worker_sum(kl_service_t *svc, size_t off, uint64_t want)
{
    for (int waited = 0; waited < WAIT_MS; waited += POLL_MS) {
        if (worker_sum(svc, off) == want)
            return 1;
        sleep_ms(POLL_MS);
    }
    return 0;
}

/* The day's 1d kline: one row, still open, with the trades before and after the removal. */
static void
day_is_open_with(kl_store_t *st, const char *symbol, int64_t trades, const ref_t *r)
{
    klist_t d;
    store_read(st, symbol, KL_IV_1D, &d);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.k[0].open_time, T0);
    assert_int_equal(d.final[0], 0);
    assert_int_equal(d.k[0].trades, trades);
    assert_true(d.k[0].volume == r->iv[KL_IV_1D].k[0].volume);
    klist_free(&d);
}

#define READD_CFG                                                                                \
    "source = lines:tcp://127.0.0.1:%u\nstore = sqlite:%s\nwal-dir = %s/%s\nworkers = %d\n"      \
    "persist-ms = %d\nclock = event\nstats-s = 0\nintervals = 1m,1h,1d\nlog-level = error\n%s"

/* Without a symbol list, removing X keeps its klines as they are and a later X trade is refused
 * (the removal stays in force until an explicit add): nothing of X changes in the store, and
 * its stored state is marked parked for a re-add. */
static void
removed_symbol_klines_stay_as_they_were(void **state)
{
    (void)state;
    kl_config_t cfg;
    char text[1024], db[128];
    snprintf(db, sizeof db, "%s/auto2.db", tmpdir);
    uint16_t port = free_port();
    snprintf(text, sizeof text, READD_CFG, port, db, tmpdir, "wal-removal", 1, 50, "");
    kl_service_t *svc = start_service(&cfg, text);
    static ref_t rx;
    ref_init(&rx, "XUSDT", &cfg);
    feed_t f = {.fd = connect_client(port), .next_id = {1, 1}};
    kl_store_t *st = open_store(db);
    send_run(&f, 0, "XUSDT", 100, T0 + 10, 1000, 42000000000LL, &rx); /* 00:00:00 .. 00:01:39 */
    assert_int_equal(wait_store_trades(st, "XUSDT", 100), 100);
    assert_int_equal(kl_service_remove_symbol(svc, "XUSDT"), 0);
    wait_state_parked(st, "XUSDT", 1);
    ref_finish(&rx);
    compare_with_store(st, &rx); /* the 00:01 1m, the 00:00 1h and the day's 1d stay open */
    /* One more X trade inside the same minute and hour, then Y as a marker behind it. */
    send_trade(&f, 0, "XUSDT", T0 + 100500, 41000000000LL, 5000000, 0, NULL);
    send_run(&f, 1, "YUSDT", 3, T0 + 200000, 1000, 300000000, NULL);
    assert_int_equal(wait_store_trades(st, "YUSDT", 3), 3);
    close(f.fd);
    assert_int_equal(kl_service_stop(svc), 0);
    compare_with_store(st, &rx);
    assert_int_equal(store_state_parked(st, "XUSDT"), 1);
    ref_free(&rx);
    kl_store_close(st);
    kl_config_free(&cfg);
}

/* Remove X after trades, re-add it the same day, trade again: the day's kline holds both, never
 * final, and the removal wrote no final row (the reported bug: volume 8 from 2 trades became 1
 * from 1, and the old kline was stored final before its close). parked-symbols decides where
 * the series comes back from: the worker's memory (64), or the store once the worker freed the
 * parked series (0). */
static void
readd_continues(const char *tag, int parked_max)
{
    kl_config_t cfg;
    char text[1024], db[128], wal[32], extra[64];
    snprintf(db, sizeof db, "%s/%s.db", tmpdir, tag);
    snprintf(wal, sizeof wal, "wal-%s", tag);
    snprintf(extra, sizeof extra, "parked-symbols = %d\n", parked_max);
    uint16_t port = free_port();
    snprintf(text, sizeof text, READD_CFG, port, db, tmpdir, wal, 2, 50, extra);
    kl_service_t *svc = start_service(&cfg, text);
    static ref_t rx, ry;
    ref_init(&rx, "XUSDT", &cfg);
    ref_init(&ry, "YUSDT", &cfg);
    feed_t f = {.fd = connect_client(port), .next_id = {1, 1}};
    kl_store_t *st = open_store(db);
    send_run(&f, 0, "XUSDT", 100, T0 + 10, 1000, 42000000000LL, &rx); /* 00:00:00 .. 00:01:39 */
    send_run(&f, 1, "YUSDT", 40, T0 + 20, 1500, 300000000, &ry);
    assert_int_equal(wait_store_trades(st, "XUSDT", 100), 100);
    assert_int_equal(wait_store_trades(st, "YUSDT", 40), 40);

    assert_int_equal(kl_service_remove_symbol(svc, "XUSDT"), 0);
    wait_state_parked(st, "XUSDT", 1);
    ref_finish(&rx);
    compare_with_store(st, &rx); /* removal finalized nothing, changed nothing */
    /* X trades while removed are refused; Y behind them on the same connection. */
    send_run(&f, 0, "XUSDT", 20, T0 + 101000, 100, 43000000000LL, NULL);
    send_run(&f, 1, "YUSDT", 10, T0 + 200000, 1000, 300000000, &ry);
    assert_int_equal(wait_store_trades(st, "YUSDT", 50), 50);
    assert_int_equal(store_trades(st, "XUSDT"), 100);

    if (parked_max == 0) {
        /* Once the removal's checkpoint committed, the worker keeps no parked series: the
         * re-add reads the stored state, off the API and worker threads. */
        assert_true(wait_worker_sum(svc, offsetof(kl_worker_stats_t, parked_symbols), 0));
        assert_int_equal(kl_service_add_symbol(svc, "XUSDT"), KL_SERVICE_ADD_PENDING);
        wait_listed(svc, "XUSDT");
    } else {
        assert_int_equal(worker_sum(svc, offsetof(kl_worker_stats_t, parked_symbols)), 1);
        assert_int_equal(kl_service_add_symbol(svc, "XUSDT"), 0);
        assert_true(is_listed(svc, "XUSDT"));
    }
    assert_int_equal(kl_service_add_symbol(svc, "XUSDT"), KL_EARG);
    /* Later the same day: 02:00. */
    send_run(&f, 0, "XUSDT", 80, T0 + 7200000, 1000, 44000000000LL, &rx);
    assert_int_equal(wait_store_trades(st, "XUSDT", 180), 180);
    assert_true(wait_worker_sum(svc, offsetof(kl_worker_stats_t, parked_symbols), 0));
    close(f.fd);
    assert_int_equal(kl_service_stop(svc), 0);
    ref_finish(&rx);
    ref_finish(&ry);
    compare_with_store(st, &rx);
    compare_with_store(st, &ry);
    day_is_open_with(st, "XUSDT", 180, &rx);
    assert_int_equal(store_state_parked(st, "XUSDT"), 0); /* served again: not marked removed */
    ref_free(&rx);
    ref_free(&ry);
    kl_store_close(st);
    kl_config_free(&cfg);
}

static void
readd_resumes_the_parked_series(void **state)
{
    (void)state;
    readd_continues("readd-mem", 64);
}

static void
readd_resumes_from_the_store_once_the_parked_series_is_freed(void **state)
{
    (void)state;
    readd_continues("readd-store", 0);
}

/* A clean stop between the removal and the re-add: the restarted service keeps X removed (not
 * listed, its trades refused) and a re-add resumes its stored series. */
static void
readd_after_a_restart_resumes_from_the_store(void **state)
{
    (void)state;
    kl_config_t cfg;
    char text[1024], db[128];
    snprintf(db, sizeof db, "%s/restart.db", tmpdir);
    uint16_t port = free_port();
    snprintf(text, sizeof text, READD_CFG, port, db, tmpdir, "wal-restart", 2, 50, "");
    kl_service_t *svc = start_service(&cfg, text);
    static ref_t rx, ry;
    ref_init(&rx, "XUSDT", &cfg);
    ref_init(&ry, "YUSDT", &cfg);
    feed_t f = {.fd = connect_client(port), .next_id = {1, 1}};
    kl_store_t *st = open_store(db);
    send_run(&f, 0, "XUSDT", 100, T0 + 10, 1000, 42000000000LL, &rx);
    send_run(&f, 1, "YUSDT", 40, T0 + 20, 1500, 300000000, &ry);
    assert_int_equal(wait_store_trades(st, "XUSDT", 100), 100);
    assert_int_equal(wait_store_trades(st, "YUSDT", 40), 40);
    assert_int_equal(kl_service_remove_symbol(svc, "XUSDT"), 0);
    close(f.fd);
    assert_int_equal(kl_service_stop(svc), 0);
    kl_config_free(&cfg);
    assert_int_equal(store_state_parked(st, "XUSDT"), 1);

    port = free_port();
    snprintf(text, sizeof text, READD_CFG, port, db, tmpdir, "wal-restart", 2, 50, "");
    svc = start_service(&cfg, text);
    list_is(svc, "YUSDT,");
    f.fd = connect_client(port);
    send_run(&f, 0, "XUSDT", 20, T0 + 101000, 100, 43000000000LL, NULL); /* refused */
    send_run(&f, 1, "YUSDT", 10, T0 + 200000, 1000, 300000000, &ry);
    assert_int_equal(wait_store_trades(st, "YUSDT", 50), 50);
    assert_int_equal(store_trades(st, "XUSDT"), 100);
    assert_int_equal(kl_service_add_symbol(svc, "XUSDT"), KL_SERVICE_ADD_PENDING);
    wait_listed(svc, "XUSDT");
    send_run(&f, 0, "XUSDT", 80, T0 + 7200000, 1000, 44000000000LL, &rx);
    assert_int_equal(wait_store_trades(st, "XUSDT", 180), 180);
    close(f.fd);
    assert_int_equal(kl_service_stop(svc), 0);
    ref_finish(&rx);
    ref_finish(&ry);
    compare_with_store(st, &rx);
    compare_with_store(st, &ry);
    day_is_open_with(st, "XUSDT", 180, &rx);
    ref_free(&rx);
    ref_free(&ry);
    kl_store_close(st);
    kl_config_free(&cfg);
}

/* The child of the crash test: trades, remove X (its checkpoint commits), re-add X, more X
 * trades that only the WAL holds, then an exit without a stop. No cmocka calls here: an
 * assertion would unwind into the child's copy of the test runner. Returns the exit status. */
static int
crash_child(const char *text, uint16_t port, const char *db)
{
    kl_config_t cfg;
    char err[1024] = "";
    kl_config_defaults(&cfg);
    if (kl_config_load_text(&cfg, text, "test.ini", err, sizeof err) != 0)
        return 2;
    cfg.listen_port = 0;
    kl_service_t *svc = NULL;
    if (kl_service_start(&cfg, &svc, err, sizeof err) != 0)
        return 3;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = -1;
    for (int waited = 0; waited < WAIT_MS && fd < 0; waited += POLL_MS) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(fd);
            fd = -1;
            sleep_ms(POLL_MS);
        }
    }
    if (fd < 0)
        return 4;
    feed_t f = {.fd = fd, .next_id = {1, 1}};
    send_run(&f, 0, "XUSDT", 100, T0 + 10, 1000, 42000000000LL, NULL);
    send_run(&f, 1, "YUSDT", 40, T0 + 20, 1500, 300000000, NULL);
    size_t applied = offsetof(kl_worker_stats_t, applied);
    if (!wait_worker_sum(svc, applied, 140))
        return 5;
    if (kl_service_remove_symbol(svc, "XUSDT") != 0)
        return 6;
    char url[256];
    snprintf(url, sizeof url, "sqlite:%s", db);
    kl_store_t *st = NULL;
    if (kl_store_open(url, &st, err, sizeof err) != 0)
        return 7;
    int parked = -1;
    for (int waited = 0; waited < WAIT_MS && parked != 1; waited += POLL_MS) {
        if (kl_store_state(st, "XUSDT", state_parked_cb, &parked) < 0)
            return 8;
        sleep_ms(POLL_MS);
    }
    kl_store_close(st);
    if (parked != 1)
        return 9;
    if (kl_service_add_symbol(svc, "XUSDT") != 0) /* from memory: still parked here */
        return 10;
    send_run(&f, 0, "XUSDT", 50, T0 + 3600000, 1000, 43000000000LL, NULL); /* 01:00 */
    if (!wait_worker_sum(svc, applied, 190))
        return 11;
    return 0; /* the crash: no stop, no final checkpoint */
}

/* A crash after remove, re-add and more trades: the checkpoint holds X's parked state, the WAL
 * the re-add and the trades after it. Recovery resumes X from the store and replays them, and
 * trades after the restart continue the same day's klines. */
static void
wal_recovery_resumes_a_readded_symbol(void **state)
{
    (void)state;
    char text[1024], db[128];
    snprintf(db, sizeof db, "%s/crash.db", tmpdir);
    uint16_t port = free_port();
    /* No periodic snapshot: only the removal checkpoints. */
    snprintf(text, sizeof text, READD_CFG, port, db, tmpdir, "wal-crash", 2, 60000, "");
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(crash_child(text, port, db));
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), 0);
    kl_store_t *st = open_store(db);
    /* The removal's checkpoint holds X parked: recovery must resume X from the store. */
    assert_int_equal(store_state_parked(st, "XUSDT"), 1);
    assert_int_equal(store_trades(st, "XUSDT"), 100);

    kl_config_t cfg;
    port = free_port();
    snprintf(text, sizeof text, READD_CFG, port, db, tmpdir, "wal-crash", 2, 50, "");
    kl_service_t *svc = start_service(&cfg, text);
    static ref_t rx, ry;
    ref_init(&rx, "XUSDT", &cfg);
    ref_init(&ry, "YUSDT", &cfg);
    feed_t dry = {.fd = -1, .next_id = {1, 1}}; /* what the child sent */
    send_run(&dry, 0, "XUSDT", 100, T0 + 10, 1000, 42000000000LL, &rx);
    send_run(&dry, 1, "YUSDT", 40, T0 + 20, 1500, 300000000, &ry);
    send_run(&dry, 0, "XUSDT", 50, T0 + 3600000, 1000, 43000000000LL, &rx);
    list_is(svc, "XUSDT,YUSDT,");
    feed_t f = {.fd = connect_client(port), .next_id = {dry.next_id[0], dry.next_id[1]}};
    send_run(&f, 0, "XUSDT", 30, T0 + 7200000, 1000, 44000000000LL, &rx); /* 02:00 */
    assert_int_equal(wait_store_trades(st, "XUSDT", 180), 180);
    close(f.fd);
    assert_int_equal(kl_service_stop(svc), 0);
    ref_finish(&rx);
    ref_finish(&ry);
    compare_with_store(st, &rx);
    compare_with_store(st, &ry);
    day_is_open_with(st, "XUSDT", 180, &rx);
    ref_free(&rx);
    ref_free(&ry);
    kl_store_close(st);
    kl_config_free(&cfg);
}

static void
wal_put(kl_wal_t *w, int type, const char *name, const kl_trade_t *t)
{
    kl_walrec_t r;
    memset(&r, 0, sizeof r);
    r.type = type;
    snprintf(r.name, sizeof r.name, "%s", name);
    r.unit_per_ms = 1;
    if (t)
        r.trade = *t;
    uint8_t buf[KL_WALREC_MAX];
    size_t len = kl_walrec_encode(&r, buf);
    assert_true(len > 0);
    uint64_t seq;
    assert_int_equal(kl_wal_append(w, (uint16_t)type, buf, (uint32_t)len, &seq), 0);
}

/* n trades of a hand-written log, the reference's too (the ids continue *id). */
static void
wal_trades(kl_wal_t *w, const char *name, int n, int64_t ts0, int64_t *id, ref_t *r)
{
    for (int i = 0; i < n; i++, (*id)++) {
        kl_trade_t t = {.ts = ts0 + i * 1000, .id = *id, .first_id = *id, .last_id = *id,
                        .price = 42000000000LL + (i % 5) * 1000000, .qty = 100000 + i,
                        .buyer_maker = (uint8_t)(i & 1)};
        ref_apply(r, &t);
        wal_put(w, KL_WALREC_TRADE, name, &t);
    }
}

static int
max_seq(void *ctx, uint64_t seq, uint16_t type, const void *payload, uint32_t len)
{
    (void)type;
    (void)payload;
    (void)len;
    *(uint64_t *)ctx = seq;
    return 0;
}

/* Recovery of a log holding: X trades, REMOVE X, ADD X, X trades (the re-add resumed from the
 * series the replayed removal parked), and Z trades, REMOVE Z (re-added by admin after the
 * start: from the series recovery parked). Nothing of it was checkpointed. */
static void
wal_recovery_replays_remove_and_readd(void **state)
{
    (void)state;
    kl_config_t cfg;
    char text[1024], db[128], waldir[128];
    snprintf(db, sizeof db, "%s/handwal.db", tmpdir);
    snprintf(waldir, sizeof waldir, "%s/wal-hand", tmpdir);
    uint16_t port = free_port();
    snprintf(text, sizeof text, READD_CFG, port, db, tmpdir, "wal-hand", 1, 50, "");
    /* A first start gives the store and the WAL directory their id. */
    kl_service_t *svc = start_service(&cfg, text);
    assert_int_equal(kl_service_stop(svc), 0);
    kl_config_free(&cfg);
    uint64_t last = 0;
    assert_int_equal(kl_wal_scan(waldir, 0, 0, 0, max_seq, &last, NULL), 0);

    static ref_t rx, rz;
    kl_config_defaults(&cfg);
    cfg.intervals = (1u << KL_IV_1M) | (1u << KL_IV_1H) | (1u << KL_IV_1D);
    ref_init(&rx, "XUSDT", &cfg);
    ref_init(&rz, "ZUSDT", &cfg);
    kl_wal_cfg_t wc = {.fsync = KL_WAL_FSYNC_NO, .segment_bytes = 1u << 20};
    kl_wal_t *w = NULL;
    assert_int_equal(kl_wal_open(waldir, 0, &wc, last + 1, &w), 0);
    int64_t xid = 1, zid = 1;
    wal_trades(w, "XUSDT", 100, T0 + 10, &xid, &rx);
    wal_trades(w, "ZUSDT", 30, T0 + 500, &zid, &rz);
    wal_put(w, KL_WALREC_REMOVE, "XUSDT", NULL);
    wal_put(w, KL_WALREC_REMOVE, "ZUSDT", NULL);
    wal_put(w, KL_WALREC_ADD, "XUSDT", NULL);
    wal_trades(w, "XUSDT", 50, T0 + 3600000, &xid, &rx);
    assert_int_equal(kl_wal_commit(w), 0);
    assert_int_equal(kl_wal_close(w), 0);

    port = free_port();
    snprintf(text, sizeof text, READD_CFG, port, db, tmpdir, "wal-hand", 1, 50, "");
    svc = start_service(&cfg, text);
    list_is(svc, "XUSDT,");
    kl_store_t *st = open_store(db);
    assert_int_equal(store_trades(st, "XUSDT"), 150); /* recovery checkpointed it */
    assert_int_equal(store_state_parked(st, "ZUSDT"), 1);
    assert_int_equal(kl_service_add_symbol(svc, "ZUSDT"), 0); /* parked by the replayed REMOVE */
    wait_listed(svc, "ZUSDT");
    feed_t f = {.fd = connect_client(port), .next_id = {xid, zid}};
    send_run(&f, 0, "XUSDT", 30, T0 + 7200000, 1000, 44000000000LL, &rx);
    send_run(&f, 1, "ZUSDT", 20, T0 + 7300000, 1000, 700000000, &rz);
    assert_int_equal(wait_store_trades(st, "XUSDT", 180), 180);
    assert_int_equal(wait_store_trades(st, "ZUSDT", 50), 50);
    close(f.fd);
    assert_int_equal(kl_service_stop(svc), 0);
    ref_finish(&rx);
    ref_finish(&rz);
    compare_with_store(st, &rx);
    compare_with_store(st, &rz);
    day_is_open_with(st, "XUSDT", 180, &rx);
    day_is_open_with(st, "ZUSDT", 50, &rz);
    ref_free(&rx);
    ref_free(&rz);
    kl_store_close(st);
    kl_config_free(&cfg);
}

/* Wall clock: an interval that ends while its symbol is removed is not finalized then (no tick
 * reaches a removed symbol), and becomes final at the first tick after the re-add. */
static void
interval_ended_while_removed_closes_at_the_next_tick(void **state)
{
    (void)state;
    kl_config_t cfg;
    char text[1024], db[128];
    snprintf(db, sizeof db, "%s/wall.db", tmpdir);
    uint16_t port = free_port();
    snprintf(text, sizeof text,
             "source = lines:tcp://127.0.0.1:%u\nstore = sqlite:%s\nwal-dir = %s/wal-wall\n"
             "workers = 1\npersist-ms = 50\nclock = wall\nstats-s = 0\nintervals = 1s,1m\n"
             "log-level = error\n",
             port, db, tmpdir);
    kl_service_t *svc = start_service(&cfg, text);
    feed_t f = {.fd = connect_client(port), .next_id = {1}};
    kl_store_t *st = open_store(db);
    /* Three trades in a second that starts 3 s from now: open until after the removal. */
    int64_t t0 = (kl_now_ms() / 1000 + 3) * 1000;
    for (int i = 0; i < 3; i++)
        send_trade(&f, 0, "XUSDT", t0 + 100 + i, 42000000000LL + i, 1000000, 0, NULL);
    klist_t l;
    int64_t n = -1;
    for (int waited = 0; waited < WAIT_MS && n != 3; waited += POLL_MS) {
        store_read(st, "XUSDT", KL_IV_1S, &l);
        n = l.n == 1 ? l.k[0].trades : -1;
        klist_free(&l);
        sleep_ms(POLL_MS);
    }
    assert_int_equal(n, 3);
    assert_int_equal(kl_service_remove_symbol(svc, "XUSDT"), 0);
    wait_state_parked(st, "XUSDT", 1);
    while (kl_now_ms() < t0 + 2500) /* the second ends, ticks pass while X is removed */
        sleep_ms(POLL_MS);
    store_read(st, "XUSDT", KL_IV_1S, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.k[0].open_time, t0);
    assert_int_equal(l.final[0], 0);
    klist_free(&l);
    assert_int_equal(kl_service_add_symbol(svc, "XUSDT"), 0);
    int final = 0;
    for (int waited = 0; waited < WAIT_MS && !final; waited += POLL_MS) {
        store_read(st, "XUSDT", KL_IV_1S, &l);
        assert_true(l.n >= 1);
        assert_int_equal(l.k[0].open_time, t0);
        assert_int_equal(l.k[0].trades, 3);
        final = l.final[0];
        klist_free(&l);
        if (!final)
            sleep_ms(POLL_MS);
    }
    assert_true(final);
    close(f.fd);
    assert_int_equal(kl_service_stop(svc), 0);
    kl_store_close(st);
    kl_config_free(&cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replay_matches_single_threaded_reference),
        cmocka_unit_test(configured_symbols_add_and_remove_at_runtime),
        cmocka_unit_test(unlisted_symbols_are_added_automatically),
        cmocka_unit_test(removed_symbol_klines_stay_as_they_were),
        cmocka_unit_test(readd_resumes_the_parked_series),
        cmocka_unit_test(readd_resumes_from_the_store_once_the_parked_series_is_freed),
        cmocka_unit_test(readd_after_a_restart_resumes_from_the_store),
        cmocka_unit_test(wal_recovery_resumes_a_readded_symbol),
        cmocka_unit_test(wal_recovery_replays_remove_and_readd),
        cmocka_unit_test(interval_ended_while_removed_closes_at_the_next_tick),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
