/* libwebsockets' log callback, owned here (see lwslog.h): one process-wide callback, per-thread
 * component, hook and rate limit. */
#include "core/lwslog.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <string.h>

#include "core/log.h"

static _Thread_local const char *tl_comp;
static _Thread_local kl_lwslog_hook_t tl_hook;
static _Thread_local kl_ratelimit_t tl_rl;

static void
emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (tl_hook)
        tl_hook(level, line, n);
    uint64_t supp;
    /* a refusing peer or a flood of bad requests must not flood the log */
    if (kl_ratelimit_ok(&tl_rl, 1000, &supp))
        kl_log(level == LLL_ERR ? KL_LOG_WARN : KL_LOG_INFO, tl_comp ? tl_comp : "lws", "lws",
               "msg=\"%.*s\" suppressed=%llu", (int)(n > 300 ? 300 : n), line,
               (unsigned long long)supp);
}

static void
install(void)
{
    lws_set_log_level(LLL_ERR, emit);
}

void
kl_lwslog_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install);
}

void
kl_lwslog_bind(const char *comp, kl_lwslog_hook_t hook)
{
    tl_comp = comp;
    tl_hook = hook;
}
