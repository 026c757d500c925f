/* Tests of src/replay/export.c with implied holes: a SQLite store holding series whose gaps'
 * hole klines were not stored (as `serve` leaves a long silence) is exported, and every file
 * must be the series with each hole written back, as `klined replay` writes it: 1m with a gap
 * of three, 1M in +08:00 across a year's end and a leap February (the zone read off the stored
 * kline), 1w, 1s in microseconds, a series without gaps left as it is, nothing before the first
 * kline or after the last. A stored kline that is on no grid of its interval fails the export
 * with a message rather than fill wrong holes. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/interval.h"
#include "kl/err.h"
#include "replay/export.h"
#include "replay/kline_csv.h"
#include "store/store.h"

#define MIN_MS 60000LL
#define DAY_MS 86400000LL
#define T2024 1704067200000LL /* 2024-01-01T00:00Z, a Monday */

static char g_dir[256];

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/kl_export_test.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A traded kline: price is its close (1e-8 units); sums with a 16-place quote tail. */
static kl_store_row_t
row(const char *sym, int iv, int unit, int64_t open, int64_t close, kl_dec_t price, int64_t id)
{
    kl_store_row_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.symbol, sizeof r.symbol, "%s", sym);
    r.iv = (uint8_t)iv;
    r.unit_per_ms = (uint16_t)unit;
    r.is_final = 1;
    r.k.open_time = open;
    r.k.close_time = close;
    r.k.open = price - 50000000;
    r.k.high = price + 75000000;
    r.k.low = price - 125000000;
    r.k.close = price;
    r.k.volume = 250000000;
    r.k.quote = (kl_sum_t)2521234567891234567LL;
    r.k.taker_base = 100000000;
    r.k.taker_quote = (kl_sum_t)1010000000000000000LL;
    r.k.trades = 3;
    r.k.first_id = id;
    r.k.last_id = id + 2;
    return r;
}

static void
commit(const char *db, const kl_store_row_t *rows, size_t n)
{
    char url[512], err[512] = "";
    snprintf(url, sizeof url, "sqlite:%s/%s", g_dir, db);
    kl_store_t *st = NULL;
    if (kl_store_open(url, &st, err, sizeof err) != 0)
        fail_msg("open %s: %s", url, err);
    if (kl_store_commit(st, rows, n, NULL, 0, err, sizeof err) != 0)
        fail_msg("commit: %s", err);
    kl_store_close(st);
}

static int
run_export(const char *db, const char *out)
{
    char url[512], dir[512];
    snprintf(url, sizeof url, "sqlite:%s/%s", g_dir, db);
    snprintf(dir, sizeof dir, "%s/%s", g_dir, out);
    char *argv[] = {"export", "--store", url, "--out", dir, NULL};
    return kl_export_main(5, argv);
}

static char *
slurp(const char *out, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s/%s", g_dir, out, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: not written", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* Appends the row as replay formats it. */
static void
put_row(char *text, const kl_store_row_t *r)
{
    char line[KL_KLINE_CSV_MAX + 1];
    line[kl_kline_csv_format(&r->k, line)] = '\0';
    strcat(text, line);
}

/* Appends a hole kline, spelled out field by field. */
static void
put_hole(char *text, int64_t open, int64_t close, const char *price)
{
    char line[256];
    snprintf(line, sizeof line, "%lld,%s,%s,%s,%s,0.00000000,%lld,0.00000000,0,0.00000000,"
             "0.00000000,0\n", (long long)open, price, price, price, price, (long long)close);
    strcat(text, line);
}

static void
test_export_fills_implied_holes(void **state)
{
    (void)state;
    const int64_t nov = 1698768000000LL, dec = 1701360000000LL, jan = 1704038400000LL,
                  feb = 1706716800000LL, mar = 1709222400000LL, apr = 1711900800000LL;
    const int64_t us = T2024 * 1000, week = 7 * DAY_MS;
    kl_store_row_t r[] = {
        /* 1m: minutes 0, 1, then 5 and the live 6: holes 2..4 at minute 1's close. */
        row("BTCUSDT", KL_IV_1M, 1, T2024, T2024 + MIN_MS - 1, 10000000000LL, 1),
        row("BTCUSDT", KL_IV_1M, 1, T2024 + MIN_MS, T2024 + 2 * MIN_MS - 1, 10125000000LL, 4),
        row("BTCUSDT", KL_IV_1M, 1, T2024 + 5 * MIN_MS, T2024 + 6 * MIN_MS - 1, 9900000000LL, 7),
        row("BTCUSDT", KL_IV_1M, 1, T2024 + 6 * MIN_MS, T2024 + 7 * MIN_MS - 1, 9800000000LL, 10),
        /* 1M in +08:00: November 2023, then March 2024: holes December, January, February. */
        row("BTCUSDT", KL_IV_1MO, 1, nov, dec - 1, 3700050000000LL, 100),
        row("BTCUSDT", KL_IV_1MO, 1, mar, apr - 1, 6100000000000LL, 900),
        /* 1w: weeks 0 and 3. */
        row("BTCUSDT", KL_IV_1W, 1, T2024, T2024 + week - 1, 4200000000000LL, 100),
        row("BTCUSDT", KL_IV_1W, 1, T2024 + 3 * week, T2024 + 4 * week - 1, 4300000000000LL, 900),
        /* 1s in microseconds: seconds 0 and 4. */
        row("ETHUSDT", KL_IV_1S, 1000, us, us + 999999, 220012345678LL, 5),
        row("ETHUSDT", KL_IV_1S, 1000, us + 4000000, us + 4999999, 220000000001LL, 8),
        /* 1d without a gap: as stored. */
        row("XRPUSDT", KL_IV_1D, 1, T2024, T2024 + DAY_MS - 1, 60000000, 1),
        row("XRPUSDT", KL_IV_1D, 1, T2024 + DAY_MS, T2024 + 2 * DAY_MS - 1, 61000000, 4),
        row("XRPUSDT", KL_IV_1D, 1, T2024 + 2 * DAY_MS, T2024 + 3 * DAY_MS - 1, 59000000, 7),
    };
    r[3].is_final = 0; /* the live kline */
    commit("gaps.db", r, sizeof r / sizeof r[0]);
    assert_int_equal(run_export("gaps.db", "out"), 0);

    static char want[1 << 16];
    want[0] = '\0';
    put_row(want, &r[0]);
    put_row(want, &r[1]);
    for (int m = 2; m <= 4; m++)
        put_hole(want, T2024 + m * MIN_MS, T2024 + (m + 1) * MIN_MS - 1, "101.25000000");
    put_row(want, &r[2]);
    put_row(want, &r[3]);
    assert_string_equal(slurp("out", "BTCUSDT-1m.csv"), want);
    /* One line spelled out whole, so the check does not rest on the shared formatter alone. */
    assert_non_null(strstr(slurp("out", "BTCUSDT-1m.csv"),
                           "1704067200000,99.50000000,100.75000000,98.75000000,100.00000000,"
                           "2.50000000,1704067259999,252.12345678,3,1.00000000,101.00000000,0\n"
                           "1704067260000,"));

    want[0] = '\0';
    put_row(want, &r[4]);
    put_hole(want, dec, jan - 1, "37000.50000000");
    put_hole(want, jan, feb - 1, "37000.50000000");
    put_hole(want, feb, mar - 1, "37000.50000000"); /* 29 days */
    put_row(want, &r[5]);
    assert_string_equal(slurp("out", "BTCUSDT-1M.csv"), want);

    want[0] = '\0';
    put_row(want, &r[6]);
    put_hole(want, T2024 + week, T2024 + 2 * week - 1, "42000.00000000");
    put_hole(want, T2024 + 2 * week, T2024 + 3 * week - 1, "42000.00000000");
    put_row(want, &r[7]);
    assert_string_equal(slurp("out", "BTCUSDT-1w.csv"), want);

    want[0] = '\0';
    put_row(want, &r[8]);
    for (int s = 1; s <= 3; s++)
        put_hole(want, us + s * 1000000LL, us + s * 1000000LL + 999999, "2200.12345678");
    put_row(want, &r[9]);
    assert_string_equal(slurp("out", "ETHUSDT-1s.csv"), want);

    want[0] = '\0';
    put_row(want, &r[10]);
    put_row(want, &r[11]);
    put_row(want, &r[12]);
    assert_string_equal(slurp("out", "XRPUSDT-1d.csv"), want);

    /* Only the stored series have files. */
    char path[600];
    snprintf(path, sizeof path, "%s/out/BTCUSDT-1h.csv", g_dir);
    assert_int_equal(access(path, F_OK), -1);
}

/* A 1M kline that opens on no month's start (in any zone) has no grid to fill on. */
static void
test_export_refuses_off_grid_kline(void **state)
{
    (void)state;
    kl_store_row_t r[2] = {
        row("BADUSDT", KL_IV_1MO, 1, T2024 + 5 * DAY_MS, T2024 + 36 * DAY_MS - 1, 100000000, 1),
        row("BADUSDT", KL_IV_1MO, 1, T2024 + 36 * DAY_MS, T2024 + 65 * DAY_MS - 1, 100000000, 9),
    };
    commit("bad.db", r, 2);
    assert_int_equal(run_export("bad.db", "outbad"), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_fills_implied_holes),
        cmocka_unit_test(test_export_refuses_off_grid_kline),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
