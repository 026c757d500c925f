/* Fixed-layout scanner for data.binance.vision trade dumps: detects which of the four CSV
 * layouts a file uses and turns one row into a kl_trade_t. No allocation, no library calls;
 * safe from any thread. */
#ifndef KL_SOURCE_CSV_SCAN_H
#define KL_SOURCE_CSV_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "kl/types.h"

enum kl_csv_layout {
    KL_CSV_UNKNOWN = 0,
    KL_CSV_SPOT_AGG,    /* a,p,q,f,l,T,m,M       (8 columns) */
    KL_CSV_SPOT_TRADES, /* id,p,q,quote_qty,T,m,M (7) */
    KL_CSV_FUT_AGG,     /* a,p,q,f,l,T,m          (7) */
    KL_CSV_FUT_TRADES,  /* id,p,q,quote_qty,T,m   (6) */
};

/* Longest row accepted, in bytes; longer ones are rejected with KL_ELINE. */
#define KL_CSV_LINE_MAX 512

/* Timestamps at or above this are microseconds (ms values stay below it until year 5138). */
#define KL_TS_US_THRESHOLD 100000000000000LL

const char *kl_csv_layout_name(int layout);

/* Inspects the first line of a file (without its newline), by its shape only: the column count
 * and, for 7 columns, the header's names or the types of columns 4 and 6. The row itself may
 * still be invalid; the caller parses it like any other. On success writes *layout, sets
 * *is_header when the line is a header row (to be skipped) and returns 0; KL_ELAYOUT when the
 * line has a column count of none of the layouts. */
int kl_csv_detect(const char *line, size_t n, int *layout, int *is_header);

/* Parses one data row (without its newline; a trailing '\r' is allowed) of the given layout.
 * Returns 0 and fills *out (ts is as written: ms or us), or a negative KL_E* code naming the
 * first problem: KL_ECOLUMNS, KL_EDEC_*, KL_EINT_*, KL_EBOOL, KL_ELINE. *out may be partly
 * written on error. Does not range-check the trade: see kl_trade_validate(). */
int kl_csv_parse_row(const char *line, size_t n, int layout, kl_trade_t *out);

#endif
