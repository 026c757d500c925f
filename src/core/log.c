/* Structured log lines and the clocks they need.
 *
 * Output: by default each line is written to stderr with one write(2). After
 * kl_log_async_start() (klined serve), lines go into a bounded byte ring that a logger thread
 * drains to stderr, so a stderr that blocks (a full pipe nobody reads, a stopped terminal)
 * blocks only that thread: a line that finds the ring full is dropped and counted, and the
 * count is reported by a line of its own once the output moves again. */
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void out_line(const char *line, size_t n);

static _Atomic int min_level = KL_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
kl_log_set_level(int level)
{
    atomic_store_explicit(&min_level, level, memory_order_relaxed);
}

int
kl_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

int64_t
kl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
kl_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t
kl_rx_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint32_t us = (uint32_t)((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
    return us ? us : 1; /* 0 means "not stamped" */
}

uint64_t
kl_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Copies src[0..n) to dst (at most cap - 1 bytes, never a partial escape), writing every
 * control character and every byte outside printable ASCII as \xNN, and '\\' as \x5c so that
 * an escape can be told from the bytes. Values in log lines come from outside (symbol names,
 * paths, client data): a "\n" in one must not forge a second line. Returns the length. */
static size_t
log_escape(char *dst, size_t cap, const char *src, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            if (o + 1 >= cap)
                break;
            dst[o++] = (char)c;
        } else {
            if (o + 4 >= cap)
                break;
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    return o;
}

void
kl_log(int level, const char *comp, const char *event, const char *fmt, ...)
{
    if (level < atomic_load_explicit(&min_level, memory_order_relaxed))
        return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s comp=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[level & 3], comp, event);
    if (fmt && *fmt && n > 0 && (size_t)n < sizeof line - 2) {
        line[n++] = ' ';
        char msg[sizeof line];
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += (int)log_escape(line + n, sizeof line - (size_t)n - 1, msg,
                                 m < (int)sizeof msg ? (size_t)m : sizeof msg - 1);
    }
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    out_line(line, (size_t)n);
}

/* ---- output ------------------------------------------------------------------------------ */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t more, room; /* more: for the logger; room: a drain waits on it */
    char *ring, *chunk; /* cap bytes each */
    size_t cap, head, len; /* oldest byte, bytes held */
    int stop, writing;
    uint64_t dropped_unreported;
    pthread_t thread;
} g_out = {.mu = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER,
            .room = PTHREAD_COND_INITIALIZER};
static _Atomic uint64_t g_dropped;
static _Atomic int g_on; /* lines go through the ring */

static void
write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere left to report a failed log write */
        p += w;
        n -= (size_t)w;
    }
}

static void
out_line(const char *line, size_t n)
{
    if (!atomic_load_explicit(&g_on, memory_order_acquire)) {
        write_all(line, n);
        return;
    }
    pthread_mutex_lock(&g_out.mu);
    if (!g_out.ring) { /* stopped meanwhile */
        pthread_mutex_unlock(&g_out.mu);
        write_all(line, n);
        return;
    }
    if (g_out.len + n > g_out.cap) {
        g_out.dropped_unreported++;
        atomic_fetch_add_explicit(&g_dropped, 1, memory_order_relaxed);
    } else {
        size_t at = (g_out.head + g_out.len) % g_out.cap;
        size_t first = g_out.cap - at < n ? g_out.cap - at : n;
        memcpy(g_out.ring + at, line, first);
        memcpy(g_out.ring, line + first, n - first);
        g_out.len += n;
        pthread_cond_signal(&g_out.more);
    }
    pthread_mutex_unlock(&g_out.mu);
}

static void *
logger_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "kl-log");
    char *chunk = g_out.chunk;
    pthread_mutex_lock(&g_out.mu);
    for (;;) {
        while (g_out.len == 0 && !g_out.dropped_unreported && !g_out.stop)
            pthread_cond_wait(&g_out.more, &g_out.mu);
        if (g_out.len == 0 && !g_out.dropped_unreported)
            break; /* stopping, and everything is out */
        size_t n = 0;
        while (g_out.len > 0) { /* copied out, so producers never wait on the write */
            size_t first = g_out.cap - g_out.head < g_out.len
                               ? g_out.cap - g_out.head : g_out.len;
            memcpy(chunk + n, g_out.ring + g_out.head, first);
            n += first;
            g_out.head = (g_out.head + first) % g_out.cap;
            g_out.len -= first;
        }
        uint64_t dropped = g_out.dropped_unreported;
        g_out.dropped_unreported = 0;
        g_out.writing = 1;
        pthread_mutex_unlock(&g_out.mu);
        write_all(chunk, n);
        if (dropped) {
            char line[160];
            int m = snprintf(line, sizeof line, "level=warn comp=log event=dropped lines=%llu "
                             "reason=\"stderr blocked, the log ring (%zu bytes) was full\"\n",
                             (unsigned long long)dropped, g_out.cap);
            write_all(line, (size_t)m);
        }
        pthread_mutex_lock(&g_out.mu);
        g_out.writing = 0;
        pthread_cond_broadcast(&g_out.room);
    }
    pthread_mutex_unlock(&g_out.mu);
    return NULL;
}

int
kl_log_async_start(size_t ring_bytes)
{
    if (atomic_load(&g_on))
        return 0;
    /* Plain malloc: the log outlives every module and is never freed while a thread may log. */
    g_out.cap = ring_bytes < 4096 ? 4096 : ring_bytes;
    g_out.ring = malloc(g_out.cap);
    g_out.chunk = malloc(g_out.cap);
    g_out.stop = 0;
    int rc = g_out.ring && g_out.chunk ? pthread_create(&g_out.thread, NULL, logger_main, NULL)
                                       : ENOMEM;
    if (rc != 0) {
        free(g_out.ring);
        free(g_out.chunk);
        g_out.ring = g_out.chunk = NULL;
        return -rc;
    }
    atomic_store_explicit(&g_on, 1, memory_order_release);
    return 0;
}

int
kl_log_async_stop(int timeout_ms)
{
    if (!atomic_load(&g_on))
        return 0;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L)
        dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&g_out.mu);
    g_out.stop = 1;
    pthread_cond_signal(&g_out.more);
    int timed_out = 0;
    while ((g_out.len > 0 || g_out.writing) && !timed_out)
        timed_out = pthread_cond_timedwait(&g_out.room, &g_out.mu, &dl) == ETIMEDOUT;
    pthread_mutex_unlock(&g_out.mu);
    if (timed_out)
        return -1; /* the logger is stuck in write(2); the process exit ends it */
    pthread_join(g_out.thread, NULL);
    atomic_store_explicit(&g_on, 0, memory_order_release);
    pthread_mutex_lock(&g_out.mu); /* a line in flight finishes before the ring goes */
    free(g_out.ring);
    free(g_out.chunk);
    g_out.ring = g_out.chunk = NULL;
    g_out.len = g_out.head = 0;
    pthread_mutex_unlock(&g_out.mu);
    return 0;
}

uint64_t
kl_log_dropped(void)
{
    return atomic_load_explicit(&g_dropped, memory_order_relaxed);
}

int
kl_ratelimit_ok(kl_ratelimit_t *rl, int64_t interval_ms, uint64_t *suppressed)
{
    int64_t now = kl_mono_ms();
    if (rl->last_ms != 0 && now - rl->last_ms < interval_ms) {
        rl->suppressed++;
        return 0;
    }
    rl->last_ms = now;
    *suppressed = rl->suppressed;
    rl->suppressed = 0;
    return 1;
}
