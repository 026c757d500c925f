/* libFuzzer target for the trade-dump row scanner (kl_csv_detect, kl_csv_parse_row) and the
 * first engine step behind it. The input is one line. Every row a layout accepts must survive
 * kl_trade_validate, print back in that layout and parse to the same trade, and be detected as
 * that layout (detection goes by shape only, so a bad row may still be detected). A row that
 * validates is then applied to a fresh kl_series_t and the clock moved one day on, checking the
 * emitted klines: the trade's own kline exact, holes contiguous, every kline that ended final
 * exactly once. Any violation is a trap. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Compiled into this target, not only linked from libkl: the fuzz build instruments the target
 * alone, and libFuzzer needs coverage (and ASan needs checks) inside the code under test. */
#include "core/decimal.c"
#include "core/interval.c"
#include "engine/kline.c"
#include "source/csv_scan.c"

#include "core/decimal.h"
#include "core/interval.h"
#include "engine/kline.h"
#include "kl/err.h"
#include "kl/types.h"
#include "source/csv_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond))                                                                             \
            __builtin_trap();                                                                    \
    } while (0)

/* 1m..1M: no 1s, so a one-day tick emits at most 1440 holes per interval and stays cheap. */
#define FZ_IV_MASK ((uint32_t)KL_IV_ALL & ~(1u << KL_IV_1S))

static int
fz_is_agg(int layout)
{
    return layout == KL_CSV_SPOT_AGG || layout == KL_CSV_FUT_AGG;
}

static char *
fz_put(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

/* Writes t as a row of layout in buf (>= 256 bytes); returns its length. Booleans take the
 * spelling of each venue (True/False on spot, true/false on futures). */
static size_t
fz_format_row(const kl_trade_t *t, int layout, char *buf)
{
    char num[KL_NUM_BUFSZ];
    char *p = buf;
    int spot = layout == KL_CSV_SPOT_AGG || layout == KL_CSV_SPOT_TRADES;
    kl_int_format(t->id, num);
    p = fz_put(p, num);
    *p++ = ',';
    kl_dec_format(t->price, num);
    p = fz_put(p, num);
    *p++ = ',';
    kl_dec_format(t->qty, num);
    p = fz_put(p, num);
    *p++ = ',';
    if (fz_is_agg(layout)) {
        kl_int_format(t->first_id, num);
        p = fz_put(p, num);
        *p++ = ',';
        kl_int_format(t->last_id, num);
        p = fz_put(p, num);
    } else {
        /* quote_qty is only shape-checked by the scanner; any decimal will do. */
        kl_dec_format(t->qty, num);
        p = fz_put(p, num);
    }
    *p++ = ',';
    kl_int_format(t->ts, num);
    p = fz_put(p, num);
    *p++ = ',';
    if (spot)
        p = fz_put(p, t->buyer_maker ? "True" : "False");
    else
        p = fz_put(p, t->buyer_maker ? "true" : "false");
    if (layout == KL_CSV_SPOT_AGG || layout == KL_CSV_SPOT_TRADES)
        p = fz_put(p, ",True");
    return (size_t)(p - buf);
}

static int
fz_trade_eq(const kl_trade_t *a, const kl_trade_t *b)
{
    return a->ts == b->ts && a->id == b->id && a->first_id == b->first_id &&
           a->last_id == b->last_id && a->price == b->price && a->qty == b->qty &&
           a->buyer_maker == b->buyer_maker;
}

/* ---- engine ------------------------------------------------------------------------------ */

typedef struct fz_emit_state {
    const kl_trade_t *t;
    int64_t now;
    int64_t last_close[KL_IV_COUNT]; /* close_time of the last kline emitted, or INT64_MIN */
    int trade_klines[KL_IV_COUNT];   /* emitted klines holding the trade */
    long n_emits;
} fz_emit_state_t;

static void
fz_on_emit(void *ctx, const kl_series_t *s, int iv, const kl_kline_t *k, unsigned flags)
{
    fz_emit_state_t *st = ctx;
    const kl_trade_t *t = st->t;
    CHECK(iv >= 0 && iv < KL_IV_COUNT && s->sched->pos[iv] >= 0);
    const kl_ivspec_t *spec = &s->sched->spec[s->sched->pos[iv]];
    st->n_emits++;
    CHECK(st->n_emits <= 4 * 1441 + 64);
    /* One trade and one tick forward: no corrections, every kline final, in time order. */
    CHECK((flags & KL_EMIT_FINAL) && !(flags & KL_EMIT_CORRECTION));
    CHECK(kl_iv_open(spec, k->open_time) == k->open_time);
    CHECK(k->close_time == kl_iv_next(spec, k->open_time) - 1);
    CHECK(k->close_time < st->now);
    if (st->last_close[iv] != INT64_MIN)
        CHECK(k->open_time == st->last_close[iv] + 1);
    st->last_close[iv] = k->close_time;
    if (k->open_time <= t->ts && t->ts <= k->close_time) {
        /* The trade's own kline: every field follows from the one trade. */
        kl_sum_t pq = (kl_sum_t)t->price * t->qty;
        CHECK(!(flags & KL_EMIT_HOLE));
        CHECK(k->open == t->price && k->high == t->price && k->low == t->price &&
              k->close == t->price);
        CHECK(k->volume == t->qty && k->quote == pq);
        CHECK(k->taker_base == (t->buyer_maker ? 0 : t->qty));
        CHECK(k->taker_quote == (t->buyer_maker ? 0 : pq));
        CHECK(k->trades == t->last_id - t->first_id + 1);
        CHECK(k->first_id == t->first_id && k->last_id == t->last_id);
        st->trade_klines[iv]++;
    } else {
        CHECK(k->open_time > t->ts);
        CHECK(flags & KL_EMIT_HOLE);
        CHECK(k->open == t->price && k->high == t->price && k->low == t->price &&
              k->close == t->price);
        CHECK(k->volume == 0 && k->quote == 0 && k->taker_base == 0 && k->taker_quote == 0);
        CHECK(k->trades == 0 && k->first_id == -1 && k->last_id == -1);
    }
}

/* [unit is us][lateness on]: with lateness 0 a series is smaller (no previous-kline slots). */
static kl_sched_t fz_sched[2][2];

static void
fz_init_scheds(void)
{
    static int done;
    if (done)
        return;
    for (int us = 0; us < 2; us++)
        for (int late = 0; late < 2; late++) {
            kl_sched_cfg_t cfg;
            kl_sched_cfg_default(&cfg);
            cfg.iv_mask = FZ_IV_MASK;
            cfg.unit_per_ms = us ? 1000 : 1;
            cfg.lateness_ms = late ? 1000 : 0;
            CHECK(kl_sched_init(&fz_sched[us][late], &cfg) == 0);
        }
    done = 1;
}

static void
fz_engine(const kl_trade_t *t)
{
    int64_t unit = t->ts >= KL_TS_US_THRESHOLD ? 1000 : 1;
    if (kl_trade_validate(t, unit) != 0)
        return;
    /* The id's low bit picks the lateness, so the fuzzer reaches both series layouts. */
    const kl_sched_t *sched = &fz_sched[unit == 1000][t->id & 1];
    fz_emit_state_t st;
    memset(&st, 0, sizeof st);
    st.t = t;
    st.now = t->ts + KL_MS_PER_DAY * unit;
    for (int i = 0; i < KL_IV_COUNT; i++)
        st.last_close[i] = INT64_MIN;

    /* Exactly kl_series_size() bytes, as a compact owner lays series out: ASan then catches
     * the engine touching a slot the layout does not have. */
    size_t sz = kl_series_size(sched);
    CHECK(sz >= offsetof(kl_series_t, st) && sz <= sizeof(kl_series_t));
    kl_series_t *series = malloc(sz);
    CHECK(series != NULL);
    kl_series_init(series, sched, NULL);
    CHECK(kl_series_apply(series, t, fz_on_emit, &st) == KL_APPLIED);
    CHECK(st.n_emits == 0);
    kl_kline_t live;
    CHECK(kl_series_get(series, KL_IV_1M, &live) == 0);
    CHECK(live.open_time <= t->ts && t->ts <= live.close_time);
    CHECK(live.close == t->price && live.volume == t->qty);
    CHECK(kl_series_get(series, KL_IV_1S, &live) == KL_EARG);
    /* The same trade again is a duplicate and changes nothing. */
    CHECK(kl_series_apply(series, t, fz_on_emit, &st) == KL_DUPLICATE);

    kl_series_tick(series, st.now, fz_on_emit, &st);
    for (int i = 0; i < sched->n; i++) {
        const kl_ivspec_t *spec = &sched->spec[i];
        int iv = spec->iv;
        int64_t open = kl_iv_open(spec, t->ts);
        int ended = kl_iv_next(spec, open) <= st.now;
        /* Every kline that ended at or before now is final, exactly once, and no other. */
        CHECK(st.trade_klines[iv] == ended);
        if (ended) {
            CHECK(st.last_close[iv] != INT64_MIN);
            CHECK(kl_iv_next(spec, st.last_close[iv] + 1) > st.now);
        } else {
            CHECK(st.last_close[iv] == INT64_MIN);
        }
    }
    /* A second tick to the same time is a no-op. */
    long before = st.n_emits;
    kl_series_tick(series, st.now, fz_on_emit, &st);
    CHECK(st.n_emits == before);
    free(series);
}

/* ---- rows -------------------------------------------------------------------------------- */

static void
fz_row(const char *line, size_t n, int layout)
{
    kl_trade_t t;
    memset(&t, 0, sizeof t);
    int rc = kl_csv_parse_row(line, n, layout, &t);
    if (rc != 0) {
        CHECK(rc == KL_ECOLUMNS || rc == KL_EDEC_SYNTAX || rc == KL_EDEC_PRECISION ||
              rc == KL_EDEC_OVERFLOW || rc == KL_EINT_SYNTAX || rc == KL_EINT_OVERFLOW ||
              rc == KL_EBOOL || rc == KL_ELINE);
        return;
    }
    /* One trailing '\r' is allowed; any other one sits inside a field and must be refused. */
    size_t body = n > 0 && line[n - 1] == '\r' ? n - 1 : n;
    CHECK(memchr(line, '\r', body) == NULL);
    CHECK(t.buyer_maker == 0 || t.buyer_maker == 1);
    if (!fz_is_agg(layout))
        CHECK(t.first_id == t.id && t.last_id == t.id);
    int vms = kl_trade_validate(&t, 1);
    int vus = kl_trade_validate(&t, 1000);
    CHECK(vms == 0 || vms == KL_ETRADE || vms == KL_ETIME);
    CHECK(vus == 0 || vus == KL_ETRADE || vus == KL_ETIME);

    char buf[256];
    size_t len = fz_format_row(&t, layout, buf);
    CHECK(len < sizeof buf);
    kl_trade_t back;
    memset(&back, 0xa5, sizeof back);
    CHECK(kl_csv_parse_row(buf, len, layout, &back) == 0);
    CHECK(fz_trade_eq(&t, &back));
    /* A Windows line ending is allowed too. */
    buf[len] = '\r';
    memset(&back, 0xa5, sizeof back);
    CHECK(kl_csv_parse_row(buf, len + 1, layout, &back) == 0);
    CHECK(fz_trade_eq(&t, &back));
    /* A row starting with a digit is data, and the layout is recognised from it. */
    if (t.id >= 0) {
        int dl = -1, hdr = -1;
        CHECK(kl_csv_detect(buf, len, &dl, &hdr) == 0);
        CHECK(dl == layout && hdr == 0);
    }
    /* Detection goes by shape, and the shape of a row that parses names its layout. */
    if (n > 0 && ((line[0] >= '0' && line[0] <= '9') || line[0] == '-')) {
        int dl = -1, hdr = -1;
        CHECK(kl_csv_detect(line, n, &dl, &hdr) == 0);
        CHECK(dl == layout && hdr == 0);
    }
    fz_engine(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    fz_init_scheds();

    for (int l = KL_CSV_SPOT_AGG; l <= KL_CSV_FUT_TRADES; l++)
        fz_row(line, size, l);

    int layout = -1, hdr = -1;
    int rc = kl_csv_detect(line, size, &layout, &hdr);
    if (rc == 0) {
        CHECK(layout >= KL_CSV_SPOT_AGG && layout <= KL_CSV_FUT_TRADES);
        CHECK(hdr == 0 || hdr == 1);
        CHECK(strcmp(kl_csv_layout_name(layout), "unknown") != 0);
        CHECK(hdr == ((unsigned)(line[0] - '0') >= 10 && line[0] != '-'));
    } else {
        CHECK(rc == KL_ELAYOUT && layout == -1 && hdr == -1);
    }

    /* No layout: refused (an over-long line may be refused for its length first). */
    kl_trade_t t;
    rc = kl_csv_parse_row(line, size, KL_CSV_UNKNOWN, &t);
    CHECK(rc == KL_ELAYOUT || rc == KL_ELINE);
    rc = kl_csv_parse_row(line, size, KL_CSV_FUT_TRADES + 1, &t);
    CHECK(rc == KL_ELAYOUT || rc == KL_ELINE);
    return 0;
}
