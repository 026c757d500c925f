/* The JSON body of an admin request ({"symbol":"BTCUSDT"}), read by a small strict parser:
 * one object, string keys, scalar values (string, number, true, false, null), no duplicate
 * "symbol", nothing after the object. Pure: no I/O, no allocation; any thread. */
#ifndef KL_API_ADMINBODY_H
#define KL_API_ADMINBODY_H

#include <stddef.h>

#define KL_ADMIN_BODY_DEPTH_MAX 1 /* flat objects only */

/* Parses body[0..n). Returns 1 with the decoded value of "symbol" in out (NUL-terminated), 0
 * when the object has no "symbol" member, or -1 when the body is not such an object, "symbol"
 * is not a string, appears twice, holds a NUL, or does not fit in cap - 1 bytes. */
int kl_admin_body_symbol(const char *body, size_t n, char *out, size_t cap);

#endif
