/*
 * tokenize.c: the tokeniser of B5.1 on ICU's character properties (libicu, Unicode 15.0).
 */
#include <stdlib.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include "text/text.h"

static int alnum(UChar32 c)
{
    if (u_hasBinaryProperty(c, UCHAR_ALPHABETIC))
        return 1;
    int8_t t = u_charType(c);
    return t == U_DECIMAL_DIGIT_NUMBER || t == U_LETTER_NUMBER || t == U_OTHER_NUMBER;
}

int hs_tokenize(const char *s, size_t len, hs_token_fn fn, void *ctx)
{
    const uint8_t *b = (const uint8_t *)s;
    int32_t cap = 64, n = 0;
    uint8_t *tok = malloc((size_t)cap);
    if (!tok)
        return -1;
    int32_t i = 0, end = len > INT32_MAX ? INT32_MAX : (int32_t)len;
    int rc = 0;
    while (rc == 0 && i <= end) {
        UChar32 c = -1;
        if (i < end)
            U8_NEXT(b, i, end, c); /* c < 0 for an ill-formed sequence */
        else
            i++; /* past the end: flush the last token */
        if (c >= 0 && alnum(c)) {
            UChar32 lc = u_tolower(c); /* simple case mapping */
            if (n + U8_MAX_LENGTH > cap) {
                uint8_t *t = realloc(tok, (size_t)cap * 2);
                if (!t) {
                    rc = -1;
                    break;
                }
                tok = t;
                cap *= 2;
            }
            UBool bad = 0;
            U8_APPEND(tok, n, cap, lc, bad);
            (void)bad;
        } else if (n) {
            rc = fn(ctx, (const char *)tok, (size_t)n);
            n = 0;
        }
    }
    free(tok);
    return rc;
}
