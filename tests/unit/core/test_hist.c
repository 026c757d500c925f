/* Unit tests for src/core/hist.c, the latency histograms behind /metrics: each value must land
 * in the bucket whose upper bound is the first >= it (Prometheus' "le"), exactly at every
 * boundary, and a reader racing the single writer must always see a snapshot whose buckets add
 * up to its count. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/hist.h"

/* The table as the header documents it, written out independently. */
static const uint64_t WANT_BOUNDS[KL_HIST_BUCKETS] = {
    1000,        2000,        5000,        10000,       20000,       50000,
    100000,      200000,      500000,      1000000,     2000000,     5000000,
    10000000,    20000000,    50000000,    100000000,   200000000,   500000000,
    1000000000,  2000000000,  5000000000,  10000000000, 30000000000, UINT64_MAX,
};

/* Index of the only non-zero bucket after recording v into an empty histogram. */
static int
bucket_for(uint64_t v)
{
    kl_hist_t h;
    memset(&h, 0, sizeof h);
    kl_hist_record(&h, v);
    kl_hist_snap_t s;
    kl_hist_read(&h, &s);
    assert_int_equal(s.count, 1);
    assert_true(s.sum_ns == v);
    int found = -1;
    for (int i = 0; i < KL_HIST_BUCKETS; i++) {
        if (s.bucket[i] == 0)
            continue;
        assert_int_equal(s.bucket[i], 1);
        assert_int_equal(found, -1);
        found = i;
    }
    return found;
}

static void
test_bounds_table(void **state)
{
    (void)state;
    for (int i = 0; i < KL_HIST_BUCKETS; i++)
        assert_true(kl_hist_bounds_ns[i] == WANT_BOUNDS[i]);
}

static void
test_placement_at_every_boundary(void **state)
{
    (void)state;
    assert_int_equal(bucket_for(0), 0);
    assert_int_equal(bucket_for(1), 0);
    for (int i = 0; i < KL_HIST_BUCKETS - 1; i++) {
        uint64_t b = WANT_BOUNDS[i];
        /* The bound itself is inside (le = less or equal), one more is in the next bucket. */
        assert_int_equal(bucket_for(b), i);
        assert_int_equal(bucket_for(b + 1), i + 1);
        assert_int_equal(bucket_for(b - 1), i == 0 || b - 1 > WANT_BOUNDS[i - 1] ? i : i - 1);
    }
    assert_int_equal(bucket_for(UINT64_MAX), KL_HIST_BUCKETS - 1);
    assert_int_equal(bucket_for(UINT64_MAX - 1), KL_HIST_BUCKETS - 1);
}

static void
test_counts_sum_and_merge(void **state)
{
    (void)state;
    kl_hist_t h;
    memset(&h, 0, sizeof h);
    const uint64_t vals[] = {500, 1000, 1001, 1500000, 1500000, 31000000000ULL};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        kl_hist_record(&h, vals[i]);
    kl_hist_snap_t a;
    kl_hist_read(&h, &a);
    assert_int_equal(a.count, 6);
    assert_true(a.sum_ns == 500 + 1000 + 1001 + 3000000 + 31000000000ULL);
    assert_int_equal(a.bucket[0], 2);  /* 500, 1000 */
    assert_int_equal(a.bucket[1], 1);  /* 1001 */
    assert_int_equal(a.bucket[10], 2); /* 1.5 ms <= 2 ms */
    assert_int_equal(a.bucket[23], 1); /* 31 s > 30 s */
    assert_int_equal(atomic_load(&h.count), 6);

    kl_hist_snap_t acc;
    memset(&acc, 0, sizeof acc);
    kl_hist_add(&acc, &a);
    kl_hist_add(&acc, &a);
    assert_int_equal(acc.count, 12);
    assert_true(acc.sum_ns == 2 * a.sum_ns);
    for (int i = 0; i < KL_HIST_BUCKETS; i++)
        assert_true(acc.bucket[i] == 2 * a.bucket[i]);
}

#define N_RECORDS 200000

static void *
writer(void *arg)
{
    kl_hist_t *h = arg;
    for (uint64_t i = 0; i < N_RECORDS; i++)
        kl_hist_record(h, (i % 7) * 1000); /* 0, 1us .. 6us: buckets 0, 0, 1, 2, 2, 2, 3 */
    return NULL;
}

/* A reader racing the writer: every snapshot is self-consistent and counts only grow. */
static void
test_reader_races_writer(void **state)
{
    (void)state;
    static kl_hist_t h;
    memset(&h, 0, sizeof h);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer, &h), 0);
    kl_hist_snap_t prev;
    memset(&prev, 0, sizeof prev);
    for (int r = 0; r < 20000; r++) {
        kl_hist_snap_t s;
        kl_hist_read(&h, &s);
        uint64_t total = 0;
        for (int i = 0; i < KL_HIST_BUCKETS; i++) {
            total += s.bucket[i];
            assert_true(s.bucket[i] >= prev.bucket[i]);
        }
        assert_true(s.count == total);
        assert_true(s.count >= prev.count);
        prev = s;
        if (s.count == N_RECORDS)
            break;
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    kl_hist_snap_t s;
    kl_hist_read(&h, &s);
    assert_int_equal(s.count, N_RECORDS);
    /* i % 7 over 200000 = 7 * 28571 + 3: residues 0..2 occur 28572 times, 3..6 28571 times. */
    assert_int_equal(s.bucket[0], 28572 * 2);
    assert_int_equal(s.bucket[1], 28572);
    assert_int_equal(s.bucket[2], 28571 * 3);
    assert_int_equal(s.bucket[3], 28571);
    assert_true(s.sum_ns == 1000ULL * (28572ULL * (0 + 1 + 2) + 28571ULL * (3 + 4 + 5 + 6)));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_table),
        cmocka_unit_test(test_placement_at_every_boundary),
        cmocka_unit_test(test_counts_sum_and_merge),
        cmocka_unit_test(test_reader_races_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
