/* WAL record payloads; the format is in walrec.h. */
#include "wal/walrec.h"

#include <string.h>

#include "kl/err.h"

static uint8_t *
put64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(u >> (8 * i));
    return p;
}

static int64_t
get64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)p[i] << (8 * i);
    return (int64_t)u;
}

size_t
kl_walrec_encode(const kl_walrec_t *r, uint8_t *buf)
{
    if (r->type == KL_WALREC_TICK) {
        put64(buf, r->now_ms);
        return 8;
    }
    size_t nl = strnlen(r->name, KL_WALREC_NAME_MAX + 1);
    int named_only = r->type == KL_WALREC_REMOVE || r->type == KL_WALREC_HOLD ||
                     r->type == KL_WALREC_RELEASE || r->type == KL_WALREC_WMARK;
    if (nl == 0 || nl > KL_WALREC_NAME_MAX ||
        (r->unit_per_ms != 1 && r->unit_per_ms != 1000 && !named_only))
        return 0;
    uint8_t *p = buf;
    uint8_t unit = r->unit_per_ms == 1000;
    switch (r->type) {
    case KL_WALREC_TRADE:
        p = put64(p, r->trade.ts);
        p = put64(p, r->trade.id);
        p = put64(p, r->trade.first_id);
        p = put64(p, r->trade.last_id);
        p = put64(p, r->trade.price);
        p = put64(p, r->trade.qty);
        *p++ = r->trade.buyer_maker;
        *p++ = unit;
        break;
    case KL_WALREC_ADD:
        *p++ = unit;
        break;
    case KL_WALREC_WMARK:
        p = put64(p, r->now_ms);
        break;
    case KL_WALREC_REMOVE:
    case KL_WALREC_HOLD:
    case KL_WALREC_RELEASE:
        break;
    default:
        return 0;
    }
    *p++ = (uint8_t)nl;
    memcpy(p, r->name, nl);
    return (size_t)(p + nl - buf);
}

static int
get_name(const uint8_t *p, const uint8_t *end, kl_walrec_t *out)
{
    if (p >= end)
        return KL_EARG;
    size_t nl = *p++;
    if (nl == 0 || nl > KL_WALREC_NAME_MAX || (size_t)(end - p) != nl)
        return KL_EARG;
    /* Symbol names are printable ASCII: a NUL would name another symbol than the one logged. */
    for (size_t i = 0; i < nl; i++)
        if (p[i] < 0x21 || p[i] > 0x7e)
            return KL_EARG;
    memcpy(out->name, p, nl);
    out->name[nl] = '\0';
    return 0;
}

int
kl_walrec_decode(uint16_t type, const void *payload, uint32_t len, kl_walrec_t *out)
{
    const uint8_t *p = payload, *end = p + len;
    memset(out, 0, sizeof *out);
    out->type = type;
    switch (type) {
    case KL_WALREC_TRADE:
        if (len < 51)
            return KL_EARG;
        out->trade.ts = get64(p);
        out->trade.id = get64(p + 8);
        out->trade.first_id = get64(p + 16);
        out->trade.last_id = get64(p + 24);
        out->trade.price = get64(p + 32);
        out->trade.qty = get64(p + 40);
        if (p[48] > 1 || p[49] > 1)
            return KL_EARG;
        out->trade.buyer_maker = p[48];
        out->unit_per_ms = p[49] ? 1000 : 1;
        return get_name(p + 50, end, out);
    case KL_WALREC_ADD:
        if (len < 2 || p[0] > 1)
            return KL_EARG;
        out->unit_per_ms = p[0] ? 1000 : 1;
        return get_name(p + 1, end, out);
    case KL_WALREC_REMOVE:
    case KL_WALREC_HOLD:
    case KL_WALREC_RELEASE:
        return get_name(p, end, out);
    case KL_WALREC_WMARK:
        if (len < 10)
            return KL_EARG;
        out->now_ms = get64(p);
        return get_name(p + 8, end, out);
    case KL_WALREC_TICK:
        if (len != 8)
            return KL_EARG;
        out->now_ms = get64(p);
        return 0;
    default:
        return KL_EARG;
    }
}
