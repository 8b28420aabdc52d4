/*
 * ops_points.c: the point operations of the operations layer (ops.h): upsert, delete (by ids or
 * by filter), search (the value checks, the engine call, the query counter and the
 * per-collection metrics), payload updates, scroll and searches across collections, shared by
 * gRPC and HTTP.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/failover.h"
#include "server/ops.h"
#include "server/repl.h"
#include "util/numfmt.h"

/* Prefixes f's message with "what[index]: " (the failing entry of a batch). */
static void prefix_entry(hs_fail *f, const char *what, long index)
{
    char m[sizeof(f->message)];
    snprintf(m, sizeof(m), "%s", f->message);
    snprintf(f->message, sizeof(f->message), "%s[%ld]: %.470s", what, index, m);
    if (!strcmp(what, "vectors"))
        f->entry1 = index + 1;
}

/* The collection a name stands for ("" is the default collection). */
static const char *metrics_name(const char *name) { return *name ? name : "default"; }

static uint64_t clock_of(const char *tenant, const char *name)
{
    hs_collection_stats st;
    return hs_ops_stats_named(tenant, metrics_name(name), &st, NULL) == HS_OK ? st.clock : 0;
}

/* Synchronous acknowledgement (--sync-replicas): a write that changed something is answered
 * once enough followers made the collection's clock after it durable.  That clock is the last
 * change applied to the collection, at or above every clock of this write (a later writer's
 * only makes the wait longer), and always a logged record's, so the followers' watermarks reach
 * it.  *clock (when not NULL and 0) gets it.  0 or the error recorded in f. */
static int sync_wait(const char *tenant, const char *name, uint64_t *clock, hs_fail *f)
{
    if (!hs_repl_sync_need())
        return hs_failover_confirm(f);
    uint64_t c = clock && *clock ? *clock : clock_of(tenant, name);
    if (clock)
        *clock = c;
    int rc = hs_repl_sync_wait(c, f);
    return rc ? rc : hs_failover_confirm(f); /* fenced meanwhile: not acknowledged */
}

int hs_op_upsert(const char *tenant, const char *name, const hs_point *pts, size_t n,
                 hs_durability d, bool batch, bool want_clock, hs_op_write *out, hs_fail *f)
{
    hs_collection *h = NULL;
    if (hs_op_check_name(name, false, f) || hs_ops_open(tenant, name, n > 0 || !batch, &h, f))
        return f->id;
    hs_error err;
    int rc = n ? hs_upsert(h, pts, n, d, &err) : HS_OK;
    if (rc) {
        hs_fail_from_engine(f, rc, &err);
        if (batch && err.index >= 0)
            prefix_entry(f, "vectors", err.index);
    } else {
        if (n)
            hs_metrics_upserts(tenant, metrics_name(name), n);
        if (out) {
            out->n = n;
            out->clock = want_clock ? clock_of(tenant, name) : 0;
        }
    }
    hs_collection_close(h);
    if (!rc && n)
        return sync_wait(tenant, name, out ? &out->clock : NULL, f);
    return rc ? f->id : 0;
}

int hs_op_delete(const char *tenant, const char *name, const uint64_t *ids, const hs_sid *sids,
                 size_t nids, const hs_filter_set *filter, hs_durability d, bool want_clock,
                 hs_op_write *out, hs_fail *f)
{
    hs_collection *h = NULL;
    if (hs_op_check_name(name, false, f) || hs_ops_open(tenant, name, false, &h, f))
        return f->id;
    hs_error err;
    size_t deleted = 0;
    int rc;
    if (sids)
        rc = hs_delete_sids(h, sids, nids, d, &deleted, &err);
    else if (ids)
        rc = hs_delete(h, ids, nids, d, &deleted, &err);
    else if (hs_filter_empty(filter))
        rc = HS_OK;
    else
        rc = hs_delete_where(h, hs_filter_accept, (void *)filter, d, &deleted, &err);
    if (rc) {
        hs_fail_from_engine(f, rc, &err);
    } else {
        if (deleted)
            hs_metrics_deletes(tenant, metrics_name(name), deleted);
        if (out) {
            out->n = deleted;
            out->clock = want_clock ? clock_of(tenant, name) : 0;
        }
    }
    hs_collection_close(h);
    if (!rc && deleted)
        return sync_wait(tenant, name, out ? &out->clock : NULL, f);
    return rc ? f->id : 0;
}

int hs_op_read(hs_collection *h, const hs_read_opts *o, const hs_filter_set *filter,
               hs_point_fn fn, void *ctx, hs_read_result *res, hs_fail *f)
{
    memset(res, 0, sizeof(*res));
    res->next = o->cursor;
    if (filter && hs_filter_empty(filter))
        return 0;
    hs_read_opts ro = *o;
    if (filter && filter->n)
        ro.where = &filter->where;
    hs_error err;
    int rc = hs_read(h, &ro, fn, ctx, res, &err);
    return rc ? hs_fail_from_engine(f, rc, &err) : 0;
}

/* ---- string ids -------------------------------------------------------------------------- */

int hs_op_id_type(const char *tenant, const char *name)
{
    int kind = hs_collection_id_type(g_srv.db, tenant, metrics_name(name), NULL);
    if (kind >= 0)
        return kind;
    return strcmp(metrics_name(name), "default") ? -1 : HS_ID_INTEGER; /* created by a write */
}

int hs_op_id_kind_fail(const char *name, hs_id_type kind, hs_fail *f)
{
    bool str = kind == HS_ID_STRING;
    return hs_fail_set(f, HS_ERR_INVALID_ARGUMENT, "Collection '%s' uses %s ids: a point id "
                       "must be %s", metrics_name(name), str ? "string" : "integer",
                       str ? "a string" : "an integer");
}

int hs_op_check_sid(const char *sid, size_t len, hs_fail *f)
{
    hs_error err;
    int rc = hs_sid_check(sid, len, &err);
    return rc ? hs_fail_from_engine(f, rc, &err) : 0;
}

void hs_op_sid_echo(const char *sid, size_t len, char *out, size_t cap)
{
    size_t n = len < 64 ? len : 64;
    while (n < len && n > 0 && ((unsigned char)sid[n] & 0xC0) == 0x80)
        n--; /* valid UTF-8 (checked): cut before a character */
    snprintf(out, cap, "%.*s%s", (int)n, sid, n < len ? "..." : "");
}

size_t hs_op_search_k(const hs_op_search_req *r) { return r->top_k ? (size_t)r->top_k : 10; }

int hs_op_check_top_k(uint64_t top_k, hs_fail *f)
{
    if (top_k > HS_OP_TOP_K_MAX)
        return hs_fail_set(f, HS_ERR_TOPK, "top_k must be <= 10000 (got %llu)",
                           (unsigned long long)top_k);
    return 0;
}

int hs_op_check_hybrid(bool has_alpha, double alpha, size_t text_len, hs_fail *f)
{
    if (has_alpha && (isnan(alpha) || alpha < 0.0 || alpha > 1.0)) {
        char num[40];
        hs_fmt_double(alpha, num, sizeof(num));
        return hs_fail_set(f, HS_ERR_ALPHA, "hybrid_alpha must be between 0 and 1 (got %s)", num);
    }
    if (text_len > HS_OP_HYBRID_QUERY_MAX)
        return hs_fail_set(f, HS_ERR_PARAM_RANGE,
                           "hybrid_query must be between 0 and 65536 bytes (got %zu)", text_len);
    return 0;
}

int hs_op_check_oversampling(double o, hs_fail *f)
{
    if (o == 0.0 || (o >= 1.0 && o <= HS_OVERSAMPLING_MAX))
        return 0;
    char num[40];
    hs_fmt_double(o, num, sizeof(num));
    return hs_fail_set(f, HS_ERR_PARAM_RANGE, "Field 'oversampling' must be a number between 1 "
                       "and %d (got %s)", HS_OVERSAMPLING_MAX, num);
}

int hs_op_search_check(const hs_op_search_req *r, hs_fail *f)
{
    if (hs_op_check_top_k(r->top_k, f))
        return f->id;
    if (hs_op_check_oversampling(r->oversampling, f))
        return f->id;
    if (r->hybrid && hs_op_check_hybrid(r->has_alpha, r->alpha, r->text_len, f))
        return f->id;
    return 0;
}

int hs_op_search(const char *tenant, const char *mname, hs_collection *h,
                 const hs_op_search_req *r, hs_hit *hits, size_t *n, hs_fail *f)
{
    hs_search_opts so;
    hs_search_opts_init(&so);
    so.k = hs_op_search_k(r);
    so.oversampling = r->oversampling;
    so.on_result = r->on_result;
    so.result_ctx = r->result_ctx;
    if (r->filter)
        hs_filter_apply(r->filter, &so);
    if (r->hybrid) {
        so.hybrid = 1;
        so.text = r->text;
        so.text_len = r->text_len;
        so.alpha = r->has_alpha ? r->alpha : 0.5;
    }
    *n = 0;
    hs_error err;
    uint64_t t0 = hs_now_ns_srv();
    int rc = r->filter && hs_filter_empty(r->filter)
                 ? HS_OK
                 : hs_search(h, r->vector, r->dim, &so, hits, n, &err);
    if (rc)
        return hs_fail_from_engine(f, rc, &err);
    hs_ops_count_search();
    hs_metrics_search(tenant, metrics_name(mname), (double)(hs_now_ns_srv() - t0) / 1e9);
    return 0;
}

/* ---- payload updates --------------------------------------------------------------------- */

int hs_op_payload_check(const hs_op_payload_req *r, hs_fail *f)
{
    if (r->mode != HS_PAYLOAD_MERGE && r->mode != HS_PAYLOAD_REPLACE &&
        r->mode != HS_PAYLOAD_DELETE)
        return hs_fail_set(f, HS_ERR_FIELD, "Unknown mode %d: expected merge (0), replace (1) "
                           "or delete (2)", (int)r->mode);
    if (r->mode == HS_PAYLOAD_DELETE && r->nmeta)
        return hs_fail_set(f, HS_ERR_FIELD, "Fields 'metadata' and 'typed_metadata' must be "
                           "empty with mode delete (the keys to remove go in 'keys')");
    if (r->mode == HS_PAYLOAD_DELETE && !r->nkeys)
        return hs_fail_set(f, HS_ERR_FIELD, "Field 'keys' must name at least one key with mode "
                           "delete");
    if (r->mode != HS_PAYLOAD_DELETE && r->nkeys)
        return hs_fail_set(f, HS_ERR_FIELD, "Field 'keys' is only read with mode delete");
    if (r->mode == HS_PAYLOAD_MERGE && !r->nmeta)
        return hs_fail_set(f, HS_ERR_FIELD, "Nothing to update: 'metadata' and "
                           "'typed_metadata' are empty (mode merge)");
    if ((r->ids || r->sids) && !r->single && (r->nids < 1 || r->nids > HS_OP_IDS_MAX))
        return hs_fail_set(f, HS_ERR_PARAM_RANGE, "ids must be between 1 and %d (got %zu)",
                           HS_OP_IDS_MAX, r->nids);
    for (size_t i = 0; r->sids && i < r->nids; i++)
        if (hs_op_check_sid(r->sids[i].str, r->sids[i].len, f)) {
            if (!r->single)
                prefix_entry(f, "ids", (long)i);
            return f->id;
        }
    if (!r->ids && !r->sids && (!r->filter || r->filter->n == 0))
        return hs_fail_set(f, HS_ERR_SELECTOR, "UpdatePayload by filter needs at least one "
                           "condition");
    return 0;
}

int hs_op_update_payload(const char *tenant, const char *name, const hs_op_payload_req *r,
                         bool want_clock, hs_op_payload_out *out, hs_fail *f)
{
    memset(out, 0, sizeof(*out));
    hs_collection *h = NULL;
    if (hs_op_check_name(name, false, f) || hs_op_payload_check(r, f) ||
        hs_ops_open(tenant, name, false, &h, f))
        return f->id;
    hs_payload_opts o;
    hs_payload_opts_init(&o);
    o.mode = r->mode;
    o.meta = r->mode == HS_PAYLOAD_DELETE ? r->keys : r->meta;
    o.nmeta = r->mode == HS_PAYLOAD_DELETE ? r->nkeys : r->nmeta;
    o.durability = r->durability;
    if (r->sids) {
        o.sids = r->sids;
        o.nids = r->nids;
        out->missing_at = malloc((r->nids ? r->nids : 1) * sizeof(size_t));
        o.missing_sids = out->missing_at;
    } else if (r->ids) {
        o.ids = r->ids;
        o.nids = r->nids;
        out->missing = malloc((r->nids ? r->nids : 1) * sizeof(uint64_t));
        o.missing = out->missing;
    } else {
        o.accept = hs_filter_accept;
        o.accept_ctx = (void *)r->filter;
        o.max_points = HS_OP_IDS_MAX;
    }
    hs_error err;
    hs_payload_result res = {0};
    int rc = HS_OK;
    if ((r->ids && !out->missing) || (r->sids && !out->missing_at))
        hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
    else if (r->ids || r->sids || !hs_filter_empty(r->filter)) /* an empty filter: nothing */
        rc = hs_update_payload(h, &o, &res, &err);
    if (rc)
        hs_fail_from_engine(f, rc, &err);
    if (!f->id && r->single && res.missing) {
        char shown[80];
        if (r->sids)
            hs_op_sid_echo(r->sids[0].str, r->sids[0].len, shown, sizeof(shown));
        else
            snprintf(shown, sizeof(shown), "%llu", (unsigned long long)r->ids[0]);
        hs_fail_set(f, HS_ERR_POINT_NOT_FOUND, r->sids ? "Point '%s' not found in collection '%s'"
                                                       : "Point %s not found in collection '%s'",
                    shown, metrics_name(name));
    }
    if (!f->id) {
        out->updated = res.updated;
        out->nmissing = res.missing;
        out->clock = want_clock ? clock_of(tenant, name) : 0;
    }
    hs_collection_close(h);
    if (!f->id && res.updated)
        sync_wait(tenant, name, &out->clock, f);
    return f->id;
}

/* ---- scroll -------------------------------------------------------------------------------- */

static bool parse_cursor(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 10)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return v <= UINT32_MAX;
}

int hs_op_scroll_check(const hs_op_scroll_req *r, hs_fail *f)
{
    int64_t limit = r->has_limit ? r->limit : 100;
    uint64_t after;
    if (limit < 1 || limit > HS_OP_SCROLL_LIMIT_MAX)
        return hs_fail_set(f, HS_ERR_PARAM_RANGE, "limit must be between 1 and %d (got %lld)",
                           HS_OP_SCROLL_LIMIT_MAX, (long long)limit);
    if (r->cursor && (r->id_type == HS_ID_STRING
                          ? hs_sid_check(r->cursor, strlen(r->cursor), NULL) != HS_OK
                          : !parse_cursor(r->cursor, &after)))
        return hs_fail_set(f, HS_ERR_CURSOR, "Invalid cursor");
    if (r->offset > HS_OP_SCROLL_OFFSET_MAX)
        return hs_fail_set(f, HS_ERR_PARAM_RANGE, "offset must be at most %d (got %llu)",
                           HS_OP_SCROLL_OFFSET_MAX, (unsigned long long)r->offset);
    return 0;
}

/* Passes the points after the first `skip` to the caller's fn, noting the last id. */
typedef struct scroll_walk {
    hs_point_fn fn;
    void *ctx;
    uint64_t skip, seen, last_id;
    size_t n;
    char *last_sid; /* HS_SID_MAX + 1 bytes: the last string id, NUL-terminated */
} scroll_walk;

static int scroll_visit(void *ctx, const hs_point_view *p)
{
    scroll_walk *w = ctx;
    if (w->seen++ < w->skip)
        return 0;
    w->n++;
    w->last_id = p->id;
    if (p->sid) {
        memcpy(w->last_sid, p->sid, p->sid_len);
        w->last_sid[p->sid_len] = 0;
    }
    return w->fn ? w->fn(w->ctx, p) : 0;
}

int hs_op_scroll(hs_collection *h, const hs_op_scroll_req *r, hs_point_fn fn, void *ctx,
                 hs_op_scroll_out *out, hs_fail *f)
{
    memset(out, 0, sizeof(*out));
    if (hs_op_scroll_check(r, f))
        return f->id;
    uint64_t after = 0;
    bool by_sid = r->id_type == HS_ID_STRING;
    bool has_after = r->cursor && !by_sid && parse_cursor(r->cursor, &after);
    scroll_walk w = {fn, ctx, r->offset, 0, 0, 0, out->next_cursor};
    hs_read_opts ro;
    hs_read_opts_init(&ro);
    ro.mode = HS_READ_SCROLL;
    ro.has_after = has_after;
    ro.after = after;
    if (by_sid && r->cursor) {
        ro.after_sid = r->cursor;
        ro.after_sid_len = strlen(r->cursor);
    }
    ro.limit = (size_t)(r->offset + (uint64_t)(r->has_limit ? r->limit : 100));
    ro.with_vector = r->with_vector;
    hs_read_result res;
    if (hs_op_read(h, &ro, r->filter, scroll_visit, &w, &res, f))
        return f->id;
    out->n = w.n;
    out->more = res.more && w.n > 0;
    if (out->more && !by_sid) /* a string id is its own cursor (scroll_visit wrote it) */
        snprintf(out->next_cursor, sizeof(out->next_cursor), "%llu",
                 (unsigned long long)w.last_id);
    return 0;
}

/* ---- searches across collections ------------------------------------------------------------ */

int hs_op_multi_check(const hs_op_multi_req *r, hs_fail *f)
{
    if (r->n < 1 || r->n > HS_OP_MULTI_MAX)
        return hs_fail_set(f, HS_ERR_PARAM_RANGE, "collections must name between 1 and %d "
                           "collections (got %zu)", HS_OP_MULTI_MAX, r->n);
    for (size_t i = 0; i < r->n; i++) {
        if (hs_op_check_name(r->names[i], false, f)) {
            prefix_entry(f, "collections", (long)i);
            return f->id;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(metrics_name(r->names[i]), metrics_name(r->names[j])))
                return hs_fail_set(f, HS_ERR_INVALID_ARGUMENT, "collections[%zu]: collection "
                                   "'%s' is already listed (collections[%zu])", i,
                                   metrics_name(r->names[i]), j);
    }
    if (r->search.hybrid)
        return hs_fail_set(f, HS_ERR_INVALID_ARGUMENT, "A search across collections cannot be "
                           "hybrid");
    return hs_op_search_check(&r->search, f);
}

/* The collections' parameters: they must share the dimension and the metric. */
static int multi_compatible(const char *tenant, const hs_op_multi_req *r, hs_fail *f)
{
    hs_collection_stats first;
    for (size_t i = 0; i < r->n; i++) {
        hs_collection_stats st;
        if (hs_op_stats(tenant, metrics_name(r->names[i]), &st, f))
            return f->id;
        if (i == 0) {
            first = st;
            continue;
        }
        const char *a = metrics_name(r->names[0]), *b = metrics_name(r->names[i]);
        if (st.config.dimension != first.config.dimension)
            return hs_fail_set(f, HS_ERR_INVALID_ARGUMENT, "Collections '%s' and '%s' cannot be "
                               "searched together: their dimensions differ (%u and %u)", a, b,
                               first.config.dimension, st.config.dimension);
        if (st.config.metric != first.config.metric)
            return hs_fail_set(f, HS_ERR_INVALID_ARGUMENT, "Collections '%s' and '%s' cannot be "
                               "searched together: their metrics differ (%s and %s)", a, b,
                               hs_metric_name(first.config.metric),
                               hs_metric_name(st.config.metric));
    }
    return 0;
}

typedef struct multi_cb {
    const hs_op_multi_req *r;
    size_t coll;
} multi_cb;

static int multi_on_result(void *ctx, size_t i, const hs_point_view *p)
{
    multi_cb *m = ctx;
    return m->r->on_result(m->r->result_ctx, m->coll, i, p);
}

static int cmp_multi(const void *a, const void *b)
{
    const hs_op_multi_hit *x = a, *y = b;
    if (x->hit.distance != y->hit.distance)
        return x->hit.distance < y->hit.distance ? -1 : 1;
    if (x->coll != y->coll)
        return x->coll < y->coll ? -1 : 1;
    return x->hit.id < y->hit.id ? -1 : x->hit.id > y->hit.id;
}

int hs_op_search_multi(const char *tenant, const hs_op_multi_req *r, hs_hit *hits,
                       size_t *counts, hs_op_multi_hit *merged, size_t *nmerged, hs_fail *f)
{
    *nmerged = 0;
    size_t k = hs_op_search_k(&r->search);
    if (hs_op_multi_check(r, f) || multi_compatible(tenant, r, f))
        return f->id;
    size_t total = 0;
    for (size_t c = 0; c < r->n; c++) {
        counts[c] = 0;
        hs_collection *h = NULL;
        if (hs_ops_open(tenant, r->names[c], false, &h, f))
            return f->id;
        hs_op_search_req q = r->search;
        multi_cb cb = {r, c};
        q.on_result = r->on_result ? multi_on_result : NULL;
        q.result_ctx = &cb;
        int rc = hs_op_search(tenant, r->names[c], h, &q, hits + c * k, &counts[c], f);
        hs_collection_close(h);
        if (rc)
            return rc;
        total += counts[c];
    }
    hs_op_multi_hit *all = malloc((total ? total : 1) * sizeof(*all));
    if (!all)
        return hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
    size_t n = 0;
    for (size_t c = 0; c < r->n; c++)
        for (size_t i = 0; i < counts[c]; i++)
            all[n++] = (hs_op_multi_hit){c, i, hits[c * k + i]};
    qsort(all, n, sizeof(*all), cmp_multi);
    *nmerged = n < k ? n : k;
    memcpy(merged, all, *nmerged * sizeof(*all));
    free(all);
    return 0;
}
