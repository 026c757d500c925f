/* Write-ahead log: one append-only log per worker, made of segment files, holding every message
 * the worker applies, so that recovery = last checkpoint + the records after it. The record
 * format is documented byte by byte at the top of wal.c. Payloads are opaque here: the worker
 * encodes trades and commands (walrec.h).
 *
 * Threads: a kl_wal_t (writer) belongs to its worker thread. kl_wal_scan() and the tools run
 * before the workers start (or on a copy), never concurrently with a writer of the same log.
 *
 * Durability: kl_wal_commit() writes everything appended since the last commit with one
 * write(2) (group commit) and applies the fsync policy. A write or fsync failure is sticky:
 * every later call fails with the same error, and the caller must stop taking work (an fsync
 * that failed once cannot be trusted again). */
#ifndef KL_WAL_WAL_H
#define KL_WAL_WAL_H

#include <stddef.h>
#include <stdint.h>

enum kl_wal_fsync { KL_WAL_FSYNC_ALWAYS, KL_WAL_FSYNC_EVERYSEC, KL_WAL_FSYNC_NO };

typedef struct kl_wal_cfg {
    int fsync;               /* enum kl_wal_fsync */
    uint64_t segment_bytes;  /* rotate after a segment reaches this size (default 64 MiB) */
} kl_wal_cfg_t;

typedef struct kl_wal kl_wal_t;

/* Opens (creating dir/ if needed) the log of worker `worker` in dir for appending: a new segment
 * whose first record will get sequence number next_seq (> every seq already in the log; the
 * caller gets it as kl_wal_scan's last_seq + 1, after a scan with repair). Fsyncs the
 * directory after creating the segment. It reads the segment before next_seq to check it:
 * KL_EARG if that segment holds next_seq or is damaged, or if a segment starts past next_seq;
 * -EEXIST if the segment named next_seq holds records (one with no record is replaced). A
 * next_seq beyond last_seq + 1 (a checkpoint newer than the WAL's tail) is accepted, and the gap
 * is marked in the new segment so that scans accept it. cfg NULL = everysec, 64 MiB. Returns 0
 * and *out, or -errno / KL_EARG / KL_ENOMEM. */
int kl_wal_open(const char *dir, int worker, const kl_wal_cfg_t *cfg, uint64_t next_seq,
                kl_wal_t **out);

/* Appends one record to the in-memory group buffer (no syscall; the buffer only grows when a
 * group is larger than every earlier one). Returns its sequence number (>= 1) via *seq (may be
 * NULL), and 0; or KL_EARG (len > KL_WAL_PAYLOAD_MAX), KL_ENOMEM (nothing appended, not
 * sticky), or the sticky error. */
#define KL_WAL_PAYLOAD_MAX 4096
int kl_wal_append(kl_wal_t *w, uint16_t type, const void *payload, uint32_t len, uint64_t *seq);

/* Writes the group buffer with one write(2) (rotating to a new segment first when the current
 * one is full) and fsyncs per policy: always = every commit; everysec = when the last fsync is
 * at least 1 s old (so at most ~1 s of records can be lost to a power cut, none to a crash of
 * the process); no = never. Returns 0 or the sticky error (-errno). */
int kl_wal_commit(kl_wal_t *w);

/* Sequence number of the last record committed (written to the log): next_seq - 1 right after
 * open (those records are already in the log), 0 for a log that never held one. */
uint64_t kl_wal_committed_seq(const kl_wal_t *w);

/* Deletes every segment whose records all have seq <= upto (a checkpoint covers them). Never
 * deletes the segment being written. Returns the number deleted, or -errno. */
int kl_wal_release(kl_wal_t *w, uint64_t upto);

/* Bytes written since open (statistics). */
uint64_t kl_wal_bytes(const kl_wal_t *w);

/* Closes, after a final kl_wal_commit() and fsync (unless policy no). Returns its status. */
int kl_wal_close(kl_wal_t *w);

/* ---- reading --------------------------------------------------------------------------- */

/* Called for each valid record with seq > after, in order. A non-zero return stops the replay
 * and is returned. payload is valid only during the call. */
typedef int (*kl_wal_record_fn)(void *ctx, uint64_t seq, uint16_t type, const void *payload,
                                uint32_t len);

typedef struct kl_wal_scan_stats {
    uint64_t segments, records, bytes;
    uint64_t last_seq;      /* last valid record's seq, or, when the last valid segment holds
                               no record, its first seq - 1; 0 for an empty log. last_seq + 1
                               is always a valid next_seq for kl_wal_open. */
    int damaged;            /* a torn or corrupt record was found */
    char damage_file[256];  /* where: segment file name and byte offset */
    uint64_t damage_offset;
    uint64_t cut_bytes;     /* bytes removed from the log by repair (0 when not repairing) */
    char cut_file[64];      /* the first file (in the log's directory) the cut bytes went to */
    int mid_damage;         /* the damage is not a torn tail: valid records follow it */
    int refused;            /* KL_WAL_REPAIR_TAIL met mid-log damage or a gap: nothing cut,
                               the caller must not start (st says where) */
    int gap;                /* the first segment starts past after + 1 (records lost) */
    uint64_t gap_from, gap_to;      /* the seqs missing */
    uint64_t skipped, skipped_bytes; /* damage below `after` skipped (the checkpoint has it) */
    int skip_logged;
} kl_wal_scan_stats_t;

/* repair values of kl_wal_scan. */
#define KL_WAL_REPAIR_NONE 0 /* verify, dump: change nothing */
#define KL_WAL_REPAIR_CUT 1  /* cut at the first damage the checkpoint does not cover */
#define KL_WAL_REPAIR_TAIL 2 /* cut only a torn tail; refuse mid-log damage and a gap */

/* Reads worker `worker`'s log in dir in order and calls fn for records with seq > after. At the
 * first record that is torn (short) or corrupt (bad CRC, bad header, seq not increasing by 1),
 * it stops: everything before it is the valid prefix. Except when the checkpoint covers the
 * damage (the damaged record's seq <= after): then it skips to the next valid record (or
 * segment) as long as no record above `after` is missing, and cuts nothing (st->skipped).
 * With KL_WAL_REPAIR_CUT, it then cuts the log at the damage, keeping every byte cut in
 * "<segment>.cut-<ms>.damaged" files of the log's directory (never deleted); with
 * KL_WAL_REPAIR_TAIL it cuts only a torn tail (nothing valid after it) and sets st->refused for
 * damage that valid records follow, or for a first segment past after + 1 (st->gap: records
 * between the checkpoint and the log are missing, checked before fn is called); without repair
 * (verify, dump) it changes nothing.
 * A missing directory is an empty log. fn may be NULL (verify only); *st (may be NULL) is
 * filled in every case. A non-zero return of fn stops the scan before any repair. Returns 0
 * (damage is reported in *st, not as an error), fn's non-zero value, or -errno / KL_ENOMEM. */
int kl_wal_scan(const char *dir, int worker, uint64_t after, int repair, kl_wal_record_fn fn,
                void *ctx, kl_wal_scan_stats_t *st);

/* CRC-32C (Castagnoli), hardware-accelerated when the CPU has SSE4.2. crc is the running value
 * (0 to start). */
uint32_t kl_crc32c(uint32_t crc, const void *data, size_t n);

#endif
