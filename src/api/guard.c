/* Admission of the API's clients: every accepted socket (HTTP or WS) counts against
 * max-connections and max-connections-per-ip, and the Origin of browser requests is checked
 * against allowed-origins.
 *
 * DESIGN. lws tells us about a socket three times: FILTER_NETWORK_CONNECTION on accept (the
 * peer address, no wsi yet), WSI_CREATE right after on the same thread (the wsi, no address),
 * and WSI_DESTROY when it is freed. The filter appends an entry with the address and marks it
 * pending; WSI_CREATE gives the pending entry its wsi; WSI_DESTROY removes it. The table is a
 * plain array scanned linearly: it holds at most max-connections live entries, and a scan costs
 * far less than the accept itself. When a cap is reached, the oldest socket that has not sent
 * a complete request yet (an idle or slowloris socket: nothing of value is lost) is closed to
 * make room; only when there is none is the new socket refused. So a flood of idle sockets can
 * never lock real clients out, even from the same address, and header-timeout-s closes the
 * idle ones anyway. API thread only. */
#include "api/api_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/log.h"
#include "kl/err.h"

static kl_ratelimit_t rl_refused, rl_origin;

int
api_guard_init(kl_api_t *a)
{
    a->conns_cap = 2 * (size_t)a->cfg->max_connections + 16;
    a->conns = kl_calloc(a->conns_cap, sizeof *a->conns);
    a->conn_pending = -1;
    return a->conns ? 0 : KL_ENOMEM;
}

/* The allowed origins, once the port is known: the configured list, or the service's own page
 * (http://HOST:PORT, and the loopback names when HOST is a loopback address). */
int
api_guard_origins(kl_api_t *a)
{
    const char *v = a->cfg->allowed_origins;
    if (v && strcmp(v, "*") == 0) {
        a->origins_any = 1;
        return 0;
    }
    char own[3][300];
    size_t n_own = 0;
    const char *h = a->cfg->listen_host;
    int v6 = strchr(h, ':') != NULL;
    if (!v) {
        snprintf(own[n_own++], sizeof own[0], "http://%s%s%s:%d", v6 ? "[" : "", h, v6 ? "]" : "",
                 a->port);
        if (strcmp(h, "127.0.0.1") == 0 || strcmp(h, "::1") == 0 || strcmp(h, "localhost") == 0) {
            snprintf(own[n_own++], sizeof own[0], "http://127.0.0.1:%d", a->port);
            snprintf(own[n_own++], sizeof own[0], "http://localhost:%d", a->port);
        }
    }
    size_t n = n_own;
    for (const char *c = v; c && *c; c++)
        n += *c == ',';
    if (v)
        n++;
    a->origins = kl_calloc(n + 1, sizeof *a->origins);
    if (!a->origins)
        return KL_ENOMEM;
    size_t k = 0;
    for (const char *e = v; k < n_own || (e && *e);) {
        const char *end = NULL;
        size_t len;
        if (k < n_own) {
            len = strlen(own[k]);
        } else {
            end = strchr(e, ',');
            len = end ? (size_t)(end - e) : strlen(e);
        }
        const char *src = k < n_own ? own[k] : e;
        char *o = kl_alloc(len + 1);
        if (o) {
            memcpy(o, src, len);
            o[len] = '\0';
        }
        if (src == e)
            e += len + (end != NULL);
        a->origins[k++] = o;
    }
    for (size_t i = 0; i < k; i++)
        if (!a->origins[i]) {
            for (size_t j = 0; j < k; j++)
                kl_free(a->origins[j]);
            kl_free(a->origins);
            a->origins = NULL;
            return KL_ENOMEM;
        }
    return 0;
}

void
api_guard_fini(kl_api_t *a)
{
    for (size_t i = 0; a->origins && a->origins[i]; i++)
        kl_free(a->origins[i]);
    kl_free(a->origins);
    kl_free(a->conns);
    a->origins = NULL;
    a->conns = NULL;
}

static void
addr16(const struct sockaddr_storage *ss, unsigned char out[16])
{
    memset(out, 0, 16);
    if (ss->ss_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
    } else if (ss->ss_family == AF_INET) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    }
}

static void
conn_remove(kl_api_t *a, size_t i)
{
    a->conns[i] = a->conns[--a->n_conns];
    if (a->conn_pending == (int)a->n_conns)
        a->conn_pending = (int)i;
}

/* Closes the oldest idle socket (from addr when given). Returns 1 when one was found. */
static int
evict_idle(kl_api_t *a, const unsigned char *addr)
{
    conn_t *old = NULL;
    for (size_t i = 0; i < a->n_conns; i++) {
        conn_t *c = &a->conns[i];
        if (c->evicting || c->requested || !c->wsi || (addr && memcmp(c->addr, addr, 16) != 0))
            continue;
        if (!old || c->since_ms < old->since_ms)
            old = c;
    }
    if (!old)
        return 0;
    old->evicting = 1;
    a->conn_evicted++;
    lws_set_timeout(old->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    return 1;
}

int
api_conn_filter(kl_api_t *a, const struct lws_filter_network_conn_args *f)
{
    if (a->conn_pending >= 0) /* lws did not create the last one (out of memory) */
        conn_remove(a, (size_t)a->conn_pending);
    a->conn_pending = -1;
    unsigned char addr[16];
    addr16(&f->cli_addr, addr);
    size_t total = 0, same = 0;
    for (size_t i = 0; i < a->n_conns; i++)
        if (!a->conns[i].evicting) {
            total++;
            same += memcmp(a->conns[i].addr, addr, 16) == 0;
        }
    const char *why = NULL;
    if (same >= (size_t)a->cfg->max_conns_per_ip && !evict_idle(a, addr))
        why = "max-connections-per-ip";
    else if (total >= (size_t)a->cfg->max_connections && !evict_idle(a, NULL))
        why = "max-connections";
    else if (a->n_conns == a->conns_cap)
        why = "sockets still closing";
    if (why) {
        a->conn_refused++;
        uint64_t supp;
        if (kl_ratelimit_ok(&rl_refused, 1000, &supp)) {
            char ip[INET6_ADDRSTRLEN] = "?";
            inet_ntop(AF_INET6, addr, ip, sizeof ip);
            kl_log(KL_LOG_WARN, "api", "connection_refused",
                   "peer=%s reason=\"%s\" connections=%zu from_peer=%zu suppressed=%llu "
                   "action=\"closed at once\"",
                   ip, why, total, same, (unsigned long long)supp);
        }
        return 1;
    }
    conn_t *c = &a->conns[a->n_conns];
    memset(c, 0, sizeof *c);
    memcpy(c->addr, addr, 16);
    c->since_ms = kl_mono_ms();
    a->conn_pending = (int)a->n_conns++;
    return 0;
}

void
api_conn_created(kl_api_t *a, struct lws *wsi)
{
    if (a->conn_pending < 0)
        return; /* not an accepted socket (the listener) */
    a->conns[a->conn_pending].wsi = wsi;
    a->conn_pending = -1;
}

static conn_t *
conn_find(kl_api_t *a, struct lws *wsi)
{
    for (size_t i = 0; i < a->n_conns; i++)
        if (a->conns[i].wsi == wsi)
            return &a->conns[i];
    return NULL;
}

void
api_conn_destroyed(kl_api_t *a, struct lws *wsi)
{
    conn_t *c = conn_find(a, wsi);
    if (c)
        conn_remove(a, (size_t)(c - a->conns));
}

void
api_conn_requested(kl_api_t *a, struct lws *wsi)
{
    conn_t *c = conn_find(a, wsi);
    if (c)
        c->requested = 1;
}

size_t
api_conn_count(const kl_api_t *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n_conns; i++)
        n += !a->conns[i].evicting;
    return n;
}

int
api_origin_check(kl_api_t *a, struct lws *wsi, char *echo, size_t cap)
{
    echo[0] = '\0';
    char o[300];
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
    if (n <= 0)
        return 1; /* not a browser: curl, server-side clients */
    if (n >= (int)sizeof o || lws_hdr_copy(wsi, o, sizeof o, WSI_TOKEN_ORIGIN) < 0)
        goto refuse;
    /* Browsers send scheme://host[:port] or "null"; a bare host is a non-browser client
     * (lws clients put their host there), served as if it sent none. */
    if (!strstr(o, "://") && strcmp(o, "null") != 0)
        return 1;
    if (a->origins_any) {
        snprintf(echo, cap, "*");
        return 1;
    }
    for (size_t i = 0; a->origins && a->origins[i]; i++)
        if (strcasecmp(a->origins[i], o) == 0) {
            snprintf(echo, cap, "%s", o);
            return 1;
        }
refuse:
    a->origin_refused++;
    uint64_t supp;
    if (kl_ratelimit_ok(&rl_origin, 1000, &supp)) {
        for (char *c = o; n > 0 && n < (int)sizeof o && *c; c++)
            if (*c == '"' || *c == '\\')
                *c = '?';
        kl_log(KL_LOG_INFO, "api", "origin_refused",
               "origin=\"%.100s\" suppressed=%llu action=\"no CORS header; WS upgrade refused\"",
               n > 0 && n < (int)sizeof o ? o : "(too long)", (unsigned long long)supp);
    }
    return 0;
}
