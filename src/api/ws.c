/* WebSocket sessions: /ws/<stream>[/<stream>...] (raw payloads) and /stream?streams=a/b
 * (payloads wrapped in {"stream":…,"data":…}), the SUBSCRIBE / UNSUBSCRIBE /
 * LIST_SUBSCRIPTIONS control messages, and each client's bounded send queue.
 *
 * The queue holds at most one pending live frame per subscription: a newer state of the same
 * stream replaces it in place (the client wants the latest kline, not every step), while final
 * klines and control replies are always queued as they are. The queue is bounded in frames
 * (ws-queue) and in bytes (ws-queue-bytes; every queued buffer is counted, and freed once
 * sent), and all queues together in bytes (ws-total-queue-bytes). A client over a bound is
 * disconnected (close 1008) and counted: it never slows the API thread, let alone a worker, and
 * a client that sends requests without reading their replies cannot grow memory. With push-ms
 * N, a client's queue is flushed at most every N ms. */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>

#include "api/kjson.h"
#include "api/reader.h"
#include "core/alloc.h"
#include "core/log.h"
#include "kl/err.h"

static void
request_write(kl_api_t *a, sess_t *s)
{
    if (a->cfg->push_ms == 0)
        lws_callback_on_writable(s->wsi);
}

static void
push_timer(lws_sorted_usec_list_t *sul)
{
    sess_t *s = lws_container_of(sul, sess_t, push_sul);
    kl_api_t *a = lws_context_user(lws_get_context(s->wsi));
    if (s->q_n)
        lws_callback_on_writable(s->wsi);
    lws_sul_schedule(lws_get_context(s->wsi), 0, &s->push_sul, push_timer,
                     (lws_usec_t)a->cfg->push_ms * 1000);
}

/* Frees every queued frame of s (its bytes leave both counts). */
static void
queue_release(kl_api_t *a, sess_t *s)
{
    for (size_t i = 0; s->q && i < s->q_cap; i++) {
        if (s->q[i].owner)
            s->q[i].owner->q_slot = -1;
        kl_free(s->q[i].buf);
        s->q[i] = (qent_t){0};
    }
    a->ws_q_bytes -= s->q_bytes;
    s->q_bytes = 0;
    s->q_n = 0;
    s->q_head = 0;
}

/* Disconnects s: its queue is freed now (the bytes must be available again at once, whatever
 * the client does), a close frame 1008 says why when the socket still takes it, and lws kills
 * the connection within two seconds if it does not. */
static void
drop_slow(kl_api_t *a, sess_t *s, const char *why)
{
    size_t queued = s->q_n, bytes = s->q_bytes;
    s->closing = 1;
    a->ws_slow++;
    queue_release(a, s);
    kl_log(KL_LOG_WARN, "api", "ws_slow_client",
           "queued=%zu queued_bytes=%zu subscriptions=%zu reason=\"%s\" action=\"disconnected\"",
           queued, bytes, s->n_subs, why);
    static const char reason[] = "slow consumer: send queue full";
    lws_close_reason(s->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)reason,
                     sizeof reason - 1);
    lws_callback_on_writable(s->wsi);
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, 2);
}

/* Makes room for `grow` more bytes in s's queue, under ws-queue-bytes and, across sessions,
 * ws-total-queue-bytes: when the total is reached, the session holding the most bytes is
 * disconnected (s itself when it is that one). Returns 0, or -1 when s was disconnected. */
static int
queue_room(kl_api_t *a, sess_t *s, size_t grow)
{
    if (s->q_bytes + grow > (size_t)a->cfg->ws_queue_bytes) {
        drop_slow(a, s, "ws-queue-bytes");
        return -1;
    }
    while (a->ws_q_bytes + grow > (size_t)a->cfg->ws_total_queue_bytes) {
        sess_t *big = s;
        for (sess_t *o = a->ws_list; o; o = o->ws_next)
            if (o->q_bytes > big->q_bytes)
                big = o;
        a->ws_total_drops++;
        drop_slow(a, big, "ws-total-queue-bytes");
        if (big == s)
            return -1;
    }
    return 0;
}

/* Queues one frame: payload, wrapped for combined sessions when stream is given. owner: the
 * live frame of that subscription, replaceable until sent; NULL: keep as is. Every queued byte
 * is counted (q_bytes); a frame's buffer is freed once it is sent. */
static void
enqueue(kl_api_t *a, sess_t *s, sub_t *owner, const char *stream, const char *p, size_t len)
{
    if (s->closing)
        return;
    size_t need = LWS_PRE + len + (stream ? strlen(stream) + 24 : 0);
    size_t cap = need < API_FRAME_CAP + LWS_PRE ? API_FRAME_CAP + LWS_PRE : need;
    qent_t *e;
    if (owner && owner->q_slot >= 0) {
        e = &s->q[owner->q_slot]; /* coalesce: the newer state replaces the unsent one */
    } else {
        if (s->q_n == s->q_cap) {
            drop_slow(a, s, "ws-queue");
            return;
        }
        if (queue_room(a, s, cap) != 0)
            return;
        size_t slot = (s->q_head + s->q_n) % s->q_cap;
        e = &s->q[slot];
        s->q_n++;
        if (owner)
            owner->q_slot = (int64_t)slot;
        request_write(a, s);
    }
    e->owner = owner;
    if (need > e->cap) {
        if (e->cap && queue_room(a, s, cap - e->cap) != 0)
            return;
        char *nb = kl_alloc(cap);
        if (!nb) {
            drop_slow(a, s, "out of memory");
            return;
        }
        kl_free(e->buf);
        s->q_bytes += cap - e->cap;
        a->ws_q_bytes += cap - e->cap;
        e->buf = nb;
        e->cap = cap;
    }
    char *w = e->buf + LWS_PRE;
    if (stream && s->combined) {
        int n = snprintf(w, e->cap - LWS_PRE, "{\"stream\":\"%s\",\"data\":", stream);
        memcpy(w + n, p, len);
        w[(size_t)n + len] = '}';
        e->len = (size_t)n + len + 1;
    } else {
        memcpy(w, p, len);
        e->len = len;
    }
}

/* ---- subscriptions ---------------------------------------------------------------------- */

static sub_t *
find_sub(sess_t *s, const char *name)
{
    for (size_t i = 0; i < s->n_subs; i++)
        if (strcmp(s->subs[i]->name, name) == 0)
            return s->subs[i];
    return NULL;
}

/* Returns 0, or -1 with e set. */
static int
add_sub(kl_api_t *a, sess_t *s, const kl_ws_stream_t *st, kl_api_err_t *e)
{
    char name[72];
    kl_ws_stream_name(st, name, sizeof name);
    if (find_sub(s, name))
        return 0;
    if (s->n_subs >= (size_t)a->cfg->max_streams) {
        kl_api_err_set(e, 0, 2, "Invalid request: more than %d streams on one connection",
                       a->cfg->max_streams);
        return -1;
    }
    sub_t *u = kl_calloc(1, sizeof *u);
    if (!u) {
        kl_api_err_set(e, 0, 2, "Invalid request: out of memory");
        return -1;
    }
    u->s = s;
    u->st = *st;
    memcpy(u->name, name, sizeof name);
    u->q_slot = -1;
    u->sym = UINT32_MAX; /* a symbol not served: accepted, never fed (as Binance does) */
    kl_syminfo_t info;
    if (kl_symreg_lookup(a->d.reg, st->symbol, KL_SYMREG_FIND, 0, &info) >= 0 && info.live) {
        const kl_sched_t *sch = info.unit_per_ms == 1000 ? a->d.sched_us : a->d.sched_ms;
        if (kl_tz_plan(sch, st->iv, st->has_tz ? st->tz_minutes : a->cfg->tz_minutes,
                       &u->plan) != 0) {
            kl_free(u);
            kl_api_err_set(e, 0, 2, "Invalid request: interval %s is not served in that time zone",
                           kl_iv_name(st->iv));
            return -1;
        }
        u->sym = info.id;
        u->unit = info.unit_per_ms == 1000 ? 1000 : 1;
        u->direct = u->plan.direct;
        u->src_iv = u->direct ? st->iv : u->plan.base_iv;
        if (api_hub_sub(a, u) != 0) {
            kl_free(u);
            kl_api_err_set(e, 0, 2, "Invalid request: out of memory");
            return -1;
        }
    }
    s->subs[s->n_subs++] = u;
    return 0;
}

/* A pair already watched for someone else sends no sync: a new subscription gets the current
 * kline at once rather than at the next change. */
static void
initial_push(kl_api_t *a, sub_t *u)
{
    symw_t *w = u->sym != UINT32_MAX ? api_hub_get(a, u->sym) : NULL;
    const pair_t *p = w ? w->pair[u->src_iv] : NULL;
    if (p && (w->synced >> u->src_iv & 1) && p->have_live) {
        kl_kline_t live = p->live;
        api_ws_push(a, u, &live, 0, 0);
    }
}

static void
del_sub(kl_api_t *a, sess_t *s, size_t i)
{
    sub_t *u = s->subs[i];
    if (u->sym != UINT32_MAX)
        api_hub_unsub(a, u);
    if (u->seed) { /* its seed's completion is dropped */
        api_read_abandon(u->seed);
        u->seed = NULL;
    }
    if (u->q_slot >= 0) /* its pending frame is sent as is */
        s->q[u->q_slot].owner = NULL;
    kl_free(u);
    s->subs[i] = s->subs[--s->n_subs];
}

/* ---- pushes ----------------------------------------------------------------------------- */

/* DESIGN. A tz stream pushes the merge of the base klines of the current tz kline. When a base
 * kline arrives in the middle of a tz kline the subscription knows nothing of (it just
 * subscribed, or a correction of an older one), the base klines before it are read from the
 * store and the pair's memory by a reader thread (a "seed"). Meanwhile the stream's pushes wait;
 * when the seed completes, the pair's memory from the kline that asked is replayed through
 * api_ws_push, so nothing it held is lost (a seed slower than API_FINALS_KEEP base klines
 * loses the oldest of them). A seed the full read queue refuses drops that push and is asked
 * again at the next one (counted in klined_api_seeds_deferred_total). */

/* Whether base kline k (in tz kline open) needs a seed of the base klines before it. */
static int
seed_needed(const sub_t *u, const kl_kline_t *k, int64_t open)
{
    return k->open_time > open && !(u->have_acc && u->acc.open_time == open) &&
           !(u->seeded && u->seeded_open == open);
}

/* Starts the seed of [open, k's open) for u. Returns 0, or KL_EFULL / KL_ENOMEM. */
static int
seed_start(kl_api_t *a, sub_t *u, const kl_kline_t *k, int64_t open)
{
    api_read_t *r = api_read_new();
    if (!r)
        return KL_ENOMEM;
    r->kind = API_READ_SEED;
    snprintf(r->symbol, sizeof r->symbol, "%s", u->st.symbol);
    r->unit = u->unit;
    r->iv = u->src_iv;
    r->lo = open;
    r->hi = k->open_time - 1;
    api_hub_mem(a, u->sym, u->src_iv, &r->mem);
    if (api_read_submit(a->readers, r, 0) != 0) {
        kl_free(r);
        return KL_EFULL;
    }
    r->u = u;
    u->seed = r;
    return 0;
}

void
api_ws_seed_done(kl_api_t *a, api_read_t *r)
{
    static int64_t last_log_ms;
    sub_t *u = r->u;
    u->seed = NULL;
    u->have_acc = 0;
    if (r->rc == 0 && r->have_acc) {
        u->acc = r->acc;
        u->have_acc = 1;
    } else if (r->rc != 0) {
        if (r->rc == API_EROWS)
            a->rows_refused++;
        int64_t now = kl_mono_ms();
        if (now - last_log_ms > 10000) {
            last_log_ms = now;
            kl_log(KL_LOG_WARN, "api", "ws_seed_failed",
                   "stream=%s error=\"%s\" action=\"this tz kline is pushed from its later "
                   "base klines only\"", u->name,
                   r->rc == API_EROWS ? "more than max-query-rows base klines"
                                      : kl_strerror(r->rc));
        }
    }
    u->acc.open_time = r->lo;
    u->seeded = 1;
    u->seeded_open = r->lo;
    /* What the pair received meanwhile, from the kline that asked for the seed on. */
    api_mem_t *m = kl_alloc(sizeof *m);
    if (!m)
        return;
    api_hub_mem(a, u->sym, u->src_iv, m);
    for (size_t i = 0; i < m->n && !u->seed && !u->s->closing; i++)
        if (m->k[i].open_time > r->hi) {
            int live = m->have_live && i == m->n - 1;
            api_ws_push(a, u, &m->k[i], !live, 0);
        }
    kl_free(m);
}

/* The tz kline that base kline k belongs to, given everything before it (the seed, then the
 * base klines pushed since). */
static kl_kline_t
tz_kline(sub_t *u, const kl_kline_t *k, int final, int *tz_final)
{
    const kl_ivspec_t *sp = &u->plan.tz;
    int64_t open = kl_iv_open(sp, k->open_time), close = kl_iv_next(sp, open) - 1;
    if (u->have_acc && u->acc.open_time != open)
        u->have_acc = 0; /* it belonged to another tz kline */
    kl_kline_t out;
    if (final) {
        if (!u->have_acc)
            u->acc = *k, u->have_acc = 1;
        else
            kl_kline_merge(&u->acc, k);
        out = u->acc;
    } else {
        out = u->have_acc ? u->acc : *k;
        if (u->have_acc)
            kl_kline_merge(&out, k);
    }
    out.open_time = open;
    out.close_time = close;
    u->acc.open_time = open;
    *tz_final = final && k->close_time >= close;
    if (*tz_final)
        u->have_acc = 0;
    return out;
}

void
api_ws_push(kl_api_t *a, sub_t *u, const kl_kline_t *k, int final, uint64_t t_ns)
{
    (void)t_ns;
    sess_t *s = u->s;
    if (s->closing || u->seed) /* a seed in flight replays the pair's memory when done */
        return;
    symw_t *w = api_hub_get(a, u->sym);
    int64_t unit = w ? w->unit : 1;
    /* The base series jumped past the end of the newest tz kline, which is not final yet: the
     * base klines it still lacked are implied holes (not pushed; docs/semantics.md), which
     * change nothing but its close time, so it is final as it stands. Without this, its final
     * would never be sent. (An acc left by the correction of an older tz kline is not one.) */
    int64_t tz_open = u->direct ? 0 : kl_iv_open(&u->plan.tz, k->open_time);
    int jumped = !u->direct && u->have_acc && u->acc.open_time == u->tz_top &&
                 tz_open > u->tz_top;
    if (tz_open > u->tz_top)
        u->tz_top = tz_open;
    if ((final || jumped) && u->q_slot >= 0) { /* a final goes after the unsent live frame */
        s->q[u->q_slot].owner = NULL;
        u->q_slot = -1;
    }
    kl_kline_t tk;
    int x = final;
    if (jumped) {
        tk = u->acc;
        tk.close_time = kl_iv_next(&u->plan.tz, tk.open_time) - 1;
        u->have_acc = 0;
        size_t n = kl_kjson_ws_event(u->st.symbol, u->st.iv, &tk, unit, 1, kl_now_ms(), a->frame);
        enqueue(a, s, NULL, u->name, a->frame, n);
        if (s->closing)
            return;
    }
    if (!u->direct) {
        if (seed_needed(u, k, tz_open)) {
            int rc = seed_start(a, u, k, tz_open);
            if (rc != 0)
                a->seeds_deferred++;
            return; /* pushed when the seed is done (or with a later kline) */
        }
        tk = tz_kline(u, k, final, &x);
        k = &tk;
    }
    size_t n = kl_kjson_ws_event(u->st.symbol, u->st.iv, k, unit, x, kl_now_ms(), a->frame);
    enqueue(a, s, x ? NULL : u, u->name, a->frame, n);
}

/* ---- control messages ------------------------------------------------------------------- */

static void
reply(kl_api_t *a, sess_t *s, const char *p, size_t n)
{
    enqueue(a, s, NULL, NULL, p, n);
}

static void
control(kl_api_t *a, sess_t *s, const char *msg, size_t len)
{
    kl_ws_ctl_t *ctl = a->ctl; /* 40 KB: one per API, not on the stack */
    kl_api_err_t e;
    char out[512];
    a->ws_ctl++;
    if (kl_ws_ctl_parse(msg, len, ctl, &e) != 0) {
        a->ws_ctl_errors++;
        reply(a, s, out, kl_ws_reply_error(&e, ctl->id, ctl->id_len, out, sizeof out));
        return;
    }
    if (ctl->method == KL_WS_SET_PROPERTY) { /* "combined": wrap payloads from now on */
        s->combined = ctl->combined;
        reply(a, s, out, kl_ws_reply_null(ctl->id, ctl->id_len, out, sizeof out));
        return;
    }
    if (ctl->method == KL_WS_GET_PROPERTY) {
        int n = snprintf(out, sizeof out, "{\"result\":%s,\"id\":%.*s}",
                         s->combined ? "true" : "false", (int)ctl->id_len, ctl->id);
        reply(a, s, out, (size_t)n);
        return;
    }
    if (ctl->method == KL_WS_LIST_SUBSCRIPTIONS) {
        kl_buf_t b = {0};
        kl_buf_puts(&b, "{\"result\":[");
        for (size_t i = 0; i < s->n_subs; i++)
            kl_buf_printf(&b, "%s\"%s\"", i ? "," : "", s->subs[i]->name);
        kl_buf_printf(&b, "],\"id\":%.*s}", (int)ctl->id_len, ctl->id);
        if (!b.oom && b.len <= API_REPLY_MAX) /* always, by max-streams (api_int.h) */
            reply(a, s, b.p, b.len);
        kl_buf_free(&b);
        return;
    }
    size_t before = s->n_subs;
    for (size_t i = 0; i < ctl->n_params; i++) {
        if (ctl->method == KL_WS_SUBSCRIBE) {
            if (add_sub(a, s, &ctl->params[i], &e) != 0) {
                a->ws_ctl_errors++;
                reply(a, s, out, kl_ws_reply_error(&e, ctl->id, ctl->id_len, out, sizeof out));
                return;
            }
        } else {
            char name[72];
            kl_ws_stream_name(&ctl->params[i], name, sizeof name);
            for (size_t j = 0; j < s->n_subs; j++)
                if (strcmp(s->subs[j]->name, name) == 0) {
                    del_sub(a, s, j);
                    break;
                }
        }
    }
    reply(a, s, out, kl_ws_reply_null(ctl->id, ctl->id_len, out, sizeof out));
    for (size_t i = before; ctl->method == KL_WS_SUBSCRIBE && i < s->n_subs; i++)
        initial_push(a, s->subs[i]); /* after the result, as Binance orders them */
}

/* ---- lifecycle -------------------------------------------------------------------------- */

/* Streams named in the URL: /ws/a/b or /stream?streams=a/b. Returns 0 or -1 (refused). */
static int
url_streams(kl_api_t *a, sess_t *s, const char *list, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && list[j] != '/')
            j++;
        if (j > i) {
            kl_ws_stream_t st;
            kl_api_err_t e;
            if (kl_ws_stream_parse(list + i, j - i, &st) != 0 || add_sub(a, s, &st, &e) != 0)
                return -1;
        }
        i = j + 1;
    }
    return 0;
}

int
api_ws_open(kl_api_t *a, sess_t *s)
{
    char path[8192];
    if (lws_hdr_copy(s->wsi, path, sizeof path, WSI_TOKEN_GET_URI) < 0)
        return -1;
    for (char *c = path; *c; c++)
        if (*c == ' ') /* lws decodes a '+' ("@+08:00") as a form blank, even in the path */
            *c = '+';
    s->q_cap = (size_t)a->cfg->ws_queue;
    s->q = kl_calloc(s->q_cap, sizeof *s->q);
    s->subs = kl_calloc((size_t)a->cfg->max_streams, sizeof *s->subs);
    if (!s->q || !s->subs) {
        kl_free(s->q);
        kl_free(s->subs);
        s->q = NULL;
        s->subs = NULL;
        return -1;
    }
    a->n_sessions++;
    a->ws_connects++;
    s->ws_next = a->ws_list;
    if (a->ws_list)
        a->ws_list->ws_prev = s;
    a->ws_list = s;
    int rc = -1;
    if (strncmp(path, "/ws/", 4) == 0) {
        rc = url_streams(a, s, path + 4, strlen(path + 4));
    } else if (strcmp(path, "/ws") == 0) {
        rc = 0;
    } else if (strcmp(path, "/stream") == 0) {
        s->combined = 1;
        char list[8192];
        const char *v = lws_get_urlarg_by_name(s->wsi, "streams=", list, sizeof list);
        for (char *c = v ? (char *)v : list; v && *c; c++)
            if (*c == ' ') /* as above */
                *c = '+';
        rc = v ? url_streams(a, s, v, strlen(v)) : 0;
    }
    if (rc != 0) {
        kl_log(KL_LOG_INFO, "api", "ws_refused", "path=\"%.100s\" reason=\"bad stream name or "
               "too many streams\"", path);
        return -1; /* CLOSED follows and frees */
    }
    for (size_t i = 0; i < s->n_subs; i++)
        initial_push(a, s->subs[i]);
    if (a->cfg->push_ms > 0)
        lws_sul_schedule(lws_get_context(s->wsi), 0, &s->push_sul, push_timer,
                         (lws_usec_t)a->cfg->push_ms * 1000);
    return 0;
}

void
api_ws_close(kl_api_t *a, sess_t *s)
{
    if (!s->q)
        return;
    lws_sul_cancel(&s->push_sul);
    while (s->n_subs)
        del_sub(a, s, s->n_subs - 1);
    queue_release(a, s);
    if (s->ws_prev)
        s->ws_prev->ws_next = s->ws_next;
    else
        a->ws_list = s->ws_next;
    if (s->ws_next)
        s->ws_next->ws_prev = s->ws_prev;
    kl_free(s->q);
    kl_free(s->subs);
    kl_buf_free(&s->req_body);
    s->q = NULL;
    a->n_sessions--;
    a->ws_disconnects++;
}

int
api_ws_rx(kl_api_t *a, sess_t *s, const char *in, size_t len)
{
    if (s->req_body.len + len > KL_WS_FRAME_MAX) {
        kl_log(KL_LOG_INFO, "api", "ws_frame_too_large", "bytes=%zu action=\"disconnected\"",
               s->req_body.len + len);
        return -1;
    }
    kl_buf_put(&s->req_body, in, len);
    if (!lws_is_final_fragment(s->wsi))
        return 0;
    if (!s->req_body.oom)
        control(a, s, s->req_body.p ? s->req_body.p : "", s->req_body.len);
    s->req_body.len = 0;
    s->req_body.oom = 0;
    return 0;
}

int
api_ws_writeable(kl_api_t *a, sess_t *s)
{
    if (s->closing)
        return -1;
    if (!s->q_n)
        return 0;
    qent_t *e = &s->q[s->q_head];
    if (e->owner && e->owner->q_slot == (int64_t)s->q_head)
        e->owner->q_slot = -1; /* sent: the next update queues anew */
    e->owner = NULL;
    if (lws_write(s->wsi, (unsigned char *)e->buf + LWS_PRE, e->len, LWS_WRITE_TEXT) < (int)e->len)
        return -1;
    /* lws copied what the socket did not take: the buffer can go (an idle client holds no
     * memory, and the byte counts stay exact). */
    kl_free(e->buf);
    s->q_bytes -= e->cap;
    a->ws_q_bytes -= e->cap;
    *e = (qent_t){0};
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_n--;
    a->ws_frames++;
    if (s->q_n)
        lws_callback_on_writable(s->wsi);
    return 0;
}
