/* Crash torture for the WAL (src/wal/wal.c) through its public API: a crash can stop the log at
 * any byte and a bad disk can flip any bit, so this cuts a small multi-segment log at EVERY byte
 * offset, and flips EVERY bit of a smaller one, and checks what recovery (kl_wal_scan with
 * repair) makes of each: exactly the records that lie wholly before the damage, byte for byte,
 * never a wrong one and never one after it; a second scan that finds nothing left to repair;
 * and a writer reopened at last_seq + 1 whose records scan cleanly after the survivors. Logs
 * live on /dev/shm when it exists, so that the thousands of fsyncs cost nothing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "core/log.h"
#include "wal/wal.h"

#define MAX_RECS 64
#define MAX_SEGS 8

static char g_root[256];

/* One original record and where it ends in the concatenated log (all segments in name order). */
typedef struct orig {
    uint64_t seq;
    uint16_t type;
    uint32_t len;
    uint8_t data[400];
    uint64_t end; /* offset one past its last byte (padding included) */
} orig_t;

/* The pristine log: its segment files' names and bytes. */
typedef struct seg {
    char name[64];
    uint8_t *bytes;
    size_t size;
    uint64_t start; /* offset of its first byte in the concatenated log */
} seg_t;

typedef struct model {
    orig_t rec[MAX_RECS];
    size_t n_rec;
    seg_t seg[MAX_SEGS];
    size_t n_seg;
    uint64_t total;
} model_t;

typedef struct got {
    uint64_t seq[MAX_RECS + 8];
    uint16_t type[MAX_RECS + 8];
    uint32_t len[MAX_RECS + 8];
    uint8_t data[MAX_RECS + 8][400];
    size_t n;
} got_t;

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
rm_rf(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0)
        assert_int_equal(nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static int
group_setup(void **state)
{
    (void)state;
    struct stat sb;
    const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(g_root, sizeof g_root, "%s/kl_wal_torture.XXXXXX", base);
    /* Thousands of repairs each log a WARN line: keep the output to real failures. */
    kl_log_set_level(KL_LOG_ERROR);
    return mkdtemp(g_root) ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    return nftw(g_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
collect(void *ctx, uint64_t seq, uint16_t type, const void *payload, uint32_t len)
{
    got_t *g = ctx;
    assert_true(g->n < MAX_RECS + 8);
    assert_true(len <= 400);
    g->seq[g->n] = seq;
    g->type[g->n] = type;
    g->len[g->n] = len;
    memcpy(g->data[g->n], payload, len);
    g->n++;
    return 0;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(((const seg_t *)a)->name, ((const seg_t *)b)->name);
}

static uint8_t *
slurp(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    uint8_t *b = malloc((size_t)sb.st_size + 1);
    assert_non_null(b);
    assert_int_equal(read(fd, b, (size_t)sb.st_size), sb.st_size);
    close(fd);
    *size = (size_t)sb.st_size;
    return b;
}

static void
spit(const char *path, const uint8_t *b, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, n), (ssize_t)n);
    close(fd);
}

/* Writes n records of varied sizes (0 included) and types, in commit groups of 1..4, with
 * segment_bytes small enough for several segments, then records the files and every record's
 * end offset, reading the sizes off the format (32-byte header, 16 + len padded to 8). */
static void
build_log(const char *dir, size_t n, uint64_t segment_bytes, model_t *m)
{
    memset(m, 0, sizeof *m);
    kl_wal_cfg_t cfg = {.fsync = KL_WAL_FSYNC_NO, .segment_bytes = segment_bytes};
    kl_wal_t *w = NULL;
    assert_int_equal(kl_wal_open(dir, 0, &cfg, 1, &w), 0);
    for (size_t i = 0; i < n; i++) {
        orig_t *r = &m->rec[i];
        r->len = (uint32_t)((i * 37 + 11) % 190);
        if (i % 9 == 4)
            r->len = 0;
        r->type = (uint16_t)(i % 4 + 1);
        for (uint32_t k = 0; k < r->len; k++)
            r->data[k] = (uint8_t)(i * 31 + k * 7 + 1);
        assert_int_equal(kl_wal_append(w, r->type, r->data, r->len, &r->seq), 0);
        assert_int_equal(r->seq, i + 1);
        if (i % 4 == (i / 4) % 4 || i + 1 == n)
            assert_int_equal(kl_wal_commit(w), 0);
    }
    assert_int_equal(kl_wal_close(w), 0);
    m->n_rec = n;

    char wdir[512], path[700];
    snprintf(wdir, sizeof wdir, "%s/w0", dir);
    DIR *d = opendir(wdir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        assert_true(m->n_seg < MAX_SEGS);
        snprintf(m->seg[m->n_seg++].name, sizeof m->seg[0].name, "%s", e->d_name);
    }
    closedir(d);
    qsort(m->seg, m->n_seg, sizeof m->seg[0], name_cmp);
    size_t ri = 0;
    for (size_t s = 0; s < m->n_seg; s++) {
        seg_t *g = &m->seg[s];
        snprintf(path, sizeof path, "%s/%s", wdir, g->name);
        g->bytes = slurp(path, &g->size);
        g->start = m->total;
        uint64_t off = 32;
        while (off < g->size) {
            assert_true(ri < n);
            off += (16 + m->rec[ri].len + 7) & ~(uint64_t)7;
            m->rec[ri++].end = g->start + off;
        }
        assert_int_equal(off, g->size);
        m->total += g->size;
    }
    assert_int_equal(ri, n);
}

static void
model_free(model_t *m)
{
    for (size_t s = 0; s < m->n_seg; s++)
        free(m->seg[s].bytes);
}

/* Writes the model's files into dir/w0, damaged: cut at offset `cut` of the concatenated log
 * (the segment holding that offset truncated there, possibly to 0 bytes, later ones absent;
 * cut = total: no cut), and with bit `flip_bit` of the concatenated log inverted (UINT64_MAX:
 * none). */
static void
materialize(const model_t *m, const char *dir, uint64_t cut, uint64_t flip_bit)
{
    char wdir[512], path[700];
    rm_rf(dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(wdir, sizeof wdir, "%s/w0", dir);
    assert_int_equal(mkdir(wdir, 0755), 0);
    static uint8_t buf[1 << 16];
    for (size_t s = 0; s < m->n_seg && m->seg[s].start <= cut; s++) {
        const seg_t *g = &m->seg[s];
        size_t n = cut < g->start + g->size ? (size_t)(cut - g->start) : g->size;
        assert_true(n <= sizeof buf);
        memcpy(buf, g->bytes, n);
        if (flip_bit != UINT64_MAX && flip_bit / 8 >= g->start && flip_bit / 8 < g->start + n)
            buf[flip_bit / 8 - g->start] ^= (uint8_t)(1u << (flip_bit % 8));
        snprintf(path, sizeof path, "%s/%s", wdir, g->name);
        spit(path, buf, n);
        if (n < g->size)
            break;
    }
}

/* Given the first damaged byte `bad` (total = none), the records recovery must keep (those
 * ending at or before it) and the size of the valid log: up to the last such record, or up to
 * the damaged segment's header, or without that segment at all when its header is hit. */
static size_t
survivors(const model_t *m, uint64_t bad, uint64_t *valid, int *hdr_hit)
{
    *hdr_hit = 0;
    size_t k = 0;
    while (k < m->n_rec && m->rec[k].end <= bad)
        k++;
    *valid = m->total;
    for (size_t s = 0; s < m->n_seg; s++) {
        const seg_t *g = &m->seg[s];
        if (bad >= g->start && bad < g->start + g->size) {
            if (bad - g->start < 32) {
                *valid = g->start;
                *hdr_hit = 1;
            }
            else
                *valid = k > 0 && m->rec[k - 1].end > g->start ? m->rec[k - 1].end
                                                                : g->start + 32;
        }
    }
    return k;
}

/* g holds at least k records, the first k equal to the originals. */
static void
assert_prefix(const model_t *m, const got_t *g, size_t k)
{
    assert_true(g->n >= k);
    for (size_t i = 0; i < k; i++) {
        assert_int_equal(g->seq[i], m->rec[i].seq);
        assert_int_equal(g->type[i], m->rec[i].type);
        assert_int_equal(g->len[i], m->rec[i].len);
        if (m->rec[i].len > 0)
            assert_memory_equal(g->data[i], m->rec[i].data, m->rec[i].len);
    }
}

/* Total bytes of the segment files now in dir/w0 (kept = 0), or of the files repair kept
 * aside there, "*.damaged" (kept = 1). */
static uint64_t
files_size(const char *dir, int kept)
{
    char wdir[512], path[700];
    snprintf(wdir, sizeof wdir, "%s/w0", dir);
    DIR *d = opendir(wdir);
    assert_non_null(d);
    uint64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || (l > 8 && strcmp(e->d_name + l - 8, ".damaged") == 0) != kept)
            continue;
        snprintf(path, sizeof path, "%s/%s", wdir, e->d_name);
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
        total += (uint64_t)sb.st_size;
    }
    closedir(d);
    return total;
}

/* Repair, re-scan, continue writing: the checks common to cuts and flips. `bad` is the first
 * damaged byte, `size` the bytes the damaged log holds. Returns the records recovered. */
static size_t
recover_and_check(const model_t *m, const char *dir, uint64_t bad, uint64_t size)
{
    uint64_t valid;
    int hdr_hit;
    size_t k = survivors(m, bad, &valid, &hdr_hit);
    /* A cut exactly at a record end leaves a valid log; a cut into (or at the start of) a
     * segment header leaves a torn header to remove; a flip is always damage. */
    int damaged = bad < m->total && (valid != size || hdr_hit);
    static got_t g;
    kl_wal_scan_stats_t st;
    g.n = 0;
    assert_int_equal(kl_wal_scan(dir, 0, 0, 1, collect, &g, &st), 0);
    if (g.n != k)
        fail_msg("damage at byte %llu: recovered %zu records, expected %zu",
                 (unsigned long long)bad, g.n, k);
    assert_prefix(m, &g, k);
    assert_int_equal(st.records, k);
    assert_int_equal(st.last_seq, k);
    assert_int_equal(st.damaged, damaged);
    assert_int_equal(st.cut_bytes, size - valid);
    assert_int_equal(files_size(dir, 0), valid);
    /* What was cut is kept aside, byte for byte (H4: never deleted). */
    assert_int_equal(files_size(dir, 1), size - valid);

    /* Nothing left to repair, and the same records. */
    g.n = 0;
    kl_wal_scan_stats_t st2;
    assert_int_equal(kl_wal_scan(dir, 0, 0, 1, collect, &g, &st2), 0);
    assert_int_equal(st2.damaged, 0);
    assert_int_equal(st2.cut_bytes, 0);
    assert_int_equal(g.n, k);
    assert_prefix(m, &g, k);
    assert_int_equal(files_size(dir, 0), valid);

    /* The log goes on where it stopped. */
    kl_wal_cfg_t cfg = {.fsync = KL_WAL_FSYNC_NO, .segment_bytes = 1024};
    kl_wal_t *w = NULL;
    assert_int_equal(kl_wal_open(dir, 0, &cfg, st.last_seq + 1, &w), 0);
    uint64_t seq = 0;
    assert_int_equal(kl_wal_append(w, 9, "new-1", 5, &seq), 0);
    assert_int_equal(seq, k + 1);
    assert_int_equal(kl_wal_commit(w), 0);
    assert_int_equal(kl_wal_append(w, 9, "new-22", 6, &seq), 0);
    assert_int_equal(kl_wal_close(w), 0);
    g.n = 0;
    assert_int_equal(kl_wal_scan(dir, 0, 0, 0, collect, &g, &st2), 0);
    assert_int_equal(st2.damaged, 0);
    assert_int_equal(g.n, k + 2);
    assert_prefix(m, &g, k);
    assert_int_equal(g.seq[k], k + 1);
    assert_int_equal(g.len[k], 5);
    assert_memory_equal(g.data[k], "new-1", 5);
    assert_int_equal(g.seq[k + 1], k + 2);
    assert_int_equal(g.len[k + 1], 6);
    assert_memory_equal(g.data[k + 1], "new-22", 6);
    return k;
}

/* Every byte offset of a 50-record, 3-segment log, from 0 (nothing left) to the full length
 * (nothing cut). */
static void
test_cut_at_every_byte(void **state)
{
    (void)state;
    char base[512], work[512];
    snprintf(base, sizeof base, "%s/cut-base", g_root);
    snprintf(work, sizeof work, "%s/cut-work", g_root);
    static model_t m;
    build_log(base, 50, 2200, &m);
    assert_true(m.n_seg >= 2 && m.n_seg <= 4);
    size_t kept_all = 0, boundaries = 0;
    for (uint64_t cut = 0; cut <= m.total; cut++) {
        materialize(&m, work, cut, UINT64_MAX);
        uint64_t valid;
        int hdr_hit;
        survivors(&m, cut, &valid, &hdr_hit);
        boundaries += valid == cut && !hdr_hit;
        if (recover_and_check(&m, work, cut, cut) == m.n_rec)
            kept_all++;
    }
    /* Sanity of the model itself: only the uncut log keeps all 50 records, and the clean cuts
     * are the record ends inside segments plus the header ends (a record end that is also a
     * segment's end is the next segment's torn header). */
    assert_int_equal(kept_all, 1);
    assert_int_equal(boundaries, m.n_rec - (m.n_seg - 1) + m.n_seg);
    print_message("cut a %llu-byte log of %zu records in %zu segments at every offset\n",
                  (unsigned long long)m.total, m.n_rec, m.n_seg);
    model_free(&m);
}

/* Every bit of a 16-record, 2-segment log: recovery keeps exactly the records before the
 * flipped byte. CRC-32C catches every single-bit error, so nothing wrong can get through. */
static void
test_flip_every_bit(void **state)
{
    (void)state;
    char base[512], work[512];
    snprintf(base, sizeof base, "%s/flip-base", g_root);
    snprintf(work, sizeof work, "%s/flip-work", g_root);
    static model_t m;
    build_log(base, 16, 900, &m);
    assert_true(m.n_seg >= 2);
    size_t kept[MAX_RECS + 1] = {0};
    for (uint64_t bit = 0; bit < m.total * 8; bit++) {
        materialize(&m, work, m.total, bit);
        kept[recover_and_check(&m, work, bit / 8, m.total)]++;
    }
    /* Each prefix length is seen (a flip inside record i keeps i records), none is 16. */
    for (size_t i = 0; i < m.n_rec; i++)
        assert_true(kept[i] > 0);
    assert_int_equal(kept[m.n_rec], 0);
    print_message("flipped each of the %llu bits of a %zu-record log in %zu segments\n",
                  (unsigned long long)m.total * 8, m.n_rec, m.n_seg);
    model_free(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_at_every_byte),
        cmocka_unit_test(test_flip_every_bit),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
