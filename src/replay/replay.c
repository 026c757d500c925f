/* `klined replay`: aggregates trade dumps into kline CSV files, one symbol series at a time, on
 * the calling thread. Rows flow dump chunk -> row scanner -> kl_series_apply -> per-interval
 * writer; nothing is allocated per row. A writer holds back the last final kline of its
 * interval, because a late trade can still correct it; it writes that row once the next kline
 * is final, and the live kline at the end of the series. */
#include "replay/replay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/interval.h"
#include "engine/kline.h"
#include "kl/err.h"
#include "source/inputs.h"
#include "replay/kline_csv.h"
#include "source/csv_scan.h"
#include "source/dumpstream.h"

#define WBUF (1u << 20)
#define MAX_SHOWN_REJECTS 50

typedef struct writer {
    int fd;
    int iv;
    size_t len;
    uint64_t rows;
    int has_held;
    kl_kline_t held;
    char *buf;
} writer_t;

typedef struct opts {
    const char *out_dir;
    const char *symbol;
    kl_sched_cfg_t cfg;
    int strict, quiet, progress;
} opts_t;

typedef struct run {
    const opts_t *o;
    writer_t w[KL_IV_COUNT]; /* by position in the sched */
    int io_err;
    const char *symbol;
    /* counters for the whole invocation */
    uint64_t rows, rejected, bytes, shown;
    uint64_t dup, too_late, late, stale;
    double t0, last_progress;
} run_t;

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- writers ----------------------------------------------------------------------------- */

static int
writer_flush(run_t *r, writer_t *w)
{
    size_t off = 0;
    while (off < w->len) {
        ssize_t n = write(w->fd, w->buf + off, w->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (!r->io_err)
                fprintf(stderr, "replay: %s-%s.csv: write failed: %s; stopping\n", r->symbol,
                        kl_iv_name(w->iv), strerror(n < 0 ? errno : ENOSPC));
            r->io_err = 1;
            w->len = 0;
            return -1;
        }
        off += (size_t)n;
    }
    w->len = 0;
    return 0;
}

static void
writer_put(run_t *r, writer_t *w, const kl_kline_t *k)
{
    if (w->len + KL_KLINE_CSV_MAX > WBUF)
        writer_flush(r, w);
    w->len += kl_kline_csv_format(k, w->buf + w->len);
    w->rows++;
}

static void
on_emit(void *ctx, const kl_series_t *s, int iv, const kl_kline_t *k, unsigned flags)
{
    run_t *r = ctx;
    writer_t *w = &r->w[s->sched->pos[iv]];
    if (!(flags & KL_EMIT_CORRECTION) && w->has_held)
        writer_put(r, w, &w->held);
    w->held = *k;
    w->has_held = 1;
}

static int
writers_open(run_t *r, const kl_sched_t *sch, const char *symbol)
{
    char path[4096];
    for (int i = 0; i < sch->n; i++) {
        writer_t *w = &r->w[i];
        memset(w, 0, sizeof *w);
        w->iv = sch->spec[i].iv;
        snprintf(path, sizeof path, "%s/%s-%s.csv", r->o->out_dir, symbol, kl_iv_name(w->iv));
        w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        w->buf = kl_alloc(WBUF);
        if (w->fd < 0 || !w->buf) {
            fprintf(stderr, "replay: %s: %s\n", path, w->fd < 0 ? strerror(errno) : "out of memory");
            return -1;
        }
    }
    return 0;
}

static int
writers_close(run_t *r, const kl_sched_t *sch, const kl_series_t *s)
{
    int rc = 0;
    for (int i = 0; i < sch->n; i++) {
        writer_t *w = &r->w[i];
        if (w->fd < 0 || !w->buf)
            continue;
        if (w->has_held)
            writer_put(r, w, &w->held);
        kl_kline_t live;
        if (kl_series_get(s, w->iv, &live) == 0)
            writer_put(r, w, &live);
        if (writer_flush(r, w) != 0 || close(w->fd) != 0)
            rc = -1;
        kl_free(w->buf);
        w->buf = NULL;
    }
    return rc;
}

/* ---- rows -------------------------------------------------------------------------------- */

static void
reject(run_t *r, const char *path, uint64_t line, int err, const char *row, size_t n)
{
    if (r->o->strict || r->shown < MAX_SHOWN_REJECTS) {
        int show = n > 120 ? 120 : (int)n;
        fprintf(stderr, "%s%s:%llu: %s: rejected row \"%.*s%s\"\n", r->o->progress ? "\r" : "",
                path, (unsigned long long)line, kl_strerror(err), show, row, n > 120 ? "…" : "");
    } else if (r->shown == MAX_SHOWN_REJECTS) {
        fprintf(stderr, "replay: more rejected rows: counted, not shown\n");
    }
    r->shown++;
}

static void
progress(run_t *r, uint64_t file_bytes)
{
    double t = now_s();
    if (t - r->last_progress < 0.5)
        return;
    r->last_progress = t;
    double dt = t - r->t0;
    fprintf(stderr, "\r%-12s %8.1f MB/s %7.2f M trades/s %12llu rows", r->symbol,
            (double)(r->bytes + file_bytes) / dt / 1e6, (double)r->rows / dt / 1e6,
            (unsigned long long)r->rows);
}

static void
on_reject(void *ctx, const char *path, uint64_t line, int err, const char *row, size_t n)
{
    run_t *r = ctx;
    if (line == 0 && n == 0) { /* the file itself failed */
        fprintf(stderr, "replay: %s: %s\n", path, kl_strerror(err));
        r->io_err = 1;
        return;
    }
    reject(r, path, line, err, row, n);
}

/* Feeds the series' files into s. Returns 0, or -1 to stop (strict reject or I/O error). */
static int
run_stream(run_t *r, const kl_input_t *files, size_t n, kl_series_t *s)
{
    kl_dumpstream_t ds;
    kl_dumpstream_init(&ds, files, n, on_reject, r);
    kl_trade_t t;
    int rc;
    uint64_t rows0 = r->rows;
    while ((rc = kl_dumpstream_next(&ds, &t, r->o->strict)) > 0) {
        switch (kl_series_apply(s, &t, on_emit, r)) {
        case KL_DUPLICATE: r->dup++; break;
        case KL_APPLIED_LATE: r->late++; break;
        case KL_STALE_ID: r->stale++; break;
        case KL_TOO_LATE:
            r->too_late++;
            reject(r, kl_dumpstream_path(&ds), ds.line, KL_ETIME, ds.row, ds.row_len);
            break;
        default: break;
        }
        if (r->o->progress && (ds.rows & 0xfffff) == 0) {
            r->rows = rows0 + ds.rows;
            progress(r, kl_dumpstream_bytes(&ds));
        }
        if (r->io_err)
            break;
    }
    r->rows = rows0 + ds.rows;
    r->rejected += ds.rejected;
    r->bytes += kl_dumpstream_bytes(&ds);
    kl_dumpstream_close(&ds);
    return rc < 0 || r->io_err ? -1 : 0;
}

/* One symbol: files [first, last) of the sorted inputs. */
static int
run_series(run_t *r, const kl_inputs_t *in, size_t first, size_t last)
{
    const kl_input_t *v = in->v;
    kl_sched_cfg_t cfg = r->o->cfg;
    cfg.unit_per_ms = kl_dumpstream_unit(&v[first], last - first);
    size_t ref = first; /* the first file with rows names the series' layout */
    while (ref + 1 < last && v[ref].layout == KL_CSV_UNKNOWN)
        ref++;
    for (size_t i = first; i < last; i++) {
        if (v[i].layout != v[ref].layout && v[i].layout != KL_CSV_UNKNOWN) {
            fprintf(stderr, "replay: %s: %s layout, but %s is %s: one series needs one layout\n",
                    v[i].path, kl_csv_layout_name(v[i].layout), v[ref].path,
                    kl_csv_layout_name(v[ref].layout));
            return -1;
        }
    }
    kl_sched_t sched;
    int rc = kl_sched_init(&sched, &cfg);
    if (rc != 0) {
        fprintf(stderr, "replay: %s\n", kl_strerror(rc));
        return -1;
    }
    kl_series_t *s = kl_alloc(sizeof *s);
    if (!s)
        return -1;
    kl_series_init(s, &sched, NULL);
    r->symbol = v[first].symbol;
    uint64_t rows0 = r->rows, rej0 = r->rejected, dup0 = r->dup, late0 = r->late,
             tl0 = r->too_late, st0 = r->stale;
    rc = writers_open(r, &sched, r->symbol);
    if (rc == 0)
        rc = run_stream(r, &v[first], last - first, s);
    if (writers_close(r, &sched, s) != 0)
        rc = -1;
    if (r->o->progress)
        fputc('\n', stderr);
    fprintf(stderr,
            "replay: %s: %zu file(s), %s, %s; %llu rows read, %llu rejected, %llu duplicates, "
            "%llu late (amended), %llu too late, %llu stale ids\n",
            r->symbol, last - first, kl_csv_layout_name(v[ref].layout),
            cfg.unit_per_ms == 1000 ? "us" : "ms", (unsigned long long)(r->rows - rows0),
            (unsigned long long)(r->rejected - rej0), (unsigned long long)(r->dup - dup0),
            (unsigned long long)(r->late - late0), (unsigned long long)(r->too_late - tl0),
            (unsigned long long)(r->stale - st0));
    fprintf(stderr, "replay: %s: klines written:", r->symbol);
    for (int i = 0; i < sched.n; i++)
        fprintf(stderr, " %s=%llu", kl_iv_name(r->w[i].iv), (unsigned long long)r->w[i].rows);
    fputc('\n', stderr);
    kl_free(s);
    return rc;
}

/* ---- command line ------------------------------------------------------------------------ */

static void
usage(void)
{
    fprintf(stderr,
            "usage: klined replay [--intervals LIST|all] [--tz +HH:MM] [--symbol SYM]\n"
            "                     [--origin IV=MS]... [--strict] [--quiet] --out DIR FILE-OR-DIR...\n");
}

static int
mkdir_p(const char *dir)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, dir, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int
parse_origin(const char *arg, kl_sched_cfg_t *cfg)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        return -1;
    int iv = kl_iv_parse(arg, (size_t)(eq - arg));
    char *end;
    errno = 0;
    long long ms = strtoll(eq + 1, &end, 10);
    if (iv < 0 || iv == KL_IV_1MO || errno != 0 || *end != '\0' || end == eq + 1)
        return -1;
    cfg->origin_ms[iv] = ms;
    return 0;
}

int
kl_replay_main(int argc, char **argv)
{
    opts_t o;
    memset(&o, 0, sizeof o);
    kl_sched_cfg_default(&o.cfg);
    kl_inputs_t in = {0};
    const char **files = kl_calloc((size_t)argc, sizeof *files);
    int nfiles = 0, rc = 2;
    if (!files)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--out") == 0 && val) {
            o.out_dir = val;
            i++;
        } else if (strcmp(a, "--intervals") == 0 && val) {
            if (kl_iv_parse_list(val, &o.cfg.iv_mask) != 0) {
                fprintf(stderr, "replay: --intervals '%s': %s; allowed: all, or a comma list of "
                                "1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M\n",
                        val, kl_strerror(KL_EINTERVAL));
                goto out;
            }
            i++;
        } else if (strcmp(a, "--tz") == 0 && val) {
            if (kl_tz_parse(val, &o.cfg.tz_minutes) != 0) {
                fprintf(stderr, "replay: --tz '%s': %s\n", val, kl_strerror(KL_ETZ));
                goto out;
            }
            i++;
        } else if (strcmp(a, "--symbol") == 0 && val) {
            o.symbol = val;
            i++;
        } else if (strcmp(a, "--origin") == 0 && val) {
            if (parse_origin(val, &o.cfg) != 0) {
                fprintf(stderr, "replay: --origin '%s': expected INTERVAL=MS (a fixed-length "
                                "interval, ms from the epoch, local time)\n", val);
                goto out;
            }
            i++;
        } else if (strcmp(a, "--strict") == 0) {
            o.strict = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            o.quiet = 1;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "replay: unknown or incomplete option '%s'\n", a);
            usage();
            goto out;
        } else {
            files[nfiles++] = a;
        }
    }
    if (!o.out_dir || nfiles == 0) {
        usage();
        goto out;
    }
    o.progress = !o.quiet && isatty(STDERR_FILENO);
    rc = 1;
    char err[4200];
    for (int i = 0; i < nfiles; i++) {
        if (kl_inputs_add(&in, files[i], o.symbol, err, sizeof err) != 0) {
            fprintf(stderr, "replay: %s\n", err);
            goto out;
        }
    }
    if (kl_inputs_prepare(&in, err, sizeof err) != 0) {
        fprintf(stderr, "replay: %s\n", err);
        goto out;
    }
    if (mkdir_p(o.out_dir) != 0) {
        fprintf(stderr, "replay: --out %s: %s\n", o.out_dir, strerror(errno));
        goto out;
    }
    run_t *r = kl_calloc(1, sizeof *r);
    if (!r)
        goto out;
    r->o = &o;
    r->t0 = now_s();
    int failed = 0;
    for (size_t first = 0; first < in.n && !failed;) {
        size_t last = first + 1;
        while (last < in.n && strcmp(in.v[last].symbol, in.v[first].symbol) == 0)
            last++;
        failed = run_series(r, &in, first, last) != 0;
        first = last;
    }
    double dt = now_s() - r->t0;
    fprintf(stderr, "replay: %llu rows (%llu rejected) in %.3f s: %.2f M rows/s, %.1f MB/s\n",
            (unsigned long long)r->rows, (unsigned long long)r->rejected, dt,
            (double)r->rows / dt / 1e6, (double)r->bytes / dt / 1e6);
    rc = failed || r->io_err ? 1 : 0;
    kl_free(r);
out:
    kl_inputs_free(&in);
    kl_free(files);
    return rc;
}
