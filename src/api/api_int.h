/* Internals shared by the API's files (server.c: lws plumbing and routing; hub.c: watched
 * pairs and fan-out; rest.c: /api/v3; ws.c: WS sessions; admin.c; ops.c: /metrics, /healthz).
 * Everything here runs on the API thread only. */
#ifndef KL_API_API_INT_H
#define KL_API_API_INT_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>

#include "api/api.h"
#include "api/apierr.h"
#include "api/query.h"
#include "api/wsctl.h"
#include "engine/kmerge.h"
#include "core/buf.h"
#include "core/hist.h"
#include "store/store.h"

#define API_FINALS_KEEP 64       /* recent finals kept per watched pair (store lag cover) */
#define API_WATCH_IDLE_MS 60000  /* a pair nobody used for this long is unwatched */
#define API_SYNC_TIMEOUT_MS 2000 /* a REST request waits this long for a worker's sync */
#define API_READ_WAIT_S 120      /* a REST request waits this long for its store read */
#define API_FRAME_CAP 1024       /* a kline frame, with the combined-stream wrapper */
#define API_BODY_MAX 4096        /* admin request bodies */
#define API_EROWS (-20001)       /* a query would read more than max-query-rows klines */
/* The largest WS frame the API queues: a LIST_SUBSCRIPTIONS reply for max-streams (1024)
 * streams of at most 48 characters each fits with room to spare; ws-queue-bytes' minimum is
 * twice this, so one reply can never by itself disconnect a client. */
#define API_REPLY_MAX 65536

typedef struct sub sub_t;

/* One accepted socket (HTTP or WS), for max-connections and max-connections-per-ip. */
typedef struct conn {
    struct lws *wsi;          /* NULL between the accept filter and lws's WSI_CREATE */
    unsigned char addr[16];   /* peer address (IPv4 mapped into IPv6) */
    int64_t since_ms;         /* accepted (monotonic) */
    int requested;            /* a complete request (or upgrade) was read */
    int evicting;             /* closing to make room: no longer counted */
} conn_t;
typedef struct sess sess_t;
typedef struct api_read api_read_t;   /* one store read handed to a reader thread (reader.h) */
typedef struct api_readers api_readers_t;

/* A watched (symbol, interval): what the API knows beyond the store. */
typedef struct pair {
    kl_kline_t live;
    int have_live;
    kl_kline_t fin[API_FINALS_KEEP]; /* ring, ascending open_time */
    unsigned fin_head, fin_n;
    sub_t *subs; /* WS subscriptions fed by this pair (direct or tz) */
    int64_t used_ms;
} pair_t;

/* A symbol's pairs are allocated when first used (a pair is about 9 KB) and freed when
 * unwatched; the symw_t itself sits in an LRU list and is evicted, idle first, when the API's
 * memory exceeds api-cache-bytes (hub.c). */
typedef struct symw {
    uint32_t sym;
    uint32_t n_waiters; /* REST requests waiting for this symbol's sync (pins it) */
    struct symw *lru_prev, *lru_next; /* prev: more recently used */
    uint32_t want;   /* mask last sent to the worker */
    uint32_t synced; /* intervals whose sync completed */
    uint32_t asked;  /* mask of the request in flight */
    uint32_t token;  /* its token; 0: none in flight */
    int64_t asked_ms; /* when it was sent (a lost answer is asked again) */
    uint16_t unit;
    uint64_t epoch; /* registry epoch of the last request */
    pair_t *pair[KL_IV_COUNT]; /* NULL: not used */
} symw_t;

/* A copy of a pair's memory, taken on the API thread and read by a reader thread: what the
 * store may not have yet (hub.c overlays it on the store's rows). */
typedef struct api_mem {
    kl_kline_t k[API_FINALS_KEEP + 1]; /* ascending: recent finals, then the live kline */
    size_t n;
    int have_live;
    int64_t live_open;
} api_mem_t;

/* One WS subscription of one session. */
struct sub {
    sess_t *s;
    kl_ws_stream_t st;
    char name[72]; /* canonical stream name */
    uint32_t sym;
    int src_iv; /* pair it reads (iv itself, or the tz base) */
    uint32_t unit; /* the symbol's time unit (1 or 1000) when subscribed */
    int direct;
    kl_tz_plan_t plan;
    kl_kline_t acc; /* tz: merge of the base finals of the current tz kline */
    int have_acc;
    int64_t tz_top; /* tz: open time of the newest tz kline pushed (corrections go below it) */
    int64_t q_slot; /* index of its pending live frame in the session queue, -1: none */
    api_read_t *seed; /* tz: the store read seeding acc, in flight (pushes wait for it) */
    int seeded;          /* tz: acc was seeded for the tz kline opening at seeded_open */
    int64_t seeded_open;
    sub_t *next_in_pair;
};

typedef struct qent {
    char *buf; /* LWS_PRE headroom + payload */
    size_t cap, len;
    sub_t *owner; /* live frame that may be replaced; NULL: must be sent as is */
} qent_t;

enum sess_kind { SESS_HTTP = 1, SESS_WS };
enum http_state { HTTP_IDLE, HTTP_WAIT_SYNC, HTTP_WAIT_READ, HTTP_HEADERS, HTTP_BODY };

/* lws per-session user data (zeroed by lws). */
struct sess {
    int kind;
    struct lws *wsi;
    /* HTTP */
    int state;
    int status;
    const char *ctype;
    char extra[160]; /* extra response headers, "Name: value\r\n"... */
    char acao[264];  /* Access-Control-Allow-Origin to send; "": none */
    kl_buf_t body;
    kl_buf_t req_body;
    int method; /* 'G','P','D' */
    char path[256];
    char qs[KL_API_QUERY_MAX + 1];
    size_t qs_len;
    kl_klines_query_t kq;
    int64_t wait_deadline_ms;
    uint32_t wait_sym;
    sess_t *wait_next;
    api_read_t *read; /* HTTP_WAIT_READ: the store read in flight for this request */
    int counted;
    /* WS */
    int combined;
    sub_t **subs;
    size_t n_subs;
    qent_t *q;
    size_t q_cap, q_head, q_n;
    int closing;
    size_t q_bytes;            /* bytes allocated for its queued frames (ws-queue-bytes) */
    sess_t *ws_prev, *ws_next; /* every WS session (the victim of the total byte cap) */
    int64_t next_push_ms;
    lws_sorted_usec_list_t push_sul;
};

struct kl_api {
    kl_api_deps_t d;
    const kl_config_t *cfg;
    struct lws_context *ctx;
    struct lws_http_mount mounts[7]; /* callback paths, then the chart page at / */
    int port;
    pthread_t thread;
    int started;
    _Atomic int stop;
    api_readers_t *readers; /* store reads, off this thread (reader.c) */
    kl_pubring_t *pub; /* one per worker */
    kl_pub_msg_t *drain;
    /* hub */
    symw_t **by_sym;
    size_t by_sym_cap;
    symw_t *lru_head, *lru_tail; /* head: most recently used */
    size_t cache_bytes, cache_symbols;
    uint32_t next_token;
    sess_t *waiters;
    lws_sorted_usec_list_t tick_sul;
    int n_sessions;
    sess_t *ws_list;    /* WS sessions */
    conn_t *conns;      /* accepted sockets, unordered; cap 2 * max-connections + 16 */
    size_t n_conns, conns_cap;
    int conn_pending;   /* index of the socket accepted but not yet created by lws; -1 */
    char **origins;     /* allowed-origins, parsed; NULL entry ends; origins_any: "*" */
    int origins_any;
    uint64_t conn_refused, conn_evicted, origin_refused;
    size_t ws_q_bytes;  /* sum of their q_bytes (ws-total-queue-bytes) */
    char *frame;     /* scratch for formatting one kline event */
    kl_ws_ctl_t *ctl; /* scratch for one parsed control message */
    /* metrics (API thread writes, /metrics reads on the same thread) */
    uint64_t http_requests, http_errors, ws_connects, ws_disconnects, ws_slow, ws_refused,
        ws_frames, ws_ctl, ws_ctl_errors, rest_klines, admin_denied, sync_timeouts,
        cache_evictions, reads_rejected, rows_refused, seeds_deferred,
        ws_total_drops;
    kl_hist_t lat_queue; /* kline updated (worker) -> WS frame queued */
};

/* server.c */
void api_http_reply(sess_t *s, int status, const char *ctype, const char *body, size_t len);
void api_http_error(sess_t *s, const kl_api_err_t *e);
void api_http_start(sess_t *s); /* the response in s is complete: send it */

/* hub.c */
int api_hub_init(kl_api_t *a);
void api_hub_fini(kl_api_t *a);
void api_hub_drain(kl_api_t *a);
void api_hub_tick(kl_api_t *a);
/* Makes sure (sym, iv) is watched; returns the pair when its sync is complete, else NULL (the
 * sync is under way; the caller waits for api_rest_ready). */
pair_t *api_hub_use(kl_api_t *a, uint32_t sym, int iv);
symw_t *api_hub_get(kl_api_t *a, uint32_t sym);
/* The symbol's entry if it exists (no allocation), else NULL. */
symw_t *api_hub_find(kl_api_t *a, uint32_t sym);
/* The pair (sym, iv) if it exists (no allocation), else NULL. */
pair_t *api_hub_pair(kl_api_t *a, uint32_t sym, int iv);
/* Copies the memory of (sym, iv) into *m (empty when the pair is not watched). */
void api_hub_mem(kl_api_t *a, uint32_t sym, int iv, api_mem_t *m);
void api_hub_unsub(kl_api_t *a, sub_t *u);
/* The klines of (symbol, iv) with lo <= open_time <= hi (in the symbol's unit, 1 or 1000): the
 * store's rows (read from st) overlaid with mem (the pair's recent finals and live kline, copied
 * by api_hub_mem), with the implied hole
 * klines of every gap filled in (engine/kfill.h: never before the series' first kline nor
 * after its live one), ascending; at most limit, the first ones, or the last ones when newest.
 * Costs O(limit) whatever the gaps' lengths (a caller without a limit passes SIZE_MAX and a
 * bounded window). *out is allocated (kl_free; NULL when there is none). 0 or a negative
 * error. */
int api_hub_klines(const kl_api_t *a, kl_store_t *st, const api_mem_t *mem, const char *symbol,
                   uint32_t unit, int iv, int64_t lo, int64_t hi, size_t limit, int newest,
                   kl_kline_t **out, size_t *n_out);
/* Reader thread: folds the base klines in [lo, hi] into *acc (have_acc 0 when there are
 * none), refusing a window of more than max-query-rows base klines (API_EROWS). */
int api_hub_seed(const kl_api_t *a, kl_store_t *st, const api_mem_t *mem, const char *symbol,
                 uint32_t unit, int iv, int64_t lo, int64_t hi, kl_kline_t *acc, int *have_acc);
int api_hub_sub(kl_api_t *a, sub_t *u);

/* rest.c */
void api_rest(kl_api_t *a, sess_t *s);
/* Reader thread: computes the answer of r (a klines request) into r->body / r->err. */
void api_rest_read(const kl_api_t *a, kl_store_t *st, api_read_t *r);
/* API thread: r's answer is ready (r->s is the session, never NULL here). */
void api_rest_done(kl_api_t *a, api_read_t *r);
void api_rest_ready(kl_api_t *a, sess_t *s, int timed_out); /* a waiting request can go on */
/* The session of s goes away (or is reused): forget its waiting or in-flight request. */
void api_rest_cancel(kl_api_t *a, sess_t *s);

/* ws.c */
int api_ws_open(kl_api_t *a, sess_t *s);
void api_ws_close(kl_api_t *a, sess_t *s);
int api_ws_rx(kl_api_t *a, sess_t *s, const char *in, size_t len);
int api_ws_writeable(kl_api_t *a, sess_t *s);
void api_ws_push(kl_api_t *a, sub_t *u, const kl_kline_t *k, int final, uint64_t t_ns);
/* API thread: the seed read r of subscription r->u completed. */
void api_ws_seed_done(kl_api_t *a, api_read_t *r);

/* guard.c: admission (connection caps, idle eviction) and the Origin check */
int api_guard_init(kl_api_t *a);
int api_guard_origins(kl_api_t *a); /* once a->port is known */
void api_guard_fini(kl_api_t *a);
/* 0: accept the socket; 1: refuse it (lws closes it at once). */
int api_conn_filter(kl_api_t *a, const struct lws_filter_network_conn_args *f);
void api_conn_created(kl_api_t *a, struct lws *wsi);
void api_conn_destroyed(kl_api_t *a, struct lws *wsi);
void api_conn_requested(kl_api_t *a, struct lws *wsi); /* no longer idle: never evicted */
size_t api_conn_count(const kl_api_t *a);
/* 1 when the request has no Origin or an allowed one (echo gets the value for
 * Access-Control-Allow-Origin, "" for none); 0 when its Origin is not allowed (counted). */
int api_origin_check(kl_api_t *a, struct lws *wsi, char *echo, size_t cap);

/* admin.c */
void api_admin(kl_api_t *a, sess_t *s);

/* ops.c */
void api_metrics(kl_api_t *a, sess_t *s);
void api_healthz(kl_api_t *a, sess_t *s);

#endif
