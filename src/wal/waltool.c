/* `klined wal dump|verify`: prints and checks the per-worker logs without changing a byte of
 * them (kl_wal_scan with repair = 0). The damage kind (torn or corrupt) is derived here from
 * the bytes at the damage offset, using the validity rules at the top of wal.c: a record or
 * header that the file ends inside of is torn (a crash mid-write), anything else is corrupt. */
#include "wal/waltool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/decimal.h"
#include "kl/err.h"
#include "wal/wal.h"
#include "wal/walrec.h"

#define WT_MAX_LOGS 1024
#define WT_SEG_HDR 32 /* wal.c ON-DISK FORMAT */
#define WT_REC_HDR 16

static void
wt_usage(FILE *f)
{
    fprintf(f, "usage: klined wal dump --wal-dir DIR [--worker N] [--from SEQ]\n"
               "       klined wal verify --wal-dir DIR [--worker N]\n");
}

static const char *
wt_type_name(uint16_t type)
{
    switch (type) {
    case KL_WALREC_TRADE:
        return "TRADE";
    case KL_WALREC_ADD:
        return "ADD";
    case KL_WALREC_REMOVE:
        return "REMOVE";
    case KL_WALREC_TICK:
        return "TICK";
    case KL_WALREC_HOLD:
        return "HOLD";
    case KL_WALREC_RELEASE:
        return "RELEASE";
    case KL_WALREC_WMARK:
        return "WMARK";
    default:
        return "UNKNOWN";
    }
}

typedef struct wt_dump {
    int worker;
    FILE *out;
    uint64_t first_seq; /* of the valid prefix; 0 = no record yet */
} wt_dump_t;

/* verify: only the first seq is kept (sequence numbers may jump between segments, so it is not
 * last_seq + 1 - records). */
static int
wt_first(void *ctx, uint64_t seq, uint16_t type, const void *payload, uint32_t len)
{
    (void)type;
    (void)payload;
    (void)len;
    wt_dump_t *d = ctx;
    if (d->first_seq == 0)
        d->first_seq = seq;
    return 0;
}

static int
wt_print(void *ctx, uint64_t seq, uint16_t type, const void *payload, uint32_t len)
{
    wt_dump_t *d = ctx;
    kl_walrec_t r;
    fprintf(d->out, "w%d %" PRIu64 " %s", d->worker, seq, wt_type_name(type));
    if (kl_walrec_decode(type, payload, len, &r) != 0) {
        fprintf(d->out, " undecodable type=%u bytes=%u\n", type, len);
        return 0;
    }
    char p[KL_NUM_BUFSZ], q[KL_NUM_BUFSZ];
    switch (r.type) {
    case KL_WALREC_TRADE:
        kl_dec_format(r.trade.price, p);
        kl_dec_format(r.trade.qty, q);
        fprintf(d->out, " %s ts=%" PRId64 "%s id=%" PRId64 " first=%" PRId64 " last=%" PRId64
                        " price=%s qty=%s maker=%s\n",
                r.name, r.trade.ts, r.unit_per_ms == 1000 ? "us" : "", r.trade.id,
                r.trade.first_id, r.trade.last_id, p, q, r.trade.buyer_maker ? "true" : "false");
        break;
    case KL_WALREC_ADD:
        fprintf(d->out, " %s unit=%s\n", r.name, r.unit_per_ms == 1000 ? "us" : "ms");
        break;
    case KL_WALREC_REMOVE:
    case KL_WALREC_HOLD:
    case KL_WALREC_RELEASE:
        fprintf(d->out, " %s\n", r.name);
        break;
    case KL_WALREC_WMARK:
        fprintf(d->out, " %s ms=%" PRId64 "\n", r.name, r.now_ms);
        break;
    default:
        fprintf(d->out, " ms=%" PRId64 "\n", r.now_ms);
        break;
    }
    return 0;
}

/* "torn" or "corrupt" for the damage a scan reported (see the file comment). */
static const char *
wt_damage_kind(const kl_wal_scan_stats_t *st)
{
    int fd = open(st->damage_file, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0)
            close(fd);
        return "corrupt";
    }
    uint64_t size = (uint64_t)sb.st_size, off = st->damage_offset;
    const char *kind = "corrupt";
    if (off < WT_SEG_HDR) {
        kind = size < WT_SEG_HDR ? "torn" : "corrupt";
    } else if (size < off + WT_REC_HDR) {
        kind = "torn";
    } else {
        uint8_t h[WT_REC_HDR];
        if (pread(fd, h, sizeof h, (off_t)off) == (ssize_t)sizeof h) {
            uint32_t len = (uint32_t)(h[6] | h[7] << 8);
            uint64_t rec = (WT_REC_HDR + (uint64_t)len + 7) & ~(uint64_t)7;
            if (len <= KL_WAL_PAYLOAD_MAX && size - off < rec)
                kind = "torn";
        }
    }
    close(fd);
    return kind;
}

static int
wt_cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Worker indices with a "w<N>" directory in dir, sorted; -errno if dir cannot be read. */
static int
wt_list_logs(const char *dir, int *out, size_t max, size_t *n_out)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < max) {
        char *end;
        if (de->d_name[0] != 'w' || de->d_name[1] < '0' || de->d_name[1] > '9')
            continue;
        long v = strtol(de->d_name + 1, &end, 10);
        if (*end == '\0' && v >= 0 && v < WT_MAX_LOGS)
            out[n++] = (int)v;
    }
    closedir(d);
    qsort(out, n, sizeof *out, wt_cmp_int);
    *n_out = n;
    return 0;
}

static int
wt_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    if (!s || s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

int
kl_wal_main(int argc, char **argv)
{
    if (argc < 2) {
        wt_usage(stderr);
        return 2;
    }
    const char *action = argv[1];
    int dump = strcmp(action, "dump") == 0;
    if (strcmp(action, "-h") == 0 || strcmp(action, "--help") == 0) {
        wt_usage(stdout);
        return 0;
    }
    if (!dump && strcmp(action, "verify") != 0) {
        fprintf(stderr, "klined wal: unknown action '%s'\n", action);
        wt_usage(stderr);
        return 2;
    }
    const char *dir = NULL;
    int worker = -1;
    uint64_t from = 0;
    for (int i = 2; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t v;
        if (strcmp(a, "--wal-dir") == 0 && val) {
            dir = val;
        } else if (strcmp(a, "--worker") == 0 && val) {
            if (wt_parse_u64(val, WT_MAX_LOGS - 1, &v) != 0) {
                fprintf(stderr, "klined wal: --worker: expected 0..%d, got '%s'\n",
                        WT_MAX_LOGS - 1, val);
                return 2;
            }
            worker = (int)v;
        } else if (dump && strcmp(a, "--from") == 0 && val) {
            if (wt_parse_u64(val, UINT64_MAX, &v) != 0) {
                fprintf(stderr, "klined wal: --from: expected a sequence number, got '%s'\n",
                        val);
                return 2;
            }
            from = v;
        } else {
            fprintf(stderr, "klined wal %s: unknown or incomplete argument '%s'\n", action, a);
            wt_usage(stderr);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "klined wal %s: --wal-dir DIR is required\n", action);
        wt_usage(stderr);
        return 2;
    }
    int logs[WT_MAX_LOGS];
    size_t n_logs = 0;
    int rc = wt_list_logs(dir, logs, WT_MAX_LOGS, &n_logs);
    if (rc != 0) {
        fprintf(stderr, "klined wal %s: %s: %s\n", action, dir, kl_strerror(rc));
        return 1;
    }
    if (worker >= 0) {
        int found = 0;
        for (size_t i = 0; i < n_logs && !found; i++)
            found = logs[i] == worker;
        if (!found) {
            fprintf(stderr, "klined wal %s: no log w%d in %s\n", action, worker, dir);
            return 1;
        }
        logs[0] = worker;
        n_logs = 1;
    }
    if (n_logs == 0)
        printf("no logs (w<N> directories) in %s\n", dir);
    int status = 0;
    for (size_t i = 0; i < n_logs; i++) {
        kl_wal_scan_stats_t st;
        wt_dump_t d = {logs[i], stdout, 0};
        rc = kl_wal_scan(dir, logs[i], from > 0 ? from - 1 : 0, 0, dump ? wt_print : wt_first,
                         &d, &st);
        if (rc != 0) {
            fflush(stdout);
            fprintf(stderr, "klined wal %s: %s/w%d: %s\n", action, dir, logs[i],
                    kl_strerror(rc));
            status = 1;
            continue;
        }
        if (dump) {
            printf("w%d: segments=%" PRIu64 " records=%" PRIu64 " last_seq=%" PRIu64 " damage=",
                   logs[i], st.segments, st.records, st.last_seq);
            if (st.damaged)
                printf("%s offset %" PRIu64 " (%s)\n", st.damage_file, st.damage_offset,
                       wt_damage_kind(&st));
            else
                printf("none\n");
        } else if (st.damaged) {
            printf("w%d: DAMAGED at %s offset %" PRIu64 " (%s), %" PRIu64
                   " valid records before it\n",
                   logs[i], st.damage_file, st.damage_offset, wt_damage_kind(&st), st.records);
            status = 1;
        } else if (st.records == 0) {
            printf("w%d: OK, 0 records, next seq %" PRIu64 "\n", logs[i], st.last_seq + 1);
        } else {
            printf("w%d: OK, %" PRIu64 " records, seq %" PRIu64 "..%" PRIu64 "\n", logs[i],
                   st.records, d.first_seq, st.last_seq);
        }
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "klined wal %s: writing the output: %s\n", action, strerror(errno));
        return 1;
    }
    return status;
}
