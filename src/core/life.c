/*
 * life.c: handles, loading on first use, unloading idle collections, the loaded-collection
 * limit (least recently used first) and the background sweeper (spec B7).
 *
 * An entry is COLD (files only), LOADING (one thread loads; others wait on db->cond), LOADED,
 * UNLOADING (one thread checkpoints and frees it; others wait), FAILED (quarantined: only drop
 * works) or DROPPED.  Open handles (refs) pin a loaded collection: only entries with no handle
 * are unloaded.  Loading and unloading run without db->lock.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timing.h"

int hs_collection_open(hs_db *db, const char *tenant, const char *name, hs_collection **out,
                       hs_error *err)
{
    *out = NULL;
    int rc = hs_check_names(tenant, name, err);
    if (rc != HS_OK)
        return rc;
    hs_collection *h = malloc(sizeof(*h));
    if (!h)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    pthread_mutex_lock(&db->lock);
    centry *e = hs_db_find_created_locked(db, tenant, name);
    if (!e) {
        pthread_mutex_unlock(&db->lock);
        free(h);
        return hs_not_found(err, name);
    }
    e->refs++;
    pthread_mutex_unlock(&db->lock);
    h->db = db;
    h->e = e;
    *out = h;
    return HS_OK;
}

static void log_unload(const centry *e, const char *what)
{
    if (!strcmp(e->tenant, "default_admin"))
        hs_log(HS_LOG_INFO, what[0] == 'I' ? "Idling collection '%s' unloaded from memory"
                                           : "Evicting least recently used collection '%s'",
               e->name);
    else
        hs_log(HS_LOG_INFO, what[0] == 'I'
                                ? "Idling collection '%s' unloaded from memory (tenant '%s')"
                                : "Evicting least recently used collection '%s' (tenant '%s')",
               e->name, e->tenant);
}

/* Marks e (LOADED, no handles) UNLOADING: from now on it answers statistics from the catalog
 * and an operation that needs it waits for the unload, then loads it again.  db->lock held. */
static void begin_unload_locked(centry *e)
{
    hs_coll *c = e->coll;
    e->state = CE_UNLOADING;
    /* no handle is open, so nothing writes: the figures served while it unloads are final */
    e->cold_count = c->nlive;
    e->cold_deleted = c->nslots - c->nlive;
    e->cold_clock = c->clock;
}

/* Unloads e (marked by begin_unload_locked): checkpoint, log sync, free.  Called and returns
 * with db->lock held; the lock is released meanwhile. */
static void unload_locked(hs_db *db, centry *e)
{
    hs_coll *c = e->coll;
    pthread_mutex_unlock(&db->lock);
    hs_error err;
    if (hs_coll_checkpoint(c, HS_CKPT_AUTO, &err) != HS_OK)
        hs_log(HS_LOG_ERROR, "collection '%s': checkpoint before unloading failed: %s (the log "
               "keeps the data)", e->name, err.message);
    hs_indexer_forget(c);
    bool clean = hs_coll_wal_sync(c, NULL) == HS_OK && !c->read_only;
    uint64_t count = c->nlive, deleted = c->nslots - c->nlive, clock = c->clock;
    uint64_t disk = hs_segset_disk_bytes(c->vecs) + hs_wal_disk_bytes(c->wal);
    hs_coll_free(c);
    if (db->opts.memory_limit)
        malloc_trim(0); /* the limit is on what the process holds, not what it freed */
    pthread_mutex_lock(&db->lock);
    e->cold_count = count;
    e->cold_deleted = deleted;
    e->cold_clock = clock;
    e->cold_disk = disk;
    hs_cat_set_loaded_locked(db, e, NULL); /* after the figures: they join the tenant's sums */
    e->state = CE_COLD;
    db->nloaded--;
    if (clean)
        hs_catlog_clean_locked(db, e);
    pthread_cond_broadcast(&db->cond);
}

void hs_life_unload_soon_locked(hs_db *db, centry *e)
{
    if (e->state != CE_LOADED || e->refs != 0)
        return;
    begin_unload_locked(e);
    hs_log(HS_LOG_INFO, "Frozen collection '%s' (tenant '%s') unloaded from memory", e->name,
           e->tenant);
    if (!db->sweeper_started || db->closing) {
        unload_locked(db, e);
        return;
    }
    e->evict_next = db->evictions;
    db->evictions = e;
    db->nevictions++;
    pthread_cond_broadcast(&db->cond); /* wakes the sweeper */
}

/* ---- the memory limit (opts.memory_limit) -------------------------------------------------- */

/* Memory of the loaded collections (db->lock held; each collection's read lock is taken, as the
 * lock order allows). */
static uint64_t loaded_memory_locked(hs_db *db)
{
    uint64_t sum = 0;
    for (centry *e = db->loaded; e; e = e->lnext)
        if (e->state == CE_LOADED)
            sum += hs_coll_memory(e->coll);
    return sum;
}

/* What loading e will take, from its catalog figures: per slot the stored record, the level-0
 * list, the id, metadata pointer and live bit; metadata and upper levels are not counted. */
static uint64_t load_estimate(const centry *e)
{
    const hs_collection_config *c = &e->config;
    bool f64 = c->metric == HS_METRIC_POINCARE || c->metric == HS_METRIC_LORENTZ;
    uint64_t rec = HS_ALIGN_UP((uint64_t)c->dimension * (f64 ? 8 : 4), 32) + (f64 ? 8 : 0);
    uint64_t per = rec + 4 * (1 + 2 * (uint64_t)(c->m ? c->m : 16)) + 8 + 8 + 1;
    return (e->cold_count + e->cold_deleted) * per + 64 * 1024;
}

/* Drops the vector pages of the loaded quantized collections from the process (their codes
 * serve traversal; the limit counts them without their vectors): the cheap step before
 * unloading anything.  A collection whose writer lock is busy is skipped.  db->lock held. */
static void release_vectors_locked(hs_db *db)
{
    for (centry *e = db->loaded; e; e = e->lnext)
        if (e->state == CE_LOADED && hs_coll_walks_off_vectors(e->coll) &&
            pthread_mutex_trylock(&e->coll->wlock) == 0) {
            hs_coll_vectors_cold(e->coll);
            pthread_mutex_unlock(&e->coll->wlock);
        }
}

/* The least recently used loaded collection without handles (other than keep), or NULL. */
static centry *lru_victim_locked(hs_db *db, const centry *keep)
{
    centry *lru = NULL;
    for (centry *e = db->loaded; e; e = e->lnext)
        if (e != keep && e->state == CE_LOADED && e->refs == 0 &&
            (!lru || e->last_used_ns < lru->last_used_ns))
            lru = e;
    return lru;
}

static void unload_locked(hs_db *db, centry *e);
static void begin_unload_locked(centry *e);
static void log_unload(const centry *e, const char *what);

/* Before loading e under a memory limit: unloads least recently used collections until e's
 * estimate fits (this request pays for them: the memory must be free before the load), or
 * fails with HS_EFULL when it cannot fit.  db->lock held (released while unloading). */
static int make_room_locked(hs_db *db, centry *e, hs_error *err)
{
    uint64_t limit = db->opts.memory_limit, need = load_estimate(e);
    if (!limit)
        return HS_OK;
    uint64_t used = loaded_memory_locked(db);
    if (used + need > limit)
        release_vectors_locked(db);
    while (used + need > limit) {
        centry *v = lru_victim_locked(db, e);
        if (!v || need > limit) {
            hs_error_set(err, HS_EFULL, "Collection '%s' needs about %.1f MiB of memory and %.1f "
                         "MiB are in use by collections that cannot be unloaded now; the memory "
                         "limit is %.1f MiB", e->name, (double)need / 1048576,
                         (double)used / 1048576, (double)limit / 1048576);
            hs_error_name(err, e->name);
            hs_error_range(err, HS_EFULL, HS_FIELD_COLLECTION, need, (double)need, 0,
                           (double)limit);
            if (err)
                err->actual = used;
            return hs_error_about(err, HS_EFULL, HS_FIELD_COLLECTION, HS_REASON_TOO_MANY);
        }
        begin_unload_locked(v);
        log_unload(v, "Evicting");
        __atomic_fetch_add(&db->counters.evictions_memory, 1, __ATOMIC_RELAXED);
        unload_locked(db, v);
        used = loaded_memory_locked(db);
    }
    return HS_OK;
}

/* Keeps at most max_loaded collections loaded: the least recently used idle ones are marked
 * UNLOADING at once and handed to the sweeper, which checkpoints and frees them (without a
 * sweeper thread they are unloaded here).  Called with db->lock held. */
static void enforce_limit_locked(hs_db *db, const centry *keep)
{
    /* the memory limit: a collection that grew past its estimate (or by writes) pushes the
     * least recently used others out (unloaded here: the memory must come back now) */
    if (db->opts.memory_limit && loaded_memory_locked(db) > db->opts.memory_limit)
        release_vectors_locked(db);
    while (db->opts.memory_limit && loaded_memory_locked(db) > db->opts.memory_limit) {
        centry *v = lru_victim_locked(db, keep);
        if (!v)
            break;
        begin_unload_locked(v);
        log_unload(v, "Evicting");
        __atomic_fetch_add(&db->counters.evictions_memory, 1, __ATOMIC_RELAXED);
        unload_locked(db, v);
    }
    while (db->opts.max_loaded && db->nloaded - db->nevictions > db->opts.max_loaded) {
        centry *lru = NULL;
        for (centry *e = db->loaded; e; e = e->lnext)
            if (e != keep && e->state == CE_LOADED && e->refs == 0 &&
                (!lru || e->last_used_ns < lru->last_used_ns))
                lru = e;
        if (!lru)
            return; /* every loaded collection is in use: the limit is restored later */
        begin_unload_locked(lru);
        log_unload(lru, "Evicting");
        __atomic_fetch_add(&db->counters.evictions_lru, 1, __ATOMIC_RELAXED);
        if (!db->sweeper_started || db->closing) {
            unload_locked(db, lru);
            continue;
        }
        lru->evict_next = db->evictions;
        db->evictions = lru;
        db->nevictions++;
        pthread_cond_broadcast(&db->cond); /* wakes the sweeper */
    }
}

/* Unloads the victims enforce_limit_locked handed over.  db->lock held (released meanwhile). */
static void drain_evictions_locked(hs_db *db)
{
    while (db->evictions) {
        centry *e = db->evictions;
        db->evictions = e->evict_next;
        e->evict_next = NULL;
        unload_locked(db, e);
        db->nevictions--; /* after nloaded went down: the limit arithmetic never undercounts */
    }
}

void hs_collection_close(hs_collection *h)
{
    if (!h)
        return;
    hs_db *db = h->db;
    pthread_mutex_lock(&db->lock);
    h->e->refs--;
    h->e->last_used_ns = hs_now_ns();
    pthread_cond_broadcast(&db->cond);
    if (h->e->state != CE_DROPPED)
        enforce_limit_locked(db, NULL);
    pthread_mutex_unlock(&db->lock);
    free(h);
}

static void log_wake(const centry *e)
{
    if (!strcmp(e->tenant, "default_admin"))
        hs_log(HS_LOG_INFO, "Waking up cold collection: '%s'", e->name);
    else
        hs_log(HS_LOG_INFO, "Waking up cold collection: '%s' (tenant '%s')", e->name, e->tenant);
}

int hs_coll_acquire(hs_collection *h, hs_coll **out, hs_error *err)
{
    hs_db *db = h->db;
    centry *e = h->e;
    pthread_mutex_lock(&db->lock);
    for (;;) {
        switch (e->state) {
        case CE_LOADED:
            e->last_used_ns = hs_now_ns();
            *out = e->coll;
            pthread_mutex_unlock(&db->lock);
            return HS_OK;
        case CE_FAILED: {
            hs_error_set(err, HS_ELOAD, "Collection '%s' failed to load: %s", e->name,
                         e->error ? e->error : "");
            hs_error_name(err, e->name);
            if (err)
                snprintf(err->cause, sizeof(err->cause), "%s", e->error ? e->error : "");
            int rc = hs_error_about(err, HS_ELOAD, HS_FIELD_COLLECTION, HS_REASON_NONE);
            pthread_mutex_unlock(&db->lock);
            return rc;
        }
        case CE_DROPPED:
            pthread_mutex_unlock(&db->lock);
            return hs_not_found(err, e->name);
        case CE_CREATING:
        case CE_LOADING:
        case CE_UNLOADING:
            pthread_cond_wait(&db->cond, &db->lock);
            continue;
        case CE_COLD:
            break;
        }
        int mrc = make_room_locked(db, e, err);
        if (mrc != HS_OK) {
            pthread_mutex_unlock(&db->lock);
            return mrc;
        }
        if (e->state != CE_COLD)
            continue; /* changed while the lock was released */
        e->state = CE_LOADING;
        pthread_mutex_unlock(&db->lock);
        log_wake(e);
        hs_coll *c = NULL;
        hs_error lerr;
        uint64_t t0 = hs_now_ns();
        int rc = hs_coll_load(db, e, &c, &lerr);
        if (rc == HS_OK)
            hs_timing_report(HS_TIMING_LOAD, (double)(hs_now_ns() - t0) / 1e9);
        pthread_mutex_lock(&db->lock);
        if (rc != HS_OK) {
            e->state = CE_FAILED;
            db->nfailed++;
            hs_centry_set(&e->error, lerr.message);
            hs_log(HS_LOG_ERROR, "Collection '%s' failed to load: %s", e->name, lerr.message);
        } else {
            e->state = CE_LOADED;
            __atomic_fetch_add(&db->counters.loads, 1, __ATOMIC_RELAXED);
            hs_cat_set_loaded_locked(db, e, c);
            db->nloaded++;
            if (c->nslots > c->index_next)
                hs_indexer_kick(c);
        }
        pthread_cond_broadcast(&db->cond);
        if (rc == HS_OK)
            enforce_limit_locked(db, e);
    }
}

/* ---- the sweeper --------------------------------------------------------------------------- */

static void sweep_once(hs_db *db)
{
    uint64_t idle = (uint64_t)db->opts.idle_timeout_sec * 1000000000ull;
    uint64_t snap = (uint64_t)db->opts.snapshot_interval_sec * 1000000000ull;
    pthread_mutex_lock(&db->lock);
    bool again = true;
    while (again && !db->closing) {
        again = false;
        /* read under the lock: a handle closed since an earlier reading would have a
         * last_used_ns after `now`, and the unsigned difference would look like an eternity */
        uint64_t now = hs_now_ns();
        for (centry *e = db->loaded; e; e = e->lnext) {
            if (e->state != CE_LOADED)
                continue;
            hs_coll *c = e->coll;
            if (idle && e->refs == 0 && now >= e->last_used_ns &&
                now - e->last_used_ns >= idle) {
                begin_unload_locked(e);
                log_unload(e, "Idling");
                __atomic_fetch_add(&db->counters.evictions_idle, 1, __ATOMIC_RELAXED);
                unload_locked(db, e);
                again = true; /* the list may have changed while unlocked */
                break;
            }
            /* dirty and last_ckpt_ns are atomics: their locks (wlock, ckpt_mu) are not taken
             * under db->lock here */
            uint64_t last = __atomic_load_n(&c->last_ckpt_ns, __ATOMIC_RELAXED);
            if (snap && __atomic_load_n(&c->dirty, __ATOMIC_RELAXED) && now >= last &&
                now - last >= snap) {
                e->refs++; /* pin it; the checkpoint does not count as use */
                /* the next attempt is one interval away even when this one fails (a read-only
                 * collection stays dirty: it would be picked again at once, for ever) */
                __atomic_store_n(&c->last_ckpt_ns, now, __ATOMIC_RELAXED);
                pthread_mutex_unlock(&db->lock);
                hs_coll_checkpoint(c, HS_CKPT_AUTO, NULL);
                pthread_mutex_lock(&db->lock);
                e->refs--;
                pthread_cond_broadcast(&db->cond);
                again = true;
                break;
            }
        }
    }
    pthread_mutex_unlock(&db->lock);
}

static void *sweeper(void *arg)
{
    hs_db *db = arg;
    uint32_t period = 10;
    if (db->opts.idle_timeout_sec && db->opts.idle_timeout_sec < period)
        period = db->opts.idle_timeout_sec;
    if (db->opts.snapshot_interval_sec && db->opts.snapshot_interval_sec < period)
        period = db->opts.snapshot_interval_sec;
    pthread_mutex_lock(&db->lock);
    while (!db->closing) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += period;
        if (!db->evictions)
            pthread_cond_timedwait(&db->cond, &db->lock, &ts);
        drain_evictions_locked(db);
        if (db->closing)
            break;
        pthread_mutex_unlock(&db->lock);
        sweep_once(db);
        hs_catlog_compact(db);
        pthread_mutex_lock(&db->lock);
    }
    pthread_mutex_unlock(&db->lock);
    return NULL;
}

int hs_life_start(hs_db *db, hs_error *err)
{
    if (pthread_create(&db->sweeper, NULL, sweeper, db) != 0)
        return hs_error_set(err, HS_EINTERNAL, "cannot start the sweeper thread");
    db->sweeper_started = true;
    return HS_OK;
}

void hs_life_stop(hs_db *db)
{
    pthread_mutex_lock(&db->lock);
    db->closing = true;
    pthread_cond_broadcast(&db->cond);
    pthread_mutex_unlock(&db->lock);
    if (db->sweeper_started)
        pthread_join(db->sweeper, NULL);
    pthread_mutex_lock(&db->lock);
    drain_evictions_locked(db); /* handed over after the sweeper's last round */
    pthread_mutex_unlock(&db->lock);
    db->sweeper_started = false;
}

int hs_life_unload_all(hs_db *db, hs_error *err)
{
    int first = HS_OK;
    pthread_mutex_lock(&db->lock);
    for (centry *e = db->entries; e; e = e->next)
        while (e->state == CE_LOADING || e->state == CE_UNLOADING)
            pthread_cond_wait(&db->cond, &db->lock);
    for (;;) {
        centry *e = db->loaded;
        while (e && e->state != CE_LOADED)
            e = e->lnext;
        if (!e)
            break;
        e->state = CE_UNLOADING;
        hs_coll *c = e->coll;
        pthread_mutex_unlock(&db->lock);
        hs_error cerr;
        int rc = hs_coll_checkpoint(c, HS_CKPT_AUTO, &cerr);
        if (rc != HS_OK && first == HS_OK) {
            first = rc;
            if (err)
                *err = cerr;
        }
        hs_indexer_forget(c);
        bool clean = hs_coll_wal_sync(c, NULL) == HS_OK && !c->read_only;
        uint64_t count = c->nlive, deleted = c->nslots - c->nlive, clock = c->clock;
        uint64_t disk = hs_segset_disk_bytes(c->vecs) + hs_wal_disk_bytes(c->wal);
        hs_coll_free(c);
        pthread_mutex_lock(&db->lock);
        e->cold_count = count;
        e->cold_deleted = deleted;
        e->cold_clock = clock;
        e->cold_disk = disk;
        hs_cat_set_loaded_locked(db, e, NULL);
        e->state = CE_COLD;
        db->nloaded--;
        if (clean)
            hs_catlog_clean_locked(db, e);
    }
    pthread_mutex_unlock(&db->lock);
    return first;
}

/* Calls fn(c, ctx) on every loaded collection, each pinned by a reference while fn runs (so it
 * is neither unloaded nor dropped meanwhile).  The names are copied first and each entry is
 * looked up again: while one is pinned and unlocked it may be unlinked by a drop, and its
 * `next` must not be followed afterwards.  Returns HS_ENOMEM when the names cannot be copied. */
static int each_loaded(hs_db *db, void (*fn)(hs_coll *c, void *ctx), void *ctx)
{
    pthread_mutex_lock(&db->lock);
    size_t n = 0;
    for (centry *e = db->loaded; e; e = e->lnext)
        n += e->state == CE_LOADED;
    char (*names)[2][HS_NAME_MAX + 1] = malloc((n ? n : 1) * sizeof(*names));
    if (!names) {
        pthread_mutex_unlock(&db->lock);
        return HS_ENOMEM;
    }
    size_t i = 0;
    for (centry *e = db->loaded; e; e = e->lnext) {
        if (e->state != CE_LOADED)
            continue;
        memcpy(names[i][0], e->tenant, sizeof(e->tenant));
        memcpy(names[i][1], e->name, sizeof(e->name));
        i++;
    }
    for (i = 0; i < n; i++) {
        centry *e = hs_db_find_locked(db, names[i][0], names[i][1]);
        if (!e || e->state != CE_LOADED)
            continue;
        e->refs++;
        hs_coll *c = e->coll;
        pthread_mutex_unlock(&db->lock);
        fn(c, ctx);
        pthread_mutex_lock(&db->lock);
        e->refs--;
        pthread_cond_broadcast(&db->cond);
    }
    pthread_mutex_unlock(&db->lock);
    free(names);
    return HS_OK;
}

typedef struct sweep_result {
    int first;
    hs_error *err;
    size_t done;
    uint64_t entries;
} sweep_result;

static void note_result(sweep_result *r, int rc, const hs_error *cerr)
{
    if (rc != HS_OK && r->first == HS_OK) {
        r->first = rc;
        if (r->err)
            *r->err = *cerr;
    }
}

static void checkpoint_one(hs_coll *c, void *ctx)
{
    sweep_result *r = ctx;
    hs_error cerr;
    int rc = hs_coll_checkpoint(c, HS_CKPT_DIRTY, &cerr);
    if (rc == HS_OK)
        rc = hs_coll_wal_sync(c, &cerr);
    note_result(r, rc, &cerr);
    r->done += rc == HS_OK;
}

int hs_db_checkpoint(hs_db *db, size_t *collections, hs_error *err)
{
    sweep_result r = {HS_OK, err, 0, 0};
    int rc = each_loaded(db, checkpoint_one, &r);
    if (collections)
        *collections = r.done;
    if (rc != HS_OK)
        return hs_error_set(err, rc, "Out of memory");
    return r.first;
}

static void vacuum_one(hs_coll *c, void *ctx)
{
    sweep_result *r = ctx;
    if (__atomic_load_n(&c->e->frozen, __ATOMIC_ACQUIRE))
        return; /* a frozen collection is not changed, compaction included */
    pthread_mutex_lock(&c->wlock);
    uint64_t dead = c->nslots - c->nlive;
    pthread_mutex_unlock(&c->wlock);
    hs_error cerr;
    int rc = dead ? hs_coll_rebuild(c, &cerr) : HS_OK;
    note_result(r, rc, &cerr);
    if (rc == HS_OK && dead) {
        r->done++;
        r->entries += dead;
    }
}

int hs_db_vacuum(hs_db *db, size_t *collections, uint64_t *reclaimed, hs_error *err)
{
    sweep_result r = {HS_OK, err, 0, 0};
    int rc = each_loaded(db, vacuum_one, &r);
    uint64_t freed = 0;
    hs_db_release_memory(db, &freed);
    hs_log(HS_LOG_INFO, "Vacuum: %zu collections compacted, %llu entries reclaimed, %llu bytes "
           "returned to the OS", r.done, (unsigned long long)r.entries, (unsigned long long)freed);
    *collections = r.done;
    *reclaimed = r.entries;
    if (rc != HS_OK)
        return hs_error_set(err, rc, "Out of memory");
    return r.first;
}

void hs_db_totals(hs_db *db, uint64_t *collections, uint64_t *points, uint64_t *loaded,
                  uint64_t *failed)
{
    uint64_t n = 0, p = 0, l = 0, f = 0;
    pthread_mutex_lock(&db->lock);
    n = db->nentries;
    f = db->nfailed;
    for (const hs_tenant *t = db->tenants; t; t = t->next)
        p += t->cold_points;
    for (centry *e = db->loaded; e; e = e->lnext) {
        if (e->state != CE_LOADED) {
            p += e->cold_count; /* UNLOADING: its figures are final */
            continue;
        }
        l++;
        pthread_rwlock_rdlock(&e->coll->rw);
        p += e->coll->nlive;
        pthread_rwlock_unlock(&e->coll->rw);
    }
    pthread_mutex_unlock(&db->lock);
    *collections = n;
    *points = p;
    *loaded = l;
    *failed = f;
}

const char *hs_db_node_id(hs_db *db) { return db->node_id; }

void hs_db_counters_get(hs_db *db, hs_db_counters *out)
{
    out->loads = __atomic_load_n(&db->counters.loads, __ATOMIC_RELAXED);
    out->evictions_idle = __atomic_load_n(&db->counters.evictions_idle, __ATOMIC_RELAXED);
    out->evictions_lru = __atomic_load_n(&db->counters.evictions_lru, __ATOMIC_RELAXED);
    out->evictions_memory = __atomic_load_n(&db->counters.evictions_memory, __ATOMIC_RELAXED);
    out->snapshots_ok = __atomic_load_n(&db->counters.snapshots_ok, __ATOMIC_RELAXED);
    out->snapshots_failed = __atomic_load_n(&db->counters.snapshots_failed, __ATOMIC_RELAXED);
    out->wal_fsyncs = __atomic_load_n(&hs_wal_counters.fsyncs, __ATOMIC_RELAXED);
    out->wal_fsync_failures = __atomic_load_n(&hs_wal_counters.fsync_failures, __ATOMIC_RELAXED);
}
