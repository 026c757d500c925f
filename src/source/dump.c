/* Dump file reader. A plain file is mapped once (MADV_SEQUENTIAL) and returned as a single
 * chunk; a zip member is inflated CHUNK bytes at a time into one buffer, and the partial line
 * at the end of each read is moved to the front before the next one. */
#include "source/dump.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
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
    const char *map;
    size_t map_len;
    int map_done;
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
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    d->map_len = (size_t)st.st_size;
    if (d->map_len > 0) {
        void *m = mmap(NULL, d->map_len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = -errno;
            close(fd);
            return e;
        }
        madvise(m, d->map_len, MADV_SEQUENTIAL);
        d->map = m;
    }
    close(fd);
    return 0;
}

int
kl_dump_open(const char *path, kl_dump_t **out)
{
    kl_dump_t *d = kl_calloc(1, sizeof *d);
    if (!d)
        return KL_ENOMEM;
    int rc = has_suffix(path, ".zip") ? open_zip(d, path) : open_plain(d, path);
    if (rc == 0 && d->zf && !(d->buf = kl_alloc(CHUNK)))
        rc = KL_ENOMEM;
    if (rc != 0) {
        kl_dump_close(d);
        return rc;
    }
    *out = d;
    return 0;
}

static int
next_zip(kl_dump_t *d, const char **data, size_t *len)
{
    /* Move the unfinished line left over from the previous chunk to the front. */
    if (d->prev) {
        memmove(d->buf, d->buf + d->prev, d->keep);
        d->prev = 0;
    }
    while (!d->eof && d->keep < CHUNK) {
        zip_int64_t r = zip_fread(d->zf, d->buf + d->keep, CHUNK - d->keep);
        if (r < 0)
            return KL_EZIP;
        if (r == 0) {
            d->eof = 1;
            break;
        }
        d->keep += (size_t)r;
    }
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

int
kl_dump_next(kl_dump_t *d, const char **data, size_t *len)
{
    if (d->zf)
        return next_zip(d, data, len);
    if (d->map_done || d->map_len == 0)
        return 0;
    d->map_done = 1;
    *data = d->map;
    *len = d->map_len;
    d->bytes = d->map_len;
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
    if (d->map)
        munmap((void *)d->map, d->map_len);
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
