/*
 * http_server.c: the HTTP listener on libmicrohttpd (spec http.md section 1).
 *
 * One thread per connection (handlers block on the engine: a rebuild or a strict write must not
 * stall other connections), at most HS_HTTP_MAX_CONNECTIONS (1024) connections and
 * HS_HTTP_MAX_CONNECTIONS_PER_IP (128) per client address, request headers complete within
 * HS_HTTP_HEADER_TIMEOUT_SEC (10 s) (the connection guard below), idle keep-alive connections of
 * authenticated clients closed after 60 s.  libmicrohttpd calls the handler first with the headers only: stage 1 (http_api.c)
 * answers there whenever it can, so a request refused for its key, its size or its media type
 * never has its body read.  Otherwise the body is collected up to the limit (a chunked body
 * that grows past it is discarded and answered 413) and stage 2 runs.
 *
 * Paths reach the API layer undecoded (the unescape callback is the identity), so a `%2F` in a
 * collection name is seen, decoded and rejected by the name rule instead of splitting the path.
 */
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "server/http_int.h"
#include "util/log.h"

/*
 * Connection guard (http.md "Connections").  libmicrohttpd's own timeout is an idle timeout
 * that every received byte restarts, so a client sending one header byte at a time holds its
 * connection (and its thread) forever, and 1,024 such clients shut HTTP out.  So:
 *  - a connection is *pending* from accept until a request on it is authenticated (its headers
 *    complete and its key accepted); a request that is not (a 401, /healthz) is answered and
 *    the connection stays pending, its clock restarting when the answer is done; a pending
 *    connection older than the header timeout is closed by a sweeper thread (shutdown(2) on its socket; libmicrohttpd then sees the end and cleans up);
 *  - pending connections may hold at most 7/8 of the connection limit: when one more arrives,
 *    the oldest pending one is closed, so the last 1/8 is always there for requests that get
 *    past their headers quickly, which is what /healthz and every real client do;
 *  - libmicrohttpd's per-address limit caps what one client address can hold.
 * A connection that carried an authenticated request is no longer pending between requests: it
 * keeps the ordinary 60 s idle timeout.  PostgreSQL's authentication_timeout and
 * superuser_reserved_connections are the same two ideas.
 *
 * Locking: every slot field marked below is guarded by guard.mu, taken by libmicrohttpd's
 * threads (connection start and end, the handler, request completion) and by the sweeper.  A
 * slot is unlinked in the connection-closed notification, which libmicrohttpd sends before it
 * closes the socket, so a socket shut down under guard.mu is never a reused descriptor.
 */
typedef struct slot {
    struct slot *prev, *next; /* the pending list, oldest first; guarded by guard.mu */
    bool pending;             /* guarded by guard.mu */
    bool trusted;             /* an authenticated request went through; guarded by guard.mu */
    uint64_t since_ns;        /* pending since (monotonic); guarded by guard.mu */
    int fd;                   /* immutable after start */
} slot;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot *head, *tail;  /* guarded by mu */
    size_t npending;    /* guarded by mu */
    size_t cap;         /* pending connections allowed; immutable while running */
    uint64_t header_ns; /* immutable while running */
    bool stop;          /* guarded by mu */
    uint64_t cut_late, cut_oldest; /* guarded by mu; logged by the sweeper */
    pthread_t sweeper;
} guard = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static void pending_unlink_locked(slot *sl)
{
    if (!sl->pending)
        return;
    if (sl->prev)
        sl->prev->next = sl->next;
    else
        guard.head = sl->next;
    if (sl->next)
        sl->next->prev = sl->prev;
    else
        guard.tail = sl->prev;
    sl->prev = sl->next = NULL;
    sl->pending = false;
    guard.npending--;
}

/* Closes a pending connection: its thread sees the end of the stream and cleans up. */
static void pending_cut_locked(slot *sl)
{
    pending_unlink_locked(sl);
    shutdown(sl->fd, SHUT_RDWR);
}

static void pending_add_locked(slot *sl)
{
    pending_unlink_locked(sl);
    sl->since_ns = hs_now_ns_srv();
    sl->pending = true;
    sl->prev = guard.tail;
    sl->next = NULL;
    if (guard.tail)
        guard.tail->next = sl;
    else
        guard.head = sl;
    guard.tail = sl;
    guard.npending++;
    if (guard.npending > guard.cap) {
        guard.cut_oldest++;
        pending_cut_locked(guard.head);
    }
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        slot *sl = calloc(1, sizeof(*sl));
        *socket_context = sl;
        if (!sl || !ci)
            return;
        sl->fd = ci->connect_fd;
        pthread_mutex_lock(&guard.mu);
        pending_add_locked(sl);
        pthread_mutex_unlock(&guard.mu);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        slot *sl = *socket_context;
        if (!sl)
            return;
        pthread_mutex_lock(&guard.mu);
        pending_unlink_locked(sl);
        pthread_mutex_unlock(&guard.mu);
        free(sl);
        *socket_context = NULL;
    }
}

static slot *slot_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The request's headers are complete and it was authenticated: the connection is trusted.  An
 * unauthenticated request (answered at once: 401, /healthz) leaves its connection pending, so
 * a body it keeps trickling after the answer is under the same deadline. */
static void slot_trusted(struct MHD_Connection *conn)
{
    slot *sl = slot_of(conn);
    if (!sl)
        return;
    pthread_mutex_lock(&guard.mu);
    pending_unlink_locked(sl);
    sl->trusted = true;
    pthread_mutex_unlock(&guard.mu);
}

/* The request was answered: an untrusted connection waits for its next headers as pending. */
static void slot_request_done(struct MHD_Connection *conn)
{
    slot *sl = slot_of(conn);
    if (!sl)
        return;
    pthread_mutex_lock(&guard.mu);
    if (!sl->trusted)
        pending_add_locked(sl);
    pthread_mutex_unlock(&guard.mu);
}

#define SWEEP_MS 200        /* how late past its deadline a pending connection may be closed */
#define SWEEP_LOG_NS 10000000000ull /* at most one log line about closed connections per 10 s */

static void *sweeper_main(void *arg)
{
    (void)arg;
    uint64_t last_log = 0;
    pthread_mutex_lock(&guard.mu);
    while (!guard.stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += SWEEP_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&guard.cv, &guard.mu, &ts);
        uint64_t now = hs_now_ns_srv();
        while (guard.head && now - guard.head->since_ns >= guard.header_ns) {
            guard.cut_late++;
            pending_cut_locked(guard.head);
        }
        if ((guard.cut_late || guard.cut_oldest) && now - last_log >= SWEEP_LOG_NS) {
            hs_log(HS_LOG_WARN,
                   "http: closed %llu connections without complete request headers after %llu s "
                   "and %llu oldest ones to keep the reserve",
                   (unsigned long long)guard.cut_late,
                   (unsigned long long)(guard.header_ns / 1000000000ull),
                   (unsigned long long)guard.cut_oldest);
            guard.cut_late = guard.cut_oldest = 0;
            last_log = now;
        }
    }
    pthread_mutex_unlock(&guard.mu);
    return NULL;
}

/* The connection limit, lowered when the descriptor limit cannot hold it with room to spare
 * for the engine's files and gRPC (FD_SPARE). */
#define FD_SPARE 512
static unsigned connection_limit(unsigned want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want;
    rlim_t need = (rlim_t)want + FD_SPARE;
    if (rl.rlim_cur < need && rl.rlim_cur != RLIM_INFINITY) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        unsigned got = rl.rlim_cur > FD_SPARE + 16 ? (unsigned)(rl.rlim_cur - FD_SPARE) : 16;
        hs_log(HS_LOG_WARN, "HS_HTTP_MAX_CONNECTIONS=%u does not fit the descriptor limit %llu: "
               "using %u", want, (unsigned long long)rl.rlim_cur, got);
        return got;
    }
    return want;
}

struct hs_http {
    struct MHD_Daemon *d;
    bool sweeping;
};

typedef struct hconn {
    hs_hstate st;
    hs_hresp resp;
    bool answered;  /* stage 1 answered: discard any body */
    bool too_large; /* the body grew past the limit */
    char *body;
    size_t len, cap;
    char nul_name[64]; /* the header that held a NUL (find_nul) */
} hconn;

typedef struct lookup {
    struct MHD_Connection *conn;
} lookup;

static const char *get_header(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(((lookup *)ctx)->conn, MHD_HEADER_KIND, name);
}

static const char *get_arg(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(((lookup *)ctx)->conn, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

static size_t identity_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/*
 * Embedded NULs in the request line or a header.  libmicrohttpd 0.9.75 hands strings over as C
 * strings, so "x-api-key: key\0junk" arrives as "key" with nothing to tell.  It parses the
 * header block in place, though: the method, the target, the version, the query arguments and
 * every header name and value point into one buffer of MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE
 * bytes starting at the method, with the separators it consumed (spaces, ':', '?', '&', '=',
 * CR, LF) overwritten by 0 bytes.  So every byte of that block is either inside a string we are
 * given or a 0 / space / tab between two of them; anything else is what a NUL cut off.  When the
 * strings are not laid out that way (another libmicrohttpd), the check finds nothing and
 * changes nothing.
 */
typedef struct span {
    const char *p;
    size_t len;
    const char *line; /* the header name, or NULL for the request line */
} span;

typedef struct spans {
    span *v;
    size_t n, cap;
} spans;

static void span_add(spans *s, const char *p, size_t len, const char *line)
{
    if (p && s->n < s->cap)
        s->v[s->n++] = (span){p, len, line};
}

static enum MHD_Result collect_span(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_len, const char *value, size_t value_len)
{
    spans *s = cls;
    const char *line = kind == MHD_HEADER_KIND ? key : NULL;
    span_add(s, key, key_len, line);
    span_add(s, value, value_len, line);
    return MHD_YES;
}

static int span_cmp(const void *a, const void *b)
{
    const char *x = ((const span *)a)->p, *y = ((const span *)b)->p;
    return x < y ? -1 : x > y;
}

/* The header whose line holds a NUL ("" for the request line), or NULL when none does. */
static const char *find_nul(struct MHD_Connection *conn, const char *url, const char *method,
                            const char *version, char *name, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (!ci || !ci->header_size || !method || !url || !version)
        return NULL;
    const char *lo = method, *hi = method + ci->header_size;
    if (url < lo || url >= hi || version < lo || version >= hi)
        return NULL; /* not parsed in place */
    enum MHD_ValueKind kinds = MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND;
    int count = MHD_get_connection_values_n(conn, kinds, NULL, NULL);
    spans s = {calloc((size_t)(count > 0 ? count : 0) * 2 + 3, sizeof(span)), 0,
               (size_t)(count > 0 ? count : 0) * 2 + 3};
    if (!s.v)
        return NULL;
    span_add(&s, method, strlen(method), NULL);
    span_add(&s, url, strlen(url), NULL);
    span_add(&s, version, strlen(version), NULL);
    MHD_get_connection_values_n(conn, kinds, collect_span, &s);
    size_t k = 0;
    for (size_t i = 0; i < s.n; i++) /* cookies are parsed from a copy: not in the block */
        if (s.v[i].p >= lo && s.v[i].p + s.v[i].len <= hi)
            s.v[k++] = s.v[i];
    qsort(s.v, k, sizeof(span), span_cmp);
    const char *at = lo, *found = NULL;
    const span *prev = NULL;
    for (size_t i = 0; i <= k && !found; i++) {
        const char *next = i < k ? s.v[i].p : hi;
        for (const char *q = at; q < next && !found; q++)
            if (*q != 0 && *q != ' ' && *q != '\t')
                found = prev && prev->line ? prev->line : "";
        if (i < k) {
            if (s.v[i].p + s.v[i].len > at)
                at = s.v[i].p + s.v[i].len;
            prev = &s.v[i];
        }
    }
    if (found) {
        snprintf(name, cap, "%s", found);
        found = name;
    }
    free(s.v);
    return found;
}

static void fill_req(struct MHD_Connection *conn, const char *url, const char *method,
                     lookup *lk, hs_hreq *req)
{
    memset(req, 0, sizeof(*req));
    lk->conn = conn;
    req->method = method;
    req->path = url;
    req->header = get_header;
    req->arg = get_arg;
    req->ctx = lk;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &req->header_bytes);
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end;
        unsigned long long v = strtoull(cl, &end, 10);
        if (end != cl) {
            req->has_length = true;
            req->content_length = v;
        }
    }
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, const hs_hreq *req, hconn *hc)
{
    hs_http_finalize(req, &hc->st, &hc->resp);
    hs_hresp *r = &hc->resp;
    struct MHD_Response *mr;
    if (r->has_file) {
        /* a download: libmicrohttpd sends the file (sendfile) and closes it */
        mr = MHD_create_response_from_fd64(r->file_len, r->file_fd);
        if (mr)
            r->has_file = false;
    } else {
        mr = MHD_create_response_from_buffer(r->len, r->body ? r->body : (void *)"",
                                             r->body ? MHD_RESPMEM_MUST_FREE
                                                     : MHD_RESPMEM_PERSISTENT);
        if (mr) {
            r->body = NULL; /* owned by the response now */
            r->len = 0;
        }
    }
    if (!mr)
        return MHD_NO;
    if (r->content_type)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    for (int i = 0; i < r->nheaders; i++)
        MHD_add_response_header(mr, r->headers[i].name, r->headers[i].value);
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ok;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)cls;
    hconn *hc = *con_cls;
    lookup lk;
    hs_hreq req;
    if (!hc) {
        hc = calloc(1, sizeof(*hc));
        if (!hc)
            return MHD_NO;
        *con_cls = hc;
        fill_req(conn, url, method, &lk, &req);
        req.nul_header = find_nul(conn, url, method, version, hc->nul_name,
                                  sizeof(hc->nul_name));
        bool answered = hs_http_prepare(&req, &hc->st, &hc->resp);
        if (!hc->st.auth.err && hc->st.auth.who.role != HS_ROLE_NONE)
            slot_trusted(conn);
        if (answered) {
            hc->answered = true;
            return send_resp(conn, &req, hc);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (hc->answered || hc->too_large)
            return MHD_YES; /* discarded */
        if (hc->st.streamed) {
            hs_http_stream(&hc->st, upload, n); /* a snapshot upload: to disk as it arrives */
            return MHD_YES;
        }
        if ((uint64_t)hc->len + n > hs_http_body_limit()) {
            hc->too_large = true;
            free(hc->body);
            hc->body = NULL;
            hc->len = hc->cap = 0;
            return MHD_YES;
        }
        if (hc->len + n > hc->cap) {
            size_t cap = hc->cap ? hc->cap : 4096;
            while (cap < hc->len + n)
                cap *= 2;
            char *b = realloc(hc->body, cap);
            if (!b)
                return MHD_NO;
            hc->body = b;
            hc->cap = cap;
        }
        memcpy(hc->body + hc->len, upload, n);
        hc->len += n;
        return MHD_YES;
    }
    if (hc->answered)
        return MHD_YES;
    hc->answered = true;
    fill_req(conn, url, method, &lk, &req);
    if (hc->too_large) {
        hs_http_too_large(&hc->st, &hc->resp);
    } else {
        req.body = hc->body;
        req.body_len = hc->len;
        hs_http_run(&req, &hc->st, &hc->resp);
    }
    return send_resp(conn, &req, hc);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)toe;
    hconn *hc = *con_cls;
    if (!hc)
        return;
    slot_request_done(conn);
    hs_http_stream_abort(&hc->st); /* an upload the connection lost before its end */
    hs_hresp_free(&hc->resp);
    free(hc->body);
    free(hc);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    hs_log(HS_LOG_DEBUG, "http: %s", line);
}

int hs_http_start(const char *host, int port, hs_http **out)
{
    *out = NULL;
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ports[16];
    snprintf(ports, sizeof(ports), "%d", port);
    int gai = getaddrinfo(host, ports, &hints, &ai);
    if (gai != 0) {
        hs_log(HS_LOG_ERROR, "cannot resolve '%s': %s", host, gai_strerror(gai));
        return -1;
    }
    hs_http *h = calloc(1, sizeof(*h));
    if (!h) {
        freeaddrinfo(ai);
        return -1;
    }
    if (g_srv.cfg.cors_set && strchr(g_srv.cfg.cors_origins, '*') && hs_auth_enabled())
        hs_log(HS_LOG_WARN, "HS_CORS_ORIGINS allows every origin while API keys are configured: "
                            "any web page can call the API with a key a browser holds");
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    const hs_settings *cfg = &g_srv.cfg;
    unsigned limit = connection_limit(cfg->http_max_conn ? cfg->http_max_conn : 1024);
    unsigned per_ip = cfg->http_max_conn_per_ip;
    guard.cap = limit - (limit / 8 > 0 ? limit / 8 : 1);
    guard.header_ns =
        (uint64_t)(cfg->http_header_timeout_sec ? cfg->http_header_timeout_sec : 10) * 1000000000ull;
    guard.stop = false;
    h->d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_CONNECTION_LIMIT, limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(128 * 1024), MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, notify_connection, NULL, MHD_OPTION_UNESCAPE_CALLBACK,
        identity_unescape, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->d) {
        free(h);
        return -1;
    }
    h->sweeping = pthread_create(&guard.sweeper, NULL, sweeper_main, NULL) == 0;
    hs_log(HS_LOG_INFO, "HTTP limits: %u connections (%u for connections waiting for headers), "
           "%u per client address, %u s to send request headers", limit, (unsigned)guard.cap,
           per_ip, (unsigned)(guard.header_ns / 1000000000ull));
    *out = h;
    return 0;
}

void hs_http_stop(hs_http *h)
{
    if (!h)
        return;
    if (h->sweeping) {
        pthread_mutex_lock(&guard.mu);
        guard.stop = true;
        pthread_cond_signal(&guard.cv);
        pthread_mutex_unlock(&guard.mu);
        pthread_join(guard.sweeper, NULL);
    }
    MHD_stop_daemon(h->d);
    free(h);
}
