/*
 * ops.c: what both transports share: permission and node-state checks (B9.3 steps 3-4), opening
 * a collection with the default-collection rules (B7.1), name tables, the query counter behind
 * qps, and the messages of failed authentication.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/server.h"
#include "util/log.h"

hs_srv g_srv;

uint64_t hs_now_ns_srv(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *role_name(hs_role r)
{
    return r == HS_ROLE_ADMIN ? "admin" : r == HS_ROLE_WRITER ? "writer" : "reader";
}

int hs_auth_fail(const hs_authn *a, hs_fail *f)
{
    switch (a->err) {
    case HS_ERR_AUTH_MISSING:
        return hs_fail_set(f, HS_ERR_AUTH_MISSING, "Missing x-api-key header");
    case HS_ERR_AUTH_INVALID:
        return hs_fail_set(f, HS_ERR_AUTH_INVALID, "Invalid API Key");
    case HS_ERR_TENANT_INVALID:
        return hs_fail_set(f, HS_ERR_TENANT_INVALID,
                           "Invalid tenant '%s': use 1-64 characters from A-Z a-z 0-9 _ . - not "
                           "starting with '.'", a->bad_tenant);
    case HS_ERR_TENANT_FORBIDDEN:
        return hs_fail_set(f, HS_ERR_TENANT_FORBIDDEN, "API key is restricted to tenant '%s'",
                           a->bad_tenant);
    }
    return 0;
}

int hs_ops_permit(const hs_authn *a, hs_role need, bool global, bool write, const char *op,
                  hs_fail *f)
{
    if (a->who.role < need)
        return hs_fail_set(f, HS_ERR_ROLE, "Role '%s' is not allowed to call %s",
                           role_name(a->who.role), op);
    if (global && !a->who.global)
        return hs_fail_set(f, HS_ERR_GLOBAL_ADMIN,
                           "%s requires an admin key that is not bound to a tenant", op);
    int state = __atomic_load_n(&g_srv.state, __ATOMIC_ACQUIRE);
    if (state == SRV_STARTING)
        return hs_fail_set(f, HS_ERR_STARTING, "Server is starting");
    if (state == SRV_STOPPING)
        return hs_fail_set(f, HS_ERR_SHUTTING_DOWN, "Server is shutting down");
    if (write && g_srv.follower)
        return hs_fail_set(f, HS_ERR_FOLLOWER_WRITE, "Followers are read-only");
    return 0;
}

static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;

static int create_default(const char *tenant, hs_fail *f)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = g_srv.cfg.dimension;
    c.metric = g_srv.cfg.metric;
    c.quantization = g_srv.cfg.quantization;
    c.m = g_srv.cfg.m;
    hs_error err;
    int rc = hs_collection_create(g_srv.db, tenant, "default", &c, &err);
    if (rc == HS_OK || rc == HS_EEXIST)
        return 0;
    return hs_fail_from_engine(f, rc, &err);
}

int hs_ops_open(const char *tenant, const char *name, bool create_default_now,
                hs_collection **h, hs_fail *f)
{
    const char *n = name && *name ? name : "default";
    hs_error err;
    int rc = hs_collection_open(g_srv.db, tenant, n, h, &err);
    if (rc == HS_ENOTFOUND && create_default_now && !strcmp(n, "default")) {
        pthread_mutex_lock(&default_lock);
        int frc = create_default(tenant, f);
        pthread_mutex_unlock(&default_lock);
        if (frc)
            return frc;
        rc = hs_collection_open(g_srv.db, tenant, n, h, &err);
    }
    if (rc != HS_OK)
        return hs_fail_from_engine(f, rc, &err);
    return 0;
}

void hs_ops_ensure_default(void)
{
    hs_fail f = {0};
    if (create_default(HS_DEFAULT_TENANT, &f))
        hs_log(HS_LOG_ERROR, "cannot create the default collection: %s", f.message);
}

bool hs_parse_metric(const char *s, hs_metric *m)
{
    if (!strcasecmp(s, "cosine"))
        *m = HS_METRIC_COSINE;
    else if (!strcasecmp(s, "l2") || !strcasecmp(s, "euclidean"))
        *m = HS_METRIC_L2;
    else if (!strcasecmp(s, "poincare"))
        *m = HS_METRIC_POINCARE;
    else
        return false;
    return true;
}

bool hs_parse_quant(const char *s, hs_quantization *q)
{
    if (!strcasecmp(s, "none"))
        *q = HS_QUANT_NONE;
    else if (!strcasecmp(s, "scalar"))
        *q = HS_QUANT_SCALAR;
    else if (!strcasecmp(s, "binary"))
        *q = HS_QUANT_BINARY;
    else
        return false;
    return true;
}

const char *hs_metric_name(hs_metric m)
{
    return m == HS_METRIC_L2 ? "l2" : m == HS_METRIC_POINCARE ? "poincare" : "cosine";
}

const char *hs_quant_name(hs_quantization q)
{
    return q == HS_QUANT_SCALAR ? "scalar" : q == HS_QUANT_BINARY ? "binary" : "none";
}

/* ---- queries per second ---------------------------------------------------------------- */

static uint64_t searches; /* atomic */
static pthread_mutex_t qps_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t qps_t0, qps_n0;
static double qps_last;

void hs_ops_count_search(void) { __atomic_fetch_add(&searches, 1, __ATOMIC_RELAXED); }

double hs_ops_qps(void)
{
    uint64_t now = hs_now_ns_srv(), n = __atomic_load_n(&searches, __ATOMIC_RELAXED);
    pthread_mutex_lock(&qps_lock);
    if (qps_t0 == 0) {
        qps_t0 = now;
        qps_n0 = n;
    } else if (now - qps_t0 >= 1000000000ull) {
        qps_last = (double)(n - qps_n0) / ((double)(now - qps_t0) / 1e9);
        qps_t0 = now;
        qps_n0 = n;
    }
    double q = qps_last;
    pthread_mutex_unlock(&qps_lock);
    return q;
}
