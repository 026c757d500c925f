/* GET /api/v3/...: ping, time, exchangeInfo, klines and uiKlines, answered as Binance answers
 * them. Klines come from the store overlaid with the watched pair's memory, implied hole klines
 * filled in (hub.c), so `limit` counts them too; a time zone other than the service's is folded
 * from the smaller service klines that tile it (engine/kmerge.h), filled the same way, so it
 * equals aggregating the trades in that zone. */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>

#include "api/kjson.h"
#include "api/reader.h"
#include "core/alloc.h"
#include "engine/kfill.h"
#include "core/log.h"
#include "kl/err.h"

/* Quote assets tried, longest first, when a symbol was configured by name only (the binance
 * source knows the real split from exchangeInfo; this is the API's best guess). */
static const char *const quote_guess[] = {"FDUSD", "USDT", "USDC", "TUSD", "BUSD", "USDP", "DAI",
                                          "EUR",   "TRY",  "BRL",  "GBP",  "JPY",  "BTC",  "ETH",
                                          "BNB",   "XRP",  "DOGE", "TRX",  "AUD",  NULL};

static void
split_assets(const kl_config_t *cfg, const char *name, char *base, char *quote, size_t cap)
{
    for (size_t i = 0; i < cfg->n_symbols; i++)
        if (strcmp(cfg->symbols[i].name, name) == 0 && cfg->symbols[i].base[0]) {
            snprintf(base, cap, "%s", cfg->symbols[i].base);
            snprintf(quote, cap, "%s", cfg->symbols[i].quote);
            return;
        }
    size_t n = strlen(name);
    for (int i = 0; quote_guess[i]; i++) {
        size_t q = strlen(quote_guess[i]);
        if (n > q && strcmp(name + n - q, quote_guess[i]) == 0) {
            snprintf(base, cap, "%.*s", (int)(n - q), name);
            snprintf(quote, cap, "%s", quote_guess[i]);
            return;
        }
    }
    snprintf(base, cap, "%s", name);
    quote[0] = '\0';
}

static void
exchange_info(kl_api_t *a, sess_t *s)
{
    size_t cap = 4096;
    kl_syminfo_t *v = NULL;
    size_t n;
    for (;;) { /* the list may grow between the count and the copy */
        kl_free(v);
        v = kl_alloc(cap * sizeof *v);
        if (!v) {
            s->body.oom = 1;
            api_http_start(s);
            return;
        }
        n = kl_symreg_list(a->d.reg, v, cap);
        if (n <= cap)
            break;
        cap = n + 64;
    }
    api_http_reply(s, 200, "application/json", "", 0);
    kl_buf_printf(&s->body,
                  "{\"timezone\":\"UTC\",\"serverTime\":%lld,\"rateLimits\":[],"
                  "\"exchangeFilters\":[],\"symbols\":[",
                  (long long)kl_now_ms());
    for (size_t i = 0; i < n; i++) {
        char base[KL_SYM_MAX], quote[KL_SYM_MAX];
        split_assets(a->cfg, v[i].name, base, quote, sizeof base);
        kl_buf_printf(
            &s->body,
            "%s{\"symbol\":\"%s\",\"status\":\"TRADING\",\"baseAsset\":\"%s\","
            "\"baseAssetPrecision\":8,\"quoteAsset\":\"%s\",\"quotePrecision\":8,"
            "\"quoteAssetPrecision\":8,\"baseCommissionPrecision\":8,"
            "\"quoteCommissionPrecision\":8,\"orderTypes\":[\"LIMIT\",\"MARKET\"],"
            "\"icebergAllowed\":false,\"ocoAllowed\":false,\"otoAllowed\":false,"
            "\"quoteOrderQtyMarketAllowed\":false,\"allowTrailingStop\":false,"
            "\"cancelReplaceAllowed\":false,\"isSpotTradingAllowed\":true,"
            "\"isMarginTradingAllowed\":false,\"filters\":["
            "{\"filterType\":\"PRICE_FILTER\",\"minPrice\":\"0.00000001\","
            "\"maxPrice\":\"1000000000.00000000\",\"tickSize\":\"0.00000001\"},"
            "{\"filterType\":\"LOT_SIZE\",\"minQty\":\"0.00000001\","
            "\"maxQty\":\"9000000000.00000000\",\"stepSize\":\"0.00000001\"}],"
            "\"permissions\":[],\"permissionSets\":[[\"SPOT\"]],"
            "\"defaultSelfTradePreventionMode\":\"NONE\","
            "\"allowedSelfTradePreventionModes\":[\"NONE\"]}",
            i ? "," : "", v[i].name, base, quote);
    }
    kl_buf_puts(&s->body, "]}");
    kl_free(v);
}

/* ---- klines ----------------------------------------------------------------------------- */

/* DESIGN. A klines request is checked on the API thread (query, symbol, interval), waits there
 * for the pair's first sync if it is new, and is then handed to a reader thread (reader.h) with
 * a copy of the pair's memory: the store reads, the merge, the fill and the fold, and the JSON,
 * run there; the API thread only writes the finished answer. A time-zone answer folds its base
 * klines in chunks of at most FOLD_CHUNK, so a reader holds O(FOLD_CHUNK + limit) klines
 * whatever the window; a window of more than max-query-rows base klines is refused (400). */

#define FOLD_CHUNK 65536 /* base klines per chunk of a tz fold */

static const kl_sched_t *
sched_of(const kl_api_t *a, uint32_t unit)
{
    return unit == 1000 ? a->d.sched_us : a->d.sched_ms;
}

static int
plan_for(kl_api_t *a, const kl_klines_query_t *q, uint32_t unit, kl_tz_plan_t *plan)
{
    const kl_sched_t *sch = sched_of(a, unit);
    int32_t tz = q->has_tz ? q->tz_minutes : a->cfg->tz_minutes;
    return kl_tz_plan(sch, q->iv, tz, plan);
}

static void
write_rows(kl_buf_t *b, const kl_kline_t *k, size_t n, int64_t unit)
{
    kl_buf_put(b, "[", 1);
    char row[KL_KJSON_MAX];
    for (size_t i = 0; i < n; i++) {
        if (i)
            kl_buf_put(b, ",", 1);
        kl_buf_put(b, row, kl_kjson_rest_row(&k[i], unit, row));
    }
    kl_buf_put(b, "]", 1);
}

static int64_t
mul_clamp(int64_t v, int64_t u)
{
    if (v > INT64_MAX / u)
        return INT64_MAX;
    if (v < INT64_MIN / u)
        return INT64_MIN;
    return v * u;
}

/* Direct: the service's own klines of the interval. */
static int
answer_direct(const kl_api_t *a, kl_store_t *st, api_read_t *r, kl_buf_t *b)
{
    const kl_klines_query_t *q = &r->kq;
    int64_t u = r->unit;
    int64_t lo = q->has_start ? mul_clamp(q->start_ms, u) : INT64_MIN;
    int64_t hi = q->has_end ? mul_clamp(q->end_ms, u) : INT64_MAX;
    kl_kline_t *k;
    size_t n;
    int rc = api_hub_klines(a, st, &r->mem, q->symbol, r->unit, q->iv, lo, hi, (size_t)q->limit,
                            !q->has_start, &k, &n);
    if (rc != 0)
        return rc;
    write_rows(b, k, n, u);
    kl_free(k);
    return 0;
}

/* Folds the base klines of the tz klines opening in [first, last_open] into out (cap), chunk
 * by chunk, each chunk whole tz klines. Returns 0 with *n_out, or an error. */
static int
fold_window(const kl_api_t *a, kl_store_t *st, api_read_t *r, int64_t first, int64_t last_open,
            kl_kline_t *out, size_t cap, size_t *n_out)
{
    const kl_tz_plan_t *p = &r->plan;
    const kl_ivspec_t *sp = &p->tz;
    const kl_sched_t *sch = sched_of(a, r->unit);
    const kl_ivspec_t *bspec = sch && sch->pos[p->base_iv] >= 0 ? &sch->spec[sch->pos[p->base_iv]]
                                                                 : NULL;
    int64_t hi_all = kl_iv_next(sp, last_open) - 1;
    if (bspec && kl_fill_slots(bspec, first, hi_all) > (size_t)a->cfg->max_query_rows)
        return API_EROWS;
    size_t n = 0;
    for (int64_t lo = first; lo <= hi_all && n < cap;) {
        int64_t next = kl_iv_next(sp, lo); /* one tz kline at least, then more while they fit */
        while (bspec && next <= hi_all) {
            int64_t nn = kl_iv_next(sp, next);
            if (kl_fill_slots(bspec, lo, nn - 1) > FOLD_CHUNK)
                break;
            next = nn;
        }
        int64_t hi = next - 1 < hi_all ? next - 1 : hi_all;
        kl_kline_t *base;
        size_t nb;
        /* The window is bounded by whole tz klines, so "no limit" on its base klines is too,
         * implied holes included. */
        int rc = api_hub_klines(a, st, &r->mem, r->kq.symbol, r->unit, p->base_iv, lo, hi,
                                SIZE_MAX, 0, &base, &nb);
        if (rc != 0)
            return rc;
        n += kl_tz_fold(p, base, nb, out + n, cap - n);
        kl_free(base);
        lo = next;
    }
    *n_out = n;
    return 0;
}

/* Another time zone: fold the base klines covering the wanted tz klines. */
static int
answer_tz(const kl_api_t *a, kl_store_t *st, api_read_t *r, kl_buf_t *b)
{
    const kl_klines_query_t *q = &r->kq;
    const kl_tz_plan_t *p = &r->plan;
    const kl_ivspec_t *sp = &p->tz;
    int64_t u = r->unit;
    int64_t first, last_open; /* tz open times of the first and last wanted klines */
    int64_t end = q->has_end ? mul_clamp(q->end_ms, u) : INT64_MAX;
    if (q->has_start) {
        int64_t t = mul_clamp(q->start_ms, u);
        first = kl_iv_open(sp, t);
        if (first < t)
            first = kl_iv_next(sp, first);
        last_open = first;
        for (int i = 1; i < q->limit; i++) {
            int64_t nx = kl_iv_next(sp, last_open);
            if (nx > end)
                break;
            last_open = nx;
        }
    } else {
        if (!q->has_end) { /* anchor: the newest base kline there is */
            kl_kline_t *k;
            size_t n;
            int rc = api_hub_klines(a, st, &r->mem, q->symbol, r->unit, p->base_iv, INT64_MIN,
                                    INT64_MAX, 1, 1, &k, &n);
            if (rc != 0)
                return rc;
            end = n ? k[0].open_time : 0;
            kl_free(k);
            if (!n) {
                write_rows(b, NULL, 0, u);
                return 0;
            }
        }
        last_open = kl_iv_open(sp, end);
        first = last_open;
        for (int i = 1; i < q->limit && first > 0; i++)
            first = kl_iv_open(sp, first - 1);
    }
    if (first > end) {
        write_rows(b, NULL, 0, u);
        return 0;
    }
    kl_kline_t *out = kl_alloc(((size_t)q->limit + 2) * sizeof *out);
    if (!out)
        return KL_ENOMEM;
    size_t n, from = 0;
    int rc = fold_window(a, st, r, first, last_open, out, (size_t)q->limit + 2, &n);
    if (rc != 0) {
        kl_free(out);
        return rc;
    }
    while (n > 0 && out[n - 1].open_time > end)
        n--;
    if (n > (size_t)q->limit)
        from = q->has_start ? 0 : n - (size_t)q->limit, n = (size_t)q->limit;
    write_rows(b, out + from, n, u);
    kl_free(out);
    return 0;
}

static void
body_error(api_read_t *r, const kl_api_err_t *e)
{
    char buf[320];
    size_t n = kl_api_err_json(e, buf, sizeof buf);
    r->body.len = LWS_PRE;
    r->body.oom = 0;
    kl_buf_put(&r->body, buf, n);
    r->status = e->http ? e->http : 400;
}

void
api_rest_read(const kl_api_t *a, kl_store_t *st, api_read_t *r)
{
    kl_buf_reserve(&r->body, LWS_PRE + 256);
    if (r->body.oom) {
        r->rc = KL_ENOMEM;
        return;
    }
    memset(r->body.p, 0, LWS_PRE);
    r->body.len = LWS_PRE;
    r->status = 200;
    int rc = r->plan.direct ? answer_direct(a, st, r, &r->body) : answer_tz(a, st, r, &r->body);
    r->rc = rc;
    if (rc == 0 && !r->body.oom)
        return;
    kl_api_err_t e;
    if (rc == API_EROWS) {
        kl_api_err_set(&e, 400, -1127,
                       "More than %lld klines to read for this query; ask for fewer (limit, "
                       "startTime/endTime) or a larger interval.",
                       (long long)a->cfg->max_query_rows);
    } else {
        if (rc == 0)
            rc = KL_ENOMEM;
        kl_log(KL_LOG_WARN, "api", "klines_failed", "symbol=%s interval=%s error=\"%s\"",
               r->kq.symbol, kl_iv_name(r->kq.iv), kl_strerror(rc));
        kl_api_err_set(&e, rc == KL_ENOMEM ? 503 : 500, -1000,
                       "An unknown error occurred while processing the request.");
    }
    body_error(r, &e);
}

void
api_rest_done(kl_api_t *a, api_read_t *r)
{
    sess_t *s = r->s;
    s->read = NULL;
    s->state = HTTP_IDLE;
    lws_set_timeout(s->wsi, NO_PENDING_TIMEOUT, 0);
    if (r->rc == API_EROWS)
        a->rows_refused++;
    kl_buf_free(&s->body);
    s->body = r->body; /* the answer, LWS_PRE headroom included, moves to the session */
    memset(&r->body, 0, sizeof r->body);
    s->status = r->status;
    s->ctype = "application/json";
    api_http_start(s);
}

/* Hands the checked request to a reader. */
static void
answer(kl_api_t *a, sess_t *s)
{
    kl_syminfo_t info;
    kl_api_err_t e;
    if (kl_symreg_lookup(a->d.reg, s->kq.symbol, KL_SYMREG_FIND, 0, &info) < 0 || !info.live) {
        kl_api_err_set(&e, 400, -1121, "Invalid symbol.");
        api_http_error(s, &e);
        return;
    }
    uint32_t unit = info.unit_per_ms ? info.unit_per_ms : 1;
    api_read_t *r = api_read_new();
    if (!r) {
        kl_api_err_set(&e, 503, -1000, "An unknown error occurred while processing the request.");
        api_http_error(s, &e);
        return;
    }
    if (plan_for(a, &s->kq, unit, &r->plan) != 0) {
        kl_free(r);
        kl_api_err_set(&e, 400, -1120, "Invalid interval.");
        api_http_error(s, &e);
        return;
    }
    r->kind = API_READ_REST;
    r->kq = s->kq;
    r->unit = unit;
    snprintf(r->symbol, sizeof r->symbol, "%s", s->kq.symbol);
    api_hub_mem(a, info.id, r->plan.direct ? s->kq.iv : r->plan.base_iv, &r->mem);
    /* Charged what its answer may weigh: limit rows of JSON. */
    size_t charge = LWS_PRE + 2 + (size_t)s->kq.limit * (KL_KJSON_MAX + 1);
    if (api_read_submit(a->readers, r, charge) != 0) {
        kl_free(r);
        a->reads_rejected++;
        kl_api_err_set(&e, 503, -1008,
                       "Server is currently overloaded with other requests. Please try again in "
                       "a few minutes.");
        api_http_error(s, &e);
        return;
    }
    r->s = s;
    s->read = r;
    s->state = HTTP_WAIT_READ;
    /* lws closes a request that has not answered within its timeout_secs (10 s); a read may
     * queue behind others and then take up to pg-statement-timeout-ms. */
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_HTTP_CONTENT, API_READ_WAIT_S);
}

static void
klines(kl_api_t *a, sess_t *s)
{
    kl_api_err_t e;
    a->rest_klines++;
    if (kl_api_parse_klines(s->qs, s->qs_len, &s->kq, &e) != 0) {
        api_http_error(s, &e);
        return;
    }
    kl_syminfo_t info;
    if (kl_symreg_lookup(a->d.reg, s->kq.symbol, KL_SYMREG_FIND, 0, &info) < 0 || !info.live) {
        kl_api_err_set(&e, 400, -1121, "Invalid symbol.");
        api_http_error(s, &e);
        return;
    }
    kl_tz_plan_t plan;
    if (plan_for(a, &s->kq, info.unit_per_ms ? info.unit_per_ms : 1, &plan) != 0) {
        kl_api_err_set(&e, 400, -1120, "Invalid interval.");
        api_http_error(s, &e);
        return;
    }
    if (api_hub_use(a, info.id, plan.direct ? s->kq.iv : plan.base_iv)) {
        answer(a, s);
        return;
    }
    symw_t *w = api_hub_get(a, info.id);
    if (!w) { /* out of memory: the store alone answers */
        answer(a, s);
        return;
    }
    /* First look at this pair: the worker sends what the store does not have yet. */
    w->n_waiters++;
    s->state = HTTP_WAIT_SYNC;
    s->wait_sym = info.id;
    s->wait_deadline_ms = kl_mono_ms() + API_SYNC_TIMEOUT_MS;
    s->wait_next = a->waiters;
    a->waiters = s;
}

void
api_rest_ready(kl_api_t *a, sess_t *s, int timed_out)
{
    if (timed_out)
        kl_log(KL_LOG_WARN, "api", "sync_timeout",
               "symbol=%s interval=%s action=\"answered from the store alone\"", s->kq.symbol,
               kl_iv_name(s->kq.iv));
    s->state = HTTP_IDLE;
    answer(a, s);
}

void
api_rest_cancel(kl_api_t *a, sess_t *s)
{
    if (s->state == HTTP_WAIT_SYNC) { /* unlink from the waiters */
        for (sess_t **pp = &a->waiters; *pp; pp = &(*pp)->wait_next)
            if (*pp == s) {
                *pp = s->wait_next;
                symw_t *w = api_hub_find(a, s->wait_sym);
                if (w && w->n_waiters)
                    w->n_waiters--;
                break;
            }
    } else if (s->state == HTTP_WAIT_READ) { /* its answer will be dropped, not written */
        api_read_abandon(s->read);
        s->read = NULL;
    }
    s->state = HTTP_IDLE;
}

void
api_rest(kl_api_t *a, sess_t *s)
{
    const char *p = s->path;
    char buf[64];
    if (strcmp(p, "/api/v3/ping") == 0) {
        api_http_reply(s, 200, "application/json", "{}", 2);
    } else if (strcmp(p, "/api/v3/time") == 0) {
        int n = snprintf(buf, sizeof buf, "{\"serverTime\":%lld}", (long long)kl_now_ms());
        api_http_reply(s, 200, "application/json", buf, (size_t)n);
    } else if (strcmp(p, "/api/v3/exchangeInfo") == 0) {
        exchange_info(a, s);
    } else if (strcmp(p, "/api/v3/klines") == 0 || strcmp(p, "/api/v3/uiKlines") == 0) {
        klines(a, s);
    } else {
        kl_api_err_t e;
        kl_api_err_set(&e, 404, -1000, "Not found: %s", p);
        api_http_error(s, &e);
    }
}
