/* The live Binance spot feed: aggTrade combined streams over WebSocket, with every gap (a
 * reconnect, a restart after a crash, a hole in the stream) backfilled by trade id from REST
 * `aggTrades?fromId=`, so that no trade is missing and none is routed twice. The source itself is
 * created with kl_source_binance_create() (source.h); this header holds the pieces it is built
 * from that are pure and unit-tested on their own: the reconnect backoff, the URL split, the
 * REST page parser and the per-symbol gap filler.
 *
 * DESIGN
 *  - One libwebsockets context on the source thread carries everything: the WS connections
 *    (at most 1024 streams each, and a request path of at most KL_BINANCE_PATH_MAX bytes, so a
 *    long symbol list takes several connections) and the REST requests (lws HTTP client, one
 *    connection per request, at most KL_BINANCE_REST_INFLIGHT at once and at most one started
 *    per KL_BINANCE_REST_SPACING_MS, which keeps a full-market backfill inside Binance's request
 *    weight limit; 429/418 pause REST for Retry-After). A 50 ms timer drives timeouts, retries
 *    and the stop flag; the router is flushed after every service pass.
 *  - Per symbol, a gap filler (kl_bf_t) owns `last_id`, the last aggTrade id routed: from
 *    kl_symreg_resume() after a crash recovery, else the first live trade. When the first
 *    connection opens, GET /api/v3/time gives the exchange time the feed starts from (minus
 *    KL_BINANCE_START_MARGIN_MS); a symbol that has not traded yet is then "from the start", and a
 *    reconnect before its first live trade backfills it by startTime (then by id), so that its
 *    trades during the disconnect are not lost either. A live trade with
 *    id == last_id + 1 is routed at once; a lower id is a duplicate and dropped; a higher one
 *    starts a backfill: live trades are held in a bounded buffer while REST pages from
 *    last_id + 1 are routed in id order, then the held trades above last_id, so the routed ids
 *    are strictly increasing. A full buffer is dropped (counted) and REST fetches further.
 *    A (re)connect queues a REST check of every symbol, which the next live trade cancels if it
 *    is last_id + 1; the ones holding trades go first, so a reconnect of many symbols is not
 *    held up by REST's rate limit.
 *  - A gap REST cannot fill (it answers with a first id beyond last_id + 1, or stays behind the
 *    buffered live trades for KL_BF_MAX_EMPTY polls) is logged with its id span and counted; the
 *    ids in it are never made up.
 *  - Reconnects use full-jitter exponential backoff (250 ms base, 30 s cap), and every
 *    connection start also spends Binance's budget of 300 new connections per 5 minutes per IP
 *    (kl_binance_budget_t): when it is spent, the start waits until the oldest one leaves the
 *    window (logged at most once a minute). A connection is
 *    closed and reopened after 23 h 50 min (Binance ends them at 24 h), on {"e":"serverShutdown"},
 *    and when nothing (not even a pong to our ping, sent after 1 s of silence) arrived for 15 s.
 *    Malformed and oversized messages are counted as rejected, logged rate-limited, and the
 *    connection stays up.
 *  - Finality (clock = wall): each connection carries an event-time watermark (wmark.h): its
 *    highest trade time minus disorder-ms, or, while it is silent, the exchange time of a ping
 *    its pong answered (the ping's payload) minus the observed delivery delay. Each whole
 *    second it passes is sent to its symbols (kl_router_wmark) in order with their trades, so
 *    a kline closes only once every trade before its end was delivered. Exchange time is the
 *    anchored monotonic clock plus the offset of GET /api/v3/time (re-read every 10 min), and
 *    a trade more than max-skew-ms ahead of it is refused and counted.
 *  - Clock holds: a symbol's klines must not be finalized while trades of theirs may still
 *    come from REST. So a symbol that may have a hole (its connection dropped, it resumes after
 *    a restart, its stream showed a hole) is held with kl_router_hold() (watermarks skip it;
 *    its own trades still move it), and released, with the connection's latest watermark, once
 *    the hole is closed and the connection is live again; a hold that sees no trade for 60 s
 *    is released with a warning.
 *  - The symbol set follows the registry (kl_symreg): every SYNC_MS (1 s) the source compares
 *    its epoch (moves on removal) and live count with what it streams, and on a change diffs the
 *    lists. A new symbol goes on the first connection with room in its stream and path budgets
 *    (a new connection if none has); an open connection is sent {"method":"SUBSCRIBE",...},
 *    batched, at most one control message per 200 ms per connection (Binance allows 5/s), and
 *    the symbol starts at its first live trade (a symbol of the starting set resumes after
 *    recovery instead). A removed one is sent UNSUBSCRIBE, its hold released and its state
 *    freed (its slot stays: a REST answer in flight finds it dead); a connection left empty is
 *    closed until a new symbol needs it. Replies other than {"result":null,...} are logged as
 *    control_error. A (re)connect puts the connection's current set in its URL and drops the
 *    queued control messages.
 *  - Quote-asset mode (config quote-assets, no symbols): GET exchangeInfo at the start and every
 *    10 min; every symbol with status TRADING and one of the quote assets is added to the
 *    registry (KL_SYMREG_AUTO: one an admin removed stays removed), and the streamed set is the
 *    registry's live symbols that are in the latest quote set (a delisted one is unsubscribed
 *    but stays in the registry; an admin-added symbol of another quote asset is not streamed).
 *  - binance-stream = trade: `<symbol>@trade` streams instead, and `last_id` is a raw trade id:
 *    holes are backfilled from `historicalTrades?fromId=` pages (same paging, buffering,
 *    hand-over and clock holds; one page every KL_BINANCE_REST_SPACING_RAW_MS, since it weighs
 *    25). The backfill of a symbol from the start, which has no by-time raw page, first reads
 *    `aggTrades?startTime=&limit=1` and starts from that aggregate's first raw id `f` (none
 *    yet: the empty page counts as an empty poll, as for aggTrades). Events of the other kind
 *    on a stream are rejected. The resume id after a restart is taken as given: switching the
 *    stream kind over a kept store mixes two id spaces.
 *  - TLS trusts config binance-ca-file when set, else the system bundle, for the WS
 *    connections and REST alike (one lws context); a certificate the bundle does not accept
 *    fails the connect like any unreachable server: logged with lws's reason, retried.
 *  - Name resolution is the blocking getaddrinfo() of lws 4.1 (no async DNS in Debian's build):
 *    a reconnect may stall the loop for as long as the resolver takes.
 *
 * Threads: everything here runs on the source thread, except the pure functions (any thread). */
#ifndef KL_SOURCE_BINANCE_H
#define KL_SOURCE_BINANCE_H

#include <stddef.h>
#include <stdint.h>

#include "kl/types.h"

#define KL_BINANCE_STREAMS_MAX 1024 /* per connection (Binance limit) */
/* Request path budget per connection: lws 4.1 formats the client request line into at most
 * 2048 bytes (`GET ` + path + ` HTTP/1.1\r\n`) and a longer one fails the handshake, so a
 * connection carries about 110 streams of 8-letter symbols (the full spot market: ~15). */
#define KL_BINANCE_PATH_MAX 2000
#define KL_BINANCE_REST_LIMIT 1000  /* aggTrades/historicalTrades page size (Binance maximum) */
#define KL_BINANCE_REST_INFLIGHT 4
#define KL_BINANCE_REST_SPACING_MS 100 /* 10 req/s x weight 4 = 40% of 6000/min */
#define KL_BINANCE_REST_SPACING_RAW_MS 625 /* historicalTrades: 1.6 req/s x weight 25 = 40% */
#define KL_BINANCE_BACKOFF_BASE_MS 250
#define KL_BINANCE_BACKOFF_CAP_MS 30000
#define KL_BINANCE_ROTATE_MS ((int64_t)(23 * 60 + 50) * 60 * 1000)
#define KL_BINANCE_PING_IDLE_MS 1000 /* a silent connection is pinged: its pong moves the watermark */
#define KL_BINANCE_DEAD_MS 15000
#define KL_BINANCE_START_MARGIN_MS 1000
#define KL_BF_MAX_EMPTY 20        /* REST polls that bring nothing before a hole is a gap */
#define KL_BF_BUF_MAX (1u << 16)  /* live trades held per symbol during a backfill */

/* ---- backoff ----------------------------------------------------------------------------- */

/* A source of uniformly distributed 64-bit values; ctx is the generator's state. */
typedef uint64_t (*kl_rand_fn)(void *ctx);

/* Full-jitter exponential backoff: a delay drawn uniformly from [0, min(cap_ms, base_ms *
 * 2^attempt)] (both ends included), attempt 0 being the first retry. Never overflows, whatever
 * attempt is. base_ms <= 0 or cap_ms <= 0 give 0. Pure; any thread. */
int64_t kl_binance_backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms, kl_rand_fn rnd,
                              void *rnd_ctx);

/* xorshift64* step over *state (which must not be 0): a kl_rand_fn for production use. */
uint64_t kl_binance_rand(void *state);

/* ---- connection budget ------------------------------------------------------------------- */

/* Binance allows at most 300 new WS connections per 5 minutes per IP; beyond that it bans the
 * IP. A flapping network with many connections could spend that with backoff alone, so every
 * connection start goes through a sliding window of the last starts. */
#define KL_BINANCE_CONN_BUDGET 300
#define KL_BINANCE_CONN_WINDOW_MS ((int64_t)5 * 60 * 1000)

typedef struct kl_binance_budget {
    int64_t start_ms[KL_BINANCE_CONN_BUDGET]; /* ring of the starts inside the window, oldest at
                                                 head */
    uint32_t head, n, max;
    int64_t window_ms;
} kl_binance_budget_t;

/* At most max (clamped to 1..KL_BINANCE_CONN_BUDGET) starts in any window_ms (> 0). */
void kl_binance_budget_init(kl_binance_budget_t *bg, uint32_t max, int64_t window_ms);

/* Asks for one connection start at now_ms (a monotonic clock, never going back). Returns 0 when
 * it may start now, and records it; else the ms to wait (> 0) until the oldest start leaves the
 * window, and records nothing. Pure (the clock is the caller's); any thread, one at a time per
 * budget. */
int64_t kl_binance_budget_take(kl_binance_budget_t *bg, int64_t now_ms);

/* ---- URLs -------------------------------------------------------------------------------- */

typedef struct kl_binance_url {
    int tls;           /* wss:// or https:// */
    char host[256];    /* without brackets for an IPv6 literal */
    int port;          /* explicit, or 443/80 by scheme */
    char prefix[256];  /* path before what the source appends, "" or "/x/y" (no trailing '/') */
} kl_binance_url_t;

/* Splits "ws[s]://host[:port][/prefix]" or "http[s]://..." into *out. Returns 0, or KL_EARG
 * (unknown scheme, empty or over-long host, bad port, a query or fragment). *out is written
 * only on success. Pure; any thread. */
int kl_binance_url_parse(const char *url, kl_binance_url_t *out);

/* ---- REST page --------------------------------------------------------------------------- */

/* Parses a REST aggTrades answer (a JSON array of {"a","p","q","f","l","T","m","M"} objects)
 * of symbol into out[0..max): each element goes through kl_trade_json_parse() and
 * kl_trade_validate(t, 1). Elements that fail are skipped and counted in *n_bad (the gap they
 * leave is then found by the gap filler). Returns 0 with *n_out written, or KL_EJSON when the
 * text is not an array of objects (nothing usable), or KL_EFULL when it holds more than max
 * elements. Pure; any thread. */
int kl_binance_parse_page(const char *body, size_t n, const char *symbol, kl_trade_t *out,
                          size_t max, size_t *n_out, size_t *n_bad);

/* The same for a REST historicalTrades answer (binance-stream = trade): an array of
 * {"id","price","qty","quoteQty","time","isBuyerMaker","isBestMatch"} objects, read as raw
 * trades (id = "id", first_id = last_id = id, ts = "time"). Each element's own keys id, price,
 * qty, time and isBuyerMaker are read like a `trade` event's t, p, q, T and m (same types, same
 * strictness); quoteQty, isBestMatch and unknown keys are skipped. Same returns. Pure; any
 * thread. */
int kl_binance_parse_trades_page(const char *body, size_t n, const char *symbol, kl_trade_t *out,
                                 size_t max, size_t *n_out, size_t *n_bad);

/* ---- gap filler -------------------------------------------------------------------------- */

/* Where a gap filler sends trades (in strictly increasing id order) and reports gaps. emit
 * returns 0, or a negative code (KL_ESHUTDOWN) that stops the current call. */
typedef struct kl_bf_ops {
    int (*emit)(void *ctx, const kl_trade_t *t, int from_rest);
    void (*gap)(void *ctx, int64_t first_missing, int64_t last_missing);
} kl_bf_ops_t;

typedef struct kl_bf {
    int64_t last_id;   /* last id emitted; INT64_MIN: none yet */
    int from_start;    /* with last_id INT64_MIN: every trade of the symbol is ours (REST from 0) */
    int backfilling;   /* live trades are held until REST has caught up */
    int verify;        /* reconnected: REST must confirm nothing was missed, unless the next
                          live trade continues last_id */
    uint32_t empty_polls;
    kl_trade_t *buf;   /* held live trades, ids strictly increasing */
    uint32_t n_buf, cap_buf, max_buf;
    uint64_t duplicates, gaps, gap_ids, overflows, from_rest, from_buffer;
} kl_bf_t;

/* Next step after a REST page. */
enum kl_bf_next {
    KL_BF_LIVE = 0, /* caught up: live trades are routed directly again */
    KL_BF_MORE = 1, /* REST has more: fetch the next page now */
    KL_BF_WAIT = 2, /* REST is behind the held live trades: fetch again a little later */
};

/* resume_id: last id applied before (INT64_MIN: none). max_buf: buffer bound (>= 1). */
void kl_bf_init(kl_bf_t *s, int64_t resume_id, uint32_t max_buf);
void kl_bf_fini(kl_bf_t *s);

/* The symbol's connection is (re)established. When the start is known (last_id, or
 * from_start), trades may have been missed: returns 1, a REST fetch from kl_bf_from_id() is
 * needed, unless the next live trade is last_id + 1, which proves nothing was missed (so a
 * reconnect holds back only the symbols that really have a hole). */
int kl_bf_connected(kl_bf_t *s);

/* 1 while a REST fetch is still wanted: holding live trades, or a reconnect not yet verified. */
int kl_bf_needs_rest(const kl_bf_t *s);

/* 1 when the symbol's start is known: a last id, or from_start. An unanchored symbol needs
 * kl_bf_anchor() before a reconnect can be backfilled. */
int kl_bf_anchored(const kl_bf_t *s);

/* Where the next REST page starts by id: last_id + 1, or 0 when last_id is unknown (the
 * source asks by startTime then). */
int64_t kl_bf_from_id(const kl_bf_t *s);

/* Sets where the symbol starts, unless it is anchored already (a live trade came first):
 * after latest (a trade known to precede the start; not routed), or, with latest NULL, from
 * the start: every trade REST returns for the source's start point is ours, the first one
 * with no gap before it. */
void kl_bf_anchor(kl_bf_t *s, const kl_trade_t *latest);

/* One live trade. Routes it, holds it, or drops it as a duplicate. Returns 1 when this trade
 * started a backfill (fetch from last_id + 1), 0 otherwise, or emit's negative code. A trade
 * that does not fit the buffer empties it (counted in overflows) and is then held alone. */
int kl_bf_live(kl_bf_t *s, const kl_trade_t *t, const kl_bf_ops_t *ops, void *ctx);

/* One REST page of trades fetched from last_id + 1 (ids ascending; n < KL_BINANCE_REST_LIMIT
 * means REST had nothing more). Routes what follows last_id, reports a hole at the front as a
 * gap, then hands over to the held live trades. Returns enum kl_bf_next, or emit's negative
 * code. A page that arrives when nothing is wanted any more only routes what is new in it. */
int kl_bf_page(kl_bf_t *s, const kl_trade_t *t, size_t n, int full, const kl_bf_ops_t *ops,
               void *ctx);

#endif
