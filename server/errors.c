/*
 * errors.c: the single table that maps every failure to its gRPC status, HTTP status and HTTP
 * error code (spec behaviour.md section 13, http.md 4.6), and the conversion of engine failures
 * (hs_rc + the typed details of hs_error) into those errors.  The wire messages are written here
 * from the details; the engine's own message is passed on only where a failure has no typed
 * form (I/O, a failed load, internal errors).
 */
#include <grpc/status.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "server/server.h"
#include "util/numfmt.h"

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
    f->entry1 = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof(f->message), fmt, ap);
    va_end(ap);
    return id;
}

/* The name rule, as the messages state it. */
#define NAME_RULE "use 1-64 characters from A-Z a-z 0-9 _ . - not starting with '.'"

/* The label of a field in messages ("Dimension must be ..."). */
static const char *field_label(hs_field f)
{
    switch (f) {
    case HS_FIELD_DIMENSION:
        return "Dimension";
    case HS_FIELD_M:
        return "m";
    case HS_FIELD_EF_CONSTRUCTION:
        return "ef_construction";
    case HS_FIELD_EF_SEARCH:
        return "ef_search";
    case HS_FIELD_HYBRID_ALPHA:
        return "hybrid_alpha";
    case HS_FIELD_OVERSAMPLING:
        return "Field 'oversampling'";
    default:
        return NULL;
    }
}

/* "Vector" or "Query vector". */
static const char *vector_label(const hs_error *e)
{
    return e->field == HS_FIELD_QUERY ? "Query vector" : "Vector";
}

static int from_name(hs_fail *f, const hs_error *e)
{
    if (e->field == HS_FIELD_TENANT && e->reason == HS_REASON_RESERVED)
        return hs_fail_set(f, HS_ERR_TENANT_INVALID, "Invalid tenant '%s': the name is reserved "
                           "for a file of the data directory (LOCK and node.json, in any case)",
                           e->name);
    if (e->field == HS_FIELD_TENANT)
        return hs_fail_set(f, HS_ERR_TENANT_INVALID, "Invalid tenant '%s': " NAME_RULE, e->name);
    if (e->reason == HS_REASON_EMPTY)
        return hs_fail_set(f, HS_ERR_NAME_EMPTY, "Collection name cannot be empty");
    return hs_fail_set(f, HS_ERR_NAME_INVALID, "Invalid collection name '%s': " NAME_RULE,
                       e->name);
}

/* What a change reader is told to do when its position cannot be served. */
#define RESYNC "read the collection again and subscribe after the clock it had before the read"

static int from_clock(hs_fail *f, int rc, const hs_error *e)
{
    if (rc == HS_ETRUNCATED)
        return hs_fail_set(f, HS_ERR_LOG_TRUNCATED, "The log of collection '%s' no longer holds "
                           "the events after clock %llu (it holds those after %llu): " RESYNC,
                           e->name, (unsigned long long)e->actual,
                           (unsigned long long)e->expected);
    return hs_fail_set(f, HS_ERR_CLOCK_AHEAD, "Clock %llu is ahead of this node's clock %llu, so "
                       "it does not come from this node's log: " RESYNC,
                       (unsigned long long)e->actual, (unsigned long long)e->expected);
}

static int from_range(hs_fail *f, const hs_error *e, const char *m)
{
    if (e->field == HS_FIELD_FILTER && e->reason == HS_REASON_RANGE) /* hs_update_payload */
        return hs_fail_set(f, HS_ERR_PARAM_RANGE, "The filter matches %llu points; at most %g "
                           "are updated in one request", (unsigned long long)e->actual, e->max);
    const char *label = field_label(e->field);
    if (!label || e->reason != HS_REASON_RANGE)
        return hs_fail_set(f, HS_ERR_PARAM_RANGE, "%s", m);
    int id = e->field == HS_FIELD_DIMENSION ? HS_ERR_DIMENSION_RANGE : HS_ERR_PARAM_RANGE;
    if (e->field == HS_FIELD_OVERSAMPLING)
        return hs_fail_set(f, id, "%s must be a number between %g and %g (got %g)", label, e->min,
                           e->max, e->value);
    if (e->field == HS_FIELD_HYBRID_ALPHA)
        return hs_fail_set(f, id, "%s must be between %g and %g (got %g)", label, e->min, e->max,
                           e->value);
    return hs_fail_set(f, id, "%s must be between %g and %g (got %llu)", label, e->min, e->max,
                       (unsigned long long)e->actual);
}

static int from_vector(hs_fail *f, int rc, const hs_error *e)
{
    bool query = e->field == HS_FIELD_QUERY;
    switch (rc) {
    case HS_EEMPTY:
        return hs_fail_set(f, HS_ERR_VECTOR_EMPTY, "%s must not be empty", vector_label(e));
    case HS_EDIM:
        hs_fail_set(f, HS_ERR_DIMENSION_MISMATCH, "%s dimension mismatch. Expected %llu, got %llu",
                    query ? "Query" : "Vector", (unsigned long long)e->expected,
                    (unsigned long long)e->actual);
        snprintf(f->details, sizeof(f->details), "\"expected\":%llu,\"got\":%llu",
                 (unsigned long long)e->expected, (unsigned long long)e->actual);
        return f->id;
    case HS_ENONFINITE:
        if (e->reason == HS_REASON_FLOAT32)
            return hs_fail_set(f, HS_ERR_NONFINITE, "%s value at index %ld is outside the float32 "
                               "range of the l2 metric (|x| > 3.4028234663852886e+38)",
                               vector_label(e), e->item);
        return hs_fail_set(f, HS_ERR_NONFINITE, "Vector contains a non-finite value at index %ld",
                           e->item);
    case HS_EZERO:
        return hs_fail_set(f, HS_ERR_ZERO_COSINE,
                           "Zero vector is not allowed with the cosine metric");
    case HS_EHYPERBOLOID: {
        if (e->reason == HS_REASON_RANGE)
            return hs_fail_set(f, HS_ERR_NOT_ON_HYPERBOLOID, "%s is not on the upper sheet of the "
                               "hyperboloid: x0 must be positive (got %g)", vector_label(e),
                               e->value);
        char num[40];
        hs_fmt_double(e->value, num, sizeof(num));
        hs_fail_set(f, HS_ERR_NOT_ON_HYPERBOLOID, "%s is not on the hyperboloid: -x0^2 + "
                    "sum(xi^2) = %s, expected -1 (relative tolerance %g of x0^2)",
                    vector_label(e), num, e->max);
        snprintf(f->details, sizeof(f->details), "\"minkowski_norm\":%s", num);
        return f->id;
    }
    default: { /* HS_EBALL */
        char num[40];
        hs_fmt_double(e->value, num, sizeof(num));
        hs_fail_set(f, HS_ERR_OUT_OF_BALL, "%s must be strictly inside the Poincaré ball "
                    "(squared norm %s >= 1)", vector_label(e), num);
        snprintf(f->details, sizeof(f->details), "\"squared_norm\":%s", num);
        return f->id;
    }
    }
}

static int from_metadata(hs_fail *f, const hs_error *e)
{
    int id = HS_ERR_METADATA;
    switch (e->reason) {
    case HS_REASON_TOO_MANY:
        if (e->field == HS_FIELD_POINT && e->key[0]) /* ... of a string id's point */
            return hs_fail_set(f, id, "Invalid metadata: point '%s' would hold more than %g "
                               "entries", e->key, e->max);
        if (e->field == HS_FIELD_POINT) /* hs_update_payload: the merged metadata */
            return hs_fail_set(f, id, "Invalid metadata: point %llu would hold more than %g "
                               "entries", (unsigned long long)e->id, e->max);
        if (e->field == HS_FIELD_METADATA_VALUE)
            return hs_fail_set(f, id, "Invalid metadata: list of key '%s' has more than %g "
                               "elements", e->key, e->max);
        return hs_fail_set(f, id, "Invalid metadata: more than %g entries", e->max);
    case HS_REASON_EMPTY:
        if (e->field == HS_FIELD_METADATA_VALUE)
            return hs_fail_set(f, id, "Invalid metadata: value of key '%s' is missing", e->key);
        return hs_fail_set(f, id, "Invalid metadata: empty key");
    case HS_REASON_NONFINITE:
        return hs_fail_set(f, id, "Invalid metadata: value of key '%s' is not a finite number",
                           e->key);
    case HS_REASON_TYPE:
        return hs_fail_set(f, id, "Invalid metadata: value of key '%s' must be a string, number, "
                           "boolean or a list of them", e->key);
    case HS_REASON_ENCODING:
        return hs_fail_set(f, id, "Invalid metadata: invalid UTF-8");
    case HS_REASON_TOO_LONG:
        if (e->field == HS_FIELD_METADATA_VALUE)
            return hs_fail_set(f, id, "Invalid metadata: value of key '%s' longer than %g bytes",
                               e->key, e->max);
        return hs_fail_set(f, id, "Invalid metadata: key longer than %g bytes", e->max);
    default:
        return hs_fail_set(f, id, "Invalid metadata");
    }
}

/* HS_EINVAL: a string id (hs_sid_check), an id of the kind a collection does not use, an id
 * type at create; anything else has no typed form. */
static int from_invalid(hs_fail *f, const hs_error *e, const char *m)
{
    int id = HS_ERR_INVALID_ARGUMENT;
    if (e->field == HS_FIELD_ID_TYPE)
        return hs_fail_set(f, HS_ERR_PARAM_RANGE, "Unknown id type %llu: expected integer or "
                           "string", (unsigned long long)e->actual);
    if (e->field != HS_FIELD_POINT)
        return hs_fail_set(f, HS_ERR_INTERNAL, "Internal error: %s", m);
    switch (e->reason) {
    case HS_REASON_TYPE: {
        bool str = e->expected == HS_ID_STRING;
        return hs_fail_set(f, id, "Collection '%s' uses %s ids: a point id must be %s", e->name,
                           str ? "string" : "integer", str ? "a string" : "an integer");
    }
    case HS_REASON_EMPTY:
        return hs_fail_set(f, id, "Invalid string id: it is empty (string ids are 1 to %d bytes "
                           "of UTF-8)", HS_SID_MAX);
    case HS_REASON_TOO_LONG:
        return hs_fail_set(f, id, "Invalid string id: %llu bytes, at most %g are allowed",
                           (unsigned long long)e->actual, e->max);
    case HS_REASON_SYNTAX:
        return hs_fail_set(f, id, "Invalid string id: it contains a NUL character");
    case HS_REASON_ENCODING:
        return hs_fail_set(f, id, "Invalid string id: not valid UTF-8");
    default:
        return hs_fail_set(f, id, "Invalid point id");
    }
}

static int from_collection(hs_fail *f, int rc, const hs_error *e, const char *m)
{
    switch (rc) {
    case HS_ENOTFOUND:
        if (e->field == HS_FIELD_POINT && e->key[0]) /* a string id (its start) */
            return hs_fail_set(f, HS_ERR_POINT_NOT_FOUND, "Point '%s' not found", e->key);
        if (e->field == HS_FIELD_POINT)
            return hs_fail_set(f, HS_ERR_POINT_NOT_FOUND, "Point %llu not found",
                               (unsigned long long)e->id);
        return hs_fail_set(f, HS_ERR_NOT_FOUND, "Collection '%s' not found", e->name);
    case HS_EEXIST:
        return hs_fail_set(f, HS_ERR_EXISTS, "Collection '%s' already exists", e->name);
    case HS_ENOSPC:
        if (e->field == HS_FIELD_COLLECTION)
            return hs_fail_set(f, HS_ERR_NO_SPACE,
                               "No space left on device while writing collection '%s'", e->name);
        return hs_fail_set(f, HS_ERR_NO_SPACE, "%s", m);
    case HS_EFROZEN:
        return hs_fail_set(f, HS_ERR_FROZEN, "Collection '%s' is frozen: it refuses changes "
                           "until it is unfrozen", e->name);
    case HS_EREADONLY:
        if (e->field == HS_FIELD_COLLECTION && e->reason != HS_REASON_FSYNC)
            return hs_fail_set(f, HS_ERR_READ_ONLY, "Collection '%s' is read-only", e->name);
        return hs_fail_set(f, HS_ERR_READ_ONLY, "%s", m);
    default: /* HS_ELOAD */
        if (e->field == HS_FIELD_COLLECTION)
            return hs_fail_set(f, HS_ERR_LOAD_FAILED, "Collection '%s' failed to load: %s",
                               e->name, e->cause);
        return hs_fail_set(f, HS_ERR_LOAD_FAILED, "%s", m);
    }
}

/* Failures about a snapshot archive (field SNAPSHOT); a damaged one says what was found
 * (`cause`: the offset, the file). */
static int from_snapshot(hs_fail *f, int rc, const hs_error *e)
{
    switch (rc) {
    case HS_ENAME:
        if (e->reason == HS_REASON_EMPTY)
            return hs_fail_set(f, HS_ERR_SNAPSHOT_NAME, "Snapshot name cannot be empty");
        return hs_fail_set(f, HS_ERR_SNAPSHOT_NAME, "Invalid snapshot name '%s': use 1-%d "
                           "characters from A-Z a-z 0-9 _ . - ending in .hsnap, not starting "
                           "with '.'", e->name, HS_SNAPSHOT_NAME_MAX);
    case HS_ENOTFOUND:
        return hs_fail_set(f, HS_ERR_SNAPSHOT_NOT_FOUND, "Snapshot '%s' not found", e->name);
    case HS_EEXIST:
        return hs_fail_set(f, HS_ERR_SNAPSHOT_EXISTS, "Snapshot '%s' already exists", e->name);
    default:
        return hs_fail_set(f, HS_ERR_SNAPSHOT_DAMAGED, "Snapshot '%s' is damaged or incomplete: "
                           "%s; nothing was changed", e->name, e->cause);
    }
}

/*
 * Engine failures are mapped from the code and the typed details of hs_error, never from its
 * message: the message is only passed on as the human account where the failure has no typed
 * form (I/O, a failed load, internal errors).
 */
int hs_fail_from_engine(hs_fail *f, int rc, const hs_error *err)
{
    hs_error none;
    if (!err || err->rc != rc) {
        memset(&none, 0, sizeof(none));
        none.rc = rc;
        none.index = none.item = -1;
        snprintf(none.message, sizeof(none.message), "%s", hs_rc_message(rc));
        err = &none;
    }
    const char *m = err->message;
    if (err->field == HS_FIELD_SNAPSHOT &&
        (rc == HS_ENAME || rc == HS_ENOTFOUND || rc == HS_EEXIST || rc == HS_ECORRUPT ||
         rc == HS_EVERSION))
        return from_snapshot(f, rc, err);
    switch (rc) {
    case HS_ENAME:
        return from_name(f, err);
    case HS_ENOTFOUND:
    case HS_EEXIST:
    case HS_ENOSPC:
    case HS_EREADONLY:
    case HS_ELOAD:
    case HS_EFROZEN:
        return from_collection(f, rc, err, m);
    case HS_ERANGE:
        if (err->field == HS_FIELD_CLOCK)
            return from_clock(f, rc, err);
        return from_range(f, err, m);
    case HS_ETRUNCATED:
        return from_clock(f, rc, err);
    case HS_EEMPTY:
    case HS_EDIM:
    case HS_ENONFINITE:
    case HS_EZERO:
    case HS_EBALL:
    case HS_EHYPERBOLOID:
        return from_vector(f, rc, err);
    case HS_EMETADATA:
        return from_metadata(f, err);
    case HS_EINVAL:
        return from_invalid(f, err, m);
    case HS_EIO:
        return hs_fail_set(f, HS_ERR_WAL_IO, "WAL Error: %s", m);
    case HS_ENOMEM:
        return hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
    case HS_EFULL:
        if (err->field == HS_FIELD_TENANT)
            return hs_fail_set(f, HS_ERR_QUOTA, "Tenant '%s' has reached its quota of %g "
                               "collections", err->name, err->max);
        if (err->field == HS_FIELD_COLLECTION)
            return hs_fail_set(f, HS_ERR_MEMORY_LIMIT, "Collection '%s' needs about %.1f MiB of "
                               "memory; %.1f MiB are held by collections in use and the memory "
                               "limit (HS_MEMORY_LIMIT) is %.1f MiB", err->name,
                               err->value / 1048576, (double)err->actual / 1048576,
                               err->max / 1048576);
        return hs_fail_set(f, HS_ERR_INTERNAL, "Internal error: %s", m);
    default:
        return hs_fail_set(f, HS_ERR_INTERNAL, "Internal error: %s", m);
    }
}
