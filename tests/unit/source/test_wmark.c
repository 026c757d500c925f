/* Connection watermarks (source/wmark.h): the watermark follows the highest delivered trade time
 * minus the allowed disorder, moves on a quiet connection only by proof (pong, idle) and never
 * past what the observed delivery delay allows, never goes back, and is announced once per whole
 * second. Also the connection symbol set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kl/err.h"
#include "source/wmark.h"

static void
trades_move_it_minus_disorder(void **state)
{
    (void)state;
    kl_wmark_t w;
    kl_wmark_init(&w, 50);
    assert_true(kl_wmark_due(&w) == KL_WMARK_NONE); /* nothing delivered: nothing to say */
    assert_int_equal(kl_wmark_trade(&w, 10980, 11200), 220);
    assert_int_equal(w.wm, 10930);
    assert_int_equal(kl_wmark_due(&w), 10000);
    assert_true(kl_wmark_due(&w) == KL_WMARK_NONE); /* the same second is announced once */
    kl_wmark_trade(&w, 11049, 11300);
    assert_true(kl_wmark_due(&w) == KL_WMARK_NONE); /* 10999: still inside second 10 */
    kl_wmark_trade(&w, 11050, 11300);
    assert_int_equal(kl_wmark_due(&w), 11000);
    /* An older trade (another symbol, within the disorder) never moves it back. */
    kl_wmark_trade(&w, 11010, 11310);
    assert_int_equal(w.wm, 11000);
    assert_int_equal(w.max_t, 11050);
    /* A jump over several seconds is announced as its last whole second only. */
    kl_wmark_trade(&w, 15075, 15300);
    assert_int_equal(kl_wmark_due(&w), 15000);
}

static void
latency_is_a_windowed_max(void **state)
{
    (void)state;
    kl_wmark_t w;
    kl_wmark_init(&w, 0);
    assert_true(kl_wmark_latency_ms(&w) == KL_WMARK_NONE);
    kl_wmark_trade(&w, 1000, 1300);  /* 300, window until 11300 */
    kl_wmark_trade(&w, 2000, 2100);  /* 100 */
    assert_int_equal(kl_wmark_latency_ms(&w), 300);
    kl_wmark_trade(&w, 11350, 11400); /* new window: 50; the previous one (300) still counts */
    assert_int_equal(kl_wmark_latency_ms(&w), 300);
    kl_wmark_trade(&w, 21400, 21500); /* two windows later the 300 is forgotten */
    assert_int_equal(kl_wmark_latency_ms(&w), 100);
    kl_wmark_trade(&w, 21500, 22500);
    assert_int_equal(kl_wmark_latency_ms(&w), 1000);
}

static void
quiet_connection_moves_only_by_proof(void **state)
{
    (void)state;
    kl_wmark_t w;
    kl_wmark_init(&w, 50);
    kl_wmark_quiet(&w, 100000, 10000); /* no trade yet: a pong proves nothing about latency */
    assert_true(w.wm == KL_WMARK_NONE);
    kl_wmark_trade(&w, 10000, 10270); /* latency 270 */
    assert_int_equal(kl_wmark_due(&w), 9000);
    /* A pong for a ping sent at 12000: frames delayed up to 270 ms may still be queued behind
     * it at a peer that answers pings first, so the watermark stops at 12000 - 270 - 50. */
    kl_wmark_quiet(&w, 12000, 10000);
    assert_int_equal(w.wm, 11680);
    assert_int_equal(kl_wmark_due(&w), 11000);
    kl_wmark_quiet(&w, 11000, 10000); /* an older proof never moves it back */
    assert_int_equal(w.wm, 11680);
    /* A feed of old trades (latency beyond the bound) cannot be bounded by the clock. */
    kl_wmark_t old;
    kl_wmark_init(&old, 0);
    kl_wmark_trade(&old, 1000, 86401000);
    kl_wmark_quiet(&old, 86500000, 10000);
    assert_int_equal(old.wm, 1000);
}

/* A busy connection that falls silent is stalled: its pongs may overtake queued frames at a
 * peer that answers pings first, so only its frames move it again. */
static void
busy_connection_ignores_pongs(void **state)
{
    (void)state;
    kl_wmark_t w;
    kl_wmark_init(&w, 0);
    for (int i = 0; i < KL_WMARK_QUIET_MAX_TRADES; i++)
        kl_wmark_trade(&w, 10000 + i * 10, 10100 + i * 10);
    kl_wmark_quiet(&w, 13000, 10000);
    assert_int_equal(w.wm, 13000 - 100); /* 20 trades: still quiet enough */
    kl_wmark_trade(&w, 10500, 10600); /* one more: busy */
    int64_t before = w.wm;
    kl_wmark_quiet(&w, 14000, 10000);
    assert_int_equal(w.wm, before);
    /* Silent for good: once its windows have passed without a trade, a pong counts again. */
    kl_wmark_quiet(&w, 10600 + KL_WMARK_LAT_WINDOW_MS - 1, 10000); /* still within reach */
    assert_int_equal(w.wm, before);
    kl_wmark_quiet(&w, 10100 + 2 * KL_WMARK_LAT_WINDOW_MS, 10000);
    assert_int_equal(w.wm, 10100 + 2 * KL_WMARK_LAT_WINDOW_MS - 100);
    before = w.wm;
    /* Two quiet windows later it is a quiet connection again. */
    kl_wmark_trade(&w, 30000, 30100);
    kl_wmark_trade(&w, 45000, 45100);
    kl_wmark_quiet(&w, 50000, 10000);
    assert_int_equal(w.wm, 50000 - 100);
}

static void
idle_client_closes_after_idle_ms(void **state)
{
    (void)state;
    kl_wmark_t w;
    kl_wmark_init(&w, 0);
    kl_wmark_idle(&w, 50000, 2000); /* never delivered: never idle */
    assert_true(w.wm == KL_WMARK_NONE);
    kl_wmark_trade(&w, 10500, 11000);
    kl_wmark_idle(&w, 12999, 2000); /* silent 1999 ms: not yet */
    assert_int_equal(w.wm, 10500);
    kl_wmark_idle(&w, 13000, 2000);
    assert_int_equal(w.wm, 11000);
    kl_wmark_idle(&w, 17400, 2000);
    assert_int_equal(w.wm, 15400);
    assert_int_equal(kl_wmark_due(&w), 15000);
    /* Replayed old trades: a lines client feeding last year is never closed by the clock. */
    kl_wmark_t old;
    kl_wmark_init(&old, 0);
    kl_wmark_trade(&old, 1000, 5000000);
    kl_wmark_idle(&old, 9000000, 2000);
    assert_int_equal(old.wm, 1000);
}

static void
negative_times_floor_correctly(void **state)
{
    (void)state;
    kl_wmark_t w;
    kl_wmark_init(&w, 50);
    kl_wmark_trade(&w, 0, 10); /* wm -50: second -1 */
    assert_int_equal(kl_wmark_due(&w), -1000);
}

static void
symset_adds_each_name_once(void **state)
{
    (void)state;
    kl_symset_t s;
    memset(&s, 0, sizeof s);
    char name[16];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(name, sizeof name, "SYM%dUSDT", i);
        assert_int_equal(kl_symset_add(&s, name, (size_t)n), 1);
    }
    for (int i = 0; i < 100; i++) {
        int n = snprintf(name, sizeof name, "SYM%dUSDT", i);
        assert_int_equal(kl_symset_add(&s, name, (size_t)n), 0);
    }
    assert_int_equal(s.n, 100);
    assert_string_equal(s.names[42], "SYM42USDT");
    /* A prefix of a known name is another name. */
    assert_int_equal(kl_symset_add(&s, "SYM4", 4), 1);
    assert_int_equal(kl_symset_add(&s, "", 0), KL_EARG);
    char longname[40];
    memset(longname, 'A', sizeof longname);
    assert_int_equal(kl_symset_add(&s, longname, 32), KL_EARG);
    kl_symset_fini(&s);
    assert_int_equal(s.n, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trades_move_it_minus_disorder),
        cmocka_unit_test(latency_is_a_windowed_max),
        cmocka_unit_test(quiet_connection_moves_only_by_proof),
        cmocka_unit_test(busy_connection_ignores_pongs),
        cmocka_unit_test(idle_client_closes_after_idle_ms),
        cmocka_unit_test(negative_times_floor_correctly),
        cmocka_unit_test(symset_adds_each_name_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
