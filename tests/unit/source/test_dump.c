/* Dump reader tests: a zip member read through a deliberately tiny chunk buffer must come back
 * byte for byte, every chunk ending on a line boundary, whatever the line lengths; plain files
 * come back whole, through the same chunks; a plain file truncated while it is being read ends
 * with KL_ETRUNC (it used to be mapped, and the truncation killed the process with SIGBUS);
 * kl_dump_head reads only the start. dump.c is included with a 64-byte chunk so that carry-over
 * of partial lines happens on nearly every read. */
#define KL_DUMP_CHUNK 64u
#include "source/dump.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

static char tmpdir[] = "/tmp/kl_test_dump_XXXXXX";

static void
make_zip(const char *path, const char *member, const char *data, size_t n)
{
    int err;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    assert_non_null(z);
    zip_source_t *src = zip_source_buffer(z, data, n, 0);
    assert_non_null(src);
    assert_true(zip_file_add(z, member, src, ZIP_FL_OVERWRITE) >= 0);
    assert_int_equal(zip_close(z), 0);
}

/* Lines of varying length (1..60 bytes), the last one optionally without newline. */
static size_t
make_lines(char *buf, size_t cap, unsigned seed, int final_newline)
{
    size_t n = 0;
    for (int i = 0; n + 70 < cap; i++) {
        seed = seed * 1103515245u + 12345u;
        int len = 1 + (int)((seed >> 16) % 60);
        for (int j = 0; j < len; j++)
            buf[n++] = (char)('a' + (i + j) % 26);
        buf[n++] = '\n';
    }
    if (!final_newline)
        n--;
    return n;
}

static void
read_all(const char *path, char *out, size_t cap, size_t *out_len)
{
    kl_dump_t *d;
    assert_int_equal(kl_dump_open(path, &d), 0);
    const char *data;
    size_t len, total = 0;
    int rc;
    while ((rc = kl_dump_next(d, &data, &len)) > 0) {
        assert_true(len > 0);
        assert_true(total + len <= cap);
        memcpy(out + total, data, len);
        total += len;
        /* Every chunk but the file's last ends on a newline. */
        if (data[len - 1] != '\n') {
            const char *d2;
            size_t l2;
            assert_int_equal(kl_dump_next(d, &d2, &l2), 0);
        }
    }
    assert_int_equal(rc, 0);
    assert_int_equal(kl_dump_bytes(d), total);
    kl_dump_close(d);
    *out_len = total;
}

static void
zip_chunks_reassemble(void **state)
{
    (void)state;
    static char src[20000], got[20000];
    char path[256];
    for (int nl = 0; nl < 2; nl++) {
        size_t n = make_lines(src, sizeof src, 7u + (unsigned)nl, nl);
        snprintf(path, sizeof path, "%s/X-aggTrades-%d.zip", tmpdir, nl);
        make_zip(path, "X-aggTrades.csv", src, n);
        size_t m;
        read_all(path, got, sizeof got, &m);
        assert_int_equal(m, n);
        assert_memory_equal(got, src, n);
    }
}

static void
zip_line_longer_than_chunk_is_an_error(void **state)
{
    (void)state;
    char src[200], path[256];
    memset(src, 'x', sizeof src);
    src[sizeof src - 1] = '\n';
    snprintf(path, sizeof path, "%s/long.zip", tmpdir);
    make_zip(path, "long.csv", src, sizeof src);
    kl_dump_t *d;
    assert_int_equal(kl_dump_open(path, &d), 0);
    const char *data;
    size_t len;
    assert_int_equal(kl_dump_next(d, &data, &len), KL_ELINE);
    kl_dump_close(d);
}

static void
plain_file_whole_and_head(void **state)
{
    (void)state;
    static char src[5000], got[5000];
    char path[256], head[32];
    size_t n = make_lines(src, sizeof src, 3u, 1);
    snprintf(path, sizeof path, "%s/p.csv", tmpdir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(src, 1, n, f), n);
    fclose(f);
    size_t m;
    read_all(path, got, sizeof got, &m);
    assert_int_equal(m, n);
    assert_memory_equal(got, src, n);
    assert_int_equal(kl_dump_head(path, head, sizeof head), (int)sizeof head - 1);
    assert_memory_equal(head, src, sizeof head - 1);
    assert_int_equal(head[sizeof head - 1], '\0');
}

/* The file is cut to 100 bytes after the first chunk was handed out: the reader returns what it
 * can and then KL_ETRUNC, never a partial file as if it were whole (nor SIGBUS). */
static void
plain_file_truncated_while_read(void **state)
{
    (void)state;
    static char src[5000];
    char path[256];
    size_t n = make_lines(src, sizeof src, 5u, 1);
    snprintf(path, sizeof path, "%s/t.csv", tmpdir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(src, 1, n, f), n);
    fclose(f);
    kl_dump_t *d;
    assert_int_equal(kl_dump_open(path, &d), 0);
    const char *data;
    size_t len, total = 0;
    assert_int_equal(kl_dump_next(d, &data, &len), 1);
    assert_memory_equal(data, src, len);
    total += len;
    assert_int_equal(truncate(path, 100), 0);
    int rc;
    while ((rc = kl_dump_next(d, &data, &len)) > 0)
        total += len;
    assert_int_equal(rc, KL_ETRUNC);
    assert_true(total < n);
    kl_dump_close(d);
}

static void
missing_and_empty_files(void **state)
{
    (void)state;
    char path[256];
    kl_dump_t *d;
    snprintf(path, sizeof path, "%s/nope.csv", tmpdir);
    assert_int_equal(kl_dump_open(path, &d), -ENOENT);
    snprintf(path, sizeof path, "%s/nope.zip", tmpdir);
    assert_true(kl_dump_open(path, &d) < 0);
    snprintf(path, sizeof path, "%s/empty.csv", tmpdir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(kl_dump_open(path, &d), 0);
    const char *data;
    size_t len;
    assert_int_equal(kl_dump_next(d, &data, &len), 0);
    kl_dump_close(d);
    snprintf(path, sizeof path, "%s/notazip.zip", tmpdir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fputs("this is not a zip archive\n", f);
    fclose(f);
    assert_true(kl_dump_open(path, &d) < 0);
}

int
main(void)
{
    if (!mkdtemp(tmpdir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zip_chunks_reassemble),
        cmocka_unit_test(zip_line_longer_than_chunk_is_an_error),
        cmocka_unit_test(plain_file_whole_and_head),
        cmocka_unit_test(plain_file_truncated_while_read),
        cmocka_unit_test(missing_and_empty_files),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
