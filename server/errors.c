/*
 * errors.c: the single table that maps every failure to its gRPC status, HTTP status and HTTP
 * error code (spec behaviour.md section 13, http.md 4.6), and the conversion of engine failures
 * (hs_rc + message) into those errors.  Messages are the engine's or the catalogue's exact text.
 */
#include <grpc/status.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server/server.h"

typedef struct err_row {
    int grpc;
    int http;
    const char *code;
} err_row;

static const err_row rows[] = {
    {GRPC_STATUS_OK, 200, "OK"},
#define HS_ERR_ROW_(id, grpc, http, code) {GRPC_STATUS_##grpc, http, code},
    HS_ERR_MAP(HS_ERR_ROW_)
#undef HS_ERR_ROW_
};

int hs_err_grpc_status(int id) { return rows[id].grpc; }
int hs_err_http_status(int id) { return rows[id].http; }
const char *hs_err_http_code(int id) { return rows[id].code; }

const char *hs_grpc_status_name(int status)
{
    static const char *names[] = {"OK",
                                  "CANCELLED",
                                  "UNKNOWN",
                                  "INVALID_ARGUMENT",
                                  "DEADLINE_EXCEEDED",
                                  "NOT_FOUND",
                                  "ALREADY_EXISTS",
                                  "PERMISSION_DENIED",
                                  "RESOURCE_EXHAUSTED",
                                  "FAILED_PRECONDITION",
                                  "ABORTED",
                                  "OUT_OF_RANGE",
                                  "UNIMPLEMENTED",
                                  "INTERNAL",
                                  "UNAVAILABLE",
                                  "DATA_LOSS",
                                  "UNAUTHENTICATED"};
    return status >= 0 && status < (int)(sizeof(names) / sizeof(names[0])) ? names[status]
                                                                          : "UNKNOWN";
}

int hs_fail_set(hs_fail *f, int id, const char *fmt, ...)
{
    f->id = id;
    f->details[0] = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof(f->message), fmt, ap);
    va_end(ap);
    return id;
}

int hs_fail_from_engine(hs_fail *f, int rc, const hs_error *err)
{
    const char *m = err ? err->message : hs_rc_message(rc);
    int id;
    switch (rc) {
    case HS_ENAME:
        id = strstr(m, "cannot be empty")  ? HS_ERR_NAME_EMPTY
             : !strncmp(m, "Invalid tenant", 14) ? HS_ERR_TENANT_INVALID
                                                 : HS_ERR_NAME_INVALID;
        break;
    case HS_ENOTFOUND:
        id = HS_ERR_NOT_FOUND;
        break;
    case HS_EEXIST:
        id = HS_ERR_EXISTS;
        break;
    case HS_ERANGE:
        id = !strncmp(m, "Dimension", 9) ? HS_ERR_DIMENSION_RANGE : HS_ERR_PARAM_RANGE;
        break;
    case HS_EEMPTY:
        id = HS_ERR_VECTOR_EMPTY;
        break;
    case HS_EDIM:
        id = HS_ERR_DIMENSION_MISMATCH;
        break;
    case HS_ENONFINITE:
        id = HS_ERR_NONFINITE;
        break;
    case HS_EZERO:
        id = HS_ERR_ZERO_COSINE;
        break;
    case HS_EBALL:
        id = HS_ERR_OUT_OF_BALL;
        break;
    case HS_EHYPERBOLOID:
        id = HS_ERR_NOT_ON_HYPERBOLOID;
        break;
    case HS_EMETADATA:
        id = HS_ERR_METADATA;
        break;
    case HS_EIO:
        id = HS_ERR_WAL_IO;
        break;
    case HS_EREADONLY:
        id = HS_ERR_READ_ONLY;
        break;
    case HS_ENOSPC:
        id = HS_ERR_NO_SPACE;
        break;
    case HS_ENOMEM:
        return hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
    case HS_ELOAD:
        id = HS_ERR_LOAD_FAILED;
        break;
    default:
        return hs_fail_set(f, HS_ERR_INTERNAL, "Internal error: %s", m);
    }
    hs_fail_set(f, id, "%s", m);
    if (id == HS_ERR_WAL_IO && strncmp(m, "WAL Error", 9))
        hs_fail_set(f, id, "WAL Error: %s", m);
    unsigned expected;
    size_t got;
    if (id == HS_ERR_DIMENSION_MISMATCH && sscanf(strstr(m, "Expected") ? strstr(m, "Expected") : "",
                                                  "Expected %u, got %zu", &expected, &got) == 2)
        snprintf(f->details, sizeof(f->details), "\"expected\":%u,\"got\":%zu", expected, got);
    const char *sq = strstr(m, "squared norm ");
    if (id == HS_ERR_OUT_OF_BALL && sq) {
        char num[64];
        if (sscanf(sq + 13, "%63s", num) == 1)
            snprintf(f->details, sizeof(f->details), "\"squared_norm\":%s", num);
    }
    return id;
}
