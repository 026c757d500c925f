/* Kline CSV row formatting: every decimal with 8 places, quote sums truncated from 1e-16. */
#include "replay/kline_csv.h"

#include "core/decimal.h"

size_t
kl_kline_csv_format(const kl_kline_t *k, char *buf)
{
    char *p = buf;
    p += kl_int_format(k->open_time, p);
    *p++ = ',';
    p += kl_dec_format(k->open, p);
    *p++ = ',';
    p += kl_dec_format(k->high, p);
    *p++ = ',';
    p += kl_dec_format(k->low, p);
    *p++ = ',';
    p += kl_dec_format(k->close, p);
    *p++ = ',';
    p += kl_sum_format(k->volume, 8, p);
    *p++ = ',';
    p += kl_int_format(k->close_time, p);
    *p++ = ',';
    p += kl_sum_format(k->quote, 16, p);
    *p++ = ',';
    p += kl_int_format(k->trades, p);
    *p++ = ',';
    p += kl_sum_format(k->taker_base, 8, p);
    *p++ = ',';
    p += kl_sum_format(k->taker_quote, 16, p);
    *p++ = ',';
    *p++ = '0';
    *p++ = '\n';
    return (size_t)(p - buf);
}
