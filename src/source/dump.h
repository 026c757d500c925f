/* Reads a data.binance.vision dump file, plain CSV or .zip, as a sequence of chunks that each
 * end on a line boundary, so a row scanner never sees a row cut in two. Plain files are
 * read, and zip members inflated, into one reused buffer. A kl_dump_t belongs to one
 * thread. */
#ifndef KL_SOURCE_DUMP_H
#define KL_SOURCE_DUMP_H

#include <stddef.h>
#include <stdint.h>

typedef struct kl_dump kl_dump_t;

/* Opens path (".zip" suffix: the first .csv member, else the first member). Returns 0 and
 * *out, or -errno / KL_EZIP. Close with kl_dump_close(). */
int kl_dump_open(const char *path, kl_dump_t **out);

/* Next chunk of whole lines: *data and *len stay valid until the next call or close. The last line
 * of the file may lack its newline. Returns 1 with a chunk, 0 at end of file, or -errno /
 * KL_EZIP / KL_ELINE (a line longer than the chunk buffer) / KL_ETRUNC (a plain file that ended
 * before the size it had at open: truncated while being read; what came before was returned). */
int kl_dump_next(kl_dump_t *d, const char **data, size_t *len);

/* Uncompressed bytes returned so far. */
uint64_t kl_dump_bytes(const kl_dump_t *d);

void kl_dump_close(kl_dump_t *d);

/* Reads at most cap - 1 bytes from the start of path's (uncompressed) content into buf and
 * NUL-terminates it, without mapping or inflating the rest: enough to detect the layout.
 * Returns the byte count, or -errno / KL_EZIP. */
int kl_dump_head(const char *path, char *buf, size_t cap);

#endif
