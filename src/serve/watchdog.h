/* The stop watchdog: every stop of `klined serve` is bounded in time. A graceful stop gets
 * shutdown-timeout-ms; once the service stops because durability is lost (a WAL write or fsync
 * failed), it gets a few seconds. A thread that may be blocked (a store that hangs, a producer
 * stuck on a ring) must not keep the process alive: a supervisor can only restart a process
 * that exits, and the WAL holds what the stop did not finish. */
#ifndef KL_SERVE_WATCHDOG_H
#define KL_SERVE_WATCHDOG_H

/* Default grace for the stop after a fatal error, in milliseconds. */
#define KL_FAILSTOP_GRACE_MS 5000

/* report(ctx), when not NULL, logs what the stop was waiting for, on the watchdog's thread just
 * before it exits. */
typedef void (*kl_watchdog_report_fn)(void *ctx);

/* Starts a detached thread that, unless kl_watchdog_disarm() runs first, calls report, logs one
 * line, drains the log (at most 1 s) and calls _exit(code) after ms milliseconds (on the
 * monotonic clock: a wall-clock step neither shortens nor stretches it). Arming twice keeps the
 * first deadline. Returns 0 or -errno (then the caller should _exit itself rather than risk a
 * hang). Any thread. */
int kl_watchdog_arm(int ms, int code, const char *why, kl_watchdog_report_fn report, void *ctx);

/* The stop finished in time: the watchdog does nothing (the caller then returns normally). */
void kl_watchdog_disarm(void);

#endif
