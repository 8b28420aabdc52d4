/*
 * files.c: small file helpers shared by the storage code: paths, atomic whole-file replace,
 * whole-file read, tree removal and errno mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"
#include "util/error.h"

int hs_path(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? HS_ERANGE : HS_OK;
}

int hs_rc_from_errno(int neg_errno)
{
    switch (-neg_errno) {
    case 0:
        return HS_OK;
    case ENOSPC:
    case EDQUOT:
        return HS_ENOSPC;
    case ENOENT:
        return HS_ENOTFOUND;
    case EEXIST:
        return HS_EEXIST;
    case ENOMEM:
        return HS_ENOMEM;
    case EBUSY:
    case EAGAIN:
        return HS_EBUSY;
    default:
        return HS_EIO;
    }
}

int hs_file_replace(const hs_io_ops *io, const char *dir, const char *name, const void *data,
                    size_t len, hs_error *err)
{
    char tmp[HS_PATH_MAX], path[HS_PATH_MAX];
    if (hs_path(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) != HS_OK ||
        hs_path(path, sizeof(path), "%s/%s", dir, name) != HS_OK)
        return hs_error_set(err, HS_ERANGE, "path too long: %s/%s", dir, name);
    int fd = io->open(io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return hs_error_set(err, hs_rc_from_errno(fd), "%s: %s", tmp, strerror(-fd));
    long n = io->pwrite(io->ctx, fd, data, len, 0);
    int rc = n == (long)len ? io->fsync(io->ctx, fd) : (n < 0 ? (int)n : -EIO);
    io->close(io->ctx, fd);
    if (rc == 0)
        rc = io->rename(io->ctx, tmp, path);
    if (rc == 0)
        rc = io->fsync_dir(io->ctx, dir);
    if (rc < 0) {
        io->unlink(io->ctx, tmp);
        return hs_error_set(err, hs_rc_from_errno(rc), "%s: %s", path, strerror(-rc));
    }
    return HS_OK;
}

int hs_file_read(const hs_io_ops *io, const char *path, char **data, size_t *len, size_t max,
                 hs_error *err)
{
    *data = NULL;
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd < 0)
        return hs_error_set(err, hs_rc_from_errno(fd), "%s: %s", path, strerror(-fd));
    uint64_t size = 0;
    int rc = io->size(io->ctx, fd, &size);
    if (rc < 0 || size > max) {
        io->close(io->ctx, fd);
        return hs_error_set(err, rc < 0 ? HS_EIO : HS_ECORRUPT, "%s: %s", path,
                            rc < 0 ? strerror(-rc) : "file too large");
    }
    char *buf = malloc(size + 1);
    if (!buf) {
        io->close(io->ctx, fd);
        return hs_error_set(err, HS_ENOMEM, "%s: out of memory", path);
    }
    long n = io->pread(io->ctx, fd, buf, size, 0);
    io->close(io->ctx, fd);
    if (n != (long)size) {
        free(buf);
        return hs_error_set(err, HS_EIO, "%s: short read", path);
    }
    buf[size] = 0;
    *data = buf;
    *len = size;
    return HS_OK;
}

typedef struct tree_ctx {
    const hs_io_ops *io;
    const char *dir;
    int rc;
} tree_ctx;

static int remove_entry(void *arg, const char *name)
{
    tree_ctx *t = arg;
    char path[HS_PATH_MAX];
    if (hs_path(path, sizeof(path), "%s/%s", t->dir, name) != HS_OK) {
        t->rc = HS_ERANGE;
        return 0;
    }
    int rc = t->io->unlink(t->io->ctx, path);
    if (rc == -EISDIR || rc == -EPERM) /* a directory: recurse (symlinks are unlinked above) */
        rc = hs_remove_tree(t->io, path) == HS_OK ? 0 : -EIO;
    if (rc < 0 && rc != -ENOENT)
        t->rc = HS_EIO;
    return 0;
}

int hs_remove_tree(const hs_io_ops *io, const char *path)
{
    tree_ctx t = {io, path, HS_OK};
    int rc = io->list(io->ctx, path, remove_entry, &t);
    if (rc == -ENOENT)
        return HS_OK;
    if (rc < 0)
        return hs_rc_from_errno(rc);
    rc = io->rmdir(io->ctx, path);
    if (rc < 0 && rc != -ENOENT)
        return hs_rc_from_errno(rc);
    return t.rc;
}
