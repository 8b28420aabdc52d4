/* error.h: filling the optional hs_error of a public call. */
#ifndef HS_UTIL_ERROR_H
#define HS_UTIL_ERROR_H

#include "hyperspace.h"

/* Records rc and a printf-style message in err (when err is not NULL) and resets every typed
 * detail to its neutral value; returns rc.  With HS_ERROR_REWORD set in the environment (a test
 * hook) every message is prefixed with "[reworded] ", so that tests can prove no caller decides
 * anything from the wording. */
int hs_error_set(hs_error *err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records the field and reason of the error just set (no-op when err is NULL); returns err's rc
 * (or rc_if_null when err is NULL), so that `return hs_error_about(...)` reads naturally. */
int hs_error_about(hs_error *err, int rc_if_null, hs_field field, hs_reason reason);

/* Records a RANGE failure of `field` (the value given as actual and value, the bounds); returns
 * err's rc (or rc_if_null). */
int hs_error_range(hs_error *err, int rc_if_null, hs_field field, uint64_t actual, double value,
                   double min, double max);

/* Copies a name (tenant or collection) into err->name as echoed for messages: bytes outside
 * printable ASCII as \xNN, cut after 64 characters with "...".  Also usable on any buffer. */
void hs_error_echo(const char *name, char *out, size_t len);
void hs_error_name(hs_error *err, const char *name);

/* Sets err->key from key_len bytes (cut at 64) of key. */
void hs_error_key(hs_error *err, const char *key, size_t key_len);

#endif
