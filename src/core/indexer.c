/*
 * indexer.c: one pool of graph-insertion threads shared by every collection (spec
 * HS_INDEXER_CONCURRENCY).  Writes are acknowledged after the log; the slots they fill wait
 * here and searches scan them exactly until they are in the graph.
 *
 * A collection with work sits once in the pool's FIFO.  A worker claims a batch of consecutive
 * slots, puts the collection back when more remains (so several workers share a big backlog),
 * inserts the batch and then moves the collection's watermark `index_low` (every slot below it
 * is in the graph): the lowest batch still in flight, or the next unclaimed slot.  When a
 * collection's backlog drains after enough inserts, the same worker runs a reachability repair
 * (no insert of that collection runs meanwhile).
 *
 * Pauses nest: a checkpoint and a rebuild (or two of them, through two vacuums) may each pause
 * the same collection, and its graph must stay still until the last of them resumes, so the
 * pause is a count.
 *
 * Locking: pool->mu guards the queue; c->index_mu the collection's bookkeeping.  A worker never
 * holds both.  A collection is removed from the pool (hs_indexer_forget) before it is freed.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "util/log.h"

#define BATCH 64
#define REPAIR_MIN 256

typedef struct indexer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hs_coll **queue;
    size_t head, n, cap; /* ring buffer */
    pthread_t *threads;
    unsigned nthreads;
    bool stop;
} indexer;

static int push_locked(indexer *p, hs_coll *c)
{
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 64;
        hs_coll **q = malloc(ncap * sizeof(*q));
        if (!q)
            return HS_ENOMEM;
        for (size_t i = 0; i < p->n; i++)
            q[i] = p->queue[(p->head + i) % p->cap];
        free(p->queue);
        p->queue = q;
        p->head = 0;
        p->cap = ncap;
    }
    p->queue[(p->head + p->n) % p->cap] = c;
    p->n++;
    pthread_cond_signal(&p->cv);
    return HS_OK;
}

static void enqueue(hs_coll *c)
{
    indexer *p = c->db->indexer;
    pthread_mutex_lock(&p->mu);
    if (push_locked(p, c) != HS_OK) {
        /* cannot queue now: the slots stay visible through the exact backlog scan and the
         * next write retries */
        pthread_mutex_lock(&c->index_mu);
        c->index_queued = false;
        pthread_mutex_unlock(&c->index_mu);
    }
    pthread_mutex_unlock(&p->mu);
}

static void update_low_locked(hs_coll *c)
{
    uint32_t low = c->index_next;
    for (uint32_t i = 0; i < c->ninflight; i++)
        low = HS_MIN(low, c->inflight[i]);
    __atomic_store_n(&c->index_low, low, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&c->index_cv);
}

static bool has_work_locked(const hs_coll *c)
{
    return !c->index_paused && !c->repairing &&
           c->index_next < __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE) &&
           c->ninflight < HS_ARRAY_LEN(c->inflight);
}

void hs_indexer_kick(hs_coll *c)
{
    pthread_mutex_lock(&c->index_mu);
    bool go = !c->index_queued && has_work_locked(c);
    if (go)
        c->index_queued = true;
    pthread_mutex_unlock(&c->index_mu);
    if (go)
        enqueue(c);
}

/* Inserts one claimed batch and settles the bookkeeping; returns true when a repair is due. */
static bool run_batch(hs_coll *c, uint32_t start, uint32_t end)
{
    for (uint32_t s = start; s < end; s++) {
        int rc = hs_hnsw_insert(c->graph, s);
        if (rc != HS_OK && rc != HS_EEXIST)
            hs_log(HS_LOG_ERROR, "collection '%s': graph insert of slot %u failed (%s); it stays "
                   "searchable by exact scan until a rebuild", c->e->name, s, hs_rc_name(rc));
    }
    /* the graph grew: the next checkpoint (at the latest the one at unload or close) saves it,
     * or a reopen would index these points again and scan them meanwhile */
    __atomic_store_n(&c->dirty, true, __ATOMIC_RELAXED);
    pthread_mutex_lock(&c->index_mu);
    for (uint32_t i = 0; i < c->ninflight; i++) {
        if (c->inflight[i] == start) {
            c->inflight[i] = c->inflight[--c->ninflight];
            break;
        }
    }
    c->since_repair += end - start;
    bool drained = c->ninflight == 0 && !has_work_locked(c);
    bool repair = drained && !c->index_paused &&
                  c->since_repair >= HS_MAX((uint64_t)REPAIR_MIN, hs_hnsw_nodes(c->graph) / 64);
    if (repair) {
        c->since_repair = 0;
        c->repairing = true; /* no claim and no pause returns until it is done */
    }
    update_low_locked(c);
    pthread_mutex_unlock(&c->index_mu);
    return repair;
}

static void finish_repair(hs_coll *c)
{
    pthread_mutex_lock(&c->index_mu);
    c->repairing = false;
    pthread_cond_broadcast(&c->index_cv);
    pthread_mutex_unlock(&c->index_mu);
}

static void work_on(hs_coll *c);

static void *worker(void *arg)
{
    indexer *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->n == 0 && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        hs_coll *c = p->queue[p->head];
        p->head = (p->head + 1) % p->cap;
        p->n--;
        __atomic_fetch_add(&c->index_users, 1, __ATOMIC_RELAXED); /* c stays alive until -- */
        pthread_mutex_unlock(&p->mu);
        work_on(c);
        pthread_mutex_lock(&c->index_mu);
        __atomic_fetch_sub(&c->index_users, 1, __ATOMIC_RELAXED);
        pthread_cond_broadcast(&c->index_cv);
        pthread_mutex_unlock(&c->index_mu); /* the last access to c */
    }
}

/* One turn on a popped collection: claim a batch, insert it, repair when due. */
static void work_on(hs_coll *c)
{
    pthread_mutex_lock(&c->index_mu);
    if (!has_work_locked(c)) {
        c->index_queued = false;
        pthread_cond_broadcast(&c->index_cv);
        pthread_mutex_unlock(&c->index_mu);
        return;
    }
    uint32_t start = c->index_next;
    uint32_t end = HS_MIN(__atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE), start + BATCH);
    c->index_next = end;
    c->inflight[c->ninflight++] = start;
    bool more = has_work_locked(c);
    if (!more)
        c->index_queued = false;
    pthread_mutex_unlock(&c->index_mu);
    if (more)
        enqueue(c);
    if (run_batch(c, start, end)) {
        uint64_t left = 0;
        size_t added = hs_hnsw_repair(c->graph, 4, &left);
        __atomic_store_n(&c->unreachable, (int64_t)left, __ATOMIC_RELAXED);
        if (added)
            hs_log(HS_LOG_DEBUG, "collection '%s': reachability repair added %zu links (%llu "
                   "left)", c->e->name, added, (unsigned long long)left);
        finish_repair(c);
    }
    hs_indexer_kick(c); /* slots written meanwhile */
}

int hs_indexer_start(hs_db *db, hs_error *err)
{
    indexer *p = calloc(1, sizeof(*p));
    if (!p)
        return HS_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    unsigned n = db->opts.indexer_threads;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (unsigned)cpus : 1;
    }
    p->threads = calloc(n, sizeof(*p->threads));
    if (!p->threads) {
        free(p);
        return HS_ENOMEM;
    }
    db->indexer = p;
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break;
        p->nthreads++;
    }
    (void)err;
    return p->nthreads ? HS_OK : HS_EINTERNAL;
}

void hs_indexer_stop(hs_db *db)
{
    indexer *p = db->indexer;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p->queue);
    free(p);
    db->indexer = NULL;
}

void hs_indexer_pause(hs_coll *c)
{
    pthread_mutex_lock(&c->index_mu);
    c->index_paused++;
    while (c->ninflight > 0 || c->repairing)
        pthread_cond_wait(&c->index_cv, &c->index_mu);
    pthread_mutex_unlock(&c->index_mu);
}

void hs_indexer_resume(hs_coll *c)
{
    pthread_mutex_lock(&c->index_mu);
    if (c->index_paused > 0)
        c->index_paused--;
    bool go = c->index_paused == 0;
    if (go)
        pthread_cond_broadcast(&c->index_cv); /* hs_indexer_drain waits pauses out */
    pthread_mutex_unlock(&c->index_mu);
    if (go)
        hs_indexer_kick(c);
}

void hs_indexer_drain(hs_coll *c)
{
    hs_indexer_kick(c);
    pthread_mutex_lock(&c->index_mu);
    /* a pause (a checkpoint or a rebuild) only delays the work: it is waited out (resume
     * broadcasts).  The pause of hs_indexer_forget never ends, but it is taken only once no
     * handle is open, and the caller holds one. */
    while (c->index_paused || c->index_next < __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE) ||
           c->ninflight > 0 || c->repairing) {
        pthread_mutex_unlock(&c->index_mu);
        hs_indexer_kick(c);
        pthread_mutex_lock(&c->index_mu);
        if (c->index_paused || c->index_next < __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE) ||
            c->ninflight > 0 || c->repairing)
            pthread_cond_wait(&c->index_cv, &c->index_mu);
    }
    pthread_mutex_unlock(&c->index_mu);
}

void hs_indexer_forget(hs_coll *c)
{
    indexer *p = c->db->indexer;
    hs_indexer_pause(c);
    /* drop queue entries pointing at c */
    pthread_mutex_lock(&p->mu);
    size_t w = 0;
    for (size_t i = 0; i < p->n; i++) {
        hs_coll *x = p->queue[(p->head + i) % p->cap];
        if (x != c)
            p->queue[(p->head + w++) % p->cap] = x;
    }
    p->n = w;
    pthread_mutex_unlock(&p->mu);
    /* a worker may have popped c just before: wait until no worker holds it */
    pthread_mutex_lock(&c->index_mu);
    c->index_queued = false; /* nothing will pop it any more */
    while (__atomic_load_n(&c->index_users, __ATOMIC_RELAXED) > 0 || c->ninflight > 0 ||
           c->repairing)
        pthread_cond_wait(&c->index_cv, &c->index_mu);
    pthread_mutex_unlock(&c->index_mu);
}
