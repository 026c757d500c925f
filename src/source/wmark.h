/* Event-time watermarks of one feed connection (a Binance WS connection, a lines client): the
 * time up to which the connection has delivered every trade, which is when its symbols' klines
 * may become final. Finality that follows the wall clock instead refuses every trade still in
 * flight at a boundary; this follows what the feed has delivered.
 *
 * DESIGN. A connection delivers in order (one TCP stream), so once it delivered a trade of time
 * T, every trade older than T - disorder is in (disorder: how far trades of different symbols
 * may be out of time order on one connection; Binance spot shows E - T of a few ms). A silent
 * connection says nothing by itself: it advances only on proof that nothing older is in flight
 * (kl_wmark_quiet: a pong answering a ping sent at `at`, or a lines client idle long enough),
 * and then only to at - observed latency - disorder, so that a peer answering pings ahead of its
 * queued frames cannot make us close klines early either. The latency is the largest
 * (arrival - T) of the last 10 to 20 s. The watermark only moves forward, and it is announced
 * once per whole second it passes (klines end on whole seconds), which keeps the bookkeeping per
 * frame and the announcements per second. Pure; the owner (a source thread) calls it. */
#ifndef KL_SOURCE_WMARK_H
#define KL_SOURCE_WMARK_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/symreg.h" /* KL_SYM_MAX */

#define KL_WMARK_NONE INT64_MIN
#define KL_WMARK_LAT_WINDOW_MS 10000
/* A connection that delivered more trades than this in the last 10-20 s is busy: when it falls
 * silent it is stalled, not quiet, and frames may be queued behind a pong at a peer that
 * answers pings first (libwebsockets does), so only its frames move it again, or its pongs
 * once it has been silent for 10-20 s (then it is quiet for good, not stalled). */
#define KL_WMARK_QUIET_MAX_TRADES 20

typedef struct kl_wmark {
    int64_t disorder_ms;
    int64_t max_t;             /* highest trade time delivered */
    int64_t wm;                /* every trade before wm was delivered */
    int64_t announced;         /* last whole second announced */
    int64_t last_rx_ms;        /* exchange time of the last delivery */
    int64_t lat_cur, lat_prev; /* max (arrival - T) of the current and the previous window */
    uint32_t n_cur, n_prev;    /* trades delivered in those windows */
    int64_t lat_win_end;
} kl_wmark_t;

void kl_wmark_init(kl_wmark_t *w, int64_t disorder_ms);

/* A trade of time t_ms delivered at now_ms (exchange time, kl_evtime_now_ms). Returns its
 * delivery delay now_ms - t_ms (may be negative when the clocks disagree). */
int64_t kl_wmark_trade(kl_wmark_t *w, int64_t t_ms, int64_t now_ms);

/* Largest delivery delay of the last 10-20 s, or KL_WMARK_NONE before any trade. */
int64_t kl_wmark_latency_ms(const kl_wmark_t *w);

/* Proof at at_ms that the connection is current: advances the watermark to at_ms - latency -
 * disorder. Nothing happens before the first trade, when the observed latency exceeds
 * max_lat_ms (a feed of old trades is not live: the clock cannot bound it), or when the
 * connection is busy (KL_WMARK_QUIET_MAX_TRADES): a busy connection's silence is a stall. */
void kl_wmark_quiet(kl_wmark_t *w, int64_t at_ms, int64_t max_lat_ms);

/* A connection with no proof of its own (a lines client: no ping) that delivered nothing for
 * idle_ms by now_ms: every trade still in flight would be more than idle_ms late, so the
 * watermark moves to now_ms - idle_ms. Only for a live feed: nothing happens before the first
 * trade or when the observed latency exceeds idle_ms (old trades replayed over a socket). */
void kl_wmark_idle(kl_wmark_t *w, int64_t now_ms, int64_t idle_ms);

/* The whole second (ms) to announce when the watermark passed one since the last call, else
 * KL_WMARK_NONE. */
int64_t kl_wmark_due(kl_wmark_t *w);

/* ---- a connection's symbols ----------------------------------------------------------- */

/* The names a connection carried, to announce its watermark to. Grows when a new name comes
 * (never per trade); lookups are one hash probe sequence. */
typedef struct kl_symset {
    char (*names)[KL_SYM_MAX];
    uint32_t *slots; /* index + 1 into names; 0 = empty */
    size_t n, cap, mask;
} kl_symset_t;

/* Adds name (len bytes, < KL_SYM_MAX) unless present. Returns 1 if added, 0 if present,
 * KL_ENOMEM. */
int kl_symset_add(kl_symset_t *s, const char *name, size_t len);
void kl_symset_fini(kl_symset_t *s);

#endif
