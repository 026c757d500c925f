/* Tests of src/api/kjson.c against Binance's own text: every kline message of the shared
 * WebSocket captures is parsed into a kl_kline_t, formatted again with kl_kjson_ws_event() and
 * compared byte for byte with the captured "data" object. Spot captures compare as they are;
 * USD-M futures print decimals at the symbol's precision ("v":"3917"), so their decimals are
 * zero-padded to 8 places first, as our spot-style output has them. REST rows are checked
 * against hand-written rows, in ms and us, and the worst case against KL_KJSON_MAX. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/kjson.h"
#include "core/decimal.h"
#include "core/interval.h"
#include "kl/err.h"
#include "kl/types.h"

#ifndef KL_SHARED_DATA
#define KL_SHARED_DATA "../shared/data"
#endif

/* ---- capture reading ---------------------------------------------------------------------- */

static char *
read_capture(const char *name)
{
    const char *dir = getenv("KL_SHARED_DATA");
    if (dir == NULL || *dir == '\0')
        dir = KL_SHARED_DATA;
    char path[512];
    snprintf(path, sizeof path, "%s/binance-ws-captures/%s", dir, name);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        fail_msg("cannot open %s (set KL_SHARED_DATA)", path);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long sz = ftell(fp);
    assert_true(sz > 0);
    rewind(fp);
    char *buf = malloc((size_t)sz + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)sz, fp), (size_t)sz);
    fclose(fp);
    buf[sz] = '\0';
    return buf;
}

/* The value of "key": in the flat object [obj, end) (quoted: without quotes), exactly once. */
static void
json_tok(const char *obj, const char *end, const char *key, char *out, size_t cap)
{
    char pat[16];
    int pn = snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *hit = NULL;
    for (const char *p = obj; p + pn <= end; p++) {
        if (memcmp(p, pat, (size_t)pn) != 0 || p == obj || (p[-1] != '{' && p[-1] != ','))
            continue;
        if (hit != NULL)
            fail_msg("duplicate key %s", key);
        hit = p;
    }
    if (hit == NULL)
        fail_msg("missing key %s in %.*s", key, (int)(end - obj), obj);
    const char *v = hit + pn, *q;
    if (*v == '"') {
        v++;
        q = memchr(v, '"', (size_t)(end - v));
        assert_non_null(q);
    } else {
        for (q = v; q < end && *q != ',' && *q != '}'; q++)
            ;
    }
    size_t n = (size_t)(q - v);
    assert_true(n > 0 && n < cap);
    memcpy(out, v, n);
    out[n] = '\0';
}

static int64_t
tok_i64(const char *obj, const char *end, const char *key)
{
    char tok[48];
    json_tok(obj, end, key, tok, sizeof tok);
    int64_t v = 0;
    assert_int_equal(kl_int_parse(tok, strlen(tok), &v), 0);
    return v;
}

static kl_dec_t
tok_dec(const char *obj, const char *end, const char *key)
{
    char tok[48];
    json_tok(obj, end, key, tok, sizeof tok);
    kl_dec_t v = 0;
    assert_int_equal(kl_dec_parse(tok, strlen(tok), &v), 0);
    return v;
}

static kl_sum_t
tok_sum(const char *obj, const char *end, const char *key, int places)
{
    char tok[48];
    json_tok(obj, end, key, tok, sizeof tok);
    kl_sum_t v = 0;
    assert_int_equal(kl_sum_parse(tok, strlen(tok), places, &v), 0);
    return v;
}

/* Binance's text with the decimals of o,c,h,l,v,q,V,Q padded to 8 places (futures print fewer).
 * Returns the length written to out. */
static size_t
pad_decimals(const char *s, size_t n, char *out)
{
    static const char *const keys[] = {"o", "c", "h", "l", "v", "q", "V", "Q"};
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int hit = 0;
        for (size_t k = 0; k < 8 && !hit; k++) {
            char pat[8];
            int pn = snprintf(pat, sizeof pat, ",\"%s\":\"", keys[k]);
            if (i + (size_t)pn <= n && memcmp(s + i, pat, (size_t)pn) == 0) {
                memcpy(out + o, pat, (size_t)pn);
                o += (size_t)pn;
                i += (size_t)pn;
                int places = -1;
                for (; s[i] != '"'; i++) {
                    if (places >= 0)
                        places++;
                    if (s[i] == '.')
                        places = 0;
                    out[o++] = s[i];
                }
                if (places < 0) {
                    out[o++] = '.';
                    places = 0;
                }
                for (; places < 8; places++)
                    out[o++] = '0';
                hit = 1;
            }
        }
        if (!hit)
            out[o++] = s[i++];
    }
    return o;
}

typedef struct counts {
    int messages, final, padded;
} counts_t;

/* Formats every kline message of one capture and compares it with Binance's "data" object. */
static counts_t
check_capture(const char *name, int pad)
{
    char *buf = read_capture(name);
    counts_t c = {0, 0, 0};
    for (char *line = strchr(buf, '\n'); line != NULL && line[1] != '\0';) {
        line++;
        char *nl = strchr(line, '\n');
        char *end = nl != NULL ? nl : line + strlen(line);
        static const char pfx[] = "\"data\":{\"e\":\"kline\"";
        char *data = strstr(line, pfx);
        if (data != NULL && data < end) {
            data += 7; /* at '{' */
            /* The envelope closes after data: {"stream":..,"data":{...}} */
            assert_true(end[-1] == '}' && end[-2] == '}');
            const char *dend = end - 1;
            const char *k = strstr(data, "\"k\":{");
            assert_true(k != NULL && k < dend);
            k += 4;
            const char *kend = dend - 1;

            kl_kline_t kl;
            memset(&kl, 0, sizeof kl);
            kl.open_time = tok_i64(k, kend, "t");
            kl.close_time = tok_i64(k, kend, "T");
            kl.first_id = tok_i64(k, kend, "f");
            kl.last_id = tok_i64(k, kend, "L");
            kl.open = tok_dec(k, kend, "o");
            kl.close = tok_dec(k, kend, "c");
            kl.high = tok_dec(k, kend, "h");
            kl.low = tok_dec(k, kend, "l");
            kl.volume = tok_sum(k, kend, "v", 8);
            kl.trades = tok_i64(k, kend, "n");
            kl.quote = tok_sum(k, kend, "q", 16);
            kl.taker_base = tok_sum(k, kend, "V", 8);
            kl.taker_quote = tok_sum(k, kend, "Q", 16);
            char sym[40], ivs[8], x[8], ksym[40];
            json_tok(data, k, "s", sym, sizeof sym);
            json_tok(k, kend, "s", ksym, sizeof ksym);
            assert_string_equal(sym, ksym);
            json_tok(k, kend, "i", ivs, sizeof ivs);
            json_tok(k, kend, "x", x, sizeof x);
            int iv = kl_iv_parse(ivs, strlen(ivs));
            assert_true(iv >= 0);
            int final = strcmp(x, "true") == 0;
            int64_t ev = tok_i64(data, k, "E");

            char got[KL_KJSON_MAX];
            size_t gn = kl_kjson_ws_event(sym, iv, &kl, 1, final, ev, got);
            assert_true(gn <= KL_KJSON_MAX);
            size_t wn = (size_t)(dend - data);
            char want[2 * KL_KJSON_MAX];
            assert_true(wn < KL_KJSON_MAX);
            if (pad) {
                wn = pad_decimals(data, wn, want);
                if (memcmp(want, data, (size_t)(dend - data)) != 0 || wn != (size_t)(dend - data))
                    c.padded++;
            } else {
                memcpy(want, data, wn);
            }
            if (gn != wn || memcmp(got, want, wn) != 0)
                fail_msg("%s:\n want %.*s\n got  %.*s", name, (int)wn, want, (int)gn, got);
            c.messages++;
            c.final += final;
        }
        line = nl;
    }
    free(buf);
    return c;
}

static void
test_ws_spot_captures_byte_for_byte(void **state)
{
    (void)state;
    counts_t a = check_capture("BINANCE.ws.1.0", 0);
    assert_int_equal(a.messages, 2);
    counts_t b = check_capture("BINANCE_US.ws.1.0", 0);
    assert_int_equal(b.messages, 5);
}

static void
test_ws_futures_capture_padded(void **state)
{
    (void)state;
    counts_t c = check_capture("BINANCE_FUTURES.ws.1.0", 1);
    assert_int_equal(c.messages, 67);
    assert_true(c.final >= 4); /* the 22:25 minute closes for each of the four symbols */
    assert_int_equal(c.padded, 67);
}

/* ---- hand-written cases ------------------------------------------------------------------- */

static kl_kline_t
sample(int64_t upm)
{
    kl_kline_t k;
    memset(&k, 0, sizeof k);
    k.open_time = 1633998480000LL * upm;
    k.close_time = 1633998540000LL * upm - 1;
    k.open = 35270000;
    k.high = 35280000;
    k.low = 35220000;
    k.close = 35280000;
    k.volume = (kl_sum_t)2587700000000LL;
    /* 9116.04600000 plus a 1e-16 tail that must be truncated, not rounded */
    k.quote = (kl_sum_t)911604600000LL * 100000000 + 99999999;
    k.taker_base = (kl_sum_t)5800000000LL;
    k.taker_quote = (kl_sum_t)2046240000LL * 100000000 + 50000000;
    k.trades = 30;
    k.first_id = 19862761;
    k.last_id = 19862790;
    return k;
}

static void
expect_text(const char *want, const char *got, size_t gn)
{
    if (gn != strlen(want) || memcmp(want, got, gn) != 0)
        fail_msg("\n want %s\n got  %.*s", want, (int)gn, got);
}

static void
test_rest_rows(void **state)
{
    (void)state;
    static const char row[] =
        "[1633998480000,\"0.35270000\",\"0.35280000\",\"0.35220000\",\"0.35280000\","
        "\"25877.00000000\",1633998539999,\"9116.04600000\",30,\"58.00000000\","
        "\"20.46240000\",\"0\"]";
    char buf[KL_KJSON_MAX];
    kl_kline_t k = sample(1);
    expect_text(row, buf, kl_kjson_rest_row(&k, 1, buf));
    /* us: both times divide to ms, close = next open - 1 ms */
    kl_kline_t ku = sample(1000);
    expect_text(row, buf, kl_kjson_rest_row(&ku, 1000, buf));

    kl_kline_t h;
    memset(&h, 0, sizeof h);
    h.open_time = 1704067200000LL;
    h.close_time = 1704067200999LL;
    h.open = h.high = h.low = h.close = 4200000000000LL;
    h.first_id = h.last_id = -1;
    expect_text("[1704067200000,\"42000.00000000\",\"42000.00000000\",\"42000.00000000\","
                "\"42000.00000000\",\"0.00000000\",1704067200999,\"0.00000000\",0,"
                "\"0.00000000\",\"0.00000000\",\"0\"]",
                buf, kl_kjson_rest_row(&h, 1, buf));
}

static void
test_ws_event_hand(void **state)
{
    (void)state;
    char buf[KL_KJSON_MAX];
    kl_kline_t k = sample(1000);
    k.open_time = 1704067200000000LL; /* a 1h kline in us */
    k.close_time = 1704070799999999LL;
    expect_text("{\"e\":\"kline\",\"E\":1704070800001,\"s\":\"BTCUSDT\",\"k\":{\"t\":1704067200000,"
                "\"T\":1704070799999,\"s\":\"BTCUSDT\",\"i\":\"1h\",\"f\":19862761,\"L\":19862790,"
                "\"o\":\"0.35270000\",\"c\":\"0.35280000\",\"h\":\"0.35280000\","
                "\"l\":\"0.35220000\",\"v\":\"25877.00000000\",\"n\":30,\"x\":true,"
                "\"q\":\"9116.04600000\",\"V\":\"58.00000000\",\"Q\":\"20.46240000\",\"B\":\"0\"}}",
                buf, kl_kjson_ws_event("BTCUSDT", KL_IV_1H, &k, 1000, 1, 1704070800001LL, buf));
    kl_kline_t h;
    memset(&h, 0, sizeof h);
    h.open_time = 1704067200000LL;
    h.close_time = 1706745599999LL;
    h.open = h.high = h.low = h.close = 1;
    h.first_id = h.last_id = -1;
    expect_text("{\"e\":\"kline\",\"E\":5,\"s\":\"X1\",\"k\":{\"t\":1704067200000,"
                "\"T\":1706745599999,\"s\":\"X1\",\"i\":\"1M\",\"f\":-1,\"L\":-1,"
                "\"o\":\"0.00000001\",\"c\":\"0.00000001\",\"h\":\"0.00000001\","
                "\"l\":\"0.00000001\",\"v\":\"0.00000000\",\"n\":0,\"x\":false,"
                "\"q\":\"0.00000000\",\"V\":\"0.00000000\",\"Q\":\"0.00000000\",\"B\":\"0\"}}",
                buf, kl_kjson_ws_event("X1", KL_IV_1MO, &h, 1, 0, 5, buf));
}

static void
test_worst_case_fits(void **state)
{
    (void)state;
    /* Every field at its longest text: the most negative values print a sign and all digits. */
    kl_kline_t k;
    k.open_time = k.close_time = INT64_MIN;
    k.open = k.high = k.low = k.close = INT64_MIN;
    k.volume = k.quote = k.taker_base = k.taker_quote = -(kl_sum_t)((~(unsigned __int128)0) >> 1) - 1;
    k.trades = k.first_id = k.last_id = INT64_MIN;
    char sym[KL_KJSON_SYMBOL_MAX + 1];
    memset(sym, 'W', KL_KJSON_SYMBOL_MAX);
    sym[KL_KJSON_SYMBOL_MAX] = '\0';
    /* Exactly KL_KJSON_MAX bytes on the heap, so ASan sees any overrun. */
    char *buf = malloc(KL_KJSON_MAX);
    assert_non_null(buf);
    size_t n = kl_kjson_ws_event(sym, KL_IV_15M, &k, 1, 0, INT64_MIN, buf);
    /* 20-char integers, 21-char prices, 41-char base sums, 33-char quote sums (16 places
     * truncated to 8), two 31-byte symbols, 3-char interval, "false" */
    assert_int_equal(n, 561);
    assert_true(n <= KL_KJSON_MAX);
    assert_memory_equal(buf + n - 10, ",\"B\":\"0\"}}", 10);
    size_t r = kl_kjson_rest_row(&k, 1, buf);
    assert_true(r < n);
    assert_memory_equal(buf, "[-9223372036854775808,\"-92233720368.54775808\",", 46);
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_spot_captures_byte_for_byte),
        cmocka_unit_test(test_ws_futures_capture_padded),
        cmocka_unit_test(test_rest_rows),
        cmocka_unit_test(test_ws_event_hand),
        cmocka_unit_test(test_worst_case_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
