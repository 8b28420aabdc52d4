/*
 * io_posix.c: the default hs_io_ops table over POSIX calls.  Every function returns a negative
 * errno on failure, retries EINTR and never leaves a short write unreported (pwrite loops until
 * everything is written or an error occurs).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage.h"

static int p_open(void *ctx, const char *path, int flags, unsigned mode)
{
    int fd;
    do
        fd = open(path, flags | O_CLOEXEC, (mode_t)mode);
    while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

static int p_close(void *ctx, int fd) { return close(fd) < 0 ? -errno : 0; }

static long p_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (long)done;
}

static long p_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        done += (size_t)n;
    }
    return (long)done;
}

static int p_fsync(void *ctx, int fd) { return fdatasync(fd) < 0 ? -errno : 0; }

static int p_ftruncate(void *ctx, int fd, uint64_t len)
{
    return ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
}

static int p_fallocate(void *ctx, int fd, uint64_t off, uint64_t len)
{
    int rc = posix_fallocate(fd, (off_t)off, (off_t)len);
    return rc ? -rc : 0;
}

static int p_size(void *ctx, int fd, uint64_t *len)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    *len = (uint64_t)st.st_size;
    return 0;
}

static int p_rename(void *ctx, const char *from, const char *to)
{
    return rename(from, to) < 0 ? -errno : 0;
}

static int p_unlink(void *ctx, const char *path) { return unlink(path) < 0 ? -errno : 0; }

static int p_mkdir(void *ctx, const char *path, unsigned mode)
{
    return mkdir(path, (mode_t)mode) < 0 ? -errno : 0;
}

static int p_rmdir(void *ctx, const char *path) { return rmdir(path) < 0 ? -errno : 0; }

static int p_fsync_dir(void *ctx, const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int p_list(void *ctx, const char *dir, int (*fn)(void *arg, const char *name), void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *e;
    int rc = 0;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if ((rc = fn(arg, e->d_name)) != 0)
            break;
    }
    closedir(d);
    return rc;
}

static void *p_mmap(void *ctx, int fd, size_t len, int writable)
{
    void *p = mmap(NULL, len, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                   writable ? MAP_SHARED : MAP_PRIVATE, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int p_munmap(void *ctx, void *addr, size_t len) { return munmap(addr, len) < 0 ? -errno : 0; }

static int p_msync(void *ctx, void *addr, size_t len)
{
    return msync(addr, len, MS_SYNC) < 0 ? -errno : 0;
}

static int p_writeback(void *ctx, int fd)
{
#ifdef SYNC_FILE_RANGE_WRITE
    return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) < 0 ? -errno : 0;
#else
    (void)fd;
    return 0;
#endif
}

static int p_advise(void *ctx, void *addr, size_t len, int advice)
{
    int a = advice == HS_ADVISE_RANDOM ? MADV_RANDOM : advice == HS_ADVISE_RELEASE ? MADV_DONTNEED : -1;
    if (a < 0)
        return -EINVAL;
    return madvise(addr, len, a) < 0 ? -errno : 0;
}

static const hs_io_ops posix_ops = {
    .ctx = NULL,
    .open = p_open,
    .close = p_close,
    .pread = p_pread,
    .pwrite = p_pwrite,
    .fsync = p_fsync,
    .ftruncate = p_ftruncate,
    .fallocate = p_fallocate,
    .size = p_size,
    .rename = p_rename,
    .unlink = p_unlink,
    .mkdir = p_mkdir,
    .rmdir = p_rmdir,
    .fsync_dir = p_fsync_dir,
    .list = p_list,
    .mmap = p_mmap,
    .munmap = p_munmap,
    .msync = p_msync,
    .writeback = p_writeback,
    .advise = p_advise,
};

const hs_io_ops *hs_io_posix(void) { return &posix_ops; }
