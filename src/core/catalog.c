/*
 * catalog.c: the in-memory catalog of collections, sized for 100,000+ entries per node.
 *
 *   - a hash table on (tenant, name) for every lookup (requests, handles, drops);
 *   - an unordered doubly linked list of every entry (iteration; removal in O(1));
 *   - the list of loaded entries (e->coll set), the only ones the LRU limit and the sweeper
 *     look at, so neither walks the cold majority;
 *   - one record per tenant with its collection count and the figures of its cold collections
 *     (points, deleted, disk bytes), kept as entries change state, so a usage report adds the
 *     loaded collections (at most the loaded limit) to those sums instead of visiting every
 *     collection.
 *
 * Locking: everything here is guarded by db->lock (callers hold it: the `_locked` functions).
 * The hash is SipHash-1-3 under a key drawn at open, so names cannot be chosen to collide.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/error.h"
#include "util/siphash.h"
#include "util/timing.h"

static uint64_t entry_hash(const hs_db *db, const char *tenant, const char *name)
{
    char buf[2 * (HS_NAME_MAX + 1)];
    size_t t = strlen(tenant), n = strlen(name);
    memcpy(buf, tenant, t);
    buf[t] = '/'; /* '/' is in no name */
    memcpy(buf + t + 1, name, n);
    return hs_siphash13(db->hkey[0], db->hkey[1], buf, t + 1 + n);
}

int hs_cat_init(hs_db *db)
{
    db->hkey[0] = hs_mix64(hs_now_ns() ^ (uint64_t)(uintptr_t)db);
    db->hkey[1] = hs_mix64(db->hkey[0] + 0x9e3779b97f4a7c15ull);
    db->hcap = 1024;
    db->htab = calloc(db->hcap, sizeof(*db->htab));
    return db->htab ? HS_OK : HS_ENOMEM;
}

void hs_cat_free(hs_db *db)
{
    while (db->entries) {
        centry *n = db->entries->next;
        hs_centry_free(db->entries);
        db->entries = n;
    }
    while (db->tenants) {
        hs_tenant *n = db->tenants->next;
        free(db->tenants);
        db->tenants = n;
    }
    free(db->htab);
    db->htab = NULL;
    if (db->cat_fd >= 0)
        db->io->close(db->io->ctx, db->cat_fd);
    db->cat_fd = -1;
}

void hs_centry_free(centry *e)
{
    if (!e)
        return;
    free(e->dir);
    free(e->error);
    free(e);
}

int hs_centry_set(char **field, const char *s)
{
    char *n = strdup(s);
    if (!n)
        return HS_ENOMEM;
    free(*field);
    *field = n;
    return HS_OK;
}

centry *hs_db_find_locked(hs_db *db, const char *tenant, const char *name)
{
    uint64_t h = entry_hash(db, tenant, name);
    for (centry *e = db->htab[h & (db->hcap - 1)]; e; e = e->hnext)
        if (e->hash == h && !strcmp(e->name, name) && !strcmp(e->tenant, tenant))
            return e;
    return NULL;
}

uint64_t hs_cat_hash(const hs_db *db, const char *tenant, const char *name)
{
    return entry_hash(db, tenant, name);
}

centry *hs_cat_find_inc_locked(hs_db *db, uint64_t hash, uint64_t created)
{
    for (centry *e = db->htab[hash & (db->hcap - 1)]; e; e = e->hnext)
        if (e->hash == hash && e->created_clock == created)
            return e;
    return NULL;
}

centry *hs_db_find_created_locked(hs_db *db, const char *tenant, const char *name)
{
    centry *e;
    while ((e = hs_db_find_locked(db, tenant, name)) && e->state == CE_CREATING)
        pthread_cond_wait(&db->cond, &db->lock);
    return e;
}

/* Doubles the table when it holds more entries than buckets; a failed allocation keeps the old
 * one (longer chains, still correct). */
static void grow_locked(hs_db *db)
{
    if (db->nentries <= db->hcap)
        return;
    size_t cap = db->hcap * 2;
    centry **t = calloc(cap, sizeof(*t));
    if (!t)
        return;
    for (centry *e = db->entries; e; e = e->next) {
        e->hnext = t[e->hash & (cap - 1)];
        t[e->hash & (cap - 1)] = e;
    }
    free(db->htab);
    db->htab = t;
    db->hcap = cap;
}

hs_tenant *hs_cat_tenant_locked(hs_db *db, const char *tenant, bool create)
{
    for (hs_tenant *t = db->tenants; t; t = t->next)
        if (!strcmp(t->name, tenant))
            return t;
    if (!create)
        return NULL;
    hs_tenant *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    memcpy(t->name, tenant, strlen(tenant) + 1);
    t->next = db->tenants;
    db->tenants = t;
    return t;
}

int hs_cat_insert_locked(hs_db *db, centry *e)
{
    hs_tenant *t = hs_cat_tenant_locked(db, e->tenant, true);
    if (!t)
        return HS_ENOMEM;
    e->t = t;
    t->collections++;
    e->hash = entry_hash(db, e->tenant, e->name);
    e->prev = NULL;
    e->next = db->entries;
    if (db->entries)
        db->entries->prev = e;
    db->entries = e;
    db->nentries++;
    size_t b = e->hash & (db->hcap - 1);
    e->hnext = db->htab[b];
    db->htab[b] = e;
    hs_cat_cold_add_locked(e, 1);
    grow_locked(db);
    return HS_OK;
}

void hs_cat_remove_locked(hs_db *db, centry *e)
{
    for (centry **p = &db->htab[e->hash & (db->hcap - 1)]; *p; p = &(*p)->hnext)
        if (*p == e) {
            *p = e->hnext;
            break;
        }
    if (e->prev)
        e->prev->next = e->next;
    else
        db->entries = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->next = e->prev = e->hnext = NULL;
    db->nentries--;
    if (!e->coll)
        hs_cat_cold_add_locked(e, -1);
    e->t->collections--;
    e->t = NULL; /* its later state changes (a drop waits for loads) no longer count */
}

void hs_cat_cold_add_locked(centry *e, int sign)
{
    hs_tenant *t = e->t;
    if (!t)
        return;
    if (sign > 0) {
        t->cold_points += e->cold_count;
        t->cold_deleted += e->cold_deleted;
        t->cold_disk += e->cold_disk;
    } else {
        t->cold_points -= e->cold_count;
        t->cold_deleted -= e->cold_deleted;
        t->cold_disk -= e->cold_disk;
    }
}

void hs_cat_set_loaded_locked(hs_db *db, centry *e, hs_coll *c)
{
    if (c && !e->coll) {
        hs_cat_cold_add_locked(e, -1);
        e->lprev = NULL;
        e->lnext = db->loaded;
        if (db->loaded)
            db->loaded->lprev = e;
        db->loaded = e;
    } else if (!c && e->coll) {
        if (e->lprev)
            e->lprev->lnext = e->lnext;
        else
            db->loaded = e->lnext;
        if (e->lnext)
            e->lnext->lprev = e->lprev;
        e->lprev = e->lnext = NULL;
        hs_cat_cold_add_locked(e, 1);
    }
    e->coll = c;
}

void hs_cat_set_cold_locked(centry *e, uint64_t count, uint64_t deleted, uint64_t disk)
{
    bool counted = !e->coll && e->t; /* a cold entry's figures are in its tenant's sums */
    if (counted)
        hs_cat_cold_add_locked(e, -1);
    e->cold_count = count;
    e->cold_deleted = deleted;
    e->cold_disk = disk;
    if (counted)
        hs_cat_cold_add_locked(e, 1);
}

static int cmp_entry(const void *a, const void *b)
{
    const centry *x = *(centry *const *)a, *y = *(centry *const *)b;
    int t = strcmp(x->tenant, y->tenant);
    return t ? t : strcmp(x->name, y->name);
}

centry **hs_cat_sorted_locked(hs_db *db, const char *tenant, bool loaded_only, size_t *n)
{
    size_t k = 0;
    if (loaded_only) {
        for (centry *e = db->loaded; e; e = e->lnext)
            k += e->state == CE_LOADED;
        centry **v = malloc((k ? k : 1) * sizeof(*v));
        if (!v)
            return NULL;
        size_t i = 0;
        for (centry *e = db->loaded; e && i < k; e = e->lnext)
            if (e->state == CE_LOADED)
                v[i++] = e;
        qsort(v, i, sizeof(*v), cmp_entry);
        *n = i;
        return v;
    }
    if (tenant) {
        hs_tenant *t = hs_cat_tenant_locked(db, tenant, false);
        k = t ? t->collections : 0;
    } else {
        k = db->nentries;
    }
    centry **v = malloc((k ? k : 1) * sizeof(*v));
    if (!v)
        return NULL;
    size_t i = 0;
    for (centry *e = db->entries; e && i < k; e = e->next)
        if ((!tenant || !strcmp(e->tenant, tenant)) && e->state != CE_CREATING)
            v[i++] = e;
    qsort(v, i, sizeof(*v), cmp_entry);
    *n = i;
    return v;
}

static int cmp_usage(const void *a, const void *b)
{
    return strcmp(((const hs_tenant_usage *)a)->tenant, ((const hs_tenant_usage *)b)->tenant);
}

/* Adds the figures of the loaded collections of the tenants in u[0..n) to their sums.  Called
 * with db->lock held; each collection is pinned by a reference and read without db->lock (its
 * statistics take its writer lock, which may be held across an fsync), so the lock is released
 * meanwhile.  A collection that was unloaded in between has been added to the copied sums
 * already or not, depending on timing: the report is a consistent sum only in a quiet moment,
 * like any report taken while writes go on. */
static void add_loaded_locked(hs_db *db, hs_tenant_usage *u, size_t n)
{
    size_t k = 0;
    for (centry *e = db->loaded; e; e = e->lnext)
        k++;
    centry **pin = malloc((k ? k : 1) * sizeof(*pin));
    size_t np = 0;
    for (centry *e = db->loaded; pin && e; e = e->lnext) {
        size_t j = 0;
        while (j < n && strcmp(u[j].tenant, e->tenant))
            j++;
        if (j == n)
            continue;
        if (e->state != CE_LOADED) { /* UNLOADING: its figures are final */
            u[j].points += e->cold_count;
            u[j].deleted += e->cold_deleted;
            u[j].disk_bytes += e->cold_disk;
            continue;
        }
        e->refs++;
        pin[np++] = e;
    }
    pthread_mutex_unlock(&db->lock);
    for (size_t i = 0; i < np; i++) {
        size_t j = 0;
        while (j < n && strcmp(u[j].tenant, pin[i]->tenant))
            j++;
        hs_collection h = {db, pin[i]};
        hs_collection_stats st;
        hs_coll_stats_of(&h, &st);
        u[j].loaded += st.loaded;
        u[j].points += st.count;
        u[j].deleted += st.deleted;
        u[j].disk_bytes += st.disk_bytes;
        u[j].ram_bytes += st.memory_bytes;
    }
    pthread_mutex_lock(&db->lock);
    for (size_t i = 0; i < np; i++)
        pin[i]->refs--;
    if (np)
        pthread_cond_broadcast(&db->cond);
    free(pin);
}

int hs_db_usage(hs_db *db, const char *tenant,
                int (*fn)(void *ctx, const hs_tenant_usage *u), void *ctx, hs_error *err)
{
    pthread_mutex_lock(&db->lock);
    size_t n = 0;
    for (hs_tenant *t = db->tenants; t; t = t->next)
        n += t->collections && (!tenant || !strcmp(t->name, tenant));
    hs_tenant_usage *u = calloc(n ? n : 1, sizeof(*u));
    char (*names)[HS_NAME_MAX + 1] = malloc((n ? n : 1) * sizeof(*names));
    if (!u || !names) {
        pthread_mutex_unlock(&db->lock);
        free(u);
        free(names);
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    }
    size_t i = 0;
    for (hs_tenant *t = db->tenants; t && i < n; t = t->next) {
        if (!t->collections || (tenant && strcmp(t->name, tenant)))
            continue;
        memcpy(names[i], t->name, sizeof(names[i]));
        u[i] = (hs_tenant_usage){names[i], t->collections, 0, t->cold_points, t->cold_deleted,
                                 t->cold_disk, 0, db->opts.max_collections_per_tenant};
        i++;
    }
    add_loaded_locked(db, u, n);
    pthread_mutex_unlock(&db->lock);
    qsort(u, n, sizeof(*u), cmp_usage);
    int rc = 0;
    for (i = 0; i < n && rc == 0; i++)
        rc = fn(ctx, &u[i]);
    free(u);
    free(names);
    return rc;
}
