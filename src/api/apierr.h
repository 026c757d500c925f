/* Binance-shaped API errors: an HTTP status, Binance's numeric code and its message, as the REST
 * routes ({"code":N,"msg":"..."}) and the WebSocket control replies carry them. Pure; any thread. */
#ifndef KL_API_APIERR_H
#define KL_API_APIERR_H

#include <stddef.h>

typedef struct kl_api_err {
    int http;      /* HTTP status (REST); 0 for WebSocket control errors */
    int code;      /* Binance's code: REST -1xxx, or the WS control code 0..3 */
    char msg[200]; /* Binance's message, plain text (escaped only when written as JSON) */
} kl_api_err_t;

/* Writes {"code":<code>,"msg":"<msg>"} (msg JSON-escaped) into buf. The output is always
 * NUL-terminated when cap > 0 and never cut inside an escape; if it does not fit, the message is
 * shortened and the object still closed when cap allows (cap >= 64 always does).
 * Returns the length written (excluding the NUL). */
size_t kl_api_err_json(const kl_api_err_t *e, char *buf, size_t cap);

/* Fills *e; the message is printf-formatted and truncated to fit msg. */
void kl_api_err_set(kl_api_err_t *e, int http, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes s[0..n) JSON-escaped (without quotes) into buf[0..cap), never cutting an escape or a
 * UTF-8 sequence; bytes that are not valid UTF-8 become \ufffd, so the output is always valid
 * JSON string content. Stops at the first character that does not fit. Returns bytes written;
 * no NUL. */
size_t kl_api_json_escape(const char *s, size_t n, char *buf, size_t cap);

/* Length of the valid UTF-8 sequence that starts s[0..n) (n > 0): 1..4, or 0 if the bytes are
 * not valid UTF-8 (overlong forms, surrogates and code points past U+10FFFF included). */
size_t kl_api_utf8_len(const char *s, size_t n);

/* Writes head, then msg[0..msg_len) escaped, then tail, NUL-terminated. head and tail are
 * written whole or not at all: when they do not fit with the NUL, buf gets "" (if cap > 0)
 * and 0 is returned; otherwise msg is shortened to fit. Returns the length written. */
size_t kl_api_json_frame(const char *head, const char *msg, size_t msg_len, const char *tail,
                         char *buf, size_t cap);

#endif
