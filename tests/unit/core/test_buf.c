/* Unit tests for src/core/buf.c, the byte buffer every HTTP response is built in: content must
 * come out byte for byte (binary data, printf that outgrows the buffer), the buffer must stay
 * NUL-terminated, and a failed allocation must be sticky and leave the content intact so the
 * API can answer 500 instead of a truncated body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "kl/err.h"

static void
test_zero_init_and_appends(void **state)
{
    (void)state;
    int64_t base = kl_alloc_live_bytes();
    kl_buf_t b = {0};
    kl_buf_puts(&b, "");
    assert_int_equal(b.len, 0);
    kl_buf_puts(&b, "hello");
    kl_buf_put(&b, ", ", 2);
    kl_buf_printf(&b, "%s #%d", "world", 42);
    kl_buf_put(&b, NULL, 0);
    assert_int_equal(b.len, strlen("hello, world #42"));
    assert_string_equal(b.p, "hello, world #42");
    assert_int_equal(b.oom, 0);
    assert_true(b.cap > b.len);
    assert_true(kl_alloc_live_bytes() > base);
    kl_buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(kl_alloc_live_bytes(), base);
    kl_buf_free(&b); /* twice is harmless */
    kl_buf_free(NULL);
}

static void
test_binary_and_growth(void **state)
{
    (void)state;
    kl_buf_t b = {0};
    const char bin[5] = {'a', '\0', 'b', '\0', 'c'};
    kl_buf_put(&b, bin, sizeof bin);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.p, bin, 5);
    assert_int_equal(b.p[5], '\0');
    /* Many small appends across several doublings: every byte lands where expected. */
    char want[16];
    for (int i = 0; i < 5000; i++)
        kl_buf_printf(&b, "%04d,", i);
    assert_int_equal(b.len, 5 + 5000 * 5);
    for (int i = 0; i < 5000; i += 997) {
        snprintf(want, sizeof want, "%04d,", i);
        assert_memory_equal(b.p + 5 + (size_t)i * 5, want, 5);
    }
    assert_int_equal(b.p[b.len], '\0');
    assert_memory_equal(b.p, bin, 5);
    kl_buf_free(&b);

    /* One printf far larger than the first allocation takes the second pass. */
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    kl_buf_puts(&b, "<");
    kl_buf_printf(&b, "%s>%d", big, 7);
    assert_int_equal(b.len, 1 + 2999 + 2);
    assert_int_equal(b.p[0], '<');
    assert_int_equal(b.p[1], 'x');
    assert_int_equal(b.p[2999], 'x');
    assert_string_equal(b.p + 3000, ">7");
    kl_buf_free(&b);
}

static void
test_reserve_then_no_allocation(void **state)
{
    (void)state;
    kl_buf_t b = {0};
    assert_int_equal(kl_buf_reserve(&b, 1000), 0);
    assert_true(b.cap >= 1001);
    assert_int_equal(b.len, 0);
    char *p = b.p;
    /* Every allocation would fail now, yet 1000 reserved bytes still append. */
    kl_alloc_fail_after(1);
    for (int i = 0; i < 100; i++)
        kl_buf_printf(&b, "%09d\n", i);
    /* Up to the capacity (less the NUL) still fits; one byte more needs growth, which fails. */
    size_t spare = b.cap - 1 - b.len;
    for (size_t i = 0; i < spare; i++)
        kl_buf_put(&b, "z", 1);
    int oom = b.oom;
    size_t len = b.len;
    kl_buf_put(&b, "z", 1);
    kl_alloc_fail_after(0);
    assert_int_equal(oom, 0);
    assert_int_equal(len, b.cap - 1);
    assert_ptr_equal(b.p, p);
    assert_int_equal(b.len, len);
    assert_int_equal(b.oom, 1);
    assert_memory_equal(b.p + 990, "000000099\n", 10);
    assert_int_equal(b.p[len - 1], 'z');
    assert_int_equal(b.p[len], '\0');
    kl_buf_free(&b);
}

static void
test_oom_is_sticky(void **state)
{
    (void)state;
    int64_t base = kl_alloc_live_bytes();
    kl_buf_t b = {0};
    kl_buf_puts(&b, "kept");
    size_t cap = b.cap;
    char fill[512];
    memset(fill, 'f', sizeof fill - 1);
    fill[sizeof fill - 1] = '\0';

    /* A printf whose growth fails: the first pass may have written into the spare room, but
     * len is unchanged and the content is still terminated right after it. */
    kl_alloc_fail_after(1);
    kl_buf_printf(&b, "%s", fill);
    kl_alloc_fail_after(0);
    assert_int_equal(b.oom, 1);
    assert_int_equal(b.len, 4);
    assert_int_equal(b.cap, cap);
    assert_string_equal(b.p, "kept");

    /* Allocation works again, but the buffer stays failed: no half document gets sent. */
    kl_buf_puts(&b, "x");
    kl_buf_put(&b, "y", 1);
    kl_buf_printf(&b, "%d", 1);
    assert_int_equal(kl_buf_reserve(&b, 1), KL_ENOMEM);
    assert_string_equal(b.p, "kept");
    assert_int_equal(b.len, 4);

    /* free clears the flag: the buffer is reusable. */
    kl_buf_free(&b);
    assert_int_equal(b.oom, 0);
    kl_buf_puts(&b, "again");
    assert_string_equal(b.p, "again");
    kl_buf_free(&b);

    /* First allocation failing: p stays NULL. */
    kl_alloc_fail_after(1);
    kl_buf_puts(&b, "a");
    kl_alloc_fail_after(0);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.oom, 1);
    kl_buf_free(&b);

    /* A size that cannot be represented is refused, not wrapped around. */
    kl_buf_puts(&b, "ab");
    assert_int_equal(kl_buf_reserve(&b, SIZE_MAX), KL_ENOMEM);
    assert_int_equal(kl_buf_reserve(&b, SIZE_MAX - 2), KL_ENOMEM);
    assert_int_equal(b.oom, 1);
    assert_string_equal(b.p, "ab");
    kl_buf_free(&b);
    assert_int_equal(kl_alloc_live_bytes(), base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_init_and_appends),
        cmocka_unit_test(test_binary_and_growth),
        cmocka_unit_test(test_reserve_then_no_allocation),
        cmocka_unit_test(test_oom_is_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
