/* Kline stream names and the live SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY /
 * GET_PROPERTY control frames of Binance's WebSocket streams, with Binance's replies. A small
 * strict JSON scanner for this one object shape: no allocation, bounded input and depth.
 *
 * Binance's behaviour, from binance/binance-spot-api-docs web-socket-streams.md ("Live
 * Subscribing/Unsubscribing to streams", "Error Messages") and replies quoted in public code:
 * - Replies: {"result":null,"id":N}; LIST_SUBSCRIPTIONS {"result":["btcusdt@kline_1m"],"id":N};
 *   errors {"error":{"code":C,"msg":"..."},"id":N} (observed:
 *   {"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":2}).
 * - id: a 64-bit signed integer, an alphanumeric string of at most 36 characters, or null
 *   (docs). We also let '-' through in strings, since 36 is the length of a UUID. Absent or of
 *   another type: code 2 "Invalid request: request ID must be an unsigned integer" (docs).
 *   The reply echoes the id token as sent; an error echoes it only when it was read and valid
 *   before the error, else null.
 * - Binance's server parses with serde_json, and its errors carry serde's text and position
 *   ("at line L column C", column = bytes into the line, as serde counts them):
 *   bad JSON: code 3 "Invalid JSON: <serde reason> at line L column C" (docs: "expected value
 *   at line %s column %s"); unknown method: code 2 "Invalid request: unknown variant `X`,
 *   expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`,
 *   `GET_PROPERTY` at line L column C" (docs); no method: code 2 "Invalid request: missing
 *   field `method` at line L column C" (docs). We report the first of these in document order
 *   as serde would; the reasons and positions follow serde_json's (best effort, corner cases
 *   of number and surrogate errors may differ). A duplicate member is serde's "duplicate field
 *   `X`"; unknown members are ignored (serde's default), but must be valid JSON.
 * - SUBSCRIBE / UNSUBSCRIBE: params an array of stream names; no params: code 2 "Invalid
 *   request: missing field `params` ...". A name Binance would not know: code 2 "Invalid
 *   request: invalid stream" (observed). A well-formed Binance stream we do not serve
 *   (btcusdt@trade, btcusdt@depth, !ticker@arr): code 2 "Invalid request: invalid stream `X`:
 *   klined serves only <symbol>@kline_<interval> streams" (our text, same code and prefix).
 *   More than KL_WS_PARAMS_MAX (1024, Binance's per-connection stream cap) in one frame, or
 *   params where a method takes none or fewer: code 2 "Invalid request: too many parameters".
 * - Stream names: docs say symbols are lowercase; we accept any case (and echo lowercase).
 *   Offset suffix "@+08:00" (docs: "<symbol>@kline_<interval>@+08:00"); we accept any
 *   [+-]HH:MM in -12:00..+14:00, exact form only, so the canonical name equals the name sent.
 * - SET_PROPERTY ["combined", bool] / GET_PROPERTY ["combined"] (docs): name not a string or
 *   missing: code 2 "Invalid request: property name must be a string"; another name: code 0
 *   "Unknown property"; value not a boolean: code 1 "Invalid value type: expected Boolean".
 * - Frames over KL_WS_FRAME_MAX: code 2 "Invalid request: message longer than 65536 bytes"
 *   (our cap; Binance's is not documented). Top-level value not an object: code 2 "Invalid
 *   request: expected a JSON object" (ours; serde's wording would name the struct). */
#include "api/wsctl.h"

#include <stdio.h>
#include <string.h>

#include "core/interval.h"

#define JS_DEPTH_MAX 128 /* serde_json's recursion limit: 127 nested arrays/objects pass */
#define ID_STR_MAX 36

/* ---- stream names ---- */

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int
kl_ws_stream_parse(const char *s, size_t n, kl_ws_stream_t *out)
{
    memset(out, 0, sizeof *out);
    const char *at = memchr(s, '@', n);
    if (!at)
        return -1;
    size_t sn = (size_t)(at - s);
    if (sn < 1 || sn >= sizeof out->symbol)
        return -1;
    for (size_t i = 0; i < sn; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!(c >= 'A' && c <= 'Z') && !is_digit(c))
            return -1;
        out->symbol[i] = c;
    }
    const char *p = at + 1;
    size_t rest = n - sn - 1;
    if (rest < 6 || memcmp(p, "kline_", 6) != 0)
        return -1;
    p += 6;
    rest -= 6;
    const char *at2 = memchr(p, '@', rest);
    size_t ivn = at2 ? (size_t)(at2 - p) : rest;
    int iv = kl_iv_parse(p, ivn);
    if (iv < 0)
        return -1;
    out->iv = iv;
    if (at2) {
        const char *t = at2 + 1;
        size_t tn = rest - ivn - 1;
        if (tn != 6 || (t[0] != '+' && t[0] != '-') || !is_digit(t[1]) || !is_digit(t[2]) ||
            t[3] != ':' || !is_digit(t[4]) || !is_digit(t[5]))
            return -1;
        int h = (t[1] - '0') * 10 + (t[2] - '0'), m = (t[4] - '0') * 10 + (t[5] - '0');
        int32_t tz = (int32_t)((t[0] == '-' ? -1 : 1) * (h * 60 + m));
        if (m > 59 || (t[0] == '-' && tz == 0) || tz < KL_TZ_MIN_MINUTES ||
            tz > KL_TZ_MAX_MINUTES)
            return -1;
        out->tz_minutes = tz;
        out->has_tz = 1;
    }
    return 0;
}

size_t
kl_ws_stream_name(const kl_ws_stream_t *st, char *buf, size_t cap)
{
    if (cap == 0)
        return 0;
    buf[0] = '\0';
    if (st->iv < 0 || st->iv >= KL_IV_COUNT)
        return 0;
    char sym[sizeof st->symbol];
    size_t i;
    for (i = 0; i + 1 < sizeof sym && st->symbol[i]; i++) {
        char c = st->symbol[i];
        sym[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    sym[i] = '\0';
    int n;
    if (st->has_tz) {
        int32_t a = st->tz_minutes < 0 ? -st->tz_minutes : st->tz_minutes;
        n = snprintf(buf, cap, "%s@kline_%s@%c%02d:%02d", sym, kl_iv_name(st->iv),
                     st->tz_minutes < 0 ? '-' : '+', (int)(a / 60), (int)(a % 60));
    } else {
        n = snprintf(buf, cap, "%s@kline_%s", sym, kl_iv_name(st->iv));
    }
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

/* ---- JSON scanner (serde_json's grammar, error texts and positions) ---- */

enum jt { JT_NULL = 1, JT_TRUE, JT_FALSE, JT_NUM, JT_STR, JT_ARR, JT_OBJ };

typedef struct js {
    const char *s;
    size_t n, i;
    int depth;
    const char *what; /* serde_json's reason */
    size_t at;        /* serde_json's error index: line and column are derived from it */
} js_t;

static int
js_err(js_t *j, const char *what, size_t at)
{
    j->what = what;
    j->at = at > j->n ? j->n : at;
    return -1;
}

/* serde's peek_error: the position of the offending byte itself. */
static int
js_peek_err(js_t *j, const char *what)
{
    return js_err(j, what, j->i + 1);
}

static void
js_ws(js_t *j)
{
    while (j->i < j->n) {
        char c = j->s[j->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        j->i++;
    }
}

static void
pos_of(const char *s, size_t at, size_t *line, size_t *col)
{
    *line = 1;
    *col = 0;
    for (size_t k = 0; k < at; k++) {
        if (s[k] == '\n') {
            (*line)++;
            *col = 0;
        } else {
            (*col)++;
        }
    }
}

/* Four hex digits at s. Returns 0, or 1 + the index of the first bad digit. */
static int
hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        int d = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                        : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0)
            return k + 1;
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return 0;
}

/* serde_json's \uXXXX: j->i on the first hex digit; the error is at the bad digit. */
static int
js_hex4(js_t *j, unsigned *cp)
{
    if (j->n - j->i < 4)
        return js_err(j, "EOF while parsing a string", j->n);
    int bad = hex4(j->s + j->i, cp);
    if (bad)
        return js_err(j, "invalid escape", j->i + (size_t)bad);
    j->i += 4;
    return 0;
}

static void
emit(char *out, size_t cap, size_t *o, unsigned char b)
{
    if (out && *o < cap)
        out[*o] = (char)b;
    (*o)++;
}

static void
emit_cp(char *out, size_t cap, size_t *o, unsigned cp)
{
    if (cp < 0x80) {
        emit(out, cap, o, (unsigned char)cp);
    } else if (cp < 0x800) {
        emit(out, cap, o, (unsigned char)(0xc0 | (cp >> 6)));
        emit(out, cap, o, (unsigned char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        emit(out, cap, o, (unsigned char)(0xe0 | (cp >> 12)));
        emit(out, cap, o, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
        emit(out, cap, o, (unsigned char)(0x80 | (cp & 0x3f)));
    } else {
        emit(out, cap, o, (unsigned char)(0xf0 | (cp >> 18)));
        emit(out, cap, o, (unsigned char)(0x80 | ((cp >> 12) & 0x3f)));
        emit(out, cap, o, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
        emit(out, cap, o, (unsigned char)(0x80 | (cp & 0x3f)));
    }
}

/* Reads the string at j->i (on its opening quote). Decoded bytes go to out[0..cap) when out is
 * given; *len gets the full decoded length (which may exceed cap). */
static int
js_string(js_t *j, char *out, size_t cap, size_t *len)
{
    static const char eof[] = "EOF while parsing a string";
    size_t o = 0;
    j->i++;
    for (;;) {
        if (j->i >= j->n)
            return js_err(j, eof, j->n);
        unsigned char c = (unsigned char)j->s[j->i];
        if (c == '"') {
            j->i++;
            break;
        }
        if (c < 0x20)
            return js_err(j, "control character (\\u0000-\\u001F) found while parsing a string",
                          j->i + 1);
        if (c >= 0x80) {
            size_t l = kl_api_utf8_len(j->s + j->i, j->n - j->i);
            if (l == 0)
                return js_err(j, "invalid unicode code point", j->i + 1);
            for (size_t k = 0; k < l; k++)
                emit(out, cap, &o, (unsigned char)j->s[j->i + k]);
            j->i += l;
            continue;
        }
        j->i++;
        if (c != '\\') {
            emit(out, cap, &o, c);
            continue;
        }
        if (j->i >= j->n)
            return js_err(j, eof, j->n);
        char e = j->s[j->i++];
        unsigned cp;
        switch (e) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u': {
            static const char lone[] = "lone leading surrogate in hex escape",
                              end[] = "unexpected end of hex escape";
            if (js_hex4(j, &cp) != 0)
                return -1;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return js_err(j, lone, j->i);
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned lo;
                for (const char *want = "\\u"; *want; want++) {
                    if (j->i >= j->n)
                        return js_err(j, eof, j->n);
                    if (j->s[j->i++] != *want)
                        return js_err(j, end, j->i);
                }
                if (js_hex4(j, &lo) != 0)
                    return -1;
                if (lo < 0xdc00 || lo > 0xdfff)
                    return js_err(j, lone, j->i);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            break;
        }
        default:
            return js_err(j, "invalid escape", j->i);
        }
        emit_cp(out, cap, &o, cp);
    }
    if (len)
        *len = o;
    return 0;
}

static int
js_number(js_t *j)
{
    static const char bad[] = "invalid number", eof[] = "EOF while parsing a value";
    const char *s = j->s;
    size_t i = j->i, n = j->n;
    if (s[i] == '-' && ++i >= n)
        return js_err(j, eof, n);
    if (s[i] == '0') {
        i++;
        if (i < n && is_digit(s[i]))
            return js_err(j, bad, i + 1);
    } else if (is_digit(s[i])) {
        while (i < n && is_digit(s[i]))
            i++;
    } else {
        return js_err(j, bad, i + 1);
    }
    if (i < n && s[i] == '.') {
        if (++i >= n)
            return js_err(j, eof, n);
        if (!is_digit(s[i]))
            return js_err(j, bad, i + 1);
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n)
            return js_err(j, eof, n);
        if (!is_digit(s[i]))
            return js_err(j, bad, i + 1);
        while (i < n && is_digit(s[i]))
            i++;
    }
    j->i = i;
    return 0;
}

static int
js_lit(js_t *j, const char *word)
{
    size_t k = strlen(word);
    for (size_t m = 1; m < k; m++) {
        size_t i = j->i + m;
        if (i >= j->n)
            return js_err(j, "EOF while parsing a value", j->n);
        if (j->s[i] != word[m])
            return js_err(j, "expected ident", i + 1);
    }
    j->i += k;
    return 0;
}

static int js_value(js_t *j, int *type);

static int
js_array(js_t *j)
{
    if (++j->depth >= JS_DEPTH_MAX)
        return js_peek_err(j, "recursion limit exceeded");
    j->i++;
    js_ws(j);
    if (j->i >= j->n)
        return js_err(j, "EOF while parsing a list", j->n);
    if (j->s[j->i] != ']') {
        for (;;) {
            int t;
            if (js_value(j, &t) != 0)
                return -1;
            js_ws(j);
            if (j->i >= j->n)
                return js_err(j, "EOF while parsing a list", j->n);
            if (j->s[j->i] == ']')
                break;
            if (j->s[j->i] != ',')
                return js_peek_err(j, "expected `,` or `]`");
            j->i++;
            js_ws(j);
            if (j->i >= j->n)
                return js_err(j, "EOF while parsing a value", j->n);
            if (j->s[j->i] == ']')
                return js_peek_err(j, "trailing comma");
        }
    }
    j->i++;
    j->depth--;
    return 0;
}

/* After a member's value: consumes ',' (leaving j->i on the next key) or '}'. Returns 1 for a
 * next member, 0 at the end of the object, -1 on error. */
static int
js_obj_next(js_t *j)
{
    js_ws(j);
    if (j->i >= j->n)
        return js_err(j, "EOF while parsing an object", j->n);
    if (j->s[j->i] == '}') {
        j->i++;
        return 0;
    }
    if (j->s[j->i] != ',')
        return js_peek_err(j, "expected `,` or `}`");
    j->i++;
    js_ws(j);
    if (j->i >= j->n)
        return js_err(j, "EOF while parsing a value", j->n);
    if (j->s[j->i] == '}')
        return js_peek_err(j, "trailing comma");
    if (j->s[j->i] != '"')
        return js_peek_err(j, "key must be a string");
    return 1;
}

/* On '{': consumes it and whitespace. Returns 1 when a key follows, 0 for "{}", -1 on error. */
static int
js_obj_open(js_t *j)
{
    j->i++;
    js_ws(j);
    if (j->i >= j->n)
        return js_err(j, "EOF while parsing an object", j->n);
    if (j->s[j->i] == '}') {
        j->i++;
        return 0;
    }
    if (j->s[j->i] != '"')
        return js_peek_err(j, "key must be a string");
    return 1;
}

/* After a key: the ':' and the whitespace after it. */
static int
js_colon(js_t *j)
{
    js_ws(j);
    if (j->i >= j->n)
        return js_err(j, "EOF while parsing an object", j->n);
    if (j->s[j->i] != ':')
        return js_peek_err(j, "expected `:`");
    j->i++;
    js_ws(j);
    return 0;
}

static int
js_object(js_t *j)
{
    if (++j->depth >= JS_DEPTH_MAX)
        return js_peek_err(j, "recursion limit exceeded");
    int more = js_obj_open(j);
    while (more == 1) {
        int t;
        if (js_string(j, NULL, 0, NULL) != 0 || js_colon(j) != 0 || js_value(j, &t) != 0)
            return -1;
        more = js_obj_next(j);
    }
    if (more < 0)
        return -1;
    j->depth--;
    return 0;
}

static int
js_value(js_t *j, int *type)
{
    js_ws(j);
    if (j->i >= j->n)
        return js_err(j, "EOF while parsing a value", j->n);
    switch (j->s[j->i]) {
    case 'n':
        *type = JT_NULL;
        return js_lit(j, "null");
    case 't':
        *type = JT_TRUE;
        return js_lit(j, "true");
    case 'f':
        *type = JT_FALSE;
        return js_lit(j, "false");
    case '"':
        *type = JT_STR;
        return js_string(j, NULL, 0, NULL);
    case '[':
        *type = JT_ARR;
        return js_array(j);
    case '{':
        *type = JT_OBJ;
        return js_object(j);
    default:
        if (j->s[j->i] == '-' || is_digit(j->s[j->i])) {
            *type = JT_NUM;
            return js_number(j);
        }
        return js_peek_err(j, "expected value");
    }
}

/* Iterates a validated array: first call with first=1 on its '['. Returns 1 when an element
 * starts at j->i, 0 past the closing ']'. */
static int
arr_next(js_t *j, int first)
{
    if (first)
        j->i++;
    js_ws(j);
    if (j->s[j->i] == ']') {
        j->i++;
        return 0;
    }
    if (!first && j->s[j->i] == ',') {
        j->i++;
        js_ws(j);
    }
    return 1;
}

/* ---- control frames ---- */

static int
ctl_fail(kl_api_err_t *err, int code, const char *msg)
{
    kl_api_err_set(err, 0, code, "%s", msg);
    return -1;
}

/* Code 3 (syntax) or 2 (a serde-detected request error), with serde's position suffix. */
static int
ctl_fail_at(kl_api_err_t *err, int code, const js_t *j, const char *fmt_what, const char *arg,
            size_t at)
{
    size_t line, col;
    pos_of(j->s, at, &line, &col);
    char what[160];
    snprintf(what, sizeof what, fmt_what, arg ? arg : "");
    kl_api_err_set(err, 0, code, "%s: %s at line %zu column %zu",
                   code == 3 ? "Invalid JSON" : "Invalid request", what, line, col);
    return -1;
}

static int
ctl_syntax(kl_api_err_t *err, const js_t *j)
{
    return ctl_fail_at(err, 3, j, "%s", j->what, j->at);
}

static int
id_valid(const char *t, size_t n, int type)
{
    if (type == JT_NULL)
        return 1;
    if (type == JT_STR) {
        if (n - 2 > ID_STR_MAX)
            return 0;
        for (size_t k = 1; k + 1 < n; k++) {
            char c = t[k];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-'))
                return 0;
        }
        return 1;
    }
    if (type != JT_NUM)
        return 0;
    /* A JSON number without fraction or exponent that fits int64. */
    size_t k = t[0] == '-';
    if (k == n || n - k > 19)
        return 0;
    for (size_t m = k; m < n; m++)
        if (!is_digit(t[m]))
            return 0;
    if (n - k == 19) {
        const char *max = k ? "9223372036854775808" : "9223372036854775807";
        if (memcmp(t + k, max, 19) > 0)
            return 0;
    }
    return 1;
}

static const struct {
    const char *name;
    int method;
} methods[] = {
    {"SUBSCRIBE", KL_WS_SUBSCRIBE},         {"UNSUBSCRIBE", KL_WS_UNSUBSCRIBE},
    {"LIST_SUBSCRIPTIONS", KL_WS_LIST_SUBSCRIPTIONS}, {"SET_PROPERTY", KL_WS_SET_PROPERTY},
    {"GET_PROPERTY", KL_WS_GET_PROPERTY},
};

/* Whether a name that is not a kline stream still looks like one of Binance's streams
 * ("btcusdt@trade", "!ticker@arr"): then the refusal says that we serve klines only. */
static int
looks_like_binance_stream(const char *s, size_t n)
{
    const char *at = memchr(s, '@', n);
    if (!at || at == s || at + 1 == s + n)
        return 0;
    for (size_t k = 0; k < n; k++) {
        char c = s[k];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '@' ||
              c == '_' || c == '!' || c == '+' || c == '-' || c == ':'))
            return 0;
    }
    size_t sn = (size_t)(at - s);
    return !(n - sn - 1 >= 6 && memcmp(at + 1, "kline_", 6) == 0);
}

static int
parse_streams(js_t *j, kl_ws_ctl_t *out, kl_api_err_t *err)
{
    size_t k = 0;
    for (int more = arr_next(j, 1); more; more = arr_next(j, 0)) {
        if (k == KL_WS_PARAMS_MAX)
            return ctl_fail(err, 2, "Invalid request: too many parameters");
        if (j->s[j->i] != '"')
            return ctl_fail(err, 2, "Invalid request: invalid stream");
        char name[72];
        size_t len;
        js_string(j, name, sizeof name, &len);
        if (len > sizeof name || kl_ws_stream_parse(name, len, &out->params[k]) != 0) {
            if (len <= 40 && looks_like_binance_stream(name, len)) {
                kl_api_err_set(err, 0, 2,
                               "Invalid request: invalid stream `%.*s`: klined serves only "
                               "<symbol>@kline_<interval> streams",
                               (int)len, name);
                return -1;
            }
            return ctl_fail(err, 2, "Invalid request: invalid stream");
        }
        k++;
    }
    out->n_params = k;
    return 0;
}

/* SET_PROPERTY (want_value) or GET_PROPERTY params. */
static int
parse_property(js_t *j, int present, int type, int want_value, kl_ws_ctl_t *out,
               kl_api_err_t *err)
{
    static const char not_str[] = "Invalid request: property name must be a string";
    if (!present || type != JT_ARR || !arr_next(j, 1) || j->s[j->i] != '"')
        return ctl_fail(err, 2, not_str);
    char name[16];
    size_t len;
    js_string(j, name, sizeof name, &len);
    int vt = 0, n_extra = 0;
    if (arr_next(j, 0)) {
        js_value(j, &vt);
        while (arr_next(j, 0)) {
            int t;
            js_value(j, &t);
            n_extra++;
        }
    }
    if (n_extra > 0 || (!want_value && vt != 0))
        return ctl_fail(err, 2, "Invalid request: too many parameters");
    if (len != 8 || memcmp(name, "combined", 8) != 0)
        return ctl_fail(err, 0, "Unknown property");
    if (want_value) {
        if (vt != JT_TRUE && vt != JT_FALSE)
            return ctl_fail(err, 1, "Invalid value type: expected Boolean");
        out->combined = vt == JT_TRUE;
    }
    return 0;
}

int
kl_ws_ctl_parse(const char *msg, size_t len, kl_ws_ctl_t *out, kl_api_err_t *err)
{
    memcpy(out->id, "null", 4);
    out->id_len = 4;
    out->method = 0;
    out->combined = 0;
    out->n_params = 0;
    if (len > KL_WS_FRAME_MAX)
        return ctl_fail(err, 2, "Invalid request: message longer than 65536 bytes");

    js_t j = {msg, len, 0, 0, NULL, 0};
    js_ws(&j);
    if (j.i >= len || msg[j.i] != '{') {
        int t;
        if (js_value(&j, &t) != 0)
            return ctl_syntax(err, &j);
        js_ws(&j);
        if (j.i < len) {
            js_peek_err(&j, "trailing characters");
            return ctl_syntax(err, &j);
        }
        return ctl_fail(err, 2, "Invalid request: expected a JSON object");
    }

    int method = 0, seen_method = 0, seen_params = 0, seen_id = 0, ptype = 0, itype = 0;
    size_t pstart = 0;
    j.depth = 1;
    int more = js_obj_open(&j);
    while (more == 1) {
        char key[8];
        size_t klen;
        if (js_string(&j, key, sizeof key, &klen) != 0)
            return ctl_syntax(err, &j);
        int which = 0; /* 1 method, 2 params, 3 id */
        if (klen == 6 && memcmp(key, "method", 6) == 0)
            which = 1;
        else if (klen == 6 && memcmp(key, "params", 6) == 0)
            which = 2;
        else if (klen == 2 && memcmp(key, "id", 2) == 0)
            which = 3;
        int *seen = which == 1 ? &seen_method : which == 2 ? &seen_params : &seen_id;
        if (which && *seen) {
            const char *names[] = {"", "method", "params", "id"};
            return ctl_fail_at(err, 2, &j, "duplicate field `%s`", names[which], j.i);
        }
        if (js_colon(&j) != 0)
            return ctl_syntax(err, &j);
        size_t vstart = j.i;
        int t;
        if (which == 1 && j.i < len && msg[j.i] == '"') {
            char name[40];
            size_t nlen;
            if (js_string(&j, name, sizeof name, &nlen) != 0)
                return ctl_syntax(err, &j);
            for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++)
                if (nlen == strlen(methods[m].name) && memcmp(name, methods[m].name, nlen) == 0)
                    method = methods[m].method;
            if (!method) {
                char shown[32];
                size_t sl = nlen < 24 ? nlen : 24;
                memcpy(shown, name, sl);
                shown[sl] = '\0';
                return ctl_fail_at(err, 2, &j,
                                   "unknown variant `%s`, expected one of `SUBSCRIBE`, "
                                   "`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, "
                                   "`GET_PROPERTY`",
                                   shown, j.i);
            }
        } else {
            if (js_value(&j, &t) != 0)
                return ctl_syntax(err, &j);
            if (which == 1)
                return ctl_fail_at(err, 2, &j, "invalid type for `method`, expected a string%s",
                                   NULL, j.i);
            if (which == 2) {
                ptype = t;
                pstart = vstart;
            } else if (which == 3) {
                itype = t;
                size_t il = j.i - vstart;
                if (id_valid(msg + vstart, il, t) && il <= sizeof out->id) {
                    memcpy(out->id, msg + vstart, il);
                    out->id_len = il;
                } else {
                    itype = 0;
                }
            }
        }
        if (which)
            *seen = 1;
        more = js_obj_next(&j);
    }
    if (more < 0)
        return ctl_syntax(err, &j);
    size_t close_at = j.i;
    if (!seen_method)
        return ctl_fail_at(err, 2, &j, "missing field `method`%s", NULL, close_at);
    js_ws(&j);
    if (j.i < len) {
        js_peek_err(&j, "trailing characters");
        return ctl_syntax(err, &j);
    }
    if (!seen_id || itype == 0)
        return ctl_fail(err, 2, "Invalid request: request ID must be an unsigned integer");

    js_t pj = {msg, len, pstart, 0, NULL, 0};
    switch (method) {
    case KL_WS_SUBSCRIBE:
    case KL_WS_UNSUBSCRIBE:
        if (!seen_params)
            return ctl_fail_at(err, 2, &j, "missing field `params`%s", NULL, close_at);
        if (ptype != JT_ARR)
            return ctl_fail(err, 2, "Invalid request: params must be an array of stream names");
        if (parse_streams(&pj, out, err) != 0)
            return -1;
        break;
    case KL_WS_LIST_SUBSCRIPTIONS:
        if (seen_params && ptype != JT_NULL && !(ptype == JT_ARR && !arr_next(&pj, 1)))
            return ctl_fail(err, 2, "Invalid request: too many parameters");
        break;
    case KL_WS_SET_PROPERTY:
    case KL_WS_GET_PROPERTY:
        if (parse_property(&pj, seen_params, ptype, method == KL_WS_SET_PROPERTY, out, err) != 0)
            return -1;
        break;
    }
    out->method = method;
    return 0;
}

/* ---- replies ---- */

static const char *
id_or_null(const char *id, size_t *id_len)
{
    if (!id || *id_len == 0 || *id_len > sizeof((kl_ws_ctl_t *)0)->id) {
        *id_len = 4;
        return "null";
    }
    return id;
}

size_t
kl_ws_reply_null(const char *id, size_t id_len, char *buf, size_t cap)
{
    id = id_or_null(id, &id_len);
    int n = snprintf(buf, cap, "{\"result\":null,\"id\":%.*s}", (int)id_len, id);
    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0)
            buf[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

size_t
kl_ws_reply_error(const kl_api_err_t *e, const char *id, size_t id_len, char *buf, size_t cap)
{
    char head[48], tail[96];
    id = id_or_null(id, &id_len);
    snprintf(head, sizeof head, "{\"error\":{\"code\":%d,\"msg\":\"", e->code);
    snprintf(tail, sizeof tail, "\"},\"id\":%.*s}", (int)id_len, id);
    return kl_api_json_frame(head, e->msg, strnlen(e->msg, sizeof e->msg), tail, buf, cap);
}
