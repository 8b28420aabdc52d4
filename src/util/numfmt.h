/* numfmt.h: doubles written as ECMAScript's Number.prototype.toString writes them (shortest
 * digits that read back to the same double), for messages and JSON. */
#ifndef HS_UTIL_NUMFMT_H
#define HS_UTIL_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

/* Writes v into buf (at least 32 bytes); NaN and infinities as "NaN", "Infinity", "-Infinity".
 * Returns the length. */
size_t hs_fmt_double(double v, char *buf, size_t len);

/* Parses an int64 as a filter Range does: the whole text matches ^[+-]?[0-9]+$ and fits.
 * Returns 1 and sets *out, or 0. */
int hs_parse_int64(const char *s, size_t len, int64_t *out);

#endif
