/* libFuzzer target for kl_trade_json_parse(), which reads exchange text straight off the
 * network. Beyond "no crash, no read past n", it checks what the engine relies on: the result is
 * a documented code; a failure leaves *out untouched; an accepted message has a valid symbol and
 * consistent ids; re-serialising it (canonical, and as a reordered, spaced-out envelope) parses
 * back to the same message; surrounding whitespace changes nothing; and cutting an accepted
 * message anywhere before its closing brace makes it malformed. Any violation is a trap.
 * The corpus seeds cap_*.json are single lines of the Binance WS captures from Bryant Moscon's
 * bmoscon/cryptofeed sample_data (XFree86 1.1 license). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Compiled into this target, not only linked from libkl: the fuzz build instruments the target
 * alone, and libFuzzer needs coverage (and ASan needs checks) inside the parser itself. */
#include "core/decimal.c"
#include "source/trade_json.c"

#include "core/decimal.h"
#include "kl/err.h"
#include "runtime/symreg.h"
#include "source/trade_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond))                                                                             \
            __builtin_trap();                                                                    \
    } while (0)

static int
fz_same(const kl_trade_msg_t *a, const kl_trade_msg_t *b)
{
    return memcmp(a->symbol, b->symbol, sizeof a->symbol) == 0 && a->is_agg == b->is_agg &&
           a->event_time == b->event_time && a->t.ts == b->t.ts && a->t.id == b->t.id &&
           a->t.first_id == b->t.first_id && a->t.last_id == b->t.last_id &&
           a->t.price == b->t.price && a->t.qty == b->t.qty &&
           a->t.buyer_maker == b->t.buyer_maker;
}

/* Parses s[0..n) from an exact-size copy (so ASan sees any over-read) and checks the contract
 * that holds for every input. */
static int
fz_parse(const char *s, size_t n, kl_trade_msg_t *out)
{
    kl_trade_msg_t m;
    memset(&m, 0x5a, sizeof m);
    kl_trade_msg_t poison = m;
    int rc = kl_trade_json_parse(s, n, &m);
    CHECK(rc == 0 || rc == KL_EJSON || rc == KL_EJSON_FIELD || rc == KL_EJSON_EVENT ||
          rc == KL_EDEC_SYNTAX || rc == KL_EDEC_PRECISION || rc == KL_EDEC_OVERFLOW ||
          rc == KL_ELINE || rc == KL_ETRADE);
    CHECK((rc == KL_ELINE) == (n > KL_TRADE_JSON_MAX));
    if (rc != 0) {
        CHECK(memcmp(&m, &poison, sizeof m) == 0);
        return rc;
    }
    size_t len = strnlen(m.symbol, sizeof m.symbol);
    CHECK(len >= 1 && len < KL_TRADE_SYMBOL_MAX);
    for (size_t i = 0; i < len; i++)
        CHECK((m.symbol[i] >= 'A' && m.symbol[i] <= 'Z') ||
              (m.symbol[i] >= '0' && m.symbol[i] <= '9'));
    for (size_t i = len; i < sizeof m.symbol; i++)
        CHECK(m.symbol[i] == '\0');
    CHECK(kl_sym_valid(m.symbol, len)); /* the parser's rule is the registry's (symreg.h) */
    CHECK(m.is_agg == 0 || m.is_agg == 1);
    CHECK(m.t.buyer_maker == 0 || m.t.buyer_maker == 1);
    if (m.is_agg)
        CHECK(m.t.first_id <= m.t.last_id);
    else
        CHECK(m.t.first_id == m.t.id && m.t.last_id == m.t.id);
    *out = m;
    return 0;
}

/* Writes m as JSON: canonical when style is 0; otherwise keys reversed, spaces around every
 * token, inside a combined-stream envelope that comes after a junk member. */
static size_t
fz_write(const kl_trade_msg_t *m, int style, char *buf, size_t cap)
{
    char p[KL_NUM_BUFSZ], q[KL_NUM_BUFSZ];
    kl_dec_format(m->t.price, p);
    kl_dec_format(m->t.qty, q);
    const char *mk = m->t.buyer_maker ? "true" : "false";
    int n;
    if (style == 0) {
        if (m->is_agg)
            n = snprintf(buf, cap,
                         "{\"e\":\"aggTrade\",\"E\":%" PRId64 ",\"s\":\"%s\",\"a\":%" PRId64
                         ",\"p\":\"%s\",\"q\":\"%s\",\"f\":%" PRId64 ",\"l\":%" PRId64
                         ",\"T\":%" PRId64 ",\"m\":%s}",
                         m->event_time, m->symbol, m->t.id, p, q, m->t.first_id, m->t.last_id,
                         m->t.ts, mk);
        else
            n = snprintf(buf, cap,
                         "{\"e\":\"trade\",\"E\":%" PRId64 ",\"s\":\"%s\",\"t\":%" PRId64
                         ",\"p\":\"%s\",\"q\":\"%s\",\"T\":%" PRId64 ",\"m\":%s,\"M\":true}",
                         m->event_time, m->symbol, m->t.id, p, q, m->t.ts, mk);
    } else {
        char ids[160];
        if (m->is_agg)
            snprintf(ids, sizeof ids,
                     "\"l\" : %" PRId64 " , \"f\" : %" PRId64 " , \"a\" : %" PRId64,
                     m->t.last_id, m->t.first_id, m->t.id);
        else
            snprintf(ids, sizeof ids, "\"a\" : [\"x\\\"\"] , \"t\" : %" PRId64, m->t.id);
        n = snprintf(buf, cap,
                     " { \"x\" : { \"e\" : \"depthUpdate\" } , \"data\" : { \"m\" : %s , \"T\" :"
                     " %" PRId64 " , \"q\" : \"%s\" , \"p\" : \"%s\" , %s , \"s\" : \"%s\" ,"
                     " \"E\" : %" PRId64 " , \"e\" : \"%s\" } , \"stream\" : \"x@y\" } \n",
                     mk, m->t.ts, q, p, ids, m->symbol, m->event_time,
                     m->is_agg ? "aggTrade" : "trade");
    }
    CHECK(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    kl_trade_msg_t m;
    int rc = fz_parse(s, size, &m);

    /* The registry's name check on the raw input: 1..31 bytes of A-Z 0-9, nothing else, and
     * never a read past size. */
    int want = size >= 1 && size < KL_SYM_MAX;
    for (size_t i = 0; want && i < size; i++)
        want = (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9');
    CHECK(kl_sym_valid(s, size) == want);

    /* Whitespace around the message changes nothing (while it still fits). */
    static char padded[KL_TRADE_JSON_MAX + 8];
    if (size + 3 <= KL_TRADE_JSON_MAX) {
        padded[0] = ' ';
        padded[1] = '\n';
        memcpy(padded + 2, data, size);
        padded[size + 2] = '\t';
        kl_trade_msg_t m2;
        int rc2 = fz_parse(padded, size + 3, &m2);
        CHECK(rc2 == rc);
        if (rc == 0)
            CHECK(fz_same(&m, &m2));
    }
    if (rc != 0)
        return 0;

    char buf[1024];
    for (int style = 0; style < 2; style++) {
        size_t n = fz_write(&m, style, buf, sizeof buf);
        kl_trade_msg_t back;
        CHECK(fz_parse(buf, n, &back) == 0);
        CHECK(fz_same(&m, &back));
    }

    /* Cut before the closing brace: never accepted, and nothing but malformed JSON. */
    size_t last = size;
    while (last > 0 && data[last - 1] != '}')
        last--;
    CHECK(last > 0);
    size_t cuts[4] = {0, last / 2, last - 1, (size_t)data[0] * 7 % last};
    for (int i = 0; i < 4; i++) {
        kl_trade_msg_t cut;
        CHECK(fz_parse(s, cuts[i], &cut) == KL_EJSON);
    }
    return 0;
}
