/* Dump file reader. A plain file is read, and a zip member inflated, CHUNK bytes at a time into
 * one buffer; the partial line at the end of each read is moved to the front before the next
 * one. Plain files are read, not mapped: a file truncated under a mapping faults with SIGBUS
 * on the next page touched, which would kill the service mid-replay, while read() just ends
 * early, and the reader then reports the truncation (KL_ETRUNC). The copy costs little next to
 * the parse (docs/BENCHMARKS.md). */
#include "source/dump.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "core/alloc.h"
#include "kl/err.h"

#ifndef KL_DUMP_CHUNK /* tests shrink it to cross chunk boundaries */
#define KL_DUMP_CHUNK (8u << 20)
#endif
#define CHUNK KL_DUMP_CHUNK

struct kl_dump {
    /* plain */
    int fd;       /* -1: a zip */
    uint64_t size; /* the plain file's size at open: fewer bytes at EOF mean it was truncated */
    /* zip */
    zip_t *zip;
    zip_file_t *zf;
    char *buf;
    size_t keep; /* bytes of an unfinished line at buf[0..keep) */
    size_t prev; /* bytes handed out last time, to move the tail */
    int eof;
    uint64_t bytes;
};

static int
has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcasecmp(s + n - m, suf) == 0;
}

static int
open_zip(kl_dump_t *d, const char *path)
{
    int zerr;
    d->zip = zip_open(path, ZIP_RDONLY, &zerr);
    if (!d->zip)
        return zerr == ZIP_ER_NOENT || zerr == ZIP_ER_OPEN ? -ENOENT : KL_EZIP;
    zip_int64_t n = zip_get_num_entries(d->zip, 0), pick = -1;
    for (zip_int64_t i = 0; i < n && pick < 0; i++) {
        const char *name = zip_get_name(d->zip, (zip_uint64_t)i, 0);
        if (name && has_suffix(name, ".csv"))
            pick = i;
    }
    if (pick < 0 && n > 0)
        pick = 0;
    if (pick < 0)
        return KL_EZIP;
    d->zf = zip_fopen_index(d->zip, (zip_uint64_t)pick, 0);
    if (!d->zf)
        return KL_EZIP;
    return 0;
}

static int
open_plain(kl_dump_t *d, const char *path)
{
    d->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (d->fd < 0)
        return -errno;
    struct stat st;
    if (fstat(d->fd, &st) != 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    d->size = (uint64_t)st.st_size;
    (void)posix_fadvise(d->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return 0;
}

/* Up to cap bytes of the file into buf: >0 bytes, 0 at EOF, or -errno / KL_EZIP. */
static ssize_t
fill(kl_dump_t *d, char *buf, size_t cap)
{
    if (d->zf) {
        zip_int64_t r = zip_fread(d->zf, buf, cap);
        return r < 0 ? KL_EZIP : (ssize_t)r;
    }
    for (;;) {
        ssize_t r = read(d->fd, buf, cap);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return -errno;
    }
}

int
kl_dump_open(const char *path, kl_dump_t **out)
{
    kl_dump_t *d = kl_calloc(1, sizeof *d);
    if (!d)
        return KL_ENOMEM;
    d->fd = -1;
    int rc = has_suffix(path, ".zip") ? open_zip(d, path) : open_plain(d, path);
    if (rc == 0 && !(d->buf = kl_alloc(CHUNK)))
        rc = KL_ENOMEM;
    if (rc != 0) {
        kl_dump_close(d);
        return rc;
    }
    *out = d;
    return 0;
}

int
kl_dump_next(kl_dump_t *d, const char **data, size_t *len)
{
    /* Move the unfinished line left over from the previous chunk to the front. */
    if (d->prev) {
        memmove(d->buf, d->buf + d->prev, d->keep);
        d->prev = 0;
    }
    while (!d->eof && d->keep < CHUNK) {
        ssize_t r = fill(d, d->buf + d->keep, CHUNK - d->keep);
        if (r < 0)
            return (int)r;
        if (r == 0) {
            d->eof = 1;
            break;
        }
        d->keep += (size_t)r;
    }
    /* A plain file that ends before the size it had at open was truncated while being read:
     * its last rows are gone, so the input is refused rather than taken as complete. */
    if (d->eof && d->fd >= 0 && d->bytes + d->keep < d->size)
        return KL_ETRUNC;
    if (d->keep == 0)
        return 0;
    size_t cut = d->keep;
    if (!d->eof) {
        const char *nl = memrchr(d->buf, '\n', d->keep);
        if (!nl)
            return KL_ELINE;
        cut = (size_t)(nl - d->buf) + 1;
    }
    *data = d->buf;
    *len = cut;
    d->prev = cut;
    d->keep -= cut;
    d->bytes += cut;
    return 1;
}

uint64_t
kl_dump_bytes(const kl_dump_t *d)
{
    return d->bytes;
}

void
kl_dump_close(kl_dump_t *d)
{
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd);
    if (d->zf)
        zip_fclose(d->zf);
    if (d->zip)
        zip_discard(d->zip);
    kl_free(d->buf);
    kl_free(d);
}

int
kl_dump_head(const char *path, char *buf, size_t cap)
{
    ssize_t n;
    if (has_suffix(path, ".zip")) {
        kl_dump_t d;
        memset(&d, 0, sizeof d);
        int rc = open_zip(&d, path);
        n = rc != 0 ? rc : (ssize_t)zip_fread(d.zf, buf, cap - 1);
        if (rc == 0 && n < 0)
            n = KL_EZIP;
        kl_free(d.buf);
        if (d.zf)
            zip_fclose(d.zf);
        if (d.zip)
            zip_discard(d.zip);
    } else {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        n = read(fd, buf, cap - 1);
        if (n < 0)
            n = -errno;
        close(fd);
    }
    if (n >= 0)
        buf[n] = '\0';
    return (int)n;
}
