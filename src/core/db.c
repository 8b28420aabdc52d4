/*
 * db.c: opening and closing a database directory, the node state (id and logical clock), name
 * rules, and the catalog operations that do not need a loaded collection: create, drop, list,
 * stats.
 *
 * Layout: <root>/LOCK (flock), <root>/node.json, <root>/.catalog (catlog.c), collections in
 * <root>/<tenant>/@<bucket>/<collection>/ (flat, format 3) or, created by earlier builds,
 * <root>/<tenant>/<collection>/ (docs/file-format.md).
 * Directories whose names start with '.' are never collections: `.new-*` (a create in
 * progress) and `.trash-*` (a drop in progress) are removed at open.
 *
 * Clock: ticks are handed out below `clock_reserved`, which is persisted in node.json (atomic
 * replace, fsync) before any tick crosses it, in blocks of 65536.  After a restart the clock
 * starts at the persisted reservation, so it never repeats a value, whatever was lost.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/core.h"
#include "util/error.h"
#include "util/log.h"

#define CLOCK_BLOCK 65536u

void hs_db_opts_init(hs_db_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->durability = HS_DURABILITY_BATCH;
    o->batch_interval_ms = 10;
    o->idle_timeout_sec = 3600;
    o->max_loaded = 1000;
    o->snapshot_interval_sec = 60;
    o->wal_segment_bytes = 64u << 20;
    o->default_m = 16;
    o->default_ef_construction = 100;
    o->default_ef_search = 100;
    o->exact_threshold = 1024;
    o->checkpoint_min_log_bytes = 64u << 10;
}

void hs_collection_config_init(hs_collection_config *c)
{
    memset(c, 0, sizeof(*c));
    c->dimension = 0;
    c->metric = HS_METRIC_COSINE;
    c->quantization = HS_QUANT_NONE;
}

double hs_oversampling_default(hs_quantization q)
{
    /* the smallest factor keeping recall@10 and recall@50 >= 0.99 at ef_search 100 on 100k x
     * 768 cosine (bench/README.md, "Oversampling"): binary 5 (4 gave 0.983 at k=50); scalar
     * codes rank well enough that ef alone does (0.991 at k=50) */
    return q == HS_QUANT_BINARY ? 5.0 : 1.0;
}

int hs_check_oversampling(double o, hs_error *err)
{
    if (o == 0.0 || (o >= 1.0 && o <= HS_OVERSAMPLING_MAX))
        return HS_OK;
    hs_error_set(err, HS_ERANGE, "oversampling must be a number between 1 and %d (got %g)",
                 HS_OVERSAMPLING_MAX, o);
    return hs_error_range(err, HS_ERANGE, HS_FIELD_OVERSAMPLING, 0, o, 1, HS_OVERSAMPLING_MAX);
}

double hs_coll_oversampling(const hs_coll *c)
{
    return c->cfg.oversampling > 0 ? c->cfg.oversampling
                                   : hs_oversampling_default(c->cfg.quantization);
}

void hs_search_opts_init(hs_search_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->k = 10;
    o->alpha = 0.5;
}

/* ---- names ---------------------------------------------------------------------------- */

static bool name_ok(const char *name)
{
    if (!name)
        return 0;
    size_t n = strlen(name);
    if (n < 1 || n > HS_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return 0;
    }
    return 1;
}

/* The data directory's own files beside the tenant directories (file-format.md): a tenant of
 * that name would collide with them, so these names are refused (compared ignoring case, for
 * file systems that do).  Every other file the database keeps in the root starts with '.'. */
static const char *const reserved_tenants[] = {"LOCK", "node.json"};

static bool tenant_ok(const char *name)
{
    if (!name_ok(name))
        return 0;
    for (size_t i = 0; i < sizeof(reserved_tenants) / sizeof(reserved_tenants[0]); i++)
        if (!strcasecmp(name, reserved_tenants[i]))
            return 0;
    return 1;
}

int hs_check_names(const char *tenant, const char *name, hs_error *err)
{
    char shown[300];
    if (!tenant || !name_ok(tenant)) {
        hs_error_echo(tenant ? tenant : "", shown, sizeof(shown));
        hs_error_set(err, HS_ENAME, "Invalid tenant '%s': use 1-64 characters from A-Z a-z 0-9 "
                     "_ . - not starting with '.'", shown);
        hs_error_name(err, tenant);
        return hs_error_about(err, HS_ENAME, HS_FIELD_TENANT, HS_REASON_SYNTAX);
    }
    if (!tenant_ok(tenant)) {
        hs_error_set(err, HS_ENAME, "Invalid tenant '%s': the name is reserved for a file of the "
                     "data directory (LOCK and node.json, in any case)", tenant);
        hs_error_name(err, tenant);
        return hs_error_about(err, HS_ENAME, HS_FIELD_TENANT, HS_REASON_RESERVED);
    }
    if (!name || !*name) {
        hs_error_set(err, HS_ENAME, "Collection name cannot be empty");
        return hs_error_about(err, HS_ENAME, HS_FIELD_COLLECTION, HS_REASON_EMPTY);
    }
    if (!name_ok(name)) {
        hs_error_echo(name, shown, sizeof(shown));
        hs_error_set(err, HS_ENAME, "Invalid collection name '%s': use 1-64 characters from A-Z "
                     "a-z 0-9 _ . - not starting with '.'", shown);
        hs_error_name(err, name);
        return hs_error_about(err, HS_ENAME, HS_FIELD_COLLECTION, HS_REASON_SYNTAX);
    }
    return HS_OK;
}

int hs_name_check(hs_field which, const char *name, hs_error *err)
{
    if (which == HS_FIELD_TENANT)
        return hs_check_names(name, "x", err);
    if (which == HS_FIELD_COLLECTION)
        return hs_check_names("t", name, err);
    if (which == HS_FIELD_SNAPSHOT)
        return hs_snap_name_check(name, err);
    return hs_error_set(err, HS_EINVAL, "hs_name_check: unknown field %d", (int)which);
}

int hs_not_found(hs_error *err, const char *name)
{
    hs_error_set(err, HS_ENOTFOUND, "Collection '%s' not found", name);
    hs_error_name(err, name);
    return hs_error_about(err, HS_ENOTFOUND, HS_FIELD_COLLECTION, HS_REASON_NONE);
}

int hs_check_ef(uint32_t ef_search, uint32_t ef_construction, hs_error *err)
{
    if (ef_construction > HS_EF_MAX) {
        hs_error_set(err, HS_ERANGE, "ef_construction must be between 1 and %d (got %u)",
                     HS_EF_MAX, ef_construction);
        return hs_error_range(err, HS_ERANGE, HS_FIELD_EF_CONSTRUCTION, ef_construction,
                              ef_construction, 1, HS_EF_MAX);
    }
    if (ef_search > HS_EF_MAX) {
        hs_error_set(err, HS_ERANGE, "ef_search must be between 1 and %d (got %u)", HS_EF_MAX,
                     ef_search);
        return hs_error_range(err, HS_ERANGE, HS_FIELD_EF_SEARCH, ef_search, ef_search, 1,
                              HS_EF_MAX);
    }
    return HS_OK;
}

/* ---- node state and clock -------------------------------------------------------------- */

static int node_write(hs_db *db, uint64_t reserved, hs_error *err)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf),
                     "{\"format\": %d, \"node_id\": \"%s\", \"clock_reserved\": %" PRIu64 "}\n",
                     HS_FORMAT_VERSION, db->node_id, reserved);
    return hs_file_replace(db->io, db->root, "node.json", buf, (size_t)n, err);
}

static void new_node_id(char *out)
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b)) {
        uint64_t x = hs_mix64(hs_now_ns()), y = hs_mix64(x ^ (uint64_t)getpid());
        memcpy(b, &x, 8);
        memcpy(b + 8, &y, 8);
    }
    if (fd >= 0)
        close(fd);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* UUID version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    sprintf(out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
            b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15]);
}

static int node_load(hs_db *db, hs_error *err)
{
    char path[HS_PATH_MAX];
    if (hs_path(path, sizeof(path), "%s/node.json", db->root) != HS_OK)
        return hs_error_set(err, HS_ERANGE, "path too long");
    char *data;
    size_t len;
    int rc = hs_file_read(db->io, path, &data, &len, 1 << 16, err);
    if (rc == HS_ENOTFOUND) {
        new_node_id(db->node_id);
        db->clock = 0;
    } else if (rc != HS_OK) {
        return rc;
    } else {
        cJSON *j = cJSON_ParseWithLength(data, len);
        free(data);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "node_id");
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "clock_reserved");
        if (!cJSON_IsString(id) || strlen(id->valuestring) >= sizeof(db->node_id) ||
            !cJSON_IsNumber(res) || res->valuedouble < 0) {
            cJSON_Delete(j);
            return hs_error_set(err, HS_ECORRUPT, "%s: bad node state", path);
        }
        snprintf(db->node_id, sizeof(db->node_id), "%s", id->valuestring);
        db->clock = (uint64_t)res->valuedouble;
        cJSON_Delete(j);
    }
    db->clock_reserved = db->clock + CLOCK_BLOCK;
    return node_write(db, db->clock_reserved, err);
}

/* Persists a reservation covering `upto` when it does not (clock_lock held). */
static int reserve_clock_locked(hs_db *db, uint64_t upto, hs_error *err)
{
    if (upto < db->clock_reserved)
        return HS_OK;
    uint64_t want = upto + CLOCK_BLOCK;
    int rc = node_write(db, want, err);
    if (rc == HS_OK)
        db->clock_reserved = want;
    return rc;
}

int hs_db_tick(hs_db *db, const centry *e, int kind, uint64_t n, uint64_t *first, hs_error *err)
{
    pthread_mutex_lock(&db->clock_lock);
    int rc = reserve_clock_locked(db, db->clock + n, err);
    if (rc == HS_OK && hs_ticks_enter_locked(db, e, kind, db->clock + 1, n) != HS_OK)
        rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
    if (rc == HS_OK) {
        *first = db->clock + 1;
        db->clock += n;
    }
    pthread_mutex_unlock(&db->clock_lock);
    return rc;
}

int hs_db_clock_merge(hs_db *db, const centry *e, int kind, uint64_t first, uint64_t n,
                      hs_error *err)
{
    uint64_t last = first + (n ? n - 1 : 0);
    pthread_mutex_lock(&db->clock_lock);
    uint64_t to = HS_MAX(db->clock, last) + 1;
    int rc = reserve_clock_locked(db, to, err);
    if (rc == HS_OK && hs_ticks_enter_locked(db, e, kind, first, n) != HS_OK)
        rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
    if (rc == HS_OK)
        db->clock = to;
    pthread_mutex_unlock(&db->clock_lock);
    return rc;
}

int hs_db_clock_raise(hs_db *db, uint64_t clock, uint64_t *held, hs_error *err)
{
    *held = 0;
    pthread_mutex_lock(&db->clock_lock);
    int rc = reserve_clock_locked(db, clock, err);
    if (rc == HS_OK && clock > db->clock) {
        if (hs_ticks_enter_locked(db, NULL, HS_TICK_RAISE, db->clock + 1,
                                  clock - db->clock) != HS_OK) {
            rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
        } else {
            *held = db->clock + 1;
            db->clock = clock;
        }
    }
    pthread_mutex_unlock(&db->clock_lock);
    return rc;
}

void hs_db_observe_clock(hs_db *db, uint64_t clock)
{
    pthread_mutex_lock(&db->clock_lock);
    if (clock > db->clock)
        db->clock = clock; /* replayed records were below the reservation: no write needed */
    pthread_mutex_unlock(&db->clock_lock);
}

uint64_t hs_db_clock(hs_db *db)
{
    pthread_mutex_lock(&db->clock_lock);
    uint64_t c = db->clock;
    pthread_mutex_unlock(&db->clock_lock);
    return c;
}

uint32_t hs_coll_ef_search(const hs_coll *c)
{
    return c->ef_search_set ? c->cfg.ef_search : c->db->opts.default_ef_search;
}

uint32_t hs_coll_ef_construction(const hs_coll *c)
{
    return c->ef_construction_set ? c->cfg.ef_construction : c->db->opts.default_ef_construction;
}

/* ---- catalog ----------------------------------------------------------------------------- */

bool hs_bucket_name_ok(const char *name)
{
    static const char hex[] = "0123456789abcdef";
    return name[0] == HS_BUCKET_CHAR && name[1] && strchr(hex, name[1]) && name[2] &&
           strchr(hex, name[2]) && !name[3];
}

/* FNV-1a of the name: stable across processes and versions (it places directories on disk). */
void hs_bucket_of(const char *name, char out[4])
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    snprintf(out, 4, "%c%02x", HS_BUCKET_CHAR, (unsigned)((h ^ (h >> 16)) & 0xff));
}

int hs_db_scan_collection(hs_db *db, const char *tenant, const char *name, const char *path)
{
    centry *e = calloc(1, sizeof(*e));
    if (!e)
        return HS_ENOMEM;
    snprintf(e->tenant, sizeof(e->tenant), "%s", tenant);
    snprintf(e->name, sizeof(e->name), "%s", name);
    if (hs_centry_set(&e->dir, path) != HS_OK) {
        hs_centry_free(e);
        return HS_ENOMEM;
    }
    hs_error err;
    if (hs_config_read(db, path, e, &err) != HS_OK) {
        /* quarantined: listed, every operation but drop fails with the reason */
        e->state = CE_FAILED;
        db->nfailed++;
        hs_centry_set(&e->error, err.message);
        hs_log(HS_LOG_ERROR, "collection '%s' (tenant '%s') cannot be read: %s", name, tenant,
               err.message);
    } else {
        hs_coll_cold_stats(db, e);
    }
    e->seen = true;
    e->cat_clean = e->state != CE_FAILED && !e->replay_pending;
    if (hs_cat_insert_locked(db, e) != HS_OK) {
        hs_centry_free(e);
        return HS_ENOMEM;
    }
    return HS_OK;
}

static void finish_drops(hs_db *db);

static int lock_root(hs_db *db, hs_error *err)
{
    char path[HS_PATH_MAX];
    if (hs_path(path, sizeof(path), "%s/LOCK", db->root) != HS_OK)
        return hs_error_set(err, HS_ERANGE, "path too long");
    db->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (db->lock_fd < 0)
        return hs_error_set(err, HS_EIO, "%s: %s", path, strerror(errno));
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(db->lock_fd);
        db->lock_fd = -1;
        return hs_error_set(err, e == EWOULDBLOCK ? HS_EBUSY : HS_EIO,
                            "%s: the database is in use by another process", db->root);
    }
    return HS_OK;
}

/* After a crash: loads (replays) every collection whose log holds records no checkpoint covers,
 * so that its figures (count, clock) are right before the first request; the load limit and
 * idle unloading then checkpoint and unload them as usual.  A collection that fails to load is
 * quarantined by the load itself. */
static void recover(hs_db *db)
{
    size_t n = 0, done = 0;
    pthread_mutex_lock(&db->lock);
    for (centry *e = db->entries; e; e = e->next)
        n += e->replay_pending;
    char (*names)[2][HS_NAME_MAX + 1] = n ? malloc(n * sizeof(*names)) : NULL;
    size_t i = 0;
    for (centry *e = db->entries; names && e; e = e->next)
        if (e->replay_pending) {
            memcpy(names[i][0], e->tenant, sizeof(e->tenant));
            memcpy(names[i][1], e->name, sizeof(e->name));
            e->replay_pending = false;
            i++;
        }
    pthread_mutex_unlock(&db->lock);
    for (i = 0; names && i < n; i++) {
        hs_collection *h = NULL;
        hs_coll *c;
        if (hs_collection_open(db, names[i][0], names[i][1], &h, NULL) == HS_OK &&
            hs_coll_acquire(h, &c, NULL) == HS_OK)
            done++;
        hs_collection_close(h);
    }
    if (n)
        hs_log(HS_LOG_INFO, "recovery: replayed the log of %zu of %zu collections with records "
               "not in a checkpoint", done, n);
    free(names);
}

int hs_db_open(const char *path, const hs_db_opts *opts, hs_db **out, hs_error *err)
{
    *out = NULL;
    if (!path || strlen(path) + 200 >= HS_PATH_MAX)
        return hs_error_set(err, HS_EINVAL, "bad database path");
    hs_db *db = calloc(1, sizeof(*db));
    if (!db)
        return hs_error_set(err, HS_ENOMEM, "out of memory");
    if (opts)
        db->opts = *opts;
    else
        hs_db_opts_init(&db->opts);
    db->io = db->opts.io ? db->opts.io : hs_io_posix();
    db->lock_fd = -1;
    snprintf(db->root, sizeof(db->root), "%s", path);
    pthread_mutex_init(&db->lock, NULL);
    pthread_cond_init(&db->cond, NULL);
    pthread_mutex_init(&db->clock_lock, NULL);
    pthread_mutex_init(&db->cat_mu, NULL);
    pthread_mutex_init(&db->dir_mu, NULL);
    pthread_rwlockattr_t ga;
    pthread_rwlockattr_init(&ga);
    /* a snapshot waiting for the gate is not starved by a stream of checkpoints */
    pthread_rwlockattr_setkind_np(&ga, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&db->snap_gate, &ga);
    pthread_rwlockattr_destroy(&ga);
    db->cat_fd = -1;
    db->drops_fd = -1;
    int rc = hs_cat_init(db) == HS_OK ? HS_OK : hs_error_set(err, HS_ENOMEM, "out of memory");
    int mrc = rc == HS_OK ? db->io->mkdir(db->io->ctx, path, 0755) : 0;
    if (mrc < 0 && mrc != -EEXIST)
        rc = hs_error_set(err, hs_rc_from_errno(mrc), "%s: %s", path, strerror(-mrc));
    if (rc == HS_OK)
        rc = lock_root(db, err);
    if (rc == HS_OK)
        rc = node_load(db, err);
    if (rc == HS_OK && hs_ticks_init(db) != HS_OK)
        rc = hs_error_set(err, HS_ENOMEM, "out of memory");
    if (rc == HS_OK)
        rc = hs_snap_init(db, err);
    if (rc == HS_OK)
        rc = hs_catlog_open(db, err);
    if (rc == HS_OK)
        rc = hs_drops_open(db, err);
    if (rc == HS_OK)
        finish_drops(db);
    if (rc == HS_OK)
        rc = hs_indexer_start(db, err);
    if (rc == HS_OK)
        rc = hs_life_start(db, err);
    if (rc == HS_OK)
        recover(db);
    if (rc != HS_OK) {
        hs_indexer_stop(db);
        if (db->drops_fd >= 0)
            db->io->close(db->io->ctx, db->drops_fd);
        hs_cat_free(db);
        hs_ticks_free(db);
        if (db->lock_fd >= 0)
            close(db->lock_fd);
        free(db);
        return rc;
    }
    *out = db;
    return HS_OK;
}

int hs_db_close(hs_db *db, hs_error *err)
{
    if (!db)
        return HS_OK;
    hs_life_stop(db);
    int rc = hs_life_unload_all(db, err);
    hs_indexer_stop(db);
    pthread_mutex_lock(&db->lock);
    hs_error cerr;
    if (hs_catlog_rewrite_locked(db, &cerr) != HS_OK) /* the next open reads the directories */
        hs_log(HS_LOG_WARN, "catalog not written at close: %s", cerr.message);
    pthread_mutex_unlock(&db->lock);
    hs_drops_close(db);
    hs_cat_free(db);
    hs_ticks_free(db);
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    pthread_rwlock_destroy(&db->snap_gate);
    pthread_mutex_destroy(&db->lock);
    pthread_cond_destroy(&db->cond);
    pthread_mutex_destroy(&db->clock_lock);
    pthread_mutex_destroy(&db->cat_mu);
    pthread_mutex_destroy(&db->dir_mu);
    free(db);
    return rc;
}

/* ---- create, drop, list, stats --------------------------------------------------------------- */

int hs_db_check_config(const hs_db *db, hs_collection_config *c, hs_error *err)
{
    if (c->dimension < 1 || c->dimension > HS_MAX_DIM) {
        hs_error_set(err, HS_ERANGE, "Dimension must be between 1 and %d (got %u)", HS_MAX_DIM,
                     c->dimension);
        return hs_error_range(err, HS_ERANGE, HS_FIELD_DIMENSION, c->dimension, c->dimension, 1,
                              HS_MAX_DIM);
    }
    if (c->metric != HS_METRIC_L2 && c->metric != HS_METRIC_COSINE &&
        c->metric != HS_METRIC_POINCARE && c->metric != HS_METRIC_LORENTZ) {
        hs_error_set(err, HS_EINVAL, "Unknown metric '%d': expected cosine, l2, euclidean, "
                     "poincare or lorentz", (int)c->metric);
        if (err)
            err->actual = (uint64_t)c->metric;
        return hs_error_about(err, HS_EINVAL, HS_FIELD_METRIC, HS_REASON_UNKNOWN);
    }
    if (c->quantization != HS_QUANT_NONE && c->quantization != HS_QUANT_SCALAR &&
        c->quantization != HS_QUANT_BINARY) {
        hs_error_set(err, HS_EINVAL, "Unknown quantization '%d': expected none, scalar or binary",
                     (int)c->quantization);
        if (err)
            err->actual = (uint64_t)c->quantization;
        return hs_error_about(err, HS_EINVAL, HS_FIELD_QUANTIZATION, HS_REASON_UNKNOWN);
    }
    if (c->id_type != HS_ID_INTEGER && c->id_type != HS_ID_STRING) {
        hs_error_set(err, HS_EINVAL, "Unknown id type '%d': expected integer or string",
                     (int)c->id_type);
        if (err)
            err->actual = (uint64_t)c->id_type;
        return hs_error_about(err, HS_EINVAL, HS_FIELD_ID_TYPE, HS_REASON_UNKNOWN);
    }
    if (c->metric == HS_METRIC_LORENTZ && c->dimension < 2) {
        hs_error_set(err, HS_ERANGE, "Dimension must be between 2 and %d for the lorentz metric "
                     "(got %u)", HS_MAX_DIM, c->dimension);
        return hs_error_range(err, HS_ERANGE, HS_FIELD_DIMENSION, c->dimension, c->dimension, 2,
                              HS_MAX_DIM);
    }
    if (c->m == 0)
        c->m = db->opts.default_m;
    if (c->m < HS_HNSW_MIN_M || c->m > HS_HNSW_MAX_M) {
        hs_error_set(err, HS_ERANGE, "m must be between %d and %d (got %u)", HS_HNSW_MIN_M,
                     HS_HNSW_MAX_M, c->m);
        return hs_error_range(err, HS_ERANGE, HS_FIELD_M, c->m, c->m, HS_HNSW_MIN_M,
                              HS_HNSW_MAX_M);
    }
    int rc = hs_check_oversampling(c->oversampling, err);
    if (rc != HS_OK)
        return rc;
    c->oversampling = round(c->oversampling * 100.0) / 100.0; /* what the catalog can carry */
    return hs_check_ef(c->ef_search, c->ef_construction, err);
}

/* Makes the tenant's directory and the bucket when missing, each made durable in its parent
 * before any create can use it (db->dir_mu: a second create finds it made and synced). */
static int make_dirs(hs_db *db, const char *tenant_dir, const char *bucket_dir, hs_error *err)
{
    pthread_mutex_lock(&db->dir_mu);
    int rc = HS_OK;
    int mrc = db->io->mkdir(db->io->ctx, tenant_dir, 0755);
    if (mrc == 0)
        mrc = db->io->fsync_dir(db->io->ctx, db->root);
    if (mrc < 0 && mrc != -EEXIST)
        rc = hs_error_set(err, hs_rc_from_errno(mrc), "%s: %s", tenant_dir, strerror(-mrc));
    if (rc == HS_OK) {
        mrc = db->io->mkdir(db->io->ctx, bucket_dir, 0755);
        if (mrc == 0)
            mrc = db->io->fsync_dir(db->io->ctx, tenant_dir);
        if (mrc < 0 && mrc != -EEXIST)
            rc = hs_error_set(err, hs_rc_from_errno(mrc), "%s: %s", bucket_dir, strerror(-mrc));
    }
    pthread_mutex_unlock(&db->dir_mu);
    return rc;
}

int hs_db_coll_dirs(hs_db *db, const char *tenant, const char *name, char *parent, char *dir,
                    size_t len, hs_error *err)
{
    char tenant_dir[HS_PATH_MAX], bucket[4];
    hs_bucket_of(name, bucket);
    if (hs_path(tenant_dir, sizeof(tenant_dir), "%s/%s", db->root, tenant) != HS_OK ||
        hs_path(parent, len, "%s/%s", tenant_dir, bucket) != HS_OK ||
        hs_path(dir, len, "%s/%s", parent, name) != HS_OK)
        return hs_error_set(err, HS_ERANGE, "path too long");
    return make_dirs(db, tenant_dir, parent, err);
}

/* Builds the collection directory under a temporary name, then renames it into place.  Its two
 * files are written first and fsynced together (collection.json's writeback started before the
 * log's fsync: on a journalling file system one commit covers both, and the rename a second). */
static int create_files(hs_db *db, centry *e, const char *parent, hs_error *err)
{
    char tmp[HS_PATH_MAX];
    if (hs_path(tmp, sizeof(tmp), "%s/.new-%s-%016" PRIx64, parent, e->name,
                hs_mix64(hs_now_ns())) != HS_OK)
        return hs_error_set(err, HS_ERANGE, "path too long");
    e->format = 3; /* flat: the log and the vector files in the collection's directory */
    int rc = db->io->mkdir(db->io->ctx, tmp, 0755);
    if (rc < 0) {
        hs_remove_tree(db->io, tmp);
        return hs_error_set(err, hs_rc_from_errno(rc), "%s: %s", tmp, strerror(-rc));
    }
    /* the manifest: no checkpoint yet, log segment 1 (inside collection.json: flat format) */
    hs_manifest m = {0, 1, NULL, 0};
    int jfd;
    int hrc = hs_config_write_new(db, tmp, e, &m, &jfd, err);
    if (hrc == HS_OK) {
        /* the log starts with the create record (its clock is the collection's first) */
        hs_wal_opts wo;
        hs_wal_opts_init(&wo);
        wo.io = db->io;
        wo.private_dir = true; /* synced below by the create record and the directory */
        hs_wal *w;
        hrc = hs_wal_open(tmp, &wo, (hs_wal_pos){0, 0}, NULL, NULL, &w, err);
        if (hrc == HS_OK) {
            uint8_t buf[HS_WAL_HEADER + 32];
            memset(buf, 0, sizeof(buf));
            memcpy(buf + HS_WAL_HEADER, &e->config, HS_MIN(sizeof(e->config), 32u));
            uint64_t t;
            hrc = hs_wal_append(w, HS_REC_CREATE, e->created_clock, buf, 32, &t, err);
            if (hrc == HS_OK)
                hrc = hs_wal_wait(w, t, HS_DURABILITY_STRICT, err);
            hs_wal_close(w);
        }
        rc = db->io->fsync(db->io->ctx, jfd);
        db->io->close(db->io->ctx, jfd);
        if (hrc == HS_OK && rc < 0)
            hrc = hs_error_set(err, hs_rc_from_errno(rc), "%s/collection.json: %s", tmp,
                               strerror(-rc));
    }
    if (hrc == HS_OK) {
        rc = db->io->fsync_dir(db->io->ctx, tmp);
        if (rc == 0)
            rc = db->io->rename(db->io->ctx, tmp, e->dir);
        if (rc == 0)
            rc = db->io->fsync_dir(db->io->ctx, parent);
        if (rc < 0)
            hrc = hs_error_set(err, hs_rc_from_errno(rc), "%s: %s", e->dir, strerror(-rc));
    }
    if (hrc != HS_OK)
        hs_remove_tree(db->io, tmp);
    return hrc;
}

int hs_collection_create(hs_db *db, const char *tenant, const char *name,
                         const hs_collection_config *cfg, hs_error *err)
{
    return hs_db_create(db, tenant, name, cfg, 0, err);
}

int hs_db_create(hs_db *db, const char *tenant, const char *name,
                 const hs_collection_config *cfg, uint64_t clock, hs_error *err)
{
    int rc = hs_check_names(tenant, name, err);
    if (rc != HS_OK)
        return rc;
    hs_collection_config c = *cfg;
    if ((rc = hs_db_check_config(db, &c, err)) != HS_OK)
        return rc;
    char tenant_dir[HS_PATH_MAX];
    hs_path(tenant_dir, sizeof(tenant_dir), "%s/%s", db->root, tenant);
    pthread_mutex_lock(&db->lock);
    hs_db_wait_dropping_locked(db, tenant, name);
    if (hs_db_find_locked(db, tenant, name)) {
        pthread_mutex_unlock(&db->lock);
        hs_error_set(err, HS_EEXIST, "Collection '%s' already exists", name);
        hs_error_name(err, name);
        return hs_error_about(err, HS_EEXIST, HS_FIELD_COLLECTION, HS_REASON_NONE);
    }
    hs_tenant *t = hs_cat_tenant_locked(db, tenant, false);
    uint32_t quota = db->opts.max_collections_per_tenant;
    if (!clock && quota && t && t->collections >= quota) { /* a replicated create is not held */
        pthread_mutex_unlock(&db->lock);
        hs_error_set(err, HS_EFULL, "Tenant '%s' has %u collections, its quota", tenant, quota);
        hs_error_name(err, tenant);
        hs_error_range(err, HS_EFULL, HS_FIELD_TENANT, quota + 1ull, quota + 1ull, 0, quota);
        return hs_error_about(err, HS_EFULL, HS_FIELD_TENANT, HS_REASON_TOO_MANY);
    }
    centry *e = calloc(1, sizeof(*e));
    if (!e) {
        pthread_mutex_unlock(&db->lock);
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    }
    snprintf(e->tenant, sizeof(e->tenant), "%s", tenant);
    snprintf(e->name, sizeof(e->name), "%s", name);
    /* new collections go into a bucket directory of their tenant (256 of them), so that no
     * directory holds more than a few hundred entries at 100,000 collections */
    char bucket[4], bucket_dir[HS_PATH_MAX];
    hs_bucket_of(name, bucket);
    hs_path(bucket_dir, sizeof(bucket_dir), "%s/%s", tenant_dir, bucket);
    char cdir[HS_PATH_MAX];
    hs_path(cdir, sizeof(cdir), "%s/%s", bucket_dir, name);
    e->config = c;
    e->hash = hs_cat_hash(db, tenant, name); /* what the tick names it by */
    /* the entry is in the catalog (the name and the quota are taken) while its files are made
     * without db->lock: other operations on it wait for CE_CREATING to end */
    e->state = CE_CREATING;
    if (clock) {
        e->created_clock = clock;
        if (hs_centry_set(&e->dir, cdir) != HS_OK)
            rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
        else
            rc = hs_db_clock_merge(db, e, HS_TICK_CREATE, clock, 1, err);
    } else if (hs_centry_set(&e->dir, cdir) != HS_OK) {
        rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
    } else {
        rc = hs_db_tick(db, e, HS_TICK_CREATE, 1, &e->created_clock, err);
    }
    if (rc != HS_OK || hs_cat_insert_locked(db, e) != HS_OK) {
        pthread_mutex_unlock(&db->lock);
        if (rc == HS_OK)
            hs_db_tick_done(db, e->created_clock, false);
        hs_centry_free(e);
        return rc != HS_OK ? rc : hs_error_set(err, HS_ENOMEM, "Out of memory");
    }
    e->cold_clock = e->created_clock;
    pthread_mutex_unlock(&db->lock);
    rc = make_dirs(db, tenant_dir, bucket_dir, err);
    if (rc == HS_OK)
        rc = create_files(db, e, bucket_dir, err);
    pthread_mutex_lock(&db->lock);
    if (rc != HS_OK) {
        hs_cat_remove_locked(db, e);
        e->state = CE_DROPPED;
        pthread_cond_broadcast(&db->cond);
        while (e->refs > 0) /* handles opened meanwhile see DROPPED: not found */
            pthread_cond_wait(&db->cond, &db->lock);
        pthread_mutex_unlock(&db->lock);
        hs_db_tick_done(db, e->created_clock, false);
        hs_centry_free(e);
        return rc;
    }
    e->state = CE_COLD;
    pthread_cond_broadcast(&db->cond);
    hs_db_note_change(db, e, e->created_clock);
    hs_db_tick_done(db, e->created_clock, true);
    /* no CLEAN record yet: its first write then needs no DIRTY (one fsync less on the way to
     * the first insert); the first unload or the close writes one, and after a crash before
     * that the open reads it from its files (a collection.json and one log segment) */
    hs_catlog_fresh_locked(db, e);
    pthread_mutex_unlock(&db->lock);
    hs_log(HS_LOG_INFO, "Created collection '%s' (tenant '%s'): dimension %u", name, tenant,
           c.dimension);
    return HS_OK;
}

static int drop_gated(hs_db *db, const char *tenant, const char *name, const hs_drop_how *how,
                      hs_error *err);

void hs_db_wait_dropping_locked(hs_db *db, const char *tenant, const char *name)
{
    for (;;) {
        const centry *d = db->dropping;
        while (d && (strcmp(d->name, name) || strcmp(d->tenant, tenant)))
            d = d->drop_next;
        if (!d)
            return;
        pthread_cond_wait(&db->cond, &db->lock);
    }
}

/* A drop deletes files a snapshot may be copying, and a snapshot at clock C must hold every
 * collection not dropped by C: drops wait for a snapshot being written. */
int hs_collection_drop(hs_db *db, const char *tenant, const char *name, hs_error *err)
{
    hs_drop_how how = {0, 0, 0, HS_DROP_TICK, NULL};
    return hs_db_drop(db, tenant, name, &how, err);
}

int hs_db_drop(hs_db *db, const char *tenant, const char *name, const hs_drop_how *how,
               hs_error *err)
{
    if (how->dropped)
        *how->dropped = 0;
    int rc = hs_check_names(tenant, name, err);
    if (rc != HS_OK)
        return rc;
    hs_snap_gate_enter(db, false);
    rc = drop_gated(db, tenant, name, how, err);
    hs_snap_gate_leave(db);
    return rc;
}

/* The drop's clock as `how` says: a tick, the leader's (merged) or none (0).  db->lock held. */
static int drop_clock_locked(hs_db *db, const centry *e, const hs_drop_how *how,
                             uint64_t *clock, hs_error *err)
{
    *clock = 0;
    if (how->mode == HS_DROP_TICK)
        return hs_db_tick(db, e, HS_TICK_DROP, 1, clock, err);
    if (how->mode == HS_DROP_MERGE) {
        int rc = hs_db_clock_merge(db, e, HS_TICK_DROP, how->clock, 1, err);
        if (rc == HS_OK)
            *clock = how->clock;
        return rc;
    }
    return HS_OK;
}

static int drop_gated(hs_db *db, const char *tenant, const char *name, const hs_drop_how *how,
                      hs_error *err)
{
    int rc;
    pthread_mutex_lock(&db->lock);
    centry *e = hs_db_find_created_locked(db, tenant, name);
    if (!e) {
        pthread_mutex_unlock(&db->lock);
        return hs_not_found(err, name);
    }
    if ((how->created && e->created_clock != how->created) ||
        (how->below && e->created_clock >= how->below)) {
        pthread_mutex_unlock(&db->lock);
        return HS_OK; /* another incarnation: nothing to drop (*how->dropped stays 0) */
    }
    /* no new handle can find it; wait for loads, unloads and operations in flight (a create
     * of the name waits meanwhile: hs_db_wait_dropping_locked) */
    hs_cat_remove_locked(db, e);
    e->drop_next = db->dropping;
    db->dropping = e;
    while (e->refs > 0 || e->state == CE_LOADING || e->state == CE_UNLOADING)
        pthread_cond_wait(&db->cond, &db->lock);
    db->nfailed -= e->state == CE_FAILED;
    hs_coll *c = e->state == CE_LOADED ? e->coll : NULL;
    if (c)
        db->nloaded--;
    e->state = CE_DROPPED;
    if (c)
        hs_cat_set_loaded_locked(db, e, NULL);
    uint64_t clock = 0;
    rc = drop_clock_locked(db, e, how, &clock, err);
    if (rc == HS_OK && clock) {
        /* nothing writes any more (no handle is open): its last change is final; the note is
         * durable before any reader can see the drop */
        hs_db_note_drop_locked(db, e, c ? c->clock : e->cold_clock, clock);
        hs_db_note_change(db, e, clock);
        hs_db_tick_done(db, clock, true);
    }
    if (how->dropped)
        *how->dropped = 1;
    pthread_mutex_unlock(&db->lock);
    if (c) {
        hs_indexer_forget(c);
        hs_coll_free(c);
    }
    char trash[HS_PATH_MAX], parent[HS_PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", e->dir);
    *strrchr(parent, '/') = 0; /* the tenant's directory or its bucket */
    hs_catlog_gone(db, e);
    hs_path(trash, sizeof(trash), "%s/.trash-%s-%016" PRIx64, parent, name,
            hs_mix64(clock ^ hs_now_ns()));
    int mrc = db->io->rename(db->io->ctx, e->dir, trash);
    if (mrc == 0)
        mrc = db->io->fsync_dir(db->io->ctx, parent);
    /* only now may a create of the name take the directory (and write its catalog record
     * after the drop's) */
    pthread_mutex_lock(&db->lock);
    for (centry **p = &db->dropping; *p; p = &(*p)->drop_next)
        if (*p == e) {
            *p = e->drop_next;
            break;
        }
    pthread_cond_broadcast(&db->cond); /* creates of the name waiting */
    pthread_mutex_unlock(&db->lock);
    if (mrc == 0)
        hs_remove_tree(db->io, trash);
    if (mrc < 0 && rc == HS_OK)
        rc = hs_error_set(err, HS_EIO, "%s: %s", e->dir, strerror(-mrc));
    hs_centry_free(e);
    hs_log(HS_LOG_INFO, "Deleted collection '%s' (tenant '%s')", name, tenant);
    return rc;
}

/* Drops noted in <root>/.drops whose collection is still there (a crash after the note, before
 * the directory went) are finished, without a clock of their own: the note has it. */
static void finish_drops(hs_db *db)
{
    size_t n = HS_DROP_NOTES, k = 0;
    struct hs_drop_note *todo = malloc(n * sizeof(*todo));
    pthread_mutex_lock(&db->lock);
    n = HS_MIN(db->ndrops, n);
    for (size_t i = 0; todo && i < n; i++) {
        const struct hs_drop_note *d = &db->drops[i];
        const centry *e = hs_db_find_locked(db, d->tenant, d->name);
        if (e && e->created_clock == d->created)
            todo[k++] = *d;
    }
    pthread_mutex_unlock(&db->lock);
    for (size_t i = 0; i < k; i++) {
        hs_drop_how how = {todo[i].created, 0, 0, HS_DROP_SILENT, NULL};
        hs_log(HS_LOG_WARN, "collection '%s' (tenant '%s') was deleted at clock %" PRIu64
               " before a crash: its files are removed now", todo[i].name, todo[i].tenant,
               todo[i].dropped);
        hs_db_drop(db, todo[i].tenant, todo[i].name, &how, NULL);
    }
    free(todo);
}

static int list_names(hs_db *db, const char *tenant, bool loaded_only,
                      int (*fn)(void *ctx, const char *tenant, const char *name), void *ctx,
                      hs_error *err)
{
    /* copy the names first: fn may call back into the database */
    pthread_mutex_lock(&db->lock);
    size_t n = 0;
    centry **v = hs_cat_sorted_locked(db, tenant, loaded_only, &n);
    char (*names)[2][HS_NAME_MAX + 1] = v ? malloc((n ? n : 1) * sizeof(*names)) : NULL;
    if (!names) {
        pthread_mutex_unlock(&db->lock);
        free(v);
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(names[i][0], v[i]->tenant, sizeof(v[i]->tenant));
        memcpy(names[i][1], v[i]->name, sizeof(v[i]->name));
    }
    free(v);
    pthread_mutex_unlock(&db->lock);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = fn(ctx, names[i][0], names[i][1]);
    free(names);
    return rc;
}

int hs_collection_list(hs_db *db, const char *tenant,
                       int (*fn)(void *ctx, const char *tenant, const char *name), void *ctx,
                       hs_error *err)
{
    return list_names(db, tenant, false, fn, ctx, err);
}

int hs_collection_list_loaded(hs_db *db,
                              int (*fn)(void *ctx, const char *tenant, const char *name),
                              void *ctx, hs_error *err)
{
    return list_names(db, NULL, true, fn, ctx, err);
}

int hs_collection_stats_get(hs_db *db, const char *tenant, const char *name,
                            hs_collection_stats *st, hs_error *err)
{
    int rc = hs_check_names(tenant, name, err);
    if (rc != HS_OK)
        return rc;
    pthread_mutex_lock(&db->lock);
    centry *e = hs_db_find_created_locked(db, tenant, name);
    if (!e) {
        pthread_mutex_unlock(&db->lock);
        return hs_not_found(err, name);
    }
    e->refs++; /* a handle's reference, without counting as use (nothing is loaded) */
    pthread_mutex_unlock(&db->lock);
    hs_collection h = {db, e};
    rc = hs_coll_stats_of(&h, st);
    pthread_mutex_lock(&db->lock);
    e->refs--;
    pthread_cond_broadcast(&db->cond);
    pthread_mutex_unlock(&db->lock);
    return rc;
}

int hs_collection_id_type(hs_db *db, const char *tenant, const char *name, hs_error *err)
{
    int rc = hs_check_names(tenant, name, err);
    if (rc != HS_OK)
        return rc;
    pthread_mutex_lock(&db->lock);
    centry *e = hs_db_find_created_locked(db, tenant, name);
    int kind = e ? (int)e->config.id_type : 0; /* immutable after create */
    pthread_mutex_unlock(&db->lock);
    return e ? kind : hs_not_found(err, name);
}

void hs_stats_cold_locked(const hs_db *db, const centry *e, hs_collection_stats *st)
{
    st->config = e->config;
    if (!st->config.ef_search)
        st->config.ef_search = db->opts.default_ef_search;
    if (!st->config.ef_construction)
        st->config.ef_construction = db->opts.default_ef_construction;
    if (!(st->config.oversampling > 0))
        st->config.oversampling = hs_oversampling_default(st->config.quantization);
    st->count = e->cold_count;
    st->deleted = e->cold_deleted;
    st->unreachable = -1;
    st->clock = e->cold_clock;
    st->disk_bytes = e->cold_disk;
    st->frozen = __atomic_load_n(&e->frozen, __ATOMIC_ACQUIRE);
    snprintf(st->error, sizeof(st->error), "%s", e->error ? e->error : "");
}

