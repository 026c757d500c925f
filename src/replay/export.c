/* Export: store -> DIR/<SYMBOL>-<interval>.csv, rows in open_time order, formatted by the same
 * kl_kline_csv_format() as replay. A (symbol, interval) without rows gets no file, as replay
 * never writes an empty one. The store may hold a series with its long gaps' hole klines
 * implied rather than stored (`serve` does not write them one by one); export writes them back
 * between the stored klines (engine/kfill.h), so its files equal replay's, which writes every
 * hole. It streams: one kline of memory per series, cost O(rows written). The series' grid
 * (origin, and the time zone of 1M) is read off its first stored kline, since the store does
 * not record the configuration that made it. */
#include "replay/export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/interval.h"
#include "engine/kfill.h"
#include "kl/err.h"
#include "replay/kline_csv.h"
#include "store/store.h"

#define WBUF (1u << 20)

typedef struct exp {
    const char *out_dir;
    uint32_t iv_mask;
    char **symbols; /* filter, NULL = all */
    size_t n_symbols;
    kl_store_t *st;
    char *buf;
    size_t len;
    int fd;
    uint64_t rows, files;
    int failed;
    /* current file, opened on its first row */
    const char *symbol;
    int iv;
    /* the series so far, once have_prev: its grid and its last stored kline */
    int have_prev;
    kl_ivspec_t spec;
    uint16_t unit;
    kl_kline_t prev;
} exp_t;

static int
flush_buf(exp_t *e)
{
    size_t off = 0;
    while (off < e->len) {
        ssize_t n = write(e->fd, e->buf + off, e->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "export: %s/%s-%s.csv: write failed: %s\n", e->out_dir, e->symbol,
                    kl_iv_name(e->iv), strerror(n < 0 ? errno : ENOSPC));
            e->failed = 1;
            return -1;
        }
        off += (size_t)n;
    }
    e->len = 0;
    return 0;
}

static int
put_kline(exp_t *e, const kl_kline_t *k)
{
    if (e->len + KL_KLINE_CSV_MAX > WBUF && flush_buf(e) != 0)
        return -1;
    e->len += kl_kline_csv_format(k, e->buf + e->len);
    e->rows++;
    return 0;
}

static int
on_row(void *ctx, const kl_store_row_t *row)
{
    exp_t *e = ctx;
    if (!e->have_prev || row->unit_per_ms != e->unit) {
        /* A series' first kline, or one whose unit changed (nothing is filled across that). */
        if (kl_fill_spec_of(e->iv, row->unit_per_ms, &row->k, &e->spec) != 0) {
            fprintf(stderr,
                    "export: %s %s: the stored kline at open_time %lld (close_time %lld, unit "
                    "%u) is not on that interval's grid; cannot fill its implied holes\n",
                    e->symbol, kl_iv_name(e->iv), (long long)row->k.open_time,
                    (long long)row->k.close_time, (unsigned)row->unit_per_ms);
            e->failed = 1;
            return -1;
        }
        e->unit = row->unit_per_ms;
        e->have_prev = 0;
    }
    if (e->fd < 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s-%s.csv", e->out_dir, e->symbol, kl_iv_name(e->iv));
        e->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (e->fd < 0) {
            fprintf(stderr, "export: %s: %s\n", path, strerror(errno));
            return -1;
        }
        e->files++;
    }
    if (e->have_prev) {
        kl_fill_gap_t g;
        kl_kline_t hole;
        kl_fill_gap_init(&g, &e->spec, &e->prev, row->k.open_time);
        while (kl_fill_gap_next(&g, &hole))
            if (put_kline(e, &hole) != 0)
                return -1;
    }
    if (put_kline(e, &row->k) != 0)
        return -1;
    e->prev = row->k;
    e->have_prev = 1;
    return 0;
}

static int
on_symbol(void *ctx, const char *symbol)
{
    exp_t *e = ctx;
    if (e->symbols) {
        int keep = 0;
        for (size_t i = 0; i < e->n_symbols && !keep; i++)
            keep = strcmp(e->symbols[i], symbol) == 0;
        if (!keep)
            return 0;
    }
    for (int iv = 0; iv < KL_IV_COUNT; iv++) {
        if (!(e->iv_mask & (1u << iv)))
            continue;
        e->symbol = symbol;
        e->iv = iv;
        e->fd = -1;
        e->len = 0;
        e->have_prev = 0;
        int rc = kl_store_scan(e->st, symbol, iv, on_row, e);
        if (e->fd >= 0) {
            if (flush_buf(e) != 0)
                rc = -1;
            close(e->fd);
        }
        if (rc != 0) {
            if (rc < -1)
                fprintf(stderr, "export: %s %s: store read failed: %s\n", symbol,
                        kl_iv_name(iv), kl_strerror(rc));
            return -1;
        }
    }
    return 0;
}

/* Splits a comma list into an allocated array of strings (one block). */
static char **
split_list(const char *s, size_t *n)
{
    size_t count = 1, len = strlen(s);
    for (const char *p = s; *p; p++)
        count += *p == ',';
    char **v = kl_alloc(count * sizeof *v + len + 1);
    if (!v)
        return NULL;
    char *copy = (char *)(v + count);
    memcpy(copy, s, len + 1);
    size_t k = 0;
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ","))
        v[k++] = tok;
    *n = k;
    return v;
}

static void
usage(void)
{
    fprintf(stderr, "usage: klined export --store URL --out DIR [--symbols LIST] "
                    "[--intervals LIST|all]\n");
}

int
kl_export_main(int argc, char **argv)
{
    exp_t e;
    memset(&e, 0, sizeof e);
    e.iv_mask = KL_IV_ALL;
    const char *url = NULL;
    int rc = 2;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--store") == 0 && val) {
            url = val;
        } else if (strcmp(a, "--out") == 0 && val) {
            e.out_dir = val;
        } else if (strcmp(a, "--symbols") == 0 && val) {
            kl_free(e.symbols);
            if (!(e.symbols = split_list(val, &e.n_symbols)))
                goto out;
        } else if (strcmp(a, "--intervals") == 0 && val) {
            if (kl_iv_parse_list(val, &e.iv_mask) != 0) {
                fprintf(stderr, "export: --intervals '%s': %s\n", val, kl_strerror(KL_EINTERVAL));
                goto out;
            }
        } else {
            fprintf(stderr, "export: unknown or incomplete option '%s'\n", a);
            usage();
            goto out;
        }
    }
    if (!url || !e.out_dir) {
        usage();
        goto out;
    }
    rc = 1;
    if (mkdir(e.out_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "export: --out %s: %s\n", e.out_dir, strerror(errno));
        goto out;
    }
    char err[512] = "";
    if (kl_store_open(url, &e.st, err, sizeof err) != 0) {
        fprintf(stderr, "export: %s\n", err);
        goto out;
    }
    if (!(e.buf = kl_alloc(WBUF)))
        goto out;
    int s = kl_store_symbols(e.st, on_symbol, &e);
    if (s != 0 || e.failed) {
        if (s < -1)
            fprintf(stderr, "export: listing symbols failed: %s\n", kl_strerror(s));
        goto out;
    }
    fprintf(stderr, "export: %llu rows in %llu files\n", (unsigned long long)e.rows,
            (unsigned long long)e.files);
    rc = 0;
out:
    if (e.st)
        kl_store_close(e.st);
    kl_free(e.buf);
    kl_free(e.symbols);
    return rc;
}
