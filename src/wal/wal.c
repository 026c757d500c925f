/* The write-ahead log of one worker: segment files of CRC-checked records, written with group
 * commit and an fsync policy, read back by a scanner that finds the valid prefix and (with
 * repair) cuts everything after it.
 *
 * ON-DISK FORMAT (version 1). All integers are little-endian. Every offset below is from the
 * start of the structure it describes.
 *
 * Files. The log of worker N lives in <dir>/w<N>/ (N in decimal, no padding). Each segment is
 * named after the sequence number of its first record, as exactly 20 decimal digits plus
 * ".wal", e.g. 00000000000000000001.wal, so that the lexical order of names is the order of the
 * log. Other names in the directory are ignored (never read, never deleted).
 *
 * Segment header, 32 bytes, at offset 0 of every segment:
 *
 *     0   4  magic    0x4C41574B (the bytes 'K' 'W' 'A' 'L')
 *     4   4  crc      CRC-32C of header bytes 8..31
 *     8   2  version  1
 *    10   2  flags    bit 0 = GAP (below); the other bits are 0 (a reader rejects them)
 *    12   4  worker   the worker index N, as in the directory name
 *    16   8  first    sequence number of the segment's first record (>= 1); equals the name
 *    24   8  created  wall-clock Unix milliseconds at creation (informational only)
 *
 * Records follow the header back to back, each starting at an 8-byte aligned offset:
 *
 *     0   4  crc      CRC-32C of record bytes 4..15 followed by the payload bytes
 *     4   2  type     opaque to the log (the worker's record type)
 *     6   2  len      payload length, 0..KL_WAL_PAYLOAD_MAX (4096)
 *     8   8  seq      sequence number
 *    16 len  payload
 *     .  0-7 padding  zero bytes up to the next multiple of 8
 *
 * The CRC comes first and covers every field after it, so a flipped bit anywhere in a record
 * (padding aside, which must be zero) fails the check. CRC-32C is the standard Castagnoli CRC
 * (reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF): CRC-32C of
 * "123456789" is 0xE3069283, and the CRC of zero bytes is not zero, so a zero-filled tail (a
 * file extended but never written) never passes.
 *
 * Sequence numbers start at the caller's choice (>= 1) and grow by exactly 1 per record, across
 * segment boundaries too: a segment's `first` is the previous segment's last seq + 1. A segment
 * may hold no record at all (a writer opened and closed without appending, or a crash right
 * after rotation): its `first` is then still the next seq of the log. A record never spans two
 * segments, nor does a commit group. The one exception is a segment flagged GAP: kl_wal_open
 * was given a next_seq past the log's last seq + 1 (a checkpoint newer than a WAL whose unsynced
 * tail a power cut took), and its `first` may exceed the previous last seq + 1. Without the
 * flag, the next repair would take that segment for a hole in the log and delete it.
 *
 * Validity. A log is valid up to the first byte where any of these fails, checked in file order:
 * header shorter than 32 bytes (torn), magic, version, flags, worker, header CRC, `first` equal to
 * the name and to the expected seq (or above it, under GAP); then per record: 16 header bytes present, len <= 4096, the
 * whole padded record present (else torn), seq equal to the expected one, CRC, zero padding.
 * Everything before that byte is the valid prefix; nothing after it is trusted, even a record
 * that would check, because the log is only ever appended to.
 *
 * DESIGN
 *
 * Writer. kl_wal_append() encodes a record (CRC included) into the group buffer and never makes
 * a syscall. The buffer is allocated at open (64 KiB) and doubles, through kl_alloc, only when a
 * group outgrows every earlier one; a worker's groups are bounded by its batch size, so after
 * warm-up append never allocates. kl_wal_commit() first rotates if the current segment already
 * holds records and the group would take it past segment_bytes (so a segment exceeds
 * segment_bytes only when a single group does), then hands the whole group to one write(2),
 * looping only on a partial write or EINTR, then applies the fsync policy: always = fdatasync
 * every commit; everysec = fdatasync when the last one is >= 1 s old, checked at each commit,
 * including empty ones, so the worker's clock tick bounds the window (there is no background
 * thread); no = never. A new segment is created with O_EXCL, given its header, and made durable
 * (fsync of the file, then of the directory) before any record goes into it, whatever the
 * policy; before leaving a segment the writer fdatasyncs it unless the policy is no. Open reads
 * the segment before next_seq (one segment, normally still in the page cache from recovery):
 * appending after a damaged tail, or below the log's end, would hand the next repair a log it
 * must cut, new records included, so both are refused; a jump forward is marked GAP.
 *
 * Failure. A failed write(2) or fsync is sticky (Redis AOF, LMDB MDB_PANIC): it is logged once
 * at ERROR with the file, the errno and the fail-stop action (the service exits non-zero within
 * seconds, serve/watchdog.h), and every later call on that writer returns the same error. Nothing is retried: after a failed fsync the kernel may have dropped
 * the dirty pages, so a retry that succeeds proves nothing. A partial group left on disk by a
 * failed write is a torn tail that the next scan cuts.
 *
 * Reader. kl_wal_scan() reads each segment with pread into one buffer of 16 KiB..1 MiB (sized
 * to the largest segment, so that scanning a small log stays cheap; no mmap: a file shrunk
 * under a reader must give a short read, not SIGBUS), checks everything listed above and stops
 * at the first invalid byte. Repair then deletes the later segments (newest first), cuts
 * the damaged one to its valid prefix with ftruncate + fsync (or deletes it when its header is
 * the damage), fsyncs the directory and logs one WARN line: file, offset, bytes cut. A crash in
 * the middle of a repair leaves a log that the next repair converges from, because each step
 * only removes bytes after the first invalid one. */
#include "wal/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define WAL_X86 1
#endif

#include "core/alloc.h"
#include "core/log.h"
#include "kl/err.h"

#define WAL_MAGIC 0x4C41574Bu
#define WAL_VERSION 1
#define WAL_FLAG_GAP 1u
#define WAL_SEG_HDR 32
#define WAL_REC_HDR 16
#define WAL_NAME_DIGITS 20
#define WAL_NAME_LEN (WAL_NAME_DIGITS + 4) /* "<20 digits>.wal" */
#define WAL_DEFAULT_SEGMENT (64ull << 20)
#define WAL_BUF_INIT (64u << 10)
#define WAL_READ_MAX (1u << 20)
#define WAL_READ_MIN (16u << 10)

_Static_assert(WAL_SEG_HDR % 8 == 0, "records must start 8-byte aligned");
_Static_assert(WAL_REC_HDR % 8 == 0, "payloads must start 8-byte aligned");
_Static_assert(KL_WAL_PAYLOAD_MAX <= UINT16_MAX, "len is a u16 on disk");
_Static_assert(WAL_READ_MIN >= WAL_REC_HDR + KL_WAL_PAYLOAD_MAX + 8, "a record fits the reader");

/* Bytes a record of payload length len takes on disk. */
static inline size_t
wal_rec_size(size_t len)
{
    return (WAL_REC_HDR + len + 7) & ~(size_t)7;
}

/* ---- little-endian fields ---------------------------------------------------------------- */

static inline uint16_t
wal_ld16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (uint16_t)(p[1] << 8));
}

static inline uint32_t
wal_ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t
wal_ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void
wal_st16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void
wal_st32(uint8_t *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    memcpy(p, &v, 4);
}

static inline void
wal_st64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

/* ---- CRC-32C ------------------------------------------------------------------------------ */

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void
crc32c_init_tables(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc32c_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc32c_table[0][n];
        for (int k = 1; k < 8; k++) {
            c = crc32c_table[0][c & 0xff] ^ (c >> 8);
            crc32c_table[k][n] = c;
        }
    }
}

/* Slice-by-8: the portable path, for CPUs without SSE4.2 and for checking the hardware one. */
static uint32_t
crc32c_sw(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc32c_once, crc32c_init_tables);
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        c = crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        n--;
    }
    while (n >= 8) {
        uint64_t v = wal_ld64(p) ^ c;
        c = crc32c_table[7][v & 0xff] ^ crc32c_table[6][(v >> 8) & 0xff] ^
            crc32c_table[5][(v >> 16) & 0xff] ^ crc32c_table[4][(v >> 24) & 0xff] ^
            crc32c_table[3][(v >> 32) & 0xff] ^ crc32c_table[2][(v >> 40) & 0xff] ^
            crc32c_table[1][(v >> 48) & 0xff] ^ crc32c_table[0][v >> 56];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

#ifdef WAL_X86
/* The SSE4.2 crc32 instruction computes exactly CRC-32C, 8 bytes per instruction. */
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8(c, *p++);
        n--;
    }
#ifdef __x86_64__
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = _mm_crc32_u64(c64, v);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
#endif
    while (n-- > 0)
        c = _mm_crc32_u8(c, *p++);
    return ~c;
}
#endif

uint32_t
kl_crc32c(uint32_t crc, const void *data, size_t n)
{
#ifdef WAL_X86
    if (__builtin_cpu_supports("sse4.2"))
        return crc32c_hw(crc, data, n);
#endif
    return crc32c_sw(crc, data, n);
}

/* ---- system calls (test hooks) ------------------------------------------------------------ */

#ifdef KL_WAL_TEST_HOOKS
/* Set by tests that #include this file: the next write(2)/fsync fails with this errno (once);
 * every write(2) is capped at write_max bytes (partial writes); eintr write(2) calls fail with
 * EINTR first. The counters let a test see how many calls a commit made. */
static int wal_hook_write_errno;
static int wal_hook_fsync_errno;
static size_t wal_hook_write_max;
static int wal_hook_eintr;
static unsigned long wal_hook_writes, wal_hook_fsyncs;
#endif

static ssize_t
wal_sys_write(int fd, const void *p, size_t n)
{
#ifdef KL_WAL_TEST_HOOKS
    wal_hook_writes++;
    if (wal_hook_eintr > 0) {
        wal_hook_eintr--;
        errno = EINTR;
        return -1;
    }
    if (wal_hook_write_errno != 0) {
        errno = wal_hook_write_errno;
        wal_hook_write_errno = 0;
        return -1;
    }
    if (wal_hook_write_max != 0 && n > wal_hook_write_max)
        n = wal_hook_write_max;
#endif
    return write(fd, p, n);
}

/* data = 1: fdatasync (appends: the size change is flushed too); 0: full fsync. */
static int
wal_sys_fsync(int fd, int data)
{
#ifdef KL_WAL_TEST_HOOKS
    wal_hook_fsyncs++;
    if (wal_hook_fsync_errno != 0) {
        errno = wal_hook_fsync_errno;
        wal_hook_fsync_errno = 0;
        return -1;
    }
#endif
    int rc;
    do
        rc = data ? fdatasync(fd) : fsync(fd);
    while (rc != 0 && errno == EINTR);
    return rc;
}

/* Writes all n bytes; returns 0 or -errno. */
static int
wal_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = wal_sys_write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return -EIO; /* a regular file never returns 0 for n > 0; don't spin on it */
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ---- segment names and listing ------------------------------------------------------------ */

static void
wal_seg_name(char out[WAL_NAME_LEN + 1], uint64_t first)
{
    snprintf(out, WAL_NAME_LEN + 1, "%020llu.wal", (unsigned long long)first);
}

/* Parses a segment file name; returns 1 and *first, or 0 for any other name. */
static int
wal_seg_parse(const char *name, uint64_t *first)
{
    if (strlen(name) != WAL_NAME_LEN || strcmp(name + WAL_NAME_DIGITS, ".wal") != 0)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < WAL_NAME_DIGITS; i++) {
        unsigned d = (unsigned)(name[i] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *first = v;
    return 1;
}

static int
wal_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Lists the segments in directory dfd, sorted by first seq (= by name). *out is kl_alloc'ed
 * (NULL when empty). Returns 0 or -errno / KL_ENOMEM. */
static int
wal_seg_list(int dfd, uint64_t **out, size_t *n_out)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = -errno;
        close(fd);
        return e;
    }
    uint64_t *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        uint64_t first;
        if (!wal_seg_parse(e->d_name, &first))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            uint64_t *nv = kl_alloc(ncap * sizeof *nv);
            if (nv == NULL) {
                rc = KL_ENOMEM;
                break;
            }
            if (n > 0)
                memcpy(nv, v, n * sizeof *v);
            kl_free(v);
            v = nv;
            cap = ncap;
        }
        v[n++] = first;
        errno = 0;
    }
    if (rc == 0 && errno != 0)
        rc = -errno;
    closedir(d);
    if (rc != 0) {
        kl_free(v);
        return rc;
    }
    if (n > 1)
        qsort(v, n, sizeof *v, wal_u64_cmp);
    *out = v;
    *n_out = n;
    return 0;
}

/* <dir>/w<worker> into out; -ENAMETOOLONG if it does not fit. */
static int
wal_worker_dir(char *out, size_t cap, const char *dir, int worker)
{
    int k = snprintf(out, cap, "%s/w%d", dir, worker);
    return k < 0 || (size_t)k >= cap ? -ENAMETOOLONG : 0;
}

/* Encodes a segment header for worker/first/flags into h. */
static void
wal_seg_header(uint8_t h[WAL_SEG_HDR], int worker, uint64_t first, uint16_t flags)
{
    memset(h, 0, WAL_SEG_HDR);
    wal_st32(h, WAL_MAGIC);
    wal_st16(h + 8, WAL_VERSION);
    wal_st16(h + 10, flags);
    wal_st32(h + 12, (uint32_t)worker);
    wal_st64(h + 16, first);
    wal_st64(h + 24, (uint64_t)kl_now_ms());
    wal_st32(h + 4, kl_crc32c(0, h + 8, WAL_SEG_HDR - 8));
}

/* ---- writer ------------------------------------------------------------------------------- */

static int wal_seg_last(int dfd, int worker, uint64_t first, uint64_t *last);

struct kl_wal {
    int fd;                     /* current segment, O_APPEND */
    int dfd;                    /* <dir>/w<worker>: fsync after create/delete, *at() calls */
    int worker;
    int fsync;                  /* enum kl_wal_fsync */
    int err;                    /* sticky: first write/fsync failure, 0 while healthy */
    int unsynced;               /* bytes written since the last fdatasync */
    uint64_t segment_bytes;
    uint64_t seg_first;         /* first seq of the current segment */
    uint64_t seg_size;          /* bytes in the current segment */
    uint64_t next_seq;          /* seq the next append gets */
    uint64_t committed;         /* last seq written to the log */
    uint64_t bytes;             /* bytes written since open */
    int64_t last_fsync_ms;      /* monotonic */
    uint8_t *buf;               /* the group: encoded records since the last commit */
    size_t len, cap;
    char seg_name[WAL_NAME_LEN + 1];
    char path[PATH_MAX];        /* <dir>/w<worker>, for log lines */
};

/* Records the first I/O failure and says so loudly; later calls return it unchanged. */
static int
wal_fail(kl_wal_t *w, const char *event, int err)
{
    if (w->err == 0) {
        w->err = err;
        kl_log(KL_LOG_ERROR, "wal", event,
               "worker=%d file=%s/%s errno=%d error=\"%s\" action=\"exiting so a supervisor "
               "restarts; the WAL up to the last fsync is intact\"",
               w->worker, w->path, w->seg_name, -err, kl_strerror(err));
    }
    return w->err;
}

/* Creates segment `first` in w->dfd, writes its header and makes both durable. An existing
 * file of that name holding no record (at most a header: a writer that never committed, or a
 * crash right after creat) is replaced; one holding more is refused with -EEXIST, since the
 * caller's next_seq would then overwrite records. Returns the fd or -errno. */
static int
wal_seg_create(kl_wal_t *w, uint64_t first, uint16_t flags)
{
    char name[WAL_NAME_LEN + 1];
    wal_seg_name(name, first);
    int oflags = O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC;
    int fd = openat(w->dfd, name, oflags, 0644);
    if (fd < 0 && errno == EEXIST) {
        struct stat sb;
        if (fstatat(w->dfd, name, &sb, 0) != 0)
            return -errno;
        if (!S_ISREG(sb.st_mode) || sb.st_size > WAL_SEG_HDR) {
            kl_log(KL_LOG_ERROR, "wal", "segment_exists",
                   "worker=%d file=%s/%s size=%lld reason=\"next_seq is not past the log\"",
                   w->worker, w->path, name, (long long)sb.st_size);
            return -EEXIST;
        }
        if (unlinkat(w->dfd, name, 0) != 0)
            return -errno;
        fd = openat(w->dfd, name, oflags, 0644);
    }
    if (fd < 0)
        return -errno;
    uint8_t h[WAL_SEG_HDR];
    wal_seg_header(h, w->worker, first, flags);
    int rc = wal_write_all(fd, h, sizeof h);
    if (rc == 0 && wal_sys_fsync(fd, 0) != 0)
        rc = -errno;
    if (rc == 0 && wal_sys_fsync(w->dfd, 0) != 0)
        rc = -errno;
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int
kl_wal_open(const char *dir, int worker, const kl_wal_cfg_t *cfg, uint64_t next_seq,
            kl_wal_t **out)
{
    if (dir == NULL || out == NULL || worker < 0 || next_seq == 0)
        return KL_EARG;
    int policy = cfg ? cfg->fsync : KL_WAL_FSYNC_EVERYSEC;
    if (policy != KL_WAL_FSYNC_ALWAYS && policy != KL_WAL_FSYNC_EVERYSEC &&
        policy != KL_WAL_FSYNC_NO)
        return KL_EARG;

    kl_wal_t *w = kl_calloc(1, sizeof *w);
    if (w == NULL)
        return KL_ENOMEM;
    w->fd = -1;
    w->dfd = -1;
    w->worker = worker;
    w->fsync = policy;
    w->segment_bytes = cfg && cfg->segment_bytes ? cfg->segment_bytes : WAL_DEFAULT_SEGMENT;
    int rc = wal_worker_dir(w->path, sizeof w->path, dir, worker);
    if (rc != 0)
        goto fail;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        rc = -errno;
        goto fail;
    }
    if (mkdir(w->path, 0755) == 0) {
        /* The new w<N> entry must survive a power cut like the segment inside it. */
        int pfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0) {
            rc = -errno;
            goto fail;
        }
        int frc = wal_sys_fsync(pfd, 0);
        int fe = errno;
        close(pfd);
        if (frc != 0) {
            rc = -fe;
            goto fail;
        }
    } else if (errno != EEXIST) {
        rc = -errno;
        goto fail;
    }
    w->dfd = open(w->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dfd < 0) {
        rc = -errno;
        goto fail;
    }

    /* next_seq must be past the log: no segment may start after it, and the segment before it
     * (read once here, normally straight from the page cache recovery filled) must end before
     * it. A next_seq beyond that segment's end + 1 is legal and gets the GAP flag. */
    uint64_t *segs = NULL;
    size_t n_segs = 0;
    rc = wal_seg_list(w->dfd, &segs, &n_segs);
    if (rc != 0)
        goto fail;
    uint64_t max_first = n_segs ? segs[n_segs - 1] : 0, prev = 0;
    for (size_t i = 0; i < n_segs && segs[i] < next_seq; i++)
        prev = segs[i];
    kl_free(segs);
    uint16_t flags = 0;
    uint64_t prev_last = 0;
    if (max_first > next_seq) {
        rc = KL_EARG;
    } else if (prev != 0) {
        rc = wal_seg_last(w->dfd, worker, prev, &prev_last);
        if (rc == 0 && prev_last >= next_seq)
            rc = KL_EARG;
        if (rc == 0 && prev_last + 1 < next_seq) {
            flags = WAL_FLAG_GAP;
            kl_log(KL_LOG_WARN, "wal", "seq_gap",
                   "worker=%d dir=%s last_seq=%llu next_seq=%llu reason=\"next_seq is past the "
                   "end of the log (checkpoint newer than the WAL?)\"",
                   worker, w->path, (unsigned long long)prev_last, (unsigned long long)next_seq);
        }
    }
    if (rc != 0) {
        kl_log(KL_LOG_ERROR, "wal", "open_refused",
               "worker=%d dir=%s next_seq=%llu last_segment_first=%llu previous_last_seq=%llu "
               "error=\"%s\"",
               worker, w->path, (unsigned long long)next_seq, (unsigned long long)max_first,
               (unsigned long long)prev_last, rc == KL_EARG ? "next_seq is not past the log"
                                                            : kl_strerror(rc));
        goto fail;
    }

    w->cap = WAL_BUF_INIT;
    w->buf = kl_alloc(w->cap);
    if (w->buf == NULL) {
        rc = KL_ENOMEM;
        goto fail;
    }
    rc = wal_seg_create(w, next_seq, flags);
    if (rc < 0)
        goto fail;
    w->fd = rc;
    wal_seg_name(w->seg_name, next_seq);
    w->seg_first = next_seq;
    w->seg_size = WAL_SEG_HDR;
    w->next_seq = next_seq;
    w->committed = next_seq - 1;
    w->last_fsync_ms = kl_mono_ms();
    *out = w;
    return 0;

fail:
    if (w->dfd >= 0)
        close(w->dfd);
    kl_free(w->buf);
    kl_free(w);
    return rc;
}

int
kl_wal_append(kl_wal_t *w, uint16_t type, const void *payload, uint32_t len, uint64_t *seq)
{
    if (w->err != 0)
        return w->err;
    if (len > KL_WAL_PAYLOAD_MAX || (payload == NULL && len != 0))
        return KL_EARG;
    size_t rec = wal_rec_size(len);
    if (w->cap - w->len < rec) {
        /* Only when this group is bigger than any before it (see DESIGN). */
        size_t ncap = w->cap * 2;
        while (ncap - w->len < rec)
            ncap *= 2;
        uint8_t *nb = kl_alloc(ncap);
        if (nb == NULL)
            return KL_ENOMEM;
        memcpy(nb, w->buf, w->len);
        kl_free(w->buf);
        w->buf = nb;
        w->cap = ncap;
    }
    uint8_t *p = w->buf + w->len;
    uint64_t s = w->next_seq;
    wal_st16(p + 4, type);
    wal_st16(p + 6, (uint16_t)len);
    wal_st64(p + 8, s);
    if (len > 0)
        memcpy(p + WAL_REC_HDR, payload, len);
    memset(p + WAL_REC_HDR + len, 0, rec - WAL_REC_HDR - len);
    wal_st32(p, kl_crc32c(kl_crc32c(0, p + 4, WAL_REC_HDR - 4), p + WAL_REC_HDR, len));
    w->len += rec;
    w->next_seq = s + 1;
    if (seq != NULL)
        *seq = s;
    return 0;
}

/* Moves the writer to a new segment whose first record is the group's first. */
static int
wal_rotate(kl_wal_t *w)
{
    uint64_t first = w->committed + 1;
    if (w->fsync != KL_WAL_FSYNC_NO && w->unsynced) {
        /* The old segment is never written or synced again once we leave it. */
        if (wal_sys_fsync(w->fd, 1) != 0)
            return wal_fail(w, "fsync_failed", -errno);
        w->unsynced = 0;
        w->last_fsync_ms = kl_mono_ms();
    }
    int fd = wal_seg_create(w, first, 0);
    if (fd < 0) {
        wal_seg_name(w->seg_name, first);
        return wal_fail(w, "rotate_failed", fd);
    }
    close(w->fd);
    w->fd = fd;
    wal_seg_name(w->seg_name, first);
    w->seg_first = first;
    w->seg_size = WAL_SEG_HDR;
    return 0;
}

int
kl_wal_commit(kl_wal_t *w)
{
    if (w->err != 0)
        return w->err;
    if (w->len > 0) {
        if (w->seg_size > WAL_SEG_HDR && w->seg_size + w->len > w->segment_bytes) {
            int rc = wal_rotate(w);
            if (rc != 0)
                return rc;
        }
        int rc = wal_write_all(w->fd, w->buf, w->len);
        if (rc != 0)
            return wal_fail(w, "write_failed", rc);
        w->seg_size += w->len;
        w->bytes += w->len;
        w->len = 0;
        w->committed = w->next_seq - 1;
        w->unsynced = 1;
    }
    if (w->unsynced && w->fsync != KL_WAL_FSYNC_NO) {
        int64_t now = kl_mono_ms();
        if (w->fsync == KL_WAL_FSYNC_ALWAYS || now - w->last_fsync_ms >= 1000) {
            if (wal_sys_fsync(w->fd, 1) != 0)
                return wal_fail(w, "fsync_failed", -errno);
            w->unsynced = 0;
            w->last_fsync_ms = now;
        }
    }
    return 0;
}

uint64_t
kl_wal_committed_seq(const kl_wal_t *w)
{
    return w->committed;
}

uint64_t
kl_wal_bytes(const kl_wal_t *w)
{
    return w->bytes;
}

int
kl_wal_release(kl_wal_t *w, uint64_t upto)
{
    if (w->err != 0)
        return w->err;
    uint64_t *segs = NULL;
    size_t n = 0;
    int rc = wal_seg_list(w->dfd, &segs, &n);
    if (rc != 0)
        return rc;
    int deleted = 0;
    /* Oldest first, so that a crash in the middle still leaves a contiguous log. The current
     * segment has no successor here and never qualifies. */
    for (size_t i = 0; i + 1 < n && segs[i] < w->seg_first; i++) {
        if (segs[i + 1] - 1 > upto)
            break;
        char name[WAL_NAME_LEN + 1];
        wal_seg_name(name, segs[i]);
        if (unlinkat(w->dfd, name, 0) != 0) {
            rc = -errno;
            break;
        }
        deleted++;
    }
    kl_free(segs);
    if (deleted > 0 && wal_sys_fsync(w->dfd, 0) != 0)
        return wal_fail(w, "fsync_failed", -errno);
    return rc != 0 ? rc : deleted;
}

int
kl_wal_close(kl_wal_t *w)
{
    if (w == NULL)
        return 0;
    int rc = kl_wal_commit(w);
    if (rc == 0 && w->unsynced && w->fsync != KL_WAL_FSYNC_NO) {
        if (wal_sys_fsync(w->fd, 1) != 0)
            rc = wal_fail(w, "fsync_failed", -errno);
    }
    if (w->fd >= 0)
        close(w->fd);
    if (w->dfd >= 0)
        close(w->dfd);
    kl_free(w->buf);
    kl_free(w);
    return rc;
}

/* ---- reader ------------------------------------------------------------------------------- */

/* A window [base, base + have) of one segment file in buf. */
struct wal_rd {
    int fd;
    uint8_t *buf;
    size_t cap; /* WAL_READ_MIN..WAL_READ_MAX */
    uint64_t base;
    size_t have;
};

/* Makes bytes [off, off + need) available at r->buf + (off - r->base). Returns 0, 1 when the
 * file ends first (it shrank under us: treated as torn), or -errno. need <= r->cap. */
static int
wal_rd_fill(struct wal_rd *r, uint64_t off, size_t need)
{
    if (off >= r->base && off + need <= r->base + r->have)
        return 0;
    size_t keep = 0;
    if (off >= r->base && off < r->base + r->have) {
        keep = (size_t)(r->base + r->have - off);
        memmove(r->buf, r->buf + (off - r->base), keep);
    }
    r->base = off;
    r->have = keep;
    while (r->have < need) {
        ssize_t k = pread(r->fd, r->buf + r->have, r->cap - r->have,
                          (off_t)(off + r->have));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return 1;
        r->have += (size_t)k;
    }
    return 0;
}

/* Why a scan stopped, for the repair log line. */
enum wal_damage {
    WAL_OK,
    WAL_TORN_HEADER,
    WAL_BAD_HEADER,
    WAL_SEQ_GAP,
    WAL_TORN_RECORD,
    WAL_BAD_LENGTH,
    WAL_BAD_CRC,
    WAL_BAD_PADDING,
};

static const char *const wal_damage_names[] = {
    "none",       "torn segment header", "bad segment header", "sequence gap",
    "torn record", "bad record length",  "record CRC mismatch", "nonzero padding",
};

/* Checks a segment header against the expectations; returns WAL_OK or the damage. */
static enum wal_damage
wal_check_header(const uint8_t *h, int worker, uint64_t name_first, uint64_t expect)
{
    uint16_t flags = wal_ld16(h + 10);
    if (wal_ld32(h) != WAL_MAGIC || wal_ld16(h + 8) != WAL_VERSION || (flags & ~WAL_FLAG_GAP) ||
        wal_ld32(h + 12) != (uint32_t)worker ||
        wal_ld32(h + 4) != kl_crc32c(0, h + 8, WAL_SEG_HDR - 8))
        return WAL_BAD_HEADER;
    uint64_t first = wal_ld64(h + 16);
    if (first == 0 || first != name_first)
        return WAL_BAD_HEADER;
    if (expect != 0 && first != expect && !((flags & WAL_FLAG_GAP) && first > expect))
        return WAL_SEQ_GAP;
    return WAL_OK;
}

/* Scans one open segment from its start (from = 0), or from offset `from`, a record that
 * resynchronisation found, whose seq is *expect. Returns 0 (stopped at *damage, at file offset
 * *at, or clean to the end), fn's non-zero value, or -errno. *expect is the next seq (0 = any). */
static int
wal_scan_segment(struct wal_rd *r, uint64_t size, int worker, uint64_t name_first,
                 uint64_t after, kl_wal_record_fn fn, void *ctx, uint64_t *expect,
                 kl_wal_scan_stats_t *s, enum wal_damage *damage, uint64_t *at, uint64_t from)
{
    *at = 0;
    int rc;
    uint64_t seq, off;
    if (from == 0) {
        if (size < WAL_SEG_HDR) {
            *damage = WAL_TORN_HEADER;
            return 0;
        }
        rc = wal_rd_fill(r, 0, WAL_SEG_HDR);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            *damage = WAL_TORN_HEADER;
            return 0;
        }
        *damage = wal_check_header(r->buf, worker, name_first, *expect);
        if (*damage != WAL_OK)
            return 0;
        seq = name_first;
        s->bytes += WAL_SEG_HDR;
        off = WAL_SEG_HDR;
    } else {
        seq = *expect;
        off = from;
    }
    /* Equal to the last record's seq, except before the first record and after a GAP: either
     * way the log's next seq is this segment's first. */
    s->last_seq = seq - 1;
    while (off < size) {
        *at = off;
        if (size - off < WAL_REC_HDR) {
            *damage = WAL_TORN_RECORD;
            return 0;
        }
        rc = wal_rd_fill(r, off, WAL_REC_HDR);
        if (rc != 0)
            goto short_read;
        const uint8_t *p = r->buf + (off - r->base);
        uint32_t len = wal_ld16(p + 6);
        if (len > KL_WAL_PAYLOAD_MAX) {
            *damage = WAL_BAD_LENGTH;
            return 0;
        }
        size_t rec = wal_rec_size(len);
        if (size - off < rec) {
            *damage = WAL_TORN_RECORD;
            return 0;
        }
        rc = wal_rd_fill(r, off, rec);
        if (rc != 0)
            goto short_read;
        p = r->buf + (off - r->base);
        if (wal_ld64(p + 8) != seq) {
            *damage = WAL_SEQ_GAP;
            return 0;
        }
        uint32_t crc = kl_crc32c(kl_crc32c(0, p + 4, WAL_REC_HDR - 4), p + WAL_REC_HDR, len);
        if (crc != wal_ld32(p)) {
            *damage = WAL_BAD_CRC;
            return 0;
        }
        for (size_t i = WAL_REC_HDR + len; i < rec; i++)
            if (p[i] != 0) {
                *damage = WAL_BAD_PADDING;
                return 0;
            }
        if (seq > after && fn != NULL) {
            rc = fn(ctx, seq, wal_ld16(p + 4), p + WAL_REC_HDR, len);
            if (rc != 0) {
                *expect = seq + 1;
                return rc;
            }
        }
        s->records++;
        s->last_seq = seq;
        s->bytes += rec;
        seq++;
        off += rec;
    }
    *expect = seq;
    *damage = WAL_OK;
    return 0;

short_read:
    if (rc < 0)
        return rc;
    *damage = WAL_TORN_RECORD;
    return 0;
}

/* Resynchronisation after damage inside a segment: the first 8-aligned offset >= from that
 * holds a whole valid record (length, CRC, zero padding) with a seq in [min_seq, min_seq +
 * 2^32). A CRC-32C over the header and payload makes a false match on garbage about 2^-32 per
 * offset, and the seq window cuts it further. Returns 1 and *off, *seq; 0 when there is none;
 * or -errno. */
static int
wal_resync(struct wal_rd *r, uint64_t size, uint64_t from, uint64_t min_seq, uint64_t *off,
           uint64_t *seq)
{
    for (uint64_t o = (from + 7) & ~(uint64_t)7; o + WAL_REC_HDR <= size; o += 8) {
        int rc = wal_rd_fill(r, o, WAL_REC_HDR);
        if (rc < 0)
            return rc;
        if (rc > 0)
            return 0;
        const uint8_t *p = r->buf + (o - r->base);
        uint32_t len = wal_ld16(p + 6);
        uint64_t q = wal_ld64(p + 8);
        if (len > KL_WAL_PAYLOAD_MAX || q < min_seq || q - min_seq >= (1ull << 32))
            continue;
        size_t rec = wal_rec_size(len);
        if (size - o < rec)
            continue;
        rc = wal_rd_fill(r, o, rec);
        if (rc < 0)
            return rc;
        if (rc > 0)
            return 0;
        p = r->buf + (o - r->base);
        if (kl_crc32c(kl_crc32c(0, p + 4, WAL_REC_HDR - 4), p + WAL_REC_HDR, len) != wal_ld32(p))
            continue;
        size_t i = WAL_REC_HDR + len;
        while (i < rec && p[i] == 0)
            i++;
        if (i < rec)
            continue;
        *off = o;
        *seq = q;
        return 1;
    }
    return 0;
}

/* The last seq of segment `first` (first - 1 when it holds no record), for kl_wal_open.
 * Returns 0; KL_EARG when the segment is damaged, because a writer must not append after a log
 * that its next repair would cut (and with it everything written after); or -errno. */
static int
wal_seg_last(int dfd, int worker, uint64_t first, uint64_t *last)
{
    char name[WAL_NAME_LEN + 1];
    wal_seg_name(name, first);
    struct wal_rd r = {.fd = openat(dfd, name, O_RDONLY | O_CLOEXEC)};
    struct stat sb;
    if (r.fd < 0 || fstat(r.fd, &sb) != 0) {
        int rc = -errno;
        if (r.fd >= 0)
            close(r.fd);
        return rc;
    }
    uint64_t size = (uint64_t)sb.st_size;
    r.cap = size < WAL_READ_MIN ? WAL_READ_MIN : size > WAL_READ_MAX ? WAL_READ_MAX : (size_t)size;
    r.buf = kl_alloc(r.cap);
    int rc = KL_ENOMEM;
    if (r.buf != NULL) {
        kl_wal_scan_stats_t s;
        memset(&s, 0, sizeof s);
        uint64_t expect = 0, at = 0, from = 0;
        enum wal_damage dmg = WAL_OK;
        /* Damage that valid records follow was covered by the checkpoint (the start-up scan
         * refuses any other): skip it, as that scan did. A damaged tail is still refused. */
        for (;;) {
            rc = wal_scan_segment(&r, size, worker, first, UINT64_MAX, NULL, NULL, &expect, &s,
                                  &dmg, &at, from);
            if (rc != 0 || dmg == WAL_OK || at < WAL_SEG_HDR)
                break;
            uint64_t o, q;
            int k = wal_resync(&r, size, at + 8, s.last_seq + 1, &o, &q);
            if (k < 0)
                rc = k;
            if (k <= 0)
                break;
            expect = q;
            from = o;
        }
        if (rc == 0 && dmg != WAL_OK) {
            kl_log(KL_LOG_ERROR, "wal", "open_on_damaged_log",
                   "worker=%d file=%s offset=%llu reason=\"%s\" action=\"scan with repair first\"",
                   worker, name, (unsigned long long)at, wal_damage_names[dmg]);
            rc = KL_EARG;
        }
        if (rc == 0)
            *last = s.last_seq;
    }
    kl_free(r.buf);
    close(r.fd);
    return rc;
}

/* Copies bytes [at, size) of segment `name` to a new file `keep` in dfd, durably. */
static int
wal_keep_copy(int dfd, const char *name, const char *keep, uint64_t at, uint64_t size)
{
    int in = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int out = openat(dfd, keep, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        int rc = -errno;
        close(in);
        return rc;
    }
    uint8_t buf[16384];
    int rc = 0;
    for (uint64_t off = at; rc == 0 && off < size;) {
        size_t want = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
        ssize_t k = pread(in, buf, want, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            rc = k < 0 ? -errno : 0;
            break;
        }
        rc = wal_write_all(out, buf, (size_t)k);
        off += (uint64_t)k;
    }
    if (rc == 0 && wal_sys_fsync(out, 0) != 0)
        rc = -errno;
    close(out);
    close(in);
    return rc;
}

/* Cuts the log at segment segs[i], offset at, keeping what it cuts aside (never deleting it):
 * segs[i+1..] are renamed, newest first, to "<name>.cut-<ms>.damaged"; the tail of segs[i]
 * from `at` is copied to a file of that form and then truncated (the whole segment is renamed
 * when its header is the damage); then the directory is fsynced. Names not of the segment form
 * are never read as log. Adds the bytes removed from the log to *cut; *kept names the first file
 * kept aside. Returns 0 or -errno. */
static int
wal_repair(int dfd, const uint64_t *segs, size_t n, size_t i, uint64_t at, uint64_t size,
           uint64_t *cut, char *kept, size_t kept_cap)
{
    char name[WAL_NAME_LEN + 1], keep[WAL_NAME_LEN + 48];
    long long ms = (long long)kl_now_ms();
    for (size_t j = n; j-- > i + 1;) {
        wal_seg_name(name, segs[j]);
        struct stat sb;
        if (fstatat(dfd, name, &sb, 0) != 0)
            return -errno;
        snprintf(keep, sizeof keep, "%s.cut-%lld.damaged", name, ms);
        if (renameat(dfd, name, dfd, keep) != 0)
            return -errno;
        *cut += (uint64_t)sb.st_size;
    }
    wal_seg_name(name, segs[i]);
    snprintf(keep, sizeof keep, "%s.cut-%lld.damaged", name, ms);
    if (at < WAL_SEG_HDR) {
        if (renameat(dfd, name, dfd, keep) != 0)
            return -errno;
    } else if (at < size) {
        int rc = wal_keep_copy(dfd, name, keep, at, size);
        if (rc != 0)
            return rc;
        int fd = openat(dfd, name, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        if (ftruncate(fd, (off_t)at) != 0 || wal_sys_fsync(fd, 0) != 0)
            rc = -errno;
        close(fd);
        if (rc != 0)
            return rc;
    } else {
        wal_seg_name(keep, segs[i + 1 < n ? i + 1 : i]);
        snprintf(keep + strlen(keep), sizeof keep - strlen(keep), ".cut-%lld.damaged", ms);
    }
    *cut += size - at;
    if (wal_sys_fsync(dfd, 0) != 0)
        return -errno;
    snprintf(kept, kept_cap, "%s", keep);
    return 0;
}

/* 1 when nothing valid follows damage at (segs[i], at): no record further in that segment (by
 * resynchronisation) and no later segment longer than a header. That is a torn tail (a crash
 * in the middle of a write, or a power cut before the fsync), which a start cuts by itself. */
static int
wal_is_tail(int dfd, struct wal_rd *r, const uint64_t *segs, size_t n, size_t i, uint64_t at,
            uint64_t size, uint64_t min_seq)
{
    for (size_t j = i + 1; j < n; j++) {
        char name[WAL_NAME_LEN + 1];
        struct stat sb;
        wal_seg_name(name, segs[j]);
        if (fstatat(dfd, name, &sb, 0) != 0 || (uint64_t)sb.st_size > WAL_SEG_HDR)
            return 0;
    }
    if (at < WAL_SEG_HDR)
        return 1;
    uint64_t o, q;
    return wal_resync(r, size, at + 8, min_seq, &o, &q) == 0;
}

int
kl_wal_scan(const char *dir, int worker, uint64_t after, int repair, kl_wal_record_fn fn,
            void *ctx, kl_wal_scan_stats_t *st)
{
    kl_wal_scan_stats_t s;
    memset(&s, 0, sizeof s);
    if (dir == NULL || worker < 0)
        return KL_EARG;
    char path[PATH_MAX];
    int rc = wal_worker_dir(path, sizeof path, dir, worker);
    if (rc != 0)
        return rc;
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        rc = errno == ENOENT ? 0 : -errno;
        if (rc == 0 && st != NULL)
            *st = s;
        return rc;
    }
    uint64_t *segs = NULL;
    size_t n = 0;
    struct wal_rd r = {.fd = -1};
    rc = wal_seg_list(dfd, &segs, &n);
    if (rc != 0)
        goto out;
    r.cap = WAL_READ_MIN;
    for (size_t i = 0; i < n && r.cap < WAL_READ_MAX; i++) {
        char name[WAL_NAME_LEN + 1];
        struct stat sb;
        wal_seg_name(name, segs[i]);
        if (fstatat(dfd, name, &sb, 0) == 0 && (uint64_t)sb.st_size > r.cap)
            r.cap = (uint64_t)sb.st_size < WAL_READ_MAX ? (size_t)sb.st_size : WAL_READ_MAX;
    }
    r.buf = kl_alloc(r.cap);
    if (r.buf == NULL) {
        rc = KL_ENOMEM;
        goto out;
    }
    /* H5: the log must reach back to the checkpoint. A first segment past after + 1 means the
     * records between are gone (a checkpoint lost to a power cut after the segments it covered
     * were deleted, or a segment deleted by hand). */
    if (repair != KL_WAL_REPAIR_NONE && n > 0 && segs[0] > after + 1) {
        s.gap = 1;
        s.gap_from = after + 1;
        s.gap_to = segs[0] - 1;
        if (repair == KL_WAL_REPAIR_TAIL) {
            s.refused = 1;
            goto out;
        }
        kl_log(KL_LOG_ERROR, "wal", "gap_accepted",
               "worker=%d dir=%s lost_from=%llu lost_to=%llu action=\"replaying from the "
               "first record present (wal-repair = cut)\"",
               worker, path, (unsigned long long)s.gap_from, (unsigned long long)s.gap_to);
    }
    uint64_t expect = 0;
    for (size_t i = 0; i < n; i++) {
        char name[WAL_NAME_LEN + 1];
        wal_seg_name(name, segs[i]);
        r.fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
        struct stat sb;
        if (r.fd < 0 || fstat(r.fd, &sb) != 0) {
            rc = -errno;
            goto out;
        }
        r.base = 0;
        r.have = 0;
        s.segments++;
        uint64_t size = (uint64_t)sb.st_size, at = 0, from = 0;
        enum wal_damage dmg = WAL_OK;
        for (;;) {
            rc = wal_scan_segment(&r, size, worker, segs[i], after, fn, ctx, &expect, &s, &dmg,
                                  &at, from);
            if (rc != 0 || dmg == WAL_OK)
                break;
            /* The seq of the damaged record (for a header, of the segment's first). */
            uint64_t dseq = at >= WAL_SEG_HDR ? s.last_seq + 1 : expect ? expect : segs[i];
            uint64_t next_first = i + 1 < n ? segs[i + 1] : 0;
            /* H4: damage the checkpoint covers is skipped, never cut: the records after it are
             * still needed. Continue at the next valid record of this segment, or at the next
             * segment, as long as no record above `after` is lost on the way. */
            if (dmg == WAL_SEQ_GAP && at < WAL_SEG_HDR && segs[i] - 1 <= after) {
                /* a valid header past a hole in the log, the hole below the checkpoint */
                s.skipped++;
                expect = segs[i];
                continue;
            }
            if (dseq <= after) {
                uint64_t o = 0, q = 0;
                int k = at >= WAL_SEG_HDR ? wal_resync(&r, size, at + 8, dseq + 1, &o, &q) : 0;
                if (k < 0) {
                    rc = k;
                    break;
                }
                if (k == 1 && q <= after + 1) {
                    s.skipped++;
                    s.skipped_bytes += o - at;
                    expect = q;
                    from = o;
                    continue;
                }
                if (k == 0 && next_first != 0 && next_first <= after + 1) {
                    s.skipped++;
                    s.skipped_bytes += size - at;
                    expect = next_first;
                    dmg = WAL_OK;
                    break;
                }
            }
            break;
        }
        close(r.fd);
        r.fd = -1;
        if (rc != 0)
            goto out;
        if (s.skipped && !s.skip_logged) {
            s.skip_logged = 1;
            kl_log(KL_LOG_WARN, "wal", "covered_damage_skipped",
                   "worker=%d dir=%s checkpoint=%llu skipped=%llu skipped_bytes=%llu "
                   "action=\"ignored: the checkpoint holds these records; nothing cut\"",
                   worker, path, (unsigned long long)after, (unsigned long long)s.skipped,
                   (unsigned long long)s.skipped_bytes);
        }
        if (dmg == WAL_OK)
            continue;
        s.damaged = 1;
        s.damage_offset = at;
        /* The full path when it fits, else the segment's name alone (which still locates it). */
        if (snprintf(s.damage_file, sizeof s.damage_file, "%s/%s", path, name) >=
            (int)sizeof s.damage_file)
            snprintf(s.damage_file, sizeof s.damage_file, "%s", name);
        uint64_t dseq = at >= WAL_SEG_HDR ? s.last_seq + 1 : expect ? expect : segs[i];
        r.fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
        if (r.fd < 0) {
            rc = -errno;
            goto out;
        }
        r.base = 0;
        r.have = 0;
        int tail = wal_is_tail(dfd, &r, segs, n, i, at, size, dseq + 1);
        close(r.fd);
        r.fd = -1;
        s.mid_damage = !tail;
        if (!repair)
            break;
        if (!tail && repair == KL_WAL_REPAIR_TAIL) {
            s.refused = 1; /* the caller says so and stops: cutting would lose valid records */
            break;
        }
        rc = wal_repair(dfd, segs, n, i, at, size, &s.cut_bytes, s.cut_file, sizeof s.cut_file);
        if (rc != 0) {
            kl_log(KL_LOG_ERROR, "wal", "repair_failed", "file=%s offset=%llu error=\"%s\"",
                   s.damage_file, (unsigned long long)at, kl_strerror(rc));
            goto out;
        }
        kl_log(tail ? KL_LOG_WARN : KL_LOG_ERROR, "wal", tail ? "tail_cut" : "log_cut",
               "worker=%d file=%s offset=%llu reason=\"%s\" cut_bytes=%llu "
               "segments_removed=%zu last_seq=%llu kept_in=%s/%s",
               worker, s.damage_file, (unsigned long long)at, wal_damage_names[dmg],
               (unsigned long long)s.cut_bytes, n - i - 1 + (at < WAL_SEG_HDR ? 1 : 0),
               (unsigned long long)s.last_seq, path, s.cut_file);
        break;
    }
out:
    if (r.fd >= 0)
        close(r.fd);
    kl_free(r.buf);
    kl_free(segs);
    close(dfd);
    if (st != NULL)
        *st = s;
    return rc;
}
