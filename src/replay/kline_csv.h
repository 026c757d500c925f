/* Binance's 12-column kline CSV row, the layout of data.binance.vision kline files:
 * open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_base,
 * taker_buy_quote,ignore. Shared by `replay` and `export` so their files can be diffed. */
#ifndef KL_REPLAY_KLINE_CSV_H
#define KL_REPLAY_KLINE_CSV_H

#include <stddef.h>

#include "kl/types.h"

/* Upper bound of one formatted row, newline included. */
#define KL_KLINE_CSV_MAX 512

/* Writes k as one row ending in '\n' into buf (at least KL_KLINE_CSV_MAX bytes); no NUL.
 * Returns the length. Pure; any thread. */
size_t kl_kline_csv_format(const kl_kline_t *k, char *buf);

#endif
