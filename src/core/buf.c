/* Growable byte buffer for responses. Growth doubles (amortised O(1) appends) and goes through
 * kl_alloc, so the allocation-failure tests reach it; the first failure is sticky so a long
 * sequence of appends needs one check at the end. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "kl/err.h"

#define BUF_MIN_CAP 256

void
kl_buf_free(kl_buf_t *b)
{
    if (!b)
        return;
    kl_free(b->p);
    memset(b, 0, sizeof *b);
}

int
kl_buf_reserve(kl_buf_t *b, size_t extra)
{
    if (b->oom)
        return KL_ENOMEM;
    /* +1 for the trailing NUL, which is never counted in len. */
    if (extra > SIZE_MAX - b->len - 1)
        goto oom;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    /* kl_alloc has no realloc: copy by hand (buffers are response-sized, the copy is cheap
     * next to building them). */
    char *p = kl_alloc(cap);
    if (!p)
        goto oom;
    if (b->len)
        memcpy(p, b->p, b->len);
    p[b->len] = '\0';
    kl_free(b->p);
    b->p = p;
    b->cap = cap;
    return 0;
oom:
    b->oom = 1;
    return KL_ENOMEM;
}

void
kl_buf_put(kl_buf_t *b, const void *p, size_t n)
{
    if (kl_buf_reserve(b, n) != 0)
        return;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void
kl_buf_puts(kl_buf_t *b, const char *s)
{
    kl_buf_put(b, s, strlen(s));
}

void
kl_buf_printf(kl_buf_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    /* Try in the space there is, then once more in exactly enough: most calls need one pass. */
    char dummy[1];
    char *dst = b->cap ? b->p + b->len : dummy;
    size_t room = b->cap ? b->cap - b->len : sizeof dummy;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        /* An encoding error: nothing sensible to append. Keep the content NUL-terminated. */
        if (b->cap)
            b->p[b->len] = '\0';
        return;
    }
    if ((size_t)n < room) {
        b->len += (size_t)n;
        return;
    }
    if (kl_buf_reserve(b, (size_t)n) != 0) {
        if (b->cap)
            b->p[b->len] = '\0'; /* the failed first pass may have written past len */
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
