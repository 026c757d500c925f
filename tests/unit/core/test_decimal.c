/* Unit tests for src/core/decimal.c: the exact 1e-8 fixed-point parser and the 8-place printers
 * that every kline field goes through. Parity with Binance is decided here to the last digit, so
 * the boundaries (INT64_MAX units, 9th decimal, __int128 sums, negative zero) are pinned with
 * expected strings computed independently in Python when the tests were written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/decimal.h"
#include "kl/err.h"

/* Any value no parse can produce from the inputs below, to see that errors leave *out alone. */
#define SENTINEL ((int64_t)0x5A5A5A5A5A5A5A5ALL)

struct dec_case {
    const char *s;
    int rc;
    int64_t want; /* only when rc == 0 */
};

static void
check_dec_cases(const struct dec_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kl_dec_t out = SENTINEL;
        int rc = kl_dec_parse(c[i].s, strlen(c[i].s), &out);
        if (rc != c[i].rc)
            fail_msg("kl_dec_parse(\"%s\") returned %d, want %d", c[i].s, rc, c[i].rc);
        if (rc == 0 && out != c[i].want)
            fail_msg("kl_dec_parse(\"%s\") = %lld, want %lld", c[i].s, (long long)out,
                     (long long)c[i].want);
        if (rc != 0 && out != SENTINEL)
            fail_msg("kl_dec_parse(\"%s\") failed but wrote *out = %lld", c[i].s,
                     (long long)out);
    }
}

static void
test_error_codes_distinct(void **state)
{
    (void)state;
    /* Callers count each kind separately, so the codes and their messages must differ. */
    assert_true(KL_EDEC_SYNTAX < 0 && KL_EDEC_PRECISION < 0 && KL_EDEC_OVERFLOW < 0);
    assert_int_not_equal(KL_EDEC_SYNTAX, KL_EDEC_PRECISION);
    assert_int_not_equal(KL_EDEC_SYNTAX, KL_EDEC_OVERFLOW);
    assert_int_not_equal(KL_EDEC_PRECISION, KL_EDEC_OVERFLOW);
    assert_int_not_equal(KL_EINT_SYNTAX, KL_EINT_OVERFLOW);
    assert_string_equal(kl_strerror(KL_EDEC_SYNTAX), "not a decimal number");
    assert_string_equal(kl_strerror(KL_EDEC_PRECISION), "more than 8 decimal places");
    assert_string_equal(kl_strerror(KL_EDEC_OVERFLOW), "decimal out of range");
}

static void
test_dec_parse_ok(void **state)
{
    (void)state;
    static const struct dec_case c[] = {
        {"0", 0, 0},
        {"0.0", 0, 0},
        {"-0", 0, 0},
        {"-0.00000000", 0, 0},
        {"0.00000001", 0, 1},
        {"1", 0, 100000000},
        {"1.5", 0, 150000000},
        {"0.01634790", 0, 1634790},
        {"000123.4", 0, 12340000000LL},
        {"-0.5", 0, -50000000},
        {"-0.00000001", 0, -1},
        {"92233720368.54775807", 0, INT64_MAX},
        {"-92233720368.54775807", 0, -INT64_MAX},
        {"-92233720368.54775808", 0, INT64_MIN},
        {"00000000000092233720368.54775807", 0, INT64_MAX},
        {"99999999.99999999", 0, 9999999999999999LL},
        /* Zeros past the 8th place keep the value exact, so they are accepted. */
        {"1.123456780000", 0, 112345678},
        {"0.000000010", 0, 1},
        {"5.00000000000000000000000000", 0, 500000000},
    };
    check_dec_cases(c, sizeof c / sizeof c[0]);
}

static void
test_dec_parse_overflow(void **state)
{
    (void)state;
    static const struct dec_case c[] = {
        {"92233720368.54775808", KL_EDEC_OVERFLOW, 0},
        {"-92233720368.54775809", KL_EDEC_OVERFLOW, 0},
        {"92233720369", KL_EDEC_OVERFLOW, 0},
        {"99999999999", KL_EDEC_OVERFLOW, 0},
        {"99999999999.99999999", KL_EDEC_OVERFLOW, 0},
        {"100000000000", KL_EDEC_OVERFLOW, 0},
        {"99999999999999999999", KL_EDEC_OVERFLOW, 0},
        {"-99999999999999999999", KL_EDEC_OVERFLOW, 0},
        {"123456789012345678901234567890.5", KL_EDEC_OVERFLOW, 0},
    };
    check_dec_cases(c, sizeof c / sizeof c[0]);
}

static void
test_dec_parse_precision(void **state)
{
    (void)state;
    static const struct dec_case c[] = {
        {"0.000000001", KL_EDEC_PRECISION, 0},
        {"1.123456789", KL_EDEC_PRECISION, 0},
        {"0.123456785", KL_EDEC_PRECISION, 0},
        {"-0.000000005", KL_EDEC_PRECISION, 0},
        {"1.1234567800001", KL_EDEC_PRECISION, 0},
        {"0.999999999", KL_EDEC_PRECISION, 0},
    };
    check_dec_cases(c, sizeof c / sizeof c[0]);
}

static void
test_dec_parse_syntax(void **state)
{
    (void)state;
    static const struct dec_case c[] = {
        {"", KL_EDEC_SYNTAX, 0},
        {".", KL_EDEC_SYNTAX, 0},
        {"-", KL_EDEC_SYNTAX, 0},
        {"-.", KL_EDEC_SYNTAX, 0},
        {"1.", KL_EDEC_SYNTAX, 0},
        {".5", KL_EDEC_SYNTAX, 0},
        {"-.5", KL_EDEC_SYNTAX, 0},
        {"1..2", KL_EDEC_SYNTAX, 0},
        {"1.2.3", KL_EDEC_SYNTAX, 0},
        {"1e5", KL_EDEC_SYNTAX, 0},
        {"1E5", KL_EDEC_SYNTAX, 0},
        {"+1", KL_EDEC_SYNTAX, 0},
        {" 1", KL_EDEC_SYNTAX, 0},
        {"1 ", KL_EDEC_SYNTAX, 0},
        {"1\n", KL_EDEC_SYNTAX, 0},
        {"0x10", KL_EDEC_SYNTAX, 0},
        {"--1", KL_EDEC_SYNTAX, 0},
        {"-+1", KL_EDEC_SYNTAX, 0},
        {"1,5", KL_EDEC_SYNTAX, 0},
        {"nan", KL_EDEC_SYNTAX, 0},
        {"inf", KL_EDEC_SYNTAX, 0},
        {"\xd9\xa1", KL_EDEC_SYNTAX, 0},     /* ARABIC-INDIC DIGIT ONE */
        {"1\xd9\xa1", KL_EDEC_SYNTAX, 0},    /* ... after an ASCII digit */
        {"0.1\xd9\xa1", KL_EDEC_SYNTAX, 0},  /* ... in the decimals */
        {"\xef\xbc\x91", KL_EDEC_SYNTAX, 0}, /* FULLWIDTH DIGIT ONE */
        /* A stray character wins over precision and overflow: it names the real problem. */
        {"0.1234567891x", KL_EDEC_SYNTAX, 0},
        {"1.0000000000 ", KL_EDEC_SYNTAX, 0},
        {"999999999999x", KL_EDEC_SYNTAX, 0},
        {"999999999999.", KL_EDEC_SYNTAX, 0},
        {"999999999999.5x", KL_EDEC_SYNTAX, 0},
    };
    check_dec_cases(c, sizeof c / sizeof c[0]);
}

static void
test_dec_parse_length_bound(void **state)
{
    (void)state;
    /* Parsing is over s[0..n) of a CSV row, not up to a NUL. */
    kl_dec_t out = SENTINEL;
    assert_int_equal(kl_dec_parse("1.5,2.5", 3, &out), 0);
    assert_int_equal(out, 150000000);
    assert_int_equal(kl_dec_parse("12345", 2, &out), 0);
    assert_int_equal(out, 1200000000);
    out = SENTINEL;
    assert_int_equal(kl_dec_parse("1.5", 2, &out), KL_EDEC_SYNTAX);
    assert_true(out == SENTINEL);
    assert_int_equal(kl_dec_parse("1\0", 2, &out), KL_EDEC_SYNTAX);
    assert_true(out == SENTINEL);
    assert_int_equal(kl_dec_parse("7", 0, &out), KL_EDEC_SYNTAX);
    assert_true(out == SENTINEL);
}

struct int_case {
    const char *s;
    int rc;
    int64_t want;
};

static void
test_int_parse(void **state)
{
    (void)state;
    static const struct int_case c[] = {
        {"0", 0, 0},
        {"-0", 0, 0},
        {"1", 0, 1},
        {"-1", 0, -1},
        {"0001", 0, 1},
        {"1710510449123", 0, 1710510449123LL},
        {"9223372036854775807", 0, INT64_MAX},
        {"-9223372036854775807", 0, -INT64_MAX},
        {"-9223372036854775808", 0, INT64_MIN},
        {"000000000000000000000009223372036854775807", 0, INT64_MAX},
        {"9223372036854775808", KL_EINT_OVERFLOW, 0},
        {"-9223372036854775809", KL_EINT_OVERFLOW, 0},
        {"18446744073709551615", KL_EINT_OVERFLOW, 0},
        {"18446744073709551616", KL_EINT_OVERFLOW, 0},
        {"-18446744073709551616", KL_EINT_OVERFLOW, 0},
        {"99999999999999999999999999", KL_EINT_OVERFLOW, 0},
        {"", KL_EINT_SYNTAX, 0},
        {"-", KL_EINT_SYNTAX, 0},
        {"+1", KL_EINT_SYNTAX, 0},
        {"--1", KL_EINT_SYNTAX, 0},
        {" 1", KL_EINT_SYNTAX, 0},
        {"1 ", KL_EINT_SYNTAX, 0},
        {"1.0", KL_EINT_SYNTAX, 0},
        {"1e3", KL_EINT_SYNTAX, 0},
        {"0x10", KL_EINT_SYNTAX, 0},
        {"12a", KL_EINT_SYNTAX, 0},
        {"\xd9\xa1", KL_EINT_SYNTAX, 0},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int64_t out = SENTINEL;
        int rc = kl_int_parse(c[i].s, strlen(c[i].s), &out);
        if (rc != c[i].rc)
            fail_msg("kl_int_parse(\"%s\") returned %d, want %d", c[i].s, rc, c[i].rc);
        if (rc == 0 && out != c[i].want)
            fail_msg("kl_int_parse(\"%s\") = %lld, want %lld", c[i].s, (long long)out,
                     (long long)c[i].want);
        if (rc != 0 && out != SENTINEL)
            fail_msg("kl_int_parse(\"%s\") failed but wrote *out", c[i].s);
    }
    int64_t out = 0;
    assert_int_equal(kl_int_parse("42,7", 2, &out), 0);
    assert_int_equal(out, 42);
}

static void
expect_dec_format(kl_dec_t v, const char *want)
{
    char buf[KL_NUM_BUFSZ];
    memset(buf, 'X', sizeof buf);
    size_t len = kl_dec_format(v, buf);
    if (strcmp(buf, want) != 0)
        fail_msg("kl_dec_format(%lld) = \"%s\", want \"%s\"", (long long)v, buf, want);
    assert_int_equal(len, strlen(want));
}

static void
test_dec_format(void **state)
{
    (void)state;
    expect_dec_format(0, "0.00000000");
    expect_dec_format(1, "0.00000001");
    expect_dec_format(10, "0.00000010");
    expect_dec_format(1634790, "0.01634790");
    expect_dec_format(99999999, "0.99999999");
    expect_dec_format(100000000, "1.00000000");
    expect_dec_format(6543210987654321LL, "65432109.87654321");
    expect_dec_format(INT64_MAX, "92233720368.54775807");
    expect_dec_format(-1, "-0.00000001");
    expect_dec_format(-50000000, "-0.50000000");
    expect_dec_format(-100000000, "-1.00000000");
    expect_dec_format(-INT64_MAX, "-92233720368.54775807");
    expect_dec_format(INT64_MIN, "-92233720368.54775808");
}

static void
expect_sum_format(kl_sum_t v, int places, const char *want)
{
    char buf[KL_NUM_BUFSZ];
    memset(buf, 'X', sizeof buf);
    size_t len = kl_sum_format(v, places, buf);
    if (strcmp(buf, want) != 0)
        fail_msg("kl_sum_format(places %d) = \"%s\", want \"%s\"", places, buf, want);
    assert_int_equal(len, strlen(want));
    assert_true(len < KL_NUM_BUFSZ);
}

static void
test_sum_format_places8(void **state)
{
    (void)state;
    const kl_sum_t two100 = (kl_sum_t)1 << 100;
    const kl_sum_t max128 = (kl_sum_t)(~(unsigned __int128)0 >> 1);
    const kl_sum_t min128 = -max128 - 1;
    expect_sum_format(0, 8, "0.00000000");
    expect_sum_format(1, 8, "0.00000001");
    expect_sum_format(-1, 8, "-0.00000001");
    expect_sum_format(1634790, 8, "0.01634790");
    expect_sum_format((kl_sum_t)INT64_MAX, 8, "92233720368.54775807");
    expect_sum_format((kl_sum_t)INT64_MAX + 1, 8, "92233720368.54775808");
    expect_sum_format((kl_sum_t)INT64_MIN, 8, "-92233720368.54775808");
    expect_sum_format(two100, 8, "12676506002282294014967.03205376");
    expect_sum_format(-two100, 8, "-12676506002282294014967.03205376");
    expect_sum_format((kl_sum_t)3000000000000000LL * 1000000000000000LL + 12345678, 8,
                      "30000000000000000000000.12345678");
    expect_sum_format(max128, 8, "1701411834604692317316873037158.84105727");
    expect_sum_format(min128, 8, "-1701411834604692317316873037158.84105728");
}

static void
test_sum_format_places16(void **state)
{
    (void)state;
    const kl_sum_t two100 = (kl_sum_t)1 << 100;
    const kl_sum_t max128 = (kl_sum_t)(~(unsigned __int128)0 >> 1);
    const kl_sum_t min128 = -max128 - 1;
    expect_sum_format(0, 16, "0.00000000");
    /* Extra places are truncated toward zero, never rounded, on both signs. */
    expect_sum_format(123456789012345678LL, 16, "12.34567890");
    expect_sum_format(-123456789012345678LL, 16, "-12.34567890");
    expect_sum_format(199999999, 16, "0.00000001");
    expect_sum_format(100000000, 16, "0.00000001");
    expect_sum_format((kl_sum_t)10000000000000000LL, 16, "1.00000000");
    expect_sum_format((kl_sum_t)10000000000000000LL - 1, 16, "0.99999999");
    expect_sum_format(-100000000, 16, "-0.00000001");
    expect_sum_format(-199999999, 16, "-0.00000001");
    /* What truncates to zero prints without a sign, as Binance never prints "-0.00000000". */
    expect_sum_format(-1, 16, "0.00000000");
    expect_sum_format(-99999999, 16, "0.00000000");
    expect_sum_format(99999999, 16, "0.00000000");
    expect_sum_format((kl_sum_t)1 << 64, 16, "1844.67440737");
    expect_sum_format(two100, 16, "126765060022822.94014967");
    expect_sum_format(-two100, 16, "-126765060022822.94014967");
    expect_sum_format(max128, 16, "17014118346046923173168.73037158");
    expect_sum_format(min128, 16, "-17014118346046923173168.73037158");
}

static void
test_int_format(void **state)
{
    (void)state;
    char buf[KL_NUM_BUFSZ];
    assert_int_equal(kl_int_format(0, buf), 1);
    assert_string_equal(buf, "0");
    assert_int_equal(kl_int_format(-1, buf), 2);
    assert_string_equal(buf, "-1");
    assert_int_equal(kl_int_format(1710510449123LL, buf), 13);
    assert_string_equal(buf, "1710510449123");
    assert_int_equal(kl_int_format(INT64_MAX, buf), 19);
    assert_string_equal(buf, "9223372036854775807");
    assert_int_equal(kl_int_format(INT64_MIN, buf), 20);
    assert_string_equal(buf, "-9223372036854775808");
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

/* A sweep over every magnitude: full-width values alone would almost never have short
 * integer parts or trailing zero decimals. */
static int64_t
sweep_value(uint64_t *s)
{
    uint64_t r = xorshift64(s);
    unsigned shift = (unsigned)(xorshift64(s) % 64);
    return (int64_t)(r >> shift);
}

static void
test_round_trip_sweep(void **state)
{
    (void)state;
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    char buf[KL_NUM_BUFSZ];
    for (int i = 0; i < 200000; i++) {
        int64_t x = sweep_value(&seed);
        size_t len = kl_dec_format(x, buf);
        assert_int_equal(len, strlen(buf));
        kl_dec_t back = SENTINEL;
        int rc = kl_dec_parse(buf, len, &back);
        if (rc != 0 || back != x)
            fail_msg("round trip of %lld via \"%s\": rc %d, got %lld", (long long)x, buf, rc,
                     (long long)back);
        /* The same digits read as a sum in 1e-8 units must print identically. */
        char buf2[KL_NUM_BUFSZ];
        kl_sum_format((kl_sum_t)x, 8, buf2);
        assert_string_equal(buf, buf2);

        len = kl_int_format(x, buf);
        int64_t iback = SENTINEL;
        assert_int_equal(kl_int_parse(buf, len, &iback), 0);
        if (iback != x)
            fail_msg("int round trip of %lld via \"%s\" gave %lld", (long long)x, buf,
                     (long long)iback);
    }
    const int64_t edges[] = {0, 1, -1, INT64_MAX, INT64_MIN, INT64_MIN + 1, 100000000, -100000000};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        size_t len = kl_dec_format(edges[i], buf);
        kl_dec_t back = SENTINEL;
        assert_int_equal(kl_dec_parse(buf, len, &back), 0);
        assert_true(back == edges[i]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_codes_distinct),
        cmocka_unit_test(test_dec_parse_ok),
        cmocka_unit_test(test_dec_parse_overflow),
        cmocka_unit_test(test_dec_parse_precision),
        cmocka_unit_test(test_dec_parse_syntax),
        cmocka_unit_test(test_dec_parse_length_bound),
        cmocka_unit_test(test_int_parse),
        cmocka_unit_test(test_dec_format),
        cmocka_unit_test(test_sum_format_places8),
        cmocka_unit_test(test_sum_format_places16),
        cmocka_unit_test(test_int_format),
        cmocka_unit_test(test_round_trip_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
