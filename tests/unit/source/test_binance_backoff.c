/* Tests of the pure parts of the live Binance source (source/binance.h), none of which touches
 * the network or sleeps: the full-jitter reconnect backoff driven by an injected random source
 * (exact bounds at each attempt, the cap, no overflow at huge attempts), the URL split, the REST
 * aggTrades page parser (Binance's documented example answer, errors, skipped bad elements), and
 * the connection budget (Binance's 300 new connections per 5 minutes, a sliding window driven by
 * an injected clock), the per-symbol gap filler that hands over from REST backfill to the live stream: hand-made
 * scenarios for every branch, then a randomized run of disconnects, REST lag and buffer
 * overflows that must route every id exactly once and in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kl/err.h"
#include "source/binance.h"

/* ---- connection budget ------------------------------------------------------------------- */

/* A small window first, so every edge is visible: 3 starts per 1000 ms. */
static void
budget_small(void **state)
{
    (void)state;
    kl_binance_budget_t bg;
    kl_binance_budget_init(&bg, 3, 1000);
    assert_int_equal(kl_binance_budget_take(&bg, 100), 0);
    assert_int_equal(kl_binance_budget_take(&bg, 200), 0);
    assert_int_equal(kl_binance_budget_take(&bg, 200), 0);
    /* spent: the oldest (100) leaves at 1100 */
    assert_int_equal(kl_binance_budget_take(&bg, 250), 850);
    assert_int_equal(kl_binance_budget_take(&bg, 1099), 1);
    assert_int_equal(bg.n, 3); /* a refusal records nothing */
    assert_int_equal(kl_binance_budget_take(&bg, 1100), 0);
    /* now 200, 200, 1100: the next slot frees at 1200, both 200s at once */
    assert_int_equal(kl_binance_budget_take(&bg, 1150), 50);
    assert_int_equal(kl_binance_budget_take(&bg, 1200), 0);
    assert_int_equal(kl_binance_budget_take(&bg, 1200), 0);
    assert_int_equal(kl_binance_budget_take(&bg, 1200), 1100 + 1000 - 1200);
    /* a long quiet spell empties the window entirely */
    assert_int_equal(kl_binance_budget_take(&bg, 10000), 0);
    assert_int_equal(bg.n, 1);
    assert_int_equal(kl_binance_budget_take(&bg, 10000), 0);
    assert_int_equal(kl_binance_budget_take(&bg, 10000), 0);
    assert_int_equal(kl_binance_budget_take(&bg, 10000), 1000);

    /* bounds: max clamped to 1..KL_BINANCE_CONN_BUDGET, window to > 0 */
    kl_binance_budget_init(&bg, 0, 0);
    assert_int_equal(bg.max, 1);
    assert_int_equal(bg.window_ms, 1);
    kl_binance_budget_init(&bg, 100000, 5);
    assert_int_equal(bg.max, KL_BINANCE_CONN_BUDGET);
}

/* Binance's real budget over a reconnect storm: a start every 100 ms wants 3000 per 5 minutes;
 * the budget lets 300 through in the first window and then one per freed slot, so no 5-minute
 * window ever holds more than 300 starts (checked over every window ending at a start), and the
 * ring wraps many times on the way. */
static void
budget_binance_storm(void **state)
{
    (void)state;
    kl_binance_budget_t bg;
    kl_binance_budget_init(&bg, KL_BINANCE_CONN_BUDGET, KL_BINANCE_CONN_WINDOW_MS);
    enum { N = 2000 };
    static int64_t started[N];
    size_t n = 0;
    int64_t now = 0;
    uint64_t waits = 0;
    while (n < N) {
        int64_t w = kl_binance_budget_take(&bg, now);
        if (w == 0) {
            started[n++] = now;
            now += 100;
        } else {
            assert_true(w > 0 && w <= KL_BINANCE_CONN_WINDOW_MS);
            waits++;
            now += w; /* the caller sleeps exactly as long as told */
        }
    }
    assert_true(waits > 0);
    assert_int_equal(started[299], 29900);                       /* the first 300 go at once */
    assert_int_equal(started[300], KL_BINANCE_CONN_WINDOW_MS);   /* then the 301st waits */
    for (size_t i = 300; i < N; i++) /* never 301 starts inside one window */
        assert_true(started[i] - started[i - 300] >= KL_BINANCE_CONN_WINDOW_MS);
    /* and the budget does not hold back more than it must: each start waited only for its slot */
    for (size_t i = 300; i < N; i++) {
        int64_t earliest = started[i - 1] + 100;
        int64_t slot = started[i - 300] + KL_BINANCE_CONN_WINDOW_MS;
        assert_int_equal(started[i], earliest > slot ? earliest : slot);
    }
}

/* ---- backoff ------------------------------------------------------------------------------ */

static uint64_t
fixed_rand(void *ctx)
{
    return *(const uint64_t *)ctx;
}

static int64_t
bo(unsigned attempt, uint64_t r)
{
    return kl_binance_backoff_ms(attempt, KL_BINANCE_BACKOFF_BASE_MS, KL_BINANCE_BACKOFF_CAP_MS,
                                 fixed_rand, &r);
}

static void
backoff_bounds(void **state)
{
    (void)state;
    /* The draw is r mod (ceiling + 1): r = ceiling gives the ceiling itself, ceiling + 1 wraps
     * to 0, which pins the ceiling of each attempt exactly. */
    static const int64_t ceiling[] = {250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
    for (unsigned a = 0; a < sizeof ceiling / sizeof ceiling[0]; a++) {
        assert_int_equal(bo(a, (uint64_t)ceiling[a]), ceiling[a]);
        assert_int_equal(bo(a, (uint64_t)ceiling[a] + 1), 0);
        assert_int_equal(bo(a, 0), 0); /* full jitter: an immediate retry is possible */
        assert_int_equal(bo(a, 123), 123);
    }
    /* Huge attempts stay at the cap and never overflow. */
    assert_int_equal(bo(64, 30000), 30000);
    assert_int_equal(bo(1000, 30001), 0);
    assert_int_equal(bo(~0u, UINT64_MAX), (int64_t)(UINT64_MAX % 30001));
    uint64_t r = 77;
    assert_int_equal(kl_binance_backoff_ms(3, 0, 1000, fixed_rand, &r), 0);
    assert_int_equal(kl_binance_backoff_ms(3, 100, 0, fixed_rand, &r), 0);
    /* A base above the cap is clamped to the cap from the first attempt. */
    assert_int_equal(kl_binance_backoff_ms(0, 5000, 1000, fixed_rand, &r), 77);
    r = 1000;
    assert_int_equal(kl_binance_backoff_ms(0, 5000, 1000, fixed_rand, &r), 1000);
    r = 1001;
    assert_int_equal(kl_binance_backoff_ms(0, 5000, 1000, fixed_rand, &r), 0);
    /* A cap that is not a power-of-two multiple of the base. */
    r = 700;
    assert_int_equal(kl_binance_backoff_ms(5, 100, 700, fixed_rand, &r), 700);
}

static void
backoff_real_generator(void **state)
{
    (void)state;
    uint64_t s1 = 42, s2 = 42;
    for (int i = 0; i < 100; i++)
        assert_true(kl_binance_rand(&s1) == kl_binance_rand(&s2)); /* reproducible */
    uint64_t s = 1, first = kl_binance_rand(&s), second = kl_binance_rand(&s);
    assert_true(first != second);
    /* 4000 draws at attempt 3 (ceiling 2000) cover the range and never leave it. */
    int64_t lo = INT64_MAX, hi = -1;
    int quarter[4] = {0};
    for (int i = 0; i < 4000; i++) {
        int64_t d = kl_binance_backoff_ms(3, 250, 30000, kl_binance_rand, &s);
        assert_true(d >= 0 && d <= 2000);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        quarter[d * 4 / 2001]++;
        assert_true(s != 0);
    }
    assert_true(lo < 50);
    assert_true(hi > 1950);
    for (int q = 0; q < 4; q++)
        assert_true(quarter[q] > 700 && quarter[q] < 1300);
}

/* ---- URLs -------------------------------------------------------------------------------- */

static void
url_parse(void **state)
{
    (void)state;
    kl_binance_url_t u;
    assert_int_equal(kl_binance_url_parse("wss://stream.binance.com:9443", &u), 0);
    assert_int_equal(u.tls, 1);
    assert_string_equal(u.host, "stream.binance.com");
    assert_int_equal(u.port, 9443);
    assert_string_equal(u.prefix, "");
    assert_int_equal(kl_binance_url_parse("https://api.binance.com", &u), 0);
    assert_int_equal(u.tls, 1);
    assert_int_equal(u.port, 443);
    assert_int_equal(kl_binance_url_parse("ws://127.0.0.1:18555/", &u), 0);
    assert_int_equal(u.tls, 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 18555);
    assert_string_equal(u.prefix, "");
    assert_int_equal(kl_binance_url_parse("http://localhost/base/v1//", &u), 0);
    assert_int_equal(u.port, 80);
    assert_string_equal(u.prefix, "/base/v1");
    assert_int_equal(kl_binance_url_parse("ws://[::1]:9000/x", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 9000);
    assert_string_equal(u.prefix, "/x");

    static const char *bad[] = {
        "ftp://host", "ws://", "ws:///path", "ws://h:0", "ws://h:65536", "ws://h:abc",
        "ws://h:80x", "ws://h?streams=a", "ws://h/p#frag", "wss://user@h", "ws://[::1",
        "ws://h:1234567", "WS://h", "ws://h p",
    };
    memset(&u, 0x5a, sizeof u);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(kl_binance_url_parse(bad[i], &u), KL_EARG);
        assert_int_equal((unsigned char)u.host[0], 0x5a); /* untouched on error */
    }
    assert_int_equal(kl_binance_url_parse(NULL, &u), KL_EARG);
}

/* ---- REST page --------------------------------------------------------------------------- */

static void
page_parse(void **state)
{
    (void)state;
    kl_trade_t t[4];
    size_t n = 99, nb = 99;
    /* The example answer of GET /api/v3/aggTrades in Binance's rest-api.md. */
    const char *doc = "[\n  {\n    \"a\": 26129,\n    \"p\": \"0.01633102\",\n    \"q\": "
                      "\"4.70443515\",\n    \"f\": 27781,\n    \"l\": 27781,\n    \"T\": "
                      "1498793709153,\n    \"m\": true,\n    \"M\": true\n  }\n]";
    assert_int_equal(kl_binance_parse_page(doc, strlen(doc), "BNBBTC", t, 4, &n, &nb), 0);
    assert_int_equal(n, 1);
    assert_int_equal(nb, 0);
    assert_int_equal(t[0].id, 26129);
    assert_int_equal(t[0].price, 1633102);
    assert_int_equal(t[0].qty, 470443515);
    assert_int_equal(t[0].first_id, 27781);
    assert_int_equal(t[0].last_id, 27781);
    assert_int_equal(t[0].ts, 1498793709153);
    assert_int_equal(t[0].buyer_maker, 1);

    const char *two = " [{\"a\":5,\"p\":\"1.5\",\"q\":\"2\",\"f\":10,\"l\":12,\"T\":1000,\"m\":false,"
                      "\"M\":true,\"x\":\"}{][\"},{\"a\":6,\"p\":\"1.25\",\"q\":\"0.5\",\"f\":13,"
                      "\"l\":13,\"T\":1001,\"m\":true,\"M\":true}] \r\n";
    assert_int_equal(kl_binance_parse_page(two, strlen(two), "AAAUSDT", t, 4, &n, &nb), 0);
    assert_int_equal(n, 2);
    assert_int_equal(t[0].id, 5);
    assert_int_equal(t[0].last_id, 12);
    assert_int_equal(t[0].buyer_maker, 0);
    assert_int_equal(t[1].id, 6);
    assert_int_equal(t[1].price, 125000000);
    assert_int_equal(t[1].qty, 50000000);

    assert_int_equal(kl_binance_parse_page(" [ ] ", 5, "AAAUSDT", t, 4, &n, &nb), 0);
    assert_int_equal(n, 0);
    assert_int_equal(nb, 0);

    /* A bad element (number price, zero qty, l < f) is skipped and counted; the others stay. */
    const char *mixed = "[{\"a\":1,\"p\":1.5,\"q\":\"2\",\"f\":1,\"l\":1,\"T\":1,\"m\":true},"
                        "{\"a\":2,\"p\":\"1.5\",\"q\":\"0\",\"f\":2,\"l\":2,\"T\":1,\"m\":true},"
                        "{\"a\":3,\"p\":\"1.5\",\"q\":\"2\",\"f\":4,\"l\":3,\"T\":1,\"m\":true},"
                        "{},"
                        "{\"a\":4,\"p\":\"1.5\",\"q\":\"2\",\"f\":5,\"l\":5,\"T\":2,\"m\":true}]";
    assert_int_equal(kl_binance_parse_page(mixed, strlen(mixed), "AAAUSDT", t, 8, &n, &nb), 0);
    assert_int_equal(n, 1);
    assert_int_equal(nb, 4);
    assert_int_equal(t[0].id, 4);

    /* Not a page at all: nothing is written. */
    static const char *bad[] = {
        "{\"code\":-1121,\"msg\":\"Invalid symbol.\"}", "", "[", "[{\"a\":1}", "[{}", "[{},]",
        "[{} {}]", "[] x", "[1,2]", "[{\"a\":\"unterminated}]", "[[]]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = nb = 77;
        assert_int_equal(kl_binance_parse_page(bad[i], strlen(bad[i]), "AAAUSDT", t, 4, &n, &nb),
                         KL_EJSON);
        assert_int_equal(n, 77);
    }
    /* More elements than room. */
    assert_int_equal(kl_binance_parse_page(two, strlen(two), "AAAUSDT", t, 1, &n, &nb), KL_EFULL);
}

/* ---- gap filler -------------------------------------------------------------------------- */

typedef struct rec {
    int64_t ids[4096];
    int from_rest[4096];
    size_t n;
    int64_t gaps[16][2];
    size_t n_gaps;
    int stop_after; /* > 0: emit fails with KL_ESHUTDOWN once this many were taken */
} rec_t;

static int
rec_emit(void *ctx, const kl_trade_t *t, int from_rest)
{
    rec_t *r = ctx;
    if (r->stop_after > 0 && r->n == (size_t)r->stop_after)
        return KL_ESHUTDOWN;
    assert_true(r->n < 4096);
    if (r->n > 0)
        assert_true(t->id > r->ids[r->n - 1]); /* strictly increasing, always */
    r->from_rest[r->n] = from_rest;
    r->ids[r->n++] = t->id;
    return 0;
}

static void
rec_gap(void *ctx, int64_t first, int64_t last)
{
    rec_t *r = ctx;
    assert_true(r->n_gaps < 16);
    r->gaps[r->n_gaps][0] = first;
    r->gaps[r->n_gaps][1] = last;
    r->n_gaps++;
}

static const kl_bf_ops_t rec_ops = {rec_emit, rec_gap};

static kl_trade_t
tr(int64_t id)
{
    kl_trade_t t = {.ts = 1000 + id, .id = id, .first_id = id, .last_id = id, .price = 1,
                    .qty = 1};
    return t;
}

static int
live(kl_bf_t *s, rec_t *r, int64_t id)
{
    kl_trade_t t = tr(id);
    return kl_bf_live(s, &t, &rec_ops, r);
}

/* A page of ids [from, to] (empty when from > to). */
static int
page(kl_bf_t *s, rec_t *r, int64_t from, int64_t to, int full)
{
    kl_trade_t t[64];
    size_t n = 0;
    for (int64_t id = from; id <= to; id++)
        t[n++] = tr(id);
    return kl_bf_page(s, t, n, full, &rec_ops, r);
}

static void
assert_ids(const rec_t *r, int64_t from, int64_t to)
{
    assert_int_equal(r->n, (size_t)(to - from + 1));
    for (size_t i = 0; i < r->n; i++)
        assert_int_equal(r->ids[i], from + (int64_t)i);
}

static void
bf_first_live_and_duplicates(void **state)
{
    (void)state;
    kl_bf_t s;
    rec_t *r = calloc(1, sizeof *r);
    kl_bf_init(&s, INT64_MIN, 16);
    assert_int_equal(kl_bf_connected(&s), 0); /* nothing to backfill from */
    assert_int_equal(live(&s, r, 500), 0);    /* the first live trade starts the series */
    assert_int_equal(live(&s, r, 501), 0);
    assert_int_equal(live(&s, r, 501), 0);
    assert_int_equal(live(&s, r, 400), 0);
    assert_int_equal(live(&s, r, 502), 0);
    assert_ids(r, 500, 502);
    assert_int_equal(s.duplicates, 2);
    assert_int_equal(s.last_id, 502);
    assert_int_equal(s.backfilling, 0);
    /* A page nobody waits for any more still routes what is new in it, and only that. */
    assert_int_equal(kl_bf_needs_rest(&s), 0);
    assert_int_equal(page(&s, r, 501, 504, 0), KL_BF_LIVE);
    assert_ids(r, 500, 504);
    assert_int_equal(live(&s, r, 504), 0);
    assert_int_equal(s.duplicates, 3);
    kl_bf_fini(&s);
    free(r);
}

static void
bf_live_hole_then_handover(void **state)
{
    (void)state;
    kl_bf_t s;
    rec_t *r = calloc(1, sizeof *r);
    kl_bf_init(&s, 7, 16);
    assert_int_equal(live(&s, r, 8), 0);
    assert_int_equal(live(&s, r, 11), 1); /* 9, 10 missing: backfill from 9 */
    assert_int_equal(live(&s, r, 12), 0);
    assert_int_equal(live(&s, r, 12), 0); /* duplicate of a held trade */
    assert_int_equal(r->n, 1);
    assert_int_equal(s.n_buf, 2);
    /* REST answers 9..11 (it already knows 11 too); the held 11 is not routed twice. */
    assert_int_equal(page(&s, r, 9, 11, 0), KL_BF_LIVE);
    assert_ids(r, 8, 12);
    assert_int_equal(r->from_rest[1], 1);
    assert_int_equal(r->from_rest[3], 1);
    assert_int_equal(r->from_rest[4], 0);
    assert_int_equal(s.from_rest, 3);
    assert_int_equal(s.from_buffer, 1);
    assert_int_equal(s.backfilling, 0);
    assert_int_equal(s.n_buf, 0);
    assert_int_equal(s.gaps, 0);
    assert_int_equal(live(&s, r, 13), 0);
    assert_ids(r, 8, 13);
    kl_bf_fini(&s);
    free(r);
}

static void
bf_resume_full_pages(void **state)
{
    (void)state;
    kl_bf_t s;
    rec_t *r = calloc(1, sizeof *r);
    kl_bf_init(&s, 100, 64);
    assert_int_equal(kl_bf_connected(&s), 1);
    assert_int_equal(kl_bf_connected(&s), 1); /* idempotent */
    assert_int_equal(kl_bf_needs_rest(&s), 1);
    assert_int_equal(s.backfilling, 0);       /* nothing held until a hole shows */
    assert_int_equal(live(&s, r, 140), 1);    /* the hole: held, backfill */
    assert_int_equal(live(&s, r, 141), 0);
    assert_int_equal(r->n, 0);
    assert_int_equal(page(&s, r, 101, 120, 1), KL_BF_MORE);
    assert_int_equal(page(&s, r, 121, 140, 1), KL_BF_MORE); /* full: REST may know more */
    assert_ids(r, 101, 141);
    assert_int_equal(page(&s, r, 142, 141, 0), KL_BF_LIVE);
    assert_int_equal(s.from_rest, 40);
    assert_int_equal(s.from_buffer, 1);
    kl_bf_fini(&s);
    free(r);
}

static void
bf_reconnect_verified_by_live(void **state)
{
    (void)state;
    kl_bf_t s;
    rec_t *r = calloc(1, sizeof *r);
    kl_bf_init(&s, 100, 16);
    assert_int_equal(kl_bf_connected(&s), 1);
    assert_int_equal(kl_bf_needs_rest(&s), 1);
    /* the stream continues exactly: nothing was missed, no REST needed, nothing held */
    assert_int_equal(live(&s, r, 101), 0);
    assert_int_equal(kl_bf_needs_rest(&s), 0);
    assert_int_equal(s.backfilling, 0);
    assert_ids(r, 101, 101);
    /* a check that was already in flight answers with what the stream also brings */
    assert_int_equal(page(&s, r, 101, 103, 0), KL_BF_LIVE);
    assert_int_equal(live(&s, r, 102), 0);
    assert_int_equal(live(&s, r, 104), 0);
    assert_ids(r, 101, 104);
    assert_int_equal(s.duplicates, 1);
    /* a full page keeps the check going even though nothing waits */
    assert_int_equal(page(&s, r, 105, 110, 1), KL_BF_MORE);
    assert_int_equal(kl_bf_needs_rest(&s), 1);
    assert_int_equal(page(&s, r, 111, 110, 0), KL_BF_LIVE);
    assert_int_equal(kl_bf_needs_rest(&s), 0);
    assert_ids(r, 101, 110);
    kl_bf_fini(&s);
    free(r);
}

static void
bf_gap_at_rest_front(void **state)
{
    (void)state;
    kl_bf_t s;
    rec_t *r = calloc(1, sizeof *r);
    kl_bf_init(&s, 100, 16);
    kl_bf_connected(&s);
    assert_int_equal(page(&s, r, 103, 104, 0), KL_BF_LIVE);
    assert_int_equal(r->n_gaps, 1);
    assert_int_equal(r->gaps[0][0], 101);
    assert_int_equal(r->gaps[0][1], 102);
    assert_int_equal(s.gaps, 1);
    assert_int_equal(s.gap_ids, 2);
    assert_ids(r, 103, 104);
    kl_bf_fini(&s);
    free(r);
}

static void
bf_rest_behind_becomes_gap(void **state)
{
    (void)state;
    kl_bf_t s;
    rec_t *r = calloc(1, sizeof *r);
    kl_bf_init(&s, 100, 16);
    kl_bf_connected(&s);
    live(&s, r, 105);
    live(&s, r, 106);
    /* REST knows 101..102 only: progress, so wait without counting. */
    assert_int_equal(page(&s, r, 101, 102, 0), KL_BF_WAIT);
    assert_int_equal(s.empty_polls, 0);
    for (int i = 1; i < KL_BF_MAX_EMPTY; i++) {
        assert_int_equal(page(&s, r, 1, 0, 0), KL_BF_WAIT);
        assert_int_equal(s.empty_polls, (uint32_t)i);
    }
    assert_int_equal(r->n_gaps, 0);
    assert_int_equal(page(&s, r, 1, 0, 0), KL_BF_LIVE); /* the last allowed empty poll */
    assert_int_equal(r->n_gaps, 1);
    assert_int_equal(r->gaps[0][0], 103);
    assert_int_equal(r->gaps[0][1], 104);
    assert_int_equal(r->n, 4);
    assert_int_equal(r->ids[0], 101);
    assert_int_equal(r->ids[1], 102);
    assert_int_equal(r->ids[2], 105);
    assert_int_equal(r->ids[3], 106);
    assert_int_equal(s.backfilling, 0);
    kl_bf_fini(&s);
    free(r);
}

static void
bf_hole_inside_buffer_and_overflow(void **state)
{
    (void)state;
    kl_bf_t s;
    rec_t *r = calloc(1, sizeof *r);
    kl_bf_init(&s, 8, 4);
    assert_int_equal(live(&s, r, 11), 1);
    live(&s, r, 12);
    live(&s, r, 20); /* the stream itself skipped 13..19 (say, across a reconnect) */
    assert_int_equal(page(&s, r, 9, 10, 0), KL_BF_WAIT);
    assert_ids(r, 9, 12);
    assert_int_equal(s.n_buf, 1);
    assert_int_equal(page(&s, r, 13, 19, 0), KL_BF_LIVE);
    assert_ids(r, 9, 20);
    assert_int_equal(r->n_gaps, 0);

    /* Overflow: 4 held, the 5th drops them all and is held alone; REST fetches further. */
    assert_int_equal(live(&s, r, 25), 1);
    for (int64_t id = 26; id <= 29; id++)
        assert_int_equal(live(&s, r, id), 0);
    assert_int_equal(s.overflows, 1);
    assert_int_equal(s.n_buf, 1);
    assert_int_equal(s.buf[0].id, 29);
    assert_int_equal(page(&s, r, 21, 28, 0), KL_BF_LIVE);
    assert_ids(r, 9, 29);
    assert_int_equal(r->n_gaps, 0);
    kl_bf_fini(&s);
    free(r);
}

static void
bf_shutdown_mid_page(void **state)
{
    (void)state;
    kl_bf_t s;
    rec_t *r = calloc(1, sizeof *r);
    kl_bf_init(&s, 0, 4);
    kl_bf_connected(&s);
    r->stop_after = 2;
    assert_int_equal(page(&s, r, 1, 5, 0), KL_ESHUTDOWN);
    assert_int_equal(s.last_id, 2); /* exactly what was taken */
    r->stop_after = 0;
    assert_int_equal(page(&s, r, 3, 5, 0), KL_BF_LIVE);
    assert_ids(r, 1, 5);
    kl_bf_fini(&s);
    free(r);
}

static void
bf_anchor(void **state)
{
    (void)state;
    kl_bf_t s;
    rec_t *r = calloc(1, sizeof *r);
    kl_trade_t latest = tr(70);
    /* The latest REST trade is the start: not routed, the stream continues after it. */
    kl_bf_init(&s, INT64_MIN, 8);
    assert_int_equal(kl_bf_anchored(&s), 0);
    assert_int_equal(kl_bf_connected(&s), 0);
    kl_bf_anchor(&s, &latest);
    assert_int_equal(kl_bf_anchored(&s), 1);
    assert_int_equal(kl_bf_from_id(&s), 71);
    assert_int_equal(r->n, 0);
    assert_int_equal(kl_bf_connected(&s), 1); /* a reconnect now backfills from 71 */
    live(&s, r, 74);
    assert_int_equal(page(&s, r, 71, 73, 0), KL_BF_LIVE);
    assert_ids(r, 71, 74);
    kl_bf_fini(&s);

    /* A live trade before the anchor's answer wins: the answer is ignored. */
    memset(r, 0, sizeof *r);
    kl_bf_init(&s, INT64_MIN, 8);
    live(&s, r, 80);
    kl_bf_anchor(&s, &latest);
    kl_bf_anchor(&s, NULL);
    assert_int_equal(s.last_id, 80);
    assert_int_equal(s.from_start, 0);
    kl_bf_fini(&s);

    /* No trade on REST: everything is ours. A reconnect before the first live trade fetches
     * from id 0, and REST's first id is no gap. */
    memset(r, 0, sizeof *r);
    kl_bf_init(&s, INT64_MIN, 8);
    kl_bf_anchor(&s, NULL);
    assert_int_equal(s.from_start, 1);
    assert_int_equal(s.last_id, INT64_MIN);
    assert_int_equal(kl_bf_from_id(&s), 0);
    assert_int_equal(kl_bf_connected(&s), 1);
    live(&s, r, 1000004);
    assert_int_equal(page(&s, r, 1000000, 1000003, 0), KL_BF_LIVE);
    assert_ids(r, 1000000, 1000004);
    assert_int_equal(r->n_gaps, 0);
    kl_bf_fini(&s);

    /* From the start, REST that never shows the held trades: they become the first, with no
     * gap reported (there is no known id before them). */
    memset(r, 0, sizeof *r);
    kl_bf_init(&s, INT64_MIN, 8);
    kl_bf_anchor(&s, NULL);
    kl_bf_connected(&s);
    live(&s, r, 500);
    int rc = KL_BF_WAIT;
    for (int i = 0; i < KL_BF_MAX_EMPTY && rc == KL_BF_WAIT; i++)
        rc = page(&s, r, 1, 0, 0);
    assert_int_equal(rc, KL_BF_LIVE);
    assert_ids(r, 500, 500);
    assert_int_equal(r->n_gaps, 0);
    kl_bf_fini(&s);
    free(r);
}

/* The exchange emits ids 1..N; the connection drops and comes back at random, REST answers
 * pages of 7 from a view that may lag the exchange, and the buffer holds only 5 trades. Every
 * id must come out exactly once, in order, with no gap reported. */
static void
bf_randomized(void **state)
{
    (void)state;
    uint64_t overflows = 0, from_buffer = 0, from_rest = 0, duplicates = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        uint64_t rs = seed * 0x9E3779B97F4A7C15ULL;
        kl_bf_t s;
        rec_t *r = calloc(1, sizeof *r);
        kl_bf_init(&s, seed % 3 ? 0 : INT64_MIN, 5);
        int64_t head = 0, n_total = 1500;
        int connected = 1, need = kl_bf_connected(&s), lag = 0;
        while (head < n_total || need || s.backfilling ||
               (s.last_id != INT64_MIN && s.last_id < n_total)) {
            uint64_t x = kl_binance_rand(&rs) % 100;
            if (x < 58 && head < n_total) {
                head++; /* a trade on the exchange, seen live only when connected */
                if (connected) {
                    int rc = live(&s, r, head);
                    assert_true(rc >= 0);
                    need |= rc == 1;
                }
            } else if (x < 62 && connected && head > 0) {
                int rc = live(&s, r, head - (int64_t)(x % 2)); /* resent: a duplicate, unless */
                assert_true(rc >= 0);                            /* it shows a hole */
                need |= rc == 1;
            } else if (x < 63 && connected) {
                connected = 0;
            } else if (x < 70 && !connected) {
                connected = 1;
                need |= kl_bf_connected(&s);
                lag = (int)(kl_binance_rand(&rs) % 4); /* REST may trail right after */
            } else if (x < 85 && need) {
                int64_t rest_head = head - lag;
                lag = lag > 0 ? lag - 1 : 0;
                int64_t to = s.last_id + 7 < rest_head ? s.last_id + 7 : rest_head;
                int full = to - s.last_id == 7;
                int rc = page(&s, r, s.last_id + 1, to, full);
                /* KL_BF_LIVE while REST trailed: the hole shows at the next live trade */
                need = rc == KL_BF_MORE || rc == KL_BF_WAIT;
            } else if (!connected && head == n_total) {
                connected = 1;
                need |= kl_bf_connected(&s);
            } else if (head == n_total && connected && !need && s.last_id < head) {
                need |= kl_bf_connected(&s); /* a reconnect at the end finds the tail */
            }
        }
        assert_int_equal(r->n_gaps, 0);
        assert_int_equal(s.last_id, n_total);
        assert_true(r->n >= 1);
        for (size_t i = 1; i < r->n; i++)
            assert_int_equal(r->ids[i], r->ids[i - 1] + 1);
        if (seed % 3)
            assert_int_equal(r->ids[0], 1);
        overflows += s.overflows;
        from_buffer += s.from_buffer;
        from_rest += s.from_rest;
        duplicates += s.duplicates;
        kl_bf_fini(&s);
        free(r);
    }
    /* every path was taken, not just the easy one */
    assert_true(overflows > 0 && from_buffer > 0 && from_rest > 0 && duplicates > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(budget_small),
        cmocka_unit_test(budget_binance_storm),
        cmocka_unit_test(backoff_bounds),
        cmocka_unit_test(backoff_real_generator),
        cmocka_unit_test(url_parse),
        cmocka_unit_test(page_parse),
        cmocka_unit_test(bf_first_live_and_duplicates),
        cmocka_unit_test(bf_live_hole_then_handover),
        cmocka_unit_test(bf_resume_full_pages),
        cmocka_unit_test(bf_reconnect_verified_by_live),
        cmocka_unit_test(bf_gap_at_rest_front),
        cmocka_unit_test(bf_rest_behind_becomes_gap),
        cmocka_unit_test(bf_hole_inside_buffer_and_overflow),
        cmocka_unit_test(bf_shutdown_mid_page),
        cmocka_unit_test(bf_anchor),
        cmocka_unit_test(bf_randomized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
