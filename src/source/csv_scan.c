/* Row scanner for the four data.binance.vision trade CSV layouts. One left-to-right pass per
 * row: each field is cut at the next comma and parsed in place; no copies, no strtod. */
#include "source/csv_scan.h"

#include <string.h>

#include "core/decimal.h"
#include "core/numscan.h"
#include "kl/err.h"

const char *
kl_csv_layout_name(int layout)
{
    switch (layout) {
    case KL_CSV_SPOT_AGG: return "spot aggTrades";
    case KL_CSV_SPOT_TRADES: return "spot trades";
    case KL_CSV_FUT_AGG: return "futures aggTrades";
    case KL_CSV_FUT_TRADES: return "futures trades";
    default: return "unknown";
    }
}

/* Fast path helpers: each parses one field and steps over its delimiter; any surprise returns
 * non-zero and the row goes to parse_row_checked() for an exact diagnosis. */
static inline int
f_int(const char **p, const char *end, int64_t *out)
{
    const char *stop;
    if (kl_int_scan_inline(*p, end, out, &stop) != 0 || stop == end || *stop != ',')
        return -1;
    *p = stop + 1;
    return 0;
}

static inline int
f_dec(const char **p, const char *end, kl_dec_t *out)
{
    const char *stop;
    if (kl_dec_scan_inline(*p, end, out, &stop) != 0 || stop == end || *stop != ',')
        return -1;
    *p = stop + 1;
    return 0;
}

/* A boolean that ends the row (last) or is followed by a comma. */
static inline int
f_bool(const char **p, const char *end, uint8_t *out, int last)
{
    const char *s = *p;
    size_t left = (size_t)(end - s), n;
    if (left >= 4 && (s[0] | 0x20) == 't' && memcmp(s + 1, "rue", 3) == 0) {
        *out = 1;
        n = 4;
    } else if (left >= 5 && (s[0] | 0x20) == 'f' && memcmp(s + 1, "alse", 4) == 0) {
        *out = 0;
        n = 5;
    } else {
        return -1;
    }
    if (last)
        return n == left ? 0 : -1;
    if (n == left || s[n] != ',')
        return -1;
    *p = s + n + 1;
    return 0;
}

static int
parse_row_fast(const char *p, const char *end, int layout, kl_trade_t *out)
{
    uint8_t best;
    kl_dec_t quote;
    if (f_int(&p, end, &out->id) || f_dec(&p, end, &out->price) || f_dec(&p, end, &out->qty))
        return -1;
    switch (layout) {
    case KL_CSV_SPOT_AGG:
    case KL_CSV_FUT_AGG:
        if (f_int(&p, end, &out->first_id) || f_int(&p, end, &out->last_id))
            return -1;
        break;
    case KL_CSV_SPOT_TRADES:
    case KL_CSV_FUT_TRADES:
        if (f_dec(&p, end, &quote))
            return -1;
        out->first_id = out->last_id = out->id;
        break;
    default:
        return -1;
    }
    if (f_int(&p, end, &out->ts))
        return -1;
    if (layout == KL_CSV_SPOT_AGG || layout == KL_CSV_SPOT_TRADES)
        return f_bool(&p, end, &out->buyer_maker, 0) || f_bool(&p, end, &best, 1);
    return f_bool(&p, end, &out->buyer_maker, 1);
}

/* Splits line into at most max fields; returns the field count, or max + 1 if there are more. */
static int
split(const char *line, size_t n, const char **f, size_t *len, int max)
{
    int nf = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || line[i] == ',') {
            if (nf == max)
                return max + 1;
            f[nf] = line + start;
            len[nf] = i - start;
            nf++;
            start = i + 1;
        }
    }
    return nf;
}

static int
parse_bool(const char *s, size_t n, uint8_t *out)
{
    if (n == 4 && (s[0] | 0x20) == 't' && memcmp(s + 1, "rue", 3) == 0) {
        *out = 1;
        return 0;
    }
    if (n == 5 && (s[0] | 0x20) == 'f' && memcmp(s + 1, "alse", 4) == 0) {
        *out = 0;
        return 0;
    }
    return KL_EBOOL;
}

int
kl_csv_detect(const char *line, size_t n, int *layout, int *is_header)
{
    const char *f[9];
    size_t len[9];
    if (n > 0 && line[n - 1] == '\r')
        n--;
    if (n == 0 || n > KL_CSV_LINE_MAX)
        return KL_ELAYOUT;
    /* The shape decides, not the values: a bad first row must still be rejected as a row,
     * with its line number, rather than sink the whole file. */
    int nf = split(line, n, f, len, 8);
    /* A header starts with a name; a data row with a digit, or '-' (a bad row, rejected later). */
    int header = (unsigned)(line[0] - '0') >= 10 && line[0] != '-';
    int lay;
    uint8_t b;
    switch (nf) {
    case 8: lay = KL_CSV_SPOT_AGG; break;
    case 6: lay = KL_CSV_FUT_TRADES; break;
    case 7:
        /* spot trades: id,p,q,quote_qty,time,m,M; futures aggTrades: a,p,q,f,l,time,m */
        if (header)
            lay = memmem(line, n, "first", 5) ? KL_CSV_FUT_AGG : KL_CSV_SPOT_TRADES;
        else
            lay = parse_bool(f[5], len[5], &b) == 0 || memchr(f[3], '.', len[3])
                      ? KL_CSV_SPOT_TRADES
                      : KL_CSV_FUT_AGG;
        break;
    default: return KL_ELAYOUT;
    }
    *layout = lay;
    *is_header = header;
    return 0;
}

/* The careful parser: splits first, so that it can name the exact problem of a bad row. */
/* line has no trailing '\r' any more: kl_csv_parse_row() removed one, and a second is data. */
static int
parse_row_checked(const char *line, size_t n, int layout, kl_trade_t *out)
{
    const char *f[9];
    size_t len[9];
    int rc;
    if (n > KL_CSV_LINE_MAX)
        return KL_ELINE;
    int want;
    switch (layout) {
    case KL_CSV_SPOT_AGG: want = 8; break;
    case KL_CSV_SPOT_TRADES:
    case KL_CSV_FUT_AGG: want = 7; break;
    case KL_CSV_FUT_TRADES: want = 6; break;
    default: return KL_ELAYOUT;
    }
    if (split(line, n, f, len, 8) != want)
        return KL_ECOLUMNS;
    if ((rc = kl_int_parse(f[0], len[0], &out->id)) != 0 ||
        (rc = kl_dec_parse(f[1], len[1], &out->price)) != 0 ||
        (rc = kl_dec_parse(f[2], len[2], &out->qty)) != 0)
        return rc;
    int ts_col, m_col;
    if (layout == KL_CSV_SPOT_AGG || layout == KL_CSV_FUT_AGG) {
        if ((rc = kl_int_parse(f[3], len[3], &out->first_id)) != 0 ||
            (rc = kl_int_parse(f[4], len[4], &out->last_id)) != 0)
            return rc;
        ts_col = 5;
        m_col = 6;
    } else {
        /* quote_qty is price*qty rounded by the exchange: the engine computes it exactly, so
         * the column is only checked for shape. */
        kl_dec_t quote;
        if ((rc = kl_dec_parse(f[3], len[3], &quote)) != 0)
            return rc;
        out->first_id = out->last_id = out->id;
        ts_col = 4;
        m_col = 5;
    }
    if ((rc = kl_int_parse(f[ts_col], len[ts_col], &out->ts)) != 0 ||
        (rc = parse_bool(f[m_col], len[m_col], &out->buyer_maker)) != 0)
        return rc;
    if (want > m_col + 1) {
        uint8_t best;
        if ((rc = parse_bool(f[m_col + 1], len[m_col + 1], &best)) != 0)
            return rc;
    }
    return 0;
}

int
kl_csv_parse_row(const char *line, size_t n, int layout, kl_trade_t *out)
{
    if (n > 0 && line[n - 1] == '\r')
        n--;
    if (n <= KL_CSV_LINE_MAX && parse_row_fast(line, line + n, layout, out) == 0)
        return 0;
    return parse_row_checked(line, n, layout, out);
}
