/*
 * config.c: the server's settings (spec behaviour.md B10).  Each setting has a flag and/or an
 * environment variable; the effective value comes from the first source that has it:
 * command-line flag, process environment, settings file (--config FILE, else ./.env), default.
 * Every value is validated; an invalid one stops the start with exit code 2 and a message
 * naming the setting, the value and its source.  Empty values mean "unset", except for the key
 * settings, where they are errors.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/server.h"
#include "util/log.h"

typedef enum kind { K_STRING, K_PORT, K_UINT, K_METRIC, K_QUANT, K_WAL, K_LEVEL, K_ROLE, K_BYTES } kind;

typedef struct setting {
    const char *env, *alias, *flag, *short_flag;
    kind kind;
    const char *def;
    uint64_t lo, hi;
    bool secret;        /* redacted in logs */
    bool empty_is_error;
    /* resolved */
    char value[1024];
    const char *source; /* "flag", "environment", "file", "default" */
    bool set;
} setting;

enum {
    S_HOST, S_PORT, S_HTTP_PORT, S_DATA_DIR, S_ROLE, S_LEADER, S_DIMENSION, S_METRIC, S_QUANT,
    S_M, S_EFC, S_EFS, S_INDEXER, S_IDLE, S_MAX_LOADED, S_API_KEY, S_KEYS_FILE, S_WAL_MODE,
    S_WAL_BATCH, S_SNAPSHOT, S_MAX_BODY, S_CORS, S_LEADER_KEY, S_LOG_LEVEL, S_HEADER_TIMEOUT, S_MAX_CONN,
    S_MAX_CONN_IP, S_TENANT_QUOTA, S_CKPT_MIN_LOG, S_MEMORY_LIMIT, S_WAL_RETAIN, S_SNAPSHOT_DIR,
    S_SYNC_REPLICAS, S_SYNC_TIMEOUT, S_REPL_VERIFY, S_NARROW, S_COUNT
};

static setting table[S_COUNT] = {
    [S_HOST] = {"HS_HOST", NULL, "--host", NULL, K_STRING, "127.0.0.1", 0, 0, false, false},
    [S_PORT] = {"HS_PORT", NULL, "--port", "-p", K_PORT, "50051", 1, 65535, false, false},
    [S_HTTP_PORT] = {"HS_HTTP_PORT", NULL, "--http-port", NULL, K_PORT, "50050", 1, 65535, false,
                     false},
    [S_DATA_DIR] = {"HS_DATA_DIR", NULL, "--data-dir", NULL, K_STRING, "./data", 0, 0, false,
                    false},
    [S_ROLE] = {"HS_ROLE", NULL, "--role", NULL, K_ROLE, "", 0, 0, false, false},
    [S_LEADER] = {"HS_LEADER", NULL, "--leader", NULL, K_STRING, "", 0, 0, false, false},
    [S_DIMENSION] = {"HS_DIMENSION", NULL, NULL, NULL, K_UINT, "1024", 1, 16384, false, false},
    [S_METRIC] = {"HS_METRIC", "HS_DISTANCE_METRIC", NULL, NULL, K_METRIC, "cosine", 0, 0, false,
                  false},
    [S_QUANT] = {"HS_QUANTIZATION_LEVEL", NULL, NULL, NULL, K_QUANT, "none", 0, 0, false, false},
    [S_M] = {"HS_HNSW_M", NULL, NULL, NULL, K_UINT, "16", 2, 128, false, false},
    [S_EFC] = {"HS_HNSW_EF_CONSTRUCT", NULL, NULL, NULL, K_UINT, "100", 1, 10000, false, false},
    [S_EFS] = {"HS_HNSW_EF_SEARCH", NULL, NULL, NULL, K_UINT, "100", 1, 10000, false, false},
    [S_INDEXER] = {"HS_INDEXER_CONCURRENCY", NULL, NULL, NULL, K_UINT, "0", 0, 1024, false, false},
    [S_IDLE] = {"HS_IDLE_TIMEOUT_SEC", NULL, NULL, NULL, K_UINT, "3600", 0, 2147483647, false,
                false},
    [S_MAX_LOADED] = {"HS_MAX_LOADED_COLLECTIONS", NULL, NULL, NULL, K_UINT, "1000", 0, 2147483647,
                      false, false},
    [S_API_KEY] = {"HYPERSPACE_API_KEY", "HS_API_KEY", NULL, NULL, K_STRING, "", 0, 0, true, true},
    [S_KEYS_FILE] = {"HYPERSPACE_API_KEYS_FILE", NULL, NULL, NULL, K_STRING, "", 0, 0, false,
                     true},
    [S_WAL_MODE] = {"HYPERSPACE_WAL_SYNC_MODE", NULL, NULL, NULL, K_WAL, "batch", 0, 0, false,
                    false},
    [S_WAL_BATCH] = {"HYPERSPACE_WAL_BATCH_INTERVAL", NULL, NULL, NULL, K_UINT, "10", 1, 1000,
                     false, false},
    [S_SNAPSHOT] = {"HYPERSPACE_SNAPSHOT_INTERVAL_SEC", NULL, NULL, NULL, K_UINT, "60", 0, 86400,
                    false, false},
    [S_MAX_BODY] = {"HS_HTTP_MAX_BODY_MB", NULL, NULL, NULL, K_UINT, "32", 1, 1024, false, false},
    [S_CORS] = {"HS_CORS_ORIGINS", NULL, NULL, NULL, K_STRING, "", 0, 0, false, false},
    [S_LEADER_KEY] = {"HS_LEADER_API_KEY", NULL, NULL, NULL, K_STRING, "", 0, 0, true, false},
    [S_LOG_LEVEL] = {"HS_LOG_LEVEL", NULL, NULL, NULL, K_LEVEL, "info", 0, 0, false, false},
    /* HTTP connection limits (http.md "Connections"): the time from accept to complete request
     * headers; connections in all (one thread each) and per client address (0 = no limit) */
    [S_HEADER_TIMEOUT] = {"HS_HTTP_HEADER_TIMEOUT_SEC", NULL, NULL, NULL, K_UINT, "10", 1, 3600,
                          false, false},
    [S_MAX_CONN] = {"HS_HTTP_MAX_CONNECTIONS", NULL, NULL, NULL, K_UINT, "1024", 16, 16384, false,
                    false},
    [S_MAX_CONN_IP] = {"HS_HTTP_MAX_CONNECTIONS_PER_IP", NULL, NULL, NULL, K_UINT, "128", 0, 16384,
                       false, false},
    /* collections one tenant may have (0 = no limit); creating more is RESOURCE_EXHAUSTED */
    [S_TENANT_QUOTA] = {"HS_MAX_COLLECTIONS_PER_TENANT", NULL, NULL, NULL, K_UINT, "0", 0,
                        2147483647, false, false},
    /* unloading and stopping skip the checkpoint of a collection whose log is smaller (it is
     * replayed at its next load); 0 = always checkpoint */
    [S_CKPT_MIN_LOG] = {"HS_CHECKPOINT_MIN_LOG_BYTES", NULL, NULL, NULL, K_UINT, "65536", 0,
                        1073741824, false, false},
    /* memory the loaded collections may take: a byte count with an optional KiB/MiB/GiB/TiB
     * (or K/M/G/T) suffix; 0 = no limit */
    [S_MEMORY_LIMIT] = {"HS_MEMORY_LIMIT", NULL, NULL, NULL, K_BYTES, "0", 0, 0, false, false},
    /* log a checkpoint no longer needs, kept per collection for change-stream readers
     * (SubscribeToEvents) to resume from: bytes with an optional suffix; 0 = none */
    [S_WAL_RETAIN] = {"HYPERSPACE_WAL_RETAIN_BYTES", NULL, NULL, NULL, K_BYTES, "64MiB", 0, 0,
                      false, false},
    /* where snapshot archives are kept; "" = <data dir>/.snapshots */
    [S_SNAPSHOT_DIR] = {"HS_SNAPSHOT_DIR", NULL, "--snapshot-dir", NULL, K_STRING, "", 0, 0,
                        false, false},
    /* synchronous acknowledgement (issue 15 item 3): a leader answers a write once this many
     * followers acknowledged a durable watermark at or above its clock (0 = asynchronous), or
     * after the timeout with REPLICATION_TIMEOUT */
    [S_SYNC_REPLICAS] = {"HS_SYNC_REPLICAS", NULL, "--sync-replicas", NULL, K_UINT, "0", 0,
                         64 /* HS_REPL_MAX_FOLLOWERS */, false, false},
    [S_SYNC_TIMEOUT] = {"HS_SYNC_TIMEOUT_MS", NULL, "--sync-timeout-ms", NULL, K_UINT, "5000", 1,
                        3600000, false, false},
    /* issue 15 item 2: a follower compares its digests with the leader's this often (seconds)
     * and once after each catch-up; 0 = never */
    [S_REPL_VERIFY] = {"HS_REPL_VERIFY_SEC", NULL, "--repl-verify-sec", NULL, K_UINT, "60", 0,
                       86400, false, false},
    /* 1: an unquantized float32 l2/cosine collection whose vectors are all exactly bfloat16
     * walks a bfloat16 copy (hs_db_opts.no_narrow); 0: never */
    [S_NARROW] = {"HS_NARROW_COPY", NULL, NULL, NULL, K_UINT, "1", 0, 1, false, false},
};

/* Upstream variables that are accepted and ignored (with a warning). */
static const char *ignored[] = {"HS_SEARCH_CONCURRENCY", "HS_OPTIMIZE_INTERVAL_HOURS",
                                "HYPERSPACE_MODEL_PATH", "HYPERSPACE_TOKENIZER_PATH",
                                "HYPERSPACE_API_BASE", "HYPERSPACE_API_KEY_EMBED", "RUST_LOG"};

static int config_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int config_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hyperspace-server: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 2;
}

/* The gRPC target of a --leader value (B10.2): `http://host:port`, `host:port` or `[v6]:port`,
 * the port defaulting to 50051; 0, or -1 when the value is none of those. */
static int leader_target(const char *v, char *out, size_t cap)
{
    if (!strncasecmp(v, "http://", 7))
        v += 7;
    size_t len = strlen(v);
    if (len && v[len - 1] == '/')
        len--;
    const char *port = NULL;
    size_t host_len;
    if (v[0] == '[') {
        const char *close = memchr(v, ']', len);
        if (!close || close == v + 1)
            return -1;
        host_len = (size_t)(close - v) + 1;
        if (host_len < len) {
            if (v[host_len] != ':')
                return -1;
            port = v + host_len + 1;
        }
    } else {
        const char *colon = memchr(v, ':', len);
        host_len = colon ? (size_t)(colon - v) : len;
        port = colon ? colon + 1 : NULL;
    }
    if (host_len == 0)
        return -1;
    for (size_t i = 0; i < host_len; i++)
        if (v[i] <= ' ' || v[i] == '/' || v[i] == '@' || v[i] == '?' || v[i] == '#' ||
            (v[0] != '[' && v[i] == ':'))
            return -1;
    unsigned long p = 50051;
    if (port) {
        size_t plen = len - (size_t)(port - v);
        if (plen == 0 || plen > 5)
            return -1;
        p = 0;
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)port[i]))
                return -1;
            p = p * 10 + (unsigned long)(port[i] - '0');
        }
        if (p < 1 || p > 65535)
            return -1;
    }
    int n = snprintf(out, cap, "%.*s:%lu", (int)host_len, v, p);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static void usage(void)
{
    printf("usage: hyperspace-server [--host H] [-p|--port N] [--http-port N] [--data-dir DIR]\n"
           "                         [--role leader|follower] [--leader ADDR] [--config FILE]\n"
           "                         [--snapshot-dir DIR]\n"
           "Settings may also come from the environment (HS_*, HYPERSPACE_*) or a settings\n"
           "file (./.env by default); flags win over the environment, which wins over the file.\n"
           "HTTP connection limits (docs/api/http.md, \"Connections\"):\n"
           "  HS_HTTP_HEADER_TIMEOUT_SEC=10       seconds from accept (or from the end of the\n"
           "                                      previous unauthenticated request) to complete\n"
           "                                      request headers; slower connections are closed\n"
           "  HS_HTTP_MAX_CONNECTIONS=1024        connections in all; 1/8 of them are kept for\n"
           "                                      connections past their headers (authenticated\n"
           "                                      clients, /healthz): when the rest are all waiting\n"
           "                                      for headers, the oldest such one is closed\n"
           "  HS_HTTP_MAX_CONNECTIONS_PER_IP=128  connections per client address (0 = no limit)\n");
}

static setting *by_flag(const char *flag)
{
    for (int i = 0; i < S_COUNT; i++)
        if ((table[i].flag && !strcmp(flag, table[i].flag)) ||
            (table[i].short_flag && !strcmp(flag, table[i].short_flag)))
            return &table[i];
    return NULL;
}

static setting *by_env(const char *name)
{
    for (int i = 0; i < S_COUNT; i++)
        if ((table[i].env && !strcmp(name, table[i].env)) ||
            (table[i].alias && !strcmp(name, table[i].alias)))
            return &table[i];
    return NULL;
}

static void put(setting *s, const char *value, const char *source)
{
    snprintf(s->value, sizeof(s->value), "%s", value);
    s->source = source;
    s->set = true;
}

/* Strips matching quotes of a settings-file value (with \" and \\ unescaped inside "..."). */
static void unquote(char *v)
{
    size_t n = strlen(v);
    if (n >= 2 && ((v[0] == '"' && v[n - 1] == '"') || (v[0] == '\'' && v[n - 1] == '\''))) {
        char q = v[0];
        size_t o = 0;
        for (size_t i = 1; i + 1 < n; i++) {
            if (q == '"' && v[i] == '\\' && i + 2 < n && (v[i + 1] == '"' || v[i + 1] == '\\'))
                i++;
            v[o++] = v[i];
        }
        v[o] = 0;
    }
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* Reads KEY=VALUE lines; later lines win; settings already set by flags or the environment are
 * kept.  Returns 0 or 2. */
static int read_file(const char *path, bool required)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (required)
            return config_error("cannot read the settings file %s: %s", path, strerror(errno));
        return 0;
    }
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        char *p = trim(line);
        if (!*p || *p == '#')
            continue;
        if (!strncmp(p, "export ", 7))
            p = trim(p + 7);
        char *eq = strchr(p, '=');
        if (!eq || eq == p) {
            fclose(f);
            return config_error("%s:%d: expected KEY=VALUE", path, lineno);
        }
        *eq = 0;
        char *key = trim(p), *val = trim(eq + 1);
        unquote(val);
        setting *s = by_env(key);
        if (s && (!s->set || !strcmp(s->source, "file")))
            put(s, val, "file");
    }
    fclose(f);
    return 0;
}

static int parse_uint(const setting *s, const char *name, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s->value, &end, 10);
    if (errno || end == s->value || *end || s->value[0] == '-' || v < s->lo || v > s->hi)
        return config_error("invalid value '%s' for %s (from %s): expected an integer between %llu "
                            "and %llu", s->value, name, s->source, (unsigned long long)s->lo,
                            (unsigned long long)s->hi);
    *out = v;
    return 0;
}

/* "4GiB", "512MiB", "64M", "1073741824": powers of 1024. */
static int parse_bytes(const setting *s, const char *name, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s->value, &end, 10);
    static const char *units[] = {"", "K", "M", "G", "T"};
    int shift = -1;
    for (int i = 0; i < 5 && shift < 0; i++) {
        char full[8];
        snprintf(full, sizeof(full), "%siB", units[i]);
        if (!strcasecmp(end, units[i]) || (i && !strcasecmp(end, full)))
            shift = 10 * i;
    }
    if (errno || end == s->value || s->value[0] == '-' || shift < 0 ||
        (shift && v > (UINT64_MAX >> shift)))
        return config_error("invalid value '%s' for %s (from %s): expected a byte count such as "
                            "4GiB, 512MiB or 1073741824", s->value, name, s->source);
    *out = (uint64_t)v << shift;
    return 0;
}

static bool ieq(const char *a, const char *b) { return !strcasecmp(a, b); }

/* Copies a setting into a fixed field; values longer than the field are refused at start. */
static int copy_value(char *dst, size_t len, int which)
{
    const setting *s = &table[which];
    size_t n = strlen(s->value);
    if (n >= len)
        return config_error("value of %s (from %s) is too long: %zu bytes, at most %zu",
                            s->env ? s->env : s->flag, s->source, n, len - 1);
    memcpy(dst, s->value, n + 1);
    return 0;
}

/* Converts the resolved strings into the settings struct. */
static int convert(hs_settings *o)
{
    memset(o, 0, sizeof(*o));
    uint64_t v = 0;
    for (int i = 0; i < S_COUNT; i++) {
        setting *s = &table[i];
        const char *name = s->env ? s->env : s->flag;
        if (s->empty_is_error && s->set && strcmp(s->source, "default") && !s->value[0])
            return config_error("%s is set but empty (from %s)", name, s->source);
        if (s->kind == K_PORT || s->kind == K_UINT) {
            if (parse_uint(s, s->flag && !s->env ? s->flag : name, &v))
                return 2;
        }
        if (s->kind == K_BYTES && parse_bytes(s, name, &v))
            return 2;
        switch (i) {
        case S_PORT:
            o->grpc_port = (int)v;
            break;
        case S_HTTP_PORT:
            o->http_port = (int)v;
            break;
        case S_DIMENSION:
            o->dimension = (uint32_t)v;
            break;
        case S_M:
            o->m = (uint32_t)v;
            break;
        case S_EFC:
            o->ef_construction = (uint32_t)v;
            break;
        case S_EFS:
            o->ef_search = (uint32_t)v;
            break;
        case S_INDEXER:
            o->indexer_threads = (uint32_t)v;
            break;
        case S_IDLE:
            o->idle_timeout_sec = (uint32_t)v;
            break;
        case S_MAX_LOADED:
            o->max_loaded = (uint32_t)v;
            break;
        case S_WAL_BATCH:
            o->wal_batch_ms = (uint32_t)v;
            break;
        case S_SNAPSHOT:
            o->snapshot_interval_sec = (uint32_t)v;
            break;
        case S_MAX_BODY:
            o->max_body_mb = (uint32_t)v;
            break;
        case S_HEADER_TIMEOUT:
            o->http_header_timeout_sec = (uint32_t)v;
            break;
        case S_MAX_CONN:
            o->http_max_conn = (uint32_t)v;
            break;
        case S_MAX_CONN_IP:
            o->http_max_conn_per_ip = (uint32_t)v;
            break;
        case S_TENANT_QUOTA:
            o->max_collections_per_tenant = (uint32_t)v;
            break;
        case S_CKPT_MIN_LOG:
            o->checkpoint_min_log_bytes = (uint32_t)v;
            break;
        case S_MEMORY_LIMIT:
            o->memory_limit = v;
            break;
        case S_WAL_RETAIN:
            o->wal_retain_bytes = v;
            break;
        case S_SYNC_REPLICAS:
            o->sync_replicas = (uint32_t)v;
            break;
        case S_SYNC_TIMEOUT:
            o->sync_timeout_ms = (uint32_t)v;
            break;
        case S_REPL_VERIFY:
            o->repl_verify_sec = (uint32_t)v;
            break;
        case S_NARROW:
            o->narrow_copy = v != 0;
            break;
        default:
            break;
        }
    }
    if (copy_value(o->host, sizeof(o->host), S_HOST))
        return 2;
    if (copy_value(o->data_dir, sizeof(o->data_dir), S_DATA_DIR))
        return 2;
    if (copy_value(o->snapshot_dir, sizeof(o->snapshot_dir), S_SNAPSHOT_DIR))
        return 2;
    if (copy_value(o->leader, sizeof(o->leader), S_LEADER))
        return 2;
    if (o->leader[0] && leader_target(o->leader, o->leader_target, sizeof(o->leader_target)))
        return config_error("invalid value '%s' for --leader (from %s): expected http://host:port, "
                            "host:port or [v6]:port (port 1..65535, default 50051)", o->leader,
                            table[S_LEADER].source);
    const char *r = table[S_ROLE].value;
    if (*r && !ieq(r, "leader") && !ieq(r, "follower"))
        return config_error("invalid value '%s' for --role (from %s): expected leader or follower",
                            r, table[S_ROLE].source);
    if (copy_value(o->role, sizeof(o->role), S_ROLE))
        return 2;
    const char *m = table[S_METRIC].value;
    if (ieq(m, "cosine"))
        o->metric = HS_METRIC_COSINE;
    else if (ieq(m, "l2") || ieq(m, "euclidean"))
        o->metric = HS_METRIC_L2;
    else if (ieq(m, "poincare"))
        o->metric = HS_METRIC_POINCARE;
    else if (ieq(m, "lorentz"))
        o->metric = HS_METRIC_LORENTZ;
    else
        return config_error("invalid value '%s' for HS_METRIC (from %s): expected cosine, l2, "
                            "euclidean, poincare or lorentz", m, table[S_METRIC].source);
    const char *q = table[S_QUANT].value;
    if (ieq(q, "none"))
        o->quantization = HS_QUANT_NONE;
    else if (ieq(q, "scalar"))
        o->quantization = HS_QUANT_SCALAR;
    else if (ieq(q, "binary"))
        o->quantization = HS_QUANT_BINARY;
    else
        return config_error("invalid value '%s' for HS_QUANTIZATION_LEVEL (from %s): expected "
                            "none, scalar or binary", q, table[S_QUANT].source);
    const char *w = table[S_WAL_MODE].value;
    if (ieq(w, "async"))
        o->wal_mode = HS_DURABILITY_ASYNC;
    else if (ieq(w, "batch"))
        o->wal_mode = HS_DURABILITY_BATCH;
    else if (ieq(w, "strict") || ieq(w, "fsync"))
        o->wal_mode = HS_DURABILITY_STRICT;
    else
        return config_error("invalid value '%s' for HYPERSPACE_WAL_SYNC_MODE (from %s): expected "
                            "async, batch or strict", w, table[S_WAL_MODE].source);
    const char *l = table[S_LOG_LEVEL].value;
    o->log_level = ieq(l, "error") ? HS_LOG_ERROR
                   : ieq(l, "warn") ? HS_LOG_WARN
                   : ieq(l, "info") ? HS_LOG_INFO
                   : ieq(l, "debug") ? HS_LOG_DEBUG
                                     : (hs_log_level)-1;
    if ((int)o->log_level < 0)
        return config_error("invalid value '%s' for HS_LOG_LEVEL (from %s): expected error, warn, "
                            "info or debug", l, table[S_LOG_LEVEL].source);
    o->api_key_set = table[S_API_KEY].set && strcmp(table[S_API_KEY].source, "default");
    if (copy_value(o->api_key, sizeof(o->api_key), S_API_KEY))
        return 2;
    if (copy_value(o->keys_file, sizeof(o->keys_file), S_KEYS_FILE))
        return 2;
    o->cors_set = table[S_CORS].value[0] != 0;
    if (copy_value(o->cors_origins, sizeof(o->cors_origins), S_CORS))
        return 2;
    if (table[S_LEADER_KEY].value[0]) {
        if (copy_value(o->leader_api_key, sizeof(o->leader_api_key), S_LEADER_KEY))
            return 2;
    } else {
        memcpy(o->leader_api_key, o->api_key, sizeof(o->leader_api_key));
    }
    const char *etcd = getenv("HS_ETCD_ENDPOINTS"); /* failover finds the leader (failover.c) */
    if (ieq(o->role, "follower") && !o->leader[0] && !(etcd && *etcd))
        return config_error("--role follower needs --leader (or HS_LEADER)");
    return 0;
}

static void warn_unknown(char **envp)
{
    char unknown[2048] = "";
    for (char **e = envp; e && *e; e++) {
        if (strncmp(*e, "HS_", 3) && strncmp(*e, "HYPERSPACE_", 11) && strncmp(*e, "RUST_LOG=", 9))
            continue;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
        bool known = by_env(name) != NULL, ign = !strncmp(name, "HYPERSPACE_EMBED", 16);
        for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
            ign = ign || !strcmp(name, ignored[i]);
        if (ign)
            hs_log(HS_LOG_WARN, "Ignoring %s: not used by this server", name);
        else if (!known && strlen(unknown) + strlen(name) + 3 < sizeof(unknown))
            strcat(strcat(unknown, unknown[0] ? ", " : ""), name);
    }
    if (unknown[0])
        hs_log(HS_LOG_WARN, "Unknown settings in the environment (ignored): %s", unknown);
}

extern char **environ;

int hs_settings_load(hs_settings *o, int argc, char **argv)
{
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 1;
        }
        if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            printf("hyperspace-server %d.%d.%d (API %s)\n", HS_VERSION_MAJOR, HS_VERSION_MINOR,
                   HS_VERSION_PATCH, HS_API_VERSION);
            return 1;
        }
        char flag[64];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        if (eq && a[0] == '-' && a[1] == '-') {
            snprintf(flag, sizeof(flag), "%.*s", (int)(eq - a), a);
            val = eq + 1;
        } else {
            snprintf(flag, sizeof(flag), "%s", a);
        }
        bool is_config = !strcmp(flag, "--config");
        setting *s = is_config ? NULL : by_flag(flag);
        if (!is_config && !s) {
            usage();
            return config_error("unknown argument '%s'", a);
        }
        if (!val) {
            if (i + 1 >= argc)
                return config_error("%s needs a value", flag);
            val = argv[++i];
        }
        if (is_config)
            config = val;
        else
            put(s, val, "flag");
    }
    for (int i = 0; i < S_COUNT; i++) {
        setting *s = &table[i];
        if (s->set)
            continue;
        const char *v = s->env ? getenv(s->env) : NULL;
        if (!v && s->alias)
            v = getenv(s->alias);
        if (v && (*v || s->empty_is_error))
            put(s, v, "environment");
    }
    int rc = read_file(config ? config : ".env", config != NULL);
    if (rc)
        return rc;
    for (int i = 0; i < S_COUNT; i++)
        if (!table[i].set || (!table[i].value[0] && !table[i].empty_is_error))
            put(&table[i], table[i].def, "default");
    rc = convert(o);
    if (rc == 0)
        warn_unknown(environ);
    return rc;
}

void hs_settings_log(const hs_settings *o)
{
    (void)o;
    for (int i = 0; i < S_COUNT; i++) {
        const setting *s = &table[i];
        const char *name = s->env ? s->env : s->flag;
        bool redact = s->secret && s->value[0];
        hs_log(HS_LOG_INFO, "setting %s = %s (%s)", name,
               redact ? "<redacted>" : (s->value[0] ? s->value : "<unset>"), s->source);
    }
}
