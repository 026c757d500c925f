/* Binance-shaped API errors: filling one, and writing it as JSON that stays valid whatever the
 * message holds (quotes, control bytes, broken UTF-8) and however small the buffer is. */
#include "api/apierr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
kl_api_err_set(kl_api_err_t *e, int http, int code, const char *fmt, ...)
{
    e->http = http;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        e->msg[0] = '\0';
}

size_t
kl_api_utf8_len(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

size_t
kl_api_json_escape(const char *s, size_t n, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char esc[8];
        const char *out = esc;
        size_t k, used = 1;
        unsigned c = u[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            k = 2;
        } else if (c < 0x20) {
            const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t"
                                : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (named) {
                out = named;
                k = 2;
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                k = 6;
            }
        } else if (c < 0x80) {
            esc[0] = (char)c;
            k = 1;
        } else if ((used = kl_api_utf8_len(s + i, n - i)) != 0) {
            out = s + i;
            k = used;
        } else {
            out = "\\ufffd";
            k = 6;
            used = 1;
        }
        if (cap - o < k)
            break;
        memcpy(buf + o, out, k);
        o += k;
        i += used;
    }
    return o;
}

size_t
kl_api_json_frame(const char *head, const char *msg, size_t msg_len, const char *tail, char *buf,
                  size_t cap)
{
    size_t hn = strlen(head), tn = strlen(tail);
    if (cap == 0)
        return 0;
    if (hn + tn + 1 > cap) {
        buf[0] = '\0';
        return 0;
    }
    memcpy(buf, head, hn);
    size_t m = kl_api_json_escape(msg, msg_len, buf + hn, cap - hn - tn - 1);
    memcpy(buf + hn + m, tail, tn);
    buf[hn + m + tn] = '\0';
    return hn + m + tn;
}

size_t
kl_api_err_json(const kl_api_err_t *e, char *buf, size_t cap)
{
    char head[40];
    snprintf(head, sizeof head, "{\"code\":%d,\"msg\":\"", e->code);
    return kl_api_json_frame(head, e->msg, strnlen(e->msg, sizeof e->msg), "\"}", buf, cap);
}
