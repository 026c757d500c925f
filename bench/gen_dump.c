/* Writes a synthetic spot aggTrades dump in data.binance.vision's 8-column layout (no header),
 * so that `klined replay` and its peers can be timed on the same realistic input without any
 * download. The stream is deterministic (xorshift), so every run of the bench sees the same
 * bytes: prices with 2 decimals around 42000, quantities with up to 5, and timestamps that
 * alternate bursts, steady trading, quiet spells and rare multi-second gaps.
 *
 * usage: gen_dump PATH [N_TRADES]   (default 20,000,000: about three days of trading) */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_BYTES (8u << 20)
#define ROW_MAX 160
#define START_MS 1704067200000LL /* 2024-01-01T00:00:00Z, a Monday */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* Uniform in [0, n). */
static uint64_t
rnd_below(uint64_t n)
{
    return (rnd() >> 11) % n;
}

static char *
put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* v in 10^-places units, printed with exactly 8 decimals. */
static char *
put_fixed(char *p, uint64_t v, int places)
{
    uint64_t scale = 1;
    for (int i = 0; i < places; i++)
        scale *= 10;
    p = put_u64(p, v / scale);
    *p++ = '.';
    uint64_t frac = v % scale;
    for (int i = places - 1; i >= 0; i--) {
        p[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    p += places;
    for (int i = places; i < 8; i++)
        *p++ = '0';
    return p;
}

/* Milliseconds to the next trade. The regime switches now and then, as real markets do:
 * bursts put several trades in one ms, quiet spells stretch the gaps, and about once an
 * hour of trading the feed goes silent for seconds to a couple of minutes. */
static int64_t
next_gap_ms(int *regime)
{
    if (rnd_below(2000) == 0)
        *regime = (int)rnd_below(4);
    if (rnd_below(250000) == 0)
        return 1000 + (int64_t)rnd_below(120000);
    switch (*regime) {
    case 0: return (int64_t)rnd_below(3);                          /* burst */
    case 3: return (int64_t)rnd_below(41) + (int64_t)rnd_below(20); /* quiet */
    default: return (int64_t)rnd_below(21) + (rnd_below(8) == 0 ? (int64_t)rnd_below(40) : 0);
    }
}

int
main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: gen_dump PATH [N_TRADES]\n");
        return 2;
    }
    uint64_t n = 20000000;
    if (argc == 3) {
        char *end;
        errno = 0;
        n = strtoull(argv[2], &end, 10);
        if (errno || *end || n == 0) {
            fprintf(stderr, "gen_dump: bad N_TRADES '%s'\n", argv[2]);
            return 2;
        }
    }
    FILE *f = fopen(argv[1], "wb");
    char *buf = malloc(BUF_BYTES);
    if (!f || !buf) {
        fprintf(stderr, "gen_dump: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    int64_t ts = START_MS;
    uint64_t agg_id = 1000000000, raw_id = 3000000000;
    int64_t cents = 4200000; /* 42000.00 */
    int regime = 1;
    size_t len = 0;
    for (uint64_t i = 0; i < n; i++) {
        ts += next_gap_ms(&regime);
        /* Mostly unchanged, small ticks otherwise, pulled back toward 42000 so the price stays
         * in the 40k-44k band whatever N is. */
        uint64_t r = rnd_below(100);
        if (r >= 55) {
            int64_t step = 1 + (int64_t)rnd_below(r >= 95 ? 400 : 40);
            int up = (int)rnd_below(1000) < 500 + (int)((4200000 - cents) / 4000);
            cents += up ? step : -step;
            if (cents < 100)
                cents = 100;
        }
        /* qty in 1e-5: a heavy tail (x^3) with a mean near 0.05, and a rare whale. */
        uint64_t x = rnd_below(1000);
        uint64_t qty5 = 1 + x * x * x / 50000;
        if (rnd_below(1000) == 0)
            qty5 += rnd_below(1000000);
        uint64_t nraw = rnd_below(4) == 0 ? 1 + rnd_below(6) : 1;
        char *p = buf + len;
        p = put_u64(p, agg_id++);
        *p++ = ',';
        p = put_fixed(p, (uint64_t)cents, 2);
        *p++ = ',';
        p = put_fixed(p, qty5, 5);
        *p++ = ',';
        p = put_u64(p, raw_id);
        *p++ = ',';
        p = put_u64(p, raw_id + nraw - 1);
        raw_id += nraw;
        *p++ = ',';
        p = put_u64(p, (uint64_t)ts);
        if (rnd_below(2)) {
            memcpy(p, ",True,True\n", 11);
            p += 11;
        } else {
            memcpy(p, ",False,True\n", 12);
            p += 12;
        }
        len = (size_t)(p - buf);
        if (len + ROW_MAX > BUF_BYTES) {
            if (fwrite(buf, 1, len, f) != len)
                goto fail;
            len = 0;
        }
    }
    if ((len && fwrite(buf, 1, len, f) != len) || fclose(f) != 0) {
        f = NULL;
        goto fail;
    }
    free(buf);
    fprintf(stderr, "gen_dump: %llu trades, %.2f days, to %s\n", (unsigned long long)n,
            (double)(ts - START_MS) / 86400000.0, argv[1]);
    return 0;
fail:
    fprintf(stderr, "gen_dump: %s: write failed: %s\n", argv[1], strerror(errno));
    if (f)
        fclose(f);
    free(buf);
    return 1;
}
