/*
 * ops.c: what both transports share: permission and node-state checks (B9.3 steps 3-4), opening
 * a collection with the default-collection rules (B7.1), name tables, the query counter behind
 * qps, and the messages of failed authentication.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "server/failover.h"
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
    case HS_ERR_TENANT_INVALID: {
        hs_error why;
        if (hs_name_check(HS_FIELD_TENANT, a->bad_tenant, &why) == HS_ENAME &&
            why.reason == HS_REASON_RESERVED)
            return hs_fail_set(f, HS_ERR_TENANT_INVALID,
                               "Invalid tenant '%s': the name is reserved for a file of the data "
                               "directory (LOCK and node.json, in any case)", a->bad_tenant);
        return hs_fail_set(f, HS_ERR_TENANT_INVALID,
                           "Invalid tenant '%s': use 1-64 characters from A-Z a-z 0-9 _ . - not "
                           "starting with '.'", a->bad_tenant);
    }
    case HS_ERR_TENANT_FORBIDDEN:
        return hs_fail_set(f, HS_ERR_TENANT_FORBIDDEN, "API key is restricted to tenant '%s'",
                           a->bad_tenant);
    }
    return 0;
}

/* E_FOLLOWER_WRITE naming the leader a client can write to instead (issue 15 item 6): HTTP
 * details "leader" here; the gRPC trailing metadata and the HTTP header are added where the
 * failure is sent (grpc_server.c, http_api.c) from the same setting. */
static int follower_write(hs_fail *f)
{
    hs_fail_set(f, HS_ERR_FOLLOWER_WRITE, "Followers are read-only");
    const char *l = g_srv.cfg.leader;
    if (!*l)
        return f->id;
    char *d = f->details, *end = d + sizeof(f->details) - 2; /* room for '"' and NUL */
    d += snprintf(d, sizeof(f->details), "\"leader\":\"");
    for (; *l && d + 6 < end; l++) {
        unsigned char ch = (unsigned char)*l;
        if (ch == '"' || ch == '\\')
            d += sprintf(d, "\\%c", ch);
        else if (ch < 0x20)
            d += sprintf(d, "\\u%04x", ch);
        else
            *d++ = (char)ch;
    }
    if (*l) /* longer than the details hold: none rather than a cut address */
        f->details[0] = 0;
    else
        strcpy(d, "\"");
    return f->id;
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
    if (write && __atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE))
        return follower_write(f);
    /* failover on etcd: a leader whose lease may have lapsed writes nothing (failover.h) */
    if (write && !hs_failover_write_ok())
        return hs_fail_set(f, HS_ERR_FOLLOWER_WRITE,
                           "Not the leader: no current leadership lease (failover)");
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

int hs_ops_stats_named(const char *tenant, const char *name, hs_collection_stats *st,
                       hs_error *err)
{
    return hs_collection_stats_get(g_srv.db, tenant, name, st, err);
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
    else if (!strcasecmp(s, "lorentz"))
        *m = HS_METRIC_LORENTZ;
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
    return m == HS_METRIC_L2         ? "l2"
           : m == HS_METRIC_POINCARE ? "poincare"
           : m == HS_METRIC_LORENTZ  ? "lorentz"
                                     : "cosine";
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

/* ---- the node's role ----------------------------------------------------------------------- */

/* The role lives in <data dir>/.role ("leader" or "follower"; a name starting with '.' is never a
 * tenant), so that a promoted follower stays a leader after a restart without --role. */
static int role_path(char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/.role", g_srv.cfg.data_dir);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

int hs_ops_role_persist(bool follower)
{
    char path[1100], tmp[1110];
    if (role_path(path, sizeof(path)))
        return -1;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    const char *text = follower ? "follower\n" : "leader\n";
    size_t len = strlen(text);
    int rc = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    if (rc || rename(tmp, path) != 0)
        return -1;
    int dfd = open(g_srv.cfg.data_dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* B11.1 and B11.7 at start-up: the role is --role when given, else the recorded one, else
 * leader (a data directory without a record was a leader's).  A follower needs a leader address;
 * a leader's data directory holding collections never becomes a follower (its data would mix
 * with the leader's).  The effective role is recorded. */
int hs_ops_role_init(void)
{
    char path[1100], text[16] = "";
    FILE *f = role_path(path, sizeof(path)) ? NULL : fopen(path, "r");
    if (f) {
        if (!fgets(text, sizeof(text), f))
            text[0] = 0;
        fclose(f);
    }
    bool was_follower = !strncmp(text, "follower", 8);
    bool follower = g_srv.cfg.role[0] ? !strcasecmp(g_srv.cfg.role, "follower") : was_follower;
    if (follower && !was_follower) {
        uint64_t cols = 0, pts, loaded, failed;
        hs_db_totals(g_srv.db, &cols, &pts, &loaded, &failed);
        if (cols) {
            hs_log(HS_LOG_ERROR, "data directory belongs to a leader; start the follower with an "
                                 "empty data directory");
            return 2;
        }
    }
    const char *etcd = getenv("HS_ETCD_ENDPOINTS"); /* failover finds the leader (failover.c) */
    if (follower && !g_srv.cfg.leader_target[0] && !(etcd && *etcd)) {
        hs_log(HS_LOG_ERROR, "role follower (recorded in %s/.role) needs --leader (or HS_LEADER)",
               g_srv.cfg.data_dir);
        return 2;
    }
    g_srv.follower = follower;
    if (hs_ops_role_persist(follower))
        hs_log(HS_LOG_WARN, "cannot record the role in %s/.role", g_srv.cfg.data_dir);
    if (was_follower && !follower)
        hs_log(HS_LOG_INFO, "recorded follower started as leader: promoted");
    if (follower)
        hs_log(HS_LOG_INFO, "role follower of %s: writes are refused", g_srv.cfg.leader);
    return 0;
}
