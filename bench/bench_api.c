/* Measures the API end to end against a real klined that this program starts as a child: (1) the
 * latency from a trade written to the lines source to the WS kline frame that carries it
 * (/ws/benchusdt@kline_1m, loopback, paced feed), and (2) REST /api/v3/klines requests per second
 * over keep-alive connections. The clients are hand-written over plain sockets (an HTTP upgrade and
 * unmasked server frames), so what is measured is klined, not a client library. It prints figures
 * only: no thresholds.
 *
 * usage: bench_api KLINED [RATE [SECONDS]]   (defaults 100000 trades/s, 10 s after a 1 s warm-up) */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define WARMUP_S 1
#define TICK_NS 1000000ULL /* the feeder writes one batch per ms */
#define PREFILL_MIN 600    /* one old trade per minute, so limit=500 has 500 rows to return */
#define REST_S 3

static pid_t child = -1;
static char tmpdir[64];
static uint16_t api_port, lines_port;

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
cleanup(void)
{
    if (child > 0) {
        kill(child, SIGTERM);
        for (int i = 0; i < 50; i++) {
            if (waitpid(child, NULL, WNOHANG) == child) {
                child = -1;
                break;
            }
            usleep(100000);
        }
        if (child > 0) {
            kill(child, SIGKILL);
            waitpid(child, NULL, 0);
            child = -1;
        }
    }
    if (tmpdir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_api: could not remove %s\n", tmpdir);
        tmpdir[0] = 0;
    }
}

static void
die(const char *what)
{
    fprintf(stderr, "bench_api: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
    if (tmpdir[0]) {
        char cmd[160];
        snprintf(cmd, sizeof cmd, "tail -5 '%s/klined.log' >&2", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_api: no klined log\n");
    }
    cleanup();
    exit(1);
}

static void
on_signal(int sig)
{
    (void)sig;
    if (child > 0)
        kill(child, SIGKILL);
    _exit(1);
}

static uint16_t
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("free port");
    close(fd);
    return ntohs(a.sin_port);
}

static int
connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ---- HTTP/1.1 keep-alive client: one request, one response (Content-Length or chunked) ---- */

typedef struct http {
    int fd;
    char *buf;
    size_t cap, len; /* bytes buffered from the socket, not yet consumed */
} http_t;

static int
http_fill(http_t *h)
{
    if (h->len == h->cap) {
        h->cap *= 2;
        h->buf = realloc(h->buf, h->cap);
        if (!h->buf)
            return -1;
    }
    ssize_t k = read(h->fd, h->buf + h->len, h->cap - h->len);
    if (k <= 0)
        return -1;
    h->len += (size_t)k;
    return 0;
}

static void
http_consume(http_t *h, size_t n)
{
    memmove(h->buf, h->buf + n, h->len - n);
    h->len -= n;
}

/* Returns the HTTP status and the body length, or -1. */
static int
http_get(http_t *h, const char *path, size_t *body_len)
{
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write_all(h->fd, req, (size_t)n) != 0)
        return -1;
    char *eoh;
    while ((eoh = memmem(h->buf, h->len, "\r\n\r\n", 4)) == NULL)
        if (http_fill(h) != 0)
            return -1;
    size_t hlen = (size_t)(eoh - h->buf) + 4;
    int status = atoi(h->buf + 9);
    long clen = -1;
    int chunked = 0;
    for (char *p = h->buf; p < eoh; p++) {
        if (strncasecmp(p, "\ncontent-length:", 16) == 0)
            clen = strtol(p + 16, NULL, 10);
        if (strncasecmp(p, "\ntransfer-encoding:", 19) == 0 &&
            memmem(p, (size_t)(eoh - p), "chunked", 7) != NULL)
            chunked = 1;
    }
    http_consume(h, hlen);
    size_t body = 0;
    if (!chunked) {
        if (clen < 0)
            return -1;
        while (h->len < (size_t)clen)
            if (http_fill(h) != 0)
                return -1;
        http_consume(h, (size_t)clen);
        body = (size_t)clen;
    } else {
        for (;;) {
            char *eol;
            while ((eol = memmem(h->buf, h->len, "\r\n", 2)) == NULL)
                if (http_fill(h) != 0)
                    return -1;
            size_t sz = (size_t)strtoul(h->buf, NULL, 16);
            size_t need = (size_t)(eol - h->buf) + 2 + sz + 2;
            while (h->len < need)
                if (http_fill(h) != 0)
                    return -1;
            http_consume(h, need);
            body += sz;
            if (sz == 0)
                break;
        }
    }
    *body_len = body;
    return status;
}

static int
http_open(http_t *h, uint16_t port)
{
    h->cap = 65536;
    h->len = 0;
    h->buf = malloc(h->cap);
    h->fd = connect_to(port);
    return h->buf && h->fd >= 0 ? 0 : -1;
}

static void
http_close(http_t *h)
{
    if (h->fd >= 0)
        close(h->fd);
    free(h->buf);
}

static void
start_klined(const char *bin)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bench_api.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        tmpdir[0] = 0;
        die("mkdtemp");
    }
    api_port = free_port();
    lines_port = free_port();
    char listen[64], source[64], store[128], wal[128], log[128];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", api_port);
    snprintf(source, sizeof source, "lines:tcp://127.0.0.1:%u", lines_port);
    snprintf(store, sizeof store, "sqlite:%s/k.db", tmpdir);
    snprintf(wal, sizeof wal, "%s/wal", tmpdir);
    snprintf(log, sizeof log, "%s/klined.log", tmpdir);
    child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(bin, bin, "serve", "--listen", listen, "--source", source, "--symbols", "BENCHUSDT",
              "--store", store, "--wal-dir", wal, "--fsync", "no", "--clock", "wall", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 300; i++) {
        if (waitpid(child, NULL, WNOHANG) == child) {
            child = -1;
            errno = 0;
            die("klined exited at start");
        }
        http_t h;
        size_t bl;
        if (http_open(&h, api_port) == 0 && http_get(&h, "/api/v3/ping", &bl) == 200) {
            http_close(&h);
            return;
        }
        http_close(&h);
        usleep(50000);
    }
    errno = 0;
    die("klined did not answer /api/v3/ping within 15 s");
}

/* ---- feeder ---- */

typedef struct feed {
    int fd;
    uint64_t rate, n;       /* trades per second, trades in all (ids first_id .. first_id+n-1) */
    uint64_t first_id;
    _Atomic uint64_t *send_ns; /* index id: relaxed, the kernel's socket orders the read */
    uint64_t t_start, t_end;
    _Atomic int done;
} feed_t;

static size_t
put_trade(char *p, uint64_t id, int64_t ms)
{
    return (size_t)sprintf(p,
                           "{\"e\":\"aggTrade\",\"E\":%" PRId64 ",\"s\":\"BENCHUSDT\",\"a\":%" PRIu64
                           ",\"p\":\"100.5\",\"q\":\"1\",\"f\":%" PRIu64 ",\"l\":%" PRIu64
                           ",\"T\":%" PRId64 ",\"m\":false,\"M\":true}\n",
                           ms, id, id, id, ms);
}

static void *
feeder(void *arg)
{
    feed_t *f = arg;
    size_t cap = (size_t)(f->rate / 1000 + 64) * 200 * 4;
    char *buf = malloc(cap);
    if (!buf)
        die("out of memory");
    uint64_t sent = 0;
    f->t_start = now_ns();
    uint64_t next = f->t_start;
    while (sent < f->n) {
        uint64_t t = now_ns();
        if (t < next) {
            struct timespec ts = {0, (long)(next - t)};
            nanosleep(&ts, NULL);
            t = now_ns();
        }
        next += TICK_NS;
        uint64_t due = (uint64_t)((double)(t - f->t_start) * 1e-9 * (double)f->rate) + 1;
        if (due > f->n)
            due = f->n;
        /* Behind by more than 4 ticks (a stall): catch up in slices, not one giant write. */
        if (due - sent > (f->rate / 1000 + 1) * 4)
            due = sent + (f->rate / 1000 + 1) * 4;
        if (due <= sent)
            continue;
        int64_t ms = wall_ms();
        size_t len = 0;
        for (uint64_t i = sent; i < due; i++)
            len += put_trade(buf + len, f->first_id + i, ms);
        uint64_t ts = now_ns();
        for (uint64_t i = sent; i < due; i++)
            atomic_store_explicit(&f->send_ns[f->first_id + i], ts, memory_order_relaxed);
        if (write_all(f->fd, buf, len) != 0)
            die("feeder write");
        sent = due;
    }
    f->t_end = now_ns();
    free(buf);
    atomic_store(&f->done, 1);
    return NULL;
}

/* ---- WebSocket client: upgrade by hand; server frames are unmasked ---- */

static int
ws_open(const char *path)
{
    int fd = connect_to(api_port);
    if (fd < 0)
        return -1;
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path, api_port);
    if (write_all(fd, req, (size_t)n) != 0)
        return -1;
    /* Read the response a byte at a time so no frame byte is taken with it. */
    char resp[2048];
    size_t len = 0;
    while (len < sizeof resp - 1) {
        if (read(fd, resp + len, 1) != 1)
            return -1;
        len++;
        if (len >= 4 && memcmp(resp + len - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    resp[len] = 0;
    if (strncmp(resp, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "bench_api: WS upgrade refused: %.80s\n", resp);
        return -1;
    }
    return fd;
}

static void
ws_send_pong(int fd, const unsigned char *payload, size_t n)
{
    unsigned char fr[2 + 4 + 125];
    if (n > 125)
        n = 125;
    fr[0] = 0x8A;
    fr[1] = (unsigned char)(0x80 | n);
    memset(fr + 2, 0, 4); /* a zero mask key: the payload goes as is */
    memcpy(fr + 6, payload, n);
    (void)write_all(fd, (const char *)fr, 6 + n);
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double
pct(const uint64_t *v, size_t n, double p)
{
    size_t i = (size_t)((double)n * p);
    return (double)v[i < n ? i : n - 1] / 1000.0;
}

static void
bench_ws(uint64_t rate, unsigned seconds, uint64_t first_id)
{
    uint64_t n = rate * (seconds + WARMUP_S);
    feed_t f = {.rate = rate, .n = n, .first_id = first_id};
    f.send_ns = calloc(first_id + n + 1, sizeof *f.send_ns);
    uint64_t *lat = malloc((n + 1) * sizeof *lat);
    if (!f.send_ns || !lat)
        die("out of memory");
    int ws = ws_open("/ws/benchusdt@kline_1m");
    if (ws < 0)
        die("WS connect");
    f.fd = connect_to(lines_port);
    if (f.fd < 0)
        die("lines connect");
    atomic_store(&f.done, 0);
    pthread_t th;
    if (pthread_create(&th, NULL, feeder, &f) != 0)
        die("pthread_create");

    uint64_t warm_id = first_id + rate * WARMUP_S; /* trades before this are the warm-up */
    uint64_t last_id = first_id + n - 1;
    size_t cap = 1 << 20, len = 0, n_lat = 0;
    unsigned char *buf = malloc(cap);
    uint64_t frames = 0, advanced = 0, max_L = 0, t_done = 0;
    if (!buf)
        die("out of memory");
    for (;;) {
        if (atomic_load(&f.done)) {
            if (!t_done)
                t_done = now_ns();
            if (max_L >= last_id || now_ns() - t_done > 2000000000ULL)
                break;
        }
        struct pollfd pfd = {.fd = ws, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        ssize_t k = read(ws, buf + len, cap - len);
        uint64_t t_rx = now_ns();
        if (k <= 0)
            die("WS read");
        len += (size_t)k;
        size_t off = 0;
        for (;;) {
            if (len - off < 2)
                break;
            unsigned op = buf[off] & 0x0f;
            uint64_t pl = buf[off + 1] & 0x7f;
            size_t hl = 2;
            if (pl == 126) {
                if (len - off < 4)
                    break;
                pl = (uint64_t)buf[off + 2] << 8 | buf[off + 3];
                hl = 4;
            } else if (pl == 127) {
                if (len - off < 10)
                    break;
                pl = 0;
                for (int i = 0; i < 8; i++)
                    pl = pl << 8 | buf[off + 2 + (size_t)i];
                hl = 10;
            }
            if (pl > cap / 2)
                die("WS frame too large");
            if (len - off < hl + pl)
                break;
            unsigned char *p = buf + off + hl;
            if (op == 0x1) {
                frames++;
                unsigned char *L = memmem(p, (size_t)pl, "\"L\":", 4);
                if (L) {
                    long long id = strtoll((const char *)L + 4, NULL, 10);
                    if (id > 0 && (uint64_t)id > max_L) {
                        max_L = (uint64_t)id;
                        advanced++;
                        if (max_L >= warm_id && max_L <= last_id) {
                            uint64_t s = atomic_load_explicit(&f.send_ns[max_L],
                                                              memory_order_relaxed);
                            if (s && t_rx > s)
                                lat[n_lat++] = t_rx - s;
                        }
                    }
                }
            } else if (op == 0x9) {
                ws_send_pong(ws, p, (size_t)pl);
            } else if (op == 0x8) {
                errno = 0;
                die("server closed the WS");
            }
            off += hl + (size_t)pl;
        }
        memmove(buf, buf + off, len - off);
        len -= off;
    }
    pthread_join(th, NULL);
    close(f.fd);
    close(ws);

    double feed_s = (double)(f.t_end - f.t_start) * 1e-9;
    printf("ws: %" PRIu64 " trades fed in %.2f s (%.0f/s achieved, target %" PRIu64 "/s), "
           "%" PRIu64 " frames, %" PRIu64 " with L advanced, last L %" PRIu64 " of %" PRIu64 "\n",
           n, feed_s, (double)n / feed_s, rate, frames, advanced, max_L, last_id);
    if (n_lat == 0) {
        printf("ws_push_latency_us rate=%" PRIu64 "/s count=0 (no frames after the warm-up)\n",
               rate);
        free(buf), free(lat), free(f.send_ns);
        return;
    }
    qsort(lat, n_lat, sizeof *lat, cmp_u64);
    printf("ws: latency = frame read - write of its newest trade (L), %zu frames after a %d s "
           "warm-up; histogram (us, log2 buckets):\n", n_lat, WARMUP_S);
    size_t b0 = 0;
    for (uint64_t lo = 1; b0 < n_lat; lo *= 2) {
        size_t b1 = b0;
        while (b1 < n_lat && lat[b1] < lo * 2 * 1000)
            b1++;
        if (b1 > b0)
            printf("ws:   [%7" PRIu64 ", %7" PRIu64 ") us %8zu  %5.1f%%\n", lo == 1 ? 0 : lo,
                   lo * 2, b1 - b0, 100.0 * (double)(b1 - b0) / (double)n_lat);
        b0 = b1;
    }
    printf("ws_push_latency_us rate=%" PRIu64 "/s achieved=%.0f/s count=%zu p50=%.0f p90=%.0f "
           "p99=%.0f p999=%.0f max=%.0f\n",
           rate, (double)n / feed_s, n_lat, pct(lat, n_lat, 0.50), pct(lat, n_lat, 0.90),
           pct(lat, n_lat, 0.99), pct(lat, n_lat, 0.999), (double)lat[n_lat - 1] / 1000.0);
    free(buf), free(lat), free(f.send_ns);
}

/* One old trade per minute for PREFILL_MIN minutes (ids 1..PREFILL_MIN), so the 1m series has
 * history for limit=500; returns the next free id. */
static uint64_t
prefill(void)
{
    int fd = connect_to(lines_port);
    if (fd < 0)
        die("lines connect");
    int64_t now = wall_ms();
    int64_t t0 = (now / 60000 - PREFILL_MIN) * 60000;
    char line[256];
    for (uint64_t i = 1; i <= PREFILL_MIN; i++) {
        size_t n = put_trade(line, i, t0 + (int64_t)(i - 1) * 60000 + 1000);
        if (write_all(fd, line, n) != 0)
            die("prefill write");
    }
    close(fd);
    /* Wait until the last prefill trade shows in REST (the feed is asynchronous). */
    for (int i = 0; i < 100; i++) {
        http_t h;
        size_t bl;
        if (http_open(&h, api_port) == 0 &&
            http_get(&h, "/api/v3/klines?symbol=BENCHUSDT&interval=1m&limit=1000", &bl) == 200 &&
            bl > 2) {
            http_close(&h);
            break;
        }
        http_close(&h);
        usleep(50000);
    }
    return PREFILL_MIN + 1;
}

typedef struct rest_job {
    const char *path;
    uint64_t reqs, lat_ns, bytes;
    int status_bad;
} rest_job_t;

static void *
rest_worker(void *arg)
{
    rest_job_t *j = arg;
    http_t h;
    if (http_open(&h, api_port) != 0)
        die("REST connect");
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)REST_S * 1000000000ULL, t = t0;
    while (t < end) {
        size_t bl;
        int st = http_get(&h, j->path, &bl);
        uint64_t t1 = now_ns();
        if (st < 0)
            die("REST request");
        if (st != 200)
            j->status_bad++;
        j->reqs++;
        j->bytes += bl;
        j->lat_ns += t1 - t;
        t = t1;
    }
    http_close(&h);
    return NULL;
}

static void
bench_rest(int limit, int conns)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v3/klines?symbol=BENCHUSDT&interval=1m&limit=%d", limit);
    rest_job_t jobs[8] = {0};
    pthread_t th[8];
    for (int i = 0; i < conns; i++) {
        jobs[i].path = path;
        if (pthread_create(&th[i], NULL, rest_worker, &jobs[i]) != 0)
            die("pthread_create");
    }
    uint64_t reqs = 0, lat = 0, bytes = 0;
    int bad = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        reqs += jobs[i].reqs;
        lat += jobs[i].lat_ns;
        bytes += jobs[i].bytes;
        bad += jobs[i].status_bad;
    }
    printf("rest_klines limit=%d conns=%d rps=%.0f mean_us=%.1f body_bytes=%.0f%s\n", limit, conns,
           (double)reqs / REST_S, reqs ? (double)lat / (double)reqs / 1000.0 : 0.0,
           reqs ? (double)bytes / (double)reqs : 0.0, bad ? " SOME_NON_200" : "");
}

/* klined's own view of where the time went: the upper bound of the bucket holding the given
 * quantile of one /metrics histogram (family and label filter), in us; -1 if absent. */
static double
metric_quantile(const char *text, const char *family, const char *labels, double q)
{
    double le[64], cnt[64];
    int n = 0;
    char pat[160];
    snprintf(pat, sizeof pat, "%s_bucket{%s%sle=\"", family, labels, labels[0] ? "," : "");
    for (const char *p = strstr(text, pat); p && n < 64; p = strstr(p + 1, pat)) {
        const char *v = p + strlen(pat);
        le[n] = strncmp(v, "+Inf", 4) == 0 ? 1e9 : strtod(v, NULL);
        const char *sp = strchr(v, ' ');
        cnt[n++] = sp ? strtod(sp + 1, NULL) : 0;
    }
    if (n == 0 || cnt[n - 1] <= 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (cnt[i] >= q * cnt[n - 1])
            return le[i] * 1e6;
    return -1;
}

static void
print_stages(void)
{
    int fd = connect_to(api_port);
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (fd < 0 || write_all(fd, req, sizeof req - 1) != 0)
        return;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    ssize_t k;
    while (buf && len + 1 < cap && (k = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)k;
    close(fd);
    if (!buf)
        return;
    buf[len] = '\0';
    static const struct {
        const char *family, *labels, *what;
    } st[] = {
        {"klined_trade_to_kline_seconds", "worker=\"0\"", "trade received -> kline updated"},
        {"klined_kline_to_ws_seconds", "", "kline updated -> WS frame queued"},
    };
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
        printf("stage %-34s p50<=%.0f us p99<=%.0f us (klined's histogram buckets)\n", st[i].what,
               metric_quantile(buf, st[i].family, st[i].labels, 0.5),
               metric_quantile(buf, st[i].family, st[i].labels, 0.99));
    free(buf);
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_api KLINED [RATE [SECONDS]]\n");
        return 2;
    }
    uint64_t rate = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
    unsigned seconds = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 10;
    if (rate == 0 || seconds == 0) {
        fprintf(stderr, "usage: bench_api KLINED [RATE [SECONDS]]\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    start_klined(argv[1]);
    printf("klined pid %d, API 127.0.0.1:%u, lines 127.0.0.1:%u, store and WAL in %s\n", (int)child,
           api_port, lines_port, tmpdir);
    uint64_t first_id = prefill();
    bench_ws(rate, seconds, first_id);
    print_stages();
    printf("rest: keep-alive GETs, %d s each; the API serves from one thread, so more connections "
           "share it (and these client threads share the same cores)\n", REST_S);
    bench_rest(500, 1);
    bench_rest(1, 1);
    bench_rest(500, 4);
    bench_rest(1, 4);
    cleanup();
    return 0;
}
