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
 * long), KL_ETRADE (aggTrade with l < f), KL_EARG (out NULL, or s NULL with n > 0).
 * *out is written only on success. Does not call kl_trade_validate(). Any thread; no
 * allocation; out of s it keeps no pointer.
 *
 * What is accepted, precisely:
 *  - p and q are JSON strings holding exactly a kl_dec_parse() decimal (no escapes, no
 *    spaces); a JSON number there is KL_EJSON. E, T, a, f, l, t are JSON integers in int64: a
 *    fraction, an exponent, a leading zero or a string is KL_EJSON. m is true or false.
 *  - s is 1..31 bytes of [A-Z0-9], as Binance sends it; anything else (lower case, escapes,
 *    '-', empty) is KL_EJSON.
 *  - For a trade event a, f and l are ignored whatever they hold (old streams send the seller
 *    order id as "a"); for an aggTrade event t is ignored. b, M and unknown keys are skipped
 *    with values of any type, containers nested at most 8 deep (the envelope counts as 1).
 *  - A key read by the parser that appears twice in one object is KL_EJSON (not "last wins").
 *    Keys containing escapes never match a known key.
 *  - The envelope {"stream":…,"data":{…}} is recognised by its "data" member, in any key
 *    order; "data" must then be an object, and event keys beside it are KL_EJSON.
 *  - An "e" other than "trade"/"aggTrade" returns KL_EJSON_EVENT as soon as it is read: the
 *    rest of such a message is not checked. Otherwise malformed JSON anywhere (including
 *    trailing bytes) outranks a field error, which outranks a missing field. Strings are not
 *    checked for valid UTF-8. */
int kl_trade_json_parse(const char *s, size_t n, kl_trade_msg_t *out);

#endif
