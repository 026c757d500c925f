/* Dump stream: the row loop shared by replay and the replay source. Rows are cut at '\n' in the
 * dump's line-aligned chunks and parsed in place; nothing is allocated per row. */
#include "source/dumpstream.h"

#include <string.h>

#include "engine/kline.h"
#include "kl/err.h"
#include "source/csv_scan.h"

int64_t
kl_dumpstream_unit(const kl_input_t *files, size_t n)
{
    int64_t u = 1;
    for (size_t i = 0; i < n; i++)
        if (files[i].unit_per_ms > u)
            u = files[i].unit_per_ms;
    return u;
}

void
kl_dumpstream_init(kl_dumpstream_t *ds, const kl_input_t *files, size_t n, kl_reject_fn reject,
                   void *ctx)
{
    memset(ds, 0, sizeof *ds);
    ds->files = files;
    ds->n_files = n;
    ds->unit_per_ms = kl_dumpstream_unit(files, n);
    ds->reject = reject;
    ds->ctx = ctx;
}

const char *
kl_dumpstream_path(const kl_dumpstream_t *ds)
{
    return ds->cur < ds->n_files ? ds->files[ds->cur].path : "";
}

uint64_t
kl_dumpstream_bytes(const kl_dumpstream_t *ds)
{
    return ds->bytes + (ds->d ? kl_dump_bytes(ds->d) : 0);
}

static void
close_file(kl_dumpstream_t *ds)
{
    if (ds->d) {
        ds->bytes += kl_dump_bytes(ds->d);
        kl_dump_close(ds->d);
        ds->d = NULL;
    }
    ds->p = ds->end = NULL;
}

/* Makes [p, end) hold unread rows. Returns 1, 0 at the end of all files, or an error. */
static int
refill(kl_dumpstream_t *ds)
{
    for (;;) {
        if (!ds->d) {
            if (ds->cur >= ds->n_files)
                return 0;
            const kl_input_t *in = &ds->files[ds->cur];
            int rc = kl_dump_open(in->path, &ds->d);
            if (rc != 0) {
                ds->reject(ds->ctx, in->path, 0, rc, "", 0);
                return rc;
            }
            ds->line = 0;
            ds->file_us = in->unit_per_ms == 1000;
            ds->scale = ds->unit_per_ms / in->unit_per_ms;
        }
        const char *data;
        size_t len;
        int rc = kl_dump_next(ds->d, &data, &len);
        if (rc > 0) {
            ds->p = data;
            ds->end = data + len;
            return 1;
        }
        if (rc < 0) {
            ds->reject(ds->ctx, ds->files[ds->cur].path, ds->line, rc, "", 0);
            close_file(ds);
            return rc;
        }
        close_file(ds);
        ds->cur++;
    }
}

int
kl_dumpstream_next(kl_dumpstream_t *ds, kl_trade_t *t, int strict)
{
    for (;;) {
        if (ds->p >= ds->end) {
            int rc = refill(ds);
            if (rc <= 0)
                return rc;
        }
        const kl_input_t *in = &ds->files[ds->cur];
        const char *p = ds->p;
        const char *nl = memchr(p, '\n', (size_t)(ds->end - p));
        const char *le = nl ? nl : ds->end;
        size_t n = (size_t)(le - p);
        ds->p = le + 1;
        if (++ds->line == 1 && n >= 3 && memcmp(p, KL_UTF8_BOM, 3) == 0) {
            p += 3;
            n -= 3;
        }
        if (n == 0 || (n == 1 && *p == '\r') || (ds->line == 1 && in->has_header))
            continue;
        ds->rows++;
        int err = kl_csv_parse_row(p, n, in->layout, t);
        if (err == 0 && (t->ts >= KL_TS_US_THRESHOLD) != ds->file_us)
            err = KL_EUNIT;
        if (err == 0) {
            t->ts *= ds->scale;
            err = kl_trade_validate(t, ds->unit_per_ms);
        }
        if (err == 0) {
            ds->row = p;
            ds->row_len = n;
            return 1;
        }
        ds->rejected++;
        ds->reject(ds->ctx, in->path, ds->line, err, p, n);
        if (strict)
            return KL_EARG;
    }
}

void
kl_dumpstream_close(kl_dumpstream_t *ds)
{
    close_file(ds);
}
