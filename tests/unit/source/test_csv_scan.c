/* Row scanner tests: layout detection for the four dump layouts, exact field values, one error
 * code per kind of bad row, and agreement between the fast single-pass parser and the careful
 * split-first one on thousands of mutated rows (csv_scan.c is included to reach both). */
#include "source/csv_scan.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

static void
detect_layouts(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        int layout, header;
    } cases[] = {
        {"1000000,0.01634790,13.50000000,1100000,1100002,1609459200123,True,True", KL_CSV_SPOT_AGG, 0},
        {"50,0.01600000,2.00000000,0.03200000,1609459200123,False,True", KL_CSV_SPOT_TRADES, 0},
        {"2,29000.10,0.005,3,5,1609459200123,true", KL_CSV_FUT_AGG, 0},
        {"7,29000.10,0.005,145.0005,1609459200123,false", KL_CSV_FUT_TRADES, 0},
        {"agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker",
         KL_CSV_FUT_AGG, 1},
        {"id,price,qty,quote_qty,time,is_buyer_maker", KL_CSV_FUT_TRADES, 1},
        {"id,price,qty,quote_qty,time,is_buyer_maker,is_best_match", KL_CSV_SPOT_TRADES, 1},
        {"a,p,q,f,l,T,m,M\r", KL_CSV_SPOT_AGG, 1},
        {"1000000,0.01634790,13.50000000,1100000,1100002,1735689600000123,True,True\r",
         KL_CSV_SPOT_AGG, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int layout = -1, header = -1;
        assert_int_equal(kl_csv_detect(cases[i].line, strlen(cases[i].line), &layout, &header), 0);
        assert_int_equal(layout, cases[i].layout);
        assert_int_equal(header, cases[i].header);
    }
    int layout = 77, header = 77;
    const char *bad[] = {"", "1,2,3", "1,2,3,4,5,6,7,8,9", "1,2,3,4,5",
                         "hello world"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(kl_csv_detect(bad[i], strlen(bad[i]), &layout, &header), KL_ELAYOUT);
    assert_int_equal(layout, 77);
}

static void
parse_fields(void **state)
{
    (void)state;
    kl_trade_t t;
    const char *a = "1000000,0.01634790,13.50000000,1100000,1100002,1609459200123,True,True";
    assert_int_equal(kl_csv_parse_row(a, strlen(a), KL_CSV_SPOT_AGG, &t), 0);
    assert_int_equal(t.id, 1000000);
    assert_int_equal(t.price, 1634790);
    assert_int_equal(t.qty, 1350000000);
    assert_int_equal(t.first_id, 1100000);
    assert_int_equal(t.last_id, 1100002);
    assert_int_equal(t.ts, 1609459200123LL);
    assert_int_equal(t.buyer_maker, 1);

    const char *s = "50,0.01600000,2.00000000,0.03200000,1609459200123,False,True\r";
    assert_int_equal(kl_csv_parse_row(s, strlen(s), KL_CSV_SPOT_TRADES, &t), 0);
    assert_int_equal(t.id, 50);
    assert_int_equal(t.first_id, 50);
    assert_int_equal(t.last_id, 50);
    assert_int_equal(t.price, 1600000);
    assert_int_equal(t.buyer_maker, 0);

    const char *f = "2,29000.10,0.005,3,5,1609459200123,true";
    assert_int_equal(kl_csv_parse_row(f, strlen(f), KL_CSV_FUT_AGG, &t), 0);
    assert_int_equal(t.price, 2900010000000LL);
    assert_int_equal(t.qty, 500000);
    assert_int_equal(t.first_id, 3);
    assert_int_equal(t.last_id, 5);
    assert_int_equal(t.buyer_maker, 1);

    const char *ft = "7,29000.10,0.005,145.0005,1735689600000123,false";
    assert_int_equal(kl_csv_parse_row(ft, strlen(ft), KL_CSV_FUT_TRADES, &t), 0);
    assert_int_equal(t.id, 7);
    assert_int_equal(t.ts, 1735689600000123LL);
    assert_int_equal(t.buyer_maker, 0);
}

static void
errors_by_kind(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        int err;
    } cases[] = {
        {"1,0.5,1,2,3,1609459200123,True", KL_ECOLUMNS},
        {"1,0.5,1,2,3,1609459200123,True,True,True", KL_ECOLUMNS},
        {"1,0.123456789,1,2,3,1609459200123,True,True", KL_EDEC_PRECISION},
        {"1,0.5,99999999999999.5,2,3,1609459200123,True,True", KL_EDEC_OVERFLOW},
        {"1,abc,1,2,3,1609459200123,True,True", KL_EDEC_SYNTAX},
        {"x1,0.5,1,2,3,1609459200123,True,True", KL_EINT_SYNTAX},
        {"1,0.5,1,2,3,99999999999999999999,True,True", KL_EINT_OVERFLOW},
        {"1,0.5,1,2,3,1609459200123,Yes,True", KL_EBOOL},
        {"1,0.5,1,2,3,1609459200123,True,", KL_EBOOL},
        {"1,0.5,1,,3,1609459200123,True,True", KL_EINT_SYNTAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kl_trade_t t;
        int rc = kl_csv_parse_row(cases[i].line, strlen(cases[i].line), KL_CSV_SPOT_AGG, &t);
        if (rc != cases[i].err)
            fail_msg("row %zu \"%s\": got %d, want %d", i, cases[i].line, rc, cases[i].err);
    }
    char longrow[KL_CSV_LINE_MAX + 10];
    memset(longrow, '1', sizeof longrow);
    kl_trade_t t;
    assert_int_equal(kl_csv_parse_row(longrow, sizeof longrow, KL_CSV_SPOT_AGG, &t), KL_ELINE);
}

static int
trade_eq(const kl_trade_t *a, const kl_trade_t *b)
{
    return a->id == b->id && a->price == b->price && a->qty == b->qty &&
           a->first_id == b->first_id && a->last_id == b->last_id && a->ts == b->ts &&
           a->buyer_maker == b->buyer_maker;
}

/* The fast path may only accept what the careful path accepts, with the same values; when it
 * declines, kl_csv_parse_row still answers through the careful path. */
static void
fast_and_checked_agree(void **state)
{
    (void)state;
    static const char *seeds[] = {
        "1000000,0.01634790,13.50000000,1100000,1100002,1609459200123,True,True",
        "50,0.01600000,2.00000000,0.03200000,1609459200123,False,True",
        "2,29000.10,0.005,3,5,1609459200123,true",
        "7,29000.10,0.005,145.0005,1609459200123,false",
    };
    static const int layouts[] = {KL_CSV_SPOT_AGG, KL_CSV_SPOT_TRADES, KL_CSV_FUT_AGG,
                                  KL_CSV_FUT_TRADES};
    static const char alphabet[] = "0123456789.,-eTtFfx\r ";
    uint64_t x = 88172645463325252ULL;
    int accepted = 0;
    for (int round = 0; round < 40000; round++) {
        char row[128];
        const char *seed = seeds[round % 4];
        size_t n = strlen(seed);
        memcpy(row, seed, n);
        int edits = 1 + round % 3;
        for (int e = 0; e < edits; e++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t pos = (size_t)(x % n);
            switch ((x >> 32) % 3) {
            case 0: row[pos] = alphabet[(x >> 40) % (sizeof alphabet - 1)]; break;
            case 1: if (n > 1) { memmove(row + pos, row + pos + 1, n - pos - 1); n--; } break;
            default:
                if (n < sizeof row - 1) {
                    memmove(row + pos + 1, row + pos, n - pos);
                    row[pos] = alphabet[(x >> 40) % (sizeof alphabet - 1)];
                    n++;
                }
            }
        }
        for (int l = 0; l < 4; l++) {
            kl_trade_t a, b;
            memset(&a, 0, sizeof a);
            memset(&b, 0, sizeof b);
            int fast = parse_row_fast(row, row + n, layouts[l], &a);
            int checked = parse_row_checked(row, n, layouts[l], &b);
            if (fast == 0) {
                accepted++;
                if (checked != 0 || !trade_eq(&a, &b))
                    fail_msg("fast accepted \"%.*s\" (layout %d), careful says %d", (int)n, row,
                             layouts[l], checked);
            }
        }
    }
    assert_true(accepted > 1000); /* the sweep must exercise acceptance too */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(detect_layouts),
        cmocka_unit_test(parse_fields),
        cmocka_unit_test(errors_by_kind),
        cmocka_unit_test(fast_and_checked_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
