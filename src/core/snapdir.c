/*
 * snapdir.c: the snapshot directory (hs_db_opts.snapshot_dir, default <root>/.snapshots): the
 * name rule, creating archives there (snapshot.c writes them), uploads, listing, describing,
 * opening for a download, removing; and the leftovers a crash leaves.
 *
 * Only names that pass hs_snap_name_check (no '/', no leading '.', so never "." or "..") are
 * ever opened there, with O_NOFOLLOW, and only regular files with one link are served.  An
 * archive is written as `.<name>.tmp-<n>`, fsynced and renamed into place without replacing
 * anything (renameat2 RENAME_NOREPLACE); an upload is read back and checked in full before.
 *
 * Locking: none of its own (files are written under names of their own, then renamed).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "util/error.h"

#define SUFFIX ".hsnap"
#define COPY_CHUNK (1u << 20)

/* ---- names and the directory ----------------------------------------------------------- */

int hs_snap_corrupt(hs_error *err, const char *name, const char *fmt, ...)
{
    char cause[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cause, sizeof(cause), fmt, ap);
    va_end(ap);
    hs_error_set(err, HS_ECORRUPT, "Snapshot '%s' is damaged: %s", name, cause);
    hs_error_name(err, name);
    if (err)
        snprintf(err->cause, sizeof(err->cause), "%s", cause);
    return hs_error_about(err, HS_ECORRUPT, HS_FIELD_SNAPSHOT, HS_REASON_NONE);
}

int hs_snap_name_check(const char *name, hs_error *err)
{
    size_t n = name ? strlen(name) : 0;
    size_t sl = strlen(SUFFIX);
    hs_reason why = n == 0 ? HS_REASON_EMPTY
                    : n > HS_SNAPSHOT_NAME_MAX ? HS_REASON_TOO_LONG
                                               : HS_REASON_NONE;
    for (size_t i = 0; why == HS_REASON_NONE && i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            why = HS_REASON_SYNTAX;
    }
    if (why == HS_REASON_NONE && (name[0] == '.' || n <= sl || strcmp(name + n - sl, SUFFIX)))
        why = HS_REASON_SYNTAX;
    if (why == HS_REASON_NONE)
        return HS_OK;
    char shown[300];
    hs_error_echo(name ? name : "", shown, sizeof(shown));
    if (why == HS_REASON_EMPTY)
        hs_error_set(err, HS_ENAME, "Snapshot name cannot be empty");
    else
        hs_error_set(err, HS_ENAME, "Invalid snapshot name '%s': use 1-%d characters from A-Z "
                     "a-z 0-9 _ . - ending in " SUFFIX ", not starting with '.'",
                     shown, HS_SNAPSHOT_NAME_MAX);
    hs_error_name(err, name ? name : "");
    if (why == HS_REASON_TOO_LONG)
        hs_error_range(err, HS_ENAME, HS_FIELD_SNAPSHOT, n, (double)n, 1, HS_SNAPSHOT_NAME_MAX);
    return hs_error_about(err, HS_ENAME, HS_FIELD_SNAPSHOT, why);
}

static int snap_not_found(hs_error *err, const char *name)
{
    hs_error_set(err, HS_ENOTFOUND, "Snapshot '%s' not found", name);
    hs_error_name(err, name);
    return hs_error_about(err, HS_ENOTFOUND, HS_FIELD_SNAPSHOT, HS_REASON_NONE);
}

static int io_fail(hs_error *err, int neg, const char *what, const char *path)
{
    return hs_error_set(err, hs_rc_from_errno(neg), "%s %s: %s", what, path, strerror(-neg));
}

typedef struct tmp_scan {
    hs_db *db;
    char **names;
    size_t n, cap;
    bool all; /* listing: every valid name; cleanup: our temporaries */
} tmp_scan;

static int collect_name(void *arg, const char *name)
{
    tmp_scan *s = arg;
    bool want;
    if (s->all) {
        want = hs_snap_name_check(name, NULL) == HS_OK;
    } else {
        const char *t = name[0] == '.' ? strstr(name, SUFFIX ".tmp-") : NULL;
        want = t != NULL;
    }
    if (!want)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        char **v = realloc(s->names, cap * sizeof(*v));
        if (!v)
            return HS_ENOMEM;
        s->names = v;
        s->cap = cap;
    }
    if (!(s->names[s->n] = strdup(name)))
        return HS_ENOMEM;
    s->n++;
    return 0;
}

static int collect_restore(void *arg, const char *name)
{
    tmp_scan *s = arg;
    if (strncmp(name, ".restore-", 9))
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4;
        char **v = realloc(s->names, cap * sizeof(*v));
        if (!v)
            return HS_ENOMEM;
        s->names = v;
        s->cap = cap;
    }
    if (!(s->names[s->n] = strdup(name)))
        return HS_ENOMEM;
    s->n++;
    return 0;
}

static void names_free(tmp_scan *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s->names);
}

int hs_snap_init(hs_db *db, hs_error *err)
{
    const char *d = db->opts.snapshot_dir;
    int rc = d && *d ? hs_path(db->snap_dir, sizeof(db->snap_dir), "%s", d)
                     : hs_path(db->snap_dir, sizeof(db->snap_dir), "%s/.snapshots", db->root);
    if (rc != HS_OK || strlen(db->snap_dir) + HS_SNAPSHOT_NAME_MAX + 64 >= HS_PATH_MAX)
        return hs_error_set(err, HS_EINVAL, "snapshot directory path too long");
    /* archives a crash interrupted */
    tmp_scan s = {db, NULL, 0, 0, false};
    db->io->list(db->io->ctx, db->snap_dir, collect_name, &s);
    for (size_t i = 0; i < s.n; i++) {
        char path[HS_PATH_MAX];
        if (hs_path(path, sizeof(path), "%s/%s", db->snap_dir, s.names[i]) == HS_OK)
            db->io->unlink(db->io->ctx, path);
    }
    names_free(&s);
    /* restores a crash interrupted (restore.c stages under <root>/.restore-<n>) */
    tmp_scan r = {db, NULL, 0, 0, false};
    db->io->list(db->io->ctx, db->root, collect_restore, &r);
    for (size_t i = 0; i < r.n; i++) {
        char path[HS_PATH_MAX];
        if (hs_path(path, sizeof(path), "%s/%s", db->root, r.names[i]) == HS_OK)
            hs_remove_tree(db->io, path);
    }
    names_free(&r);
    return HS_OK;
}

int hs_snap_open(hs_db *db, const char *name, int *fd, uint64_t *len, hs_error *err)
{
    *fd = -1;
    int rc = hs_snap_name_check(name, err);
    if (rc != HS_OK)
        return rc;
    char path[HS_PATH_MAX];
    if (hs_path(path, sizeof(path), "%s/%s", db->snap_dir, name) != HS_OK)
        return snap_not_found(err, name);
    int f = db->io->open(db->io->ctx, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
    if (f == -ENOENT || f == -ELOOP || f == -ENOTDIR)
        return snap_not_found(err, name);
    if (f < 0)
        return io_fail(err, f, "snapshot", path);
    struct stat st;
    /* only a regular file with one name: not a device, a directory, a fifo, or a hard link
     * someone made to a file elsewhere */
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
        db->io->close(db->io->ctx, f);
        return snap_not_found(err, name);
    }
    *fd = f;
    *len = (uint64_t)st.st_size;
    return HS_OK;
}

int hs_snapshot_open(hs_db *db, const char *name, int *fd, uint64_t *len, hs_error *err)
{
    return hs_snap_open(db, name, fd, len, err);
}

int hs_snapshot_delete(hs_db *db, const char *name, hs_error *err)
{
    int fd;
    uint64_t len;
    int rc = hs_snap_open(db, name, &fd, &len, err);
    if (rc != HS_OK)
        return rc;
    db->io->close(db->io->ctx, fd);
    char path[HS_PATH_MAX];
    hs_path(path, sizeof(path), "%s/%s", db->snap_dir, name);
    int urc = db->io->unlink(db->io->ctx, path);
    if (urc == -ENOENT)
        return snap_not_found(err, name);
    if (urc < 0)
        return io_fail(err, urc, "cannot remove", path);
    db->io->fsync_dir(db->io->ctx, db->snap_dir);
    return HS_OK;
}

/* ---- the snapshot directory ------------------------------------------------------------------ */

/* A buffered file sink. */
typedef struct file_sink {
    const hs_io_ops *io;
    int fd;
    uint64_t off;
    uint8_t *buf;
    size_t n;
} file_sink;

static int fs_flush(file_sink *f)
{
    long w = f->n ? f->io->pwrite(f->io->ctx, f->fd, f->buf, f->n, f->off) : 0;
    if (w != (long)f->n)
        return w < 0 ? (int)w : -EIO;
    f->off += f->n;
    f->n = 0;
    return 0;
}

static int fs_write(void *ctx, const void *data, size_t len)
{
    file_sink *f = ctx;
    if (f->n + len > COPY_CHUNK) {
        int rc = fs_flush(f);
        if (rc < 0)
            return rc;
    }
    if (len >= COPY_CHUNK) {
        long w = f->io->pwrite(f->io->ctx, f->fd, data, len, f->off);
        if (w != (long)len)
            return w < 0 ? (int)w : -EIO;
        f->off += len;
        return 0;
    }
    memcpy(f->buf + f->n, data, len);
    f->n += len;
    return 0;
}

/* A temporary file in the snapshot directory for the archive `name`. */
static int tmp_open(hs_db *db, const char *name, char *tmp, size_t cap, file_sink *f,
                    hs_error *err)
{
    int mrc = db->io->mkdir(db->io->ctx, db->snap_dir, 0750);
    if (mrc < 0 && mrc != -EEXIST)
        return io_fail(err, mrc, "cannot create", db->snap_dir);
    hs_path(tmp, cap, "%s/.%s.tmp-%016" PRIx64, db->snap_dir, name, hs_mix64(hs_now_ns()));
    memset(f, 0, sizeof(*f));
    f->io = db->io;
    f->buf = malloc(COPY_CHUNK);
    f->fd = f->buf ? db->io->open(db->io->ctx, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0640)
                   : -ENOMEM;
    if (f->fd < 0) {
        free(f->buf);
        return io_fail(err, f->fd, "cannot create", tmp);
    }
    return HS_OK;
}

/* Makes the temporary durable and gives it its name (never over an existing file), or removes
 * it (rc != HS_OK). */
static int tmp_close(hs_db *db, const char *name, const char *tmp, file_sink *f, int rc,
                     hs_error *err)
{
    int frc = rc == HS_OK ? fs_flush(f) : 0;
    if (rc == HS_OK && frc == 0)
        frc = db->io->fsync(db->io->ctx, f->fd);
    if (rc == HS_OK && frc < 0)
        rc = io_fail(err, frc, "cannot write", tmp);
    db->io->close(db->io->ctx, f->fd);
    free(f->buf);
    char path[HS_PATH_MAX];
    hs_path(path, sizeof(path), "%s/%s", db->snap_dir, name);
    if (rc == HS_OK && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST) {
            hs_error_set(err, HS_EEXIST, "Snapshot '%s' already exists", name);
            hs_error_name(err, name);
            rc = hs_error_about(err, HS_EEXIST, HS_FIELD_SNAPSHOT, HS_REASON_NONE);
        } else {
            rc = io_fail(err, -errno, "cannot rename", tmp);
        }
    }
    if (rc == HS_OK)
        db->io->fsync_dir(db->io->ctx, db->snap_dir);
    else
        db->io->unlink(db->io->ctx, tmp);
    return rc;
}

static bool exists(hs_db *db, const char *name)
{
    char path[HS_PATH_MAX];
    struct stat st;
    hs_path(path, sizeof(path), "%s/%s", db->snap_dir, name);
    return lstat(path, &st) == 0;
}

int hs_snapshot_create(hs_db *db, const char *tenant, const char *collection, const char *name,
                       hs_snapshot_info *out, hs_error *err)
{
    hs_snapshot_info info;
    char made[HS_SNAPSHOT_NAME_MAX + 1];
    int rc = collection ? hs_check_names(tenant, collection, err) : HS_OK;
    if (rc == HS_OK && name)
        rc = hs_snap_name_check(name, err);
    if (rc == HS_OK && name && exists(db, name)) {
        hs_error_set(err, HS_EEXIST, "Snapshot '%s' already exists", name);
        hs_error_name(err, name);
        rc = hs_error_about(err, HS_EEXIST, HS_FIELD_SNAPSHOT, HS_REASON_NONE);
    }
    if (rc != HS_OK)
        return rc;
    /* written under a name of its own, named once the clock is known */
    char tmp[HS_PATH_MAX];
    file_sink f;
    rc = tmp_open(db, "snapshot" SUFFIX, tmp, sizeof(tmp), &f, err);
    if (rc != HS_OK)
        return rc;
    rc = hs_snapshot_write(db, tenant, collection, fs_write, &f, &info, err);
    if (!name && rc == HS_OK) {
        for (int k = 0; k < 100; k++) {
            if (k)
                snprintf(made, sizeof(made), "%s-%" PRIu64 "-%" PRIu64 "-%d" SUFFIX,
                         collection ? collection : "node", info.clock, info.created_ms, k);
            else
                snprintf(made, sizeof(made), "%s-%" PRIu64 "-%" PRIu64 SUFFIX,
                         collection ? collection : "node", info.clock, info.created_ms);
            if (!exists(db, made))
                break;
        }
        name = made;
    }
    if (!name)
        name = "snapshot" SUFFIX; /* failed: only the temporary is removed */
    rc = tmp_close(db, name, tmp, &f, rc, err);
    if (rc == HS_OK) {
        snprintf(info.name, sizeof(info.name), "%s", name);
        if (out)
            *out = info;
    }
    return rc;
}

/* ---- uploads ------------------------------------------------------------------------------ */

struct hs_snapshot_upload {
    hs_db *db;
    char name[HS_SNAPSHOT_NAME_MAX + 1];
    char tmp[HS_PATH_MAX];
    file_sink f;
    int wrc; /* the first write failure (a negative errno), kept until the end */
};

int hs_snapshot_upload_begin(hs_db *db, const char *name, hs_snapshot_upload **out,
                             hs_error *err)
{
    *out = NULL;
    int rc = hs_snap_name_check(name, err);
    if (rc == HS_OK && exists(db, name)) {
        hs_error_set(err, HS_EEXIST, "Snapshot '%s' already exists", name);
        hs_error_name(err, name);
        rc = hs_error_about(err, HS_EEXIST, HS_FIELD_SNAPSHOT, HS_REASON_NONE);
    }
    hs_snapshot_upload *u = rc == HS_OK ? calloc(1, sizeof(*u)) : NULL;
    if (rc == HS_OK && !u)
        rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
    if (rc == HS_OK && (rc = tmp_open(db, name, u->tmp, sizeof(u->tmp), &u->f, err)) != HS_OK) {
        free(u);
        u = NULL;
    }
    if (rc != HS_OK)
        return rc;
    u->db = db;
    snprintf(u->name, sizeof(u->name), "%s", name);
    *out = u;
    return HS_OK;
}

int hs_snapshot_upload_write(hs_snapshot_upload *u, const void *buf, size_t len, hs_error *err)
{
    if (u->wrc == 0)
        u->wrc = fs_write(&u->f, buf, len);
    return u->wrc < 0 ? io_fail(err, u->wrc, "cannot write", u->tmp) : HS_OK;
}

static long file_read(void *ctx, void *buf, size_t cap)
{
    file_sink *f = ctx;
    long n = f->io->pread(f->io->ctx, f->fd, buf, cap, f->off);
    if (n > 0)
        f->off += (uint64_t)n;
    return n;
}

/* Reads the written file back from its start: the whole archive and its description. */
static int upload_check(hs_snapshot_upload *u, hs_snapshot_info *out, hs_error *err)
{
    file_sink rd = u->f;
    rd.off = 0;
    hs_archive_toc toc;
    hs_snap_meta m = {0};
    hs_error aerr;
    memset(&aerr, 0, sizeof(aerr));
    int rc = hs_archive_read(file_read, &rd, NULL, &toc, &aerr);
    if (rc == HS_OK)
        rc = hs_snap_meta_parse(toc.meta, toc.meta_len, &m, &aerr);
    if (rc == HS_ECORRUPT || rc == HS_EVERSION)
        rc = hs_snap_corrupt(err, u->name, "%s", aerr.message);
    else if (rc != HS_OK && err)
        *err = aerr;
    if (rc == HS_OK && out) {
        hs_snap_info_fill(u->db, &m, toc.clock, toc.total, out);
        snprintf(out->name, sizeof(out->name), "%s", u->name);
    }
    hs_archive_toc_free(&toc);
    hs_snap_meta_free(&m);
    return rc;
}

int hs_snapshot_upload_end(hs_snapshot_upload *u, int commit, hs_snapshot_info *out,
                           hs_error *err)
{
    if (!u)
        return HS_OK;
    int rc = commit ? HS_OK : HS_EINVAL;
    if (rc == HS_OK && u->wrc < 0)
        rc = io_fail(err, u->wrc, "cannot write", u->tmp);
    if (rc == HS_OK) {
        int frc = fs_flush(&u->f);
        if (frc < 0)
            rc = io_fail(err, frc, "cannot write", u->tmp);
    }
    if (rc == HS_OK)
        rc = upload_check(u, out, err);
    rc = tmp_close(u->db, u->name, u->tmp, &u->f, rc, err);
    free(u);
    return commit ? rc : HS_OK;
}

int hs_snapshot_import(hs_db *db, const char *name,
                       long (*source)(void *ctx, void *buf, size_t cap), void *ctx,
                       hs_snapshot_info *out, hs_error *err)
{
    hs_snapshot_upload *u;
    int rc = hs_snapshot_upload_begin(db, name, &u, err);
    if (rc != HS_OK)
        return rc;
    uint8_t *buf = malloc(COPY_CHUNK);
    long n = buf ? 1 : -ENOMEM;
    while (rc == HS_OK && n > 0) {
        n = source(ctx, buf, COPY_CHUNK);
        if (n > 0)
            rc = hs_snapshot_upload_write(u, buf, (size_t)n, err);
    }
    free(buf);
    if (rc == HS_OK && n < 0)
        rc = io_fail(err, (int)n, "cannot read the archive for", name);
    if (rc != HS_OK) {
        hs_snapshot_upload_end(u, 0, NULL, NULL);
        return rc;
    }
    return hs_snapshot_upload_end(u, 1, out, err);
}

typedef struct fd_ctx {
    const hs_io_ops *io;
    int fd;
} fd_ctx;

static long fd_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
    fd_ctx *f = ctx;
    return f->io->pread(f->io->ctx, f->fd, buf, len, off);
}

int hs_snap_peek(hs_db *db, int fd, uint64_t len, hs_archive_toc *t, hs_snap_meta *m,
                 hs_error *err)
{
    fd_ctx f = {db->io, fd};
    memset(m, 0, sizeof(*m));
    int rc = hs_archive_peek(fd_pread, &f, len, t, err);
    if (rc == HS_OK)
        rc = hs_snap_meta_parse(t->meta, t->meta_len, m, err);
    if (rc == HS_OK)
        for (size_t i = 0; i < m->n && rc == HS_OK; i++)
            if (m->colls[i].clock > t->clock)
                rc = hs_error_set(err, HS_ECORRUPT, "a collection's clock is past the archive's");
    if (rc != HS_OK) {
        hs_archive_toc_free(t);
        hs_snap_meta_free(m);
    }
    return rc;
}

/* Opens, peeks and describes the archive `name`. */
static int describe(hs_db *db, const char *name, hs_snapshot_info *out, hs_snap_meta *m,
                    hs_error *err)
{
    int fd;
    uint64_t len;
    int rc = hs_snap_open(db, name, &fd, &len, err);
    if (rc != HS_OK)
        return rc;
    hs_archive_toc t;
    hs_error perr;
    rc = hs_snap_peek(db, fd, len, &t, m, &perr);
    db->io->close(db->io->ctx, fd);
    if (rc == HS_ECORRUPT || rc == HS_EVERSION)
        return hs_snap_corrupt(err, name, "%s", perr.message);
    if (rc != HS_OK) {
        if (err)
            *err = perr;
        return rc;
    }
    hs_snap_info_fill(db, m, t.clock, t.total, out);
    snprintf(out->name, sizeof(out->name), "%s", name);
    hs_archive_toc_free(&t);
    return HS_OK;
}

int hs_snapshot_describe(hs_db *db, const char *name, hs_snapshot_info *out,
                         int (*fn)(void *ctx, const hs_snapshot_coll *c), void *ctx,
                         hs_error *err)
{
    hs_snap_meta m;
    hs_snapshot_info info;
    int rc = describe(db, name, &info, &m, err);
    if (rc != HS_OK)
        return rc;
    if (out)
        *out = info;
    for (size_t i = 0; fn && rc == HS_OK && i < m.n; i++) {
        const hs_snap_coll *c = &m.colls[i];
        hs_snapshot_coll sc = {c->tenant, c->name, c->tenant, c->name, c->config, c->clock, 0,
                               c->frozen};
        rc = fn(ctx, &sc);
    }
    hs_snap_meta_free(&m);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int hs_snapshot_list(hs_db *db, int (*fn)(void *ctx, const hs_snapshot_info *s), void *ctx,
                     hs_error *err)
{
    tmp_scan s = {db, NULL, 0, 0, true};
    int lrc = db->io->list(db->io->ctx, db->snap_dir, collect_name, &s);
    if (lrc > 0 || (lrc < 0 && lrc != -ENOENT)) {
        names_free(&s);
        return lrc > 0 ? hs_error_set(err, HS_ENOMEM, "Out of memory")
                       : io_fail(err, lrc, "cannot list", db->snap_dir);
    }
    if (s.n > 1)
        qsort(s.names, s.n, sizeof(*s.names), cmp_str);
    int rc = HS_OK;
    for (size_t i = 0; i < s.n && rc == HS_OK; i++) {
        hs_snapshot_info info;
        hs_snap_meta m;
        hs_error e;
        int drc = describe(db, s.names[i], &info, &m, &e);
        if (drc == HS_ENOTFOUND)
            continue; /* not a regular file, or gone meanwhile */
        if (drc != HS_OK) {
            memset(&info, 0, sizeof(info));
            snprintf(info.name, sizeof(info.name), "%s", s.names[i]);
            snprintf(info.error, sizeof(info.error), "%s", e.message);
        } else {
            hs_snap_meta_free(&m);
        }
        rc = fn(ctx, &info);
    }
    names_free(&s);
    return rc;
}
