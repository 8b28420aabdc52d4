/*
 * http_server.c: the HTTP listener on libmicrohttpd (spec http.md section 1).
 *
 * One thread per connection (handlers block on the engine: a rebuild or a strict write must not
 * stall other connections), at most 1024 connections, idle keep-alive connections closed after
 * 60 s.  libmicrohttpd calls the handler first with the headers only: stage 1 (http_api.c)
 * answers there whenever it can, so a request refused for its key, its size or its media type
 * never has its body read.  Otherwise the body is collected up to the limit (a chunked body
 * that grows past it is discarded and answered 413) and stage 2 runs.
 *
 * Paths reach the API layer undecoded (the unescape callback is the identity), so a `%2F` in a
 * collection name is seen, decoded and rejected by the name rule instead of splitting the path.
 */
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/http_int.h"
#include "util/log.h"

struct hs_http {
    struct MHD_Daemon *d;
};

typedef struct hconn {
    hs_hstate st;
    hs_hresp resp;
    bool answered;  /* stage 1 answered: discard any body */
    bool too_large; /* the body grew past the limit */
    char *body;
    size_t len, cap;
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
    struct MHD_Response *mr =
        MHD_create_response_from_buffer(r->len, r->body ? r->body : (void *)"",
                                        r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!mr)
        return MHD_NO;
    r->body = NULL; /* owned by the response now */
    r->len = 0;
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
    (void)version;
    hconn *hc = *con_cls;
    lookup lk;
    hs_hreq req;
    if (!hc) {
        hc = calloc(1, sizeof(*hc));
        if (!hc)
            return MHD_NO;
        *con_cls = hc;
        fill_req(conn, url, method, &lk, &req);
        if (hs_http_prepare(&req, &hc->st, &hc->resp)) {
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
    (void)conn;
    (void)toe;
    hconn *hc = *con_cls;
    if (!hc)
        return;
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
    h->d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024), MHD_OPTION_NOTIFY_COMPLETED,
        completed, NULL, MHD_OPTION_UNESCAPE_CALLBACK, identity_unescape, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->d) {
        free(h);
        return -1;
    }
    *out = h;
    return 0;
}

void hs_http_stop(hs_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
