/* Unit tests for src/wal/wal.c, compiled in here (with KL_WAL_TEST_HOOKS) so that they can make
 * write(2) and fsync fail, cut writes short and count the calls a commit makes. The WAL is what
 * recovery trusts after a crash, so these tests check the bytes that come back (seq, type and
 * payload of thousands of records), the on-disk layout wal.c documents (names, headers,
 * alignment, rotation at group boundaries), which segments release deletes, and that an I/O
 * failure stops the writer for good instead of being retried. CRC-32C is checked against
 * published vectors on both the SSE4.2 and the table path. */
#define KL_WAL_TEST_HOOKS 1
#include "wal/wal.c"

#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/log.h"
#include "kl/err.h"
#include "wal/wal.h"

static char g_root[256];
static int g_case;

/* ---- helpers --------------------------------------------------------------------------- */

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
group_setup(void **state)
{
    (void)state;
    snprintf(g_root, sizeof g_root, "/tmp/kl_wal_test.XXXXXX");
    kl_log_set_level(KL_LOG_ERROR);
    return mkdtemp(g_root) ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    return nftw(g_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh log directory per test, so that tests never see each other's segments. */
static void
new_dir(char *out, size_t cap)
{
    snprintf(out, cap, "%s/case%d", g_root, ++g_case);
}

static uint64_t
rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* The payload of record seq: derived from seq alone, so a check needs no stored copy. */
static void
payload_for(uint64_t seq, uint32_t len, uint8_t *out)
{
    uint64_t s = seq * 0x9E3779B97F4A7C15ull + 1;
    for (uint32_t i = 0; i < len; i++)
        out[i] = (uint8_t)rng_next(&s);
}

/* What a scan delivered. */
typedef struct rec {
    uint64_t seq;
    uint16_t type;
    uint32_t len;
    uint8_t *data;
} rec_t;

typedef struct got {
    rec_t *v;
    size_t n, cap;
    int stop_at; /* return 77 from the callback at this seq (0 = never) */
} got_t;

static int
collect(void *ctx, uint64_t seq, uint16_t type, const void *payload, uint32_t len)
{
    got_t *g = ctx;
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 256;
        g->v = realloc(g->v, g->cap * sizeof *g->v);
        assert_non_null(g->v);
    }
    rec_t *r = &g->v[g->n++];
    r->seq = seq;
    r->type = type;
    r->len = len;
    r->data = malloc(len ? len : 1);
    assert_non_null(r->data);
    memcpy(r->data, payload, len);
    return g->stop_at != 0 && (uint64_t)g->stop_at == seq ? 77 : 0;
}

static void
got_free(got_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->v[i].data);
    free(g->v);
    memset(g, 0, sizeof *g);
}

static void
scan_all(const char *dir, uint64_t after, int repair, got_t *g, kl_wal_scan_stats_t *st)
{
    memset(g, 0, sizeof *g);
    assert_int_equal(kl_wal_scan(dir, 0, after, repair, collect, g, st), 0);
}

/* Checks that g holds records first..first+n-1 with the lengths/types in lens/types (indexed
 * by seq - base) and the payloads payload_for() makes. */
static void
assert_records(const got_t *g, uint64_t first, size_t n, const uint32_t *lens,
               const uint16_t *types, uint64_t base)
{
    assert_int_equal(g->n, n);
    uint8_t *want = malloc(KL_WAL_PAYLOAD_MAX);
    assert_non_null(want);
    for (size_t i = 0; i < n; i++) {
        const rec_t *r = &g->v[i];
        uint64_t seq = first + i;
        assert_int_equal(r->seq, seq);
        assert_int_equal(r->type, types[seq - base]);
        assert_int_equal(r->len, lens[seq - base]);
        payload_for(seq, r->len, want);
        assert_memory_equal(r->data, want, r->len ? r->len : 0);
    }
    free(want);
}

static int
file_exists(const char *dir, uint64_t first)
{
    char p[512], name[WAL_NAME_LEN + 1];
    wal_seg_name(name, first);
    snprintf(p, sizeof p, "%s/w0/%s", dir, name);
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* The first seqs of the segment files of worker 0, sorted, read straight from the directory. */
static size_t
list_firsts(const char *dir, uint64_t *out, size_t cap)
{
    char p[512];
    snprintf(p, sizeof p, "%s/w0", dir);
    int dfd = open(p, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    uint64_t *v = NULL;
    size_t n = 0;
    assert_int_equal(wal_seg_list(dfd, &v, &n), 0);
    close(dfd);
    assert_true(n <= cap);
    if (n > 0)
        memcpy(out, v, n * sizeof *v);
    kl_free(v);
    return n;
}

static uint8_t *
read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

/* ---- CRC-32C ------------------------------------------------------------------------------ */

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static void
check_crc_vectors(crc_fn f)
{
    assert_int_equal(f(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(f(0, "", 0), 0);
    /* RFC 3720 (iSCSI) appendix B.4. */
    uint8_t b[32];
    memset(b, 0, sizeof b);
    assert_int_equal(f(0, b, 32), 0x8A9136AAu);
    memset(b, 0xff, sizeof b);
    assert_int_equal(f(0, b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    assert_int_equal(f(0, b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    assert_int_equal(f(0, b, 32), 0x113FDB5Cu);
    /* Running value: split anywhere, same result. */
    for (size_t k = 0; k <= 9; k++)
        assert_int_equal(f(f(0, "123456789", k), &"123456789"[k], 9 - k), 0xE3069283u);
}

static void
test_crc32c_vectors(void **state)
{
    (void)state;
    check_crc_vectors(crc32c_sw);
    check_crc_vectors(kl_crc32c);
#ifdef WAL_X86
    if (__builtin_cpu_supports("sse4.2"))
        check_crc_vectors(crc32c_hw);
    else
        print_message("no SSE4.2 here: hardware CRC path not tested\n");
#endif
}

/* Both paths agree at every alignment and length, including the unaligned head and tail. */
static void
test_crc32c_paths_agree(void **state)
{
    (void)state;
    uint8_t buf[600];
    uint64_t s = 12345;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rng_next(&s);
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof buf; n += 1 + n / 8) {
            uint32_t sw = crc32c_sw(0x1234u, buf + off, n);
            assert_int_equal(kl_crc32c(0x1234u, buf + off, n), sw);
#ifdef WAL_X86
            if (__builtin_cpu_supports("sse4.2"))
                assert_int_equal(crc32c_hw(0x1234u, buf + off, n), sw);
#endif
        }
}

/* ---- round trip and format ---------------------------------------------------------------- */

#define N_RT 4000

/* Thousands of records of every length 0..4096 and many types, in groups of varying size, come
 * back exactly, in order, with contiguous seqs. */
static void
test_round_trip(void **state)
{
    (void)state;
    char dir[512];
    new_dir(dir, sizeof dir);
    kl_wal_cfg_t cfg = {.fsync = KL_WAL_FSYNC_NO, .segment_bytes = 0};
    kl_wal_t *w = NULL;
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 1, &w), 0);
    uint32_t *lens = calloc(N_RT + 1, sizeof *lens);
    uint16_t *types = calloc(N_RT + 1, sizeof *types);
    uint8_t *p = malloc(KL_WAL_PAYLOAD_MAX);
    uint64_t s = 99, bytes = 0;
    for (uint64_t i = 1; i <= N_RT; i++) {
        uint32_t len = i <= 4097 && i % 3 == 0 ? (uint32_t)(i - 1) % 4097
                                               : (uint32_t)(rng_next(&s) % 4097);
        if (i == 2)
            len = 0;
        if (i == 5)
            len = KL_WAL_PAYLOAD_MAX;
        lens[i] = len;
        types[i] = (uint16_t)(rng_next(&s) & 0xffff);
        payload_for(i, len, p);
        uint64_t seq = 0;
        assert_int_equal(kl_wal_append(w, types[i], p, len, &seq), 0);
        assert_int_equal(seq, i);
        bytes += wal_rec_size(len);
        if (rng_next(&s) % 7 == 0)
            assert_int_equal(kl_wal_commit(w), 0);
    }
    assert_int_equal(kl_wal_commit(w), 0);
    assert_int_equal(kl_wal_committed_seq(w), N_RT);
    assert_int_equal(kl_wal_bytes(w), bytes);
    assert_int_equal(kl_wal_close(w), 0);

    got_t g;
    kl_wal_scan_stats_t st;
    scan_all(dir, 0, 0, &g, &st);
    assert_int_equal(st.damaged, 0);
    assert_int_equal(st.records, N_RT);
    assert_int_equal(st.last_seq, N_RT);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.bytes, bytes + WAL_SEG_HDR);
    assert_int_equal(st.cut_bytes, 0);
    assert_records(&g, 1, N_RT, lens, types, 0);
    got_free(&g);

    /* after: only seq > after is delivered, the rest is still validated and counted. */
    scan_all(dir, 3990, 0, &g, &st);
    assert_records(&g, 3991, 10, lens, types, 0);
    assert_int_equal(st.records, N_RT);
    got_free(&g);

    /* A callback's non-zero value stops the scan and comes back unchanged. */
    memset(&g, 0, sizeof g);
    g.stop_at = 100;
    assert_int_equal(kl_wal_scan(dir, 0, 0, 1, collect, &g, &st), 77);
    assert_int_equal(g.n, 100);
    got_free(&g);
    free(lens);
    free(types);
    free(p);
}

/* The bytes on disk are the documented format: header fields, record fields, zero padding,
 * 8-byte alignment, the name carrying the first seq. */
static void
test_on_disk_format(void **state)
{
    (void)state;
    char dir[512], path[600];
    new_dir(dir, sizeof dir);
    kl_wal_t *w = NULL;
    assert_int_equal(kl_wal_open(dir, 3, NULL, 42, &w), 0);
    assert_int_equal(kl_wal_append(w, 0xBEEF, "abc", 3, NULL), 0);
    assert_int_equal(kl_wal_append(w, 7, NULL, 0, NULL), 0);
    assert_int_equal(kl_wal_close(w), 0);
    snprintf(path, sizeof path, "%s/w3/00000000000000000042.wal", dir);
    size_t n;
    uint8_t *b = read_file(path, &n);
    assert_int_equal(n, 32 + 24 + 16);
    static const uint8_t magic[4] = {'K', 'W', 'A', 'L'};
    assert_memory_equal(b, magic, 4);
    assert_int_equal(wal_ld32(b + 4), kl_crc32c(0, b + 8, 24));
    assert_int_equal(wal_ld16(b + 8), 1);
    assert_int_equal(wal_ld16(b + 10), 0);
    assert_int_equal(wal_ld32(b + 12), 3);
    assert_int_equal(wal_ld64(b + 16), 42);
    assert_true(wal_ld64(b + 24) > 1700000000000ull); /* created, Unix ms */
    const uint8_t *r = b + 32;
    assert_int_equal(wal_ld16(r + 4), 0xBEEF);
    assert_int_equal(wal_ld16(r + 6), 3);
    assert_int_equal(wal_ld64(r + 8), 42);
    assert_memory_equal(r + 16, "abc\0\0\0\0\0", 8);
    uint32_t crc = kl_crc32c(kl_crc32c(0, r + 4, 12), "abc", 3);
    assert_int_equal(wal_ld32(r), crc);
    r += 24;
    assert_int_equal(wal_ld16(r + 4), 7);
    assert_int_equal(wal_ld16(r + 6), 0);
    assert_int_equal(wal_ld64(r + 8), 43);
    assert_int_equal(wal_ld32(r), kl_crc32c(0, r + 4, 12));
    free(b);

    /* Worker 3's own scan reads it back. */
    kl_wal_scan_stats_t st;
    assert_int_equal(kl_wal_scan(dir, 3, 0, 0, NULL, NULL, &st), 0);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.last_seq, 43);
    assert_int_equal(st.damaged, 0);
}

/* Argument checks: oversize payloads, NULL payloads with a length, seq 0, bad policy. */
static void
test_bad_arguments(void **state)
{
    (void)state;
    char dir[512];
    new_dir(dir, sizeof dir);
    kl_wal_t *w = NULL;
    kl_wal_cfg_t bad = {.fsync = 9};
    assert_int_equal(kl_wal_open(dir, 0, &bad, 1, &w), KL_EARG);
    assert_int_equal(kl_wal_open(dir, 0, NULL, 0, &w), KL_EARG);
    assert_int_equal(kl_wal_open(dir, -1, NULL, 1, &w), KL_EARG);
    assert_null(w);
    assert_int_equal(kl_wal_open(dir, 0, NULL, 1, &w), 0);
    static uint8_t big[KL_WAL_PAYLOAD_MAX + 1];
    uint64_t seq = 999;
    assert_int_equal(kl_wal_append(w, 1, big, KL_WAL_PAYLOAD_MAX + 1, &seq), KL_EARG);
    assert_int_equal(kl_wal_append(w, 1, NULL, 5, &seq), KL_EARG);
    assert_int_equal(seq, 999);
    /* Not sticky: the next good append gets seq 1. */
    assert_int_equal(kl_wal_append(w, 1, big, KL_WAL_PAYLOAD_MAX, &seq), 0);
    assert_int_equal(seq, 1);
    assert_int_equal(kl_wal_close(w), 0);
    assert_int_equal(kl_wal_scan(NULL, 0, 0, 0, NULL, NULL, NULL), KL_EARG);
}

/* A missing directory is an empty log, not an error. */
static void
test_missing_dir_is_empty(void **state)
{
    (void)state;
    char dir[512];
    new_dir(dir, sizeof dir);
    kl_wal_scan_stats_t st;
    memset(&st, 0xff, sizeof st);
    got_t g;
    scan_all(dir, 0, 1, &g, &st);
    assert_int_equal(g.n, 0);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.segments, 0);
    assert_int_equal(st.last_seq, 0);
    assert_int_equal(st.damaged, 0);
    got_free(&g);
}

/* Small segments: the log rotates at commit boundaries only, every segment is named after its
 * first record, stays within segment_bytes, and seqs run on across segments. */
static void
test_rotation(void **state)
{
    (void)state;
    char dir[512], path[600];
    new_dir(dir, sizeof dir);
    kl_wal_cfg_t cfg = {.fsync = KL_WAL_FSYNC_EVERYSEC, .segment_bytes = 2048};
    kl_wal_t *w = NULL;
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 1000, &w), 0);
    uint32_t lens[400];
    uint16_t types[400];
    uint8_t p[200];
    for (uint64_t i = 0; i < 300; i++) {
        uint64_t seq = 1000 + i;
        lens[i] = (uint32_t)(seq * 13 % 120);
        types[i] = (uint16_t)(i % 3 + 1);
        payload_for(seq, lens[i], p);
        assert_int_equal(kl_wal_append(w, types[i], p, lens[i], NULL), 0);
        if (i % 5 == 4)
            assert_int_equal(kl_wal_commit(w), 0);
    }
    assert_int_equal(kl_wal_close(w), 0);

    uint64_t firsts[200];
    size_t n = list_firsts(dir, firsts, 200);
    assert_true(n >= 4);
    assert_int_equal(firsts[0], 1000);
    for (size_t i = 0; i < n; i++) {
        /* Groups are 5 records: a segment always starts at a group boundary. */
        assert_int_equal((firsts[i] - 1000) % 5, 0);
        char name[WAL_NAME_LEN + 1];
        wal_seg_name(name, firsts[i]);
        snprintf(path, sizeof path, "%s/w0/%s", dir, name);
        size_t sz;
        uint8_t *b = read_file(path, &sz);
        assert_true(sz <= 2048);
        assert_int_equal(sz % 8, 0);
        assert_int_equal(wal_ld64(b + 16), firsts[i]);
        assert_int_equal(wal_ld64(b + 32 + 8), firsts[i]); /* its first record */
        /* The segment ends right before the next one's first record. */
        uint64_t last = i + 1 < n ? firsts[i + 1] - 1 : 1299;
        size_t off = 32;
        uint64_t seq = firsts[i];
        while (off < sz) {
            assert_int_equal(wal_ld64(b + off + 8), seq);
            off += wal_rec_size(wal_ld16(b + off + 6));
            seq++;
        }
        assert_int_equal(off, sz);
        assert_int_equal(seq - 1, last);
        free(b);
    }
    got_t g;
    kl_wal_scan_stats_t st;
    scan_all(dir, 0, 0, &g, &st);
    assert_int_equal(st.segments, n);
    assert_int_equal(st.damaged, 0);
    assert_records(&g, 1000, 300, lens, types, 1000);
    got_free(&g);
}

/* A second writer opened at last_seq + 1 continues the same log; a wrong next_seq is refused. */
static void
test_reopen_continues(void **state)
{
    (void)state;
    char dir[512];
    new_dir(dir, sizeof dir);
    uint32_t lens[200];
    uint16_t types[200];
    uint8_t p[64];
    kl_wal_t *w = NULL;
    assert_int_equal(kl_wal_open(dir, 0, NULL, 1, &w), 0);
    assert_int_equal(kl_wal_committed_seq(w), 0);
    for (uint64_t s = 1; s <= 100; s++) {
        lens[s] = (uint32_t)(s % 50);
        types[s] = 1;
        payload_for(s, lens[s], p);
        assert_int_equal(kl_wal_append(w, 1, p, lens[s], NULL), 0);
    }
    assert_int_equal(kl_wal_close(w), 0);

    got_t g;
    kl_wal_scan_stats_t st;
    scan_all(dir, 0, 1, &g, &st);
    assert_int_equal(st.last_seq, 100);
    got_free(&g);

    /* next_seq below an existing segment, and a segment that already holds records. */
    assert_int_equal(kl_wal_open(dir, 0, NULL, 1, &w), -EEXIST);
    assert_int_equal(kl_wal_open(dir, 0, NULL, 101, &w), 0);
    assert_int_equal(kl_wal_committed_seq(w), 100);
    for (uint64_t s = 101; s <= 150; s++) {
        lens[s] = (uint32_t)(s % 50);
        types[s] = 2;
        payload_for(s, lens[s], p);
        uint64_t seq;
        assert_int_equal(kl_wal_append(w, 2, p, lens[s], &seq), 0);
        assert_int_equal(seq, s);
    }
    assert_int_equal(kl_wal_close(w), 0);
    kl_wal_t *w2 = NULL;
    assert_int_equal(kl_wal_open(dir, 0, NULL, 50, &w2), KL_EARG);
    assert_null(w2);

    scan_all(dir, 0, 1, &g, &st);
    assert_int_equal(st.damaged, 0);
    assert_int_equal(st.segments, 2);
    assert_records(&g, 1, 150, lens, types, 0);
    got_free(&g);

    /* A writer that never appends leaves a header-only segment; the next one reuses its name,
     * and a scan of it alone still names the next seq. */
    assert_int_equal(kl_wal_open(dir, 0, NULL, 151, &w), 0);
    assert_int_equal(kl_wal_close(w), 0);
    assert_true(file_exists(dir, 151));
    scan_all(dir, 0, 1, &g, &st);
    assert_int_equal(st.damaged, 0);
    assert_int_equal(st.last_seq, 150);
    assert_int_equal(st.segments, 3);
    got_free(&g);
    assert_int_equal(kl_wal_open(dir, 0, NULL, 151, &w), 0);
    assert_int_equal(kl_wal_append(w, 2, "z", 1, NULL), 0);
    assert_int_equal(kl_wal_close(w), 0);
    scan_all(dir, 150, 1, &g, &st);
    assert_int_equal(st.damaged, 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].seq, 151);
    assert_memory_equal(g.v[0].data, "z", 1);
    got_free(&g);

    /* Once earlier segments are released, a log whose only segment is empty still says where
     * it stands. */
    char d2[512];
    new_dir(d2, sizeof d2);
    assert_int_equal(kl_wal_open(d2, 0, NULL, 5000, &w), 0);
    assert_int_equal(kl_wal_close(w), 0);
    scan_all(d2, 0, 1, &g, &st);
    assert_int_equal(g.n, 0);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.last_seq, 4999);
    got_free(&g);
}

/* A next_seq past the end of the log (a checkpoint newer than a WAL that lost its unsynced
 * tail) is accepted and flagged, so that the next repair keeps the new records; a next_seq
 * inside the log, or a log with a damaged last segment, is refused. */
static void
test_open_past_end(void **state)
{
    (void)state;
    char dir[512], path[600];
    new_dir(dir, sizeof dir);
    kl_wal_cfg_t cfg = {.fsync = KL_WAL_FSYNC_NO, .segment_bytes = 1024};
    kl_wal_t *w = NULL;
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 1, &w), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(kl_wal_append(w, 1, "0123456789", 10, NULL), 0);
    assert_int_equal(kl_wal_close(w), 0);

    assert_int_equal(kl_wal_open(dir, 0, &cfg, 10, &w), KL_EARG); /* seq 10 is in the log */
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 20, &w), 0);
    uint64_t seq;
    assert_int_equal(kl_wal_append(w, 2, "late", 4, &seq), 0);
    assert_int_equal(seq, 20);
    assert_int_equal(kl_wal_close(w), 0);
    snprintf(path, sizeof path, "%s/w0/00000000000000000020.wal", dir);
    size_t n;
    uint8_t *b = read_file(path, &n);
    assert_int_equal(wal_ld16(b + 10), WAL_FLAG_GAP);
    free(b);

    got_t g;
    kl_wal_scan_stats_t st;
    scan_all(dir, 0, 1, &g, &st);
    assert_int_equal(st.damaged, 0);
    assert_int_equal(g.n, 11);
    assert_int_equal(g.v[9].seq, 10);
    assert_int_equal(g.v[10].seq, 20);
    assert_memory_equal(g.v[10].data, "late", 4);
    assert_int_equal(st.last_seq, 20);
    got_free(&g);

    /* Continuing right after it: no flag. */
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 20, &w), -EEXIST);
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 21, &w), 0);
    assert_int_equal(kl_wal_close(w), 0);
    snprintf(path, sizeof path, "%s/w0/00000000000000000021.wal", dir);
    b = read_file(path, &n);
    assert_int_equal(wal_ld16(b + 10), 0);
    free(b);

    /* A torn tail in the segment before next_seq: repair first. */
    snprintf(path, sizeof path, "%s/w0/00000000000000000021.wal", dir);
    assert_int_equal(remove(path), 0);
    snprintf(path, sizeof path, "%s/w0/00000000000000000020.wal", dir);
    assert_int_equal(truncate(path, 32 + 24 - 3), 0);
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 21, &w), KL_EARG);
    scan_all(dir, 0, 1, &g, &st);
    assert_int_equal(st.damaged, 1);
    assert_int_equal(st.last_seq, 19); /* the GAP segment is empty now: 20 - 1 */
    got_free(&g);
    assert_int_equal(kl_wal_open(dir, 0, &cfg, st.last_seq + 1, &w), 0);
    assert_int_equal(kl_wal_append(w, 3, "again", 5, &seq), 0);
    assert_int_equal(seq, 20);
    assert_int_equal(kl_wal_close(w), 0);
    scan_all(dir, 0, 1, &g, &st);
    assert_int_equal(st.damaged, 0);
    assert_int_equal(g.n, 11);
    assert_int_equal(g.v[10].seq, 20);
    assert_memory_equal(g.v[10].data, "again", 5);
    got_free(&g);
}

/* ---- release ------------------------------------------------------------------------------ */

/* Writes groups of 10 records of 100 bytes with 1 KiB segments; returns the writer (open). */
static kl_wal_t *
write_segments(const char *dir, int policy, uint64_t n_records)
{
    kl_wal_cfg_t cfg = {.fsync = policy, .segment_bytes = 1024};
    kl_wal_t *w = NULL;
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 1, &w), 0);
    uint8_t p[100];
    for (uint64_t s = 1; s <= n_records; s++) {
        payload_for(s, sizeof p, p);
        assert_int_equal(kl_wal_append(w, 1, p, sizeof p, NULL), 0);
        if (s % 5 == 0)
            assert_int_equal(kl_wal_commit(w), 0);
    }
    assert_int_equal(kl_wal_commit(w), 0);
    return w;
}

/* A segment goes exactly when the next one's first seq - 1 <= upto; the current one never. */
static void
test_release(void **state)
{
    (void)state;
    char dir[512];
    new_dir(dir, sizeof dir);
    /* 120-byte records, groups of 5 = 600 bytes: one group per 1 KiB segment. */
    kl_wal_t *w = write_segments(dir, KL_WAL_FSYNC_NO, 30);
    uint64_t f[16];
    size_t n = list_firsts(dir, f, 16);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(f[i], 1 + 5 * i); /* 1 6 11 16 21 26 */

    assert_int_equal(kl_wal_release(w, 0), 0);
    assert_int_equal(kl_wal_release(w, 4), 0); /* segment 1..5 still holds seq 5 */
    assert_int_equal(list_firsts(dir, f, 16), 6);
    assert_int_equal(kl_wal_release(w, 5), 1);
    assert_false(file_exists(dir, 1));
    assert_true(file_exists(dir, 6));
    assert_int_equal(kl_wal_release(w, 5), 0);
    assert_int_equal(kl_wal_release(w, 17), 2); /* 6..10 and 11..15; 16..20 holds 18 */
    n = list_firsts(dir, f, 16);
    assert_int_equal(n, 3);
    assert_int_equal(f[0], 16);
    /* Everything covered: all but the segment being written. */
    assert_int_equal(kl_wal_release(w, UINT64_MAX), 2);
    n = list_firsts(dir, f, 16);
    assert_int_equal(n, 1);
    assert_int_equal(f[0], 26);

    /* The log now starts at 26 and still scans clean, also after more writes. */
    uint8_t p[100];
    payload_for(31, sizeof p, p);
    assert_int_equal(kl_wal_append(w, 1, p, sizeof p, NULL), 0);
    assert_int_equal(kl_wal_close(w), 0);
    got_t g;
    kl_wal_scan_stats_t st;
    scan_all(dir, 0, 0, &g, &st);
    assert_int_equal(st.damaged, 0);
    assert_int_equal(g.n, 6);
    assert_int_equal(g.v[0].seq, 26);
    assert_int_equal(g.v[5].seq, 31);
    assert_memory_equal(g.v[5].data, p, sizeof p);
    got_free(&g);
}

/* Files that are not segments are neither read nor deleted. */
static void
test_foreign_files_ignored(void **state)
{
    (void)state;
    char dir[512], path[600];
    new_dir(dir, sizeof dir);
    kl_wal_t *w = write_segments(dir, KL_WAL_FSYNC_NO, 20);
    const char *names[] = {"notes.txt", "1.wal", "0000000000000000000x.wal",
                           "000000000000000000001.wal", "00000000000000000001.wal.tmp"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/w0/%s", dir, names[i]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("garbage", f);
        fclose(f);
    }
    assert_int_equal(kl_wal_release(w, UINT64_MAX), 3);
    assert_int_equal(kl_wal_close(w), 0);
    kl_wal_scan_stats_t st;
    assert_int_equal(kl_wal_scan(dir, 0, 0, 1, NULL, NULL, &st), 0);
    assert_int_equal(st.damaged, 0);
    assert_int_equal(st.records, 5);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/w0/%s", dir, names[i]);
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
    }
}

/* ---- fsync policies, group commit ------------------------------------------------------- */

static void
test_fsync_policies(void **state)
{
    (void)state;
    static const int policies[] = {KL_WAL_FSYNC_ALWAYS, KL_WAL_FSYNC_EVERYSEC, KL_WAL_FSYNC_NO};
    for (int k = 0; k < 3; k++) {
        char dir[512];
        new_dir(dir, sizeof dir);
        kl_wal_cfg_t cfg = {.fsync = policies[k], .segment_bytes = 1 << 20};
        kl_wal_t *w = NULL;
        assert_int_equal(kl_wal_open(dir, 0, &cfg, 1, &w), 0);
        unsigned long before = wal_hook_fsyncs;
        for (int c = 0; c < 4; c++) {
            assert_int_equal(kl_wal_append(w, 1, "x", 1, NULL), 0);
            assert_int_equal(kl_wal_commit(w), 0);
        }
        unsigned long synced = wal_hook_fsyncs - before;
        if (policies[k] == KL_WAL_FSYNC_ALWAYS) {
            assert_int_equal(synced, 4);
        } else if (policies[k] == KL_WAL_FSYNC_NO) {
            assert_int_equal(synced, 0);
        } else {
            /* The clock is moved by hand, so that a slow machine cannot change the outcome:
             * a last fsync under a second old means none; a second old means one at the next
             * commit, even an empty one, and then none until the next second. */
            assert_true(synced <= 1);
            before = wal_hook_fsyncs;
            w->last_fsync_ms = kl_mono_ms() + 3600 * 1000;
            assert_int_equal(kl_wal_append(w, 1, "x", 1, NULL), 0);
            assert_int_equal(kl_wal_commit(w), 0);
            assert_int_equal(wal_hook_fsyncs - before, 0);
            w->last_fsync_ms = kl_mono_ms() - 1000;
            assert_int_equal(kl_wal_commit(w), 0);
            assert_int_equal(wal_hook_fsyncs - before, 1);
            assert_int_equal(w->unsynced, 0);
            assert_int_equal(kl_wal_commit(w), 0); /* nothing new: nothing to sync */
            assert_int_equal(wal_hook_fsyncs - before, 1);
            w->last_fsync_ms = kl_mono_ms() + 3600 * 1000;
            assert_int_equal(kl_wal_append(w, 1, "y", 1, NULL), 0);
            assert_int_equal(kl_wal_commit(w), 0);
            assert_int_equal(wal_hook_fsyncs - before, 1);
        }
        before = wal_hook_fsyncs;
        assert_int_equal(kl_wal_close(w), 0);
        /* close syncs what is not yet synced, except under policy no */
        assert_int_equal(wal_hook_fsyncs - before,
                         policies[k] == KL_WAL_FSYNC_EVERYSEC ? 1 : 0);
        kl_wal_scan_stats_t st;
        assert_int_equal(kl_wal_scan(dir, 0, 0, 0, NULL, NULL, &st), 0);
        assert_int_equal(st.records, policies[k] == KL_WAL_FSYNC_EVERYSEC ? 6 : 4);
        assert_int_equal(st.damaged, 0);
    }
}

/* One commit = one write(2), however many records; partial writes and EINTR are resumed. */
static void
test_group_commit_one_write(void **state)
{
    (void)state;
    char dir[512];
    new_dir(dir, sizeof dir);
    kl_wal_cfg_t cfg = {.fsync = KL_WAL_FSYNC_NO, .segment_bytes = 0};
    kl_wal_t *w = NULL;
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 1, &w), 0);
    uint8_t p[80];
    unsigned long before = wal_hook_writes;
    for (uint64_t s = 1; s <= 256; s++) {
        payload_for(s, sizeof p, p);
        assert_int_equal(kl_wal_append(w, 1, p, sizeof p, NULL), 0);
    }
    assert_int_equal(wal_hook_writes, before); /* append makes no syscall */
    assert_int_equal(kl_wal_committed_seq(w), 0);
    assert_int_equal(kl_wal_commit(w), 0);
    assert_int_equal(wal_hook_writes - before, 1);
    assert_int_equal(kl_wal_committed_seq(w), 256);
    assert_int_equal(kl_wal_commit(w), 0); /* nothing pending: no write */
    assert_int_equal(wal_hook_writes - before, 1);

    /* 7 bytes per write(2) after 3 EINTRs: the loop finishes the group. */
    for (uint64_t s = 257; s <= 300; s++) {
        payload_for(s, sizeof p, p);
        assert_int_equal(kl_wal_append(w, 1, p, sizeof p, NULL), 0);
    }
    wal_hook_write_max = 7;
    wal_hook_eintr = 3;
    before = wal_hook_writes;
    assert_int_equal(kl_wal_commit(w), 0);
    wal_hook_write_max = 0;
    assert_int_equal(wal_hook_writes - before, 3 + (44 * 96 + 6) / 7);
    assert_int_equal(kl_wal_close(w), 0);

    got_t g;
    kl_wal_scan_stats_t st;
    scan_all(dir, 0, 0, &g, &st);
    assert_int_equal(st.damaged, 0);
    assert_int_equal(g.n, 300);
    for (size_t i = 0; i < g.n; i++) {
        payload_for(i + 1, sizeof p, p);
        assert_int_equal(g.v[i].seq, i + 1);
        assert_memory_equal(g.v[i].data, p, sizeof p);
    }
    got_free(&g);
}

/* The group buffer grows when a group outgrows it; a failed growth is KL_ENOMEM for that
 * append only (nothing appended, no seq used, not sticky). */
static void
test_append_enomem(void **state)
{
    (void)state;
    char dir[512];
    new_dir(dir, sizeof dir);
    kl_wal_cfg_t cfg = {.fsync = KL_WAL_FSYNC_NO, .segment_bytes = 0};
    kl_wal_t *w = NULL;
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 1, &w), 0);
    static uint8_t p[KL_WAL_PAYLOAD_MAX];
    uint64_t s = 1, seq = 0;
    while (w->cap - w->len >= wal_rec_size(sizeof p)) {
        payload_for(s, sizeof p, p);
        assert_int_equal(kl_wal_append(w, 1, p, sizeof p, &seq), 0);
        assert_int_equal(seq, s++);
    }
    size_t cap = w->cap;
    kl_alloc_fail_after(1);
    payload_for(s, sizeof p, p);
    assert_int_equal(kl_wal_append(w, 1, p, sizeof p, &seq), KL_ENOMEM);
    kl_alloc_fail_after(0);
    assert_int_equal(seq, s - 1);
    assert_int_equal(w->cap, cap);
    assert_int_equal(kl_wal_append(w, 1, p, sizeof p, &seq), 0);
    assert_int_equal(seq, s);
    assert_true(w->cap > cap);
    assert_int_equal(kl_wal_close(w), 0);
    got_t g;
    kl_wal_scan_stats_t st;
    scan_all(dir, 0, 0, &g, &st);
    assert_int_equal(g.n, s);
    assert_int_equal(g.v[s - 1].seq, s);
    assert_memory_equal(g.v[s - 1].data, p, sizeof p);
    got_free(&g);
}

/* ---- sticky errors ------------------------------------------------------------------------ */

static void
assert_stopped(kl_wal_t *w, int err)
{
    uint64_t seq = 0;
    assert_int_equal(kl_wal_append(w, 1, "a", 1, &seq), err);
    assert_int_equal(seq, 0);
    assert_int_equal(kl_wal_commit(w), err);
    assert_int_equal(kl_wal_release(w, UINT64_MAX), err);
    assert_int_equal(kl_wal_commit(w), err);
}

/* A failed write stops the writer for good, even though the fault (injected once) is gone;
 * the log keeps exactly what was committed before. */
static void
test_sticky_write_error(void **state)
{
    (void)state;
    char dir[512];
    new_dir(dir, sizeof dir);
    kl_wal_cfg_t cfg = {.fsync = KL_WAL_FSYNC_NO, .segment_bytes = 0};
    kl_wal_t *w = NULL;
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 1, &w), 0);
    assert_int_equal(kl_wal_append(w, 1, "ok", 2, NULL), 0);
    assert_int_equal(kl_wal_commit(w), 0);
    assert_int_equal(kl_wal_append(w, 1, "lost", 4, NULL), 0);
    wal_hook_write_errno = EIO;
    assert_int_equal(kl_wal_commit(w), -EIO);
    assert_int_equal(wal_hook_write_errno, 0); /* the fault is gone... */
    assert_stopped(w, -EIO);                    /* ...the writer still refuses */
    assert_int_equal(kl_wal_committed_seq(w), 1);
    assert_int_equal(kl_wal_close(w), -EIO);
    got_t g;
    kl_wal_scan_stats_t st;
    scan_all(dir, 0, 0, &g, &st);
    assert_int_equal(st.damaged, 0);
    assert_int_equal(g.n, 1);
    assert_memory_equal(g.v[0].data, "ok", 2);
    got_free(&g);
}

/* A partial write followed by ENOSPC leaves a torn group on disk: sticky, and the next scan
 * cuts exactly the torn bytes. */
static void
test_sticky_partial_write(void **state)
{
    (void)state;
    char dir[512];
    new_dir(dir, sizeof dir);
    kl_wal_cfg_t cfg = {.fsync = KL_WAL_FSYNC_NO, .segment_bytes = 0};
    kl_wal_t *w = NULL;
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 1, &w), 0);
    assert_int_equal(kl_wal_append(w, 1, "first", 5, NULL), 0);
    assert_int_equal(kl_wal_commit(w), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(kl_wal_append(w, 1, "second group", 12, NULL), 0);
    /* The disk takes the first 30 bytes of the group, then is full. */
    assert_int_equal(wal_write_all(w->fd, w->buf, 30), 0);
    wal_hook_write_errno = ENOSPC;
    assert_int_equal(kl_wal_commit(w), -ENOSPC);
    assert_stopped(w, -ENOSPC);
    assert_int_equal(kl_wal_close(w), -ENOSPC);
    got_t g;
    kl_wal_scan_stats_t st;
    scan_all(dir, 0, 1, &g, &st);
    assert_int_equal(st.damaged, 1);
    assert_int_equal(st.damage_offset, 32 + 24);
    assert_int_equal(st.cut_bytes, 30);
    assert_non_null(strstr(st.damage_file, "/w0/00000000000000000001.wal"));
    assert_int_equal(g.n, 1);
    assert_memory_equal(g.v[0].data, "first", 5);
    got_free(&g);
    scan_all(dir, 0, 0, &g, &st);
    assert_int_equal(st.damaged, 0);
    assert_int_equal(st.last_seq, 1);
    got_free(&g);
}

/* A failed fsync is never retried: the writer stops (policy always: at the commit). */
static void
test_sticky_fsync_error(void **state)
{
    (void)state;
    char dir[512];
    new_dir(dir, sizeof dir);
    kl_wal_cfg_t cfg = {.fsync = KL_WAL_FSYNC_ALWAYS, .segment_bytes = 0};
    kl_wal_t *w = NULL;
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 1, &w), 0);
    assert_int_equal(kl_wal_append(w, 1, "a", 1, NULL), 0);
    assert_int_equal(kl_wal_commit(w), 0);
    assert_int_equal(kl_wal_append(w, 1, "b", 1, NULL), 0);
    wal_hook_fsync_errno = EIO;
    unsigned long before = wal_hook_fsyncs;
    assert_int_equal(kl_wal_commit(w), -EIO);
    assert_stopped(w, -EIO);
    assert_int_equal(kl_wal_close(w), -EIO);
    assert_int_equal(wal_hook_fsyncs - before, 1); /* no retry, not even at close */

    /* everysec: the failure surfaces at the commit that syncs, and at rotation. */
    new_dir(dir, sizeof dir);
    cfg.fsync = KL_WAL_FSYNC_EVERYSEC;
    cfg.segment_bytes = 64;
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 1, &w), 0);
    assert_int_equal(kl_wal_append(w, 1, "0123456789abcdef0123456789", 26, NULL), 0);
    assert_int_equal(kl_wal_commit(w), 0);
    assert_int_equal(kl_wal_append(w, 1, "next segment", 12, NULL), 0);
    wal_hook_fsync_errno = EIO; /* the old segment's fsync before leaving it */
    assert_int_equal(kl_wal_commit(w), -EIO);
    assert_stopped(w, -EIO);
    assert_int_equal(kl_wal_close(w), -EIO);
    uint64_t f[4];
    assert_int_equal(list_firsts(dir, f, 4), 1); /* no new segment after the failure */
}

/* ---- scan and repair ------------------------------------------------------------------------ */

static void
write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* A segment torn right after creat (empty, or half a header) is removed by repair, together
 * with everything after it; without repair nothing changes on disk. */
static void
test_torn_header_removed(void **state)
{
    (void)state;
    char dir[512], path[600];
    new_dir(dir, sizeof dir);
    kl_wal_t *w = write_segments(dir, KL_WAL_FSYNC_NO, 10); /* segments 1, 6 */
    assert_int_equal(kl_wal_close(w), 0);
    snprintf(path, sizeof path, "%s/w0/00000000000000000011.wal", dir);
    write_bytes(path, "KWAL\0\0\0\0\1", 9);
    snprintf(path, sizeof path, "%s/w0/00000000000000000012.wal", dir);
    write_bytes(path, "", 0);

    kl_wal_scan_stats_t st;
    assert_int_equal(kl_wal_scan(dir, 0, 0, 0, NULL, NULL, &st), 0);
    assert_int_equal(st.damaged, 1);
    assert_int_equal(st.damage_offset, 0);
    assert_int_equal(st.cut_bytes, 0);
    assert_non_null(strstr(st.damage_file, "00000000000000000011.wal"));
    uint64_t f[8];
    assert_int_equal(list_firsts(dir, f, 8), 4); /* verify changed nothing */

    assert_int_equal(kl_wal_scan(dir, 0, 0, 1, NULL, NULL, &st), 0);
    assert_int_equal(st.damaged, 1);
    assert_int_equal(st.cut_bytes, 9);
    assert_int_equal(st.last_seq, 10);
    assert_int_equal(list_firsts(dir, f, 8), 2);
    assert_int_equal(kl_wal_scan(dir, 0, 0, 1, NULL, NULL, &st), 0);
    assert_int_equal(st.damaged, 0);
    assert_int_equal(st.records, 10);

    /* The log goes on from there. */
    assert_int_equal(kl_wal_open(dir, 0, NULL, 11, &w), 0);
    assert_int_equal(kl_wal_append(w, 4, "after", 5, NULL), 0);
    assert_int_equal(kl_wal_close(w), 0);
    got_t g;
    scan_all(dir, 10, 0, &g, &st);
    assert_int_equal(st.damaged, 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].seq, 11);
    assert_int_equal(g.v[0].type, 4);
    got_free(&g);
}

/* Each kind of damage stops the scan at the record it hits: a seq gap between segments, a
 * wrong worker, nonzero padding, a length over the maximum, a CRC mismatch, a wrong seq under a
 * good CRC, a gap before an empty segment, a GAP segment that goes back, an unknown flag. */
static void
test_damage_kinds(void **state)
{
    (void)state;
    for (int kind = 0; kind < 9; kind++) {
        char dir[512], path[600];
        new_dir(dir, sizeof dir);
        kl_wal_t *w = write_segments(dir, KL_WAL_FSYNC_NO, 10); /* segments 1..5, 6..10 */
        assert_int_equal(kl_wal_close(w), 0);
        uint64_t expect_last = 0, expect_off = 0;
        snprintf(path, sizeof path, "%s/w0/00000000000000000006.wal", dir);
        size_t n;
        uint8_t *b = read_file(path, &n);
        const size_t rec = wal_rec_size(100); /* 120 */
        switch (kind) {
        case 0: /* the second segment claims to start at 7: a gap */
            wal_st64(b + 16, 7);
            wal_st32(b + 4, kl_crc32c(0, b + 8, 24));
            write_bytes(path, b, n);
            snprintf(path, sizeof path, "%s/w0/00000000000000000007.wal", dir);
            write_bytes(path, b, n);
            snprintf(path, sizeof path, "%s/w0/00000000000000000006.wal", dir);
            remove(path);
            expect_last = 5;
            break;
        case 1: /* written by worker 1 */
            wal_st32(b + 12, 1);
            wal_st32(b + 4, kl_crc32c(0, b + 8, 24));
            write_bytes(path, b, n);
            expect_last = 5;
            break;
        case 2: /* padding of the 3rd record (100-byte payload: 4 pad bytes) */
            b[32 + 2 * rec + 16 + 100 + 1] = 1;
            write_bytes(path, b, n);
            expect_last = 7;
            expect_off = 32 + 2 * rec;
            break;
        case 3: /* length 4097: the bound is checked before anything is read past it */
            wal_st16(b + 32 + rec + 6, KL_WAL_PAYLOAD_MAX + 1);
            write_bytes(path, b, n);
            expect_last = 6;
            expect_off = 32 + rec;
            break;
        case 4: /* payload byte of the last record */
            b[32 + 4 * rec + 50] ^= 0x40;
            write_bytes(path, b, n);
            expect_last = 9;
            expect_off = 32 + 4 * rec;
            break;
        case 5: /* the 3rd record says seq 100, with a CRC that matches: only seq catches it */
            wal_st64(b + 32 + 2 * rec + 8, 100);
            wal_st32(b + 32 + 2 * rec,
                     kl_crc32c(kl_crc32c(0, b + 32 + 2 * rec + 4, 12), b + 32 + 2 * rec + 16, 100));
            write_bytes(path, b, n);
            expect_last = 7;
            expect_off = 32 + 2 * rec;
            break;
        case 6: /* records 6..10 lost, then an empty segment that starts at 7: a gap that only
                 * the header's first seq shows */
            remove(path);
            snprintf(path, sizeof path, "%s/w0/00000000000000000007.wal", dir);
            wal_seg_header(b, 0, 7, 0);
            write_bytes(path, b, 32);
            expect_last = 5;
            break;
        case 7: /* GAP allows a jump forward, never back: records 6..10 lost, then a GAP
                 * segment at 4 */
            remove(path);
            snprintf(path, sizeof path, "%s/w0/00000000000000000004.wal", dir);
            wal_seg_header(b, 0, 4, WAL_FLAG_GAP);
            write_bytes(path, b, 32);
            expect_last = 5;
            break;
        case 8: /* an unknown flag */
            wal_st16(b + 10, 2);
            wal_st32(b + 4, kl_crc32c(0, b + 8, 24));
            write_bytes(path, b, n);
            expect_last = 5;
            break;
        }
        free(b);
        kl_wal_scan_stats_t st;
        got_t g;
        scan_all(dir, 0, 1, &g, &st);
        assert_int_equal(st.damaged, 1);
        assert_int_equal(st.last_seq, expect_last);
        assert_int_equal(g.n, expect_last);
        assert_int_equal(st.damage_offset, expect_off);
        got_free(&g);
        scan_all(dir, 0, 0, &g, &st);
        assert_int_equal(st.damaged, 0);
        assert_int_equal(g.n, expect_last);
        got_free(&g);
    }
}

/* ---- damage the checkpoint covers, mid-log damage, gaps (issue 12: H4, H5) ---------------- */

/* Bytes of dir/w0's segments (damaged = 0) or of the files repair kept aside (1). */
static uint64_t
w0_bytes(const char *dir, int damaged)
{
    char wdir[600], path[900];
    snprintf(wdir, sizeof wdir, "%s/w0", dir);
    DIR *d = opendir(wdir);
    assert_non_null(d);
    uint64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || (l > 8 && strcmp(e->d_name + l - 8, ".damaged") == 0) != damaged)
            continue;
        snprintf(path, sizeof path, "%s/%s", wdir, e->d_name);
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
        total += (uint64_t)sb.st_size;
    }
    closedir(d);
    return total;
}

/* A log of 30 records of 100 bytes, 5 per segment (segments 1, 6, 11, 16, 21, 26), closed. */
static void
log30(char *dir, size_t cap)
{
    new_dir(dir, cap);
    assert_int_equal(kl_wal_close(write_segments(dir, KL_WAL_FSYNC_NO, 30)), 0);
}

/* Flips a payload byte of record seq (a CRC mismatch). */
static void
flip_record(const char *dir, uint64_t seq)
{
    char path[700];
    uint64_t first = (seq - 1) / 5 * 5 + 1;
    snprintf(path, sizeof path, "%s/w0/%020llu.wal", dir, (unsigned long long)first);
    size_t n;
    uint8_t *b = read_file(path, &n);
    b[32 + (seq - first) * wal_rec_size(100) + 16 + 10] ^= 0x10;
    write_bytes(path, b, n);
    free(b);
}

static void
assert_seqs(const got_t *g, uint64_t from, uint64_t to)
{
    assert_int_equal(g->n, to - from + 1);
    for (size_t i = 0; i < g->n; i++)
        assert_int_equal(g->v[i].seq, from + i);
}

/* H4: one flipped byte in a record the checkpoint covers cuts nothing and loses nothing: the
 * records after the checkpoint come back, in the same segment (resynchronised) or in the next
 * ones, and a writer can go on after a last segment that holds such damage. */
static void
test_covered_damage_skipped(void **state)
{
    (void)state;
    char dir[512];
    for (int c = 0; c < 3; c++) {
        log30(dir, sizeof dir);
        uint64_t before = w0_bytes(dir, 0);
        /* c0: damage at 8, checkpoint 9 (same segment); c1: damage at 8, checkpoint 12 (next
         * segment); c2: damage at 27 in the last segment, checkpoint 28. */
        uint64_t bad = c == 2 ? 27 : 8, after = c == 0 ? 9 : c == 1 ? 12 : 28;
        flip_record(dir, bad);
        for (int repair = 0; repair <= KL_WAL_REPAIR_TAIL; repair++) {
            kl_wal_scan_stats_t st;
            got_t g;
            scan_all(dir, after, repair, &g, &st);
            assert_seqs(&g, after + 1, 30);
            assert_int_equal(st.damaged, 0);
            assert_int_equal(st.refused, 0);
            assert_int_equal(st.skipped, 1);
            assert_int_equal(st.cut_bytes, 0);
            assert_int_equal(st.last_seq, 30);
            got_free(&g);
            assert_int_equal(w0_bytes(dir, 0), before);
            assert_int_equal(w0_bytes(dir, 1), 0);
        }
        kl_wal_cfg_t cfg = {.fsync = KL_WAL_FSYNC_NO, .segment_bytes = 1024};
        kl_wal_t *w = NULL;
        assert_int_equal(kl_wal_open(dir, 0, &cfg, 31, &w), 0);
        assert_int_equal(kl_wal_append(w, 1, "x", 1, NULL), 0);
        assert_int_equal(kl_wal_close(w), 0);
        kl_wal_scan_stats_t st;
        got_t g;
        scan_all(dir, after, KL_WAL_REPAIR_TAIL, &g, &st);
        assert_seqs(&g, after + 1, 31);
        got_free(&g);
    }
}

/* H4: damage after the checkpoint that valid records follow stops a default start (refused,
 * nothing changed); an explicit repair cuts it and keeps every byte cut aside. */
static void
test_mid_damage_refused_or_kept(void **state)
{
    (void)state;
    char dir[512];
    log30(dir, sizeof dir);
    uint64_t before = w0_bytes(dir, 0);
    flip_record(dir, 8);
    kl_wal_scan_stats_t st;
    got_t g;
    scan_all(dir, 3, KL_WAL_REPAIR_TAIL, &g, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.mid_damage, 1);
    assert_int_equal(st.damaged, 1);
    assert_int_equal(st.last_seq, 7);
    assert_int_equal(st.cut_bytes, 0);
    assert_seqs(&g, 4, 7);
    got_free(&g);
    assert_int_equal(w0_bytes(dir, 0), before);
    assert_int_equal(w0_bytes(dir, 1), 0);

    scan_all(dir, 3, KL_WAL_REPAIR_CUT, &g, &st);
    assert_int_equal(st.refused, 0);
    assert_int_equal(st.damaged, 1);
    assert_int_equal(st.last_seq, 7);
    assert_seqs(&g, 4, 7);
    got_free(&g);
    uint64_t valid = (32 + 5 * wal_rec_size(100)) + 32 + 2 * wal_rec_size(100); /* 1..7 */
    assert_int_equal(st.cut_bytes, before - valid);
    assert_int_equal(w0_bytes(dir, 0), valid);
    assert_int_equal(w0_bytes(dir, 1), before - valid); /* kept aside, byte for byte */
    assert_true(strstr(st.cut_file, ".damaged") != NULL);
    scan_all(dir, 3, KL_WAL_REPAIR_TAIL, &g, &st);
    assert_int_equal(st.damaged, 0);
    assert_seqs(&g, 4, 7);
    got_free(&g);
}

/* A torn tail (a crash mid-write) is still cut by a default start, and kept aside. */
static void
test_torn_tail_cut_and_kept(void **state)
{
    (void)state;
    char dir[512], path[700];
    log30(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/w0/%020llu.wal", dir, 26ull);
    assert_int_equal(truncate(path, 32 + 2 * wal_rec_size(100) + 50), 0);
    kl_wal_scan_stats_t st;
    got_t g;
    scan_all(dir, 0, KL_WAL_REPAIR_TAIL, &g, &st);
    assert_int_equal(st.refused, 0);
    assert_int_equal(st.mid_damage, 0);
    assert_int_equal(st.damaged, 1);
    assert_int_equal(st.cut_bytes, 50);
    assert_int_equal(w0_bytes(dir, 1), 50);
    assert_seqs(&g, 1, 27);
    got_free(&g);
}

/* H5: records missing between the checkpoint and the log (a first segment past after + 1, or
 * a segment missing in the middle above the checkpoint) stop a default start before any record
 * is replayed; a hole the checkpoint covers does not. */
static void
test_gap_refused(void **state)
{
    (void)state;
    char dir[512], path[700];
    log30(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/w0/%020llu.wal", dir, 1ull);
    assert_int_equal(remove(path), 0);
    kl_wal_scan_stats_t st;
    got_t g;
    scan_all(dir, 0, KL_WAL_REPAIR_TAIL, &g, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.gap, 1);
    assert_int_equal(st.gap_from, 1);
    assert_int_equal(st.gap_to, 5);
    assert_int_equal(g.n, 0);
    got_free(&g);
    scan_all(dir, 5, KL_WAL_REPAIR_TAIL, &g, &st); /* the checkpoint covers 1..5 */
    assert_int_equal(st.refused, 0);
    assert_seqs(&g, 6, 30);
    got_free(&g);
    scan_all(dir, 2, KL_WAL_REPAIR_CUT, &g, &st); /* the loss accepted explicitly */
    assert_int_equal(st.refused, 0);
    assert_int_equal(st.gap, 1);
    assert_seqs(&g, 6, 30);
    got_free(&g);

    /* a segment missing in the middle */
    uint64_t before = w0_bytes(dir, 0);
    snprintf(path, sizeof path, "%s/w0/%020llu.wal", dir, 16ull);
    assert_int_equal(remove(path), 0);
    before = w0_bytes(dir, 0);
    scan_all(dir, 12, KL_WAL_REPAIR_TAIL, &g, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.mid_damage, 1);
    assert_seqs(&g, 13, 15);
    got_free(&g);
    assert_int_equal(w0_bytes(dir, 0), before);
    scan_all(dir, 20, KL_WAL_REPAIR_TAIL, &g, &st); /* the checkpoint covers the hole */
    assert_int_equal(st.refused, 0);
    assert_int_equal(st.damaged, 0);
    assert_seqs(&g, 21, 30);
    got_free(&g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_crc32c_paths_agree),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_on_disk_format),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_missing_dir_is_empty),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_reopen_continues),
        cmocka_unit_test(test_open_past_end),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_foreign_files_ignored),
        cmocka_unit_test(test_fsync_policies),
        cmocka_unit_test(test_group_commit_one_write),
        cmocka_unit_test(test_append_enomem),
        cmocka_unit_test(test_sticky_write_error),
        cmocka_unit_test(test_sticky_partial_write),
        cmocka_unit_test(test_sticky_fsync_error),
        cmocka_unit_test(test_torn_header_removed),
        cmocka_unit_test(test_damage_kinds),
        cmocka_unit_test(test_covered_damage_skipped),
        cmocka_unit_test(test_mid_damage_refused_or_kept),
        cmocka_unit_test(test_torn_tail_cut_and_kept),
        cmocka_unit_test(test_gap_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
