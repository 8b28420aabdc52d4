/*
 * freeze.c: freezing and unfreezing a collection (hs_collection_freeze).
 *
 * The state is a member of collection.json ("frozen": true, written only when set) and a flag of
 * the catalog file's CLEAN record (docs/file-format.md); in memory it is the catalog entry's
 * `frozen`, an atomic.  Every change of a collection checks it under the collection's writer
 * lock (write.c, payload.c, rebuild.c), and once before loading, so that a frozen collection
 * that is not loaded is refused without being loaded.
 *
 * A loaded collection is frozen under its writer lock once the writes queued for their fsync
 * have been applied: every write logged before the freeze is applied, every later one is
 * refused.  It is then unloaded (by the sweeper) when no handle holds it.  A collection that is
 * not loaded is frozen on its files without being loaded: its entry is held in the LOADING state
 * meanwhile (loads, unloads, drops and other freezes wait), the catalog file gets a durable
 * DIRTY first and a CLEAN with the new flag once collection.json has been replaced.  A
 * collection.json of format 1 (no manifest) is upgraded by a load, so such a collection is
 * loaded first.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/error.h"
#include "util/log.h"

/* The members of e that collection.json holds, into a scratch entry. */
static void persisted_copy(centry *dst, const centry *e, const hs_collection_config *cfg,
                           bool frozen)
{
    memset(dst, 0, sizeof(*dst));
    memcpy(dst->tenant, e->tenant, sizeof(dst->tenant));
    memcpy(dst->name, e->name, sizeof(dst->name));
    dst->config = *cfg;
    dst->created_clock = e->created_clock;
    dst->format = e->format;
    dst->frozen = frozen;
}

/* A cold entry (held LOADING by the caller, db->lock not held): rewrites collection.json. */
static int freeze_cold(hs_db *db, centry *e, bool want, hs_error *err)
{
    int rc = hs_catlog_dirty(db, e, err);
    bool flat = e->format == HS_CONFIG_FORMAT_FLAT;
    hs_manifest man;
    memset(&man, 0, sizeof(man));
    if (rc == HS_OK && flat) {
        centry tmp; /* the parameters are the catalog's; only the manifest is read here */
        memset(&tmp, 0, sizeof(tmp));
        rc = hs_config_read_m(db, e->dir, &tmp, &man, err);
    }
    if (rc == HS_OK) {
        centry upd;
        persisted_copy(&upd, e, &e->config, want);
        rc = hs_config_write_m(db, e->dir, &upd, flat ? &man : NULL, err);
    }
    hs_manifest_destroy(&man);
    return rc;
}

/* A loaded collection: under its writer lock, after the queued writes. */
static int freeze_loaded(hs_coll *c, bool want, bool *changed, hs_error *err)
{
    pthread_mutex_lock(&c->wlock);
    hs_coll_drain_locked(c);
    int rc = c->read_only ? hs_coll_read_only(c, err) : HS_OK;
    if (rc == HS_OK && __atomic_load_n(&c->e->frozen, __ATOMIC_ACQUIRE) != want) {
        *changed = true;
        rc = hs_coll_mark_changed(c, err);
        if (rc == HS_OK) {
            pthread_mutex_lock(&c->db->lock);
            hs_collection_config cfg = c->e->config;
            pthread_mutex_unlock(&c->db->lock);
            centry upd;
            persisted_copy(&upd, c->e, &cfg, want);
            rc = hs_coll_config_write(c, &upd, err);
        }
    }
    pthread_mutex_unlock(&c->wlock);
    return rc;
}

/* Freezes or unfreezes the entry of h without loading it, when it is cold (and not of format
 * 1).  *done says whether it was; db->lock held on entry and on return. */
static int try_cold_locked(hs_db *db, centry *e, bool want, bool *done, bool *changed,
                           hs_error *err)
{
    *done = false;
    while (e->state == CE_LOADING || e->state == CE_UNLOADING || e->state == CE_CREATING)
        pthread_cond_wait(&db->cond, &db->lock);
    if (e->state != CE_COLD || e->format < HS_CONFIG_FORMAT)
        return HS_OK;
    *done = true;
    if (__atomic_load_n(&e->frozen, __ATOMIC_ACQUIRE) == want)
        return HS_OK;
    *changed = true;
    e->state = CE_LOADING; /* held: nothing else reads or writes its files meanwhile */
    pthread_mutex_lock(&db->cat_mu);
    bool vouched = e->cat_clean || e->cat_fresh; /* the catalog's figures are its files' */
    pthread_mutex_unlock(&db->cat_mu);
    pthread_mutex_unlock(&db->lock);
    int rc = freeze_cold(db, e, want, err);
    pthread_mutex_lock(&db->lock);
    if (rc == HS_OK)
        __atomic_store_n(&e->frozen, want, __ATOMIC_RELEASE);
    e->state = CE_COLD;
    if (rc == HS_OK && vouched)
        hs_catlog_clean_locked(db, e);
    pthread_cond_broadcast(&db->cond);
    return rc;
}

int hs_collection_freeze(hs_db *db, const char *tenant, const char *name, int frozen,
                         hs_error *err)
{
    bool want = frozen != 0;
    hs_collection *h;
    int rc = hs_collection_open(db, tenant, name, &h, err);
    if (rc != HS_OK)
        return rc;
    bool done, changed = false;
    pthread_mutex_lock(&db->lock);
    rc = try_cold_locked(db, h->e, want, &done, &changed, err);
    pthread_mutex_unlock(&db->lock);
    if (!done) {
        hs_coll *c;
        rc = hs_coll_acquire(h, &c, err);
        if (rc == HS_OK)
            rc = freeze_loaded(c, want, &changed, err);
    }
    hs_collection_close(h);
    if (rc == HS_OK && changed)
        hs_log(HS_LOG_INFO, "Collection '%s' (tenant '%s') %s", name, tenant,
               want ? "frozen" : "unfrozen");
    if (rc != HS_OK || !want)
        return rc;
    /* the handle is closed: the entry is looked up again (a drop may have freed it) */
    pthread_mutex_lock(&db->lock);
    centry *e = hs_db_find_locked(db, tenant, name);
    if (e && __atomic_load_n(&e->frozen, __ATOMIC_ACQUIRE))
        hs_life_unload_soon_locked(db, e);
    pthread_mutex_unlock(&db->lock);
    return HS_OK;
}
