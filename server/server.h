/*
 * server.h: hyperspace-server, the engine behind gRPC (:50051) and HTTP (:50050).
 *
 *   main.c        start-up order (B12.1), signals, graceful shutdown (B12.2)
 *   config.c      settings: flags > environment > settings file > defaults (B10)
 *   logring.c     log lines to stdout and to a ring buffer for /api/logs (B12.3)
 *   auth.c        API keys (SHA-256 digests only), roles, tenants (B9, B1.1)
 *   errors.c      one table: engine failure -> spec error -> gRPC status, HTTP status and code
 *   ops.c         permission and node-state checks, collection lookup with the default
 *                 collection, the node's role, the query counter
 *   ops.h         the transport-free operations layer (ops_collections.c, ops_points.c):
 *                 request structs in, result + hs_fail out; validation, engine call, metrics
 *   grpc_server.c gRPC core completion-queue threads and the call state machine
 *   grpc_api.c    the RPCs of hyperspace.Database
 *   http_server.c libmicrohttpd: connections, limits, the connection guard
 *   http_api.c    the request stages, routing, CORS, the error envelope (http_int.h); the routes
 *                 in http_collections.c, http_points.c, http_node.c with http_json.c and
 *                 http_fields.c (http_route.h)
 *   metrics.c     counters, histograms, the Prometheus text
 * The server uses only include/hyperspace.h plus util (logging, number formatting, UTF-8).
 */
#ifndef HS_SERVER_H
#define HS_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hyperspace.h"

#define HS_API_VERSION "2.0.0"
#define HS_DEFAULT_TENANT "default_admin"

/* ---- settings (config.c) ------------------------------------------------------------------- */

typedef struct hs_settings {
    char host[256];
    int grpc_port, http_port;
    char data_dir[1024];
    char snapshot_dir[1024]; /* "" = <data_dir>/.snapshots */
    char role[16]; /* "" = persisted or leader */
    char leader[256];
    char leader_target[300]; /* the gRPC target of `leader`: "host:port" ("" when no leader) */
    uint32_t dimension;
    hs_metric metric;
    hs_quantization quantization;
    uint32_t m, ef_construction, ef_search;
    uint32_t indexer_threads;
    uint32_t idle_timeout_sec, max_loaded;
    uint32_t max_collections_per_tenant, checkpoint_min_log_bytes;
    uint64_t memory_limit, wal_retain_bytes;
    uint32_t sync_replicas;   /* followers that must confirm a write (0 = asynchronous) */
    uint32_t sync_timeout_ms; /* how long a write waits for them */
    uint32_t repl_verify_sec; /* follower digest checks: period in seconds, 0 = off */
    bool narrow_copy;         /* HS_NARROW_COPY (hs_db_opts.no_narrow is its negation) */
    char api_key[512];
    bool api_key_set;
    char keys_file[1024];
    hs_durability wal_mode;
    uint32_t wal_batch_ms;
    uint32_t snapshot_interval_sec;
    uint32_t max_body_mb;
    uint32_t http_header_timeout_sec, http_max_conn, http_max_conn_per_ip;
    char cors_origins[1024];
    bool cors_set;
    char leader_api_key[512];
    hs_log_level log_level;
} hs_settings;

/* Parses argv, the environment and the settings file.  On a usage or configuration error prints
 * a message naming the setting, its value and its source, and returns 2; --help / --version
 * print and return 1 (exit 0).  Returns 0 to run. */
int hs_settings_load(hs_settings *s, int argc, char **argv);
/* Logs every effective setting with its source (keys redacted). */
void hs_settings_log(const hs_settings *s);

/* ---- logging (logring.c) ------------------------------------------------------------------- */

void hs_logring_init(hs_log_level level);
/* Copies up to `limit` of the most recent lines, oldest first; returns how many. */
size_t hs_logring_tail(char ***lines, size_t limit);
void hs_logring_free(char **lines, size_t n);

/* ---- authentication (auth.c) --------------------------------------------------------------- */

typedef enum hs_role { HS_ROLE_NONE = 0, HS_ROLE_READER = 1, HS_ROLE_WRITER = 2, HS_ROLE_ADMIN = 3 } hs_role;

typedef struct hs_principal {
    hs_role role;
    bool global;              /* not bound to a tenant */
    char tenant[HS_NAME_MAX + 1];
} hs_principal;

int hs_auth_init(const hs_settings *s);
/* Reloads the keys file (SIGHUP); keeps the old keys when the new file is invalid. */
void hs_auth_reload(void);
bool hs_auth_enabled(void);

/* The outcome of authentication + tenant resolution for one request. */
typedef struct hs_authn {
    int err;                  /* 0 or an HS_ERR_* id */
    hs_principal who;
    char tenant[HS_NAME_MAX + 1];
    char bad_tenant[80];      /* the rejected tenant value, for the message */
} hs_authn;

/* key: the presented key (x-api-key, else the Bearer token), NULL when absent.  tenant_header:
 * x-hyperspace-user-id or NULL. */
void hs_authenticate(const char *key, size_t key_len, const char *tenant_header,
                     size_t tenant_len, hs_authn *out);

/* ---- errors (errors.c) --------------------------------------------------------------------- */

#define HS_ERR_MAP(X)                                                                 \
    X(AUTH_MISSING, UNAUTHENTICATED, 401, "UNAUTHENTICATED")                          \
    X(AUTH_INVALID, UNAUTHENTICATED, 401, "UNAUTHENTICATED")                          \
    X(TENANT_INVALID, INVALID_ARGUMENT, 400, "INVALID_TENANT")                        \
    X(TENANT_FORBIDDEN, PERMISSION_DENIED, 403, "PERMISSION_DENIED")                  \
    X(ROLE, PERMISSION_DENIED, 403, "PERMISSION_DENIED")                              \
    X(GLOBAL_ADMIN, PERMISSION_DENIED, 403, "PERMISSION_DENIED")                      \
    X(STARTING, UNAVAILABLE, 503, "UNAVAILABLE")                                      \
    X(SHUTTING_DOWN, UNAVAILABLE, 503, "UNAVAILABLE")                                 \
    X(FOLLOWER_WRITE, FAILED_PRECONDITION, 409, "FOLLOWER_READ_ONLY")                 \
    X(NAME_EMPTY, INVALID_ARGUMENT, 400, "INVALID_NAME")                              \
    X(NAME_INVALID, INVALID_ARGUMENT, 400, "INVALID_NAME")                            \
    X(NOT_FOUND, NOT_FOUND, 404, "COLLECTION_NOT_FOUND")                              \
    X(EXISTS, ALREADY_EXISTS, 409, "ALREADY_EXISTS")                                  \
    X(DIMENSION_RANGE, INVALID_ARGUMENT, 400, "INVALID_DIMENSION")                    \
    X(METRIC, INVALID_ARGUMENT, 400, "INVALID_METRIC")                                \
    X(QUANTIZATION, INVALID_ARGUMENT, 400, "INVALID_QUANTIZATION")                    \
    X(PARAM_RANGE, INVALID_ARGUMENT, 400, "INVALID_PARAMETER")                        \
    X(TOPK, INVALID_ARGUMENT, 400, "INVALID_PARAMETER")                               \
    X(ALPHA, INVALID_ARGUMENT, 400, "INVALID_PARAMETER")                              \
    X(FILTER, INVALID_ARGUMENT, 400, "INVALID_FILTER")                                \
    X(VECTOR_EMPTY, INVALID_ARGUMENT, 400, "INVALID_VECTOR")                          \
    X(DIMENSION_MISMATCH, INVALID_ARGUMENT, 400, "DIMENSION_MISMATCH")                \
    X(NONFINITE, INVALID_ARGUMENT, 400, "INVALID_VECTOR")                             \
    X(ZERO_COSINE, INVALID_ARGUMENT, 400, "INVALID_VECTOR")                           \
    X(OUT_OF_BALL, INVALID_ARGUMENT, 400, "OUT_OF_BALL")                              \
    X(NOT_ON_HYPERBOLOID, INVALID_ARGUMENT, 400, "INVALID_VECTOR")                    \
    X(METADATA, INVALID_ARGUMENT, 400, "INVALID_METADATA")                            \
    X(UNIMPLEMENTED, UNIMPLEMENTED, 501, "UNIMPLEMENTED")                             \
    X(WAL_IO, INTERNAL, 500, "STORAGE_ERROR")                                         \
    X(READ_ONLY, INTERNAL, 500, "COLLECTION_READ_ONLY")                               \
    X(NO_SPACE, RESOURCE_EXHAUSTED, 507, "INSUFFICIENT_STORAGE")                      \
    X(NO_MEMORY, RESOURCE_EXHAUSTED, 503, "RESOURCE_EXHAUSTED")                       \
    X(QUOTA, RESOURCE_EXHAUSTED, 429, "QUOTA_EXCEEDED")                               \
    X(MEMORY_LIMIT, RESOURCE_EXHAUSTED, 507, "MEMORY_LIMIT")                           \
    X(LOAD_FAILED, INTERNAL, 500, "COLLECTION_UNAVAILABLE")                           \
    X(INTERNAL, INTERNAL, 500, "INTERNAL")                                            \
    X(JSON, INVALID_ARGUMENT, 400, "INVALID_JSON")                                    \
    X(FIELD, INVALID_ARGUMENT, 400, "INVALID_ARGUMENT")                               \
    X(BODY_TOO_LARGE, RESOURCE_EXHAUSTED, 413, "PAYLOAD_TOO_LARGE")                   \
    X(MEDIA_TYPE, INVALID_ARGUMENT, 415, "UNSUPPORTED_MEDIA_TYPE")                    \
    X(ROUTE, NOT_FOUND, 404, "ROUTE_NOT_FOUND")                                       \
    X(METHOD, UNIMPLEMENTED, 405, "METHOD_NOT_ALLOWED")                               \
    X(POINT_NOT_FOUND, NOT_FOUND, 404, "POINT_NOT_FOUND")                             \
    X(CURSOR, INVALID_ARGUMENT, 400, "INVALID_CURSOR")                                \
    X(LOG_TRUNCATED, OUT_OF_RANGE, 410, "LOG_TRUNCATED")                              \
    X(CLOCK_AHEAD, OUT_OF_RANGE, 400, "CLOCK_AHEAD")                                  \
    X(BINARY, INVALID_ARGUMENT, 400, "INVALID_BINARY_BODY")                           \
    X(SELECTOR, INVALID_ARGUMENT, 400, "INVALID_ARGUMENT")                            \
    X(HEADERS, INVALID_ARGUMENT, 431, "HEADERS_TOO_LARGE")                            \
    X(INVALID_ARGUMENT, INVALID_ARGUMENT, 400, "INVALID_ARGUMENT")                    \
    X(FROZEN, FAILED_PRECONDITION, 409, "COLLECTION_FROZEN")                          \
    X(SNAPSHOT_NAME, INVALID_ARGUMENT, 400, "INVALID_SNAPSHOT_NAME")                  \
    X(SNAPSHOT_NOT_FOUND, NOT_FOUND, 404, "SNAPSHOT_NOT_FOUND")                       \
    X(SNAPSHOT_EXISTS, ALREADY_EXISTS, 409, "ALREADY_EXISTS")                         \
    X(SNAPSHOT_DAMAGED, DATA_LOSS, 422, "SNAPSHOT_DAMAGED")                           \
    X(FOLLOWER_REPLICATE, FAILED_PRECONDITION, 409, "FOLLOWER_REPLICATE")             \
    X(REPL_SLOW, UNAVAILABLE, 503, "REPLICATION_SLOW")                                \
    X(REPL_RESYNC, FAILED_PRECONDITION, 410, "RESYNC_REQUIRED")                       \
    X(REPL_TIMEOUT, UNAVAILABLE, 503, "REPLICATION_TIMEOUT")

enum {
    HS_ERR_NONE = 0,
#define HS_ERR_ENUM_(id, grpc, http, code) HS_ERR_##id,
    HS_ERR_MAP(HS_ERR_ENUM_)
#undef HS_ERR_ENUM_
};

/* A failure to report: the spec error and the exact message (details for HTTP). */
typedef struct hs_fail {
    int id; /* HS_ERR_*, 0 = none */
    char message[512];
    char details[256]; /* JSON object members (without braces) for the HTTP envelope, or "" */
    long entry1;       /* the failing point of a batch + 1 (HTTP details "index"), 0 = none */
} hs_fail;

int hs_fail_set(hs_fail *f, int id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Converts an engine failure (rc + hs_error) into the spec error. */
int hs_fail_from_engine(hs_fail *f, int rc, const hs_error *err);
int hs_err_grpc_status(int id);
int hs_err_http_status(int id);
const char *hs_err_http_code(int id);
const char *hs_grpc_status_name(int status);

/* ---- the running server (main.c) and the operations both transports share (ops.c) --------- */

enum { SRV_STARTING = 0, SRV_READY = 1, SRV_STOPPING = 2 };

typedef struct hs_srv {
    hs_db *db;
    hs_settings cfg;
    int state;           /* atomic: SRV_* */
    bool follower;
    uint64_t start_ns;   /* monotonic */
    double start_unix;   /* wall clock */
    char node_id[40];
} hs_srv;

extern hs_srv g_srv;

/* The checks every request makes after authentication (B9.3 steps 3 and 4): the role (and a
 * global admin key when `global`), the node state, and for writes the follower rule.  op is the
 * operation's name for messages ("Insert", "POST /api/collections/{name}/insert"). */
int hs_ops_permit(const hs_authn *a, hs_role need, bool global, bool write, const char *op,
                  hs_fail *f);

/* Opens a collection of the tenant.  name "" means "default"; when `create_default` and the
 * default collection is missing, it is created with the server defaults (B7.1). */
int hs_ops_open(const char *tenant, const char *name, bool create_default, hs_collection **h,
                hs_fail *f);

/* The node's role at start-up (B11.1, B11.7): from --role, else as recorded, else leader;
 * recorded durably.  Returns 0, or 2 (exit code) when the role cannot be taken: a follower
 * without a leader address, or a leader's data directory holding collections started as a
 * follower (logged).  persist writes the role durably (promotion). */
int hs_ops_role_init(void);
int hs_node_promote(void);
int hs_ops_role_persist(bool follower);

/* Statistics of a collection by name (loads nothing, not counted as a use). */
int hs_ops_stats_named(const char *tenant, const char *name, hs_collection_stats *st,
                       hs_error *err);

/* Creates the default tenant's default collection when missing (start-up, leader only). */
void hs_ops_ensure_default(void);

/* Parses a metric / quantization name (case-insensitive); false when unknown. */
bool hs_parse_metric(const char *s, hs_metric *m);
bool hs_parse_quant(const char *s, hs_quantization *q);
const char *hs_metric_name(hs_metric m);
const char *hs_quant_name(hs_quantization q);

/* The error of a failed authentication / tenant resolution. */
int hs_auth_fail(const hs_authn *a, hs_fail *f);

/* Monotonic nanoseconds. */
uint64_t hs_now_ns_srv(void);

/* ---- metrics (metrics.c) ------------------------------------------------------------------- */

/* Starts receiving the engine's timings (collection loads, WAL fsyncs). */
void hs_metrics_init(void);
void hs_metrics_request(const char *transport, const char *method, const char *status,
                        double seconds);
void hs_metrics_auth_failure(const char *transport);
/* Per-collection counters: searches (with duration), upserts, deletes. */
void hs_metrics_search(const char *tenant, const char *name, double seconds);
void hs_metrics_upserts(const char *tenant, const char *name, uint64_t n);
void hs_metrics_deletes(const char *tenant, const char *name, uint64_t n);
void hs_metrics_forget(const char *tenant, const char *name);
/* The Prometheus text exposition (caller frees). */
char *hs_metrics_text(size_t *len);
/* Resident memory in bytes, CPU seconds, CPU % over the last window (0..100). */
uint64_t hs_process_rss(void);
double hs_process_cpu_seconds(void);
double hs_process_cpu_percent(void);
/* Allocated bytes of the data directory. */
uint64_t hs_data_dir_bytes(void);

/* Counts one finished search query (for qps and the metrics). */
void hs_ops_count_search(void);
double hs_ops_qps(void);

/* ---- transports ---------------------------------------------------------------------------- */

typedef struct hs_grpc hs_grpc;
int hs_grpc_start(const char *host, int port, hs_grpc **out);
/* Stops accepting, ends streams with UNAVAILABLE, waits up to `grace_ms` for calls in flight. */
void hs_grpc_stop(hs_grpc *g, int grace_ms);

typedef struct hs_http hs_http;
int hs_http_start(const char *host, int port, hs_http **out);
void hs_http_stop(hs_http *h);

/* ---- the change stream (events.c), shared by gRPC SubscribeToEvents and HTTP /events ---- */

/* Installs the engine's change observer, which moves the generation below; observed: whether
 * it is installed (without it no change would end a wait: the fuzz targets). */
void hs_events_observe(hs_db *db);
bool hs_events_observed(void);
/* The generation: moves on every applied change and every poke. */
uint64_t hs_events_gen(void);
/* Moves the generation and wakes every waiter (a message sent, a client gone, shutdown). */
void hs_events_poke(void);
/* Waits until the generation differs from `seen` (true) or timeout_ms passed (false). */
bool hs_events_wait(uint64_t seen, int timeout_ms);
/* The collections changed since the previous take, as bits of hs_events_key (cleared by the
 * take: one reader of the set, the gRPC stream thread). */
#define HS_EVENTS_KEYS 4096
unsigned hs_events_key(const char *tenant, const char *name);
void hs_events_take_dirty(uint64_t out[HS_EVENTS_KEYS / 64]);

/* A subscription's request, transport-free: the collection ("" = default, never created), the
 * change kinds wanted (bits 1 << HS_CHANGE_*, 0 = all), after `after` or from now. */
typedef struct hs_op_events_req {
    const char *collection;
    unsigned kinds;
    bool has_after;
    uint64_t after;
} hs_op_events_req;
/* Opens the reader (name check, the engine's reader, its failures as the API's). */
int hs_op_events_open(const char *tenant, const hs_op_events_req *q, hs_changes **out,
                      hs_fail *f);
/* The API's failure for a reader's error (hs_changes_next). */
int hs_op_events_fail(const char *name, int rc, const hs_error *err, hs_fail *f);
/* The node-wide stream of one tenant: every collection's changes in clock order, after
 * q->after (or from the applied clock when !q->has_after; q->collection is not read). */
int hs_op_node_events_open(const hs_op_events_req *q, hs_node_changes **out, hs_fail *f);
/* The next change of `tenant` of the wanted kinds (0 = all): *got = 1 with *out, 0 when there
 * is none yet, -1 when NODE_SKIP_MAX changes of others were passed over (call again at once;
 * the position moved). */
int hs_op_node_events_next(hs_node_changes *r, const char *tenant, unsigned kinds,
                           hs_node_change *out, int *got, hs_fail *f);

#endif /* HS_SERVER_H */
