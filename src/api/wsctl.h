/* WebSocket side of the Binance-compatible API, pure parts: kline stream names
 * ("btcusdt@kline_1m", "btcusdt@kline_1m@+08:00") and the live SUBSCRIBE / UNSUBSCRIBE /
 * LIST_SUBSCRIPTIONS control messages with their replies. A small strict JSON scanner for that
 * one object shape; no allocation; any thread. Choices are listed at the top of wsctl.c. */
#ifndef KL_API_WSCTL_H
#define KL_API_WSCTL_H

#include <stddef.h>
#include <stdint.h>

#include "api/apierr.h"

/* Control frames longer than this are refused (see wsctl.c). */
#define KL_WS_FRAME_MAX 65536

typedef struct kl_ws_stream {
    char symbol[32]; /* uppercased, [A-Z0-9]{1,31} */
    int iv;          /* enum kl_iv */
    int32_t tz_minutes;
    int has_tz;
} kl_ws_stream_t;

/* Parses "btcusdt@kline_1m" or "btcusdt@kline_1m@+08:00" from s[0..n): symbol
 * [A-Za-z0-9]{1,31} (any case, stored uppercased), interval case-sensitive, offset exactly
 * [+-]HH:MM within -12:00..+14:00 ("-00:00" refused so that the canonical name round-trips).
 * Returns 0, or -1 (*out then unspecified). */
int kl_ws_stream_parse(const char *s, size_t n, kl_ws_stream_t *out);

/* Canonical stream name as Binance echoes it (lowercase symbol, "@+08:00" when has_tz).
 * NUL-terminated; returns its length (cap >= 64 always suffices). */
size_t kl_ws_stream_name(const kl_ws_stream_t *st, char *buf, size_t cap);

#define KL_WS_PARAMS_MAX 1024
/* SET_PROPERTY / GET_PROPERTY carry Binance's only property, "combined" (payloads wrapped as
 * {"stream":..,"data":..} or not). A server that does not support them should answer them as
 * Binance answers an unknown method (see wsctl.c); parsing them costs nothing. */
enum kl_ws_method {
    KL_WS_SUBSCRIBE = 1,
    KL_WS_UNSUBSCRIBE,
    KL_WS_LIST_SUBSCRIPTIONS,
    KL_WS_SET_PROPERTY, /* params ["combined", <bool>]: value in `combined` */
    KL_WS_GET_PROPERTY  /* params ["combined"]: reply {"result":<bool>,"id":..} */
};

typedef struct kl_ws_ctl {
    int method;
    char id[72];
    size_t id_len; /* the raw JSON token of "id" (number, string, or null) echoed back
                      verbatim; "null" when absent */
    int combined;   /* SET_PROPERTY's value (0/1) */
    size_t n_params; /* SUBSCRIBE / UNSUBSCRIBE: the streams, in the order sent */
    kl_ws_stream_t params[KL_WS_PARAMS_MAX];
} kl_ws_ctl_t;

/* Parses one text frame. Returns 0, or -1 with *err filled: err->code is Binance's WS code
 * (0 unknown property, 1 invalid value type, 2 invalid request, 3 invalid JSON), err->msg its
 * message, err->http 0. On -1, out->id/id_len hold the request's id when it could be read
 * (else "null"), so the reply can echo it. */
int kl_ws_ctl_parse(const char *msg, size_t len, kl_ws_ctl_t *out, kl_api_err_t *err);

/* {"result":null,"id":<id>} ; NUL-terminated, returns its length (cap >= 96 suffices). */
size_t kl_ws_reply_null(const char *id, size_t id_len, char *buf, size_t cap);

/* {"error":{"code":c,"msg":"..."},"id":<id>} ; id_len 0 writes null. Returns its length. */
size_t kl_ws_reply_error(const kl_api_err_t *e, const char *id, size_t id_len, char *buf,
                         size_t cap);

#endif
