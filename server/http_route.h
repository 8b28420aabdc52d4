/*
 * http_route.h: what the files of the HTTP API share (not libmicrohttpd: see http_int.h).
 *
 *   http_api.c          the request stages (B9.3), the route table, responses and the envelope
 *   http_json.c         the string builder for responses, failures, percent-decoding, the JSON
 *                       checks cJSON does not make (UTF-8, depth, NUL, exact numbers), output pieces
 *   http_fields.c       typed request fields, metadata, durability, filter conditions
 *   http_collections.c  collection routes and per-collection / node maintenance
 *   http_points.c       writes (JSON and the binary bulk format) and reads
 *   http_node.c         cluster, status, metrics, logs, health
 *   http_events.c       the change stream (long poll)
 *   http_snapshots.c    snapshot archives: create, list, download, describe, delete, restore
 *
 * Routes decode the request with these helpers, call the operations layer (ops.h) and write the
 * answer into hctx.out; a failure is recorded in hctx.f and turned into the envelope by stage 2.
 */
#ifndef HS_HTTP_ROUTE_H
#define HS_HTTP_ROUTE_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/filters.h"
#include "server/http_int.h"
#include "server/ops.h"

#define JSON_MAX_DEPTH 64
#define MAX_IDS HS_OP_IDS_MAX

typedef struct sb {
    char *p;
    size_t n, cap;
    bool oom;
} sb;

typedef struct json_shape {
    size_t max_depth;
    bool unterminated;
    bool long_digits; /* a run of 16 or more digits outside strings (see exact_numbers) */
} json_shape;

typedef struct num_walk {
    const char *s;
    size_t n, at; /* the scan position in s */
    bool oom;
} num_walk;

/* {"id":..,"vector":[..],"metadata":{..}} (vector only when asked for) */
typedef struct point_out {
    sb *b;
    bool with_vector, with_metadata;
    size_t count;
    uint64_t last_id;
} point_out;

/* Metadata as key/value pairs with texts and typed values owned by the buffer
 * (hs_http_kvbuf_free). */
typedef struct kvbuf {
    hs_kv *kv;
    size_t n;
    char *texts;     /* number texts, 40 bytes each */
    hs_value *vals;  /* typed values (typed_metadata) */
    hs_value *items; /* their list elements */
} kvbuf;

/* ---- request context --------------------------------------------------------------------- */

typedef struct hctx {
    const hs_hreq *req;
    hs_hstate *st;
    hs_hresp *resp;
    cJSON *json; /* the body object, or NULL */
    hs_fail f;
    char extra[64]; /* extra details members (batch index) */
    sb out;
} hctx;

typedef struct route {
    const char *method;
    const char *templ;
    hs_role role;
    bool global, write;
    int body; /* BODY_* */
    void (*run)(hctx *c);
} route;

enum { BODY_NONE, BODY_JSON, BODY_JSON_OPT, BODY_JSON_OR_BINARY, BODY_STREAM };


/* ---- http_json.c: string builder, failures, small parsers, JSON checks, output pieces ---- */
void hs_sb_put(sb *b, const char *s, size_t n);
void hs_sb_printf(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hs_sb_double(sb *b, double v);
int hs_http_fail(hctx *c, int id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int hs_http_fail_engine(hctx *c, int rc, const hs_error *err);
void hs_http_fail_prefix(hctx *c, const char *what, long index);
bool hs_http_pct_decode(const char *s, size_t n, char *out, size_t cap, bool plus_is_space);
const char *hs_http_query_arg(hctx *c, const char *name, char *buf, size_t cap);
bool hs_http_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out);
json_shape hs_http_json_scan(const char *s, size_t n);
void hs_http_exact_numbers(cJSON *item, num_walk *w);
int hs_http_nul_fail(hctx *c, const char *s, size_t n, const char *what);
int hs_http_parse_body(hctx *c, bool optional);
void hs_http_meta_object(sb *b, const hs_point_view *p);
/* ,"typed_metadata":{...} with every entry typed, when the point holds a non-string value. */
void hs_http_typed_member(sb *b, const hs_point_view *p);
int hs_http_point_json(void *ctx, const hs_point_view *p);
int hs_http_peek_json(void *ctx, const hs_point_view *p);
void hs_http_stats_members(sb *b, const hs_collection_stats *st);
void hs_http_digest_members(sb *b, const char *name, const hs_digest *d);
void hs_sb_puts(sb *b, const char *s);
void hs_sb_u64(sb *b, uint64_t v);
void hs_sb_cstr(sb *b, const char *s);
void hs_sb_str(sb *b, const char *s, size_t n); /* a JSON string of n bytes */
/* The id of a point as JSON: its string id, or its integer id. */
void hs_http_id_json(sb *b, const hs_point_view *p);
const char *hs_http_tenant(hctx *c);

/* ---- http_fields.c: request fields, metadata, durability, filters ---------------------- */
cJSON *hs_http_member(const cJSON *obj, const char *name);
int hs_http_get_int(hctx *c, const cJSON *obj, const char *field, bool required, int64_t lo,
                    int64_t hi, int64_t *out, bool *present);
cJSON *hs_http_get_object_array(hctx *c, const char *field);
int hs_http_get_string(hctx *c, const cJSON *obj, const char *field, bool required,
                       const char **out);
int hs_http_get_bool(hctx *c, const cJSON *obj, const char *field, bool dflt, bool *out);
/* The optional member "oversampling": absent = 0 (the collection's), else a number 1..100. */
int hs_http_get_oversampling(hctx *c, const cJSON *obj, double *out);
int hs_http_get_vector(hctx *c, const cJSON *obj, const char *field, double **out, size_t *n);
void hs_http_kvbuf_free(kvbuf *k);
int hs_http_get_metadata_obj(hctx *c, const cJSON *m, kvbuf *out);
int hs_http_get_metadata(hctx *c, const cJSON *obj, kvbuf *out);
int hs_http_get_durability(hctx *c, hs_durability *d);
bool hs_http_has_filter_member(const cJSON *obj);
/* String ids: the kind of the route's collection (hs_op_id_type); the id member `field` as that
 * kind takes it (a JSON string holding a string id for HS_ID_STRING, into *sid; otherwise an
 * integer 0..4294967295 into *id, sid->str NULL); an `ids` array of 1..10000 of them (*ids or,
 * for string ids, *sids: malloc'd, pointing into the body). */
int hs_http_kind(hctx *c);
int hs_http_get_point_id(hctx *c, const cJSON *obj, const char *field, bool required, int kind,
                         uint64_t *id, hs_sid *sid, bool *present);
int hs_http_get_point_ids(hctx *c, const cJSON *arr, int kind, uint64_t **ids, hs_sid **sids,
                          size_t *n);
int hs_http_get_filters(hctx *c, const cJSON *obj, hs_filter_set *fs);

/* ---- http_collections.c: collection and maintenance routes ------------------------------ */
int hs_http_open_coll(hctx *c, bool create_default, hs_collection **h);
void hs_http_write_reply(hctx *c, const char *what, uint64_t n, uint64_t clock);
void hs_route_list(hctx *c);
void hs_route_create(hctx *c);
void hs_route_info(hctx *c);
void hs_route_drop(hctx *c);
void hs_route_stats(hctx *c);
void hs_route_digest(hctx *c);
void hs_route_config(hctx *c);
void hs_route_rebuild(hctx *c);
void hs_route_coll_snapshot(hctx *c);
void hs_route_snapshot(hctx *c);
void hs_route_vacuum(hctx *c);
void hs_route_usage(hctx *c);
void hs_route_freeze(hctx *c);
void hs_route_unfreeze(hctx *c);

/* ---- http_events.c: the change stream (long poll) ----------------------------------------- */
void hs_route_events(hctx *c);
void hs_route_node_events(hctx *c);

/* ---- http_points.c: write and read routes ----------------------------------------------- */
void hs_route_insert(hctx *c);
void hs_route_insert_batch(hctx *c);
void hs_route_delete_point(hctx *c);
void hs_route_points_delete(hctx *c);
void hs_route_search(hctx *c);
void hs_route_search_batch(hctx *c);
void hs_route_get_point(hctx *c);
void hs_route_get_points(hctx *c);
void hs_route_scroll(hctx *c);
void hs_route_count(hctx *c);
void hs_route_peek(hctx *c);
void hs_route_payload(hctx *c);
void hs_route_search_multi(hctx *c);

/* ---- http_node.c: node, monitoring and health routes ------------------------------------ */
void hs_route_cluster(hctx *c);
void hs_route_promote(hctx *c);
void hs_route_status(hctx *c);
void hs_route_api_metrics(hctx *c);
void hs_route_prometheus(hctx *c);
void hs_route_logs(hctx *c);
void hs_route_readyz(hctx *c);
void hs_route_healthz(hctx *c);

/* ---- http_snapshots.c: snapshot archives ----------------------------------------------- */
void hs_route_snapshots_list(hctx *c);
void hs_route_snapshots_create(hctx *c);
void hs_route_snapshot_download(hctx *c);
void hs_route_snapshot_delete(hctx *c);
void hs_route_snapshot_manifest(hctx *c);
void hs_route_snapshot_restore(hctx *c);
void hs_route_snapshot_upload(hctx *c);

#endif /* HS_HTTP_ROUTE_H */
