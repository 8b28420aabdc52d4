/*
 * rebuild.c: compaction (spec B8.3).  The live points are copied, in slot order, into a new
 * vectors generation (slots 0..count-1), a new graph is built over them with the pool's thread
 * count and repaired, a checkpoint of the new state is written, and only then is the new state
 * swapped in and the old generation deleted.  A crash at any point leaves either the old
 * checkpoint (and the new generation is removed at the next load) or the new one.
 *
 * Writers wait for the rebuild (wlock is held throughout); searches keep using the old state
 * until the swap.  Memory returns to the OS afterwards through hs_db_release_memory.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "util/error.h"
#include "util/log.h"

/* The parts that are replaced together. */
typedef struct coll_parts {
    uint32_t gen;
    hs_segset *vecs;
    hs_chunks codes, slot_ids, meta;
    hs_hnsw *graph;
    uint64_t *live;
    size_t live_words;
    hs_idmap ids;
    hs_chunks sids; /* string ids: the blobs (and their keys, so the string map) are kept */
    bool narrow_on; /* narrow holds the copies (rebuilt along when the collection has them) */
    hs_chunks narrow;
} coll_parts;

static int copy_live(hs_coll *c, coll_parts *p, hs_error *err)
{
    const hs_chunks *from = hs_segset_chunks(c->vecs), *to = hs_segset_chunks(p->vecs);
    uint32_t j = 0;
    for (uint32_t s = 0; s < c->nslots; s++) {
        if (!hs_live(c, s))
            continue;
        memcpy(hs_chunks_at(to, j), hs_chunks_at(from, s), c->full.rec_len);
        if (c->quantized)
            memcpy(hs_chunks_at(&p->codes, j), hs_chunks_at(&c->codes, s), c->trav.rec_len);
        if (p->narrow_on)
            memcpy(hs_chunks_at(&p->narrow, j), hs_chunks_at(&c->narrow, s),
                   c->narrow_sp.rec_len);
        uint64_t id = *(uint64_t *)hs_chunks_at(&c->slot_ids, s);
        *(uint64_t *)hs_chunks_at(&p->slot_ids, j) = id;
        *(uint8_t **)hs_chunks_at(&p->meta, j) = *(uint8_t **)hs_chunks_at(&c->meta, s);
        if (c->sid)
            *(uint8_t **)hs_chunks_at(&p->sids, j) = hs_coll_sid(c, s);
        p->live[j >> 6] |= 1ULL << (j & 63);
        if (hs_idmap_put(&p->ids, id, j) != HS_OK)
            return hs_error_set(err, HS_ENOMEM, "rebuild: out of memory");
        j++;
    }
    return HS_OK;
}

static int build_parts(hs_coll *c, coll_parts *p, hs_error *err)
{
    uint32_t n = c->nlive;
    char dir[HS_PATH_MAX], prefix[32];
    p->gen = c->gen + 1;
    hs_coll_vec_place(c->e, p->gen, dir, sizeof(dir), prefix);
    hs_coll_vec_remove(c->e, c->db->io, p->gen);
    hs_idmap_init(&p->ids);
    int rc = hs_segset_open(c->db->io, dir, prefix, c->full.rec_len,
                            hs_seg_shift_for(c->full.rec_len), &p->vecs, err);
    if (rc == HS_OK)
        rc = hs_segset_reserve(p->vecs, n, err);
    if (rc != HS_OK)
        return rc;
    if (c->quantized)
        hs_segset_set_random(p->vecs);
    p->live_words = HS_MAX((size_t)((n + 63) / 64), (size_t)1);
    p->live = calloc(p->live_words, sizeof(uint64_t));
    bool ok = p->live && hs_chunks_init(&p->slot_ids, 8, 12) == HS_OK &&
              hs_chunks_reserve(&p->slot_ids, n) == HS_OK &&
              hs_chunks_init(&p->meta, sizeof(uint8_t *), 12) == HS_OK &&
              hs_chunks_reserve(&p->meta, n) == HS_OK &&
              hs_idmap_reserve(&p->ids, n) == HS_OK;
    if (ok && c->sid)
        ok = hs_chunks_init(&p->sids, sizeof(uint8_t *), 12) == HS_OK &&
             hs_chunks_reserve(&p->sids, n) == HS_OK;
    if (ok && c->quantized)
        ok = hs_chunks_init(&p->codes, c->trav.rec_len, HS_CODES_SHIFT) == HS_OK &&
             hs_chunks_reserve(&p->codes, n) == HS_OK;
    if (!ok)
        return hs_error_set(err, HS_ENOMEM, "rebuild: out of memory");
    /* without memory for the copies the rebuilt collection walks its full records */
    if (c->narrow_on &&
        hs_chunks_init(&p->narrow, c->narrow_sp.rec_len, HS_CODES_SHIFT) == HS_OK) {
        p->narrow_on = true;
        if (hs_chunks_reserve(&p->narrow, n) != HS_OK) {
            hs_chunks_destroy(&p->narrow);
            p->narrow_on = false;
        }
    }
    if ((rc = copy_live(c, p, err)) != HS_OK)
        return rc;
    hs_hnsw_opts o;
    hs_hnsw_opts_init(&o);
    o.m = c->cfg.m;
    o.ef_construction = hs_coll_ef_construction(c);
    bool codes = hs_coll_codes_graph(c);
    rc = hs_hnsw_new(&o, c->graph_space, codes ? &p->codes : hs_segset_chunks(p->vecs),
                     &p->graph);
    uint32_t *slots = rc == HS_OK ? malloc((n ? n : 1) * sizeof(uint32_t)) : NULL;
    if (!slots)
        return hs_error_set(err, HS_ENOMEM, "rebuild: out of memory");
    for (uint32_t i = 0; i < n; i++)
        slots[i] = i;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = c->db->opts.indexer_threads ? c->db->opts.indexer_threads
                                                   : (unsigned)(cpus > 0 ? cpus : 1);
    rc = hs_hnsw_insert_many(p->graph, slots, n, threads);
    free(slots);
    if (rc != HS_OK)
        return hs_error_set(err, rc, "rebuild: graph construction failed");
    uint64_t left = 0;
    hs_hnsw_repair(p->graph, 4, &left);
    __atomic_store_n(&c->unreachable, (int64_t)left, __ATOMIC_RELAXED);
    rc = hs_segset_sync(p->vecs, err);
    if (rc == HS_OK && (c->quantized || p->narrow_on))
        hs_segset_release(p->vecs); /* written and synced: walks do not read them */
    return rc;
}

static void parts_free(hs_coll *c, coll_parts *p, bool remove_files)
{
    hs_hnsw_free(p->graph);
    hs_segset_close(p->vecs);
    if (remove_files)
        hs_coll_vec_remove(c->e, c->db->io, p->gen);
    hs_chunks_destroy(&p->slot_ids);
    hs_chunks_destroy(&p->meta); /* blobs are shared with the other side: never freed here */
    if (c->sid)
        hs_chunks_destroy(&p->sids); /* likewise */
    if (c->quantized)
        hs_chunks_destroy(&p->codes);
    if (p->narrow_on)
        hs_chunks_destroy(&p->narrow);
    free(p->live);
    hs_idmap_destroy(&p->ids);
}

/* Exchanges the collection's parts with p (under the write lock). */
static void swap_parts(hs_coll *c, coll_parts *p)
{
    pthread_rwlock_wrlock(&c->rw);
    coll_parts old = {c->gen,       c->vecs, c->codes, c->slot_ids, c->meta,       c->graph,
                      c->live,      c->live_words, c->ids, c->sids, c->narrow_on, c->narrow};
    if (c->narrow_on && !p->narrow_on) /* old's copy is freed with old */
        __atomic_store_n(&c->narrow_on, false, __ATOMIC_RELEASE);
    else if (p->narrow_on)
        c->narrow = p->narrow;
    c->gen = p->gen;
    c->vecs = p->vecs;
    if (c->quantized)
        c->codes = p->codes;
    c->slot_ids = p->slot_ids;
    c->meta = p->meta;
    if (c->sid)
        c->sids = p->sids;
    c->graph = p->graph;
    c->live = p->live;
    c->live_words = p->live_words;
    c->ids = p->ids;
    hs_coll_set_graph_recs(c);
    hs_hnsw_set_records(c->graph, c->graph_recs); /* it was built over p's table */
    c->nslots = c->nlive;
    hs_pidx_free(c->pidx); /* keyed by the old slots: rebuilt by the next query */
    c->pidx = NULL;
    c->index_next = c->nlive;
    __atomic_store_n(&c->index_low, c->nlive, __ATOMIC_RELEASE);
    pthread_rwlock_unlock(&c->rw);
    *p = old;
}

static int rebuild_gated(hs_coll *c, hs_error *err);

/* The old generation's files go once the new one is checkpointed: not while a snapshot copies
 * them (the checkpoint inside is entered with the gate already held). */
int hs_coll_rebuild(hs_coll *c, hs_error *err)
{
    hs_snap_gate_enter(c->db, false);
    int rc = rebuild_gated(c, err);
    hs_snap_gate_leave(c->db);
    return rc;
}

static int rebuild_gated(hs_coll *c, hs_error *err)
{
    pthread_mutex_lock(&c->ckpt_mu);
    pthread_mutex_lock(&c->wlock);
    hs_coll_drain_locked(c); /* queued writes would need slots of the old generation */
    int rc = c->read_only ? hs_coll_read_only(c, err) : HS_OK;
    if (rc == HS_OK && __atomic_load_n(&c->e->frozen, __ATOMIC_ACQUIRE))
        rc = hs_coll_frozen(c->e, err);
    if (rc == HS_OK)
        rc = hs_coll_mark_changed(c, err); /* its figures (deleted, bytes) change */
    coll_parts p;
    memset(&p, 0, sizeof(p));
    p.gen = c->gen + 1;
    bool paused = false, built = false;
    if (rc == HS_OK)
        rc = hs_coll_ids_locked(c, err);
    if (rc == HS_OK) {
        /* the pause lasts until the checkpoint below has serialised the new graph; a
         * checkpoint or another rebuild pausing meanwhile nests inside it */
        hs_indexer_pause(c);
        paused = true;
        built = true; /* p holds (part of) a new generation from here on */
        rc = build_parts(c, &p, err);
        if (rc == HS_OK) {
            /* the parts become the collection's; a checkpoint makes them the durable state */
            swap_parts(c, &p);
            __atomic_store_n(&c->dirty, true, __ATOMIC_RELAXED);
        }
    }
    bool swapped = built && rc == HS_OK;
    pthread_mutex_unlock(&c->wlock);
    pthread_mutex_unlock(&c->ckpt_mu);
    if (swapped)
        rc = hs_coll_checkpoint(c, HS_CKPT_FORCE, err);
    pthread_mutex_lock(&c->wlock);
    if (built && !swapped) {
        /* build_parts failed: p is the unfinished new generation */
        parts_free(c, &p, true);
    } else if (swapped) {
        /* p is the old generation.  Its files stay until a checkpoint of the new state is
         * durable: until then the newest checkpoint on disk still refers to them. */
        parts_free(c, &p, rc == HS_OK);
        if (rc != HS_OK)
            hs_log(HS_LOG_ERROR, "collection '%s': the rebuilt state is not checkpointed yet "
                   "(%s); the next checkpoint retries", c->e->name, err ? err->message : "");
    }
    pthread_mutex_unlock(&c->wlock);
    if (paused)
        hs_indexer_resume(c);
    return rc;
}

int hs_collection_rebuild(hs_collection *h, hs_error *err)
{
    hs_coll *c;
    int rc = hs_coll_acquire(h, &c, err);
    if (rc == HS_OK)
        rc = hs_coll_rebuild(c, err);
    return rc;
}

/* jemalloc's control interface, present when the program links jemalloc (weak: NULL otherwise) */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

static uint64_t jemalloc_resident(void)
{
    uint64_t epoch = 1;
    size_t len = sizeof(epoch);
    mallctl("epoch", &epoch, &len, &epoch, len); /* refresh the statistics */
    size_t v = 0;
    len = sizeof(v);
    return mallctl("stats.resident", &v, &len, NULL, 0) == 0 ? v : 0;
}

int hs_db_release_memory(hs_db *db, uint64_t *freed)
{
    (void)db;
    uint64_t released = 0;
    if (mallctl) {
        uint64_t before = jemalloc_resident();
        mallctl("arena.4096.purge", NULL, NULL, NULL, 0); /* MALLCTL_ARENAS_ALL */
        uint64_t after = jemalloc_resident();
        released = before > after ? before - after : 0;
    } else {
        struct mallinfo2 before = mallinfo2();
        malloc_trim(0);
        struct mallinfo2 after = mallinfo2();
        released = before.fordblks > after.fordblks ? before.fordblks - after.fordblks : 0;
    }
    if (freed)
        *freed = released;
    return HS_OK;
}
