/* Unit tests for src/core/log.c's escaping: a value from outside (a symbol name, a path, a
 * client's bytes) can never forge a log line. Control characters, bytes outside printable
 * ASCII and '\' come out as \xNN; the line keeps its one final newline. stderr is redirected
 * into a pipe to read what was written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"

/* Runs kl_log(INFO, "t", "e", "%s", arg) with stderr on a pipe; returns what was written. */
static size_t
logged(const char *arg, char *out, size_t cap)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(p[1], STDERR_FILENO) >= 0);
    kl_log(KL_LOG_INFO, "t", "e", "v=%s", arg);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    close(p[1]);
    ssize_t n = read(p[0], out, cap - 1);
    close(p[0]);
    assert_true(n > 0);
    out[n] = '\0';
    return (size_t)n;
}

static void
test_control_characters_escaped(void **state)
{
    (void)state;
    char buf[4096];
    size_t n = logged("BTC\nlevel=error comp=fake event=forged\r\x01\x7f\\ok", buf, sizeof buf);
    const char *v = strstr(buf, " v=");
    assert_non_null(v);
    assert_string_equal(v, " v=BTC\\x0alevel=error comp=fake event=forged\\x0d\\x01\\x7f\\x5cok\n");
    assert_int_equal(buf[n - 1], '\n');
    assert_null(memchr(buf, '\n', n - 1)); /* one line */
    assert_null(memchr(buf, '\r', n));
}

static void
test_non_ascii_escaped_and_plain_kept(void **state)
{
    (void)state;
    char buf[4096];
    logged("caf\xc3\xa9 \"quoted\" key=value", buf, sizeof buf);
    const char *v = strstr(buf, " v=");
    assert_non_null(v);
    assert_string_equal(v, " v=caf\\xc3\\xa9 \"quoted\" key=value\n");
}

static void
test_long_value_truncated_on_an_escape_boundary(void **state)
{
    (void)state;
    char arg[3000], buf[8192];
    for (size_t i = 0; i < sizeof arg - 1; i++)
        arg[i] = i % 2 ? '\n' : 'a';
    arg[sizeof arg - 1] = '\0';
    size_t n = logged(arg, buf, sizeof buf);
    assert_true(n <= 2048);
    assert_int_equal(buf[n - 1], '\n');
    assert_null(memchr(buf, '\n', n - 1));
    /* the last escape before the newline is whole */
    const char *last = strrchr(buf, '\\');
    assert_non_null(last);
    assert_true(buf + n - 1 - last >= 4 || last[1] != 'x' || buf + n - 1 - last == 4);
    assert_memory_equal(last, "\\x0a", 4);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_characters_escaped),
        cmocka_unit_test(test_non_ascii_escaped_and_plain_kept),
        cmocka_unit_test(test_long_value_truncated_on_an_escape_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
