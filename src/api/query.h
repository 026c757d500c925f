/* Parser of the query string of GET /api/v3/klines and /api/v3/uiKlines, with Binance's exact
 * error codes, messages and HTTP statuses (the choices are listed at the top of query.c).
 * Pure: no I/O, no allocation; any thread. */
#ifndef KL_API_QUERY_H
#define KL_API_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "api/apierr.h"

#define KL_API_LIMIT_DEFAULT 500
#define KL_API_LIMIT_MAX 1000
/* Longer query strings are refused whole (HTTP 400, -1100 style message; see query.c). */
#define KL_API_QUERY_MAX 2048

typedef struct kl_klines_query {
    char symbol[32]; /* validated [A-Z0-9]{1,31}; existence is checked by the caller (-1121) */
    int iv;          /* enum kl_iv (src/core/interval.h) */
    int64_t start_ms, end_ms;
    int has_start, has_end;
    int limit; /* 1..1000, default 500 */
    int32_t tz_minutes;
    int has_tz; /* timeZone */
} kl_klines_query_t;

/* Parses qs[0..len) (the raw part after '?', percent-encoded; need not be NUL-terminated).
 * Returns 0 with *q filled, or -1 with *err filled with Binance's code/message/HTTP status
 * (*q then is unspecified). */
int kl_api_parse_klines(const char *qs, size_t len, kl_klines_query_t *q, kl_api_err_t *err);

/* Finds parameter `name` (exact, case-sensitive, compared after percent-decoding the key) in
 * qs[0..len) and percent-decodes its first occurrence into out[0..cap) ('+' stays a literal
 * '+', see query.c), NUL-terminated. Returns the decoded length, -1 when absent, -2 when the
 * value is malformed (bad %-escape, NUL byte) or does not fit in cap-1 bytes. */
int kl_api_query_param(const char *qs, size_t len, const char *name, char *out, size_t cap);

#endif
