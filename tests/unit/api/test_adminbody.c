/* Unit tests for src/api/adminbody.c, the strict reader of admin JSON bodies: only a
 * top-level "symbol" member counts (not the substring inside another value), escapes are
 * decoded, and anything that is not one flat JSON object is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/adminbody.h"

static int
sym(const char *body, char *out)
{
    return kl_admin_body_symbol(body, strlen(body), out, 64);
}

static void
test_accepts(void **state)
{
    (void)state;
    char v[64];
    assert_int_equal(sym("{\"symbol\":\"BTCUSDT\"}", v), 1);
    assert_string_equal(v, "BTCUSDT");
    assert_int_equal(sym(" \n{ \"a\" : 1.5e3 , \"symbol\" : \"eth/usdt\", \"b\":[] }", v), -1);
    assert_int_equal(sym(" \n{ \"a\" : 1.5e3 , \"symbol\" : \"eth/usdt\", \"b\":null } \r\n", v),
                     1);
    assert_string_equal(v, "eth/usdt");
    assert_int_equal(sym("{\"s\\u0079mbol\":\"A\\u0042\\/C\"}", v), 1);
    assert_string_equal(v, "AB/C");
    assert_int_equal(sym("{\"x\":\"\\ud83d\\ude00\",\"symbol\":\"\\u00e9\"}", v), 1);
    assert_string_equal(v, "\xc3\xa9");
    assert_int_equal(sym("{}", v), 0);
    assert_int_equal(sym("{\"other\":\"symbol\"}", v), 0);
}

static void
test_refuses(void **state)
{
    (void)state;
    char v[64];
    static const char *const bad[] = {
        "",
        "symbol=BTCUSDT",
        "{\"x\":\"\\\"symbol\\\":\\\"EVIL\\\"\"}x",
        "{\"symbol\":\"A\",\"symbol\":\"B\"}", /* duplicate */
        "{\"symbol\":1}",
        "{\"symbol\":\"A\"",                   /* unterminated */
        "{\"symbol\":\"A\"}{}",                /* trailing */
        "{\"symbol\":\"A\",}",                 /* trailing comma */
        "{\"symbol\":\"a\\u0000b\"}",          /* NUL */
        "{\"symbol\":\"\\ud800\"}",            /* lone surrogate */
        "{\"symbol\":\"a\nb\"}",               /* raw control character */
        "{\"a\":{\"symbol\":\"A\"}}",          /* nested */
        "{\"a\":01}",
        "{\"a\":-}",
        "{\"a\":tru}",
        "{'symbol':'A'}",
        "[\"symbol\",\"A\"]",
        "{\"symbol\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = sym(bad[i], v);
        if (rc != -1)
            fail_msg("accepted #%zu: %s", i, bad[i]);
    }
    /* the old substring reader took EVIL from inside another member's value */
    assert_int_equal(sym("{\"x\":\"\\\"symbol\\\":\\\"EVIL\\\"\"}", v), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
