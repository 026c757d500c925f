/* Lines source: one Binance trade/aggTrade event per line, from stdin or from any number of TCP
 * clients of a 127.0.0.1 listener, multiplexed with poll() on the source thread. Each line is
 * parsed by kl_trade_json_parse(), validated and routed; a bad line is counted and logged
 * (rate-limited) and skipped. Lines longer than KL_TRADE_JSON_MAX are rejected and skipped up to
 * their newline, so one bad client cannot wedge the reader. With watermark finality (the wall
 * clock, rt->wmark), each client is one connection of wmark.h: its highest T minus disorder-ms,
 * or exchange time minus idle-ms once it was silent that long, closes the klines of the
 * symbols it carried. A symbol is expected on one client; two clients carrying it both move it.
 *
 * Delivery is at most once by default: a line read is acknowledged by nothing, so the lines in
 * the rings and the WAL's group buffer at a crash are lost for the client. With lines-ack (TCP
 * only), klined writes `ack N\n` back on the connection once the first N lines it read on that
 * connection are in the WAL (every worker they went to logged its ring past them,
 * kl_worker_logged): acks are cumulative, per connection, and may skip values. A client that
 * keeps its lines until acked and resends the unacked ones after a reconnect gets at least
 * once, which the engine's per-symbol trade-id dedupe turns into exactly once. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/evtime.h"
#include "core/log.h"
#include "engine/kline.h"
#include "kl/err.h"
#include "source/source.h"
#include "source/trade_json.h"
#include "source/wmark.h"

#define MAX_CONNS 64
#define BUFSZ (64 * 1024)
#define ACK_WORKERS 64 /* kl_router_t: n_workers <= 64 */

/* Lines 1..line of a connection, and each worker's ring position right after them. */
typedef struct ack_mark {
    uint64_t line;
    uint64_t head[ACK_WORKERS];
} ack_mark_t;

typedef struct conn {
    int fd;
    size_t len;    /* bytes buffered */
    int discarding; /* inside an over-long line */
    uint64_t line;
    uint32_t rx_us; /* receive stamp of the last read */
    int64_t rx_ms;  /* exchange time of the last read (kl_evtime) */
    char *buf;
    kl_wmark_t wm;
    kl_symset_t syms; /* the symbols it delivered: the ones its watermark closes */
    /* lines-ack: the mark waiting to be durable and the newest one behind it (NULL without
     * lines-ack), the last line acked, and an ack line partly written (the socket is
     * non-blocking: a client that does not read its acks never stalls the source). */
    ack_mark_t *marks; /* [0] waiting, [1] newest */
    int n_marks;
    uint64_t acked;
    char out[32];
    size_t out_len, out_off;
} conn_t;

typedef struct lines_src {
    kl_source_t base;
    int listen_fd; /* -1 for stdin */
    char label[64];
    conn_t conns[MAX_CONNS];
    int n_conns;
    int ack; /* lines-ack */
    kl_ratelimit_t rl, rl_future, rl_ack;
} lines_src_t;

static void
reject(lines_src_t *l, const conn_t *c, int err, const char *line, size_t n)
{
    atomic_fetch_add_explicit(&l->base.rejected, 1, memory_order_relaxed);
    uint64_t supp;
    if (kl_ratelimit_ok(&l->rl, 1000, &supp))
        kl_log(KL_LOG_WARN, "lines", "line_rejected",
               "source=%s fd=%d line=%llu error=\"%s\" text=\"%.*s\" action=skipped suppressed=%llu",
               l->label, c->fd, (unsigned long long)c->line, kl_strerror(err),
               (int)(n > 100 ? 100 : n), line, (unsigned long long)supp);
}

static void
handle_line(lines_src_t *l, conn_t *c, kl_router_t *rt, const char *line, size_t n)
{
    c->line++;
    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
        n--;
    if (n == 0)
        return;
    atomic_fetch_add_explicit(&l->base.messages, 1, memory_order_relaxed);
    kl_trade_msg_t m;
    int rc = kl_trade_json_parse(line, n, &m);
    if (rc == KL_EJSON_EVENT) {
        atomic_fetch_add_explicit(&l->base.skipped_events, 1, memory_order_relaxed);
        return;
    }
    if (rc == 0)
        rc = kl_trade_validate(&m.t, 1);
    size_t sl = strlen(m.symbol);
    if (rc == 0 && rt->wmark &&
        kl_source_check_time(&l->base, rt, m.symbol, sl, &m.t, c->rx_ms, &l->rl_future) != 0)
        return; /* counted and logged as too far ahead */
    if (rc == 0) {
        m.t.rx_us = c->rx_us;
        rc = kl_router_trade(rt, m.symbol, sl, 1, &m.t);
        if (rc == KL_ESHUTDOWN)
            return;
        if (rc == KL_EARG || rc == KL_ESYMLIMIT) {
            reject(l, c, rc, m.symbol, sl); /* unknown symbol, or refused (symreg.h) */
            return;
        }
    }
    if (rc != 0) {
        reject(l, c, rc, line, n);
        return;
    }
    atomic_fetch_add_explicit(&l->base.trades, 1, memory_order_relaxed);
    if (rt->wmark) {
        if (kl_symset_add(&c->syms, m.symbol, sl) < 0)
            kl_log(KL_LOG_ERROR, "lines", "symbol_untracked",
                   "source=%s symbol=%s reason=\"out of memory\" action=\"its klines close "
                   "with its own trades only\"", l->label, m.symbol);
        int64_t d = kl_wmark_trade(&c->wm, m.t.ts, c->rx_ms);
        kl_hist_record(&l->base.feed_delay, d > 0 ? (uint64_t)d * 1000000u : 0);
    }
}

/* Sends c's watermark to its symbols when it passed a whole second. */
static void
announce(conn_t *c, kl_router_t *rt)
{
    int64_t at = kl_wmark_due(&c->wm);
    if (at == KL_WMARK_NONE)
        return;
    for (size_t i = 0; i < c->syms.n; i++)
        if (kl_router_wmark(rt, c->syms.names[i], strlen(c->syms.names[i]), at) == KL_ESHUTDOWN)
            return;
}

/* ---- lines-ack ----------------------------------------------------------------------------- */

static void
mark_take(const kl_router_t *rt, const conn_t *c, ack_mark_t *m)
{
    m->line = c->line;
    for (int i = 0; i < rt->n_workers && i < ACK_WORKERS; i++)
        m->head[i] = atomic_load_explicit(&kl_worker_ring(rt->workers[i], rt->producer)->head,
                                          memory_order_relaxed); /* our own index */
}

/* After a read: its lines are routed (kl_router_flush); they become the newest mark. */
static void
ack_note(const kl_router_t *rt, conn_t *c)
{
    if (!c->marks || c->line <= c->acked)
        return;
    if (c->n_marks > 0 && c->marks[c->n_marks - 1].line == c->line)
        return;
    if (c->n_marks == 2)
        c->n_marks = 1; /* the newest replaces the newest */
    mark_take(rt, c, &c->marks[c->n_marks++]);
}

/* Writes what is owed. Returns 0, or 1 when the client is gone. */
static int
ack_flush(conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0; /* the client reads its acks later; newer ones wait */
        if (w <= 0)
            return 1;
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* Acknowledges the waiting mark once every worker has logged its ring past it. Returns 0, or 1
 * when the client is gone. */
static int
ack_check(const kl_router_t *rt, conn_t *c)
{
    if (c->out_len && ack_flush(c))
        return 1;
    if (c->n_marks == 0 || c->out_len)
        return 0;
    const ack_mark_t *m = &c->marks[0];
    for (int i = 0; i < rt->n_workers && i < ACK_WORKERS; i++)
        if (kl_worker_logged(rt->workers[i], rt->producer) < m->head[i])
            return 0;
    c->acked = m->line;
    int n = snprintf(c->out, sizeof c->out, "ack %llu\n", (unsigned long long)c->acked);
    c->out_len = (size_t)n;
    c->out_off = 0;
    if (--c->n_marks)
        c->marks[0] = c->marks[1];
    return ack_flush(c);
}

/* Reads what fd has and handles its complete lines. Returns 0, or 1 at EOF / error. */
static int
pump(lines_src_t *l, conn_t *c, kl_router_t *rt)
{
    ssize_t r = read(c->fd, c->buf + c->len, BUFSZ - c->len);
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (r <= 0) {
        if (c->len > 0 && !c->discarding) /* a last line without newline */
            handle_line(l, c, rt, c->buf, c->len);
        return 1;
    }
    c->len += (size_t)r;
    c->rx_us = kl_rx_us(); /* one stamp per read: the lines it completes arrived now */
    c->rx_ms = kl_evtime_now_ms();
    size_t start = 0;
    for (;;) {
        char *nl = memchr(c->buf + start, '\n', c->len - start);
        if (!nl)
            break;
        size_t end = (size_t)(nl - c->buf);
        if (c->discarding)
            c->discarding = 0, c->line++;
        else
            handle_line(l, c, rt, c->buf + start, end - start);
        start = end + 1;
    }
    memmove(c->buf, c->buf + start, c->len - start);
    c->len -= start;
    if (c->len > KL_TRADE_JSON_MAX) {
        if (!c->discarding)
            reject(l, c, KL_ELINE, c->buf, c->len);
        c->discarding = 1;
        c->len = 0;
    }
    if (rt->wmark)
        announce(c, rt);
    kl_router_flush(rt);
    ack_note(rt, c);
    return 0;
}

static void
conn_free(lines_src_t *l, int i)
{
    if (l->listen_fd >= 0 && l->conns[i].fd >= 0)
        close(l->conns[i].fd);
    kl_free(l->conns[i].buf);
    kl_free(l->conns[i].marks);
    kl_symset_fini(&l->conns[i].syms);
    l->conns[i] = l->conns[--l->n_conns];
}

/* A TCP client that hung up delivered everything it had: with watermarks it stays as a ghost
 * (fd -1, which poll() skips) whose symbols go on closing klines by the idle rule, until its
 * slot is needed. Without, or for stdin, it is freed. */
static void
conn_close(lines_src_t *l, int i, const kl_router_t *rt)
{
    conn_t *c = &l->conns[i];
    if (!rt->wmark || l->listen_fd < 0 || c->syms.n == 0) {
        conn_free(l, i);
        return;
    }
    close(c->fd);
    c->fd = -1;
    kl_free(c->buf);
    c->buf = NULL;
    c->len = 0;
    kl_free(c->marks); /* nobody left to acknowledge */
    c->marks = NULL;
    c->n_marks = 0;
    c->out_len = c->out_off = 0;
}

static int
conn_add(lines_src_t *l, int fd, int64_t disorder_ms)
{
    for (int i = 0; l->n_conns == MAX_CONNS && i < l->n_conns; i++)
        if (l->conns[i].fd < 0)
            conn_free(l, i); /* the oldest ghost makes room */
    if (l->n_conns == MAX_CONNS)
        return KL_EFULL;
    char *buf = kl_alloc(BUFSZ);
    ack_mark_t *marks = l->ack ? kl_alloc(2 * sizeof *marks) : NULL;
    /* Non-blocking in ack mode: acks are written on this socket by the source thread. */
    if (!buf || (l->ack && (!marks || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0))) {
        kl_free(buf);
        kl_free(marks);
        return KL_ENOMEM;
    }
    conn_t *c = &l->conns[l->n_conns++];
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->buf = buf;
    c->marks = marks;
    kl_wmark_init(&c->wm, disorder_ms);
    return 0;
}

static int
lines_run(kl_source_t *src, kl_router_t *rt, const _Atomic int *stop)
{
    lines_src_t *l = (lines_src_t *)src;
    struct pollfd pfd[MAX_CONNS + 1];
    for (int i = 0; i < l->n_conns; i++) /* stdin was opened before the policy was known */
        l->conns[i].wm.disorder_ms = rt->disorder_ms;
    while (!atomic_load_explicit(stop, memory_order_relaxed)) {
        int n = 0;
        if (l->listen_fd >= 0)
            pfd[n++] = (struct pollfd){.fd = l->listen_fd, .events = POLLIN};
        int base = n;
        for (int i = 0; i < l->n_conns; i++)
            pfd[n++] = (struct pollfd){.fd = l->conns[i].fd, .events = POLLIN};
        if (l->listen_fd < 0 && l->n_conns == 0)
            break; /* stdin ended */
        int owed = 0; /* acks waiting for the WAL: look again soon */
        for (int i = 0; l->ack && i < l->n_conns; i++)
            owed |= l->conns[i].n_marks > 0 || l->conns[i].out_len > 0;
        int r = poll(pfd, (nfds_t)n, owed ? 5 : 200);
        if (r < 0 && errno != EINTR) {
            kl_log(KL_LOG_ERROR, "lines", "poll_failed", "source=%s error=\"%s\"", l->label,
                   strerror(errno));
            return -errno;
        }
        if (rt->wmark) { /* silent clients: their symbols close once idle-ms have passed */
            int64_t now = kl_evtime_now_ms();
            for (int i = 0; i < l->n_conns; i++) {
                kl_wmark_idle(&l->conns[i].wm, now, rt->idle_ms);
                announce(&l->conns[i], rt);
            }
            kl_router_flush(rt);
        }
        for (int i = l->n_conns - 1; l->ack && i >= 0; i--)
            if (l->conns[i].fd >= 0 && ack_check(rt, &l->conns[i])) {
                uint64_t supp;
                if (kl_ratelimit_ok(&l->rl_ack, 1000, &supp))
                    kl_log(KL_LOG_WARN, "lines", "ack_failed",
                           "source=%s fd=%d acked=%llu error=\"%s\" action=\"acks stop; the "
                           "client resends what it has not seen acked\" suppressed=%llu",
                           l->label, l->conns[i].fd, (unsigned long long)l->conns[i].acked,
                           strerror(errno), (unsigned long long)supp);
                kl_free(l->conns[i].marks);
                l->conns[i].marks = NULL;
                l->conns[i].n_marks = 0;
                l->conns[i].out_len = l->conns[i].out_off = 0;
            }
        if (r <= 0)
            continue;
        for (int i = l->n_conns - 1; i >= 0; i--) {
            if (base + i >= n || !(pfd[base + i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (pump(l, &l->conns[i], rt))
                conn_close(l, i, rt);
        }
        /* Accepted last: a new client may take a ghost's slot, which moves the others in
         * conns[] and would misalign them with pfd[] above. */
        if (l->listen_fd >= 0 && (pfd[0].revents & POLLIN)) {
            int fd = accept4(l->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0 && conn_add(l, fd, rt->disorder_ms) != 0) {
                kl_log(KL_LOG_WARN, "lines", "client_refused", "source=%s reason=\"%d clients "
                       "connected\"", l->label, MAX_CONNS);
                close(fd);
            }
        }
    }
    kl_router_flush(rt);
    return 0;
}

static void
lines_destroy(kl_source_t *src)
{
    lines_src_t *l = (lines_src_t *)src;
    while (l->n_conns > 0)
        conn_free(l, l->n_conns - 1);
    if (l->listen_fd >= 0)
        close(l->listen_fd);
    kl_free(l);
}

static const kl_source_ops_t lines_ops = {"lines", lines_run, lines_destroy};

int
kl_source_lines_stdin_create(kl_source_t **out, char *err, size_t cap)
{
    lines_src_t *l = kl_calloc(1, sizeof *l);
    if (!l || conn_add(l, STDIN_FILENO, 0) != 0) {
        kl_free(l);
        snprintf(err, cap, "lines source: out of memory");
        return KL_ENOMEM;
    }
    l->base.ops = &lines_ops;
    l->base.finite = 1;
    l->listen_fd = -1;
    snprintf(l->label, sizeof l->label, "stdin");
    *out = &l->base;
    return 0;
}

int
kl_source_lines_tcp_create(const char *host, uint16_t port, int ack, kl_source_t **out,
                           char *err, size_t cap)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    /* Loopback only: the lines source has no authentication. */
    if (strcmp(host, "localhost") != 0 && strcmp(host, "127.0.0.1") != 0) {
        snprintf(err, cap, "lines source: host %s: only 127.0.0.1 or localhost", host);
        return KL_EARG;
    }
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        snprintf(err, cap, "lines source: listen on 127.0.0.1:%u: %s", port, strerror(e));
        return -e;
    }
    lines_src_t *l = kl_calloc(1, sizeof *l);
    if (!l) {
        close(fd);
        snprintf(err, cap, "lines source: out of memory");
        return KL_ENOMEM;
    }
    l->base.ops = &lines_ops;
    l->base.finite = 0;
    l->listen_fd = fd;
    l->ack = ack;
    snprintf(l->label, sizeof l->label, "tcp://127.0.0.1:%u", port);
    *out = &l->base;
    return 0;
}
