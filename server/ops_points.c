/*
 * ops_points.c: the point operations of the operations layer (ops.h): upsert, delete (by ids or
 * by filter) and search (the value checks, the engine call, the query counter and the
 * per-collection metrics), shared by gRPC and HTTP.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "server/ops.h"
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
    return rc ? f->id : 0;
}

int hs_op_delete(const char *tenant, const char *name, const uint64_t *ids, size_t nids,
                 const hs_filter_set *filter, hs_durability d, bool want_clock, hs_op_write *out,
                 hs_fail *f)
{
    hs_collection *h = NULL;
    if (hs_op_check_name(name, false, f) || hs_ops_open(tenant, name, false, &h, f))
        return f->id;
    hs_error err;
    size_t deleted = 0;
    int rc;
    if (ids)
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

int hs_op_search_check(const hs_op_search_req *r, hs_fail *f)
{
    if (hs_op_check_top_k(r->top_k, f))
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
