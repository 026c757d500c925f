/* /admin: add, remove and list symbols, and request a snapshot, through the service's runtime
 * commands. Every request needs "Authorization: Bearer <token>" with the configured token
 * (admin-token or KLINED_ADMIN_TOKEN), compared in constant time: 401 without credentials, 403
 * with wrong ones or when no token is configured at all. */
#include "api/api_int.h"
#include "api/adminbody.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/log.h"
#include "kl/err.h"
#include "serve/service.h"

/* Constant time: the same KL_CFG_TOKEN_MAX bytes are compared whatever the tokens hold and
 * however long the given one is; a length mismatch is folded into the result, never returned
 * early. */
static int
token_equal(const char *want, size_t wn, const char *got, size_t gn)
{
    volatile unsigned char diff = (unsigned char)((wn != gn) | (wn == 0));
    for (size_t i = 0; i < KL_CFG_TOKEN_MAX; i++) {
        unsigned char w = i < wn ? (unsigned char)want[i] : 0;
        unsigned char g = i < gn ? (unsigned char)got[i] : 0;
        diff |= (unsigned char)(w ^ g);
    }
    return diff == 0;
}

static kl_ratelimit_t rl_denied; /* API thread only */

/* Returns 1 when the request carries the admin token; otherwise answers it (401/403). */
static int
authorized(kl_api_t *a, sess_t *s)
{
    char h[512];
    int n = lws_hdr_copy(s->wsi, h, sizeof h, WSI_TOKEN_HTTP_AUTHORIZATION);
    kl_api_err_t e;
    if (n <= 0 || strncmp(h, "Bearer ", 7) != 0) {
        a->admin_denied++;
        snprintf(s->extra, sizeof s->extra, "Bearer realm=\"klined admin\"");
        kl_api_err_set(&e, 401, -2014, "API-key format invalid.");
        api_http_error(s, &e);
        return 0;
    }
    const char *tok = a->cfg->admin_token;
    if (!tok || !token_equal(tok, strlen(tok), h + 7, (size_t)n - 7)) {
        a->admin_denied++;
        uint64_t supp;
        if (kl_ratelimit_ok(&rl_denied, 1000, &supp)) /* a token guesser must not flood it */
            kl_log(KL_LOG_WARN, "api", "admin_denied", "path=\"%.100s\" reason=\"%s\" "
                   "suppressed=%llu", s->path, tok ? "wrong token" : "no admin token configured",
                   (unsigned long long)supp);
        kl_api_err_set(&e, 403, -2015, "Invalid API-key, IP, or permissions for action.");
        api_http_error(s, &e);
        return 0;
    }
    return 1;
}

/* The symbol of a POST: ?symbol=, or a body: JSON {"symbol":"..."} (when it starts with '{',
 * read by the strict parser of adminbody.h) or a form symbol=. BASE/QUOTE is accepted and
 * served as BASEQUOTE. Returns 0, or -1 when none (or a malformed body) was given. */
static int
post_symbol(sess_t *s, char *out, size_t cap)
{
    char v[64];
    int n = kl_api_query_param(s->qs, s->qs_len, "symbol", v, sizeof v);
    if (n < 0 && s->req_body.len) {
        const char *b = s->req_body.p;
        size_t i = 0;
        while (i < s->req_body.len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
            i++;
        if (i < s->req_body.len && b[i] == '{')
            n = kl_admin_body_symbol(b, s->req_body.len, v, sizeof v) == 1 ? (int)strlen(v) : -1;
        else
            n = kl_api_query_param(b, s->req_body.len, "symbol", v, sizeof v);
    }
    if (n <= 0)
        return -1;
    size_t j = 0;
    for (int i = 0; i < n && j + 1 < cap; i++)
        if (v[i] != '/')
            out[j++] = (char)toupper((unsigned char)v[i]);
    out[j] = '\0';
    return 0;
}

static void
reply_json(sess_t *s, int status, const char *fmt, const char *arg)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, fmt, arg);
    api_http_reply(s, status, "application/json", buf, (size_t)n);
}

void
api_admin(kl_api_t *a, sess_t *s)
{
    if (!authorized(a, s))
        return;
    kl_api_err_t e;
    const char *p = s->path;
    char sym[KL_SYM_MAX];
    int rc;
    if (strcmp(p, "/admin/symbols") == 0 && s->method == 'G') {
        size_t cap = 1024, n;
        kl_syminfo_t *v = NULL;
        for (;;) {
            kl_free(v);
            v = kl_alloc(cap * sizeof *v);
            n = v ? kl_service_list_symbols(a->d.svc, v, cap) : 0;
            if (!v || n <= cap)
                break;
            cap = n + 64;
        }
        api_http_reply(s, 200, "application/json", "{\"symbols\":[", 12);
        for (size_t i = 0; v && i < n; i++)
            kl_buf_printf(&s->body, "%s{\"symbol\":\"%s\",\"worker\":%d}", i ? "," : "",
                          v[i].name, v[i].worker);
        kl_buf_puts(&s->body, "]}");
        if (!v)
            s->body.oom = 1;
        kl_free(v);
    } else if (strcmp(p, "/admin/symbols") == 0 && s->method == 'P') {
        if (post_symbol(s, sym, sizeof sym) != 0) {
            kl_api_err_set(&e, 400, -1102,
                           "Mandatory parameter 'symbol' was not sent, was empty/null, or "
                           "malformed.");
            api_http_error(s, &e);
        } else if ((rc = kl_service_add_symbol(a->d.svc, sym)) == KL_SERVICE_ADD_PENDING) {
            /* Its series is read from the store first: served in a moment, not yet. */
            reply_json(s, 202, "{\"added\":\"%s\",\"pending\":true}", sym);
        } else if (rc == KL_EFULL || rc == KL_ESHUTDOWN) {
            kl_api_err_set(&e, 429, -1003, "Too many re-adds waiting for the store: %s (%s)", sym,
                           kl_strerror(rc));
            api_http_error(s, &e);
        } else if (rc != 0) {
            kl_api_err_set(&e, 400, -1121, "Invalid symbol: %s (%s)", sym,
                           rc == KL_ESHARD || rc == KL_ESYMLIMIT ? kl_strerror(rc)
                                           : "malformed, already served or being re-added");
            api_http_error(s, &e);
        } else {
            reply_json(s, 200, "{\"added\":\"%s\"}", sym);
        }
    } else if (strncmp(p, "/admin/symbols/", 15) == 0 && s->method == 'D') {
        snprintf(sym, sizeof sym, "%s", p + 15);
        for (char *c = sym; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        if (kl_service_remove_symbol(a->d.svc, sym) != 0) {
            kl_api_err_set(&e, 404, -1121, "Invalid symbol (not served): %s", sym);
            api_http_error(s, &e);
        } else {
            reply_json(s, 200, "{\"removed\":\"%s\"}", sym);
        }
    } else if (strcmp(p, "/admin/snapshot") == 0 && s->method == 'P') {
        kl_service_snapshot(a->d.svc);
        reply_json(s, 202, "{\"snapshot\":\"%s\"}", "requested");
    } else {
        kl_api_err_set(&e, 404, -1000, "Not found: %s %s",
                       s->method == 'G' ? "GET" : s->method == 'P' ? "POST" : "DELETE", p);
        api_http_error(s, &e);
    }
}
