/* Range reads (kl_store_range) and the kline before a window (kl_store_last_before) checked the
 * same way on every backend: test_store_sqlite.c and test_store_pg.c include this after
 * defining mk_row, assert_row_eq, struct collect, collect_row and commit_ok, then add what is
 * particular to their backend. */
#ifndef KL_TEST_STORE_RANGE_CASES_H
#define KL_TEST_STORE_RANGE_CASES_H

#define T0 1700000000000LL
#define TM(i) (T0 + (int64_t)(i) * 60000)

static size_t
range_got(kl_store_t *st, const char *sym, int iv, int64_t lo, int64_t hi, size_t limit,
          int newest_first, struct collect *c)
{
    memset(c, 0, sizeof *c);
    int rc = kl_store_range(st, sym, iv, lo, hi, limit, newest_first, collect_row, c);
    if (rc != 0)
        fail_msg("range %s %s [%lld, %lld] limit %zu: %d", sym, kl_iv_name(iv), (long long)lo,
                 (long long)hi, limit, rc);
    return c->n;
}

/* The rows got are exactly the minutes want[0..n), in that order, each whole. */
static void
assert_minutes(const struct collect *c, const int *want, size_t n)
{
    assert_int_equal(c->n, n);
    for (size_t i = 0; i < n; i++) {
        kl_store_row_t r = mk_row("BTCUSDT", KL_IV_1M, TM(want[i]), want[i]);
        assert_row_eq(&c->rows[i], &r);
    }
}

/* Commits 10 minutes of BTCUSDT 1m (out of order), the same minutes of 3m and of BTCUSDTX, a
 * symbol sharing its prefix; rows[] (30) keeps them for the caller. */
static void
range_fill(kl_store_t *st, kl_store_row_t *rows)
{
    const int order[] = {7, 2, 9, 1, 10, 4, 3, 8, 6, 5}; /* committed out of order */
    size_t n = 0;
    for (size_t i = 0; i < 10; i++) {
        rows[n++] = mk_row("BTCUSDT", KL_IV_1M, TM(order[i]), order[i]);
        rows[n++] = mk_row("BTCUSDT", KL_IV_3M, TM(order[i]), 100 + order[i]);
        rows[n++] = mk_row("BTCUSDTX", KL_IV_1M, TM(order[i]), 200 + order[i]);
    }
    commit_ok(st, rows, n, NULL, 0);
}

/* Bounds, limits, directions, empty answers, the callback's stop value and bad arguments, on
 * the rows of range_fill. */
static void
range_common_checks(kl_store_t *st, struct collect *c)
{
    range_got(st, "BTCUSDT", KL_IV_1M, INT64_MIN, INT64_MAX, SIZE_MAX, 0, c);
    assert_minutes(c, (const int[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 10);
    range_got(st, "BTCUSDT", KL_IV_1M, INT64_MIN, INT64_MAX, SIZE_MAX, 1, c);
    assert_minutes(c, (const int[]){10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 10);
    /* The limit keeps the oldest rows, or the newest (then in descending order). */
    range_got(st, "BTCUSDT", KL_IV_1M, INT64_MIN, INT64_MAX, 3, 0, c);
    assert_minutes(c, (const int[]){1, 2, 3}, 3);
    range_got(st, "BTCUSDT", KL_IV_1M, INT64_MIN, INT64_MAX, 3, 1, c);
    assert_minutes(c, (const int[]){10, 9, 8}, 3);
    /* Both bounds are inclusive, in the rows' own unit. */
    range_got(st, "BTCUSDT", KL_IV_1M, TM(3), TM(6), 100, 0, c);
    assert_minutes(c, (const int[]){3, 4, 5, 6}, 4);
    range_got(st, "BTCUSDT", KL_IV_1M, TM(3), TM(6), 100, 1, c);
    assert_minutes(c, (const int[]){6, 5, 4, 3}, 4);
    range_got(st, "BTCUSDT", KL_IV_1M, TM(3), TM(6), 2, 1, c);
    assert_minutes(c, (const int[]){6, 5}, 2);
    range_got(st, "BTCUSDT", KL_IV_1M, TM(3) + 1, TM(6) - 1, 100, 0, c);
    assert_minutes(c, (const int[]){4, 5}, 2);
    range_got(st, "BTCUSDT", KL_IV_1M, TM(4), TM(4), 100, 1, c);
    assert_minutes(c, (const int[]){4}, 1);
    range_got(st, "BTCUSDT", KL_IV_1M, TM(10), INT64_MAX, 5, 0, c);
    assert_minutes(c, (const int[]){10}, 1);
    /* Empty answers: past the data, lo > hi, limit 0, another symbol or interval. */
    assert_int_equal(range_got(st, "BTCUSDT", KL_IV_1M, TM(11), TM(20), 5, 0, c), 0);
    assert_int_equal(range_got(st, "BTCUSDT", KL_IV_1M, TM(6), TM(3), 5, 0, c), 0);
    assert_int_equal(range_got(st, "BTCUSDT", KL_IV_1M, TM(1), TM(10), 0, 1, c), 0);
    assert_int_equal(range_got(st, "BTCUSD", KL_IV_1M, TM(1), TM(10), 5, 0, c), 0);
    assert_int_equal(range_got(st, "BTCUSDT", KL_IV_5M, TM(1), TM(10), 5, 0, c), 0);
    /* The other interval and the prefix-sharing symbol are kept apart. */
    range_got(st, "BTCUSDT", KL_IV_3M, TM(2), TM(3), 5, 1, c);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->rows[0].k.trades, 103 + 3);
    assert_int_equal(c->rows[0].iv, KL_IV_3M);
    range_got(st, "BTCUSDTX", KL_IV_1M, TM(9), TM(9), 5, 0, c);
    assert_int_equal(c->n, 1);
    assert_string_equal(c->rows[0].symbol, "BTCUSDTX");
    assert_int_equal(c->rows[0].k.trades, 209 + 3);

    /* The callback's value stops the range and comes back; the next range starts afresh. */
    memset(c, 0, sizeof *c);
    c->stop_after = 2;
    assert_int_equal(kl_store_range(st, "BTCUSDT", KL_IV_1M, TM(1), TM(10), 10, 1, collect_row,
                                    c),
                     7);
    assert_int_equal(c->n, 2);
    range_got(st, "BTCUSDT", KL_IV_1M, TM(1), TM(10), 10, 1, c);
    assert_int_equal(c->n, 10);

    /* Bad arguments. */
    assert_int_equal(kl_store_range(st, "BTCUSDT", KL_IV_COUNT, 0, 1, 1, 0, collect_row, c),
                     KL_EARG);
    assert_int_equal(kl_store_range(st, "BTCUSDT", -1, 0, 1, 1, 0, collect_row, c), KL_EARG);
    assert_int_equal(kl_store_range(st, NULL, KL_IV_1M, 0, 1, 1, 0, collect_row, c), KL_EARG);
    assert_int_equal(kl_store_range(st, "BTCUSDT", KL_IV_1M, 0, 1, 1, 0, NULL, c), KL_EARG);
    assert_int_equal(kl_store_range(NULL, "BTCUSDT", KL_IV_1M, 0, 1, 1, 0, collect_row, c),
                     KL_EARG);
    assert_int_equal(kl_store_range(st, "", KL_IV_1M, TM(1), TM(10), 1, 0, collect_row, c),
                     KL_EARG);
    char longsym[KL_STORE_SYMBOL_MAX + 1];
    memset(longsym, 'A', KL_STORE_SYMBOL_MAX);
    longsym[KL_STORE_SYMBOL_MAX] = '\0';
    assert_int_equal(kl_store_range(st, longsym, KL_IV_1M, TM(1), TM(10), 1, 0, collect_row, c),
                     KL_EARG);
}

/* kl_store_last_before(st, sym, iv, t) is the row of minute want (of BTCUSDT 1m), whole. */
static void
assert_last_before(kl_store_t *st, int64_t t, int want)
{
    kl_store_row_t got;
    int rc = kl_store_last_before(st, "BTCUSDT", KL_IV_1M, t, &got);
    if (rc != 0)
        fail_msg("last_before %lld: %d, want minute %d", (long long)t, rc, want);
    kl_store_row_t r = mk_row("BTCUSDT", KL_IV_1M, TM(want), want);
    assert_row_eq(&got, &r);
}

/* On the rows of range_fill, plus BTCUSDT 1m minutes 30 and 31 (a gap of 19 minutes after 10,
 * committed here): strictly before t, the nearest row, across gaps, symbols and intervals kept
 * apart, none before the first row (out untouched), bad arguments. */
static void
last_before_common_checks(kl_store_t *st)
{
    kl_store_row_t more[2] = {mk_row("BTCUSDT", KL_IV_1M, TM(30), 30),
                              mk_row("BTCUSDT", KL_IV_1M, TM(31), 31)};
    commit_ok(st, more, 2, NULL, 0);
    assert_last_before(st, TM(5), 4);     /* strictly before: not the row at t */
    assert_last_before(st, TM(5) + 1, 5); /* the row just before */
    assert_last_before(st, TM(2), 1);
    assert_last_before(st, TM(11), 10);
    assert_last_before(st, TM(20), 10); /* inside the gap: the row before it */
    assert_last_before(st, TM(30), 10);
    assert_last_before(st, TM(31), 30);
    assert_last_before(st, INT64_MAX, 31);

    kl_store_row_t got;
    memset(&got, 0x5a, sizeof got);
    kl_store_row_t untouched = got;
    assert_int_equal(kl_store_last_before(st, "BTCUSDT", KL_IV_1M, TM(1), &got), 1);
    assert_int_equal(kl_store_last_before(st, "BTCUSDT", KL_IV_1M, INT64_MIN, &got), 1);
    assert_int_equal(kl_store_last_before(st, "BTCUSD", KL_IV_1M, TM(5), &got), 1);
    assert_int_equal(kl_store_last_before(st, "BTCUSDT", KL_IV_5M, TM(5), &got), 1);
    assert_memory_equal(&got, &untouched, sizeof got);

    /* The other interval and the prefix-sharing symbol are kept apart. */
    assert_int_equal(kl_store_last_before(st, "BTCUSDT", KL_IV_3M, TM(3), &got), 0);
    assert_int_equal(got.iv, KL_IV_3M);
    assert_int_equal(got.k.open_time, TM(2));
    assert_int_equal(got.k.trades, 102 + 3);
    assert_int_equal(kl_store_last_before(st, "BTCUSDTX", KL_IV_1M, TM(30), &got), 0);
    assert_string_equal(got.symbol, "BTCUSDTX");
    assert_int_equal(got.k.open_time, TM(10));
    assert_int_equal(got.k.trades, 210 + 3);
    assert_int_equal(got.unit_per_ms, 1);
    assert_int_equal(got.is_final, 1);

    /* Bad arguments. */
    assert_int_equal(kl_store_last_before(NULL, "BTCUSDT", KL_IV_1M, TM(5), &got), KL_EARG);
    assert_int_equal(kl_store_last_before(st, NULL, KL_IV_1M, TM(5), &got), KL_EARG);
    assert_int_equal(kl_store_last_before(st, "BTCUSDT", KL_IV_1M, TM(5), NULL), KL_EARG);
    assert_int_equal(kl_store_last_before(st, "BTCUSDT", -1, TM(5), &got), KL_EARG);
    assert_int_equal(kl_store_last_before(st, "BTCUSDT", KL_IV_COUNT, TM(5), &got), KL_EARG);
    assert_int_equal(kl_store_last_before(st, "", KL_IV_1M, TM(5), &got), KL_EARG);
    char longsym[KL_STORE_SYMBOL_MAX + 1];
    memset(longsym, 'A', KL_STORE_SYMBOL_MAX);
    longsym[KL_STORE_SYMBOL_MAX] = '\0';
    assert_int_equal(kl_store_last_before(st, longsym, KL_IV_1M, TM(5), &got), KL_EARG);
}

#endif
