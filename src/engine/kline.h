/* The kline core: one symbol's klines for every enabled interval, updated by trades and by
 * clock ticks. Pure and single-threaded: no I/O, no locks, no allocation; finished klines leave
 * through a callback. The owner of a kl_series_t (a worker, or the replay command) is the only
 * thread that may touch it.
 *
 * DESIGN. Trades land in a "segment": the span between two consecutive boundaries of any
 * enabled interval, which therefore lies inside one kline of every interval. A trade updates
 * only the segment, so it costs one kline update instead of sixteen. When a trade or tick
 * crosses the segment's end, the segment is merged into the shortest interval's kline and into
 * a "coarse" accumulator that spans back to the last boundary of any longer interval; only at
 * such a boundary is the accumulator merged into the longer intervals, which then roll over
 * (emitting the final kline and any hole klines). So a second that ends only a 1s kline costs
 * two merges, not sixteen. The live state of the shortest interval is cur[0] + segment; of any
 * other, cur[i] + accumulator + segment. Open/close carry their
 * (time, id) keys so that merges and out-of-order trades resolve in (time, id) order. */
#ifndef KL_ENGINE_KLINE_H
#define KL_ENGINE_KLINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/interval.h"
#include "kl/types.h"

/* Latest representable trade time, in ms: 9999-12-31T23:59:59.999Z. */
#define KL_TS_MAX_MS 253402300799999LL

/* Duplicate detection remembers the ids in (highest - KL_IDWIN_BITS, highest]. */
#define KL_IDWIN_BITS 4096

/* Largest accepted price*qty, in 1e-16 units: with it, 2^31 maximal trades fit one kline's
 * __int128 quote sum, so the hot path needs no overflow check. */
#define KL_NOTIONAL_MAX ((kl_sum_t)1 << 96)

/* Which intervals a series keeps, in which time unit, with which offset and lateness. Shared,
 * read-only, by every series built from it; must outlive them. */
typedef struct kl_sched {
    int n;                         /* enabled intervals */
    kl_ivspec_t spec[KL_IV_COUNT]; /* the enabled ones, ascending length */
    int pos[KL_IV_COUNT];          /* enum kl_iv -> index in spec, or -1 */
    int64_t unit_per_ms;           /* 1 (ms) or 1000 (us) */
    int64_t lateness;              /* in the unit */
    int64_t hole_limit;            /* hole klines emitted per rollover and interval; -1: all */
} kl_sched_t;

typedef struct kl_sched_cfg {
    uint32_t iv_mask;                /* bits of enum kl_iv */
    int32_t tz_minutes;              /* -720 .. +840 */
    int64_t unit_per_ms;             /* 1 or 1000 */
    int64_t lateness_ms;             /* 0 .. length of the shortest enabled interval */
    int64_t origin_ms[KL_IV_COUNT];  /* local-time origin of each fixed-length interval */
    /* At most this many hole klines are emitted when one rollover skips whole intervals (-1,
     * the default: all of them, as `klined replay` writes). The rest of the gap is implied:
     * never emitted nor stored, and filled by readers from the previous close (export, REST),
     * so a long silence costs O(1) instead of one row per empty interval. */
    int64_t hole_limit;
} kl_sched_cfg_t;

/* Defaults: all intervals, UTC, ms, lateness 0 (no correction buffer), default origins, every
 * hole kline emitted. */
void kl_sched_cfg_default(kl_sched_cfg_t *cfg);

/* Validates cfg and fills *sched. Returns 0, KL_EINTERVAL (empty mask), KL_ETZ, or KL_EARG
 * (unit not 1/1000, lateness negative or longer than the shortest interval: a late trade must
 * belong to the current or the previous kline of every interval). */
int kl_sched_init(kl_sched_t *sched, const kl_sched_cfg_t *cfg);

/* Returns 0 when t is a trade the engine can take: price > 0, qty > 0, 0 <= first_id <=
 * last_id, id >= 0, 0 <= ts <= KL_TS_MAX_MS in the unit, price*qty <= KL_NOTIONAL_MAX.
 * KL_ETRADE or KL_ETIME otherwise. Sources call it on every parsed trade. */
int kl_trade_validate(const kl_trade_t *t, int64_t unit_per_ms);

enum kl_emit_flags {
    KL_EMIT_FINAL = 1,      /* the interval has ended */
    KL_EMIT_HOLE = 2,       /* no trade in it */
    KL_EMIT_CORRECTION = 4, /* re-emission of a final kline amended by a late trade */
};

typedef struct kl_series kl_series_t;

/* Called for each kline that becomes final, each hole kline, and each correction, in time
 * order per interval. k is valid only during the call. iv is an enum kl_iv. */
typedef void (*kl_emit_fn)(void *ctx, const kl_series_t *s, int iv, const kl_kline_t *k,
                           unsigned flags);

/* Outcome of kl_series_apply(): not errors, so non-negative. */
enum kl_apply_result {
    KL_APPLIED = 0,
    KL_APPLIED_LATE = 1, /* older than the segment: amended open or final klines directly */
    KL_DUPLICATE = 2,    /* id already applied: ignored */
    KL_TOO_LATE = 3,     /* older than watermark - lateness, or than the series' first kline */
    KL_STALE_ID = 4,     /* id at least KL_IDWIN_BITS below the highest: cannot tell, refused */
};

typedef struct kl_series_stats {
    uint64_t applied, late_applied, duplicates, too_late, stale_ids;
    uint64_t finals, holes, corrections;
} kl_series_stats_t;

/* Fields are private to kline.c; the struct is public only so owners can lay series out
 * contiguously. One series keeps all of a symbol's intervals in one block. */
typedef struct kl_agg {
    kl_kline_t k;
    int64_t open_ts, open_id;   /* (time, id) key of the open trade */
    int64_t close_ts, close_id; /* (time, id) key of the close trade */
} kl_agg_t;


struct kl_series {
    const kl_sched_t *sched;
    kl_agg_t seg;
    int64_t seg_start, seg_end;
    kl_agg_t acc;                  /* closed segments since the last longer-interval boundary */
    int64_t coarse_start, coarse_end;
    int64_t watermark; /* latest event time seen, trade or tick */
    int64_t hwm_id;    /* highest id applied */
    int started;
    void *user; /* owner's tag (e.g. symbol), untouched by the engine */
    kl_series_stats_t stats;
    uint64_t idwin[KL_IDWIN_BITS / 64]; /* bit (id % W) set: id applied, for ids in (hwm-W, hwm] */
    /* st[0..n): each interval's current kline (k.trades == 0: no trade yet, OHLC = previous
     * close). st[n..2n), only when lateness > 0: its last final kline, for late amendments
     * (open_time INT64_MAX: none). A series may be allocated with just kl_series_size() bytes,
     * so nothing past that may be touched. */
    kl_agg_t st[2 * KL_IV_COUNT];
};

/* Bytes a series over sched needs: the header plus one kline per interval, two when late
 * corrections are on (lateness > 0). Owners that keep many series lay them out with this
 * stride; a plain kl_series_t variable is always big enough. */
size_t kl_series_size(const kl_sched_t *sched);

/* Initialises an empty series over sched in storage of at least kl_series_size(sched) bytes,
 * owned by the caller. */
void kl_series_init(kl_series_t *s, const kl_sched_t *sched, void *user);

/* Applies one validated trade (see kl_trade_validate). Final, hole and correction klines are
 * emitted through emit before it returns. Returns an enum kl_apply_result. */
int kl_series_apply(kl_series_t *s, const kl_trade_t *t, kl_emit_fn emit, void *ctx);

/* Advances the series' clock to now: every kline that ends at or before now becomes final
 * (hole klines included). Idempotent: ticking twice, or a tick then a trade of the same later
 * interval, finalizes each kline exactly once. No-op before the first trade. */
void kl_series_tick(kl_series_t *s, int64_t now, kl_emit_fn emit, void *ctx);

/* Writes the live state of interval iv (enum kl_iv) into *out. Returns 0, or KL_EARG when iv is
 * not enabled or the series has no trade yet. */
int kl_series_get(const kl_series_t *s, int iv, kl_kline_t *out);

/* ---- state for checkpoints -------------------------------------------------------------- */

/* Largest state blob of a series (16 intervals, with previous klines). */
#define KL_SERIES_STATE_MAX 6400

/* Serialises s into buf (cap >= KL_SERIES_STATE_MAX bytes) in the documented, versioned,
 * little-endian layout of kline_state.c: the klines with the segment and the coarse
 * accumulator merged in (an equivalent, canonical form), the previous klines, the watermark, the
 * duplicate window and the segment bounds. Everything a restarted process needs to continue
 * exactly as this one would. Returns the length, or 0 if the series has no trade yet. Pure. */
size_t kl_series_export(const kl_series_t *s, void *buf, size_t cap);

/* Rebuilds a series from a blob into storage of kl_series_size(sched) bytes. The blob must come
 * from a series with the same intervals, unit and lateness (a changed configuration cannot
 * continue a series). Returns 0; KL_EIO when the blob is corrupt (bad magic or version, CRC
 * mismatch, truncated, contents no series can have): the caller must not drop it silently; or
 * KL_EARG when it is a valid state of another configuration. */
int kl_series_import(kl_series_t *s, const kl_sched_t *sched, void *user, const void *buf,
                     size_t len);

/* The "parked" mark of a state blob (flags bit 1): the blob is the series of a symbol that was
 * removed, kept so that re-adding the symbol resumes it (a worker marks it when it checkpoints
 * a removed symbol; recovery and re-adds read it). kl_series_import() ignores the mark.
 * kl_series_state_parked returns 1 or 0 (also for a blob too short to be a state); set_parked
 * does nothing to such a blob. Pure. */
int kl_series_state_parked(const void *buf, size_t len);
void kl_series_state_set_parked(void *buf, size_t len, int parked);

#endif
