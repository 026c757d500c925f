/* The symbol -> shard hash: pinned values (instances and the Kafka bridge must agree on it
 * across versions), every symbol in exactly one of N shards, and the registry refusing another
 * shard's symbols while it keeps finding its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/shard.h"
#include "kl/err.h"
#include "runtime/symreg.h"

static void
test_pinned(void **state)
{
    (void)state;
    /* FNV-1a 32 reference values (computed independently). */
    assert_int_equal(kl_shard_of("", 0, 0xffffffffu), 0x811c9dc5u % 0xffffffffu);
    assert_int_equal(kl_shard_of("a", 1, 0xffffffffu), 0xe40c292cu);
    assert_int_equal(kl_shard_of("BTCUSDT", 7, 0xffffffffu), 0xe82cd26cu);
    assert_int_equal(kl_shard_of("BTCUSDT", 7, 3), 0);
    assert_int_equal(kl_shard_of("ETHUSDT", 7, 3), 2);
    assert_int_equal(kl_shard_of("SOLUSDT", 7, 3), 1);
    assert_int_equal(kl_shard_of("ETHUSDT", 7, 12), 8);
    assert_int_equal(kl_shard_of("ETHUSDT", 7, 1), 0);
}

static void
test_cover_once(void **state)
{
    (void)state;
    enum { N = 7, SYMS = 2000 };
    int per_shard[N] = {0};
    for (int i = 0; i < SYMS; i++) {
        char name[32];
        int n = snprintf(name, sizeof name, "S%dUSDT", i);
        int owners = 0;
        for (uint32_t s = 0; s < N; s++)
            owners += kl_shard_of(name, (size_t)n, N) == s;
        assert_int_equal(owners, 1);
        per_shard[kl_shard_of(name, (size_t)n, N)]++;
    }
    for (int s = 0; s < N; s++) /* roughly even: each within 30% of the mean */
        assert_true(per_shard[s] > SYMS / N * 7 / 10 && per_shard[s] < SYMS / N * 13 / 10);
}

static void
test_registry(void **state)
{
    (void)state;
    const char *syms[] = {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT", "ADAUSDT"};
    size_t n = sizeof syms / sizeof syms[0];
    int owned[6] = {0};
    for (uint32_t shard = 0; shard < 3; shard++) {
        kl_symreg_t *r = kl_symreg_create(2);
        assert_non_null(r);
        kl_symreg_set_shard(r, shard, 3);
        for (size_t i = 0; i < n; i++) {
            kl_syminfo_t info;
            int rc = kl_symreg_lookup(r, syms[i], KL_SYMREG_ADD, 1, &info);
            if (kl_shard_of(syms[i], strlen(syms[i]), 3) == shard) {
                assert_int_equal(rc, 1);
                owned[i]++;
                assert_int_equal(kl_symreg_lookup(r, syms[i], KL_SYMREG_FIND, 0, &info), 0);
            } else {
                assert_int_equal(rc, KL_ESHARD);
                assert_int_equal(kl_symreg_lookup(r, syms[i], KL_SYMREG_AUTO, 1, &info),
                                 KL_ESHARD);
                assert_int_equal(kl_symreg_lookup(r, syms[i], KL_SYMREG_FIND, 0, &info),
                                 KL_EARG);
            }
        }
        kl_symreg_destroy(r);
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(owned[i], 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pinned),
        cmocka_unit_test(test_cover_once),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
