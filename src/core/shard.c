/* The stable symbol -> shard hash; see shard.h. The constants are FNV-1a's; changing anything
 * here would move symbols between running instances and Kafka partitions. */
#include "core/shard.h"

uint32_t
kl_fnv1a(const char *name, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)name[i];
        h *= 16777619u;
    }
    return h;
}

uint32_t
kl_shard_of(const char *name, size_t len, uint32_t n)
{
    return n ? kl_fnv1a(name, len) % n : 0;
}
