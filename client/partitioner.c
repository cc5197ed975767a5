/*
 * partitioner.c: which partition a keyed record goes to. The rule is part of
 * the public contract (ether.h): crc32c(key) mod partition_count, so that
 * producers in any language agree on where a key lives.
 */
#include "client/client_internal.h"

#include "common/crc32c.h"
#include "common/panic.h"

uint32_t ether_partition_for_key(const void *key, size_t key_bytes, uint32_t partition_count)
{
    ETHER_ASSERT(partition_count >= 1);
    ETHER_ASSERT(key != NULL || key_bytes == 0);
    uint32_t partition = ether_crc32c(key, key_bytes) % partition_count;
    ETHER_ASSERT(partition < partition_count);
    return partition;
}
