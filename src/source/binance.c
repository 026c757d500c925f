/* Live Binance spot source: aggTrade (or raw trade) combined streams over libwebsockets, gaps
 * backfilled by id from REST aggTrades (or historicalTrades); binance.h has the design. The pure
 * parts (backoff, URL split, REST page parsers, gap filler) come first, then the lws machinery
 * on the source thread. */
#include "source/binance.h"

#include <errno.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/evtime.h"
#include "core/log.h"
#include "core/lwslog.h"
#include "engine/kline.h"
#include "kl/err.h"
#include "source/source.h"
#include "source/trade_json.h"
#include "source/wmark.h"


/* ---- backoff ----------------------------------------------------------------------------- */

int64_t
kl_binance_backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms, kl_rand_fn rnd,
                      void *rnd_ctx)
{
    if (base_ms <= 0 || cap_ms <= 0)
        return 0;
    int64_t hi = base_ms < cap_ms ? base_ms : cap_ms;
    for (unsigned i = 0; i < attempt && hi < cap_ms; i++)
        hi = hi > cap_ms / 2 ? cap_ms : hi * 2;
    return (int64_t)(rnd(rnd_ctx) % ((uint64_t)hi + 1));
}

uint64_t
kl_binance_rand(void *state)
{
    uint64_t *s = state, x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* ---- connection budget ------------------------------------------------------------------- */

void
kl_binance_budget_init(kl_binance_budget_t *bg, uint32_t max, int64_t window_ms)
{
    memset(bg, 0, sizeof *bg);
    bg->max = max < 1 ? 1 : max > KL_BINANCE_CONN_BUDGET ? KL_BINANCE_CONN_BUDGET : max;
    bg->window_ms = window_ms > 0 ? window_ms : 1;
}

int64_t
kl_binance_budget_take(kl_binance_budget_t *bg, int64_t now_ms)
{
    /* A start at t counts while now < t + window: the exchange's window is not ours to see, so
     * the edge is taken on the safe side. */
    while (bg->n > 0 && now_ms - bg->start_ms[bg->head] >= bg->window_ms) {
        bg->head = (bg->head + 1) % KL_BINANCE_CONN_BUDGET;
        bg->n--;
    }
    if (bg->n >= bg->max)
        return bg->start_ms[bg->head] + bg->window_ms - now_ms;
    bg->start_ms[(bg->head + bg->n) % KL_BINANCE_CONN_BUDGET] = now_ms;
    bg->n++;
    return 0;
}

/* ---- URLs -------------------------------------------------------------------------------- */

int
kl_binance_url_parse(const char *url, kl_binance_url_t *out)
{
    static const struct {
        const char *scheme;
        int tls, port;
    } schemes[] = {{"ws://", 0, 80}, {"wss://", 1, 443}, {"http://", 0, 80}, {"https://", 1, 443}};
    if (!url || !out)
        return KL_EARG;
    kl_binance_url_t u;
    memset(&u, 0, sizeof u);
    const char *p = NULL;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strncmp(url, schemes[i].scheme, strlen(schemes[i].scheme)) == 0) {
            p = url + strlen(schemes[i].scheme);
            u.tls = schemes[i].tls;
            u.port = schemes[i].port;
            break;
        }
    if (!p || strpbrk(p, "?# \t\r\n@"))
        return KL_EARG;
    const char *h = p, *he;
    if (*p == '[') {
        h = p + 1;
        he = strchr(h, ']');
        if (!he)
            return KL_EARG;
        p = he + 1;
    } else {
        he = p + strcspn(p, ":/");
        p = he;
    }
    size_t hl = (size_t)(he - h);
    if (hl == 0 || hl >= sizeof u.host)
        return KL_EARG;
    memcpy(u.host, h, hl);
    if (*p == ':') {
        p++;
        long port = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 6) {
            port = port * 10 + (*p++ - '0');
            digits++;
        }
        if (digits == 0 || port < 1 || port > 65535)
            return KL_EARG;
        u.port = (int)port;
    }
    if (*p != '\0' && *p != '/')
        return KL_EARG;
    size_t pl = strlen(p);
    while (pl > 0 && p[pl - 1] == '/')
        pl--;
    if (pl >= sizeof u.prefix)
        return KL_EARG;
    memcpy(u.prefix, p, pl);
    *out = u;
    return 0;
}

/* ---- REST page --------------------------------------------------------------------------- */

static size_t
skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i;
}

/* End (one past the closing brace) of the JSON object starting at s[i] == '{', or 0 when it is
 * not closed or nests too deep. Strings are skipped whole, escapes included. */
static size_t
object_end(const char *s, size_t n, size_t i)
{
    int depth = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
            if (i >= n)
                return 0;
        } else if (c == '{' || c == '[') {
            if (++depth > 16)
                return 0;
        } else if (c == '}' || c == ']') {
            if (--depth == 0)
                return c == '}' ? i + 1 : 0;
            if (depth < 0)
                return 0;
        }
    }
    return 0;
}

/* Copies the members of one historicalTrades element (its text after the '{') to out with
 * the keys the trade parser reads renamed to a `trade` event's: id to t, price to p, qty to q,
 * time to T, isBuyerMaker to m. Only keys of the element itself are renamed, never string
 * values or keys of nested values; quoteQty and isBestMatch stay, and the parser skips them.
 * Returns the length written, or 0 when it does not fit in cap (or a string is not closed). */
static size_t
raw_keys(const char *s, size_t n, char *out, size_t cap)
{
    static const char *const from[] = {"id", "price", "qty", "time", "isBuyerMaker"};
    static const char *const to[] = {"t", "p", "q", "T", "m"};
    size_t o = 0;
    int depth = 0, want_key = 1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != '"')
                j += s[j] == '\\' ? 2 : 1;
            if (j >= n)
                return 0;
            const char *w = s + i + 1;
            size_t wl = j - i - 1;
            if (depth == 0 && want_key) {
                for (size_t k = 0; k < sizeof from / sizeof from[0]; k++)
                    if (strlen(from[k]) == wl && memcmp(w, from[k], wl) == 0) {
                        w = to[k];
                        wl = strlen(to[k]);
                        break;
                    }
                want_key = 0;
            }
            if (o + wl + 2 > cap)
                return 0;
            out[o++] = '"';
            memcpy(out + o, w, wl);
            o += wl;
            out[o++] = '"';
            i = j;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        else if (c == ',' && depth == 0)
            want_key = 1;
        if (o + 1 > cap)
            return 0;
        out[o++] = c;
    }
    return o;
}

/* Both REST shapes: raw 0 for aggTrades, 1 for historicalTrades. */
static int
parse_page(const char *body, size_t n, const char *symbol, int raw, kl_trade_t *out, size_t max,
           size_t *n_out, size_t *n_bad)
{
    char msg[KL_TRADE_JSON_MAX];
    int pre = snprintf(msg, sizeof msg, "{\"e\":\"%s\",\"s\":\"%s\",", raw ? "trade" : "aggTrade",
                       symbol);
    if (!body || pre <= 0 || (size_t)pre >= 128)
        return KL_EARG;
    size_t cnt = 0, bad = 0, i = skip_ws(body, n, 0);
    if (i >= n || body[i] != '[')
        return KL_EJSON;
    i = skip_ws(body, n, i + 1);
    if (i < n && body[i] == ']') {
        i++;
    } else {
        for (;;) {
            if (i >= n || body[i] != '{')
                return KL_EJSON;
            size_t end = object_end(body, n, i);
            if (end == 0)
                return KL_EJSON;
            if (cnt == max)
                return KL_EFULL;
            /* The element without its '{', behind a prefix that makes it an event of symbol
             * (its keys renamed for historicalTrades), so that the one hardened parser reads
             * both the stream and REST. */
            size_t len = end - i - 1;
            kl_trade_msg_t m;
            int rc = KL_ELINE;
            if (raw) {
                len = raw_keys(body + i + 1, len, msg + pre, sizeof msg - (size_t)pre);
                if (len > 0)
                    rc = kl_trade_json_parse(msg, (size_t)pre + len, &m);
            } else if ((size_t)pre + len <= sizeof msg) {
                memcpy(msg + pre, body + i + 1, len);
                rc = kl_trade_json_parse(msg, (size_t)pre + len, &m);
            }
            if (rc == 0)
                rc = kl_trade_validate(&m.t, 1);
            if (rc == 0)
                out[cnt++] = m.t;
            else
                bad++;
            i = skip_ws(body, n, end);
            if (i < n && body[i] == ',') {
                i = skip_ws(body, n, i + 1);
                continue;
            }
            if (i < n && body[i] == ']') {
                i++;
                break;
            }
            return KL_EJSON;
        }
    }
    if (skip_ws(body, n, i) != n)
        return KL_EJSON;
    *n_out = cnt;
    *n_bad = bad;
    return 0;
}

int
kl_binance_parse_page(const char *body, size_t n, const char *symbol, kl_trade_t *out,
                      size_t max, size_t *n_out, size_t *n_bad)
{
    return parse_page(body, n, symbol, 0, out, max, n_out, n_bad);
}

int
kl_binance_parse_trades_page(const char *body, size_t n, const char *symbol, kl_trade_t *out,
                             size_t max, size_t *n_out, size_t *n_bad)
{
    return parse_page(body, n, symbol, 1, out, max, n_out, n_bad);
}

/* ---- gap filler -------------------------------------------------------------------------- */

void
kl_bf_init(kl_bf_t *s, int64_t resume_id, uint32_t max_buf)
{
    memset(s, 0, sizeof *s);
    s->last_id = resume_id;
    s->max_buf = max_buf ? max_buf : 1;
}

void
kl_bf_fini(kl_bf_t *s)
{
    kl_free(s->buf);
    s->buf = NULL;
    s->n_buf = s->cap_buf = 0;
}

int
kl_bf_anchored(const kl_bf_t *s)
{
    return s->last_id != INT64_MIN || s->from_start;
}

int64_t
kl_bf_from_id(const kl_bf_t *s)
{
    return s->last_id == INT64_MIN ? 0 : s->last_id + 1;
}

void
kl_bf_anchor(kl_bf_t *s, const kl_trade_t *latest)
{
    if (kl_bf_anchored(s))
        return;
    if (latest)
        s->last_id = latest->id;
    else
        s->from_start = 1;
}

int
kl_bf_connected(kl_bf_t *s)
{
    if (!kl_bf_anchored(s))
        return 0;
    s->verify = 1;
    return 1;
}

int
kl_bf_needs_rest(const kl_bf_t *s)
{
    return s->backfilling || s->verify;
}

static int
bf_emit(kl_bf_t *s, const kl_trade_t *t, int from_rest, const kl_bf_ops_t *ops, void *ctx)
{
    int rc = ops->emit(ctx, t, from_rest);
    if (rc < 0)
        return rc;
    s->last_id = t->id;
    if (from_rest)
        s->from_rest++;
    return 0;
}

/* Holds t (ids above the last held one only). A trade that cannot be held is dropped: REST
 * fetches it later, since it is above last_id and the backfill goes on. */
static void
bf_hold(kl_bf_t *s, const kl_trade_t *t)
{
    if (s->n_buf > 0 && t->id <= s->buf[s->n_buf - 1].id) {
        s->duplicates++;
        return;
    }
    if (s->n_buf == s->max_buf) {
        s->overflows++;
        s->n_buf = 0;
    }
    if (s->n_buf == s->cap_buf) {
        uint32_t cap = s->cap_buf ? s->cap_buf * 2 : 256;
        if (cap > s->max_buf)
            cap = s->max_buf;
        kl_trade_t *nb = kl_alloc((size_t)cap * sizeof *nb);
        if (!nb) {
            s->overflows++;
            s->n_buf = 0;
            return;
        }
        if (s->n_buf)
            memcpy(nb, s->buf, (size_t)s->n_buf * sizeof *nb);
        kl_free(s->buf);
        s->buf = nb;
        s->cap_buf = cap;
    }
    s->buf[s->n_buf++] = *t;
}

int
kl_bf_live(kl_bf_t *s, const kl_trade_t *t, const kl_bf_ops_t *ops, void *ctx)
{
    if (s->last_id != INT64_MIN && t->id <= s->last_id) {
        s->duplicates++;
        return 0;
    }
    if (s->backfilling) {
        bf_hold(s, t);
        return 0;
    }
    if (t->id == s->last_id + 1) {
        s->verify = 0; /* contiguous with what was routed: nothing was missed */
        return bf_emit(s, t, 0, ops, ctx);
    }
    /* The first trade, unless a reconnect since the start may have hidden earlier ones. */
    if (s->last_id == INT64_MIN && !(s->from_start && s->verify))
        return bf_emit(s, t, 0, ops, ctx);
    s->backfilling = 1;
    s->empty_polls = 0;
    bf_hold(s, t);
    return 1;
}

static void
bf_gap(kl_bf_t *s, int64_t first, int64_t last, const kl_bf_ops_t *ops, void *ctx)
{
    s->gaps++;
    s->gap_ids += (uint64_t)(last - first + 1);
    ops->gap(ctx, first, last);
}

/* Routes the held trades that continue last_id, drops the ones at or below it. */
static int
bf_drain(kl_bf_t *s, const kl_bf_ops_t *ops, void *ctx)
{
    uint32_t i = 0;
    int rc = 0;
    while (i < s->n_buf && s->buf[i].id <= s->last_id)
        i++;
    while (i < s->n_buf && s->buf[i].id == s->last_id + 1) {
        if ((rc = bf_emit(s, &s->buf[i], 0, ops, ctx)) < 0)
            break;
        s->from_buffer++;
        i++;
    }
    if (i > 0 && i < s->n_buf)
        memmove(s->buf, s->buf + i, (size_t)(s->n_buf - i) * sizeof *s->buf);
    s->n_buf -= i;
    return rc;
}

static void
bf_live_again(kl_bf_t *s)
{
    s->backfilling = 0;
    s->verify = 0;
    s->empty_polls = 0;
    if (s->cap_buf > 4096) { /* a big backfill is over: give its memory back */
        kl_free(s->buf);
        s->buf = NULL;
        s->cap_buf = 0;
    }
}

int
kl_bf_page(kl_bf_t *s, const kl_trade_t *t, size_t n, int full, const kl_bf_ops_t *ops,
           void *ctx)
{
    int progress = 0, rc;
    for (size_t i = 0; i < n; i++) {
        if (t[i].id <= s->last_id)
            continue;
        /* from the start (last_id unknown), REST's first trade is the first there is */
        if (s->last_id != INT64_MIN && t[i].id > s->last_id + 1)
            bf_gap(s, s->last_id + 1, t[i].id - 1, ops, ctx);
        if ((rc = bf_emit(s, &t[i], 1, ops, ctx)) < 0)
            return rc;
        progress = 1;
    }
    if ((rc = bf_drain(s, ops, ctx)) < 0)
        return rc;
    if (full) {
        s->verify = 1; /* REST knows more: keep fetching until a short page */
        return KL_BF_MORE;
    }
    if (s->n_buf == 0) {
        bf_live_again(s);
        return KL_BF_LIVE;
    }
    if (progress) {
        s->empty_polls = 0;
        return KL_BF_WAIT;
    }
    if (++s->empty_polls < KL_BF_MAX_EMPTY)
        return KL_BF_WAIT;
    /* REST has stayed behind the live stream: what lies between is lost for good (from the
     * start, REST knows nothing before the held trades: they are the first). */
    if (s->last_id != INT64_MIN)
        bf_gap(s, s->last_id + 1, s->buf[0].id - 1, ops, ctx);
    s->last_id = s->buf[0].id - 1;
    if ((rc = bf_drain(s, ops, ctx)) < 0)
        return rc;
    s->empty_polls = 0;
    if (s->n_buf == 0) {
        bf_live_again(s);
        return KL_BF_LIVE;
    }
    return KL_BF_WAIT;
}

/* ---- the source ---------------------------------------------------------------------------- */

#define TICK_MS 50
#define CONNECT_TIMEOUT_MS 20000
#define REST_TIMEOUT_MS 20000
#define REST_WAIT_MS 250
#define REST_BODY_MAX (8u << 20)
#define PROTOCOL_NAME "kl-binance"
/* Clock holds (kl_router_hold). A symbol that may have a hole is held from the moment it may
 * have one (a disconnect, a resume after a restart, a hole in the stream) until the hole is
 * closed: the backfill routed and the held live trades handed over, or the first live trade
 * contiguous, or the hole given up as a gap. A hold that makes no progress (no trade routed)
 * for HOLD_MAX_MS is released with a warning: the clock wins.
 *
 * Watermarks (wmark.h, with rt->wmark): each connection's watermark is its highest trade time
 * minus disorder-ms; a silent connection is pinged every KL_BINANCE_PING_IDLE_MS and the pong,
 * whose payload is the exchange time the ping was sent at, proves it current up to then
 * (minus the observed latency). The watermark is announced to the connection's symbols that
 * are not held, in order with their trades; a released symbol gets the latest one at once. A
 * silent connection that does not answer keeps its symbols' klines open: it is reconnected
 * after KL_BINANCE_DEAD_MS and backfilled. */
#define HOLD_MAX_MS 60000
#define PONG_MAX_LATENCY_MS 10000 /* a pong proves nothing for a feed seen later than this */
#define TIME_RESYNC_MS (10 * 60 * 1000) /* /api/v3/time again: exchange time stays exact */

enum { TAG_WS = 0x5753, TAG_REST = 0x5245 };
enum { WS_IDLE, WS_CONNECTING, WS_OPEN };
enum { REQ_FETCH, REQ_TIME, REQ_INFO };
#define SYNC_MS 1000                       /* how often the registry is compared with the streams */
#define INFO_REFRESH_MS (10 * 60 * 1000)   /* quote-asset mode: exchangeInfo re-read */
#define INFO_BODY_MAX (64u << 20)          /* the whole market's exchangeInfo is ~20 MB */
#define CTL_SPACING_MS 200                 /* Binance: at most 5 control messages/s/connection */
#define CTL_MSG_MAX 8192                   /* bytes of one SUBSCRIBE/UNSUBSCRIBE */

/* Names waiting for a SUBSCRIBE or UNSUBSCRIBE on one connection. */
typedef struct nameq {
    char (*v)[KL_SYM_MAX];
    size_t n, cap;
} nameq_t;

typedef struct binance binance_t;

typedef struct wsconn {
    int tag; /* TAG_WS; first, so that a wsi's user pointer tells its kind */
    binance_t *b;
    size_t index;
    struct lws *wsi;
    int state;
    char *path;      /* built from mem at each (re)connect */
    uint32_t *mem;   /* indices (into syms) of the symbols it carries */
    size_t n_mem, cap_mem;
    size_t path_len; /* stream bytes a path of mem would take */
    nameq_t subq, unsubq; /* changes since the path was built, to send as control messages */
    int64_t ctl_next_ms;
    long long ctl_id;
    int ctl_want;
    unsigned attempt;
    int64_t retry_at_ms, started_ms, opened_ms, last_rx_ms;
    int ping_pending, ping_sent, got_data, kill;
    int64_t ping_ev_ms; /* exchange time the last ping was sent at (its payload) */
    kl_wmark_t wm;
    char *msg;
    size_t msg_len, msg_total;
    int in_msg, oversize;
} wsconn_t;

typedef struct rest_req {
    int tag; /* TAG_REST */
    binance_t *b;
    struct lws *wsi;
    int busy, done;
    size_t sym;
    int status;
    int kind;                    /* REQ_* */
    int64_t started_ms, from_id; /* from_id -1: by time, or not a page of trades */
    char *body;
    size_t len, cap;
    int too_big;
    int retry_after_s;
} rest_req_t;

typedef struct sym {
    char name[KL_SYM_MAX];
    size_t len;
    binance_t *b;
    kl_bf_t bf;
    int need, inflight, again;
    unsigned rest_attempt;
    int64_t fetch_at_ms;
    size_t conn;     /* index of the connection that carries it */
    int held;        /* a HOLD was sent and no RELEASE since */
    int64_t held_ms; /* mono time of the hold or of its last routed trade */
    int dead;        /* removed: its slot stays until the array is freed (REST may answer) */
    int64_t routed_id; /* last id its worker took (the router accepted); INT64_MIN: none */
    int refused;       /* the router refused a trade (an admin removed it): nothing more is
                          routed until sync_symbols drops it or, re-added, backfills it */
} sym_t;

struct binance {
    kl_source_t base;
    kl_binance_url_t ws, rest;
    sym_t *syms;
    size_t n_syms, cap_syms; /* slots, dead ones included; never reused */
    uint32_t *hash; /* sym index + 1; 0 = empty; live symbols only */
    size_t hash_mask;
    wsconn_t **conns; /* pointers: lws holds each one as its wsi's user data */
    size_t n_conns, cap_conns;
    kl_resume_fn resume;
    void *resume_ctx;
    int initial;      /* symbols added now are the starting set: they resume after recovery */
    int raw;          /* binance-stream = trade: @trade streams, historicalTrades backfill */
    const char *stream; /* "aggTrade" or "trade": the stream suffix after '@' */
    int64_t rest_spacing_ms;
    uint64_t sync_epoch;
    size_t sync_count;
    int64_t sync_at_ms;
    int sync_force;
    /* quote-asset mode: every TRADING symbol quoted in one of quotes */
    int quote_mode;
    char quotes[256]; /* ",USDT,FDUSD," */
    char (*qset)[KL_SYM_MAX];
    size_t n_qset;
    int qset_loaded, info_need, info_inflight;
    unsigned info_attempt;
    int64_t info_at_ms;
    uint64_t ctl_sent, ctl_errors, sym_added, sym_removed;
    unsigned char ctlbuf[LWS_PRE + CTL_MSG_MAX];
    rest_req_t reqs[KL_BINANCE_REST_INFLIGHT];
    size_t rest_cursor;
    int64_t rest_next_ms, rest_pause_until_ms;
    int64_t t0_ms; /* exchange time the feed started from; INT64_MIN until /time answered */
    int time_need, time_inflight;
    unsigned time_attempt;
    int64_t time_at_ms;
    kl_trade_t *page;
    struct lws_context *ctx;
    lws_sorted_usec_list_t tick;
    kl_router_t *rt;
    int64_t disorder_ms;
    kl_ratelimit_t rl_future;
    const _Atomic int *stop;
    int stopping, fatal;
    uint64_t rng;
    char ca_file[KL_CFG_CA_FILE_MAX + 1];
    kl_binance_budget_t budget;
    uint64_t budget_waits;
    kl_ratelimit_t rl_budget;
    kl_ratelimit_t rl_reject, rl_oversize, rl_gap, rl_conn, rl_rest, rl_bf, rl_hold;
    uint64_t connects, disconnects, rest_requests, rest_failures, gaps, gap_ids, shutdowns;
    size_t n_held;
    uint64_t holds, hold_timeouts;
};

/* lws 4.1 hands the connect-error callback only "connect SSL err 1: error:00000001:..."; the
 * verify result (an untrusted issuer, a wrong host) comes through its log. The last one is kept
 * here so that cannot_reach_exchange can say what was wrong with the certificate. Source thread
 * only (lws logs from the thread that services it). */
static char lws_tls_err[160];

/* The source thread's lws lines (core/lwslog.h logs them, rate-limited): keeps the last TLS
 * verify error. */
static void
lws_log_hook(int level, const char *line, size_t n)
{
    (void)level;
    const char *e = strstr(line, "SSL error: ");
    if (e && (size_t)(e - line) < n) {
        e += strlen("SSL error: ");
        size_t m = (size_t)(line + n - e);
        snprintf(lws_tls_err, sizeof lws_tls_err, "%.*s", (int)m, e);
    }
}

static uint32_t
name_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static sym_t *
sym_find(binance_t *b, const char *s, size_t n)
{
    for (size_t i = name_hash(s, n) & b->hash_mask;; i = (i + 1) & b->hash_mask) {
        uint32_t v = b->hash[i];
        if (v == 0)
            return NULL;
        sym_t *y = &b->syms[v - 1];
        if (y->len == n && memcmp(y->name, s, n) == 0 && !y->dead)
            return y; /* a dead one is in the index only after a failed rebuild */
    }
}

static void
reject(binance_t *b, const char *what, int err, const char *text, size_t n, size_t bytes)
{
    atomic_fetch_add_explicit(&b->base.rejected, 1, memory_order_relaxed);
    uint64_t supp;
    /* oversize frames have their own limiter: a flood of one kind must not hide the other */
    if (kl_ratelimit_ok(err == KL_ELINE ? &b->rl_oversize : &b->rl_reject, 1000, &supp))
        kl_log(KL_LOG_WARN, "binance", "message_rejected",
               "what=%s error=\"%s\" bytes=%zu text=\"%.*s\" action=skipped suppressed=%llu", what,
               kl_strerror(err), bytes, (int)(n > 100 ? 100 : n), text, (unsigned long long)supp);
}

/* ---- routing ---------------------------------------------------------------------------- */

static int
emit_trade(void *ctx, const kl_trade_t *t, int from_rest)
{
    sym_t *y = ctx;
    binance_t *b = y->b;
    kl_trade_t st = *t;
    st.rx_us = from_rest ? 0 : kl_rx_us(); /* backfilled trades are not live latency */
    /* Live and backfilled alike: a trade from the future would close real klines. Refused
     * (counted, logged), it is passed over like a gap REST cannot fill. */
    if (b->rt->wmark && kl_source_check_time(&b->base, b->rt, y->name, y->len, t,
                                             kl_evtime_now_ms(), &b->rl_future) != 0)
        return 0;
    int rc = y->refused ? KL_EARG : kl_router_trade(b->rt, y->name, y->len, 1, &st);
    if (rc == KL_ESHUTDOWN)
        return rc;
    if (rc == KL_EARG || rc == KL_ESYMLIMIT) {
        /* Removed by an admin while we still receive it (or never added: max-symbols). Nothing more goes to its worker, so
         * that a re-add can backfill from routed_id with every id in order. */
        y->refused = 1;
        atomic_fetch_add_explicit(&b->base.skipped_events, 1, memory_order_relaxed);
        return 0;
    }
    y->routed_id = t->id;
    atomic_fetch_add_explicit(&b->base.trades, 1, memory_order_relaxed);
    if (y->held)
        y->held_ms = kl_mono_ms(); /* progress: the hold is not stuck */
    return 0;
}

static void
report_gap(void *ctx, int64_t first, int64_t last)
{
    sym_t *y = ctx;
    binance_t *b = y->b;
    b->gaps++;
    b->gap_ids += (uint64_t)(last - first + 1);
    uint64_t supp;
    if (kl_ratelimit_ok(&b->rl_gap, 1000, &supp))
        kl_log(KL_LOG_WARN, "binance", "gap_unfilled",
               "symbol=%s first_missing=%" PRId64 " last_missing=%" PRId64 " ids=%" PRId64
               " reason=\"REST has no trades with these ids\" gaps=%llu suppressed=%llu",
               y->name, first, last, last - first + 1, (unsigned long long)b->gaps,
               (unsigned long long)supp);
}

static const kl_bf_ops_t bf_ops = {emit_trade, report_gap};

/* ---- clock holds ------------------------------------------------------------------------ */

/* Holds y's clock on its worker unless it is held already. The HOLD goes through the same ring
 * as y's trades, so it is in force before anything routed after this call. */
static void
sym_hold(sym_t *y)
{
    binance_t *b = y->b;
    if (y->held || b->stopping)
        return;
    if (kl_router_hold(b->rt, y->name, y->len, 1) != 0)
        return; /* unknown (removed by an admin) or shutting down: nothing to hold */
    y->held = 1;
    y->held_ms = kl_mono_ms();
    b->n_held++;
    b->holds++;
}

static void
sym_release(sym_t *y)
{
    binance_t *b = y->b;
    if (!y->held)
        return;
    y->held = 0;
    b->n_held--;
    (void)kl_router_hold(b->rt, y->name, y->len, 0); /* unknown/shutdown: nothing held */
    /* Its klines missed the announcements made while it was held. */
    if (b->rt->wmark && y->conn < b->n_conns && b->conns[y->conn]->wm.announced != KL_WMARK_NONE)
        (void)kl_router_wmark(b->rt, y->name, y->len, b->conns[y->conn]->wm.announced);
}

/* Releases y when nothing may be missing any more: its connection is open and not silent, no
 * backfill holds its live trades and no reconnect check is pending. */
static void
sym_settle(sym_t *y)
{
    const wsconn_t *c = y->b->conns[y->conn];
    if (y->held && c->state == WS_OPEN && !c->kill && !y->bf.backfilling && !y->bf.verify)
        sym_release(y);
}

/* Announces c's watermark to its symbols when it passed a whole second. Held ones wait: their
 * backfill comes first, and sym_release() gives them the watermark then. */
static void
conn_announce(wsconn_t *c)
{
    binance_t *b = c->b;
    if (!b->rt->wmark || b->stopping)
        return;
    int64_t at = kl_wmark_due(&c->wm);
    if (at == KL_WMARK_NONE)
        return;
    for (size_t k = 0; k < c->n_mem; k++) {
        const sym_t *y = &b->syms[c->mem[k]];
        if (!y->held && !y->dead && !y->refused &&
            kl_router_wmark(b->rt, y->name, y->len, at) == KL_ESHUTDOWN)
            return;
    }
}

static void
want_fetch(sym_t *y, int64_t delay_ms)
{
    if (y->inflight) {
        y->again = 1; /* the answer in flight may predate this reconnect */
        return;
    }
    y->need = 1;
    y->fetch_at_ms = kl_mono_ms() + delay_ms;
}

/* ---- REST ------------------------------------------------------------------------------- */

static int64_t
backoff_next(binance_t *b, unsigned *attempt)
{
    int64_t d = kl_binance_backoff_ms(*attempt, KL_BINANCE_BACKOFF_BASE_MS,
                                      KL_BINANCE_BACKOFF_CAP_MS, kl_binance_rand, &b->rng);
    if (*attempt < 64)
        (*attempt)++;
    return d;
}

static void
rest_failed(rest_req_t *r, const char *why)
{
    binance_t *b = r->b;
    b->rest_failures++;
    int64_t delay;
    const char *what = "time";
    if (r->kind == REQ_TIME) {
        delay = backoff_next(b, &b->time_attempt);
        b->time_inflight = 0;
        b->time_need = 1;
        b->time_at_ms = kl_mono_ms() + delay;
    } else if (r->kind == REQ_INFO) {
        delay = backoff_next(b, &b->info_attempt);
        b->info_inflight = 0;
        b->info_need = 1;
        b->info_at_ms = kl_mono_ms() + delay;
        what = "exchangeInfo";
    } else if (b->syms[r->sym].dead) {
        b->syms[r->sym].inflight = 0;
        return; /* removed meanwhile: nothing more is wanted */
    } else {
        sym_t *y = &b->syms[r->sym];
        delay = backoff_next(b, &y->rest_attempt);
        y->inflight = 0;
        y->again = 0;
        y->need = 1;
        y->fetch_at_ms = kl_mono_ms() + delay;
        what = y->name;
    }
    uint64_t supp;
    if (kl_ratelimit_ok(&b->rl_rest, 1000, &supp))
        kl_log(KL_LOG_WARN, "binance", "rest_failed",
               "request=%s from_id=%" PRId64 " status=%d error=\"%s\" retry_in_ms=%" PRId64
               " failures=%llu suppressed=%llu",
               what, r->from_id, r->status, why, delay, (unsigned long long)b->rest_failures,
               (unsigned long long)supp);
}

/* The answer to GET /api/v3/time: the start of the feed, in exchange time. Every symbol not
 * seen yet is from then on "from the start": a reconnect backfills it from startTime. */
static void
time_complete(rest_req_t *r)
{
    binance_t *b = r->b;
    const char *p = r->body ? strstr(r->body, "\"serverTime\":") : NULL;
    char *e = NULL;
    long long st = p ? strtoll(p + 13, &e, 10) : 0;
    if (!p || e == p + 13 || st <= 0) {
        reject(b, "rest_time", KL_EJSON, r->body ? r->body : "", r->len, r->len);
        rest_failed(r, "unreadable serverTime answer");
        return;
    }
    b->time_inflight = 0;
    b->time_attempt = 0;
    b->time_at_ms = kl_mono_ms() + TIME_RESYNC_MS;
    if (b->rt->wmark) /* exchange time for watermarks, the future bound and the delays */
        kl_evtime_sync((int64_t)st);
    if (b->t0_ms != INT64_MIN)
        return; /* a resync: the feed's start stays where it was */
    /* A margin before the answer: trades stamped just before it may not be on the stream. */
    b->t0_ms = (int64_t)st - KL_BINANCE_START_MARGIN_MS;
    size_t anchored = 0;
    for (size_t i = 0; i < b->n_syms; i++) {
        sym_t *y = &b->syms[i];
        if (y->dead || kl_bf_anchored(&y->bf))
            continue;
        kl_bf_anchor(&y->bf, NULL);
        anchored++;
        /* a disconnect before this answer may have hidden its first trades */
        if (b->disconnects > 0 && kl_bf_connected(&y->bf))
            want_fetch(y, 0);
    }
    kl_log(KL_LOG_INFO, "binance", "start_time",
           "server_time=%lld start_ms=%" PRId64 " symbols_from_start=%zu", st, b->t0_ms,
           anchored);
}

static void info_complete(rest_req_t *r);

/* A whole answer arrived: route it through the symbol's gap filler and decide the next fetch. */
static void
rest_complete(rest_req_t *r)
{
    binance_t *b = r->b;
    if (r->status == 429 || r->status == 418) {
        int s = r->retry_after_s > 0 ? r->retry_after_s : (r->status == 418 ? 120 : 10);
        b->rest_pause_until_ms = kl_mono_ms() + (int64_t)s * 1000;
        kl_log(KL_LOG_WARN, "binance", "rest_rate_limited",
               "status=%d pause_s=%d note=\"every REST request waits\"", r->status, s);
    }
    if (r->status != 200 || r->too_big) {
        char why[160];
        snprintf(why, sizeof why, "%s: %.*s", r->too_big ? "answer too long" : "HTTP status",
                 (int)(r->len > 100 ? 100 : r->len), r->body ? r->body : "");
        rest_failed(r, why);
        return;
    }
    if (r->kind == REQ_TIME) {
        time_complete(r);
        return;
    }
    if (r->kind == REQ_INFO) {
        info_complete(r);
        return;
    }
    sym_t *y = &b->syms[r->sym];
    if (y->dead) {
        y->inflight = 0;
        return;
    }
    size_t n = 0, bad = 0;
    /* Raw trades from the start have no by-time page: aggTrades by startTime (limit 1) gives
     * the first aggregate since the start, whose first raw id anchors historicalTrades. */
    int anchor = b->raw && r->from_id < 0;
    int rc = b->raw && !anchor
                 ? kl_binance_parse_trades_page(r->body, r->len, y->name, b->page,
                                                KL_BINANCE_REST_LIMIT, &n, &bad)
                 : kl_binance_parse_page(r->body, r->len, y->name, b->page,
                                         KL_BINANCE_REST_LIMIT, &n, &bad);
    if (rc != 0) {
        reject(b, "rest_page", rc, r->body ? r->body : "", r->len, r->len);
        rest_failed(r, b->raw && !anchor ? "unreadable historicalTrades answer"
                                         : "unreadable aggTrades answer");
        return;
    }
    int full = n + bad >= KL_BINANCE_REST_LIMIT;
    if (anchor && n > 0) {
        if (y->bf.last_id == INT64_MIN)
            y->bf.last_id = b->page[0].first_id - 1;
        n = 0;
        full = 1; /* the page by id comes next */
    }
    for (size_t i = 0; i < bad; i++)
        reject(b, "rest_trade", KL_EJSON, r->body, r->len, r->len);
    y->rest_attempt = 0;
    y->inflight = 0;
    uint64_t before = y->bf.from_rest;
    rc = kl_bf_page(&y->bf, b->page, n, full, &bf_ops, y);
    if (rc < 0)
        return; /* shutting down */
    if (rc == KL_BF_MORE) {
        want_fetch(y, 0);
    } else if (rc == KL_BF_WAIT) {
        want_fetch(y, REST_WAIT_MS);
    } else {
        uint64_t supp;
        if (y->bf.from_rest != before && kl_ratelimit_ok(&b->rl_bf, 1000, &supp))
            kl_log(KL_LOG_INFO, "binance", "backfill_done",
                   "symbol=%s last_id=%" PRId64 " from_rest=%llu from_buffer=%llu "
                   "overflows=%llu suppressed=%llu",
                   y->name, y->bf.last_id, (unsigned long long)y->bf.from_rest,
                   (unsigned long long)y->bf.from_buffer, (unsigned long long)y->bf.overflows,
                   (unsigned long long)supp);
        if (y->again && kl_bf_connected(&y->bf))
            want_fetch(y, 0);
    }
    y->again = 0;
    sym_settle(y); /* a gap given up was logged by report_gap before this */
}

static void
rest_release(rest_req_t *r)
{
    r->busy = 0;
    r->wsi = NULL;
    r->len = 0;
    r->done = 0;
}

/* Starts request kind (for symbol si unless REQ_TIME) in free slot r. */
static void
rest_start(binance_t *b, rest_req_t *r, int kind, size_t si)
{
    char path[512];
    r->wsi = NULL;
    r->busy = 1;
    r->done = 0;
    r->kind = kind;
    r->sym = si;
    r->status = 0;
    r->len = 0;
    r->too_big = 0;
    r->retry_after_s = 0;
    r->from_id = -1;
    r->started_ms = kl_mono_ms();
    if (kind == REQ_TIME) {
        b->time_need = 0;
        b->time_inflight = 1;
        snprintf(path, sizeof path, "%s/api/v3/time", b->rest.prefix);
    } else if (kind == REQ_INFO) {
        b->info_need = 0;
        b->info_inflight = 1;
        snprintf(path, sizeof path, "%s/api/v3/exchangeInfo", b->rest.prefix);
    } else {
        sym_t *y = &b->syms[si];
        y->need = 0;
        y->inflight = 1;
        if (y->bf.last_id == INT64_MIN) /* from the start of the feed (raw: its first id) */
            snprintf(path, sizeof path,
                     "%s/api/v3/aggTrades?symbol=%s&startTime=%" PRId64 "&limit=%d",
                     b->rest.prefix, y->name, b->t0_ms, b->raw ? 1 : KL_BINANCE_REST_LIMIT);
        else
            snprintf(path, sizeof path, "%s/api/v3/%s?symbol=%s&fromId=%" PRId64 "&limit=%d",
                     b->rest.prefix, b->raw ? "historicalTrades" : "aggTrades", y->name,
                     (r->from_id = kl_bf_from_id(&y->bf)), KL_BINANCE_REST_LIMIT);
    }
    struct lws_client_connect_info i;
    memset(&i, 0, sizeof i);
    i.context = b->ctx;
    i.address = b->rest.host;
    i.port = b->rest.port;
    i.ssl_connection = b->rest.tls ? LCCSCF_USE_SSL : 0;
    i.path = path;
    i.host = b->rest.host;
    i.origin = b->rest.host;
    i.method = "GET";
    i.alpn = "http/1.1";
    i.protocol = NULL;
    i.local_protocol_name = PROTOCOL_NAME;
    i.userdata = r;
    i.pwsi = &r->wsi;
    b->rest_requests++;
    if (!lws_client_connect_via_info(&i) && r->busy && !r->done) {
        rest_failed(r, "cannot start the request");
        rest_release(r);
    }
}

/* Starts the request that is due, within the in-flight and spacing limits: the start time
 * first, then the backfills. Loop thread, never from inside an lws callback. */
static void
rest_pump(binance_t *b)
{
    if (b->stopping || (b->n_syms == 0 && !b->info_need))
        return;
    int64_t now = kl_mono_ms();
    if (now < b->rest_pause_until_ms || now < b->rest_next_ms)
        return;
    rest_req_t *r = NULL;
    for (size_t k = 0; k < KL_BINANCE_REST_INFLIGHT && !r; k++)
        if (!b->reqs[k].busy)
            r = &b->reqs[k];
    if (!r)
        return;
    if (b->time_need && !b->time_inflight && b->time_at_ms <= now) {
        b->rest_next_ms = now + b->rest_spacing_ms;
        rest_start(b, r, REQ_TIME, 0);
        return;
    }
    if (b->info_need && !b->info_inflight && b->info_at_ms <= now) {
        b->rest_next_ms = now + b->rest_spacing_ms;
        rest_start(b, r, REQ_INFO, 0);
        return;
    }
    if (b->n_syms == 0)
        return;
    /* Symbols holding live trades first, then the checks after a reconnect. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < b->n_syms; k++) {
            size_t si = (b->rest_cursor + k) % b->n_syms;
            sym_t *y = &b->syms[si];
            if (!y->need || y->inflight || y->fetch_at_ms > now || y->dead)
                continue;
            if (!kl_bf_needs_rest(&y->bf)) {
                y->need = 0; /* a contiguous live trade settled it */
                continue;
            }
            /* a symbol from the start waits for the start time */
            if ((pass == 0 && !y->bf.backfilling) ||
                (y->bf.last_id == INT64_MIN && b->t0_ms == INT64_MIN))
                continue;
            b->rest_cursor = (si + 1) % b->n_syms;
            b->rest_next_ms = now + b->rest_spacing_ms;
            rest_start(b, r, REQ_FETCH, si);
            return;
        }
}

static int
rest_callback(rest_req_t *r, struct lws *wsi, enum lws_callback_reasons reason, void *in,
              size_t len)
{
    if (!r->busy || r->wsi != wsi)
        return 0; /* a late callback of a request already given up */
    binance_t *b = r->b;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP: {
        r->status = (int)lws_http_client_http_response(wsi);
        char ra[16];
        if (lws_hdr_copy(wsi, ra, (int)sizeof ra, WSI_TOKEN_HTTP_RETRY_AFTER) > 0)
            r->retry_after_s = atoi(ra);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
        char buf[LWS_PRE + 4096];
        char *px = buf + LWS_PRE;
        int lenx = (int)sizeof buf - LWS_PRE;
        return lws_http_client_read(wsi, &px, &lenx) < 0 ? -1 : 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (r->too_big || len == 0)
            return 0;
        if (r->len + len > (r->kind == REQ_INFO ? INFO_BODY_MAX : REST_BODY_MAX)) {
            r->too_big = 1;
            return 0;
        }
        if (r->len + len + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 64 * 1024;
            while (cap < r->len + len + 1)
                cap *= 2;
            char *nb = kl_alloc(cap);
            if (!nb) {
                r->too_big = 1;
                return 0;
            }
            if (r->len)
                memcpy(nb, r->body, r->len);
            kl_free(r->body);
            r->body = nb;
            r->cap = cap;
        }
        memcpy(r->body + r->len, in, len);
        r->len += len;
        r->body[r->len] = '\0';
        return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        r->done = 1;
        if (!b->stopping)
            rest_complete(r);
        rest_release(r);
        return -1; /* one request per connection: close it now */
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        if (!r->done && !b->stopping)
            rest_failed(r, reason == LWS_CALLBACK_CLOSED_CLIENT_HTTP
                               ? "connection closed before the answer was complete"
                           : in ? (const char *)in
                                : "connection error");
        rest_release(r);
        return 0;
    default:
        return 0;
    }
}

/* ---- WebSocket connections ------------------------------------------------------------ */

static void
conn_lost(wsconn_t *c, const char *why)
{
    binance_t *b = c->b;
    if (c->state == WS_IDLE)
        return;
    int was_open = c->state == WS_OPEN;
    c->state = WS_IDLE;
    c->wsi = NULL;
    c->in_msg = 0;
    if (b->stopping)
        return;
    b->disconnects++;
    size_t held = 0;
    if (c->n_mem == 0) { /* every symbol of it was removed: it stays closed until reused */
        c->retry_at_ms = INT64_MAX;
        kl_log(KL_LOG_INFO, "binance", "connection_unused", "conn=%zu reason=\"%s\"", c->index,
               why);
        return;
    }
    if (was_open) /* what the exchange sends from now on is lost to us until a backfill */
        for (size_t k = 0; k < c->n_mem; k++) {
            sym_t *y = &b->syms[c->mem[k]];
            if (y->bf.last_id != INT64_MIN) {
                sym_hold(y);
                held += y->held;
            }
        }
    int64_t delay = kl_binance_backoff_ms(c->attempt, KL_BINANCE_BACKOFF_BASE_MS,
                                          KL_BINANCE_BACKOFF_CAP_MS, kl_binance_rand, &b->rng);
    if (c->attempt < 64)
        c->attempt++;
    c->retry_at_ms = kl_mono_ms() + delay;
    uint64_t supp;
    /* A TLS failure says what was wrong with the certificate, and where trust comes from. */
    char tls[sizeof lws_tls_err + KL_CFG_CA_FILE_MAX + 64] = "";
    if (b->ws.tls && strstr(why, "SSL") && lws_tls_err[0]) {
        snprintf(tls, sizeof tls, " tls_error=\"certificate not accepted: %s\" ca_file=%s",
                 lws_tls_err, b->ca_file[0] ? b->ca_file : "(lws default)");
        lws_tls_err[0] = '\0';
    }
    /* Say plainly, at warn, that the exchange cannot be reached (no network, DNS, refused),
     * and that the service keeps retrying. */
    if (was_open || kl_ratelimit_ok(&b->rl_conn, 1000, &supp))
        kl_log(KL_LOG_WARN, "binance", was_open ? "disconnected" : "cannot_reach_exchange",
               "conn=%zu url=%s://%s:%d streams=%zu reason=\"%s\"%s attempt=%u retry_in_ms=%" PRId64
               " clock_held=%zu action=\"retrying with backoff\"",
               c->index, b->ws.tls ? "wss" : "ws", b->ws.host, b->ws.port, c->n_mem, why, tls,
               c->attempt, delay, held);
}

static void
conn_open(wsconn_t *c)
{
    binance_t *b = c->b;
    if (c->n_mem == 0) {
        c->retry_at_ms = INT64_MAX;
        return;
    }
    int64_t now = kl_mono_ms(), wait = kl_binance_budget_take(&b->budget, now);
    if (wait > 0) { /* the IP's connection budget is spent: going on would get it banned */
        c->retry_at_ms = now + wait;
        b->budget_waits++;
        uint64_t supp;
        if (kl_ratelimit_ok(&b->rl_budget, 60000, &supp))
            kl_log(KL_LOG_WARN, "binance", "connect_budget_spent",
                   "conn=%zu budget=%u window_ms=%" PRId64 " wait_ms=%" PRId64
                   " waits=%llu suppressed=%llu note=\"Binance allows 300 new connections per 5 "
                   "minutes per IP: this reconnect waits\"",
                   c->index, b->budget.max, b->budget.window_ms, wait,
                   (unsigned long long)b->budget_waits, (unsigned long long)supp);
        return;
    }
    /* The path is the connection's symbol set now: the queued changes are in it. */
    static const char streams[] = "/stream?streams=";
    kl_free(c->path);
    c->path = kl_alloc(strlen(b->ws.prefix) + sizeof streams + c->path_len + 1);
    if (!c->path) {
        c->retry_at_ms = kl_mono_ms() + KL_BINANCE_BACKOFF_CAP_MS;
        return;
    }
    char *p = c->path;
    p += sprintf(p, "%s%s", b->ws.prefix, streams);
    for (size_t k = 0; k < c->n_mem; k++) {
        const sym_t *y = &b->syms[c->mem[k]];
        if (k > 0)
            *p++ = '/';
        for (size_t j = 0; j < y->len; j++) {
            char ch = y->name[j];
            *p++ = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
        }
        p += sprintf(p, "@%s", b->stream);
    }
    c->subq.n = c->unsubq.n = 0;
    c->ctl_next_ms = 0;
    c->ctl_want = 0;
    struct lws_client_connect_info i;
    memset(&i, 0, sizeof i);
    i.context = b->ctx;
    i.address = b->ws.host;
    i.port = b->ws.port;
    i.ssl_connection = b->ws.tls ? LCCSCF_USE_SSL : 0;
    i.path = c->path;
    i.host = b->ws.host;
    i.origin = b->ws.host;
    i.protocol = NULL; /* Binance wants no Sec-WebSocket-Protocol */
    i.local_protocol_name = PROTOCOL_NAME;
    i.userdata = c;
    i.pwsi = &c->wsi;
    c->state = WS_CONNECTING;
    c->started_ms = kl_mono_ms();
    c->wsi = NULL;
    c->kill = 0;
    if (!lws_client_connect_via_info(&i) && c->state == WS_CONNECTING)
        conn_lost(c, "cannot connect (no network, name resolution or refused)");
}

static void
conn_kill(wsconn_t *c, const char *why)
{
    binance_t *b = c->b;
    kl_log(KL_LOG_INFO, "binance", "reconnecting", "conn=%zu reason=\"%s\"", c->index, why);
    if (c->wsi) {
        c->kill = 1;
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    } else {
        conn_lost(c, why);
    }
    (void)b;
}

static void
handle_message(wsconn_t *c, const char *s, size_t n)
{
    binance_t *b = c->b;
    atomic_fetch_add_explicit(&b->base.messages, 1, memory_order_relaxed);
    if (c->oversize) {
        reject(b, "oversize", KL_ELINE, s, n, c->msg_total);
        return;
    }
    /* An answer to our SUBSCRIBE/UNSUBSCRIBE: {"result":null,"id":N} or {"error":{..},"id":N}. */
    if (n > 0 && s[0] == '{' && memmem(s, n, "\"id\":", 5) && !memmem(s, n, "\"data\"", 6) &&
        !memmem(s, n, "\"e\":", 4)) {
        atomic_fetch_add_explicit(&b->base.skipped_events, 1, memory_order_relaxed);
        if (memmem(s, n, "\"error\"", 7) || !memmem(s, n, "\"result\":null", 13)) {
            b->ctl_errors++;
            kl_log(KL_LOG_WARN, "binance", "control_error",
                   "conn=%zu reply=\"%.*s\" errors=%llu", c->index, (int)(n > 200 ? 200 : n), s,
                   (unsigned long long)b->ctl_errors);
        }
        return;
    }
    kl_trade_msg_t m;
    int rc = kl_trade_json_parse(s, n, &m);
    if (rc == KL_EJSON_EVENT) {
        atomic_fetch_add_explicit(&b->base.skipped_events, 1, memory_order_relaxed);
        if (memmem(s, n, "\"serverShutdown\"", 16)) {
            b->shutdowns++;
            conn_kill(c, "serverShutdown event");
        }
        return;
    }
    if (rc == 0 && m.is_agg == b->raw)
        rc = KL_EJSON_EVENT; /* the other kind of event: its ids count something else */
    if (rc == 0)
        rc = kl_trade_validate(&m.t, 1);
    if (rc != 0) {
        reject(b, "stream", rc, s, n, n);
        return;
    }
    sym_t *y = sym_find(b, m.symbol, strlen(m.symbol));
    if (!y) {
        /* Trades of a symbol just removed keep coming until the UNSUBSCRIBE is through:
         * expected, so skipped without a log line (a miss is rare: the scan is cheap). */
        for (size_t i = 0; i < b->n_syms; i++)
            if (b->syms[i].dead && strcmp(b->syms[i].name, m.symbol) == 0) {
                atomic_fetch_add_explicit(&b->base.skipped_events, 1, memory_order_relaxed);
                return;
            }
        reject(b, "unsubscribed_symbol", KL_EARG, s, n, n);
        return;
    }
    if (!c->got_data) {
        c->got_data = 1;
        c->attempt = 0; /* a connection that delivers resets the backoff */
    }
    int64_t now = b->rt->wmark ? kl_evtime_now_ms() : 0;
    rc = kl_bf_live(&y->bf, &m.t, &bf_ops, y);
    if (rc == 1) {
        sym_hold(y); /* a hole in the stream: nothing of it was routed yet */
        want_fetch(y, 0);
    }
    if (y->held)
        sym_settle(y);
    /* A trade from the future (refused in emit_trade) must not move the watermark either. */
    if (b->rt->wmark && m.t.ts <= now + b->rt->max_skew_ms) {
        int64_t d = kl_wmark_trade(&c->wm, m.t.ts, now);
        kl_hist_record(&b->base.feed_delay, d > 0 ? (uint64_t)d * 1000000u : 0);
        conn_announce(c);
    }
}

static int ctl_send(wsconn_t *c);

static int
ws_callback(wsconn_t *c, struct lws *wsi, enum lws_callback_reasons reason, void *in, size_t len)
{
    if (c->wsi != wsi)
        return 0;
    binance_t *b = c->b;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->state = WS_OPEN;
        c->opened_ms = c->last_rx_ms = kl_mono_ms();
        c->ping_pending = c->ping_sent = c->got_data = 0;
        c->in_msg = 0;
        b->connects++;
        kl_log(KL_LOG_INFO, "binance", "connected",
               "conn=%zu streams=%zu host=%s port=%d stream_type=%s", c->index, c->n_mem,
               b->ws.host, b->ws.port, b->stream);
        for (size_t k = 0; k < c->n_mem; k++) {
            sym_t *y = &b->syms[c->mem[k]];
            if (kl_bf_connected(&y->bf)) {
                if (y->bf.last_id != INT64_MIN)
                    sym_hold(y); /* until REST proves nothing is missing (a re-added symbol) */
                want_fetch(y, 0);
            }
        }
        if (b->t0_ms == INT64_MIN && !b->time_inflight)
            b->time_need = 1; /* the first connection: where the feed starts */
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (c->kill || b->stopping)
            return 0;
        c->last_rx_ms = kl_mono_ms();
        c->ping_sent = 0;
        if (!c->in_msg) {
            c->in_msg = 1;
            c->msg_len = c->msg_total = 0;
            c->oversize = 0;
        }
        c->msg_total += len;
        if (!c->oversize) {
            size_t room = KL_TRADE_JSON_MAX - c->msg_len, take = len < room ? len : room;
            memcpy(c->msg + c->msg_len, in, take);
            c->msg_len += take;
            c->oversize = take < len;
        }
        if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
            c->in_msg = 0;
            handle_message(c, c->msg, c->msg_len);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
        c->last_rx_ms = kl_mono_ms();
        c->ping_sent = 0;
        if (len == 8 && b->rt->wmark) {
            /* Everything the exchange sent before our ping reached it came before this pong,
             * on this connection: the ping's own time (its payload) minus what frames take. */
            int64_t at = 0;
            for (int i = 0; i < 8; i++)
                at |= (int64_t)((const uint8_t *)in)[i] << (8 * i);
            if (at > c->ping_ev_ms) /* only a time we sent: a forged one could run ahead */
                at = c->ping_ev_ms;
            kl_wmark_quiet(&c->wm, at, PONG_MAX_LATENCY_MS);
            conn_announce(c);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (c->ping_pending) {
            unsigned char buf[LWS_PRE + 8];
            c->ping_pending = 0;
            c->ping_sent = 1;
            c->ping_ev_ms = kl_evtime_now_ms();
            for (int i = 0; i < 8; i++)
                buf[LWS_PRE + i] = (unsigned char)((uint64_t)c->ping_ev_ms >> (8 * i));
            if (lws_write(wsi, buf + LWS_PRE, 8, LWS_WRITE_PING) < 0)
                return -1;
            if (c->ctl_want) /* one write per WRITEABLE: the message waits for the next */
                lws_callback_on_writable(wsi);
            return 0;
        }
        if (c->ctl_want)
            return ctl_send(c);
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        conn_lost(c, in ? (const char *)in : "connection error");
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        conn_lost(c, c->kill ? "closed by us" : "closed by the server");
        return 0;
    default:
        return 0;
    }
}

/* ---- the symbol set: additions and removals while running -------------------------------- */

static int
nameq_push(nameq_t *q, const char *name)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->v[i], name) == 0)
            return 0;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        char(*nv)[KL_SYM_MAX] = kl_alloc(cap * sizeof *nv);
        if (!nv)
            return KL_ENOMEM;
        if (q->n)
            memcpy(nv, q->v, q->n * sizeof *nv);
        kl_free(q->v);
        q->v = nv;
        q->cap = cap;
    }
    snprintf(q->v[q->n++], KL_SYM_MAX, "%s", name);
    return 0;
}

static void
nameq_del(nameq_t *q, const char *name)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->v[i], name) == 0) {
            memmove(q->v + i, q->v + i + 1, (q->n - i - 1) * sizeof *q->v);
            q->n--;
            return;
        }
}

/* Sends one control message from c's queues (UNSUBSCRIBE first), as many streams as fit. The
 * tick asks for the next one CTL_SPACING_MS later. */
static int
ctl_send(wsconn_t *c)
{
    binance_t *b = c->b;
    c->ctl_want = 0;
    nameq_t *q = c->unsubq.n > 0 ? &c->unsubq : &c->subq;
    if (q->n == 0)
        return 0;
    char *out = (char *)b->ctlbuf + LWS_PRE;
    size_t len = (size_t)snprintf(out, CTL_MSG_MAX, "{\"method\":\"%s\",\"params\":[",
                                  q == &c->unsubq ? "UNSUBSCRIBE" : "SUBSCRIBE");
    size_t k = 0;
    for (; k < q->n && len + KL_SYM_MAX + 64 < CTL_MSG_MAX; k++) {
        out[len++] = k ? ',' : '"';
        if (k)
            out[len++] = '"';
        for (const char *p = q->v[k]; *p; p++)
            out[len++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        len += (size_t)snprintf(out + len, CTL_MSG_MAX - len, "@%s\"", b->stream);
    }
    len += (size_t)snprintf(out + len, CTL_MSG_MAX - len, "],\"id\":%lld}", ++c->ctl_id);
    kl_log(KL_LOG_INFO, "binance", "control_sent", "conn=%zu msg=\"%.*s\"", c->index,
           (int)(len > 300 ? 300 : len), out);
    memmove(q->v, q->v + k, (q->n - k) * sizeof *q->v);
    q->n -= k;
    b->ctl_sent++;
    c->ctl_next_ms = kl_mono_ms() + CTL_SPACING_MS;
    if (lws_write(c->wsi, (unsigned char *)out, len, LWS_WRITE_TEXT) < (int)len)
        return -1;
    return 0;
}

/* Rebuilds the name index over the live symbols. */
static int
hash_rebuild(binance_t *b)
{
    size_t hsize = 16;
    while (hsize < b->n_syms * 2)
        hsize *= 2;
    uint32_t *h = kl_calloc(hsize, sizeof *h);
    if (!h)
        return KL_ENOMEM;
    kl_free(b->hash);
    b->hash = h;
    b->hash_mask = hsize - 1;
    for (size_t i = 0; i < b->n_syms; i++) {
        if (b->syms[i].dead)
            continue;
        size_t k = name_hash(b->syms[i].name, b->syms[i].len) & b->hash_mask;
        while (h[k])
            k = (k + 1) & b->hash_mask;
        h[k] = (uint32_t)(i + 1);
    }
    return 0;
}

static size_t
stream_bytes(const sym_t *y)
{
    return y->len + 1 + strlen(y->b->stream) + 1; /* "@aggTrade" or "@trade", and a '/' */
}

/* Puts symbol si on a connection with room in its stream and path budgets, or on a new one.
 * An open (or opening) connection is sent a SUBSCRIBE; an idle one has it in its next path. */
static int
conn_assign(binance_t *b, size_t si)
{
    static const char streams[] = "/stream?streams=";
    sym_t *y = &b->syms[si];
    size_t base = strlen(b->ws.prefix) + sizeof streams - 1, add = stream_bytes(y);
    wsconn_t *c = NULL;
    for (size_t k = 0; k < b->n_conns && !c; k++) {
        wsconn_t *x = b->conns[k];
        if (x->n_mem < KL_BINANCE_STREAMS_MAX && base + x->path_len + add <= KL_BINANCE_PATH_MAX)
            c = x;
    }
    if (!c) {
        if (b->n_conns == b->cap_conns) {
            size_t cap = b->cap_conns ? b->cap_conns * 2 : 4;
            wsconn_t **nc = kl_alloc(cap * sizeof *nc);
            if (!nc)
                return KL_ENOMEM;
            if (b->n_conns)
                memcpy(nc, b->conns, b->n_conns * sizeof *nc);
            kl_free(b->conns);
            b->conns = nc;
            b->cap_conns = cap;
        }
        c = kl_calloc(1, sizeof *c);
        if (!c || !(c->msg = kl_alloc(KL_TRADE_JSON_MAX))) {
            kl_free(c);
            return KL_ENOMEM;
        }
        c->tag = TAG_WS;
        c->b = b;
        c->index = b->n_conns;
        kl_wmark_init(&c->wm, b->disorder_ms);
        c->state = WS_IDLE;
        c->retry_at_ms = 0;
        b->conns[b->n_conns++] = c;
    }
    if (c->n_mem == c->cap_mem) {
        size_t cap = c->cap_mem ? c->cap_mem * 2 : 16;
        uint32_t *nm = kl_alloc(cap * sizeof *nm);
        if (!nm)
            return KL_ENOMEM;
        if (c->n_mem)
            memcpy(nm, c->mem, c->n_mem * sizeof *nm);
        kl_free(c->mem);
        c->mem = nm;
        c->cap_mem = cap;
    }
    if (c->state != WS_IDLE) {
        nameq_del(&c->unsubq, y->name);
        if (nameq_push(&c->subq, y->name) != 0)
            return KL_ENOMEM;
    } else if (c->n_mem == 0) {
        c->retry_at_ms = 0; /* an unused connection comes back */
    }
    c->mem[c->n_mem++] = (uint32_t)si;
    c->path_len += add;
    y->conn = c->index;
    return 0;
}

/* Starts following name: from resume_id, or from its first live trade. */
/* The last id routed for name before it was removed in this run, or INT64_MIN. A re-added
 * symbol resumes there: its worker kept its series (open klines and all), so the trades of the
 * removal are backfilled by REST like a disconnect's, and the day's kline stays exact. */
static int64_t
removed_last_id(const binance_t *b, const char *name)
{
    int64_t last = INT64_MIN;
    for (size_t i = 0; i < b->n_syms; i++)
        if (b->syms[i].dead && strcmp(b->syms[i].name, name) == 0 && b->syms[i].routed_id > last)
            last = b->syms[i].routed_id;
    return last;
}

static int
sym_add(binance_t *b, const char *name, int64_t resume_id)
{
    if (b->n_syms == b->cap_syms) {
        size_t cap = b->cap_syms ? b->cap_syms * 2 : 16;
        sym_t *ns = kl_calloc(cap, sizeof *ns);
        if (!ns)
            return KL_ENOMEM;
        if (b->n_syms)
            memcpy(ns, b->syms, b->n_syms * sizeof *ns);
        kl_free(b->syms);
        b->syms = ns;
        b->cap_syms = cap;
    }
    size_t si = b->n_syms;
    sym_t *y = &b->syms[si];
    memset(y, 0, sizeof *y);
    snprintf(y->name, sizeof y->name, "%s", name);
    y->len = strlen(y->name);
    y->b = b;
    kl_bf_init(&y->bf, resume_id, KL_BF_BUF_MAX);
    y->routed_id = resume_id;
    b->n_syms++;
    int rc = hash_rebuild(b);
    if (rc == 0)
        rc = conn_assign(b, si);
    if (rc != 0) {
        kl_bf_fini(&y->bf);
        y->dead = 1;
        (void)hash_rebuild(b);
        return rc;
    }
    const wsconn_t *c = b->conns[y->conn];
    if (c->state == WS_OPEN && kl_bf_connected(&y->bf)) { /* resumes: the gap is fetched */
        sym_hold(y);
        want_fetch(y, 0);
    }
    return 0;
}

/* y was removed and added back before sync_symbols saw the removal: the trades refused
 * meanwhile come back by REST from the last one its worker took, held like a reconnect's. */
static void
sym_resync(sym_t *y)
{
    kl_bf_fini(&y->bf);
    kl_bf_init(&y->bf, y->routed_id, KL_BF_BUF_MAX);
    y->refused = 0;
    if (kl_bf_connected(&y->bf)) {
        sym_hold(y);
        want_fetch(y, 0);
    }
}

/* Stops following symbol si: UNSUBSCRIBE, and its state goes. */
static void
sym_drop(binance_t *b, size_t si)
{
    sym_t *y = &b->syms[si];
    wsconn_t *c = b->conns[y->conn];
    sym_release(y);
    y->dead = 1;
    y->need = 0;
    kl_bf_fini(&y->bf);
    for (size_t k = 0; k < c->n_mem; k++)
        if (c->mem[k] == si) {
            memmove(c->mem + k, c->mem + k + 1, (c->n_mem - k - 1) * sizeof *c->mem);
            c->n_mem--;
            c->path_len -= stream_bytes(y);
            break;
        }
    if (c->state != WS_IDLE) {
        nameq_del(&c->subq, y->name);
        (void)nameq_push(&c->unsubq, y->name); /* out of memory: its trades are refused */
        if (c->n_mem == 0)
            conn_kill(c, "no symbol left on it");
    }
    (void)hash_rebuild(b); /* out of memory: the old index finds a dead slot, dropped below */
}

static int
qset_has(const binance_t *b, const char *name)
{
    for (size_t i = 0; i < b->n_qset; i++)
        if (strcmp(b->qset[i], name) == 0)
            return 1;
    return 0;
}

/* Compares the registry's live symbols (in quote-asset mode: those of the quote set) with the
 * streamed ones, and subscribes/unsubscribes the difference. Cheap when nothing moved: the
 * registry's epoch (removals) and count (additions) are compared first. */
static void
sync_symbols(binance_t *b)
{
    kl_symreg_t *reg = b->rt ? b->rt->reg : NULL;
    if (!reg)
        return;
    uint64_t epoch = kl_symreg_epoch(reg);
    size_t n = kl_symreg_list(reg, NULL, 0);
    if (!b->sync_force && epoch == b->sync_epoch && n == b->sync_count)
        return;
    if (b->quote_mode && !b->qset_loaded)
        return;
    size_t room = n + 64;
    kl_syminfo_t *list = kl_alloc(room * sizeof *list);
    if (!list)
        return; /* tried again in a second */
    n = kl_symreg_list(reg, list, room);
    if (n > room) { /* grew meanwhile past the slack: the next pass sees it all */
        kl_free(list);
        return;
    }
    b->sync_force = 0;
    b->sync_epoch = epoch;
    b->sync_count = n;
    char *keep = kl_calloc(b->n_syms + 1, 1);
    if (!keep) {
        kl_free(list);
        b->sync_force = 1;
        return;
    }
    size_t added = 0, removed = 0, n_old = b->n_syms;
    for (size_t i = 0; i < n; i++) {
        if (b->quote_mode && !qset_has(b, list[i].name))
            continue;
        sym_t *y = sym_find(b, list[i].name, strlen(list[i].name));
        if (y) {
            keep[y - b->syms] = 1;
            if (y->refused)
                sym_resync(y); /* removed and added back between two of these passes */
            continue;
        }
        int64_t resume = b->initial && b->resume ? b->resume(b->resume_ctx, list[i].name)
                                                 : removed_last_id(b, list[i].name);
        if (sym_add(b, list[i].name, resume) == 0)
            added++;
        else
            b->sync_force = 1;
    }
    for (size_t i = 0; i < n_old; i++)
        if (!b->syms[i].dead && !keep[i]) {
            sym_drop(b, i);
            removed++;
        }
    kl_free(keep);
    kl_free(list);
    b->initial = 0;
    b->sym_added += added;
    b->sym_removed += removed;
    size_t live = 0;
    for (size_t i = 0; i < b->n_syms; i++)
        live += !b->syms[i].dead;
    if (added || removed)
        kl_log(KL_LOG_INFO, "binance", "symbols_changed",
               "added=%zu removed=%zu streams=%zu connections=%zu", added, removed, live,
               b->n_conns);
}

/* exchangeInfo: the symbols with status TRADING and a quote asset of ours. Returns how many,
 * with *out (owned by the caller), or -1 when the text has no "symbols". */
static long
parse_exchange_info(const binance_t *b, const char *body, char (**out)[KL_SYM_MAX])
{
    if (!body || !strstr(body, "\"symbols\""))
        return -1;
    size_t n = 0, cap = 0;
    char(*v)[KL_SYM_MAX] = NULL;
    const char *p = strstr(body, "\"symbol\":\"");
    while (p) {
        const char *name = p + 10, *ne = strchr(name, '"');
        if (!ne)
            break;
        const char *next = strstr(ne, "\"symbol\":\"");
        size_t seg = next ? (size_t)(next - ne) : strlen(ne);
        const char *st = memmem(ne, seg, "\"status\":\"TRADING\"", 18);
        const char *qa = memmem(ne, seg, "\"quoteAsset\":\"", 14);
        if (st && qa && ne - name > 0 && ne - name < KL_SYM_MAX) {
            char q[40];
            const char *qs = qa + 14, *qe = memchr(qs, '"', (size_t)(ne + seg - qs));
            if (qe && qe - qs > 0 && qe - qs < 32) {
                snprintf(q, sizeof q, ",%.*s,", (int)(qe - qs), qs);
                if (strstr(b->quotes, q)) {
                    if (n == cap) {
                        cap = cap ? cap * 2 : 256;
                        char(*nv)[KL_SYM_MAX] = kl_alloc(cap * sizeof *nv);
                        if (!nv) {
                            kl_free(v);
                            return -1;
                        }
                        if (n)
                            memcpy(nv, v, n * sizeof *nv);
                        kl_free(v);
                        v = nv;
                    }
                    snprintf(v[n++], KL_SYM_MAX, "%.*s", (int)(ne - name), name);
                }
            }
        }
        p = next;
    }
    *out = v;
    return (long)n;
}

/* A new quote set: its symbols go into the registry (not the ones an admin removed), and the
 * next sync streams exactly them. */
static void
info_complete(rest_req_t *r)
{
    binance_t *b = r->b;
    char(*v)[KL_SYM_MAX] = NULL;
    long n = parse_exchange_info(b, r->body, &v);
    if (n < 0) {
        reject(b, "rest_exchange_info", KL_EJSON, r->body ? r->body : "", r->len, r->len);
        rest_failed(r, "unreadable exchangeInfo answer");
        return;
    }
    b->info_inflight = 0;
    b->info_attempt = 0;
    b->info_at_ms = kl_mono_ms() + INFO_REFRESH_MS;
    kl_free(b->qset);
    b->qset = v;
    b->n_qset = (size_t)n;
    b->qset_loaded = 1;
    b->sync_force = 1;
    size_t fresh = 0;
    for (size_t i = 0; b->rt && i < b->n_qset; i++) {
        kl_syminfo_t info;
        /* The exchange's list: within max-symbols, not paced (refusals counted, logged) */
        fresh += kl_symreg_lookup(b->rt->reg, b->qset[i], KL_SYMREG_AUTO | KL_SYMREG_CAPPED, 1,
                                  &info) == 1;
    }
    kl_log(KL_LOG_INFO, "binance", "exchange_info", "quote_assets=%s trading=%ld new=%zu",
           b->quotes, n, fresh);
}

static int
lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    if (user) {
        int tag = *(int *)user;
        if (tag == TAG_WS)
            return ws_callback(user, wsi, reason, in, len);
        if (tag == TAG_REST)
            return rest_callback(user, wsi, reason, in, len);
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {PROTOCOL_NAME, lws_cb, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* The 50 ms heartbeat: stop flag, timeouts, pings, reconnects, REST pacing. */
static void
tick_cb(lws_sorted_usec_list_t *sul)
{
    binance_t *b = lws_container_of(sul, binance_t, tick);
    if (atomic_load_explicit(b->stop, memory_order_relaxed)) {
        b->stopping = 1;
        return;
    }
    int64_t now = kl_mono_ms();
    int64_t down = 0, open = 0;
    for (size_t k = 0; k < b->n_conns; k++) {
        wsconn_t *c = b->conns[k];
        down += c->n_mem > 0 && c->state != WS_OPEN;
        open += c->state == WS_OPEN;
        if (c->state == WS_OPEN && !c->kill && !c->ctl_want && now >= c->ctl_next_ms &&
            (c->subq.n > 0 || c->unsubq.n > 0)) {
            c->ctl_want = 1;
            lws_callback_on_writable(c->wsi);
        }
        if (c->state == WS_IDLE && now >= c->retry_at_ms) {
            conn_open(c);
        } else if (c->state == WS_CONNECTING && now - c->started_ms > CONNECT_TIMEOUT_MS) {
            conn_kill(c, "connect timeout");
        } else if (c->state == WS_OPEN && !c->kill) {
            if (now - c->opened_ms >= KL_BINANCE_ROTATE_MS)
                conn_kill(c, "23h50m rotation before Binance's 24h limit");
            else if (now - c->last_rx_ms >= KL_BINANCE_DEAD_MS)
                conn_kill(c, "nothing received for 15 s");
            else if (now - c->last_rx_ms >= KL_BINANCE_PING_IDLE_MS && !c->ping_sent &&
                     !c->ping_pending) {
                c->ping_pending = 1;
                lws_callback_on_writable(c->wsi);
            }
        }
    }
    /* relaxed: gauges for /healthz and /metrics */
    atomic_store_explicit(&b->base.feeds_down, down, memory_order_relaxed);
    atomic_store_explicit(&b->base.feeds_open, open, memory_order_relaxed);
    for (size_t i = 0; b->n_held > 0 && i < b->n_syms; i++) {
        sym_t *y = &b->syms[i];
        if (!y->held || now - y->held_ms < HOLD_MAX_MS)
            continue;
        b->hold_timeouts++;
        uint64_t supp;
        if (kl_ratelimit_ok(&b->rl_hold, 1000, &supp))
            kl_log(KL_LOG_WARN, "binance", "clock_hold_expired",
                   "symbol=%s held_ms=%" PRId64 " backfilling=%d last_id=%" PRId64
                   " note=\"no trade routed while held: its klines follow the watermark again; "
                   "trades of its hole that come later may be too late\" expired=%llu "
                   "suppressed=%llu",
                   y->name, now - y->held_ms, y->bf.backfilling, y->bf.last_id,
                   (unsigned long long)b->hold_timeouts, (unsigned long long)supp);
        sym_release(y);
    }
    for (size_t k = 0; k < KL_BINANCE_REST_INFLIGHT; k++) {
        rest_req_t *r = &b->reqs[k];
        if (r->busy && now - r->started_ms > REST_TIMEOUT_MS) {
            rest_failed(r, "no complete answer in time");
            if (r->wsi)
                lws_set_timeout(r->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            rest_release(r);
        }
    }
    if (b->quote_mode && !b->info_inflight && !b->info_need && now >= b->info_at_ms)
        b->info_need = 1;
    if (b->rt->wmark && b->t0_ms != INT64_MIN && !b->time_inflight && !b->time_need &&
        now >= b->time_at_ms)
        b->time_need = 1;
    if (now >= b->sync_at_ms) {
        b->sync_at_ms = now + SYNC_MS;
        sync_symbols(b);
    }
    rest_pump(b);
    lws_sul_schedule(b->ctx, 0, &b->tick, tick_cb, TICK_MS * LWS_US_PER_MS);
}

static void
log_summary(binance_t *b, const char *event)
{
    uint64_t dup = 0, over = 0, rest = 0, buffered = 0;
    for (size_t i = 0; i < b->n_syms; i++) {
        dup += b->syms[i].bf.duplicates;
        over += b->syms[i].bf.overflows;
        rest += b->syms[i].bf.from_rest;
        buffered += b->syms[i].bf.from_buffer;
    }
    kl_log(KL_LOG_INFO, "binance", event,
           "connections=%zu connects=%llu disconnects=%llu server_shutdowns=%llu "
           "rest_requests=%llu rest_failures=%llu backfilled=%llu from_buffer=%llu "
           "duplicates=%llu buffer_overflows=%llu gaps=%llu gap_ids=%llu clock_holds=%llu "
           "clock_hold_timeouts=%llu",
           b->n_conns, (unsigned long long)b->connects, (unsigned long long)b->disconnects,
           (unsigned long long)b->shutdowns, (unsigned long long)b->rest_requests,
           (unsigned long long)b->rest_failures, (unsigned long long)rest,
           (unsigned long long)buffered, (unsigned long long)dup, (unsigned long long)over,
           (unsigned long long)b->gaps, (unsigned long long)b->gap_ids,
           (unsigned long long)b->holds, (unsigned long long)b->hold_timeouts);
}

static int
binance_run(kl_source_t *src, kl_router_t *rt, const _Atomic int *stop)
{
    binance_t *b = (binance_t *)src;
    b->rt = rt;
    b->stop = stop;
    b->stopping = 0;
    kl_lwslog_bind("binance", lws_log_hook);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.gid = -1;
    info.uid = -1;
    /* connections come and go with the symbol set: room for the whole spot market */
    info.fd_limit_per_thread = (unsigned)(b->n_conns + 64 + KL_BINANCE_REST_INFLIGHT + 8);
    info.max_http_header_data = 8192;
    info.pt_serv_buf_size = 16384;
    if (b->ws.tls || b->rest.tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        if (b->ca_file[0])
            info.client_ssl_ca_filepath = b->ca_file;
    }
    b->ctx = lws_create_context(&info);
    if (!b->ctx) {
        kl_log(KL_LOG_ERROR, "binance", "start_failed", "reason=\"cannot create the "
               "libwebsockets context\"");
        return KL_ENOMEM;
    }
    kl_log(KL_LOG_INFO, "binance", "starting",
           "symbols=%zu connections=%zu ws=%s://%s:%d%s rest=%s://%s:%d%s ca_file=%s", b->n_syms,
           b->n_conns, b->ws.tls ? "wss" : "ws", b->ws.host, b->ws.port, b->ws.prefix,
           b->rest.tls ? "https" : "http", b->rest.host, b->rest.port, b->rest.prefix,
           b->ws.tls || b->rest.tls ? (b->ca_file[0] ? b->ca_file : "(lws default)") : "-");
    /* Trades after a resumed symbol's last id may be missing until the first connection proves
     * otherwise. */
    for (size_t i = 0; i < b->n_syms; i++)
        if (b->syms[i].bf.last_id != INT64_MIN)
            sym_hold(&b->syms[i]);
    kl_router_flush(rt);
    lws_sul_schedule(b->ctx, 0, &b->tick, tick_cb, 1);
    while (!b->stopping && !atomic_load_explicit(stop, memory_order_relaxed)) {
        if (lws_service(b->ctx, 0) < 0)
            break;
        kl_router_flush(rt);
        rest_pump(b);
    }
    b->stopping = 1;
    lws_sul_cancel(&b->tick);
    lws_context_destroy(b->ctx);
    b->ctx = NULL;
    kl_router_flush(rt);
    log_summary(b, "stopped");
    return 0;
}

static void
binance_destroy(kl_source_t *src)
{
    binance_t *b = (binance_t *)src;
    for (size_t i = 0; i < b->n_syms; i++)
        kl_bf_fini(&b->syms[i].bf);
    for (size_t i = 0; i < b->n_conns; i++) {
        kl_free(b->conns[i]->path);
        kl_free(b->conns[i]->msg);
        kl_free(b->conns[i]->mem);
        kl_free(b->conns[i]->subq.v);
        kl_free(b->conns[i]->unsubq.v);
        kl_free(b->conns[i]);
    }
    kl_free(b->qset);
    for (size_t i = 0; i < KL_BINANCE_REST_INFLIGHT; i++)
        kl_free(b->reqs[i].body);
    kl_free(b->conns);
    kl_free(b->syms);
    kl_free(b->hash);
    kl_free(b->page);
    kl_free(b);
}

static const kl_source_ops_t binance_ops = {"binance", binance_run, binance_destroy};

int
kl_source_binance_create(const struct kl_config *cfg, kl_resume_fn resume, void *resume_ctx,
                         kl_source_t **out, char *err, size_t cap)
{
    if (cfg->n_symbols == 0 && (!cfg->quote_assets || !cfg->quote_assets[0])) {
        snprintf(err, cap, "source binance: no symbols: list them with --symbols (e.g. "
                           "BTC/USDT,ETHUSDT), or follow every TRADING symbol of some quote "
                           "assets with quote-assets = USDT,FDUSD, or pick another --source");
        return KL_ECONFIG;
    }
    kl_lwslog_init(); /* main thread, before the source thread starts */
    binance_t *b = kl_calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, cap, "source binance: out of memory");
        return KL_ENOMEM;
    }
    b->base.ops = &binance_ops;
    b->base.finite = 0;
    if (kl_binance_url_parse(cfg->binance_ws, &b->ws) != 0 ||
        (strncmp(cfg->binance_ws, "ws://", 5) != 0 && strncmp(cfg->binance_ws, "wss://", 6) != 0)) {
        snprintf(err, cap, "source binance: binance-ws %s: not a ws:// or wss:// URL "
                           "host[:port][/path]", cfg->binance_ws);
        binance_destroy(&b->base);
        return KL_ECONFIG;
    }
    if (kl_binance_url_parse(cfg->binance_rest, &b->rest) != 0 ||
        strncmp(cfg->binance_rest, "http", 4) != 0) {
        snprintf(err, cap, "source binance: binance-rest %s: not an http:// or https:// URL "
                           "host[:port][/path]", cfg->binance_rest);
        binance_destroy(&b->base);
        return KL_ECONFIG;
    }
    b->raw = cfg->binance_stream && strcmp(cfg->binance_stream, "trade") == 0;
    b->disorder_ms = cfg->disorder_ms;
    b->stream = b->raw ? "trade" : "aggTrade";
    b->rest_spacing_ms = b->raw ? KL_BINANCE_REST_SPACING_RAW_MS : KL_BINANCE_REST_SPACING_MS;
    b->resume = resume;
    b->resume_ctx = resume_ctx;
    b->initial = 1;
    b->sync_force = 1; /* the first tick compares the registry with the configured list */
    if (cfg->n_symbols == 0) {
        b->quote_mode = 1;
        b->info_need = 1;
        snprintf(b->quotes, sizeof b->quotes, ",%s,", cfg->quote_assets);
    }
    b->page = kl_alloc(KL_BINANCE_REST_LIMIT * sizeof *b->page);
    int rc = b->page ? hash_rebuild(b) : KL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < cfg->n_symbols; i++)
        rc = sym_add(b, cfg->symbols[i].name,
                     resume ? resume(resume_ctx, cfg->symbols[i].name) : INT64_MIN);
    if (rc != 0) {
        snprintf(err, cap, "source binance: out of memory");
        binance_destroy(&b->base);
        return KL_ENOMEM;
    }
    for (size_t k = 0; k < KL_BINANCE_REST_INFLIGHT; k++) {
        b->reqs[k].tag = TAG_REST;
        b->reqs[k].b = b;
    }
    b->t0_ms = INT64_MIN;
    b->rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid() ^
             (uint64_t)(uintptr_t)b;
    if (b->rng == 0)
        b->rng = 1;
    kl_binance_budget_init(&b->budget, KL_BINANCE_CONN_BUDGET, KL_BINANCE_CONN_WINDOW_MS);
    if (cfg->binance_ca_file && cfg->binance_ca_file[0])
        snprintf(b->ca_file, sizeof b->ca_file, "%s", cfg->binance_ca_file);
    else if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0)
        snprintf(b->ca_file, sizeof b->ca_file, "/etc/ssl/certs/ca-certificates.crt");
    size_t resumed = 0;
    for (size_t i = 0; i < b->n_syms; i++)
        resumed += b->syms[i].bf.last_id != INT64_MIN;
    kl_log(KL_LOG_INFO, "binance", "created", "symbols=%zu connections=%zu resumed=%zu",
           b->n_syms, b->n_conns, resumed);
    *out = &b->base;
    return 0;
}
