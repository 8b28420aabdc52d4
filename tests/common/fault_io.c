/*
 * fault_io.c: see fault_io.h.  The power-loss model keeps, for each path, the bytes it held at
 * its last fsync (shadow copies); mapped writes count once msync + fsync ran, as on Linux.
 */
#include "fault_io.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct shadow {
    char path[4096];
    unsigned char *data; /* NULL: never made durable */
    size_t len;
    int durable_entry; /* the directory entry was fsynced */
    struct shadow *next;
} shadow;

static pthread_mutex_t shadow_lock = PTHREAD_MUTEX_INITIALIZER;
static shadow *shadows;
static char fd_paths[4096][512];

static shadow *find_shadow(const char *path, int create)
{
    for (shadow *s = shadows; s; s = s->next)
        if (!strcmp(s->path, path))
            return s;
    if (!create)
        return NULL;
    shadow *s = calloc(1, sizeof(*s));
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->next = shadows;
    shadows = s;
    return s;
}

static int take(int *counter_at)
{
    if (*counter_at <= 0)
        return 0;
    return --(*counter_at) == 0;
}

static int f_open(void *ctx, const char *path, int flags, unsigned mode)
{
    fault_io *f = ctx;
    int existed = access(path, F_OK) == 0;
    int fd = hs_io_posix()->open(NULL, path, flags, mode);
    if (fd >= 0 && fd < 4096)
        snprintf(fd_paths[fd], sizeof(fd_paths[fd]), "%s", path);
    if (fd >= 0 && f->track_power_loss) {
        pthread_mutex_lock(&shadow_lock);
        shadow *s = find_shadow(path, 1);
        if (!existed) { /* a new file: neither content nor entry is durable yet */
            free(s->data);
            s->data = NULL;
            s->len = 0;
            s->durable_entry = 0;
        } else if (!s->data && s->durable_entry == 0 && (flags & O_TRUNC) == 0) {
            /* first sight of a file that existed before tracking began: durable as it is */
            FILE *fp = fopen(path, "rb");
            if (fp) {
                fseek(fp, 0, SEEK_END);
                long n = ftell(fp);
                fseek(fp, 0, SEEK_SET);
                s->data = malloc(n > 0 ? (size_t)n : 1);
                s->len = fread(s->data, 1, (size_t)(n > 0 ? n : 0), fp);
                fclose(fp);
            }
            s->durable_entry = 1;
        }
        pthread_mutex_unlock(&shadow_lock);
    }
    return fd;
}

static long f_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
    fault_io *f = ctx;
    if (__atomic_load_n(&f->dead, __ATOMIC_ACQUIRE))
        return -EIO;
    __atomic_fetch_add(&f->pwrites, 1, __ATOMIC_RELAXED);
    if (take(&f->fail_pwrite_at))
        return -f->pwrite_errno;
    if (f->short_writes && len > 1) {
        hs_io_posix()->pwrite(NULL, fd, buf, len / 2, off);
        return -EIO;
    }
    return hs_io_posix()->pwrite(NULL, fd, buf, len, off);
}

static void snapshot(int fd)
{
    if (fd < 0 || fd >= 4096)
        return;
    pthread_mutex_lock(&shadow_lock);
    shadow *s = find_shadow(fd_paths[fd], 1);
    /* read through a new descriptor: the synced one may be write-only */
    FILE *fp = fopen(fd_paths[fd], "rb");
    if (fp) {
        struct stat st;
        if (fstat(fileno(fp), &st) == 0) {
            unsigned char *d = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
            size_t got = fread(d, 1, (size_t)st.st_size, fp);
            free(s->data);
            s->data = d;
            s->len = got;
        }
        fclose(fp);
    }
    pthread_mutex_unlock(&shadow_lock);
}

static int f_fsync(void *ctx, int fd)
{
    fault_io *f = ctx;
    if (__atomic_load_n(&f->dead, __ATOMIC_ACQUIRE))
        return -EIO;
    __atomic_fetch_add(&f->fsyncs, 1, __ATOMIC_RELAXED);
    if (take(&f->fail_fsync_at))
        return -f->fsync_errno;
    int rc = hs_io_posix()->fsync(NULL, fd);
    if (rc == 0 && f->track_power_loss)
        snapshot(fd);
    return rc;
}

static int f_fallocate(void *ctx, int fd, uint64_t off, uint64_t len)
{
    fault_io *f = ctx;
    __atomic_fetch_add(&f->fallocates, 1, __ATOMIC_RELAXED);
    if (take(&f->fail_fallocate_at))
        return -f->fallocate_errno;
    if (__atomic_load_n(&f->disk_full, __ATOMIC_RELAXED))
        return -ENOSPC;
    return hs_io_posix()->fallocate(NULL, fd, off, len);
}

static int f_rename(void *ctx, const char *from, const char *to)
{
    fault_io *f = ctx;
    int rc = hs_io_posix()->rename(NULL, from, to);
    if (rc == 0 && f->track_power_loss) {
        pthread_mutex_lock(&shadow_lock);
        /* a renamed directory carries its files along */
        size_t fl = strlen(from);
        for (shadow *x = shadows; x; x = x->next) {
            if (!strncmp(x->path, from, fl) && x->path[fl] == '/') {
                char moved[4096];
                snprintf(moved, sizeof(moved), "%s%s", to, x->path + fl);
                snprintf(x->path, sizeof(x->path), "%s", moved);
            }
        }
        shadow *a = find_shadow(from, 0);
        shadow *b = find_shadow(to, 1);
        /* the new name holds the old file's durable content, but the entry is new */
        free(b->data);
        b->data = a && a->data ? a->data : NULL;
        b->len = a ? a->len : 0;
        b->durable_entry = 0;
        if (a) {
            a->data = NULL;
            a->len = 0;
        }
        pthread_mutex_unlock(&shadow_lock);
    }
    return rc;
}

static int f_fsync_dir(void *ctx, const char *path)
{
    fault_io *f = ctx;
    __atomic_fetch_add(&f->fsyncs, 1, __ATOMIC_RELAXED);
    if (take(&f->fail_fsync_at))
        return -f->fsync_errno;
    int rc = hs_io_posix()->fsync_dir(NULL, path);
    if (rc == 0 && f->track_power_loss) {
        size_t n = strlen(path);
        pthread_mutex_lock(&shadow_lock);
        for (shadow *s = shadows; s; s = s->next)
            if (!strncmp(s->path, path, n) && s->path[n] == '/' && !strchr(s->path + n + 1, '/'))
                s->durable_entry = 1;
        pthread_mutex_unlock(&shadow_lock);
    }
    return rc;
}

/* Forwarders for the operations that need no fault. */
static int f_close(void *c, int fd) { return hs_io_posix()->close(NULL, fd); }
static long f_pread(void *c, int fd, void *b, size_t l, uint64_t o)
{
    return hs_io_posix()->pread(NULL, fd, b, l, o);
}
static int f_ftruncate(void *c, int fd, uint64_t l) { return hs_io_posix()->ftruncate(NULL, fd, l); }
static int f_size(void *c, int fd, uint64_t *l) { return hs_io_posix()->size(NULL, fd, l); }
/* A removal is taken as durable at once (the model does not resurrect unlinked files). */
static int f_unlink(void *c, const char *p)
{
    int rc = hs_io_posix()->unlink(NULL, p);
    pthread_mutex_lock(&shadow_lock);
    shadow *s = find_shadow(p, 0);
    if (s) {
        free(s->data);
        s->data = NULL;
        s->durable_entry = 0;
        s->path[0] = 0; /* forgotten */
    }
    pthread_mutex_unlock(&shadow_lock);
    return rc;
}
static int f_mkdir(void *c, const char *p, unsigned m) { return hs_io_posix()->mkdir(NULL, p, m); }
static int f_rmdir(void *c, const char *p) { return hs_io_posix()->rmdir(NULL, p); }
static int f_list(void *c, const char *d, int (*fn)(void *, const char *), void *a)
{
    return hs_io_posix()->list(NULL, d, fn, a);
}
static void *f_mmap(void *c, int fd, size_t l, int w) { return hs_io_posix()->mmap(NULL, fd, l, w); }
static int f_munmap(void *c, void *a, size_t l) { return hs_io_posix()->munmap(NULL, a, l); }
static int f_msync(void *c, void *a, size_t l) { return hs_io_posix()->msync(NULL, a, l); }

void fault_io_init(fault_io *f)
{
    memset(f, 0, sizeof(*f));
    f->ops = (hs_io_ops){
        .ctx = f,
        .open = f_open,
        .close = f_close,
        .pread = f_pread,
        .pwrite = f_pwrite,
        .fsync = f_fsync,
        .ftruncate = f_ftruncate,
        .fallocate = f_fallocate,
        .size = f_size,
        .rename = f_rename,
        .unlink = f_unlink,
        .mkdir = f_mkdir,
        .rmdir = f_rmdir,
        .fsync_dir = f_fsync_dir,
        .list = f_list,
        .mmap = f_mmap,
        .munmap = f_munmap,
        .msync = f_msync,
    };
}

/*
 * The durable state is written to a dump file by the dying process and applied by another one
 * (fault_io_apply_dump): rewriting files in the dying process itself races with its other
 * threads, which may still touch the memory-mapped files (a shrinking file faults them).
 */
int fault_io_power_loss(fault_io *f, const char *dump)
{
    __atomic_store_n(&f->dead, 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(&shadow_lock);
    FILE *out = fopen(dump, "wb");
    int rc = out ? 0 : -1;
    for (shadow *s = shadows; s && out; s = s->next) {
        if (!s->path[0])
            continue;
        unsigned char durable = s->data && s->durable_entry;
        uint32_t plen = (uint32_t)strlen(s->path);
        uint64_t len = durable ? s->len : 0;
        fwrite(&plen, 4, 1, out);
        fwrite(s->path, 1, plen, out);
        fwrite(&durable, 1, 1, out);
        fwrite(&len, 8, 1, out);
        if (len)
            fwrite(s->data, 1, (size_t)len, out);
    }
    if (out && fclose(out) != 0)
        rc = -1;
    pthread_mutex_unlock(&shadow_lock);
    return rc;
}

int fault_io_apply_dump(const char *dump)
{
    FILE *in = fopen(dump, "rb");
    if (!in)
        return -1;
    uint32_t plen;
    int rc = 0;
    while (fread(&plen, 4, 1, in) == 1) {
        char path[4096];
        unsigned char durable;
        uint64_t len;
        if (plen >= sizeof(path) || fread(path, 1, plen, in) != plen ||
            fread(&durable, 1, 1, in) != 1 || fread(&len, 8, 1, in) != 1) {
            rc = -1;
            break;
        }
        path[plen] = 0;
        unsigned char *data = malloc(len ? (size_t)len : 1);
        if (!data || (len && fread(data, 1, (size_t)len, in) != len)) {
            free(data);
            rc = -1;
            break;
        }
        if (!durable) {
            unlink(path);
        } else {
            FILE *fp = fopen(path, "wb");
            if (fp) {
                fwrite(data, 1, (size_t)len, fp);
                fclose(fp);
            }
        }
        free(data);
    }
    fclose(in);
    unlink(dump);
    return rc;
}

void fault_io_reset(fault_io *f)
{
    pthread_mutex_lock(&shadow_lock);
    while (shadows) {
        shadow *n = shadows->next;
        free(shadows->data);
        free(shadows);
        shadows = n;
    }
    pthread_mutex_unlock(&shadow_lock);
    int track = f->track_power_loss;
    fault_io_init(f);
    f->track_power_loss = track;
}
