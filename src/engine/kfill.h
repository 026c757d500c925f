/* Hole klines filled in on read. An interval with no trade still has a kline (SPEC §1): O=H=L=C
 * = the previous close, zero sums, trades 0, ids -1. `klined serve` does not store or push the
 * holes of a long gap one by one (a long silence costs O(1)); they are *implied* by the kline
 * before the gap and the open time of the one after it. Every reader of a stored series (export,
 * REST, the WS time-zone fold) fills them back through this module, so that a series reads the
 * same whether its holes were stored or implied. Pure functions; any thread, on data it owns.
 *
 * DESIGN. A gap lies between two consecutive klines of one series, `prev` and the kline opening
 * at `next_open`: its holes open at prev's close_time + 1 (the engine's own rule, iv_roll), then
 * at each next open of the interval (kl_iv_next: 1w, 1M and time zones included) while before
 * next_open, each closing at the next open - 1. Nothing is ever made up before a series' first
 * kline or after its last one. Seeking into a gap is O(1) (interval math, not a walk), so a
 * reader pays for the holes it returns, never for the length of the gap. */
#ifndef KL_ENGINE_KFILL_H
#define KL_ENGINE_KFILL_H

#include <stddef.h>
#include <stdint.h>

#include "core/interval.h"
#include "kl/types.h"

/* No kline after the gap: next_open of a window whose series ends inside it. */
#define KL_FILL_NONE INT64_MAX

/* Writes into *out the hole kline opening at open in a series whose previous kline (stored,
 * live or itself a hole) is prev: O=H=L=C = prev->close, zero sums, trades 0, ids -1,
 * close_time = kl_iv_next(spec, open) - 1. open is a boundary of spec. */
void kl_fill_hole(const kl_ivspec_t *spec, const kl_kline_t *prev, int64_t open, kl_kline_t *out);

/* The holes of one gap, in ascending order. Fields are private to kfill.c. */
typedef struct kl_fill_gap {
    const kl_ivspec_t *spec; /* borrowed: must outlive the gap */
    kl_dec_t price;          /* the close of the kline before the gap */
    int64_t open;            /* open time of the next hole to return */
    int64_t end;             /* next_open: holes open before it */
} kl_fill_gap_t;

/* Starts the gap between prev and the series' next kline, which opens at next_open (a gap of
 * zero holes when next_open == prev->close_time + 1, the usual case). next_open is a real
 * kline's open time, never KL_FILL_NONE: a series has no holes after its last kline. */
void kl_fill_gap_init(kl_fill_gap_t *g, const kl_ivspec_t *spec, const kl_kline_t *prev,
                      int64_t next_open);

/* Skips, in O(1), every hole that opens before t. */
void kl_fill_gap_seek(kl_fill_gap_t *g, int64_t t);

/* Writes the next hole into *out and returns 1, or returns 0 when the gap is exhausted. */
int kl_fill_gap_next(kl_fill_gap_t *g, kl_kline_t *out);

/* One window [lo, hi] (open times, inclusive, in the series' unit) of a series with its holes
 * filled. k[0..n): the series' klines that open in [lo, hi], ascending (whatever holes were
 * stored among them); prev: the series' last kline before lo, or NULL when there is none (or
 * when the caller knows that k alone covers the answer); next_open: the open time of the
 * series' first kline after hi, or KL_FILL_NONE when there is none. Writes into out (cap
 * klines; must not overlap k or prev) the filled series' klines that open in [lo, hi],
 * ascending: the first cap of them (newest = 0) or the last cap (newest = 1). Returns how many.
 * Costs O(n + cap), whatever the gaps' lengths. */
size_t kl_fill_window(const kl_ivspec_t *spec, const kl_kline_t *prev, const kl_kline_t *k,
                      size_t n, int64_t next_open, int64_t lo, int64_t hi, int newest,
                      kl_kline_t *out, size_t cap);

/* An upper bound on how many klines of spec open in [lo, hi] (lo <= hi), saturating at
 * SIZE_MAX: what a window can hold at most, to size its buffer when the caller has no limit. */
size_t kl_fill_slots(const kl_ivspec_t *spec, int64_t lo, int64_t hi);

/* Recovers, from one stored kline k of interval iv (enum kl_iv) in unit unit_per_ms (1 or
 * 1000), the grid its series lies on, for a reader that does not know the configuration the
 * series was made with (`klined export`): fixed lengths take their origin from k's open time;
 * 1M takes the time zone (-12:00 .. +14:00) for which k opens on a local first of the month.
 * Returns 0 and fills *out, or KL_EARG when k is not a kline of iv (close_time is not the next
 * open - 1, or no time zone puts a 1M open at a month's start). *out only on success. */
int kl_fill_spec_of(int iv, int64_t unit_per_ms, const kl_kline_t *k, kl_ivspec_t *out);

#endif
