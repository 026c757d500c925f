/* fake_exchange: a local stand-in for Binance spot that the integration tests of the live source
 * (`klined serve --source binance`) point --binance-ws/--binance-rest at. It loads
 * data.binance.vision trade dumps, plays them as one exchange tape at a fixed trade rate, pushes
 * what it emits to WebSocket subscribers in Binance's combined-stream shape, serves the emitted
 * prefix through Binance's REST aggTrades/historicalTrades/exchangeInfo/time/ping, and injects
 * faults on request (POST /fault). The contract is in docs/fake_exchange.md.
 *
 * DESIGN. One thread, one lws context, plain HTTP/WS on 127.0.0.1. A 5 ms lws_sul timer is the
 * exchange clock: each tick moves the emitted prefix of the tape forward to rate * active time
 * (time not paused), formats each new trade once and copies it into the bounded send queue of
 * every subscribed client. A client is written one frame per WRITEABLE callback; one whose queue
 * would exceed QUEUE_MAX_FRAMES or QUEUE_MAX_BYTES is killed and counted in dropped_slow, never
 * waited for. A client only ever gets trades emitted while it is connected, as on the real
 * exchange, so a reconnecting client must backfill through REST. Memory comes from malloc: this
 * is a test tool, not part of klined.
 *
 * LATENCY (--latency-ms MIN-MAX, with --live-time). Each queued frame gets a due time, the trade's
 * T (or the moment it was queued, for other frames) plus a delay drawn uniformly in [MIN, MAX]
 * from the connection's own seeded generator, and never earlier than the frame before it: a
 * connection delivers in order, like one TCP path from another region. A frame is written only
 * once due. The client's pings must be answered in that same order (a pong proves that nothing
 * sent before it is still in flight), but lws 4.1 answers a ping by itself, ahead of anything the
 * application queued (lib/roles/ws/ops-ws.c: the PING opcode stashes the payload and the next
 * POLLOUT writes the pong before the WRITEABLE callback; no callback or option sees the ping).
 * So with latency on, lws never reads these connections: ESTABLISHED turns its rx off
 * (lws_rx_flow_control), and the 5 ms tick reads the socket itself and parses the client's frames:
 * a ping queues an ordered PONG frame, text is a control message as before, a close is answered
 * through the queue. lws still writes, handles hang-ups and closes. Plain sockets only: over TLS
 * the bytes are ciphertext, so --latency-ms refuses --tls-cert. */
#include <libwebsockets.h>


#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "core/decimal.h"
#include "kl/err.h"
#include "source/dumpstream.h"
#include "source/inputs.h"


#define TICK_US 5000
#define RATE0_BATCH 4096               /* trades per tick when --rate 0 */
#define QUEUE_MAX_FRAMES 16384         /* per client */
#define QUEUE_MAX_BYTES (16u << 20)    /* per client; the 1 MiB oversize frame fits */
#define RX_MAX 65536                   /* largest control message accepted */
#define OVERSIZE_BYTES (1u << 20)
#define REST_LIMIT_DEFAULT 500
#define REST_LIMIT_MAX 1000
#define MSG_MAX 512                    /* one formatted trade message */
#define LATENCY_MAX_MS 60000

enum { SUB_AGG = 1, SUB_TRADE = 2 };
enum { FR_TEXT, FR_PING, FR_PONG, FR_CLOSE };

typedef struct sym {
    char name[KL_SYMBOL_MAX];  /* BTCUSDT */
    char lower[KL_SYMBOL_MAX]; /* btcusdt, for stream names */
    kl_trade_t *t;             /* in file order, ids strictly increasing, ts in ms */
    size_t n, cap;
    size_t emitted;            /* t[0..emitted) are on the tape already */
} sym_t;

typedef struct tape_ent {
    int64_t key; /* trade time, made non-decreasing per symbol so the sort keeps file order */
    uint32_t sym, idx;
} tape_ent_t;

typedef struct frame {
    unsigned char *buf; /* LWS_PRE headroom, then len bytes */
    size_t len;
    int kind;
    int close_code; /* FR_CLOSE */
    int64_t t_ms;   /* the trade's T, or -1: not a trade (kept for the delay stats) */
    int64_t due_ms; /* wall ms from which it may be written (0 without latency) */
} frame_t;

/* One per connection: the HTTP fields while it serves REST, the WS fields once upgraded. */
typedef struct pss {
    /* HTTP */
    char *resp; /* LWS_PRE headroom, then resp_len bytes */
    size_t resp_len;
    int resp_status, await_body, quit_after;
    /* WS */
    struct lws *wsi;
    struct pss *next;
    unsigned id;
    int is_ws, combined, dropping;
    uint8_t *sub; /* per symbol: SUB_* bits */
    frame_t *q;   /* ring of QUEUE_MAX_FRAMES */
    size_t q_head, q_n, q_bytes;
    uint64_t sent;
    char *rx;
    size_t rx_len;
    /* latency mode: the connection's delay generator, the due time of its last queued frame, the
     * bytes read from the socket and not yet parsed, and what /status reports */
    uint64_t rng;
    int64_t last_due_ms;
    unsigned char *in;
    size_t in_len;
    int rx_done; /* a close was queued: the rest of the input is ignored */
    uint64_t pongs, delay_n;
    int64_t delay_min, delay_max, delay_sum;
} pss_t;

static struct {
    sym_t *syms;
    size_t n_syms;
    tape_ent_t *tape;
    size_t total, emitted;
    int64_t rate;
    int64_t start_us, last_tick_us, active_us;
    /* --start-clients: the clock is held (start_us = INT64_MAX) until this many WS clients are
     * connected, then starts start_delay_us later, so a slow client cannot miss the first
     * trades however loaded the machine is. */
    int64_t start_clients, start_delay_us;
    int64_t pause_until_us, stall_until_us, refuse_until_us;
    int64_t clock_ms; /* exchange time: T of the last emitted trade */
    int live_time;    /* --live-time: trades are stamped with the wall clock at emission */
    int latency;      /* --latency-ms given: frames are delayed, see LATENCY above */
    int64_t lat_min_ms, lat_max_ms;
    uint64_t seed;
    pss_t *clients;
    unsigned next_id;
    uint64_t dropped_slow, refused;
    int done_logged;
    struct lws_context *ctx;
    lws_sorted_usec_list_t sul;
    volatile sig_atomic_t quit;
} g;

static void
logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fake_exchange: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        logf_("out of memory");
        exit(2);
    }
    return q;
}

/* ---- growable string with LWS_PRE headroom ---------------------------------------------- */

typedef struct sb {
    char *p;
    size_t n, cap; /* n counts the bytes after the headroom */
} sb_t;

static void
sb_need(sb_t *b, size_t more)
{
    if (LWS_PRE + b->n + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < LWS_PRE + b->n + more + 1)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void
sb_printf(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
sb_printf(sb_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    sb_need(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + LWS_PRE + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

static int64_t
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Exchange time for serverTime and status: the tape clock, or with --live-time the wall clock
 * (never behind the last emitted trade). */
static int64_t
server_ms(void)
{
    if (!g.live_time)
        return g.clock_ms;
    int64_t wall = wall_ms();
    return wall > g.clock_ms ? wall : g.clock_ms;
}

/* ---- loading the tape ------------------------------------------------------------------- */

static uint64_t n_rejected;

static void
on_reject(void *ctx, const char *path, uint64_t line, int err, const char *row, size_t n)
{
    (void)ctx;
    if (n_rejected++ < 10)
        logf_("%s:%" PRIu64 ": %s: \"%.*s\" (skipped)", path, line, kl_strerror(err),
              (int)(n > 100 ? 100 : n), row);
}

static int
tape_cmp(const void *a, const void *b)
{
    const tape_ent_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->sym != y->sym)
        return x->sym < y->sym ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int
load(kl_inputs_t *in)
{
    char err[512];
    if (kl_inputs_prepare(in, err, sizeof err) != 0) {
        logf_("%s", err);
        return -1;
    }
    g.syms = xrealloc(NULL, (in->n ? in->n : 1) * sizeof *g.syms);
    for (size_t first = 0; first < in->n;) {
        size_t last = first + 1;
        while (last < in->n && strcmp(in->v[last].symbol, in->v[first].symbol) == 0)
            last++;
        sym_t *s = &g.syms[g.n_syms++];
        memset(s, 0, sizeof *s);
        for (size_t i = 0; in->v[first].symbol[i] && i + 1 < KL_SYMBOL_MAX; i++) {
            s->name[i] = (char)toupper((unsigned char)in->v[first].symbol[i]);
            s->lower[i] = (char)tolower((unsigned char)in->v[first].symbol[i]);
        }
        kl_dumpstream_t ds;
        kl_dumpstream_init(&ds, &in->v[first], last - first, on_reject, NULL);
        kl_trade_t t;
        int rc;
        while ((rc = kl_dumpstream_next(&ds, &t, 0)) > 0) {
            if (s->n && t.id <= s->t[s->n - 1].id) {
                logf_("%s: trade id %" PRId64 " after %" PRId64 ": ids must increase",
                      kl_dumpstream_path(&ds), t.id, s->t[s->n - 1].id);
                kl_dumpstream_close(&ds);
                return -1;
            }
            t.ts /= ds.unit_per_ms; /* the live API speaks ms */
            if (s->n == s->cap) {
                s->cap = s->cap ? 2 * s->cap : 1024;
                s->t = xrealloc(s->t, s->cap * sizeof *s->t);
            }
            s->t[s->n++] = t;
        }
        kl_dumpstream_close(&ds);
        if (rc < 0) {
            logf_("%s: cannot read: %s", kl_dumpstream_path(&ds), kl_strerror(rc));
            return -1;
        }
        g.total += s->n;
        first = last;
    }
    g.tape = xrealloc(NULL, (g.total ? g.total : 1) * sizeof *g.tape);
    size_t k = 0;
    for (uint32_t i = 0; i < g.n_syms; i++) {
        int64_t key = INT64_MIN;
        for (uint32_t j = 0; j < g.syms[i].n; j++) {
            if (g.syms[i].t[j].ts > key)
                key = g.syms[i].t[j].ts;
            g.tape[k++] = (tape_ent_t){key, i, j};
        }
    }
    qsort(g.tape, g.total, sizeof *g.tape, tape_cmp);
    g.clock_ms = g.total ? g.tape[0].key : 0;
    for (size_t i = 0; i < g.n_syms; i++)
        logf_("loaded %s: %zu trades", g.syms[i].name, g.syms[i].n);
    logf_("tape: %zu trades, %zu symbols, %" PRIu64 " rows rejected", g.total, g.n_syms,
          n_rejected);
    return 0;
}

static sym_t *
sym_find(const char *name, size_t n)
{
    for (size_t i = 0; i < g.n_syms; i++)
        if (strlen(g.syms[i].name) == n && strncasecmp(g.syms[i].name, name, n) == 0)
            return &g.syms[i];
    return NULL;
}

/* ---- trade messages --------------------------------------------------------------------- */

static size_t
fmt_trade_rest(char *buf, size_t cap, const kl_trade_t *t)
{
    char p[KL_NUM_BUFSZ], q[KL_NUM_BUFSZ];
    kl_dec_format(t->price, p);
    kl_dec_format(t->qty, q);
    int n = snprintf(buf, cap,
                     "{\"a\":%" PRId64 ",\"p\":\"%s\",\"q\":\"%s\",\"f\":%" PRId64 ",\"l\":%" PRId64
                     ",\"T\":%" PRId64 ",\"m\":%s,\"M\":true}",
                     t->id, p, q, t->first_id, t->last_id, t->ts, t->buyer_maker ? "true" : "false");
    return (size_t)n;
}

/* One element of a REST historicalTrades answer: the tape's trade as a raw trade, with the id
 * its @trade events carry (quoteQty = price x qty, truncated to 8 places like Binance). */
static size_t
fmt_raw_trade_rest(char *buf, size_t cap, const kl_trade_t *t)
{
    char p[KL_NUM_BUFSZ], q[KL_NUM_BUFSZ], qq[KL_NUM_BUFSZ];
    kl_dec_format(t->price, p);
    kl_dec_format(t->qty, q);
    kl_sum_format((kl_sum_t)t->price * (kl_sum_t)t->qty, 16, qq);
    int n = snprintf(buf, cap,
                     "{\"id\":%" PRId64 ",\"price\":\"%s\",\"qty\":\"%s\",\"quoteQty\":\"%s\""
                     ",\"time\":%" PRId64 ",\"isBuyerMaker\":%s,\"isBestMatch\":true}",
                     t->id, p, q, qq, t->ts, t->buyer_maker ? "true" : "false");
    return (size_t)n;
}

/* The WS event of one trade: kind SUB_AGG or SUB_TRADE, wrapped for /stream when combined. */
static size_t
fmt_trade_ws(char *buf, size_t cap, const sym_t *s, const kl_trade_t *t, int kind, int combined)
{
    char p[KL_NUM_BUFSZ], q[KL_NUM_BUFSZ];
    kl_dec_format(t->price, p);
    kl_dec_format(t->qty, q);
    const char *m = t->buyer_maker ? "true" : "false";
    int n = 0;
    if (combined)
        n = snprintf(buf, cap, "{\"stream\":\"%s@%s\",\"data\":", s->lower,
                     kind == SUB_AGG ? "aggTrade" : "trade");
    if (kind == SUB_AGG)
        n += snprintf(buf + n, cap - (size_t)n,
                      "{\"e\":\"aggTrade\",\"E\":%" PRId64 ",\"s\":\"%s\",\"a\":%" PRId64
                      ",\"p\":\"%s\",\"q\":\"%s\",\"f\":%" PRId64 ",\"l\":%" PRId64
                      ",\"T\":%" PRId64 ",\"m\":%s,\"M\":true}",
                      g.clock_ms, s->name, t->id, p, q, t->first_id, t->last_id, t->ts, m);
    else
        n += snprintf(buf + n, cap - (size_t)n,
                      "{\"e\":\"trade\",\"E\":%" PRId64 ",\"s\":\"%s\",\"t\":%" PRId64
                      ",\"p\":\"%s\",\"q\":\"%s\",\"T\":%" PRId64 ",\"m\":%s,\"M\":true}",
                      g.clock_ms, s->name, t->id, p, q, t->ts, m);
    if (combined)
        n += snprintf(buf + n, cap - (size_t)n, "}");
    return (size_t)n;
}

/* ---- WS clients -------------------------------------------------------------------------- */

static void
client_kill(pss_t *c, const char *why)
{
    if (c->dropping)
        return;
    c->dropping = 1;
    logf_("ws #%u closed by server: %s (sent=%" PRIu64 " queued=%zu)", c->id, why, c->sent,
          c->q_n);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void
queue_clear(pss_t *c)
{
    while (c->q_n) {
        free(c->q[c->q_head].buf);
        c->q_head = (c->q_head + 1) % QUEUE_MAX_FRAMES;
        c->q_n--;
    }
    c->q_bytes = 0;
}

/* splitmix64: each connection draws its delays from its own generator, seeded by --seed and its
 * id, so its delays do not depend on how many frames other connections were sent. */
static uint64_t
rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Queues a copy of msg; a client whose queue would overflow is disconnected and counted. t_ms is
 * the trade's T, or -1 for any other frame. With latency on, the frame is due at T (or now) plus
 * a drawn delay, and never before the frame queued ahead of it. */
static void
enqueue_at(pss_t *c, const char *msg, size_t len, int kind, int64_t t_ms)
{
    if (c->dropping)
        return;
    if (c->q_n == QUEUE_MAX_FRAMES || c->q_bytes + len > QUEUE_MAX_BYTES) {
        g.dropped_slow++;
        queue_clear(c);
        client_kill(c, "send queue full (slow client)");
        return;
    }
    frame_t *f = &c->q[(c->q_head + c->q_n) % QUEUE_MAX_FRAMES];
    f->buf = xrealloc(NULL, LWS_PRE + len + 1);
    memcpy(f->buf + LWS_PRE, msg, len);
    f->len = len;
    f->kind = kind;
    f->close_code = LWS_CLOSE_STATUS_GOINGAWAY;
    f->t_ms = t_ms;
    f->due_ms = 0;
    if (g.latency) {
        int64_t span = g.lat_max_ms - g.lat_min_ms + 1;
        int64_t due = (t_ms >= 0 ? t_ms : wall_ms()) + g.lat_min_ms +
                      (int64_t)(rng_next(&c->rng) % (uint64_t)span);
        if (due < c->last_due_ms)
            due = c->last_due_ms; /* in order: never before the frame ahead */
        f->due_ms = c->last_due_ms = due;
    }
    c->q_n++;
    c->q_bytes += len;
}

static void
enqueue(pss_t *c, const char *msg, size_t len, int kind)
{
    enqueue_at(c, msg, len, kind, -1);
}

static int
stalled(void)
{
    return now_us() < g.stall_until_us;
}

/* The head of c's queue may be written now. */
static int
head_due(const pss_t *c)
{
    return c->q_n && (!g.latency || c->q[c->q_head].due_ms <= wall_ms());
}

static void
wake_writers(void)
{
    if (stalled())
        return;
    for (pss_t *c = g.clients; c; c = c->next)
        if (!c->dropping && head_due(c))
            lws_callback_on_writable(c->wsi);
}

/* Applies one stream name ("btcusdt@aggTrade") to c; unknown names are accepted and ignored,
 * as Binance does. */
static void
sub_apply(pss_t *c, const char *name, size_t n, int on)
{
    const char *at = memchr(name, '@', n);
    if (!at)
        return;
    size_t tl = n - (size_t)(at + 1 - name);
    int kind = 0;
    if (tl == 8 && memcmp(at + 1, "aggTrade", 8) == 0)
        kind = SUB_AGG;
    else if (tl == 5 && memcmp(at + 1, "trade", 5) == 0)
        kind = SUB_TRADE;
    sym_t *s = sym_find(name, (size_t)(at - name));
    if (!kind || !s)
        return;
    size_t i = (size_t)(s - g.syms);
    c->sub[i] = (uint8_t)(on ? c->sub[i] | kind : c->sub[i] & ~kind);
}

/* streams: names separated by '/', as in /stream?streams=a/b and /ws/a/b. */
static void
sub_list(pss_t *c, const char *streams)
{
    while (*streams) {
        const char *e = strchr(streams, '/');
        size_t n = e ? (size_t)(e - streams) : strlen(streams);
        sub_apply(c, streams, n, 1);
        streams += n + (e != NULL);
    }
}

static size_t
sub_count(const pss_t *c)
{
    size_t n = 0;
    for (size_t i = 0; i < g.n_syms; i++)
        n += (size_t)((c->sub[i] & SUB_AGG) != 0) + (size_t)((c->sub[i] & SUB_TRADE) != 0);
    return n;
}

/* Finds "key": in a flat JSON object and returns the first byte of its value, or NULL. */
static const char *
json_value(const char *s, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(s, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p++ != ':')
        return NULL;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS, answered in Binance's shape. */
static void
control_message(pss_t *c, const char *msg)
{
    char id[64] = "null";
    const char *v = json_value(msg, "id");
    if (v) {
        size_t n = strcspn(v, ",} \t\r\n");
        if (n > 0 && n < sizeof id) {
            memcpy(id, v, n);
            id[n] = '\0';
        }
    }
    const char *m = json_value(msg, "method");
    int method = 0; /* 1 sub, 2 unsub, 3 list */
    if (m && strncmp(m, "\"SUBSCRIBE\"", 11) == 0)
        method = 1;
    else if (m && strncmp(m, "\"UNSUBSCRIBE\"", 13) == 0)
        method = 2;
    else if (m && strncmp(m, "\"LIST_SUBSCRIPTIONS\"", 20) == 0)
        method = 3;
    sb_t b = {0};
    const char *p = method == 1 || method == 2 ? json_value(msg, "params") : NULL;
    if (method == 0 || ((method == 1 || method == 2) && (!p || *p != '['))) {
        sb_printf(&b, "{\"error\":{\"code\":2,\"msg\":\"Invalid request\"},\"id\":%s}", id);
        logf_("ws #%u: invalid control message", c->id);
    } else if (method == 3) {
        sb_printf(&b, "{\"result\":[");
        const char *sep = "";
        for (size_t i = 0; i < g.n_syms; i++) {
            if (c->sub[i] & SUB_AGG)
                sb_printf(&b, "%s\"%s@aggTrade\"", sep, g.syms[i].lower), sep = ",";
            if (c->sub[i] & SUB_TRADE)
                sb_printf(&b, "%s\"%s@trade\"", sep, g.syms[i].lower), sep = ",";
        }
        sb_printf(&b, "],\"id\":%s}", id);
    } else {
        for (p++; *p && *p != ']';) {
            if (*p == '"') {
                const char *e = strchr(p + 1, '"');
                if (!e)
                    break;
                sub_apply(c, p + 1, (size_t)(e - p - 1), method == 1);
                p = e + 1;
            } else {
                p++;
            }
        }
        sb_printf(&b, "{\"result\":null,\"id\":%s}", id);
        logf_("ws #%u: %s, now %zu streams", c->id, method == 1 ? "SUBSCRIBE" : "UNSUBSCRIBE",
              sub_count(c));
    }
    enqueue(c, b.p + LWS_PRE, b.n, FR_TEXT);
    free(b.p);
    wake_writers();
}

/* ---- reading the clients ourselves (latency mode) ---------------------------------------- */

/* Queues a close frame with code; nothing the client sends after this is read. */
static void
close_queued(pss_t *c, int code)
{
    enqueue(c, "", 0, FR_CLOSE);
    if (c->q_n)
        c->q[(c->q_head + c->q_n - 1) % QUEUE_MAX_FRAMES].close_code = code;
    c->rx_done = 1;
}

/* Parses the complete frames at the start of c->in (RFC 6455 5.2; a client masks every frame) and
 * returns the bytes used. A ping becomes an ordered PONG, text and continuations make the control
 * messages (as LWS_CALLBACK_RECEIVE does without latency), a close is answered with the same
 * code; a pong is ignored. */
static size_t
ws_parse(pss_t *c)
{
    size_t used = 0;
    while (!c->rx_done && !c->dropping) {
        const unsigned char *p = c->in + used;
        size_t avail = c->in_len - used, hdr = 2;
        if (avail < 2)
            break;
        int fin = p[0] & 0x80, op = p[0] & 0x0f, masked = p[1] & 0x80;
        uint64_t plen = p[1] & 0x7f;
        if (plen == 126)
            hdr += 2;
        else if (plen == 127)
            hdr += 8;
        if (avail < hdr + 4)
            break;
        if (plen == 126)
            plen = (uint64_t)p[2] << 8 | p[3];
        else if (plen == 127)
            for (int i = 0; i < 8; i++)
                plen = (i ? plen << 8 : 0) | p[2 + i];
        if (!masked || (op >= 8 && (plen > 125 || !fin)) || (op > 2 && op < 8) || op > 10) {
            logf_("ws #%u: protocol error from the client (opcode %d), closing", c->id, op);
            close_queued(c, LWS_CLOSE_STATUS_PROTOCOL_ERR);
            break;
        }
        if (op < 8 && c->rx_len + plen > RX_MAX) { /* before waiting for all of it */
            logf_("ws #%u: control message over %d bytes, closing", c->id, RX_MAX);
            close_queued(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE);
            break;
        }
        if (avail < hdr + 4 + plen)
            break;
        const unsigned char *mask = p + hdr;
        unsigned char *pl = (unsigned char *)p + hdr + 4;
        for (uint64_t i = 0; i < plen; i++)
            pl[i] ^= mask[i & 3];
        used += hdr + 4 + (size_t)plen;
        if (op == 9) {
            enqueue(c, (const char *)pl, (size_t)plen, FR_PONG);
        } else if (op == 8) {
            int code = plen >= 2 ? pl[0] << 8 | pl[1] : LWS_CLOSE_STATUS_NORMAL;
            if (code < 1000 || code == 1005 || code == 1006 || code == 1015)
                code = LWS_CLOSE_STATUS_PROTOCOL_ERR; /* codes a close frame may not carry */
            logf_("ws #%u: close %d from the client", c->id, code);
            close_queued(c, code);
        } else if (op != 10) {
            c->rx = xrealloc(c->rx, c->rx_len + (size_t)plen + 1);
            memcpy(c->rx + c->rx_len, pl, (size_t)plen);
            c->rx_len += (size_t)plen;
            c->rx[c->rx_len] = '\0';
            if (fin) {
                control_message(c, c->rx);
                c->rx_len = 0;
            }
        }
    }
    return used;
}

/* Reads what the client has sent so far. lws's own reading is off for this connection, so the
 * end of the stream (or an error) is ours to see: the connection is then closed. */
static void
ws_read(pss_t *c)
{
    int fd = lws_get_socket_fd(c->wsi);
    unsigned char chunk[16384];
    while (!c->dropping && !c->rx_done && fd >= 0) {
        ssize_t n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            client_kill(c, n == 0 ? "the client closed the connection" : strerror(errno));
            return;
        }
        c->in = xrealloc(c->in, c->in_len + (size_t)n);
        memcpy(c->in + c->in_len, chunk, (size_t)n);
        c->in_len += (size_t)n;
        size_t used = ws_parse(c);
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
}

/* ---- the exchange clock ------------------------------------------------------------------ */

static void
emit_one(void)
{
    const tape_ent_t *e = &g.tape[g.emitted++];
    sym_t *s = &g.syms[e->sym];
    kl_trade_t *t = &s->t[e->idx];
    s->emitted = (size_t)e->idx + 1;
    if (g.live_time) { /* REST serves the same array, so it returns the rewritten times too */
        int64_t wall = wall_ms();
        t->ts = wall > g.clock_ms ? wall : g.clock_ms; /* never backwards, even if NTP steps */
    }
    if (t->ts > g.clock_ms)
        g.clock_ms = t->ts;
    char msg[2][2][MSG_MAX]; /* [kind][combined] */
    size_t len[2][2] = {{0, 0}, {0, 0}};
    for (pss_t *c = g.clients; c; c = c->next) {
        uint8_t sub = c->sub[e->sym];
        if (!sub || c->dropping)
            continue;
        for (int k = 0; k < 2; k++) {
            if (!(sub & (k ? SUB_TRADE : SUB_AGG)))
                continue;
            if (!len[k][c->combined])
                len[k][c->combined] = fmt_trade_ws(msg[k][c->combined], MSG_MAX, s, t,
                                                   k ? SUB_TRADE : SUB_AGG, c->combined);
            enqueue_at(c, msg[k][c->combined], len[k][c->combined], FR_TEXT, t->ts);
        }
    }
}

static void
tick(lws_sorted_usec_list_t *sul)
{
    if (g.latency) /* first, so a ping read now is answered after what was queued before it */
        for (pss_t *c = g.clients; c; c = c->next)
            ws_read(c);
    int64_t now = now_us();
    if (g.start_us == INT64_MAX) {
        int64_t n = 0;
        for (pss_t *c = g.clients; c; c = c->next)
            n += !c->dropping;
        if (n >= g.start_clients) {
            g.start_us = now + g.start_delay_us;
            g.last_tick_us = g.start_us;
            logf_("%" PRId64 " clients connected: the clock starts in %" PRId64 " ms", n,
                  g.start_delay_us / 1000);
        }
    }
    int64_t from = g.last_tick_us > g.start_us ? g.last_tick_us : g.start_us;
    if (from < g.pause_until_us)
        from = g.pause_until_us;
    if (now > from)
        g.active_us += now - from;
    g.last_tick_us = now;
    if (now >= g.start_us && now >= g.pause_until_us) {
        size_t target;
        if (g.rate > 0) {
            __int128 n = (__int128)g.active_us * g.rate / 1000000;
            target = n > (__int128)g.total ? g.total : (size_t)n;
        } else {
            target = g.emitted + RATE0_BATCH;
            if (target > g.total)
                target = g.total;
        }
        while (g.emitted < target)
            emit_one();
    }
    if (g.emitted == g.total && !g.done_logged) {
        g.done_logged = 1;
        logf_("tape done: %zu trades emitted", g.total);
    }
    wake_writers();
    lws_sul_schedule(g.ctx, 0, sul, tick, TICK_US);
}

/* ---- HTTP ------------------------------------------------------------------------------ */

/* The value of query argument name (lws has urldecoded it), or -1. */
static int
arg(struct lws *wsi, const char *name, char *out, int cap)
{
    size_t nl = strlen(name);
    char buf[2048];
    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            return -1;
        if ((size_t)n > nl && strncmp(buf, name, nl) == 0 && buf[nl] == '=') {
            int len = n - (int)nl - 1;
            if (len >= cap)
                return -1;
            memcpy(out, buf + nl + 1, (size_t)len + 1);
            return len;
        }
    }
}

/* Integer argument: 0 absent, 1 present and valid, -1 malformed. */
static int
arg_int(struct lws *wsi, const char *name, int64_t *v)
{
    char buf[32];
    int n = arg(wsi, name, buf, sizeof buf);
    if (n < 0)
        return 0;
    return n > 0 && kl_int_parse(buf, (size_t)n, v) == 0 ? 1 : -1;
}

static int
binance_error(sb_t *b, int code, const char *msg)
{
    b->n = 0;
    sb_printf(b, "{\"code\":%d,\"msg\":\"%s\"}", code, msg);
    return HTTP_STATUS_BAD_REQUEST;
}

static int
bad_int(sb_t *b, const char *name)
{
    char msg[160];
    snprintf(msg, sizeof msg,
             "Illegal characters found in parameter '%s'; legal range is '^[0-9]{1,20}$'.", name);
    return binance_error(b, -1100, msg);
}

/* GET /api/v3/historicalTrades?symbol=S[&fromId=N][&limit=L]: the emitted trades of S with
 * id >= fromId (the latest ones without it), as raw trades; no time filter, as on Binance. */
static int
route_historical_trades(struct lws *wsi, sb_t *b)
{
    char name[KL_SYMBOL_MAX];
    int n = arg(wsi, "symbol", name, sizeof name);
    if (n <= 0)
        return binance_error(b, -1102, "Mandatory parameter 'symbol' was not sent, was "
                                       "empty/null, or malformed.");
    sym_t *s = sym_find(name, (size_t)n);
    if (!s)
        return binance_error(b, -1121, "Invalid symbol.");
    int64_t limit = REST_LIMIT_DEFAULT, from_id = 0;
    if (arg_int(wsi, "limit", &limit) < 0 || limit < 1)
        return bad_int(b, "limit");
    if (limit > REST_LIMIT_MAX)
        limit = REST_LIMIT_MAX;
    int has_from = arg_int(wsi, "fromId", &from_id);
    if (has_from < 0)
        return bad_int(b, "fromId");
    size_t lo = 0, hi = s->emitted;
    if (has_from) {
        while (lo < hi) { /* first emitted trade with id >= fromId */
            size_t mid = lo + (hi - lo) / 2;
            if (s->t[mid].id < from_id)
                lo = mid + 1;
            else
                hi = mid;
        }
    } else {
        lo = s->emitted > (size_t)limit ? s->emitted - (size_t)limit : 0; /* the latest */
    }
    sb_printf(b, "[");
    char row[MSG_MAX];
    for (size_t i = lo; i < s->emitted && i - lo < (size_t)limit; i++) {
        size_t len = fmt_raw_trade_rest(row, sizeof row, &s->t[i]);
        sb_printf(b, "%s%.*s", i > lo ? "," : "", (int)len, row);
    }
    sb_printf(b, "]");
    return HTTP_STATUS_OK;
}

static int
route_agg_trades(struct lws *wsi, sb_t *b)
{
    char name[KL_SYMBOL_MAX];
    int n = arg(wsi, "symbol", name, sizeof name);
    if (n <= 0)
        return binance_error(b, -1102, "Mandatory parameter 'symbol' was not sent, was "
                                       "empty/null, or malformed.");
    sym_t *s = sym_find(name, (size_t)n);
    if (!s)
        return binance_error(b, -1121, "Invalid symbol.");
    int64_t limit = REST_LIMIT_DEFAULT, from_id = 0, start = INT64_MIN, end = INT64_MAX;
    int r;
    if ((r = arg_int(wsi, "limit", &limit)) < 0 || limit < 1)
        return bad_int(b, "limit");
    if (limit > REST_LIMIT_MAX)
        limit = REST_LIMIT_MAX;
    int has_from = arg_int(wsi, "fromId", &from_id);
    if (has_from < 0)
        return bad_int(b, "fromId");
    int has_start = arg_int(wsi, "startTime", &start), has_end = arg_int(wsi, "endTime", &end);
    if (has_start < 0)
        return bad_int(b, "startTime");
    if (has_end < 0)
        return bad_int(b, "endTime");
    size_t lo = 0, hi = s->emitted;
    if (has_from) {
        while (lo < hi) { /* first emitted trade with id >= fromId */
            size_t mid = lo + (hi - lo) / 2;
            if (s->t[mid].id < from_id)
                lo = mid + 1;
            else
                hi = mid;
        }
    } else if (!has_start && !has_end) {
        lo = s->emitted > (size_t)limit ? s->emitted - (size_t)limit : 0; /* the latest */
    }
    sb_printf(b, "[");
    char row[MSG_MAX];
    int64_t count = 0;
    for (size_t i = lo; i < s->emitted && count < limit; i++) {
        const kl_trade_t *t = &s->t[i];
        if (t->ts < start)
            continue;
        if (t->ts > end)
            break;
        size_t len = fmt_trade_rest(row, sizeof row, t);
        sb_printf(b, "%s%.*s", count ? "," : "", (int)len, row);
        count++;
    }
    sb_printf(b, "]");
    return HTTP_STATUS_OK;
}

static void
split_assets(const char *sym, char *base, char *quote)
{
    static const char *const quotes[] = {"FDUSD", "USDT", "BUSD", "USDC", "BTC", "ETH", "BNB"};
    size_t n = strlen(sym);
    strcpy(base, sym);
    quote[0] = '\0';
    for (size_t i = 0; i < sizeof quotes / sizeof quotes[0]; i++) {
        size_t ql = strlen(quotes[i]);
        if (n > ql && strcmp(sym + n - ql, quotes[i]) == 0) {
            strcpy(quote, quotes[i]);
            base[n - ql] = '\0';
            return;
        }
    }
}

static int
route_exchange_info(struct lws *wsi, sb_t *b)
{
    char name[KL_SYMBOL_MAX];
    int n = arg(wsi, "symbol", name, sizeof name);
    sym_t *only = NULL;
    if (n >= 0 && !(only = sym_find(name, (size_t)n)))
        return binance_error(b, -1121, "Invalid symbol.");
    sb_printf(b, "{\"timezone\":\"UTC\",\"serverTime\":%" PRId64
                 ",\"rateLimits\":[],\"exchangeFilters\":[],\"symbols\":[",
              server_ms());
    const char *sep = "";
    for (size_t i = 0; i < g.n_syms; i++) {
        if (only && only != &g.syms[i])
            continue;
        char base[KL_SYMBOL_MAX], quote[KL_SYMBOL_MAX];
        split_assets(g.syms[i].name, base, quote);
        sb_printf(b,
                  "%s{\"symbol\":\"%s\",\"status\":\"TRADING\",\"baseAsset\":\"%s\","
                  "\"baseAssetPrecision\":8,\"quoteAsset\":\"%s\",\"quotePrecision\":8,"
                  "\"quoteAssetPrecision\":8,\"isSpotTradingAllowed\":true,"
                  "\"permissions\":[\"SPOT\"]}",
                  sep, g.syms[i].name, base, quote);
        sep = ",";
    }
    sb_printf(b, "]}");
    return HTTP_STATUS_OK;
}

static int
route_fault(struct lws *wsi, sb_t *b)
{
    char kind[32];
    int64_t ms = 0;
    if (arg(wsi, "kind", kind, sizeof kind) <= 0)
        return binance_error(b, -1102, "Mandatory parameter 'kind' was not sent.");
    int has_ms = arg_int(wsi, "ms", &ms);
    if (has_ms < 0 || ms < 0)
        return bad_int(b, "ms");
    if (!has_ms && (!strcmp(kind, "stall") || !strcmp(kind, "refuse") || !strcmp(kind, "pause")))
        ms = 1000;
    int64_t until = now_us() + ms * 1000;
    size_t n = 0;
    for (pss_t *c = g.clients; c; c = c->next)
        n += !c->dropping;
    if (strcmp(kind, "drop") == 0) {
        for (pss_t *c = g.clients; c; c = c->next)
            client_kill(c, "fault drop");
    } else if (strcmp(kind, "stall") == 0) {
        g.stall_until_us = until;
    } else if (strcmp(kind, "refuse") == 0) {
        g.refuse_until_us = until;
    } else if (strcmp(kind, "pause") == 0) {
        g.pause_until_us = until;
    } else if (strcmp(kind, "garbage") == 0 || strcmp(kind, "oversize") == 0 ||
               strcmp(kind, "ping") == 0 || strcmp(kind, "shutdown") == 0) {
        sb_t m = {0};
        int fk = FR_TEXT;
        if (kind[0] == 'g') {
            sb_printf(&m, "this is not JSON {\"e\":");
        } else if (kind[0] == 'o') {
            sb_need(&m, OVERSIZE_BYTES);
            sb_printf(&m, "{\"stream\":\"oversize\",\"data\":\"");
            memset(m.p + LWS_PRE + m.n, 'x', OVERSIZE_BYTES - m.n - 2);
            m.n = OVERSIZE_BYTES - 2;
            sb_printf(&m, "\"}");
        } else if (kind[0] == 'p') {
            sb_printf(&m, "fake_exchange");
            fk = FR_PING;
        } else {
            sb_printf(&m, "{\"e\":\"serverShutdown\",\"E\":%" PRId64 "}", server_ms());
        }
        for (pss_t *c = g.clients; c; c = c->next) {
            enqueue(c, m.p + LWS_PRE, m.n, fk);
            if (kind[0] == 's')
                enqueue(c, "", 0, FR_CLOSE);
        }
        free(m.p);
        wake_writers();
    } else {
        return binance_error(b, -1, "Unknown fault kind (drop, stall, garbage, oversize, "
                                    "ping, shutdown, refuse, pause).");
    }
    logf_("fault kind=%s ms=%" PRId64 " clients=%zu", kind, ms, n);
    sb_printf(b, "{\"fault\":\"%s\",\"ms\":%" PRId64 ",\"clients\":%zu}", kind, ms, n);
    return HTTP_STATUS_OK;
}

static int
client_cmp(const void *a, const void *b)
{
    unsigned x = (*(pss_t *const *)a)->id, y = (*(pss_t *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* The open WS clients of /status, oldest first: frames sent and still queued, pongs sent and,
 * with --live-time, how long after their T the trade frames were written (ms). */
static void
status_clients(sb_t *b)
{
    size_t n = 0;
    for (pss_t *c = g.clients; c; c = c->next)
        n++;
    pss_t **v = xrealloc(NULL, (n ? n : 1) * sizeof *v);
    n = 0;
    for (pss_t *c = g.clients; c; c = c->next)
        if (!c->dropping)
            v[n++] = c;
    qsort(v, n, sizeof *v, client_cmp);
    for (size_t i = 0; i < n; i++) {
        const pss_t *c = v[i];
        sb_printf(b, "%s{\"id\":%u,\"sent\":%" PRIu64 ",\"queued\":%zu,\"pongs\":%" PRIu64,
                  i ? "," : "", c->id, c->sent, c->q_n, c->pongs);
        if (g.live_time)
            sb_printf(b,
                      ",\"delay_n\":%" PRIu64 ",\"delay_min_ms\":%" PRId64
                      ",\"delay_mean_ms\":%" PRId64 ",\"delay_max_ms\":%" PRId64,
                      c->delay_n, c->delay_min,
                      c->delay_n ? c->delay_sum / (int64_t)c->delay_n : 0, c->delay_max);
        sb_printf(b, "}");
    }
    free(v);
}

/* Builds the response of one request into pss->resp. */
static void
http_route(struct lws *wsi, pss_t *pss, const char *path)
{
    int post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    sb_t b = {0};
    int st = HTTP_STATUS_OK;
    if (strcmp(path, "/fault") == 0 || strcmp(path, "/quit") == 0) {
        if (!post) {
            st = binance_error(&b, -1, "Use POST.");
            st = HTTP_STATUS_METHOD_NOT_ALLOWED;
        } else if (path[1] == 'f') {
            st = route_fault(wsi, &b);
        } else {
            logf_("quit requested");
            sb_printf(&b, "{}");
            pss->quit_after = 1;
        }
    } else if (strcmp(path, "/api/v3/ping") == 0) {
        sb_printf(&b, "{}");
    } else if (strcmp(path, "/api/v3/time") == 0) {
        sb_printf(&b, "{\"serverTime\":%" PRId64 "}", server_ms());
    } else if (strcmp(path, "/api/v3/exchangeInfo") == 0) {
        st = route_exchange_info(wsi, &b);
    } else if (strcmp(path, "/api/v3/aggTrades") == 0) {
        st = route_agg_trades(wsi, &b);
    } else if (strcmp(path, "/api/v3/historicalTrades") == 0) {
        st = route_historical_trades(wsi, &b);
    } else if (strcmp(path, "/status") == 0) {
        size_t n = 0;
        for (pss_t *c = g.clients; c; c = c->next)
            n += !c->dropping;
        sb_printf(&b,
                  "{\"emitted\":%zu,\"total\":%zu,\"connections\":%zu,\"dropped_slow\":%" PRIu64
                  ",\"done\":%s,\"refused\":%" PRIu64 ",\"server_time\":%" PRId64
                  ",\"clients\":[",
                  g.emitted, g.total, n, g.dropped_slow, g.emitted == g.total ? "true" : "false",
                  g.refused, server_ms());
        status_clients(&b);
        sb_printf(&b, "]}");
    } else {
        st = binance_error(&b, -1, "Not found.");
        st = HTTP_STATUS_NOT_FOUND;
    }
    sb_need(&b, 0);
    pss->resp = b.p;
    pss->resp_len = b.n;
    pss->resp_status = st;
}

static int
http_send_headers(struct lws *wsi, pss_t *pss)
{
    uint8_t buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    if (lws_add_http_common_headers(wsi, (unsigned)pss->resp_status, "application/json",
                                    pss->resp_len, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
    lws_callback_on_writable(wsi);
    return 0;
}

/* ---- the one protocol: HTTP, then WS after an upgrade ------------------------------------ */

static int
ws_path_ok(struct lws *wsi, char *uri, int cap)
{
    if (lws_hdr_copy(wsi, uri, cap, WSI_TOKEN_GET_URI) <= 0)
        return 0;
    return strcmp(uri, "/stream") == 0 || strncmp(uri, "/ws/", 4) == 0;
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    pss_t *pss = user;
    char uri[1024];

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        http_route(wsi, pss, (const char *)in);
        if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0 &&
            lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
            atoll(uri) > 0) {
            pss->await_body = 1; /* answer once the body is read */
            return 0;
        }
        return http_send_headers(wsi, pss);
    case LWS_CALLBACK_HTTP_BODY:
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!pss->await_body)
            return 0;
        pss->await_body = 0;
        return http_send_headers(wsi, pss);
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (!pss || !pss->resp)
            break;
        int n = lws_write(wsi, (unsigned char *)pss->resp + LWS_PRE, pss->resp_len,
                          LWS_WRITE_HTTP_FINAL);
        free(pss->resp);
        pss->resp = NULL;
        if (pss->quit_after) {
            g.quit = 1;
            lws_cancel_service(g.ctx);
        }
        if (n < (int)pss->resp_len)
            return -1;
        if (lws_http_transaction_completed(wsi))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss) {
            free(pss->resp);
            pss->resp = NULL;
        }
        break;

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (!ws_path_ok(wsi, uri, sizeof uri)) {
            logf_("ws refused: path %s", uri);
            return 1;
        }
        if (now_us() < g.refuse_until_us) {
            g.refused++;
            logf_("ws refused: fault refuse active");
            return 1;
        }
        return 0;
    case LWS_CALLBACK_ESTABLISHED: {
        memset(pss, 0, sizeof *pss);
        pss->wsi = wsi;
        pss->is_ws = 1;
        pss->id = ++g.next_id;
        pss->sub = xrealloc(NULL, g.n_syms ? g.n_syms : 1);
        memset(pss->sub, 0, g.n_syms ? g.n_syms : 1);
        pss->q = xrealloc(NULL, QUEUE_MAX_FRAMES * sizeof *pss->q);
        pss->rng = g.seed ^ (0x9e3779b97f4a7c15ull * pss->id);
        /* With latency the tick reads this client (ws_read): lws must not answer its pings.
         * Nothing of the client's is in lws's buffer yet, since a client sends its first frame
         * only after the 101 (RFC 6455 4.1). */
        if (g.latency)
            lws_rx_flow_control(wsi, 0);
        lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
        if (strncmp(uri, "/ws/", 4) == 0) {
            sub_list(pss, uri + 4);
        } else {
            pss->combined = 1;
            int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
            char *streams = xrealloc(NULL, (size_t)n + 16);
            if (arg(wsi, "streams", streams, n + 16) > 0)
                sub_list(pss, streams);
            free(streams);
        }
        pss->next = g.clients;
        g.clients = pss;
        char peer[64] = "?";
        lws_get_peer_simple(wsi, peer, sizeof peer);
        logf_("ws #%u open from %s: %s, %zu streams", pss->id, peer, uri, sub_count(pss));
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        if (pss->dropping)
            return -1;
        if (!head_due(pss) || stalled())
            return 0; /* the tick asks again once the head is due and no stall runs */
        frame_t f = pss->q[pss->q_head];
        pss->q_head = (pss->q_head + 1) % QUEUE_MAX_FRAMES;
        pss->q_n--;
        pss->q_bytes -= f.len;
        if (f.kind == FR_CLOSE) {
            free(f.buf);
            lws_close_reason(wsi, (enum lws_close_status)f.close_code,
                             (unsigned char *)(f.close_code == LWS_CLOSE_STATUS_GOINGAWAY
                                                   ? "shutdown" : ""),
                             f.close_code == LWS_CLOSE_STATUS_GOINGAWAY ? 8 : 0);
            logf_("ws #%u closed by server: %s %d (sent=%" PRIu64 ")", pss->id,
                  f.close_code == LWS_CLOSE_STATUS_GOINGAWAY ? "fault shutdown" : "close",
                  f.close_code, pss->sent);
            pss->dropping = 1;
            return -1;
        }
        int n = lws_write(wsi, f.buf + LWS_PRE, f.len,
                          f.kind == FR_PING   ? LWS_WRITE_PING
                          : f.kind == FR_PONG ? LWS_WRITE_PONG
                                              : LWS_WRITE_TEXT);
        free(f.buf);
        if (n < (int)f.len)
            return -1;
        pss->sent++;
        pss->pongs += f.kind == FR_PONG;
        if (f.t_ms >= 0 && g.live_time) { /* how late after its T the trade left */
            int64_t d = wall_ms() - f.t_ms;
            if (!pss->delay_n || d < pss->delay_min)
                pss->delay_min = d;
            if (!pss->delay_n || d > pss->delay_max)
                pss->delay_max = d;
            pss->delay_sum += d;
            pss->delay_n++;
        }
        if (head_due(pss))
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE: {
        if (pss->rx_len + len > RX_MAX) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
            logf_("ws #%u: control message over %d bytes, closing", pss->id, RX_MAX);
            return -1;
        }
        pss->rx = xrealloc(pss->rx, pss->rx_len + len + 1);
        memcpy(pss->rx + pss->rx_len, in, len);
        pss->rx_len += len;
        pss->rx[pss->rx_len] = '\0';
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            control_message(pss, pss->rx);
            pss->rx_len = 0;
        }
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        if (!pss->is_ws) /* refused before ESTABLISHED */
            return 0;
        for (pss_t **pp = &g.clients; *pp; pp = &(*pp)->next)
            if (*pp == pss) {
                *pp = pss->next;
                break;
            }
        logf_("ws #%u closed (sent=%" PRIu64 ")", pss->id, pss->sent);
        queue_clear(pss);
        free(pss->q);
        free(pss->sub);
        free(pss->rx);
        free(pss->in);
        pss->q = NULL;
        pss->sub = NULL;
        pss->rx = NULL;
        pss->in = NULL;
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"fake-exchange", callback, sizeof(pss_t), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void
on_signal(int sig)
{
    (void)sig;
    g.quit = 1;
    if (g.ctx)
        lws_cancel_service(g.ctx);
}

static void
usage(void)
{
    fprintf(stderr, "usage: fake_exchange --port P --trades FILE[,FILE...] [--rate N] "
                    "[--start-ms T] [--start-clients N] [--live-time [--latency-ms MIN-MAX] [--seed N]] "
                    "[--tls-cert FILE --tls-key FILE]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    int64_t port = -1, start_ms = 0;
    const char *tls_cert = NULL, *tls_key = NULL;
    kl_inputs_t in = {0};
    char err[512];
    g.rate = 2000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--live-time") == 0) {
            g.live_time = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (strcmp(a, "--port") == 0) {
            if (kl_int_parse(v, strlen(v), &port) || port < 0 || port > 65535)
                usage();
        } else if (strcmp(a, "--rate") == 0) {
            if (kl_int_parse(v, strlen(v), &g.rate) || g.rate < 0 || g.rate > 100000000)
                usage();
        } else if (strcmp(a, "--start-ms") == 0) {
            if (kl_int_parse(v, strlen(v), &start_ms) || start_ms < 0)
                usage();
        } else if (strcmp(a, "--start-clients") == 0) {
            if (kl_int_parse(v, strlen(v), &g.start_clients) || g.start_clients < 0 ||
                g.start_clients > 1000)
                usage();
        } else if (strcmp(a, "--latency-ms") == 0) {
            const char *dash = strchr(v, '-');
            if (!dash || kl_int_parse(v, (size_t)(dash - v), &g.lat_min_ms) ||
                kl_int_parse(dash + 1, strlen(dash + 1), &g.lat_max_ms) ||
                g.lat_min_ms > g.lat_max_ms || g.lat_max_ms > LATENCY_MAX_MS)
                usage();
            g.latency = 1;
        } else if (strcmp(a, "--seed") == 0) {
            int64_t seed;
            if (kl_int_parse(v, strlen(v), &seed) || seed < 0)
                usage();
            g.seed = (uint64_t)seed;
        } else if (strcmp(a, "--tls-cert") == 0) {
            tls_cert = v;
        } else if (strcmp(a, "--tls-key") == 0) {
            tls_key = v;
        } else if (strcmp(a, "--trades") == 0) {
            char *list = strdup(v), *save = NULL;
            for (char *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save))
                if (kl_inputs_add(&in, f, NULL, err, sizeof err) != 0) {
                    logf_("%s", err);
                    free(list);
                    kl_inputs_free(&in);
                    return 2;
                }
            free(list);
        } else {
            usage();
        }
    }
    if (port < 0 || in.n == 0 || !tls_cert != !tls_key)
        usage();
    if (g.latency && (!g.live_time || tls_cert)) {
        /* Delays are counted from T, which only --live-time makes the wall clock; and the
         * client's frames are parsed from the socket, which TLS would hide. */
        logf_("--latency-ms needs --live-time and cannot be used with --tls-cert");
        kl_inputs_free(&in);
        return 2;
    }
    int rc = 0;
    if (load(&in) != 0) {
        rc = 2;
        goto out;
    }

    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = (int)port;
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    info.max_http_header_data = 16384;
    if (tls_cert) { /* the same WS and REST, over TLS: wss:// and https:// */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = tls_cert;
        info.ssl_private_key_filepath = tls_key;
    }
    g.ctx = lws_create_context(&info);
    if (!g.ctx) {
        logf_("cannot listen on 127.0.0.1:%" PRId64, port);
        rc = 1;
        goto out;
    }
    struct lws_vhost *vh = lws_get_vhost_by_name(g.ctx, "default");
    int bound = vh ? lws_get_vhost_listen_port(vh) : (int)port;
    g.start_delay_us = start_ms * 1000;
    g.start_us = g.start_clients > 0 ? INT64_MAX : now_us() + g.start_delay_us;
    g.last_tick_us = g.start_clients > 0 ? 0 : g.start_us;
    lws_sul_schedule(g.ctx, 0, &g.sul, tick, 1);
    printf("fake_exchange: listening on 127.0.0.1:%d\n", bound);
    fflush(stdout);
    logf_("listening on 127.0.0.1:%d, rate %" PRId64 "/s, start in %" PRId64 " ms%s%s", bound,
          g.rate, start_ms, g.live_time ? ", live time" : "", tls_cert ? ", tls" : "");
    if (g.latency)
        logf_("latency %" PRId64 "-%" PRId64 " ms, seed %" PRIu64, g.lat_min_ms, g.lat_max_ms,
              g.seed);
    while (!g.quit)
        if (lws_service(g.ctx, 0) < 0)
            break;
    lws_context_destroy(g.ctx);
    logf_("exit: emitted %zu of %zu trades, dropped_slow %" PRIu64, g.emitted, g.total,
          g.dropped_slow);
out:
    for (size_t i = 0; i < g.n_syms; i++)
        free(g.syms[i].t);
    free(g.syms);
    free(g.tape);
    kl_inputs_free(&in);
    return rc;
}
