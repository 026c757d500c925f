/* Symbol registry tests: the name -> (id, worker, unit) contract that sources, workers and the
 * admin API rely on. Ids are dense and never reused (so a stale router cache can only misroute to
 * a worker that drops the trade), new symbols go to the least-loaded worker, removals move the
 * epoch, bad names are refused, and two threads racing to add the same names agree on one id per
 * name. Re-adding a removed name goes where its series is: the worker that parked it, or the
 * store (NEED_STATE, then the state handed to the worker that creates the slot); a worker frees a
 * parked series only with the registry's consent. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "kl/err.h"
#include "runtime/symreg.h"

/* How many symbols are live. Asks with a real (unused) buffer: the NULL form service.c uses is
 * tested on its own, last, in count_with_null_buffer. */
static size_t
n_live(kl_symreg_t *r)
{
    kl_syminfo_t dummy;
    return kl_symreg_list(r, &dummy, 0);
}

static void
add_lookup_remove(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(2);
    assert_non_null(r);
    kl_syminfo_t a, b, x;
    memset(&x, 0x5a, sizeof x);
    /* Absent and not added: refused, *out untouched. */
    assert_int_equal(kl_symreg_lookup(r, "BTCUSDT", 0, 1, &x), KL_EARG);
    assert_int_equal((unsigned char)x.name[0], 0x5a);
    assert_int_equal(kl_symreg_lookup(r, "BTCUSDT", 1, 1, &a), 1);
    assert_string_equal(a.name, "BTCUSDT");
    assert_int_equal(a.id, 0);
    assert_int_equal(a.worker, 0);
    assert_int_equal(a.unit_per_ms, 1);
    assert_int_equal(a.live, 1);
    /* Found again, with or without add. */
    assert_int_equal(kl_symreg_lookup(r, "BTCUSDT", 1, 1, &b), 0);
    assert_int_equal(b.id, 0);
    assert_int_equal(kl_symreg_lookup(r, "BTCUSDT", 0, 1, &b), 0);
    assert_int_equal(b.id, 0);
    assert_int_equal(kl_symreg_lookup(r, "ETHUSDT", 1, 1000, &b), 1);
    assert_int_equal(b.id, 1);
    assert_int_equal(b.worker, 1);
    assert_int_equal(b.unit_per_ms, 1000);
    assert_int_equal(kl_symreg_get(r, 1, &x), 0);
    assert_string_equal(x.name, "ETHUSDT");
    assert_int_equal(x.live, 1);
    assert_int_equal(kl_symreg_get(r, 2, &x), KL_EARG);
    /* Remove. */
    assert_int_equal(kl_symreg_remove(r, "BTCUSDT", &x), 0);
    assert_int_equal(x.id, 0);
    assert_int_equal(x.worker, 0);
    assert_int_equal(x.live, 0);
    assert_int_equal(kl_symreg_lookup(r, "BTCUSDT", 0, 1, &x), KL_EARG);
    assert_int_equal(kl_symreg_remove(r, "BTCUSDT", &x), KL_EARG);
    assert_int_equal(kl_symreg_remove(r, "NOPE", &x), KL_EARG);
    /* The removed id stays readable, marked not live. */
    assert_int_equal(kl_symreg_get(r, 0, &x), 0);
    assert_string_equal(x.name, "BTCUSDT");
    assert_int_equal(x.live, 0);
    kl_symreg_destroy(r);
}

static void
ids_never_reused(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(1);
    assert_non_null(r);
    kl_syminfo_t x;
    uint32_t last = 0;
    for (int round = 0; round < 50; round++) {
        /* An explicit add brings a removed name back; auto-add would not (below). */
        assert_int_equal(kl_symreg_lookup(r, "AAA", KL_SYMREG_ADD, 1, &x), 1);
        assert_int_equal(x.id, (uint32_t)round);
        assert_true(round == 0 || x.id > last);
        last = x.id;
        assert_int_equal(kl_symreg_remove(r, "AAA", &x), 0);
        assert_int_equal(x.id, last);
    }
    /* The old ids of a name added again are reclaimed (issue 12: the table holds one entry per
     * name, not one per add): unknown, which their callers treat as "not live". The latest,
     * removed, stays AAA, so that a trade does not bring it back. */
    for (uint32_t id = 0; id < 49; id++)
        assert_int_equal(kl_symreg_get(r, id, &x), KL_EARG);
    assert_int_equal(kl_symreg_get(r, 49, &x), 0);
    assert_string_equal(x.name, "AAA");
    assert_int_equal(x.live, 0);
    kl_symreg_stats_t st;
    kl_symreg_stats(r, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(kl_symreg_lookup(r, "AAA", KL_SYMREG_AUTO, 1, &x), KL_EARG);
    assert_int_equal(kl_symreg_lookup(r, "AAA", KL_SYMREG_ADD, 1, &x), 1);
    assert_int_equal(x.id, 50);
    assert_int_equal(kl_symreg_lookup(r, "AAA", 0, 1, &x), 0);
    assert_int_equal(x.id, 50);
    assert_int_equal(n_live(r), 1);
    /* Many names removed and added again: slots are reused, ids still grow, and every latest
     * entry is found by id and by name (the id index survives its deletions). */
    char name[16];
    for (int round = 0; round < 20; round++)
        for (int i = 0; i < 300; i++) {
            snprintf(name, sizeof name, "N%d", i);
            if (round > 0)
                assert_int_equal(kl_symreg_remove(r, name, &x), 0);
            assert_int_equal(kl_symreg_lookup(r, name, KL_SYMREG_ADD, 1, &x), 1);
            assert_int_equal(x.id, 51 + (uint32_t)(round * 300 + i));
        }
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "N%d", i);
        kl_syminfo_t y;
        assert_int_equal(kl_symreg_lookup(r, name, KL_SYMREG_FIND, 1, &x), 0);
        assert_int_equal(kl_symreg_get(r, x.id, &y), 0);
        assert_string_equal(y.name, name);
        assert_int_equal(y.live, 1);
        assert_int_equal(kl_symreg_get(r, x.id - 300, &y), KL_EARG);
    }
    kl_symreg_stats(r, &st);
    assert_int_equal(st.entries, 301);
    assert_int_equal(st.live, 301);
    kl_symreg_destroy(r);
}

static void
least_loaded_worker(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(3);
    assert_non_null(r);
    int load[3] = {0, 0, 0};
    char name[16];
    kl_syminfo_t x;
    for (int i = 0; i < 9; i++) {
        snprintf(name, sizeof name, "S%d", i);
        assert_int_equal(kl_symreg_lookup(r, name, 1, 1, &x), 1);
        assert_true(x.worker >= 0 && x.worker < 3);
        load[x.worker]++;
    }
    assert_int_equal(load[0], 3);
    assert_int_equal(load[1], 3);
    assert_int_equal(load[2], 3);
    /* Free one symbol of worker 1: the next symbol goes there. */
    int victim = -1;
    for (uint32_t id = 0; id < 9 && victim < 0; id++) {
        assert_int_equal(kl_symreg_get(r, id, &x), 0);
        if (x.worker == 1)
            victim = (int)id;
    }
    assert_true(victim >= 0);
    assert_int_equal(kl_symreg_get(r, (uint32_t)victim, &x), 0);
    assert_int_equal(kl_symreg_remove(r, x.name, &x), 0);
    assert_int_equal(kl_symreg_lookup(r, "NEW1", 1, 1, &x), 1);
    assert_int_equal(x.worker, 1);
    /* Balanced again: the next three go one to each worker. */
    int seen[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "T%d", i);
        assert_int_equal(kl_symreg_lookup(r, name, 1, 1, &x), 1);
        seen[x.worker]++;
    }
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);
    assert_int_equal(seen[2], 1);
    /* Remove two from worker 2: both following adds go to worker 2. */
    int removed = 0;
    for (uint32_t id = 0; removed < 2; id++) {
        assert_int_equal(kl_symreg_get(r, id, &x), 0);
        if (x.worker == 2 && x.live) {
            assert_int_equal(kl_symreg_remove(r, x.name, &x), 0);
            removed++;
        }
    }
    assert_int_equal(kl_symreg_lookup(r, "U1", 1, 1, &x), 1);
    assert_int_equal(x.worker, 2);
    assert_int_equal(kl_symreg_lookup(r, "U2", 1, 1, &x), 1);
    assert_int_equal(x.worker, 2);
    kl_symreg_destroy(r);
}

static void
epoch_moves_on_remove_only(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(2);
    assert_non_null(r);
    kl_syminfo_t x;
    uint64_t e0 = kl_symreg_epoch(r);
    assert_int_equal(kl_symreg_lookup(r, "AUSDT", 1, 1, &x), 1);
    assert_int_equal(kl_symreg_lookup(r, "BUSDT", 1, 1, &x), 1);
    assert_int_equal(kl_symreg_lookup(r, "AUSDT", 0, 1, &x), 0);
    assert_int_equal(kl_symreg_epoch(r), e0); /* adds keep caches valid */
    assert_int_equal(kl_symreg_remove(r, "AUSDT", &x), 0);
    uint64_t e1 = kl_symreg_epoch(r);
    assert_true(e1 != e0);
    /* A failed remove changes nothing. */
    assert_int_equal(kl_symreg_remove(r, "AUSDT", &x), KL_EARG);
    assert_int_equal(kl_symreg_remove(r, "bad", &x), KL_EARG);
    assert_int_equal(kl_symreg_epoch(r), e1);
    assert_int_equal(kl_symreg_remove(r, "BUSDT", &x), 0);
    assert_true(kl_symreg_epoch(r) != e1);
    kl_symreg_destroy(r);
}

static void
invalid_names_rejected(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(1);
    assert_non_null(r);
    kl_syminfo_t x;
    const char *bad[] = {"",        "btcusdt", "BTC/USDT", "BTC-USDT", "BTC USDT", "BTCUSDT\n",
                         "BTCÜSDT", "_",       "A.B",
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345" /* 32 bytes */};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(kl_symreg_lookup(r, bad[i], 1, 1, &x), KL_EARG);
        assert_int_equal(kl_symreg_remove(r, bad[i], &x), KL_EARG);
    }
    assert_int_equal(n_live(r), 0);
    /* 31 bytes of [A-Z0-9] is the longest valid name; digits only is valid. */
    assert_int_equal(kl_symreg_lookup(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234", 1, 1, &x), 1);
    assert_string_equal(x.name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234");
    assert_int_equal(kl_symreg_lookup(r, "1000", 1, 1, &x), 1);
    assert_int_equal(n_live(r), 2);
    kl_symreg_destroy(r);
}

static void
unit_zero_replaced_by_first_known(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(1);
    assert_non_null(r);
    kl_syminfo_t x;
    /* Configured ahead of any trade: unit unknown. */
    assert_int_equal(kl_symreg_lookup(r, "XUSDT", 1, 0, &x), 1);
    assert_int_equal(x.unit_per_ms, 0);
    /* A lookup that does not know the unit either leaves it unknown. */
    assert_int_equal(kl_symreg_lookup(r, "XUSDT", 0, 0, &x), 0);
    assert_int_equal(x.unit_per_ms, 0);
    /* The first trade decides, and the answer already says so. */
    assert_int_equal(kl_symreg_lookup(r, "XUSDT", 0, 1000, &x), 0);
    assert_int_equal(x.unit_per_ms, 1000);
    /* Later lookups do not change it. */
    assert_int_equal(kl_symreg_lookup(r, "XUSDT", 1, 1, &x), 0);
    assert_int_equal(x.unit_per_ms, 1000);
    assert_int_equal(kl_symreg_get(r, x.id, &x), 0);
    assert_int_equal(x.unit_per_ms, 1000);
    /* A known unit at add time is kept. */
    assert_int_equal(kl_symreg_lookup(r, "YUSDT", 1, 1, &x), 1);
    assert_int_equal(kl_symreg_lookup(r, "YUSDT", 0, 1000, &x), 0);
    assert_int_equal(x.unit_per_ms, 1);
    /* A re-add of a live name (recovery's trade records) decides the unit the same way. */
    assert_int_equal(kl_symreg_lookup(r, "ZUSDT", 1, 0, &x), 1);
    assert_int_equal(kl_symreg_readd(r, "ZUSDT", 1000, &x), 0);
    assert_int_equal(x.unit_per_ms, 1000);
    assert_int_equal(kl_symreg_readd(r, "ZUSDT", 1, &x), 0);
    assert_int_equal(x.unit_per_ms, 1000);
    kl_symreg_destroy(r);
}

static void
list_sorted_live_only(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(4);
    assert_non_null(r);
    const char *names[] = {"XRPUSDT", "BTCUSDT", "ETHBTC", "AAVEUSDT", "ZECUSDT", "BNBUSDT"};
    kl_syminfo_t x, out[8];
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(kl_symreg_lookup(r, names[i], 1, 1, &x), 1);
    assert_int_equal(kl_symreg_remove(r, "ETHBTC", &x), 0);
    memset(out, 0, sizeof out);
    assert_int_equal(kl_symreg_list(r, out, 8), 5);
    const char *want[] = {"AAVEUSDT", "BNBUSDT", "BTCUSDT", "XRPUSDT", "ZECUSDT"};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(out[i].name, want[i]);
        assert_int_equal(out[i].live, 1);
    }
    assert_string_equal(out[5].name, ""); /* nothing past the count */
    /* A short buffer: the full count comes back, at most max entries are written, sorted. */
    memset(out, 0, sizeof out);
    assert_int_equal(kl_symreg_list(r, out, 3), 5);
    assert_string_equal(out[3].name, "");
    for (size_t i = 0; i + 1 < 3; i++)
        assert_true(strcmp(out[i].name, out[i + 1].name) < 0);
    assert_int_equal(n_live(r), 5);
    kl_symreg_destroy(r);
}

static void
many_symbols_index_grows(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(7);
    assert_non_null(r);
    char name[16];
    kl_syminfo_t x;
    const int n = 5000;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "SYM%dUSDT", i);
        assert_int_equal(kl_symreg_lookup(r, name, 1, 1, &x), 1);
        assert_int_equal(x.id, (uint32_t)i);
    }
    for (int i = 0; i < n; i += 2) {
        snprintf(name, sizeof name, "SYM%dUSDT", i);
        assert_int_equal(kl_symreg_remove(r, name, &x), 0);
    }
    int load[7] = {0};
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "SYM%dUSDT", i);
        int rc = kl_symreg_lookup(r, name, 0, 1, &x);
        if (i % 2) {
            assert_int_equal(rc, 0);
            assert_int_equal(x.id, (uint32_t)i);
            assert_string_equal(x.name, name);
            load[x.worker]++;
        } else {
            assert_int_equal(rc, KL_EARG);
        }
    }
    assert_int_equal(n_live(r), (size_t)n / 2);
    /* Adds keep the workers within one symbol of each other; removals may unbalance them. */
    int total = 0;
    for (int w = 0; w < 7; w++)
        total += load[w];
    assert_int_equal(total, n / 2);
    kl_symreg_destroy(r);
}

/* ---- two threads adding the same names --------------------------------------------------- */

#define RACE_NAMES 3000

typedef struct racer {
    kl_symreg_t *r;
    int reverse;
    uint32_t id[RACE_NAMES];
    int added[RACE_NAMES];
    int errors;
} racer_t;

static void *
racer_main(void *arg)
{
    racer_t *t = arg;
    char name[16];
    for (int k = 0; k < RACE_NAMES; k++) {
        int i = t->reverse ? RACE_NAMES - 1 - k : k;
        snprintf(name, sizeof name, "R%dX", i);
        kl_syminfo_t x;
        /* A lookup that only reads, then one that may add, as a router does on a miss. */
        int rc0 = kl_symreg_lookup(t->r, name, 0, 1, &x);
        int rc = kl_symreg_lookup(t->r, name, 1, 1, &x);
        if ((rc0 != 0 && rc0 != KL_EARG) || (rc != 0 && rc != 1) || strcmp(x.name, name) != 0) {
            t->errors++;
            continue;
        }
        t->id[i] = x.id;
        t->added[i] = rc == 1;
        if (k % 97 == 0) {
            kl_syminfo_t tmp[4];
            (void)kl_symreg_list(t->r, tmp, 4);
            (void)kl_symreg_epoch(t->r);
        }
    }
    return NULL;
}

static void
concurrent_add_one_id_per_name(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(3);
    assert_non_null(r);
    static racer_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.r = b.r = r;
    b.reverse = 1;
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, racer_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, racer_main, &b), 0);
    assert_int_equal(pthread_join(ta, NULL), 0);
    assert_int_equal(pthread_join(tb, NULL), 0);
    assert_int_equal(a.errors, 0);
    assert_int_equal(b.errors, 0);
    static unsigned char seen[RACE_NAMES];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < RACE_NAMES; i++) {
        assert_int_equal(a.id[i], b.id[i]);
        assert_int_equal(a.added[i] + b.added[i], 1); /* exactly one thread added it */
        assert_true(a.id[i] < RACE_NAMES);
        assert_int_equal(seen[a.id[i]], 0); /* no two names share an id */
        seen[a.id[i]] = 1;
    }
    assert_int_equal(n_live(r), RACE_NAMES);
    kl_syminfo_t x;
    assert_int_equal(kl_symreg_get(r, RACE_NAMES, &x), KL_EARG);
    kl_symreg_destroy(r);
}

/* kl_service_reload() asks for the count with kl_symreg_list(reg, NULL, 0). That must work: it
 * must not hand NULL to qsort() (undefined even for 0 elements; UBSan stops the program). Kept
 * last so that an abort here does not hide the other tests. */
static void
count_with_null_buffer(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(2);
    assert_non_null(r);
    kl_syminfo_t x;
    assert_int_equal(kl_symreg_lookup(r, "AUSDT", 1, 1, &x), 1);
    assert_int_equal(kl_symreg_lookup(r, "BUSDT", 1, 1, &x), 1);
    assert_int_equal(kl_symreg_list(r, NULL, 0), 2);
    kl_symreg_destroy(r);
}

static void *
blob_of(const char *text)
{
    size_t n = strlen(text) + 1;
    void *b = kl_alloc(n);
    assert_non_null(b);
    memcpy(b, text, n);
    return b;
}

static void
readd_goes_where_the_series_is(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(3);
    assert_non_null(r);
    kl_syminfo_t x, a;
    assert_int_equal(kl_symreg_lookup(r, "AUSDT", KL_SYMREG_ADD, 1000, &a), 1);
    assert_int_equal(a.worker, 0);
    assert_int_equal(a.parked, -1);
    assert_int_equal(kl_symreg_lookup(r, "BUSDT", KL_SYMREG_ADD, 1, &x), 1);
    assert_int_equal(kl_symreg_lookup(r, "CUSDT", KL_SYMREG_ADD, 1, &x), 1);
    /* Removed: parked on its worker, stored. */
    assert_int_equal(kl_symreg_remove(r, "AUSDT", &x), 0);
    assert_int_equal(x.parked, 0);
    assert_int_equal(x.stored, 1);
    assert_int_equal(kl_symreg_lookup(r, "EUSDT", KL_SYMREG_ADD, 1, &x), 1);
    assert_int_equal(x.worker, 0);
    assert_int_equal(kl_symreg_lookup(r, "FUSDT", KL_SYMREG_ADD, 1, &x), 1);
    assert_int_equal(x.worker, 0); /* loads 2,1,1: least loaded is 1 from now on */
    /* The re-add goes to worker 0 anyway, where the series is, in its unit. */
    assert_int_equal(kl_symreg_readd(r, "AUSDT", 0, &x), 1);
    assert_int_equal(x.worker, 0);
    assert_true(x.id > a.id);
    assert_int_equal(x.unit_per_ms, 1000);
    assert_int_equal(x.live, 1);
    assert_int_equal(kl_symreg_readd(r, "AUSDT", 0, &x), 0); /* live: nothing changes */
    /* Another worker's consent does not free worker 0's series. */
    assert_int_equal(kl_symreg_remove(r, "AUSDT", &x), 0);
    assert_int_equal(kl_symreg_unpark(r, "AUSDT", 1), 0);
    assert_int_equal(kl_symreg_lookup(r, "AUSDT", KL_SYMREG_ADD, 0, &x), 1); /* same for ADD */
    assert_int_equal(x.worker, 0);
    /* Re-added onto worker 0 and not yet resumed there: worker 0 may not free the series. */
    assert_int_equal(kl_symreg_remove(r, "AUSDT", &x), 0);
    assert_int_equal(kl_symreg_readd(r, "AUSDT", 0, &x), 1);
    assert_int_equal(kl_symreg_unpark(r, "AUSDT", 0), 1);
    /* Freed with consent: the next re-add needs the stored state. */
    assert_int_equal(kl_symreg_remove(r, "AUSDT", &x), 0);
    assert_int_equal(kl_symreg_unpark(r, "AUSDT", 0), 0);
    assert_int_equal(kl_symreg_readd(r, "AUSDT", 0, &x), KL_SYMREG_NEED_STATE);
    assert_int_equal(kl_symreg_readd(r, "AUSDT", 0, &x), KL_EARG); /* being resumed */
    assert_int_equal(kl_symreg_lookup(r, "AUSDT", KL_SYMREG_AUTO, 1, &x), KL_EARG);
    assert_int_equal(kl_symreg_list(r, NULL, 0), 4);
    /* Cancelled: asked again. */
    kl_symreg_readd_cancel(r, "AUSDT");
    assert_int_equal(kl_symreg_readd(r, "AUSDT", 0, &x), KL_SYMREG_NEED_STATE);
    assert_int_equal(kl_symreg_readd_state(r, "AUSDT", 1000, blob_of("state-A"), 8, &a), 1);
    assert_int_equal(a.worker, 1); /* least loaded: no worker holds it */
    assert_int_equal(a.live, 1);
    assert_int_equal(a.unit_per_ms, 1000);
    /* The worker creating the slot takes the state, once. */
    void *st;
    uint32_t len;
    assert_int_equal(kl_symreg_take_state(r, a.id - 1, &st, &len), 0);
    assert_int_equal(kl_symreg_take_state(r, a.id, &st, &len), 1);
    assert_int_equal(len, 8);
    assert_string_equal((const char *)st, "state-A");
    kl_free(st);
    assert_int_equal(kl_symreg_take_state(r, a.id, &st, &len), 0);
    /* Live meanwhile: the state is dropped. */
    assert_int_equal(kl_symreg_readd_state(r, "AUSDT", 0, blob_of("late"), 5, &x), 0);
    assert_int_equal(x.id, a.id);
    /* No stored state: a fresh series, nothing to take. */
    assert_int_equal(kl_symreg_remove(r, "BUSDT", &x), 0);
    assert_int_equal(kl_symreg_unpark(r, "BUSDT", x.worker), 0);
    assert_int_equal(kl_symreg_readd(r, "BUSDT", 0, &x), KL_SYMREG_NEED_STATE);
    assert_int_equal(kl_symreg_readd_state(r, "BUSDT", 0, NULL, 0, &x), 1);
    assert_int_equal(kl_symreg_take_state(r, x.id, &st, &len), 0);
    /* A state no worker took is freed with the registry (ASan checks). */
    assert_int_equal(kl_symreg_remove(r, "BUSDT", &x), 0);
    assert_int_equal(kl_symreg_unpark(r, "BUSDT", x.worker), 0);
    assert_int_equal(kl_symreg_readd(r, "BUSDT", 0, &x), KL_SYMREG_NEED_STATE);
    assert_int_equal(kl_symreg_readd_state(r, "BUSDT", 0, blob_of("never taken"), 12, &x), 1);
    assert_int_equal(kl_symreg_readd(r, "bad-name", 0, &x), KL_EARG);
    assert_int_equal(kl_symreg_readd_state(r, "bad-name", 0, blob_of("x"), 2, &x), KL_EARG);
    kl_symreg_destroy(r);
}

static void
stored_states_of_removed_symbols(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(2);
    assert_non_null(r);
    kl_syminfo_t x;
    /* Recovery meets a parked state: removed and stored, not served, not auto-added. */
    assert_int_equal(kl_symreg_add_stored(r, "AUSDT", 1, &x), 1);
    assert_int_equal(x.live, 0);
    assert_int_equal(x.stored, 1);
    assert_int_equal(x.parked, -1);
    assert_int_equal(kl_symreg_list(r, NULL, 0), 0);
    assert_int_equal(kl_symreg_lookup(r, "AUSDT", KL_SYMREG_AUTO, 1, &x), KL_EARG);
    assert_int_equal(kl_symreg_lookup(r, "AUSDT", KL_SYMREG_FIND, 1, &x), KL_EARG);
    assert_int_equal(kl_symreg_readd(r, "AUSDT", 0, &x), KL_SYMREG_NEED_STATE);
    kl_symreg_readd_cancel(r, "AUSDT");
    /* A configured (live) name: the caller continues it. */
    assert_int_equal(kl_symreg_lookup(r, "BUSDT", KL_SYMREG_ADD, 0, &x), 1);
    assert_int_equal(kl_symreg_add_stored(r, "BUSDT", 1, &x), 0);
    assert_int_equal(x.live, 1);
    assert_int_equal(kl_symreg_add_stored(r, "b", 1, &x), KL_EARG);
    /* Another shard's name is not ours to hold. */
    kl_symreg_set_shard(r, 0, 2);
    int other = 0;
    char name[16];
    for (int i = 0; !other && i < 100; i++) {
        snprintf(name, sizeof name, "S%dUSDT", i);
        other = kl_symreg_add_stored(r, name, 1, &x) == KL_ESHARD;
    }
    assert_true(other);
    assert_int_equal(kl_symreg_readd(r, name, 0, &x), KL_ESHARD);
    kl_symreg_destroy(r);
}

/* A re-add racing the worker that frees the parked series: whatever the order, either the
 * re-add goes to the worker (which then keeps the series: consent refused) or it needs the
 * stored state (consent given first). Never both, never neither. */
typedef struct race {
    kl_symreg_t *r;
    int readd_rc, unpark_rc;
} race_t;

static void *
race_readd(void *arg)
{
    race_t *c = arg;
    kl_syminfo_t x;
    c->readd_rc = kl_symreg_readd(c->r, "RUSDT", 0, &x);
    return NULL;
}

static void *
race_unpark(void *arg)
{
    race_t *c = arg;
    c->unpark_rc = kl_symreg_unpark(c->r, "RUSDT", 0);
    return NULL;
}

static void
readd_races_the_freeing_worker(void **state)
{
    (void)state;
    int via_worker = 0, via_store = 0;
    for (int round = 0; round < 300; round++) {
        race_t c = {kl_symreg_create(1), 0, 0};
        assert_non_null(c.r);
        kl_syminfo_t x;
        assert_int_equal(kl_symreg_lookup(c.r, "RUSDT", KL_SYMREG_ADD, 1, &x), 1);
        assert_int_equal(kl_symreg_remove(c.r, "RUSDT", &x), 0);
        pthread_t a, b;
        assert_int_equal(pthread_create(&a, NULL, race_readd, &c), 0);
        assert_int_equal(pthread_create(&b, NULL, race_unpark, &c), 0);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        if (c.readd_rc == 1) {
            assert_int_equal(c.unpark_rc, 1); /* the worker keeps it for the re-add */
            via_worker++;
        } else {
            assert_int_equal(c.readd_rc, KL_SYMREG_NEED_STATE);
            assert_int_equal(c.unpark_rc, 0);
            via_store++;
        }
        kl_symreg_destroy(c.r);
    }
    assert_int_equal(via_worker + via_store, 300);
}

/* The clock the creation bucket refills by, moved by the tests. */
static int64_t fake_ms = 1000;

static int64_t
fake_now(void)
{
    return fake_ms;
}

/* Issue 12, C2: a source's unknown names are added within max-symbols; beyond it they are
 * refused (KL_ESYMLIMIT), counted, and nothing is allocated for them; a removal makes room;
 * known names are found as before; the uncapped adds (configured, recovery) are not refused. */
static void
cap_refuses_new_symbols(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(2);
    assert_non_null(r);
    kl_syminfo_t x;
    assert_int_equal(kl_symreg_lookup(r, "CONF1", KL_SYMREG_ADD, 0, &x), 1); /* configured */
    kl_symreg_limits_t lim = {.max_live = 3, .rate = 0, .burst = 1};
    kl_symreg_set_limits(r, &lim);
    assert_int_equal(kl_symreg_lookup(r, "A1", KL_SYMREG_AUTO_BOUNDED, 1, &x), 1);
    assert_int_equal(kl_symreg_lookup(r, "A2", KL_SYMREG_AUTO_BOUNDED, 1, &x), 1);
    char name[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "FLOOD%d", i);
        assert_int_equal(kl_symreg_lookup(r, name, KL_SYMREG_AUTO_BOUNDED, 1, &x), KL_ESYMLIMIT);
    }
    kl_symreg_stats_t st;
    kl_symreg_stats(r, &st);
    assert_int_equal(st.live, 3);
    assert_int_equal(st.entries, 3); /* refused names allocate no entry */
    assert_int_equal(st.refused[KL_SYMREG_REFUSED_CAP], 1000);
    assert_int_equal(st.refused[KL_SYMREG_REFUSED_RATE], 0);
    assert_int_equal(n_live(r), 3);
    /* Known names are still found, with or without add. */
    assert_int_equal(kl_symreg_lookup(r, "A1", KL_SYMREG_AUTO_BOUNDED, 1, &x), 0);
    assert_int_equal(kl_symreg_lookup(r, "CONF1", KL_SYMREG_FIND, 1, &x), 0);
    /* An explicit add (admin, reload) obeys the cap too; a plain ADD does not. */
    assert_int_equal(kl_symreg_readd(r, "ADMIN1", 1, &x), KL_ESYMLIMIT);
    assert_int_equal(kl_symreg_lookup(r, "ADD1", KL_SYMREG_ADD | KL_SYMREG_CAPPED, 1, &x),
                     KL_ESYMLIMIT);
    /* A removal makes room for one. */
    assert_int_equal(kl_symreg_remove(r, "A2", &x), 0);
    assert_int_equal(kl_symreg_lookup(r, "NEW1", KL_SYMREG_AUTO_BOUNDED, 1, &x), 1);
    assert_int_equal(kl_symreg_lookup(r, "NEW2", KL_SYMREG_AUTO_BOUNDED, 1, &x), KL_ESYMLIMIT);
    assert_int_equal(kl_symreg_remove(r, "NEW1", &x), 0);
    assert_int_equal(kl_symreg_readd(r, "ADMIN1", 1, &x), 1);
    assert_int_equal(kl_symreg_lookup(r, "REC1", KL_SYMREG_ADD, 1, &x), 1); /* uncapped */
    kl_symreg_stats(r, &st);
    assert_int_equal(st.live, 4);
    assert_int_equal(st.refused[KL_SYMREG_REFUSED_CAP], 1003);
    kl_symreg_destroy(r);
}

/* New symbols are paced by a token bucket: `burst` at once, then `rate` per second; a refusal
 * for the rate is counted apart, and takes nothing. Known names are never paced. */
static void
rate_paces_new_symbols(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(1);
    assert_non_null(r);
    fake_ms = 1000;
    kl_symreg_set_clock(r, fake_now);
    kl_symreg_limits_t lim = {.max_live = 100000, .rate = 10, .burst = 5};
    kl_symreg_set_limits(r, &lim);
    kl_syminfo_t x;
    char name[16];
    int added = 0, n = 0;
    for (int i = 0; i < 50; i++, n++) {
        snprintf(name, sizeof name, "S%d", n);
        added += kl_symreg_lookup(r, name, KL_SYMREG_AUTO_BOUNDED, 1, &x) == 1;
    }
    assert_int_equal(added, 5); /* the burst */
    assert_int_equal(kl_symreg_lookup(r, "S0", KL_SYMREG_AUTO_BOUNDED, 1, &x), 0); /* known */
    /* 250 ms at 10/s: 2.5 tokens -> 2 more. */
    fake_ms += 250;
    added = 0;
    for (int i = 0; i < 50; i++, n++) {
        snprintf(name, sizeof name, "S%d", n);
        added += kl_symreg_lookup(r, name, KL_SYMREG_AUTO_BOUNDED, 1, &x) == 1;
    }
    assert_int_equal(added, 2);
    /* The half token left plus 50 ms = one more. */
    fake_ms += 50;
    snprintf(name, sizeof name, "S%d", n++);
    assert_int_equal(kl_symreg_lookup(r, name, KL_SYMREG_AUTO_BOUNDED, 1, &x), 1);
    snprintf(name, sizeof name, "S%d", n++);
    assert_int_equal(kl_symreg_lookup(r, name, KL_SYMREG_AUTO_BOUNDED, 1, &x), KL_ESYMLIMIT);
    /* A long pause refills up to the burst only. */
    fake_ms += 3600 * 1000;
    added = 0;
    for (int i = 0; i < 50; i++, n++) {
        snprintf(name, sizeof name, "S%d", n);
        added += kl_symreg_lookup(r, name, KL_SYMREG_AUTO_BOUNDED, 1, &x) == 1;
    }
    assert_int_equal(added, 5);
    /* Not paced: the exchange's list (CAPPED only), and an admin add. */
    assert_int_equal(kl_symreg_lookup(r, "BINANCE1", KL_SYMREG_AUTO | KL_SYMREG_CAPPED, 1, &x),
                     1);
    assert_int_equal(kl_symreg_readd(r, "ADMIN1", 1, &x), 1);
    kl_symreg_stats_t st;
    kl_symreg_stats(r, &st);
    assert_int_equal(st.live, 5 + 2 + 1 + 5 + 2);
    assert_int_equal(st.entries, st.live);
    assert_int_equal(st.refused[KL_SYMREG_REFUSED_RATE], (uint64_t)n - (5 + 2 + 1 + 5));
    assert_int_equal(st.refused[KL_SYMREG_REFUSED_CAP], 0);
    kl_symreg_destroy(r);
}

/* Names are checked before anything is allocated: A-Z 0-9, 1..31 bytes, as `symbols`. A
 * source's invalid name is counted (the API's lookups of a bad name are not). */
static void
bounded_invalid_names_counted(void **state)
{
    (void)state;
    kl_symreg_t *r = kl_symreg_create(1);
    assert_non_null(r);
    kl_symreg_limits_t lim = {.max_live = 10, .rate = 100, .burst = 100};
    kl_symreg_set_limits(r, &lim);
    kl_syminfo_t x;
    static const char *const bad[] = {"", "btcusdt", "BTC-USDT", "BTC USDT", "BTC\"X",
                                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "\x01\x7f\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(kl_symreg_lookup(r, bad[i], KL_SYMREG_AUTO_BOUNDED, 1, &x), KL_EARG);
    assert_int_equal(kl_symreg_lookup(r, "btcusdt", KL_SYMREG_FIND, 1, &x), KL_EARG);
    kl_symreg_refuse_name(r, "x\ny", 3);
    /* 31 bytes is the longest name. */
    assert_int_equal(kl_symreg_lookup(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234", KL_SYMREG_AUTO_BOUNDED,
                                      1, &x), 1);
    assert_true(kl_sym_valid("BTCUSDT", 7));
    assert_false(kl_sym_valid("BTCUSDT", 0));
    assert_false(kl_sym_valid("BTCUSDt", 7));
    kl_symreg_stats_t st;
    kl_symreg_stats(r, &st);
    assert_int_equal(st.refused[KL_SYMREG_REFUSED_NAME], sizeof bad / sizeof bad[0] + 1);
    assert_int_equal(st.entries, 1);
    kl_symreg_destroy(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_lookup_remove),
        cmocka_unit_test(ids_never_reused),
        cmocka_unit_test(least_loaded_worker),
        cmocka_unit_test(epoch_moves_on_remove_only),
        cmocka_unit_test(invalid_names_rejected),
        cmocka_unit_test(unit_zero_replaced_by_first_known),
        cmocka_unit_test(list_sorted_live_only),
        cmocka_unit_test(many_symbols_index_grows),
        cmocka_unit_test(concurrent_add_one_id_per_name),
        cmocka_unit_test(count_with_null_buffer),
        cmocka_unit_test(readd_goes_where_the_series_is),
        cmocka_unit_test(stored_states_of_removed_symbols),
        cmocka_unit_test(readd_races_the_freeing_worker),
        cmocka_unit_test(cap_refuses_new_symbols),
        cmocka_unit_test(rate_paces_new_symbols),
        cmocka_unit_test(bounded_invalid_names_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
