/* One symbol's dump files as one stream of validated trades: the files in order, each row
 * parsed, unit-checked, scaled to the series unit and validated. Bad rows go to a callback with
 * their file and line and are counted; the stream carries on. Used by `klined replay` and by
 * the replay source of `klined serve`, so both see exactly the same trades. One thread. */
#ifndef KL_SOURCE_DUMPSTREAM_H
#define KL_SOURCE_DUMPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "kl/types.h"
#include "source/dump.h"
#include "source/inputs.h"

/* A rejected row: path and 1-based line, the error, and the row text (not NUL-terminated). */
typedef void (*kl_reject_fn)(void *ctx, const char *path, uint64_t line, int err, const char *row,
                             size_t n);

typedef struct kl_dumpstream {
    const kl_input_t *files;
    size_t n_files, cur;
    int64_t unit_per_ms; /* the series unit: 1000 if any file is in us */
    kl_reject_fn reject;
    void *ctx;
    /* current file */
    kl_dump_t *d;
    const char *p, *end;
    uint64_t line;
    int64_t scale;
    int file_us;
    /* totals */
    uint64_t rows, rejected, bytes;
    /* the row of the last trade returned, for callers that report on it */
    const char *row;
    size_t row_len;
} kl_dumpstream_t;

/* The unit a series of these files must use: 1000 if any of them is in us, else 1. */
int64_t kl_dumpstream_unit(const kl_input_t *files, size_t n);

/* Starts a stream over files[0..n) (already prepared by kl_inputs_prepare, one symbol). */
void kl_dumpstream_init(kl_dumpstream_t *ds, const kl_input_t *files, size_t n,
                        kl_reject_fn reject, void *ctx);

/* Next valid trade. Returns 1 with *t, 0 at the end of the last file, or a negative error that
 * stops the stream (a file that cannot be opened or read; already reported via reject with
 * line 0). With strict, the first bad row also stops it (returns KL_EARG). */
int kl_dumpstream_next(kl_dumpstream_t *ds, kl_trade_t *t, int strict);

/* The file being read and its current line, for messages. */
const char *kl_dumpstream_path(const kl_dumpstream_t *ds);

/* Bytes consumed so far, the current file included. */
uint64_t kl_dumpstream_bytes(const kl_dumpstream_t *ds);

void kl_dumpstream_close(kl_dumpstream_t *ds);

#endif
