/* Prometheus text exposition format 0.0.4 writers for /metrics. Numbers are printed the
 * shortest way that reads back to the same double, so a scrape shows "0.25", not
 * "0.25000000000000000", and a histogram's bounds are the le strings Prometheus users know
 * ("1e-06", "0.005", "30"). */
#include "api/prom.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes v into out (cap >= 32) in the format's float syntax. */
static void
fmt_f64(char *out, size_t cap, double v)
{
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (prec == 17 || strtod(out, NULL) == v)
            return;
    }
}

/* Appends s escaped for the format: backslash and newline always,
 * the double quote only in label values (HELP text keeps its quotes). */
static void
put_escaped(kl_buf_t *b, const char *s, int esc_quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '\n')
            rep = "\\n";
        else if (*s == '"' && esc_quote)
            rep = "\\\"";
        if (!rep)
            continue;
        kl_buf_put(b, run, (size_t)(s - run));
        kl_buf_put(b, rep, 2);
        run = s + 1;
    }
    kl_buf_put(b, run, (size_t)(s - run));
}

void
kl_prom_family(kl_buf_t *b, const char *name, const char *type, const char *help)
{
    kl_buf_printf(b, "# HELP %s ", name);
    put_escaped(b, help ? help : "", 0);
    kl_buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

void
kl_prom_label(kl_buf_t *b, const char *key, const char *value)
{
    if (b->len > 0)
        kl_buf_put(b, ",", 1);
    kl_buf_printf(b, "%s=\"", key);
    put_escaped(b, value ? value : "", 1);
    kl_buf_put(b, "\"", 1);
}

/* "name{labels" + extra + "} " where either part may be missing; braces only if needed. */
static void
put_head(kl_buf_t *b, const char *name, const char *suffix, const char *labels,
         const char *extra)
{
    int has_l = labels && labels[0], has_x = extra && extra[0];
    kl_buf_puts(b, name);
    if (suffix)
        kl_buf_puts(b, suffix);
    if (has_l || has_x) {
        kl_buf_put(b, "{", 1);
        if (has_l)
            kl_buf_puts(b, labels);
        if (has_l && has_x)
            kl_buf_put(b, ",", 1);
        if (has_x)
            kl_buf_puts(b, extra);
        kl_buf_put(b, "}", 1);
    }
    kl_buf_put(b, " ", 1);
}

void
kl_prom_u64(kl_buf_t *b, const char *name, const char *labels, uint64_t v)
{
    put_head(b, name, NULL, labels, NULL);
    kl_buf_printf(b, "%" PRIu64 "\n", v);
}

void
kl_prom_f64(kl_buf_t *b, const char *name, const char *labels, double v)
{
    char num[40];
    fmt_f64(num, sizeof num, v);
    put_head(b, name, NULL, labels, NULL);
    kl_buf_puts(b, num);
    kl_buf_put(b, "\n", 1);
}

void
kl_prom_hist(kl_buf_t *b, const char *name, const char *labels, const kl_hist_snap_t *s)
{
    char le[64], num[40];
    uint64_t cum = 0;
    for (size_t i = 0; i < KL_HIST_BUCKETS; i++) {
        cum += s->bucket[i];
        if (i + 1 < KL_HIST_BUCKETS) {
            fmt_f64(num, sizeof num, (double)kl_hist_bounds_ns[i] / 1e9);
            snprintf(le, sizeof le, "le=\"%s\"", num);
        } else {
            snprintf(le, sizeof le, "le=\"+Inf\"");
        }
        put_head(b, name, "_bucket", labels, le);
        kl_buf_printf(b, "%" PRIu64 "\n", cum);
    }
    fmt_f64(num, sizeof num, (double)s->sum_ns / 1e9);
    put_head(b, name, "_sum", labels, NULL);
    kl_buf_puts(b, num);
    kl_buf_put(b, "\n", 1);
    put_head(b, name, "_count", labels, NULL);
    kl_buf_printf(b, "%" PRIu64 "\n", s->count);
}
