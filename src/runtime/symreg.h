/* The symbol registry: the one shared table of symbols the service serves, mapping each name to
 * a global id, its worker and its time unit. Sources consult it on a cache miss, workers when
 * they meet an id they do not hold yet, admin commands to add and remove. It is behind a mutex
 * because none of those is per trade; the hot paths keep their own caches and watch `epoch`.
 *
 * Ids are never reused: a symbol removed and added again gets a new id, so a stale cache entry
 * can only route trades to a worker that drops them (counted), never to another symbol. The old
 * id's entry is reclaimed then (its slot reused, the id not), so the table holds one entry per
 * name ever registered, not one per add.
 *
 * Re-adding resumes (docs/architecture.md "Symbols at runtime"). A removed name remembers where
 * its series went: `parked` = the worker that keeps it in memory (the removal parks it there),
 * `stored` = its checkpointed state is in the store. A re-add goes to the parked worker, whose
 * slot_add finds the series by name; when no worker holds it any more, the re-adder reads the
 * stored state first (kl_symreg_readd -> KL_SYMREG_NEED_STATE -> kl_symreg_readd_state) and the
 * registry hands it to whichever worker creates the slot (kl_symreg_take_state), whether the
 * first message it meets is the add or a trade. A worker frees a parked series only with the
 * registry's consent (kl_symreg_unpark), so a re-add on its way always finds what it was
 * promised. */
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
    int parked; /* removed: the worker still holding its series in memory; -1: none */
    int stored; /* removed: its series may be checkpointed in the store (a re-add reads it when
                   no worker holds it) */
} kl_syminfo_t;

typedef struct kl_symreg kl_symreg_t;

/* n_workers >= 1. Returns NULL on allocation failure. Main thread. */
kl_symreg_t *kl_symreg_create(int n_workers);
void kl_symreg_destroy(kl_symreg_t *r);

enum kl_symreg_add {
    KL_SYMREG_FIND = 0, /* never add */
    KL_SYMREG_AUTO = 1, /* add an unknown name, but not one that was removed (a delisting stays
                           in force until an explicit add) */
    KL_SYMREG_ADD = 2,  /* add, also a removed name (admin add, config reload); a removed name
                           goes to the worker that holds its parked series */
    /* Bits or'ed to AUTO or ADD: the bounds of kl_symreg_set_limits() that the add obeys. A
     * name refused by one of them is counted (kl_symreg_stats), logged rate-limited, and the
     * lookup returns KL_ESYMLIMIT. Without them an add is bounded by nothing (the configured
     * symbols at start, recovery, a Kafka partition's stored states: what the service already
     * served). */
    KL_SYMREG_CAPPED = 4, /* at most max_live live symbols */
    KL_SYMREG_PACED = 8,  /* at most `rate` new symbols per second, `burst` at once */
};
#define KL_SYMREG_MODE 3 /* the FIND/AUTO/ADD part of `add` */
/* What a source's router uses for a name it meets in a trade: an unknown name is added within
 * every bound. */
#define KL_SYMREG_AUTO_BOUNDED (KL_SYMREG_AUTO | KL_SYMREG_CAPPED | KL_SYMREG_PACED)

/* The bounds on symbol creation (docs/config.md max-symbols, symbol-create-rate/-burst). Set
 * once the configured and recovered symbols are in: those are never refused. */
typedef struct kl_symreg_limits {
    uint32_t max_live; /* live symbols; 0: unbounded */
    uint32_t rate;     /* new symbols per second (token bucket); 0: unpaced */
    uint32_t burst;    /* tokens the bucket holds (new symbols at once); >= 1 */
} kl_symreg_limits_t;

/* Why a name was refused, for the counters of kl_symreg_stats(). */
enum kl_symreg_refusal {
    KL_SYMREG_REFUSED_CAP,  /* max_live symbols were live */
    KL_SYMREG_REFUSED_RATE, /* created faster than rate/burst */
    KL_SYMREG_REFUSED_NAME, /* not A-Z0-9, or not 1..31 bytes */
    KL_SYMREG_N_REFUSALS
};

typedef struct kl_symreg_stats {
    uint64_t live;    /* live symbols */
    uint64_t entries; /* entries held, live and removed */
    uint64_t refused[KL_SYMREG_N_REFUSALS];
} kl_symreg_stats_t;

/* 1 when s (len bytes) is a symbol name: 1..KL_SYM_MAX-1 bytes of A-Z 0-9 (the rule of the
 * `symbols` key). Checked before anything is allocated for a name. */
int kl_sym_valid(const char *s, size_t len);

/* Any thread. Sets the bounds for CAPPED/PACED adds and kl_symreg_readd(); the bucket starts
 * full. */
void kl_symreg_set_limits(kl_symreg_t *r, const kl_symreg_limits_t *l);

/* Tests: the monotonic clock the bucket refills by (default kl_mono_ms). */
void kl_symreg_set_clock(kl_symreg_t *r, int64_t (*now_ms)(void));

/* Any thread: counts a source's trade whose symbol is not a valid name (s, len bytes, any
 * content: logged escaped, rate-limited). */
void kl_symreg_refuse_name(kl_symreg_t *r, const char *s, size_t len);

void kl_symreg_stats(kl_symreg_t *r, kl_symreg_stats_t *out);

/* kl_symreg_readd(): the name's series is only in the store; read it, then readd_state. */
#define KL_SYMREG_NEED_STATE 2

/* Any thread. Finds name; when absent, adds it per `add` on the least-loaded worker with
 * the given unit. unit_per_ms 0 ("not known yet", for symbols configured before any trade) is
 * replaced by the unit of the first lookup that gives one. Returns 1 if it was added by this
 * call, 0 if it existed (live), KL_EARG when absent and not added (or the name is invalid: with
 * CAPPED or PACED counted as a refusal), KL_ESYMLIMIT when a bound of `add` refused it,
 * KL_ESHARD, KL_ENOMEM. Writes *out on 0/1. */
int kl_symreg_lookup(kl_symreg_t *r, const char *name, int add, uint32_t unit_per_ms,
                     kl_syminfo_t *out);

/* Static sharding (--shard i/N): from now on only names with kl_shard_of(name, count) == index
 * are added; lookups that would add another name return KL_ESHARD. Main thread, at start. */
void kl_symreg_set_shard(kl_symreg_t *r, uint32_t index, uint32_t count);

/* Kafka source: from now on a new name goes to worker kl_shard_of(name, n_parts) % workers, so
 * that all the symbols of one partition share a worker (0: least loaded, the default). */
void kl_symreg_set_placement(kl_symreg_t *r, uint32_t n_parts);

/* Any thread. Info for id (live, or the latest entry of a removed name). Returns 0, or KL_EARG
 * if unknown, or superseded: the entry of an id whose name was added again since is reclaimed
 * (callers treat that as "not live"). */
int kl_symreg_get(kl_symreg_t *r, uint32_t id, kl_syminfo_t *out);

/* Any thread. Marks name removed and bumps the epoch; returns 0 and its info, or KL_EARG. The
 * caller then tells the owning worker (KL_MSG_REMOVE), which parks the series: the entry is
 * marked parked on that worker and stored. */
int kl_symreg_remove(kl_symreg_t *r, const char *name, kl_syminfo_t *out);

/* Any thread. An explicit add that resumes a removed name's series (admin add, config reload,
 * recovery):
 *   0   name is live: *out is its info (a unit of 0 is set to unit_per_ms, as by lookup);
 *   1   added (*out): a new name, or a removed one whose series a worker still holds (added on
 *       that worker), or one with nothing to resume;
 *   KL_SYMREG_NEED_STATE   its series is only in the store: nothing is added, the name is marked
 *       as being resumed (further re-adds get KL_EARG) until the caller reads the stored state
 *       and calls kl_symreg_readd_state(), or kl_symreg_readd_cancel();
 *   KL_EARG (invalid name, or being resumed), KL_ESHARD, KL_ESYMLIMIT (max_live are live: an
 *   explicit add obeys the cap, not the rate), KL_ENOMEM. */
int kl_symreg_readd(kl_symreg_t *r, const char *name, uint32_t unit_per_ms, kl_syminfo_t *out);

/* Any thread. Completes a KL_SYMREG_NEED_STATE re-add: adds name (on the least-loaded worker)
 * with state (a kl_alloc'd blob of len bytes, or NULL: the store had none, the series starts
 * afresh). The registry owns state from this call on, whatever it returns; the worker that
 * creates the slot takes it with kl_symreg_take_state(). Returns 1 and *out, 0 when the name
 * became live meanwhile (state freed), or the errors of kl_symreg_readd(). unit_per_ms 0: the
 * removed entry's unit. */
int kl_symreg_readd_state(kl_symreg_t *r, const char *name, uint32_t unit_per_ms, void *state,
                          uint32_t len, kl_syminfo_t *out);

/* Any thread. Gives up a KL_SYMREG_NEED_STATE re-add (the state could not be read): the name
 * stays removed, and can be re-added again. */
void kl_symreg_readd_cancel(kl_symreg_t *r, const char *name);

/* Worker, creating the slot of id: the state a re-add attached to it. Returns 1 and passes
 * ownership of *state (kl_free it) and *len, or 0 when there is none. */
int kl_symreg_take_state(kl_symreg_t *r, uint32_t id, void **state, uint32_t *len);

/* Worker `worker`, before it frees the parked series of removed name (its checkpoint is
 * committed): returns 0 when it may (the name is then resumed from the store), or 1 when name
 * was re-added onto this worker meanwhile and that add will resume the parked series. */
int kl_symreg_unpark(kl_symreg_t *r, const char *name, int worker);

/* Recovery: name has a checkpointed state marked parked (removed when it was stored). Returns
 * 0 and its info when name is live (configured: the caller continues the series), or registers
 * it as removed and stored (a later re-add resumes from the store; auto-add leaves it removed)
 * and returns 1; KL_EARG, KL_ESHARD or KL_ENOMEM. */
int kl_symreg_add_stored(kl_symreg_t *r, const char *name, uint32_t unit_per_ms,
                         kl_syminfo_t *out);

/* Any thread. Copies up to max live symbols, sorted by name; returns how many there are. */
size_t kl_symreg_list(kl_symreg_t *r, kl_syminfo_t *out, size_t max);

/* Recovery: the highest trade id already applied to name (sources resume after it), or
 * INT64_MIN when unknown. Any thread. */
void kl_symreg_set_resume(kl_symreg_t *r, const char *name, int64_t id);
int64_t kl_symreg_resume(kl_symreg_t *r, const char *name);

/* Changes whenever a symbol is removed: routers drop their caches when it moves. */
uint64_t kl_symreg_epoch(kl_symreg_t *r);

#endif
