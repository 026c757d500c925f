/* Unit tests for src/api/prom.c, the /metrics writer. Prometheus rejects a whole scrape for one
 * bad line, so the output is compared byte for byte on a small example, label values are
 * checked to escape \\, \" and newline, and every produced text goes through check_text(): a
 * small parser of the 0.0.4 text format that reads it back line by line (name{labels} value)
 * and checks the grouping rules (# HELP and # TYPE before a family's samples, a family's
 * samples together, histogram buckets cumulative and ending in +Inf = _count). The checker is
 * itself tested on broken texts, so a green run means it would have caught them. */
#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/prom.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/hist.h"

/* ---- the checker ----------------------------------------------------------------------- */

#define MAX_SAMPLES 256
#define MAX_LABELS 8
#define MAX_FAMILIES 32

typedef struct sample {
    char name[96];
    int n_labels;
    char key[MAX_LABELS][64];
    char val[MAX_LABELS][128]; /* unescaped */
    double v;
} sample_t;

typedef struct family {
    char name[96];
    char type[16];
    char help[256]; /* unescaped */
    int has_help, has_type, n_samples;
} family_t;

typedef struct parsed {
    sample_t s[MAX_SAMPLES];
    size_t n;
    family_t f[MAX_FAMILIES];
    size_t n_f;
    char err[256];
} parsed_t;

static int
perr(parsed_t *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
perr(parsed_t *p, int line, const char *fmt, ...)
{
    int o = snprintf(p->err, sizeof p->err, "line %d: ", line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + o, sizeof p->err - (size_t)o, fmt, ap);
    va_end(ap);
    return -1;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names, without ':' for label names. */
static size_t
scan_name(const char *s, int colon)
{
    size_t i = 0;
    while (isalpha((unsigned char)s[i]) || s[i] == '_' || (colon && s[i] == ':') ||
           (i > 0 && isdigit((unsigned char)s[i])))
        i++;
    return i;
}

/* Unescapes s[0..n) into out; quote: label value rules (\\, \", \n), else HELP (\\, \n). */
static int
unescape(const char *s, size_t n, int quote, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\n' || (quote && c == '"'))
            return -1;
        if (c == '\\') {
            if (++i == n)
                return -1;
            if (s[i] == '\\')
                c = '\\';
            else if (s[i] == 'n')
                c = '\n';
            else if (quote && s[i] == '"')
                c = '"';
            else
                return -1;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

static int
parse_value(const char *s, size_t n, double *v)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (strcmp(tmp, "NaN") == 0) {
        *v = NAN;
        return 0;
    }
    if (strcmp(tmp, "+Inf") == 0 || strcmp(tmp, "-Inf") == 0) {
        *v = tmp[0] == '+' ? INFINITY : -INFINITY;
        return 0;
    }
    char *end;
    *v = strtod(tmp, &end);
    /* strtod also takes "inf", "nan" and hex, which the format spells otherwise. */
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)tmp[i]) && !strchr("+-.eE", tmp[i]))
            return -1;
    return *end == '\0' ? 0 : -1;
}

static family_t *
find_family(parsed_t *p, const char *name)
{
    for (size_t i = 0; i < p->n_f; i++)
        if (strcmp(p->f[i].name, name) == 0)
            return &p->f[i];
    return NULL;
}

/* Whether sample name belongs to family f (histograms own _bucket, _sum, _count). */
static int
owns(const family_t *f, const char *name)
{
    size_t fl = strlen(f->name);
    if (strcmp(name, f->name) == 0)
        return strcmp(f->type, "histogram") != 0;
    if (strcmp(f->type, "histogram") != 0 || strncmp(name, f->name, fl) != 0)
        return 0;
    const char *suf = name + fl;
    return strcmp(suf, "_bucket") == 0 || strcmp(suf, "_sum") == 0 || strcmp(suf, "_count") == 0;
}

static const char *
label(const sample_t *s, const char *key)
{
    for (int i = 0; i < s->n_labels; i++)
        if (strcmp(s->key[i], key) == 0)
            return s->val[i];
    return NULL;
}

/* Whether a and b have the same labels, ignoring le. */
static int
same_series(const sample_t *a, const sample_t *b)
{
    int na = 0, nb = 0;
    for (int i = 0; i < a->n_labels; i++) {
        if (strcmp(a->key[i], "le") == 0)
            continue;
        na++;
        const char *v = label(b, a->key[i]);
        if (!v || strcmp(v, a->val[i]) != 0)
            return 0;
    }
    for (int i = 0; i < b->n_labels; i++)
        nb += strcmp(b->key[i], "le") != 0;
    return na == nb;
}

/* A histogram family's samples [from, to): per series, buckets with le strictly increasing,
 * counts non-decreasing, the last le "+Inf", then _sum and _count with count = +Inf bucket. */
static int
check_hist(parsed_t *p, const family_t *f, size_t from, size_t to)
{
    char bucket[112], sum[112], count[112];
    snprintf(bucket, sizeof bucket, "%s_bucket", f->name);
    snprintf(sum, sizeof sum, "%s_sum", f->name);
    snprintf(count, sizeof count, "%s_count", f->name);
    for (size_t i = from; i < to; i++) {
        const sample_t *s = &p->s[i];
        if (strcmp(s->name, bucket) != 0 || (i > from && same_series(s, &p->s[i - 1])))
            continue;
        /* first bucket of a series */
        double le_prev = -INFINITY, c_prev = 0;
        size_t j = i;
        for (; j < to && strcmp(p->s[j].name, bucket) == 0 && same_series(&p->s[j], s); j++) {
            const char *le = label(&p->s[j], "le");
            double lev;
            if (!le || parse_value(le, strlen(le), &lev) != 0 || isnan(lev))
                return perr(p, 0, "%s: bucket without a valid le", f->name);
            if (lev <= le_prev || p->s[j].v < c_prev)
                return perr(p, 0, "%s: buckets not increasing at le=%s", f->name, le);
            le_prev = lev;
            c_prev = p->s[j].v;
        }
        if (le_prev != INFINITY)
            return perr(p, 0, "%s: no le=\"+Inf\" bucket", f->name);
        if (j + 1 >= to || strcmp(p->s[j].name, sum) != 0 ||
            strcmp(p->s[j + 1].name, count) != 0 || !same_series(&p->s[j], s) ||
            !same_series(&p->s[j + 1], s))
            return perr(p, 0, "%s: buckets not followed by _sum and _count", f->name);
        if (p->s[j + 1].v != c_prev)
            return perr(p, 0, "%s: _count %g != +Inf bucket %g", f->name, p->s[j + 1].v, c_prev);
    }
    return 0;
}

static int
check_family_end(parsed_t *p, const family_t *f, size_t from)
{
    if (f && strcmp(f->type, "histogram") == 0)
        return check_hist(p, f, from, p->n);
    return 0;
}

static int
parse_comment(parsed_t *p, int ln, const char *l, size_t n, family_t **cur, size_t *cur_from)
{
    int help = n > 7 && strncmp(l, "# HELP ", 7) == 0;
    int type = n > 7 && strncmp(l, "# TYPE ", 7) == 0;
    if (!help && !type)
        return 0; /* a plain comment */
    const char *name = l + 7;
    size_t nl = scan_name(name, 1);
    if (nl == 0 || nl >= sizeof p->f[0].name || 7 + nl >= n || name[nl] != ' ')
        return perr(p, ln, "bad metric name in %s line", help ? "HELP" : "TYPE");
    char nm[96];
    memcpy(nm, name, nl);
    nm[nl] = '\0';
    family_t *f = find_family(p, nm);
    if (!f) {
        if (p->n_f == MAX_FAMILIES)
            return perr(p, ln, "too many families");
        if (check_family_end(p, *cur, *cur_from) != 0)
            return -1;
        f = &p->f[p->n_f++];
        memset(f, 0, sizeof *f);
        memcpy(f->name, nm, nl + 1);
        *cur = f;
        *cur_from = p->n;
    } else if (f != *cur || f->n_samples > 0) {
        return perr(p, ln, "%s: HELP/TYPE after its samples or apart from its family", nm);
    }
    const char *rest = name + nl + 1;
    size_t rn = n - (size_t)(rest - l);
    if (help) {
        if (f->has_help++)
            return perr(p, ln, "%s: second HELP", nm);
        if (unescape(rest, rn, 0, f->help, sizeof f->help) != 0)
            return perr(p, ln, "%s: bad escape in HELP", nm);
    } else {
        if (f->has_type++)
            return perr(p, ln, "%s: second TYPE", nm);
        if (rn >= sizeof f->type)
            return perr(p, ln, "%s: bad type", nm);
        memcpy(f->type, rest, rn);
        f->type[rn] = '\0';
        const char *ok[] = {"counter", "gauge", "histogram", "summary", "untyped"};
        int found = 0;
        for (size_t i = 0; i < 5; i++)
            found |= strcmp(f->type, ok[i]) == 0;
        if (!found)
            return perr(p, ln, "%s: unknown type '%s'", nm, f->type);
    }
    return 0;
}

static int
parse_sample(parsed_t *p, int ln, const char *l, size_t n, family_t *cur)
{
    if (p->n == MAX_SAMPLES)
        return perr(p, ln, "too many samples");
    sample_t *s = &p->s[p->n];
    memset(s, 0, sizeof *s);
    size_t i = scan_name(l, 1);
    if (i == 0 || i >= sizeof s->name)
        return perr(p, ln, "bad metric name");
    memcpy(s->name, l, i);
    if (i < n && l[i] == '{') {
        i++;
        while (i < n && l[i] != '}') {
            size_t kl = scan_name(l + i, 0);
            if (kl == 0 || kl >= sizeof s->key[0] || s->n_labels == MAX_LABELS)
                return perr(p, ln, "bad label name");
            memcpy(s->key[s->n_labels], l + i, kl);
            i += kl;
            if (i + 1 >= n || l[i] != '=' || l[i + 1] != '"')
                return perr(p, ln, "label %s: expected =\"", s->key[s->n_labels]);
            i += 2;
            size_t v0 = i;
            while (i < n && l[i] != '"') {
                if (l[i] == '\\')
                    i++;
                i++;
            }
            if (i >= n)
                return perr(p, ln, "unterminated label value");
            if (unescape(l + v0, i - v0, 1, s->val[s->n_labels], sizeof s->val[0]) != 0)
                return perr(p, ln, "bad escape in label %s", s->key[s->n_labels]);
            for (int k = 0; k < s->n_labels; k++)
                if (strcmp(s->key[k], s->key[s->n_labels]) == 0)
                    return perr(p, ln, "label %s twice", s->key[k]);
            s->n_labels++;
            i++; /* closing quote */
            if (i < n && l[i] == ',')
                i++;
            else if (i < n && l[i] != '}')
                return perr(p, ln, "expected , or } after a label");
        }
        if (i >= n)
            return perr(p, ln, "unterminated label set");
        i++;
    }
    if (i >= n || l[i] != ' ')
        return perr(p, ln, "expected one space before the value");
    i++;
    if (parse_value(l + i, n - i, &s->v) != 0)
        return perr(p, ln, "bad value '%.*s'", (int)(n - i), l + i);
    if (!cur || !owns(cur, s->name)) {
        family_t *f = NULL;
        for (size_t k = 0; k < p->n_f && !f; k++)
            if (owns(&p->f[k], s->name))
                f = &p->f[k];
        return perr(p, ln, "sample %s %s", s->name,
                    f ? "apart from its family's other lines" : "before its HELP and TYPE");
    }
    if (!cur->has_help || !cur->has_type)
        return perr(p, ln, "sample %s before its family's HELP and TYPE", s->name);
    for (size_t k = 0; k < p->n; k++)
        if (strcmp(p->s[k].name, s->name) == 0 && same_series(&p->s[k], s) &&
            strcmp(label(&p->s[k], "le") ? label(&p->s[k], "le") : "",
                   label(s, "le") ? label(s, "le") : "") == 0)
            return perr(p, ln, "sample %s repeated", s->name);
    cur->n_samples++;
    p->n++;
    return 0;
}

/* Parses text into p; 0, or -1 with p->err naming the line and the rule broken. */
static int
check_text(const char *text, parsed_t *p)
{
    memset(p, 0, sizeof *p);
    family_t *cur = NULL;
    size_t cur_from = 0;
    int ln = 0;
    const char *l = text;
    while (*l) {
        ln++;
        const char *nl = strchr(l, '\n');
        if (!nl)
            return perr(p, ln, "last line has no newline");
        size_t n = (size_t)(nl - l);
        if (n == 0)
            return perr(p, ln, "empty line");
        int rc = l[0] == '#' ? parse_comment(p, ln, l, n, &cur, &cur_from)
                             : parse_sample(p, ln, l, n, cur);
        if (rc != 0)
            return -1;
        l = nl + 1;
    }
    return check_family_end(p, cur, cur_from);
}

static void
assert_valid(const char *text, parsed_t *p)
{
    if (check_text(text, p) != 0)
        fail_msg("invalid exposition text: %s\n%s", p->err, text);
}

static void
assert_invalid(const char *text, const char *why)
{
    static parsed_t p;
    if (check_text(text, &p) == 0)
        fail_msg("checker accepted a broken text:\n%s", text);
    if (!strstr(p.err, why))
        fail_msg("checker said '%s', expected '%s'", p.err, why);
}

/* ---- tests ----------------------------------------------------------------------------- */

static kl_hist_snap_t
small_hist(void)
{
    kl_hist_t h;
    memset(&h, 0, sizeof h);
    kl_hist_record(&h, 1000);        /* le 1e-06 */
    kl_hist_record(&h, 1500);        /* le 2e-06 */
    kl_hist_record(&h, 3000000);     /* le 0.005 */
    kl_hist_record(&h, 45000000000); /* +Inf */
    kl_hist_snap_t s;
    kl_hist_read(&h, &s);
    return s;
}

static const char WANT_SMALL[] =
    "# HELP klined_trades_total Trades taken in, by worker.\n"
    "# TYPE klined_trades_total counter\n"
    "klined_trades_total{worker=\"0\"} 12345\n"
    "klined_trades_total{worker=\"1\"} 0\n"
    "# HELP klined_clock_skew_seconds Exchange clock minus ours.\n"
    "# TYPE klined_clock_skew_seconds gauge\n"
    "klined_clock_skew_seconds -0.25\n"
    "# HELP klined_commit_seconds Store commit latency.\n"
    "# TYPE klined_commit_seconds histogram\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"1e-06\"} 1\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"2e-06\"} 2\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"5e-06\"} 2\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"1e-05\"} 2\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"2e-05\"} 2\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"5e-05\"} 2\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"0.0001\"} 2\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"0.0002\"} 2\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"0.0005\"} 2\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"0.001\"} 2\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"0.002\"} 2\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"0.005\"} 3\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"0.01\"} 3\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"0.02\"} 3\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"0.05\"} 3\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"0.1\"} 3\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"0.2\"} 3\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"0.5\"} 3\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"1\"} 3\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"2\"} 3\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"5\"} 3\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"10\"} 3\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"30\"} 3\n"
    "klined_commit_seconds_bucket{store=\"sqlite\",le=\"+Inf\"} 4\n"
    "klined_commit_seconds_sum{store=\"sqlite\"} 45.0030025\n"
    "klined_commit_seconds_count{store=\"sqlite\"} 4\n";

static void
test_exact_small_example(void **state)
{
    (void)state;
    kl_buf_t b = {0};
    kl_prom_family(&b, "klined_trades_total", "counter", "Trades taken in, by worker.");
    kl_prom_u64(&b, "klined_trades_total", "worker=\"0\"", 12345);
    kl_prom_u64(&b, "klined_trades_total", "worker=\"1\"", 0);
    kl_prom_family(&b, "klined_clock_skew_seconds", "gauge", "Exchange clock minus ours.");
    kl_prom_f64(&b, "klined_clock_skew_seconds", NULL, -0.25);
    kl_prom_family(&b, "klined_commit_seconds", "histogram", "Store commit latency.");
    kl_hist_snap_t s = small_hist();
    kl_prom_hist(&b, "klined_commit_seconds", "store=\"sqlite\"", &s);
    assert_int_equal(b.oom, 0);
    assert_string_equal(b.p, WANT_SMALL);
    assert_int_equal(b.len, strlen(WANT_SMALL));

    static parsed_t p;
    assert_valid(b.p, &p);
    assert_int_equal(p.n_f, 3);
    assert_int_equal(p.n, 2 + 1 + 24 + 2);
    assert_string_equal(p.f[0].help, "Trades taken in, by worker.");
    assert_string_equal(p.f[2].type, "histogram");
    assert_string_equal(p.s[0].name, "klined_trades_total");
    assert_string_equal(label(&p.s[0], "worker"), "0");
    assert_true(p.s[0].v == 12345.0);
    assert_true(p.s[2].v == -0.25);
    assert_string_equal(label(&p.s[3], "le"), "1e-06");
    assert_string_equal(label(&p.s[3], "store"), "sqlite");
    assert_true(p.s[27].v == 45.0030025);
    kl_buf_free(&b);
}

/* The bounds in seconds read back to exactly kl_hist_bounds_ns / 1e9, and the buckets are
 * cumulative, for a histogram with a value in every bucket and no labels. */
static void
test_hist_cumulative_every_bucket(void **state)
{
    (void)state;
    kl_hist_t h;
    memset(&h, 0, sizeof h);
    for (int i = 0; i < KL_HIST_BUCKETS; i++) /* i + 1 values at each bound */
        for (int k = 0; k <= i; k++)
            kl_hist_record(&h, i + 1 < KL_HIST_BUCKETS ? kl_hist_bounds_ns[i] : 60000000000ULL);
    kl_hist_snap_t s;
    kl_hist_read(&h, &s);
    kl_buf_t b = {0};
    kl_prom_family(&b, "lat_seconds", "histogram", "x");
    kl_prom_hist(&b, "lat_seconds", NULL, &s);
    static parsed_t p;
    assert_valid(b.p, &p);
    assert_int_equal(p.n, KL_HIST_BUCKETS + 2);
    for (int i = 0; i < KL_HIST_BUCKETS; i++) {
        assert_string_equal(p.s[i].name, "lat_seconds_bucket");
        assert_int_equal(p.s[i].n_labels, 1);
        double le = strtod(label(&p.s[i], "le"), NULL);
        if (i + 1 < KL_HIST_BUCKETS)
            assert_true(le == (double)kl_hist_bounds_ns[i] / 1e9);
        else
            assert_string_equal(label(&p.s[i], "le"), "+Inf");
        assert_true(p.s[i].v == (double)((i + 1) * (i + 2) / 2));
    }
    assert_string_equal(p.s[KL_HIST_BUCKETS].name, "lat_seconds_sum");
    assert_string_equal(p.s[KL_HIST_BUCKETS + 1].name, "lat_seconds_count");
    assert_true(p.s[KL_HIST_BUCKETS + 1].v == 300.0);
    assert_non_null(strstr(b.p, "\nlat_seconds_bucket{le=\"30\"} 276\n"));
    assert_non_null(strstr(b.p, "\nlat_seconds_bucket{le=\"+Inf\"} 300\nlat_seconds_sum "));
    assert_non_null(strstr(b.p, "\nlat_seconds_count 300\n"));

    /* Merged over two "workers": still valid, every count doubled. */
    kl_hist_snap_t acc;
    memset(&acc, 0, sizeof acc);
    kl_hist_add(&acc, &s);
    kl_hist_add(&acc, &s);
    kl_buf_free(&b);
    kl_prom_family(&b, "lat_seconds", "histogram", "x");
    kl_prom_hist(&b, "lat_seconds", "", &acc);
    assert_valid(b.p, &p);
    assert_non_null(strstr(b.p, "\nlat_seconds_bucket{le=\"+Inf\"} 600\n"));
    assert_non_null(strstr(b.p, "\nlat_seconds_count 600\n"));

    /* An empty histogram is valid too: all zero. */
    memset(&acc, 0, sizeof acc);
    kl_buf_free(&b);
    kl_prom_family(&b, "lat_seconds", "histogram", "x");
    kl_prom_hist(&b, "lat_seconds", NULL, &acc);
    assert_valid(b.p, &p);
    assert_non_null(strstr(b.p, "lat_seconds_bucket{le=\"+Inf\"} 0\nlat_seconds_sum 0\n"
                                "lat_seconds_count 0\n"));
    kl_buf_free(&b);
}

static void
test_escaping(void **state)
{
    (void)state;
    kl_buf_t lb = {0};
    kl_prom_label(&lb, "symbol", "a\\b\"c\nd");
    kl_prom_label(&lb, "iv", "1m");
    kl_prom_label(&lb, "empty", "");
    assert_string_equal(lb.p, "symbol=\"a\\\\b\\\"c\\nd\",iv=\"1m\",empty=\"\"");

    kl_buf_t b = {0};
    kl_prom_family(&b, "klined_x", "gauge", "Say \"hi\" \\ then\nnext line.");
    kl_prom_u64(&b, "klined_x", lb.p, 7);
    assert_string_equal(b.p, "# HELP klined_x Say \"hi\" \\\\ then\\nnext line.\n"
                             "# TYPE klined_x gauge\n"
                             "klined_x{symbol=\"a\\\\b\\\"c\\nd\",iv=\"1m\",empty=\"\"} 7\n");
    static parsed_t p;
    assert_valid(b.p, &p);
    assert_string_equal(p.f[0].help, "Say \"hi\" \\ then\nnext line.");
    assert_string_equal(label(&p.s[0], "symbol"), "a\\b\"c\nd");
    assert_string_equal(label(&p.s[0], "empty"), "");
    kl_buf_free(&b);

    /* Escaped labels next to le in a histogram. */
    kl_hist_snap_t s = small_hist();
    kl_prom_family(&b, "h", "histogram", "");
    kl_prom_hist(&b, "h", lb.p, &s);
    assert_valid(b.p, &p);
    assert_non_null(strstr(b.p, "\nh_bucket{symbol=\"a\\\\b\\\"c\\nd\",iv=\"1m\",empty=\"\","
                                "le=\"0.005\"} 3\n"));
    assert_string_equal(label(&p.s[5], "symbol"), "a\\b\"c\nd");
    assert_string_equal(p.f[0].help, "");
    kl_buf_free(&b);
    kl_buf_free(&lb);
}

static void
test_float_spelling(void **state)
{
    (void)state;
    const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.0, "0"},
        {0.1, "0.1"},
        {-0.25, "-0.25"},
        {1e-9, "1e-09"},
        {123456789012.0, "123456789012"},
        {9007199254740992.0, "9007199254740992"},
        {1.0 / 3.0, "0.3333333333333333"},
        {0.1 + 0.2, "0.30000000000000004"},
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
    };
    kl_buf_t b = {0};
    kl_prom_family(&b, "f", "gauge", "floats");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char lab[32];
        snprintf(lab, sizeof lab, "i=\"%zu\"", i);
        kl_prom_f64(&b, "f", lab, cases[i].v);
    }
    static parsed_t p;
    assert_valid(b.p, &p);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[96];
        snprintf(want, sizeof want, "\nf{i=\"%zu\"} %s\n", i, cases[i].want);
        if (!strstr(b.p, want))
            fail_msg("missing %s in\n%s", want, b.p);
        if (isnan(cases[i].v))
            assert_true(isnan(p.s[i].v));
        else
            assert_true(p.s[i].v == cases[i].v); /* exact round trip */
    }
    kl_buf_free(&b);
    kl_prom_family(&b, "u", "counter", "max");
    kl_prom_u64(&b, "u", NULL, UINT64_MAX);
    assert_non_null(strstr(b.p, "\nu 18446744073709551615\n"));
    kl_buf_free(&b);
}

static void
test_checker_rejects_broken_text(void **state)
{
    (void)state;
    assert_invalid("m 1\n", "before its HELP and TYPE");
    assert_invalid("# TYPE m counter\nm 1\n", "before its family's HELP and TYPE");
    assert_invalid("# HELP m x\nm 1\n", "before its family's HELP and TYPE");
    assert_invalid("# HELP m x\n# TYPE m counter\nm 1", "no newline");
    assert_invalid("# HELP m x\n# TYPE m counter\nm{a=\"x\"y\"} 1\n", "expected , or }");
    assert_invalid("# HELP m x\n# TYPE m counter\nm{a=\"x\\q\"} 1\n", "bad escape");
    assert_invalid("# HELP m x\n# TYPE m counter\nm{a=\"x\"} \n", "bad value");
    assert_invalid("# HELP m x\n# TYPE m counter\nm{a=\"x\"} inf\n", "bad value");
    assert_invalid("# HELP m x\n# TYPE m counter\nm  1\n", "bad value");
    assert_invalid("# HELP m x\n# TYPE m counter\nm 1\nm 2\n", "repeated");
    assert_invalid("# HELP m x\n# TYPE m countr\n", "unknown type");
    assert_invalid("# HELP m x\n# TYPE m counter\n# TYPE m counter\n", "second TYPE");
    assert_invalid("# HELP m x\n# TYPE m counter\n# HELP n y\n# TYPE n gauge\nm 1\n",
                   "apart from its family");
    assert_invalid("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                   "h_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
                   "not increasing");
    assert_invalid("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 0\nh_count 2\n",
                   "no le=\"+Inf\"");
    assert_invalid("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0\n"
                   "h_count 3\n",
                   "_count 3 != +Inf bucket 2");
    assert_invalid("# HELP h x\n# TYPE h histogram\nh 2\n", "before its HELP and TYPE");
    /* And a valid hand-written text passes. */
    static parsed_t p;
    assert_valid("# a comment\n# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
                 "h_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n",
                 &p);
    assert_int_equal(p.n, 4);
}

static void
test_oom_is_sticky(void **state)
{
    (void)state;
    kl_buf_t b = {0};
    kl_alloc_fail_after(1);
    kl_prom_family(&b, "m", "counter", "x");
    kl_alloc_fail_after(0);
    kl_prom_u64(&b, "m", NULL, 1);
    kl_hist_snap_t s = small_hist();
    kl_prom_hist(&b, "m", NULL, &s);
    assert_int_equal(b.oom, 1);
    assert_int_equal(b.len, 0);
    kl_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_small_example),
        cmocka_unit_test(test_hist_cumulative_every_bucket),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_float_spelling),
        cmocka_unit_test(test_checker_rejects_broken_text),
        cmocka_unit_test(test_oom_is_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
