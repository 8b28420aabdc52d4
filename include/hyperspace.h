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

/* When a write is acknowledged (spec B2.6). */
typedef enum hs_durability {
    HS_DURABILITY_DEFAULT = 0, /* the database's configured level */
    HS_DURABILITY_ASYNC = 1,   /* handed to the OS with write() */
    HS_DURABILITY_BATCH = 2,   /* covered by a group fsync (at most one per batch interval) */
    HS_DURABILITY_STRICT = 3,  /* covered by an fsync started after the write */
} hs_durability;

/* ---- file I/O ------------------------------------------------------------------------------
 * Every file operation of the storage engine goes through this table, so that tests (and
 * embedders) can inject short writes, I/O errors, a full disk or lost fsyncs.  Each function
 * returns 0 (or a byte count / descriptor) on success and a negative errno value on failure.
 * hs_io_posix() is the default table.  All functions must be thread-safe. */
typedef struct hs_io_ops {
    void *ctx;
    int (*open)(void *ctx, const char *path, int flags, unsigned mode);
    int (*close)(void *ctx, int fd);
    long (*pread)(void *ctx, int fd, void *buf, size_t len, uint64_t off);
    long (*pwrite)(void *ctx, int fd, const void *buf, size_t len, uint64_t off);
    int (*fsync)(void *ctx, int fd); /* data and the metadata needed to read it (fdatasync) */
    int (*ftruncate)(void *ctx, int fd, uint64_t len);
    int (*fallocate)(void *ctx, int fd, uint64_t off, uint64_t len); /* reserve real blocks */
    int (*size)(void *ctx, int fd, uint64_t *len);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int (*mkdir)(void *ctx, const char *path, unsigned mode);
    int (*rmdir)(void *ctx, const char *path);
    int (*fsync_dir)(void *ctx, const char *path);
    /* calls fn for every entry name of dir except "." and ".."; stops when fn returns non-zero */
    int (*list)(void *ctx, const char *dir, int (*fn)(void *arg, const char *name), void *arg);
    /* maps len bytes of fd from offset 0, shared and writable when `writable`; NULL on failure */
    void *(*mmap)(void *ctx, int fd, size_t len, int writable);
    int (*munmap)(void *ctx, void *addr, size_t len);
    int (*msync)(void *ctx, void *addr, size_t len);
} hs_io_ops;

/* The POSIX implementation.  Ownership: static.  Thread-safety: safe.  Errors: none. */
const hs_io_ops *hs_io_posix(void);

/* ---- logging ------------------------------------------------------------------------------- */

typedef enum hs_log_level {
    HS_LOG_ERROR = 0,
    HS_LOG_WARN = 1,
    HS_LOG_INFO = 2,
    HS_LOG_DEBUG = 3,
} hs_log_level;

/* Receives one formatted log line (no trailing newline). */
typedef void (*hs_log_fn)(void *ctx, hs_log_level level, const char *message);

/* Sends the library's log lines at `level` or more severe to fn (NULL: stderr, the default).
 * Ownership: ctx stays the caller's.  Thread-safety: safe; applies to lines logged afterwards.
 * Errors: none. */
void hs_log_set_sink(hs_log_fn fn, void *ctx, hs_log_level level);

#ifdef __cplusplus
}
#endif

#endif /* HYPERSPACE_H */
