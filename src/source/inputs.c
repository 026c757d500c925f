/* Replay inputs: argument expansion, symbol naming, ordering and layout/unit detection. */
#include "source/inputs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/decimal.h"
#include "kl/err.h"
#include "source/csv_scan.h"
#include "source/dump.h"

static const char *
base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int
is_dump_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && strcasecmp(name + n - 4, ".csv") == 0) ||
           (n > 4 && strcasecmp(name + n - 4, ".zip") == 0);
}

static int
push(kl_inputs_t *in, const char *path, const char *symbol, char *errmsg, size_t cap)
{
    const char *base = base_name(path);
    size_t sl;
    if (symbol) {
        sl = strlen(symbol);
    } else {
        const char *dash = strchr(base, '-');
        sl = dash ? (size_t)(dash - base) : 0;
        symbol = base;
    }
    if (sl == 0 || sl >= KL_SYMBOL_MAX) {
        snprintf(errmsg, cap, "%s: cannot take a symbol from the file name (expected "
                              "SYMBOL-aggTrades-….csv/.zip); give --symbol", path);
        return KL_EARG;
    }
    if (in->n == in->cap) {
        size_t ncap = in->cap ? in->cap * 2 : 16;
        kl_input_t *nv = kl_calloc(ncap, sizeof *nv);
        if (!nv)
            return KL_ENOMEM;
        if (in->n)
            memcpy(nv, in->v, in->n * sizeof *nv);
        kl_free(in->v);
        in->v = nv;
        in->cap = ncap;
    }
    kl_input_t *e = &in->v[in->n];
    memset(e, 0, sizeof *e);
    size_t pl = strlen(path);
    if (!(e->path = kl_alloc(pl + 1)))
        return KL_ENOMEM;
    memcpy(e->path, path, pl + 1);
    memcpy(e->symbol, symbol, sl);
    e->symbol[sl] = '\0';
    in->n++;
    return 0;
}

int
kl_inputs_add(kl_inputs_t *in, const char *arg, const char *symbol, char *errmsg, size_t cap)
{
    struct stat st;
    if (stat(arg, &st) != 0) {
        int e = -errno;
        snprintf(errmsg, cap, "%s: %s", arg, kl_strerror(e));
        return e;
    }
    if (!S_ISDIR(st.st_mode))
        return push(in, arg, symbol, errmsg, cap);
    DIR *d = opendir(arg);
    if (!d) {
        int e = -errno;
        snprintf(errmsg, cap, "%s: %s", arg, kl_strerror(e));
        return e;
    }
    int rc = 0;
    size_t before = in->n;
    struct dirent *de;
    char path[4096];
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (!is_dump_name(de->d_name))
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", arg, de->d_name) >= sizeof path)
            continue;
        rc = push(in, path, symbol, errmsg, cap);
    }
    closedir(d);
    if (rc == 0 && in->n == before) {
        snprintf(errmsg, cap, "%s: no .csv or .zip files in this directory", arg);
        rc = KL_EARG;
    }
    return rc;
}

static int
cmp_input(const void *a, const void *b)
{
    const kl_input_t *x = a, *y = b;
    int c = strcmp(x->symbol, y->symbol);
    return c ? c : strcmp(base_name(x->path), base_name(y->path));
}

/* Reads the file's head: layout from the first line, unit from the first data row. */
static int
detect(kl_input_t *e, char *errmsg, size_t cap)
{
    char buf[2 * KL_CSV_LINE_MAX + 8], *head = buf;
    int n = kl_dump_head(e->path, buf, sizeof buf);
    if (n < 0) {
        snprintf(errmsg, cap, "%s: %s", e->path, kl_strerror(n));
        return n;
    }
    if (n >= 3 && memcmp(head, KL_UTF8_BOM, 3) == 0) { /* some tools write one */
        head += 3;
        n -= 3;
    }
    char *nl = memchr(head, '\n', (size_t)n);
    size_t l1 = nl ? (size_t)(nl - head) : (size_t)n;
    e->unit_per_ms = 1;
    if (n == 0 || (l1 == 0 && !nl) || (l1 == 1 && head[0] == '\r' && !nl)) {
        e->layout = KL_CSV_UNKNOWN; /* an empty file: no rows, nothing to detect */
        return 0;
    }
    if (kl_csv_detect(head, l1, &e->layout, &e->has_header) != 0) {
        snprintf(errmsg, cap, "%s:1: %s: the first line fits none of the aggTrades/trades "
                              "layouts", e->path, kl_strerror(KL_ELAYOUT));
        return KL_ELAYOUT;
    }
    const char *row = head;
    size_t rl = l1;
    if (e->has_header) {
        row = nl ? nl + 1 : head + n;
        char *nl2 = memchr(row, '\n', (size_t)(head + n - row));
        rl = nl2 ? (size_t)(nl2 - row) : (size_t)(head + n - row);
    }
    kl_trade_t t;
    if (rl > 0 && kl_csv_parse_row(row, rl, e->layout, &t) == 0 && t.ts >= KL_TS_US_THRESHOLD)
        e->unit_per_ms = 1000;
    return 0;
}

int
kl_inputs_prepare(kl_inputs_t *in, char *errmsg, size_t cap)
{
    qsort(in->v, in->n, sizeof *in->v, cmp_input);
    for (size_t i = 0; i < in->n; i++) {
        int rc = detect(&in->v[i], errmsg, cap);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void
kl_inputs_free(kl_inputs_t *in)
{
    for (size_t i = 0; i < in->n; i++)
        kl_free(in->v[i].path);
    kl_free(in->v);
    memset(in, 0, sizeof *in);
}
