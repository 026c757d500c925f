/* Recovery: states from the store, then the WAL records after each checkpoint, then one
 * checkpoint of the result. See recover.h.
 *
 * DESIGN. A checkpoint (one store transaction) holds the rows, the engine states of the symbols
 * that changed and "wal.w<N>" = the last WAL sequence number the states reflect; states of
 * unchanged symbols are from earlier checkpoints and still exact. So the state of a symbol at
 * crash time = its stored state + the records of its WAL after the checkpoint. Records name
 * symbols, so they are routed to whatever worker owns the symbol now, even if the number of
 * workers changed. A logged tick applies only to the symbols already met in the same log, the
 * ones that worker held (ticks of a clean symbol are reproduced by its next trade anyway); a
 * logged watermark (WMARK) names its symbol and applies to it alone, wherever it lives now.
 *
 * Removed symbols: a state marked parked is the series of a symbol removed before the
 * checkpoint. It stays removed (registered as removed and stored, unless the configuration lists
 * it, which resumes it), and a re-add resumes it from the store. A REMOVE record parks the
 * series in its worker, and a later ADD (or trade) record of the name resumes it there, or
 * from the store when it was removed before the checkpoint: the same steps as the running
 * service, so the result is the same. */
#include "serve/recover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "kl/err.h"
#include "serve/readd.h"
#include "wal/wal.h"
#include "wal/walrec.h"

typedef struct rec_ctx {
    kl_store_t *store;
    kl_symreg_t *reg;
    kl_worker_t **workers;
    int n_workers;
    uint32_t *seen; /* symbols met in the log being replayed */
    size_t n_seen, cap_seen;
    kl_recover_result_t *res;
    int error;
    char corrupt[64]; /* the symbol whose stored state is corrupt (M4), or "" */
} rec_ctx_t;

static int64_t
blob_i64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)p[i] << (8 * i);
    return (int64_t)u;
}

static int
on_state(void *ctx, const char *symbol, const void *blob, size_t len)
{
    rec_ctx_t *c = ctx;
    const uint8_t *b = blob;
    /* unit at bytes 8..9 and hwm_id at 32..39 of a state blob (kline_state.c FORMAT) */
    uint32_t unit = len >= 40 ? (uint32_t)(b[8] | b[9] << 8) : 0;
    kl_syminfo_t info;
    int parked = kl_series_state_parked(blob, len);
    int lr = parked ? kl_symreg_add_stored(c->reg, symbol, unit == 1000 ? 1000 : 1, &info)
                    : kl_symreg_lookup(c->reg, symbol, KL_SYMREG_ADD, unit == 1000 ? 1000 : 1,
                                       &info);
    if (lr == KL_ESHARD)
        return 0; /* another shard's symbol in a shared store: that instance continues it */
    if (lr < 0) {
        c->error = KL_ENOMEM;
        return 1;
    }
    if (parked && lr == 1) { /* removed, and not configured: its re-add resumes from here */
        c->res->removed++;
        return 0;
    }
    /* A parked state of a configured symbol is resumed: dirty, so that the next checkpoint
     * stores it without the mark. */
    int rc = kl_worker_adopt(c->workers[info.worker], info.id, symbol, info.unit_per_ms, blob,
                             len, parked);
    if (rc == KL_ENOMEM) {
        c->error = rc;
        return 1;
    }
    if (rc == KL_EIO) { /* M4: restarting it would overwrite its open klines in the store */
        snprintf(c->corrupt, sizeof c->corrupt, "%s", symbol);
        c->error = rc;
        return 1;
    }
    if (rc != 0) {
        kl_log(KL_LOG_WARN, "recover", "state_unusable",
               "symbol=%s bytes=%zu error=\"%s\" action=\"series restarts at its next trade "
               "(intervals, unit or lateness changed since the checkpoint?)\"",
               symbol, len, kl_strerror(rc));
        return 0;
    }
    kl_symreg_set_resume(c->reg, symbol, blob_i64(b + 32));
    c->res->states++;
    return 0;
}

static void
seen_add(rec_ctx_t *c, uint32_t sym)
{
    for (size_t i = 0; i < c->n_seen; i++)
        if (c->seen[i] == sym)
            return;
    if (c->n_seen == c->cap_seen) {
        size_t ncap = c->cap_seen ? c->cap_seen * 2 : 64;
        uint32_t *n = kl_alloc(ncap * sizeof *n);
        if (!n)
            return; /* only costs the ticks of this symbol, which its next trade repeats */
        if (c->n_seen)
            memcpy(n, c->seen, c->n_seen * sizeof *n);
        kl_free(c->seen);
        c->seen = n;
        c->cap_seen = ncap;
    }
    c->seen[c->n_seen++] = sym;
}

/* The name of a trade or add record, added as the running service did: a removed name resumes
 * its series, from the worker that parked it or from the store. Returns as kl_symreg_readd(). */
static int
rec_readd(rec_ctx_t *c, const char *name, uint32_t unit_per_ms, kl_syminfo_t *info)
{
    int lr = kl_symreg_readd(c->reg, name, unit_per_ms, info);
    if (lr == KL_SYMREG_NEED_STATE)
        lr = kl_readd_from_store(c->store, c->reg, name, info);
    return lr;
}

static int
on_record(void *ctx, uint64_t seq, uint16_t type, const void *payload, uint32_t len)
{
    rec_ctx_t *c = ctx;
    kl_walrec_t r;
    if (kl_walrec_decode(type, payload, len, &r) != 0) {
        kl_log(KL_LOG_WARN, "recover", "record_skipped",
               "seq=%llu type=%u bytes=%u reason=\"undecodable payload\"",
               (unsigned long long)seq, type, len);
        return 0;
    }
    c->res->records++;
    kl_syminfo_t info;
    kl_msg_t m;
    memset(&m, 0, sizeof m);
    int lr;
    switch (r.type) {
    case KL_WALREC_TRADE:
    case KL_WALREC_ADD:
        lr = rec_readd(c, r.name, r.unit_per_ms, &info);
        if (lr == KL_ESHARD)
            return 0; /* logged under another --shard: not ours any more */
        if (lr < 0) {
            c->error = lr == KL_EARG ? KL_ENOMEM : lr; /* (the name is valid: it was logged) */
            return 1;
        }
        m.sym = info.id;
        if (r.type == KL_WALREC_TRADE) {
            m.type = KL_MSG_TRADE;
            m.u.trade = r.trade;
            c->res->trades++;
            if (r.trade.id > kl_symreg_resume(c->reg, r.name))
                kl_symreg_set_resume(c->reg, r.name, r.trade.id);
        } else {
            m.type = KL_MSG_ADD;
            snprintf(m.u.add.name, sizeof m.u.add.name, "%s", r.name);
            m.u.add.unit_per_ms = info.unit_per_ms;
        }
        if ((c->error = kl_worker_replay(c->workers[info.worker], &m)) != 0)
            return 1;
        seen_add(c, info.id);
        return 0;
    case KL_WALREC_HOLD:
    case KL_WALREC_RELEASE:
        if (kl_symreg_lookup(c->reg, r.name, KL_SYMREG_FIND, 0, &info) == 0) {
            m.type = r.type == KL_WALREC_HOLD ? KL_MSG_HOLD : KL_MSG_RELEASE;
            m.sym = info.id;
            if ((c->error = kl_worker_replay(c->workers[info.worker], &m)) != 0)
                return 1;
        }
        return 0;
    case KL_WALREC_REMOVE:
        if (kl_symreg_remove(c->reg, r.name, &info) == 0) {
            m.type = KL_MSG_REMOVE;
            m.sym = info.id;
            if ((c->error = kl_worker_replay(c->workers[info.worker], &m)) != 0)
                return 1;
        }
        return 0;
    case KL_WALREC_WMARK:
        c->res->ticks++;
        if (kl_symreg_lookup(c->reg, r.name, KL_SYMREG_FIND, 0, &info) == 0 && info.live &&
            (c->error = kl_worker_replay_tick(c->workers[info.worker], info.id, r.now_ms)) != 0)
            return 1;
        return 0;
    case KL_WALREC_TICK:
        c->res->ticks++;
        for (size_t i = 0; i < c->n_seen; i++)
            if (kl_symreg_get(c->reg, c->seen[i], &info) == 0 && info.live &&
                (c->error = kl_worker_replay_tick(c->workers[info.worker], c->seen[i],
                                                  r.now_ms)) != 0)
                return 1;
        return 0;
    default:
        return 0;
    }
}

static int
cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Worker indices that have a log directory in wal_dir ("w<N>"), sorted. */
static size_t
list_logs(const char *wal_dir, int *out, size_t max)
{
    DIR *d = opendir(wal_dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < max) {
        char *end;
        if (de->d_name[0] != 'w' || de->d_name[1] < '0' || de->d_name[1] > '9')
            continue;
        long v = strtol(de->d_name + 1, &end, 10);
        if (*end == '\0' && v >= 0 && v < KL_RECOVER_MAX_LOGS)
            out[n++] = (int)v;
    }
    closedir(d);
    qsort(out, n, sizeof *out, cmp_int);
    return n;
}

/* Removes the segment files of a log no worker writes any more (after a checkpoint covers them). */
static void
drop_log(const char *wal_dir, int index)
{
    char dir[4096], path[4400];
    snprintf(dir, sizeof dir, "%s/w%d", wal_dir, index);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".wal") == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

/* Writes dir/STORE_ID atomically and durably (M8): a temporary file, fsynced, renamed over,
 * then the directory fsynced, so a crash leaves either no file or the whole id, never an empty
 * file. Returns 0 or -errno. */
static int
write_store_id(const char *dir, int64_t id)
{
    char tmp[4200], path[4200], text[32];
    snprintf(tmp, sizeof tmp, "%s/STORE_ID.tmp", dir);
    snprintf(path, sizeof path, "%s/STORE_ID", dir);
    int n = snprintf(text, sizeof text, "%lld\n", (long long)id);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = write(fd, text, (size_t)n) == n && fsync(fd) == 0 ? 0 : (errno ? -errno : -EIO);
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    rc = fsync(dfd) == 0 ? 0 : -errno;
    close(dfd);
    return rc;
}

/* Parses STORE_ID's text: decimal digits and one optional newline. Returns 1 and *id, or 0. */
static int
parse_store_id(const char *text, size_t n, int64_t *id)
{
    if (n > 0 && text[n - 1] == '\n')
        n--;
    if (n == 0 || n > 19)
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return 0;
        v = v * 10 + (text[i] - '0');
    }
    *id = v;
    return 1;
}

/* A WAL directory belongs to one store: replaying another store's log would merge foreign
 * trades into it. The store gets a random id on its first start (meta "store.id") and the
 * directory a file naming it; a mismatch stops the start. */
static int
check_owner(const char *wal_dir, kl_store_t *store, int has_logs, char *err, size_t cap)
{
    int64_t id = 0;
    int rc = kl_store_get_kv(store, "store.id", &id);
    if (rc < 0) {
        snprintf(err, cap, "recovery: reading store.id failed: %s", kl_strerror(rc));
        return rc;
    }
    if (rc == 1) {
        FILE *r = fopen("/dev/urandom", "rb");
        if (!r || fread(&id, sizeof id, 1, r) != 1)
            id = (int64_t)kl_now_ms() ^ (int64_t)getpid() << 40;
        if (r)
            fclose(r);
        id &= INT64_MAX;
        kl_store_kv_t kv = {"store.id", id};
        kl_store_batch_t b = {.kv = &kv, .n_kv = 1};
        if ((rc = kl_store_commit_batch(store, &b, err, cap)) != 0)
            return rc;
    }
    char path[4200], text[32] = "";
    snprintf(path, sizeof path, "%s/STORE_ID", wal_dir);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        int64_t got;
        if (!parse_store_id(text, n, &got)) {
            if (has_logs) {
                snprintf(err, cap, "wal-dir %s: its STORE_ID file is %s (a crash while it was "
                         "first written?), so the logs there cannot be matched to a store. If "
                         "they belong to this store, write its id %lld into %s and start again; "
                         "otherwise give this store its own wal-dir",
                         wal_dir, n == 0 ? "empty" : "not a store id", (long long)id, path);
                return KL_ECONFIG;
            }
            kl_log(KL_LOG_WARN, "recover", "store_id_rewritten",
                   "wal_dir=%s reason=\"STORE_ID %s and no log in the directory\" id=%lld",
                   wal_dir, n == 0 ? "empty" : "unreadable", (long long)id);
        } else if (got != id) {
            snprintf(err, cap, "wal-dir %s belongs to another store (its STORE_ID %lld, this "
                     "store's id %lld): give each store its own wal-dir",
                     wal_dir, (long long)got, (long long)id);
            return KL_ECONFIG;
        } else {
            return 0;
        }
    } else if (has_logs) {
        snprintf(err, cap, "wal-dir %s holds logs but no STORE_ID: cannot tell which store they "
                 "belong to; move them away or give this store its own wal-dir", wal_dir);
        return KL_ECONFIG;
    }
    if (mkdir(wal_dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, cap, "wal-dir %s: %s", wal_dir, strerror(errno));
        return -errno;
    }
    if ((rc = write_store_id(wal_dir, id)) != 0) {
        snprintf(err, cap, "wal-dir %s: cannot write STORE_ID: %s", wal_dir, kl_strerror(rc));
        return rc;
    }
    return 0;
}

int
kl_recover(const char *wal_dir, int repair_cut, kl_store_t *store, kl_symreg_t *reg,
           kl_worker_t **workers, int n_workers, kl_recover_result_t *res, char *err, size_t cap)
{
    memset(res, 0, sizeof *res);
    for (int i = 0; i < KL_RECOVER_MAX_LOGS; i++)
        res->next_seq[i] = 1;
    rec_ctx_t c = {
        .store = store, .reg = reg, .workers = workers, .n_workers = n_workers, .res = res};
    int rc = kl_store_states(store, on_state, &c);
    if (c.corrupt[0]) {
        snprintf(err, cap, "recovery: the stored engine state of %s is corrupt (checksum "
                 "mismatch or impossible contents): refusing to start, because its series would "
                 "restart and overwrite its open klines. Restore the store from a backup, or "
                 "delete that symbol's row from series_state to restart its series knowingly",
                 c.corrupt);
        return KL_EIO;
    }
    if (rc != 0 || c.error) {
        snprintf(err, cap, "recovery: reading the checkpointed states failed: %s",
                 kl_strerror(c.error ? c.error : rc));
        return c.error ? c.error : rc;
    }
    int logs[KL_RECOVER_MAX_LOGS];
    size_t n_logs = list_logs(wal_dir, logs, KL_RECOVER_MAX_LOGS);
    if ((rc = check_owner(wal_dir, store, n_logs > 0, err, cap)) != 0)
        return rc;
    int64_t last[KL_RECOVER_MAX_LOGS] = {0};
    for (size_t i = 0; i < n_logs; i++) {
        char key[48];
        int64_t after = 0;
        kl_worker_wal_key(workers[0], logs[i], key, sizeof key);
        if (kl_store_get_kv(store, key, &after) < 0) {
            snprintf(err, cap, "recovery: reading checkpoint %s failed", key);
            return KL_ESTORE;
        }
        kl_wal_scan_stats_t st;
        c.n_seen = 0;
        rc = kl_wal_scan(wal_dir, logs[i], (uint64_t)after,
                         repair_cut ? KL_WAL_REPAIR_CUT : KL_WAL_REPAIR_TAIL, on_record, &c, &st);
        if (rc == 0 && !c.error && st.refused) {
            if (st.gap)
                snprintf(err, cap, "recovery: %s/w%d starts at seq %llu but the checkpoint "
                         "(%s) is at %lld: records %llu..%llu are missing (a checkpoint lost to "
                         "a power cut, or a segment deleted by hand); nothing was changed. To "
                         "accept the loss, start with --wal-repair cut", wal_dir, logs[i],
                         (unsigned long long)st.gap_to + 1, key, (long long)after,
                         (unsigned long long)st.gap_from, (unsigned long long)st.gap_to);
            else
                snprintf(err, cap, "recovery: %s/w%d is damaged at %s offset %llu (seq %llu), "
                         "after the checkpoint (seq %lld), and valid records follow the damage: "
                         "refusing to cut them; nothing was changed. Copy the wal-dir for a "
                         "post-mortem, then start with --wal-repair cut to cut the log there "
                         "(what is cut is kept in *.damaged files next to the log)",
                         wal_dir, logs[i], st.damage_file, (unsigned long long)st.damage_offset,
                         (unsigned long long)st.last_seq + 1, (long long)after);
            kl_free(c.seen);
            return KL_EIO;
        }
        if (rc != 0 || c.error) {
            snprintf(err, cap, "recovery: replaying %s/w%d failed: %s", wal_dir, logs[i],
                     kl_strerror(c.error ? c.error : rc));
            kl_free(c.seen);
            return c.error ? c.error : rc;
        }
        if (st.damaged) {
            res->damaged_logs++;
            res->cut_bytes += st.cut_bytes;
        }
        last[i] = (int64_t)(st.last_seq > (uint64_t)after ? st.last_seq : (uint64_t)after);
        res->next_seq[logs[i]] = (uint64_t)last[i] + 1;
        kl_log(KL_LOG_INFO, "recover", "log_replayed",
               "log=%s/w%d after=%lld last=%llu records=%llu damaged=%d cut_bytes=%llu", wal_dir,
               logs[i], (long long)after, (unsigned long long)st.last_seq,
               (unsigned long long)st.records, st.damaged, (unsigned long long)st.cut_bytes);
    }
    kl_free(c.seen);
    if (res->records == 0)
        return 0;
    /* Checkpoint the recovered state now, so the logs it covers can go. */
    kl_store_kv_t kv[KL_RECOVER_MAX_LOGS];
    char keys[KL_RECOVER_MAX_LOGS][48];
    for (size_t i = 0; i < n_logs; i++) {
        kl_worker_wal_key(workers[0], logs[i], keys[i], sizeof keys[i]);
        kv[i] = (kl_store_kv_t){keys[i], last[i]};
    }
    for (int w = 0; w < n_workers; w++) {
        kl_snap_batch_t b;
        if ((rc = kl_worker_checkpoint_take(workers[w], &b)) != 0) {
            snprintf(err, cap, "recovery: checkpoint of worker %d: %s", w, kl_strerror(rc));
            return rc;
        }
        /* The log positions go with the last worker's batch: if an earlier batch committed and
         * a later one failed, the next start replays again, and replayed trades that are
         * already in a state are refused as duplicates. */
        int last_batch = w == n_workers - 1;
        kl_store_batch_t batch = {b.rows, b.n, b.states, b.n_states, kv, last_batch ? n_logs : 0};
        rc = kl_store_commit_batch(store, &batch, err, cap);
        kl_worker_checkpoint_done(workers[w], rc == 0);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < n_logs; i++)
        if (logs[i] >= n_workers)
            drop_log(wal_dir, logs[i]);
    return 0;
}
