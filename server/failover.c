/*
 * failover.c: automatic failover on etcd through its v3 JSON gateway (issue 15 item 4; the
 * protocol is in docs/ARCHITECTURE.md "Failover on etcd").
 *
 * One thread, a poll every 200 ms: keep the lease alive (every TTL/6), register
 * <prefix>/nodes/<node_id> under it, read <prefix>/leader, and act:
 *   - the key is ours (our node id and our lease): the epoch is its create revision; a follower
 *     that just took it promotes (hs_node_promote);
 *   - another node's: the epoch is 0 at once (writes refused); a leader becomes a follower of
 *     the key's address, a follower of another address re-points its replication client;
 *   - no key for two polls in a row: the most up-to-date registered node (applied clock, then a
 *     leader before a follower, then the smaller node id) takes it in a txn (create_revision 0).
 * HTTP through libcurl: one easy handle owned by this thread (connection reuse, timeouts,
 * HTTP/1.1 handled by a library Debian ships and patches, rather than a hand-written client).
 */
#include <cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/failover.h"
#include "server/repl.h"
#include "server/server.h"
#include "util/log.h"

#define POLL_MS 200
#define MARGIN_MS 1000 /* writes stop when the last keepalive is older than TTL - this */

static struct {
    bool on;
    char endpoints[8][256];
    int nend, cur;
    char prefix[128];
    char advertise[256];
    unsigned ttl;
    CURL *curl;
    int64_t lease;
    uint64_t last_ka_ns;     /* atomic: monotonic time the last successful keepalive was sent */
    int64_t epoch;           /* atomic: the leader key's create revision while it is ours */
    int absent_polls;
    pthread_t thread;
    bool stop;               /* atomic */
    bool running;
} E;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool hs_failover_enabled(void)
{
    return E.on;
}

int64_t hs_failover_epoch(void)
{
    return E.on ? __atomic_load_n(&E.epoch, __ATOMIC_ACQUIRE) : 0;
}

bool hs_failover_write_ok(void)
{
    if (!E.on)
        return true;
    if (!__atomic_load_n(&E.epoch, __ATOMIC_ACQUIRE))
        return false;
    uint64_t ka = __atomic_load_n(&E.last_ka_ns, __ATOMIC_ACQUIRE);
    return now_ns() - ka < (uint64_t)(E.ttl * 1000u - MARGIN_MS) * 1000000ull;
}

int hs_failover_confirm(hs_fail *f)
{
    if (hs_failover_write_ok())
        return 0;
    return hs_fail_set(f, HS_ERR_FOLLOWER_WRITE,
                       "Not the leader: leadership lost before the write was confirmed");
}

/* ---- etcd over HTTP ------------------------------------------------------------------------- */

static char *b64(const char *s, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

/* Decodes base64 text into a NUL-terminated string (NULL when it does not decode). */
static char *unb64(const char *s)
{
    size_t n = strlen(s);
    unsigned char *out = malloc(n + 1);
    if (!out)
        return NULL;
    int len = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (len < 0) {
        free(out);
        return NULL;
    }
    while (n && s[n - 1] == '=') { /* EVP_DecodeBlock counts the padding */
        len--;
        n--;
    }
    out[len] = 0;
    return (char *)out;
}

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t on_data(char *p, size_t sz, size_t nm, void *u)
{
    buf *b = u;
    size_t add = sz * nm;
    char *q = realloc(b->p, b->n + add + 1);
    if (!q)
        return 0;
    memcpy(q + b->n, p, add);
    b->n += add;
    q[b->n] = 0;
    b->p = q;
    return add;
}

/* POSTs body to path on the current endpoint (the next one after a failure); the parsed answer
 * or NULL. */
static cJSON *call(const char *path, cJSON *body)
{
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text)
        return NULL;
    cJSON *out = NULL;
    for (int tries = 0; tries < E.nend && !out; tries++) {
        char url[400];
        snprintf(url, sizeof(url), "%s%s", E.endpoints[E.cur], path);
        buf b = {0};
        curl_easy_setopt(E.curl, CURLOPT_URL, url);
        curl_easy_setopt(E.curl, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(E.curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(E.curl, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(E.curl, CURLOPT_TIMEOUT_MS, 700L);
        curl_easy_setopt(E.curl, CURLOPT_CONNECTTIMEOUT_MS, 500L);
        curl_easy_setopt(E.curl, CURLOPT_NOSIGNAL, 1L);
        long code = 0;
        CURLcode rc = curl_easy_perform(E.curl);
        if (rc == CURLE_OK)
            curl_easy_getinfo(E.curl, CURLINFO_RESPONSE_CODE, &code);
        if (rc == CURLE_OK && code == 200 && b.p)
            out = cJSON_Parse(b.p);
        free(b.p);
        if (!out)
            E.cur = (E.cur + 1) % E.nend;
    }
    free(text);
    return out;
}

static void add_b64(cJSON *o, const char *name, const char *s)
{
    char *v = b64(s, strlen(s));
    cJSON_AddStringToObject(o, name, v ? v : "");
    free(v);
}

static int64_t num(const cJSON *o, const char *name) /* int64 fields come as strings */
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsString(v))
        return strtoll(v->valuestring, NULL, 10);
    if (cJSON_IsNumber(v))
        return (int64_t)v->valuedouble;
    return 0;
}

static void lease_str(char *out, size_t cap)
{
    snprintf(out, cap, "%lld", (long long)E.lease);
}

static void lease_keep(void)
{
    uint64_t t = now_ns();
    if (E.lease) {
        uint64_t last = __atomic_load_n(&E.last_ka_ns, __ATOMIC_ACQUIRE);
        if (t - last < (uint64_t)E.ttl * 1000000000ull / 6)
            return;
        char id[32];
        lease_str(id, sizeof(id));
        cJSON *q = cJSON_CreateObject();
        cJSON_AddStringToObject(q, "ID", id);
        cJSON *r = call("/v3/lease/keepalive", q);
        const cJSON *res = r ? cJSON_GetObjectItemCaseSensitive(r, "result") : NULL;
        if (res && num(res, "TTL") > 0) {
            __atomic_store_n(&E.last_ka_ns, t, __ATOMIC_RELEASE);
        } else if (res) { /* expired on etcd: everything under it is gone */
            hs_log(HS_LOG_WARN, "failover: lease %s expired", id);
            __atomic_store_n(&E.epoch, 0, __ATOMIC_RELEASE);
            E.lease = 0;
        }
        cJSON_Delete(r);
        return;
    }
    cJSON *q = cJSON_CreateObject();
    cJSON_AddNumberToObject(q, "TTL", E.ttl);
    cJSON *r = call("/v3/lease/grant", q);
    int64_t id = r ? num(r, "ID") : 0;
    if (id) {
        E.lease = id;
        __atomic_store_n(&E.last_ka_ns, t, __ATOMIC_RELEASE);
        hs_log(HS_LOG_INFO, "failover: lease %lld granted (TTL %u s)", (long long)id, E.ttl);
    }
    cJSON_Delete(r);
}

static uint64_t applied(void)
{
    return hs_db_held_clock(g_srv.db); /* not the clock: a reservation after a restart */
}

static void register_node(void)
{
    char key[256], lease[32], *val;
    snprintf(key, sizeof(key), "%s/nodes/%s", E.prefix, g_srv.node_id);
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "node_id", g_srv.node_id);
    cJSON_AddStringToObject(v, "address", E.advertise);
    cJSON_AddStringToObject(v, "role",
                            __atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE) ? "Follower" : "Leader");
    cJSON_AddNumberToObject(v, "applied", (double)applied());
    val = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    lease_str(lease, sizeof(lease));
    cJSON *q = cJSON_CreateObject();
    add_b64(q, "key", key);
    add_b64(q, "value", val ? val : "{}");
    cJSON_AddStringToObject(q, "lease", lease);
    free(val);
    cJSON_Delete(call("/v3/kv/put", q));
}

/* The leader key: 1 found (fields filled), 0 absent, -1 etcd not answering. */
static int read_leader(char *node_id, size_t idcap, char *addr, size_t acap, int64_t *rev,
                       int64_t *lease)
{
    char key[256];
    snprintf(key, sizeof(key), "%s/leader", E.prefix);
    cJSON *q = cJSON_CreateObject();
    add_b64(q, "key", key);
    cJSON *r = call("/v3/kv/range", q);
    if (!r)
        return -1;
    const cJSON *kvs = cJSON_GetObjectItemCaseSensitive(r, "kvs");
    const cJSON *kv = cJSON_IsArray(kvs) ? cJSON_GetArrayItem(kvs, 0) : NULL;
    int found = 0;
    if (kv) {
        const cJSON *vb = cJSON_GetObjectItemCaseSensitive(kv, "value");
        char *text = cJSON_IsString(vb) ? unb64(vb->valuestring) : NULL;
        cJSON *v = text ? cJSON_Parse(text) : NULL;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "node_id");
        const cJSON *ad = cJSON_GetObjectItemCaseSensitive(v, "address");
        snprintf(node_id, idcap, "%s", cJSON_IsString(id) ? id->valuestring : "");
        snprintf(addr, acap, "%s", cJSON_IsString(ad) ? ad->valuestring : "");
        *rev = num(kv, "create_revision");
        *lease = num(kv, "lease");
        found = 1;
        cJSON_Delete(v);
        free(text);
    }
    cJSON_Delete(r);
    return found;
}

/* True when this node ranks first among the registered ones. */
static bool best_candidate(void)
{
    char key[256], end[256];
    snprintf(key, sizeof(key), "%s/nodes/", E.prefix);
    snprintf(end, sizeof(end), "%s", key);
    end[strlen(end) - 1]++; /* the prefix's range end: '/' + 1 */
    cJSON *q = cJSON_CreateObject();
    add_b64(q, "key", key);
    add_b64(q, "range_end", end);
    cJSON *r = call("/v3/kv/range", q);
    if (!r)
        return false;
    uint64_t mine = applied();
    bool me_leader = !__atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE);
    bool best = true;
    const cJSON *kvs = cJSON_GetObjectItemCaseSensitive(r, "kvs"), *kv;
    cJSON_ArrayForEach(kv, kvs) {
        const cJSON *vb = cJSON_GetObjectItemCaseSensitive(kv, "value");
        char *text = cJSON_IsString(vb) ? unb64(vb->valuestring) : NULL;
        cJSON *v = text ? cJSON_Parse(text) : NULL;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "node_id");
        const cJSON *ap = cJSON_GetObjectItemCaseSensitive(v, "applied");
        const cJSON *ro = cJSON_GetObjectItemCaseSensitive(v, "role");
        if (cJSON_IsString(id) && strcmp(id->valuestring, g_srv.node_id) && cJSON_IsNumber(ap)) {
            uint64_t a = (uint64_t)ap->valuedouble;
            bool l = cJSON_IsString(ro) && !strcmp(ro->valuestring, "Leader");
            if (a > mine || (a == mine && l && !me_leader) ||
                (a == mine && l == me_leader && strcmp(id->valuestring, g_srv.node_id) < 0))
                best = false;
        }
        cJSON_Delete(v);
        free(text);
    }
    cJSON_Delete(r);
    return best;
}

static bool take_leader(void)
{
    char key[256], lease[32], *val;
    snprintf(key, sizeof(key), "%s/leader", E.prefix);
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "node_id", g_srv.node_id);
    cJSON_AddStringToObject(v, "address", E.advertise);
    val = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    lease_str(lease, sizeof(lease));
    cJSON *q = cJSON_CreateObject(), *cmp = cJSON_AddArrayToObject(q, "compare"),
          *succ = cJSON_AddArrayToObject(q, "success");
    cJSON *c = cJSON_CreateObject();
    add_b64(c, "key", key);
    cJSON_AddStringToObject(c, "target", "CREATE");
    cJSON_AddStringToObject(c, "result", "EQUAL");
    cJSON_AddStringToObject(c, "create_revision", "0");
    cJSON_AddItemToArray(cmp, c);
    cJSON *put = cJSON_CreateObject(), *rp = cJSON_AddObjectToObject(put, "request_put");
    add_b64(rp, "key", key);
    add_b64(rp, "value", val ? val : "{}");
    cJSON_AddStringToObject(rp, "lease", lease);
    cJSON_AddItemToArray(succ, put);
    free(val);
    cJSON *r = call("/v3/kv/txn", q);
    bool won = r && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "succeeded"));
    cJSON_Delete(r);
    return won;
}

/* ---- role changes --------------------------------------------------------------------------- */

static void follow(const char *addr)
{
    if (!addr[0])
        return;
    bool follower = __atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE);
    if (follower && !strcmp(g_srv.cfg.leader_target, addr))
        return;
    hs_repl_follower_stop();
    if (!follower) {
        __atomic_store_n(&g_srv.follower, true, __ATOMIC_RELEASE);
        if (hs_ops_role_persist(true))
            hs_log(HS_LOG_WARN, "cannot record the role in %s/.role", g_srv.cfg.data_dir);
        /* whatever it followed before it led, its history has writes of its own now: forget the
         * old leader so that the client resynchronises (B11.5) instead of resuming */
        char path[1100];
        snprintf(path, sizeof(path), "%s/.replication", g_srv.cfg.data_dir);
        unlink(path);
        hs_log(HS_LOG_WARN, "failover: lost the leader key; following %s", addr);
    } else {
        hs_log(HS_LOG_INFO, "failover: new leader at %s", addr);
    }
    /* the client is stopped: nothing else reads the target while it changes (error details of
     * a refused write may see it half-written) */
    snprintf(g_srv.cfg.leader, sizeof(g_srv.cfg.leader), "%s", addr);
    snprintf(g_srv.cfg.leader_target, sizeof(g_srv.cfg.leader_target), "%s", addr);
    if (hs_repl_follower_start())
        hs_log(HS_LOG_ERROR, "failover: the replication client did not start");
}

static void poll_once(void)
{
    lease_keep();
    if (!E.lease)
        return;
    register_node();
    char id[64] = "", addr[256] = "";
    int64_t rev = 0, lease = 0;
    int found = read_leader(id, sizeof(id), addr, sizeof(addr), &rev, &lease);
    if (found < 0)
        return; /* etcd not answering: the keepalive ages and closes the write gate */
    if (found && !strcmp(id, g_srv.node_id) && lease == E.lease) {
        E.absent_polls = 0;
        if (__atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE)) {
            if (hs_node_promote()) {
                hs_log(HS_LOG_ERROR, "failover: promotion failed");
                return;
            }
        }
        if (__atomic_load_n(&E.epoch, __ATOMIC_ACQUIRE) != rev) {
            hs_log(HS_LOG_INFO, "failover: leader in epoch %lld", (long long)rev);
            __atomic_store_n(&E.epoch, rev, __ATOMIC_RELEASE);
        }
        return;
    }
    __atomic_store_n(&E.epoch, 0, __ATOMIC_RELEASE);
    if (found) {
        E.absent_polls = 0;
        if (strcmp(id, g_srv.node_id)) /* our own earlier incarnation's key: wait for its expiry */
            follow(addr);
        return;
    }
    if (++E.absent_polls < 2) /* let the others register their latest applied clock */
        return;
    if (best_candidate() && take_leader())
        hs_log(HS_LOG_INFO, "failover: took the leader key");
}

static void *run(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&E.stop, __ATOMIC_ACQUIRE)) {
        if (__atomic_load_n(&g_srv.state, __ATOMIC_ACQUIRE) == SRV_READY)
            poll_once();
        struct timespec ts = {0, POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int hs_failover_start(void)
{
    const char *eps = getenv("HS_ETCD_ENDPOINTS");
    if (!eps || !*eps)
        return 0;
    char tmp[2048];
    snprintf(tmp, sizeof(tmp), "%s", eps);
    for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t && E.nend < 8;
         t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (*t)
            snprintf(E.endpoints[E.nend++], sizeof(E.endpoints[0]), "%s%s",
                     strstr(t, "://") ? "" : "http://", t);
    }
    if (!E.nend)
        return 0;
    const char *p = getenv("HS_CLUSTER_PREFIX");
    snprintf(E.prefix, sizeof(E.prefix), "%s", p && *p ? p : "/hyperspace");
    const char *a = getenv("HS_ADVERTISE_ADDR");
    if (a && *a)
        snprintf(E.advertise, sizeof(E.advertise), "%s", a);
    else
        snprintf(E.advertise, sizeof(E.advertise), "%.200s:%d", g_srv.cfg.host,
                 g_srv.cfg.grpc_port);
    const char *ttl = getenv("HS_ETCD_LEASE_TTL");
    E.ttl = ttl && atoi(ttl) >= 2 ? (unsigned)atoi(ttl) : 3;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    E.curl = curl_easy_init();
    if (!E.curl)
        return -1;
    E.on = true;
    if (pthread_create(&E.thread, NULL, run, NULL)) {
        hs_log(HS_LOG_ERROR, "failover: cannot start its thread");
        return -1;
    }
    E.running = true;
    hs_log(HS_LOG_INFO, "failover: on etcd %s, prefix %s, advertising %s, lease TTL %u s",
           E.endpoints[0], E.prefix, E.advertise, E.ttl);
    return 0;
}

void hs_failover_stop(void)
{
    if (!E.running)
        return;
    __atomic_store_n(&E.stop, true, __ATOMIC_RELEASE);
    pthread_join(E.thread, NULL);
    E.running = false;
    __atomic_store_n(&E.epoch, 0, __ATOMIC_RELEASE);
    curl_easy_cleanup(E.curl);
    curl_global_cleanup();
}
