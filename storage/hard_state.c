/*
 * hard_state.c: Raft's term and vote in one small file, replaced atomically
 * (written to raft_state.tmp, synced, renamed over raft_state, directory
 * synced). Layout in storage.h. A damaged file is ETHER_ERR_CORRUPT, never a
 * guess: voting twice in a term is exactly what this file prevents.
 */
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/error.h"
#include "common/panic.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

static const char hard_state_name[] = "raft_state";
static const uint8_t hard_state_magic[4] = {'E', 'H', 'S', 'T'};

int storage_hard_state_save(struct storage_log *log, uint64_t term, uint64_t vote)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    uint8_t bytes[STORAGE_HARD_STATE_BYTES];
    memcpy(bytes, hard_state_magic, sizeof hard_state_magic);
    ether_put_u32le(bytes + 4, HARD_STATE_VERSION);
    ether_put_u64le(bytes + 8, term);
    ether_put_u64le(bytes + 16, vote);
    ether_put_u32le(bytes + 24, 0);
    ether_put_u32le(bytes + 28, ether_crc32c(bytes, 28));
    ETHER_ASSERT(ether_get_u64le(bytes + 8) == term);
    ETHER_ASSERT(ether_get_u64le(bytes + 16) == vote);
    return file_replace_atomically(log, hard_state_name, bytes, sizeof bytes);
}

int storage_hard_state_load(struct storage_log *log, uint64_t *term, uint64_t *vote)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    if (term == NULL || vote == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    char path[PATH_MAX];
    file_path_name(log, path, sizeof path, hard_state_name);
    int fd = log->io->open(log->io->context, path, O_RDONLY, 0);
    if (fd == -ENOENT) {
        *term = 0;
        *vote = 0;
        return ETHER_OK;
    }
    if (fd < 0) {
        return file_error(fd);
    }
    uint8_t bytes[STORAGE_HARD_STATE_BYTES + 1];
    size_t got = 0;
    result = file_read(log, fd, bytes, sizeof bytes, 0, &got);
    log->io->close(log->io->context, fd);
    if (result != ETHER_OK) {
        return result;
    }
    if (got != STORAGE_HARD_STATE_BYTES || memcmp(bytes, hard_state_magic, 4) != 0 ||
        ether_get_u32le(bytes + 28) != ether_crc32c(bytes, 28)) {
        return ETHER_ERR_CORRUPT;
    }
    if (ether_get_u32le(bytes + 4) != HARD_STATE_VERSION) {
        return ETHER_ERR_UNSUPPORTED;
    }
    *term = ether_get_u64le(bytes + 8);
    *vote = ether_get_u64le(bytes + 16);
    return ETHER_OK;
}
