/*
 * grpc_snapshots.c: the snapshot archive RPCs (docs/api/grpc.md, "Snapshot archives"):
 * CreateSnapshot, ListSnapshots, GetSnapshot, DeleteSnapshot, RestoreSnapshot.  Each unpacks its
 * request, calls the operation of ops_snapshots.c and packs the reply (the same operations as
 * HTTP, which also serves the downloads).  Their rows are in grpc_api.c's table.
 */
#include <grpc/status.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperspace.pb-c.h"
#include "server/grpc_int.h"
#include "server/ops.h"

/* The reply's strings point into what the info and the collections hold: an array of
 * collections (each with the strings it needs) kept until the reply is packed. */
typedef struct coll_out {
    Hyperspace__SnapshotCollection m;
    char tenant[HS_NAME_MAX + 1], name[HS_NAME_MAX + 1];
    char from_tenant[HS_NAME_MAX + 1], from_name[HS_NAME_MAX + 1];
} coll_out;

typedef struct colls {
    coll_out *v;
    Hyperspace__SnapshotCollection **ptrs;
    size_t n, cap;
    bool oom;
} colls;

static int add_coll(void *ctx, const hs_snapshot_coll *x)
{
    colls *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        coll_out *v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            l->oom = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    coll_out *o = &l->v[l->n++];
    hyperspace__snapshot_collection__init(&o->m);
    snprintf(o->tenant, sizeof(o->tenant), "%s", x->tenant);
    snprintf(o->name, sizeof(o->name), "%s", x->name);
    snprintf(o->from_tenant, sizeof(o->from_tenant), "%s", x->from_tenant);
    snprintf(o->from_name, sizeof(o->from_name), "%s", x->from_name);
    o->m.dimension = x->config.dimension;
    o->m.metric = (char *)hs_metric_name(x->config.metric);
    o->m.quantization = (char *)hs_quant_name(x->config.quantization);
    o->m.m = x->config.m;
    o->m.ef_construction = x->config.ef_construction;
    o->m.ef_search = x->config.ef_search;
    o->m.id_type = x->config.id_type == HS_ID_STRING ? "string" : "integer";
    o->m.logical_clock = x->clock;
    o->m.count = x->count;
    o->m.frozen = x->frozen != 0;
    return 0;
}

/* Points the messages at their strings once the array no longer moves. */
static bool colls_done(colls *l)
{
    l->ptrs = malloc((l->n ? l->n : 1) * sizeof(*l->ptrs));
    if (!l->ptrs || l->oom)
        return false;
    for (size_t i = 0; i < l->n; i++) {
        coll_out *o = &l->v[i];
        o->m.tenant = o->tenant;
        o->m.name = o->name;
        o->m.from_tenant = o->from_tenant;
        o->m.from_name = o->from_name;
        l->ptrs[i] = &o->m;
    }
    return true;
}

static void colls_free(colls *l)
{
    free(l->v);
    free(l->ptrs);
}

/* info into m (strings pointing into info). */
static void info_msg(hs_snapshot_info *s, Hyperspace__SnapshotInfo *m)
{
    hyperspace__snapshot_info__init(m);
    m->name = s->name;
    m->logical_clock = s->clock;
    m->bytes = s->bytes;
    m->created_ms = s->created_ms;
    m->node = s->node != 0;
    m->tenant = s->tenant;
    m->collection = s->collection;
    m->collections = s->collections;
    m->skipped = s->skipped;
    m->node_id = s->node_id;
    m->error = s->error;
}

/* The archive's figures and contents as the reply. */
static void reply_described(hs_gcall *c, const char *name)
{
    hs_snapshot_info s;
    colls l = {0};
    hs_fail f = {0};
    if (hs_op_snapshot_get(name, &s, add_coll, &l, &f)) {
        colls_free(&l);
        return hs_gcall_fail(c, &f);
    }
    if (!colls_done(&l)) {
        colls_free(&l);
        return hs_gcall_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory");
    }
    Hyperspace__SnapshotInfo m;
    info_msg(&s, &m);
    m.n_contents = l.n;
    m.contents = l.ptrs;
    hs_grpc_reply(c, &m.base);
    colls_free(&l);
}

void hs_rpc_snapshot_create(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__SnapshotCreateRequest *r =
        hyperspace__snapshot_create_request__unpack(NULL, len, msg);
    if (!r)
        return hs_grpc_bad_message(c);
    hs_snapshot_info s;
    hs_fail f = {0};
    if (hs_op_snapshot_create(c->auth.tenant, r->collection, r->name, &s, &f))
        hs_gcall_fail(c, &f);
    else
        reply_described(c, s.name);
    hyperspace__snapshot_create_request__free_unpacked(r, NULL);
}

void hs_rpc_snapshot_get(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__SnapshotRequest *r = hyperspace__snapshot_request__unpack(NULL, len, msg);
    if (!r)
        return hs_grpc_bad_message(c);
    reply_described(c, r->name);
    hyperspace__snapshot_request__free_unpacked(r, NULL);
}

typedef struct infos {
    hs_snapshot_info *v;
    size_t n, cap;
    bool oom;
} infos;

static int add_info(void *ctx, const hs_snapshot_info *s)
{
    infos *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        hs_snapshot_info *v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            l->oom = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *s;
    return 0;
}

void hs_rpc_snapshot_list(hs_gcall *c, const uint8_t *msg, size_t len)
{
    (void)msg;
    (void)len;
    infos l = {0};
    hs_fail f = {0};
    if (hs_op_snapshot_list(add_info, &l, &f)) {
        free(l.v);
        return hs_gcall_fail(c, &f);
    }
    Hyperspace__SnapshotInfo *ms = malloc((l.n ? l.n : 1) * sizeof(*ms));
    Hyperspace__SnapshotInfo **ps = malloc((l.n ? l.n : 1) * sizeof(*ps));
    if (l.oom || !ms || !ps) {
        hs_gcall_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory");
    } else {
        for (size_t i = 0; i < l.n; i++) {
            info_msg(&l.v[i], &ms[i]);
            ps[i] = &ms[i];
        }
        Hyperspace__SnapshotList out = HYPERSPACE__SNAPSHOT_LIST__INIT;
        out.n_snapshots = l.n;
        out.snapshots = ps;
        hs_grpc_reply(c, &out.base);
    }
    free(ms);
    free(ps);
    free(l.v);
}

void hs_rpc_snapshot_delete(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__SnapshotRequest *r = hyperspace__snapshot_request__unpack(NULL, len, msg);
    if (!r)
        return hs_grpc_bad_message(c);
    hs_fail f = {0};
    if (hs_op_snapshot_delete(r->name, &f)) {
        hs_gcall_fail(c, &f);
    } else {
        char text[200];
        snprintf(text, sizeof(text), "Snapshot '%s' deleted.", r->name);
        Hyperspace__StatusResponse out = HYPERSPACE__STATUS_RESPONSE__INIT;
        out.status = text;
        hs_grpc_reply(c, &out.base);
    }
    hyperspace__snapshot_request__free_unpacked(r, NULL);
}

void hs_rpc_snapshot_restore(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__SnapshotRestoreRequest *r =
        hyperspace__snapshot_restore_request__unpack(NULL, len, msg);
    if (!r)
        return hs_grpc_bad_message(c);
    hs_op_restore_req q = {r->collection, r->tenant, r->target, r->target_tenant, r->replace};
    colls l = {0};
    hs_fail f = {0};
    uint64_t clock = 0;
    if (hs_op_snapshot_restore(r->name, &q, add_coll, &l, &clock, &f)) {
        hs_gcall_fail(c, &f);
    } else if (!colls_done(&l)) {
        hs_gcall_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory");
    } else {
        Hyperspace__SnapshotRestoreResponse out = HYPERSPACE__SNAPSHOT_RESTORE_RESPONSE__INIT;
        out.n_collections = l.n;
        out.collections = l.ptrs;
        out.logical_clock = clock;
        hs_grpc_reply(c, &out.base);
    }
    colls_free(&l);
    hyperspace__snapshot_restore_request__free_unpacked(r, NULL);
}
