/*
 * hyperspace.h: the public API of HyperspaceDB, an embeddable vector database whose native
 * geometry is the Poincare ball besides L2 and cosine.
 *
 * This is the only public header.  Conventions:
 *  - every fallible call returns an hs_rc: 0 (HS_OK) on success, a negative HS_E* code otherwise;
 *    codes are stable and never renumbered;
 *  - fallible calls take an optional caller-owned `hs_error *err` that receives a human-readable
 *    detail (pass NULL when not needed);
 *  - every function documents Ownership, Thread-safety and Errors.
 */
#ifndef HYPERSPACE_H
#define HYPERSPACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HS_VERSION_MAJOR 0
#define HS_VERSION_MINOR 1
#define HS_VERSION_PATCH 0

/*
 * Error codes: X(name, value, default message).  Values are stable; new codes are appended with
 * new values, never inserted or renumbered.
 */
#define HS_ERRNO_MAP(X)                                                               \
    X(OK, 0, "success")                                                               \
    X(EINVAL, -1, "invalid argument")                                                 \
    X(ENOMEM, -2, "out of memory")                                                    \
    X(ENOTFOUND, -3, "not found")                                                     \
    X(EEXIST, -4, "already exists")                                                   \
    X(EDIM, -5, "dimension mismatch")                                                 \
    X(ENONFINITE, -6, "vector contains a non-finite value")                           \
    X(EBALL, -7, "vector is not strictly inside the Poincare ball")                   \
    X(EZERO, -8, "zero vector is not allowed with the cosine metric")                 \
    X(ECORRUPT, -9, "corrupt data")                                                   \
    X(EIO, -10, "I/O error")                                                          \
    X(ENOSPC, -11, "no space left on device")                                         \
    X(EREADONLY, -12, "read-only after a failed fsync")                               \
    X(EBUSY, -13, "resource busy or locked")                                          \
    X(ERANGE, -14, "parameter out of range")                                          \
    X(EFULL, -15, "capacity exhausted")                                               \
    X(EVERSION, -16, "unsupported format version")                                    \
    X(ECLOSED, -17, "handle is closed")                                               \
    X(EMETADATA, -18, "invalid metadata")                                             \
    X(EFILTER, -19, "invalid filter")                                                 \
    X(EINTERNAL, -20, "internal error")                                               \
    X(EEMPTY, -21, "vector must not be empty")                                        \
    X(ENAME, -22, "invalid name")                                                     \
    X(ELOAD, -23, "collection failed to load")                                        \
    X(EHYPERBOLOID, -24, "vector is not on the upper sheet of the hyperboloid")        \
    X(EFROZEN, -25, "collection is frozen")                                           \
    X(ETRUNCATED, -26, "the log no longer holds that position")

typedef enum hs_rc {
#define HS_RC_ENUM_(name, value, msg) HS_##name = value,
    HS_ERRNO_MAP(HS_RC_ENUM_)
#undef HS_RC_ENUM_
} hs_rc;

/* Static name ("HS_EINVAL") and default message of a code; "unknown" for other values.
 * Ownership: the strings are static.  Thread-safety: safe.  Errors: none (both functions). */
const char *hs_rc_name(int rc);
const char *hs_rc_message(int rc);

/* The input a failure is about (hs_error.field). */
typedef enum hs_field {
    HS_FIELD_NONE = 0,            /* not about one input */
    HS_FIELD_TENANT = 1,          /* the tenant name */
    HS_FIELD_COLLECTION = 2,      /* the collection (its name, or the collection itself) */
    HS_FIELD_DIMENSION = 3,       /* hs_collection_config.dimension */
    HS_FIELD_METRIC = 4,
    HS_FIELD_QUANTIZATION = 5,
    HS_FIELD_M = 6,
    HS_FIELD_EF_CONSTRUCTION = 7,
    HS_FIELD_EF_SEARCH = 8,
    HS_FIELD_VECTOR = 9,          /* a point's vector */
    HS_FIELD_QUERY = 10,          /* a search's query vector */
    HS_FIELD_METADATA = 11,       /* a point's metadata as a whole */
    HS_FIELD_METADATA_KEY = 12,   /* one metadata key */
    HS_FIELD_METADATA_VALUE = 13, /* the value of metadata key `key` */
    HS_FIELD_FILTER = 14,         /* condition `item` of filter group `key` (must, should, must_not) */
    HS_FIELD_HYBRID_ALPHA = 15,
    HS_FIELD_POINT = 16,          /* the point `id` (a string id: see hs_sid_check) */
    HS_FIELD_CLOCK = 17,          /* a logical clock given (`actual`; the bound in `expected`) */
    HS_FIELD_SNAPSHOT = 18,       /* a snapshot archive (its name in `name`, or its contents) */
    HS_FIELD_ID_TYPE = 19,        /* hs_collection_config.id_type */
    HS_FIELD_OVERSAMPLING = 20,   /* hs_collection_config / hs_search_opts .oversampling */
} hs_field;

/* Why the input named by hs_error.field was refused (hs_error.reason). */
typedef enum hs_reason {
    HS_REASON_NONE = 0,
    HS_REASON_EMPTY = 1,     /* empty or missing */
    HS_REASON_SYNTAX = 2,    /* breaks the name rule (HS_NAME_MAX) */
    HS_REASON_RESERVED = 3,  /* a reserved name */
    HS_REASON_RANGE = 4,     /* outside [min, max]: the value given is `actual` (integers) or `value` */
    HS_REASON_UNKNOWN = 5,   /* not one of the known values (`actual`) */
    HS_REASON_TOO_MANY = 6,  /* more entries than allowed (`max`) */
    HS_REASON_TOO_LONG = 7,  /* longer than `max` bytes */
    HS_REASON_ENCODING = 8,  /* not valid UTF-8 */
    HS_REASON_NONFINITE = 9, /* component `item` is NaN or infinite */
    HS_REASON_FLOAT32 = 10,  /* component `item` is beyond the float32 range the metric stores */
    HS_REASON_FSYNC = 11,    /* read-only after a failed log fsync */
    HS_REASON_TYPE = 12,     /* a value of a type the input cannot hold (a list inside a list,
                                an unknown value type) */
} hs_reason;

/*
 * What a failed call reports: its code, then typed details that a program can act on (a server
 * maps them to its statuses), then a human message.  The message is for people: its wording may
 * change between versions; the code, field, reason and details are the contract.  A detail not
 * named for a failure keeps its neutral value (0, -1, "").
 */
typedef struct hs_error {
    int rc;
    long index;         /* the failing entry of a batch, -1 when not about one entry */
    hs_field field;     /* the input at fault, HS_FIELD_NONE when none */
    hs_reason reason;   /* why, HS_REASON_NONE when the code says it all */
    long item;          /* component of a vector, condition of a filter group; -1 */
    uint64_t expected;  /* HS_EDIM: the collection's dimension */
    uint64_t actual;    /* HS_EDIM: the dimension given; RANGE / UNKNOWN: the integer given */
    double min, max;    /* RANGE: the allowed bounds; TOO_MANY / TOO_LONG: the limit in max */
    double value;       /* HS_EBALL: the squared norm; RANGE on a real field: the value given */
    uint64_t id;        /* HS_FIELD_POINT: the point id */
    /* the tenant or collection name concerned (HS_FIELD_TENANT / HS_FIELD_COLLECTION), echoed
     * safely: bytes outside printable ASCII as \xNN, cut after 64 characters with "..." */
    char name[300];
    char key[72];       /* metadata key (first 64 bytes) or filter group name */
    char cause[256];    /* HS_ELOAD: why the collection failed to load (as hs_collection_stats
                           .error; for people) */
    char message[256];  /* what was wrong, for people */
} hs_error;

/* Distance metric of a collection. */
typedef enum hs_metric {
    HS_METRIC_L2 = 0,       /* squared Euclidean distance */
    HS_METRIC_COSINE = 1,   /* 1 - cosine similarity; vectors normalised at insert */
    HS_METRIC_POINCARE = 2, /* geodesic distance in the Poincare ball */
    /* geodesic distance on the hyperboloid (Lorentz model): vectors (x0, x1..xn) with
     * -x0^2 + x1^2 + ... + xn^2 = -1 (relative tolerance 1e-5 of x0^2) and x0 > 0; the
     * dimension counts x0.  The point maps to the Poincare ball as (x1..xn) / (1 + x0). */
    HS_METRIC_LORENTZ = 3,
} hs_metric;

/* Quantization of the in-RAM traversal codes (results are always re-ranked exactly). */
typedef enum hs_quantization {
    HS_QUANT_NONE = 0,
    HS_QUANT_SCALAR = 1, /* int8 per component with a per-vector scale */
    HS_QUANT_BINARY = 2, /* one bit per component */
} hs_quantization;

/* When a write is acknowledged (spec B2.6). */
typedef enum hs_durability {
    HS_DURABILITY_DEFAULT = 0, /* the database's configured level */
    HS_DURABILITY_ASYNC = 1,   /* handed to the OS with write() */
    HS_DURABILITY_BATCH = 2,   /* covered by a group fsync (at most one per batch interval) */
    HS_DURABILITY_STRICT = 3,  /* covered by an fsync started after the write */
} hs_durability;

/* ---- file I/O ------------------------------------------------------------------------------
 * Every file operation of the storage engine goes through this table, so that tests (and
 * embedders) can inject short writes, I/O errors, a full disk or lost fsyncs.  Each function
 * returns 0 (or a byte count / descriptor) on success and a negative errno value on failure.
 * hs_io_posix() is the default table.  All functions must be thread-safe. */
typedef struct hs_io_ops {
    void *ctx;
    int (*open)(void *ctx, const char *path, int flags, unsigned mode);
    int (*close)(void *ctx, int fd);
    long (*pread)(void *ctx, int fd, void *buf, size_t len, uint64_t off);
    long (*pwrite)(void *ctx, int fd, const void *buf, size_t len, uint64_t off);
    int (*fsync)(void *ctx, int fd); /* data and the metadata needed to read it (fdatasync) */
    int (*ftruncate)(void *ctx, int fd, uint64_t len);
    int (*fallocate)(void *ctx, int fd, uint64_t off, uint64_t len); /* reserve real blocks */
    int (*size)(void *ctx, int fd, uint64_t *len);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int (*mkdir)(void *ctx, const char *path, unsigned mode);
    int (*rmdir)(void *ctx, const char *path);
    int (*fsync_dir)(void *ctx, const char *path);
    /* calls fn for every entry name of dir except "." and ".."; stops when fn returns non-zero */
    int (*list)(void *ctx, const char *dir, int (*fn)(void *arg, const char *name), void *arg);
    /* maps len bytes of fd from offset 0, shared and writable when `writable`; NULL on failure */
    void *(*mmap)(void *ctx, int fd, size_t len, int writable);
    int (*munmap)(void *ctx, void *addr, size_t len);
    int (*msync)(void *ctx, void *addr, size_t len);
    /* starts writing fd's dirty pages to the device without waiting (a hint before fsyncs of
     * several files, so they share one journal commit); optional: NULL does nothing */
    int (*writeback)(void *ctx, int fd);
    /* advice on a range of a mapping from mmap: HS_ADVISE_RANDOM (no read-ahead: records are
     * touched one by one) or HS_ADVISE_RELEASE (drop the pages from the process, the file keeps
     * the data and a later access reads it back); optional: NULL does nothing */
    int (*advise)(void *ctx, void *addr, size_t len, int advice);
} hs_io_ops;

enum { HS_ADVISE_RANDOM = 1, HS_ADVISE_RELEASE = 2 };

/* The POSIX implementation.  Ownership: static.  Thread-safety: safe.  Errors: none. */
const hs_io_ops *hs_io_posix(void);

/* ---- databases ------------------------------------------------------------------------------ */

typedef struct hs_db hs_db;
typedef struct hs_collection hs_collection;

typedef struct hs_db_opts {
    hs_durability durability;       /* level used for HS_DURABILITY_DEFAULT (default BATCH) */
    uint32_t batch_interval_ms;     /* group-commit interval (default 10) */
    uint32_t idle_timeout_sec;      /* unload collections idle this long (default 3600; 0 never) */
    uint32_t max_loaded;            /* collections loaded at once (default 1000; 0 unlimited) */
    uint32_t indexer_threads;       /* graph-insertion threads (default 0 = online CPUs) */
    uint32_t snapshot_interval_sec; /* checkpoint changed collections (default 60; 0 on demand) */
    uint64_t wal_segment_bytes;     /* WAL segment size (default 64 MiB) */
    uint32_t default_m;             /* HNSW m for new collections (default 16) */
    uint32_t default_ef_construction; /* default 100; followed by collections that never set it */
    uint32_t default_ef_search;       /* default 100; likewise */
    uint32_t exact_threshold;       /* collections with fewer live points are scanned exactly
                                       instead of searched through the graph (default 1024) */
    uint32_t max_collections_per_tenant; /* creating more fails with HS_EFULL (default 0 =
                                            unlimited) */
    uint64_t memory_limit;          /* bytes the loaded collections may take (graph, tables,
                                       vectors, payload indexes; 0 = no limit): least recently
                                       used ones are unloaded to stay under it, and loading a
                                       collection that cannot fit fails with HS_EFULL (field
                                       COLLECTION, `value` its estimate, `max` the limit) */
    uint32_t checkpoint_min_log_bytes; /* unloading, closing and the snapshot interval skip the
                                          checkpoint of a collection whose log holds fewer bytes
                                          (it is replayed at the next load; default 65536; 0 =
                                          always checkpoint a changed collection) */
    uint64_t wal_retain_bytes;      /* log a checkpoint no longer needs that is kept for change
                                       readers (hs_changes_open), per collection: the newest
                                       covered segments while their total stays within this
                                       (default 0: a checkpoint removes all of it) */
    uint32_t no_narrow;             /* 0 (default): an unquantized float32 l2 or cosine
                                       collection whose every stored vector is exactly bfloat16
                                       walks a bfloat16 copy in RAM (the same distances bit for
                                       bit, half the bytes; the float32 records stay in their
                                       files); 1: always the float32 records */
    const hs_io_ops *io;            /* file operations (default hs_io_posix()) */
    const char *snapshot_dir;       /* where snapshot archives are kept (default
                                       <path>/.snapshots; copied at open) */
} hs_db_opts;

/* Fills the defaults above.  Ownership: o is the caller's.  Thread-safety: safe.  Errors: none. */
void hs_db_opts_init(hs_db_opts *o);

/*
 * Opens (creating when missing) the database in directory `path`.  Only the catalog is read:
 * no collection is loaded.  A lock file keeps a second process out.
 * Ownership: *out is closed with hs_db_close.  Thread-safety: the handle is thread-safe.
 * Errors: HS_EBUSY (another process has it open), HS_EIO, HS_ECORRUPT (bad node state),
 * HS_ENOMEM, HS_EINVAL (bad options).
 */
int hs_db_open(const char *path, const hs_db_opts *opts, hs_db **out, hs_error *err);

/*
 * Checkpoints every changed loaded collection, syncs every log, stops the background threads and
 * frees everything.  Handles still open become invalid.
 * Ownership: frees db.  Thread-safety: no other call on db may run.  Errors: the first failure of
 * a final checkpoint (the database is closed anyway; the logs still hold the data).
 */
int hs_db_close(hs_db *db, hs_error *err);

/* The node's logical clock (the value of the latest tick).
 * Ownership: none.  Thread-safety: safe.  Errors: none. */
uint64_t hs_db_clock(hs_db *db);

/* Checkpoints every loaded collection that changed (and fsyncs every log of a loaded
 * collection), so that everything acknowledged before the call survives power loss.
 * *collections gets how many loaded collections were covered.
 * Ownership: none.  Thread-safety: safe.  Errors: HS_EIO, HS_ENOSPC, HS_ENOMEM (the first
 * failure; the other collections are still checkpointed). */
int hs_db_checkpoint(hs_db *db, size_t *collections, hs_error *err);

/* Compacts every loaded collection holding deleted or replaced points (as
 * hs_collection_rebuild) and returns free memory to the OS.  *collections and *reclaimed get the
 * collections compacted and the entries reclaimed.
 * Ownership: none.  Thread-safety: safe.  Errors: as hs_collection_rebuild (the first). */
int hs_db_vacuum(hs_db *db, size_t *collections, uint64_t *reclaimed, hs_error *err);

/* Catalog totals without loading anything: collections, live points (cold ones from their
 * newest checkpoint), loaded collections, quarantined collections.
 * Ownership: none.  Thread-safety: safe.  Errors: none. */
void hs_db_totals(hs_db *db, uint64_t *collections, uint64_t *points, uint64_t *loaded,
                  uint64_t *failed);

/* A tenant's usage (hs_db_usage): collections (of which loaded), live and deleted points, bytes
 * of its files on disk and resident bytes of its loaded collections (cold ones cost none). */
typedef struct hs_tenant_usage {
    const char *tenant;
    uint64_t collections, loaded, points, deleted, disk_bytes, ram_bytes;
    uint64_t max_collections; /* the quota in force, 0 = unlimited */
} hs_tenant_usage;

/* Calls fn(ctx, u) for every tenant with a collection (or only `tenant`, when not NULL), in
 * name order, without loading or reading anything: the figures of collections that are not
 * loaded are kept summed per tenant, the loaded ones (at most the loaded limit) are added.
 * u and its strings live during the call only.  A non-zero return from fn stops and is returned.
 * Ownership: none.  Thread-safety: safe (fn may call into db).  Errors: HS_ENOMEM. */
int hs_db_usage(hs_db *db, const char *tenant,
                int (*fn)(void *ctx, const hs_tenant_usage *u), void *ctx, hs_error *err);

/* Event counters of the database since it was opened (WAL fsyncs: of the whole process). */
typedef struct hs_db_counters {
    uint64_t loads, evictions_idle, evictions_lru;
    uint64_t wal_fsyncs, wal_fsync_failures;
    uint64_t snapshots_ok, snapshots_failed;
    uint64_t evictions_memory; /* unloaded to stay under opts.memory_limit */
} hs_db_counters;

/* Copies the counters into *out.  Ownership: none.  Thread-safety: safe.  Errors: none. */
void hs_db_counters_get(hs_db *db, hs_db_counters *out);

/* The node's id (a UUID v4 created with the database, kept forever).
 * Ownership: the string lives as long as db.  Thread-safety: safe.  Errors: none. */
const char *hs_db_node_id(hs_db *db);

/* Returns free allocator memory to the operating system; *freed gets the bytes released when
 * the allocator reports them (0 otherwise).
 * Ownership: none.  Thread-safety: safe.  Errors: none (returns HS_OK). */
int hs_db_release_memory(hs_db *db, uint64_t *freed);

/* ---- collections ---------------------------------------------------------------------------- */

#define HS_NAME_MAX 64 /* names match ^[A-Za-z0-9_.-]{1,64}$ and do not start with '.' */

/* The kind of point ids a collection uses, chosen when it is created and never changed; a point
 * of the other kind is refused (HS_EINVAL, field POINT, reason TYPE, `expected` the collection's
 * kind).  String ids: see hs_sid_check. */
typedef enum hs_id_type {
    HS_ID_INTEGER = 0, /* hs_point.id, any uint64 */
    HS_ID_STRING = 1,  /* hs_point.sid: UUIDs or any other string */
} hs_id_type;

typedef struct hs_collection_config {
    uint32_t dimension;           /* 1..16384 */
    hs_metric metric;
    hs_quantization quantization;
    uint32_t m;                   /* 2..128, 0 = database default */
    uint32_t ef_construction;     /* 1..10000, 0 = follow the database default */
    uint32_t ef_search;           /* 1..10000, 0 = follow the database default */
    hs_id_type id_type;           /* HS_ID_INTEGER (the default) or HS_ID_STRING */
    /* quantized collections: a search re-scores max(ef, ceil(oversampling * k)) candidates of
     * the walk on the codes with the full vectors; 1..100 (kept to hundredths), 0 = the
     * quantization's default (hs_oversampling_default); ignored without quantization */
    double oversampling;
} hs_collection_config;

/* HS_OVERSAMPLING_MAX bounds hs_collection_config.oversampling and hs_search_opts.oversampling.
 * hs_oversampling_default: the factor a collection with oversampling 0 uses (binary 5, scalar 1,
 * none 1: measured on 100k x 768 cosine, bench/README.md).  Ownership: none.  Thread-safety:
 * safe.  Errors: none. */
#define HS_OVERSAMPLING_MAX 100
double hs_oversampling_default(hs_quantization q);

/* Fills the defaults (dimension 0: set it; metric cosine; no quantization; database defaults
 * for m and ef).  Ownership: c is the caller's.  Thread-safety: safe.  Errors: none. */
void hs_collection_config_init(hs_collection_config *c);

/*
 * Checks a name: `which` is HS_FIELD_COLLECTION (the name rule; empty is reason EMPTY) or
 * HS_FIELD_TENANT (the name rule, and not one of the data directory's own files: LOCK,
 * node.json, compared ignoring case: reason RESERVED) or HS_FIELD_SNAPSHOT (the snapshot name
 * rule, below).  err gets field, reason and the name
 * echoed safely.  Ownership: none.  Thread-safety: safe.  Errors: HS_ENAME, HS_EINVAL (which).
 */
int hs_name_check(hs_field which, const char *name, hs_error *err);

/*
 * Creates a collection of `tenant` (durable before returning; ticks the clock).
 * Ownership: cfg stays the caller's.  Thread-safety: safe.
 * Errors: HS_ENAME, HS_EEXIST, HS_ERANGE (dimension or parameter), HS_EINVAL (metric, id type or
 * quantization), HS_EIO / HS_ENOSPC (nothing is left on disk).
 */
int hs_collection_create(hs_db *db, const char *tenant, const char *name,
                         const hs_collection_config *cfg, hs_error *err);

/* Deletes a collection and its files; operations in flight finish first.  Ticks the clock.
 * Ownership: none.  Thread-safety: safe.  Errors: HS_ENAME, HS_ENOTFOUND, HS_EIO. */
int hs_collection_drop(hs_db *db, const char *tenant, const char *name, hs_error *err);

typedef struct hs_collection_stats {
    hs_collection_config config; /* ef values as in effect */
    uint64_t count;              /* live points */
    uint64_t deleted;            /* deleted or replaced points still holding a slot */
    uint64_t indexing_queue;     /* points written but not yet in the graph */
    uint64_t memory_bytes;       /* heap + mapped bytes of a loaded collection, 0 when cold */
    uint64_t disk_bytes;
    uint64_t clock;              /* clock of the latest logged operation on it */
    /* graph points that no search can reach from the entry point (level 0), as counted by the
     * latest reachability check (after each indexing round, checkpoint and rebuild); -1 when
     * cold or not checked since the collection was loaded */
    int64_t unreachable;
    /* bytes in RAM now by tier, of a loaded collection (0 when cold): measured with mincore
     * where the memory is page-mapped (graph tables, traversal codes, vector files), the heap
     * allocations otherwise (upper graph levels, ids, metadata, payload indexes).  With scalar
     * or binary quantization the vector files are touched only to re-rank, so their share is
     * what recent searches read back. */
    uint64_t resident_graph_bytes;
    uint64_t resident_codes_bytes;  /* traversal codes, or the narrow copy (hs_db_opts.no_narrow) */
    uint64_t resident_vector_bytes; /* pages of the vector files mapped in */
    uint64_t resident_payload_bytes;
    int loaded;
    int read_only;               /* a log fsync failed: writes are refused until restart */
    int frozen;                  /* frozen (hs_collection_freeze): changes are refused */
    char error[256];             /* why it failed to load, when it did */
} hs_collection_stats;

/* Statistics of a collection without loading it and without counting as a use (the idle and
 * LRU unloading ignore it): a loaded one reports its live figures, a cold one the catalog's, a
 * quarantined one says why in st->error.  Ownership: st is the caller's.  Thread-safety: safe.
 * Errors: HS_ENAME, HS_ENOTFOUND. */
int hs_collection_stats_get(hs_db *db, const char *tenant, const char *name,
                            hs_collection_stats *st, hs_error *err);

/* The kind of ids of a collection (HS_ID_INTEGER or HS_ID_STRING, >= 0), from the catalog: nothing
 * is loaded or measured.  Ownership: none.  Thread-safety: safe.
 * Errors (negative): HS_ENAME, HS_ENOTFOUND. */
int hs_collection_id_type(hs_db *db, const char *tenant, const char *name, hs_error *err);

/* Calls fn(ctx, tenant, name) for every collection (of `tenant`, or of all when NULL), in
 * name order.  Loads nothing.  A non-zero return from fn stops and is returned.
 * Ownership: the strings are valid during the call only.  Thread-safety: safe; fn must not
 * create or drop collections.  Errors: HS_ENAME (tenant), HS_ENOMEM, fn's value. */
int hs_collection_list(hs_db *db, const char *tenant,
                       int (*fn)(void *ctx, const char *tenant, const char *name), void *ctx,
                       hs_error *err);

/* As hs_collection_list over the collections loaded at the moment of the call only (at most the
 * loaded limit, however many collections the node has), in name order.
 * Ownership, thread-safety, errors: as hs_collection_list. */
int hs_collection_list_loaded(hs_db *db,
                              int (*fn)(void *ctx, const char *tenant, const char *name),
                              void *ctx, hs_error *err);

/*
 * A handle on a collection: it keeps the collection from being unloaded while open (it does not
 * load it: the first operation that needs the data does).  Close it when the request is done.
 * Ownership: *out is released with hs_collection_close.  Thread-safety: a handle may be used
 * from several threads.  Errors: HS_ENAME, HS_ENOTFOUND.
 */
int hs_collection_open(hs_db *db, const char *tenant, const char *name, hs_collection **out,
                       hs_error *err);

/* Releases a handle (NULL is ignored).  Ownership: frees c.  Thread-safety: no other call on c
 * may run.  Errors: none. */
void hs_collection_close(hs_collection *c);

/*
 * Freezes (frozen non-zero) or unfreezes a collection.  A frozen collection is read-only: every
 * call that would change it (hs_upsert, hs_delete, hs_delete_where, hs_update_payload,
 * hs_collection_configure, hs_collection_rebuild) fails with HS_EFROZEN (field COLLECTION, its
 * name) and changes nothing, until it is unfrozen; reads and searches work as before, and
 * hs_collection_drop still drops it.  The state is durable when the call returns and survives
 * restarts.  Freezing waits for the writes in flight and then unloads the collection when no
 * handle holds it (it is loaded again by its next use); a collection that is not loaded is
 * frozen or unfrozen without being loaded.  Freezing a frozen collection, or unfreezing one that
 * is not, changes nothing.
 * Ownership: none.  Thread-safety: safe.
 * Errors: HS_ENAME, HS_ENOTFOUND, HS_ELOAD (quarantined), HS_EREADONLY, HS_EIO, HS_ENOSPC,
 * HS_ENOMEM.
 */
int hs_collection_freeze(hs_db *db, const char *tenant, const char *name, int frozen,
                         hs_error *err);


/* ---- points ---------------------------------------------------------------------------------- */

/* The type of a typed metadata value. */
typedef enum hs_value_type {
    HS_VALUE_STRING = 0, /* UTF-8 bytes: str, len */
    HS_VALUE_INT = 1,    /* a 64-bit signed integer: i */
    HS_VALUE_FLOAT = 2,  /* a finite double: f (-0.0 is stored as 0.0) */
    HS_VALUE_BOOL = 3,   /* i: 0 or 1 */
    HS_VALUE_LIST = 4,   /* items[0..count): scalars (no list inside a list) */
} hs_value_type;

/* A typed metadata value.  Only the members of its type are read. */
typedef struct hs_value {
    hs_value_type type;
    const char *str;
    size_t len;
    int64_t i;
    double f;
    const struct hs_value *items;
    size_t count;
} hs_value;

/*
 * A metadata entry: a UTF-8 key and either a string value (value, value_len; lengths in bytes)
 * or, when `typed` is not NULL, the typed value it points to (value and value_len are then
 * ignored).  A string value and a typed HS_VALUE_STRING are the same value.
 * Limits: at most 1,024 entries, keys of 1..256 bytes, strings up to 65,536
 * bytes; a list holds at most 1,024 elements and its string form (below) at most 65,536 bytes.
 * Matching: strings match strings byte for byte; numbers match numbers by value, integer or
 * float (7 and 7.0 are equal); booleans match booleans; a string never equals a number or a
 * boolean ("7" is not 7); a list matches when one of its elements does.
 */
typedef struct hs_kv {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    const hs_value *typed;
} hs_kv;

typedef struct hs_point {
    uint64_t id;          /* collections of integer ids */
    const double *vector; /* dim components */
    size_t dim;
    const hs_kv *meta;
    size_t nmeta;
    const char *sid;      /* collections of string ids: sid[0..sid_len) (id is not read) */
    size_t sid_len;
} hs_point;

/*
 * Inserts or replaces points (an existing id gets the new vector AND metadata).  The batch is
 * validated entirely first (nothing is written if any point is invalid; the message starts with
 * "vectors[i]: " for batches of more than one), then logged as one atomic unit, then applied;
 * it is visible to searches from the acknowledgement on.
 * Ownership: the points stay the caller's.  Thread-safety: safe.
 * Errors: HS_EEMPTY, HS_EDIM, HS_ENONFINITE, HS_EZERO, HS_EBALL, HS_EMETADATA, HS_EINVAL (a
 * string id, or an id of the kind the collection does not use: field POINT; invalid input;
 * err->index names the point, err->field/reason and the details what was wrong);
 * HS_ENOSPC, HS_EIO (log write failed, nothing applied), HS_EREADONLY, HS_ELOAD, HS_ENOMEM.
 */
int hs_upsert(hs_collection *c, const hs_point *pts, size_t n, hs_durability durability,
              hs_error *err);

/* Deletes the live ones among ids (one logged unit); *deleted gets how many were live.
 * Ownership: ids stay the caller's.  Thread-safety: safe.
 * Errors: HS_ENOSPC, HS_EIO (nothing applied), HS_EREADONLY, HS_ELOAD, HS_ENOMEM. */
int hs_delete(hs_collection *c, const uint64_t *ids, size_t n, hs_durability durability,
              size_t *deleted, hs_error *err);

typedef struct hs_point_view hs_point_view;
/* Deletes every live point accept returns non-zero for, chosen at one instant (no write runs
 * between choosing and deleting) and logged as one record; *deleted gets how many.  The visitor
 * sees no vector.  Ownership: the view is valid during the call of accept only.
 * Thread-safety: safe; accept runs under the collection's read lock and must not call into the
 * collection.  Errors: as hs_delete. */
int hs_delete_where(hs_collection *c, int (*accept)(void *ctx, const hs_point_view *p), void *ctx,
                    hs_durability durability, size_t *deleted, hs_error *err);

/* How hs_update_payload changes the metadata of each point it updates. */
typedef enum hs_payload_mode {
    HS_PAYLOAD_MERGE = 0,   /* the entries given are set (added, or overwriting the value of
                               their key); the point's other entries stay */
    HS_PAYLOAD_REPLACE = 1, /* the entries given become the point's whole metadata (none: the
                               point keeps no metadata) */
    HS_PAYLOAD_DELETE = 2,  /* the keys given are removed (their values are not read); keys the
                               point does not have are ignored */
} hs_payload_mode;

typedef struct hs_payload_opts {
    hs_payload_mode mode;
    const hs_kv *meta;  /* MERGE, REPLACE: the entries; DELETE: the keys */
    size_t nmeta;
    /* the points: the live ones among ids[0..nids) (each once), or, when ids is NULL, every
     * live point accept returns non-zero for (chosen at one instant, as hs_delete_where) */
    const uint64_t *ids;
    size_t nids;
    int (*accept)(void *ctx, const hs_point_view *p);
    void *accept_ctx;
    size_t max_points;  /* more points chosen is HS_ERANGE (0 = no limit) */
    hs_durability durability;
    /* optional, nids entries: receives the ids that are not live, in the order given, each once */
    uint64_t *missing;
    /* collections of string ids: the live ones among sids[0..nids) (each once) instead of ids;
     * missing_sids (optional, nids entries) receives the indexes into sids of those not live */
    const struct hs_sid *sids;
    size_t *missing_sids;
} hs_payload_opts;

/* Fills the defaults (MERGE, no entries, no points, no limit, the database's durability).
 * Ownership: o is the caller's.  Thread-safety: safe.  Errors: none. */
void hs_payload_opts_init(hs_payload_opts *o);

typedef struct hs_payload_result {
    size_t updated; /* live points chosen (their metadata is as asked, changed or not) */
    size_t missing; /* ids that are not live (entries written to opts.missing) */
} hs_payload_result;

/*
 * Changes the metadata of existing points without changing their vectors: each chosen point is
 * rewritten with its stored vector and its new metadata, all of them logged as one atomic unit
 * (a point whose metadata would not change is not rewritten).  A rewritten point is a
 * replacement: its old entry counts as deleted until the next rebuild.  The points are chosen
 * after every write logged before the call has been applied.
 * Ownership: opts, its entries and ids stay the caller's.  Thread-safety: safe; accept runs
 * under the collection's read lock and must not call into the collection.
 * Errors: HS_EMETADATA (an entry; or a point whose metadata would pass 1,024 entries: field
 * POINT, reason TOO_MANY, err->id that point), HS_ERANGE (more points chosen than max_points:
 * field FILTER, `actual` the number chosen, `max` the limit), HS_EINVAL (mode), HS_EFROZEN,
 * HS_ENOSPC, HS_EIO (nothing applied), HS_EREADONLY, HS_ELOAD, HS_ENOMEM.
 */
int hs_update_payload(hs_collection *c, const hs_payload_opts *opts, hs_payload_result *res,
                      hs_error *err);

/* Receives one metadata entry; a non-zero return stops the iteration.  A typed value arrives
 * as its string form: an integer in decimal, a float as the shortest text that reads back to
 * the same double ("9.5", "1e+21"), a boolean as "true" / "false", a list as JSON text
 * (["a",1,2.5,true]); a string as it is. */
typedef int (*hs_meta_fn)(void *ctx, const char *key, size_t key_len, const char *value,
                          size_t value_len);

/* Receives one metadata entry with its type (strings as HS_VALUE_STRING); a non-zero return
 * stops the iteration. */
typedef int (*hs_value_fn)(void *ctx, const char *key, size_t key_len, const hs_value *value);

/*
 * Reads a point: its processed vector (dimension components, when vector is not NULL) and its
 * metadata through fn (when not NULL).  Ownership: vector is the caller's; the strings fn
 * receives are valid during its call only.  Thread-safety: safe; fn runs under the collection's
 * read lock.  Errors: HS_ENOTFOUND (no live point with this id, field POINT), HS_ELOAD, HS_ENOMEM.
 */
int hs_get(hs_collection *c, uint64_t id, double *vector, hs_meta_fn fn, void *ctx,
           hs_error *err);

/* ---- string ids ------------------------------------------------------------------------------
 * A collection created with id_type HS_ID_STRING identifies its points by strings: 1 to
 * HS_SID_MAX bytes of UTF-8 without a NUL byte (UUIDs, ULIDs, URLs, paths, composite keys; 512
 * is the id limit of Elasticsearch and Pinecone, so ids moved from them fit).  The engine gives
 * each string an internal uint64 key (hs_point_view.id, hs_hit.id) that the calls taking
 * integer ids accept for it (hs_get, hs_delete, hs_read ids, hs_update_payload ids); the key
 * stays the point's for as long as it is live (restarts and rebuilds included) and a new one is
 * given when a deleted id is written again.  Each point keeps its string beside its slot, so
 * search results, views and scrolls carry it without a lookup; the string -> key map is used
 * by writes, gets and deletes by string. */
#define HS_SID_MAX 512

typedef struct hs_sid {
    const char *str; /* len bytes, not NUL-terminated */
    size_t len;
} hs_sid;

/* Checks a string id: HS_EINVAL with field POINT and reason EMPTY (none), TOO_LONG (`actual`
 * its length, `max` HS_SID_MAX), ENCODING (not UTF-8) or SYNTAX (a NUL byte at `item`).
 * Ownership: none.  Thread-safety: safe.  Errors: HS_EINVAL. */
int hs_sid_check(const char *sid, size_t len, hs_error *err);

/* As hs_get, for the point whose string id is sid[0..len).  Ownership, thread-safety: as hs_get.
 * Errors: HS_EINVAL (the id, or a collection of integer ids: reason TYPE), HS_ENOTFOUND (field
 * POINT), HS_ELOAD, HS_ENOMEM. */
int hs_get_sid(hs_collection *c, const char *sid, size_t len, double *vector, hs_meta_fn fn,
               void *ctx, hs_error *err);

/* As hs_delete, for the live ones among the string ids sids[0..n) (each deleted once).
 * Ownership: sids stay the caller's.  Thread-safety: safe.  Errors: HS_EINVAL (an id: err->index
 * names it; a collection of integer ids: reason TYPE), then as hs_delete. */
int hs_delete_sids(hs_collection *c, const hs_sid *sids, size_t n, hs_durability durability,
                   size_t *deleted, hs_error *err);

/* A point as seen by a visitor: valid only during the call (the collection's read lock is
 * held).  `vector` is NULL unless it was asked for; walk the metadata with hs_meta_each. */
typedef struct hs_point_view {
    uint64_t id; /* a string id's point: its internal key (see "string ids" above) */
    const double *vector;
    size_t dim;
    const void *meta; /* opaque */
    const char *sid;  /* the string id (not NUL-terminated), NULL in collections of integer ids */
    size_t sid_len;
} hs_point_view;

/* Calls fn for each metadata entry of a viewed point (in stored order), typed values in their
 * string form (hs_meta_fn); returns what the last call of fn returned (non-zero stops), or
 * HS_ENOMEM when the text of a long list could not be made.  Ownership: the strings are valid
 * during fn's call.  Thread-safety: within the visitor only.  Errors: HS_ENOMEM, fn's value. */
int hs_meta_each(const hs_point_view *p, hs_meta_fn fn, void *ctx);

/* Calls fn for each metadata entry of a viewed point with its type (in stored order); returns
 * what the last call of fn returned, or HS_ENOMEM when a long list could not be decoded.
 * Ownership: the key and value (strings, list items) are valid during fn's call.
 * Thread-safety: within the visitor only.  Errors: HS_ENOMEM, fn's value. */
int hs_meta_each_typed(const hs_point_view *p, hs_value_fn fn, void *ctx);

/* Whether a viewed point has a metadata value that is not a string.  Ownership: none.
 * Thread-safety: within the visitor only.  Errors: none. */
int hs_meta_has_typed(const hs_point_view *p);

/* Receives a point; a non-zero return stops the walk and is returned by the walking call. */
typedef int (*hs_point_fn)(void *ctx, const hs_point_view *p);

/* ---- filters (spec B4.3) ------------------------------------------------------------------ */

typedef enum hs_cond_kind {
    HS_COND_MATCH = 0,  /* the value for key equals value (a string) or *typed */
    HS_COND_RANGE = 1,  /* the value for key is a number within every bound given */
    HS_COND_PREFIX = 2, /* the value for key is a string starting with value */
    HS_COND_AND = 3,    /* every condition of sub[0..nsub) holds */
    HS_COND_OR = 4,     /* at least one condition of sub[0..nsub) holds */
    HS_COND_NOT = 5,    /* sub[0] does not hold (nsub is 1) */
} hs_cond_kind;

/* Float bounds of a Range (hs_cond.fbounds). */
enum { HS_FBOUND_GTE = 1, HS_FBOUND_LTE = 2, HS_FBOUND_GT = 4, HS_FBOUND_LT = 8 };

/*
 * One condition.  A missing key never matches (so NOT of a condition on a missing key holds).
 * A value that is a list satisfies MATCH, RANGE and PREFIX when one of its elements does.
 * MATCH compares as hs_kv says (strings with strings, numbers by value, booleans).  RANGE holds
 * for an integer or a float within every bound given (integer bounds has_gte / has_lte /
 * has_gt / has_lt, float bounds by fbounds; all compared exactly, an integer beyond 2^53 too)
 * and for a string that parses as an int64 (^[+-]?[0-9]+$, spec B4.3); booleans never.
 * The strings and sub-conditions stay the caller's.
 */
typedef struct hs_cond {
    hs_cond_kind kind;
    const char *key;
    size_t key_len;
    const char *value; /* MATCH (when typed is NULL), PREFIX */
    size_t value_len;
    int has_gte, has_lte; /* RANGE: an absent bound is unbounded */
    int64_t gte, lte;
    const hs_value *typed; /* MATCH: a scalar to equal instead of the string value */
    int has_gt, has_lt;    /* RANGE: strict integer bounds */
    int64_t gt, lt;
    unsigned fbounds;      /* RANGE: the float bounds given (HS_FBOUND_*) */
    double fgte, flte, fgt, flt;
    const struct hs_cond *sub; /* AND, OR, NOT */
    size_t nsub;
} hs_cond;

/* Levels of nesting accepted in one condition (a leaf under 31 AND / OR / NOT is 32). */
#define HS_COND_MAX_DEPTH 32

/* A filter: a point matches when it satisfies every condition of `must`, at least one of
 * `should` (when there is any) and none of `must_not`.  No condition at all matches every
 * point.  Evaluated with the collection's payload indexes (Roaring bitmaps per (key, value),
 * sorted numbers per key); the strings stay the caller's. */
typedef struct hs_where {
    const hs_cond *must;
    size_t nmust;
    const hs_cond *should;
    size_t nshould;
    const hs_cond *must_not;
    size_t nmust_not;
} hs_where;

/* Whether w can match nothing (a `must` Range whose bounds admit no number, such as gte > lte):
 * a caller can answer "none" without a search.  Ownership: none.  Thread-safety: safe.
 * Errors: none. */
int hs_where_empty(const hs_where *w);

/* Whether a viewed point satisfies w (see hs_cond).
 * Ownership: none.  Thread-safety: in a visitor only (the view's lifetime).  Errors: none. */
int hs_where_match(const hs_where *w, const hs_point_view *p);

typedef struct hs_search_opts {
    size_t k;         /* results wanted (0 = 10) */
    uint32_t ef;      /* search list size; 0 = the collection's ef_search (raised to k) */
    /* quantized collections: candidates re-scored on the full vectors are
     * max(ef, ceil(oversampling * k)); 1..100, 0 = the collection's; ignored without codes */
    double oversampling;
    /* optional filter: a point is returned only when it returns non-zero (called under the
     * collection's read lock with the point's id and metadata) */
    int (*accept)(void *ctx, const hs_point_view *p);
    void *accept_ctx;
    /* optional: called for result i (in result order) with the point's metadata, under the same
     * read lock as the search, so metadata and distance describe the same version */
    int (*on_result)(void *ctx, size_t i, const hs_point_view *p);
    void *result_ctx;
    /* optional conditions, planned on the payload indexes: a selective filter is answered by an
     * exact scan of the matching points, a broad one by a graph walk that passes through
     * non-matching points but returns only matching ones; either way min(k, matching) hits */
    const hs_where *where;
    /* hybrid search (spec B5) when `hybrid` is set: BM25 over the points' metadata values for
     * text[0..text_len), fused with the vector ranking by weighted reciprocal rank fusion with
     * weight `alpha` (0..1) on the text side; hits then carry the fused score */
    int hybrid;
    const char *text;
    size_t text_len;
    double alpha;
} hs_search_opts;

/* Fills the defaults (k 10, the collection's ef, alpha 0.5, no filter).
 * Ownership: o is the caller's.  Thread-safety: safe.  Errors: none. */
void hs_search_opts_init(hs_search_opts *o);

typedef struct hs_hit {
    uint64_t id;
    double distance; /* exact, in float64 (spec B3.2) */
    double score;    /* hybrid: the fused score; 0 otherwise */
} hs_hit;

/*
 * The k nearest live points to query, ordered by (distance, id).  *n gets min(k, live points
 * accepted by the filter); out must hold k hits.
 * Ownership: query, opts and out are the caller's; views passed to the callbacks are valid
 * during their call only.  Thread-safety: safe; the callbacks run under the collection's read
 * lock and must not call into the collection.
 * Errors: HS_EEMPTY, HS_EDIM, HS_ENONFINITE, HS_EZERO, HS_EBALL (query, field QUERY), HS_EFILTER,
 * HS_ERANGE (hybrid alpha, field HYBRID_ALPHA), HS_ELOAD, HS_ENOMEM.
 */
int hs_search(hs_collection *c, const double *query, size_t dim, const hs_search_opts *opts,
              hs_hit *out, size_t *n, hs_error *err);

/* The digest of a collection's live set (spec grpc.md section 6): 256 buckets, bucket b the XOR
 * of the SipHash-1-3 point hashes of the live points with id mod 256 == b. */
typedef struct hs_digest {
    uint64_t clock;      /* the collection clock */
    uint64_t state_hash; /* XOR of the buckets */
    uint64_t count;      /* live points */
    uint64_t buckets[256];
} hs_digest;

/* Fills *out.  Ownership: out is the caller's.  Thread-safety: safe.
 * Errors: HS_ELOAD, HS_ENOMEM. */
int hs_collection_digest(hs_collection *c, hs_digest *out, hs_error *err);

/* ---- reading points ------------------------------------------------------------------------ */

/* Which points a read visits (hs_read_opts.mode). */
typedef enum hs_read_mode {
    /* ascending id order, after id `after` (from the smallest when !has_after), up to `limit`:
     * `more` says whether further points exist; the caller continues after the last id it saw.
     * Points written or deleted meanwhile may or may not be seen; a point live throughout is
     * seen exactly once across the pages. */
    HS_READ_SCROLL = 0,
    /* the live points among ids[0..nids), in that order (missing ones are skipped) */
    HS_READ_IDS = 1,
    /* most recently written first, from position `cursor` (0 = the newest), up to `limit`:
     * `next` is the cursor of the next older page and `more` whether there is one */
    HS_READ_NEWEST = 2,
    /* no visit: `visited` is the number of matching live points, at one instant */
    HS_READ_COUNT = 3,
} hs_read_mode;

typedef struct hs_read_opts {
    hs_read_mode mode;
    size_t limit;          /* SCROLL, NEWEST: at most this many points (default 100) */
    int has_after;         /* SCROLL */
    uint64_t after;
    uint64_t cursor;       /* NEWEST */
    const uint64_t *ids;   /* IDS (integer ids, or the internal keys of string ids) */
    size_t nids;
    int with_vector;       /* views carry the vector (not for COUNT) */
    const hs_where *where; /* optional conditions a visited point satisfies */
    hs_point_fn accept;    /* optional predicate a visited point satisfies (non-zero) */
    void *accept_ctx;
    /* collections of string ids: IDS reads sids[0..nsids) instead of ids; SCROLL visits the
     * points in ascending order of their string ids (bytes compared as unsigned, a prefix
     * first), after after_sid[0..after_sid_len) when it is not NULL (has_after is not read) */
    const struct hs_sid *sids;
    size_t nsids;
    const char *after_sid;
    size_t after_sid_len;
} hs_read_opts;

/* Fills the defaults (SCROLL from the smallest id, limit 100, no filter, no vector).
 * Ownership: o is the caller's.  Thread-safety: safe.  Errors: none. */
void hs_read_opts_init(hs_read_opts *o);

typedef struct hs_read_result {
    uint64_t visited; /* points passed to fn (COUNT: points matching) */
    int more;         /* SCROLL, NEWEST: further points exist */
    uint64_t next;    /* NEWEST: the cursor of the next page */
} hs_read_result;

/*
 * Reads points as o says, calling fn (may be NULL) for each; a non-zero return from fn stops the
 * read and is returned.  res (may be NULL) gets the figures above.
 * Ownership: o, the ids and res are the caller's; a view is valid during fn's call only.
 * Thread-safety: safe; fn, accept and the conditions run under the collection's read lock, so
 * no write is applied during a read, and must not call into the collection.
 * Errors: HS_EINVAL (mode), HS_EFILTER (where), HS_ELOAD, HS_ENOMEM, fn's value.
 */
int hs_read(hs_collection *c, const hs_read_opts *o, hs_point_fn fn, void *ctx,
            hs_read_result *res, hs_error *err);

/* ---- maintenance ---------------------------------------------------------------------------- */

/* Sets ef_search and/or ef_construction (0 = unchanged); persisted before returning.
 * Ownership: none.  Thread-safety: safe.
 * Errors: HS_ERANGE (field EF_SEARCH / EF_CONSTRUCTION), HS_EREADONLY, HS_EIO, HS_ELOAD. */
int hs_collection_configure(hs_collection *c, uint32_t ef_search, uint32_t ef_construction,
                            hs_error *err);

/* Writes a checkpoint of the collection (if it changed) and removes the log it covers.
 * Ownership: none.  Thread-safety: safe (one checkpoint of a collection at a time; others wait).
 * Errors: HS_EREADONLY (field COLLECTION), HS_EIO, HS_ENOSPC, HS_ELOAD, HS_ENOMEM. */
int hs_collection_checkpoint(hs_collection *c, hs_error *err);

/* Compaction: drops deleted and replaced points, renumbers the slots, builds a new graph from
 * the live points and checkpoints it.  Ids, vectors, metadata and count are unchanged.
 * Ownership: none.  Thread-safety: safe; reads and writes continue meanwhile.
 * Errors: HS_EREADONLY, HS_EIO, HS_ENOSPC, HS_ELOAD, HS_ENOMEM. */
int hs_collection_rebuild(hs_collection *c, hs_error *err);

/* Waits until every point written so far is in the graph (tests and benchmarks).
 * Ownership: none.  Thread-safety: safe.  Errors: HS_ELOAD. */
int hs_collection_wait_indexed(hs_collection *c, hs_error *err);

/* ---- the change stream ---------------------------------------------------------------------
 * Every change applied to a collection, read back from its write-ahead log in log order: its
 * creation, each point upserted (with the stored vector and metadata) and each point deleted,
 * and its deletion (seen by a reader that is open when it happens).  Each change carries the
 * logical clock it took (hs_db_clock: one clock for the whole node, so clocks strictly increase
 * within a collection and are unique across collections, with gaps where other collections
 * took values).  A reader resumes exactly after the last change it handled by opening again
 * with `after` = that change's clock.  Configure takes no clock and is not a change.
 *
 * Retention: a checkpoint removes the log it covers except the newest segments within
 * hs_db_opts.wal_retain_bytes; a reader whose position is older than what is left gets
 * HS_ETRUNCATED and must read the collection afresh (hs_read), then follow it from the clock
 * it read it at (hs_collection_stats_get's clock, taken before the read). */

typedef enum hs_change_kind {
    HS_CHANGE_CREATE = 1, /* the collection was created: config */
    HS_CHANGE_UPSERT = 2, /* a point was written: point (id, vector when asked, metadata) */
    HS_CHANGE_DELETE = 3, /* a live point was deleted: point.id */
    HS_CHANGE_DROP = 4,   /* the collection was deleted; nothing follows */
} hs_change_kind;

/* One change.  Valid until the next hs_changes_next or hs_changes_close on its reader. */
typedef struct hs_change {
    hs_change_kind kind;
    uint64_t clock;
    hs_point_view point;         /* UPSERT, DELETE (metadata walked with hs_meta_each) */
    hs_collection_config config; /* CREATE: the parameters the collection was created with */
} hs_change;

typedef struct hs_changes_opts {
    uint64_t after;   /* changes with a clock above this (0: from the collection's creation) */
    int from_now;     /* instead of `after`: the changes applied after the open */
    unsigned kinds;   /* bit (1 << kind) of each kind wanted; 0 = every kind */
    int with_vector;  /* UPSERT changes carry the vector (default 1) */
} hs_changes_opts;

/* Fills the defaults (after 0, every kind, with vectors).  Ownership: o is the caller's.
 * Thread-safety: safe.  Errors: none. */
void hs_changes_opts_init(hs_changes_opts *o);

typedef struct hs_changes hs_changes;

/*
 * Opens a reader of the changes of a collection.  It holds no handle (the collection can be
 * unloaded, checkpointed or dropped meanwhile) and reads the log files, loaded or not.
 * Ownership: *out is freed with hs_changes_close.  Thread-safety: safe; a reader is used by
 * one thread at a time.  Errors: HS_ENAME, HS_ENOTFOUND, HS_ELOAD (quarantined), HS_ERANGE
 * (field CLOCK: `after` is above the node's clock, so it does not come from this node: actual
 * = after, expected = the node's clock), HS_ETRUNCATED (field CLOCK: the log no longer holds
 * the changes after `after`: actual = after, expected = the oldest clock a reader can resume
 * after), HS_ECORRUPT, HS_EIO, HS_ENOMEM.
 */
int hs_changes_open(hs_db *db, const char *tenant, const char *name, const hs_changes_opts *o,
                    hs_changes **out, hs_error *err);

/*
 * The next change: HS_OK with *got = 1 and *out filled, or *got = 0 when every change applied
 * so far has been read (call again later; an idle reader holds no open file).  After a DROP
 * change *got stays 0.  Reads are bounded: the reader holds one point at a time, however large
 * the batch it belongs to.
 * Ownership: *out points into the reader.  Thread-safety: one thread per reader.
 * Errors: HS_ETRUNCATED (a checkpoint removed changes the reader had not read yet; details as
 * for hs_changes_open), HS_ENOTFOUND (the collection was deleted and its deletion is no longer
 * known), HS_ECORRUPT (naming the log file), HS_EIO, HS_ENOMEM.  The reader stays usable after
 * none of these.
 */
int hs_changes_next(hs_changes *r, hs_change *out, int *got, hs_error *err);

/* The clock of the last change the reader has passed (read, or skipped as not wanted): open
 * again after it to continue.  Ownership: none.  Thread-safety: the reader's thread.
 * Errors: none. */
uint64_t hs_changes_position(const hs_changes *r);

/* Frees a reader (NULL is ignored).  Ownership: frees r.  Thread-safety: the reader's thread.
 * Errors: none. */
void hs_changes_close(hs_changes *r);

/* Called after every change is applied (a write visible to readers, a create, a drop) with the
 * collection and the change's last clock: for a server that wakes its waiting readers.  It runs
 * on the writing thread with the collection's writer lock held: it must be quick and must not
 * call into the database.  Set it before the database is used concurrently (NULL removes it).
 * Ownership: ctx stays the caller's.  Thread-safety: see above.  Errors: none. */
typedef void (*hs_change_fn)(void *ctx, const char *tenant, const char *name, uint64_t clock);
void hs_db_set_change_observer(hs_db *db, hs_change_fn fn, void *ctx);

/* ---- replication (spec B11): the leader's ordered stream, the follower's apply -------------
 * A leader streams every change of the node in clock order (hs_node_changes_*), up to the
 * applied clock; a follower applies each change with the leader's clock (hs_db_replicate*),
 * so its collections' clocks, digests and logs match the leader's, and persists its position
 * after hs_db_sync. */

/*
 * The applied clock: every operation with a clock at or below it (each point upserted or
 * deleted, each create and drop) is applied, visible to change readers, or failed and took no
 * effect.  Every clock value is tracked from its tick until its operation is applied or
 * abandoned; the applied clock is the highest value with none in flight at or below it, and
 * never moves back.  With nothing in flight on a leader it equals hs_db_clock.  (A follower's
 * merge, B2.7's "+ 1", is no operation's clock and is not covered.)  An observer set with
 * hs_db_set_change_observer runs before the change counts as applied here.
 * Ownership: none.  Thread-safety: safe.  Errors: none.
 */
uint64_t hs_db_applied_clock(hs_db *db);

/* Blocks until hs_db_applied_clock(db) > after or timeout_ms passed (0: does not block);
 * returns the applied clock.  Ownership: none.  Thread-safety: safe.  Errors: none. */
uint64_t hs_db_wait_applied(hs_db *db, uint64_t after, int timeout_ms);

/* One change of the node-wide stream: the collection and the change (as hs_changes_next gives
 * it, DROP included; UPSERT with the stored vector, its metadata and, in a collection of
 * string ids, the string; CREATE with the parameters as created, id_type included). */
typedef struct hs_node_change {
    const char *tenant, *name; /* valid until the next call on the reader */
    hs_change change;
} hs_node_change;

typedef struct hs_node_changes hs_node_changes;

/*
 * Opens a reader of every change of every collection with a clock above `after`: creates,
 * upserts, deletes and drops (drops made before a restart included: <root>/.drops keeps the
 * latest 1,024), in strictly increasing clock order across collections, each once, up to the
 * applied clock.  Changes of a collection dropped before the reader reached them are not
 * delivered (the drop is: B11.6, a drop supersedes them).  Memory does not grow with the number
 * of collections beyond a few dozen bytes per collection that changed after the position: a
 * collection is read only when its clocks (its creation clock and last clock, from the
 * catalog, or the node's directory of recent operations) can hold changes after the position,
 * and at most 32 collection readers are open at once (others are reopened at their position).
 * Quarantined collections are left out.
 * Ownership: *out is freed with hs_node_changes_close.  Thread-safety: safe; a reader is used
 * by one thread at a time.  Errors: HS_ERANGE (field CLOCK: `after` is above the node clock;
 * actual = after, expected = the clock), HS_ETRUNCATED (field CLOCK: a drop after `after` is no
 * longer remembered: actual = after, expected = the highest clock of a forgotten drop), HS_EIO,
 * HS_ENOMEM.
 */
int hs_node_changes_open(hs_db *db, uint64_t after, hs_node_changes **out, hs_error *err);

/* hs_node_changes_open with flags.  HS_NODE_CHANGES_SAME_HISTORY: the caller has established
 * that `after` is a position in the history this node holds now (a follower whose epochs are a
 * prefix of this node's, server/repl_history.h), so the history a hs_db_replica_reset forgot
 * does not end the reader: only drops of the current history no longer remembered do (those
 * the ring of notes let go, and everything below a bootstrap archive's clock). */
#define HS_NODE_CHANGES_SAME_HISTORY 1u
int hs_node_changes_open_ex(hs_db *db, uint64_t after, unsigned flags, hs_node_changes **out,
                            hs_error *err);

/*
 * The next change: HS_OK with *got = 1 and *out filled, or *got = 0 when every change up to the
 * applied clock at the call was delivered (wait with hs_db_wait_applied, then call again).
 * Ownership: *out points into the reader (valid until its next call).  Thread-safety: the
 * reader's thread.  Errors: HS_ETRUNCATED (field CLOCK: a checkpoint removed a change the
 * reader had not delivered, or a drop is forgotten; err->name names the collection; the
 * follower must start from a snapshot), HS_ECORRUPT, HS_EIO, HS_ENOMEM.  After an error the
 * reader stays usable at its position (a retry reads again what failed).
 */
int hs_node_changes_next(hs_node_changes *r, hs_node_change *out, int *got, hs_error *err);

/* The position: every change with a clock at or below it was delivered (open again after it
 * to resume).  Ownership: none.  Thread-safety: the reader's thread.  Errors: none. */
uint64_t hs_node_changes_position(const hs_node_changes *r);

/* Frees a reader (NULL is ignored).  Ownership: frees r.  Thread-safety: the reader's thread.
 * Errors: none. */
void hs_node_changes_close(hs_node_changes *r);

/*
 * A follower applies one change of its leader with the leader's clock ch->clock, through the
 * write path (its log stores the leader's clocks, so after a restart the collection's clock is
 * the leader's).  Idempotent by clocks: a change already applied is skipped (*applied = 0):
 *   CREATE  a collection of that name created at or after ch->clock: skipped; one created
 *           before: dropped (no clock, no note), then created with creation clock ch->clock
 *           and ch->config (no tick, no quota);
 *   DROP    drops the collection of that name when it was created before ch->clock (noted
 *           with ch->clock for change readers), otherwise skipped;
 *   UPSERT  skipped when ch->clock <= the collection's clock (its last logged change); the
 *           point is ch->point: its id (sid in a collection of string ids), its vector, which
 *           is the leader's stored (processed) vector and is stored bit for bit (no second
 *           normalisation), and its metadata: meta[0..nmeta) when meta is not NULL, otherwise
 *           ch->point.meta as a change reader gives it (so a change read from another
 *           database's reader can be passed as it is);
 *   DELETE  skipped likewise; deletes the point ch->point.id (or sid); the collection's clock
 *           becomes ch->clock even when the point is not live.
 * A frozen collection or a tenant quota does not stop a replicated change; a cold collection
 * is loaded.  The node clock becomes max(C, ch->clock) + 1 (B2.7 merge).
 * Ownership: ch and meta stay the caller's.  Thread-safety: safe; changes of one collection must
 * be applied in clock order (one thread per collection, or one for the node).
 * Errors: HS_ENOTFOUND (UPSERT / DELETE on a missing collection: the caller counts and skips
 * it), HS_ENAME, HS_EINVAL (kind, or a point of the wrong id kind), HS_EDIM, HS_ENONFINITE,
 * HS_EMETADATA, HS_ERANGE / HS_EINVAL (CREATE parameters), HS_EREADONLY, HS_ENOSPC, HS_EIO,
 * HS_ELOAD, HS_ENOMEM: nothing applied.
 */
int hs_db_replicate(hs_db *db, const char *tenant, const char *name, const hs_change *ch,
                    const hs_kv *meta, size_t nmeta, hs_durability mode, int *applied,
                    hs_error *err);

/*
 * n UPSERTs of one collection with the leader's clocks first_clock .. first_clock + n - 1 (the
 * stored vectors, metadata as hs_kv), logged as one record; those at or below the collection's
 * clock are skipped (*applied gets how many were applied).  Rules as hs_db_replicate.
 * Ownership: pts stay the caller's.  Thread-safety: as hs_db_replicate.  Errors: as
 * hs_db_replicate (err->index names a bad point).
 */
int hs_db_replicate_upserts(hs_db *db, const char *tenant, const char *name,
                            uint64_t first_clock, const hs_point *pts, size_t n,
                            hs_durability mode, size_t *applied, hs_error *err);

/* Makes every applied change durable: the log of every loaded collection fsynced (collections
 * being unloaded are waited for; creates and drops are durable when they return).  A follower
 * calls it before persisting its position.  Ownership: none.  Thread-safety: safe.
 * Errors: HS_EIO (the first log that failed; it is read-only from now on), HS_ENOMEM. */
int hs_db_sync(hs_db *db, hs_error *err);

/*
 * A follower forgets its history before it takes another one (B11.5, a new leader; the
 * snapshot bootstrap): every collection is dropped without a clock and without a drop note
 * (the new leader never made these drops: a note would make hs_db_replicate skip the new
 * leader's creates of those names at lower clocks), every drop note is forgotten, and the
 * drop horizon becomes max(node clock + 1, horizon), so that every node-wide reader positioned
 * in the old history (or below `horizon`) ends with HS_ETRUNCATED and its follower
 * bootstraps from a snapshot instead of mixing two histories (a node promoted later serves
 * only what it applied after the reset).  The node clock does not move back (a promoted
 * node's operations stay above every clock it has seen, B11.7); the new leader's records at
 * low clocks apply because the skip rules compare with each collection's own clocks and the
 * drop notes, all gone.  Durable when it returns (a crash before that leaves the notes and
 * possibly some collections: call it again).  The caller makes sure nothing else writes
 * (a follower's replication thread).
 * Ownership: none.  Thread-safety: safe.  Errors: HS_EIO (a directory or the notes' file),
 * HS_EBUSY (collections kept being created meanwhile), HS_ENOMEM: call it again.
 */
int hs_db_replica_reset(hs_db *db, uint64_t horizon, hs_error *err);

/* The highest clock of any change this node holds: each collection's latest change and create,
 * each drop noted.  Unlike hs_db_clock (a reservation after a restart, + 1 after a follower's
 * merge) it names a change this node has; a follower compares it with where a new leader's
 * history parts from its own (server/repl_history.c).  Exact once the database is open (the
 * open replays every log a checkpoint does not cover).  Ownership: none.  Thread-safety: safe.
 * Errors: none. */
uint64_t hs_db_held_clock(hs_db *db);

/* The clock of the latest drop of (tenant, name) this node remembers (its drop notes), 0 when
 * none: what a leader waits for its followers to acknowledge after hs_collection_drop (a later
 * drop of the name only gives a higher clock).  Ownership: none.  Thread-safety: safe.
 * Errors: none. */
uint64_t hs_db_drop_clock(hs_db *db, const char *tenant, const char *name);

/* ---- snapshots: archives of a collection or of the node --------------------------------------
 * A snapshot is one file in the snapshot directory (hs_db_opts.snapshot_dir) holding a copy of
 * one collection, or of every collection of the node, exactly as it was at one clock: each
 * collection's newest checkpoint, the vector records it covers and its log up to that clock,
 * then a manifest; every byte is under a CRC-32C (docs/file-format.md, "Snapshot archive").
 * Writers are held up only while the log is synced; checkpoints, rebuilds and drops that
 * start meanwhile wait for the snapshot (automatic checkpoints skip their turn).  Snapshot
 * names match ^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.hsnap$ without "..", at most HS_SNAPSHOT_NAME_MAX
 * bytes; no other name is ever opened, and symbolic links are not followed. */
#define HS_SNAPSHOT_NAME_MAX 128

typedef struct hs_snapshot_info {
    char name[HS_SNAPSHOT_NAME_MAX + 1]; /* "" for a snapshot written to a stream */
    uint64_t clock;       /* holds every operation with a clock <= this on what it covers, and
                             none after */
    uint64_t bytes;
    uint64_t created_ms;  /* unix time in milliseconds */
    uint32_t collections;
    uint32_t skipped;     /* collections a node snapshot left out (damaged or quarantined) */
    int node;             /* 1: the whole node; 0: the collection (tenant, collection) */
    char tenant[HS_NAME_MAX + 1], collection[HS_NAME_MAX + 1];
    char node_id[40];     /* the node that wrote it */
    char error[256];      /* hs_snapshot_list: why the archive cannot be read ("" when it can) */
} hs_snapshot_info;

/* One collection in an archive (hs_snapshot_describe) or restored (hs_snapshot_restore). */
typedef struct hs_snapshot_coll {
    const char *tenant, *name;   /* restore: where it now is */
    const char *from_tenant, *from_name; /* its names in the archive */
    hs_collection_config config; /* as created (ef 0: follows the node's default) */
    uint64_t clock;              /* its clock in the archive */
    uint64_t count;              /* restore: live points; describe: 0 */
    int frozen;                  /* frozen when archived (hs_collection_freeze): restored so */
} hs_snapshot_coll;

/* Writes a snapshot of the collection (tenant, collection), or of every collection of the node
 * when collection is NULL, into the snapshot directory as `name` (NULL: a name is made,
 * "<collection>-<clock>-<ms>.hsnap" or "node-<clock>-<ms>.hsnap"), durable before returning.
 * Quarantined collections, and collections whose files do not read back, are left out of a node
 * snapshot (counted in skipped).
 * Ownership: *out is the caller's.  Thread-safety: safe; snapshots run one at a time.
 * Errors: HS_ENAME (a name; field SNAPSHOT for the snapshot's), HS_ENOTFOUND, HS_EEXIST (field
 * SNAPSHOT), HS_ELOAD (a quarantined collection), HS_ECORRUPT (a collection file that does not
 * read back), HS_EIO, HS_ENOSPC (nothing is left behind), HS_ENOMEM. */
int hs_snapshot_create(hs_db *db, const char *tenant, const char *collection, const char *name,
                       hs_snapshot_info *out, hs_error *err);

/* As hs_snapshot_create, the archive going to sink (0 or a negative errno) instead of a file:
 * for streaming a snapshot to another node.  out->name is "".  Errors as hs_snapshot_create,
 * HS_EIO when the sink fails. */
int hs_snapshot_write(hs_db *db, const char *tenant, const char *collection,
                      int (*sink)(void *ctx, const void *buf, size_t len), void *ctx,
                      hs_snapshot_info *out, hs_error *err);

/* Stores the archive read from source (bytes read, 0 at the end, or a negative errno) in the
 * snapshot directory as `name`, once every byte of it checked out; nothing is kept otherwise.
 * Errors: HS_ENAME, HS_EEXIST, HS_ECORRUPT / HS_EVERSION (field SNAPSHOT; the message names the
 * offset), HS_EIO, HS_ENOSPC, HS_ENOMEM. */
int hs_snapshot_import(hs_db *db, const char *name,
                       long (*source)(void *ctx, void *buf, size_t cap), void *ctx,
                       hs_snapshot_info *out, hs_error *err);

/* An archive arriving in pieces (an HTTP upload): written under a name of its own, read back
 * and checked in full by hs_snapshot_upload_end(commit = 1), which only then names it `name`;
 * commit = 0 (or any failure) removes it.  Errors: begin HS_ENAME, HS_EEXIST, HS_EIO; write
 * HS_EIO, HS_ENOSPC (kept until the end); end as hs_snapshot_import.  Ownership: end frees u.
 * Thread-safety: one thread per upload. */
typedef struct hs_snapshot_upload hs_snapshot_upload;
int hs_snapshot_upload_begin(hs_db *db, const char *name, hs_snapshot_upload **out,
                             hs_error *err);
int hs_snapshot_upload_write(hs_snapshot_upload *u, const void *buf, size_t len, hs_error *err);
int hs_snapshot_upload_end(hs_snapshot_upload *u, int commit, hs_snapshot_info *out,
                           hs_error *err);

/* Calls fn for every archive of the snapshot directory, in name order, from its manifest only
 * (an archive whose manifest cannot be read is listed with `error` set).  A non-zero return
 * from fn stops and is returned.  Ownership: s is valid during the call.  Thread-safety: safe.
 * Errors: HS_EIO, HS_ENOMEM, fn's value. */
int hs_snapshot_list(hs_db *db, int (*fn)(void *ctx, const hs_snapshot_info *s), void *ctx,
                     hs_error *err);

/* The manifest of the archive `name`: *out, and fn (may be NULL) for each collection in it.
 * Errors: HS_ENAME, HS_ENOTFOUND (field SNAPSHOT), HS_ECORRUPT, HS_EVERSION, HS_EIO, fn's. */
int hs_snapshot_describe(hs_db *db, const char *name, hs_snapshot_info *out,
                         int (*fn)(void *ctx, const hs_snapshot_coll *c), void *ctx,
                         hs_error *err);

/* Opens the archive `name` for reading (a download): *fd (close it) and its size in *len.
 * Errors: HS_ENAME, HS_ENOTFOUND (field SNAPSHOT; also for a name that is not a regular file
 * of the directory), HS_EIO. */
int hs_snapshot_open(hs_db *db, const char *name, int *fd, uint64_t *len, hs_error *err);

/* Removes the archive `name`.  Errors: HS_ENAME, HS_ENOTFOUND, HS_EIO. */
int hs_snapshot_delete(hs_db *db, const char *name, hs_error *err);

typedef struct hs_restore_opts {
    /* the archive's collection to restore (tenant NULL: the only one of that name); collection
     * NULL restores every collection of the archive under its own tenant and name */
    const char *tenant, *collection;
    /* the restored collection's tenant and name (NULL: as in the archive) */
    const char *to_tenant, *to_name;
    /* existing collections of the target names are dropped whatever they hold (default 0: only
     * collections without points, such as a new node's default collection, are replaced; any
     * other makes the restore fail before anything changes) */
    int replace;
} hs_restore_opts;

/* Fills the defaults (everything, same names, no replacing).  Ownership: o is the caller's.
 * Thread-safety: safe.  Errors: none. */
void hs_restore_opts_init(hs_restore_opts *o);

/*
 * Restores collections from the archive `name`: the whole archive is read and every byte of it
 * checked, each collection is rebuilt in a directory nobody sees and loaded from there (every
 * file verified as at any load), the node's clock is raised to the archive's, and only then are
 * the collections published (empty ones of the same names dropped first).  A damaged or cut
 * archive, a name clash or a failed load changes nothing.  fn (may be NULL) is called for each
 * restored collection.  Ownership: the strings fn sees are valid during the call.
 * Thread-safety: safe.  Errors: HS_ENAME, HS_ENOTFOUND (the archive, or the collection in it),
 * HS_EINVAL (a collection name held by several tenants of the archive), HS_EEXIST (a target
 * holding points; field COLLECTION), HS_ECORRUPT / HS_EVERSION (field SNAPSHOT), HS_EFULL
 * (tenant quota), HS_EIO, HS_ENOSPC, HS_ENOMEM.
 */
int hs_snapshot_restore(hs_db *db, const char *name, const hs_restore_opts *o,
                        int (*fn)(void *ctx, const hs_snapshot_coll *c), void *ctx,
                        hs_error *err);

/* ---- logging ------------------------------------------------------------------------------- */

typedef enum hs_log_level {
    HS_LOG_ERROR = 0,
    HS_LOG_WARN = 1,
    HS_LOG_INFO = 2,
    HS_LOG_DEBUG = 3,
} hs_log_level;

/* Receives one formatted log line (no trailing newline); called from any engine thread. */
typedef void (*hs_log_fn)(void *ctx, hs_log_level level, const char *message);

/* Sends the library's log lines at `level` or more severe to fn (NULL: stderr, the default).
 * Ownership: ctx stays the caller's.  Thread-safety: safe; applies to lines logged afterwards.
 * Errors: none. */
void hs_log_set_sink(hs_log_fn fn, void *ctx, hs_log_level level);

/* Timings the engine reports (for metrics): the load of a cold collection, one WAL fsync. */
typedef enum hs_timing { HS_TIMING_LOAD = 1, HS_TIMING_WAL_FSYNC = 2 } hs_timing;
typedef void (*hs_timing_fn)(void *ctx, hs_timing what, double seconds);
/* Installs the process-wide observer (NULL removes it); it is called from engine threads and must
 * be thread-safe and quick.  Ownership: ctx stays the caller's.  Thread-safety: safe; applies to
 * timings reported afterwards.  Errors: none. */
void hs_set_timing_observer(hs_timing_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* HYPERSPACE_H */
