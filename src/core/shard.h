/* Which shard (static --shard i/N, or Kafka partition) a symbol belongs to: a hash of its name
 * that never changes between versions, machines or runs, because instances that split the
 * symbols, and the bridge that partitions the Kafka topic, must agree on it forever. */
#ifndef KL_CORE_SHARD_H
#define KL_CORE_SHARD_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a (32 bit) of name[0..len): the one symbol-name hash (shards, hash tables). Pure. */
uint32_t kl_fnv1a(const char *name, size_t len);

/* kl_fnv1a(name, len) modulo n (n >= 1). Pure; any thread. */
uint32_t kl_shard_of(const char *name, size_t len, uint32_t n);

#endif
