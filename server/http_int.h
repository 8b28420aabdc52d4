/*
 * http_int.h: what http_server.c (libmicrohttpd) and the HTTP API (http_api.c and the route files
 * of http_route.h) share.
 *
 * The API layer never sees libmicrohttpd: a request is a method, a raw path, lookups for headers
 * and query arguments and (in the second stage) the body; the answer is an hs_hresp.  That keeps
 * the whole request path callable from the fuzz target without a socket.
 *
 * Stage 1, hs_http_prepare, runs on the headers alone: routing, CORS, authentication, tenant,
 * role, node state, follower rule, body size and media type (B9.3 steps 1-4; spec http.md 2, 4.1,
 * 4.2).  When it answers, the body is never read.  Stage 2, hs_http_run, runs the route with the
 * whole body.
 */
#ifndef HS_HTTP_INT_H
#define HS_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/server.h"

#define HS_HTTP_MAX_HEADER_BYTES 16384
#define HS_HTTP_MAX_RESP_HEADERS 12

typedef struct hs_hreq {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* as received, without the query string, not percent-decoded */
    /* case-insensitive header lookup, query argument lookup (raw); NULL when absent */
    const char *(*header)(void *ctx, const char *name);
    const char *(*arg)(void *ctx, const char *name);
    void *ctx;
    size_t header_bytes;       /* total size of the request headers */
    /* the header whose line held a NUL byte, "" for the request line, NULL when none: such a
     * request is refused (libmicrohttpd hands strings over cut at the NUL) */
    const char *nul_header;
    bool has_length;           /* Content-Length given */
    uint64_t content_length;
    const char *body;          /* stage 2 */
    size_t body_len;
} hs_hreq;

typedef struct hs_hheader {
    const char *name;
    char value[256];
} hs_hheader;

typedef struct hs_hresp {
    int status;
    char *body; /* malloc'd, may be NULL */
    size_t len;
    const char *content_type; /* NULL = none */
    hs_hheader headers[HS_HTTP_MAX_RESP_HEADERS];
    int nheaders;
    /* a file as the body instead (a snapshot download): file_len bytes of file_fd, which the
     * response owns (hs_hresp_free closes it unless the transport took it) */
    bool has_file;
    int file_fd;
    uint64_t file_len;
} hs_hresp;

/* The request's state between the stages. */
typedef struct hs_hstate {
    const void *route;   /* the matched route, NULL when stage 1 answered */
    const char *templ;   /* route template for metrics and messages */
    char name[HS_NAME_MAX + 1];
    char snapshot[HS_SNAPSHOT_NAME_MAX + 1]; /* the {snapshot} path parameter, checked */
    uint64_t id;
    char sid[HS_SID_MAX + 1]; /* {id} of a collection of string ids: the string (sid_len > 0) */
    size_t sid_len;
    bool binary;         /* body is application/x-hyperspace-f32 */
    bool head;           /* HEAD request: no body in the answer */
    hs_authn auth;
    int sync_replicas;   /* X-Hyperspace-Sync-Replicas, -1 when not sent */
    char cors_origin[256]; /* Access-Control-Allow-Origin value, "" = none */
    uint64_t start_ns;
    /* a route that takes its body as a stream (a snapshot upload): the pieces go to
     * hs_http_stream as they arrive, not into memory, and no body limit applies */
    bool streamed;
    hs_snapshot_upload *upload; /* opened by the first piece */
    hs_fail stream_fail;        /* the first failure; later pieces are dropped */
} hs_hstate;

/* Stage 1.  Returns true when resp holds the answer (do not read the body). */
bool hs_http_prepare(const hs_hreq *req, hs_hstate *st, hs_hresp *resp);
/* Stage 2: runs the route with req->body. */
void hs_http_run(const hs_hreq *req, hs_hstate *st, hs_hresp *resp);
/* The 413 answer for a body that grew past the limit while it was read (chunked uploads). */
void hs_http_too_large(hs_hstate *st, hs_hresp *resp);
/* Adds the headers every response carries and records the request in the metrics. */
void hs_http_finalize(const hs_hreq *req, hs_hstate *st, hs_hresp *resp);
void hs_hresp_free(hs_hresp *resp);

/* A streamed body (st->streamed, set by stage 1): each piece as it arrives, then stage 2 as
 * usual; hs_http_stream_abort when the request ends without stage 2 (the connection closed). */
void hs_http_stream(hs_hstate *st, const char *data, size_t n);
void hs_http_stream_abort(hs_hstate *st);

/* Body limit in bytes (HS_HTTP_MAX_BODY_MB). */
uint64_t hs_http_body_limit(void);

/* Sets the header `name` (a static string) on resp. */
void hs_hresp_header(hs_hresp *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* HS_HTTP_INT_H */
