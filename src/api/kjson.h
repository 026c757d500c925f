/* Binance's JSON for one kline: the REST row of /api/v3/klines and the payload of the
 * <symbol>@kline_<interval> WebSocket stream, byte for byte as Binance spot prints them (8
 * decimal places, quote sums truncated from 1e-16). Pure functions; any thread. */
#ifndef KL_API_KJSON_H
#define KL_API_KJSON_H

#include <stddef.h>
#include <stdint.h>

#include "kl/types.h"

/* Longest symbol kl_kjson_ws_event() takes, in bytes (the symbol registry's KL_SYM_MAX - 1). */
#define KL_KJSON_SYMBOL_MAX 31

/* Bytes a formatted kline event or row can need, worst case: integers at 20 characters, prices
 * at 21, 1e-8 sums at 41 and 1e-16 sums at 33 (__int128 extremes), a KL_KJSON_SYMBOL_MAX symbol
 * and "x":false come to 561 for the event, less for the row (test_kjson pins it). */
#define KL_KJSON_MAX 768

/* Writes the REST row [openTime,"open","high","low","close","volume",closeTime,"quoteVolume",
 * trades,"takerBase","takerQuote","0"] of k into buf (KL_KJSON_MAX bytes, caller's). Times are
 * divided by unit_per_ms (1 or 1000): Binance's REST speaks ms, and close = next open - 1 in us
 * divides to next open - 1 in ms. Returns the length; no NUL is written. */
size_t kl_kjson_rest_row(const kl_kline_t *k, int64_t unit_per_ms, char *buf);

/* Writes the WS event {"e":"kline","E":event_ms,"s":symbol,"k":{"t","T","s","i","f","L","o",
 * "c","h","l","v","n","x","q","V","Q","B"}} in Binance's key order into buf (KL_KJSON_MAX
 * bytes). symbol is NUL-terminated, [A-Z0-9], at most KL_KJSON_SYMBOL_MAX bytes; iv an enum
 * kl_iv; final gives "x". Times as in kl_kjson_rest_row; event_ms is already in ms. Returns the
 * length; no NUL is written. */
size_t kl_kjson_ws_event(const char *symbol, int iv, const kl_kline_t *k, int64_t unit_per_ms,
                         int final, int64_t event_ms, char *buf);

#endif
