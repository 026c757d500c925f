/* The API's store readers: a small pool of threads, each with its own store connection, that
 * run the store reads of REST klines requests and of WS time-zone subscriptions, so that the
 * API thread (which serves every socket) never waits for the store.
 *
 * DESIGN. The API thread fills an api_read_t (the request, plus a copy of the pair's memory so
 * that the reader touches nothing the API thread owns) and submits it. The queue is bounded in
 * count (api-read-queue) and in bytes (api-read-queue-bytes: each read is charged its answer's
 * estimated size); a read that does not fit is refused at once (the caller answers 503), never
 * waited for. A reader thread takes the oldest read, runs it on its connection, appends it to
 * the done list and wakes the API thread (lws_cancel_service); the API thread collects done
 * reads in LWS_CALLBACK_EVENT_WAIT_CANCELLED and writes the answer from there. A client that
 * hangs up while its read is in flight clears the read's back pointer (api_read_abandon), so the
 * completion touches no freed session: the read is then freed unanswered. Order: reads are
 * answered in no particular order across readers; one client has at most one HTTP read in
 * flight, and a WS subscription at most one seed.
 *
 * Test hook: with the environment variable KLINED_TEST_READ_DELAY_MS=N (0..60000) set at
 * start, every read sleeps N ms first, as a frozen store would (tests/integ/api_reader.sh). */
#ifndef KL_API_READER_H
#define KL_API_READER_H

#include "api/api_int.h"

enum api_read_kind { API_READ_REST = 1, API_READ_SEED };

struct api_read {
    api_read_t *next;
    int kind;
    size_t charge; /* bytes counted against api-read-queue-bytes until collected */
    /* In: written by the API thread before api_read_submit, then read-only. */
    char symbol[32];
    uint32_t unit; /* the symbol's time unit, 1 or 1000 */
    int iv;        /* REST: unused (see kq); seed: the base interval */
    kl_klines_query_t kq; /* REST */
    kl_tz_plan_t plan;    /* REST */
    int64_t lo, hi;       /* seed: the base window to fold */
    api_mem_t mem;        /* the pair's memory when submitted */
    /* Out: written by the reader, read by the API thread after collection. */
    int rc;            /* 0, or the error of a failed read */
    int status;        /* REST: HTTP status of body */
    kl_buf_t body;     /* REST: LWS_PRE bytes of headroom, then the JSON answer */
    kl_kline_t acc;    /* seed: the fold of the window */
    int have_acc;
    /* API thread only: who waits for it; NULL once it went away. */
    sess_t *s;
    sub_t *u;
};

/* Opens cfg->api_readers store connections on cfg->store_url (PostgreSQL ones with
 * statement_timeout = pg-statement-timeout-ms). Returns 0 and *out, or an error with a message
 * in err. Main thread. */
int api_readers_create(const kl_api_t *a, api_readers_t **out, char *err, size_t cap);
/* Starts the threads. Returns 0 or -errno (then none runs). Main thread. */
int api_readers_start(api_readers_t *rd);
/* Stops and joins the threads (reads still queued stay queued). NULL is a no-op. */
void api_readers_stop(api_readers_t *rd);
/* Frees the reads left and closes the connections, after api_readers_stop and after every
 * session was closed. NULL is a no-op. */
void api_readers_destroy(api_readers_t *rd);

/* A zeroed read, or NULL when out of memory. API thread. */
api_read_t *api_read_new(void);
/* Queues r charged charge bytes (API thread). Returns 0 (r is the pool's until collected), or
 * KL_EFULL when the count or byte bound would be passed (r stays the caller's). */
int api_read_submit(api_readers_t *rd, api_read_t *r, size_t charge);
/* The waiter of r went away: its completion is dropped. API thread. */
void api_read_abandon(api_read_t *r);
/* Hands every completed read to its waiter (api_rest_done / api_ws_seed_done) and frees it.
 * API thread, from LWS_CALLBACK_EVENT_WAIT_CANCELLED. */
void api_readers_collect(kl_api_t *a);

typedef struct api_readers_stats {
    size_t queued, bytes; /* reads submitted and not yet collected, and their charge */
    uint64_t done;
} api_readers_stats_t;
void api_readers_stats(api_readers_t *rd, api_readers_stats_t *out);

#endif
