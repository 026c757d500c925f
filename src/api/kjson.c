/* Binance kline JSON. Every number goes through core/decimal so the text is the one the replay
 * CSV and the store print: prices with 8 places, quote sums truncated from 1e-16 to 8. */
#include "api/kjson.h"

#include <string.h>

#include "core/decimal.h"
#include "core/interval.h"
#include "runtime/symreg.h"

_Static_assert(KL_KJSON_SYMBOL_MAX == KL_SYM_MAX - 1, "kjson symbol bound follows the registry");

static char *
put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT(p, lit) put((p), (lit), sizeof(lit) - 1)

static char *
put_int(char *p, int64_t v)
{
    return p + kl_int_format(v, p);
}

/* kl_*_format write a NUL after the text; the next put overwrites it. */
static char *
put_qdec(char *p, kl_dec_t v)
{
    *p++ = '"';
    p += kl_dec_format(v, p);
    *p++ = '"';
    return p;
}

static char *
put_qsum(char *p, kl_sum_t v, int places)
{
    *p++ = '"';
    p += kl_sum_format(v, places, p);
    *p++ = '"';
    return p;
}

size_t
kl_kjson_rest_row(const kl_kline_t *k, int64_t unit_per_ms, char *buf)
{
    char *p = buf;
    *p++ = '[';
    p = put_int(p, k->open_time / unit_per_ms);
    *p++ = ',';
    p = put_qdec(p, k->open);
    *p++ = ',';
    p = put_qdec(p, k->high);
    *p++ = ',';
    p = put_qdec(p, k->low);
    *p++ = ',';
    p = put_qdec(p, k->close);
    *p++ = ',';
    p = put_qsum(p, k->volume, 8);
    *p++ = ',';
    p = put_int(p, k->close_time / unit_per_ms);
    *p++ = ',';
    p = put_qsum(p, k->quote, 16);
    *p++ = ',';
    p = put_int(p, k->trades);
    *p++ = ',';
    p = put_qsum(p, k->taker_base, 8);
    *p++ = ',';
    p = put_qsum(p, k->taker_quote, 16);
    p = PUT(p, ",\"0\"]");
    return (size_t)(p - buf);
}

size_t
kl_kjson_ws_event(const char *symbol, int iv, const kl_kline_t *k, int64_t unit_per_ms,
                  int final, int64_t event_ms, char *buf)
{
    size_t sn = strnlen(symbol, KL_KJSON_SYMBOL_MAX);
    const char *ivn = kl_iv_name(iv);
    char *p = buf;
    p = PUT(p, "{\"e\":\"kline\",\"E\":");
    p = put_int(p, event_ms);
    p = PUT(p, ",\"s\":\"");
    p = put(p, symbol, sn);
    p = PUT(p, "\",\"k\":{\"t\":");
    p = put_int(p, k->open_time / unit_per_ms);
    p = PUT(p, ",\"T\":");
    p = put_int(p, k->close_time / unit_per_ms);
    p = PUT(p, ",\"s\":\"");
    p = put(p, symbol, sn);
    p = PUT(p, "\",\"i\":\"");
    p = put(p, ivn, strlen(ivn));
    p = PUT(p, "\",\"f\":");
    p = put_int(p, k->first_id);
    p = PUT(p, ",\"L\":");
    p = put_int(p, k->last_id);
    p = PUT(p, ",\"o\":");
    p = put_qdec(p, k->open);
    p = PUT(p, ",\"c\":");
    p = put_qdec(p, k->close);
    p = PUT(p, ",\"h\":");
    p = put_qdec(p, k->high);
    p = PUT(p, ",\"l\":");
    p = put_qdec(p, k->low);
    p = PUT(p, ",\"v\":");
    p = put_qsum(p, k->volume, 8);
    p = PUT(p, ",\"n\":");
    p = put_int(p, k->trades);
    p = final ? PUT(p, ",\"x\":true,\"q\":") : PUT(p, ",\"x\":false,\"q\":");
    p = put_qsum(p, k->quote, 16);
    p = PUT(p, ",\"V\":");
    p = put_qsum(p, k->taker_base, 8);
    p = PUT(p, ",\"Q\":");
    p = put_qsum(p, k->taker_quote, 16);
    p = PUT(p, ",\"B\":\"0\"}}");
    return (size_t)(p - buf);
}
