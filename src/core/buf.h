/* A growable byte buffer for building responses (HTTP bodies, /metrics text). Errors are sticky
 * so a caller can append a whole document and check once at the end (like h2o's buffers and
 * Redis sds, minus the reallocation per append).
 *
 * Ownership: the buffer owns p; kl_buf_free() releases it and leaves an empty buffer. p is
 * NUL-terminated after every successful append (p[len] == '\0', not counted in len), so it can
 * be passed to string functions. A buffer is used by one thread at a time. */
#ifndef KL_CORE_BUF_H
#define KL_CORE_BUF_H

#include <stddef.h>

typedef struct kl_buf {
    char *p;    /* NULL until the first growth */
    size_t len; /* bytes written, not counting the trailing NUL */
    size_t cap; /* bytes allocated at p */
    int oom;    /* set by the first failed growth; every later append is a no-op */
} kl_buf_t; /* zero-init is an empty buffer */

/* Frees p and resets the buffer to empty (oom cleared). b may be NULL. */
void kl_buf_free(kl_buf_t *b);

/* Makes room for extra more bytes (plus the trailing NUL) without further allocation. Returns
 * 0, or KL_ENOMEM (allocation failed, size overflow, or oom already set): then oom is set and
 * later appends are no-ops; the content so far stays as it was. */
int kl_buf_reserve(kl_buf_t *b, size_t extra);

/* Appends n bytes from p (may contain NULs; p may be NULL when n is 0). */
void kl_buf_put(kl_buf_t *b, const void *p, size_t n);

/* Appends the NUL-terminated string s. */
void kl_buf_puts(kl_buf_t *b, const char *s);

/* Appends printf-formatted text. */
void kl_buf_printf(kl_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
