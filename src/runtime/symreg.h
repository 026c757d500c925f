/* The symbol registry: the one shared table of symbols the service serves, mapping each name to
 * a global id, its worker and its time unit. Sources consult it on a cache miss, workers when
 * they meet an id they do not hold yet, admin commands to add and remove. It is behind a mutex
 * because none of those is per trade; the hot paths keep their own caches and watch `epoch`.
 *
 * Ids are never reused: a symbol removed and added again gets a new id, so a stale cache entry
 * can only route trades to a worker that drops them (counted), never to another symbol. */
#ifndef KL_RUNTIME_SYMREG_H
#define KL_RUNTIME_SYMREG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define KL_SYM_MAX 32

typedef struct kl_syminfo {
    char name[KL_SYM_MAX];
    uint32_t id;
    int worker;
    uint32_t unit_per_ms;
    int live;
    int64_t resume_id; /* INT64_MIN: none */
} kl_syminfo_t;

typedef struct kl_symreg kl_symreg_t;

/* n_workers >= 1. Returns NULL on allocation failure. Main thread. */
kl_symreg_t *kl_symreg_create(int n_workers);
void kl_symreg_destroy(kl_symreg_t *r);

enum kl_symreg_add {
    KL_SYMREG_FIND = 0, /* never add */
    KL_SYMREG_AUTO = 1, /* add an unknown name, but not one that was removed (a delisting stays
                           in force until an explicit add) */
    KL_SYMREG_ADD = 2,  /* add, also a removed name (admin add, config reload) */
};

/* Any thread. Finds name; when absent, adds it per `add` on the least-loaded worker with
 * the given unit. unit_per_ms 0 ("not known yet", for symbols configured before any trade) is
 * replaced by the unit of the first lookup that gives one. Returns 1 if it was added by this call, 0 if it existed (live), KL_EARG when
 * absent and not added (or the name is invalid), KL_ENOMEM. Writes *out on 0/1. */
int kl_symreg_lookup(kl_symreg_t *r, const char *name, int add, uint32_t unit_per_ms,
                     kl_syminfo_t *out);

/* Static sharding (--shard i/N): from now on only names with kl_shard_of(name, count) == index
 * are added; lookups that would add another name return KL_ESHARD. Main thread, at start. */
void kl_symreg_set_shard(kl_symreg_t *r, uint32_t index, uint32_t count);

/* Kafka source: from now on a new name goes to worker kl_shard_of(name, n_parts) % workers, so
 * that all the symbols of one partition share a worker (0: least loaded, the default). */
void kl_symreg_set_placement(kl_symreg_t *r, uint32_t n_parts);

/* Any thread. Info for id (live or removed). Returns 0, or KL_EARG if unknown. */
int kl_symreg_get(kl_symreg_t *r, uint32_t id, kl_syminfo_t *out);

/* Any thread. Marks name removed and bumps the epoch; returns 0 and its info, or KL_EARG. The
 * caller then tells the owning worker (KL_MSG_REMOVE) to finalize and free it. */
int kl_symreg_remove(kl_symreg_t *r, const char *name, kl_syminfo_t *out);

/* Any thread. Copies up to max live symbols, sorted by name; returns how many there are. */
size_t kl_symreg_list(kl_symreg_t *r, kl_syminfo_t *out, size_t max);

/* Recovery: the highest trade id already applied to name (sources resume after it), or
 * INT64_MIN when unknown. Any thread. */
void kl_symreg_set_resume(kl_symreg_t *r, const char *name, int64_t id);
int64_t kl_symreg_resume(kl_symreg_t *r, const char *name);

/* Changes whenever a symbol is removed: routers drop their caches when it moves. */
uint64_t kl_symreg_epoch(kl_symreg_t *r);

#endif
