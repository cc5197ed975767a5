/*
 * configuration.c: the membership list of a group and its encoding in CONFIG
 * entries (format table in raft.h). Decoding treats the bytes as untrusted.
 */
#include "common/buf.h"
#include "common/error.h"
#include "raft/raft_internal.h"

enum { CONFIGURATION_FORMAT_VERSION = 1, SERVER_ENCODED_BYTES = 9 };

_Static_assert(RAFT_CONFIGURATION_ENCODED_BYTES_MAX == 2 + SERVER_ENCODED_BYTES * RAFT_SERVERS_MAX,
               "encoding size matches the table in raft.h");
_Static_assert(RAFT_SERVERS_MAX <= 255, "servers_count fits one byte");

bool raft_configuration_valid(const struct raft_configuration *configuration)
{
    if (configuration->servers_count > RAFT_SERVERS_MAX) {
        return false;
    }
    for (uint32_t i = 0; i < configuration->servers_count; i++) {
        const struct raft_server *server = &configuration->servers[i];
        if (server->id == RAFT_ID_NONE) {
            return false;
        }
        if (server->role != RAFT_VOTER && server->role != RAFT_LEARNER) {
            return false;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (configuration->servers[j].id == server->id) {
                return false;
            }
        }
    }
    return true;
}

size_t raft_configuration_encode(const struct raft_configuration *configuration, uint8_t *out)
{
    ETHER_ASSERT(raft_configuration_valid(configuration));
    out[0] = CONFIGURATION_FORMAT_VERSION;
    out[1] = (uint8_t)configuration->servers_count;
    size_t offset = 2;
    for (uint32_t i = 0; i < configuration->servers_count; i++) {
        ether_put_u64le(out + offset, configuration->servers[i].id);
        out[offset + 8] = configuration->servers[i].role;
        offset += SERVER_ENCODED_BYTES;
    }
    ETHER_ASSERT(offset <= RAFT_CONFIGURATION_ENCODED_BYTES_MAX);
    return offset;
}

int raft_configuration_decode(const uint8_t *data, size_t data_bytes,
                              struct raft_configuration *configuration)
{
    if (data_bytes < 2 || data[0] != CONFIGURATION_FORMAT_VERSION) {
        return ETHER_ERR_CORRUPT;
    }
    uint32_t count = data[1];
    if (count > RAFT_SERVERS_MAX || data_bytes != 2 + (size_t)count * SERVER_ENCODED_BYTES) {
        return ETHER_ERR_CORRUPT;
    }
    struct raft_configuration decoded;
    memset(&decoded, 0, sizeof decoded);
    decoded.servers_count = count;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *server = data + 2 + (size_t)i * SERVER_ENCODED_BYTES;
        decoded.servers[i].id = ether_get_u64le(server);
        decoded.servers[i].role = server[8];
    }
    if (!raft_configuration_valid(&decoded)) {
        return ETHER_ERR_CORRUPT;
    }
    *configuration = decoded;
    return ETHER_OK;
}

int raft_configuration_find(const struct raft_configuration *configuration, uint64_t id)
{
    ETHER_ASSERT(configuration->servers_count <= RAFT_SERVERS_MAX);
    for (uint32_t i = 0; i < configuration->servers_count; i++) {
        if (configuration->servers[i].id == id) {
            return (int)i;
        }
    }
    return -1;
}

uint32_t raft_configuration_voters_count(const struct raft_configuration *configuration)
{
    ETHER_ASSERT(configuration->servers_count <= RAFT_SERVERS_MAX);
    uint32_t voters = 0;
    for (uint32_t i = 0; i < configuration->servers_count; i++) {
        voters += configuration->servers[i].role == RAFT_VOTER ? 1u : 0u;
    }
    return voters;
}
