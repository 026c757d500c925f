/* Binance parity over 2.5 days of real spot XRP/ETH: the 12,477 trades of freqtrade's test
 * data, aggregated by the engine into 1m klines, must reproduce Binance's official 1m klines
 * (open time, OHLC and volume) exactly, including the 1,091 hole klines that carry the previous
 * close. Numbers are written as JSON floats in shortest form ("0.00141342", "1482.0"), so they
 * are converted from their decimal text with kl_dec_parse, never through double.
 * The 1m file starts at 1570752000000, the minute of the first trade (00:00:11.620), so there
 * is no leading kline before the first trade; the test counts such klines and asserts 0, since
 * the engine cannot make them (it has no previous close before its first trade). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "core/decimal.h"
#include "core/interval.h"
#include "engine/kline.h"
#include "kl/err.h"
#include "kl/types.h"

#define MINUTE_MS 60000LL
#define FIRST_OPEN_MS 1570752000000LL
#define N_TRADES 12477
#define N_KLINES 3560
#define N_HOLES 1091

typedef struct bkline {
    int64_t open_time;
    kl_dec_t open, high, low, close, volume;
} bkline_t;

typedef struct emitted {
    int n;
    int n_holes;
    kl_kline_t k[N_KLINES + 8];
    unsigned flags[N_KLINES + 8];
} emitted_t;

static char *
read_all(const char *path, size_t *len_out)
{
    gzFile gz = gzopen(path, "rb"); /* reads plain files too */
    if (gz == NULL)
        fail_msg("cannot open %s", path);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (cap - len < 65536) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        int n = gzread(gz, buf + len, (unsigned)(cap - len - 1));
        assert_true(n >= 0);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    gzclose(gz);
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

/* A tiny strict cursor over the two fixed JSON shapes. */
typedef struct cur {
    const char *p, *end;
} cur_t;

static void
expect(cur_t *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        fail_msg("expected \"%s\" at \"%.40s\"", lit, c->p);
    c->p += n;
}

static int
accept(cur_t *c, char ch)
{
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A number token: digits and at most one point. No sign or exponent occurs in these files;
 * one would stop the test rather than be guessed at. */
static void
token(cur_t *c, const char **s, size_t *n)
{
    const char *b = c->p;
    while (c->p < c->end && ((*c->p >= '0' && *c->p <= '9') || *c->p == '.'))
        c->p++;
    if (c->p == b || (c->p < c->end && (*c->p == 'e' || *c->p == 'E')))
        fail_msg("bad number at \"%.40s\"", b);
    *s = b;
    *n = (size_t)(c->p - b);
}

static int64_t
num_int(cur_t *c)
{
    const char *s;
    size_t n;
    token(c, &s, &n);
    int64_t v = 0;
    if (kl_int_parse(s, n, &v) != 0)
        fail_msg("bad integer \"%.*s\"", (int)n, s);
    return v;
}

static kl_dec_t
num_dec(cur_t *c)
{
    const char *s;
    size_t n;
    token(c, &s, &n);
    kl_dec_t v = 0;
    int rc = kl_dec_parse(s, n, &v);
    if (rc != 0)
        fail_msg("bad decimal \"%.*s\": %s", (int)n, s, kl_strerror(rc));
    return v;
}

/* [[ts,"id",null,"buy"|"sell",price,amount,cost],...]; cost is a float product and ignored
 * (only its syntax is checked). */
static int
parse_trades(const char *buf, size_t len, kl_trade_t *out, int cap)
{
    cur_t c = {buf, buf + len};
    int n = 0;
    expect(&c, "[");
    do {
        assert_true(n < cap);
        kl_trade_t *t = &out[n++];
        expect(&c, "[");
        t->ts = num_int(&c);
        expect(&c, ",\"");
        t->id = num_int(&c);
        t->first_id = t->last_id = t->id;
        expect(&c, "\",null,\"");
        if (accept(&c, 's')) {
            expect(&c, "ell\"");
            t->buyer_maker = 1; /* the taker sold */
        } else {
            expect(&c, "buy\"");
            t->buyer_maker = 0;
        }
        expect(&c, ",");
        t->price = num_dec(&c);
        expect(&c, ",");
        t->qty = num_dec(&c);
        expect(&c, ",");
        const char *s;
        size_t sn;
        token(&c, &s, &sn);
        expect(&c, "]");
    } while (accept(&c, ','));
    expect(&c, "]");
    while (c.p < c.end && (*c.p == '\n' || *c.p == ' '))
        c.p++;
    assert_true(c.p == c.end);
    return n;
}

/* [[open_time,open,high,low,close,volume],...] */
static int
parse_klines(const char *buf, size_t len, bkline_t *out, int cap)
{
    cur_t c = {buf, buf + len};
    int n = 0;
    expect(&c, "[");
    do {
        assert_true(n < cap);
        bkline_t *k = &out[n++];
        expect(&c, "[");
        k->open_time = num_int(&c);
        expect(&c, ",");
        k->open = num_dec(&c);
        expect(&c, ",");
        k->high = num_dec(&c);
        expect(&c, ",");
        k->low = num_dec(&c);
        expect(&c, ",");
        k->close = num_dec(&c);
        expect(&c, ",");
        k->volume = num_dec(&c);
        expect(&c, "]");
    } while (accept(&c, ','));
    expect(&c, "]");
    while (c.p < c.end && (*c.p == '\n' || *c.p == ' '))
        c.p++;
    assert_true(c.p == c.end);
    return n;
}

static void
on_emit(void *ctx, const kl_series_t *s, int iv, const kl_kline_t *k, unsigned flags)
{
    emitted_t *e = ctx;
    (void)s;
    assert_int_equal(iv, KL_IV_1M);
    assert_int_equal(flags & KL_EMIT_CORRECTION, 0); /* trades come in (time, id) order */
    assert_true(flags & KL_EMIT_FINAL);
    assert_true(e->n < (int)(sizeof e->k / sizeof e->k[0]));
    if (flags & KL_EMIT_HOLE)
        e->n_holes++;
    e->flags[e->n] = flags;
    e->k[e->n++] = *k;
}

static kl_trade_t g_trades[N_TRADES + 1];
static bkline_t g_klines[N_KLINES + 1];
static emitted_t g_out;

static void
test_xrpeth_1m(void **state)
{
    (void)state;
    size_t len;
    char *buf = read_all(KL_SHARED_DATA "/freqtrade-xrpeth/XRP_ETH-trades.json.gz", &len);
    int nt = parse_trades(buf, len, g_trades, N_TRADES + 1);
    free(buf);
    buf = read_all(KL_SHARED_DATA "/freqtrade-xrpeth/XRP_ETH-1m.json", &len);
    int nk = parse_klines(buf, len, g_klines, N_KLINES + 1);
    free(buf);
    assert_int_equal(nt, N_TRADES);
    assert_int_equal(nk, N_KLINES);
    assert_int_equal(g_trades[0].id, 13519807);
    assert_int_equal(g_trades[nt - 1].id, 13532283);
    assert_int_equal(g_klines[0].open_time, FIRST_OPEN_MS);

    kl_sched_cfg_t cfg;
    kl_sched_cfg_default(&cfg);
    cfg.iv_mask = 1u << KL_IV_1M;
    kl_sched_t sched;
    assert_int_equal(kl_sched_init(&sched, &cfg), 0);
    kl_series_t s;
    kl_series_init(&s, &sched, NULL);
    memset(&g_out, 0, sizeof g_out);
    for (int i = 0; i < nt; i++) {
        assert_int_equal(kl_trade_validate(&g_trades[i], 1), 0);
        assert_int_equal(kl_series_apply(&s, &g_trades[i], on_emit, &g_out), KL_APPLIED);
    }
    int n_final = g_out.n;
    kl_kline_t live;
    assert_int_equal(kl_series_get(&s, KL_IV_1M, &live), 0);
    g_out.flags[g_out.n] = 0;
    g_out.k[g_out.n++] = live;
    assert_int_equal(n_final, N_KLINES - 1);
    assert_int_equal(g_out.n, N_KLINES);

    /* Binance's klines before the engine's first one would have no trades and no previous
     * close in this data: count them apart. */
    int leading = 0;
    while (leading < nk && g_klines[leading].open_time < g_out.k[0].open_time) {
        assert_int_equal(g_klines[leading].volume, 0);
        leading++;
    }
    assert_int_equal(leading, 0);

    int matched = 0, holes = 0, mismatched = 0;
    for (int i = leading; i < nk; i++) {
        const bkline_t *b = &g_klines[i];
        assert_int_equal(b->open_time, FIRST_OPEN_MS + (int64_t)i * MINUTE_MS);
        int j = i - leading;
        assert_true(j < g_out.n);
        const kl_kline_t *k = &g_out.k[j];
        int ok = k->open_time == b->open_time && k->close_time == b->open_time + MINUTE_MS - 1 &&
                 k->open == b->open && k->high == b->high && k->low == b->low &&
                 k->close == b->close && k->volume == (kl_sum_t)b->volume;
        if (b->volume == 0) {
            /* A hole: the engine must say so, with Binance's previous-close OHLC. */
            ok = ok && (g_out.flags[j] & KL_EMIT_HOLE) && k->trades == 0 &&
                 k->first_id == -1 && k->last_id == -1 && k->quote == 0 &&
                 k->taker_base == 0 && k->taker_quote == 0;
            if (ok)
                holes++;
        } else {
            ok = ok && !(g_out.flags[j] & KL_EMIT_HOLE) && k->trades > 0;
        }
        if (ok) {
            matched++;
        } else if (++mismatched <= 10) {
            print_error("kline %lld: binance o=%lld h=%lld l=%lld c=%lld v=%lld; engine "
                        "open_time=%lld o=%lld h=%lld l=%lld c=%lld v=%lld trades=%lld "
                        "flags=%u\n",
                        (long long)b->open_time, (long long)b->open, (long long)b->high,
                        (long long)b->low, (long long)b->close, (long long)b->volume,
                        (long long)k->open_time, (long long)k->open, (long long)k->high,
                        (long long)k->low, (long long)k->close, (long long)k->volume,
                        (long long)k->trades, g_out.flags[j]);
        }
    }
    print_message("XRP_ETH 1m: %d trades, %d Binance klines, %d matched, %d holes, %d leading "
                  "without trades, %d mismatched\n",
                  nt, nk, matched, holes, leading, mismatched);
    assert_int_equal(mismatched, 0);
    assert_int_equal(matched, N_KLINES);
    assert_int_equal(holes, N_HOLES);
    assert_int_equal(g_out.n_holes, N_HOLES); /* and the engine made no other hole */
    /* Trade count and ids cover exactly the dump: nothing dropped, nothing doubled. */
    int64_t trades = 0;
    for (int j = 0; j < g_out.n; j++)
        trades += g_out.k[j].trades;
    assert_int_equal(trades, N_TRADES);
    assert_int_equal(g_out.k[0].first_id, 13519807);
    assert_int_equal(g_out.k[g_out.n - 1].last_id, 13532283);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xrpeth_1m),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
