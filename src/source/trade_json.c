/* Binance trade/aggTrade event parser: one left-to-right pass over the bytes, no tree, no
 * allocation, no copies except the symbol. It is on the live-feed hot path (SPEC: >= 2 M msgs/s
 * per I/O thread) and it reads text from the network, so every byte is checked and every loop
 * is bounded by the input length and by a nesting limit.
 *
 * DESIGN. The message is an object, or a combined-stream envelope whose "data" member is that
 * object. Keys are dispatched on their first byte when they are one byte long (all the keys we
 * extract are); any other key is skipped with its value, whatever its JSON type. Errors come in
 * two kinds:
 *  - fatal: the text is not well-formed JSON (or is nested too deep, or repeats a key we read):
 *    the parse stops at once with KL_EJSON;
 *  - deferred: a well-formed value of the wrong type or a bad decimal. It is remembered (the
 *    first one wins) and the parse goes on, because "e" may come later and an event we do not
 *    handle must be reported as KL_EJSON_EVENT whatever its other fields hold.
 * An "e" naming another event ends the parse immediately with KL_EJSON_EVENT: depth updates are
 * most of a combined stream and need not be read to the end. The ids a/f/l/t mean different
 * things in the two events (in a trade event "a" is the seller's order id), so each keeps its
 * own "bad" bit and only the ones the event needs are checked at the end. */
#include "source/trade_json.h"

#include <string.h>

#include "core/decimal.h"
#include "kl/err.h"

#define TJ_DEPTH_MAX 8 /* containers, the outermost object counting as 1 */

/* Character classes: C_WS between tokens, C_STR a byte that stands for itself inside a string
 * (not '"', '\\' or a control character), C_SYM a symbol byte. Bytes >= 0x80 pass inside
 * strings unvalidated: we never interpret them. */
enum { C_WS = 1, C_STR = 2, C_SYM = 4 };
static const uint8_t tj_class[256] = {
    ['\t'] = C_WS,
    ['\n'] = C_WS,
    ['\r'] = C_WS,
    [' '] = C_WS | C_STR,
    ['!'] = C_STR,
    ['#' ... '/'] = C_STR,
    ['0' ... '9'] = C_STR | C_SYM,
    [':' ... '@'] = C_STR,
    ['A' ... 'Z'] = C_STR | C_SYM,
    ['['] = C_STR,
    [']' ... 0xff] = C_STR,
};

/* The keys we read. K_NONE (0) is every other key. */
enum tj_key { K_NONE, K_e, K_E, K_s, K_p, K_q, K_T, K_m, K_a, K_f, K_l, K_t, K_DATA };
#define TJ_BIT(k) (1u << (k))
#define TJ_EVENT_KEYS                                                                         \
    (TJ_BIT(K_e) | TJ_BIT(K_E) | TJ_BIT(K_s) | TJ_BIT(K_p) | TJ_BIT(K_q) | TJ_BIT(K_T) |      \
     TJ_BIT(K_m) | TJ_BIT(K_a) | TJ_BIT(K_f) | TJ_BIT(K_l) | TJ_BIT(K_t))
#define TJ_COMMON_KEYS                                                                        \
    (TJ_BIT(K_e) | TJ_BIT(K_s) | TJ_BIT(K_p) | TJ_BIT(K_q) | TJ_BIT(K_T) | TJ_BIT(K_m))
#define TJ_AGG_KEYS (TJ_COMMON_KEYS | TJ_BIT(K_a) | TJ_BIT(K_f) | TJ_BIT(K_l))
#define TJ_TRADE_KEYS (TJ_COMMON_KEYS | TJ_BIT(K_t))

static const uint8_t tj_keymap[256] = {
    ['e'] = K_e, ['E'] = K_E, ['s'] = K_s, ['p'] = K_p, ['q'] = K_q, ['T'] = K_T,
    ['m'] = K_m, ['a'] = K_a, ['f'] = K_f, ['l'] = K_l, ['t'] = K_t,
};

/* What one object level has seen. Values are valid only where their bit is in `seen` and not
 * in `bad`. */
typedef struct tj_state {
    unsigned seen; /* TJ_BIT of each key read (a repeat is a fatal error) */
    unsigned bad;  /* id keys (a, f, l, t) whose value was not an int64 */
    int err;       /* first deferred error of e, E, s, p, q, T, m; 0 if none */
    int kind;      /* -1 unknown, 0 trade, 1 aggTrade */
    uint8_t m;
    const char *sym;
    size_t sym_len;
    int64_t E, T, a, f, l, t;
    kl_dec_t p, q;
} tj_state_t;

static inline const char *
tj_ws(const char *p, const char *end)
{
    while (p < end && (tj_class[(uint8_t)*p] & C_WS))
        p++;
    return p;
}

static inline int
tj_hex(char c)
{
    return (unsigned)(c - '0') < 10 || (unsigned)((c | 0x20) - 'a') < 6;
}

/* *pp is just past an opening quote; moves it past the closing one. */
static inline int
tj_skip_string(const char **pp, const char *end)
{
    const char *p = *pp;
    for (;;) {
        while (p < end && (tj_class[(uint8_t)*p] & C_STR))
            p++;
        if (p >= end)
            return KL_EJSON;
        if (*p == '"') {
            *pp = p + 1;
            return 0;
        }
        if (*p != '\\' || ++p >= end)
            return KL_EJSON; /* a raw control character, or a dangling backslash */
        switch (*p) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't': p++; break;
        case 'u':
            if (end - p < 5 || !tj_hex(p[1]) || !tj_hex(p[2]) || !tj_hex(p[3]) || !tj_hex(p[4]))
                return KL_EJSON;
            p += 5;
            break;
        default: return KL_EJSON;
        }
    }
}

/* RFC 8259 number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
tj_skip_number(const char **pp, const char *end)
{
    const char *p = *pp;
    if (p < end && *p == '-')
        p++;
    if (p >= end || (unsigned)(*p - '0') >= 10)
        return KL_EJSON;
    if (*p++ != '0')
        while (p < end && (unsigned)(*p - '0') < 10)
            p++;
    if (p < end && *p == '.') {
        const char *d = ++p;
        while (p < end && (unsigned)(*p - '0') < 10)
            p++;
        if (p == d)
            return KL_EJSON;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const char *d = p;
        while (p < end && (unsigned)(*p - '0') < 10)
            p++;
        if (p == d)
            return KL_EJSON;
    }
    *pp = p;
    return 0;
}

static inline int
tj_literal(const char **pp, const char *end, const char *lit, size_t n)
{
    if ((size_t)(end - *pp) < n || memcmp(*pp, lit, n) != 0)
        return KL_EJSON;
    *pp += n;
    return 0;
}

/* Skips one value of any type at *pp (no leading whitespace), found inside a container at
 * nesting `depth`. Recursion is bounded by TJ_DEPTH_MAX. */
static int
tj_skip_value(const char **pp, const char *end, int depth)
{
    const char *p = *pp;
    if (p >= end)
        return KL_EJSON;
    int rc;
    switch (*p) {
    case '"':
        *pp = p + 1;
        return tj_skip_string(pp, end);
    case 't': return tj_literal(pp, end, "true", 4);
    case 'f': return tj_literal(pp, end, "false", 5);
    case 'n': return tj_literal(pp, end, "null", 4);
    case '{':
    case '[': {
        char close = *p == '{' ? '}' : ']';
        if (depth + 1 > TJ_DEPTH_MAX)
            return KL_EJSON;
        p = tj_ws(p + 1, end);
        if (p < end && *p == close) {
            *pp = p + 1;
            return 0;
        }
        for (;;) {
            if (close == '}') {
                if (p >= end || *p != '"')
                    return KL_EJSON;
                p++;
                if ((rc = tj_skip_string(&p, end)) != 0)
                    return rc;
                p = tj_ws(p, end);
                if (p >= end || *p != ':')
                    return KL_EJSON;
                p = tj_ws(p + 1, end);
            }
            if ((rc = tj_skip_value(&p, end, depth + 1)) != 0)
                return rc;
            p = tj_ws(p, end);
            if (p < end && *p == ',') {
                p = tj_ws(p + 1, end);
                continue;
            }
            if (p < end && *p == close) {
                *pp = p + 1;
                return 0;
            }
            return KL_EJSON;
        }
    }
    default: return tj_skip_number(pp, end);
    }
}

/* A JSON integer that fits int64: no leading zero, no fraction or exponent. On failure *pp is
 * unchanged (the caller skips the value as a whole). */
static inline int
tj_int(const char **pp, const char *end, int64_t *out)
{
    const char *p = *pp;
    const char *d = p + (p < end && *p == '-');
    if (d + 1 < end && d[0] == '0' && (unsigned)(d[1] - '0') < 10)
        return -1;
    const char *stop;
    if (kl_int_scan(p, end, out, &stop) != 0)
        return -1;
    if (stop < end && (*stop == '.' || *stop == 'e' || *stop == 'E'))
        return -1;
    *pp = stop;
    return 0;
}

/* A decimal inside a JSON string, exactly as kl_dec_parse takes it: the string holds nothing
 * else (no escapes, no spaces). Returns 0 or a KL_EDEC_* code; *pp moves only on success. */
static inline int
tj_dec_string(const char **pp, const char *end, kl_dec_t *out)
{
    const char *p = *pp;
    if (*p != '"')
        return KL_EJSON;
    const char *stop;
    int rc = kl_dec_scan(p + 1, end, out, &stop);
    if (stop >= end || *stop != '"')
        return KL_EDEC_SYNTAX; /* a stray character outranks, as in kl_dec_parse */
    if (rc == 0)
        *pp = stop + 1;
    return rc;
}

/* Reads the members of an object whose '{' is just before *pp, at nesting `depth`, into st.
 * `inner` is non-NULL at the top level only: there a "data" object is an envelope's payload
 * and is read into *inner. Returns 0, KL_EJSON (fatal) or KL_EJSON_EVENT. */
static int
tj_object(const char **pp, const char *end, int depth, tj_state_t *st, tj_state_t *inner)
{
    const char *p = tj_ws(*pp, end);
    int rc;
    if (p < end && *p == '}') {
        *pp = p + 1;
        return 0;
    }
    for (;;) {
        if (p >= end || *p != '"')
            return KL_EJSON;
        p++;
        unsigned key;
        if (end - p >= 2 && p[1] == '"' && (tj_class[(uint8_t)p[0]] & C_STR)) {
            key = tj_keymap[(uint8_t)p[0]];
            p += 2;
        } else {
            /* Keys with escapes never match: "\u0065" is not read as "e". */
            const char *k = p;
            if ((rc = tj_skip_string(&p, end)) != 0)
                return rc;
            key = inner != NULL && p - k == 5 && memcmp(k, "data", 4) == 0 ? K_DATA : K_NONE;
        }
        p = tj_ws(p, end);
        if (p >= end || *p != ':')
            return KL_EJSON;
        p = tj_ws(p + 1, end);
        if (p >= end)
            return KL_EJSON;
        if (key != K_NONE) {
            /* Repeated keys are refused rather than "last wins": JSON parsers disagree on
             * them, and a message two readers see differently is not one to trust. */
            if (st->seen & TJ_BIT(key))
                return KL_EJSON;
            st->seen |= TJ_BIT(key);
        }
        const char *v = p; /* value start, to skip a value that failed as its expected type */
        int ferr = 0;      /* deferred error of this value */
        switch (key) {
        case K_e: {
            if (*p != '"') {
                ferr = KL_EJSON;
                break;
            }
            const char *s0 = ++p;
            if ((rc = tj_skip_string(&p, end)) != 0)
                return rc;
            size_t len = (size_t)(p - s0 - 1);
            if (len == 8 && memcmp(s0, "aggTrade", 8) == 0)
                st->kind = 1;
            else if (len == 5 && memcmp(s0, "trade", 5) == 0)
                st->kind = 0;
            else
                return KL_EJSON_EVENT;
            break;
        }
        case K_s: {
            const char *s0 = p + 1, *q = s0;
            if (*p != '"') {
                ferr = KL_EJSON;
                break;
            }
            while (q < end && (tj_class[(uint8_t)*q] & C_SYM))
                q++;
            size_t len = (size_t)(q - s0);
            if (q >= end || *q != '"' || len == 0 || len >= KL_TRADE_SYMBOL_MAX) {
                ferr = KL_EJSON;
                break;
            }
            st->sym = s0;
            st->sym_len = len;
            p = q + 1;
            break;
        }
        case K_p: ferr = tj_dec_string(&p, end, &st->p); break;
        case K_q: ferr = tj_dec_string(&p, end, &st->q); break;
        case K_E: ferr = tj_int(&p, end, &st->E) ? KL_EJSON : 0; break;
        case K_T: ferr = tj_int(&p, end, &st->T) ? KL_EJSON : 0; break;
        case K_a:
        case K_f:
        case K_l:
        case K_t: {
            int64_t *dst = key == K_a ? &st->a : key == K_f ? &st->f : key == K_l ? &st->l : &st->t;
            if (tj_int(&p, end, dst) != 0) {
                st->bad |= TJ_BIT(key);
                if ((rc = tj_skip_value(&p, end, depth)) != 0)
                    return rc;
            }
            break;
        }
        case K_m:
            if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
                st->m = 1;
                p += 4;
            } else if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
                st->m = 0;
                p += 5;
            } else {
                ferr = KL_EJSON;
            }
            break;
        case K_DATA:
            if (*p != '{')
                return KL_EJSON;
            if (depth + 1 > TJ_DEPTH_MAX)
                return KL_EJSON;
            p++;
            if ((rc = tj_object(&p, end, depth + 1, inner, NULL)) != 0)
                return rc;
            break;
        default:
            if ((rc = tj_skip_value(&p, end, depth)) != 0)
                return rc;
            break;
        }
        if (ferr != 0) {
            if (st->err == 0)
                st->err = ferr;
            p = v;
            if ((rc = tj_skip_value(&p, end, depth)) != 0)
                return rc;
        }
        p = tj_ws(p, end);
        if (p < end && *p == ',') {
            p = tj_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}') {
            *pp = p + 1;
            return 0;
        }
        return KL_EJSON;
    }
}

/* Checks that st holds a complete trade or aggTrade and writes it out. The order of the checks
 * fixes which error a message with several faults gets: event type, then deferred errors in
 * text order, then bad ids, then missing keys. */
static int
tj_finish(const tj_state_t *st, kl_trade_msg_t *out)
{
    if (st->kind < 0)
        return st->err != 0 ? st->err : KL_EJSON_FIELD; /* "e" of a wrong type, or missing */
    if (st->err != 0)
        return st->err;
    unsigned need = st->kind ? TJ_AGG_KEYS : TJ_TRADE_KEYS;
    if (st->bad & need)
        return KL_EJSON;
    if ((st->seen & need) != need)
        return KL_EJSON_FIELD;
    if (st->kind && st->l < st->f)
        return KL_ETRADE; /* the id range must make sense for Σ(l − f + 1) */

    memset(out->symbol, 0, sizeof out->symbol);
    memcpy(out->symbol, st->sym, st->sym_len);
    out->is_agg = st->kind;
    out->event_time = (st->seen & TJ_BIT(K_E)) ? st->E : 0;
    out->t.ts = st->T;
    out->t.price = st->p;
    out->t.qty = st->q;
    out->t.buyer_maker = st->m;
    out->t.rx_us = 0;
    if (st->kind) {
        out->t.id = st->a;
        out->t.first_id = st->f;
        out->t.last_id = st->l;
    } else {
        out->t.id = out->t.first_id = out->t.last_id = st->t;
    }
    return 0;
}

int
kl_trade_json_parse(const char *s, size_t n, kl_trade_msg_t *out)
{
    if (out == NULL || (s == NULL && n != 0))
        return KL_EARG;
    if (n > KL_TRADE_JSON_MAX)
        return KL_ELINE;
    if (s == NULL)
        return KL_EJSON;
    const char *end = s + n;
    const char *p = tj_ws(s, end);
    if (p >= end || *p != '{')
        return KL_EJSON;
    p++;
    tj_state_t top = {.kind = -1}, data = {.kind = -1};
    int rc = tj_object(&p, end, 1, &top, &data);
    if (rc != 0)
        return rc;
    if (tj_ws(p, end) != end)
        return KL_EJSON; /* trailing garbage */
    const tj_state_t *st = &top;
    if (top.seen & TJ_BIT(K_DATA)) {
        /* An envelope that also carries event keys is ambiguous: which "s" is meant? */
        if (top.seen & TJ_EVENT_KEYS)
            return KL_EJSON;
        st = &data;
    }
    return tj_finish(st, out);
}
