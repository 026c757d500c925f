/* Symbol registry: a growable array of entry slots, a linear-probing name index (name -> slot
 * of its latest entry) and an id index (id -> slot). All under one mutex; see symreg.h for why
 * that is enough. A removed name's parked/stored marks live on its latest entry (the one the
 * name index points to).
 *
 * Entries are reclaimed (issue 12, low): when a name is added again, its previous entry is no
 * longer anyone's latest, only the answer to kl_symreg_get() of an old id, whose callers treat
 * "unknown" and "not live" alike; so it is freed at once (unless a re-add state still waits in
 * it for a worker), and its slot reused. Ids still come from a counter and are never reused. So
 * the table holds one entry per name ever registered (live, or removed and remembered: a
 * removed name must stay known, so that a trade does not bring it back and a re-add resumes
 * its series), not one per add, and a Kafka group that rebalances its symbols again and again,
 * or an admin removing and adding in a loop, no longer grows it.
 *
 * Bounds (issue 12, C2): every name is validated before anything is allocated for it; a
 * CAPPED add is refused once max_live symbols are live, a PACED one when the token bucket
 * (rate per second, burst tokens) is empty. A refusal costs one lock, one index probe and a
 * counter: a flood of unknown names is cheap, and the names already known keep their cached
 * routes in the routers, which never come here. */
#include "runtime/symreg.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/shard.h"
#include "kl/err.h"

/* What an entry keeps beyond its public info: a re-add's state for the worker to take, and
 * whether a re-add is reading the stored state now. */
typedef struct ext {
    void *state;
    uint32_t len;
    uint8_t resuming;
} ext_t;

struct kl_symreg {
    pthread_mutex_t mu;
    _Atomic uint64_t epoch;
    int n_workers;
    int *load; /* live symbols per worker */
    kl_syminfo_t *v;
    ext_t *ext; /* parallel to v */
    size_t n, cap; /* slots used (some may be free), allocated */
    uint32_t *idx; /* name hash -> slot + 1 (0 = empty) */
    size_t idx_cap;
    uint32_t *byid; /* id index: id + 1 at [2i], slot at [2i + 1]; id + 1 == 0: empty */
    size_t byid_cap, byid_n; /* pairs */
    uint32_t *free_slots; /* reclaimed slots, to reuse */
    size_t n_free, free_cap;
    uint32_t next_id;
    uint32_t shard_index, shard_count; /* only names of this shard are added */
    uint32_t place_parts; /* > 0: a name's worker is kl_shard_of(name, place_parts) % workers */
    size_t n_live;
    kl_symreg_limits_t lim;
    int64_t tokens_milli; /* the bucket, in thousandths of a new symbol */
    int64_t bucket_ms;    /* when it was last refilled */
    int64_t (*now_ms)(void);
    uint64_t refused[KL_SYMREG_N_REFUSALS];
    kl_ratelimit_t rl[KL_SYMREG_N_REFUSALS]; /* the refusal log lines, one per reason */
};

static uint64_t
name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a: names are short, this is off the hot path */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

int
kl_sym_valid(const char *s, size_t len)
{
    if (len == 0 || len >= KL_SYM_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

static int
valid_name(const char *s)
{
    return kl_sym_valid(s, strnlen(s, KL_SYM_MAX));
}

kl_symreg_t *
kl_symreg_create(int n_workers)
{
    kl_symreg_t *r = kl_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->n_workers = n_workers;
    r->shard_count = 1;
    r->now_ms = kl_mono_ms;
    r->load = kl_calloc((size_t)n_workers, sizeof *r->load);
    r->idx_cap = 1024;
    r->idx = kl_calloc(r->idx_cap, sizeof *r->idx);
    r->byid_cap = 1024;
    r->byid = kl_calloc(2 * r->byid_cap, sizeof *r->byid);
    if (!r->load || !r->idx || !r->byid) {
        kl_free(r->load);
        kl_free(r->idx);
        kl_free(r->byid);
        kl_free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void
kl_symreg_destroy(kl_symreg_t *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->mu);
    for (size_t i = 0; i < r->n; i++)
        kl_free(r->ext[i].state); /* re-adds no worker took */
    kl_free(r->load);
    kl_free(r->idx);
    kl_free(r->byid);
    kl_free(r->free_slots);
    kl_free(r->v);
    kl_free(r->ext);
    kl_free(r);
}

/* Slot of name in the index: either the one holding it, or the empty one where it goes. Only
 * the latest id of a name is indexed. */
static size_t
idx_find(const kl_symreg_t *r, const char *name)
{
    size_t mask = r->idx_cap - 1, i = (size_t)name_hash(name) & mask;
    while (r->idx[i] != 0 && strcmp(r->v[r->idx[i] - 1].name, name) != 0)
        i = (i + 1) & mask;
    return i;
}

static int
idx_grow(kl_symreg_t *r)
{
    size_t ncap = r->idx_cap * 2;
    uint32_t *old = r->idx, *nidx = kl_calloc(ncap, sizeof *nidx);
    if (!nidx)
        return KL_ENOMEM;
    size_t ocap = r->idx_cap;
    r->idx = nidx;
    r->idx_cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i])
            r->idx[idx_find(r, r->v[old[i] - 1].name)] = old[i];
    kl_free(old);
    return 0;
}

/* Position of id in the id index: the pair holding it, or the empty one where it goes. */
static size_t
byid_find(const kl_symreg_t *r, uint32_t id)
{
    size_t mask = r->byid_cap - 1, i = ((size_t)id * 2654435761u) & mask;
    while (r->byid[2 * i] != 0 && r->byid[2 * i] != id + 1)
        i = (i + 1) & mask;
    return i;
}

/* The slot of id, or -1. */
static int64_t
slot_of(const kl_symreg_t *r, uint32_t id)
{
    size_t i = byid_find(r, id);
    return r->byid[2 * i] != 0 ? (int64_t)r->byid[2 * i + 1] : -1;
}

/* Makes room for one more id (kept at most half full). */
static int
byid_reserve(kl_symreg_t *r)
{
    if ((r->byid_n + 1) * 2 <= r->byid_cap)
        return 0;
    size_t ocap = r->byid_cap;
    uint32_t *old = r->byid, *nb = kl_calloc(4 * ocap, sizeof *nb);
    if (!nb)
        return KL_ENOMEM;
    r->byid = nb;
    r->byid_cap = 2 * ocap;
    for (size_t i = 0; i < ocap; i++)
        if (old[2 * i]) {
            size_t j = byid_find(r, old[2 * i] - 1);
            r->byid[2 * j] = old[2 * i];
            r->byid[2 * j + 1] = old[2 * i + 1];
        }
    kl_free(old);
    return 0;
}

/* Removes id from the id index (linear probing: the run after it shifts back). */
static void
byid_delete(kl_symreg_t *r, uint32_t id)
{
    size_t mask = r->byid_cap - 1, i = byid_find(r, id);
    if (r->byid[2 * i] == 0)
        return;
    for (size_t j = (i + 1) & mask; r->byid[2 * j] != 0; j = (j + 1) & mask) {
        size_t home = ((size_t)(r->byid[2 * j] - 1) * 2654435761u) & mask;
        /* j's pair may move to the hole at i when its home is not in (i, j] (cyclically) */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            r->byid[2 * i] = r->byid[2 * j];
            r->byid[2 * i + 1] = r->byid[2 * j + 1];
            i = j;
        }
    }
    r->byid[2 * i] = 0;
    r->byid[2 * i + 1] = 0;
    r->byid_n--;
}

/* Frees the entry in slot `old` that a newer entry of its name replaced (see the top). */
static void
reclaim(kl_symreg_t *r, size_t old)
{
    if (r->ext[old].state) /* a re-add's state waits in it for its worker */
        return;
    if (r->n_free == r->free_cap) {
        size_t ncap = r->free_cap ? r->free_cap * 2 : 64;
        uint32_t *nf = kl_alloc(ncap * sizeof *nf);
        if (!nf)
            return; /* kept: costs an entry, nothing else */
        if (r->n_free)
            memcpy(nf, r->free_slots, r->n_free * sizeof *nf);
        kl_free(r->free_slots);
        r->free_slots = nf;
        r->free_cap = ncap;
    }
    byid_delete(r, r->v[old].id);
    memset(&r->v[old], 0, sizeof r->v[old]);
    memset(&r->ext[old], 0, sizeof r->ext[old]);
    r->v[old].parked = -1;
    r->free_slots[r->n_free++] = (uint32_t)old;
}

/* Appends a new entry for name (live or not) on worker `worker` (-1: the placement's choice, or
 * the worker holding the name's parked series). Returns it, or NULL without memory. */
static kl_syminfo_t *
new_entry(kl_symreg_t *r, const char *name, uint32_t unit_per_ms, int worker, int live)
{
    /* Keep the index at most half full, so probing stays short and always ends. */
    if ((r->n + 1) * 2 > r->idx_cap && idx_grow(r) != 0)
        return NULL;
    if (byid_reserve(r) != 0)
        return NULL;
    size_t slot = idx_find(r, name);
    if (r->n_free == 0 && r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 64;
        kl_syminfo_t *nv = kl_calloc(ncap, sizeof *nv);
        ext_t *nx = nv ? kl_calloc(ncap, sizeof *nx) : NULL;
        if (!nx) {
            kl_free(nv);
            return NULL;
        }
        if (r->n) {
            memcpy(nv, r->v, r->n * sizeof *nv);
            memcpy(nx, r->ext, r->n * sizeof *nx);
        }
        kl_free(r->v);
        kl_free(r->ext);
        r->v = nv;
        r->ext = nx;
        r->cap = ncap;
    }
    const kl_syminfo_t *old = r->idx[slot] ? &r->v[r->idx[slot] - 1] : NULL;
    int best = 0;
    if (worker >= 0)
        best = worker;
    else if (old && old->parked >= 0) /* its series waits there: resume it in place */
        best = old->parked;
    else if (r->place_parts) /* Kafka: one worker per partition, which keeps its offset exact */
        best = (int)(kl_shard_of(name, strlen(name), r->place_parts) % (uint32_t)r->n_workers);
    else
        for (int w = 1; w < r->n_workers; w++)
            if (r->load[w] < r->load[best])
                best = w;
    if (unit_per_ms == 0 && old) /* a re-add continues in the unit the series had */
        unit_per_ms = old->unit_per_ms;
    size_t at = r->n_free ? r->free_slots[--r->n_free] : r->n++;
    kl_syminfo_t *e = &r->v[at];
    memset(e, 0, sizeof *e);
    memset(&r->ext[at], 0, sizeof r->ext[at]);
    strcpy(e->name, name);
    e->id = r->next_id++;
    e->worker = best;
    e->unit_per_ms = unit_per_ms;
    e->live = live;
    e->resume_id = INT64_MIN;
    e->parked = -1;
    if (live) {
        r->load[best]++;
        r->n_live++;
    }
    size_t j = byid_find(r, e->id);
    r->byid[2 * j] = e->id + 1;
    r->byid[2 * j + 1] = (uint32_t)at;
    r->byid_n++;
    if (old) /* the name's previous entry: nobody's latest any more */
        reclaim(r, (size_t)(old - r->v));
    r->idx[slot] = (uint32_t)at + 1;
    return e;
}

static int
add_locked(kl_symreg_t *r, const char *name, uint32_t unit_per_ms, kl_syminfo_t *out)
{
    kl_syminfo_t *e = new_entry(r, name, unit_per_ms, -1, 1);
    if (!e)
        return KL_ENOMEM;
    *out = *e;
    return 1;
}

/* The latest entry of a valid name, or NULL. Locked. */
static kl_syminfo_t *
latest(kl_symreg_t *r, const char *name)
{
    size_t slot = idx_find(r, name);
    return r->idx[slot] ? &r->v[r->idx[slot] - 1] : NULL;
}

static int
shard_refuses(const kl_symreg_t *r, const char *name)
{
    return kl_shard_of(name, strlen(name), r->shard_count) != r->shard_index;
}

/* A refusal decided under the lock, logged after it. */
typedef struct refusal {
    int reason; /* enum kl_symreg_refusal; -1: none */
    int log;    /* the reason's rate limit lets this one be logged */
    uint64_t count, suppressed;
    size_t live;
    kl_symreg_limits_t lim;
} refusal_t;

/* Locked: counts a refusal for reason, and whether to log it (once a second per reason). */
static void
refuse_locked(kl_symreg_t *r, int reason, refusal_t *w)
{
    w->reason = reason;
    w->count = ++r->refused[reason];
    w->log = kl_ratelimit_ok(&r->rl[reason], 1000, &w->suppressed);
    w->live = r->n_live;
    w->lim = r->lim;
}

/* Locked: 1 when the bounds `add` asks for refuse a new symbol now (counted in *w), else 0,
 * having taken a token when PACED. The cap is checked first: a refusal by it costs no token. */
static int
bounds_refuse(kl_symreg_t *r, int add, refusal_t *w)
{
    if ((add & KL_SYMREG_CAPPED) && r->lim.max_live && r->n_live >= r->lim.max_live) {
        refuse_locked(r, KL_SYMREG_REFUSED_CAP, w);
        return 1;
    }
    if ((add & KL_SYMREG_PACED) && r->lim.rate) {
        int64_t now = r->now_ms(), full = (int64_t)r->lim.burst * 1000;
        if (now > r->bucket_ms) { /* rate per second = thousandths per ms */
            int64_t gain = (now - r->bucket_ms) * (int64_t)r->lim.rate;
            r->tokens_milli = gain >= full - r->tokens_milli ? full : r->tokens_milli + gain;
            r->bucket_ms = now;
        }
        if (r->tokens_milli < 1000) {
            refuse_locked(r, KL_SYMREG_REFUSED_RATE, w);
            return 1;
        }
        r->tokens_milli -= 1000;
    }
    return 0;
}

/* The log line of a refusal: the name as received (escaped, it may be anything) and what the
 * service did. */
static void
log_refusal(const char *name, size_t len, const refusal_t *w)
{
    static const char *const why[KL_SYMREG_N_REFUSALS] = {"cap", "rate", "name"};
    static const char hex[] = "0123456789abcdef";
    char esc[4 * 40 + 4];
    size_t o = 0;
    for (size_t i = 0; i < len && i < 40; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            esc[o++] = (char)c;
        } else {
            esc[o++] = '\\';
            esc[o++] = 'x';
            esc[o++] = hex[c >> 4];
            esc[o++] = hex[c & 15];
        }
    }
    if (len > 40)
        esc[o++] = '.', esc[o++] = '.', esc[o++] = '.';
    esc[o] = '\0';
    kl_log(KL_LOG_WARN, "symreg", "symbol_refused",
           "symbol=\"%s\" reason=%s live=%zu max_symbols=%u symbol_create_rate=%u "
           "symbol_create_burst=%u refused=%llu suppressed=%llu action=\"%s\"",
           esc, why[w->reason], w->live, w->lim.max_live, w->lim.rate, w->lim.burst,
           (unsigned long long)w->count, (unsigned long long)w->suppressed,
           w->reason == KL_SYMREG_REFUSED_NAME
               ? "dropped: not a symbol name (1..31 of A-Z 0-9)"
               : "not added: its trades are dropped and counted until it can be");
}

void
kl_symreg_refuse_name(kl_symreg_t *r, const char *s, size_t len)
{
    refusal_t w;
    pthread_mutex_lock(&r->mu);
    refuse_locked(r, KL_SYMREG_REFUSED_NAME, &w);
    pthread_mutex_unlock(&r->mu);
    if (w.log)
        log_refusal(s, len, &w);
}

int
kl_symreg_lookup(kl_symreg_t *r, const char *name, int add, uint32_t unit_per_ms,
                 kl_syminfo_t *out)
{
    int mode = add & KL_SYMREG_MODE;
    if (!valid_name(name)) {
        if (add & (KL_SYMREG_CAPPED | KL_SYMREG_PACED)) /* a source's: counted */
            kl_symreg_refuse_name(r, name, strnlen(name, KL_SYM_MAX));
        return KL_EARG;
    }
    refusal_t w = {.reason = -1};
    pthread_mutex_lock(&r->mu);
    size_t slot = idx_find(r, name);
    int rc;
    if (r->idx[slot] != 0 && r->v[r->idx[slot] - 1].live) {
        kl_syminfo_t *e = &r->v[r->idx[slot] - 1];
        if (e->unit_per_ms == 0) /* configured ahead of its first trade: that trade decides */
            e->unit_per_ms = unit_per_ms;
        *out = *e;
        rc = 0;
    } else if (mode != KL_SYMREG_FIND && shard_refuses(r, name)) {
        rc = KL_ESHARD; /* another instance serves it */
    } else if (mode == KL_SYMREG_ADD || (mode == KL_SYMREG_AUTO && r->idx[slot] == 0)) {
        rc = bounds_refuse(r, add, &w) ? KL_ESYMLIMIT : add_locked(r, name, unit_per_ms, out);
    } else {
        rc = KL_EARG;
    }
    pthread_mutex_unlock(&r->mu);
    if (w.log)
        log_refusal(name, strlen(name), &w);
    return rc;
}

void
kl_symreg_set_limits(kl_symreg_t *r, const kl_symreg_limits_t *l)
{
    pthread_mutex_lock(&r->mu);
    r->lim = *l;
    if (r->lim.burst == 0)
        r->lim.burst = 1;
    r->tokens_milli = (int64_t)r->lim.burst * 1000;
    r->bucket_ms = r->now_ms();
    pthread_mutex_unlock(&r->mu);
}

void
kl_symreg_set_clock(kl_symreg_t *r, int64_t (*now_ms)(void))
{
    pthread_mutex_lock(&r->mu);
    r->now_ms = now_ms;
    r->bucket_ms = now_ms();
    pthread_mutex_unlock(&r->mu);
}

void
kl_symreg_stats(kl_symreg_t *r, kl_symreg_stats_t *out)
{
    pthread_mutex_lock(&r->mu);
    out->live = r->n_live;
    out->entries = r->n - r->n_free;
    for (int i = 0; i < KL_SYMREG_N_REFUSALS; i++)
        out->refused[i] = r->refused[i];
    pthread_mutex_unlock(&r->mu);
}

void
kl_symreg_set_shard(kl_symreg_t *r, uint32_t index, uint32_t count)
{
    pthread_mutex_lock(&r->mu);
    r->shard_index = index;
    r->shard_count = count ? count : 1;
    pthread_mutex_unlock(&r->mu);
}

void
kl_symreg_set_placement(kl_symreg_t *r, uint32_t n_parts)
{
    pthread_mutex_lock(&r->mu);
    r->place_parts = n_parts;
    pthread_mutex_unlock(&r->mu);
}

int
kl_symreg_get(kl_symreg_t *r, uint32_t id, kl_syminfo_t *out)
{
    pthread_mutex_lock(&r->mu);
    int rc = KL_EARG;
    int64_t at = slot_of(r, id);
    if (at >= 0) {
        *out = r->v[at];
        rc = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int
kl_symreg_remove(kl_symreg_t *r, const char *name, kl_syminfo_t *out)
{
    if (!valid_name(name))
        return KL_EARG;
    pthread_mutex_lock(&r->mu);
    size_t slot = idx_find(r, name);
    int rc = KL_EARG;
    if (r->idx[slot] != 0 && r->v[r->idx[slot] - 1].live) {
        kl_syminfo_t *e = &r->v[r->idx[slot] - 1];
        e->live = 0;
        r->load[e->worker]--;
        r->n_live--;
        e->parked = e->worker; /* the worker parks the series (KL_MSG_REMOVE) */
        e->stored = 1;
        *out = *e;
        /* release: a router that sees the new epoch also sees the entry marked removed. */
        atomic_fetch_add_explicit(&r->epoch, 1, memory_order_release);
        rc = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int
kl_symreg_readd(kl_symreg_t *r, const char *name, uint32_t unit_per_ms, kl_syminfo_t *out)
{
    if (!valid_name(name))
        return KL_EARG;
    refusal_t w = {.reason = -1};
    pthread_mutex_lock(&r->mu);
    kl_syminfo_t *e = latest(r, name);
    int rc;
    if (e && e->live) {
        if (e->unit_per_ms == 0) /* as kl_symreg_lookup: the first known unit decides */
            e->unit_per_ms = unit_per_ms;
        *out = *e;
        rc = 0;
    } else if (shard_refuses(r, name)) {
        rc = KL_ESHARD;
    } else if (e && r->ext[e - r->v].resuming) {
        rc = KL_EARG; /* another re-add is reading its state */
    } else if (bounds_refuse(r, KL_SYMREG_CAPPED, &w)) {
        rc = KL_ESYMLIMIT; /* an explicit add obeys the cap (not the rate) */
    } else if (e && e->parked < 0 && e->stored) {
        r->ext[e - r->v].resuming = 1;
        rc = KL_SYMREG_NEED_STATE;
    } else {
        rc = add_locked(r, name, unit_per_ms, out);
    }
    pthread_mutex_unlock(&r->mu);
    if (w.log)
        log_refusal(name, strlen(name), &w);
    return rc;
}

int
kl_symreg_readd_state(kl_symreg_t *r, const char *name, uint32_t unit_per_ms, void *state,
                      uint32_t len, kl_syminfo_t *out)
{
    if (!valid_name(name)) {
        kl_free(state);
        return KL_EARG;
    }
    pthread_mutex_lock(&r->mu);
    kl_syminfo_t *e = latest(r, name);
    int rc;
    if (e && e->live) {
        *out = *e;
        rc = 0;
    } else if (shard_refuses(r, name)) {
        rc = KL_ESHARD;
    } else if (!(e = new_entry(r, name, unit_per_ms, -1, 1))) {
        rc = KL_ENOMEM;
    } else {
        if (state) { /* the worker creating the slot takes it */
            r->ext[e - r->v].state = state;
            r->ext[e - r->v].len = len;
            state = NULL;
        }
        *out = *e;
        rc = 1;
    }
    pthread_mutex_unlock(&r->mu);
    kl_free(state);
    return rc;
}

void
kl_symreg_readd_cancel(kl_symreg_t *r, const char *name)
{
    if (!valid_name(name))
        return;
    pthread_mutex_lock(&r->mu);
    kl_syminfo_t *e = latest(r, name);
    if (e)
        r->ext[e - r->v].resuming = 0;
    pthread_mutex_unlock(&r->mu);
}

int
kl_symreg_take_state(kl_symreg_t *r, uint32_t id, void **state, uint32_t *len)
{
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    int64_t at = slot_of(r, id);
    if (at >= 0 && r->ext[at].state) {
        *state = r->ext[at].state;
        *len = r->ext[at].len;
        r->ext[at].state = NULL;
        rc = 1;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int
kl_symreg_unpark(kl_symreg_t *r, const char *name, int worker)
{
    if (!valid_name(name))
        return 0;
    pthread_mutex_lock(&r->mu);
    kl_syminfo_t *e = latest(r, name);
    int rc = 0;
    if (e && e->live && e->worker == worker)
        rc = 1; /* re-added here: its slot_add resumes the parked series */
    else if (e && e->parked == worker)
        e->parked = -1; /* from now on a re-add reads the stored state */
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int
kl_symreg_add_stored(kl_symreg_t *r, const char *name, uint32_t unit_per_ms, kl_syminfo_t *out)
{
    if (!valid_name(name))
        return KL_EARG;
    pthread_mutex_lock(&r->mu);
    kl_syminfo_t *e = latest(r, name);
    int rc;
    if (e && e->live) {
        *out = *e;
        rc = 0;
    } else if (shard_refuses(r, name)) {
        rc = KL_ESHARD;
    } else if (!e && !(e = new_entry(r, name, unit_per_ms, 0, 0))) {
        rc = KL_ENOMEM;
    } else {
        e->parked = -1;
        e->stored = 1;
        *out = *e;
        rc = 1;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int
cmp_name(const void *a, const void *b)
{
    return strcmp(((const kl_syminfo_t *)a)->name, ((const kl_syminfo_t *)b)->name);
}

size_t
kl_symreg_list(kl_symreg_t *r, kl_syminfo_t *out, size_t max)
{
    pthread_mutex_lock(&r->mu);
    size_t live = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (!r->v[i].live)
            continue;
        if (live < max)
            out[live] = r->v[i];
        live++;
    }
    pthread_mutex_unlock(&r->mu);
    if (out && max)
        qsort(out, live < max ? live : max, sizeof *out, cmp_name);
    return live;
}

void
kl_symreg_set_resume(kl_symreg_t *r, const char *name, int64_t id)
{
    if (!valid_name(name))
        return;
    pthread_mutex_lock(&r->mu);
    size_t slot = idx_find(r, name);
    if (r->idx[slot] != 0)
        r->v[r->idx[slot] - 1].resume_id = id;
    pthread_mutex_unlock(&r->mu);
}

int64_t
kl_symreg_resume(kl_symreg_t *r, const char *name)
{
    int64_t id = INT64_MIN;
    if (!valid_name(name))
        return id;
    pthread_mutex_lock(&r->mu);
    size_t slot = idx_find(r, name);
    if (r->idx[slot] != 0 && r->v[r->idx[slot] - 1].live)
        id = r->v[r->idx[slot] - 1].resume_id;
    pthread_mutex_unlock(&r->mu);
    return id;
}

uint64_t
kl_symreg_epoch(kl_symreg_t *r)
{
    return atomic_load_explicit(&r->epoch, memory_order_acquire);
}
