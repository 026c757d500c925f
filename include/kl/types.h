/* Shared vocabulary: fixed-point decimals, the compact binary trade and the 12-field kline.
 * Every module speaks these types; nothing here allocates or does I/O. */
#ifndef KL_TYPES_H
#define KL_TYPES_H

#include <stdint.h>

/* A price or quantity in units of 1e-8, exactly as Binance prints it with 8 decimals. */
typedef int64_t kl_dec_t;
#define KL_DEC_SCALE 100000000LL
#define KL_DEC_PLACES 8

/* Sums: volumes in 1e-8 units, quote volumes (price*qty) in 1e-16 units. Never double. */
typedef __int128 kl_sum_t;

/* One trade as the engine sees it, whatever the source. For a raw trade first_id == last_id
 * == id; for an aggTrade id is the aggregate id `a` and [first_id, last_id] its raw trades.
 * Times are in the series' unit (ms, or us for 2025+ spot dumps). */
typedef struct kl_trade {
    int64_t ts;
    int64_t id;
    int64_t first_id;
    int64_t last_id;
    kl_dec_t price;
    kl_dec_t qty;
    uint8_t buyer_maker; /* 1 when the buyer was the maker: the taker sold */
    uint32_t rx_us;      /* when a live source received it: low 32 bits of the monotonic clock in
                            us, 0 = not stamped. Latency metrics only: never logged or stored. */
} kl_trade_t;

/* The 12 Binance kline fields plus the first/last raw trade ids (`f`, `L`). A hole kline has
 * O=H=L=C = previous close, zero sums, trades 0 and ids -1. */
typedef struct kl_kline {
    int64_t open_time;
    int64_t close_time; /* next open time - 1 */
    kl_dec_t open, high, low, close;
    kl_sum_t volume;      /* 1e-8 */
    kl_sum_t quote;       /* 1e-16, exact; printed truncated to 8 places */
    kl_sum_t taker_base;  /* 1e-8 */
    kl_sum_t taker_quote; /* 1e-16 */
    int64_t trades;
    int64_t first_id, last_id;
} kl_kline_t;

#endif
