/* The one heap entry point: counts live bytes and lets tests make the Nth allocation fail
 * (Redis zmalloc, SQLite sqlite3Malloc). Thread-safe. */
#ifndef KL_CORE_ALLOC_H
#define KL_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/* Like malloc/calloc/free, but every block is 64-byte aligned. kl_alloc returns NULL on failure
 * (or injected failure). */
void *kl_alloc(size_t n);
void *kl_calloc(size_t n, size_t size);
void kl_free(void *p);

/* Live bytes allocated through kl_alloc and not yet freed. */
int64_t kl_alloc_live_bytes(void);

/* Tests: make the nth allocation from now fail (1 = the next one); 0 disables. */
void kl_alloc_fail_after(int64_t nth);

#endif
