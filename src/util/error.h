/* error.h: filling the optional hs_error of a public call. */
#ifndef HS_UTIL_ERROR_H
#define HS_UTIL_ERROR_H

#include "hyperspace.h"

/* Records rc and a printf-style detail in err (when err is not NULL); returns rc. */
int hs_error_set(hs_error *err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
