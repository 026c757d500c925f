/* libFuzzer target for the WAL record payloads (kl_walrec_decode in src/wal/walrec.c): the first
 * two bytes pick the record type, the rest is the payload. A record that decodes must encode
 * back to exactly the same bytes (the format has one spelling per record), with a name of 1..31
 * bytes, a unit of 1 or 1000, and a flag byte of 0 or 1; a record that does not decode is
 * refused without touching anything. Recovery replays what this accepts, so any violation is a
 * trap. */
#include <stdint.h>
#include <string.h>

#include "wal/walrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond))                                                                             \
            __builtin_trap();                                                                    \
    } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 2 + 4 * KL_WALREC_MAX)
        return 0;
    uint16_t type = (uint16_t)(data[0] | data[1] << 8);
    kl_walrec_t r;
    if (kl_walrec_decode(type, data + 2, (uint32_t)(size - 2), &r) != 0)
        return 0;
    CHECK(r.type == type);
    if (type != KL_WALREC_TICK) {
        size_t nl = strlen(r.name);
        CHECK(nl >= 1 && nl <= KL_WALREC_NAME_MAX);
    }
    if (type == KL_WALREC_TRADE || type == KL_WALREC_ADD)
        CHECK(r.unit_per_ms == 1 || r.unit_per_ms == 1000);
    if (type == KL_WALREC_TRADE)
        CHECK(r.trade.buyer_maker <= 1);
    uint8_t out[KL_WALREC_MAX];
    size_t n = kl_walrec_encode(&r, out);
    CHECK(n == size - 2);
    CHECK(memcmp(out, data + 2, n) == 0);
    return 0;
}
