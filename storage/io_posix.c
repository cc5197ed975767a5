/*
 * io_posix.c: the default storage_io, a thin layer over POSIX calls that
 * turns errors into negative errno values and retries EINTR.
 */
#include "common/panic.h"
#include "storage/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int posix_open(void *context, const char *path, int flags, int mode)
{
    (void)context;
    ETHER_ASSERT(path != NULL);
    int fd;
    do {
        fd = open(path, flags | O_CLOEXEC, (mode_t)mode);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

static int posix_close(void *context, int fd)
{
    (void)context;
    ETHER_ASSERT(fd >= 0);
    /* Not retried on EINTR: on Linux the descriptor is gone either way. */
    return close(fd) < 0 ? -errno : 0;
}

static ssize_t posix_pread(void *context, int fd, void *buffer, size_t size_bytes,
                           uint64_t position)
{
    (void)context;
    ETHER_ASSERT(fd >= 0);
    ETHER_ASSERT(position <= INT64_MAX);
    ssize_t result;
    do {
        result = pread(fd, buffer, size_bytes, (off_t)position);
    } while (result < 0 && errno == EINTR);
    return result < 0 ? -errno : result;
}

static ssize_t posix_pwritev(void *context, int fd, const struct iovec *iov, int iov_count,
                             uint64_t position)
{
    (void)context;
    ETHER_ASSERT(fd >= 0);
    ETHER_ASSERT(iov_count > 0);
    ssize_t result;
    do {
        result = pwritev(fd, iov, iov_count, (off_t)position);
    } while (result < 0 && errno == EINTR);
    return result < 0 ? -errno : result;
}

static int posix_fdatasync(void *context, int fd)
{
    (void)context;
    ETHER_ASSERT(fd >= 0);
    /* Never retried: after a failed fsync the dirty pages may be gone (fsyncgate). */
    return fdatasync(fd) < 0 ? -errno : 0;
}

static int posix_ftruncate(void *context, int fd, uint64_t size_bytes)
{
    (void)context;
    ETHER_ASSERT(fd >= 0);
    ETHER_ASSERT(size_bytes <= INT64_MAX);
    int result;
    do {
        result = ftruncate(fd, (off_t)size_bytes);
    } while (result < 0 && errno == EINTR);
    return result < 0 ? -errno : 0;
}

static int posix_file_size(void *context, int fd, uint64_t *size_bytes)
{
    (void)context;
    ETHER_ASSERT(fd >= 0);
    struct stat status;
    if (fstat(fd, &status) < 0) {
        return -errno;
    }
    *size_bytes = (uint64_t)status.st_size;
    return 0;
}

static int posix_rename(void *context, const char *from_path, const char *to_path)
{
    (void)context;
    ETHER_ASSERT(from_path != NULL);
    ETHER_ASSERT(to_path != NULL);
    return rename(from_path, to_path) < 0 ? -errno : 0;
}

static int posix_unlink(void *context, const char *path)
{
    (void)context;
    ETHER_ASSERT(path != NULL);
    return unlink(path) < 0 ? -errno : 0;
}

static int posix_mkdir(void *context, const char *path)
{
    (void)context;
    ETHER_ASSERT(path != NULL);
    return mkdir(path, 0755) < 0 ? -errno : 0;
}

static int posix_fsync_dir(void *context, const char *path)
{
    (void)context;
    ETHER_ASSERT(path != NULL);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int result = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return result;
}

static int posix_list_dir(void *context, const char *path,
                          int (*visit)(void *visit_context, const char *name), void *visit_context)
{
    (void)context;
    ETHER_ASSERT(visit != NULL);
    DIR *dir = opendir(path);
    if (dir == NULL) {
        return -errno;
    }
    int result = 0;
    for (;;) {
        errno = 0;
        struct dirent *item = readdir(dir);
        if (item == NULL) {
            result = errno != 0 ? -errno : 0;
            break;
        }
        if (strcmp(item->d_name, ".") == 0 || strcmp(item->d_name, "..") == 0) {
            continue;
        }
        result = visit(visit_context, item->d_name);
        if (result != 0) {
            break;
        }
    }
    closedir(dir);
    return result;
}

static int posix_lock(void *context, int fd)
{
    (void)context;
    ETHER_ASSERT(fd >= 0);
    int result;
    do {
        result = flock(fd, LOCK_EX | LOCK_NB);
    } while (result < 0 && errno == EINTR);
    return result < 0 ? -errno : 0;
}

static int posix_dup(void *context, int fd)
{
    (void)context;
    ETHER_ASSERT(fd >= 0);
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    return copy < 0 ? -errno : copy;
}

static const struct storage_io posix_io = {
    .context = NULL,
    .open = posix_open,
    .close = posix_close,
    .pread = posix_pread,
    .pwritev = posix_pwritev,
    .fdatasync = posix_fdatasync,
    .ftruncate = posix_ftruncate,
    .file_size = posix_file_size,
    .rename = posix_rename,
    .unlink = posix_unlink,
    .mkdir = posix_mkdir,
    .fsync_dir = posix_fsync_dir,
    .list_dir = posix_list_dir,
    .lock = posix_lock,
    .dup = posix_dup,
};

const struct storage_io *storage_io_posix(void)
{
    return &posix_io;
}
