/* ws_dump: a tiny WebSocket client for the integration tests. It connects to a ws:// URL, sends
 * the --send messages in order, and prints every text frame it receives as one line on stdout,
 * plus '#' lines for what happened to the connection (#connected, #close-frame CODE, #closed,
 * #error MSG, #timeout, #big LEN for frames over 64 KiB), so a shell test can assert on a file.
 *
 * usage: ws_dump URL [--seconds S] [--count N] [--send TEXT]... [--stamp] [--ping-ms MS]
 * Ends after S seconds (default 10; prints #timeout), after N text frames (default: no limit), or
 * when the server closes. Exit status: 0 after a close or the count or the timeout, 1 when the
 * connection could not be made, 2 on bad usage.
 *
 * --stamp starts every line with the wall clock in ms when it was printed (a frame: when it was
 * received) and a blank, so a test can compare arrival with a trade's T. --ping-ms MS sends a
 * ping every MS ms once connected, with payload "N" (1, 2, ...), and prints "#ping N" when it is
 * written and "#pong N" when its pong arrives, in order with the frames: whatever the server
 * queued before the ping arrived must come before the pong. */
#include <libwebsockets.h>


#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#define BIG_FRAME 65536
#define MAX_SEND 16

static struct {
    const char *send[MAX_SEND];
    int n_send, sent;
    long count, got;
    int done, status;
    char *rx;
    size_t rx_len, rx_cap;
    lws_sorted_usec_list_t sul, ping_sul;
    struct lws_context *ctx;
    struct lws *wsi;
    int stamp;
    long ping_ms, pings_due, pings_sent;
} g;

static long long
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
stamp(void)
{
    if (g.stamp)
        printf("%lld ", wall_ms());
}

static void
line(const char *fmt, const char *s, size_t n)
{
    stamp();
    printf(fmt, (int)n, s);
    fflush(stdout);
}

/* Every --ping-ms: one more ping is due; it is written from the WRITEABLE callback. */
static void
on_ping_timer(lws_sorted_usec_list_t *sul)
{
    g.pings_due++;
    if (g.wsi)
        lws_callback_on_writable(g.wsi);
    lws_sul_schedule(g.ctx, 0, sul, on_ping_timer, g.ping_ms * 1000);
}

static void
on_deadline(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    line("#timeout%.*s\n", "", 0);
    g.done = 1;
    lws_cancel_service(g.ctx); /* else the service call goes back to poll for up to 30 s */
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        line("#error %.*s\n", in ? (const char *)in : "?", in ? strlen(in) : 1);
        g.status = 1;
        g.done = 1;
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        line("#connected%.*s\n", "", 0);
        g.wsi = wsi;
        if (g.ping_ms > 0)
            lws_sul_schedule(g.ctx, 0, &g.ping_sul, on_ping_timer, g.ping_ms * 1000);
        if (g.n_send)
            lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        if (g.pings_sent < g.pings_due) {
            unsigned char ping[LWS_PRE + 32];
            int n = snprintf((char *)ping + LWS_PRE, 32, "%ld", g.pings_sent + 1);
            long long at = wall_ms(); /* before the write: the ping leaves no earlier */
            if (lws_write(wsi, ping + LWS_PRE, (size_t)n, LWS_WRITE_PING) < n)
                return -1;
            g.pings_sent++;
            if (g.stamp)
                printf("%lld ", at);
            printf("#ping %ld\n", g.pings_sent);
            fflush(stdout);
            if (g.pings_sent < g.pings_due || g.sent < g.n_send)
                lws_callback_on_writable(wsi);
            return 0;
        }
        if (g.sent >= g.n_send)
            return 0;
        size_t n = strlen(g.send[g.sent]);
        unsigned char *buf = malloc(LWS_PRE + n + 1);
        if (!buf)
            return -1;
        memcpy(buf + LWS_PRE, g.send[g.sent++], n);
        int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
        free(buf);
        if (w < (int)n)
            return -1;
        if (g.sent < g.n_send)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (g.done) /* frames read in the same service pass as the last one counted */
            return 0;
        if (g.rx_len + len > g.rx_cap) {
            g.rx_cap = (g.rx_len + len) * 2;
            g.rx = realloc(g.rx, g.rx_cap);
            if (!g.rx)
                return -1;
        }
        memcpy(g.rx + g.rx_len, in, len);
        g.rx_len += len;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            if (g.rx_len > BIG_FRAME) {
                stamp();
                printf("#big %zu\n", g.rx_len);
            } else
                line("%.*s\n", g.rx, g.rx_len);
            fflush(stdout);
            g.rx_len = 0;
            if (g.count > 0 && ++g.got >= g.count)
                g.done = 1;
        }
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
        if (!g.done)
            line("#pong %.*s\n", in ? (const char *)in : "", in ? len : 0);
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
        const unsigned char *p = in;
        stamp();
        printf("#close-frame %d\n", len >= 2 ? p[0] << 8 | p[1] : 0);
        fflush(stdout);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (!g.done) /* not our own close at the end */
            line("#closed%.*s\n", "", 0);
        g.done = 1;
        g.wsi = NULL;
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"dump", callback, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ws_dump URL [--seconds S] [--count N] [--send TEXT]... "
                        "[--stamp] [--ping-ms MS]\n");
        return 2;
    }
    double seconds = 10;
    for (int i = 2; i < argc; i += 2) {
        if (strcmp(argv[i], "--stamp") == 0) {
            g.stamp = 1;
            i--; /* no value */
            continue;
        }
        if (i + 1 >= argc)
            return 2;
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--count") == 0)
            g.count = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--send") == 0 && g.n_send < MAX_SEND)
            g.send[g.n_send++] = argv[i + 1];
        else if (strcmp(argv[i], "--ping-ms") == 0 && atol(argv[i + 1]) > 0)
            g.ping_ms = atol(argv[i + 1]);
        else
            return 2;
    }
    char *url = strdup(argv[1]);
    const char *proto, *host, *path;
    int port;
    if (lws_parse_uri(url, &proto, &host, &port, &path) || strcmp(proto, "ws") != 0) {
        fprintf(stderr, "ws_dump: bad URL %s (ws://host:port/path)\n", argv[1]);
        return 2;
    }
    char fullpath[4096];
    snprintf(fullpath, sizeof fullpath, "/%s", path);

    signal(SIGPIPE, SIG_IGN);
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    g.ctx = lws_create_context(&info);
    if (!g.ctx)
        return 1;
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = g.ctx;
    ci.address = host;
    ci.port = port;
    ci.path = fullpath;
    ci.host = host;
    /* lws sends "Origin: http://<origin>": the service's own page, as a browser on it would */
    char origin[300];
    snprintf(origin, sizeof origin, "%s:%d", host, port);
    ci.origin = origin;
    ci.local_protocol_name = "dump";
    if (!lws_client_connect_via_info(&ci)) {
        printf("#error connect\n");
        g.status = 1;
        g.done = 1;
    }
    lws_sul_schedule(g.ctx, 0, &g.sul, on_deadline, (lws_usec_t)(seconds * 1e6));
    while (!g.done)
        if (lws_service(g.ctx, 0) < 0)
            break;
    lws_context_destroy(g.ctx);
    free(g.rx);
    free(url);
    return g.status;
}
