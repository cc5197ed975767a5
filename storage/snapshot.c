/*
 * snapshot.c: Raft snapshots as files <last_included_index:%020>.snapshot.
 *
 * Happy path: begin opens snapshot.tmp; chunks arrive in order (Raft sends
 * them that way) and are written after a zeroed header; commit writes the
 * header with the data length and CRC, syncs, renames the file to its final
 * name, syncs the directory, and deletes all but the two newest snapshots.
 * A reader checks the header CRC and streams the data once to check its CRC
 * before handing out any byte.
 *
 * Failure modes: a crash before the rename leaves snapshot.tmp, which open
 * deletes; a damaged published snapshot is ETHER_ERR_CORRUPT.
 */
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/error.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/panic.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

static const char snapshot_temp_name[] = "snapshot.tmp";
static const char snapshot_suffix[] = ".snapshot";
static const uint8_t snapshot_magic[4] = {'E', 'S', 'N', 'P'};

enum { SNAPSHOTS_KEPT_COUNT = 2, SNAPSHOT_CHECK_CHUNK_BYTES = 64 * 1024 };

struct storage_snapshot_writer {
    struct storage_log *log;
    struct storage_snapshot_meta meta;
    int fd;
    uint64_t written_bytes;
    uint32_t data_crc;
};

struct storage_snapshot_reader {
    struct storage_log *log;
    struct storage_snapshot_meta meta;
    int fd;
};

static void encode_header(const struct storage_snapshot_meta *meta, uint32_t data_crc, uint8_t *out)
{
    memcpy(out, snapshot_magic, sizeof snapshot_magic);
    ether_put_u32le(out + 4, SNAPSHOT_VERSION);
    ether_put_u64le(out + 8, meta->last_included_index);
    ether_put_u64le(out + 16, meta->last_included_term);
    ether_put_u64le(out + 24, meta->next_offset);
    ether_put_u64le(out + 32, meta->data_bytes);
    ether_put_u32le(out + 40, data_crc);
    ether_put_u32le(out + 44, ether_crc32c(out, 44));
}

static int decode_header(const uint8_t *bytes, struct storage_snapshot_meta *meta,
                         uint32_t *data_crc)
{
    if (memcmp(bytes, snapshot_magic, sizeof snapshot_magic) != 0 ||
        ether_get_u32le(bytes + 44) != ether_crc32c(bytes, 44)) {
        return ETHER_ERR_CORRUPT;
    }
    if (ether_get_u32le(bytes + 4) != SNAPSHOT_VERSION) {
        return ETHER_ERR_UNSUPPORTED;
    }
    meta->last_included_index = ether_get_u64le(bytes + 8);
    meta->last_included_term = ether_get_u64le(bytes + 16);
    meta->next_offset = ether_get_u64le(bytes + 24);
    meta->data_bytes = ether_get_u64le(bytes + 32);
    *data_crc = ether_get_u32le(bytes + 40);
    return ETHER_OK;
}

/* Snapshot indexes found in the directory, ascending. */
struct snapshot_list {
    uint64_t *indexes;
    size_t count;
    size_t capacity;
};

static int visit_snapshot(void *context, const char *name)
{
    struct snapshot_list *list = context;
    size_t length = strlen(name);
    size_t suffix_length = sizeof snapshot_suffix - 1;
    if (length != 20 + suffix_length || strcmp(name + 20, snapshot_suffix) != 0) {
        return 0;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9' || value > (UINT64_MAX - 9) / 10) {
            return 0;
        }
        value = value * 10 + (uint64_t)(name[i] - '0');
    }
    if (list->count == list->capacity) {
        list->capacity = list->capacity < 8 ? 8 : list->capacity * 2;
        list->indexes = ether_realloc(list->indexes, list->capacity * sizeof *list->indexes);
    }
    list->indexes[list->count++] = value;
    return 0;
}

static int list_snapshots(struct storage_log *log, struct snapshot_list *list)
{
    memset(list, 0, sizeof *list);
    int result = log->io->list_dir(log->io->context, log->dir_path, visit_snapshot, list);
    if (result < 0) {
        ether_free(list->indexes);
        return file_error(result);
    }
    /* Insertion sort: there are only ever a few. */
    for (size_t i = 1; i < list->count; i++) {
        uint64_t value = list->indexes[i];
        size_t j = i;
        for (; j > 0 && list->indexes[j - 1] > value; j--) {
            list->indexes[j] = list->indexes[j - 1];
        }
        list->indexes[j] = value;
    }
    return ETHER_OK;
}

int storage_snapshot_begin(struct storage_log *log, const struct storage_snapshot_meta *meta,
                           struct storage_snapshot_writer **writer_out)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    if (meta == NULL || writer_out == NULL || meta->last_included_index == 0 ||
        meta->last_included_term == 0) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    char path[PATH_MAX];
    file_path_name(log, path, sizeof path, snapshot_temp_name);
    int fd = log->io->open(log->io->context, path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return file_error(fd);
    }
    struct storage_snapshot_writer *writer = ether_calloc(1, sizeof *writer);
    writer->log = log;
    writer->meta = *meta;
    writer->meta.data_bytes = 0;
    writer->fd = fd;
    writer->written_bytes = 0;
    writer->data_crc = 0;
    *writer_out = writer;
    ETHER_ASSERT(writer->fd >= 0);
    return ETHER_OK;
}

int storage_snapshot_write(struct storage_snapshot_writer *writer, uint64_t offset,
                           const void *data, size_t size_bytes)
{
    if (writer == NULL || (data == NULL && size_bytes > 0)) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    int result = log_check_usable(writer->log);
    if (result != ETHER_OK) {
        return result;
    }
    if (offset != writer->written_bytes) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (size_bytes == 0) {
        return ETHER_OK;
    }
    result = file_write_bytes(writer->log, writer->fd, data, size_bytes,
                              STORAGE_SNAPSHOT_HEADER_BYTES + offset);
    if (result != ETHER_OK) {
        return result;
    }
    writer->data_crc = ether_crc32c_extend(writer->data_crc, data, size_bytes);
    writer->written_bytes += size_bytes;
    ETHER_ASSERT(writer->written_bytes >= size_bytes);
    return ETHER_OK;
}

/* Deletes all but the SNAPSHOTS_KEPT_COUNT newest snapshots. */
static int prune_snapshots(struct storage_log *log)
{
    struct snapshot_list list;
    int result = list_snapshots(log, &list);
    if (result != ETHER_OK) {
        return result;
    }
    bool removed = false;
    for (size_t i = 0; i + SNAPSHOTS_KEPT_COUNT < list.count; i++) {
        char path[PATH_MAX];
        file_path(log, path, sizeof path, list.indexes[i], snapshot_suffix);
        int unlinked = log->io->unlink(log->io->context, path);
        if (unlinked < 0 && unlinked != -ENOENT) {
            result = file_error(unlinked);
            break;
        }
        removed = true;
    }
    ether_free(list.indexes);
    if (result == ETHER_OK && removed) {
        result = file_sync_dir(log);
    }
    return result;
}

int storage_snapshot_commit(struct storage_snapshot_writer *writer)
{
    if (writer == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    struct storage_log *log = writer->log;
    char temp_path[PATH_MAX];
    char path[PATH_MAX];
    file_path_name(log, temp_path, sizeof temp_path, snapshot_temp_name);
    file_path(log, path, sizeof path, writer->meta.last_included_index, snapshot_suffix);
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        goto err_after_open;
    }
    writer->meta.data_bytes = writer->written_bytes;
    uint8_t header[STORAGE_SNAPSHOT_HEADER_BYTES];
    encode_header(&writer->meta, writer->data_crc, header);
    result = file_write_bytes(log, writer->fd, header, sizeof header, 0);
    if (result != ETHER_OK) {
        goto err_after_open;
    }
    result = file_sync(log, writer->fd, "snapshot");
    if (result != ETHER_OK) {
        goto err_after_open;
    }
    log->io->close(log->io->context, writer->fd);
    writer->fd = -1;
    result = log->io->rename(log->io->context, temp_path, path);
    if (result < 0) {
        result = file_error(result);
        goto err_after_open;
    }
    result = file_sync_dir(log);
    if (result == ETHER_OK) {
        result = prune_snapshots(log);
    }
    ether_free(writer);
    return result;

err_after_open:
    if (writer->fd >= 0) {
        log->io->close(log->io->context, writer->fd);
    }
    log->io->unlink(log->io->context, temp_path);
    ether_free(writer);
    return result;
}

void storage_snapshot_abort(struct storage_snapshot_writer *writer)
{
    if (writer == NULL) {
        return;
    }
    char temp_path[PATH_MAX];
    file_path_name(writer->log, temp_path, sizeof temp_path, snapshot_temp_name);
    writer->log->io->close(writer->log->io->context, writer->fd);
    writer->log->io->unlink(writer->log->io->context, temp_path);
    ether_free(writer);
}

/* Streams the data once and compares its CRC with the header's. */
static int check_data(struct storage_log *log, int fd, uint64_t data_bytes, uint32_t data_crc)
{
    uint8_t *chunk = ether_malloc(SNAPSHOT_CHECK_CHUNK_BYTES);
    uint32_t crc = 0;
    uint64_t done = 0;
    int result = ETHER_OK;
    while (done < data_bytes) {
        uint64_t left = data_bytes - done;
        size_t want = left < SNAPSHOT_CHECK_CHUNK_BYTES ? (size_t)left : SNAPSHOT_CHECK_CHUNK_BYTES;
        size_t got = 0;
        result = file_read(log, fd, chunk, want, STORAGE_SNAPSHOT_HEADER_BYTES + done, &got);
        if (result != ETHER_OK) {
            break;
        }
        if (got < want) {
            result = ETHER_ERR_CORRUPT;
            break;
        }
        crc = ether_crc32c_extend(crc, chunk, got);
        done += got;
    }
    ether_free(chunk);
    if (result == ETHER_OK && crc != data_crc) {
        result = ETHER_ERR_CORRUPT;
    }
    return result;
}

/* Opens and fully checks the snapshot whose last included index is `index`. */
static int open_checked(struct storage_log *log, uint64_t index, struct storage_snapshot_meta *meta,
                        struct storage_snapshot_reader **reader_out)
{
    char path[PATH_MAX];
    file_path(log, path, sizeof path, index, snapshot_suffix);
    int fd = log->io->open(log->io->context, path, O_RDONLY, 0);
    if (fd < 0) {
        return file_error(fd);
    }
    uint8_t header[STORAGE_SNAPSHOT_HEADER_BYTES];
    size_t got = 0;
    uint64_t file_bytes = 0;
    uint32_t data_crc = 0;
    struct storage_snapshot_meta found;
    int result = file_read(log, fd, header, sizeof header, 0, &got);
    if (result != ETHER_OK) {
        goto err_after_open;
    }
    if (got < sizeof header) {
        result = ETHER_ERR_CORRUPT;
        goto err_after_open;
    }
    result = decode_header(header, &found, &data_crc);
    if (result != ETHER_OK) {
        goto err_after_open;
    }
    result = log->io->file_size(log->io->context, fd, &file_bytes);
    if (result < 0) {
        result = file_error(result);
        goto err_after_open;
    }
    if (found.last_included_index != index ||
        file_bytes != STORAGE_SNAPSHOT_HEADER_BYTES + found.data_bytes) {
        result = ETHER_ERR_CORRUPT;
        goto err_after_open;
    }
    result = check_data(log, fd, found.data_bytes, data_crc);
    if (result != ETHER_OK) {
        goto err_after_open;
    }
    struct storage_snapshot_reader *reader = ether_calloc(1, sizeof *reader);
    reader->log = log;
    reader->meta = found;
    reader->fd = fd;
    *meta = found;
    *reader_out = reader;
    return ETHER_OK;

err_after_open:
    log->io->close(log->io->context, fd);
    return result;
}

int storage_snapshot_open(struct storage_log *log, struct storage_snapshot_meta *meta,
                          struct storage_snapshot_reader **reader_out)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    if (meta == NULL || reader_out == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    struct snapshot_list list;
    result = list_snapshots(log, &list);
    if (result != ETHER_OK) {
        return result;
    }
    if (list.count == 0) {
        ether_free(list.indexes);
        return ETHER_ERR_NOT_FOUND;
    }
    /* Newest first; a damaged one is passed over for the one before it (which the log
     * still covers: its owner keeps entries since the previous snapshot). */
    for (size_t i = list.count; i > 0; i--) {
        uint64_t index = list.indexes[i - 1];
        result = open_checked(log, index, meta, reader_out);
        if (result != ETHER_ERR_CORRUPT) {
            break;
        }
        ether_log_warn(log->logger, "%s: snapshot %llu is damaged (%s); trying an older one",
                       log->dir_path, (unsigned long long)index, ether_strerror(result));
    }
    ether_free(list.indexes);
    return result;
}

int storage_snapshot_read(struct storage_snapshot_reader *reader, uint64_t offset, void *buffer,
                          size_t size_bytes, size_t *read_bytes)
{
    if (reader == NULL || read_bytes == NULL || (buffer == NULL && size_bytes > 0)) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    int result = log_check_usable(reader->log);
    if (result != ETHER_OK) {
        return result;
    }
    if (offset > reader->meta.data_bytes) {
        return ETHER_ERR_OUT_OF_RANGE;
    }
    uint64_t left = reader->meta.data_bytes - offset;
    size_t want = left < size_bytes ? (size_t)left : size_bytes;
    size_t got = 0;
    result = file_read(reader->log, reader->fd, buffer, want,
                       STORAGE_SNAPSHOT_HEADER_BYTES + offset, &got);
    if (result != ETHER_OK) {
        return result;
    }
    if (got != want) {
        return ETHER_ERR_CORRUPT; /* the file shrank under us */
    }
    *read_bytes = got;
    ETHER_ASSERT(*read_bytes <= size_bytes);
    return ETHER_OK;
}

void storage_snapshot_close(struct storage_snapshot_reader *reader)
{
    if (reader == NULL) {
        return;
    }
    reader->log->io->close(reader->log->io->context, reader->fd);
    ether_free(reader);
}
