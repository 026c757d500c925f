/* The re-adder: a removed symbol's stored state read off the workers and off the API thread, so
 * that re-adding it resumes its series. See readd.h for the design. */
#include "serve/readd.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "engine/kline.h"
#include "kl/err.h"

struct kl_readd {
    char *store_url;
    kl_symreg_t *reg;
    kl_readd_send_fn send;
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started, stop;
    char names[KL_READD_QUEUE][KL_SYM_MAX]; /* FIFO ring */
    size_t head, n;
    kl_store_t *store; /* the thread's own handle, opened on its first job */
};

typedef struct state_copy {
    void *blob;
    uint32_t len;
} state_copy_t;

static int
copy_state(void *ctx, const char *symbol, const void *blob, size_t len)
{
    (void)symbol;
    state_copy_t *c = ctx;
    if (len == 0 || len > KL_SERIES_STATE_MAX)
        return 0; /* not a state of ours: resume nothing */
    if (!(c->blob = kl_alloc(len)))
        return KL_ENOMEM;
    memcpy(c->blob, blob, len);
    c->len = (uint32_t)len;
    return 0;
}

int
kl_readd_from_store(kl_store_t *st, kl_symreg_t *reg, const char *name, kl_syminfo_t *out)
{
    state_copy_t c = {NULL, 0};
    int rc = st ? kl_store_state(st, name, copy_state, &c) : KL_ESTORE;
    if (rc < 0) {
        kl_free(c.blob);
        kl_symreg_readd_cancel(reg, name);
        kl_log(KL_LOG_ERROR, "readd", "state_unreadable",
               "symbol=%s error=\"%s\" action=\"not added: it stays removed; add it again\"", name,
               kl_strerror(rc));
        return rc;
    }
    /* The unit is at bytes 8..9 of a state blob (kline_state.c FORMAT). */
    const uint8_t *b = c.blob;
    uint32_t unit = c.len >= 40 ? (uint32_t)(b[8] | b[9] << 8) : 0;
    uint32_t len = c.len;
    rc = kl_symreg_readd_state(reg, name, unit == 1000 ? 1000 : unit ? 1 : 0, c.blob, len, out);
    if (rc == 1 && len)
        kl_log(KL_LOG_INFO, "readd", "state_read", "symbol=%s bytes=%u worker=%d "
               "action=\"the series continues from its stored state\"", name, len, out->worker);
    else if (rc == 1)
        kl_log(KL_LOG_WARN, "readd", "no_state", "symbol=%s worker=%d "
               "action=\"no stored series: it starts afresh\"", name, out->worker);
    return rc;
}

static void *
readd_main(void *arg)
{
    kl_readd_t *q = arg;
    pthread_setname_np(pthread_self(), "kl-readd");
    char name[KL_SYM_MAX];
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->stop && q->n == 0)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stop)
            break;
        memcpy(name, q->names[q->head], sizeof name);
        q->head = (q->head + 1) % KL_READD_QUEUE;
        q->n--;
        pthread_mutex_unlock(&q->mu);
        if (!q->store) {
            char err[512] = "";
            if (kl_store_open(q->store_url, &q->store, err, sizeof err) != 0) {
                q->store = NULL;
                kl_log(KL_LOG_ERROR, "readd", "store_unavailable",
                       "symbol=%s error=\"%s\" action=\"not added: it stays removed; add it "
                       "again\"", name, err);
            }
        }
        kl_syminfo_t info;
        int rc = q->store ? kl_readd_from_store(q->store, q->reg, name, &info) : KL_ESTORE;
        if (!q->store)
            kl_symreg_readd_cancel(q->reg, name);
        if (rc == 1 && (rc = q->send(q->ctx, &info)) != 0)
            kl_log(KL_LOG_ERROR, "readd", "add_not_sent",
                   "symbol=%s worker=%d error=\"%s\" action=\"its worker creates the slot at its "
                   "first trade\"", name, info.worker, kl_strerror(rc));
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

kl_readd_t *
kl_readd_create(const char *store_url, kl_symreg_t *reg, kl_readd_send_fn send, void *ctx)
{
    kl_readd_t *q = kl_calloc(1, sizeof *q);
    size_t n = strlen(store_url) + 1;
    if (!q || !(q->store_url = kl_alloc(n))) {
        kl_free(q);
        return NULL;
    }
    memcpy(q->store_url, store_url, n);
    q->reg = reg;
    q->send = send;
    q->ctx = ctx;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    return q;
}

int
kl_readd_submit(kl_readd_t *q, const char *name)
{
    int rc = 0;
    pthread_mutex_lock(&q->mu);
    if (q->stop)
        rc = KL_ESHUTDOWN;
    else if (q->n == KL_READD_QUEUE)
        rc = KL_EFULL;
    else if (!q->started && (rc = -pthread_create(&q->thread, NULL, readd_main, q)) == 0)
        q->started = 1;
    if (rc == 0) {
        snprintf(q->names[(q->head + q->n) % KL_READD_QUEUE], KL_SYM_MAX, "%s", name);
        q->n++;
        pthread_cond_signal(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void
kl_readd_destroy(kl_readd_t *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    if (q->started)
        pthread_join(q->thread, NULL);
    for (; q->n > 0; q->n--, q->head = (q->head + 1) % KL_READD_QUEUE) {
        kl_symreg_readd_cancel(q->reg, q->names[q->head]);
        kl_log(KL_LOG_WARN, "readd", "cancelled",
               "symbol=%s reason=\"shutting down before its state was read\" action=\"it stays "
               "removed\"", q->names[q->head]);
    }
    if (q->store)
        kl_store_close(q->store);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    kl_free(q->store_url);
    kl_free(q);
}
