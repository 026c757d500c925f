/* The API's store reader threads ("kl-apiread"): a bounded queue of reads in, a done list out,
 * one store connection per thread. See reader.h for the design. */
#include "api/reader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "kl/err.h"

#define READERS_MAX 8

typedef struct reader_arg {
    api_readers_t *rd;
    int i;
} reader_arg_t;

struct api_readers {
    const kl_api_t *a; /* immutable parts only: cfg, schedules, lws context */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    api_read_t *q_head, *q_tail; /* submitted, not taken: oldest first */
    api_read_t *done_head, *done_tail;
    size_t n_open, bytes_open; /* submitted and not yet collected (queued, running or done) */
    uint64_t n_done;
    int stop;
    int n;
    int started;
    int delay_ms; /* test hook, see reader.h */
    kl_store_t *store[READERS_MAX];
    pthread_t th[READERS_MAX];
    reader_arg_t arg[READERS_MAX];
};

static void
read_free(api_read_t *r)
{
    kl_buf_free(&r->body);
    kl_free(r);
}

static void
run(api_readers_t *rd, kl_store_t *st, api_read_t *r)
{
    if (rd->delay_ms > 0) {
        struct timespec ts = {rd->delay_ms / 1000, (long)(rd->delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    if (r->kind == API_READ_REST)
        api_rest_read(rd->a, st, r);
    else
        r->rc = api_hub_seed(rd->a, st, &r->mem, r->symbol, r->unit, r->iv, r->lo, r->hi,
                             &r->acc, &r->have_acc);
}

static void *
reader_main(void *arg)
{
    reader_arg_t *ra = arg;
    api_readers_t *rd = ra->rd;
    kl_store_t *st = rd->store[ra->i];
    pthread_setname_np(pthread_self(), "kl-apiread");
    pthread_mutex_lock(&rd->mu);
    for (;;) {
        while (!rd->stop && !rd->q_head)
            pthread_cond_wait(&rd->cv, &rd->mu);
        if (rd->stop)
            break;
        api_read_t *r = rd->q_head;
        rd->q_head = r->next;
        if (!rd->q_head)
            rd->q_tail = NULL;
        r->next = NULL;
        pthread_mutex_unlock(&rd->mu);
        run(rd, st, r);
        pthread_mutex_lock(&rd->mu);
        if (rd->done_tail)
            rd->done_tail->next = r;
        else
            rd->done_head = r;
        rd->done_tail = r;
        rd->n_done++;
        pthread_mutex_unlock(&rd->mu);
        lws_cancel_service(rd->a->ctx); /* thread-safe: a byte into the service's pipe */
        pthread_mutex_lock(&rd->mu);
    }
    pthread_mutex_unlock(&rd->mu);
    return NULL;
}

/* PostgreSQL reads answer within pg-statement-timeout-ms or fail (a frozen server must not
 * hold a reader forever). */
static int
open_one(const kl_api_t *a, kl_store_t **out, char *err, size_t cap)
{
    char serr[512] = "";
    int rc = kl_store_open(a->cfg->store_url, out, serr, sizeof serr);
    if (rc != 0) {
        snprintf(err, cap, "api: store for REST: %s", serr);
        return rc;
    }
    rc = kl_store_set_statement_timeout(*out, a->cfg->pg_statement_timeout_ms);
    if (rc != 0) {
        snprintf(err, cap, "api: store for REST: cannot set statement_timeout (%s)",
                 kl_strerror(rc));
        kl_store_close(*out);
        *out = NULL;
    }
    return rc;
}

int
api_readers_create(const kl_api_t *a, api_readers_t **out, char *err, size_t cap)
{
    api_readers_t *rd = kl_calloc(1, sizeof *rd);
    if (!rd) {
        snprintf(err, cap, "api: out of memory");
        return KL_ENOMEM;
    }
    rd->a = a;
    rd->n = a->cfg->api_readers < 1 ? 1 : a->cfg->api_readers > READERS_MAX ? READERS_MAX
                                                                           : a->cfg->api_readers;
    const char *d = getenv("KLINED_TEST_READ_DELAY_MS");
    if (d && *d) {
        long v = strtol(d, NULL, 10);
        rd->delay_ms = v < 0 ? 0 : v > 60000 ? 60000 : (int)v;
        kl_log(KL_LOG_WARN, "api", "test_read_delay",
               "delay_ms=%d reason=\"KLINED_TEST_READ_DELAY_MS is set: every API store read "
               "sleeps first (tests only)\"", rd->delay_ms);
    }
    pthread_mutex_init(&rd->mu, NULL);
    pthread_cond_init(&rd->cv, NULL);
    for (int i = 0; i < rd->n; i++) {
        int rc = open_one(a, &rd->store[i], err, cap);
        if (rc != 0) {
            api_readers_destroy(rd);
            return rc;
        }
    }
    *out = rd;
    return 0;
}

int
api_readers_start(api_readers_t *rd)
{
    for (int i = 0; i < rd->n; i++) {
        reader_arg_t *ra = &rd->arg[i];
        ra->rd = rd;
        ra->i = i;
        int rc = pthread_create(&rd->th[i], NULL, reader_main, ra);
        if (rc != 0) {
            rd->started = i;
            api_readers_stop(rd);
            return -rc;
        }
    }
    rd->started = rd->n;
    return 0;
}

void
api_readers_stop(api_readers_t *rd)
{
    if (!rd || !rd->started)
        return;
    pthread_mutex_lock(&rd->mu);
    rd->stop = 1;
    pthread_cond_broadcast(&rd->cv);
    pthread_mutex_unlock(&rd->mu);
    for (int i = 0; i < rd->started; i++)
        pthread_join(rd->th[i], NULL);
    rd->started = 0;
}

void
api_readers_destroy(api_readers_t *rd)
{
    if (!rd)
        return;
    api_readers_stop(rd);
    for (api_read_t *r = rd->q_head, *nx; r; r = nx) {
        nx = r->next;
        read_free(r);
    }
    for (api_read_t *r = rd->done_head, *nx; r; r = nx) {
        nx = r->next;
        read_free(r);
    }
    for (int i = 0; i < rd->n; i++)
        if (rd->store[i])
            kl_store_close(rd->store[i]);
    pthread_mutex_destroy(&rd->mu);
    pthread_cond_destroy(&rd->cv);
    kl_free(rd);
}

api_read_t *
api_read_new(void)
{
    return kl_calloc(1, sizeof(api_read_t));
}

int
api_read_submit(api_readers_t *rd, api_read_t *r, size_t charge)
{
    const kl_config_t *cfg = rd->a->cfg;
    r->charge = charge + sizeof *r;
    r->next = NULL;
    pthread_mutex_lock(&rd->mu);
    if (rd->n_open >= (size_t)cfg->api_read_queue ||
        rd->bytes_open + r->charge > (size_t)cfg->api_read_queue_bytes) {
        pthread_mutex_unlock(&rd->mu);
        return KL_EFULL;
    }
    rd->n_open++;
    rd->bytes_open += r->charge;
    if (rd->q_tail)
        rd->q_tail->next = r;
    else
        rd->q_head = r;
    rd->q_tail = r;
    pthread_cond_signal(&rd->cv);
    pthread_mutex_unlock(&rd->mu);
    return 0;
}

void
api_read_abandon(api_read_t *r)
{
    if (r) {
        r->s = NULL;
        r->u = NULL;
    }
}

void
api_readers_collect(kl_api_t *a)
{
    api_readers_t *rd = a->readers;
    if (!rd)
        return;
    pthread_mutex_lock(&rd->mu);
    api_read_t *r = rd->done_head;
    rd->done_head = rd->done_tail = NULL;
    pthread_mutex_unlock(&rd->mu);
    while (r) {
        api_read_t *nx = r->next;
        size_t charge = r->charge;
        if (r->s)
            api_rest_done(a, r);
        else if (r->u)
            api_ws_seed_done(a, r);
        read_free(r);
        pthread_mutex_lock(&rd->mu);
        rd->n_open--;
        rd->bytes_open -= charge;
        pthread_mutex_unlock(&rd->mu);
        r = nx;
    }
}

void
api_readers_stats(api_readers_t *rd, api_readers_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!rd)
        return;
    pthread_mutex_lock(&rd->mu);
    out->queued = rd->n_open;
    out->bytes = rd->bytes_open;
    out->done = rd->n_done;
    pthread_mutex_unlock(&rd->mu);
}
