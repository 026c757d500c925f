/* `klined serve` configuration: one table of keys shared by the INI file and the flags, each
 * with a strict setter and the one-line "what is allowed" text its error message quotes.
 *
 * DESIGN
 * - Layering: defaults, then the file (--config), then flags in argv order (last wins), then
 *   KLINED_ADMIN_TOKEN if no admin-token was given, then cross-key checks. All of it happens on
 *   a working copy of the struct: every allocation goes to a block list hanging off mem_, and
 *   on failure the blocks added since the copy are freed and the caller's struct is untouched.
 *   Values are never edited in place, so the copy and the original can share old blocks.
 * - The INI text goes through inih via ini_parse_stream and our own line reader. The reader
 *   numbers lines (the system inih has no line numbers in its callback), rejects control bytes,
 *   strips leading blanks (so indented keys are never taken as inih "continuation lines"), and
 *   passes a line longer than inih's fixed 200-byte buffer as "name=\x01" with the value kept
 *   aside, so long replay file lists and postgres URLs work instead of being cut in two.
 * - Messages name the key, quote the bad value (escaped, cut at ~80 bytes) and say what is
 *   allowed. The admin token is never echoed, not even when it is rejected. */
#include "core/config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/interval.h"
#include "kl/err.h"

#define CFG_FILE_MAX (1 << 20) /* a config file is a few hundred bytes; refuse anything huge */
#define CFG_ENV_TOKEN "KLINED_ADMIN_TOKEN"
#define CFG_LONG_MARK "\x01" /* stands for a long value; control bytes never reach inih */

/* ------------------------------------------------------------------------------------------ */
/* Block list: every byte a config owns. */

struct cfg_blk {
    struct cfg_blk *next;
    size_t pad_; /* keeps the payload 16-byte aligned, like kl_alloc's */
};

static void *
cfg_mem(kl_config_t *t, size_t n)
{
    if (n > SIZE_MAX - sizeof(struct cfg_blk))
        return NULL;
    struct cfg_blk *b = kl_alloc(sizeof *b + n);
    if (b == NULL)
        return NULL;
    b->next = t->mem_;
    t->mem_ = b;
    return b + 1;
}

/* Frees the blocks from head up to (not including) stop. */
static void
cfg_release(void *head, void *stop)
{
    struct cfg_blk *b = head;
    while (b != NULL && b != stop) {
        struct cfg_blk *next = b->next;
        kl_free(b);
        b = next;
    }
}

static char *
cfg_strndup(kl_config_t *t, const char *s, size_t n)
{
    char *p = cfg_mem(t, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* One parse run: the working copy, where the value came from, and the error sink. */

struct cfg_run {
    kl_config_t *t;
    char *err;
    size_t cap;
    char where[320]; /* "" for flags, "FILE:LINE: " for the file */
    char why[200];   /* a setter's specific reason; replaces the key's generic text */
    enum kl_cfg_token_from from;
};

static void
cfg_errf(struct cfg_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
cfg_errf(struct cfg_run *r, const char *fmt, ...)
{
    if (r->err == NULL || r->cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->cap, fmt, ap);
    va_end(ap);
}

static void
cfg_why(struct cfg_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
cfg_why(struct cfg_run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

/* Writes v as a C-like quoted string into out (cap >= 16), escaping quotes, backslashes and
 * control bytes so the message stays one line, and cutting long values with "...". */
static void
cfg_quote(char *out, size_t cap, const char *v)
{
    size_t o = 0;
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char tmp[8];
        size_t n;
        if (*p == '"' || *p == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)*p;
            n = 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", *p);
        } else {
            tmp[0] = (char)*p;
            n = 1;
        }
        if (o + n + 5 > cap) { /* room for `..."` and the NUL */
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, tmp, n);
        o += n;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static int
cfg_isdigit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int
cfg_isalnum_upper(char ch)
{
    return cfg_isdigit(ch) || (ch >= 'A' && ch <= 'Z');
}

static char
cfg_upper(char ch)
{
    return ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
}

static int
cfg_starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Unsigned decimal of s[0..n) (digits only, no sign or blanks) in lo..hi. */
static int
cfg_uint_n(const char *s, size_t n, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (n == 0)
        return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cfg_isdigit(s[i]))
            return -1;
        if (x <= UINT64_MAX / 100) /* saturates well above any limit used here */
            x = x * 10 + (uint64_t)(s[i] - '0');
    }
    if (x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int
cfg_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    return cfg_uint_n(s, strlen(s), lo, hi, out);
}

/* ------------------------------------------------------------------------------------------ */
/* Setters: 0, KL_ECONFIG (r->why may hold the reason) or KL_ENOMEM. */

typedef int (*cfg_set_fn)(struct cfg_run *r, const char *v);

static int
set_source_replay(struct cfg_run *r, const char *list)
{
    kl_config_t *t = r->t;
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    const char **files = cfg_mem(t, n * sizeof *files);
    if (files == NULL)
        return KL_ENOMEM;
    const char *s = list;
    for (size_t i = 0; i < n; i++) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == 0) {
            cfg_why(r, "file %zu of the replay list is empty; "
                       "must be replay:FILE[,FILE...]", i + 1);
            return KL_ECONFIG;
        }
        if ((files[i] = cfg_strndup(t, s, len)) == NULL)
            return KL_ENOMEM;
        s = comma ? comma + 1 : s + len;
    }
    t->source = KL_CFG_SRC_REPLAY;
    t->replay_files = files;
    t->n_replay_files = n;
    return 0;
}

static int
set_source_tcp(struct cfg_run *r, const char *hostport)
{
    const char *colon = strrchr(hostport, ':');
    if (colon == NULL) {
        cfg_why(r, "must be lines:tcp://127.0.0.1:PORT (PORT missing)");
        return KL_ECONFIG;
    }
    size_t hlen = (size_t)(colon - hostport);
    const char *host = NULL;
    if (hlen == 9 && memcmp(hostport, "127.0.0.1", 9) == 0)
        host = "127.0.0.1";
    else if (hlen == 9 && memcmp(hostport, "localhost", 9) == 0)
        host = "localhost";
    if (host == NULL) {
        cfg_why(r, "the lines host must be 127.0.0.1 or localhost (a trade feed is not exposed "
                   "beyond this machine)");
        return KL_ECONFIG;
    }
    uint64_t port;
    if (cfg_uint(colon + 1, 1, 65535, &port) != 0) {
        cfg_why(r, "the lines port must be an integer 1..65535");
        return KL_ECONFIG;
    }
    r->t->source = KL_CFG_SRC_LINES_TCP;
    r->t->lines_host = host;
    r->t->lines_port = (uint16_t)port;
    return 0;
}

static int
cfg_kafka_broker_char(char ch)
{
    return cfg_isalnum_upper(cfg_upper(ch)) || ch == '.' || ch == '-' || ch == '_' ||
           ch == ':' || ch == '[' || ch == ']';
}

static int
parse_kafka_url(struct cfg_run *r, const char *rest, const char **brokers, const char **topic_out)
{
    kl_config_t *t = r->t;
    const char *slash = strchr(rest, '/');
    size_t blen = slash ? (size_t)(slash - rest) : strlen(rest);
    int ok = blen > 0 && slash != NULL;
    for (size_t i = 0; ok && i < blen; i++) {
        if (rest[i] == ',' ? i == 0 || i + 1 == blen || rest[i - 1] == ','
                           : !cfg_kafka_broker_char(rest[i]))
            ok = 0;
    }
    if (!ok) {
        cfg_why(r, "must be kafka://BROKERS/TOPIC, BROKERS a comma list of host:port");
        return KL_ECONFIG;
    }
    const char *topic = slash + 1;
    size_t tlen = strlen(topic);
    ok = tlen >= 1 && tlen <= 249;
    for (size_t i = 0; ok && i < tlen; i++)
        ok = cfg_isalnum_upper(cfg_upper(topic[i])) || topic[i] == '.' || topic[i] == '_' ||
             topic[i] == '-';
    if (!ok) {
        cfg_why(r, "the Kafka topic must be 1..249 characters of A-Z a-z 0-9 . _ -");
        return KL_ECONFIG;
    }
    const char *b = cfg_strndup(t, rest, blen), *tp = cfg_strndup(t, topic, tlen);
    if (b == NULL || tp == NULL)
        return KL_ENOMEM;
    *brokers = b;
    *topic_out = tp;
    return 0;
}

static int
set_source_kafka(struct cfg_run *r, const char *rest)
{
    int rc = parse_kafka_url(r, rest, &r->t->kafka_brokers, &r->t->kafka_topic);
    if (rc == 0)
        r->t->source = KL_CFG_SRC_KAFKA;
    return rc;
}

static int
set_bridge_to(struct cfg_run *r, const char *v)
{
    if (!cfg_starts(v, "kafka://")) {
        cfg_why(r, "must be kafka://BROKERS/TOPIC");
        return KL_ECONFIG;
    }
    return parse_kafka_url(r, v + strlen("kafka://"), &r->t->bridge_brokers, &r->t->bridge_topic);
}

static int
set_source(struct cfg_run *r, const char *v)
{
    kl_config_t *t = r->t;
    kl_config_t saved = *t;
    t->replay_files = NULL;
    t->n_replay_files = 0;
    t->lines_host = NULL;
    t->lines_port = 0;
    t->kafka_brokers = t->kafka_topic = NULL;
    int rc = KL_ECONFIG;
    if (strcmp(v, "binance") == 0) {
        t->source = KL_CFG_SRC_BINANCE;
        rc = 0;
    } else if (strcmp(v, "lines:stdin") == 0) {
        t->source = KL_CFG_SRC_LINES_STDIN;
        rc = 0;
    } else if (cfg_starts(v, "replay:")) {
        rc = set_source_replay(r, v + strlen("replay:"));
    } else if (cfg_starts(v, "lines:tcp://")) {
        rc = set_source_tcp(r, v + strlen("lines:tcp://"));
    } else if (cfg_starts(v, "kafka://")) {
        rc = set_source_kafka(r, v + strlen("kafka://"));
    }
    if (rc != 0) {
        /* Keep the source fields consistent for the caller's later messages; blocks already
         * taken stay on the list and are released with the run. */
        void *mem = t->mem_;
        *t = saved;
        t->mem_ = mem;
    }
    return rc;
}

/* A URL with one of two schemes and something after it; trailing '/' dropped so that callers
 * can append paths. */
static int
cfg_set_url(struct cfg_run *r, const char *v, const char *s1, const char *s2, const char **dst)
{
    if (!cfg_starts(v, s1) && !cfg_starts(v, s2))
        return KL_ECONFIG;
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == '/')
        n--;
    size_t scheme = (size_t)(strstr(v, "://") - v) + 3;
    if (n <= scheme || strpbrk(v, " \t") != NULL)
        return KL_ECONFIG;
    const char *p = cfg_strndup(r->t, v, n);
    if (p == NULL)
        return KL_ENOMEM;
    *dst = p;
    return 0;
}

static int
set_binance_ws(struct cfg_run *r, const char *v)
{
    return cfg_set_url(r, v, "ws://", "wss://", &r->t->binance_ws);
}

static int
set_binance_rest(struct cfg_run *r, const char *v)
{
    return cfg_set_url(r, v, "http://", "https://", &r->t->binance_rest);
}

/* A PEM bundle the live source trusts instead of the system one. Checked here, at start, so
 * that a typo fails the start with the key's name rather than as certificate errors on every
 * reconnect later. "" goes back to the system bundle. */
static int
set_binance_ca_file(struct cfg_run *r, const char *v)
{
    size_t n = strlen(v);
    if (n == 0) {
        r->t->binance_ca_file = "";
        return 0;
    }
    struct stat st;
    if (n > KL_CFG_CA_FILE_MAX || stat(v, &st) != 0 || !S_ISREG(st.st_mode))
        return KL_ECONFIG;
    FILE *f = fopen(v, "r");
    if (f == NULL)
        return KL_ECONFIG;
    fclose(f);
    const char *d = cfg_strndup(r->t, v, n);
    if (d == NULL)
        return KL_ENOMEM;
    r->t->binance_ca_file = d;
    return 0;
}

/* A comma list of quote assets, each 2..10 of [A-Z0-9]; "" clears it. */
static int
set_quote_assets(struct cfg_run *r, const char *v)
{
    size_t run = 0;
    for (const char *p = v;; p++) {
        if (*p == ',' || *p == '\0') {
            if (run < 2 || run > 10)
                return *v == '\0' ? (r->t->quote_assets = "", 0) : KL_ECONFIG;
            run = 0;
            if (*p == '\0')
                break;
        } else if ((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) {
            run++;
        } else {
            return KL_ECONFIG;
        }
    }
    const char *d = cfg_strndup(r->t, v, strlen(v));
    if (d == NULL)
        return KL_ENOMEM;
    r->t->quote_assets = d;
    return 0;
}

/* aggTrade (gaps backfilled by REST aggTrades) or trade (raw trades, gaps backfilled by REST
 * historicalTrades): the name is kept as a static string, exact case as Binance spells it. */
static int
set_binance_stream(struct cfg_run *r, const char *v)
{
    if (strcmp(v, "aggTrade") == 0)
        r->t->binance_stream = "aggTrade";
    else if (strcmp(v, "trade") == 0)
        r->t->binance_stream = "trade";
    else
        return KL_ECONFIG;
    return 0;
}

static int
set_pace(struct cfg_run *r, const char *v)
{
    /* Plain decimal with an optional exponent: strtod alone would also take "inf", "nan",
     * hex floats and leading blanks. */
    const char *p = v;
    int digits = 0;
    while (cfg_isdigit(*p)) {
        p++;
        digits++;
    }
    if (*p == '.')
        for (p++; cfg_isdigit(*p); p++)
            digits++;
    if (digits > 0 && (*p == 'e' || *p == 'E')) {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!cfg_isdigit(*p))
            return KL_ECONFIG;
        while (cfg_isdigit(*p))
            p++;
    }
    if (digits == 0 || *p != '\0')
        return KL_ECONFIG;
    double x = strtod(v, NULL);
    if (!isfinite(x) || x < 0 || x > 1e6 || (x == 0 && strspn(v, "0.") != strcspn(v, "eE")))
        return KL_ECONFIG; /* the last test refuses an underflow to 0 such as "1e-400" */
    r->t->pace = x;
    return 0;
}

static int
cfg_set_str(struct cfg_run *r, const char *v, size_t max, const char **dst)
{
    size_t n = strlen(v);
    if (n == 0 || n > max)
        return KL_ECONFIG;
    const char *p = cfg_strndup(r->t, v, n);
    if (p == NULL)
        return KL_ENOMEM;
    *dst = p;
    return 0;
}

static int
set_group(struct cfg_run *r, const char *v)
{
    return cfg_set_str(r, v, 255, &r->t->group);
}

static int
set_wal_dir(struct cfg_run *r, const char *v)
{
    return cfg_set_str(r, v, 4095, &r->t->wal_dir);
}

static int
set_store(struct cfg_run *r, const char *v)
{
    kl_config_t *t = r->t;
    if (cfg_starts(v, "sqlite:")) {
        const char *path = v + strlen("sqlite:");
        if (*path == '\0')
            return KL_ECONFIG;
        const char *url = cfg_strndup(t, v, strlen(v));
        if (url == NULL)
            return KL_ENOMEM;
        t->store = KL_CFG_STORE_SQLITE;
        t->store_url = url;
        t->store_path = url + strlen("sqlite:");
        return 0;
    }
    if (cfg_starts(v, "postgres://") || cfg_starts(v, "postgresql://")) {
        if (strpbrk(v, " \t") != NULL)
            return KL_ECONFIG;
        const char *url = cfg_strndup(t, v, strlen(v));
        if (url == NULL)
            return KL_ENOMEM;
        t->store = KL_CFG_STORE_POSTGRES;
        t->store_url = url;
        t->store_path = NULL;
        return 0;
    }
    return KL_ECONFIG;
}

static int
cfg_host_char(char ch)
{
    return cfg_isalnum_upper(cfg_upper(ch)) || ch == '.' || ch == '-' || ch == '_';
}

static int
set_listen(struct cfg_run *r, const char *v)
{
    const char *colon = strrchr(v, ':');
    if (colon == NULL)
        return KL_ECONFIG;
    uint64_t port;
    if (cfg_uint(colon + 1, 0, 65535, &port) != 0) /* 0: any free port (logged; tests) */
        return KL_ECONFIG;
    const char *h = v;
    size_t hlen = (size_t)(colon - v);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
        /* IPv6 literal, optionally with a %zone. */
        int has_colon = 0, in_zone = 0;
        for (size_t i = 0; i < hlen; i++) {
            char ch = h[i];
            if (in_zone) {
                if (!cfg_host_char(ch))
                    return KL_ECONFIG;
            } else if (ch == '%' && i > 0) {
                in_zone = 1;
            } else if (ch == ':') {
                has_colon = 1;
            } else if (!(cfg_isdigit(ch) || (cfg_upper(ch) >= 'A' && cfg_upper(ch) <= 'F') ||
                         ch == '.')) {
                return KL_ECONFIG;
            }
        }
        if (!has_colon)
            return KL_ECONFIG;
    } else {
        for (size_t i = 0; i < hlen; i++)
            if (!cfg_host_char(h[i]))
                return KL_ECONFIG;
    }
    if (hlen == 0 || hlen > 255)
        return KL_ECONFIG;
    const char *host = cfg_strndup(r->t, h, hlen);
    if (host == NULL)
        return KL_ENOMEM;
    r->t->listen_host = host;
    r->t->listen_port = (uint16_t)port;
    return 0;
}

/* Copies s[0..n) upper-cased into dst (KL_CFG_SYMBOL_MAX + 1 bytes) if it is 1..max characters
 * of A-Z 0-9 after upper-casing. */
static int
cfg_sym_part(const char *s, size_t n, size_t max, char *dst)
{
    if (n == 0 || n > max)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = cfg_upper(s[i]);
        if (!cfg_isalnum_upper(ch))
            return -1;
        dst[i] = ch;
    }
    dst[n] = '\0';
    return 0;
}

static int
set_symbols(struct cfg_run *r, const char *v)
{
    kl_config_t *t = r->t;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v == '\0') { /* an empty value clears the list, so a flag can undo the file's list */
        t->symbols = NULL;
        t->n_symbols = 0;
        return 0;
    }
    size_t n = 1;
    for (const char *p = v; *p; p++)
        n += *p == ',';
    kl_cfg_symbol_t *syms = cfg_mem(t, n * sizeof *syms);
    if (syms == NULL)
        return KL_ENOMEM;
    memset(syms, 0, n * sizeof *syms);
    const char *s = v;
    for (size_t i = 0; i < n; i++) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *e = s;
        while (len > 0 && (*e == ' ' || *e == '\t')) {
            e++;
            len--;
        }
        while (len > 0 && (e[len - 1] == ' ' || e[len - 1] == '\t'))
            len--;
        kl_cfg_symbol_t *y = &syms[i];
        const char *slash = memchr(e, '/', len);
        int bad;
        if (slash != NULL) {
            size_t bl = (size_t)(slash - e), ql = len - bl - 1;
            bad = bl + ql > KL_CFG_SYMBOL_MAX ||
                  cfg_sym_part(e, bl, KL_CFG_SYMBOL_MAX, y->base) != 0 ||
                  cfg_sym_part(slash + 1, ql, KL_CFG_SYMBOL_MAX, y->quote) != 0;
            if (!bad) {
                memcpy(y->name, y->base, bl);
                memcpy(y->name + bl, y->quote, ql + 1);
            }
        } else {
            bad = cfg_sym_part(e, len, KL_CFG_SYMBOL_MAX, y->name) != 0;
        }
        if (bad) {
            char q[64];
            char *one = cfg_strndup(t, e, len);
            if (one == NULL)
                return KL_ENOMEM;
            cfg_quote(q, sizeof q, one);
            cfg_why(r, "symbol %s is neither BASE/QUOTE nor a name; each part must be letters "
                       "and digits, 1..31 in all", q);
            return KL_ECONFIG;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(syms[j].name, y->name) == 0) {
                cfg_why(r, "symbol %s is listed twice", y->name);
                return KL_ECONFIG;
            }
        s = comma ? comma + 1 : s + strlen(s);
    }
    t->symbols = syms;
    t->n_symbols = n;
    return 0;
}

static int
set_intervals(struct cfg_run *r, const char *v)
{
    uint32_t mask;
    if (kl_iv_parse_list(v, &mask) != 0)
        return KL_ECONFIG;
    r->t->intervals = mask;
    return 0;
}

static int
set_tz(struct cfg_run *r, const char *v)
{
    int32_t m;
    if (kl_tz_parse(v, &m) != 0)
        return KL_ECONFIG;
    r->t->tz_minutes = m;
    return 0;
}

static int
set_int(const char *v, int lo, int hi, int *dst)
{
    uint64_t x;
    if (cfg_uint(v, (uint64_t)lo, (uint64_t)hi, &x) != 0)
        return KL_ECONFIG;
    *dst = (int)x;
    return 0;
}

static int
set_workers(struct cfg_run *r, const char *v)
{
    return set_int(v, 1, KL_CFG_WORKERS_MAX, &r->t->workers);
}

static int
set_cpus(struct cfg_run *r, const char *v)
{
    kl_config_t *t = r->t;
    if (strcmp(v, "none") == 0) {
        t->cpus = NULL;
        t->n_cpus = 0;
        return 0;
    }
    size_t n = 1;
    for (const char *p = v; *p; p++)
        n += *p == ',';
    if (n > KL_CFG_CPU_MAX + 1) {
        cfg_why(r, "more than %d CPUs listed", KL_CFG_CPU_MAX + 1);
        return KL_ECONFIG;
    }
    int *cpus = cfg_mem(t, n * sizeof *cpus);
    if (cpus == NULL)
        return KL_ENOMEM;
    const char *s = v;
    for (size_t i = 0; i < n; i++) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        uint64_t id;
        if (cfg_uint_n(s, len, 0, KL_CFG_CPU_MAX, &id) != 0)
            return KL_ECONFIG;
        cpus[i] = (int)id;
        for (size_t j = 0; j < i; j++)
            if (cpus[j] == cpus[i]) {
                cfg_why(r, "CPU %d is listed twice", cpus[i]);
                return KL_ECONFIG;
            }
        s = comma ? comma + 1 : s + len;
    }
    t->cpus = cpus;
    t->n_cpus = n;
    return 0;
}

static int
set_admin_token(struct cfg_run *r, const char *v)
{
    size_t n = strlen(v);
    if (n < KL_CFG_TOKEN_MIN || n > KL_CFG_TOKEN_MAX)
        return KL_ECONFIG;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
            return KL_ECONFIG; /* it travels in an HTTP header: printable ASCII only */
    const char *p = cfg_strndup(r->t, v, n);
    if (p == NULL)
        return KL_ENOMEM;
    r->t->admin_token = p;
    r->t->admin_token_from = r->from;
    return 0;
}

static int
cfg_bool(const char *v, bool *dst)
{
    static const char *const yes[] = {"true", "1", "yes"}, *const no[] = {"false", "0", "no"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *dst = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *dst = false;
            return 0;
        }
    }
    return KL_ECONFIG;
}

static int
set_exit_on_eof(struct cfg_run *r, const char *v)
{
    return cfg_bool(v, &r->t->exit_on_eof);
}

static int
set_kline_sink(struct cfg_run *r, const char *v)
{
    if (!cfg_starts(v, "kafka://")) {
        cfg_why(r, "must be kafka://BROKERS/TOPIC");
        return KL_ECONFIG;
    }
    return parse_kafka_url(r, v + strlen("kafka://"), &r->t->sink_brokers, &r->t->sink_topic);
}

static int
set_kline_sink_live(struct cfg_run *r, const char *v)
{
    return cfg_bool(v, &r->t->sink_live);
}

static int
set_shard(struct cfg_run *r, const char *v)
{
    const char *slash = strchr(v, '/');
    uint64_t i, n;
    if (slash == NULL || cfg_uint_n(v, (size_t)(slash - v), 0, KL_CFG_SHARDS_MAX - 1, &i) != 0 ||
        cfg_uint(slash + 1, 1, KL_CFG_SHARDS_MAX, &n) != 0 || i >= n)
        return KL_ECONFIG;
    r->t->shard_index = (uint32_t)i;
    r->t->shard_count = (uint32_t)n;
    return 0;
}

static int
set_lateness_ms(struct cfg_run *r, const char *v)
{
    return set_int(v, 0, 1000, &r->t->lateness_ms);
}

static int
set_disorder_ms(struct cfg_run *r, const char *v)
{
    return set_int(v, 0, 5000, &r->t->disorder_ms);
}

static int
set_idle_ms(struct cfg_run *r, const char *v)
{
    return set_int(v, 100, 600000, &r->t->idle_ms);
}

static int
set_max_skew_ms(struct cfg_run *r, const char *v)
{
    return set_int(v, 100, 3600000, &r->t->max_skew_ms);
}

static int
set_kline_sink_queue_bytes(struct cfg_run *r, const char *v)
{
    uint64_t x;
    if (cfg_uint(v, 65536, UINT64_C(1) << 31, &x) != 0)
        return KL_ECONFIG;
    r->t->sink_queue_bytes = x;
    return 0;
}

static int
set_lines_ack(struct cfg_run *r, const char *v)
{
    return cfg_bool(v, &r->t->lines_ack);
}

static int
set_log_buffer_bytes(struct cfg_run *r, const char *v)
{
    uint64_t x;
    if (cfg_uint(v, 4096, 1u << 30, &x) != 0)
        return KL_ECONFIG;
    r->t->log_buffer_bytes = (uint32_t)x;
    return 0;
}

static int
set_shutdown_timeout_ms(struct cfg_run *r, const char *v)
{
    return set_int(v, 100, 3600000, &r->t->shutdown_timeout_ms);
}

static int
set_persist_ms(struct cfg_run *r, const char *v)
{
    return set_int(v, 50, 60000, &r->t->persist_ms);
}

static int
set_stats_s(struct cfg_run *r, const char *v)
{
    return set_int(v, 0, 3600, &r->t->stats_s);
}

static int
set_push_ms(struct cfg_run *r, const char *v)
{
    return set_int(v, 0, 60000, &r->t->push_ms);
}

static int
set_api_cpu(struct cfg_run *r, const char *v)
{
    if (strcmp(v, "none") == 0) {
        r->t->api_cpu = -1;
        return 0;
    }
    return set_int(v, 0, KL_CFG_CPU_MAX, &r->t->api_cpu);
}

static int
set_web_root(struct cfg_run *r, const char *v)
{
    return cfg_set_str(r, v, 4095, &r->t->web_root);
}

static int
set_max_connections(struct cfg_run *r, const char *v)
{
    return set_int(v, 1, 100000, &r->t->max_connections);
}

static int
set_max_streams(struct cfg_run *r, const char *v)
{
    return set_int(v, 1, 1024, &r->t->max_streams);
}

static int
set_ws_queue(struct cfg_run *r, const char *v)
{
    return set_int(v, 16, 65536, &r->t->ws_queue);
}

static int
set_int64(const char *v, int64_t lo, int64_t hi, int64_t *dst)
{
    uint64_t x;
    if (cfg_uint(v, (uint64_t)lo, (uint64_t)hi, &x) != 0)
        return KL_ECONFIG;
    *dst = (int64_t)x;
    return 0;
}

static int
set_api_readers(struct cfg_run *r, const char *v)
{
    return set_int(v, 1, 8, &r->t->api_readers);
}

static int
set_api_read_queue(struct cfg_run *r, const char *v)
{
    return set_int(v, 1, 65536, &r->t->api_read_queue);
}

static int
set_api_read_queue_bytes(struct cfg_run *r, const char *v)
{
    return set_int64(v, 1 << 20, INT64_C(1) << 40, &r->t->api_read_queue_bytes);
}

static int
set_max_query_rows(struct cfg_run *r, const char *v)
{
    return set_int64(v, 1000, 100000000, &r->t->max_query_rows);
}

static int
set_api_cache_bytes(struct cfg_run *r, const char *v)
{
    return set_int64(v, 1 << 20, INT64_C(1) << 40, &r->t->api_cache_bytes);
}

static int
set_pg_statement_timeout_ms(struct cfg_run *r, const char *v)
{
    return set_int(v, 0, 3600000, &r->t->pg_statement_timeout_ms);
}

static int
set_ws_queue_bytes(struct cfg_run *r, const char *v)
{
    return set_int64(v, 131072, 1073741824, &r->t->ws_queue_bytes);
}

static int
set_ws_total_queue_bytes(struct cfg_run *r, const char *v)
{
    return set_int64(v, 1048576, INT64_C(68719476736), &r->t->ws_total_queue_bytes);
}

static int
set_max_conns_per_ip(struct cfg_run *r, const char *v)
{
    return set_int(v, 1, 100000, &r->t->max_conns_per_ip);
}

static int
set_header_timeout_s(struct cfg_run *r, const char *v)
{
    return set_int(v, 1, 600, &r->t->header_timeout_s);
}

/* "*", or a comma list of origins scheme://host[:port] as browsers send them (no path, no
 * blanks); empty: the service's own page only. */
static int
set_allowed_origins(struct cfg_run *r, const char *v)
{
    size_t n = strlen(v);
    if (n > 4096)
        return KL_ECONFIG;
    if (n == 0) {
        r->t->allowed_origins = NULL;
        return 0;
    }
    if (strcmp(v, "*") != 0) {
        for (const char *e = v; *e;) {
            const char *end = strchr(e, ',');
            size_t len = end ? (size_t)(end - e) : strlen(e);
            size_t pre = cfg_starts(e, "http://") ? 7 : cfg_starts(e, "https://") ? 8 : 0;
            if (pre == 0 || len <= pre || len > 255)
                return KL_ECONFIG;
            for (size_t i = pre; i < len; i++) {
                char c = e[i];
                if (!(cfg_isdigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
                    return KL_ECONFIG;
            }
            e += len;
            if (*e == ',' && *++e == '\0')
                return KL_ECONFIG;
        }
    }
    return cfg_set_str(r, v, 4096, &r->t->allowed_origins);
}

static int
set_queue_capacity(struct cfg_run *r, const char *v)
{
    uint64_t x;
    if (cfg_uint(v, 1024, 1048576, &x) != 0 || (x & (x - 1)) != 0)
        return KL_ECONFIG;
    r->t->queue_capacity = (uint32_t)x;
    return 0;
}

static int
set_max_pending_rows(struct cfg_run *r, const char *v)
{
    uint64_t x;
    if (cfg_uint(v, 1000, 100000000, &x) != 0)
        return KL_ECONFIG;
    r->t->max_pending_rows = (uint32_t)x;
    return 0;
}

static int
set_parked_symbols(struct cfg_run *r, const char *v)
{
    uint64_t x;
    if (cfg_uint(v, 0, 100000, &x) != 0)
        return KL_ECONFIG;
    r->t->parked_symbols = (uint32_t)x;
    return 0;
}

static int
set_max_symbols(struct cfg_run *r, const char *v)
{
    uint64_t x;
    if (cfg_uint(v, 1, 1000000, &x) != 0)
        return KL_ECONFIG;
    r->t->max_symbols = (uint32_t)x;
    return 0;
}

static int
set_symbol_create_rate(struct cfg_run *r, const char *v)
{
    uint64_t x;
    if (cfg_uint(v, 0, 1000000, &x) != 0)
        return KL_ECONFIG;
    r->t->symbol_create_rate = (uint32_t)x;
    return 0;
}

static int
set_symbol_create_burst(struct cfg_run *r, const char *v)
{
    uint64_t x;
    if (cfg_uint(v, 1, 1000000, &x) != 0)
        return KL_ECONFIG;
    r->t->symbol_create_burst = (uint32_t)x;
    return 0;
}

static const char *const auto_add_names[] = {"auto", "yes", "no"};

static int
set_auto_add_symbols(struct cfg_run *r, const char *v)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(v, auto_add_names[i]) == 0) {
            r->t->auto_add = (enum kl_cfg_auto_add)i;
            return 0;
        }
    return KL_ECONFIG;
}

static const char *const log_names[] = {"debug", "info", "warn", "error"};
static const char *const clock_names[] = {"auto", "wall", "event"};
static const char *const fsync_names[] = {"always", "everysec", "no"};
static const char *const wal_repair_names[] = {"tail", "cut"};

static int
cfg_enum(const char *v, const char *const *names, int n, int *dst)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) {
            *dst = i;
            return 0;
        }
    return KL_ECONFIG;
}

static int
set_log_level(struct cfg_run *r, const char *v)
{
    int x;
    if (cfg_enum(v, log_names, 4, &x) != 0)
        return KL_ECONFIG;
    r->t->log_level = (enum kl_cfg_log)x;
    return 0;
}

static int
set_clock(struct cfg_run *r, const char *v)
{
    int x;
    if (cfg_enum(v, clock_names, 3, &x) != 0)
        return KL_ECONFIG;
    r->t->clock = (enum kl_cfg_clock)x;
    return 0;
}

static int
set_fsync(struct cfg_run *r, const char *v)
{
    int x;
    if (cfg_enum(v, fsync_names, 3, &x) != 0)
        return KL_ECONFIG;
    r->t->fsync = (enum kl_cfg_fsync)x;
    return 0;
}

static int
set_wal_repair(struct cfg_run *r, const char *v)
{
    int x;
    if (cfg_enum(v, wal_repair_names, 2, &x) != 0)
        return KL_ECONFIG;
    r->t->wal_repair = (enum kl_cfg_wal_repair)x;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The key table: one row per flag / config key, in the order describe prints them. */

#define KEY_NOVALUE 1u /* a flag that may stand alone (--exit-on-eof) */
#define KEY_SECRET 2u  /* never echo the value */

struct cfg_key {
    const char *name;
    cfg_set_fn set;
    unsigned flags;
    const char *allowed;
};

static const struct cfg_key cfg_keys[] = {
    {"source", set_source, 0,
     "must be binance, replay:FILE[,FILE...], lines:stdin, lines:tcp://127.0.0.1:PORT or "
     "kafka://BROKERS/TOPIC"},
    {"binance-ws", set_binance_ws, 0, "must be a ws:// or wss:// URL"},
    {"binance-rest", set_binance_rest, 0, "must be an http:// or https:// URL"},
    {"binance-ca-file", set_binance_ca_file, 0,
     "must be empty (the system CA bundle) or a readable regular file of PEM CA certificates, "
     "path up to 1023 bytes"},
    {"quote-assets", set_quote_assets, 0,
     "must be empty or a comma list of quote assets of 2..10 characters A-Z 0-9 (e.g. "
     "USDT,FDUSD)"},
    {"binance-stream", set_binance_stream, 0,
     "must be aggTrade or trade"},
    {"pace", set_pace, 0, "must be 0 (full speed) or a number > 0 up to 1000000 (1 = real time)"},
    {"group", set_group, 0, "must be a Kafka consumer group name of 1..255 characters"},
    {"store", set_store, 0, "must be sqlite:PATH, postgres://... or postgresql://..."},
    {"wal-dir", set_wal_dir, 0, "must be a directory path"},
    {"fsync", set_fsync, 0, "must be always, everysec or no"},
    {"wal-repair", set_wal_repair, 0, "must be tail or cut"},
    {"persist-ms", set_persist_ms, 0, "must be an integer 50..60000"},
    {"listen", set_listen, 0,
     "must be HOST:PORT with PORT 0..65535 (0: any free port; IPv6 as [ADDR]:PORT), e.g. "
     "127.0.0.1:8080"},
    {"admin-token", set_admin_token, KEY_SECRET,
     "must be 16..256 printable ASCII characters without spaces"},
    {"push-ms", set_push_ms, 0, "must be an integer 0..60000 (0 = push every update)"},
    {"web-root", set_web_root, 0, "must be a directory path"},
    {"api-cpu", set_api_cpu, 0, "must be none or a CPU id 0..1023"},
    {"bridge-to", set_bridge_to, 0,
     "must be kafka://BROKERS/TOPIC (klined bridge: where the trades go)"},
    {"max-connections", set_max_connections, 0, "must be an integer 1..100000"},
    {"max-streams", set_max_streams, 0, "must be an integer 1..1024 (streams per connection)"},
    {"ws-queue", set_ws_queue, 0, "must be an integer 16..65536 (frames per WS client)"},
    {"api-readers", set_api_readers, 0, "must be an integer 1..8 (API store reader threads)"},
    {"api-read-queue", set_api_read_queue, 0,
     "must be an integer 1..65536 (API store reads queued or running at once)"},
    {"api-read-queue-bytes", set_api_read_queue_bytes, 0,
     "must be an integer 1048576..1099511627776 (bytes of API read answers at once)"},
    {"max-query-rows", set_max_query_rows, 0,
     "must be an integer 1000..100000000 (klines one API query may read or fold)"},
    {"api-cache-bytes", set_api_cache_bytes, 0,
     "must be an integer 1048576..1099511627776 (bytes of the API's per-symbol memory)"},
    {"pg-statement-timeout-ms", set_pg_statement_timeout_ms, 0,
     "must be an integer 0..3600000 (statement_timeout of the API's PostgreSQL reads; 0: none)"},
    {"ws-queue-bytes", set_ws_queue_bytes, 0,
     "must be an integer 131072..1073741824 (bytes queued per WS client)"},
    {"ws-total-queue-bytes", set_ws_total_queue_bytes, 0,
     "must be an integer 1048576..68719476736 (bytes queued for all WS clients)"},
    {"max-connections-per-ip", set_max_conns_per_ip, 0,
     "must be an integer 1..100000 (HTTP + WS connections from one address)"},
    {"header-timeout-s", set_header_timeout_s, 0,
     "must be an integer 1..600 (seconds a connection may take to send a complete request)"},
    {"allowed-origins", set_allowed_origins, 0,
     "must be *, empty (the service's own page) or a comma list of http(s)://HOST[:PORT]"},
    {"symbols", set_symbols, 0,
     "must be a comma list of symbols, each BASE/QUOTE (e.g. BTC/USDT) or a name (e.g. "
     "BTCUSDT) of 1..31 letters and digits"},
    {"intervals", set_intervals, 0,
     "must be all or a comma list of 1s,1m,3m,5m,15m,30m,1h,2h,4h,6h,8h,12h,1d,3d,1w,1M"},
    {"tz", set_tz, 0, "must be an offset [+-]HH:MM from -12:00 to +14:00"},
    {"lateness-ms", set_lateness_ms, 0, "must be an integer 0..1000"},
    {"clock", set_clock, 0, "must be auto, wall or event"},
    {"disorder-ms", set_disorder_ms, 0,
     "must be an integer 0..5000 (how far trades on one feed connection may be out of time "
     "order)"},
    {"idle-ms", set_idle_ms, 0,
     "must be an integer 100..600000 (a silent lines client's or Kafka partition's symbols "
     "close this long after their klines end)"},
    {"max-skew-ms", set_max_skew_ms, 0,
     "must be an integer 100..3600000 (live trades further ahead of exchange time are "
     "refused)"},
    {"workers", set_workers, 0, "must be an integer 1..64"},
    {"cpus", set_cpus, 0, "must be none or a comma list of distinct CPU ids 0..1023"},
    {"queue-capacity", set_queue_capacity, 0, "must be a power of two 1024..1048576"},
    {"max-pending-rows", set_max_pending_rows, 0, "must be an integer 1000..100000000"},
    {"parked-symbols", set_parked_symbols, 0, "must be an integer 0..100000"},
    {"max-symbols", set_max_symbols, 0,
     "must be an integer 1..1000000 (live symbols at most; at least as many as symbols lists)"},
    {"symbol-create-rate", set_symbol_create_rate, 0,
     "must be an integer 0..1000000 (new symbols per second added from trades; 0 = unpaced)"},
    {"symbol-create-burst", set_symbol_create_burst, 0,
     "must be an integer 1..1000000 (new symbols added from trades at once)"},
    {"auto-add-symbols", set_auto_add_symbols, 0, "must be auto, yes or no"},
    {"shard", set_shard, 0, "must be i/N with 0 <= i < N <= 1024"},
    {"exit-on-eof", set_exit_on_eof, KEY_NOVALUE, "must be true, false, 1, 0, yes or no"},
    {"kline-sink", set_kline_sink, 0,
     "must be kafka://BROKERS/TOPIC (final klines are published there after each commit)"},
    {"kline-sink-live", set_kline_sink_live, KEY_NOVALUE,
     "must be true, false, 1, 0, yes or no"},
    {"kline-sink-queue-bytes", set_kline_sink_queue_bytes, 0,
     "must be an integer 65536..2147483648 (bytes of klines waiting for the broker)"},
    {"lines-ack", set_lines_ack, KEY_NOVALUE, "must be true, false, 1, 0, yes or no"},
    {"shutdown-timeout-ms", set_shutdown_timeout_ms, 0, "must be an integer 100..3600000"},
    {"stats-s", set_stats_s, 0, "must be an integer 0..3600 (0 = off)"},
    {"log-level", set_log_level, 0, "must be debug, info, warn or error"},
    {"log-buffer-bytes", set_log_buffer_bytes, 0, "must be an integer 4096..1073741824"},
};
#define CFG_NKEYS (sizeof cfg_keys / sizeof cfg_keys[0])

static const struct cfg_key *
cfg_key_find(const char *name, size_t n)
{
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if (strlen(cfg_keys[i].name) == n && memcmp(cfg_keys[i].name, name, n) == 0)
            return &cfg_keys[i];
    return NULL;
}

/* A near miss worth suggesting: case and '_' for '-'. */
static const char *
cfg_key_suggest(const char *name, size_t n)
{
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const char *k = cfg_keys[i].name;
        if (strlen(k) != n)
            continue;
        size_t j = 0;
        while (j < n && (cfg_upper(name[j]) == cfg_upper(k[j]) || (name[j] == '_' && k[j] == '-')))
            j++;
        if (j == n)
            return k;
    }
    return NULL;
}

static void
cfg_err_unknown(struct cfg_run *r, const char *what, const char *dashes, const char *name,
                size_t n)
{
    char tmp[96], q[128];
    size_t dl = strlen(dashes);
    size_t m = n < sizeof tmp - 1 - dl ? n : sizeof tmp - 1 - dl;
    memcpy(tmp, dashes, dl);
    memcpy(tmp + dl, name, m);
    tmp[dl + m] = '\0';
    cfg_quote(q, sizeof q, tmp);
    const char *near = cfg_key_suggest(name, n);
    if (near != NULL)
        cfg_errf(r, "config: %sunknown %s %s (did you mean \"%s%s\"?)", r->where, what, q, dashes,
                 near);
    else
        cfg_errf(r, "config: %sunknown %s %s", r->where, what, q);
}

/* Sets one key from text, writing the one-line message on failure. */
static int
cfg_apply(struct cfg_run *r, const struct cfg_key *k, const char *v)
{
    r->why[0] = '\0';
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f) {
            cfg_why(r, "control characters are not allowed");
            rc = KL_ECONFIG;
            break;
        }
    if (rc == 0)
        rc = k->set(r, v);
    if (rc == 0)
        return 0;
    if (rc == KL_ENOMEM) {
        cfg_errf(r, "config: out of memory");
        return rc;
    }
    char q[96];
    if (k->flags & KEY_SECRET)
        snprintf(q, sizeof q, "(hidden, %zu characters)", strlen(v));
    else
        cfg_quote(q, sizeof q, v);
    cfg_errf(r, "config: %s%s = %s: %s", r->where, k->name, q, r->why[0] ? r->why : k->allowed);
    return KL_ECONFIG;
}

/* ------------------------------------------------------------------------------------------ */
/* INI text through inih. */

struct cfg_ini {
    struct cfg_run *r;
    const char *origin;
    const char *p, *end;
    int lineno;
    int rc;       /* first error of ours */
    int err_line; /* its line */
    const char *long_val; /* the value part of the current over-long line */
    size_t long_len;
};

static void
cfg_ini_where(struct cfg_ini *x)
{
    snprintf(x->r->where, sizeof x->r->where, "%s:%d: ", x->origin, x->lineno);
}

static void
cfg_ini_fail(struct cfg_ini *x, int rc)
{
    x->rc = rc;
    x->err_line = x->lineno;
}

/* inih's reader: one line per call (so inih's line count stays ours), leading blanks removed,
 * '\n' kept. Returns NULL at the end, and after an error to stop inih early. */
static char *
cfg_ini_read(char *str, int num, void *stream)
{
    struct cfg_ini *x = stream;
    if (x->rc != 0 || x->p >= x->end || num < 8)
        return NULL;
    const char *s = x->p;
    const char *nl = memchr(s, '\n', (size_t)(x->end - s));
    const char *e = nl ? nl : x->end;
    x->p = nl ? nl + 1 : x->end;
    x->lineno++;
    x->long_val = NULL;
    if (e > s && e[-1] == '\r')
        e--;
    for (const char *q = s; q < e; q++) {
        unsigned char ch = (unsigned char)*q;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            cfg_ini_where(x);
            cfg_errf(x->r, "config: %scontrol character 0x%02x in the line", x->r->where, ch);
            cfg_ini_fail(x, KL_ECONFIG);
            return NULL;
        }
    }
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    size_t n = (size_t)(e - s);
    size_t room = (size_t)num - 2; /* '\n' and NUL */
    if (n <= room) {
        memcpy(str, s, n);
        memcpy(str + n, "\n", 2);
        return str;
    }
    if (*s == ';' || *s == '#') {
        memcpy(str, "#\n", 3);
        return str;
    }
    /* Split where inih would: the first '=' or ':', unless an inline comment comes first. */
    size_t i = 0;
    int was_space = 0;
    while (i < n && s[i] != '=' && s[i] != ':' && !(was_space && s[i] == ';')) {
        was_space = s[i] == ' ' || s[i] == '\t';
        i++;
    }
    if (*s == '[' || i == n || s[i] == ';' || i + 3 > room) {
        cfg_ini_where(x);
        cfg_errf(x->r, "config: %sline too long (%zu bytes) for a section or key name",
                 x->r->where, n);
        cfg_ini_fail(x, KL_ECONFIG);
        return NULL;
    }
    memcpy(str, s, i);
    memcpy(str + i, "=" CFG_LONG_MARK "\n", 4);
    x->long_val = s + i + 1;
    x->long_len = n - i - 1;
    return str;
}

/* The value of an over-long line, processed as inih processes short ones: cut at an inline
 * ';' comment that follows a blank, then strip blanks. Caller kl_frees. */
static char *
cfg_ini_long_value(const char *v, size_t n)
{
    size_t i = 0;
    int was_space = 0;
    while (i < n && !(was_space && v[i] == ';')) {
        was_space = v[i] == ' ' || v[i] == '\t';
        i++;
    }
    n = i;
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    char *out = kl_alloc(n + 1);
    if (out != NULL) {
        memcpy(out, v, n);
        out[n] = '\0';
    }
    return out;
}

static int
cfg_ini_kv(void *user, const char *section, const char *name, const char *value)
{
    struct cfg_ini *x = user;
    struct cfg_run *r = x->r;
    if (x->rc != 0)
        return 0;
    cfg_ini_where(x);
    if (section[0] != '\0' && strcmp(section, "klined") != 0) {
        cfg_errf(r, "config: %ssection [%s] is not klined's: keys go before any section or "
                    "under [klined]", r->where, section);
        cfg_ini_fail(x, KL_ECONFIG);
        return 0;
    }
    if (strcmp(name, "config") == 0 || strcmp(name, "help") == 0) {
        cfg_errf(r, "config: %s\"%s\" is a command-line flag only, not a config key", r->where,
                 name);
        cfg_ini_fail(x, KL_ECONFIG);
        return 0;
    }
    const struct cfg_key *k = cfg_key_find(name, strlen(name));
    if (k == NULL) {
        cfg_err_unknown(r, "key", "", name, strlen(name));
        cfg_ini_fail(x, KL_ECONFIG);
        return 0;
    }
    char *owned = NULL;
    if (x->long_val != NULL && strcmp(value, CFG_LONG_MARK) == 0) {
        if ((owned = cfg_ini_long_value(x->long_val, x->long_len)) == NULL) {
            cfg_errf(r, "config: out of memory");
            cfg_ini_fail(x, KL_ENOMEM);
            return 0;
        }
        value = owned;
    }
    int rc = cfg_apply(r, k, value);
    kl_free(owned);
    if (rc != 0) {
        cfg_ini_fail(x, rc);
        return 0;
    }
    return 1;
}

static int
cfg_ini_run(struct cfg_run *r, const char *text, size_t n, const char *origin)
{
    struct cfg_ini x = {.r = r, .origin = origin, .p = text, .end = text + n};
    enum kl_cfg_token_from from = r->from;
    r->from = KL_CFG_TOKEN_FILE;
    int ret = ini_parse_stream(cfg_ini_read, &x, cfg_ini_kv, &x);
    r->from = from;
    r->where[0] = '\0';
    if (x.rc != 0 && (ret <= 0 || ret >= x.err_line))
        return x.rc;
    if (ret > 0) {
        cfg_errf(r, "config: %s:%d: expected \"key = value\", \"[section]\" or a comment", origin,
                 ret);
        return KL_ECONFIG;
    }
    if (ret < 0) {
        cfg_errf(r, "config: out of memory");
        return KL_ENOMEM;
    }
    return 0;
}

static int
cfg_load_file(struct cfg_run *r, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cfg_errf(r, "config: cannot open config file \"%s\": %s", path, strerror(errno));
        return KL_ECONFIG;
    }
    /* Read to EOF rather than trusting st_size, so pipes (--config <(...)) work too. */
    size_t cap = 4096, n = 0;
    char *buf = kl_alloc(cap);
    int rc = 0;
    if (buf == NULL) {
        rc = KL_ENOMEM;
        cfg_errf(r, "config: out of memory");
        goto out;
    }
    for (;;) {
        if (n == cap) {
            char *nb = kl_alloc(cap * 2);
            if (nb == NULL) {
                rc = KL_ENOMEM;
                cfg_errf(r, "config: out of memory");
                goto out;
            }
            memcpy(nb, buf, n);
            kl_free(buf);
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > CFG_FILE_MAX) {
            cfg_errf(r, "config: config file \"%s\" is larger than %d bytes", path,
                     CFG_FILE_MAX);
            rc = KL_ECONFIG;
            goto out;
        }
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        cfg_errf(r, "config: cannot read config file \"%s\": %s", path, strerror(errno));
        rc = KL_ECONFIG;
        goto out;
    }
    if (memchr(buf, '\0', n) != NULL) {
        cfg_errf(r, "config: config file \"%s\" contains a NUL byte (not a text file?)", path);
        rc = KL_ECONFIG;
        goto out;
    }
    rc = cfg_ini_run(r, buf, n, path);
out:
    kl_free(buf);
    fclose(f);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Last steps shared by parse and load_text. */

static int
cfg_finish(struct cfg_run *r)
{
    kl_config_t *t = r->t;
    if (t->admin_token_from == KL_CFG_TOKEN_NONE) {
        const char *env = getenv(CFG_ENV_TOKEN);
        if (env != NULL && env[0] != '\0') { /* set but empty counts as unset */
            static const struct cfg_key env_key = {CFG_ENV_TOKEN, set_admin_token, KEY_SECRET,
                                                   "must be 16..256 printable ASCII characters "
                                                   "without spaces"};
            r->where[0] = '\0';
            r->from = KL_CFG_TOKEN_ENV;
            int rc = cfg_apply(r, &env_key, env);
            if (rc != 0)
                return rc;
        }
    }
    if (t->n_symbols > t->max_symbols) {
        cfg_errf(r, "config: max-symbols = \"%u\": symbols lists %zu names, more than it "
                    "allows (raise max-symbols)", t->max_symbols, t->n_symbols);
        return KL_ECONFIG;
    }
    if (t->pace > 0 && t->source != KL_CFG_SRC_REPLAY) {
        cfg_errf(r, "config: pace = \"%.15g\": only applies to source = replay:FILE[,FILE...] "
                    "(use pace = 0 or drop it)", t->pace);
        return KL_ECONFIG;
    }
    t->clock_effective = t->clock != KL_CFG_CLOCK_AUTO ? t->clock
                         : (t->source == KL_CFG_SRC_REPLAY || t->source == KL_CFG_SRC_KAFKA)
                             ? KL_CFG_CLOCK_EVENT /* a log is replayed: its own time decides */
                             : KL_CFG_CLOCK_WALL;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Public API. */

void
kl_config_defaults(kl_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->source = KL_CFG_SRC_BINANCE;
    c->binance_ws = "wss://stream.binance.com:9443";
    c->binance_rest = "https://api.binance.com";
    c->binance_ca_file = "";
    c->quote_assets = "";
    c->binance_stream = "aggTrade";
    c->pace = 0;
    c->group = "klined";
    c->store = KL_CFG_STORE_SQLITE;
    c->store_url = "sqlite:./var/klined.db";
    c->store_path = "./var/klined.db";
    c->wal_dir = "./var/wal";
    c->fsync = KL_CFG_FSYNC_EVERYSEC;
    c->persist_ms = 1000;
    c->listen_host = "127.0.0.1";
    c->listen_port = 8080;
    c->admin_token = NULL;
    c->admin_token_from = KL_CFG_TOKEN_NONE;
    c->push_ms = 0;
    c->web_root = "web/dist";
    c->api_cpu = -1;
    c->max_connections = 1024;
    c->max_streams = 1024;
    c->ws_queue = 1024;
    c->api_readers = 2;
    c->api_read_queue = 256;
    c->api_read_queue_bytes = INT64_C(64) << 20;
    c->max_query_rows = 1000000;
    c->api_cache_bytes = INT64_C(64) << 20;
    c->pg_statement_timeout_ms = 10000;
    c->ws_queue_bytes = 4194304;
    c->ws_total_queue_bytes = 268435456;
    c->max_conns_per_ip = 256;
    c->header_timeout_s = 10;
    c->allowed_origins = NULL;
    c->intervals = KL_IV_ALL;
    c->tz_minutes = 0;
    c->lateness_ms = 0;
    c->disorder_ms = 50;
    c->idle_ms = 2000;
    c->max_skew_ms = 5000;
    c->clock = KL_CFG_CLOCK_AUTO;
    c->clock_effective = KL_CFG_CLOCK_WALL;
    c->workers = 1;
    c->queue_capacity = 65536;
    c->max_pending_rows = 1000000;
    c->parked_symbols = 64;
    c->max_symbols = 10000;
    c->symbol_create_rate = 100;
    c->symbol_create_burst = 4000;
    c->auto_add = KL_CFG_AUTO_ADD_AUTO;
    c->shard_index = 0;
    c->shard_count = 1;
    c->exit_on_eof = false;
    c->shutdown_timeout_ms = 10000;
    c->log_buffer_bytes = 256u << 10;
    c->sink_queue_bytes = 64u << 20;
    c->lines_ack = false;
    c->stats_s = 10;
    c->log_level = KL_CFG_LOG_INFO;
}

void
kl_config_free(kl_config_t *c)
{
    cfg_release(c->mem_, NULL);
    kl_config_defaults(c);
}

/* Commits the working copy, or drops what it allocated. */
static int
cfg_end(kl_config_t *c, kl_config_t *t, int rc)
{
    if (rc == 0)
        *c = *t;
    else
        cfg_release(t->mem_, c->mem_);
    return rc;
}

int
kl_config_load_text(kl_config_t *c, const char *text, const char *origin, char *err, size_t cap)
{
    kl_config_t t = *c;
    struct cfg_run r = {.t = &t, .err = err, .cap = cap, .from = KL_CFG_TOKEN_FILE};
    if (err != NULL && cap > 0)
        err[0] = '\0';
    int rc = cfg_ini_run(&r, text, strlen(text), origin ? origin : "<text>");
    if (rc == 0)
        rc = cfg_finish(&r);
    return cfg_end(c, &t, rc);
}

/* Reads the flag at argv[*i], advancing *i past its value. *k is NULL for --config. */
static int
cfg_next_flag(struct cfg_run *r, int argc, char **argv, int *i, const struct cfg_key **k,
              const char **value)
{
    const char *a = argv[*i];
    if (a[0] != '-' || a[1] != '-' || a[2] == '\0') {
        char q[96];
        cfg_quote(q, sizeof q, a);
        cfg_errf(r, "config: unexpected argument %s (flags start with --; see --help)", q);
        return KL_ECONFIG;
    }
    const char *name = a + 2;
    const char *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    int is_config = n == 6 && memcmp(name, "config", 6) == 0;
    *k = is_config ? NULL : cfg_key_find(name, n);
    if (!is_config && *k == NULL) {
        cfg_err_unknown(r, "flag", "--", name, n);
        return KL_ECONFIG;
    }
    const char *shown = is_config ? "config" : (*k)->name;
    if (eq != NULL) {
        *value = eq + 1;
    } else if (!is_config && ((*k)->flags & KEY_NOVALUE)) {
        *value = "true";
    } else if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) {
        *value = argv[++*i];
    } else {
        cfg_errf(r, "config: --%s needs a value (write --%s=VALUE if it starts with --)", shown,
                 shown);
        return KL_ECONFIG;
    }
    if (is_config && **value == '\0') {
        cfg_errf(r, "config: --config needs a FILE");
        return KL_ECONFIG;
    }
    return 0;
}

int
kl_config_parse(kl_config_t *c, int argc, char **argv, char *err, size_t cap)
{
    if (err != NULL && cap > 0)
        err[0] = '\0';
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            c->help = true;
            return 0;
        }
    kl_config_t t = *c;
    struct cfg_run r = {.t = &t, .err = err, .cap = cap, .from = KL_CFG_TOKEN_FLAG};
    const struct cfg_key *k;
    const char *v, *config = NULL;
    int rc = 0;
    /* Flag syntax first, so a typo is reported before the file is even opened. */
    for (int i = 1; i < argc && rc == 0; i++) {
        rc = cfg_next_flag(&r, argc, argv, &i, &k, &v);
        if (rc == 0 && k == NULL) {
            if (config != NULL) {
                char q1[96], q2[96];
                cfg_quote(q1, sizeof q1, config);
                cfg_quote(q2, sizeof q2, v);
                cfg_errf(&r, "config: --config given twice (%s and %s); give one file", q1, q2);
                rc = KL_ECONFIG;
            }
            config = v;
        }
    }
    if (rc == 0 && config != NULL) {
        rc = cfg_load_file(&r, config);
        if (rc == 0 && (t.config_path = cfg_strndup(&t, config, strlen(config))) == NULL) {
            cfg_errf(&r, "config: out of memory");
            rc = KL_ENOMEM;
        }
    }
    r.where[0] = '\0';
    r.from = KL_CFG_TOKEN_FLAG;
    for (int i = 1; i < argc && rc == 0; i++) {
        rc = cfg_next_flag(&r, argc, argv, &i, &k, &v);
        if (rc == 0 && k != NULL)
            rc = cfg_apply(&r, k, v);
    }
    if (rc == 0)
        rc = cfg_finish(&r);
    return cfg_end(c, &t, rc);
}

/* ------------------------------------------------------------------------------------------ */
/* describe / usage */

/* Prints a store URL with any password replaced by "***". */
static void
cfg_print_store(const kl_config_t *c, FILE *f)
{
    const char *u = c->store_url;
    if (c->store != KL_CFG_STORE_POSTGRES) {
        fputs(u, f);
        return;
    }
    const char *auth = strstr(u, "://") + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth + alen; p++)
        if (*p == '@')
            at = p;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    const char *p = u;
    if (colon != NULL) {
        fwrite(p, 1, (size_t)(colon + 1 - p), f);
        fputs("***", f);
        p = at;
    }
    /* password=... in the query string only: masking elsewhere could remove the '/' that ends
     * the authority and change what the next pass takes for a password (found by fuzzing). */
    for (const char *q = strchr(auth + alen, '?'); q != NULL;) {
        const char *pw = strstr(q, "password=");
        if (pw == NULL)
            break;
        fwrite(p, 1, (size_t)(pw + 9 - p), f);
        p = pw + 9;
        if (pw[-1] == '?' || pw[-1] == '&') { /* pw > q, which is at or after the '?' */
            fputs("***", f);
            p += strcspn(p, "&#");
        }
        q = p;
    }
    fputs(p, f);
}

/* "key = value", except that a value starting with ';' is written "key =;..." because inih
 * takes a ';' after a blank for an inline comment. */
static void
cfg_print_kv(FILE *f, const char *key, const char *v)
{
    fprintf(f, "%s =%s%s\n", key, v[0] == ';' ? "" : " ", v);
}

void
kl_config_describe(const kl_config_t *c, FILE *f)
{
    fputs("source = ", f);
    switch (c->source) {
    case KL_CFG_SRC_BINANCE: fputs("binance", f); break;
    case KL_CFG_SRC_LINES_STDIN: fputs("lines:stdin", f); break;
    case KL_CFG_SRC_LINES_TCP: fprintf(f, "lines:tcp://%s:%u", c->lines_host, c->lines_port); break;
    case KL_CFG_SRC_KAFKA: fprintf(f, "kafka://%s/%s", c->kafka_brokers, c->kafka_topic); break;
    case KL_CFG_SRC_REPLAY:
        fputs("replay:", f);
        for (size_t i = 0; i < c->n_replay_files; i++)
            fprintf(f, "%s%s", i ? "," : "", c->replay_files[i]);
        break;
    }
    fprintf(f, "\nbinance-ws = %s\nbinance-rest = %s\n", c->binance_ws, c->binance_rest);
    cfg_print_kv(f, "binance-ca-file", c->binance_ca_file);
    fprintf(f, "quote-assets = %s\nbinance-stream = %s\n", c->quote_assets, c->binance_stream);
    fprintf(f, "pace = %.15g\n", c->pace);
    cfg_print_kv(f, "group", c->group);
    fputs("store = ", f);
    cfg_print_store(c, f);
    fputc('\n', f);
    cfg_print_kv(f, "wal-dir", c->wal_dir);
    fprintf(f, "fsync = %s\npersist-ms = %d\n", fsync_names[c->fsync], c->persist_ms);
    fprintf(f, "wal-repair = %s\n", wal_repair_names[c->wal_repair]);
    int v6 = strchr(c->listen_host, ':') != NULL;
    fprintf(f, "listen = %s%s%s:%u\n", v6 ? "[" : "", c->listen_host, v6 ? "]" : "",
            c->listen_port);
    static const char *const token_from[] = {"", ("from " CFG_ENV_TOKEN), "from the config file",
                                             "from --admin-token"};
    if (c->admin_token != NULL)
        fprintf(f, "# admin-token = (hidden: %zu characters, %s)\n", strlen(c->admin_token),
                token_from[c->admin_token_from]);
    else
        fputs("# admin-token = (not set: admin endpoints refuse every request)\n", f);
    fprintf(f, "push-ms = %d\nweb-root = %s\nmax-connections = %d\nmax-streams = %d\n"
               "ws-queue = %d\n",
            c->push_ms, c->web_root, c->max_connections, c->max_streams, c->ws_queue);
    fprintf(f, "ws-queue-bytes = %lld\nws-total-queue-bytes = %lld\nmax-connections-per-ip = %d\n"
               "header-timeout-s = %d\n",
            (long long)c->ws_queue_bytes, (long long)c->ws_total_queue_bytes,
            c->max_conns_per_ip, c->header_timeout_s);
    if (c->allowed_origins)
        cfg_print_kv(f, "allowed-origins", c->allowed_origins);
    else
        fputs("# allowed-origins = (not set: the service's own page only)\n", f);
    if (c->api_cpu >= 0)
        fprintf(f, "api-cpu = %d\n", c->api_cpu);
    else
        fputs("api-cpu = none\n", f);
    fprintf(f, "api-readers = %d\napi-read-queue = %d\napi-read-queue-bytes = %lld\n"
               "max-query-rows = %lld\napi-cache-bytes = %lld\npg-statement-timeout-ms = %d\n",
            c->api_readers, c->api_read_queue, (long long)c->api_read_queue_bytes,
            (long long)c->max_query_rows, (long long)c->api_cache_bytes,
            c->pg_statement_timeout_ms);
    fputs("symbols = ", f);
    for (size_t i = 0; i < c->n_symbols; i++) {
        const kl_cfg_symbol_t *y = &c->symbols[i];
        if (y->base[0] != '\0')
            fprintf(f, "%s%s/%s", i ? "," : "", y->base, y->quote);
        else
            fprintf(f, "%s%s", i ? "," : "", y->name);
    }
    fputs("\nintervals = ", f);
    if (c->intervals == KL_IV_ALL) {
        fputs("all", f);
    } else {
        int first = 1;
        for (int i = 0; i < KL_IV_COUNT; i++)
            if (c->intervals & (1u << i)) {
                fprintf(f, "%s%s", first ? "" : ",", kl_iv_name(i));
                first = 0;
            }
    }
    int32_t tz = c->tz_minutes < 0 ? -c->tz_minutes : c->tz_minutes;
    fprintf(f, "\ntz = %c%02d:%02d\n", c->tz_minutes < 0 ? '-' : '+', (int)(tz / 60),
            (int)(tz % 60));
    fprintf(f, "lateness-ms = %d\nclock = %s", c->lateness_ms, clock_names[c->clock]);
    if (c->clock == KL_CFG_CLOCK_AUTO)
        fprintf(f, " ; %s for this source", clock_names[c->clock_effective]);
    fprintf(f, "\ndisorder-ms = %d\nidle-ms = %d\nmax-skew-ms = %d", c->disorder_ms, c->idle_ms,
            c->max_skew_ms);
    fprintf(f, "\nworkers = %d\ncpus = ", c->workers);
    if (c->n_cpus == 0)
        fputs("none", f);
    for (size_t i = 0; i < c->n_cpus; i++)
        fprintf(f, "%s%d", i ? "," : "", c->cpus[i]);
    fprintf(f, "\nqueue-capacity = %u\nmax-pending-rows = %u\nparked-symbols = %u\n",
            c->queue_capacity, c->max_pending_rows, c->parked_symbols);
    fprintf(f, "max-symbols = %u\nsymbol-create-rate = %u\nsymbol-create-burst = %u\n"
               "auto-add-symbols = %s\n",
            c->max_symbols, c->symbol_create_rate, c->symbol_create_burst,
            auto_add_names[c->auto_add]);
    fprintf(f, "shard = %u/%u\nexit-on-eof = %s\n", c->shard_index, c->shard_count,
            c->exit_on_eof ? "true" : "false");
    fprintf(f, "shutdown-timeout-ms = %d\nkline-sink-queue-bytes = %llu\nlines-ack = %s\n",
            c->shutdown_timeout_ms, (unsigned long long)c->sink_queue_bytes,
            c->lines_ack ? "true" : "false");
    fprintf(f, "stats-s = %d\nlog-level = %s\nlog-buffer-bytes = %u\n", c->stats_s,
            log_names[c->log_level], c->log_buffer_bytes);
}

void
kl_config_usage(FILE *f)
{
    fputs("usage: klined serve [--config FILE] [--KEY VALUE | --KEY=VALUE]...\n"
          "Flags override the config file (INI, keys = flag names without --); see "
          "docs/config.md.\n",
          f);
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const char *a = cfg_keys[i].allowed;
        if (strncmp(a, "must be ", 8) == 0)
            a += 8;
        fprintf(f, "  --%-15s %s\n", cfg_keys[i].name, a);
    }
    fputs("  --config FILE     read FILE first (once)\n"
          "  --help            this text\n"
          "The admin token may also come from the environment variable " CFG_ENV_TOKEN ".\n",
          f);
}
