/* Private to src/store/: the backends' vtables and the checks kl_store_commit() makes before
 * any backend sees a batch, so every backend rejects the same inputs the same way. */
#ifndef KL_STORE_STORE_INT_H
#define KL_STORE_STORE_INT_H

#include <stddef.h>

#include "store/store.h"

extern const kl_store_ops_t kl_store_sqlite_ops;
extern const kl_store_ops_t kl_store_pg_ops;

/* The range queries' SQL text (ascending, descending), exported so the tests can EXPLAIN the
 * very statements the backends run and check that the primary key serves them. */
extern const char kl_store_sqlite_range_sql[2][512];
/* The per-connection PRAGMAs of the SQLite store (synchronous=FULL: a commit that returned is
 * durable, which the deletion of WAL segments relies on); for the tests. */
extern const char kl_store_sqlite_tuning_sql[];
extern const char kl_store_pg_range_sql[2][512];
/* The same for kl_store_last_before(). */
extern const char kl_store_sqlite_last_before_sql[512];
extern const char kl_store_pg_last_before_sql[512];

/* Writes a message into err (cap bytes; err may be NULL or cap 0) with snprintf semantics. */
void kl_store_errf(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
