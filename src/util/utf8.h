/* utf8.h: strict UTF-8 validation (no overlong forms, no surrogates, nothing above U+10FFFF). */
#ifndef HS_UTIL_UTF8_H
#define HS_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

bool hs_utf8_valid(const char *s, size_t len);

#endif
