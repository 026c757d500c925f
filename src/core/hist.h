/* A fixed-bucket latency histogram: one writer thread records, any thread reads, without locks
 * or read-modify-write instructions on the writer's side (the writer owns the counters; readers
 * only load them). Buckets are Prometheus-style upper bounds, inclusive: a value v goes to the
 * first bucket with v <= bound.
 *
 * DESIGN. Each field is an independent relaxed atomic, so a reader racing the writer may see a
 * snapshot where count, sum_ns and the buckets disagree by the records in flight (at most one
 * per field). That is acceptable for metrics; kl_hist_read() sets count to the sum of the
 * buckets it read, so a snapshot's +Inf bucket always equals its count, as the format needs. */
#ifndef KL_CORE_HIST_H
#define KL_CORE_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define KL_HIST_BUCKETS 24

/* Fixed upper bounds in nanoseconds: 1us,2,5,10,20,50,100,200,500us,1ms,2,5,10,20,50,100,200,
 * 500ms,1s,2s,5s,10s,30s,+Inf. The last is UINT64_MAX (+Inf). */
extern const uint64_t kl_hist_bounds_ns[KL_HIST_BUCKETS];

/* Zero-init (or memset 0) is an empty histogram. */
typedef struct kl_hist {
    _Atomic uint64_t bucket[KL_HIST_BUCKETS]; /* per bucket, not cumulative */
    _Atomic uint64_t count, sum_ns;           /* sum_ns wraps modulo 2^64 */
} kl_hist_t;

/* Records one value. Only the one owning (writer) thread may call it; it makes no syscall, no
 * allocation and no locked instruction. */
void kl_hist_record(kl_hist_t *h, uint64_t ns);

typedef struct kl_hist_snap {
    uint64_t bucket[KL_HIST_BUCKETS]; /* per bucket, not cumulative */
    uint64_t count, sum_ns;
} kl_hist_snap_t;

/* Copies the histogram into *out. Any thread, any time. */
void kl_hist_read(const kl_hist_t *h, kl_hist_snap_t *out);

/* Adds s into acc, bucket by bucket (e.g. over workers). Plain memory; caller's thread. */
void kl_hist_add(kl_hist_snap_t *acc, const kl_hist_snap_t *s);

#endif
