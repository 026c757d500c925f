/* Router: per-source-thread symbol cache in front of the registry; see router.h. */
#include "runtime/router.h"

#include <string.h>

#include "core/alloc.h"
#include "kl/err.h"

int
kl_router_init(kl_router_t *rt, kl_worker_t **workers, int n_workers, int producer,
               kl_symreg_t *reg, int auto_add, const _Atomic int *stop)
{
    memset(rt, 0, sizeof *rt);
    if (n_workers < 1 || n_workers > 64)
        return KL_EARG;
    rt->cache = kl_alloc(KL_ROUTER_CACHE * sizeof *rt->cache);
    if (!rt->cache)
        return KL_ENOMEM;
    for (size_t i = 0; i < KL_ROUTER_CACHE; i++)
        rt->cache[i].worker = -1;
    rt->workers = workers;
    rt->n_workers = n_workers;
    rt->producer = producer;
    rt->reg = reg;
    rt->auto_add = auto_add;
    rt->stop = stop;
    rt->epoch = kl_symreg_epoch(reg);
    return 0;
}

void
kl_router_fini(kl_router_t *rt)
{
    kl_free(rt->cache);
    rt->cache = NULL;
}

static inline uint32_t
hash_name(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a: symbol names are 3-12 bytes */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static void
cache_clear(kl_router_t *rt)
{
    for (size_t i = 0; i < KL_ROUTER_CACHE; i++)
        rt->cache[i].worker = -1;
}

/* The cached route of symbol, filled from the registry on a miss; NULL if unknown (*rc: KL_EARG,
 * or KL_ESYMLIMIT when a bound refused to add it). Only a trade may add a symbol (may_add, with
 * auto_add), within max-symbols and the creation rate; a trade's invalid name is counted. A
 * hold or a watermark of a name the registry does not know is nothing to act on. Refusals are
 * not cached: each costs a registry lookup (one lock, one probe), and a name refused for the
 * rate may be accepted a moment later. */
static const kl_route_t *
lookup(kl_router_t *rt, const char *symbol, size_t len, uint32_t unit_per_ms, int may_add,
       int *rc)
{
    *rc = KL_EARG;
    uint64_t e = kl_symreg_epoch(rt->reg);
    if (e != rt->epoch) {
        cache_clear(rt);
        rt->epoch = e;
    }
    if (len == 0 || len >= KL_SYM_MAX) {
        if (may_add)
            kl_symreg_refuse_name(rt->reg, symbol, len);
        return NULL;
    }
    size_t mask = KL_ROUTER_CACHE - 1, i = hash_name(symbol, len) & mask;
    for (size_t probes = 0; probes < 8; probes++, i = (i + 1) & mask) {
        kl_route_t *r = &rt->cache[i];
        if (r->worker < 0)
            break;
        if (memcmp(r->name, symbol, len) == 0 && r->name[len] == '\0')
            return r;
    }
    /* A miss: a name met first, or not known. Only valid names get this far (a cached one is). */
    if (!kl_sym_valid(symbol, len)) {
        if (may_add)
            kl_symreg_refuse_name(rt->reg, symbol, len);
        return NULL;
    }
    char name[KL_SYM_MAX];
    memcpy(name, symbol, len);
    name[len] = '\0';
    kl_syminfo_t info;
    int lr = kl_symreg_lookup(rt->reg, name,
                              rt->auto_add && may_add ? KL_SYMREG_AUTO_BOUNDED : KL_SYMREG_FIND,
                              unit_per_ms, &info);
    if (lr < 0) {
        /* Out of memory is not "unknown": a source must not drop the trade as if it were. */
        *rc = lr == KL_ESYMLIMIT || lr == KL_ENOMEM ? lr : KL_EARG;
        return NULL;
    }
    /* Insert; a full probe run evicts its first entry (the registry stays authoritative). */
    i = hash_name(symbol, len) & mask;
    size_t slot = i;
    for (size_t probes = 0; probes < 8; probes++, i = (i + 1) & mask)
        if (rt->cache[i].worker < 0) {
            slot = i;
            break;
        }
    kl_route_t *r = &rt->cache[slot];
    memcpy(r->name, name, len + 1);
    r->sym = info.id;
    r->worker = info.worker;
    return r;
}

int
kl_router_control(kl_router_t *rt, int w, const kl_msg_t *m)
{
    int rc = kl_ring_push(kl_worker_ring(rt->workers[w], rt->producer), m, rt->stop);
    if (rc == 0)
        rt->notify |= (uint64_t)1 << w;
    return rc;
}

int
kl_router_trade(kl_router_t *rt, const char *symbol, size_t len, uint32_t unit_per_ms,
                const kl_trade_t *t)
{
    if (rt->sink) /* klined bridge: the trade leaves the process instead */
        return rt->sink(rt->sink_ctx, symbol, len, unit_per_ms, t);
    int rc;
    const kl_route_t *r = lookup(rt, symbol, len, unit_per_ms, 1, &rc);
    if (!r) {
        rt->unknown++;
        return rc;
    }
    kl_msg_t m;
    m.type = KL_MSG_TRADE;
    m.flags = 0;
    m.sym = r->sym;
    m.u.trade = *t;
    kl_ring_t *ring = kl_worker_ring(rt->workers[r->worker], rt->producer);
    if (kl_ring_try_push(ring, &m) != 0) {
        /* Full: wake the worker before waiting, or it may be parked on what we hold. */
        kl_wake_notify(kl_worker_wake(rt->workers[r->worker]));
        if ((rc = kl_ring_push(ring, &m, rt->stop)) != 0)
            return rc;
    }
    rt->notify |= (uint64_t)1 << r->worker;
    rt->routed++;
    return 0;
}

/* Sends m to the worker of a symbol the registry knows (never adds one). */
static int
send_named(kl_router_t *rt, const char *symbol, size_t len, kl_msg_t *m)
{
    int rc;
    const kl_route_t *r = lookup(rt, symbol, len, 0, 0, &rc);
    if (!r)
        return KL_EARG;
    m->sym = r->sym;
    return kl_router_control(rt, r->worker, m);
}

int
kl_router_hold(kl_router_t *rt, const char *symbol, size_t len, int hold)
{
    if (rt->sink) /* no clock to hold: the consumers' event clocks wait by themselves */
        return 0;
    kl_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = hold ? KL_MSG_HOLD : KL_MSG_RELEASE;
    return send_named(rt, symbol, len, &m);
}

int
kl_router_wmark(kl_router_t *rt, const char *symbol, size_t len, int64_t now_ms)
{
    if (rt->sink) /* klined bridge: the consumers keep their own clocks */
        return 0;
    kl_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = KL_MSG_WMARK;
    m.u.wmark.now_ms = now_ms;
    return send_named(rt, symbol, len, &m);
}

void
kl_router_flush(kl_router_t *rt)
{
    uint64_t n = rt->notify;
    while (n) {
        int w = __builtin_ctzll(n);
        kl_wake_notify(kl_worker_wake(rt->workers[w]));
        n &= n - 1;
    }
    rt->notify = 0;
}
