/* Tests of src/engine/kfill.c, the filling of implied hole klines on read: the hole kline itself
 * (1s, 1m, 1w, 1M in a time zone, a gap across months and a leap February, microseconds), the
 * gap iterator and its O(1) seek, the windows that REST answers (a window inside a gap, across
 * one, cut by a limit, from either end, never before the first kline nor after the last), a
 * gap of 7,000 years of 1s klines answered in O(limit), the grid recovered from one stored
 * kline (export), and a property test: on random sparse series of every interval, in four
 * time zones and both units, every window equals the same window of the series with each hole
 * materialized one by one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/interval.h"
#include "engine/kfill.h"
#include "kl/err.h"
#include "kl/types.h"

#define SEC_MS 1000LL
#define MIN_MS 60000LL
#define DAY_MS 86400000LL
#define WEEK_MS (7 * DAY_MS)
#define T2024 1704067200000LL /* 2024-01-01T00:00Z, a Monday */

/* ---- helpers ------------------------------------------------------------------------------ */

static kl_kline_t
traded(int64_t open_time, int64_t close_time, kl_dec_t price, int64_t id)
{
    kl_kline_t k;
    memset(&k, 0, sizeof k);
    k.open_time = open_time;
    k.close_time = close_time;
    k.open = price - 3;
    k.high = price + 5;
    k.low = price - 7;
    k.close = price;
    k.volume = 1234;
    k.quote = (kl_sum_t)1234 * price + 99;
    k.taker_base = 600;
    k.taker_quote = (kl_sum_t)600 * price;
    k.trades = 4;
    k.first_id = id;
    k.last_id = id + 3;
    return k;
}

static kl_kline_t
want_hole(int64_t open_time, int64_t close_time, kl_dec_t price)
{
    kl_kline_t k;
    memset(&k, 0, sizeof k);
    k.open_time = open_time;
    k.close_time = close_time;
    k.open = k.high = k.low = k.close = price;
    k.first_id = k.last_id = -1;
    return k;
}

/* Field-by-field comparison that names the first field that differs. */
static void
kline_expect(const kl_kline_t *want, const kl_kline_t *got, const char *what, size_t idx)
{
#define F(f)                                                                                   \
    if (want->f != got->f)                                                                     \
        fail_msg("%s [%zu] open_time %lld: field " #f " want %lld got %lld", what, idx,       \
                 (long long)want->open_time, (long long)want->f, (long long)got->f);
    F(open_time) F(close_time) F(open) F(high) F(low) F(close) F(volume) F(quote)
    F(taker_base) F(taker_quote) F(trades) F(first_id) F(last_id)
#undef F
}

static void
expect_all(const kl_kline_t *want, size_t nw, const kl_kline_t *got, size_t ng, const char *what)
{
    if (nw != ng)
        fail_msg("%s: %zu klines, want %zu", what, ng, nw);
    for (size_t i = 0; i < nw; i++)
        kline_expect(&want[i], &got[i], what, i);
}

static kl_ivspec_t
spec(int iv, int64_t upm, int32_t tz)
{
    kl_ivspec_t s;
    kl_ivspec_init(&s, iv, upm, tz, kl_iv_default_origin_ms(iv));
    return s;
}

/* Every hole of the gap between prev and next_open, through the iterator. */
static size_t
gap_all(const kl_ivspec_t *sp, const kl_kline_t *prev, int64_t next_open, int64_t seek,
        kl_kline_t *out, size_t cap)
{
    kl_fill_gap_t g;
    kl_fill_gap_init(&g, sp, prev, next_open);
    kl_fill_gap_seek(&g, seek);
    size_t n = 0;
    while (n < cap && kl_fill_gap_next(&g, &out[n]))
        n++;
    return n;
}

/* ---- the hole kline and the gap ----------------------------------------------------------- */

static void
test_hole_1s_ms_and_us(void **state)
{
    (void)state;
    kl_ivspec_t s = spec(KL_IV_1S, 1, 0);
    kl_kline_t prev = traded(T2024, T2024 + 999, 4200000000000LL, 77), h;
    kl_fill_hole(&s, &prev, T2024 + 1000, &h);
    kl_kline_t w = want_hole(T2024 + 1000, T2024 + 1999, 4200000000000LL);
    kline_expect(&w, &h, "1s ms", 0);
    s = spec(KL_IV_1S, 1000, 0);
    prev = traded(T2024 * 1000, T2024 * 1000 + 999999, 123, 5);
    kl_fill_hole(&s, &prev, T2024 * 1000 + 5000000, &h);
    w = want_hole(T2024 * 1000 + 5000000, T2024 * 1000 + 5999999, 123);
    kline_expect(&w, &h, "1s us", 0);
}

static void
test_gap_1m_three_holes(void **state)
{
    (void)state;
    kl_ivspec_t s = spec(KL_IV_1M, 1, 0);
    kl_kline_t prev = traded(T2024, T2024 + MIN_MS - 1, 250000000, 10), got[8];
    size_t n = gap_all(&s, &prev, T2024 + 4 * MIN_MS, INT64_MIN, got, 8);
    kl_kline_t want[3];
    for (int i = 0; i < 3; i++)
        want[i] = want_hole(T2024 + (i + 1) * MIN_MS, T2024 + (i + 2) * MIN_MS - 1, 250000000);
    expect_all(want, 3, got, n, "1m gap");
    /* Adjacent klines: no hole; a next kline that does not start after prev: none either. */
    assert_int_equal(gap_all(&s, &prev, T2024 + MIN_MS, INT64_MIN, got, 8), 0);
    assert_int_equal(gap_all(&s, &prev, T2024, INT64_MIN, got, 8), 0);
    /* Seek: into the gap (rounded up to the next open), onto a boundary, past the end. */
    n = gap_all(&s, &prev, T2024 + 4 * MIN_MS, T2024 + 2 * MIN_MS - 7, got, 8);
    expect_all(want + 1, 2, got, n, "1m seek inside");
    n = gap_all(&s, &prev, T2024 + 4 * MIN_MS, T2024 + 3 * MIN_MS, got, 8);
    expect_all(want + 2, 1, got, n, "1m seek onto a boundary");
    assert_int_equal(gap_all(&s, &prev, T2024 + 4 * MIN_MS, T2024 + 4 * MIN_MS, got, 8), 0);
    assert_int_equal(gap_all(&s, &prev, T2024 + 4 * MIN_MS, INT64_MAX, got, 8), 0);
}

static void
test_gap_1w_monday(void **state)
{
    (void)state;
    kl_ivspec_t s = spec(KL_IV_1W, 1, 0);
    kl_kline_t prev = traded(T2024, T2024 + WEEK_MS - 1, 31, 1), got[4];
    size_t n = gap_all(&s, &prev, T2024 + 3 * WEEK_MS, INT64_MIN, got, 4);
    kl_kline_t want[2] = {want_hole(T2024 + WEEK_MS, T2024 + 2 * WEEK_MS - 1, 31),
                          want_hole(T2024 + 2 * WEEK_MS, T2024 + 3 * WEEK_MS - 1, 31)};
    expect_all(want, 2, got, n, "1w gap");
}

/* 1M in +08:00 from November 2023 to March 2024: December (31 days), January across the year,
 * February of a leap year (29 days); opens are local midnights of the 1st, in UTC. */
static void
test_gap_1M_plus8_across_year_and_leap_february(void **state)
{
    (void)state;
    kl_ivspec_t s = spec(KL_IV_1MO, 1, 480);
    const int64_t nov = 1698768000000LL, dec = 1701360000000LL, jan = 1704038400000LL,
                  feb = 1706716800000LL, mar = 1709222400000LL;
    kl_kline_t prev = traded(nov, dec - 1, 3700000000000LL, 9), got[8];
    size_t n = gap_all(&s, &prev, mar, INT64_MIN, got, 8);
    kl_kline_t want[3] = {want_hole(dec, jan - 1, 3700000000000LL),
                          want_hole(jan, feb - 1, 3700000000000LL),
                          want_hole(feb, mar - 1, 3700000000000LL)};
    expect_all(want, 3, got, n, "1M +08:00");
    assert_int_equal(feb - jan, 31 * DAY_MS);
    assert_int_equal(mar - feb, 29 * DAY_MS);
    /* A seek into the middle of January starts at February. */
    n = gap_all(&s, &prev, mar, jan + 10 * DAY_MS, got, 8);
    expect_all(want + 2, 1, got, n, "1M seek");
    /* The same months in microseconds. */
    s = spec(KL_IV_1MO, 1000, 480);
    prev = traded(nov * 1000, dec * 1000 - 1, 5, 9);
    n = gap_all(&s, &prev, mar * 1000, INT64_MIN, got, 8);
    assert_int_equal(n, 3);
    assert_int_equal(got[1].open_time, jan * 1000);
    assert_int_equal(got[1].close_time, feb * 1000 - 1);
}

/* A 1d gap across a month's end in +05:45: days open at 18:15 UTC. */
static void
test_gap_1d_plus0545_across_month(void **state)
{
    (void)state;
    kl_ivspec_t s = spec(KL_IV_1D, 1, 345);
    const int64_t jan31 = 1706638500000LL; /* 2024-01-31T00:00+05:45 */
    kl_kline_t prev = traded(jan31 - DAY_MS, jan31 - 1, 8, 1), got[4];
    size_t n = gap_all(&s, &prev, jan31 + 2 * DAY_MS, INT64_MIN, got, 4);
    kl_kline_t want[2] = {want_hole(jan31, jan31 + DAY_MS - 1, 8),
                          want_hole(jan31 + DAY_MS, jan31 + 2 * DAY_MS - 1, 8)};
    expect_all(want, 2, got, n, "1d +05:45");
}

/* ---- windows ------------------------------------------------------------------------------ */

/* 1m: A@0 B@1, holes 2..5, C@6 D@7, holes 8..11, E@12 (minutes from T2024). */
#define M(i) (T2024 + (int64_t)(i) * MIN_MS)
static kl_kline_t g_k[5];
static void
series_abcde(void)
{
    const int at[5] = {0, 1, 6, 7, 12};
    for (int i = 0; i < 5; i++)
        g_k[i] = traded(M(at[i]), M(at[i] + 1) - 1, 100 + i, 10 * i);
}

/* The filled minutes a..b of that series, as the store would hold them with every hole. */
static size_t
filled(int a, int b, kl_kline_t *out)
{
    size_t n = 0;
    kl_dec_t price = 0;
    int ki = 0;
    const int at[5] = {0, 1, 6, 7, 12};
    for (int m = 0; m <= 12; m++) {
        kl_kline_t k;
        if (ki < 5 && at[ki] == m) {
            k = g_k[ki++];
            price = k.close;
        } else {
            k = want_hole(M(m), M(m + 1) - 1, price);
        }
        if (m >= a && m <= b)
            out[n++] = k;
    }
    return n;
}

static void
test_window_inside_and_across_gaps(void **state)
{
    (void)state;
    series_abcde();
    kl_ivspec_t s = spec(KL_IV_1M, 1, 0);
    kl_kline_t got[16], want[16];
    size_t n, nw;
    /* Across a gap, from a start inside the one before: prev = B, k = C D, next = E. */
    n = kl_fill_window(&s, &g_k[1], &g_k[2], 2, M(12), M(3), M(9), 0, got, 16);
    nw = filled(3, 9, want);
    expect_all(want, nw, got, n, "across");
    /* Both ends inside one gap: no kline in the window, prev and next around it. */
    n = kl_fill_window(&s, &g_k[1], NULL, 0, M(6), M(3) - 5, M(4) + 5, 0, got, 16);
    nw = filled(3, 4, want);
    expect_all(want, nw, got, n, "inside, oldest first");
    n = kl_fill_window(&s, &g_k[1], NULL, 0, M(6), M(3) - 5, M(4) + 5, 1, got, 16);
    expect_all(want, nw, got, n, "inside, newest first");
    /* A limit smaller than the gap: the first ones, or the last ones. */
    n = kl_fill_window(&s, &g_k[1], &g_k[2], 2, M(12), M(2), M(11), 0, got, 3);
    nw = filled(2, 4, want);
    expect_all(want, nw, got, n, "limit 3, oldest");
    n = kl_fill_window(&s, &g_k[1], &g_k[2], 2, M(12), M(2), M(11), 1, got, 3);
    nw = filled(9, 11, want);
    expect_all(want, nw, got, n, "limit 3, newest");
    n = kl_fill_window(&s, NULL, g_k, 5, KL_FILL_NONE, INT64_MIN, INT64_MAX, 1, got, 6);
    nw = filled(7, 12, want);
    expect_all(want, nw, got, n, "limit 6, newest, whole series");
    /* The whole series, both ways. */
    nw = filled(0, 12, want);
    n = kl_fill_window(&s, NULL, g_k, 5, KL_FILL_NONE, INT64_MIN, INT64_MAX, 0, got, 16);
    expect_all(want, nw, got, n, "whole, oldest");
    n = kl_fill_window(&s, NULL, g_k, 5, KL_FILL_NONE, INT64_MIN, INT64_MAX, 1, got, 16);
    expect_all(want, nw, got, n, "whole, newest");
}

static void
test_window_never_before_first_nor_after_last(void **state)
{
    (void)state;
    series_abcde();
    kl_ivspec_t s = spec(KL_IV_1M, 1, 0);
    kl_kline_t got[32], want[16];
    /* A window from long before the first kline: it starts at A. */
    size_t n = kl_fill_window(&s, NULL, g_k, 2, M(6), M(-20), M(1), 0, got, 32);
    size_t nw = filled(0, 1, want);
    expect_all(want, nw, got, n, "before first");
    /* A window past the last kline: it ends at E, nothing after. */
    n = kl_fill_window(&s, &g_k[3], &g_k[4], 1, KL_FILL_NONE, M(10), M(40), 0, got, 32);
    nw = filled(10, 12, want);
    expect_all(want, nw, got, n, "after last, oldest");
    n = kl_fill_window(&s, &g_k[3], &g_k[4], 1, KL_FILL_NONE, M(10), M(40), 1, got, 32);
    expect_all(want, nw, got, n, "after last, newest");
    /* After the last kline and no kline in the window: nothing; the same without prev. */
    assert_int_equal(kl_fill_window(&s, &g_k[4], NULL, 0, KL_FILL_NONE, M(13), M(40), 0, got,
                                    32),
                     0);
    assert_int_equal(kl_fill_window(&s, NULL, NULL, 0, M(6), M(2), M(4), 1, got, 32), 0);
    /* cap 0 and lo > hi. */
    assert_int_equal(kl_fill_window(&s, NULL, g_k, 5, KL_FILL_NONE, M(0), M(12), 0, got, 0), 0);
    assert_int_equal(kl_fill_window(&s, NULL, g_k, 5, KL_FILL_NONE, M(5), M(4), 0, got, 32), 0);
}

/* A gap of ~7,000 years of 1s klines in microseconds (2e11 holes): a window of 1000 in its
 * middle costs 1000 holes, from either end; a walk across the gap would not finish. */
static void
test_window_huge_gap_is_O_limit(void **state)
{
    (void)state;
    kl_ivspec_t s = spec(KL_IV_1S, 1000, 0);
    const int64_t y2000 = 946684800000000LL, y9000 = 221845392000000000LL,
                  y5000 = 95617584000000000LL;
    kl_kline_t prev = traded(y2000, y2000 + 999999, 42, 1);
    kl_kline_t next = traded(y9000, y9000 + 999999, 43, 9);
    static kl_kline_t got[1000];
    /* Oldest first from a start 0.5 s into a second: the first hole is the next second. */
    size_t n = kl_fill_window(&s, &prev, NULL, 0, y9000, y5000 + 500000, y9000, 0, got, 1000);
    assert_int_equal(n, 1000);
    for (size_t i = 0; i < n; i++) {
        int64_t o = y5000 + 1000000 * (int64_t)(i + 1);
        kl_kline_t w = want_hole(o, o + 999999, 42);
        kline_expect(&w, &got[i], "huge gap oldest", i);
    }
    /* Newest first up to the next kline, which is in the window: 999 holes, then it. */
    n = kl_fill_window(&s, &prev, &next, 1, KL_FILL_NONE, y5000, y9000, 1, got, 1000);
    assert_int_equal(n, 1000);
    for (size_t i = 0; i < 999; i++) {
        int64_t o = y9000 - 1000000 * (int64_t)(999 - i);
        kl_kline_t w = want_hole(o, o + 999999, 42);
        kline_expect(&w, &got[i], "huge gap newest", i);
    }
    kline_expect(&next, &got[999], "huge gap newest", 999);
    /* The buffer bound of a window is its span, not the gap. */
    assert_int_equal(kl_fill_slots(&s, y5000, y5000 + 999 * 1000000LL), 1000);
    assert_true(kl_fill_slots(&s, INT64_MIN, INT64_MAX) >= (size_t)(UINT64_MAX / 1000000));
}

/* ---- the grid of a stored kline (export) -------------------------------------------------- */

static void
expect_spec_of(int iv, int64_t upm, int64_t open, int64_t close, int32_t tz_minutes)
{
    kl_kline_t k = traded(open, close, 1, 1);
    kl_ivspec_t got;
    if (kl_fill_spec_of(iv, upm, &k, &got) != 0)
        fail_msg("%s open %lld: no grid", kl_iv_name(iv), (long long)open);
    /* The recovered grid gives the same next opens as the configured one. */
    kl_ivspec_t want = spec(iv, upm, tz_minutes);
    int64_t a = open, b = open;
    for (int i = 0; i < 30; i++) {
        a = kl_iv_next(&got, a);
        b = kl_iv_next(&want, b);
        if (a != b)
            fail_msg("%s open %lld: step %d: %lld, want %lld", kl_iv_name(iv), (long long)open,
                     i, (long long)a, (long long)b);
        assert_int_equal(kl_iv_open(&got, a + 17 * upm), b);
    }
}

static void
test_spec_of_stored_kline(void **state)
{
    (void)state;
    expect_spec_of(KL_IV_1M, 1, T2024 + 5 * MIN_MS, T2024 + 6 * MIN_MS - 1, 0);
    expect_spec_of(KL_IV_1W, 1, T2024 + WEEK_MS, T2024 + 2 * WEEK_MS - 1, 0);
    expect_spec_of(KL_IV_1D, 1, 1706638500000LL, 1706638500000LL + DAY_MS - 1, 345);
    expect_spec_of(KL_IV_1S, 1000, T2024 * 1000, T2024 * 1000 + 999999, 0);
    /* 1M: the offsets that share a time of day are told apart by the date (10:00Z on Jan 1 is
     * -10:00, on Dec 31 it is +14:00; 12:00Z: -12:00 and +12:00). */
    expect_spec_of(KL_IV_1MO, 1, 1704038400000LL, 1706716800000LL - 1, 480);
    expect_spec_of(KL_IV_1MO, 1, 1704103200000LL, 1706781600000LL - 1, -600);
    expect_spec_of(KL_IV_1MO, 1, 1704016800000LL, 1706695200000LL - 1, 840);
    expect_spec_of(KL_IV_1MO, 1, 1704110400000LL, 1706788800000LL - 1, -720);
    expect_spec_of(KL_IV_1MO, 1, 1704024000000LL, 1706702400000LL - 1, 720);
    expect_spec_of(KL_IV_1MO, 1000, T2024 * 1000, 1706745600000LL * 1000 - 1, 0);
    /* Not a kline of the interval: a close that is not the next open - 1, a 1M open that is no
     * month's start in any zone, an open off the minute, bad arguments. */
    kl_ivspec_t out;
    kl_kline_t k = traded(T2024, T2024 + 2 * MIN_MS - 1, 1, 1);
    assert_int_equal(kl_fill_spec_of(KL_IV_1M, 1, &k, &out), KL_EARG);
    k = traded(T2024 + 5 * DAY_MS, T2024 + 36 * DAY_MS - 1, 1, 1);
    assert_int_equal(kl_fill_spec_of(KL_IV_1MO, 1, &k, &out), KL_EARG);
    k = traded(T2024 + 7, 1706745600000LL - 1, 1, 1);
    assert_int_equal(kl_fill_spec_of(KL_IV_1MO, 1, &k, &out), KL_EARG);
    assert_int_equal(kl_fill_spec_of(KL_IV_COUNT, 1, &k, &out), KL_EARG);
    assert_int_equal(kl_fill_spec_of(KL_IV_1M, 60, &k, &out), KL_EARG);
}

/* ---- property: filled windows == materialized series -------------------------------------- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;
static uint64_t
rnd(uint64_t n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng % n;
}

#define PROP_SLOTS 400

/* For iv in zone tz and unit upm: a random sparse series over PROP_SLOTS intervals (runs of
 * klines and gaps of 1 to 60), materialized by walking kl_iv_next one interval at a time (the
 * reference), then every sort of window of the sparse series, filled, compared with the same
 * window of the reference. */
static void
prop_one(int iv, int32_t tz, int64_t upm)
{
    kl_ivspec_t s = spec(iv, upm, tz);
    static kl_kline_t full[PROP_SLOTS], sparse[PROP_SLOTS], got[PROP_SLOTS], want[PROP_SLOTS];
    size_t nf = 0, ns = 0;
    int64_t open = kl_iv_open(&s, (T2024 - 3 * 365 * DAY_MS) * upm + (int64_t)rnd(1000000) * upm);
    kl_dec_t price = 0;
    int stored = 1, run = 0;
    for (size_t i = 0; i < PROP_SLOTS; i++) {
        int64_t next = kl_iv_next(&s, open);
        if (run-- <= 0) {
            stored = i == 0 || i == PROP_SLOTS - 1 ? 1 : !stored;
            run = stored ? (int)rnd(5) : 1 + (int)rnd(60);
        }
        if (i == 0 || i == PROP_SLOTS - 1)
            stored = 1;
        if (stored) {
            /* Some stored klines are holes themselves (serve stores a bounded few). */
            if (i > 0 && rnd(6) == 0)
                full[nf] = want_hole(open, next - 1, price);
            else
                full[nf] = traded(open, next - 1, 1000 + (kl_dec_t)rnd(100), (int64_t)i);
            price = full[nf].close;
            sparse[ns++] = full[nf];
        } else {
            full[nf] = want_hole(open, next - 1, price);
        }
        nf++;
        open = next;
    }
    for (int t = 0; t < 300; t++) {
        /* A window [lo, hi] anywhere around the series (bounds on and off the grid). */
        size_t a = rnd(nf), b = a + rnd(nf - a);
        int64_t lo = full[a].open_time - (rnd(3) == 0 ? (int64_t)rnd(5) * upm : 0);
        int64_t hi = full[b].open_time + (rnd(3) == 0 ? (int64_t)rnd(5) * upm : 0);
        if (rnd(8) == 0)
            lo = INT64_MIN;
        if (rnd(8) == 0)
            hi = INT64_MAX;
        int newest = (int)rnd(2);
        size_t cap = rnd(4) == 0 ? PROP_SLOTS : 1 + rnd(40);
        /* What a reader knows: the stored klines in the window, the one before, the next open. */
        size_t k0 = 0, k1;
        while (k0 < ns && sparse[k0].open_time < lo)
            k0++;
        k1 = k0;
        while (k1 < ns && sparse[k1].open_time <= hi)
            k1++;
        const kl_kline_t *prev = k0 > 0 ? &sparse[k0 - 1] : NULL;
        int64_t next_open = k1 < ns ? sparse[k1].open_time : KL_FILL_NONE;
        size_t n = kl_fill_window(&s, prev, sparse + k0, k1 - k0, next_open, lo, hi, newest, got,
                                  cap);
        size_t nw = 0;
        for (size_t i = 0; i < nf; i++)
            if (full[i].open_time >= lo && full[i].open_time <= hi)
                want[nw++] = full[i];
        size_t from = 0;
        if (nw > cap) {
            from = newest ? nw - cap : 0;
            nw = cap;
        }
        char what[96];
        snprintf(what, sizeof what, "%s tz %d unit %lld window %d (newest %d, cap %zu)",
                 kl_iv_name(iv), tz, (long long)upm, t, newest, cap);
        expect_all(want + from, nw, got, n, what);
    }
}

static void
test_prop_filled_equals_materialized(void **state)
{
    (void)state;
    const int32_t zones[4] = {0, 480, -210, 345};
    for (int iv = 0; iv < KL_IV_COUNT; iv++)
        for (int z = 0; z < 4; z++)
            prop_one(iv, zones[z], z == 1 ? 1000 : 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hole_1s_ms_and_us),
        cmocka_unit_test(test_gap_1m_three_holes),
        cmocka_unit_test(test_gap_1w_monday),
        cmocka_unit_test(test_gap_1M_plus8_across_year_and_leap_february),
        cmocka_unit_test(test_gap_1d_plus0545_across_month),
        cmocka_unit_test(test_window_inside_and_across_gaps),
        cmocka_unit_test(test_window_never_before_first_nor_after_last),
        cmocka_unit_test(test_window_huge_gap_is_O_limit),
        cmocka_unit_test(test_spec_of_stored_kline),
        cmocka_unit_test(test_prop_filled_equals_materialized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
