/*
 * http_snapshots.c: the snapshot archive routes (docs/api/http.md, "Snapshot archives"): list,
 * create, download, describe, delete and restore.  Every route needs a global admin key; the
 * {snapshot} parameter has passed the snapshot name rule in stage 1, and the engine opens only
 * regular files of the snapshot directory under such names.  A body member these routes do not
 * know is refused (a misspelt "collection" must not turn into a snapshot or restore of
 * everything).
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http_route.h"

/* Refuses members of the body other than the listed ones (NULL-terminated). */
static int only_members(hctx *c, const char *const *known)
{
    for (const cJSON *it = c->json ? c->json->child : NULL; it; it = it->next) {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++)
            ok = it->string && !strcmp(it->string, *k);
        if (ok)
            continue;
        char list[160] = "";
        for (const char *const *k = known; *k; k++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                     k == known ? "" : ", ", *k);
        return hs_http_fail(c, HS_ERR_FIELD, "Unknown field '%.64s': this route takes %s",
                            it->string ? it->string : "", list);
    }
    return 0;
}

static void info_members(sb *b, const hs_snapshot_info *s)
{
    hs_sb_puts(b, "\"snapshot\":");
    hs_sb_cstr(b, s->name);
    if (s->error[0]) {
        hs_sb_puts(b, ",\"error\":");
        hs_sb_cstr(b, s->error);
        return;
    }
    hs_sb_printf(b, ",\"logical_clock\":%llu,\"bytes\":%llu,\"created_ms\":%llu,\"scope\":%s",
                 (unsigned long long)s->clock, (unsigned long long)s->bytes,
                 (unsigned long long)s->created_ms, s->node ? "\"node\"" : "\"collection\"");
    if (!s->node) {
        hs_sb_puts(b, ",\"tenant\":");
        hs_sb_cstr(b, s->tenant);
        hs_sb_puts(b, ",\"collection\":");
        hs_sb_cstr(b, s->collection);
    }
    hs_sb_printf(b, ",\"collections\":%u,\"skipped\":%u,\"node_id\":", s->collections, s->skipped);
    hs_sb_cstr(b, s->node_id);
}

typedef struct listing {
    sb *b;
    size_t n;
    bool restored; /* collections of a restore: with their point counts */
} listing;

static int put_info(void *ctx, const hs_snapshot_info *s)
{
    listing *l = ctx;
    hs_sb_puts(l->b, l->n++ ? ",{" : "{");
    info_members(l->b, s);
    hs_sb_puts(l->b, "}");
    return 0;
}

void hs_route_snapshots_list(hctx *c)
{
    listing l = {&c->out, 0, false};
    hs_sb_puts(&c->out, "[");
    if (hs_op_snapshot_list(put_info, &l, &c->f))
        return;
    hs_sb_puts(&c->out, "]");
}

/* One collection of an archive (or restored from one). */
static int put_coll(void *ctx, const hs_snapshot_coll *x)
{
    listing *l = ctx;
    sb *b = l->b;
    hs_sb_puts(b, l->n++ ? ",{\"tenant\":" : "{\"tenant\":");
    hs_sb_cstr(b, x->tenant);
    hs_sb_puts(b, ",\"name\":");
    hs_sb_cstr(b, x->name);
    if (strcmp(x->tenant, x->from_tenant) || strcmp(x->name, x->from_name)) {
        hs_sb_puts(b, ",\"from_tenant\":");
        hs_sb_cstr(b, x->from_tenant);
        hs_sb_puts(b, ",\"from_name\":");
        hs_sb_cstr(b, x->from_name);
    }
    hs_sb_printf(b, ",\"dimension\":%u,\"metric\":", x->config.dimension);
    hs_sb_cstr(b, hs_metric_name(x->config.metric));
    hs_sb_puts(b, ",\"quantization\":");
    hs_sb_cstr(b, hs_quant_name(x->config.quantization));
    hs_sb_printf(b, ",\"m\":%u,\"ef_construction\":%u,\"ef_search\":%u,\"logical_clock\":%llu",
                 x->config.m, x->config.ef_construction, x->config.ef_search,
                 (unsigned long long)x->clock);
    if (x->frozen)
        hs_sb_puts(b, ",\"frozen\":true");
    if (l->restored)
        hs_sb_printf(b, ",\"count\":%llu", (unsigned long long)x->count);
    hs_sb_puts(b, x->config.id_type == HS_ID_STRING ? ",\"id_type\":\"string\"}" : "}");
    return 0;
}

/* The manifest of an archive as JSON: its figures and "contents". */
static void describe(hctx *c, const char *name)
{
    hs_snapshot_info s;
    sb inner = {0};
    listing l = {&inner, 0, false};
    if (hs_op_snapshot_get(name, &s, put_coll, &l, &c->f)) {
        free(inner.p);
        return;
    }
    sb *b = &c->out;
    hs_sb_puts(b, "{");
    info_members(b, &s);
    hs_sb_puts(b, ",\"contents\":[");
    hs_sb_put(b, inner.p ? inner.p : "", inner.n);
    hs_sb_puts(b, "]}");
    b->oom |= inner.oom;
    free(inner.p);
}

void hs_route_snapshots_create(hctx *c)
{
    static const char *const known[] = {"collection", "snapshot", NULL};
    const char *coll, *name;
    if (only_members(c, known) || hs_http_get_string(c, c->json, "collection", false, &coll) ||
        hs_http_get_string(c, c->json, "snapshot", false, &name))
        return;
    if (coll && !*coll)
        return (void)hs_http_fail(c, HS_ERR_NAME_EMPTY, "Collection name cannot be empty");
    hs_snapshot_info s;
    if (hs_op_snapshot_create(hs_http_tenant(c), coll, name, &s, &c->f))
        return;
    describe(c, s.name);
    if (c->f.id)
        return;
    c->resp->status = 201;
    hs_hresp_header(c->resp, "Location", "/api/snapshots/%s", s.name);
}

void hs_route_snapshot_download(hctx *c)
{
    int fd;
    uint64_t len;
    if (hs_op_snapshot_open(c->st->snapshot, &fd, &len, &c->f))
        return;
    c->resp->has_file = true;
    c->resp->file_fd = fd;
    c->resp->file_len = len;
    c->resp->content_type = "application/octet-stream";
    hs_hresp_header(c->resp, "Content-Disposition", "attachment; filename=\"%s\"",
                    c->st->snapshot);
}

void hs_route_snapshot_manifest(hctx *c) { describe(c, c->st->snapshot); }

void hs_route_snapshot_delete(hctx *c)
{
    if (hs_op_snapshot_delete(c->st->snapshot, &c->f))
        return;
    hs_sb_puts(&c->out, "{\"deleted\":");
    hs_sb_cstr(&c->out, c->st->snapshot);
    hs_sb_puts(&c->out, "}");
}

void hs_route_snapshot_restore(hctx *c)
{
    static const char *const known[] = {"collection", "tenant", "target", "target_tenant",
                                        "replace", NULL};
    hs_op_restore_req r = {0};
    if (only_members(c, known) ||
        hs_http_get_string(c, c->json, "collection", false, &r.collection) ||
        hs_http_get_string(c, c->json, "tenant", false, &r.tenant) ||
        hs_http_get_string(c, c->json, "target", false, &r.target) ||
        hs_http_get_string(c, c->json, "target_tenant", false, &r.target_tenant) ||
        hs_http_get_bool(c, c->json, "replace", false, &r.replace))
        return;
    static const char *const fields[] = {"collection", "tenant", "target", "target_tenant"};
    const char *vals[] = {r.collection, r.tenant, r.target, r.target_tenant};
    for (size_t i = 0; i < 4; i++)
        if (vals[i] && !*vals[i])
            return (void)hs_http_fail(c, HS_ERR_FIELD, "Field '%s' must not be empty", fields[i]);
    sb inner = {0};
    listing l = {&inner, 0, true};
    uint64_t clock = 0;
    if (hs_op_snapshot_restore(c->st->snapshot, &r, put_coll, &l, &clock, &c->f)) {
        free(inner.p);
        return;
    }
    sb *b = &c->out;
    hs_sb_puts(b, "{\"snapshot\":");
    hs_sb_cstr(b, c->st->snapshot);
    hs_sb_printf(b, ",\"logical_clock\":%llu,\"restored\":[", (unsigned long long)clock);
    hs_sb_put(b, inner.p ? inner.p : "", inner.n);
    hs_sb_puts(b, "]}");
    b->oom |= inner.oom;
    free(inner.p);
}

/* ---- uploads --------------------------------------------------------------------------------- */

void hs_http_stream(hs_hstate *st, const char *data, size_t n)
{
    if (st->stream_fail.id)
        return; /* dropped after the first failure, reported at the end */
    if (!st->upload && hs_op_snapshot_upload_begin(st->snapshot, &st->upload, &st->stream_fail))
        return;
    hs_op_snapshot_upload_write(st->upload, data, n, &st->stream_fail);
}

void hs_http_stream_abort(hs_hstate *st)
{
    if (!st->upload)
        return;
    hs_fail ignored;
    hs_op_snapshot_upload_end(st->upload, false, NULL, &ignored);
    st->upload = NULL;
}

void hs_route_snapshot_upload(hctx *c)
{
    hs_hstate *st = c->st;
    if (!st->upload && !st->stream_fail.id && c->req->body_len) /* not streamed (a test) */
        hs_http_stream(st, c->req->body, c->req->body_len);
    if (!st->upload && !st->stream_fail.id) /* an empty body: checked, and refused, below */
        hs_op_snapshot_upload_begin(st->snapshot, &st->upload, &st->stream_fail);
    if (st->stream_fail.id) {
        hs_http_stream_abort(st);
        c->f = st->stream_fail;
        return;
    }
    hs_snapshot_info s;
    hs_snapshot_upload *u = st->upload;
    st->upload = NULL;
    if (hs_op_snapshot_upload_end(u, true, &s, &c->f))
        return;
    describe(c, s.name);
    if (c->f.id)
        return;
    c->resp->status = 201;
    hs_hresp_header(c->resp, "Location", "/api/snapshots/%s", s.name);
}
