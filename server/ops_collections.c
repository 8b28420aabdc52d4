/*
 * ops_collections.c: the collection and node operations of the operations layer (ops.h):
 * create, drop, statistics, the per-collection maintenance (digest, rebuild, checkpoint,
 * configure) and the node-wide snapshot and vacuum.  Validation messages follow the spec's
 * order; engine failures go through errors.c.
 */
#include <string.h>
#include <strings.h>

#include "server/failover.h"
#include "server/ops.h"
#include "server/repl.h"

int hs_op_check_name(const char *name, bool empty_is_error, hs_fail *f)
{
    if (!*name) {
        if (empty_is_error)
            return hs_fail_set(f, HS_ERR_NAME_EMPTY, "Collection name cannot be empty");
        return 0;
    }
    hs_error err;
    int rc = hs_name_check(HS_FIELD_COLLECTION, name, &err);
    return rc ? hs_fail_from_engine(f, rc, &err) : 0;
}

static int check_create(const hs_op_create_req *r, hs_collection_config *cfg, hs_fail *f)
{
    if (hs_op_check_name(r->name, true, f))
        return f->id;
    if (r->dimension < 1 || r->dimension > 16384)
        return hs_fail_set(f, HS_ERR_DIMENSION_RANGE,
                           "Dimension must be between 1 and 16384 (got %lld)",
                           (long long)r->dimension);
    if (!hs_parse_metric(r->metric, &cfg->metric))
        return hs_fail_set(f, HS_ERR_METRIC, "Unknown metric '%.64s': expected cosine, l2, "
                           "euclidean, poincare or lorentz", r->metric);
    bool has_quant = r->quantization && *r->quantization;
    if (has_quant && !hs_parse_quant(r->quantization, &cfg->quantization))
        return hs_fail_set(f, HS_ERR_QUANTIZATION,
                           "Unknown quantization '%.64s': expected none, scalar or binary",
                           r->quantization);
    if (r->m == 1 || r->m > 128)
        return hs_fail_set(f, HS_ERR_PARAM_RANGE, "m must be between 2 and 128 (got %lld)",
                           (long long)r->m);
    if (r->ef_construction > HS_OP_EF_MAX)
        return hs_fail_set(f, HS_ERR_PARAM_RANGE,
                           "ef_construction must be between 1 and 10000 (got %lld)",
                           (long long)r->ef_construction);
    if (r->ef_search > HS_OP_EF_MAX)
        return hs_fail_set(f, HS_ERR_PARAM_RANGE,
                           "ef_search must be between 1 and 10000 (got %lld)",
                           (long long)r->ef_search);
    if (r->id_type && *r->id_type && strcasecmp(r->id_type, "integer") &&
        strcasecmp(r->id_type, "string"))
        return hs_fail_set(f, HS_ERR_PARAM_RANGE, "Unknown id type '%.64s': expected integer or "
                           "string", r->id_type);
    if (hs_op_check_oversampling(r->oversampling, f))
        return f->id;
    cfg->oversampling = r->oversampling;
    cfg->id_type = r->id_type && !strcasecmp(r->id_type, "string") ? HS_ID_STRING : HS_ID_INTEGER;
    if (!has_quant)
        cfg->quantization = g_srv.cfg.quantization;
    cfg->dimension = (uint32_t)r->dimension;
    cfg->m = r->m ? (uint32_t)r->m : g_srv.cfg.m;
    cfg->ef_construction = (uint32_t)r->ef_construction;
    cfg->ef_search = (uint32_t)r->ef_search;
    return 0;
}

int hs_op_create(const char *tenant, const hs_op_create_req *r, hs_collection_stats *st,
                 hs_fail *f)
{
    hs_collection_config cfg;
    hs_collection_config_init(&cfg);
    if (check_create(r, &cfg, f))
        return f->id;
    hs_error err;
    int rc = hs_collection_create(g_srv.db, tenant, r->name, &cfg, &err);
    if (rc)
        return hs_fail_from_engine(f, rc, &err);
    hs_collection_stats own;
    if (!st && hs_repl_sync_need())
        st = &own;
    if (st && (rc = hs_ops_stats_named(tenant, r->name, st, &err)) != HS_OK)
        return hs_fail_from_engine(f, rc, &err);
    /* --sync-replicas: its clock (at or above the create's) made durable by enough followers */
    rc = hs_repl_sync_need() ? hs_repl_sync_wait(st->clock, f) : 0;
    return rc ? rc : hs_failover_confirm(f);
}

int hs_op_drop(const char *tenant, const char *name, hs_fail *f)
{
    hs_error err;
    int rc = hs_collection_drop(g_srv.db, tenant, name, &err);
    if (rc)
        return hs_fail_from_engine(f, rc, &err);
    hs_metrics_forget(tenant, name);
    /* --sync-replicas: the drop's clock (the latest of the name) durable on enough followers */
    rc = hs_repl_sync_need() ? hs_repl_sync_wait(hs_db_drop_clock(g_srv.db, tenant, name), f)
                             : 0;
    return rc ? rc : hs_failover_confirm(f);
}

int hs_op_stats(const char *tenant, const char *name, hs_collection_stats *st, hs_fail *f)
{
    hs_error err;
    int rc = hs_ops_stats_named(tenant, name, st, &err);
    if (rc)
        return hs_fail_from_engine(f, rc, &err);
    if (st->error[0])
        return hs_fail_set(f, HS_ERR_LOAD_FAILED, "Collection '%s' failed to load: %s", name,
                           st->error);
    return 0;
}

static int check_configure(const hs_op_configure_req *r, hs_fail *f)
{
    if (r->has_ef_search && (r->ef_search < 1 || r->ef_search > HS_OP_EF_MAX))
        return hs_fail_set(f, HS_ERR_PARAM_RANGE, "ef_search must be between 1 and 10000 (got "
                           "%lld)", (long long)r->ef_search);
    if (r->has_ef_construction && (r->ef_construction < 1 || r->ef_construction > HS_OP_EF_MAX))
        return hs_fail_set(f, HS_ERR_PARAM_RANGE, "ef_construction must be between 1 and 10000 "
                           "(got %lld)", (long long)r->ef_construction);
    return 0;
}

static int run_kind(hs_collection *h, hs_op_kind kind, void *arg, hs_error *err)
{
    switch (kind) {
    case HS_OP_DIGEST:
        return hs_collection_digest(h, arg, err);
    case HS_OP_REBUILD:
        return hs_collection_rebuild(h, err);
    case HS_OP_CHECKPOINT:
        return hs_collection_checkpoint(h, err);
    default: {
        const hs_op_configure_req *r = arg;
        return hs_collection_configure(h, r->has_ef_search ? (uint32_t)r->ef_search : 0,
                                       r->has_ef_construction ? (uint32_t)r->ef_construction : 0,
                                       err);
    }
    }
}

int hs_op_collection(const char *tenant, const char *name, hs_op_kind kind, void *arg,
                     hs_collection_stats *st, hs_fail *f)
{
    if (kind == HS_OP_CONFIGURE && check_configure(arg, f))
        return f->id;
    hs_collection *h = NULL;
    if (hs_ops_open(tenant, name, false, &h, f))
        return f->id;
    hs_error err;
    int rc = run_kind(h, kind, arg, &err);
    if (rc)
        hs_fail_from_engine(f, rc, &err);
    else if (st)
        hs_ops_stats_named(tenant, *name ? name : "default", st, NULL);
    hs_collection_close(h);
    return rc ? f->id : 0;
}

int hs_op_snapshot(size_t *collections, hs_fail *f)
{
    hs_error err;
    *collections = 0;
    int rc = hs_db_checkpoint(g_srv.db, collections, &err);
    return rc ? hs_fail_from_engine(f, rc, &err) : 0;
}

int hs_op_vacuum(size_t *collections, uint64_t *reclaimed, hs_fail *f)
{
    hs_error err;
    *collections = 0;
    *reclaimed = 0;
    int rc = hs_db_vacuum(g_srv.db, collections, reclaimed, &err);
    return rc ? hs_fail_from_engine(f, rc, &err) : 0;
}

int hs_op_freeze(const char *tenant, const char *name, bool frozen, hs_fail *f)
{
    if (hs_op_check_name(name, true, f))
        return f->id;
    hs_error err;
    int rc = hs_collection_freeze(g_srv.db, tenant, name, frozen, &err);
    return rc ? hs_fail_from_engine(f, rc, &err) : 0;
}
