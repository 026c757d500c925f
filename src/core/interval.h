/* Interval math for Binance's 16 kline intervals: where a kline opens and where the next one
 * opens, for a time zone offset, a per-interval origin and a time unit of ms or us.
 * Pure functions; safe from any thread. */
#ifndef KL_CORE_INTERVAL_H
#define KL_CORE_INTERVAL_H

#include <stddef.h>
#include <stdint.h>

/* In Binance's order, which is also ascending length. */
enum kl_iv {
    KL_IV_1S, KL_IV_1M, KL_IV_3M, KL_IV_5M, KL_IV_15M, KL_IV_30M, KL_IV_1H, KL_IV_2H,
    KL_IV_4H, KL_IV_6H, KL_IV_8H, KL_IV_12H, KL_IV_1D, KL_IV_3D, KL_IV_1W, KL_IV_1MO,
    KL_IV_COUNT
};
#define KL_IV_ALL ((1u << KL_IV_COUNT) - 1)

#define KL_MS_PER_DAY 86400000LL
#define KL_TZ_MIN_MINUTES (-12 * 60)
#define KL_TZ_MAX_MINUTES (14 * 60)

/* Binance's name ("1s" .. "1M"). iv must be < KL_IV_COUNT. */
const char *kl_iv_name(int iv);

/* Length in ms, or 0 for 1M (calendar month). */
int64_t kl_iv_len_ms(int iv);

/* Default origin, in ms from the Unix epoch, local to the offset: 0 for every interval but 1w,
 * whose origin is Monday 1970-01-05 (4 days). See docs/semantics.md for 3d. */
int64_t kl_iv_default_origin_ms(int iv);

/* Parses one name (case-sensitive, "1m" != "1M"). Returns the interval or KL_EINTERVAL. */
int kl_iv_parse(const char *s, size_t n);

/* Parses "all" or a comma-separated list of names into a bit mask (bit = enum kl_iv).
 * Returns 0 or KL_EINTERVAL (unknown or empty name); *mask_out only on success. */
int kl_iv_parse_list(const char *s, uint32_t *mask_out);

/* Parses a time zone offset as Binance's timeZone parameter takes it: "+08:00", "-1:00",
 * "05:45", "8", "0". Range -12:00 .. +14:00 inclusive. Returns 0 or KL_ETZ. */
int kl_tz_parse(const char *s, int32_t *minutes_out);

/* One interval resolved for a series: all fields in the series' time unit. */
typedef struct kl_ivspec {
    int iv;
    int64_t len;    /* 0 for 1M */
    int64_t origin; /* fixed lengths: boundaries are origin + k*len, local time */
    int64_t tz;     /* offset added to UTC to get local time */
    int64_t day;    /* one day in the unit, for 1M */
} kl_ivspec_t;

/* Fills *spec. unit_per_ms is 1 (ms) or 1000 (us). */
void kl_ivspec_init(kl_ivspec_t *spec, int iv, int64_t unit_per_ms, int32_t tz_minutes,
                    int64_t origin_ms);

/* The times kl_iv_open/kl_iv_next compute on exactly: |t| <= 2^62 in the series' unit (about
 * 146,000 years of microseconds). A time beyond is first clamped to this bound (saturated), so
 * that any int64 input, e.g. a REST query's startTime, is safe; callers validate their ranges
 * first (query.c clamps REST times to KL_TIME_MAX_MS). */
#define KL_IV_T_LIMIT (INT64_C(1) << 62)
/* The largest time a REST query is answered for: 9999-12-31T23:59:59.999Z, in ms. */
#define KL_TIME_MAX_MS INT64_C(253402300799999)

/* Open time (UTC, in the unit) of the kline that contains t (t clamped to +-KL_IV_T_LIMIT). */
int64_t kl_iv_open(const kl_ivspec_t *spec, int64_t t);

/* Open time of the kline after the one that opens at open (= its close time + 1); open is
 * clamped to +-1.25 * KL_IV_T_LIMIT first, so the result never overflows. */
int64_t kl_iv_next(const kl_ivspec_t *spec, int64_t open);

/* Civil-date helpers (proleptic Gregorian), exposed for tests. */
int64_t kl_days_from_civil(int64_t y, unsigned m, unsigned d);
void kl_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
