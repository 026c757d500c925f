/* Unit tests for src/core/interval.c: interval names and lists, time zone offsets, and the
 * open/next-open boundaries of all 16 intervals that decide which kline a trade lands in. The
 * expected epoch values in the tables were computed independently with Python's datetime
 * (calendar arithmetic on local wall time, not floor division) when the tests were written, so
 * a shared mistake in the C formula cannot make both sides agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/interval.h"
#include "kl/err.h"

static const char *const iv_names[KL_IV_COUNT] = {
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h",
    "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
};

static void
test_names_and_lengths(void **state)
{
    (void)state;
    static const int64_t len_ms[KL_IV_COUNT] = {
        1000, 60000, 180000, 300000, 900000, 1800000, 3600000, 7200000, 14400000, 21600000,
        28800000, 43200000, 86400000, 259200000, 604800000, 0,
    };
    for (int iv = 0; iv < KL_IV_COUNT; iv++) {
        assert_string_equal(kl_iv_name(iv), iv_names[iv]);
        assert_int_equal(kl_iv_len_ms(iv), len_ms[iv]);
        /* 1970-01-05 is the first Monday after the epoch; everything else is epoch-aligned. */
        assert_int_equal(kl_iv_default_origin_ms(iv), iv == KL_IV_1W ? 4 * 86400000LL : 0);
    }
    assert_int_equal(KL_IV_ALL, 0xFFFFu);
}

static void
test_iv_parse(void **state)
{
    (void)state;
    for (int iv = 0; iv < KL_IV_COUNT; iv++)
        assert_int_equal(kl_iv_parse(iv_names[iv], strlen(iv_names[iv])), iv);
    /* Binance names are case-sensitive: "1m" is a minute, "1M" a month. */
    assert_int_equal(kl_iv_parse("1m", 2), KL_IV_1M);
    assert_int_equal(kl_iv_parse("1M", 2), KL_IV_1MO);
    static const char *const bad[] = {
        "", "1S", "1H", "1D", "1W", "3D", "12H", "2m0", "2m", "1mo", "1mon", "60m", "1 m",
        " 1m", "1m ", "m", "1", "all", "01m", "1d\xd9\xa1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (kl_iv_parse(bad[i], strlen(bad[i])) != KL_EINTERVAL)
            fail_msg("kl_iv_parse(\"%s\") accepted", bad[i]);
    /* The length bounds the name, so a list can be parsed in place. */
    assert_int_equal(kl_iv_parse("15m,1h", 3), KL_IV_15M);
    assert_int_equal(kl_iv_parse("1hx", 2), KL_IV_1H);
    assert_int_equal(kl_iv_parse("1h", 1), KL_EINTERVAL);
}

static void
test_iv_parse_list(void **state)
{
    (void)state;
    uint32_t mask = 0;
    assert_int_equal(kl_iv_parse_list("all", &mask), 0);
    assert_int_equal(mask, KL_IV_ALL);
    assert_int_equal(kl_iv_parse_list("1m,1M", &mask), 0);
    assert_int_equal(mask, (1u << KL_IV_1M) | (1u << KL_IV_1MO));
    assert_int_equal(kl_iv_parse_list("1M", &mask), 0);
    assert_int_equal(mask, 1u << KL_IV_1MO);
    assert_int_equal(kl_iv_parse_list("1w,3d,1s", &mask), 0);
    assert_int_equal(mask, (1u << KL_IV_1W) | (1u << KL_IV_3D) | (1u << KL_IV_1S));
    assert_int_equal(kl_iv_parse_list("1h,1h", &mask), 0);
    assert_int_equal(mask, 1u << KL_IV_1H);
    assert_int_equal(
        kl_iv_parse_list("1s,1m,3m,5m,15m,30m,1h,2h,4h,6h,8h,12h,1d,3d,1w,1M", &mask), 0);
    assert_int_equal(mask, KL_IV_ALL);

    static const char *const bad[] = {
        "", ",", "1m,", ",1m", "1m,,5m", "1m,,", "ALL", "All", "all,1m", "1m,all", "1m, 5m",
        "1m ,5m", "1x", "1m,1X", "1m;5m", "1H,1D",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mask = 0xDEADBEEFu;
        if (kl_iv_parse_list(bad[i], &mask) != KL_EINTERVAL)
            fail_msg("kl_iv_parse_list(\"%s\") accepted", bad[i]);
        if (mask != 0xDEADBEEFu)
            fail_msg("kl_iv_parse_list(\"%s\") failed but wrote the mask", bad[i]);
    }
}

static void
test_tz_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int32_t minutes;
    } ok[] = {
        {"+08:00", 480}, {"-1:00", -60}, {"05:45", 345}, {"+05:45", 345}, {"8", 480},
        {"0", 0},        {"+0", 0},      {"-0", 0},      {"00:00", 0},    {"+14:00", 840},
        {"-12:00", -720}, {"14", 840},   {"-12", -720},  {"-00:30", -30}, {"-0:30", -30},
        {"+9:30", 570},  {"-09:30", -570}, {"13:59", 839}, {"-11:59", -719},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int32_t m = 12345;
        int rc = kl_tz_parse(ok[i].s, &m);
        if (rc != 0 || m != ok[i].minutes)
            fail_msg("kl_tz_parse(\"%s\"): rc %d, minutes %d, want %d", ok[i].s, rc, (int)m,
                     (int)ok[i].minutes);
    }
    static const char *const bad[] = {
        "+14:01", "-12:01", "15", "-13", "24", "5:60", "abc", "+8:0", "", "+", "-", ":",
        "+:30", "08:", "8:000", "008:00", "+08:00:00", "08:00 ", " 08:00", "++8", "--1",
        "+-8", "8h", "0x8", "08.00", "0800", "+\xd9\xa1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t m = 12345;
        if (kl_tz_parse(bad[i], &m) != KL_ETZ)
            fail_msg("kl_tz_parse(\"%s\") accepted", bad[i]);
        if (m != 12345)
            fail_msg("kl_tz_parse(\"%s\") failed but wrote the offset", bad[i]);
    }
}

/* origin DEF means kl_iv_default_origin_ms(iv). */
#define DEF INT64_MIN

struct iv_case {
    int iv;
    int64_t unit_per_ms;
    int32_t tz_minutes;
    int64_t origin_ms;
    int64_t t, open, next; /* in the unit */
};

static void
check_iv_cases(const struct iv_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kl_ivspec_t spec;
        int64_t origin =
            c[i].origin_ms == DEF ? kl_iv_default_origin_ms(c[i].iv) : c[i].origin_ms;
        kl_ivspec_init(&spec, c[i].iv, c[i].unit_per_ms, c[i].tz_minutes, origin);
        int64_t open = kl_iv_open(&spec, c[i].t);
        int64_t next = kl_iv_next(&spec, open);
        if (open != c[i].open || next != c[i].next)
            fail_msg("row %zu (%s, tz %d, unit %lld, t %lld): open %lld next %lld, "
                     "want %lld %lld",
                     i, iv_names[c[i].iv], (int)c[i].tz_minutes, (long long)c[i].unit_per_ms,
                     (long long)c[i].t, (long long)open, (long long)next, (long long)c[i].open,
                     (long long)c[i].next);
        /* closeTime = next open - 1 must still belong to this kline, and next open to the next. */
        int64_t close = next - 1;
        if (kl_iv_open(&spec, close) != open || kl_iv_open(&spec, next) != next ||
            kl_iv_open(&spec, open) != open || kl_iv_open(&spec, open - 1) == open)
            fail_msg("row %zu (%s): close time %lld not in [%lld, %lld)", i,
                     iv_names[c[i].iv], (long long)close, (long long)open, (long long)next);
    }
}

/* Every interval at several instants, offsets and units. */
static const struct iv_case all_cases[] = {
    /* 2024-03-15T13:47:29.123Z, tz +0 min, unit_per_ms 1 */
    {KL_IV_1S, 1, 0, DEF, 1710510449123LL, 1710510449000LL, 1710510450000LL},
    {KL_IV_1M, 1, 0, DEF, 1710510449123LL, 1710510420000LL, 1710510480000LL},
    {KL_IV_3M, 1, 0, DEF, 1710510449123LL, 1710510300000LL, 1710510480000LL},
    {KL_IV_5M, 1, 0, DEF, 1710510449123LL, 1710510300000LL, 1710510600000LL},
    {KL_IV_15M, 1, 0, DEF, 1710510449123LL, 1710510300000LL, 1710511200000LL},
    {KL_IV_30M, 1, 0, DEF, 1710510449123LL, 1710509400000LL, 1710511200000LL},
    {KL_IV_1H, 1, 0, DEF, 1710510449123LL, 1710507600000LL, 1710511200000LL},
    {KL_IV_2H, 1, 0, DEF, 1710510449123LL, 1710504000000LL, 1710511200000LL},
    {KL_IV_4H, 1, 0, DEF, 1710510449123LL, 1710504000000LL, 1710518400000LL},
    {KL_IV_6H, 1, 0, DEF, 1710510449123LL, 1710504000000LL, 1710525600000LL},
    {KL_IV_8H, 1, 0, DEF, 1710510449123LL, 1710489600000LL, 1710518400000LL},
    {KL_IV_12H, 1, 0, DEF, 1710510449123LL, 1710504000000LL, 1710547200000LL},
    {KL_IV_1D, 1, 0, DEF, 1710510449123LL, 1710460800000LL, 1710547200000LL},
    {KL_IV_3D, 1, 0, DEF, 1710510449123LL, 1710460800000LL, 1710720000000LL},
    {KL_IV_1W, 1, 0, DEF, 1710510449123LL, 1710115200000LL, 1710720000000LL},
    {KL_IV_1MO, 1, 0, DEF, 1710510449123LL, 1709251200000LL, 1711929600000LL},
    /* 2024-03-15T13:47:29.123Z, tz +345 min, unit_per_ms 1 */
    {KL_IV_1S, 1, 345, DEF, 1710510449123LL, 1710510449000LL, 1710510450000LL},
    {KL_IV_1M, 1, 345, DEF, 1710510449123LL, 1710510420000LL, 1710510480000LL},
    {KL_IV_3M, 1, 345, DEF, 1710510449123LL, 1710510300000LL, 1710510480000LL},
    {KL_IV_5M, 1, 345, DEF, 1710510449123LL, 1710510300000LL, 1710510600000LL},
    {KL_IV_15M, 1, 345, DEF, 1710510449123LL, 1710510300000LL, 1710511200000LL},
    {KL_IV_30M, 1, 345, DEF, 1710510449123LL, 1710510300000LL, 1710512100000LL},
    {KL_IV_1H, 1, 345, DEF, 1710510449123LL, 1710508500000LL, 1710512100000LL},
    {KL_IV_2H, 1, 345, DEF, 1710510449123LL, 1710504900000LL, 1710512100000LL},
    {KL_IV_4H, 1, 345, DEF, 1710510449123LL, 1710497700000LL, 1710512100000LL},
    {KL_IV_6H, 1, 345, DEF, 1710510449123LL, 1710504900000LL, 1710526500000LL},
    {KL_IV_8H, 1, 345, DEF, 1710510449123LL, 1710497700000LL, 1710526500000LL},
    {KL_IV_12H, 1, 345, DEF, 1710510449123LL, 1710483300000LL, 1710526500000LL},
    {KL_IV_1D, 1, 345, DEF, 1710510449123LL, 1710440100000LL, 1710526500000LL},
    {KL_IV_3D, 1, 345, DEF, 1710510449123LL, 1710440100000LL, 1710699300000LL},
    {KL_IV_1W, 1, 345, DEF, 1710510449123LL, 1710094500000LL, 1710699300000LL},
    {KL_IV_1MO, 1, 345, DEF, 1710510449123LL, 1709230500000LL, 1711908900000LL},
    /* 2024-03-15T13:47:29.123Z, tz -720 min, unit_per_ms 1 */
    {KL_IV_1S, 1, -720, DEF, 1710510449123LL, 1710510449000LL, 1710510450000LL},
    {KL_IV_1M, 1, -720, DEF, 1710510449123LL, 1710510420000LL, 1710510480000LL},
    {KL_IV_3M, 1, -720, DEF, 1710510449123LL, 1710510300000LL, 1710510480000LL},
    {KL_IV_5M, 1, -720, DEF, 1710510449123LL, 1710510300000LL, 1710510600000LL},
    {KL_IV_15M, 1, -720, DEF, 1710510449123LL, 1710510300000LL, 1710511200000LL},
    {KL_IV_30M, 1, -720, DEF, 1710510449123LL, 1710509400000LL, 1710511200000LL},
    {KL_IV_1H, 1, -720, DEF, 1710510449123LL, 1710507600000LL, 1710511200000LL},
    {KL_IV_2H, 1, -720, DEF, 1710510449123LL, 1710504000000LL, 1710511200000LL},
    {KL_IV_4H, 1, -720, DEF, 1710510449123LL, 1710504000000LL, 1710518400000LL},
    {KL_IV_6H, 1, -720, DEF, 1710510449123LL, 1710504000000LL, 1710525600000LL},
    {KL_IV_8H, 1, -720, DEF, 1710510449123LL, 1710504000000LL, 1710532800000LL},
    {KL_IV_12H, 1, -720, DEF, 1710510449123LL, 1710504000000LL, 1710547200000LL},
    {KL_IV_1D, 1, -720, DEF, 1710510449123LL, 1710504000000LL, 1710590400000LL},
    {KL_IV_3D, 1, -720, DEF, 1710510449123LL, 1710504000000LL, 1710763200000LL},
    {KL_IV_1W, 1, -720, DEF, 1710510449123LL, 1710158400000LL, 1710763200000LL},
    {KL_IV_1MO, 1, -720, DEF, 1710510449123LL, 1709294400000LL, 1711972800000LL},
    /* 2024-03-15T13:47:29.123Z, tz +840 min, unit_per_ms 1 */
    {KL_IV_1S, 1, 840, DEF, 1710510449123LL, 1710510449000LL, 1710510450000LL},
    {KL_IV_1M, 1, 840, DEF, 1710510449123LL, 1710510420000LL, 1710510480000LL},
    {KL_IV_3M, 1, 840, DEF, 1710510449123LL, 1710510300000LL, 1710510480000LL},
    {KL_IV_5M, 1, 840, DEF, 1710510449123LL, 1710510300000LL, 1710510600000LL},
    {KL_IV_15M, 1, 840, DEF, 1710510449123LL, 1710510300000LL, 1710511200000LL},
    {KL_IV_30M, 1, 840, DEF, 1710510449123LL, 1710509400000LL, 1710511200000LL},
    {KL_IV_1H, 1, 840, DEF, 1710510449123LL, 1710507600000LL, 1710511200000LL},
    {KL_IV_2H, 1, 840, DEF, 1710510449123LL, 1710504000000LL, 1710511200000LL},
    {KL_IV_4H, 1, 840, DEF, 1710510449123LL, 1710496800000LL, 1710511200000LL},
    {KL_IV_6H, 1, 840, DEF, 1710510449123LL, 1710496800000LL, 1710518400000LL},
    {KL_IV_8H, 1, 840, DEF, 1710510449123LL, 1710496800000LL, 1710525600000LL},
    {KL_IV_12H, 1, 840, DEF, 1710510449123LL, 1710496800000LL, 1710540000000LL},
    {KL_IV_1D, 1, 840, DEF, 1710510449123LL, 1710496800000LL, 1710583200000LL},
    {KL_IV_3D, 1, 840, DEF, 1710510449123LL, 1710410400000LL, 1710669600000LL},
    {KL_IV_1W, 1, 840, DEF, 1710510449123LL, 1710064800000LL, 1710669600000LL},
    {KL_IV_1MO, 1, 840, DEF, 1710510449123LL, 1709200800000LL, 1711879200000LL},
    /* 2025-06-30T23:59:59.999Z, tz +480 min, unit_per_ms 1000 */
    {KL_IV_1S, 1000, 480, DEF, 1751327999999999LL, 1751327999000000LL, 1751328000000000LL},
    {KL_IV_1M, 1000, 480, DEF, 1751327999999999LL, 1751327940000000LL, 1751328000000000LL},
    {KL_IV_3M, 1000, 480, DEF, 1751327999999999LL, 1751327820000000LL, 1751328000000000LL},
    {KL_IV_5M, 1000, 480, DEF, 1751327999999999LL, 1751327700000000LL, 1751328000000000LL},
    {KL_IV_15M, 1000, 480, DEF, 1751327999999999LL, 1751327100000000LL, 1751328000000000LL},
    {KL_IV_30M, 1000, 480, DEF, 1751327999999999LL, 1751326200000000LL, 1751328000000000LL},
    {KL_IV_1H, 1000, 480, DEF, 1751327999999999LL, 1751324400000000LL, 1751328000000000LL},
    {KL_IV_2H, 1000, 480, DEF, 1751327999999999LL, 1751320800000000LL, 1751328000000000LL},
    {KL_IV_4H, 1000, 480, DEF, 1751327999999999LL, 1751313600000000LL, 1751328000000000LL},
    {KL_IV_6H, 1000, 480, DEF, 1751327999999999LL, 1751320800000000LL, 1751342400000000LL},
    {KL_IV_8H, 1000, 480, DEF, 1751327999999999LL, 1751299200000000LL, 1751328000000000LL},
    {KL_IV_12H, 1000, 480, DEF, 1751327999999999LL, 1751299200000000LL, 1751342400000000LL},
    {KL_IV_1D, 1000, 480, DEF, 1751327999999999LL, 1751299200000000LL, 1751385600000000LL},
    {KL_IV_3D, 1000, 480, DEF, 1751327999999999LL, 1751126400000000LL, 1751385600000000LL},
    {KL_IV_1W, 1000, 480, DEF, 1751327999999999LL, 1751212800000000LL, 1751817600000000LL},
    {KL_IV_1MO, 1000, 480, DEF, 1751327999999999LL, 1751299200000000LL, 1753977600000000LL},
    /* 1969-07-20T20:17:40.500Z, tz +0 min, unit_per_ms 1 */
    {KL_IV_1S, 1, 0, DEF, -14182939500LL, -14182940000LL, -14182939000LL},
    {KL_IV_1M, 1, 0, DEF, -14182939500LL, -14182980000LL, -14182920000LL},
    {KL_IV_3M, 1, 0, DEF, -14182939500LL, -14183100000LL, -14182920000LL},
    {KL_IV_5M, 1, 0, DEF, -14182939500LL, -14183100000LL, -14182800000LL},
    {KL_IV_15M, 1, 0, DEF, -14182939500LL, -14183100000LL, -14182200000LL},
    {KL_IV_30M, 1, 0, DEF, -14182939500LL, -14184000000LL, -14182200000LL},
    {KL_IV_1H, 1, 0, DEF, -14182939500LL, -14184000000LL, -14180400000LL},
    {KL_IV_2H, 1, 0, DEF, -14182939500LL, -14184000000LL, -14176800000LL},
    {KL_IV_4H, 1, 0, DEF, -14182939500LL, -14184000000LL, -14169600000LL},
    {KL_IV_6H, 1, 0, DEF, -14182939500LL, -14191200000LL, -14169600000LL},
    {KL_IV_8H, 1, 0, DEF, -14182939500LL, -14198400000LL, -14169600000LL},
    {KL_IV_12H, 1, 0, DEF, -14182939500LL, -14212800000LL, -14169600000LL},
    {KL_IV_1D, 1, 0, DEF, -14182939500LL, -14256000000LL, -14169600000LL},
    {KL_IV_3D, 1, 0, DEF, -14182939500LL, -14256000000LL, -13996800000LL},
    {KL_IV_1W, 1, 0, DEF, -14182939500LL, -14774400000LL, -14169600000LL},
    {KL_IV_1MO, 1, 0, DEF, -14182939500LL, -15897600000LL, -13219200000LL},
    /* 1969-07-20T20:17:40.500Z, tz +345 min, unit_per_ms 1 */
    {KL_IV_1S, 1, 345, DEF, -14182939500LL, -14182940000LL, -14182939000LL},
    {KL_IV_1M, 1, 345, DEF, -14182939500LL, -14182980000LL, -14182920000LL},
    {KL_IV_3M, 1, 345, DEF, -14182939500LL, -14183100000LL, -14182920000LL},
    {KL_IV_5M, 1, 345, DEF, -14182939500LL, -14183100000LL, -14182800000LL},
    {KL_IV_15M, 1, 345, DEF, -14182939500LL, -14183100000LL, -14182200000LL},
    {KL_IV_30M, 1, 345, DEF, -14182939500LL, -14183100000LL, -14181300000LL},
    {KL_IV_1H, 1, 345, DEF, -14182939500LL, -14183100000LL, -14179500000LL},
    {KL_IV_2H, 1, 345, DEF, -14182939500LL, -14183100000LL, -14175900000LL},
    {KL_IV_4H, 1, 345, DEF, -14182939500LL, -14190300000LL, -14175900000LL},
    {KL_IV_6H, 1, 345, DEF, -14182939500LL, -14190300000LL, -14168700000LL},
    {KL_IV_8H, 1, 345, DEF, -14182939500LL, -14190300000LL, -14161500000LL},
    {KL_IV_12H, 1, 345, DEF, -14182939500LL, -14190300000LL, -14147100000LL},
    {KL_IV_1D, 1, 345, DEF, -14182939500LL, -14190300000LL, -14103900000LL},
    {KL_IV_3D, 1, 345, DEF, -14182939500LL, -14276700000LL, -14017500000LL},
    {KL_IV_1W, 1, 345, DEF, -14182939500LL, -14190300000LL, -13585500000LL},
    {KL_IV_1MO, 1, 345, DEF, -14182939500LL, -15918300000LL, -13239900000LL},
    /* 1969-12-31T23:59:59.999Z, tz +0 min, unit_per_ms 1000 */
    {KL_IV_1S, 1000, 0, DEF, -1LL, -1000000LL, 0LL},
    {KL_IV_1M, 1000, 0, DEF, -1LL, -60000000LL, 0LL},
    {KL_IV_3M, 1000, 0, DEF, -1LL, -180000000LL, 0LL},
    {KL_IV_5M, 1000, 0, DEF, -1LL, -300000000LL, 0LL},
    {KL_IV_15M, 1000, 0, DEF, -1LL, -900000000LL, 0LL},
    {KL_IV_30M, 1000, 0, DEF, -1LL, -1800000000LL, 0LL},
    {KL_IV_1H, 1000, 0, DEF, -1LL, -3600000000LL, 0LL},
    {KL_IV_2H, 1000, 0, DEF, -1LL, -7200000000LL, 0LL},
    {KL_IV_4H, 1000, 0, DEF, -1LL, -14400000000LL, 0LL},
    {KL_IV_6H, 1000, 0, DEF, -1LL, -21600000000LL, 0LL},
    {KL_IV_8H, 1000, 0, DEF, -1LL, -28800000000LL, 0LL},
    {KL_IV_12H, 1000, 0, DEF, -1LL, -43200000000LL, 0LL},
    {KL_IV_1D, 1000, 0, DEF, -1LL, -86400000000LL, 0LL},
    {KL_IV_3D, 1000, 0, DEF, -1LL, -259200000000LL, 0LL},
    {KL_IV_1W, 1000, 0, DEF, -1LL, -259200000000LL, 345600000000LL},
    {KL_IV_1MO, 1000, 0, DEF, -1LL, -2678400000000LL, 0LL},
};

static void
test_all_intervals(void **state)
{
    (void)state;
    check_iv_cases(all_cases, sizeof all_cases / sizeof all_cases[0]);
}

/* Calendar edges: weeks across year ends, month ends, leap days, extreme offsets, 3d origins. */
static const struct iv_case edge_cases[] = {
    /* 2020-12-31T12:00:00Z, tz +0 min: opens 2020-12-28T00:00Z */
    {KL_IV_1W, 1, 0, DEF, 1609416000000LL, 1609113600000LL, 1609718400000LL},
    /* 2024-12-31T00:00:00Z, tz +0 min: opens 2024-12-30T00:00Z */
    {KL_IV_1W, 1, 0, DEF, 1735603200000LL, 1735516800000LL, 1736121600000LL},
    /* 2026-01-01T00:00:00Z, tz +0 min: opens 2025-12-29T00:00Z */
    {KL_IV_1W, 1, 0, DEF, 1767225600000LL, 1766966400000LL, 1767571200000LL},
    /* 2024-12-29T23:59:59.999Z, tz +0 min: opens 2024-12-23T00:00Z */
    {KL_IV_1W, 1, 0, DEF, 1735516799999LL, 1734912000000LL, 1735516800000LL},
    /* 2024-12-30T00:00:00Z, tz +0 min: opens 2024-12-30T00:00Z */
    {KL_IV_1W, 1, 0, DEF, 1735516800000LL, 1735516800000LL, 1736121600000LL},
    /* 2026-01-04T16:30:00Z, tz +480 min: opens 2026-01-04T16:00Z */
    {KL_IV_1W, 1, 480, DEF, 1767544200000LL, 1767542400000LL, 1768147200000LL},
    /* 2025-12-28T12:00:00Z, tz -720 min: opens 2025-12-22T12:00Z */
    {KL_IV_1W, 1, -720, DEF, 1766923200000LL, 1766404800000LL, 1767009600000LL},
    /* 2025-12-28T10:00:00Z, tz +840 min: opens 2025-12-28T10:00Z */
    {KL_IV_1W, 1, 840, DEF, 1766916000000LL, 1766916000000LL, 1767520800000LL},
    /* 2024-02-29T23:59:59.999Z, tz +0 min: opens 2024-02-01T00:00Z */
    {KL_IV_1MO, 1, 0, DEF, 1709251199999LL, 1706745600000LL, 1709251200000LL},
    /* 2024-03-01T00:00:00Z, tz +0 min: opens 2024-03-01T00:00Z */
    {KL_IV_1MO, 1, 0, DEF, 1709251200000LL, 1709251200000LL, 1711929600000LL},
    /* 2100-02-28T12:00:00Z, tz +0 min: opens 2100-02-01T00:00Z */
    {KL_IV_1MO, 1, 0, DEF, 4107499200000LL, 4105123200000LL, 4107542400000LL},
    /* 2000-02-29T12:00:00Z, tz +0 min: opens 2000-02-01T00:00Z */
    {KL_IV_1MO, 1, 0, DEF, 951825600000LL, 949363200000LL, 951868800000LL},
    /* 2023-12-31T23:59:59.999Z, tz +0 min: opens 2023-12-01T00:00Z */
    {KL_IV_1MO, 1, 0, DEF, 1704067199999LL, 1701388800000LL, 1704067200000LL},
    /* 2024-01-31T12:00:00Z, tz +0 min: opens 2024-01-01T00:00Z */
    {KL_IV_1MO, 1, 0, DEF, 1706702400000LL, 1704067200000LL, 1706745600000LL},
    /* 2024-03-01T05:00:00Z, tz -720 min: opens 2024-02-01T12:00Z */
    {KL_IV_1MO, 1, -720, DEF, 1709269200000LL, 1706788800000LL, 1709294400000LL},
    /* 2024-02-29T10:00:00Z, tz +840 min: opens 2024-02-29T10:00Z */
    {KL_IV_1MO, 1, 840, DEF, 1709200800000LL, 1709200800000LL, 1711879200000LL},
    /* 2024-02-29T18:15:00Z, tz +345 min: opens 2024-02-29T18:15Z */
    {KL_IV_1MO, 1, 345, DEF, 1709230500000LL, 1709230500000LL, 1711908900000LL},
    /* 2024-12-31T16:00:00Z, tz +480 min: opens 2024-12-31T16:00Z */
    {KL_IV_1MO, 1, 480, DEF, 1735660800000LL, 1735660800000LL, 1738339200000LL},
    /* 1969-12-31T23:59:59.999Z, tz +0 min: opens 1969-12-01T00:00Z */
    {KL_IV_1MO, 1, 0, DEF, -1LL, -2678400000LL, 0LL},
    /* 1900-02-15T00:00:00Z, tz +0 min: opens 1900-02-01T00:00Z */
    {KL_IV_1MO, 1, 0, DEF, -2205100800000LL, -2206310400000LL, -2203891200000LL},
    /* 2024-01-01T20:00:00Z, tz +480 min: opens 2024-01-01T16:00Z */
    {KL_IV_1D, 1, 480, DEF, 1704139200000LL, 1704124800000LL, 1704211200000LL},
    /* 2024-01-01T15:59:59.999Z, tz +480 min: opens 2023-12-31T16:00Z */
    {KL_IV_1D, 1, 480, DEF, 1704124799999LL, 1704038400000LL, 1704124800000LL},
    /* 2024-01-01T00:00:00Z, tz -720 min: opens 2023-12-31T12:00Z */
    {KL_IV_1D, 1, -720, DEF, 1704067200000LL, 1704024000000LL, 1704110400000LL},
    /* 2024-03-15T13:47:29.123Z, tz +0 min: opens 2024-03-15T00:00Z */
    {KL_IV_3D, 1, 0, DEF, 1710510449123LL, 1710460800000LL, 1710720000000LL},
    /* 1970-01-03T23:59:59.999Z, tz +0 min: opens 1970-01-01T00:00Z */
    {KL_IV_3D, 1, 0, DEF, 259199999LL, 0LL, 259200000LL},
    /* 1970-01-04T00:00:00Z, tz +0 min: opens 1970-01-04T00:00Z */
    {KL_IV_3D, 1, 0, DEF, 259200000LL, 259200000LL, 518400000LL},
    /* 1969-12-31T23:59:59.999Z, tz +0 min: opens 1969-12-29T00:00Z */
    {KL_IV_3D, 1, 0, DEF, -1LL, -259200000LL, 0LL},
    /* 2024-03-15T13:47:29.123Z, tz +480 min: opens 2024-03-14T16:00Z */
    {KL_IV_3D, 1, 480, DEF, 1710510449123LL, 1710432000000LL, 1710691200000LL},
    /* 2024-03-15T13:47:29.123Z, tz +0 min, origin day 1: opens 2024-03-13T00:00Z */
    {KL_IV_3D, 1, 0, 86400000LL, 1710510449123LL, 1710288000000LL, 1710547200000LL},
    /* 2024-03-15T13:47:29.123Z, tz +0 min, origin day 2: opens 2024-03-14T00:00Z */
    {KL_IV_3D, 1, 0, 172800000LL, 1710510449123LL, 1710374400000LL, 1710633600000LL},
    /* 2024-03-15T13:47:29.123Z, tz +480 min, origin day 2: opens 2024-03-13T16:00Z */
    {KL_IV_3D, 1, 480, 172800000LL, 1710510449123LL, 1710345600000LL, 1710604800000LL},
    /* 1969-12-31T23:59:59.999Z, tz +0 min, origin day 2: opens 1969-12-31T00:00Z */
    {KL_IV_3D, 1, 0, 172800000LL, -1LL, -86400000LL, 172800000LL},
};

static void
test_calendar_edges(void **state)
{
    (void)state;
    check_iv_cases(edge_cases, sizeof edge_cases / sizeof edge_cases[0]);
}

static void
test_month_walk(void **state)
{
    (void)state;
    /* Walking 1M from 1900 to 2300 must visit the 1st of every month at local midnight. */
    static const int32_t tzs[] = {0, 480, -720, 840, 345};
    for (size_t k = 0; k < sizeof tzs / sizeof tzs[0]; k++) {
        for (int64_t unit = 1; unit <= 1000; unit *= 1000) {
            kl_ivspec_t spec;
            kl_ivspec_init(&spec, KL_IV_1MO, unit, tzs[k], 0);
            int64_t day = 86400000LL * unit, tz = (int64_t)tzs[k] * 60000 * unit;
            /* 1900-01-01 is day -25567. */
            int64_t open = kl_iv_open(&spec, -25567 * day - tz + 12345);
            assert_true(open == -25567 * day - tz);
            int64_t y = 1900;
            unsigned m = 1;
            for (int i = 0; i < 400 * 12; i++) {
                assert_true((open + tz) % day == 0);
                int64_t cy;
                unsigned cm, cd;
                kl_civil_from_days((open + tz) / day - ((open + tz) % day < 0), &cy, &cm, &cd);
                if (cy != y || cm != m || cd != 1)
                    fail_msg("tz %d unit %lld: month %d opens %lld-%u-%u, want %lld-%u-1",
                             (int)tzs[k], (long long)unit, i, (long long)cy, cm, cd,
                             (long long)y, m);
                int64_t next = kl_iv_next(&spec, open);
                static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
                int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
                unsigned want_days = mdays[m - 1] + (m == 2 && leap);
                assert_true(next - open == (int64_t)want_days * day);
                assert_true(kl_iv_open(&spec, next - 1) == open);
                open = next;
                if (++m == 13) {
                    m = 1;
                    y++;
                }
            }
        }
    }
}

static uint64_t
xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void
test_boundary_sweep(void **state)
{
    (void)state;
    /* Properties that hold for any instant: t lies in [open, next), boundaries are fixed points,
     * fixed lengths land on origin + k*len in local time, weeks open on Monday. */
    static const int32_t tzs[] = {0, 480, -60, 345, -720, 840, 570};
    static const int64_t origins[] = {0, 86400000LL, 2 * 86400000LL};
    uint64_t seed = 0x2545F4914F6CDD1DULL;
    for (int i = 0; i < 60000; i++) {
        int iv = (int)(xorshift64(&seed) % KL_IV_COUNT);
        int32_t tzm = tzs[xorshift64(&seed) % (sizeof tzs / sizeof tzs[0])];
        int64_t unit = (xorshift64(&seed) & 1) ? 1000 : 1;
        int64_t origin =
            iv == KL_IV_3D ? origins[xorshift64(&seed) % 3] : kl_iv_default_origin_ms(iv);
        /* Instants between about 1900 and 2200. */
        int64_t t_ms = (int64_t)(xorshift64(&seed) % 9467280000000ULL) - 2208988800000LL;
        int64_t t = t_ms * unit + (int64_t)(xorshift64(&seed) % (uint64_t)unit);
        kl_ivspec_t spec;
        kl_ivspec_init(&spec, iv, unit, tzm, origin);
        int64_t open = kl_iv_open(&spec, t), next = kl_iv_next(&spec, open);
        if (!(open <= t && t < next))
            fail_msg("%s tz %d: t %lld outside [%lld, %lld)", iv_names[iv], (int)tzm,
                     (long long)t, (long long)open, (long long)next);
        assert_true(kl_iv_open(&spec, open) == open);
        assert_true(kl_iv_open(&spec, next - 1) == open);
        assert_true(kl_iv_open(&spec, next) == next);
        int64_t tz = (int64_t)tzm * 60000 * unit, day = 86400000LL * unit;
        int64_t len = kl_iv_len_ms(iv) * unit;
        if (len != 0) {
            assert_true(next - open == len);
            int64_t r = (open + tz - origin * unit) % len;
            assert_true(r == 0);
        }
        if (iv >= KL_IV_1D) {
            int64_t local = open + tz;
            assert_true(local % day == 0);
            int64_t z = local / day - (local < 0 && local % day != 0);
            if (iv == KL_IV_1W)
                assert_int_equal(((z % 7) + 7 + 3) % 7, 0); /* day 0 was a Thursday */
            if (iv == KL_IV_1MO) {
                int64_t y;
                unsigned m, d;
                kl_civil_from_days(z, &y, &m, &d);
                assert_int_equal(d, 1);
            }
        }
    }
}

static void
test_civil_round_trip(void **state)
{
    (void)state;
    static const struct {
        int64_t y;
        unsigned m, d;
        int64_t z;
    } known[] = {
        {1970, 1, 1, 0},       {1969, 12, 31, -1},   {2000, 2, 29, 11016}, {2000, 3, 1, 11017},
        {1900, 2, 28, -25509}, {1900, 3, 1, -25508}, {2100, 3, 1, 47541},  {2024, 2, 29, 19782},
        {1600, 2, 29, -135081}, {1, 1, 1, -719162},  {9999, 12, 31, 2932896},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        assert_int_equal(kl_days_from_civil(known[i].y, known[i].m, known[i].d), known[i].z);
        int64_t y;
        unsigned m, d;
        kl_civil_from_days(known[i].z, &y, &m, &d);
        assert_int_equal(y, known[i].y);
        assert_int_equal(m, known[i].m);
        assert_int_equal(d, known[i].d);
    }
    /* Every day from year -800 to 9999: the inverse holds and dates advance one day at a time. */
    int64_t py;
    unsigned pm, pd;
    const int64_t z0 = -1011500, z1 = 2932896;
    kl_civil_from_days(z0 - 1, &py, &pm, &pd);
    for (int64_t z = z0; z <= z1; z++) {
        int64_t y;
        unsigned m, d;
        kl_civil_from_days(z, &y, &m, &d);
        if (kl_days_from_civil(y, m, d) != z)
            fail_msg("day %lld -> %lld-%u-%u does not map back", (long long)z, (long long)y, m,
                     d);
        int same_month = y == py && m == pm && d == pd + 1;
        int new_month = d == 1 && ((y == py && m == pm + 1) || (y == py + 1 && m == 1 && pm == 12));
        if (!same_month && !new_month)
            fail_msg("day %lld: %lld-%u-%u does not follow %lld-%u-%u", (long long)z,
                     (long long)y, m, d, (long long)py, pm, pd);
        py = y;
        pm = m;
        pd = d;
    }
    assert_int_equal(py, 9999);
    assert_int_equal(pm, 12);
    assert_int_equal(pd, 31);
}

/* Any int64 is a valid input (REST startTime/endTime reach here): no signed overflow (UBSan
 * aborts the ASan build on one), and the saturated results still bracket the clamped time. */
static void
test_extreme_times(void **state)
{
    (void)state;
    static const int64_t ts[] = {INT64_MAX, INT64_MAX - 1, INT64_MIN, INT64_MIN + 1,
                                 KL_IV_T_LIMIT, KL_IV_T_LIMIT + 1, -KL_IV_T_LIMIT,
                                 -KL_IV_T_LIMIT - 1, 9223372036854775000LL, 0};
    static const int32_t tzs[] = {KL_TZ_MIN_MINUTES, 0, 345, KL_TZ_MAX_MINUTES};
    for (int iv = 0; iv < KL_IV_COUNT; iv++)
        for (int u = 0; u < 2; u++)
            for (size_t z = 0; z < sizeof tzs / sizeof tzs[0]; z++) {
                kl_ivspec_t sp;
                kl_ivspec_init(&sp, iv, u ? 1000 : 1, tzs[z], kl_iv_default_origin_ms(iv));
                for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
                    int64_t t = ts[i] > KL_IV_T_LIMIT    ? KL_IV_T_LIMIT
                                : ts[i] < -KL_IV_T_LIMIT ? -KL_IV_T_LIMIT
                                                         : ts[i];
                    int64_t open = kl_iv_open(&sp, ts[i]);
                    int64_t next = kl_iv_next(&sp, open);
                    assert_true(open <= t);
                    assert_true(next > t);
                    /* next of any time saturates instead of wrapping */
                    int64_t nx = kl_iv_next(&sp, ts[i]);
                    assert_true(ts[i] < 0 || nx > 0);
                    assert_true(kl_iv_open(&sp, next) == next || next > KL_IV_T_LIMIT);
                }
            }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_lengths),
        cmocka_unit_test(test_iv_parse),
        cmocka_unit_test(test_iv_parse_list),
        cmocka_unit_test(test_tz_parse),
        cmocka_unit_test(test_all_intervals),
        cmocka_unit_test(test_calendar_edges),
        cmocka_unit_test(test_month_walk),
        cmocka_unit_test(test_boundary_sweep),
        cmocka_unit_test(test_civil_round_trip),
        cmocka_unit_test(test_extreme_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
