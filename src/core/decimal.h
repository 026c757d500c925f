/* Exact fixed-point decimals: parsing decimal strings into 1e-8 units and printing them back
 * with 8 places, as Binance does. Pure functions; safe from any thread. */
#ifndef KL_CORE_DECIMAL_H
#define KL_CORE_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

#include "kl/types.h"

/* Longest text kl_sum_format()/kl_dec_format() can write, NUL included. */
#define KL_NUM_BUFSZ 48

/* Parses s[0..n) = [-]digits[.digits] into 1e-8 units. Digits past the 8th decimal place are
 * accepted only when they are zeros, since the value stays exact.
 * Returns 0 and writes *out; or KL_EDEC_SYNTAX (empty, stray character, no digit before or
 * after the point), KL_EDEC_PRECISION (a non-zero 9th+ decimal) or KL_EDEC_OVERFLOW (beyond
 * int64 units). *out is untouched on error. */
int kl_dec_parse(const char *s, size_t n, kl_dec_t *out);

/* Parses s[0..n) = [-]digits into an int64. KL_EINT_SYNTAX / KL_EINT_OVERFLOW on error. */
int kl_int_parse(const char *s, size_t n, int64_t *out);

/* Scanner forms for row parsers: parse from s, stop at the first character that cannot
 * continue the number (never past end) and report it in *stop, so the caller checks the
 * delimiter itself. Same results and errors as the _parse forms on s[0..*stop). */
int kl_dec_scan(const char *s, const char *end, kl_dec_t *out, const char **stop);
int kl_int_scan(const char *s, const char *end, int64_t *out, const char **stop);

/* Writes v with exactly 8 decimals ("0.01634790") and a NUL into buf (KL_NUM_BUFSZ bytes).
 * Returns the length without the NUL. */
size_t kl_dec_format(kl_dec_t v, char *buf);

/* Writes a sum held in 10^-places units (places = 8 or 16) with exactly 8 decimals, truncating
 * extra places toward zero (Binance's rule, checked against the captures). Returns the length. */
size_t kl_sum_format(kl_sum_t v, int places, char *buf);

/* Writes a sum held in 10^-places units with all its places (places 1..30), exact: for
 * storage. Returns the length. */
size_t kl_sum_format_exact(kl_sum_t v, int places, char *buf);

/* Parses [-]digits[.digits] with at most `places` decimals into 10^-places units (__int128).
 * Returns 0, KL_EDEC_SYNTAX, KL_EDEC_PRECISION or KL_EDEC_OVERFLOW; *out only on success. */
int kl_sum_parse(const char *s, size_t n, int places, kl_sum_t *out);

/* Writes a signed integer in decimal. Returns the length. */
size_t kl_int_format(int64_t v, char *buf);

#endif
