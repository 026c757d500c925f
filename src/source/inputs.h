/* The input side of dump replay (`klined replay` and the replay source): expands the file and directory arguments into dump files,
 * names each file's symbol, orders them into per-symbol series and detects each file's layout
 * and time unit from its first rows. Main thread only. */
#ifndef KL_SOURCE_INPUTS_H
#define KL_SOURCE_INPUTS_H

#include <stddef.h>
#include <stdint.h>

#define KL_SYMBOL_MAX 32
#define KL_UTF8_BOM "\xEF\xBB\xBF" /* skipped at the start of a dump */

typedef struct kl_input {
    char *path;
    char symbol[KL_SYMBOL_MAX];
    int layout;          /* enum kl_csv_layout; KL_CSV_UNKNOWN for an empty file */
    int has_header;
    int64_t unit_per_ms; /* 1 (ms) or 1000 (us), from the first data row */
} kl_input_t;

typedef struct kl_inputs {
    kl_input_t *v;
    size_t n, cap;
} kl_inputs_t;

/* Adds arg: a file, or every *.csv / *.zip directly inside a directory. symbol, when not NULL,
 * overrides the name-derived symbol (the part of the file name before the first '-').
 * Returns 0, -errno, or KL_EARG (a file whose name yields no symbol); errmsg gets a
 * human-readable reason (cap bytes). */
int kl_inputs_add(kl_inputs_t *in, const char *arg, const char *symbol, char *errmsg, size_t cap);

/* Sorts by (symbol, file name), so daily/monthly dumps of a symbol line up in time order, and
 * detects every file's layout and unit. Returns 0 or the first error with errmsg filled in. */
int kl_inputs_prepare(kl_inputs_t *in, char *errmsg, size_t cap);

void kl_inputs_free(kl_inputs_t *in);

#endif
