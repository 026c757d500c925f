/* Series state blobs: what a checkpoint stores so that recovery continues a series exactly.
 *
 * FORMAT (version 2), little-endian, no padding; i64 = int64, i128 = two's-complement 16 bytes:
 *
 *   off  size  field
 *     0     4  magic "KLS1"
 *     4     2  version = 2 (1: the same without the trailing CRC, still read)
 *     6     2  n = number of intervals
 *     8     2  unit_per_ms (1 or 1000)
 *    10     2  flags: bit 0 = previous klines follow (lateness > 0);
 *                     bit 1 = parked: the symbol was removed, the series waits for a re-add
 *                     (set by the worker on the blob of a removed symbol; import ignores it)
 *    12     4  interval mask (bit = enum kl_iv) of the series' schedule
 *    16     8  lateness, in the unit
 *    24     8  watermark          32  8  hwm_id (highest id applied)
 *    40     8  seg_start          48  8  seg_end
 *    56     8  coarse_start       64  8  coarse_end
 *    72   512  duplicate window: KL_IDWIN_BITS / 64 words of u64
 *   584        n aggregates "cur", then (flag bit 0) n aggregates "prev", each AGG bytes:
 *              open_time, close_time (i64), open, high, low, close (i64), volume, quote,
 *              taker_base, taker_quote (i128), trades, first_id, last_id (i64),
 *              open_ts, open_id, close_ts, close_id (i64)                       = 168 bytes
 *   end     4  (version 2) CRC-32C of every byte before it
 *
 * The CRC (issue 12, M4): a blob damaged in the store must stop a start, not be taken for an
 * incompatible state and dropped (the series would restart and overwrite its open klines).
 * Import tells the two apart: KL_EIO = corrupt (bad magic, unknown version, CRC mismatch, or
 * contents that cannot be a state), KL_EARG = a valid state of another configuration.
 *
 * "cur" is canonical: the segment and the coarse accumulator are merged into each interval's
 * current kline, and the restored series starts with both empty. Merging is associative and
 * carries the (time, id) keys, so the continued series emits exactly what the original would. */
#include "engine/kline.h"

#include <string.h>

#include "engine/kline_int.h"
#include "kl/err.h"
#include "wal/wal.h" /* kl_crc32c */

#define HDR 584
#define AGG 168
#define CRC 4
#define FLAG_PARKED 2 /* flags bit 1, byte 10 */
_Static_assert(HDR + 2 * KL_IV_COUNT * AGG + CRC <= KL_SERIES_STATE_MAX, "state fits its bound");

static void
put_crc(uint8_t *p, size_t len)
{
    uint32_t c = kl_crc32c(0, p, len - CRC);
    for (int i = 0; i < 4; i++)
        p[len - CRC + (size_t)i] = (uint8_t)(c >> (8 * i));
}

static int
crc_ok(const uint8_t *p, size_t len)
{
    uint32_t c = (uint32_t)p[len - 4] | (uint32_t)p[len - 3] << 8 | (uint32_t)p[len - 2] << 16 |
                 (uint32_t)p[len - 1] << 24;
    return kl_crc32c(0, p, len - CRC) == c;
}

static uint8_t *
put64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(u >> (8 * i));
    return p;
}

static uint8_t *
put128(uint8_t *p, kl_sum_t v)
{
    unsigned __int128 u = (unsigned __int128)v;
    for (int i = 0; i < 16; i++)
        *p++ = (uint8_t)(u >> (8 * i));
    return p;
}

static int64_t
get64(const uint8_t **pp)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)(*pp)[i] << (8 * i);
    *pp += 8;
    return (int64_t)u;
}

static kl_sum_t
get128(const uint8_t **pp)
{
    unsigned __int128 u = 0;
    for (int i = 0; i < 16; i++)
        u |= (unsigned __int128)(*pp)[i] << (8 * i);
    *pp += 16;
    return (kl_sum_t)u;
}

static uint8_t *
put_agg(uint8_t *p, const kl_agg_t *a)
{
    const kl_kline_t *k = &a->k;
    p = put64(p, k->open_time);
    p = put64(p, k->close_time);
    p = put64(p, k->open);
    p = put64(p, k->high);
    p = put64(p, k->low);
    p = put64(p, k->close);
    p = put128(p, k->volume);
    p = put128(p, k->quote);
    p = put128(p, k->taker_base);
    p = put128(p, k->taker_quote);
    p = put64(p, k->trades);
    p = put64(p, k->first_id);
    p = put64(p, k->last_id);
    p = put64(p, a->open_ts);
    p = put64(p, a->open_id);
    p = put64(p, a->close_ts);
    return put64(p, a->close_id);
}

static void
get_agg(const uint8_t **p, kl_agg_t *a)
{
    kl_kline_t *k = &a->k;
    k->open_time = get64(p);
    k->close_time = get64(p);
    k->open = get64(p);
    k->high = get64(p);
    k->low = get64(p);
    k->close = get64(p);
    k->volume = get128(p);
    k->quote = get128(p);
    k->taker_base = get128(p);
    k->taker_quote = get128(p);
    k->trades = get64(p);
    k->first_id = get64(p);
    k->last_id = get64(p);
    a->open_ts = get64(p);
    a->open_id = get64(p);
    a->close_ts = get64(p);
    a->close_id = get64(p);
}

static uint32_t
sched_mask(const kl_sched_t *sch)
{
    uint32_t m = 0;
    for (int i = 0; i < sch->n; i++)
        m |= 1u << sch->spec[i].iv;
    return m;
}

size_t
kl_series_export(const kl_series_t *s, void *buf, size_t cap)
{
    const kl_sched_t *sch = s->sched;
    int prev = sch->lateness > 0;
    size_t len = HDR + (size_t)sch->n * AGG * (prev ? 2u : 1u) + CRC;
    if (!s->started || cap < len)
        return 0;
    uint8_t *p = buf;
    memcpy(p, "KLS1", 4);
    p[4] = 2, p[5] = 0;
    p[6] = (uint8_t)sch->n, p[7] = 0;
    p[8] = (uint8_t)(sch->unit_per_ms & 0xff), p[9] = (uint8_t)(sch->unit_per_ms >> 8);
    p[10] = (uint8_t)prev, p[11] = 0;
    uint32_t mask = sched_mask(sch);
    for (int i = 0; i < 4; i++)
        p[12 + i] = (uint8_t)(mask >> (8 * i));
    p += 16;
    p = put64(p, sch->lateness);
    p = put64(p, s->watermark);
    p = put64(p, s->hwm_id);
    p = put64(p, s->seg_start);
    p = put64(p, s->seg_end);
    p = put64(p, s->coarse_start);
    p = put64(p, s->coarse_end);
    for (size_t i = 0; i < KL_IDWIN_BITS / 64; i++)
        p = put64(p, (int64_t)s->idwin[i]);
    for (int i = 0; i < sch->n; i++) {
        kl_agg_t a = *CUR(s, i);
        if (i > 0 && s->acc.k.trades != 0)
            kl_agg_merge(&a, &s->acc);
        if (s->seg.k.trades != 0)
            kl_agg_merge(&a, &s->seg);
        p = put_agg(p, &a);
    }
    for (int i = 0; prev && i < sch->n; i++)
        p = put_agg(p, PREV(s, i));
    put_crc(buf, len);
    return len;
}

int
kl_series_import(kl_series_t *s, const kl_sched_t *sch, void *user, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    int prev = sch->lateness > 0;
    size_t want = HDR + (size_t)sch->n * AGG * (prev ? 2u : 1u);
    /* Corrupt first (KL_EIO), then foreign (KL_EARG). */
    if (len < HDR || memcmp(p, "KLS1", 4) != 0 || p[5] != 0 || (p[4] != 1 && p[4] != 2))
        return KL_EIO;
    if (p[4] == 2) {
        if (len < HDR + CRC || !crc_ok(p, len))
            return KL_EIO;
        len -= CRC;
    }
    if (len != want || p[6] != sch->n || (p[8] | (p[9] << 8)) != sch->unit_per_ms ||
        (p[10] & ~FLAG_PARKED) != prev)
        return KL_EARG;
    uint32_t mask = (uint32_t)p[12] | (uint32_t)p[13] << 8 | (uint32_t)p[14] << 16 |
                    (uint32_t)p[15] << 24;
    p += 16;
    if (mask != sched_mask(sch) || get64(&p) != sch->lateness)
        return KL_EARG;
    kl_series_init(s, sch, user);
    s->watermark = get64(&p);
    s->hwm_id = get64(&p);
    s->seg_start = get64(&p);
    s->seg_end = get64(&p);
    s->coarse_start = get64(&p);
    s->coarse_end = get64(&p);
    for (size_t i = 0; i < KL_IDWIN_BITS / 64; i++)
        s->idwin[i] = (uint64_t)get64(&p);
    for (int i = 0; i < sch->n; i++)
        get_agg(&p, CUR(s, i));
    for (int i = 0; prev && i < sch->n; i++)
        get_agg(&p, PREV(s, i));
    /* The segment and accumulator start empty (their content is in cur, see FORMAT). */
    s->seg.k.trades = 0;
    s->acc.k.trades = 0;
    s->started = 1;
    /* Cheap sanity: each interval's kline must contain the segment, or the blob is not ours. */
    for (int i = 0; i < sch->n; i++) {
        const kl_kline_t *k = &CUR(s, i)->k;
        if (k->open_time > s->seg_start || k->close_time + 1 < s->seg_end || k->trades < 0)
            return KL_EIO;
    }
    return 0;
}

int
kl_series_state_parked(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    return len >= HDR && memcmp(p, "KLS1", 4) == 0 && (p[10] & FLAG_PARKED) != 0;
}

void
kl_series_state_set_parked(void *buf, size_t len, int parked)
{
    uint8_t *p = buf;
    if (len < HDR || memcmp(p, "KLS1", 4) != 0)
        return;
    p[10] = (uint8_t)(parked ? p[10] | FLAG_PARKED : p[10] & ~FLAG_PARKED);
    if (p[4] == 2 && len >= HDR + CRC)
        put_crc(p, len);
}
