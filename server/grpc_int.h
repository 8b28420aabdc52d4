/* grpc_int.h: what grpc_server.c, grpc_api.c, grpc_later.c and grpc_meta.c share: the call
 * structure, the RPC table, typed metadata and conditions between messages and the engine,
 * replies and the collection of points and search results into messages. */
#ifndef HS_GRPC_INT_H
#define HS_GRPC_INT_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "hyperspace.pb-c.h"
#include "server/filters.h"
#include "server/server.h"

enum { TAG_NEW, TAG_READ, TAG_DONE, TAG_CLOSE, TAG_SENT };

typedef struct hs_gcall hs_gcall;
typedef struct hs_esub hs_esub;
typedef struct hs_rstream hs_rstream;

typedef struct hs_gtag {
    hs_gcall *call;
    int kind;
} hs_gtag;

typedef struct hs_rpc {
    const char *path; /* "/hyperspace.Database/Search" */
    const char *name; /* "Search" */
    hs_role role;
    bool global; /* needs an admin key not bound to a tenant */
    bool write;  /* refused on followers */
    void (*run)(hs_gcall *c, const uint8_t *msg, size_t len);
    const ProtobufCMessageDescriptor *request; /* the request message type */
} hs_rpc;

struct hs_gcall {
    struct hs_grpc *g;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_byte_buffer *recv;
    hs_gtag tag_new, tag_read, tag_done, tag_close, tag_sent;
    const hs_rpc *rpc;
    char method_name[48];
    hs_authn auth;
    uint64_t start_ns;
    bool sent_initial;
    bool close_armed;
    bool counted; /* counted in the server's calls in flight (grpc_server.c) */
    int cancelled; /* set by RECV_CLOSE_ON_SERVER */
    int final_status;
    uint8_t *reply; /* packed reply message, sent by hs_gcall_finish */
    size_t reply_len;
    /* server streams (grpc_api.c) */
    pthread_mutex_t mu;
    bool stream;
    bool send_in_flight, closed, done_sent;
    int refs; /* Monitor: the close batch and the status batch each hold one; the last frees */
    double next_due;
    struct hs_gcall *next;
    hs_esub *events; /* SubscribeToEvents (grpc_events.c), NULL for other calls */
    hs_rstream *repl; /* Replicate, ReplicateSnapshot (repl_leader.c), NULL for other calls */
    /* metadata sent with the initial metadata and with the status: the arrays and the values'
     * slices live until the call is freed (keys are static strings) */
    grpc_metadata initial_md[3];
    size_t n_initial_md;
    grpc_metadata trailers[2];
    size_t n_trailers;
};

const hs_rpc *hs_grpc_find_rpc(const char *path, size_t len);
/* Runs the call's RPC on its request message: refused with INVALID_ARGUMENT when the wire
 * check below finds an issue (naming it), otherwise handed to rpc->run. */
void hs_grpc_run(hs_gcall *c, const uint8_t *msg, size_t len);

/* What the wire check of a request found (grpc_wire.c). */
typedef enum hs_pb_issue_kind {
    HS_PB_OK = 0,
    HS_PB_MALFORMED,     /* not a protobuf message */
    HS_PB_UNKNOWN_FIELD, /* a field number the message does not define */
    HS_PB_WIRE_TYPE,     /* a known field with a wire type its type cannot have */
    HS_PB_NUL,           /* a NUL byte in a string field */
} hs_pb_issue_kind;

typedef struct hs_pb_issue {
    hs_pb_issue_kind kind;
    const char *message; /* full name of the message holding the field ("hyperspace.Range") */
    uint32_t number;     /* the field's number */
    unsigned wire_type;  /* as it arrived */
    char path[160];      /* the field ("metadata[0].key"; UNKNOWN_FIELD: the message holding it,
                            "" at the top) */
} hs_pb_issue;

/* Walks a request's wire bytes with its descriptor (sub-messages and map entries included) and
 * reports the first issue in wire order; false when there is none.  Reads only.
 * Thread-safety: safe. */
bool hs_pb_check(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                 hs_pb_issue *out);
/* The client-facing message of an issue. */
void hs_pb_issue_text(const hs_pb_issue *is, char *text, size_t cap);
/* The RPC table, entry by entry (tests and fuzzing). */
size_t hs_grpc_rpc_count(void);
const hs_rpc *hs_grpc_rpc_at(size_t i);
void hs_gcall_finish(hs_gcall *c, int status, const char *message);
/* Adds trailing metadata key: value (key a static string, value copied) to what the status
 * will carry; at most two entries, more are dropped. */
void hs_gcall_trailer(hs_gcall *c, const char *key, const char *value);
void hs_gcall_fail(hs_gcall *c, const hs_fail *f);
void hs_gcall_free(hs_gcall *c);

/* streams (grpc_api.c) */
void hs_grpc_streams_start(void);
void hs_grpc_streams_stop(void);
void hs_grpc_stream_event(hs_gcall *c, int kind, bool ok);
void hs_grpc_stream_done(hs_gcall *c);
/* SubscribeToEvents (grpc_events.c): the RPC, its completions, the serving thread */
void hs_events_subscribe(hs_gcall *c, const uint8_t *msg, size_t len);
void hs_events_stream_event(hs_gcall *c, int kind, bool ok);
void hs_events_stream_done(hs_gcall *c);
void hs_events_start(void);
void hs_events_stop(void);

/* typed metadata and conditions (grpc_meta.c) */

/* One point's metadata as the engine takes it: the string map keys[i] -> values[i] and the
 * typed map tkeys[i] -> tvalues[i] (a key in both keeps its typed value).  The strings stay
 * the message's; free with hs_gmeta_free.  Returns 0 or -1 (out of memory). */
typedef struct hs_gmeta {
    hs_kv *kv;
    size_t n;
    hs_value *vals, *items;
} hs_gmeta;
int hs_gmeta_build(hs_gmeta *m, const char *const *keys, const char *const *values, size_t n,
                   const char *const *tkeys, const Hyperspace__MetadataValue *const *tvalues,
                   size_t nt);
void hs_gmeta_free(hs_gmeta *m);

/* A viewed point's metadata as the entries of a map<string, string> field: entry messages of
 * type `desc` (e.g. &hyperspace__insert_op__metadata_entry__descriptor), each value in its
 * string form; ptrs[0..n) is what the message's repeated field takes.  Returns 0 or -1 (out of
 * memory; what was made is freed by hs_gstrmap_free all the same). */
typedef struct hs_gstrmap {
    void **ptrs;
    size_t n, cap;
    const ProtobufCMessageDescriptor *desc;
    bool oom;
} hs_gstrmap;
int hs_gstrmap_collect(hs_gstrmap *m, const ProtobufCMessageDescriptor *desc,
                       const hs_point_view *p);
void hs_gstrmap_free(hs_gstrmap *m);

/* A viewed point's metadata as typed values (copied; nothing when every value is a string). */
typedef struct hs_gtyped {
    char **keys;
    Hyperspace__MetadataValue **vals;
    size_t n, cap;
    bool oom;
} hs_gtyped;
int hs_gtyped_collect(hs_gtyped *t, const hs_point_view *p);
/* Frees what t holds (entries moved out are NULL) / one value made by it. */
void hs_gtyped_free(hs_gtyped *t);
void hs_gmv_free(Hyperspace__MetadataValue *v);

/* The `filter` map and the Filter list of a request into fs (which the caller initialised and
 * frees).  Returns 0 or the failure id. */
int hs_gfilters_add(hs_filter_set *fs, Hyperspace__SearchRequest__FilterEntry **map, size_t n_map,
                    Hyperspace__Filter **filters, size_t n_filters, hs_fail *f);


/* ---- shared by grpc_api.c and grpc_later.c ------------------------------------------------ */

/* Replies: a packed message; a StatusResponse holding text; INVALID_ARGUMENT "Malformed request
 * message"; the durability of a DurabilityLevel value. */
void hs_grpc_reply(hs_gcall *c, const ProtobufCMessage *m);
void hs_grpc_status_reply(hs_gcall *c, const char *text);
void hs_grpc_bad_message(hs_gcall *c);
hs_durability hs_grpc_durability(int level);

/* The `metadata` and `typed_metadata` maps of message x (InsertRequest, VectorData) into the
 * hs_gmeta m; ok is set to whether it worked (out of memory otherwise). */
#define HS_GMETA_OF(m, x, ok)                                                                  \
    do {                                                                                    \
        size_t n_ = (x)->n_metadata, nt_ = (x)->n_typed_metadata;                           \
        const char **k_ = malloc((n_ + 1) * sizeof(char *));                                \
        const char **v_ = malloc((n_ + 1) * sizeof(char *));                                \
        const char **tk_ = malloc((nt_ + 1) * sizeof(char *));                              \
        const Hyperspace__MetadataValue **tv_ = malloc((nt_ + 1) * sizeof(void *));         \
        for (size_t i_ = 0; k_ && v_ && i_ < n_; i_++) {                                    \
            k_[i_] = (x)->metadata[i_]->key;                                                \
            v_[i_] = (x)->metadata[i_]->value;                                              \
        }                                                                                   \
        for (size_t i_ = 0; tk_ && tv_ && i_ < nt_; i_++) {                                 \
            tk_[i_] = (x)->typed_metadata[i_]->key;                                         \
            tv_[i_] = (x)->typed_metadata[i_]->value;                                       \
        }                                                                                   \
        ok = k_ && v_ && tk_ && tv_ && hs_gmeta_build(m, k_, v_, n_, tk_, tv_, nt_) == 0;  \
        free(k_);                                                                           \
        free(v_);                                                                           \
        free(tk_);                                                                          \
        free((void *)tv_);                                                                  \
    } while (0)

/* Points read into VectorData messages (an hs_point_fn: ctx is an hs_gpoints; vectors when the
 * view has them, metadata unless skip_meta). */
typedef struct hs_gpoints {
    Hyperspace__VectorData **v;
    size_t n, cap;
    bool oom;
    bool skip_meta;
} hs_gpoints;
int hs_gpoints_add(void *ctx, const hs_point_view *p);
void hs_gpoints_free(hs_gpoints *o);

/* Search results collected for a reply: per result its string metadata entries and its typed
 * entries, copied in the search's result callback (hs_gsearch_on_result, ctx an hs_gsearch). */
typedef struct hs_gkv_list {
    Hyperspace__SearchResult__MetadataEntry *e;
    size_t n, cap;
    bool oom;
} hs_gkv_list;

/* A result's typed_metadata entries (key and value pointers into its hs_gtyped). */
typedef struct hs_gtyped_entries {
    Hyperspace__SearchResult__TypedMetadataEntry *e;
    Hyperspace__SearchResult__TypedMetadataEntry **p;
} hs_gtyped_entries;

typedef struct hs_gsearch {
    Hyperspace__SearchResult *res;
    hs_gkv_list *meta;
    hs_gtyped *typed;           /* per result */
    hs_gtyped_entries *tents;   /* per result */
    char **sids;                /* per result: the string id of a string-id point, or NULL */
    size_t n;
} hs_gsearch;
int hs_gsearch_on_result(void *ctx, size_t i, const hs_point_view *p);
/* Fills a SearchResponse from o (pointers into o; valid while o lives): ptrs holds o->n
 * pointers, entry_ptrs o->n arrays (malloc'd here, freed by the caller). */
void hs_gsearch_fill(Hyperspace__SearchResponse *resp, hs_gsearch *o,
                     Hyperspace__SearchResult **ptrs,
                     Hyperspace__SearchResult__MetadataEntry ***entry_ptrs);
/* Frees what o holds (k: the results it was made for). */
void hs_gsearch_free(hs_gsearch *o, size_t k);

/* The later releases' calls served by grpc_later.c (rows of the table in grpc_api.c). */
void hs_rpc_update_payload(hs_gcall *c, const uint8_t *msg, size_t len);
void hs_rpc_scroll(hs_gcall *c, const uint8_t *msg, size_t len);
void hs_rpc_search_multi(hs_gcall *c, const uint8_t *msg, size_t len);
void hs_rpc_freeze(hs_gcall *c, const uint8_t *msg, size_t len);
void hs_rpc_unfreeze(hs_gcall *c, const uint8_t *msg, size_t len);
/* replication, the leader side (repl_leader.c; repl.h): the RPCs, the completions of their
 * streams, and the initial metadata of a Replicate call (the leader's node id) */
void hs_repl_replicate(hs_gcall *c, const uint8_t *msg, size_t len);
void hs_repl_snapshot(hs_gcall *c, const uint8_t *msg, size_t len);
void hs_repl_ack(hs_gcall *c, const uint8_t *msg, size_t len);
void hs_repl_cluster_status(hs_gcall *c, const uint8_t *msg, size_t len);
void hs_repl_stream_event(hs_gcall *c, int kind, bool ok);
void hs_repl_stream_done(hs_gcall *c);
void hs_repl_initial_md(hs_gcall *c);
/* snapshot archives (grpc_snapshots.c) */
void hs_rpc_snapshot_create(hs_gcall *c, const uint8_t *msg, size_t len);
void hs_rpc_snapshot_list(hs_gcall *c, const uint8_t *msg, size_t len);
void hs_rpc_snapshot_get(hs_gcall *c, const uint8_t *msg, size_t len);
void hs_rpc_snapshot_delete(hs_gcall *c, const uint8_t *msg, size_t len);
void hs_rpc_snapshot_restore(hs_gcall *c, const uint8_t *msg, size_t len);

/* String ids (grpc_api.c): sets p's id from a request's `id` and `string_id` as the collection
 * `name` (of kind `kind`, from hs_op_id_type; -1: not found) takes them, or fails naming what
 * it cannot take.  p->sid points into sid. */
int hs_gpoint_id(const char *name, int kind, uint32_t id, const char *sid, hs_point *p,
                 hs_fail *f);

#endif
