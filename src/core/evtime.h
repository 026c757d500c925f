/* Exchange time for live sources: the clock against which watermarks, the future-skew bound and
 * the delay histograms are measured. It is the wall clock read once, then advanced by
 * CLOCK_MONOTONIC, plus the exchange's server-time offset when a source learns it. So an NTP
 * step or a VM pause that moves CLOCK_REALTIME while klined runs changes nothing here: elapsed
 * time comes from the monotonic clock, absolute time from the exchange. Any thread. */
#ifndef KL_CORE_EVTIME_H
#define KL_CORE_EVTIME_H

#include <stdint.h>

/* Milliseconds of exchange time now: anchor wall + monotonic elapsed + offset. The anchor is
 * taken at the first call of any kl_evtime_* function. No syscall but clock_gettime (vDSO). */
int64_t kl_evtime_now_ms(void);

/* Sets the offset from a server time seen now (e.g. Binance's /api/v3/time serverTime): from
 * then on kl_evtime_now_ms() reads server_ms at this instant. */
void kl_evtime_sync(int64_t server_ms);

/* The current offset, in ms (exchange minus local anchored clock). */
int64_t kl_evtime_offset_ms(void);

/* Tests: moves the anchor by delta_ms, as a wall-clock step seen at start would. */
void kl_evtime_shift_for_test(int64_t delta_ms);

#endif
