/*
 * file.c: I/O helpers on top of the storage_io table: whole writes despite
 * short writes, reads that stop at end of file, syncs that mark the log
 * untrusted when they fail, and atomic replacement of small files.
 */
#include "common/error.h"
#include "common/log.h"
#include "common/panic.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int file_error(int negative_errno)
{
    ETHER_ASSERT(negative_errno < 0);
    return ether_error_from_errno(-negative_errno);
}

void file_path(const struct storage_log *log, char *out, size_t out_size, uint64_t number,
               const char *suffix)
{
    ETHER_ASSERT(out_size > 0);
    int length = snprintf(out, out_size, "%s/%020" PRIu64 "%s", log->dir_path, number, suffix);
    ETHER_ASSERT(length > 0 && (size_t)length < out_size);
}

void file_path_name(const struct storage_log *log, char *out, size_t out_size, const char *name)
{
    ETHER_ASSERT(out_size > 0);
    int length = snprintf(out, out_size, "%s/%s", log->dir_path, name);
    ETHER_ASSERT(length > 0 && (size_t)length < out_size);
}

int file_write_full(struct storage_log *log, int fd, struct iovec *iov, int iov_count,
                    uint64_t position)
{
    ETHER_ASSERT(fd >= 0);
    ETHER_ASSERT(iov_count > 0);
    while (iov_count > 0) {
        ssize_t written = log->io->pwritev(log->io->context, fd, iov, iov_count, position);
        if (written < 0) {
            return file_error((int)written);
        }
        if (written == 0) {
            return ETHER_ERR_IO; /* no progress and no error: do not spin */
        }
        position += (uint64_t)written;
        size_t left = (size_t)written;
        while (iov_count > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            iov_count--;
        }
        if (iov_count > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return ETHER_OK;
}

int file_write_bytes(struct storage_log *log, int fd, const void *data, size_t size_bytes,
                     uint64_t position)
{
    ETHER_ASSERT(size_bytes > 0);
    struct iovec iov = {.iov_base = (void *)(uintptr_t)data, .iov_len = size_bytes};
    return file_write_full(log, fd, &iov, 1, position);
}

int file_read(struct storage_log *log, int fd, void *buffer, size_t size_bytes, uint64_t position,
              size_t *read_bytes)
{
    ETHER_ASSERT(fd >= 0);
    size_t done = 0;
    while (done < size_bytes) {
        ssize_t got = log->io->pread(log->io->context, fd, (uint8_t *)buffer + done,
                                     size_bytes - done, position + done);
        if (got < 0) {
            return file_error((int)got);
        }
        if (got == 0) {
            break;
        }
        done += (size_t)got;
    }
    ETHER_ASSERT(done <= size_bytes);
    *read_bytes = done;
    return ETHER_OK;
}

int file_sync_failed(struct storage_log *log, int negative_errno, const char *what)
{
    ETHER_ASSERT(negative_errno < 0);
    log->untrusted = true;
    ether_log_error(log->logger, "storage: fdatasync of %s in %s failed (%s); log untrusted", what,
                    log->dir_path, strerror(-negative_errno));
    return ETHER_ERR_LOG_UNTRUSTED;
}

int file_sync(struct storage_log *log, int fd, const char *what)
{
    ETHER_ASSERT(fd >= 0);
    int result = log->io->fdatasync(log->io->context, fd);
    if (result < 0) {
        return file_sync_failed(log, result, what);
    }
    return ETHER_OK;
}

int file_sync_dir(struct storage_log *log)
{
    ETHER_ASSERT(log->dir_path != NULL);
    int result = log->io->fsync_dir(log->io->context, log->dir_path);
    if (result < 0) {
        log->untrusted = true;
        ether_log_error(log->logger, "storage: fsync of directory %s failed (%s); log untrusted",
                        log->dir_path, strerror(-result));
        return ETHER_ERR_LOG_UNTRUSTED;
    }
    log->dir_dirty = false;
    return ETHER_OK;
}

int file_replace_atomically(struct storage_log *log, const char *name, const void *data,
                            size_t size_bytes)
{
    ETHER_ASSERT(name != NULL);
    ETHER_ASSERT(size_bytes > 0);
    char path[PATH_MAX];
    char temp_path[PATH_MAX];
    file_path_name(log, path, sizeof path, name);
    int length = snprintf(temp_path, sizeof temp_path, "%s.tmp", path);
    ETHER_ASSERT(length > 0 && (size_t)length < sizeof temp_path);

    int fd = log->io->open(log->io->context, temp_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return file_error(fd);
    }
    int result = file_write_bytes(log, fd, data, size_bytes, 0);
    if (result != ETHER_OK) {
        goto err_after_open;
    }
    result = file_sync(log, fd, name);
    if (result != ETHER_OK) {
        goto err_after_open;
    }
    log->io->close(log->io->context, fd);
    result = log->io->rename(log->io->context, temp_path, path);
    if (result < 0) {
        result = file_error(result);
        goto err_after_close;
    }
    return file_sync_dir(log);

err_after_open:
    log->io->close(log->io->context, fd);
err_after_close:
    log->io->unlink(log->io->context, temp_path);
    return result;
}
