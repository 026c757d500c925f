/* The API's libwebsockets context and thread: binding, routing of HTTP paths and WS upgrades to
 * their handlers, the HTTP response state machine (headers, then body, one lws_write per
 * WRITEABLE callback) and the wakeups from the workers (lws_cancel_service, drained in
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED). See api.h for the design. */
#include "api/api_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "api/reader.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/lwslog.h"
#include "kl/err.h"

#define TICK_US 50000 /* sync timeouts, watch expiry, push cadence */

/* ---- HTTP responses --------------------------------------------------------------------- */

/* Bodies are built after LWS_PRE bytes of headroom so lws_write can frame them in place. */
static void
body_reset(sess_t *s)
{
    s->body.len = 0;
    kl_buf_reserve(&s->body, LWS_PRE + 256);
    if (!s->body.oom) {
        memset(s->body.p, 0, LWS_PRE);
        s->body.len = LWS_PRE;
    }
}

void
api_http_start(sess_t *s)
{
    s->state = HTTP_HEADERS;
    lws_callback_on_writable(s->wsi);
}

void
api_http_reply(sess_t *s, int status, const char *ctype, const char *body, size_t len)
{
    body_reset(s);
    kl_buf_put(&s->body, body, len);
    s->status = status;
    s->ctype = ctype;
    api_http_start(s);
}

void
api_http_error(sess_t *s, const kl_api_err_t *e)
{
    char buf[320];
    size_t n = kl_api_err_json(e, buf, sizeof buf);
    api_http_reply(s, e->http ? e->http : 400, "application/json", buf, n);
}

static int
http_writeable(sess_t *s)
{
    if (s->state == HTTP_HEADERS) {
        if (s->body.oom) { /* could not build the answer: say so rather than send half */
            s->body.oom = 0;
            static const char msg[] = "{\"code\":-1000,\"msg\":\"out of memory\"}";
            body_reset(s);
            kl_buf_put(&s->body, msg, sizeof msg - 1);
            s->status = 500;
            s->ctype = "application/json";
        }
        uint8_t hb[LWS_PRE + 1024], *start = hb + LWS_PRE, *p = start, *end = hb + sizeof hb - 1;
        size_t n = s->body.len > LWS_PRE ? s->body.len - LWS_PRE : 0;
        if (lws_add_http_common_headers(s->wsi, (unsigned)s->status, s->ctype, n, &p, end) ||
            (s->acao[0] &&
             (lws_add_http_header_by_name(s->wsi, (const unsigned char *)"access-control-allow-origin:",
                                          (const unsigned char *)s->acao, (int)strlen(s->acao),
                                          &p, end) ||
              lws_add_http_header_by_name(s->wsi, (const unsigned char *)"vary:",
                                          (const unsigned char *)"Origin", 6, &p, end))) ||
            (s->extra[0] &&
             lws_add_http_header_by_name(s->wsi, (const unsigned char *)"www-authenticate:",
                                         (const unsigned char *)s->extra,
                                         (int)strlen(s->extra), &p, end)) ||
            lws_finalize_write_http_header(s->wsi, start, &p, end))
            return -1;
        s->state = HTTP_BODY;
        lws_callback_on_writable(s->wsi);
        return 0;
    }
    if (s->state != HTTP_BODY)
        return 0;
    size_t n = s->body.len - LWS_PRE;
    if (n && lws_write(s->wsi, (unsigned char *)s->body.p + LWS_PRE, n, LWS_WRITE_HTTP_FINAL) <
                 (int)n)
        return -1;
    s->state = HTTP_IDLE;
    kl_buf_free(&s->body);
    kl_buf_free(&s->req_body);
    return lws_http_transaction_completed(s->wsi) ? -1 : 0;
}

/* ---- routing ---------------------------------------------------------------------------- */

static void
not_found(sess_t *s)
{
    kl_api_err_t e;
    kl_api_err_set(&e, 404, -1000, "Not found: %s", s->path);
    api_http_error(s, &e);
}

static void
route(kl_api_t *a, sess_t *s)
{
    a->http_requests++;
    const char *p = s->path;
    if (strncmp(p, "/admin/", 7) == 0 || strcmp(p, "/admin") == 0) {
        api_admin(a, s);
        return;
    }
    if (s->method != 'G') {
        kl_api_err_t e;
        kl_api_err_set(&e, 405, -1000, "Method not allowed on %s.", p);
        api_http_error(s, &e);
        return;
    }
    if (strncmp(p, "/api/", 5) == 0)
        api_rest(a, s);
    else if (strcmp(p, "/metrics") == 0)
        api_metrics(a, s);
    else if (strcmp(p, "/healthz") == 0)
        api_healthz(a, s);
    else
        not_found(s);
}

/* Reads method, path and the raw query of the request into s. Returns 0, or -1 for a method we
 * do not serve. */
static int
read_request(sess_t *s, struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes tok;
        int method;
    } m[] = {{WSI_TOKEN_GET_URI, 'G'}, {WSI_TOKEN_POST_URI, 'P'}, {WSI_TOKEN_DELETE_URI, 'D'}};
    s->method = 0;
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (lws_hdr_total_length(wsi, m[i].tok) > 0) {
            if (lws_hdr_copy(wsi, s->path, sizeof s->path, m[i].tok) < 0)
                s->path[0] = '\0';
            s->method = m[i].method;
            break;
        }
    /* The query, re-joined from lws's fragments (it splits the arguments at '&'; an empty
     * argument is an empty fragment, and the total tells when the last one was read). */
    s->qs_len = 0;
    s->qs[0] = '\0';
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS), seen = 0;
    for (int f = 0; seen < total && f < 4096; f++) {
        char frag[KL_API_QUERY_MAX + 1];
        int len = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, f);
        seen += len;
        if (len == 0)
            continue;
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, f);
        if (n < 0 || (size_t)n >= sizeof frag) {
            s->qs_len = sizeof s->qs; /* too long: the parser refuses it */
            break;
        }
        if (n == 1 && frag[0] == '/')
            continue; /* lws 4.1 turns a trailing '&' into a "/" argument */
        if (s->qs_len)
            s->qs[s->qs_len++] = '&';
        /* lws has already decoded the arguments, '+' into ' ' as forms do; but clients send
         * timeZone=+08:00 unencoded, and no parameter of ours can hold a blank. The query
         * parser decodes once more: what lws decoded into '%', '&' or a byte outside printable
         * ASCII is encoded back, so that a query is decoded exactly once ("%2525" is "%25"). */
        static const char hex[] = "0123456789ABCDEF";
        for (int i = 0; i < n && s->qs_len < sizeof s->qs; i++) {
            unsigned char c = (unsigned char)frag[i];
            if (c == ' ')
                c = '+';
            if (c == '%' || c == '&' || c < 0x20 || c >= 0x7f) {
                if (s->qs_len + 3 >= sizeof s->qs) {
                    s->qs_len = sizeof s->qs;
                    break;
                }
                s->qs[s->qs_len++] = '%';
                s->qs[s->qs_len++] = hex[c >> 4];
                s->qs[s->qs_len++] = hex[c & 15];
            } else {
                s->qs[s->qs_len++] = (char)c;
            }
        }
        if (s->qs_len + 1 >= sizeof s->qs) {
            s->qs_len = sizeof s->qs; /* too long: the parser refuses it */
            break;
        }
        s->qs[s->qs_len] = '\0';
    }
    kl_log(KL_LOG_DEBUG, "api", "request", "method=%c path=\"%s\" query=\"%.*s\"", s->method ? s->method : '?',
           s->path, (int)(s->qs_len < sizeof s->qs ? s->qs_len : 0), s->qs);
    return s->method ? 0 : -1;
}

static void
sess_http_cleanup(kl_api_t *a, sess_t *s)
{
    api_rest_cancel(a, s); /* a waiting or in-flight klines request */
    s->state = HTTP_IDLE;
    kl_buf_free(&s->body);
    kl_buf_free(&s->req_body);
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    kl_api_t *a = ctx ? lws_context_user(ctx) : NULL;
    sess_t *s = user;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (a) {
            api_hub_drain(a);
            api_readers_collect(a); /* store reads done by the reader threads */
        }
        return 0;
    case LWS_CALLBACK_HTTP:
        s->kind = SESS_HTTP;
        s->wsi = wsi;
        s->extra[0] = '\0'; /* a keep-alive connection's previous answer */
        /* A page from another origin gets its answer but no CORS header, so the browser keeps
         * it from the page (the request itself cannot be stopped: it is a simple GET). */
        api_origin_check(a, wsi, s->acao, sizeof s->acao);
        if (read_request(s, wsi) != 0) {
            kl_api_err_t e;
            kl_api_err_set(&e, 405, -1000, "Method not allowed.");
            api_http_error(s, &e);
            return 0;
        }
        if (s->method == 'P') { /* the body comes first, unless there is none */
            char cl[24] = "";
            lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);
            if (cl[0] && strcmp(cl, "0") != 0)
                return 0;
        }
        route(a, s);
        return 0;
    case LWS_CALLBACK_HTTP_BODY:
        if (s->method == 0)
            return 0; /* already answered (too large): the rest is read and dropped */
        if (s->req_body.len + len > API_BODY_MAX) {
            kl_api_err_t e;
            kl_api_err_set(&e, 413, -1000, "Request body larger than %d bytes.", API_BODY_MAX);
            api_http_error(s, &e);
            s->method = 0;
            return 0;
        }
        kl_buf_put(&s->req_body, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (s->method == 'P')
            route(a, s);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return http_writeable(s);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (s && s->kind == SESS_HTTP)
            sess_http_cleanup(a, s);
        return 0;
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        return a ? api_conn_filter(a, user) : 0;
    case LWS_CALLBACK_WSI_CREATE:
        if (a)
            api_conn_created(a, wsi);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (a)
            api_conn_destroyed(a, wsi);
        return 0;
    case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
        api_conn_requested(a, wsi);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        api_conn_requested(a, wsi);
        char echo[8];
        if (api_origin_check(a, wsi, echo, sizeof echo))
            return 0;
        /* A page of another origin must not read the streams (nor add load): 403, as for a
         * refused request. */
        return lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, "Origin not allowed") ? -1 : 1;
    }
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (a->n_sessions >= a->cfg->max_connections) {
            a->ws_refused++;
            return 1;
        }
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        s->kind = SESS_WS;
        s->wsi = wsi;
        return api_ws_open(a, s);
    case LWS_CALLBACK_RECEIVE:
        return api_ws_rx(a, s, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return api_ws_writeable(a, s);
    case LWS_CALLBACK_CLOSED:
        if (s && s->kind == SESS_WS)
            api_ws_close(a, s);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* Binance's clients send no Sec-WebSocket-Protocol: the push protocol must come first. */
static const struct lws_protocols protocols[] = {
    {"klined", callback, sizeof(sess_t), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- thread ----------------------------------------------------------------------------- */

static void
tick(lws_sorted_usec_list_t *sul)
{
    kl_api_t *a = lws_container_of(sul, kl_api_t, tick_sul);
    api_hub_drain(a);
    api_readers_collect(a); /* normally done on the readers' wake-up; this bounds a lost one */
    api_hub_tick(a);
    lws_sul_schedule(a->ctx, 0, &a->tick_sul, tick, TICK_US);
}

static void *
api_main(void *arg)
{
    kl_api_t *a = arg;
    pthread_setname_np(pthread_self(), "kl-api");
    kl_lwslog_bind("api", NULL);
    lws_sul_schedule(a->ctx, 0, &a->tick_sul, tick, TICK_US);
    while (!atomic_load_explicit(&a->stop, memory_order_relaxed))
        if (lws_service(a->ctx, 0) < 0)
            break;
    return NULL;
}

static void
wake_api(void *ctx)
{
    lws_cancel_service(ctx);
}

static const lws_retry_bo_t keepalive = {
    .secs_since_valid_ping = 20,   /* ping a quiet client (Binance pings every 20 s) */
    .secs_since_valid_hangup = 60, /* and drop it a minute after its last pong */
};

int
kl_api_create(const kl_api_deps_t *d, kl_api_t **out, char *err, size_t cap)
{
    kl_api_t *a = kl_calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, cap, "api: out of memory");
        return KL_ENOMEM;
    }
    a->d = *d;
    a->cfg = d->cfg;
    a->pub = kl_calloc((size_t)d->n_workers, sizeof *a->pub);
    a->frame = kl_alloc(API_FRAME_CAP + LWS_PRE + 256);
    a->ctl = kl_alloc(sizeof *a->ctl);
    int rc = a->pub && a->frame && a->ctl ? api_hub_init(a) : KL_ENOMEM;
    if (rc == 0)
        rc = api_guard_init(a);
    if (rc != 0) {
        snprintf(err, cap, "api: out of memory");
        kl_api_destroy(a);
        return rc;
    }

    kl_lwslog_init();
    struct lws_http_mount *mounts = a->mounts;
    static const char *const cb_paths[] = {"/api", "/admin", "/metrics", "/healthz", "/ws",
                                           "/stream"};
    memset(a->mounts, 0, sizeof a->mounts);
    for (size_t i = 0; i < 6; i++) {
        mounts[i].mountpoint = cb_paths[i];
        mounts[i].mountpoint_len = (unsigned char)strlen(cb_paths[i]);
        mounts[i].origin = "klined";
        mounts[i].origin_protocol = LWSMPRO_CALLBACK;
        mounts[i].mount_next = &mounts[i + 1];
    }
    mounts[6].mountpoint = "/";
    mounts[6].mountpoint_len = 1;
    mounts[6].origin = a->cfg->web_root;
    mounts[6].def = "index.html";
    mounts[6].origin_protocol = LWSMPRO_FILE;
    struct stat st;
    char idx[4200];
    snprintf(idx, sizeof idx, "%s/index.html", a->cfg->web_root);
    if (stat(idx, &st) != 0)
        kl_log(KL_LOG_WARN, "api", "chart_page_missing",
               "web_root=%s reason=\"no index.html\" action=\"/ answers 404; build it with make\"",
               a->cfg->web_root);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = a->cfg->listen_port;
    info.iface = a->cfg->listen_host;
    info.protocols = protocols;
    info.mounts = mounts;
    info.user = a;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (strchr(a->cfg->listen_host, ':')) /* an IPv6 literal was asked for */
        info.options &= ~(uint64_t)LWS_SERVER_OPTION_DISABLE_IPV6;
    info.max_http_header_data = 8192; /* request line + headers: the URL cap */
    info.max_http_header_pool = 256; /* 8 KB each: requests being read at once */
    info.fd_limit_per_thread = (unsigned)a->conns_cap + 64; /* the caps are ours (guard.c) */
    info.retry_and_idle_policy = &keepalive;
    /* A socket gets header-timeout-s to send a complete request, from its accept and again
     * while it holds a header buffer (slowloris), then lws closes it. */
    info.timeout_secs = (unsigned)a->cfg->header_timeout_s;
    info.timeout_secs_ah_idle = (unsigned)a->cfg->header_timeout_s;
    info.keepalive_timeout = 5;
    a->ctx = lws_create_context(&info);
    if (!a->ctx) {
        snprintf(err, cap, "api: cannot listen on %s:%u (address in use or not local?)",
                 a->cfg->listen_host, a->cfg->listen_port);
        kl_api_destroy(a);
        return KL_EIO;
    }
    rc = api_readers_create(a, &a->readers, err, cap); /* after ctx: they wake it */
    if (rc != 0) {
        kl_api_destroy(a);
        return rc;
    }
    struct lws_vhost *vh = lws_get_vhost_by_name(a->ctx, "default");
    a->port = vh ? lws_get_vhost_listen_port(vh) : a->cfg->listen_port;
    if ((rc = api_guard_origins(a)) != 0) {
        snprintf(err, cap, "api: out of memory");
        kl_api_destroy(a);
        return rc;
    }
    for (int i = 0; i < d->n_workers; i++) {
        rc = kl_pubring_init(&a->pub[i], 16384, wake_api, a->ctx);
        if (rc != 0) {
            snprintf(err, cap, "api: out of memory");
            kl_api_destroy(a);
            return rc;
        }
    }
    kl_log(KL_LOG_INFO, "api", "listening", "address=%s:%d web_root=%s push_ms=%d",
           a->cfg->listen_host, a->port, a->cfg->web_root, a->cfg->push_ms);
    *out = a;
    return 0;
}

kl_pubring_t *
kl_api_pubring(kl_api_t *a, int worker)
{
    return &a->pub[worker];
}

int
kl_api_start(kl_api_t *a)
{
    int rc = api_readers_start(a->readers);
    if (rc != 0)
        return rc;
    rc = pthread_create(&a->thread, NULL, api_main, a);
    if (rc != 0) {
        api_readers_stop(a->readers);
        return -rc;
    }
    a->started = 1;
    if (a->cfg->api_cpu >= 0) { /* its wake-ups are the push latency's tail (BENCHMARKS.md) */
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(a->cfg->api_cpu, &set);
        rc = pthread_setaffinity_np(a->thread, sizeof set, &set);
        if (rc != 0)
            kl_log(KL_LOG_WARN, "api", "pin_failed", "cpu=%d error=\"%s\" action=\"running "
                   "unpinned\"", a->cfg->api_cpu, strerror(rc));
    }
    return 0;
}

void
kl_api_stop(kl_api_t *a)
{
    if (!a || !a->started)
        return;
    atomic_store_explicit(&a->stop, 1, memory_order_relaxed);
    lws_cancel_service(a->ctx);
    pthread_join(a->thread, NULL);
    a->started = 0;
}

void
kl_api_destroy(kl_api_t *a)
{
    if (!a)
        return;
    kl_api_stop(a);
    api_readers_stop(a->readers); /* before the context: a reader wakes it when done */
    if (a->ctx)
        lws_context_destroy(a->ctx); /* closes every session (their CLOSED callbacks free them) */
    api_readers_destroy(a->readers); /* after: a closing session abandons its read */
    api_hub_fini(a);
    api_guard_fini(a); /* after the context: its WSI_DESTROY callbacks use the table */
    for (int i = 0; a->pub && i < a->d.n_workers; i++)
        kl_pubring_fini(&a->pub[i]);
    kl_free(a->pub);
    kl_free(a->frame);
    kl_free(a->ctl);
    kl_free(a);
}
