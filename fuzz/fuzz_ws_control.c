/* libFuzzer target for kl_ws_ctl_parse() and kl_ws_stream_parse(), which read WebSocket text
 * frames from any client. Beyond "no crash, no read past len", it checks: a failure carries one
 * of Binance's WS codes (0..3), a message, and an id that is "null" or a valid id token; the
 * error reply and the result reply are JSON our own scanner accepts as syntax (so never code 3);
 * whitespace around a frame changes neither the outcome nor the code; an accepted frame,
 * rewritten canonically from the parsed result, parses back to the same request; cutting an
 * accepted frame before its closing brace is always invalid JSON (code 3); and a stream name
 * that parses is echoed back as itself, lowercased. Any violation is a trap. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compiled into this target, not only linked from libkl, for coverage inside the parser. */
#include "api/apierr.c"
#include "api/wsctl.c"

#include "api/wsctl.h"
#include "core/interval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond))                                                                             \
            __builtin_trap();                                                                    \
    } while (0)

static kl_ws_ctl_t c1, c2;
static char big[KL_WS_FRAME_MAX + 16];

static int
id_token_ok(const char *id, size_t n)
{
    int t = n && id[0] == '"' ? JT_STR : n && id[0] == 'n' ? JT_NULL : JT_NUM;
    if (t == JT_NULL)
        return n == 4 && memcmp(id, "null", 4) == 0;
    if (t == JT_STR && (n < 2 || id[n - 1] != '"'))
        return 0;
    return id_valid(id, n, t);
}

/* Reply text must scan as JSON: fed back as a control frame it may be refused, never code 3. */
static void
check_reply_json(const char *buf, size_t n)
{
    kl_api_err_t e;
    CHECK(n > 0 && n == strlen(buf));
    if (kl_ws_ctl_parse(buf, n, &c2, &e) != 0)
        CHECK(e.code != 3);
}

static int
fz_parse(const char *s, size_t n, kl_ws_ctl_t *c, kl_api_err_t *e)
{
    memset(e, 0x5a, sizeof *e);
    int rc = kl_ws_ctl_parse(s, n, c, e);
    CHECK(rc == 0 || rc == -1);
    CHECK(c->id_len >= 1 && c->id_len <= sizeof c->id && id_token_ok(c->id, c->id_len));
    char buf[512];
    if (rc != 0) {
        CHECK(e->code >= 0 && e->code <= 3 && e->http == 0);
        size_t ml = strnlen(e->msg, sizeof e->msg);
        CHECK(ml > 0 && ml < sizeof e->msg);
        CHECK((n > KL_WS_FRAME_MAX) ==
              (strcmp(e->msg, "Invalid request: message longer than 65536 bytes") == 0));
        size_t bn = kl_ws_reply_error(e, c->id, c->id_len, buf, sizeof buf);
        check_reply_json(buf, bn);
        return rc;
    }
    CHECK(c->method >= KL_WS_SUBSCRIBE && c->method <= KL_WS_GET_PROPERTY);
    CHECK(c->n_params <= KL_WS_PARAMS_MAX);
    CHECK(c->combined == 0 || c->combined == 1);
    for (size_t k = 0; k < c->n_params; k++) {
        const kl_ws_stream_t *st = &c->params[k];
        size_t sl = strnlen(st->symbol, sizeof st->symbol);
        CHECK(sl >= 1 && sl < sizeof st->symbol);
        CHECK(st->iv >= 0 && st->iv < KL_IV_COUNT);
    }
    size_t bn = kl_ws_reply_null(c->id, c->id_len, buf, sizeof buf);
    check_reply_json(buf, bn);
    return 0;
}

static const char *const method_names[] = {"", "SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS",
                                           "SET_PROPERTY", "GET_PROPERTY"};

/* Writes the accepted request c canonically. */
static size_t
fz_write(const kl_ws_ctl_t *c, char *out, size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "{\"method\":\"%s\"", method_names[c->method]);
    if (c->method == KL_WS_SUBSCRIBE || c->method == KL_WS_UNSUBSCRIBE) {
        o += (size_t)snprintf(out + o, cap - o, ",\"params\":[");
        for (size_t k = 0; k < c->n_params; k++) {
            char name[64];
            kl_ws_stream_name(&c->params[k], name, sizeof name);
            o += (size_t)snprintf(out + o, cap - o, "%s\"%s\"", k ? "," : "", name);
        }
        o += (size_t)snprintf(out + o, cap - o, "]");
    } else if (c->method == KL_WS_SET_PROPERTY) {
        o += (size_t)snprintf(out + o, cap - o, ",\"params\":[\"combined\",%s]",
                              c->combined ? "true" : "false");
    } else if (c->method == KL_WS_GET_PROPERTY) {
        o += (size_t)snprintf(out + o, cap - o, ",\"params\":[\"combined\"]");
    }
    o += (size_t)snprintf(out + o, cap - o, ",\"id\":%.*s}", (int)c->id_len, c->id);
    CHECK(o < cap);
    return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    kl_api_err_t e, e2;

    /* The raw input as a stream name: echoed back as itself, symbol lowercased. */
    kl_ws_stream_t st;
    if (kl_ws_stream_parse(s, size, &st) == 0) {
        char name[64];
        size_t nn = kl_ws_stream_name(&st, name, sizeof name);
        CHECK(nn == size);
        int in_symbol = 1; /* only the symbol is lowercased: "1M" stays "1M" */
        for (size_t i = 0; i < size; i++) {
            char c = s[i];
            in_symbol &= c != '@';
            CHECK(name[i] == ((in_symbol && c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c));
        }
    }

    int rc = fz_parse(s, size, &c1, &e);

    /* Whitespace around the frame changes neither the outcome nor the code. */
    if (size + 3 <= KL_WS_FRAME_MAX) {
        big[0] = ' ';
        big[1] = '\n';
        memcpy(big + 2, data, size);
        big[size + 2] = '\t';
        static kl_ws_ctl_t c3;
        int rc2 = fz_parse(big, size + 3, &c3, &e2);
        CHECK(rc2 == rc);
        if (rc != 0) {
            CHECK(e2.code == e.code);
        } else {
            CHECK(c3.method == c1.method && c3.n_params == c1.n_params &&
                  c3.combined == c1.combined && c3.id_len == c1.id_len &&
                  memcmp(c3.id, c1.id, c1.id_len) == 0);
            CHECK(memcmp(c3.params, c1.params, c1.n_params * sizeof c1.params[0]) == 0);
        }
    }
    if (rc != 0)
        return 0;

    /* Canonical rewrite parses back to the same request. */
    size_t wn = fz_write(&c1, big, sizeof big);
    static kl_ws_ctl_t c4;
    CHECK(fz_parse(big, wn, &c4, &e2) == 0);
    CHECK(c4.method == c1.method && c4.n_params == c1.n_params && c4.combined == c1.combined &&
          c4.id_len == c1.id_len && memcmp(c4.id, c1.id, c1.id_len) == 0);
    CHECK(memcmp(c4.params, c1.params, c1.n_params * sizeof c1.params[0]) == 0);

    /* Cut before the closing brace: always invalid JSON. */
    size_t last = size;
    while (last > 0 && data[last - 1] != '}')
        last--;
    CHECK(last > 0);
    size_t cuts[4] = {0, last / 2, last - 1, (size_t)data[0] * 7 % last};
    for (int i = 0; i < 4; i++) {
        CHECK(kl_ws_ctl_parse(s, cuts[i], &c4, &e2) == -1);
        CHECK(e2.code == 3);
    }
    return 0;
}
