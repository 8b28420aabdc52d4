/* numfmt.h: doubles written as ECMAScript's Number.prototype.toString writes them (shortest
 * digits that read back to the same double), for messages and JSON. */
#ifndef HS_UTIL_NUMFMT_H
#define HS_UTIL_NUMFMT_H

#include <stddef.h>

/* Writes v into buf (at least 32 bytes); NaN and infinities as "NaN", "Infinity", "-Infinity".
 * Returns the length. */
size_t hs_fmt_double(double v, char *buf, size_t len);

#endif
