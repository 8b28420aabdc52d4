/*
 * error.c: names and default messages of the hs_rc codes, and the hs_error helpers used by every
 * module to fill a caller's optional error struct (code, typed details, message).
 */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* 1 when HS_ERROR_REWORD is set (read once; a test hook, see error.h). */
static int reword(void)
{
    static int state; /* 0 unknown, 1 off, 2 on; racing first reads agree */
    int s = __atomic_load_n(&state, __ATOMIC_RELAXED);
    if (s == 0) {
        const char *v = getenv("HS_ERROR_REWORD");
        s = v && *v && strcmp(v, "0") ? 2 : 1;
        __atomic_store_n(&state, s, __ATOMIC_RELAXED);
    }
    return s == 2;
}

int hs_error_set(hs_error *err, int rc, const char *fmt, ...)
{
    if (!err)
        return rc;
    char text[sizeof(err->message)];
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
    } else {
        snprintf(text, sizeof(text), "%s", hs_rc_message(rc));
    }
    memset(err, 0, sizeof(*err));
    err->rc = rc;
    err->index = -1;
    err->item = -1;
    const char *prefix = reword() ? "[reworded] " : "";
    size_t plen = strlen(prefix), tlen = strnlen(text, sizeof(err->message) - 1 - plen);
    memcpy(err->message, prefix, plen);
    memcpy(err->message + plen, text, tlen);
    err->message[plen + tlen] = 0;
    return rc;
}

int hs_error_about(hs_error *err, int rc_if_null, hs_field field, hs_reason reason)
{
    if (!err)
        return rc_if_null;
    err->field = field;
    err->reason = reason;
    return err->rc;
}

int hs_error_range(hs_error *err, int rc_if_null, hs_field field, uint64_t actual, double value,
                   double min, double max)
{
    if (!err)
        return rc_if_null;
    err->actual = actual;
    err->value = value;
    err->min = min;
    err->max = max;
    return hs_error_about(err, rc_if_null, field, HS_REASON_RANGE);
}

void hs_error_echo(const char *name, char *out, size_t len)
{
    size_t o = 0, shown = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && o + 8 < len; p++) {
        if (shown == 64) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (*p >= 0x20 && *p < 0x7f)
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, len - o, "\\x%02X", *p);
        shown++;
    }
    out[o] = 0;
}

void hs_error_name(hs_error *err, const char *name)
{
    if (err)
        hs_error_echo(name ? name : "", err->name, sizeof(err->name));
}

void hs_error_key(hs_error *err, const char *key, size_t key_len)
{
    if (!err)
        return;
    size_t n = key_len < 64 ? key_len : 64;
    if (key)
        memcpy(err->key, key, n);
    err->key[key ? n : 0] = 0;
}
