/* libFuzzer target for the WAL reader (kl_wal_scan in src/wal/wal.c): the input is the bytes of
 * one segment file, written under a valid name (the first seq its header claims) into a temp
 * log directory, then scanned with repair. Beyond "no crash, no leak", it checks what recovery
 * relies on: the records delivered have contiguous seqs starting at the header's first seq and
 * lengths within bounds, the stats agree with them, the repaired file is exactly the valid
 * prefix of the input (or is gone, when the header is bad), and a second scan finds no damage
 * and delivers the same records. Any violation is a trap. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "wal/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond))                                                                             \
            __builtin_trap();                                                                    \
    } while (0)

static char g_root[128];
static char g_wdir[160];

static void
fz_cleanup_files(void)
{
    DIR *d = opendir(g_wdir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", g_wdir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

static void
fz_cleanup(void)
{
    fz_cleanup_files();
    rmdir(g_wdir);
    rmdir(g_root);
}

/* tmpfs when there is one: repair fsyncs, and a fuzzer runs it millions of times. */
static void
fz_init(void)
{
    if (g_root[0] != '\0')
        return;
    struct stat sb;
    const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(g_root, sizeof g_root, "%s/kl_fuzz_wal.XXXXXX", base);
    CHECK(mkdtemp(g_root) != NULL);
    snprintf(g_wdir, sizeof g_wdir, "%s/w0", g_root);
    CHECK(mkdir(g_wdir, 0755) == 0);
    kl_log_set_level(KL_LOG_ERROR); /* one repair line per input would drown the fuzzer */
    atexit(fz_cleanup);
}

/* What a scan delivered, folded into a count and a hash (FNV-1a over seq, type, len, bytes). */
typedef struct fz_seen {
    uint64_t first, next, n, hash;
} fz_seen_t;

static void
fz_mix(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 0x100000001b3ull;
}

static int
fz_record(void *ctx, uint64_t seq, uint16_t type, const void *payload, uint32_t len)
{
    fz_seen_t *s = ctx;
    CHECK(len <= KL_WAL_PAYLOAD_MAX);
    CHECK(len == 0 || payload != NULL);
    CHECK(seq == s->next); /* contiguous from the header's first seq */
    s->next = seq + 1;
    s->n++;
    fz_mix(&s->hash, &seq, sizeof seq);
    fz_mix(&s->hash, &type, sizeof type);
    fz_mix(&s->hash, &len, sizeof len);
    fz_mix(&s->hash, payload, len);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    fz_cleanup_files();

    /* The name a writer would have given this segment: its header's first seq. */
    uint64_t first = 1;
    if (size >= 24) {
        first = 0;
        for (int i = 7; i >= 0; i--)
            first = first << 8 | data[16 + i];
    }
    char path[256];
    snprintf(path, sizeof path, "%s/%020llu.wal", g_wdir, (unsigned long long)first);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
    close(fd);

    fz_seen_t a = {.first = first, .next = first, .n = 0, .hash = 0xcbf29ce484222325ull};
    kl_wal_scan_stats_t st;
    CHECK(kl_wal_scan(g_root, 0, 0, 1, fz_record, &a, &st) == 0);
    CHECK(st.segments == 1);
    CHECK(st.records == a.n);
    CHECK(a.n == 0 || st.last_seq == a.next - 1);
    CHECK(st.damaged == (st.bytes != size || st.bytes == 0)); /* 0: no valid header */
    CHECK(st.cut_bytes == (st.damaged ? size - st.bytes : 0));

    /* The file left behind is the input's valid prefix, byte for byte, or nothing at all. */
    struct stat sb;
    if (stat(path, &sb) != 0) {
        CHECK(errno == ENOENT);
        CHECK(st.bytes == 0 && a.n == 0 && st.damaged);
    } else {
        CHECK(st.bytes >= 32);
        CHECK((uint64_t)sb.st_size == st.bytes);
        uint8_t *back = malloc(st.bytes);
        CHECK(back != NULL);
        fd = open(path, O_RDONLY);
        CHECK(fd >= 0);
        CHECK(read(fd, back, st.bytes) == (ssize_t)st.bytes);
        close(fd);
        CHECK(memcmp(back, data, st.bytes) == 0);
        free(back);
        CHECK(st.last_seq == a.next - 1); /* also for a header-only segment */
    }

    /* Repair leaves nothing to repair, and the same records. */
    fz_seen_t b = {.first = first, .next = first, .n = 0, .hash = 0xcbf29ce484222325ull};
    kl_wal_scan_stats_t st2;
    CHECK(kl_wal_scan(g_root, 0, 0, 1, fz_record, &b, &st2) == 0);
    CHECK(st2.damaged == 0 && st2.cut_bytes == 0);
    CHECK(b.n == a.n && b.hash == a.hash);
    CHECK(st2.bytes == st.bytes && st2.last_seq == st.last_seq);
    return 0;
}
