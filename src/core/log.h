/* Leveled, structured logging: one line per event on stderr,
 * `2026-11-25T22:26:29.123Z level=warn comp=worker event=... key=value ...`. Any thread; each
 * line is written with one write(2), so lines from different threads never interleave. Not for
 * the hot path: count there, and log from the stats line or rate-limited. */
#ifndef KL_CORE_LOG_H
#define KL_CORE_LOG_H

#include <stddef.h>
#include <stdint.h>

enum kl_log_level { KL_LOG_DEBUG, KL_LOG_INFO, KL_LOG_WARN, KL_LOG_ERROR };

/* Sets the lowest level written (default INFO). Call before starting threads. */
void kl_log_set_level(int level);

/* Parses "debug|info|warn|error"; returns the level or -1. */
int kl_log_level_parse(const char *s);

/* comp and event are short identifiers; fmt adds key=value pairs. */
void kl_log(int level, const char *comp, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Asynchronous output (klined serve): from kl_log_async_start() on, lines go into a ring of
 * ring_bytes (at least 4096; config log-buffer-bytes) drained to stderr by a logger thread, so a blocked stderr blocks no other
 * thread; a line that finds the ring full is dropped and counted (kl_log_dropped), and a
 * `comp=log event=dropped lines=N` line says so once stderr moves again. Start it before other
 * threads log. kl_log_async_stop() drains for at most timeout_ms (a stderr still blocked then
 * keeps what is left) and returns 0, or -1 when it gave up; logging is synchronous again after
 * a 0. */
int kl_log_async_start(size_t ring_bytes);
int kl_log_async_stop(int timeout_ms);
uint64_t kl_log_dropped(void);

/* Rate limiter for repeated lines: returns 1 at most once per interval_ms per limiter, and
 * counts the suppressed calls in *suppressed (reset when it returns 1). Owner thread only. */
typedef struct kl_ratelimit {
    int64_t last_ms;
    uint64_t suppressed;
} kl_ratelimit_t;

int kl_ratelimit_ok(kl_ratelimit_t *rl, int64_t interval_ms, uint64_t *suppressed);

/* Wall-clock and monotonic milliseconds. */
int64_t kl_now_ms(void);
int64_t kl_mono_ms(void);
/* Monotonic clock in ns, for latency metrics. */
uint64_t kl_mono_ns(void);
/* Receive stamp for kl_trade_t.rx_us: the low 32 bits of the monotonic clock in us, never 0
 * (wraps every 71 minutes; only differences of a few seconds are ever taken). */
uint32_t kl_rx_us(void);

#endif
