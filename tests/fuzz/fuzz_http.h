/*
 * fuzz_http.h: what the HTTP fuzz targets share: a real database in a scratch directory with a
 * few fixture collections, an API key (so authentication paths run), and one request driven
 * through both stages of the real request path (server/http_api.c and its routes) with the
 * libmicrohttpd transport replaced by the request structure.  Every answer must be a valid HTTP
 * status and, when it is JSON, parse as JSON.
 */
#ifndef HS_FUZZ_HTTP_H
#define HS_FUZZ_HTTP_H

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fuzz_server.h"
#include "server/grpc_int.h"
#include "server/http_int.h"

#define FUZZ_KEY "fuzz-key"

/* The gRPC transport (server/grpc_server.c) is not linked: cluster status reaches the
 * replication code, which also answers gRPC calls, but no gRPC call exists here. */
void hs_gcall_finish(hs_gcall *c, int status, const char *message)
{
    (void)c;
    (void)status;
    (void)message;
    abort();
}

void hs_gcall_fail(hs_gcall *c, const hs_fail *f)
{
    (void)c;
    (void)f;
    abort();
}

void hs_gcall_free(hs_gcall *c)
{
    (void)c;
    abort();
}

typedef struct fz_pair {
    char *name, *value;
} fz_pair;

typedef struct fz_req {
    fz_pair headers[32], args[16];
    int nheaders, nargs;
} fz_req;

static const char *fz_header(void *ctx, const char *name)
{
    fz_req *r = ctx;
    for (int i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[i].name, name))
            return r->headers[i].value;
    return NULL;
}

static const char *fz_arg(void *ctx, const char *name)
{
    fz_req *r = ctx;
    for (int i = 0; i < r->nargs; i++)
        if (!strcmp(r->args[i].name, name))
            return r->args[i].value;
    return NULL;
}

static void fz_setup(void)
{
    fz_server_open("http");
    g_srv.cfg.max_body_mb = 1;
    snprintf(g_srv.cfg.api_key, sizeof(g_srv.cfg.api_key), "%s", FUZZ_KEY);
    g_srv.cfg.api_key_set = true;
    snprintf(g_srv.node_id, sizeof(g_srv.node_id), "fuzz");
    if (hs_auth_init(&g_srv.cfg))
        abort();
}

/* Runs one request through both stages and checks the answer. */
static void fz_run(const char *method, const char *path, fz_req *fr, const char *body,
                   size_t body_len)
{
    fz_fixtures();
    hs_hreq req;
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = path;
    req.header = fz_header;
    req.arg = fz_arg;
    req.ctx = fr;
    for (int i = 0; i < fr->nheaders; i++)
        req.header_bytes += strlen(fr->headers[i].name) + strlen(fr->headers[i].value) + 4;
    const char *cl = fz_header(fr, "Content-Length");
    if (cl) {
        req.has_length = true;
        req.content_length = strtoull(cl, NULL, 10);
    }
    hs_hstate st;
    hs_hresp resp;
    if (!hs_http_prepare(&req, &st, &resp)) {
        req.body = body;
        req.body_len = body_len;
        if (body_len > hs_http_body_limit())
            hs_http_too_large(&st, &resp);
        else
            hs_http_run(&req, &st, &resp);
    }
    hs_http_finalize(&req, &st, &resp);
    if (resp.status < 200 || resp.status > 599)
        abort();
    if (resp.content_type && !strncmp(resp.content_type, "application/json", 16)) {
        cJSON *j = cJSON_ParseWithLength(resp.body, resp.len);
        if (!j) /* every JSON answer must be valid JSON */
            abort();
        cJSON_Delete(j);
    }
    if (resp.status >= 400 && resp.status != 431 && resp.content_type &&
        !strncmp(resp.content_type, "application/json", 16) &&
        (!resp.body || !strstr(resp.body, "\"error\":{\"code\":")))
        abort(); /* errors use the envelope */
    hs_hresp_free(&resp);
    fz_bound_collections();
}

static void fz_write_seed(const char *dir, const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

#endif /* HS_FUZZ_HTTP_H */
