/* `klined wal`: read-only inspection of the write-ahead logs (dump and verify). It never
 * modifies a log: it scans with repair off, so it is safe on a copy and on a stopped service's
 * directory. It must not run against a log a live writer is appending to (wal.h threads). */
#ifndef KL_WAL_WALTOOL_H
#define KL_WAL_WALTOOL_H

/* argv[0] is "wal", argv[1] the action:
 *   dump   --wal-dir DIR [--worker N] [--from SEQ]
 *          one line per record ("w<N> <seq> <TYPE> <payload>"), then one summary line per log;
 *          exit 0 (damage is reported in the summary), 1 on an I/O error or a missing log,
 *          2 on usage.
 *   verify --wal-dir DIR [--worker N]
 *          one line per log, "w<N>: OK, ..." or "w<N>: DAMAGED at FILE offset O (torn|corrupt),
 *          ..."; exit 0 when every log is intact, 1 when any is damaged (or on an I/O error),
 *          2 on usage.
 * Without --worker, every w<N> directory of DIR is read, in increasing N. Main thread. */
int kl_wal_main(int argc, char **argv);

#endif
