/* Fail-stop watchdog: once the service has decided to stop because durability is lost (a WAL
 * write or fsync failed), the graceful stop gets a few seconds and no more. A thread that may
 * be blocked (a store that hangs, a producer stuck on a ring) must not keep the process alive:
 * a supervisor can only restart a process that exits. */
#ifndef KL_SERVE_WATCHDOG_H
#define KL_SERVE_WATCHDOG_H

/* Default grace for the stop after a fatal error, in milliseconds. */
#define KL_FAILSTOP_GRACE_MS 5000

/* Starts a detached thread that, unless kl_watchdog_disarm() runs first, logs one line and
 * calls _exit(code) after ms milliseconds. Arming twice keeps the first deadline. Returns 0 or
 * -errno (then the caller should _exit itself rather than risk a hang). Any thread. */
int kl_watchdog_arm(int ms, int code, const char *why);

/* The stop finished in time: the watchdog does nothing (the caller then returns normally). */
void kl_watchdog_disarm(void);

#endif
