/*
 * http_collections.c: the collection routes (list, create, info, drop, stats, digest, config)
 * and maintenance (rebuild, snapshot of one collection or all, vacuum, usage per tenant).  Each
 * decodes its request, calls the operations layer and writes the JSON answer.
 */
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/http_route.h"
#include "util/log.h"
#include "util/numfmt.h"
#include "util/utf8.h"

/* ---- collection helpers --------------------------------------------------------------------- */

int hs_http_open_coll(hctx *c, bool create_default, hs_collection **h)
{
    return hs_ops_open(hs_http_tenant(c), c->st->name, create_default, h, &c->f);
}

/* The per-collection maintenance routes: runs the operation on the route's collection (loading
 * it), then fills st with its figures.  Returns the failure id or 0. */
static int on_coll(hctx *c, hs_op_kind kind, void *arg, hs_collection_stats *st)
{
    return hs_op_collection(hs_http_tenant(c), c->st->name, kind, arg, st, &c->f);
}

void hs_http_write_reply(hctx *c, const char *what, uint64_t n, uint64_t clock)
{
    hs_sb_printf(&c->out, "{\"%s\":%llu,\"logical_clock\":%llu}", what, (unsigned long long)n,
                 (unsigned long long)clock);
}

/* ---- routes: collections ---------------------------------------------------------------------- */

typedef struct names {
    char (*v)[HS_NAME_MAX + 1];
    char (*t)[HS_NAME_MAX + 1];
    size_t n, cap;
} names;

static int add_name(void *ctx, const char *t, const char *name)
{
    names *ns = ctx;
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 16;
        void *v = realloc(ns->v, cap * sizeof(*ns->v));
        if (!v)
            return HS_ENOMEM;
        ns->v = v;
        v = realloc(ns->t, cap * sizeof(*ns->t));
        if (!v)
            return HS_ENOMEM;
        ns->t = v;
        ns->cap = cap;
    }
    snprintf(ns->v[ns->n], sizeof(ns->v[0]), "%s", name);
    snprintf(ns->t[ns->n], sizeof(ns->t[0]), "%s", t ? t : "");
    ns->n++;
    return 0;
}

void hs_route_list(hctx *c)
{
    names ns = {0};
    hs_error err;
    int rc = hs_collection_list(g_srv.db, hs_http_tenant(c), add_name, &ns, &err);
    if (rc) {
        hs_http_fail_engine(c, rc, &err);
    } else {
        hs_sb_put(&c->out, "[", 1);
        size_t shown = 0;
        for (size_t i = 0; i < ns.n; i++) {
            hs_collection_stats st;
            if (hs_ops_stats_named(hs_http_tenant(c), ns.v[i], &st, &err) != HS_OK)
                continue; /* dropped meanwhile */
            if (shown++)
                hs_sb_put(&c->out, ",", 1);
            hs_sb_puts(&c->out, "{\"name\":");
            hs_sb_cstr(&c->out, ns.v[i]);
            hs_sb_puts(&c->out, ",\"count\":");
            hs_sb_u64(&c->out, st.count);
            hs_sb_puts(&c->out, ",\"dimension\":");
            hs_sb_u64(&c->out, st.config.dimension);
            hs_sb_puts(&c->out, ",\"metric\":");
            hs_sb_cstr(&c->out, hs_metric_name(st.config.metric));
            hs_sb_puts(&c->out, ",\"quantization\":");
            hs_sb_cstr(&c->out, hs_quant_name(st.config.quantization));
            hs_sb_puts(&c->out, ",\"indexing_queue\":");
            hs_sb_u64(&c->out, st.indexing_queue);
            hs_sb_puts(&c->out, ",\"deleted_count\":");
            hs_sb_u64(&c->out, st.deleted);
            hs_sb_puts(&c->out, ",\"loaded\":");
            hs_sb_puts(&c->out, st.loaded ? "true" : "false");
            if (st.config.id_type == HS_ID_STRING)
                hs_sb_puts(&c->out, ",\"id_type\":\"string\"");
            if (st.error[0]) {
                char m[512];
                snprintf(m, sizeof(m), "Collection '%s' failed to load: %s", ns.v[i], st.error);
                hs_sb_puts(&c->out, ",\"error\":");
                hs_sb_cstr(&c->out, m);
            }
            hs_sb_put(&c->out, "}", 1);
        }
        hs_sb_put(&c->out, "]", 1);
    }
    free(ns.v);
    free(ns.t);
}

void hs_route_create(hctx *c)
{
    const char *name, *metric, *quant, *id_type;
    int64_t dim = 0, m = 0, efc = 0, efs = 0;
    if (hs_http_get_string(c, c->json, "name", true, &name) ||
        hs_http_get_int(c, c->json, "dimension", true, 0, 4294967295LL, &dim, NULL) ||
        hs_http_get_string(c, c->json, "metric", true, &metric) ||
        hs_http_get_string(c, c->json, "quantization", false, &quant) ||
        hs_http_get_int(c, c->json, "m", false, 0, 4294967295LL, &m, NULL) ||
        hs_http_get_int(c, c->json, "ef_construction", false, 0, 4294967295LL, &efc, NULL) ||
        hs_http_get_int(c, c->json, "ef_search", false, 0, 4294967295LL, &efs, NULL) ||
        hs_http_get_string(c, c->json, "id_type", false, &id_type))
        return;
    hs_op_create_req q = {name, dim, metric, quant, m, efc, efs, id_type, 0};
    if (hs_http_get_oversampling(c, c->json, &q.oversampling))
        return;
    hs_collection_stats st;
    if (hs_op_create(hs_http_tenant(c), &q, &st, &c->f))
        return;
    sb *b = &c->out;
    hs_sb_puts(b, "{\"name\":");
    hs_sb_cstr(b, name);
    hs_sb_puts(b, ",\"dimension\":");
    hs_sb_u64(b, st.config.dimension);
    hs_sb_puts(b, ",\"metric\":");
    hs_sb_cstr(b, hs_metric_name(st.config.metric));
    hs_sb_puts(b, ",\"quantization\":");
    hs_sb_cstr(b, hs_quant_name(st.config.quantization));
    hs_sb_printf(b, ",\"m\":%u,\"ef_construction\":%u,\"ef_search\":%u,\"oversampling\":%g,"
                 "\"logical_clock\":%llu", st.config.m, st.config.ef_construction,
                 st.config.ef_search, st.config.oversampling, (unsigned long long)st.clock);
    hs_sb_puts(b, st.config.id_type == HS_ID_STRING ? ",\"id_type\":\"string\"}" : "}");
    c->resp->status = 201;
    hs_hresp_header(c->resp, "Location", "/api/collections/%s", name);
}

void hs_route_info(hctx *c)
{
    hs_digest d;
    hs_collection_stats st;
    if (on_coll(c, HS_OP_DIGEST, &d, &st))
        return;
    hs_sb_put(&c->out, "{", 1);
    hs_http_digest_members(&c->out, c->st->name, &d);
    hs_sb_puts(&c->out, ",\"name\":");
    hs_sb_cstr(&c->out, c->st->name);
    hs_sb_puts(&c->out, ",");
    hs_http_stats_members(&c->out, &st);
    hs_sb_put(&c->out, "}", 1);
}

void hs_route_drop(hctx *c)
{
    if (hs_op_drop(hs_http_tenant(c), c->st->name, &c->f))
        return;
    c->resp->status = 204;
}

void hs_route_stats(hctx *c)
{
    hs_collection_stats st;
    if (hs_op_stats(hs_http_tenant(c), c->st->name, &st, &c->f))
        return;
    hs_sb_puts(&c->out, "{\"count\":");
    hs_sb_u64(&c->out, st.count);
    hs_sb_put(&c->out, ",", 1);
    hs_http_stats_members(&c->out, &st);
    hs_sb_put(&c->out, "}", 1);
}

void hs_route_digest(hctx *c)
{
    hs_digest d;
    hs_collection_stats st;
    if (on_coll(c, HS_OP_DIGEST, &d, &st))
        return;
    hs_sb_put(&c->out, "{", 1);
    hs_http_digest_members(&c->out, c->st->name, &d);
    hs_sb_put(&c->out, "}", 1);
}

void hs_route_config(hctx *c)
{
    int64_t es = 0, ec = 0;
    bool has_es, has_ec;
    if (hs_http_get_int(c, c->json, "ef_search", false, INT64_MIN / 2, INT64_MAX / 2, &es, &has_es) ||
        hs_http_get_int(c, c->json, "ef_construction", false, INT64_MIN / 2, INT64_MAX / 2, &ec, &has_ec))
        return;
    hs_op_configure_req q = {has_es, has_ec, es, ec};
    hs_collection_stats st;
    if (on_coll(c, HS_OP_CONFIGURE, &q, &st))
        return;
    hs_sb_puts(&c->out, "{\"name\":");
    hs_sb_cstr(&c->out, c->st->name);
    hs_sb_printf(&c->out, ",\"m\":%u,\"ef_construction\":%u,\"ef_search\":%u}", st.config.m,
                 st.config.ef_construction, st.config.ef_search);
}

/* ---- routes: maintenance ----------------------------------------------------------------------- */

void hs_route_rebuild(hctx *c)
{
    hs_collection_stats st;
    if (on_coll(c, HS_OP_REBUILD, NULL, &st))
        return;
    hs_sb_puts(&c->out, "{\"status\":\"Index rebuilt and reloaded successfully\",\"collection\":");
    hs_sb_cstr(&c->out, c->st->name);
    hs_sb_printf(&c->out, ",\"count\":%llu}", (unsigned long long)st.count);
}

void hs_route_coll_snapshot(hctx *c)
{
    hs_collection_stats st;
    if (on_coll(c, HS_OP_CHECKPOINT, NULL, &st))
        return;
    hs_sb_puts(&c->out, "{\"status\":\"Snapshot completed\",\"collection\":");
    hs_sb_cstr(&c->out, c->st->name);
    hs_sb_printf(&c->out, ",\"logical_clock\":%llu}", (unsigned long long)st.clock);
}

void hs_route_snapshot(hctx *c)
{
    size_t n = 0;
    if (hs_op_snapshot(&n, &c->f))
        return;
    hs_sb_printf(&c->out, "{\"status\":\"Snapshot completed for %zu collections\",\"collections\":%zu}",
                 n, n);
}

void hs_route_vacuum(hctx *c)
{
    size_t n = 0;
    uint64_t reclaimed = 0;
    if (hs_op_vacuum(&n, &reclaimed, &c->f))
        return;
    hs_sb_printf(&c->out,
                 "{\"status\":\"Success\",\"message\":\"Vacuum completed: %zu collections compacted, "
              "%llu entries reclaimed\",\"collections_compacted\":%zu,\"entries_reclaimed\":%llu}",
              n, (unsigned long long)reclaimed, n, (unsigned long long)reclaimed);
}

static int put_usage(void *ctx, const hs_tenant_usage *u)
{
    hctx *c = ctx;
    if (c->out.n > 1)
        hs_sb_put(&c->out, ",", 1);
    hs_sb_cstr(&c->out, u->tenant);
    hs_sb_printf(&c->out, ":{\"collection_count\":%llu,\"vector_count\":%llu,"
                          "\"disk_usage_bytes\":%llu,\"loaded_collections\":%llu,"
                          "\"deleted_count\":%llu,\"ram_usage_bytes\":%llu,"
                          "\"max_collections\":%llu}",
                 (unsigned long long)u->collections, (unsigned long long)u->points,
                 (unsigned long long)u->disk_bytes, (unsigned long long)u->loaded,
                 (unsigned long long)u->deleted, (unsigned long long)u->ram_bytes,
                 (unsigned long long)u->max_collections);
    return 0;
}

/* Per tenant, from the engine's sums (no collection is visited or loaded). */
void hs_route_usage(hctx *c)
{
    hs_error err;
    hs_sb_put(&c->out, "{", 1);
    int rc = hs_db_usage(g_srv.db, NULL, put_usage, c, &err);
    if (rc != HS_OK) {
        c->out.n = 0;
        hs_http_fail_engine(c, rc, &err);
        return;
    }
    hs_sb_put(&c->out, "}", 1);
}

/* ---- routes: freezing ------------------------------------------------------------------------- */

static void freeze_route(hctx *c, bool frozen)
{
    if (hs_op_freeze(hs_http_tenant(c), c->st->name, frozen, &c->f))
        return;
    hs_sb_printf(&c->out, "{\"status\":\"Collection '%s' %s.\",\"collection\":", c->st->name,
                 frozen ? "frozen" : "unfrozen");
    hs_sb_cstr(&c->out, c->st->name);
    hs_sb_printf(&c->out, ",\"frozen\":%s}", frozen ? "true" : "false");
}

void hs_route_freeze(hctx *c) { freeze_route(c, true); }

void hs_route_unfreeze(hctx *c) { freeze_route(c, false); }
