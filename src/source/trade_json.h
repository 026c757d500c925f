/* Parser for one Binance `trade` or `aggTrade` event as JSON text: the object a stream sends,
 * optionally wrapped in a combined-stream envelope {"stream":…,"data":{…}}. Written for these
 * fixed shapes (no general JSON tree, no allocation) and for hostile input: every field is
 * checked, unknown keys are skipped, nesting and lengths are bounded. Any thread. */
#ifndef KL_SOURCE_TRADE_JSON_H
#define KL_SOURCE_TRADE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "kl/types.h"

#define KL_TRADE_SYMBOL_MAX 32
#define KL_TRADE_JSON_MAX 4096 /* longest message accepted */

typedef struct kl_trade_msg {
    char symbol[KL_TRADE_SYMBOL_MAX]; /* "s", upper case as sent, NUL-terminated */
    int is_agg;                       /* 1: aggTrade (id = "a", ids "f".."l"); 0: trade ("t") */
    int64_t event_time;               /* "E", 0 if absent */
    kl_trade_t t;                     /* ts = "T" in ms, prices/qty exact */
} kl_trade_msg_t;

/* Parses s[0..n) (surrounding whitespace allowed). Returns 0 and fills *out, or a negative
 * code: KL_EJSON (malformed JSON or wrong type of a field), KL_EJSON_FIELD (a required field
 * missing: e, s, p, q, T, m and a/f/l or t), KL_EJSON_EVENT (an event other than trade or
 * aggTrade: the caller counts and skips it), KL_EDEC_* for a bad price/qty, KL_ELINE (too
 * long). *out may be partly written on error. Does not call kl_trade_validate(). */
int kl_trade_json_parse(const char *s, size_t n, kl_trade_msg_t *out);

#endif
