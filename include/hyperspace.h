/*
 * hyperspace.h: the public API of HyperspaceDB, an embeddable vector database whose native
 * geometry is the Poincare ball besides L2 and cosine.
 *
 * This is the only public header.  Conventions:
 *  - every fallible call returns an hs_rc: 0 (HS_OK) on success, a negative HS_E* code otherwise;
 *    codes are stable and never renumbered;
 *  - fallible calls take an optional caller-owned `hs_error *err` that receives a human-readable
 *    detail (pass NULL when not needed);
 *  - every function documents Ownership, Thread-safety and Errors.
 */
#ifndef HYPERSPACE_H
#define HYPERSPACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HS_VERSION_MAJOR 0
#define HS_VERSION_MINOR 1
#define HS_VERSION_PATCH 0

/*
 * Error codes: X(name, value, default message).  Values are stable; new codes are appended with
 * new values, never inserted or renumbered.
 */
#define HS_ERRNO_MAP(X)                                                               \
    X(OK, 0, "success")                                                               \
    X(EINVAL, -1, "invalid argument")                                                 \
    X(ENOMEM, -2, "out of memory")                                                    \
    X(ENOTFOUND, -3, "not found")                                                     \
    X(EEXIST, -4, "already exists")                                                   \
    X(EDIM, -5, "dimension mismatch")                                                 \
    X(ENONFINITE, -6, "vector contains a non-finite value")                           \
    X(EBALL, -7, "vector is not strictly inside the Poincare ball")                   \
    X(EZERO, -8, "zero vector is not allowed with the cosine metric")                 \
    X(ECORRUPT, -9, "corrupt data")                                                   \
    X(EIO, -10, "I/O error")                                                          \
    X(ENOSPC, -11, "no space left on device")                                         \
    X(EREADONLY, -12, "read-only after a failed fsync")                               \
    X(EBUSY, -13, "resource busy or locked")                                          \
    X(ERANGE, -14, "parameter out of range")                                          \
    X(EFULL, -15, "capacity exhausted")                                               \
    X(EVERSION, -16, "unsupported format version")                                    \
    X(ECLOSED, -17, "handle is closed")                                               \
    X(EMETADATA, -18, "invalid metadata")                                             \
    X(EFILTER, -19, "invalid filter")                                                 \
    X(EINTERNAL, -20, "internal error")

typedef enum hs_rc {
#define HS_RC_ENUM_(name, value, msg) HS_##name = value,
    HS_ERRNO_MAP(HS_RC_ENUM_)
#undef HS_RC_ENUM_
} hs_rc;

/* Static name ("HS_EINVAL") and default message of a code; "unknown" for other values.
 * Ownership: the strings are static.  Thread-safety: safe.  Errors: none. */
const char *hs_rc_name(int rc);
const char *hs_rc_message(int rc);

/* Human-readable detail of a failed call. */
typedef struct hs_error {
    int rc;
    char message[256];
} hs_error;

/* Distance metric of a collection. */
typedef enum hs_metric {
    HS_METRIC_L2 = 0,       /* squared Euclidean distance */
    HS_METRIC_COSINE = 1,   /* 1 - cosine similarity; vectors normalised at insert */
    HS_METRIC_POINCARE = 2, /* geodesic distance in the Poincare ball */
} hs_metric;

/* Quantization of the in-RAM traversal codes (results are always re-ranked exactly). */
typedef enum hs_quantization {
    HS_QUANT_NONE = 0,
    HS_QUANT_SCALAR = 1, /* int8 per component with a per-vector scale */
    HS_QUANT_BINARY = 2, /* one bit per component */
} hs_quantization;

#ifdef __cplusplus
}
#endif

#endif /* HYPERSPACE_H */
