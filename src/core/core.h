/*
 * core.h: the database engine behind include/hyperspace.h, shared by the src/core files.
 *
 *   catalog.c    the in-memory catalog: hash table, loaded list, per-tenant sums, usage
 *   catlog.c     the catalog file <root>/.catalog (opening without reading every collection)
 *   db.c         opening, node state and clock, names, buckets, create/drop/list/stats
 *   life.c       handles, loading (wake), unloading, LRU limit (victims unloaded by the sweeper),
 *                the sweeper thread
 *   persist.c    collection.json, loading, checkpoints (capture and restore)
 *   rebuild.c    compaction into a new vectors generation with a new graph
 *   write.c      validation, log records, apply (also used by replay), upsert/delete/configure
 *   payload.c    metadata updates of existing points (logged as upserts of the stored vectors)
 *   freeze.c     freezing and unfreezing a collection
 *   search.c     vector, filtered and hybrid search (planner on the payload indexes)
 *   read.c       views, get, hs_read (scroll, ids, newest first, count), statistics, digests
 *   indexer.c    the shared pool of graph-insertion threads
 *   changes.c    the change stream (readers of a collection's log), the log kept for it
 *   applied.c    clock values in flight, the applied clock, the directory of recent ticks
 *   drops.c      the drops remembered for change readers, kept in <root>/.drops
 *   nodechanges.c  the node-wide change reader (every collection, in clock order)
 *   replicate.c  a follower's apply of its leader's changes with the leader's clocks
 *   snapshot.c   snapshot archives: the cut at one clock, the archive's description, the gate
 *   snapdir.c    the snapshot directory: names, create, upload, list, describe, open, delete
 *   restore.c    restoring collections from an archive
 *
 * Lock order (never acquire against it):
 *   db->lock  ->  coll->ckpt_mu  ->  coll->wlock  ->  coll->rw  ->  coll->index_mu
 * db->clock_lock (the clock, the ticks in flight) is innermost: taken under any of them.
 * db->lock guards the catalog (entries, states, handle counts, LRU); it is never held across
 * I/O except by create/drop's short directory operations.  coll->wlock serialises writers
 * (log append + apply), checkpoints and rebuilds.  coll->rw is taken for writing only while
 * in-memory state changes (apply, swaps) and for reading by searches and gets.
 * coll->index_mu guards the indexer bookkeeping of one collection.
 */
#ifndef HS_CORE_H
#define HS_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "filter/filter.h"
#include "hnsw/hnsw.h"
#include "hyperspace.h"
#include "storage/storage.h"
#include "util/chunks.h"
#include "util/idmap.h"
#include "util/sidmap.h"
#include "util/util.h"
#include "vec/vec.h"

#define HS_FORMAT_VERSION 1
#define HS_MAX_DIM 16384
#define HS_META_MAX_ENTRIES 1024
#define HS_META_MAX_KEY 256
#define HS_META_MAX_VALUE 65536
#define HS_META_MAX_LIST 1024 /* elements of a list value */
#define HS_DROP_NOTES 1024    /* drops remembered for change readers (drops.c) */
/* collection.json formats (persist.c): 1 has no manifest, 2 keeps it in its own file and the
 * log and vectors in subdirectories, 3 (flat) keeps it as a member and every file beside it */
#define HS_CONFIG_FORMAT 2
#define HS_CONFIG_FORMAT_FLAT 3

/* WAL record types */
enum {
    HS_REC_CREATE = 1,
    HS_REC_UPSERT = 2,
    HS_REC_DELETE = 3,
    HS_REC_CONFIGURE = 4,
    HS_REC_UPSERT_SID = 5, /* UPSERT and DELETE of a collection of string ids (write.c) */
    HS_REC_DELETE_SID = 6,
};

/* checkpoint sections */
enum {
    HS_SEC_STATE = 1,
    HS_SEC_IDS = 2,
    HS_SEC_LIVE = 3,
    HS_SEC_META = 4,
    HS_SEC_GRAPH = 5,
    HS_SEC_DIGEST = 6,
    HS_SEC_PIDX = 7, /* the payload indexes (optional; rebuilt from META when absent) */
    HS_SEC_VECS = 8, /* checksums of the vector records the checkpoint covers */
    HS_SEC_SIDS = 9, /* a collection of string ids: keys and strings (instead of IDS) */
    HS_SEC_CODES = 10, /* a quantized collection's codes (optional; encoded again when absent) */
};

typedef enum centry_state {
    CE_COLD, /* 0: a calloc'd entry */
    CE_LOADING,
    CE_LOADED,
    CE_UNLOADING,
    CE_FAILED,
    CE_DROPPED,
    CE_CREATING, /* in the catalog while its files are made (db.c); operations wait */
} centry_state;

typedef struct hs_coll hs_coll;

/* A range of clock values handed out and what it is for (applied.c): the collection is named
 * by its catalog hash and creation clock (unique on the node). */
enum { HS_TICK_WRITE = 1, HS_TICK_CREATE = 2, HS_TICK_DROP = 3, HS_TICK_RAISE = 4 };
enum { HS_TICK_FLIGHT = 0, HS_TICK_APPLIED = 1, HS_TICK_ABANDONED = 2 };
typedef struct hs_tick {
    uint64_t first, last;
    uint64_t hash, created; /* the collection (0, 0 for a raise) */
    uint8_t kind, state;
} hs_tick;

/* A tenant's collection count and the summed figures of its collections that are not loaded
 * (catalog.c keeps them as entries change state; db->lock). */
typedef struct hs_tenant {
    char name[HS_NAME_MAX + 1];
    uint64_t collections;
    uint64_t cold_points, cold_deleted, cold_disk;
    struct hs_tenant *next;
} hs_tenant;

/* A write that is logged but not applied yet (write.c): BATCH and STRICT writes become visible
 * only once their record is durable, in log order; when the log fails first they are refused
 * and never applied.  Owned by the writer's stack; queued on its collection (wlock). */
typedef struct hs_pending {
    struct hs_pending *next;
    uint64_t ticket; /* the record's ticket in the log */
    uint64_t lsn;
    uint8_t type;    /* HS_REC_UPSERT(_SID) or HS_REC_DELETE(_SID) */
    bool async;      /* applies when it reaches the head, without waiting for an fsync */
    int state;       /* 0 waiting, 1 applied, -1 refused (atomic: its writer reads it) */
    uint32_t n;      /* points (upsert) or ids (delete) */
    uint8_t **blobs; /* upsert: prepared as by prepare_upserts */
    const uint8_t **vecs;
    uint64_t *ids;
    uint8_t **sids;  /* upsert of string ids: each point's blob (util/sidmap.h), key set by apply */
    const uint8_t *payload; /* delete: the record's payload */
    size_t len;
} hs_pending;

/* Catalog entry: one per collection, loaded or not. */
typedef struct centry {
    char tenant[HS_NAME_MAX + 1];
    char name[HS_NAME_MAX + 1];
    char *dir;                   /* the collection's directory (malloc'd) */
    hs_collection_config config; /* as created; ef values 0 when following the defaults */
    uint64_t created_clock;
    uint32_t format;        /* of collection.json: 2 and up have a manifest (immutable once read,
                               raised by the load that writes the first manifest, under LOADING) */
    centry_state state;     /* guarded by db->lock */
    hs_coll *coll;          /* guarded by db->lock; set while LOADED */
    int refs;               /* open handles, guarded by db->lock */
    uint64_t last_used_ns;  /* guarded by db->lock */
    /* figures of a cold collection, from its newest checkpoint (db->lock) */
    uint64_t cold_count, cold_deleted, cold_clock, cold_disk;
    bool replay_pending;    /* at open: the log holds records no checkpoint covers (a crash) */
    char *error;            /* load failure, malloc'd; NULL when none (db->lock) */
    /* catalog.c (db->lock): hash chain, the list of every entry (unordered), the list of
     * loaded entries (coll set), the tenant */
    uint64_t hash;
    struct centry *hnext, *prev, *next, *lprev, *lnext;
    hs_tenant *t;
    bool cat_clean;         /* the newest record of the catalog file is a CLEAN (db->cat_mu) */
    bool cat_fresh;         /* created by this process, unchanged, no record yet (db->cat_mu):
                               the next rewrite writes its CLEAN; a change needs no DIRTY */
    bool seen;              /* open only: its directory was found */
    bool frozen;            /* hs_collection_freeze (atomic: written under man_mu or a cold
                               entry's LOADING state, with db->lock; read anywhere) */
    struct centry *evict_next; /* the list of LRU victims the sweeper unloads (db->lock) */
    struct centry *drop_next;  /* db->dropping (db->lock) */
} centry;

struct hs_db {
    char root[HS_PATH_MAX];
    hs_db_opts opts;
    const hs_io_ops *io;
    int lock_fd;
    pthread_mutex_t lock; /* the catalog */
    pthread_cond_t cond;  /* state changes of entries */
    /* the catalog (catalog.c) */
    centry *entries;      /* every entry, unordered */
    centry **htab;        /* hash on (tenant, name), hcap buckets (a power of two) */
    size_t hcap, nentries;
    uint64_t hkey[2];
    centry *loaded;       /* entries with a loaded collection (coll set) */
    hs_tenant *tenants;
    size_t nfailed;       /* FAILED entries (db->lock) */
    /* the catalog file (catlog.c), guarded by cat_mu (innermost lock) */
    pthread_mutex_t cat_mu;
    pthread_mutex_t dir_mu; /* creation of tenant and bucket directories (innermost) */
    int cat_fd;
    uint64_t cat_len;
    size_t nloaded;       /* LOADED and UNLOADING entries (db->lock) */
    /* LRU victims marked UNLOADING by a request thread, unloaded (checkpoint, free) by the
     * sweeper so that no request pays for another collection's eviction (db->lock) */
    centry *evictions;
    size_t nevictions;
    /* entries a drop has taken out of the catalog and not yet given its clock (it waits for
     * their users): a create of the same name waits, so that a new incarnation's creation clock
     * is above the old one's drop (db->lock, db->cond) */
    centry *dropping;
    /* clock */
    pthread_mutex_t clock_lock;
    uint64_t clock;          /* guarded by clock_lock */
    uint64_t clock_reserved; /* persisted upper bound, guarded by clock_lock */
    /* the ticks in flight and the recent ones (applied.c), guarded by clock_lock: a ring
     * ordered by first clock, entries [0, tick_busy) completed (the directory), the rest
     * holding at least the first one in flight */
    hs_tick *ticks;
    size_t tick_cap, tick_head, tick_len, tick_busy;
    uint64_t applied;   /* hs_db_applied_clock */
    uint64_t dir_floor; /* the directory names every operation with a clock above it */
    pthread_cond_t applied_cv;
    int applied_waiters;
    char node_id[40];
    /* background threads */
    bool closing; /* db->lock */
    pthread_t sweeper;
    bool sweeper_started;
    struct indexer *indexer;
    hs_db_counters counters; /* relaxed atomics; wal_* come from the storage layer */
    /* the change stream (changes.c): the observer (set before concurrent use) and the latest
     * drops, so that a reader learns the clock of its collection's deletion (db->lock) */
    hs_change_fn change_fn;
    void *change_ctx;
    struct hs_drop_note {
        char tenant[HS_NAME_MAX + 1], name[HS_NAME_MAX + 1];
        uint64_t created, last, dropped; /* incarnation, its last change, the drop's clock */
    } drops[HS_DROP_NOTES];
    size_t ndrops; /* drops noted so far; the latest HS_DROP_NOTES are kept */
    uint64_t drop_horizon; /* the highest clock of a drop no longer noted (db->lock) */
    /* the same for the history the node holds now: drops the ring let go, and the base of the
     * latest reset (0, or a bootstrap archive's clock); without the history a reset forgot */
    uint64_t drop_kept_horizon; /* (db->lock) */
    int drops_fd;          /* <root>/.drops open for appending, -1 when not (db->lock) */
    uint64_t drops_len;    /* its length (db->lock) */
    uint32_t drops_records; /* records in the file (db->lock): rewritten past 2 x the notes */
    /* snapshot archives (snapshot.c): the directory, and the gate a snapshot holds for writing
     * while it copies files; checkpoints, rebuilds and drops (which delete files) hold it for
     * reading (immutable after open / a writer-preferring rwlock) */
    char snap_dir[HS_PATH_MAX];
    pthread_rwlock_t snap_gate;
};

struct hs_collection {
    hs_db *db;
    centry *e;
};

/* A loaded collection. */
struct hs_coll {
    hs_db *db;
    centry *e;
    hs_collection_config cfg; /* effective: ef values resolved */
    bool ef_search_set, ef_construction_set;
    hs_space full; /* stored records (float32 or float64 + alpha) */
    hs_space trav; /* traversal records: == full unless quantized */
    bool quantized;
    bool f64; /* storage precision */
    uint32_t gen; /* vectors-<gen> directory */
    hs_segset *vecs;
    hs_chunks codes; /* quantized traversal codes (when quantized; HS_CODES_SHIFT) */
    /* The narrow copy (see hs_coll_narrow_put): while narrow_on, every slot's record is exactly
     * bfloat16 (float32 records) or float32 (the float64 records of a Poincare collection) and
     * narrow holds it as such; walks read it instead of the full records (the same distances bit
     * for bit).  narrow_on is read under rw (or wlock) and cleared, with
     * narrow destroyed, under both; it is never set again while loaded. */
    hs_space narrow_sp;
    hs_chunks narrow; /* (HS_CODES_SHIFT) */
    bool narrow_on;
    /* What the graph is built on and walked with by hs_hnsw_search: the full vectors, except
     * for a quantized collection outside the ball (its codes).  In the ball the codes cannot
     * order neighbours near the boundary, so the graph is built on the full vectors and the
     * codes are walked with hs_hnsw_search_over (search.c, vector_branch). */
    const hs_space *graph_space;
    const hs_chunks *graph_recs;
    hs_hnsw *graph;
    hs_idmap ids;     /* id -> slot of the live point (rw); built on first need after a load */
    bool ids_ready;   /* atomic; set under wlock + rw */
    hs_chunks slot_ids; /* slot -> id (u64) */
    hs_pidx *pidx;      /* payload indexes (rw); built on first need after a load, dropped by a
                           rebuild; NULL while not built */
    hs_chunks meta;   /* slot -> metadata blob ([u32 len][blob]) or NULL when empty; blobs live
                         in meta_arena (restored from a checkpoint) or are malloc'd one by one */
    uint8_t *meta_arena;
    size_t meta_arena_len;
    /* string ids (cfg.id_type HS_ID_STRING, `sid`): slot -> blob (util/sidmap.h) or NULL when the
     * slot is not live, blobs in sid_arena (restored from a checkpoint) or malloc'd one by one;
     * the string -> blob map of the live points (rw; built with `ids`); the next internal key
     * (wlock, assigned by apply in log order, so replay gives every string its key again) */
    bool sid;
    hs_chunks sids;
    uint8_t *sid_arena;
    size_t sid_arena_len;
    hs_sidmap smap;
    uint64_t next_key;
    uint64_t sid_bytes; /* heap bytes of the blobs (atomic) */
    double *scratch;  /* dimension doubles for apply (wlock / rw write) */
    double *codebuf;  /* dimension doubles for hs_coll_encode_code under wlock (Lorentz codes) */
    uint8_t *hashbuf; /* HS_SID_MAX + 8 x dimension bytes: a point's digest input (rw write) */
    uint64_t digest[256]; /* XOR of the point hashes of each bucket (rw) */
    uint64_t *live;   /* bitset of live slots (rw; reallocated under the write lock) */
    size_t live_words;
    uint32_t nslots;  /* slots in use (atomic for readers) */
    uint32_t nlive;   /* (rw) */
    hs_wal *wal;
    uint64_t clock;     /* collection clock (written under wlock; atomic for change readers) */
    uint64_t log_floor; /* every change with a clock above it is still in the log (atomic) */
    bool dirty;         /* changed since the last checkpoint (atomic: the indexer sets it too) */
    bool cat_marked;    /* the catalog file knows it changes (wlock): hs_coll_mark_changed */
    uint64_t ckpt_seq;  /* sequence number of the newest checkpoint file */
    hs_pending *pend_head, *pend_tail; /* logged, not yet applied, in log order (wlock) */
    uint64_t pend_points; /* points of the queued upserts: capacity reserved for them (wlock) */
    bool read_only;     /* (wlock) */
    char ro_msg[256];
    uint64_t meta_bytes;  /* heap bytes of the metadata blobs (atomic) */
    int64_t unreachable;  /* latest reachability check, -1 before the first (atomic) */
    /* Quantized walks in the ball (search.c, vector_branch), all atomic: the current window of
     * checked walks (checks << 32 | misses), whether the last full window said the codes cannot
     * rank (walks then go to the full vectors), and a count of walks for sampling. */
    uint64_t walk_window;
    bool walk_full;
    uint64_t walks;
    uint64_t last_ckpt_ns; /* atomic (the sweeper reads it under db->lock only) */
    uint64_t ckpt_nodes;   /* graph nodes in the newest checkpoint (ckpt_mu) */
    hs_manifest man;         /* the files the collection needs (man_mu) */
    pthread_mutex_t man_mu;  /* taken inside the log's lock (segment hook); nothing inside it */
    pthread_mutex_t ckpt_mu; /* one checkpoint or rebuild at a time; taken before wlock */
    pthread_mutex_t wlock;
    pthread_rwlock_t rw;
    /* indexer bookkeeping (index_mu) */
    pthread_mutex_t index_mu;
    pthread_cond_t index_cv;
    uint32_t index_next;      /* next slot to hand out */
    uint32_t index_low;       /* every slot below is in the graph (atomic for readers) */
    uint32_t inflight[64];    /* start slots of batches being inserted */
    uint32_t ninflight;
    uint32_t index_paused;    /* pauses in force (they nest); no batch is claimed while > 0 */
    bool repairing;           /* a reachability repair runs (no insert meanwhile) */
    bool index_queued;        /* in the pool's queue */
    uint32_t index_users;     /* workers holding c (atomic): c is not freed before 0 */
    uint64_t since_repair;    /* inserts since the last reachability repair */
};

/* ---- catalog.c (callers hold db->lock for every _locked function) ---- */
int hs_cat_init(hs_db *db);
/* Frees an entry (not in the catalog) with its strings. */
void hs_centry_free(centry *e);
/* Sets a string member (dir, error) to a malloc'd copy of s; HS_ENOMEM leaves it as it was. */
int hs_centry_set(char **field, const char *s);
void hs_cat_free(hs_db *db);
centry *hs_db_find_locked(hs_db *db, const char *tenant, const char *name);
/* The catalog hash of (tenant, name), as e->hash. */
uint64_t hs_cat_hash(const hs_db *db, const char *tenant, const char *name);
/* The entry of the incarnation (hash, created), NULL when it is not in the catalog. */
centry *hs_cat_find_inc_locked(hs_db *db, uint64_t hash, uint64_t created);
/* As hs_db_find_locked, waiting (on db->cond) while the entry is being created. */
centry *hs_db_find_created_locked(hs_db *db, const char *tenant, const char *name);
/* Adds e (its tenant, name and cold figures set); HS_ENOMEM when its tenant cannot be made. */
int hs_cat_insert_locked(hs_db *db, centry *e);
void hs_cat_remove_locked(hs_db *db, centry *e);
hs_tenant *hs_cat_tenant_locked(hs_db *db, const char *tenant, bool create);
/* Sets e->coll (NULL: unloaded), moving e on or off the loaded list and its cold figures into
 * or out of its tenant's sums. */
void hs_cat_set_loaded_locked(hs_db *db, centry *e, hs_coll *c);
/* Sets the cold figures of e, keeping its tenant's sums right. */
void hs_cat_set_cold_locked(centry *e, uint64_t count, uint64_t deleted, uint64_t disk);
void hs_cat_cold_add_locked(centry *e, int sign);
/* The entries (of `tenant`, or all; or only the loaded ones), sorted by (tenant, name), in a
 * malloc'd array. */
centry **hs_cat_sorted_locked(hs_db *db, const char *tenant, bool loaded_only, size_t *n);

/* ---- catlog.c: the catalog file <root>/.catalog ---- */
/* Builds the catalog at open (the file, the directory listing, the files of collections the
 * file does not vouch for) and rewrites the file.  No other thread runs. */
int hs_catlog_open(hs_db *db, hs_error *err);
/* Rewrites the file with a CLEAN per clean entry and opens it for appending (db->lock held). */
int hs_catlog_rewrite_locked(hs_db *db, hs_error *err);
/* Appends a CLEAN of e (cold, its figures final; db->lock held). */
void hs_catlog_clean_locked(hs_db *db, centry *e);
/* A collection just created: clean without a record until the next rewrite (db->lock held). */
void hs_catlog_fresh_locked(hs_db *db, centry *e);
/* Before e's first change after a CLEAN: appends a DIRTY and fsyncs it (HS_EIO when it fails:
 * the change must not be made). */
int hs_catlog_dirty(hs_db *db, centry *e, hs_error *err);
void hs_catlog_gone(hs_db *db, centry *e);
/* Rewrites the file when its appended records far outweigh what it describes (the sweeper). */
void hs_catlog_compact(hs_db *db);
/* Collection directories in a tenant's directory: directly (from before buckets) or in a
 * bucket `@xx` (two lower-case hex digits of a hash of the name). */
#define HS_BUCKET_CHAR '@'
bool hs_bucket_name_ok(const char *name);
void hs_bucket_of(const char *name, char out[4]);

/* ---- db.c ---- */
/* Adds the collection in directory `path` to the catalog from its own files (collection.json,
 * the newest checkpoint, the log's record headers); a collection that cannot be read is added
 * quarantined.  HS_ENOMEM only.  db->lock held (or no other thread). */
int hs_db_scan_collection(hs_db *db, const char *tenant, const char *name, const char *path);
/* Hands out n clock values *first .. *first + n - 1 for an operation of `kind` (HS_TICK_*) on
 * e (CREATE: e->hash set, the creation clock is *first), tracked until hs_db_tick_done.  n = 0
 * hands out nothing and tracks nothing. */
/* Waits while a drop of (tenant, name) has not yet taken its clock (db->lock held, released
 * while waiting): a collection created afterwards gets a creation clock above that drop's. */
void hs_db_wait_dropping_locked(hs_db *db, const char *tenant, const char *name);
/* Creates a collection as hs_collection_create does; clock != 0: a follower's create with its
 * leader's creation clock (merged, no tick; the tenant quota does not apply). */
int hs_db_create(hs_db *db, const char *tenant, const char *name,
                 const hs_collection_config *cfg, uint64_t clock, hs_error *err);
/* How hs_db_drop drops: with a tick (hs_collection_drop), with the leader's clock `clock`
 * (merged, noted) or silently (no clock, no note: replacing a collection, finishing a drop
 * noted before a crash); only the incarnation `created` (0: any) and only when its creation
 * clock is below `below` (0: any); *dropped (may be NULL) gets whether it dropped. */
enum { HS_DROP_TICK = 0, HS_DROP_MERGE = 1, HS_DROP_SILENT = 2 };
typedef struct hs_drop_how {
    uint64_t created, below, clock;
    int mode;
    int *dropped;
} hs_drop_how;
/* Errors: as hs_collection_drop; another incarnation is no error (*dropped = 0). */
int hs_db_drop(hs_db *db, const char *tenant, const char *name, const hs_drop_how *how,
               hs_error *err);
int hs_db_tick(hs_db *db, const centry *e, int kind, uint64_t n, uint64_t *first, hs_error *err);
/* Ends the range starting at `first` (handed out by hs_db_tick, hs_db_clock_merge or
 * hs_db_clock_raise): applied (visible to change readers) or abandoned (no effect).  Every
 * range handed out is ended exactly once, on every path. */
void hs_db_tick_done(hs_db *db, uint64_t first, bool applied);
void hs_db_observe_clock(hs_db *db, uint64_t clock);
/* Raises the node clock to at least `clock`, the reservation persisted first (a restore brings
 * records of another node's clock).  When it moved, the values passed over are one range in
 * flight starting at *held (0 when none), which the caller ends once what carries those clocks
 * is published. */
int hs_db_clock_raise(hs_db *db, uint64_t clock, uint64_t *held, hs_error *err);
/* A follower's change with its leader's clocks first .. first + n - 1 on e (B2.7 merge): the
 * node clock becomes max(C, first + n - 1) + 1 and the range is in flight until
 * hs_db_tick_done(db, first, ...). */
int hs_db_clock_merge(hs_db *db, const centry *e, int kind, uint64_t first, uint64_t n,
                      hs_error *err);
/* ---- applied.c ---- */
int hs_ticks_init(hs_db *db); /* after node_load: the applied clock starts at the node's */
void hs_ticks_free(hs_db *db);
/* Enters a range in flight (clock_lock held): HS_ENOMEM when the ring cannot grow. */
int hs_ticks_enter_locked(hs_db *db, const centry *e, int kind, uint64_t first, uint64_t n);
/* A copy of the directory's entries holding a clock in (after, upto] (upto <= the applied
 * clock), in clock order (*out malloc'd): HS_ERANGE when the directory does not reach back to
 * `after` (the caller reads the catalog), HS_ENOMEM. */
int hs_ticks_since(hs_db *db, uint64_t after, uint64_t upto, hs_tick **out, size_t *n);
/* Forgets the history of completed ticks (the directory no longer names any operation at or
 * below `floor`): a follower's reset. */
void hs_ticks_forget(hs_db *db, uint64_t floor);
/* Makes the tenant and bucket directories a new collection `name` goes in; *parent gets the
 * bucket's path and *dir the collection's. */
int hs_db_coll_dirs(hs_db *db, const char *tenant, const char *name, char *parent, char *dir,
                    size_t len, hs_error *err);
/* Checks the parameters of a new collection as create does (m 0 becomes the default). */
int hs_db_check_config(const hs_db *db, hs_collection_config *c, hs_error *err);
int hs_check_names(const char *tenant, const char *name, hs_error *err);
/* HS_ERANGE (field EF_CONSTRUCTION / EF_SEARCH) when a value is over HS_EF_MAX (0 = unchanged or
 * the database default). */
#define HS_EF_MAX 10000
int hs_check_ef(uint32_t ef_search, uint32_t ef_construction, hs_error *err);
/* HS_ENOTFOUND about the collection `name`. */
int hs_not_found(hs_error *err, const char *name);
uint32_t hs_coll_ef_search(const hs_coll *c);
/* The factor a search of c uses when the request gives none (the configured or the default). */
double hs_coll_oversampling(const hs_coll *c);
/* 0 or 1..HS_OVERSAMPLING_MAX, else HS_ERANGE about HS_FIELD_OVERSAMPLING. */
int hs_check_oversampling(double o, hs_error *err);
uint32_t hs_coll_ef_construction(const hs_coll *c);
/* Fills st from the catalog (a collection not loaded).  Caller holds db->lock. */
void hs_stats_cold_locked(const hs_db *db, const centry *e, hs_collection_stats *st);
/* Statistics through a handle (in-tree tests; the API's form is by name, hs_collection_stats_get,
 * which does not count as a use).  Closing the handle afterwards counts as one. */
int hs_coll_stats_of(hs_collection *h, hs_collection_stats *st);

/* ---- life.c ---- */
/* Returns the loaded collection of an open handle, loading it if needed (counts as use). */
int hs_coll_acquire(hs_collection *h, hs_coll **out, hs_error *err);
int hs_life_start(hs_db *db, hs_error *err);
void hs_life_stop(hs_db *db);
void hs_coll_free(hs_coll *c);
/* Unloads every loaded collection (at close), checkpointing changed ones. */
int hs_life_unload_all(hs_db *db, hs_error *err);
/* Unloads e (LOADED, no handle open) soon: marks it UNLOADING and hands it to the sweeper (or
 * unloads it at once when there is none).  db->lock held. */
void hs_life_unload_soon_locked(hs_db *db, centry *e);

/* ---- persist.c ---- */
int hs_config_write(hs_db *db, const char *dir, const centry *e, hs_error *err);
int hs_config_read(hs_db *db, const char *dir, centry *e, hs_error *err);
/* As hs_config_write / hs_config_read, with the manifest a flat collection.json holds (format
 * 3; m NULL: not read / written, other formats keep theirs in the manifest file). */
int hs_config_write_m(hs_db *db, const char *dir, const centry *e, const hs_manifest *m,
                      hs_error *err);
int hs_config_read_m(hs_db *db, const char *dir, centry *e, hs_manifest *m, hs_error *err);
/* Writes collection.json into a directory nobody else sees yet (a create in progress), without
 * the temporary name and directory fsync of a replacement and without an fsync: *fd_out gets
 * the open file, which the creator fsyncs (after its other files, so that one journal commit
 * covers them) and closes before publishing the directory. */
int hs_config_write_new(hs_db *db, const char *dir, const centry *e, const hs_manifest *m,
                        int *fd_out, hs_error *err);
/* Configure, freeze: writes collection.json with `updated`'s parameters and frozen state (and
 * c's manifest), then sets them in the catalog entry; serialised with manifest writes by
 * c->man_mu. */
int hs_coll_config_write(hs_coll *c, const centry *updated, hs_error *err);
/* Where a collection's files are: collection.json format 3 keeps everything in its directory
 * (log segments, `vectors-<gen>-<index>.seg`), earlier formats use wal/ and vectors-<gen>/. */
void hs_coll_wal_dir(const centry *e, char *buf, size_t len);
void hs_coll_vec_place(const centry *e, uint32_t gen, char *dir, size_t len, char prefix[32]);
/* Removes the vector files of generation gen (a rebuild's leftovers or the old generation). */
void hs_coll_vec_remove(const centry *e, const hs_io_ops *io, uint32_t gen);
int hs_coll_load(hs_db *db, centry *e, hs_coll **out, hs_error *err);
/* Checkpoint modes: when dirty; always; when dirty and the log holds at least
 * opts.checkpoint_min_log_bytes (unloading, closing, the interval: a small log is replayed at
 * the next load faster than a checkpoint is written, and costs less disk). */
enum { HS_CKPT_DIRTY = 0, HS_CKPT_FORCE = 1, HS_CKPT_AUTO = 2 };
/* Checkpoints as `mode` says.  Takes wlock itself. */
int hs_coll_checkpoint(hs_coll *c, int mode, hs_error *err);
int hs_coll_rebuild(hs_coll *c, hs_error *err);
/* Reads the figures of a cold collection from its newest checkpoint. */
void hs_coll_cold_stats(hs_db *db, centry *e);
/* The newest checkpoint in a collection directory and what its STATE section says. */
typedef struct hs_ckpt_info {
    uint64_t seq;
    uint32_t gen;
    uint64_t clock;
    hs_wal_pos wal; /* where replay starts */
    uint32_t nslots;
} hs_ckpt_info;
/* HS_ENOTFOUND when there is none; HS_ECORRUPT when its STATE does not read. */
int hs_coll_newest_ckpt(hs_db *db, const char *dir, hs_ckpt_info *out, hs_error *err);
int hs_coll_open_tables(hs_coll *c, hs_error *err);
int hs_coll_reserve(hs_coll *c, uint64_t nslots, hs_error *err);
/* HS_EREADONLY / HS_ENOSPC about collection c (name and field filled). */
int hs_coll_read_only(const hs_coll *c, hs_error *err);
int hs_coll_no_space(const hs_coll *c, hs_error *err);
uint64_t hs_coll_memory(hs_coll *c);
/* Fills st's resident_* figures (measured where page-mapped).  No lock held. */
void hs_coll_resident(hs_coll *c, hs_collection_stats *st);
/* With quantization: drops the vector files' pages from the process (traversal reads the codes,
 * re-ranking reads records back one by one).  After a load, a checkpoint's sync, a rebuild. */
void hs_coll_vectors_cold(hs_coll *c);

/* Makes sure c->ids is built (a load leaves it for the first operation that needs it: searches
 * never do).  hs_coll_ids_locked: the caller holds wlock. */
int hs_coll_ids(hs_coll *c, hs_error *err);
int hs_coll_ids_locked(hs_coll *c, hs_error *err);
/* Makes sure c->pidx is built (hs_coll_pidx_locked: the caller holds wlock). */
int hs_coll_pidx(hs_coll *c, hs_error *err);
int hs_coll_pidx_locked(hs_coll *c, hs_error *err);
/* Adds or removes slot's metadata (stored form) in c->pidx when it is built; on failure
 * (memory) the index is dropped, to be rebuilt by the next query.  Caller holds rw for writing. */
void hs_coll_pidx_update(hs_coll *c, uint32_t slot, const uint8_t *mem, bool add);
/* Fills a view of slot (vector into vbuf when not NULL); the caller holds the read lock. */
void hs_coll_view(const hs_coll *c, uint32_t slot, double *vbuf, hs_point_view *v);

/* ---- write.c ---- */
int hs_coll_replay(void *ctx, const hs_wal_record *r);
/* Applies the queued writes whose records are durable and, when the log has failed, refuses the
 * rest and makes the collection read-only (logged once per collection).  Caller holds wlock. */
void hs_coll_settle_locked(hs_coll *c);
/* Waits until every queued write is durable (or refused) and settles them: afterwards the queue
 * is empty.  Caller holds wlock (it is kept across the fsync). */
void hs_coll_drain_locked(hs_coll *c);
/* The durability a write gets (HS_DURABILITY_DEFAULT: the database's). */
hs_durability hs_coll_durability(const hs_coll *c, hs_durability d);
/* HS_EFROZEN about e. */
int hs_coll_frozen(const centry *e, hs_error *err);
/* HS_EREADONLY when c's log failed (a replicated change ignores the frozen state).  wlock. */
int hs_coll_loggable_locked(hs_coll *c, hs_error *err);
/* HS_OK when c takes changes: not read-only, not frozen (HS_EREADONLY, HS_EFROZEN).  wlock. */
int hs_coll_writable_locked(hs_coll *c, hs_error *err);
/* Logs an UPSERT record of n points built by the caller (its payload at buf + HS_WAL_HEADER,
 * len bytes) and queues it (or applies it at once: ASYNC with nothing queued): capacity,
 * blobs, clock ticks, append.  wlock held.  Whatever the result, hs_coll_upsert_finish(c, p,
 * rc, ...) follows once wlock is released: it waits for the record as `mode` asks and frees
 * what this prepared. */
int hs_coll_upsert_locked(hs_coll *c, uint8_t *buf, size_t len, size_t n, hs_durability mode,
                          hs_pending *p, hs_error *err);
int hs_coll_upsert_finish(hs_coll *c, hs_pending *p, int rc, hs_durability mode, hs_error *err);
/* As hs_coll_upsert_locked; clock != 0: the points take clock .. clock + n - 1 (a follower's
 * leader's clocks, merged: hs_db_clock_merge) instead of a tick.  UPSERT payloads as
 * hs_coll_encode_upserts builds them. */
int hs_coll_upsert_at_locked(hs_coll *c, uint8_t *buf, size_t len, size_t n, hs_durability mode,
                             uint64_t clock, hs_pending *p, hs_error *err);
/* The UPSERT (UPSERT_SID) payload of n points after HS_WAL_HEADER bytes of room (malloc'd, *len
 * its payload bytes).  processed: the vectors are stored ones (no normalisation); stored
 * (optional, n entries): a point's metadata in stored form ([u32 length][blob]) instead of
 * pts[i].meta, NULL entries taking pts[i].meta. */
uint8_t *hs_coll_encode_upserts(const hs_coll *c, const hs_point *pts, size_t n, bool processed,
                                const uint8_t *const *stored, size_t *len, hs_error *err);
/* The write path's steps for a record built by the caller (replicate.c): log it (wlock held;
 * the collection turns read-only when the log fails), queue or apply it (wlock held), then
 * once wlock is released wait for it as `mode` asks (HS_OK when it was applied). */
int hs_coll_log_locked(hs_coll *c, uint8_t type, uint64_t lsn, uint8_t *buf, size_t len,
                       uint64_t *ticket, hs_error *err);
void hs_coll_submit_locked(hs_coll *c, hs_pending *p);
int hs_coll_submit_finish(hs_coll *c, hs_pending *p, hs_durability mode, hs_error *err);
/* hs_wal_sync of the collection's log; a failure makes the collection read-only. */
int hs_coll_wal_sync(hs_coll *c, hs_error *err);
/* Before the first change of a loaded collection (log record, configuration, rebuild): makes
 * the catalog file say it changes (hs_catlog_dirty).  wlock held. */
int hs_coll_mark_changed(hs_coll *c, hs_error *err);
int hs_validate_vector(const hs_coll *c, const double *v, size_t dim, bool query, hs_error *err);
/* The checks of a point's metadata entries (HS_EMETADATA with field, reason, key, limit). */
int hs_validate_meta(const hs_kv *kv, size_t n, hs_error *err);
/* Frees a slot's blob unless it lives in the arena. */
static inline void hs_meta_free(const hs_coll *c, uint8_t *blob)
{
    bool in_arena = c->meta_arena && blob >= c->meta_arena &&
                    (size_t)(blob - c->meta_arena) < c->meta_arena_len;
    if (blob && !in_arena)
        free(blob);
}

/* The same for a string id's blob. */
static inline void hs_sid_free(const hs_coll *c, uint8_t *blob)
{
    bool in_arena = c->sid_arena && blob >= c->sid_arena &&
                    (size_t)(blob - c->sid_arena) < c->sid_arena_len;
    if (blob && !in_arena)
        free(blob);
}

/* The string id blob of a slot (NULL for collections of integer ids and slots not live). */
static inline uint8_t *hs_coll_sid(const hs_coll *c, uint32_t slot)
{
    return c->sid ? *(uint8_t *const *)hs_chunks_at(&c->sids, slot) : NULL;
}

/* Checks a string id given to a call (hs_sid_check; err->index = index when index >= 0). */
int hs_sid_check_at(const char *sid, size_t len, long index, hs_error *err);
/* Sets err->key to the start of a (checked) string id, for messages about its point. */
void hs_error_sid(hs_error *err, const char *sid, size_t len);
/* HS_EINVAL (field POINT, reason TYPE): the collection does not use ids of this kind. */
int hs_coll_id_kind(const centry *e, hs_error *err);

/* Digest hash of the point stored in rec (spec grpc.md 6.1; a string id's point hashes its
 * string instead of the id: sid is its blob) and its bucket.  Caller holds rw for writing. */
uint64_t hs_point_hash(hs_coll *c, uint64_t id, const uint8_t *sid, const void *rec);
unsigned hs_point_bucket(uint64_t id, const uint8_t *sid);
/* Recomputes every bucket from the live points. */
void hs_digest_recompute(hs_coll *c);

/* ---- changes.c ---- */
/* hs_changes_open of the incarnation created at `created` (0: the current one): HS_ENOTFOUND
 * when the collection of that name is another one or none. */
int hs_changes_open_inc(hs_db *db, const char *tenant, const char *name, uint64_t created,
                        const hs_changes_opts *o, hs_changes **out, hs_error *err);
/* Tells the observer (if any) that a change of e with last clock `clock` is visible. */
void hs_db_note_change(hs_db *db, const centry *e, uint64_t clock);

/* ---- drops.c ---- */
/* Remembers the drop of e (its last change `last`, the drop's clock) for change readers and
 * appends it to <root>/.drops (fsynced; a failure is logged and the file rewritten at the next
 * drop or at close).  db->lock held. */
void hs_db_note_drop_locked(hs_db *db, const centry *e, uint64_t last, uint64_t clock);
/* The note of the drop of incarnation (tenant, name, created): 1 and *out, or 0.  db->lock. */
int hs_drops_find_locked(const hs_db *db, const char *tenant, const char *name,
                         uint64_t created, struct hs_drop_note *out);
/* A restore publishes e, an incarnation a note may say was dropped (an archive older than the
 * drop): such notes no longer name it, so the open does not finish that drop again on it.
 * db->lock held. */
void hs_drops_disarm_locked(hs_db *db, const centry *e);
/* The highest clock of a drop noted (0 when none; not the horizon).  db->lock. */
uint64_t hs_drops_max_locked(const hs_db *db);
/* The clock of the latest drop noted of a collection of that name (0: none).  db->lock. */
uint64_t hs_drops_last_locked(const hs_db *db, const char *tenant, const char *name);
/* Reads <root>/.drops into db->drops at open and rewrites it (no other thread runs). */
int hs_drops_open(hs_db *db, hs_error *err);
/* Closes the file (rewritten when an append failed). */
void hs_drops_close(hs_db *db);
/* The highest clock of a drop no longer noted (0: none forgotten); with `kept`, of the history
 * the node holds now (drop_kept_horizon). */
uint64_t hs_drops_horizon(hs_db *db, bool kept);
/* Forgets every note, raises the horizon to at least `horizon` and sets the kept horizon to
 * `base`; the file rewritten (db->lock held). */
int hs_drops_forget_locked(hs_db *db, uint64_t horizon, uint64_t base, hs_error *err);
/* After a checkpoint at `from` covering the changes up to ckpt_clock: *keep gets the oldest log
 * segment to keep (hs_db_opts.wal_retain_bytes) and *floor the log floor once the older ones
 * are removed.  Reads (does not change) c->log_floor.  ckpt_mu held. */
void hs_coll_retention(hs_coll *c, hs_wal_pos from, uint64_t ckpt_clock, uint64_t *keep,
                       uint64_t *floor);
/* The log floor of a collection that is not loaded, from the newest checkpoint in dir (0 when
 * there is none: the log is whole).  persist.c. */
uint64_t hs_ckpt_log_floor(hs_db *db, const char *dir);

/* ---- read.c ---- */
/* True when the graph is built on the codes (quantized l2 or cosine; see graph_space). */
static inline bool hs_coll_codes_graph(const hs_coll *c)
{
    return c->quantized && c->cfg.metric != HS_METRIC_POINCARE &&
           c->cfg.metric != HS_METRIC_LORENTZ;
}

/* Encodes the traversal code of one vector's components x (float64 for poincare and lorentz,
 * float32 otherwise).  A hyperboloid point is coded as its image in the Poincaré ball,
 * p_i = x_i / (1 + x_0) (the same distances; its own coordinates, x_0 in the millions near the
 * boundary, would cancel in -<x, y>_L): buf holds dimension doubles for that. */
void hs_coll_encode_code(const hs_coll *c, const void *x, void *code, double *buf);

/* The narrow copy: slot's full record (stored form: float32, or float64 in the ball) into it,
 * or, when the record is not exact in the narrow type (bfloat16, or float32), the copy dropped
 * for good (the full records serve walks from then on).  No-op when off.  Caller holds wlock
 * and rw for writing (or has c to itself, as at load). */
void hs_coll_narrow_put(hs_coll *c, uint32_t slot, const void *rec);
/* The full record of slot (c->full.rec_len bytes, alpha included) from its exact narrow copy.
 * Only while narrow_on, under rw. */
void hs_coll_narrow_decode(const hs_coll *c, uint32_t slot, void *buf);
/* Records per chunk of the codes and the narrow copy, log2: a small collection's table stays on
 * the heap (a chunk of 2 MiB or more is a huge-page mapping, whose first touch takes 2 MiB: 30
 * collections of 5 scalar-coded points took 61 MB with 65,536 records per chunk); a large one's
 * chunks are grouped into huge-page mappings all the same (util/chunks.c). */
#define HS_CODES_SHIFT 12
/* Drops the narrow copy (same locks), logging why. */
void hs_coll_narrow_off(hs_coll *c, const char *why);

/* True when walks do not read the float32/float64 records (codes or the narrow copy serve
 * them): the vector files' pages can leave the process. */
static inline bool hs_coll_walks_off_vectors(const hs_coll *c)
{
    return c->quantized || __atomic_load_n(&c->narrow_on, __ATOMIC_RELAXED);
}

/* Points graph_space and graph_recs at the tables the graph uses (after vecs or codes moved). */
static inline void hs_coll_set_graph_recs(hs_coll *c)
{
    bool codes = hs_coll_codes_graph(c);
    c->graph_space = codes ? &c->trav : &c->full;
    c->graph_recs = codes ? &c->codes : hs_segset_chunks(c->vecs);
}

static inline bool hs_live(const hs_coll *c, uint32_t slot)
{
    return slot < c->live_words * 64 &&
           (__atomic_load_n(&c->live[slot >> 6], __ATOMIC_RELAXED) >> (slot & 63) & 1);
}

/* ---- snapshot.c, restore.c ---- */
/* Enters the snapshot gate for reading before deleting collection files (a checkpoint, a
 * rebuild, a drop).  try_only: gives up (returns false) while a snapshot holds it.  Nested
 * entries by one thread are free.  Returns true when entered; leave with hs_snap_gate_leave. */
bool hs_snap_gate_enter(hs_db *db, bool try_only);
void hs_snap_gate_leave(hs_db *db);
/* Sets db->snap_dir at open and removes unfinished archives (`.*.tmp`) from it. */
int hs_snap_init(hs_db *db, hs_error *err);

/* Entry kinds of a snapshot archive (docs/file-format.md, "Snapshot archive"). */
enum { HS_SNAP_CKPT = 1, HS_SNAP_VECS = 2, HS_SNAP_WAL = 3 };

/* The description an archive's manifest carries (snapshot.c encodes and checks it). */
typedef struct hs_snap_coll {
    char tenant[HS_NAME_MAX + 1], name[HS_NAME_MAX + 1];
    hs_collection_config config;
    uint64_t created_clock, clock;
    bool frozen; /* hs_collection_freeze: the restored copy is frozen too */
} hs_snap_coll;

typedef struct hs_snap_meta {
    uint32_t node;      /* 1: a node snapshot */
    uint64_t created_ms;
    char node_id[40];
    uint32_t skipped;
    hs_snap_coll *colls;
    size_t n;
} hs_snap_meta;

/* Decodes and checks a description (names, parameters): HS_ECORRUPT (field SNAPSHOT). */
int hs_snap_meta_parse(const uint8_t *b, size_t len, hs_snap_meta *m, hs_error *err);
void hs_snap_meta_free(hs_snap_meta *m);
/* The snapshot name rule (HS_ENAME, field SNAPSHOT). */
int hs_snap_name_check(const char *name, hs_error *err);
/* Opens the regular file `name` of the snapshot directory read-only, without following a
 * symbolic link: HS_ENOTFOUND (field SNAPSHOT) for anything else. */
int hs_snap_open(hs_db *db, const char *name, int *fd, uint64_t *len, hs_error *err);
/* The manifest of an open archive and its description (t, m freed by the caller). */
int hs_snap_peek(hs_db *db, int fd, uint64_t len, hs_archive_toc *t, hs_snap_meta *m,
                 hs_error *err);
/* Rebuilds a collection's file name from an archive entry: the name the entry must have, or
 * false when kind and name do not follow the grammar; *num gets its number (checkpoint and
 * segment sequence, vector file index) and *gen the vectors generation. */
bool hs_snap_entry_file(const hs_archive_entry *e, uint64_t *num, uint32_t *gen);
/* The figures of an archive from its description. */
void hs_snap_info_fill(hs_db *db, const hs_snap_meta *m, uint64_t clock, uint64_t bytes,
                       hs_snapshot_info *out);
/* HS_ECORRUPT about snapshot `name` (field SNAPSHOT), with the cause. */
int hs_snap_corrupt(hs_error *err, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- indexer.c ---- */
int hs_indexer_start(hs_db *db, hs_error *err);
void hs_indexer_stop(hs_db *db);
/* Tells the pool that slots up to c->nslots wait for insertion. */
void hs_indexer_kick(hs_coll *c);
/* Stops handing out work for c and waits for its batches in flight (for checkpoint/rebuild).
 * Pauses nest: indexing restarts when every pause has been matched by a resume. */
void hs_indexer_pause(hs_coll *c);
void hs_indexer_resume(hs_coll *c);
/* Waits until c has nothing left to index, waiting out pauses (so never called by a thread
 * that holds one). */
void hs_indexer_drain(hs_coll *c);
/* Removes c from the pool's queue and waits for its batches (before c is freed). */
void hs_indexer_forget(hs_coll *c);

#endif /* HS_CORE_H */
