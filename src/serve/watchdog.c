/* The stop watchdog (see watchdog.h): one detached thread that polls CLOCK_MONOTONIC every
 * 50 ms until its deadline or a disarm. A poll, not a timed wait on a condition variable: how a
 * timed wait's deadline is read depends on the condition's clock attribute being honoured by
 * everything in between (libfaketime, which tests/integ/clock_step.sh preloads, rewrites it and
 * made the watchdog fire at once), while a poll of the monotonic clock has one meaning, and costs
 * nothing during a stop. _exit() skips atexit handlers and stdio flushing, which a hung thread
 * could otherwise block; the log lines are drained first. */
#include "serve/watchdog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define WD_POLL_MS 50

static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER; /* arming */
static int wd_armed, wd_code, wd_ms;
static _Atomic int wd_disarmed;
static const char *wd_why;
static kl_watchdog_report_fn wd_report;
static void *wd_ctx;

static void *
wd_main(void *arg)
{
    (void)arg;
    int64_t deadline = kl_mono_ms() + wd_ms;
    for (;;) {
        if (atomic_load_explicit(&wd_disarmed, memory_order_acquire))
            return NULL;
        int64_t left = deadline - kl_mono_ms();
        if (left <= 0)
            break;
        struct timespec ts = {0, (left < WD_POLL_MS ? left : WD_POLL_MS) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (wd_report)
        wd_report(wd_ctx);
    kl_log(KL_LOG_ERROR, "serve", "exit_forced",
           "status=%d grace_ms=%d reason=\"%s\" action=\"the stop did not finish in time: "
           "exiting now; the WAL up to the last fsync is intact\"",
           wd_code, wd_ms, wd_why ? wd_why : "fatal error");
    kl_log_async_stop(1000); /* the lines above are in the log ring until drained */
    _exit(wd_code);
}

int
kl_watchdog_arm(int ms, int code, const char *why, kl_watchdog_report_fn report, void *ctx)
{
    pthread_mutex_lock(&wd_mu);
    if (wd_armed) {
        pthread_mutex_unlock(&wd_mu);
        return 0;
    }
    wd_ms = ms > 0 ? ms : 1;
    wd_code = code;
    wd_why = why;
    wd_report = report;
    wd_ctx = ctx;
    atomic_store_explicit(&wd_disarmed, 0, memory_order_relaxed);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &at, wd_main, NULL);
    pthread_attr_destroy(&at);
    wd_armed = rc == 0;
    pthread_mutex_unlock(&wd_mu);
    return -rc;
}

void
kl_watchdog_disarm(void)
{
    atomic_store_explicit(&wd_disarmed, 1, memory_order_release);
}
