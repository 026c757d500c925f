/* Writers for the Prometheus text exposition format 0.0.4 (Content-Type
 * "text/plain; version=0.0.4; charset=utf-8") into a kl_buf_t, used by /metrics.
 *
 * A family is written as kl_prom_family() (its # HELP and # TYPE lines) followed by its samples;
 * the caller keeps all samples of one family together, after its header. Names are the caller's
 * constants and are written as given (they must match [a-zA-Z_:][a-zA-Z0-9_:]*). labels is the
 * text between the braces, e.g. `worker="0",iv="1m"`, or NULL/"" for none; its values must be
 * escaped already (kl_prom_label() does that). Values: integers in decimal, floats in the
 * shortest %g form that reads back exactly, with NaN, +Inf and -Inf spelled as the format
 * requires. All functions are appends: errors surface as b->oom. Caller's thread. */
#ifndef KL_API_PROM_H
#define KL_API_PROM_H

#include <stdint.h>

#include "core/buf.h"
#include "core/hist.h"

/* "# HELP name help\n# TYPE name type\n"; help is escaped (\\ and \n). type: counter, gauge,
 * histogram (or summary, untyped). */
void kl_prom_family(kl_buf_t *b, const char *name, const char *type, const char *help);

/* "name{labels} v\n" (no braces when labels is NULL or empty). */
void kl_prom_u64(kl_buf_t *b, const char *name, const char *labels, uint64_t v);
void kl_prom_f64(kl_buf_t *b, const char *name, const char *labels, double v);

/* A histogram's samples from a snapshot: name_bucket{labels,le="…"} cumulative, for every
 * finite bound in seconds (le="1e-06" … le="30") and le="+Inf", then name_sum (seconds) and
 * name_count. */
void kl_prom_hist(kl_buf_t *b, const char *name, const char *labels, const kl_hist_snap_t *s);

/* Appends key="value" with value escaped as label values must be (\\ -> \\\\, " -> \\",
 * newline -> \\n), so callers can build the labels argument: e.g. kl_prom_label(&lb, "symbol",
 * sym). Adds a leading comma when b already holds text. */
void kl_prom_label(kl_buf_t *b, const char *key, const char *value);

#endif
