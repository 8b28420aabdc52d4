/*
 * ops.h: the transport-free operations layer.  A transport (gRPC, HTTP, and later replication
 * or another REST shape) decodes its request into these structs, calls one operation and encodes
 * the result or the hs_fail; the operation does the rest, once for every transport: the
 * validation of the request's values (in the spec's order), the engine call, the conversion of
 * engine failures and the metrics.  Authentication and the permission check (hs_ops_permit) run
 * before, in the transport's first stage, since they decide whether a body is read at all.
 *
 * Every operation returns 0 or the HS_ERR_* id it recorded in *f.  `tenant` is the request's
 * resolved tenant; a collection name "" means "default" where the spec allows it.
 */
#ifndef HS_OPS_H
#define HS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperspace.h"
#include "server/filters.h"
#include "server/server.h"

#define HS_OP_TOP_K_MAX 10000
#define HS_OP_HYBRID_QUERY_MAX 65536 /* bytes */
#define HS_OP_IDS_MAX 10000          /* points read by id in one request */
#define HS_OP_EF_MAX 10000

/* Checks a collection name from a request: "" is the default collection unless
 * `empty_is_error`. */
int hs_op_check_name(const char *name, bool empty_is_error, hs_fail *f);

/* ---- collections ------------------------------------------------------------------------- */

typedef struct hs_op_create_req {
    const char *name;
    int64_t dimension;
    const char *metric;
    const char *quantization; /* NULL or "" = the server default */
    int64_t m;                /* 0 = the server default */
    int64_t ef_construction;  /* 0 = follow the database default */
    int64_t ef_search;        /* 0 = follow the database default */
    const char *id_type;      /* NULL or "" = integer ids, "integer", "string" (any case) */
    double oversampling;      /* 0 = the quantization's default, else 1..100 */
} hs_op_create_req;

/* Validates (name, dimension, metric, quantization, m, ef_construction, ef_search in that order)
 * and creates the collection; *st (when not NULL) gets its statistics. */
int hs_op_create(const char *tenant, const hs_op_create_req *r, hs_collection_stats *st,
                 hs_fail *f);

/* Drops the collection and forgets its metrics. */
int hs_op_drop(const char *tenant, const char *name, hs_fail *f);

/* Statistics without loading; a quarantined collection is LOAD_FAILED naming its cause. */
int hs_op_stats(const char *tenant, const char *name, hs_collection_stats *st, hs_fail *f);

/* The maintenance operations on one collection (loading it).  *st (when not NULL) gets the
 * collection's figures afterwards. */
typedef enum hs_op_kind {
    HS_OP_DIGEST = 0,     /* arg: hs_digest * */
    HS_OP_REBUILD = 1,
    HS_OP_CHECKPOINT = 2,
    HS_OP_CONFIGURE = 3,  /* arg: const hs_op_configure_req * */
} hs_op_kind;

typedef struct hs_op_configure_req {
    bool has_ef_search, has_ef_construction;
    int64_t ef_search, ef_construction; /* each 1..10000 when present */
} hs_op_configure_req;

int hs_op_collection(const char *tenant, const char *name, hs_op_kind kind, void *arg,
                     hs_collection_stats *st, hs_fail *f);

/* The node-wide maintenance: checkpoint every changed collection; compact every collection. */
int hs_op_snapshot(size_t *collections, hs_fail *f);
int hs_op_vacuum(size_t *collections, uint64_t *reclaimed, hs_fail *f);

/* ---- points ------------------------------------------------------------------------------- */

/* What a write did: points upserted or deleted, and the collection clock after it (only when
 * the caller asked for it with want_clock). */
typedef struct hs_op_write {
    uint64_t n;
    uint64_t clock;
} hs_op_write;

/* Upserts pts (the default collection is created on a write that needs it).  A failing entry
 * of a batch is named "vectors[i]: " in the message.  An empty batch writes nothing. */
int hs_op_upsert(const char *tenant, const char *name, const hs_point *pts, size_t n,
                 hs_durability d, bool batch, bool want_clock, hs_op_write *out, hs_fail *f);

/* Deletes the ids (or the string ids sids), or (both NULL) the points matching filter (a
 * filter that can match nothing deletes nothing). */
int hs_op_delete(const char *tenant, const char *name, const uint64_t *ids, const hs_sid *sids,
                 size_t nids, const hs_filter_set *filter, hs_durability d, bool want_clock,
                 hs_op_write *out, hs_fail *f);

/* ---- string ids -------------------------------------------------------------------------- */

/* The kind of ids of a collection (an hs_id_type); -1 when it does not exist, except for the
 * default collection ("" or "default") which a write creates with integer ids: HS_ID_INTEGER. */
int hs_op_id_type(const char *tenant, const char *name);
/* INVALID_ARGUMENT: collection `name` does not use ids of the kind a request gave. */
int hs_op_id_kind_fail(const char *name, hs_id_type kind, hs_fail *f);
/* Checks a string id from a request (hs_sid_check): INVALID_ARGUMENT naming what is wrong. */
int hs_op_check_sid(const char *sid, size_t len, hs_fail *f);
/* Writes a string id for a message: at most 64 bytes, cut before a character, "..." when cut. */
void hs_op_sid_echo(const char *sid, size_t len, char *out, size_t cap);

/* Reads points of an open collection (hs_read) as o says, with the engine failure converted.
 * A filter that can match nothing (hs_filter_empty) reads nothing. */
int hs_op_read(hs_collection *h, const hs_read_opts *o, const hs_filter_set *filter,
               hs_point_fn fn, void *ctx, hs_read_result *res, hs_fail *f);

/* One search, decoded.  The strings and arrays stay the transport's. */
typedef struct hs_op_search_req {
    const double *vector;
    size_t dim;
    uint64_t top_k;              /* 0 = 10 */
    bool hybrid;
    const char *text;            /* hybrid query */
    size_t text_len;
    bool has_alpha;
    double alpha;                /* default 0.5 */
    double oversampling;         /* 0 = the collection's, else 1..100 */
    const hs_filter_set *filter; /* NULL = none */
    /* optional, called for result i under the search's read lock (metadata of the hit) */
    int (*on_result)(void *ctx, size_t i, const hs_point_view *p);
    void *result_ctx;
} hs_op_search_req;

/* The results wanted: top_k, or 10 when 0. */
size_t hs_op_search_k(const hs_op_search_req *r);

/* The value checks of a search, usable one by one where a transport decodes (top_k; then
 * alpha and the hybrid query length) or all at once. */
int hs_op_check_top_k(uint64_t top_k, hs_fail *f);
int hs_op_check_hybrid(bool has_alpha, double alpha, size_t text_len, hs_fail *f);
/* 0 (not given) or 1..HS_OVERSAMPLING_MAX; else PARAM_RANGE naming the field. */
int hs_op_check_oversampling(double o, hs_fail *f);
int hs_op_search_check(const hs_op_search_req *r, hs_fail *f);

/* Runs a checked search on an open collection; hits holds hs_op_search_k(r) entries.  Counts
 * the query and its duration under (tenant, metrics_name). */
int hs_op_search(const char *tenant, const char *metrics_name, hs_collection *h,
                 const hs_op_search_req *r, hs_hit *hits, size_t *n, hs_fail *f);

/* ---- payload updates, scroll, searches across collections, freezing -------------------- */

#define HS_OP_SCROLL_LIMIT_MAX 1000
#define HS_OP_SCROLL_OFFSET_MAX 1000000 /* points an offset may skip (the read holds them) */
#define HS_OP_MULTI_MAX 64              /* collections one search may cover */

/* An UpdatePayload, decoded.  The points: one `id` (single: NOT_FOUND when it is not live), the
 * `ids` (1..10000; those not live are reported), or the points matching `filter` (ids NULL; at
 * least one condition, at most 10000 points). */
typedef struct hs_op_payload_req {
    hs_payload_mode mode;
    const hs_kv *meta;   /* MERGE (at least one), REPLACE: metadata and typed_metadata */
    size_t nmeta;
    const hs_kv *keys;   /* DELETE (at least one): the keys removed */
    size_t nkeys;
    bool single;
    const uint64_t *ids;
    size_t nids;
    const hs_sid *sids;  /* a collection of string ids: instead of ids (nids of them) */
    const hs_filter_set *filter;
    hs_durability durability;
} hs_op_payload_req;

typedef struct hs_op_payload_out {
    uint64_t updated;   /* live points chosen */
    uint64_t *missing;  /* ids not live, in the order given, each once (malloc'd; free it) */
    size_t *missing_at; /* sids: the indexes of those not live, likewise (malloc'd) */
    size_t nmissing;
    uint64_t clock;     /* the collection clock afterwards (when asked for) */
} hs_op_payload_out;

/* The checks that need no collection (mode, entries or keys, the selector's size). */
int hs_op_payload_check(const hs_op_payload_req *r, hs_fail *f);
int hs_op_update_payload(const char *tenant, const char *name, const hs_op_payload_req *r,
                         bool want_clock, hs_op_payload_out *out, hs_fail *f);

/* A Scroll, decoded: ascending ids after `cursor` (an opaque string from a previous page;
 * NULL = from the start), the first `offset` matching points skipped, at most `limit`.  In a
 * collection of string ids (id_type, from hs_op_id_type) the order is that of the strings and
 * a cursor is a string id (the last one of the previous page). */
typedef struct hs_op_scroll_req {
    bool has_limit;
    int64_t limit; /* 1..1000; 100 when absent */
    hs_id_type id_type;
    const char *cursor;
    uint64_t offset;
    bool with_vector;
    const hs_filter_set *filter; /* NULL = none */
} hs_op_scroll_req;

typedef struct hs_op_scroll_out {
    size_t n;              /* points passed to fn */
    bool more;             /* further points exist: next_cursor continues after this page */
    char next_cursor[HS_SID_MAX + 1];
} hs_op_scroll_out;

int hs_op_scroll_check(const hs_op_scroll_req *r, hs_fail *f);
int hs_op_scroll(hs_collection *h, const hs_op_scroll_req *r, hs_point_fn fn, void *ctx,
                 hs_op_scroll_out *out, hs_fail *f);

/* A search across collections: the same query (vector, top_k, filter; no hybrid) in each of
 * names[0..n) (1..64, each once; "" is "default"), which must share a dimension and a metric. */
typedef struct hs_op_multi_req {
    const char *const *names;
    size_t n;
    hs_op_search_req search; /* its on_result is not used */
    /* optional, called for result i of collection `coll` under that search's read lock */
    int (*on_result)(void *ctx, size_t coll, size_t i, const hs_point_view *p);
    void *result_ctx;
} hs_op_multi_req;

/* One hit of the merged ranking: the collection, its rank there, the hit. */
typedef struct hs_op_multi_hit {
    size_t coll;
    size_t rank;
    hs_hit hit;
} hs_op_multi_hit;

int hs_op_multi_check(const hs_op_multi_req *r, hs_fail *f);
/* Runs the checked search.  hits holds n x k entries (collection c's results at hits + c x k,
 * counts[c] of them, best first); merged (k entries) gets the best k of all of them by distance
 * (ties: the collection listed first, then the smaller id), *nmerged of them. */
int hs_op_search_multi(const char *tenant, const hs_op_multi_req *r, hs_hit *hits,
                       size_t *counts, hs_op_multi_hit *merged, size_t *nmerged, hs_fail *f);

/* Freezes (frozen) or unfreezes a collection; the name must not be empty. */
int hs_op_freeze(const char *tenant, const char *name, bool frozen, hs_fail *f);
/* ---- snapshot archives (ops_snapshots.c) ------------------------------------------------- */

/* A snapshot of the tenant's collection, or (collection NULL or "") of the whole node, named
 * `name` (NULL or "": made by the server). */
int hs_op_snapshot_create(const char *tenant, const char *collection, const char *name,
                          hs_snapshot_info *out, hs_fail *f);
int hs_op_snapshot_list(int (*fn)(void *ctx, const hs_snapshot_info *s), void *ctx, hs_fail *f);
/* The manifest of an archive; fn (may be NULL) per collection in it. */
int hs_op_snapshot_get(const char *name, hs_snapshot_info *out,
                       int (*fn)(void *ctx, const hs_snapshot_coll *c), void *ctx, hs_fail *f);
/* An archive opened for a download: *fd (the caller closes it) and its size. */
int hs_op_snapshot_open(const char *name, int *fd, uint64_t *len, hs_fail *f);
int hs_op_snapshot_delete(const char *name, hs_fail *f);

/* An archive uploaded in pieces (hs_snapshot_upload_*): stored as `name` once it checked out
 * in full (end with commit), removed otherwise. */
int hs_op_snapshot_upload_begin(const char *name, hs_snapshot_upload **u, hs_fail *f);
int hs_op_snapshot_upload_write(hs_snapshot_upload *u, const void *buf, size_t len, hs_fail *f);
int hs_op_snapshot_upload_end(hs_snapshot_upload *u, bool commit, hs_snapshot_info *out,
                              hs_fail *f);

/* What to restore ("" or NULL = not given): the archive's collection (all when not given) and
 * its tenant there, the new name and tenant, and whether targets holding points are dropped. */
typedef struct hs_op_restore_req {
    const char *collection, *tenant, *target, *target_tenant;
    bool replace;
} hs_op_restore_req;

/* Checks (snapshot name, collection, tenant, target, target tenant in that order) and restores;
 * fn (may be NULL) per restored collection; *clock gets the archive's clock. */
int hs_op_snapshot_restore(const char *name, const hs_op_restore_req *r,
                           int (*fn)(void *ctx, const hs_snapshot_coll *c), void *ctx,
                           uint64_t *clock, hs_fail *f);

#endif /* HS_OPS_H */
