/*
 * error.c: names and default messages of the hs_rc codes, and the hs_error helper used by every
 * module to fill a caller's optional error struct.
 */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>

const char *hs_rc_name(int rc)
{
    switch (rc) {
#define HS_RC_NAME_(name, value, msg) \
    case value:                       \
        return "HS_" #name;
        HS_ERRNO_MAP(HS_RC_NAME_)
#undef HS_RC_NAME_
    }
    return "unknown";
}

const char *hs_rc_message(int rc)
{
    switch (rc) {
#define HS_RC_MSG_(name, value, msg) \
    case value:                      \
        return msg;
        HS_ERRNO_MAP(HS_RC_MSG_)
#undef HS_RC_MSG_
    }
    return "unknown error";
}

int hs_error_set(hs_error *err, int rc, const char *fmt, ...)
{
    if (err) {
        err->rc = rc;
        err->index = -1;
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err->message, sizeof(err->message), fmt, ap);
            va_end(ap);
        } else {
            snprintf(err->message, sizeof(err->message), "%s", hs_rc_message(rc));
        }
    }
    return rc;
}
