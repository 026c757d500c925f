/* The stop watchdog (see watchdog.h): one detached thread sleeping on a condition
 * variable with a deadline on CLOCK_MONOTONIC; _exit() skips atexit handlers and stdio
 * flushing, which a hung thread could otherwise block, and the log line is written before. */
#include "serve/watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cv;
static int wd_armed, wd_disarmed, wd_code, wd_ms;
static const char *wd_why;
static kl_watchdog_report_fn wd_report;
static void *wd_ctx;

static void *
wd_main(void *arg)
{
    (void)arg;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += wd_ms / 1000;
    dl.tv_nsec += (long)(wd_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&wd_mu);
    int rc = 0;
    while (!wd_disarmed && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&wd_cv, &wd_mu, &dl);
    int fire = !wd_disarmed;
    pthread_mutex_unlock(&wd_mu);
    if (fire) {
        if (wd_report)
            wd_report(wd_ctx);
        kl_log(KL_LOG_ERROR, "serve", "exit_forced",
               "status=%d grace_ms=%d reason=\"%s\" action=\"the stop did not finish in time: "
               "exiting now; the WAL up to the last fsync is intact\"",
               wd_code, wd_ms, wd_why ? wd_why : "fatal error");
        kl_log_async_stop(1000); /* the lines above are in the log ring until drained */
        _exit(wd_code);
    }
    return NULL;
}

int
kl_watchdog_arm(int ms, int code, const char *why, kl_watchdog_report_fn report, void *ctx)
{
    pthread_mutex_lock(&wd_mu);
    if (wd_armed) {
        pthread_mutex_unlock(&wd_mu);
        return 0;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd_cv, &ca);
    pthread_condattr_destroy(&ca);
    wd_ms = ms > 0 ? ms : 1;
    wd_code = code;
    wd_why = why;
    wd_report = report;
    wd_ctx = ctx;
    wd_disarmed = 0;
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
    pthread_mutex_lock(&wd_mu);
    if (wd_armed) {
        wd_disarmed = 1;
        pthread_cond_signal(&wd_cv);
    }
    pthread_mutex_unlock(&wd_mu);
}
