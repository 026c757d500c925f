/* lines_feed: a live feed for `klined serve --source lines:tcp://127.0.0.1:P` as it arrives from
 * another region: aggTrade events whose T is the wall clock minus a network latency, in order on
 * each connection. tests/integ/lines_latency.sh drives it; it writes every trade it sent as a
 * data.binance.vision aggTrades CSV (one per symbol) for `klined replay`, so the test can diff the
 * served klines with a replay of exactly what went over the wire.
 *
 * usage: lines_feed --port P --symbols A,B,... [--conns N] [--seconds S] [--rate R]
 *                   [--latency-ms MIN-MAX] [--jitter-ms J] [--quiet SYMBOL] [--seed N]
 *                   --csv-dir DIR
 *
 * The symbols are spread over N connections (symbol i on connection i mod N; default 2). R lines
 * per second of trade time (default 200) happen for S seconds (default 6), each for a symbol
 * drawn at random, at T = start + k / R. A trade travels with a delay: its connection's latency,
 * which moves steadily over [MIN, MAX] (default 100-1000 ms; a triangle wave with a 3 s period,
 * shifted per connection, so every connection sweeps the whole range), plus a jitter drawn
 * uniformly in [-J, +J] (default 300), at least 0. It is sent when it arrives, T + delay, but
 * never before the trade ahead of it on the same connection: a connection delivers in order, as
 * a TCP stream from one exchange does, so T never goes back on a connection. E is the send time.
 * The quiet symbol (one of the list) trades only in the first and last half second, so it stays
 * subscribed and silent while the others trade. Everything drawn comes from one generator
 * seeded by --seed.
 *
 * It connects (retrying for 10 s while the listener is not up yet), sends, closes, and prints
 * "lines_feed: sent N lines (per symbol: A=n ...)" on stdout. Exit status 0, 1 on a socket or
 * file error, 2 on bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SYMS 32
#define MAX_CONNS 16
#define PERIOD_MS 3000.0

typedef struct sym {
    char name[32];
    int conn;
    int64_t next_id, next_first;
    uint64_t sent;
    FILE *csv;
} sym_t;

typedef struct trade {
    size_t k;        /* order of T */
    int64_t t, at;   /* trade time, arrival (send) time */
    int sym, m;
    int64_t id, first, last, p, pf, q, qf;
} trade_t;

/* Sends in arrival order; equal arrivals in trade order, which keeps each connection in order. */
static int
by_arrival(const void *a, const void *b)
{
    const trade_t *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->k < y->k ? -1 : x->k > y->k;
}

static uint64_t rng = 88172645463325252ull;

static uint64_t
rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t
rnd_range(int64_t lo, int64_t hi) /* uniform in [lo, hi] */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
usage(void)
{
    fprintf(stderr, "usage: lines_feed --port P --symbols A,B,... [--conns N] [--seconds S] "
                    "[--rate R] [--latency-ms MIN-MAX] [--jitter-ms J] [--quiet SYMBOL] "
                    "[--seed N] --csv-dir DIR\n");
    return 2;
}

static int
connect_retry(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 100; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            return fd;
        close(fd);
        usleep(100000);
    }
    return -1;
}

static int
send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    int port = -1, n_conns = 2;
    double seconds = 6, rate = 200;
    int64_t lat_min = 100, lat_max = 1000, jitter = 300;
    const char *symbols = NULL, *quiet = NULL, *dir = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "--symbols"))
            symbols = v;
        else if (!strcmp(a, "--conns"))
            n_conns = atoi(v);
        else if (!strcmp(a, "--seconds"))
            seconds = atof(v);
        else if (!strcmp(a, "--rate"))
            rate = atof(v);
        else if (!strcmp(a, "--latency-ms")) {
            if (sscanf(v, "%" SCNd64 "-%" SCNd64, &lat_min, &lat_max) != 2)
                return usage();
        } else if (!strcmp(a, "--jitter-ms"))
            jitter = atoll(v);
        else if (!strcmp(a, "--quiet"))
            quiet = v;
        else if (!strcmp(a, "--seed"))
            rng ^= strtoull(v, NULL, 10) * 0x2545f4914f6cdd1dull;
        else if (!strcmp(a, "--csv-dir"))
            dir = v;
        else
            return usage();
    }
    if (argc % 2 == 0 || port <= 0 || port > 65535 || !symbols || !dir || n_conns < 1 ||
        n_conns > MAX_CONNS || seconds <= 0 || rate <= 0 || lat_min < 0 || lat_min > lat_max ||
        jitter < 0)
        return usage();

    sym_t syms[MAX_SYMS];
    int n_syms = 0, quiet_i = -1;
    char *list = strdup(symbols), *save = NULL;
    for (char *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        if (n_syms == MAX_SYMS || strlen(s) >= sizeof syms[0].name)
            return usage();
        sym_t *y = &syms[n_syms];
        memset(y, 0, sizeof *y);
        snprintf(y->name, sizeof y->name, "%s", s);
        y->conn = n_syms % n_conns;
        y->next_id = 1000000 * (n_syms + 1);
        y->next_first = 3 * y->next_id;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s-aggTrades-2024-01-01.csv", dir, s);
        if (!(y->csv = fopen(path, "w"))) {
            perror(path);
            return 1;
        }
        if (quiet && !strcmp(quiet, s))
            quiet_i = n_syms;
        n_syms++;
    }
    free(list);
    if (!n_syms || (quiet && (quiet_i < 0 || n_syms < 2)))
        return usage();
    if (n_conns > n_syms)
        n_conns = n_syms;

    int fds[MAX_CONNS];
    for (int c = 0; c < n_conns; c++)
        if ((fds[c] = connect_retry(port)) < 0) {
            fprintf(stderr, "lines_feed: cannot connect to 127.0.0.1:%d: %s\n", port,
                    strerror(errno));
            return 1;
        }

    /* First the whole feed: trade k happens at T = start + k / rate, on the connection of its
     * symbol, and arrives at T + delay, but not before the trade ahead of it on that connection
     * (in order, as one TCP stream: a late trade holds back the ones behind it). Then it is sent,
     * all connections merged, at the arrival times. */
    int64_t start = wall_ms(), span = (int64_t)(seconds * 1000);
    size_t total = (size_t)(seconds * rate);
    trade_t *tr = calloc(total ? total : 1, sizeof *tr);
    int64_t last_at[MAX_CONNS];
    for (int c = 0; c < n_conns; c++)
        last_at[c] = INT64_MIN;
    for (size_t k = 0; k < total; k++) {
        trade_t *x = &tr[k];
        x->k = k;
        x->t = start + (int64_t)((double)k * 1000 / rate);
        x->sym = (int)(rnd() % (uint64_t)n_syms);
        /* the quiet symbol only near the ends; elsewhere its turn goes to the next symbol */
        if (x->sym == quiet_i && x->t >= start + 500 && x->t < start + span - 500)
            x->sym = (x->sym + 1) % n_syms;
        sym_t *y = &syms[x->sym];
        int c = y->conn;
        /* a triangle wave over [MIN, MAX], one period every PERIOD_MS, shifted per connection */
        double w = (double)(x->t - start) / PERIOD_MS + (double)c / n_conns;
        w -= (double)(int64_t)w;
        double base = (double)lat_min + (double)(lat_max - lat_min) * (w < 0.5 ? 2 * w : 2 - 2 * w);
        int64_t delay = (int64_t)base + rnd_range(-jitter, jitter);
        x->at = x->t + (delay > 0 ? delay : 0);
        if (x->at < last_at[c])
            x->at = last_at[c];
        last_at[c] = x->at;
        int64_t n = rnd_range(1, 3);
        x->id = y->next_id++;
        x->first = y->next_first;
        x->last = x->first + n - 1;
        y->next_first += n;
        x->p = rnd_range(100, 149), x->pf = rnd_range(0, 99999999);
        x->q = rnd_range(0, 4), x->qf = rnd_range(1, 99999999);
        x->m = (int)(rnd() & 1);
        fprintf(y->csv, "%" PRId64 ",%" PRId64 ".%08" PRId64 ",%" PRId64 ".%08" PRId64
                        ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,True\n",
                x->id, x->p, x->pf, x->q, x->qf, x->first, x->last, x->t, x->m ? "True" : "False");
        y->sent++;
    }
    qsort(tr, total, sizeof *tr, by_arrival);

    for (size_t k = 0; k < total; k++) {
        const trade_t *x = &tr[k];
        int64_t now;
        while ((now = wall_ms()) < x->at) {
            struct timespec d = {0, (long)(x->at - now) * 1000000};
            nanosleep(&d, NULL);
        }
        const sym_t *y = &syms[x->sym];
        char line[512];
        int len = snprintf(line, sizeof line,
                           "{\"e\":\"aggTrade\",\"E\":%" PRId64 ",\"s\":\"%s\",\"a\":%" PRId64
                           ",\"p\":\"%" PRId64 ".%08" PRId64 "\",\"q\":\"%" PRId64 ".%08" PRId64
                           "\",\"f\":%" PRId64 ",\"l\":%" PRId64 ",\"T\":%" PRId64
                           ",\"m\":%s,\"M\":true}\n",
                           now, y->name, x->id, x->p, x->pf, x->q, x->qf, x->first, x->last, x->t,
                           x->m ? "true" : "false");
        if (send_all(fds[y->conn], line, (size_t)len) != 0) {
            fprintf(stderr, "lines_feed: send: %s\n", strerror(errno));
            return 1;
        }
    }
    free(tr);
    uint64_t sent = total;
    for (int c = 0; c < n_conns; c++)
        close(fds[c]);
    printf("lines_feed: sent %" PRIu64 " lines (per symbol:", sent);
    int rc = 0;
    for (int i = 0; i < n_syms; i++) {
        printf(" %s=%" PRIu64, syms[i].name, syms[i].sent);
        if (fclose(syms[i].csv) != 0)
            rc = 1;
    }
    printf(")\n");
    return rc;
}
