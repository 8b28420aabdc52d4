/*
 * ops_snapshots.c: snapshot archives in the operations layer (ops.h): create, list, describe,
 * open for a download, delete and restore, with their names checked in a fixed order and the
 * engine's failures converted (errors.c maps those about the archive itself, field SNAPSHOT).
 * Every file name reaching the engine has passed the snapshot name rule there as well.
 */
#include <string.h>

#include "server/ops.h"
#include "util/log.h"

static const char *given(const char *s) { return s && *s ? s : NULL; }

static int check_snapshot_name(const char *name, hs_fail *f)
{
    hs_error err;
    int rc = hs_name_check(HS_FIELD_SNAPSHOT, name ? name : "", &err);
    return rc ? hs_fail_from_engine(f, rc, &err) : 0;
}

static int check_tenant(const char *tenant, hs_fail *f)
{
    hs_error err;
    int rc = hs_name_check(HS_FIELD_TENANT, tenant, &err);
    return rc ? hs_fail_from_engine(f, rc, &err) : 0;
}

int hs_op_snapshot_create(const char *tenant, const char *collection, const char *name,
                          hs_snapshot_info *out, hs_fail *f)
{
    collection = given(collection);
    name = given(name);
    if (collection && hs_op_check_name(collection, true, f))
        return f->id;
    if (name && check_snapshot_name(name, f))
        return f->id;
    hs_error err;
    int rc = hs_snapshot_create(g_srv.db, tenant, collection, name, out, &err);
    return rc ? hs_fail_from_engine(f, rc, &err) : 0;
}

int hs_op_snapshot_list(int (*fn)(void *ctx, const hs_snapshot_info *s), void *ctx, hs_fail *f)
{
    hs_error err;
    int rc = hs_snapshot_list(g_srv.db, fn, ctx, &err);
    return rc < 0 ? hs_fail_from_engine(f, rc, &err) : 0;
}

int hs_op_snapshot_get(const char *name, hs_snapshot_info *out,
                       int (*fn)(void *ctx, const hs_snapshot_coll *c), void *ctx, hs_fail *f)
{
    if (check_snapshot_name(name, f))
        return f->id;
    hs_error err;
    int rc = hs_snapshot_describe(g_srv.db, name, out, fn, ctx, &err);
    return rc < 0 ? hs_fail_from_engine(f, rc, &err) : 0;
}

int hs_op_snapshot_open(const char *name, int *fd, uint64_t *len, hs_fail *f)
{
    if (check_snapshot_name(name, f))
        return f->id;
    hs_error err;
    int rc = hs_snapshot_open(g_srv.db, name, fd, len, &err);
    return rc ? hs_fail_from_engine(f, rc, &err) : 0;
}

int hs_op_snapshot_delete(const char *name, hs_fail *f)
{
    if (check_snapshot_name(name, f))
        return f->id;
    hs_error err;
    int rc = hs_snapshot_delete(g_srv.db, name, &err);
    if (rc)
        return hs_fail_from_engine(f, rc, &err);
    hs_log(HS_LOG_INFO, "Deleted snapshot '%s'", name);
    return 0;
}

int hs_op_snapshot_upload_begin(const char *name, hs_snapshot_upload **u, hs_fail *f)
{
    *u = NULL;
    if (check_snapshot_name(name, f))
        return f->id;
    hs_error err;
    int rc = hs_snapshot_upload_begin(g_srv.db, name, u, &err);
    return rc ? hs_fail_from_engine(f, rc, &err) : 0;
}

int hs_op_snapshot_upload_write(hs_snapshot_upload *u, const void *buf, size_t len, hs_fail *f)
{
    hs_error err;
    int rc = hs_snapshot_upload_write(u, buf, len, &err);
    return rc ? hs_fail_from_engine(f, rc, &err) : 0;
}

int hs_op_snapshot_upload_end(hs_snapshot_upload *u, bool commit, hs_snapshot_info *out,
                              hs_fail *f)
{
    hs_error err;
    int rc = hs_snapshot_upload_end(u, commit, out, &err);
    if (rc)
        return hs_fail_from_engine(f, rc, &err);
    if (commit && out)
        hs_log(HS_LOG_INFO, "Uploaded snapshot '%s': %llu bytes, clock %llu", out->name,
               (unsigned long long)out->bytes, (unsigned long long)out->clock);
    return 0;
}

static int check_restore(const char *name, const hs_op_restore_req *r, hs_fail *f)
{
    if (check_snapshot_name(name, f))
        return f->id;
    if (given(r->collection) && hs_op_check_name(r->collection, true, f))
        return f->id;
    if (given(r->tenant) && check_tenant(r->tenant, f))
        return f->id;
    if (given(r->target) && hs_op_check_name(r->target, true, f))
        return f->id;
    if (given(r->target_tenant) && check_tenant(r->target_tenant, f))
        return f->id;
    if (!given(r->collection) && (given(r->tenant) || given(r->target) || given(r->target_tenant)))
        return hs_fail_set(f, HS_ERR_FIELD, "tenant, target and target_tenant need collection: "
                           "a restore of the whole archive keeps every collection's names");
    return 0;
}

int hs_op_snapshot_restore(const char *name, const hs_op_restore_req *r,
                           int (*fn)(void *ctx, const hs_snapshot_coll *c), void *ctx,
                           uint64_t *clock, hs_fail *f)
{
    if (check_restore(name, r, f))
        return f->id;
    hs_snapshot_info info;
    hs_error err;
    int rc = hs_snapshot_describe(g_srv.db, name, &info, NULL, NULL, &err);
    if (rc)
        return hs_fail_from_engine(f, rc, &err);
    hs_restore_opts o;
    hs_restore_opts_init(&o);
    o.collection = given(r->collection);
    o.tenant = given(r->tenant);
    o.to_name = given(r->target);
    o.to_tenant = given(r->target_tenant);
    o.replace = r->replace;
    rc = hs_snapshot_restore(g_srv.db, name, &o, fn, ctx, &err);
    if (rc == HS_ENOTFOUND && err.field == HS_FIELD_COLLECTION)
        return hs_fail_set(f, HS_ERR_NOT_FOUND, "Collection '%s' not found in snapshot '%s'",
                           r->collection, name);
    if (rc == HS_EINVAL && err.field == HS_FIELD_TENANT)
        return hs_fail_set(f, HS_ERR_FIELD, "Snapshot '%s' holds collection '%s' of several "
                           "tenants: name its tenant", name, r->collection);
    if (rc == HS_EEXIST && err.field == HS_FIELD_COLLECTION)
        return hs_fail_set(f, HS_ERR_EXISTS, "Collection '%s' already exists and holds points: "
                           "restore under another name (target), drop it, or set replace",
                           err.name);
    if (rc)
        return hs_fail_from_engine(f, rc, &err);
    if (clock)
        *clock = info.clock;
    return 0;
}
