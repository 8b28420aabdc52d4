/*
 * restore.c: collections restored from a snapshot archive (snapshot.c writes them; format in
 * docs/file-format.md, "Snapshot archive").
 *
 *   plan     the archive's manifest (read from the end of the file) says what it holds; the
 *            collections asked for get their targets (tenant, name), each checked: a valid
 *            name, and no collection there holding points (unless `replace`);
 *   stage    the whole archive is read once and every byte of it checked; the files of the
 *            collections asked for are written into `<root>/.restore-<n>/<i>/` under names
 *            rebuilt from each entry's numbers (never the archive's text), a checkpoint before
 *            its vector files, log segments in sequence;
 *   verify   each staged collection gets a collection.json (its target names, a manifest of
 *            the files it holds) and is loaded from there as any collection is: the checkpoint,
 *            the vector checksums, the log replay; its clock must be the one the archive
 *            states;
 *   publish  the node clock is raised to the archive's (persisted), then each collection is
 *            moved into its bucket and entered into the catalog, an empty collection of the
 *            same name dropped first.
 * A failure before publishing removes the staging directory: nothing has changed.  A crash
 * leaves `.restore-*`, which the next open removes (hs_snap_init).
 *
 * Locking: none of its own; db->lock briefly to enter a collection into the catalog.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/error.h"
#include "util/log.h"

/* One collection being restored. */
typedef struct stage {
    const hs_snap_coll *src;
    char tenant[HS_NAME_MAX + 1], name[HS_NAME_MAX + 1]; /* its target */
    char dir[HS_PATH_MAX];                               /* its staging directory */
    bool replace;                                        /* a collection there is dropped */
    bool have_ckpt;
    int last_kind;
    uint64_t ckpt_seq;
    hs_wal_seginfo *wal;
    size_t nwal, walcap;
    uint64_t count, deleted, clock, disk; /* from the verifying load */
} stage;

typedef struct run {
    hs_db *db;
    const char *snap;
    hs_snap_meta meta;
    hs_archive_toc toc;
    char root[HS_PATH_MAX]; /* <db root>/.restore-<n> */
    stage *st;
    size_t nst;
    long *of_group; /* archive group -> stage index, -1: not restored */
    /* the entry being written */
    stage *cur;
    int fd;
    uint64_t off;
    char path[HS_PATH_MAX];
    int src_fd;
    uint64_t src_off;
} run;

void hs_restore_opts_init(hs_restore_opts *o) { memset(o, 0, sizeof(*o)); }

/* ---- plan ------------------------------------------------------------------------------- */

/* The archive's collections to restore, with their targets. */
static int select_colls(run *r, const hs_restore_opts *o, hs_error *err)
{
    r->of_group = malloc((r->meta.n ? r->meta.n : 1) * sizeof(long));
    r->st = calloc(r->meta.n ? r->meta.n : 1, sizeof(stage));
    if (!r->of_group || !r->st)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    long found = -1;
    for (size_t i = 0; i < r->meta.n; i++) {
        const hs_snap_coll *c = &r->meta.colls[i];
        r->of_group[i] = -1;
        if (o->collection && (strcmp(c->name, o->collection) ||
                              (o->tenant && strcmp(c->tenant, o->tenant))))
            continue;
        if (o->collection && found >= 0) {
            hs_error_set(err, HS_EINVAL, "Snapshot '%s' holds collection '%s' of several tenants "
                         "('%s', '%s'): name the tenant", r->snap, c->name,
                         r->meta.colls[found].tenant, c->tenant);
            hs_error_name(err, o->collection);
            return hs_error_about(err, HS_EINVAL, HS_FIELD_TENANT, HS_REASON_EMPTY);
        }
        found = (long)i;
        stage *s = &r->st[r->nst];
        s->src = c;
        snprintf(s->tenant, sizeof(s->tenant), "%s",
                 o->collection && o->to_tenant ? o->to_tenant : c->tenant);
        snprintf(s->name, sizeof(s->name), "%s",
                 o->collection && o->to_name ? o->to_name : c->name);
        r->of_group[i] = (long)r->nst++;
    }
    if (o->collection && found < 0) {
        hs_error_set(err, HS_ENOTFOUND, "Snapshot '%s' holds no collection '%s'%s%s", r->snap,
                     o->collection, o->tenant ? " of tenant " : "", o->tenant ? o->tenant : "");
        hs_error_name(err, o->collection);
        return hs_error_about(err, HS_ENOTFOUND, HS_FIELD_COLLECTION, HS_REASON_NONE);
    }
    return HS_OK;
}

/* A target must be free, or hold a collection without points (or `replace`). */
static int check_target(run *r, stage *s, int replace, hs_error *err)
{
    int rc = hs_check_names(s->tenant, s->name, err);
    if (rc != HS_OK)
        return rc;
    hs_collection_config cfg = s->src->config;
    if ((rc = hs_db_check_config(r->db, &cfg, err)) != HS_OK)
        return hs_snap_corrupt(err, r->snap, "collection '%s': %s", s->src->name,
                               err ? err->message : "bad parameters");
    hs_collection_stats st;
    rc = hs_collection_stats_get(r->db, s->tenant, s->name, &st, NULL);
    if (rc == HS_ENOTFOUND)
        return HS_OK;
    if (rc == HS_OK && (replace || (st.count == 0 && st.deleted == 0 && !st.error[0]))) {
        s->replace = true;
        return HS_OK;
    }
    hs_error_set(err, HS_EEXIST, "Collection '%s' already exists (tenant '%s') and holds %" PRIu64
                 " points: restore it under another name, or drop it first", s->name, s->tenant,
                 st.count);
    hs_error_name(err, s->name);
    return hs_error_about(err, HS_EEXIST, HS_FIELD_COLLECTION, HS_REASON_NONE);
}

/* ---- stage -------------------------------------------------------------------------------- */

static int v_begin(void *ctx, const hs_archive_entry *e, hs_error *err)
{
    run *r = ctx;
    r->cur = NULL;
    r->fd = -1;
    if (e->group >= r->meta.n)
        return hs_snap_corrupt(err, r->snap, "entry '%s' belongs to no collection", e->name);
    uint64_t num;
    uint32_t gen;
    if (!hs_snap_entry_file(e, &num, &gen))
        return hs_snap_corrupt(err, r->snap, "entry kind %u has a name that is not a file of a "
                               "collection", e->kind);
    if (r->of_group[e->group] < 0)
        return HS_OK; /* not restored: its bytes are checked and dropped */
    stage *s = &r->st[r->of_group[e->group]];
    /* one checkpoint first, its vector files, then the log in sequence */
    bool order = e->kind >= s->last_kind && !(e->kind == HS_SNAP_CKPT && s->have_ckpt) &&
                 !(e->kind == HS_SNAP_VECS && !s->have_ckpt) &&
                 !(e->kind == HS_SNAP_WAL && s->nwal && num != s->wal[s->nwal - 1].seq + 1);
    if (!order)
        return hs_snap_corrupt(err, r->snap, "entry '%s' is out of order", e->name);
    s->last_kind = e->kind;
    if (e->kind == HS_SNAP_CKPT) {
        s->have_ckpt = true;
        s->ckpt_seq = num;
    } else if (e->kind == HS_SNAP_WAL) {
        if (s->nwal == s->walcap) {
            size_t cap = s->walcap ? 2 * s->walcap : 8;
            hs_wal_seginfo *w = realloc(s->wal, cap * sizeof(*w));
            if (!w)
                return hs_error_set(err, HS_ENOMEM, "Out of memory");
            s->wal = w;
            s->walcap = cap;
        }
        s->wal[s->nwal++] = (hs_wal_seginfo){num, e->len};
    }
    /* the entry's own name, checked to be exactly what its numbers give */
    if (hs_path(r->path, sizeof(r->path), "%s/%s", s->dir, e->name) != HS_OK)
        return hs_error_set(err, HS_ERANGE, "path too long");
    r->fd = r->db->io->open(r->db->io->ctx, r->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                            0644);
    if (r->fd < 0) {
        int e2 = r->fd;
        r->fd = -1;
        if (e2 == -EEXIST)
            return hs_snap_corrupt(err, r->snap, "entry '%s' appears twice", e->name);
        return hs_error_set(err, hs_rc_from_errno(e2), "%s: %s", r->path, strerror(-e2));
    }
    r->cur = s;
    r->off = 0;
    return HS_OK;
}

static int v_data(void *ctx, const void *buf, size_t len, hs_error *err)
{
    run *r = ctx;
    if (!r->cur)
        return HS_OK;
    long n = r->db->io->pwrite(r->db->io->ctx, r->fd, buf, len, r->off);
    if (n != (long)len) {
        int e = n < 0 ? (int)n : -EIO;
        return hs_error_set(err, hs_rc_from_errno(e), "%s: %s", r->path, strerror(-e));
    }
    r->off += len;
    return HS_OK;
}

static int v_end(void *ctx, const hs_archive_entry *e, hs_error *err)
{
    run *r = ctx;
    (void)e;
    if (!r->cur)
        return HS_OK;
    int rc = r->db->io->fsync(r->db->io->ctx, r->fd);
    r->db->io->close(r->db->io->ctx, r->fd);
    r->fd = -1;
    r->cur = NULL;
    return rc < 0 ? hs_error_set(err, hs_rc_from_errno(rc), "%s: %s", r->path, strerror(-rc))
                  : HS_OK;
}

static long src_read(void *ctx, void *buf, size_t cap)
{
    run *r = ctx;
    long n = r->db->io->pread(r->db->io->ctx, r->src_fd, buf, cap, r->src_off);
    if (n > 0)
        r->src_off += (uint64_t)n;
    return n;
}

/* Reads the whole archive into the staging directories. */
static int stage_all(run *r, hs_error *err)
{
    int rc = HS_OK;
    for (size_t i = 0; rc == HS_OK && i < r->nst; i++) {
        hs_path(r->st[i].dir, sizeof(r->st[i].dir), "%s/%zu", r->root, i);
        int mrc = r->db->io->mkdir(r->db->io->ctx, r->st[i].dir, 0755);
        if (mrc < 0)
            rc = hs_error_set(err, hs_rc_from_errno(mrc), "%s: %s", r->st[i].dir, strerror(-mrc));
    }
    if (rc != HS_OK)
        return rc;
    hs_archive_visitor v = {v_begin, v_data, v_end, r};
    hs_archive_toc t;
    hs_error aerr;
    memset(&aerr, 0, sizeof(aerr));
    r->fd = -1;
    rc = hs_archive_read(src_read, r, &v, &t, &aerr);
    if (r->fd >= 0)
        r->db->io->close(r->db->io->ctx, r->fd);
    r->fd = -1;
    /* the manifest read first and the one at the end must be the same (one file, one fd: a
     * difference is a file changed in place while it was read) */
    if (rc == HS_OK && (t.clock != r->toc.clock || t.meta_len != r->toc.meta_len ||
                        memcmp(t.meta, r->toc.meta, t.meta_len)))
        rc = hs_snap_corrupt(&aerr, r->snap, "it changed while it was read");
    hs_archive_toc_free(&t);
    if (rc == HS_ECORRUPT && aerr.field != HS_FIELD_SNAPSHOT)
        return hs_snap_corrupt(err, r->snap, "%s", aerr.message);
    if (rc == HS_EVERSION)
        return hs_snap_corrupt(err, r->snap, "%s", aerr.message);
    if (rc != HS_OK && err)
        *err = aerr;
    return rc;
}

/* ---- verify ------------------------------------------------------------------------------ */

static void stage_entry(const stage *s, centry *e)
{
    memset(e, 0, sizeof(*e));
    memcpy(e->tenant, s->tenant, sizeof(e->tenant));
    memcpy(e->name, s->name, sizeof(e->name));
    e->config = s->src->config;
    e->created_clock = s->src->created_clock;
    e->format = 3;
    e->frozen = s->src->frozen;
}

/* collection.json with the target names and the manifest of the staged files. */
static int stage_config(run *r, stage *s, hs_error *err)
{
    if (!s->nwal)
        return hs_snap_corrupt(err, r->snap, "collection '%s' has no log", s->src->name);
    centry e;
    stage_entry(s, &e);
    e.dir = s->dir;
    /* the manifest lists the closed segments from the replay position on; older ones (kept
     * for change readers) are not the load's business, as on the source */
    hs_ckpt_info ck;
    uint64_t from = 1;
    int rc = s->have_ckpt ? hs_coll_newest_ckpt(r->db, s->dir, &ck, err) : HS_OK;
    if (rc == HS_ECORRUPT)
        return hs_snap_corrupt(err, r->snap, "collection '%s': %s", s->src->name,
                               err ? err->message : "bad checkpoint");
    if (rc != HS_OK)
        return rc;
    if (s->have_ckpt)
        from = HS_MAX(ck.wal.seg, 1);
    size_t k = 0;
    while (k + 1 < s->nwal && s->wal[k].seq < from)
        k++;
    hs_manifest m = {s->have_ckpt ? s->ckpt_seq : 0, s->wal[s->nwal - 1].seq, s->wal + k,
                     s->nwal - 1 - k};
    int fd;
    rc = hs_config_write_new(r->db, s->dir, &e, &m, &fd, err);
    if (rc != HS_OK)
        return rc;
    int frc = r->db->io->fsync(r->db->io->ctx, fd);
    r->db->io->close(r->db->io->ctx, fd);
    if (frc == 0)
        frc = r->db->io->fsync_dir(r->db->io->ctx, s->dir);
    return frc < 0 ? hs_error_set(err, hs_rc_from_errno(frc), "%s: %s", s->dir, strerror(-frc))
                   : HS_OK;
}

/* Loads the staged collection as any load does (every file verified) and keeps its figures. */
static int stage_verify(run *r, stage *s, hs_error *err)
{
    centry e;
    stage_entry(s, &e);
    e.dir = s->dir;
    hs_coll *c;
    hs_error lerr;
    int rc = hs_coll_load(r->db, &e, &c, &lerr);
    if (rc == HS_ENOMEM) {
        if (err)
            *err = lerr;
        return rc;
    }
    if (rc != HS_OK)
        return hs_snap_corrupt(err, r->snap, "collection '%s' does not load: %s", s->src->name,
                               lerr.message);
    s->count = c->nlive;
    s->deleted = c->nslots - c->nlive;
    s->clock = c->clock;
    s->disk = hs_segset_disk_bytes(c->vecs) + hs_wal_disk_bytes(c->wal);
    hs_coll_free(c);
    if (s->clock != s->src->clock)
        return hs_snap_corrupt(err, r->snap, "collection '%s' loads at clock %" PRIu64 ", the "
                               "manifest says %" PRIu64, s->src->name, s->clock, s->src->clock);
    return HS_OK;
}

/* ---- publish ------------------------------------------------------------------------------ */

/* Enters the staged collection into the catalog under its target name (as create does: the
 * entry is CREATING while its directory is moved into place). */
static int publish(run *r, stage *s, hs_error *err)
{
    hs_db *db = r->db;
    if (s->replace) {
        hs_error derr;
        int drc = hs_collection_drop(db, s->tenant, s->name, &derr);
        if (drc != HS_OK && drc != HS_ENOTFOUND) {
            if (err)
                *err = derr;
            return drc;
        }
    }
    char parent[HS_PATH_MAX], dir[HS_PATH_MAX];
    int rc = hs_db_coll_dirs(db, s->tenant, s->name, parent, dir, sizeof(dir), err);
    if (rc != HS_OK)
        return rc;
    centry *e = calloc(1, sizeof(*e));
    if (e)
        stage_entry(s, e);
    if (!e || hs_centry_set(&e->dir, dir) != HS_OK) {
        free(e);
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    }
    e->cold_count = s->count;
    e->cold_deleted = s->deleted;
    e->cold_clock = s->clock;
    e->cold_disk = s->disk;
    pthread_mutex_lock(&db->lock);
    hs_db_wait_dropping_locked(db, s->tenant, s->name);
    hs_tenant *t = hs_cat_tenant_locked(db, s->tenant, false);
    uint32_t quota = db->opts.max_collections_per_tenant;
    if (hs_db_find_locked(db, s->tenant, s->name)) {
        hs_error_set(err, HS_EEXIST, "Collection '%s' already exists (tenant '%s'): it was "
                     "created while the snapshot was restored", s->name, s->tenant);
        hs_error_name(err, s->name);
        rc = hs_error_about(err, HS_EEXIST, HS_FIELD_COLLECTION, HS_REASON_NONE);
    } else if (quota && t && t->collections >= quota) {
        hs_error_set(err, HS_EFULL, "Tenant '%s' has %u collections, its quota", s->tenant, quota);
        hs_error_name(err, s->tenant);
        hs_error_range(err, HS_EFULL, HS_FIELD_TENANT, quota + 1ull, quota + 1ull, 0, quota);
        rc = hs_error_about(err, HS_EFULL, HS_FIELD_TENANT, HS_REASON_TOO_MANY);
    } else {
        e->state = CE_CREATING;
        rc = hs_cat_insert_locked(db, e) == HS_OK ? HS_OK
                                                  : hs_error_set(err, HS_ENOMEM, "Out of memory");
    }
    pthread_mutex_unlock(&db->lock);
    if (rc != HS_OK) {
        hs_centry_free(e);
        return rc;
    }
    int mrc = db->io->rename(db->io->ctx, s->dir, dir);
    if (mrc == 0)
        mrc = db->io->fsync_dir(db->io->ctx, parent);
    pthread_mutex_lock(&db->lock);
    if (mrc < 0) {
        rc = hs_error_set(err, hs_rc_from_errno(mrc), "%s: %s", dir, strerror(-mrc));
        hs_cat_remove_locked(db, e);
        e->state = CE_DROPPED;
        pthread_cond_broadcast(&db->cond);
        while (e->refs > 0)
            pthread_cond_wait(&db->cond, &db->lock);
        pthread_mutex_unlock(&db->lock);
        hs_centry_free(e);
        return rc;
    }
    e->state = CE_COLD;
    pthread_cond_broadcast(&db->cond);
    hs_catlog_fresh_locked(db, e);
    hs_drops_disarm_locked(db, e); /* restored after its drop: it stays */
    pthread_mutex_unlock(&db->lock);
    hs_log(HS_LOG_INFO, "Restored collection '%s' (tenant '%s') from snapshot '%s': %" PRIu64
           " points, clock %" PRIu64, s->name, s->tenant, r->snap, s->count, s->clock);
    return HS_OK;
}

/* ---- the call ------------------------------------------------------------------------------ */

static void run_free(run *r)
{
    if (r->root[0])
        hs_remove_tree(r->db->io, r->root);
    for (size_t i = 0; r->st && i < r->meta.n; i++)
        free(r->st[i].wal);
    free(r->st);
    free(r->of_group);
    hs_snap_meta_free(&r->meta);
    hs_archive_toc_free(&r->toc);
    if (r->src_fd >= 0)
        r->db->io->close(r->db->io->ctx, r->src_fd);
}

/* Opens the archive and reads its manifest. */
static int open_archive(run *r, const char *name, hs_error *err)
{
    uint64_t len;
    int rc = hs_snap_open(r->db, name, &r->src_fd, &len, err);
    if (rc != HS_OK)
        return rc;
    hs_error perr;
    rc = hs_snap_peek(r->db, r->src_fd, len, &r->toc, &r->meta, &perr);
    if (rc == HS_ECORRUPT || rc == HS_EVERSION)
        return hs_snap_corrupt(err, name, "%s", perr.message);
    if (rc != HS_OK && err)
        *err = perr;
    return rc;
}

int hs_snapshot_restore(hs_db *db, const char *name, const hs_restore_opts *o,
                        int (*fn)(void *ctx, const hs_snapshot_coll *c), void *ctx,
                        hs_error *err)
{
    hs_restore_opts def;
    if (!o) {
        hs_restore_opts_init(&def);
        o = &def;
    }
    run r;
    memset(&r, 0, sizeof(r));
    r.db = db;
    r.snap = name;
    r.src_fd = -1;
    int rc = HS_OK;
    if (o->collection)
        rc = hs_check_names(o->tenant ? o->tenant : "t", o->collection, err);
    if (rc == HS_OK && o->collection && (o->to_tenant || o->to_name))
        rc = hs_check_names(o->to_tenant ? o->to_tenant : "t",
                            o->to_name ? o->to_name : o->collection, err);
    if (rc == HS_OK)
        rc = open_archive(&r, name, err);
    if (rc == HS_OK)
        rc = select_colls(&r, o, err);
    for (size_t i = 0; rc == HS_OK && i < r.nst; i++)
        rc = check_target(&r, &r.st[i], o->replace, err);
    if (rc == HS_OK) {
        hs_path(r.root, sizeof(r.root), "%s/.restore-%016" PRIx64, db->root,
                hs_mix64(hs_now_ns() ^ (uint64_t)(uintptr_t)&r));
        int mrc = db->io->mkdir(db->io->ctx, r.root, 0755);
        if (mrc < 0) {
            rc = hs_error_set(err, hs_rc_from_errno(mrc), "%s: %s", r.root, strerror(-mrc));
            r.root[0] = 0;
        }
    }
    if (rc == HS_OK)
        rc = stage_all(&r, err);
    for (size_t i = 0; rc == HS_OK && i < r.nst; i++)
        rc = stage_config(&r, &r.st[i], err);
    /* the restored records carry the archive's clocks: later writes must get higher ones */
    uint64_t held = 0; /* the clocks up to the archive's are in flight until published */
    if (rc == HS_OK)
        rc = hs_db_clock_raise(db, r.toc.clock, &held, err);
    for (size_t i = 0; rc == HS_OK && i < r.nst; i++)
        rc = stage_verify(&r, &r.st[i], err);
    size_t done = 0;
    for (; rc == HS_OK && done < r.nst; done++)
        rc = publish(&r, &r.st[done], err);
    if (rc != HS_OK && done > 1 && err) {
        char note[64];
        snprintf(note, sizeof(note), " (%zu of %zu collections were restored)", done - 1, r.nst);
        size_t at = strnlen(err->message, sizeof(err->message) - 1);
        at = HS_MIN(at, sizeof(err->message) - 1 - strlen(note));
        memcpy(err->message + at, note, strlen(note) + 1);
    }
    if (held)
        hs_db_tick_done(db, held, true);
    for (size_t i = 0; fn && i < (rc == HS_OK ? r.nst : done ? done - 1 : 0); i++) {
        stage *s = &r.st[i];
        hs_snapshot_coll c = {s->tenant, s->name, s->src->tenant, s->src->name,
                              s->src->config, s->clock, s->count, s->src->frozen};
        if (fn(ctx, &c) != 0)
            break;
    }
    run_free(&r);
    return rc;
}
